// The scale-out acceptance test: three real sanjogd processes share one NATS
// JetStream bus (a real three-node cluster, tests/support/nats_cluster.h,
// replicas 3) while a provider posts signed webhooks to all of them. During
// the load one sanjogd is killed with SIGKILL (the one holding the timer
// lease; every member owns partitions) while the receiver answers slowly, so
// that it dies holding unfinished deliveries, and one NATS node, the
// stream's leader, is stopped and started again. Then:
//   - every acknowledged (2xx) webhook is delivered to the one receiver;
//   - per conversation, the first delivery of each sequence number comes in
//     increasing order; a redelivery (at least once) reuses its idempotency
//     key (webhook-id);
//   - nothing is delivered that was never sent;
//   - a CSAT timer due after the kill fires exactly once in the cluster,
//     and its survey reaches the receiver as one message.
// It prints one line with the figures:
//   [ failover ] sent=S acknowledged=A delivered=D lost=L duplicated=U
//                retried_503=R unreachable=N takeover_ms=T
// Every wait polls a condition with a deadline; the chaos steps run at fixed
// offsets from the start of the load, so that they happen during it.
#include <gtest/gtest.h>
#include <signal.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "fakes/fake_http_server.h"
#include "integration/daemon.h"
#include "sanjog/sdk/crypto.hpp"
#include "support/nats_cluster.h"

namespace sanjog::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using nlohmann::json;

constexpr const char* kSecretA = "whsec_dGVzdC1zZWNyZXQtb2YtaW5zdGFuY2UtYQ==";
constexpr const char* kSecretB = "whsec_dGVzdC1zZWNyZXQtb2YtaW5zdGFuY2UtYg==";
constexpr int kDaemons = 3;
constexpr int kPartitions = 8;
constexpr int kEvents = 600;
constexpr int kConversations = 30;
// The load takes at least kEvents * kPace (9 s; about 12 s here).
constexpr auto kPace = 15ms;
// Chaos, from the start of the load.
// The receiver answers slowly for a second before the kill, so that the
// victim dies holding unfinished deliveries (and some attempts in flight):
// their messages come back to the new owners, which must settle them first.
constexpr auto kSlowFrom = 1500ms;
constexpr auto kSlowAnswer = 1000ms;
constexpr auto kResolveAt = 2000ms;    // conversation.resolved: the CSAT timer is scheduled
constexpr auto kKillAt = 2500ms;       // kill -9 of the timer leader
constexpr auto kStopNodeAt = 4500ms;   // the stream leader's nats-server stops (SIGTERM)
constexpr auto kStartNodeAt = 8000ms;  // and starts again
constexpr auto kCsatDelay = 3s;        // due 3 s after kResolveAt: after the kill
// A webhook refused (503) or unanswered is posted again, like a provider
// would, for this long.
constexpr auto kGiveUpAfter = 30s;
// From the end of the load until every acknowledged event is delivered: a
// takeover needs the lease (6 s) to expire and the ack wait (2 s) twice.
constexpr auto kDeliveryDeadline = 30s;
constexpr auto kMetricPoll = 250ms;
constexpr const char* kCsatContact = "csat-contact";

// As the gateway names a conversation (gateway/src/app/gateway.cpp).
std::string conversationOf(const std::string& instance, const std::string& address) {
  return "conv_" + sdk::crypto::hex(sdk::crypto::sha256(instance + '\n' + address)).substr(0, 24);
}

// As the NATS bus picks a partition for an ordering key (nats_bus.cpp
// partitionOf: FNV-1a 64 modulo the partitions).
int partitionOf(const std::string& order_key) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : order_key) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return static_cast<int>(h % kPartitions);
}

// Polls `done` until it holds or `timeout` passes. Conditions that read
// /metrics poll slowly: on the NATS bus every scrape scans the lease bucket.
template <typename F>
bool eventually(F done, std::chrono::milliseconds timeout, std::chrono::milliseconds every = 50ms) {
  const auto deadline = Clock::now() + timeout;
  while (!done()) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(every);  // poll interval, bounded by the deadline
  }
  return true;
}

long long msBetween(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(b - a).count();
}

// What a daemon's log says about it: the partitions it holds (at the end of
// the log) and whether it holds the timer lease.
struct Ownership {
  std::set<int> partitions;
  bool timer_leader = false;
};

Ownership ownershipFromLog(const std::string& log) {
  Ownership o;
  std::istringstream in(log);
  for (std::string line; std::getline(in, line);) {
    auto j = json::parse(line, nullptr, false);
    if (!j.is_object()) continue;
    const std::string msg = j.value("msg", "");
    const int p = j.contains("partition") && j["partition"].is_number_integer()
                      ? j["partition"].get<int>()
                      : -1;
    if (msg == "took a partition") {
      o.partitions.insert(p);
    } else if (msg == "handing a partition over" ||
               msg == "partition lease taken by another member" ||
               msg == "lost the NATS connection: letting a partition go") {
      o.partitions.erase(p);
    } else if (msg == "this member now fires the timers") {
      o.timer_leader = true;
    } else if (msg == "timer lease taken by another member" ||
               msg == "lost the timer lease (disconnected)") {
      o.timer_leader = false;
    }
  }
  return o;
}

// One webhook of the load.
struct Sent {
  std::string webhook_id;
  std::string conversation;
  int seq = 0;
  std::string body;
  bool acknowledged = false;
};

// One request the receiver got.
struct Received {
  std::string key;       // webhook-id: the delivery's idempotency key
  std::string event_id;  // the stored event's id
  std::string type;
  std::string source;
  json data;
  Clock::time_point at;
};

class NatsFailover : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!NatsCluster::installed()) GTEST_SKIP() << NatsCluster::notInstalledReason();
    setup_start_ = Clock::now();
    ASSERT_TRUE(cluster_.start(60s));
    static std::atomic<int> run{0};
    stream_ = "FO" + std::to_string(::getpid()) + "_" + std::to_string(++run);
    // One at a time: the first creates the streams, buckets and consumers.
    for (auto& d : daemons_) {
      d.writeConfig(config(d));
      auto started = d.start(60s);
      if (!started && d.log().find("cannot open the NATS bus") != std::string::npos) {
        // sanjogd exits when JetStream does not answer within its connect
        // wait (10 s) and its supervisor starts it again: so does the test,
        // once. Start-up is not what this test is about.
        std::cout << "[ failover ] a sanjogd could not open the bus; starting it again\n";
        started = d.start(60s);
      }
      ASSERT_TRUE(started);
    }
  }

  void TearDown() override {
    // A survivor drains and exits 0; the killed one was reaped by stop().
    for (auto& d : daemons_) {
      if (d.running()) {
        EXPECT_EQ(d.stop(SIGTERM, 30s), 0) << "SIGTERM must drain and exit 0";
      }
    }
  }

  json config(const Daemon& d) const {
    auto c = d.baseConfig();
    std::string urls;
    for (const auto& u : cluster_.clientUrls()) urls += (urls.empty() ? "" : ",") + u;
    c["bus"] = {{"backend", "nats"}, {"workers", 4},  {"url", urls},
                {"stream", stream_}, {"replicas", 3}, {"partitions", kPartitions},
                {"ack_wait", "2s"}};
    c["instances"] = {
        {{"id", "a"}, {"plugin", "crm_webhook"}, {"config", {{"secret", kSecretA}}}},
        {{"id", "b"},
         {"plugin", "crm_webhook"},
         {"config", {{"secret", kSecretB}, {"url", receiver_.url()}, {"timeout", "2s"}}},
         {"circuit_breaker", {{"open_for", "300ms"}}},
         {"retry",
          {{"initial", "100ms"},
           {"multiplier", 2},
           {"max_interval", "1s"},
           {"max_age", "1h"},
           {"jitter", 0}}}}};
    c["routes"] = {
        {{"id", "a-to-b"}, {"from", {{"instance", "a"}}}, {"to", {{{"instance", "b"}}}}}};
    // The survey goes to the conversation's instance: "b", whose contact
    // wrote first (see the test), so it reaches the receiver.
    c["automations"] = {{{"id", "csat"},
                         {"type", "csat_survey"},
                         {"delay", std::to_string(kCsatDelay.count()) + "s"}}};
    return c;
  }

  // Posts like a provider: after a 503 or no answer, the same webhook id
  // again on the next daemon, until a 2xx or `give_up`. Returns the status
  // of the last try.
  int post(const std::string& instance, const std::string& secret, const std::string& webhook_id,
           const std::string& body, size_t& next, Clock::time_point give_up) {
    int status = 0;
    while (true) {
      const Daemon& d = daemons_[next++ % kDaemons];
      status = d.postSigned(instance, secret, webhook_id, body).status;
      if (status >= 200 && status < 300) return status;
      if (status == 503) {
        ++retried_503_;
      } else if (status == 0) {
        ++unreachable_;
      } else {
        return status;  // not something a provider retries: reported by the caller
      }
      if (Clock::now() > give_up) return status;
      // A refused connection (the killed daemon) goes to the next one at
      // once, as a load balancer would; after a 503 a short pause.
      if (status == 503) std::this_thread::sleep_for(50ms);
    }
  }

  // Adds the receiver's requests not read yet to received_.
  void collect() {
    for (auto& r : receiver_.requestsFrom(received_.size())) {
      Received x;
      x.key = r.header("webhook-id");
      x.at = r.received;
      auto j = json::parse(r.body, nullptr, false);
      if (j.is_object()) {
        x.event_id = j.value("id", "");
        x.type = j.value("type", "");
        x.source = j.value("source", "");
        x.data = j.value("data", json::object());
      }
      received_.push_back(std::move(x));
    }
  }

  double sumMetric(const std::string& name, const std::map<std::string, std::string>& labels) {
    double sum = 0;
    for (auto& d : daemons_) {
      if (d.running()) sum += d.metric(name, labels);
    }
    return sum;
  }

  NatsCluster cluster_{3};
  FakeHttpServer receiver_;  // outlives the daemons, which deliver to it
  std::array<Daemon, kDaemons> daemons_;
  std::string stream_;
  Clock::time_point setup_start_;
  std::atomic<int> retried_503_{0};
  std::atomic<int> unreachable_{0};
  std::vector<Received> received_;
};

TEST_F(NatsFailover, KillOneSanjogdAndBounceOneNatsNodeUnderLoad) {
  const auto test_start = Clock::now();
  // Every member owns partitions before the load starts.
  ASSERT_TRUE(eventually(
      [&] {
        double sum = 0;
        for (auto& d : daemons_) {
          const double owned = d.metric("sanjog_bus_partitions", {});
          if (owned < 1) return false;
          sum += owned;
        }
        return sum == kPartitions;
      },
      30s, kMetricPoll))
      << "the partitions are not shared by the three members";

  // The CSAT conversation: its contact writes to "b" first, so the survey
  // later goes to "b" (and so to the receiver).
  const std::string csat_conv = conversationOf("b", kCsatContact);
  {
    const json received = {{"type", "message.received"},
                           {"id", "in-1"},
                           {"data", {{"address", kCsatContact}, {"message", {{"text", "hi"}}}}}};
    size_t next = 0;
    ASSERT_EQ(post("b", kSecretB, stream_ + "-in-1", received.dump(), next, Clock::now() + 10s),
              202);
  }

  // The load: kEvents webhooks over kConversations conversations, each with
  // its sequence number, round-robin over the three daemons.
  std::vector<Sent> sent(kEvents);
  for (int i = 0; i < kEvents; ++i) {
    auto& s = sent[static_cast<size_t>(i)];
    s.webhook_id = stream_ + "-ev-" + std::to_string(i);
    s.conversation = "conv-fo-" + std::to_string(i % kConversations);
    s.seq = i / kConversations;
    s.body = json{{"type", "test.sequenced"},
                  {"id", "src-" + std::to_string(i)},
                  {"data", {{"conversation_id", s.conversation}, {"seq", s.seq}, {"n", i}}}}
                 .dump();
  }
  std::vector<int> other_statuses;
  std::atomic<int> acknowledged_so_far{0};
  const auto load_start = Clock::now();
  std::thread client([&] {
    size_t next = 0;
    for (int i = 0; i < kEvents; ++i) {
      std::this_thread::sleep_until(load_start + i * kPace);  // pacing; no-op when behind
      auto& s = sent[static_cast<size_t>(i)];
      const int status =
          post("a", kSecretA, s.webhook_id, s.body, next, Clock::now() + kGiveUpAfter);
      s.acknowledged = status >= 200 && status < 300;
      if (s.acknowledged) {
        ++acknowledged_so_far;
      } else if (status != 503 && status != 0) {
        other_statuses.push_back(status);
      }
    }
  });

  // Chaos, during the load.
  std::this_thread::sleep_until(load_start + kSlowFrom);
  {
    ScriptedResponse slow(200);
    slow.delay = kSlowAnswer;
    receiver_.setDefault(slow);
  }
  std::this_thread::sleep_until(load_start + kResolveAt);
  const auto resolve_posted = Clock::now();
  {
    const json resolved = {{"type", "conversation.resolved"},
                           {"id", "res-1"},
                           {"data", {{"conversation_id", csat_conv}}}};
    size_t next = 0;
    EXPECT_EQ(post("a", kSecretA, stream_ + "-res-1", resolved.dump(), next, Clock::now() + 10s),
              202);
  }
  std::this_thread::sleep_until(load_start + kKillAt);
  // The victim: the member holding the timer lease (so the timer must move),
  // else the first; all own partitions.
  int victim = 0;
  std::array<Ownership, kDaemons> owners;
  for (int i = 0; i < kDaemons; ++i) {
    owners[static_cast<size_t>(i)] = ownershipFromLog(daemons_[static_cast<size_t>(i)].log());
  }
  for (int i = 0; i < kDaemons; ++i) {
    if (owners[static_cast<size_t>(i)].timer_leader) victim = i;
  }
  const std::set<int> victim_partitions = owners[static_cast<size_t>(victim)].partitions;
  const auto kill_at = Clock::now();
  EXPECT_LT(kill_at, resolve_posted + kCsatDelay) << "the CSAT timer must be due after the kill";
  EXPECT_EQ(daemons_[static_cast<size_t>(victim)].stop(SIGKILL), 128 + SIGKILL);
  receiver_.setDefault(ScriptedResponse(200));
  const int acked_at_kill = acknowledged_so_far.load();

  std::this_thread::sleep_until(load_start + kStopNodeAt);
  int node = cluster_.streamLeader(stream_);
  if (node < 0) node = 0;
  cluster_.stopNode(node);
  const int acked_at_node_stop = acknowledged_so_far.load();
  std::this_thread::sleep_until(load_start + kStartNodeAt);
  EXPECT_TRUE(cluster_.startNode(node));  // not ASSERT: the client thread is running
  client.join();
  const auto load_end = Clock::now();
  EXPECT_TRUE(cluster_.waitReady(30s)) << "the restarted node did not rejoin";

  std::set<int> acknowledged;
  for (int i = 0; i < kEvents; ++i) {
    if (sent[static_cast<size_t>(i)].acknowledged) acknowledged.insert(i);
  }
  EXPECT_TRUE(other_statuses.empty()) << "unexpected answers, first " << other_statuses.front();

  // Wait until the receiver has every acknowledged event and the survey.
  std::set<int> delivered;
  auto surveys = [&] {
    std::set<std::string> keys;
    for (const auto& r : received_) {
      if (r.source == "/automations/csat") keys.insert(r.key);
    }
    return keys;
  };
  const bool complete = eventually(
      [&] {
        collect();
        delivered.clear();
        for (const auto& r : received_) {
          if (r.type == "test.sequenced" && r.data.contains("n")) {
            delivered.insert(r.data.value("n", -1));
          }
        }
        return std::includes(delivered.begin(), delivered.end(), acknowledged.begin(),
                             acknowledged.end()) &&
               !surveys().empty();
      },
      kDeliveryDeadline);
  const auto complete_at = Clock::now();
  // The dead member's partitions have new owners, its timer lease too.
  EXPECT_TRUE(eventually([&] { return sumMetric("sanjog_bus_partitions", {}) == kPartitions; }, 30s,
                         kMetricPoll))
      << "partitions owned by the survivors: " << sumMetric("sanjog_bus_partitions", {});
  EXPECT_TRUE(eventually(
      [&] {
        return sumMetric("sanjog_timers_total", {{"result", "fired"}}) >= 1;
      },
      20s, kMetricPoll));
  // Nothing left to deliver (the owners publish their queues with their
  // heartbeats; any survivor reports the whole cluster), no timer pending:
  // a delivery still retried or a timer firing again would come after this.
  const Daemon* survivor = nullptr;
  for (auto& d : daemons_) {
    if (d.running()) survivor = &d;
  }
  ASSERT_NE(survivor, nullptr);
  EXPECT_TRUE(eventually(
      [&] {
        return survivor->metric("sanjog_queue_depth", {{"target", "b"}}) == 0 &&
               sumMetric("sanjog_timers_pending", {}) == 0;
      },
      20s, kMetricPoll))
      << "deliveries still queued: " << survivor->metric("sanjog_queue_depth", {{"target", "b"}});
  EXPECT_EQ(survivor->metric("sanjog_dead_letters", {{"target", "b"}}), 0);
  collect();

  // Figures and checks.
  std::map<int, std::vector<const Received*>> by_event;
  std::map<std::string, std::vector<int>> first_seqs;  // conversation -> seqs, first deliveries
  std::vector<std::string> unexpected;
  int duplicated = 0;
  Clock::time_point first_takeover_delivery{};
  for (const auto& r : received_) {
    if (r.type == "test.sequenced") {
      const int n = r.data.value("n", -1);
      if (n < 0 || n >= kEvents) {
        unexpected.push_back(r.key + " n=" + std::to_string(n));
        continue;
      }
      const auto& s = sent[static_cast<size_t>(n)];
      if (r.data.value("conversation_id", "") != s.conversation ||
          r.data.value("seq", -1) != s.seq) {
        unexpected.push_back(r.key + " does not match what was sent as n=" + std::to_string(n));
      }
      auto& list = by_event[n];
      if (list.empty()) {
        first_seqs[s.conversation].push_back(s.seq);
      } else {
        ++duplicated;
      }
      list.push_back(&r);
      // The dead member's partitions start again: the first delivery there
      // after the kill (a request it had sent before dying may still be
      // recorded a moment later: 200 ms of slack).
      if (victim_partitions.count(partitionOf(s.conversation)) && r.at > kill_at + 200ms &&
          first_takeover_delivery == Clock::time_point{}) {
        first_takeover_delivery = r.at;
      }
    } else if (r.type == "conversation.resolved" &&
               r.data.value("conversation_id", "") == csat_conv) {
      // routed a -> b like any event
    } else if (r.source == "/automations/csat") {
      // the survey
    } else {
      unexpected.push_back(r.key + " type=" + r.type + " source=" + r.source);
    }
  }
  int lost = 0;
  std::vector<int> lost_list;
  for (const int n : acknowledged) {
    if (!by_event.count(n)) {
      ++lost;
      if (lost_list.size() < 20) lost_list.push_back(n);
    }
  }
  // A redelivery is the same event under the same idempotency key.
  std::vector<std::string> rekeyed;
  std::vector<std::string> duplicate_list;
  for (const auto& [n, list] : by_event) {
    if (list.size() < 2) continue;
    std::string line = "n=" + std::to_string(n) + " " + sent[static_cast<size_t>(n)].conversation +
                       " seq=" + std::to_string(sent[static_cast<size_t>(n)].seq) + " x" +
                       std::to_string(list.size()) + " key=" + list[0]->key;
    for (const auto* r : list) {
      if (r->key != list[0]->key || r->event_id != list[0]->event_id) {
        rekeyed.push_back(line + " and key=" + r->key);
      }
    }
    duplicate_list.push_back(line);
  }
  // Order: the first deliveries of a conversation in increasing seq.
  std::vector<std::string> disorder;
  for (const auto& [conv, seqs] : first_seqs) {
    for (size_t k = 1; k < seqs.size(); ++k) {
      if (seqs[k] <= seqs[k - 1]) {
        disorder.push_back(conv + " (partition " + std::to_string(partitionOf(conv)) + "): seq " +
                           std::to_string(seqs[k]) + " after " + std::to_string(seqs[k - 1]));
      }
    }
  }
  const auto survey_keys = surveys();
  int survey_deliveries = 0;
  for (const auto& r : received_) survey_deliveries += r.source == "/automations/csat" ? 1 : 0;
  const double fired = sumMetric("sanjog_timers_total", {{"result", "fired"}});
  const double asked =
      sumMetric("sanjog_automation_actions_total", {{"automation", "csat"}, {"result", "asked"}});

  std::ostringstream figures;
  figures << "[ failover ] sent=" << kEvents << " acknowledged=" << acknowledged.size()
          << " delivered=" << by_event.size() << " lost=" << lost << " duplicated=" << duplicated
          << " retried_503=" << retried_503_.load() << " unreachable=" << unreachable_.load();
  if (first_takeover_delivery != Clock::time_point{}) {
    figures << " takeover_ms=" << msBetween(kill_at, first_takeover_delivery);
  }
  std::cout << figures.str() << "\n";
  std::cout << "[ failover ] killed sanjogd #" << victim << " (timer leader: "
            << (owners[static_cast<size_t>(victim)].timer_leader ? "yes" : "no") << ", partitions:";
  for (int p : victim_partitions) std::cout << " " << p;
  std::cout << ") at +" << msBetween(load_start, kill_at) << " ms with " << acked_at_kill
            << " acknowledged; stopped nats n" << node + 1 << " at +"
            << msBetween(load_start, load_start + kStopNodeAt) << " ms with " << acked_at_node_stop
            << " acknowledged; load took " << msBetween(load_start, load_end)
            << " ms; all delivered " << msBetween(load_start, complete_at)
            << " ms after the load started; csat fired=" << fired << " asked=" << asked
            << " survey deliveries=" << survey_deliveries << "; set-up "
            << msBetween(setup_start_, test_start) << " ms, test "
            << msBetween(test_start, Clock::now()) << " ms\n";
  for (const auto& d : duplicate_list) std::cout << "[ failover ] duplicate " << d << "\n";
  // How the survivors took the dead member's partitions over.
  for (auto& d : daemons_) {
    if (!d.running()) continue;
    std::istringstream in(d.log());
    for (std::string line; std::getline(in, line);) {
      auto j = json::parse(line, nullptr, false);
      if (!j.is_object()) continue;
      const std::string msg = j.value("msg", "");
      if ((msg == "took a partition" && j.value("unacked_before", 0) > 0) ||
          msg == "partition settled after a takeover") {
        j.erase("ts");
        j.erase("level");
        j.erase("logger");
        std::cout << "[ failover ] " << j.dump() << "\n";
      }
    }
  }

  // What the bus says about the lost ones (stored? delivery state?).
  for (size_t k = 0; k < lost_list.size() && k < 5; ++k) {
    const auto& s = sent[static_cast<size_t>(lost_list[k])];
    std::string found = "not in the stream";
    const auto page =
        survivor->admin("GET", "/admin/v1/events?limit=100&conversation=" + s.conversation).json();
    std::string event_id;
    for (const auto& e : page.value("events", json::array())) {
      if (e.value("providerid", "") != s.webhook_id) continue;
      event_id = e.value("id", "");
      found = e.dump() + " trace: " + survivor->admin("GET", "/admin/v1/events/" + event_id).body;
    }
    std::cout << "[ failover ] lost n=" << lost_list[k] << " " << s.webhook_id << " "
              << s.conversation << " seq=" << s.seq << " partition=" << partitionOf(s.conversation)
              << ": " << found << "\n";
    // What the survivors logged about it.
    for (auto& d : daemons_) {
      if (!d.running() || event_id.empty()) continue;
      std::istringstream in(d.log());
      for (std::string line; std::getline(in, line);) {
        if (line.find(event_id) != std::string::npos)
          std::cout << "[ failover ]   " << line << "\n";
      }
    }
  }

  EXPECT_TRUE(complete) << "not every acknowledged event was delivered within "
                        << kDeliveryDeadline.count() << " s";
  EXPECT_EQ(lost, 0) << "lost (acknowledged, never delivered), first: " << json(lost_list).dump();
  EXPECT_TRUE(rekeyed.empty()) << "a redelivery under another idempotency key: "
                               << json(rekeyed).dump();
  EXPECT_TRUE(disorder.empty()) << "out of order: " << json(disorder).dump();
  EXPECT_TRUE(unexpected.empty()) << "delivered but never sent: " << json(unexpected).dump();
  EXPECT_EQ(fired, 1) << "the CSAT timer must fire exactly once in the cluster";
  EXPECT_EQ(survey_keys.size(), 1u)
      << "one survey message (deliveries: " << survey_deliveries << ")";
}

}  // namespace
}  // namespace sanjog::testing
