// The NATS JetStream layer (gateway/src/bus/nats/jetstream.h) against real
// nats-server processes (tests/support/nats_cluster.h): one node for the
// API's behaviour, three for failover. Every wait has a deadline; timings
// are printed as "[ measure ]" lines. Skipped, with the reason, when
// nats-server is not installed.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "bus/nats/jetstream.h"
#include "bus/nats/nats_bus.h"
#include "support/nats_cluster.h"

namespace {

namespace nats = sanjog::bus::nats;
using sanjog::Code;
using sanjog::bus::NatsBus;
using sanjog::testing::NatsCluster;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// nats_Close() once, after every test (the Library guard).
class NatsLibraryEnvironment : public ::testing::Environment {
 public:
  void SetUp() override { library_.emplace(); }
  void TearDown() override { library_.reset(); }

 private:
  std::optional<nats::Library> library_;
};

// Polls `done` every 10 ms until it holds or `timeout` passes.
template <typename F>
bool eventually(F done, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (!done()) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

double millis(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))];
}

std::unique_ptr<nats::Connection> connect(const NatsCluster& cluster,
                                          std::chrono::milliseconds request_timeout = 5s) {
  nats::Options options;
  options.urls = cluster.clientUrls();
  options.name = "sanjog-test";
  options.connect_timeout = 1s;
  options.reconnect_wait = 100ms;
  options.request_timeout = request_timeout;
  auto conn = nats::Connection::open(options);
  if (!conn) {
    ADD_FAILURE() << conn.status().toString();
    return nullptr;
  }
  auto c = std::move(conn.value());
  if (!eventually([&] { return c->connected(); }, 10s)) {
    ADD_FAILURE() << "not connected to " << cluster.clientUrl(0);
    return nullptr;
  }
  return c;
}

nats::OutMessage out(std::string subject, std::string data, std::string msg_id = "") {
  nats::OutMessage m;
  m.subject = std::move(subject);
  m.data = std::move(data);
  m.msg_id = std::move(msg_id);
  return m;
}

nats::StreamSpec streamSpec(const std::string& name, int replicas = 1) {
  nats::StreamSpec spec;
  spec.name = name;
  spec.subjects = {name + ".>"};
  spec.replicas = replicas;
  return spec;
}

nats::ConsumerSpec consumerSpec(const std::string& stream, std::chrono::milliseconds ack_wait) {
  nats::ConsumerSpec spec;
  spec.stream = stream;
  spec.durable = "worker";
  spec.ack_wait = ack_wait;
  return spec;
}

nats::BucketSpec bucketSpec(const std::string& name, int replicas = 1) {
  nats::BucketSpec spec;
  spec.name = name;
  spec.replicas = replicas;
  return spec;
}

// One message from a fetch, failing the test when there is none.
std::optional<nats::Message> fetchOne(nats::PullConsumer& consumer,
                                      std::chrono::milliseconds timeout) {
  auto got = consumer.fetch(1, timeout);
  if (!got) {
    ADD_FAILURE() << got.status().toString();
    return std::nullopt;
  }
  if (got->size() != 1) {
    ADD_FAILURE() << "fetch gave " << got->size() << " messages within " << timeout.count()
                  << " ms";
    return std::nullopt;
  }
  return std::move(got->front());
}

// ---------------------------------------------------------------------------
// One node, shared by the tests of a suite; every test has its own streams.

class NatsSingleNode : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!NatsCluster::installed()) return;
    cluster_ = new NatsCluster(1);
    if (auto started = cluster_->start(); !started) start_error_ = started.message();
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
    start_error_.clear();
  }
  void SetUp() override {
    if (!NatsCluster::installed()) GTEST_SKIP() << NatsCluster::notInstalledReason();
    ASSERT_TRUE(start_error_.empty()) << start_error_;
    conn_ = connect(*cluster_);
    ASSERT_NE(conn_, nullptr);
    js_ = &conn_->jetstream();
  }

  static inline NatsCluster* cluster_ = nullptr;
  static inline std::string start_error_;
  std::unique_ptr<nats::Connection> conn_;
  nats::JetStream* js_ = nullptr;
};

using NatsJetStream = NatsSingleNode;
using NatsConsumer = NatsSingleNode;
using NatsKeyValue = NatsSingleNode;

TEST_F(NatsJetStream, SameMsgIdIsStoredOnce) {
  ASSERT_TRUE(js_->ensureStream(streamSpec("DEDUP")).isOk());
  auto first = js_->publish(out("DEDUP.a", "one", "id-1"), "DEDUP");
  ASSERT_TRUE(first) << first.status().toString();
  EXPECT_FALSE(first->duplicate);
  auto again = js_->publish(out("DEDUP.a", "one", "id-1"), "DEDUP");
  ASSERT_TRUE(again) << again.status().toString();
  EXPECT_TRUE(again->duplicate);
  EXPECT_EQ(again->sequence, first->sequence);
  auto other = js_->publish(out("DEDUP.a", "two", "id-2"), "DEDUP");
  ASSERT_TRUE(other) << other.status().toString();
  EXPECT_FALSE(other->duplicate);
  EXPECT_EQ(other->sequence, first->sequence + 1);
}

TEST_F(NatsJetStream, UrlsMayBeCommaSeparatedLists) {
  nats::Options options;
  options.urls = {"nats://127.0.0.1:1, " + cluster_->clientUrl(0)};
  auto conn = nats::Connection::open(options);
  ASSERT_TRUE(conn) << conn.status().toString();
  EXPECT_TRUE(eventually([&] { return (*conn)->connected(); }, 10s));
}

TEST_F(NatsJetStream, PublishFailuresSayWhatAndWhy) {
  ASSERT_TRUE(js_->ensureStream(streamSpec("EXPECT")).isOk());
  auto wrong_stream = js_->publish(out("EXPECT.a", "x", "id-1"), "OTHER");
  ASSERT_FALSE(wrong_stream);
  EXPECT_EQ(wrong_stream.status().code(), Code::kUpstreamError);
  EXPECT_EQ(wrong_stream.status().message(),
            "nats: publish to EXPECT.a: expected stream does not match (jetstream error 10060)");
  auto no_stream = js_->publish(out("nowhere.a", "x"));
  ASSERT_FALSE(no_stream);
  EXPECT_EQ(no_stream.status().code(), Code::kUnavailable);
  EXPECT_EQ(no_stream.status().message().rfind("nats: publish to nowhere.a: no responders", 0), 0u)
      << no_stream.status().message();
}

TEST_F(NatsJetStream, EnsureStreamCreatesUpdatesAndToleratesRaces) {
  // Two processes creating the same stream at the same time both succeed.
  auto other = connect(*cluster_);
  ASSERT_NE(other, nullptr);
  sanjog::Status a, b;
  std::thread t([&] { a = other->jetstream().ensureStream(streamSpec("RACE")); });
  b = js_->ensureStream(streamSpec("RACE"));
  t.join();
  EXPECT_TRUE(a.isOk()) << a.toString();
  EXPECT_TRUE(b.isOk()) << b.toString();
  EXPECT_TRUE(js_->ensureStream(streamSpec("RACE")).isOk());  // unchanged: nothing to do

  // Changed settings are applied: the new subject is taken.
  EXPECT_FALSE(js_->publish(out("race2.a", "x"), "RACE"));
  auto spec = streamSpec("RACE");
  spec.subjects.push_back("race2.>");
  spec.max_age = 1h;
  spec.duplicate_window = 1min;
  auto updated = js_->ensureStream(spec);
  ASSERT_TRUE(updated.isOk()) << updated.toString();
  auto taken = js_->publish(out("race2.a", "x"), "RACE");
  EXPECT_TRUE(taken) << taken.status().toString();

  // What the server cannot change is an error that says so.
  spec.retention = nats::Retention::kWorkQueue;
  auto refused = js_->ensureStream(spec);
  ASSERT_FALSE(refused.isOk());
  EXPECT_EQ(refused.code(), Code::kInvalidArgument) << refused.toString();
  EXPECT_NE(refused.message().find("nats: update stream RACE: "), std::string::npos)
      << refused.toString();
  EXPECT_NE(refused.message().find("retention"), std::string::npos) << refused.toString();

  // A work queue stream from the start is fine.
  auto queue = streamSpec("QUEUE");
  queue.retention = nats::Retention::kWorkQueue;
  EXPECT_TRUE(js_->ensureStream(queue).isOk());
}

TEST_F(NatsJetStream, SyncPublishLatency1KiB) {
  ASSERT_TRUE(js_->ensureStream(streamSpec("LATENCY")).isOk());
  const std::string payload(1024, 'x');
  std::vector<double> took;
  for (int i = 0; i < 300; ++i) {
    const auto t0 = Clock::now();
    auto ack = js_->publish(out("LATENCY.a", payload, "m" + std::to_string(i)), "LATENCY");
    took.push_back(millis(Clock::now() - t0));
    ASSERT_TRUE(ack) << ack.status().toString();
  }
  std::printf("[ measure ] single node, 1 KiB sync publish: p50 %.3f ms, p99 %.3f ms\n",
              percentile(took, 0.5), percentile(took, 0.99));
}

TEST_F(NatsJetStream, BatchPublishAcksEveryMessage) {
  ASSERT_TRUE(js_->ensureStream(streamSpec("BATCH")).isOk());
  const std::string payload(1024, 'b');
  std::vector<nats::OutMessage> msgs;
  for (int i = 0; i < 1000; ++i) msgs.push_back(out("BATCH.a", payload, "b" + std::to_string(i)));
  const auto t0 = Clock::now();
  auto results = js_->publishBatch(msgs, "BATCH");
  const double took = millis(Clock::now() - t0);
  ASSERT_EQ(results.size(), msgs.size());
  std::set<uint64_t> sequences;
  for (const auto& r : results) {
    ASSERT_TRUE(r) << r.status().toString();
    EXPECT_FALSE(r->duplicate);
    sequences.insert(r->sequence);
  }
  EXPECT_EQ(sequences.size(), 1000u);
  EXPECT_EQ(*sequences.begin(), 1u);
  EXPECT_EQ(*sequences.rbegin(), 1000u);
  std::printf("[ measure ] single node, batch of 1000 x 1 KiB: %.1f ms, %.0f msg/s\n", took,
              1000 / (took / 1000));

  // The same ids again: every one a duplicate of its first sequence.
  auto again = js_->publishBatch(msgs, "BATCH");
  for (size_t i = 0; i < again.size(); ++i) {
    ASSERT_TRUE(again[i]) << again[i].status().toString();
    EXPECT_TRUE(again[i]->duplicate);
    EXPECT_EQ(again[i]->sequence, results[i]->sequence);
  }
}

TEST_F(NatsJetStream, BatchPublishReportsEachFailure) {
  ASSERT_TRUE(js_->ensureStream(streamSpec("MIXED")).isOk());
  std::vector<nats::OutMessage> msgs;
  for (int i = 0; i < 10; ++i) {
    msgs.push_back(out(i % 2 == 0 ? "MIXED.a" : "nowhere.a", "x", "x" + std::to_string(i)));
  }
  auto results = js_->publishBatch(msgs);
  ASSERT_EQ(results.size(), msgs.size());
  for (size_t i = 0; i < results.size(); ++i) {
    if (i % 2 == 0) {
      EXPECT_TRUE(results[i]) << results[i].status().toString();
    } else {
      ASSERT_FALSE(results[i]);
      EXPECT_EQ(results[i].status().code(), Code::kUnavailable);
      EXPECT_EQ(results[i].status().message().rfind("nats: publish to nowhere.a: ", 0), 0u)
          << results[i].status().message();
    }
  }
  EXPECT_TRUE(js_->publishBatch({}).empty());
}

TEST_F(NatsConsumer, FetchGivesMessagesWithHeadersAndMetadata) {
  ASSERT_TRUE(js_->ensureStream(streamSpec("META")).isOk());
  auto msg = out("META.x", "payload", "event-1");
  msg.headers = {{"X-Trace", "abc"}};
  ASSERT_TRUE(js_->publish(msg, "META"));
  auto consumer = js_->pullConsumer(consumerSpec("META", 30s));
  ASSERT_TRUE(consumer) << consumer.status().toString();
  auto got = fetchOne(**consumer, 2s);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->subject(), "META.x");
  EXPECT_EQ(got->data(), "payload");
  EXPECT_EQ(got->msgId(), "event-1");
  EXPECT_EQ(got->header("X-Trace"), "abc");
  EXPECT_EQ(got->header("X-None"), std::nullopt);
  EXPECT_EQ(got->metadata().stream_sequence, 1u);
  EXPECT_EQ(got->metadata().consumer_sequence, 1u);
  EXPECT_EQ(got->metadata().num_delivered, 1u);
  EXPECT_EQ(got->metadata().num_pending, 0u);
  const int64_t now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  EXPECT_LT(std::abs(now_ns - got->metadata().timestamp_ns), int64_t{60'000'000'000});
  EXPECT_TRUE(got->ack().isOk());

  // Nothing more: an empty result, not an error.
  const auto t0 = Clock::now();
  auto none = (*consumer)->fetch(10, 200ms);
  ASSERT_TRUE(none) << none.status().toString();
  EXPECT_TRUE(none->empty());
  EXPECT_GE(millis(Clock::now() - t0), 150);
}

TEST_F(NatsConsumer, NakWithDelayRedeliversAfterTheDelay) {
  ASSERT_TRUE(js_->ensureStream(streamSpec("NAKD")).isOk());
  ASSERT_TRUE(js_->publish(out("NAKD.a", "x"), "NAKD"));
  auto consumer = js_->pullConsumer(consumerSpec("NAKD", 30s));
  ASSERT_TRUE(consumer) << consumer.status().toString();
  auto first = fetchOne(**consumer, 2s);
  ASSERT_TRUE(first);
  const auto t0 = Clock::now();
  ASSERT_TRUE(first->nakWithDelay(200ms).isOk());
  auto second = fetchOne(**consumer, 3s);
  const double waited = millis(Clock::now() - t0);
  ASSERT_TRUE(second);
  EXPECT_GE(waited, 190) << "redelivered before the nak delay";
  EXPECT_EQ(second->metadata().stream_sequence, first->metadata().stream_sequence);
  EXPECT_EQ(second->metadata().num_delivered, 2u);
  EXPECT_TRUE(second->ack().isOk());
  std::printf("[ measure ] nakWithDelay(200 ms) redelivered after %.1f ms\n", waited);
}

TEST_F(NatsConsumer, MaxDeliverStopsRedelivery) {
  ASSERT_TRUE(js_->ensureStream(streamSpec("MAXD")).isOk());
  ASSERT_TRUE(js_->publish(out("MAXD.a", "x"), "MAXD"));
  auto spec = consumerSpec("MAXD", 30s);
  spec.max_deliver = 3;
  auto consumer = js_->pullConsumer(spec);
  ASSERT_TRUE(consumer) << consumer.status().toString();
  for (uint64_t delivery = 1; delivery <= 3; ++delivery) {
    auto m = fetchOne(**consumer, 2s);
    ASSERT_TRUE(m);
    EXPECT_EQ(m->metadata().num_delivered, delivery);
    ASSERT_TRUE(m->nak().isOk());
  }
  // A nak redelivers at once, so half a second shows there is no 4th.
  auto none = (*consumer)->fetch(1, 500ms);
  ASSERT_TRUE(none) << none.status().toString();
  EXPECT_TRUE(none->empty());
}

TEST_F(NatsConsumer, TermStopsRedelivery) {
  ASSERT_TRUE(js_->ensureStream(streamSpec("TERM")).isOk());
  ASSERT_TRUE(js_->publish(out("TERM.a", "x"), "TERM"));
  auto consumer = js_->pullConsumer(consumerSpec("TERM", 300ms));
  ASSERT_TRUE(consumer) << consumer.status().toString();
  auto m = fetchOne(**consumer, 2s);
  ASSERT_TRUE(m);
  ASSERT_TRUE(m->term().isOk());
  // Unsettled, it would be back after the 300 ms ack wait.
  auto none = (*consumer)->fetch(1, 1s);
  ASSERT_TRUE(none) << none.status().toString();
  EXPECT_TRUE(none->empty());
}

TEST_F(NatsConsumer, AckNoWaitSettlesTheMessage) {
  ASSERT_TRUE(js_->ensureStream(streamSpec("ACKNW")).isOk());
  ASSERT_TRUE(js_->publish(out("ACKNW.a", "x"), "ACKNW"));
  ASSERT_TRUE(js_->publish(out("ACKNW.a", "y"), "ACKNW"));
  auto consumer = js_->pullConsumer(consumerSpec("ACKNW", 300ms));
  ASSERT_TRUE(consumer) << consumer.status().toString();
  auto m = fetchOne(**consumer, 2s);
  ASSERT_TRUE(m);
  ASSERT_TRUE(m->ackNoWait().isOk());
  // The next fetch gets the second message, and after the 300 ms ack wait
  // neither comes back.
  auto next = fetchOne(**consumer, 2s);
  ASSERT_TRUE(next);
  EXPECT_EQ(next->data(), "y");
  ASSERT_TRUE(next->ackNoWait().isOk());
  auto none = (*consumer)->fetch(1, 1s);
  ASSERT_TRUE(none) << none.status().toString();
  EXPECT_TRUE(none->empty());
  auto state = js_->consumerState("ACKNW", "worker");
  ASSERT_TRUE(state) << state.status().toString();
  EXPECT_EQ(state->num_ack_pending, 0u);
}

TEST_F(NatsConsumer, AckWaitExpiryRedeliversAndSettingsUpdate) {
  ASSERT_TRUE(js_->ensureStream(streamSpec("ACKW")).isOk());
  ASSERT_TRUE(js_->publish(out("ACKW.a", "x"), "ACKW"));
  // Created with a long ack wait, then ensured again with a short one.
  ASSERT_TRUE(js_->pullConsumer(consumerSpec("ACKW", 30s)));
  auto consumer = js_->pullConsumer(consumerSpec("ACKW", 300ms));
  ASSERT_TRUE(consumer) << consumer.status().toString();
  auto first = fetchOne(**consumer, 2s);
  ASSERT_TRUE(first);
  const auto t0 = Clock::now();
  auto second = fetchOne(**consumer, 3s);  // `first` is never acked
  const double waited = millis(Clock::now() - t0);
  ASSERT_TRUE(second);
  EXPECT_GE(waited, 250);
  EXPECT_EQ(second->metadata().stream_sequence, first->metadata().stream_sequence);
  EXPECT_EQ(second->metadata().num_delivered, 2u);
  EXPECT_TRUE(second->ack().isOk());
}

TEST_F(NatsConsumer, InProgressExtendsTheAckWait) {
  ASSERT_TRUE(js_->ensureStream(streamSpec("PROGRESS")).isOk());
  ASSERT_TRUE(js_->publish(out("PROGRESS.a", "x"), "PROGRESS"));
  auto consumer = js_->pullConsumer(consumerSpec("PROGRESS", 500ms));
  ASSERT_TRUE(consumer) << consumer.status().toString();
  auto m = fetchOne(**consumer, 2s);
  ASSERT_TRUE(m);
  // 3 x 250 ms of work, longer than the 500 ms ack wait, reported in between.
  for (int i = 0; i < 3; ++i) {
    auto none = (*consumer)->fetch(1, 250ms);
    ASSERT_TRUE(none) << none.status().toString();
    EXPECT_TRUE(none->empty()) << "redelivered while in progress";
    ASSERT_TRUE(m->inProgress().isOk());
  }
  const auto t0 = Clock::now();
  auto again = fetchOne(**consumer, 3s);  // no more progress: back after the ack wait
  ASSERT_TRUE(again);
  EXPECT_GE(millis(Clock::now() - t0), 400);
  EXPECT_EQ(again->metadata().num_delivered, 2u);
  EXPECT_TRUE(again->ack().isOk());
}

TEST_F(NatsConsumer, BackOffSpacesRedeliveries) {
  ASSERT_TRUE(js_->ensureStream(streamSpec("BACKOFF")).isOk());
  ASSERT_TRUE(js_->publish(out("BACKOFF.a", "x"), "BACKOFF"));
  auto spec = consumerSpec("BACKOFF", 30s);
  spec.backoff = {300ms, 800ms};
  spec.max_deliver = 3;
  auto consumer = js_->pullConsumer(spec);
  ASSERT_TRUE(consumer) << consumer.status().toString();
  std::vector<double> gaps;
  auto t0 = Clock::now();
  for (uint64_t delivery = 1; delivery <= 3; ++delivery) {
    auto m = fetchOne(**consumer, 3s);  // never acked
    ASSERT_TRUE(m);
    EXPECT_EQ(m->metadata().num_delivered, delivery);
    if (delivery > 1) gaps.push_back(millis(Clock::now() - t0));
    t0 = Clock::now();
  }
  EXPECT_GE(gaps[0], 250);
  EXPECT_GE(gaps[1], 250);
  EXPECT_GE(gaps[1], gaps[0]);
  std::printf("[ measure ] backoff [300 ms, 800 ms]: redelivered after %.0f ms, then %.0f ms\n",
              gaps[0], gaps[1]);
  auto none = (*consumer)->fetch(1, 1s);  // max_deliver 3 reached
  ASSERT_TRUE(none) << none.status().toString();
  EXPECT_TRUE(none->empty());
}

TEST_F(NatsKeyValue, CreateTwiceSaysExists) {
  auto kv = js_->keyValue(bucketSpec("create"));
  ASSERT_TRUE(kv) << kv.status().toString();
  auto first = (*kv)->create("k", "one");
  ASSERT_TRUE(first) << first.status().toString();
  EXPECT_TRUE(first->written());
  auto second = (*kv)->create("k", "two");
  ASSERT_TRUE(second) << second.status().toString();
  EXPECT_EQ(second->outcome, nats::KvWrite::Outcome::kExists);
  auto got = (*kv)->get("k");
  ASSERT_TRUE(got && *got);
  EXPECT_EQ((*got)->value, "one");
  EXPECT_EQ((*got)->revision, first->revision);

  // After an erase the key is free again (create writes over the marker).
  ASSERT_TRUE((*kv)->erase("k").isOk());
  auto erased = (*kv)->get("k");
  ASSERT_TRUE(erased);
  EXPECT_FALSE(*erased);
  auto third = (*kv)->create("k", "three");
  ASSERT_TRUE(third) << third.status().toString();
  EXPECT_TRUE(third->written());
  EXPECT_EQ((*(*kv)->get("k"))->value, "three");
}

TEST_F(NatsKeyValue, UpdateIsCompareAndSet) {
  auto kv = js_->keyValue(bucketSpec("cas"));
  ASSERT_TRUE(kv) << kv.status().toString();
  auto r1 = (*kv)->put("k", "v1");
  ASSERT_TRUE(r1) << r1.status().toString();
  auto r2 = (*kv)->update("k", "v2", *r1);
  ASSERT_TRUE(r2) << r2.status().toString();
  ASSERT_TRUE(r2->written());
  EXPECT_GT(r2->revision, *r1);
  auto stale = (*kv)->update("k", "v3", *r1);
  ASSERT_TRUE(stale) << stale.status().toString();
  EXPECT_EQ(stale->outcome, nats::KvWrite::Outcome::kWrongRevision);
  EXPECT_EQ((*(*kv)->get("k"))->value, "v2");
  auto r3 = (*kv)->update("k", "v3", r2->revision);
  ASSERT_TRUE(r3) << r3.status().toString();
  EXPECT_TRUE(r3->written());
  auto missing = (*kv)->update("absent", "x", 5);
  ASSERT_TRUE(missing) << missing.status().toString();
  EXPECT_EQ(missing->outcome, nats::KvWrite::Outcome::kWrongRevision);
  auto bad = (*kv)->update("a b", "x", 1);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.status().code(), Code::kInvalidArgument);
}

TEST_F(NatsKeyValue, KeysListsKeysWithValues) {
  auto kv = js_->keyValue(bucketSpec("keys"));
  ASSERT_TRUE(kv) << kv.status().toString();
  auto empty = (*kv)->keys();
  ASSERT_TRUE(empty) << empty.status().toString();
  EXPECT_TRUE(empty->empty());
  ASSERT_TRUE((*kv)->put("a", "1"));
  ASSERT_TRUE((*kv)->put("b", "2"));
  ASSERT_TRUE((*kv)->erase("a").isOk());
  auto keys = (*kv)->keys();
  ASSERT_TRUE(keys) << keys.status().toString();
  EXPECT_EQ(*keys, std::vector<std::string>{"b"});
}

TEST_F(NatsKeyValue, BucketTtlExpiresKeys) {
  auto spec = bucketSpec("ttl");
  spec.ttl = 1s;
  auto kv = js_->keyValue(spec);
  ASSERT_TRUE(kv) << kv.status().toString();
  ASSERT_TRUE((*kv)->put("k", "v"));
  ASSERT_TRUE((*(*kv)->get("k")).has_value());
  const auto t0 = Clock::now();
  EXPECT_TRUE(eventually(
      [&] {
        auto got = (*kv)->get("k");
        return got && !got->has_value();
      },
      10s));
  std::printf("[ measure ] 1 s bucket TTL: key gone after %.0f ms\n", millis(Clock::now() - t0));
  auto again = (*kv)->create("k", "new");
  ASSERT_TRUE(again) << again.status().toString();
  EXPECT_TRUE(again->written());

  // Ensuring the bucket again with other settings updates it: no TTL now.
  spec.ttl = 0ms;
  spec.history = 5;
  auto kv2 = js_->keyValue(spec);
  ASSERT_TRUE(kv2) << kv2.status().toString();
}

TEST_F(NatsKeyValue, EncodedKeysRoundTrip) {
  auto kv = js_->keyValue(bucketSpec("encoded"));
  ASSERT_TRUE(kv) << kv.status().toString();
  const std::vector<std::string> texts = {"+8801712345678", "a b/c", "আমার সোনার বাংলা",   "", ".",
                                          "a.b..c",         "*>",    std::string(500, 'z')};
  std::set<std::string> keys;
  for (const auto& text : texts) {
    const std::string key = nats::kvKey(text);
    keys.insert(key);
    auto put = (*kv)->put(key, text);
    ASSERT_TRUE(put) << key << ": " << put.status().toString();
  }
  for (const auto& text : texts) {
    auto got = (*kv)->get(nats::kvKey(text));
    ASSERT_TRUE(got && *got) << text;
    EXPECT_EQ((*got)->value, text);
  }
  auto listed = (*kv)->keys();
  ASSERT_TRUE(listed) << listed.status().toString();
  EXPECT_EQ(std::set<std::string>(listed->begin(), listed->end()), keys);
}

TEST(NatsKvKey, EncodesArbitraryStringsToValidDistinctKeys) {
  EXPECT_EQ(nats::kvKey("+8801712345678"), "=2B8801712345678");
  EXPECT_EQ(nats::kvKey("a b/c"), "a=20b=2Fc");
  EXPECT_EQ(nats::kvKey("Plain_key-1"), "Plain_key-1");
  EXPECT_EQ(nats::kvKey(""), "=");
  EXPECT_EQ(nats::kvKey("="), "=3D");
  EXPECT_EQ(nats::kvKey("বাংলা"), "=E0=A6=AC=E0=A6=BE=E0=A6=82=E0=A6=B2=E0=A6=BE");
  const std::string long_a = std::string(300, 'a') + "1";
  const std::string long_b = std::string(300, 'a') + "2";
  const std::string long_bengali = [] {
    std::string s;
    for (int i = 0; i < 100; ++i) s += "বাংলা";
    return s;
  }();
  const std::vector<std::string> texts = {"+8801712345678",
                                          "8801712345678",
                                          "a b/c",
                                          "a=20b=2Fc",
                                          "আমার সোনার বাংলা",
                                          "",
                                          "=",
                                          ".",
                                          "..",
                                          "a.b",
                                          "a\\b",
                                          "a\nb",
                                          "A",
                                          "a",
                                          std::string("\0", 1),
                                          long_a,
                                          long_b,
                                          long_bengali};
  const std::regex valid("[A-Za-z0-9_=-]{1,200}");
  std::set<std::string> keys;
  for (const auto& text : texts) {
    const std::string key = nats::kvKey(text);
    EXPECT_TRUE(std::regex_match(key, valid)) << key;
    keys.insert(key);
  }
  EXPECT_EQ(keys.size(), texts.size());
  EXPECT_EQ(nats::kvKey(long_a).size(), 200u);
  // Cut after whole "=XX" escapes: 132, not the 134 that leaves room for the hash.
  EXPECT_EQ(nats::kvKey(long_bengali).find("=="), 132u);
}

// ---------------------------------------------------------------------------
// A server that goes away: failures are reported, never dropped.

TEST(NatsServerGone, PublishesFailAndRecoverAfterRestart) {
  if (!NatsCluster::installed()) GTEST_SKIP() << NatsCluster::notInstalledReason();
  NatsCluster cluster(1);
  ASSERT_TRUE(cluster.start());
  auto conn = connect(cluster, 500ms);
  ASSERT_NE(conn, nullptr);
  auto& js = conn->jetstream();
  ASSERT_TRUE(js.ensureStream(streamSpec("GONE")).isOk());
  ASSERT_TRUE(js.publish(out("GONE.a", "before", "m0"), "GONE"));
  auto consumer = js.pullConsumer(consumerSpec("GONE", 30s));
  ASSERT_TRUE(consumer) << consumer.status().toString();
  auto kv = js.keyValue(bucketSpec("gone"));
  ASSERT_TRUE(kv) << kv.status().toString();

  cluster.stopNode(0);
  EXPECT_TRUE(eventually([&] { return !conn->connected(); }, 5s));
  auto sync = js.publish(out("GONE.a", "x", "m1"), "GONE");
  ASSERT_FALSE(sync);
  EXPECT_EQ(sync.status().message().rfind("nats: publish to GONE.a: ", 0), 0u)
      << sync.status().message();
  std::vector<nats::OutMessage> msgs;
  for (int i = 0; i < 20; ++i) msgs.push_back(out("GONE.a", "x", "b" + std::to_string(i)));
  const auto t0 = Clock::now();
  auto results = js.publishBatch(msgs, "GONE");
  const double took = millis(Clock::now() - t0);
  ASSERT_EQ(results.size(), msgs.size());
  for (const auto& r : results) {
    ASSERT_FALSE(r);
    EXPECT_TRUE(r.status().code() == Code::kTimeout || r.status().code() == Code::kUnavailable)
        << r.status().toString();
    EXPECT_EQ(r.status().message().rfind("nats: publish to GONE.a: ", 0), 0u)
        << r.status().message();
  }
  EXPECT_LT(took, 3000);
  auto fetched = (*consumer)->fetch(1, 2s);
  ASSERT_FALSE(fetched);
  EXPECT_EQ(fetched.status().message(), "nats: fetch from GONE/worker: not connected");
  auto put = (*kv)->put("k", "v");
  ASSERT_FALSE(put);
  EXPECT_EQ(put.status().message(), "nats: kv put gone/k: not connected");
  std::printf("[ measure ] batch of 20 with the server gone: every one failed in %.0f ms (%s)\n",
              took, results.front().status().toString().c_str());

  ASSERT_TRUE(cluster.startNode(0));
  ASSERT_TRUE(cluster.waitReady());
  EXPECT_TRUE(eventually([&] { return conn->connected(); }, 10s));
  std::optional<nats::PubAck> ack;
  EXPECT_TRUE(eventually(
      [&] {
        auto r = js.publish(out("GONE.a", "after", "m2"), "GONE");
        if (r) ack = *r;
        return r.isOk();
      },
      10s));
  ASSERT_TRUE(ack);
  EXPECT_EQ(ack->sequence, 2u);  // m0 survived the restart; none of the failed ones is there
  auto batch = js.publishBatch(msgs, "GONE");
  for (const auto& r : batch) EXPECT_TRUE(r) << r.status().toString();
}

// ---------------------------------------------------------------------------
// Three nodes: replicated stream and bucket through the loss of a node.

class NatsThreeNodes : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!NatsCluster::installed()) GTEST_SKIP() << NatsCluster::notInstalledReason();
    const auto t0 = Clock::now();
    ASSERT_TRUE(cluster_.start());
    std::printf("[ measure ] 3-node cluster ready in %.0f ms\n", millis(Clock::now() - t0));
  }
  // Publishes 200 events to an R3 stream, loses the stream leader (SIGTERM,
  // or SIGKILL when `crash`), publishes 200 more, restarts the node, then
  // reads every sequence exactly once in order; KV compare-and-set still works.
  void loseTheLeader(bool crash);

  NatsCluster cluster_{3};
};

void NatsThreeNodes::loseTheLeader(bool crash) {
  auto conn = connect(cluster_, 2s);
  ASSERT_NE(conn, nullptr);
  auto& js = conn->jetstream();
  auto created = js.ensureStream(streamSpec("EVENTS", 3));
  ASSERT_TRUE(created.isOk()) << created.toString();
  auto kv = js.keyValue(bucketSpec("state", 3));
  ASSERT_TRUE(kv) << kv.status().toString();
  auto kv_rev = (*kv)->create("conv", "v1");
  ASSERT_TRUE(kv_rev && kv_rev->written()) << kv_rev.status().toString();

  const std::string payload(1024, 'e');
  auto publish = [&](int i) {
    return js.publish(out("EVENTS.a", payload, "e" + std::to_string(i)), "EVENTS");
  };
  std::vector<double> took;
  for (int i = 1; i <= 200; ++i) {
    const auto t0 = Clock::now();
    auto ack = publish(i);
    took.push_back(millis(Clock::now() - t0));
    ASSERT_TRUE(ack) << ack.status().toString();
    ASSERT_EQ(ack->sequence, static_cast<uint64_t>(i));
  }
  std::printf("[ measure ] R3 cluster, 1 KiB sync publish: p50 %.3f ms, p99 %.3f ms\n",
              percentile(took, 0.5), percentile(took, 0.99));

  const int leader = cluster_.streamLeader("EVENTS");
  ASSERT_GE(leader, 0) << cluster_.logs();
  std::printf("[ measure ] %s the stream leader %s\n", crash ? "killing" : "stopping",
              NatsCluster::serverName(leader).c_str());
  if (crash) {
    cluster_.killNode(leader);
  } else {
    cluster_.stopNode(leader);
  }

  // Keep publishing; a publish that fails while the leader moves is retried
  // with the same Nats-Msg-Id, so a retry of a stored message is a duplicate.
  double longest_gap = 0;
  int failures = 0;
  std::string first_error;
  for (int i = 201; i <= 400; ++i) {
    const auto t0 = Clock::now();
    const auto deadline = t0 + 30s;
    while (true) {
      auto ack = publish(i);
      if (ack) {
        ASSERT_EQ(ack->sequence, static_cast<uint64_t>(i)) << "duplicate=" << ack->duplicate;
        break;
      }
      ++failures;
      if (first_error.empty()) first_error = ack.status().toString();
      ASSERT_LT(Clock::now(), deadline) << ack.status().toString() << "\n" << cluster_.logs();
      std::this_thread::sleep_for(20ms);  // retry pace
    }
    longest_gap = std::max(longest_gap, millis(Clock::now() - t0));
  }
  std::printf("[ measure ] leader failover: longest publish gap %.0f ms, %d failed attempts%s%s\n",
              longest_gap, failures, first_error.empty() ? "" : ", first: ", first_error.c_str());

  ASSERT_TRUE(cluster_.startNode(leader));
  ASSERT_TRUE(cluster_.waitReady());

  // Every sequence exactly once, in order.
  auto consumer = js.pullConsumer(consumerSpec("EVENTS", 30s));
  ASSERT_TRUE(consumer) << consumer.status().toString();
  uint64_t next = 1;
  const auto deadline = Clock::now() + 30s;
  while (next <= 400 && Clock::now() < deadline) {
    auto batch = (*consumer)->fetch(100, 2s);
    ASSERT_TRUE(batch) << batch.status().toString();
    for (auto& m : *batch) {
      ASSERT_EQ(m.metadata().stream_sequence, next);
      EXPECT_EQ(m.metadata().num_delivered, 1u);
      EXPECT_EQ(m.msgId(), "e" + std::to_string(next));
      ASSERT_TRUE(m.ack().isOk());
      ++next;
    }
  }
  EXPECT_EQ(next, 401u);
  auto extra = (*consumer)->fetch(10, 300ms);
  ASSERT_TRUE(extra) << extra.status().toString();
  EXPECT_TRUE(extra->empty());

  // Compare-and-set still works on the replicated bucket. Reads are served
  // by any replica (direct get); writes need the bucket stream's leader,
  // which may still be being elected (no responders): those are retried.
  std::optional<nats::KvEntry> entry;
  ASSERT_TRUE(eventually(
      [&] {
        auto got = (*kv)->get("conv");
        if (got && *got) entry = **got;
        return entry.has_value();
      },
      10s));
  EXPECT_EQ(entry->value, "v1");
  int unavailable = 0;
  auto write = [&](auto op) {
    std::optional<sanjog::Result<nats::KvWrite>> result;
    eventually(
        [&] {
          auto r = op();
          if (!r && r.status().code() == Code::kUnavailable) {
            ++unavailable;
            return false;
          }
          result.emplace(std::move(r));
          return true;
        },
        15s);
    return result;
  };
  auto stale = write([&] { return (*kv)->update("conv", "v2", entry->revision + 100); });
  ASSERT_TRUE(stale && *stale) << (stale ? stale->status().toString() : "unavailable");
  EXPECT_EQ((*stale)->outcome, nats::KvWrite::Outcome::kWrongRevision);
  auto fresh = write([&] { return (*kv)->update("conv", "v2", entry->revision); });
  ASSERT_TRUE(fresh && *fresh) << (fresh ? fresh->status().toString() : "unavailable");
  EXPECT_TRUE((*fresh)->written());
  auto exists = write([&] { return (*kv)->create("conv", "v3"); });
  ASSERT_TRUE(exists && *exists) << (exists ? exists->status().toString() : "unavailable");
  if (unavailable > 0) {
    std::printf("[ measure ] KV writes unavailable %d times after the restart\n", unavailable);
  }
  EXPECT_EQ((*exists)->outcome, nats::KvWrite::Outcome::kExists);
}

TEST_F(NatsThreeNodes, LeaderStopKeepsEveryMessageOnceInOrder) { loseTheLeader(false); }

TEST_F(NatsThreeNodes, LeaderCrashKeepsEveryMessageOnceInOrder) { loseTheLeader(true); }

TEST_F(NatsThreeNodes, ConnectedFollowsTheServers) {
  auto conn = connect(cluster_);
  ASSERT_NE(conn, nullptr);
  EXPECT_TRUE(conn->connected());
  cluster_.stop();
  const auto t0 = Clock::now();
  EXPECT_TRUE(eventually([&] { return !conn->connected(); }, 10s));
  std::printf("[ measure ] connected() false %.0f ms after the last node stopped\n",
              millis(Clock::now() - t0));
  const auto t2 = Clock::now();
  auto down = conn->jetstream().ensureStream(streamSpec("DOWN"));
  EXPECT_EQ(down.message(), "nats: ensure stream DOWN: not connected");
  EXPECT_LT(millis(Clock::now() - t2), 100);
  const auto t1 = Clock::now();
  ASSERT_TRUE(cluster_.start());
  const double ready = millis(Clock::now() - t1);
  EXPECT_TRUE(eventually([&] { return conn->connected(); }, 15s));
  std::printf(
      "[ measure ] restart of all 3 nodes: cluster ready after %.0f ms, connected() true after "
      "%.0f ms\n",
      ready, millis(Clock::now() - t1));
  auto up = conn->jetstream().ensureStream(streamSpec("UP", 3));
  EXPECT_TRUE(up.isOk()) << up.toString();
  // The refused call was not sent later either.
  auto no_stream = conn->jetstream().publish(out("DOWN.a", "x"));
  EXPECT_FALSE(no_stream);
}

TEST(NatsConnection, OpenWithoutAServerRetriesInTheBackground) {
  nats::Options options;
  options.urls = {"nats://127.0.0.1:1"};
  options.reconnect_wait = 50ms;
  auto conn = nats::Connection::open(options);
  ASSERT_TRUE(conn) << conn.status().toString();
  EXPECT_FALSE((*conn)->connected());
  auto failed = (*conn)->jetstream().publish(out("x.a", "x"));
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.status().code(), Code::kUnavailable);
  EXPECT_EQ(failed.status().message(), "nats: publish to x.a: not connected");
  options.retry_on_failed_connect = false;
  auto refused = nats::Connection::open(options);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.status().code(), Code::kUnavailable);
  EXPECT_EQ(refused.status().message().rfind("nats: connect to nats://127.0.0.1:1: ", 0), 0u)
      << refused.status().message();
}

// A server that requires TLS, with a certificate from a private CA: the
// connection verifies it, so it fails without the CA and works with it as
// ca_file (sanjogd passes outbound.ca_file).
TEST(NatsTls, TheServerCertificateIsVerifiedAgainstCaFile) {
  if (!NatsCluster::installed()) GTEST_SKIP() << NatsCluster::notInstalledReason();
  char tmpl[] = "/tmp/sanjog-nats-tls-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const std::filesystem::path dir = tmpl;
  const std::string d = dir.string();
  const std::string script =
      "cd '" + d +
      "' && openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem "
      "-days 2 -subj /CN=sanjog-test-ca && openssl req -newkey rsa:2048 -nodes -keyout srv.key "
      "-out srv.csr -subj /CN=127.0.0.1 && echo subjectAltName=IP:127.0.0.1 > ext.cnf "
      "&& openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out srv.pem "
      "-days 2 -extfile ext.cnf";
  ASSERT_EQ(std::system((script + " >/dev/null 2>&1").c_str()), 0) << script;
  {
    NatsCluster cluster(1);
    cluster.setTls(d + "/srv.pem", d + "/srv.key");
    ASSERT_TRUE(cluster.start());
    nats::Options options;
    options.urls = {cluster.clientUrl(0)};
    options.retry_on_failed_connect = false;
    auto untrusted = nats::Connection::open(options);
    ASSERT_FALSE(untrusted) << "a certificate from an unknown CA was accepted";
    EXPECT_NE(untrusted.status().message().find("SSL"), std::string::npos)
        << untrusted.status().message();
    options.ca_file = d + "/ca.pem";
    auto trusted = nats::Connection::open(options);
    ASSERT_TRUE(trusted) << trusted.status().toString();
    nats::StreamSpec spec;
    spec.name = "TLS";
    spec.subjects = {"TLS.>"};
    ASSERT_TRUE((*trusted)->jetstream().ensureStream(spec).isOk());
    auto ack = (*trusted)->jetstream().publish(out("TLS.a", "over TLS"), "TLS");
    ASSERT_TRUE(ack) << ack.status().toString();
    EXPECT_EQ(ack->sequence, 1u);
    options.ca_file = d + "/missing.pem";
    auto missing = nats::Connection::open(options);
    ASSERT_FALSE(missing);
    EXPECT_NE(missing.status().message().find("nats:"), std::string::npos);
    // The bus (what sanjogd opens) says why it could not connect.
    NatsBus::Options bus;
    bus.urls = {cluster.clientUrl(0)};
    bus.stream = "TLSBUS";
    bus.connect_wait = 500ms;
    auto refused = NatsBus::open(bus);
    ASSERT_FALSE(refused);
    EXPECT_NE(refused.status().message().find("no server answered"), std::string::npos);
    EXPECT_NE(refused.status().message().find("SSL"), std::string::npos)
        << refused.status().message();
    bus.ca_file = d + "/ca.pem";
    bus.connect_wait = 10s;
    auto opened = NatsBus::open(bus);
    ASSERT_TRUE(opened) << opened.status().toString();
  }
  std::filesystem::remove_all(dir);
}

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::AddGlobalTestEnvironment(new NatsLibraryEnvironment);
  return RUN_ALL_TESTS();
}
