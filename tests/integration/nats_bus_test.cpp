// The NATS bus (gateway/src/bus/nats/nats_bus.h) against a real nats-server
// (tests/support/nats_cluster.h): the Bus contract the embedded bus keeps
// (deduplication, retries with a stable idempotency key, dead letters and
// replay, per-conversation order, timers, state, registry, search,
// erasure), and what only a shared bus has: two members splitting the
// partitions, a member leaving and the other finishing its work, one timer
// leader. Each test has its own stream, so the suite shares one server.
// Every wait has a deadline.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "bus/nats/jetstream.h"
#include "bus/nats/nats_bus.h"
#include "support/nats_cluster.h"

namespace sanjog::bus {
namespace {

using namespace std::chrono_literals;
using sanjog::testing::NatsCluster;

template <typename F>
bool eventually(F done, std::chrono::milliseconds timeout = 15s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(10ms);  // poll interval, bounded by the deadline
  }
  return true;
}

// Records attempts and answers from a per-target script.
class Recorder {
 public:
  DeliveryResult operator()(const Delivery& d) {
    std::lock_guard<std::mutex> lock(mutex_);
    seen_.push_back(d);
    DeliveryResult r;
    r.outcome = Outcome::kSuccess;
    r.reason = Code::kOk;
    auto& script = scripts_[d.target];
    if (!script.empty()) {
      r = script.front();
      script.erase(script.begin());
    }
    return r;
  }
  void script(const std::string& target, std::vector<DeliveryResult> results) {
    std::lock_guard<std::mutex> lock(mutex_);
    scripts_[target] = std::move(results);
  }
  std::vector<Delivery> seen() {
    std::lock_guard<std::mutex> lock(mutex_);
    return seen_;
  }
  size_t count() {
    std::lock_guard<std::mutex> lock(mutex_);
    return seen_.size();
  }

 private:
  std::mutex mutex_;
  std::vector<Delivery> seen_;
  std::map<std::string, std::vector<DeliveryResult>> scripts_;
};

DeliveryResult result(Outcome o, Code reason = Code::kUpstreamError) {
  DeliveryResult r;
  r.outcome = o;
  r.reason = reason;
  r.message = "scripted";
  return r;
}

config::RetryPolicy fastPolicy() {
  config::RetryPolicy p;
  p.initial = 50ms;
  p.multiplier = 2;
  p.max_interval = 200ms;
  p.max_age = 30s;
  p.jitter = 0;
  return p;
}

class NatsBusTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!NatsCluster::installed()) return;
    cluster_ = new NatsCluster(1);
    if (auto started = cluster_->start(); !started) start_error_ = started.message();
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }
  void SetUp() override {
    if (!NatsCluster::installed()) GTEST_SKIP() << NatsCluster::notInstalledReason();
    ASSERT_TRUE(start_error_.empty()) << start_error_;
    static std::atomic<int> n{0};
    stream_ = "T" + std::to_string(++n) + "_" + std::to_string(::getpid());
  }
  void TearDown() override { buses_.clear(); }

  NatsBus* open(const std::string& member = "") {
    NatsBus::Options o;
    o.urls = cluster_->clientUrls();
    o.stream = stream_;
    o.partitions = 4;
    o.ack_wait = 2s;
    o.lease = 1500ms;
    o.member = member;
    o.metrics = &metrics_;
    o.seed = 7;
    auto b = NatsBus::open(o);
    EXPECT_TRUE(b) << b.status().toString();
    if (!b) return nullptr;
    buses_.push_back(std::move(b).value());
    return buses_.back().get();
  }
  static void startWith(NatsBus* bus, Recorder& rec, int workers = 4) {
    bus->setTargets({{"t", TargetOptions{fastPolicy()}}, {"u", TargetOptions{fastPolicy()}}});
    bus->start([&rec](const Delivery& d) { return rec(d); }, workers);
  }
  static AppendItem item(const std::string& id, const std::string& provider_id,
                         std::vector<std::string> targets = {},
                         const std::string& conversation = "") {
    AppendItem it;
    it.event = {id,
                "src",
                "message.received",
                conversation,
                provider_id,
                1'767'225'600'000,
                R"({"id":")" + id + R"(","type":"message.received","data":{"text":"hi"}})"};
    for (const auto& t : targets)
      it.deliveries.push_back({"r1", t, "deliver", "", conversation, ""});
    return it;
  }
  std::string lowerStream() const {
    std::string s = stream_;
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  }
  static bool waitState(NatsBus* bus, const std::string& event_id, const std::string& state) {
    return eventually([&] {
      auto t = bus->event(event_id);
      return t && !t->deliveries.empty() && t->deliveries[0].state == state;
    });
  }

  static inline NatsCluster* cluster_ = nullptr;
  static inline std::string start_error_;
  std::string stream_;
  metrics::Metrics metrics_;
  std::vector<std::unique_ptr<NatsBus>> buses_;
};

TEST_F(NatsBusTest, AppendDeduplicatesWithinABatchAcrossBatchesAndMembers) {
  NatsBus* a = open("a");
  ASSERT_NE(a, nullptr);
  auto first = a->append({item("e1", "p1", {"t"}), item("e2", "p1", {"t"})});
  ASSERT_TRUE(first) << first.status().toString();
  EXPECT_FALSE((*first)[0].duplicate);
  EXPECT_TRUE((*first)[1].duplicate);
  auto again = a->append({item("e3", "p1", {"t"})});
  ASSERT_TRUE(again);
  EXPECT_TRUE((*again)[0].duplicate);
  EXPECT_EQ((*again)[0].event_id, "e1");
  // Another member sees the same record.
  NatsBus* b = open("b");
  ASSERT_NE(b, nullptr);
  auto other = b->append({item("e4", "p1", {"t"}), item("e5", "p2", {"t"})});
  ASSERT_TRUE(other);
  EXPECT_TRUE((*other)[0].duplicate);
  EXPECT_EQ((*other)[0].event_id, "e1");
  EXPECT_FALSE((*other)[1].duplicate);
  auto trace = b->event("e1");
  ASSERT_TRUE(trace.has_value());
  EXPECT_EQ(trace->event.type, "message.received");
  ASSERT_EQ(trace->deliveries.size(), 1u);
  EXPECT_EQ(trace->deliveries[0].state, "pending");
  EXPECT_EQ(trace->deliveries[0].delivery.idempotency_key, "e1.0");
  EXPECT_FALSE(b->event("e2").has_value());
}

TEST_F(NatsBusTest, RetriesKeepTheIdempotencyKeyAndEveryAttemptIsTraced) {
  NatsBus* bus = open();
  ASSERT_NE(bus, nullptr);
  Recorder rec;
  rec.script("t", {result(Outcome::kRetry), result(Outcome::kRetry)});
  startWith(bus, rec);
  ASSERT_TRUE(bus->append({item("e1", "p1", {"t"})}));
  ASSERT_TRUE(waitState(bus, "e1", "done"));
  auto seen = rec.seen();
  ASSERT_EQ(seen.size(), 3u);
  for (const auto& d : seen) EXPECT_EQ(d.idempotency_key, "e1.0");
  EXPECT_EQ(seen[0].attempts, 0);
  EXPECT_EQ(seen[2].attempts, 2);
  auto trace = bus->event("e1");
  ASSERT_TRUE(trace.has_value());
  ASSERT_EQ(trace->deliveries[0].attempts.size(), 3u);
  EXPECT_EQ(trace->deliveries[0].attempts[0].result, "retry");
  EXPECT_EQ(trace->deliveries[0].attempts[2].result, "success");
  EXPECT_EQ(trace->deliveries[0].attempts[2].attempt, 3);
}

TEST_F(NatsBusTest, PermanentFailureIsADeadLetterAndReplayDeliversIt) {
  NatsBus* bus = open();
  ASSERT_NE(bus, nullptr);
  Recorder rec;
  rec.script("t", {result(Outcome::kPermanent, Code::kInvalidArgument)});
  startWith(bus, rec);
  ASSERT_TRUE(bus->append({item("e1", "p1", {"t"}), item("e2", "p2", {"u"})}));
  ASSERT_TRUE(waitState(bus, "e1", "dead"));
  ASSERT_TRUE(waitState(bus, "e2", "done"));
  auto dead = bus->deadLetters({});
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].delivery.event_id, "e1");
  EXPECT_EQ(dead[0].dead_reason, "invalid_argument");
  EXPECT_EQ(dead[0].delivery.target, "t");
  DeadLetterFilter only_u;
  only_u.target = "u";
  EXPECT_EQ(*bus->countDeadLetters(only_u), 0);
  EXPECT_EQ(bus->stats()["t"].dead, 1);
  auto replayed = bus->replayDeadLetter(dead[0].delivery.id);
  ASSERT_TRUE(replayed) << replayed.status().toString();
  EXPECT_EQ(*replayed, 1);
  ASSERT_TRUE(waitState(bus, "e1", "done"));
  EXPECT_TRUE(bus->deadLetters({}).empty());
  auto trace = bus->event("e1");
  ASSERT_EQ(trace->deliveries[0].attempts.size(), 2u);  // the failed attempt is kept
  EXPECT_EQ(trace->deliveries[0].attempts[1].attempt, 2);
  EXPECT_EQ(bus->replayDeadLetter(dead[0].delivery.id).status().code(), Code::kNotFound);
}

TEST_F(NatsBusTest, BulkReplayAndDeleteByFilter) {
  NatsBus* bus = open();
  ASSERT_NE(bus, nullptr);
  Recorder rec;
  std::vector<DeliveryResult> fail(6, result(Outcome::kPermanent, Code::kInvalidArgument));
  rec.script("t", fail);
  startWith(bus, rec);
  std::vector<AppendItem> items;
  for (int i = 0; i < 6; ++i) {
    items.push_back(item("e" + std::to_string(i), "p" + std::to_string(i), {"t"}));
  }
  ASSERT_TRUE(bus->append(std::move(items)));
  ASSERT_TRUE(eventually([&] { return bus->deadLetters({}).size() == 6; }));
  DeadLetterFilter three;
  three.limit = 3;
  auto r = bus->replayDeadLetters(three);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->changed, 3);
  ASSERT_TRUE(eventually([&] { return bus->deadLetters({}).size() == 3; }));
  auto d = bus->deleteDeadLetters({});
  ASSERT_TRUE(d);
  EXPECT_EQ(d->changed, 3);
  EXPECT_TRUE(bus->deadLetters({}).empty());
  ASSERT_TRUE(eventually([&] { return rec.count() == 9; }));
}

TEST_F(NatsBusTest, OneConversationInOrderOthersInParallel) {
  NatsBus* bus = open();
  ASSERT_NE(bus, nullptr);
  Recorder rec;
  rec.script("t", {result(Outcome::kRetry), result(Outcome::kRetry)});
  startWith(bus, rec);
  std::vector<AppendItem> items;
  for (int i = 0; i < 20; ++i) {
    items.push_back(item("a" + std::to_string(i), "pa" + std::to_string(i), {"t"}, "conv-a"));
    items.push_back(item("b" + std::to_string(i), "pb" + std::to_string(i), {"u"}, "conv-b"));
  }
  ASSERT_TRUE(bus->append(std::move(items)));
  ASSERT_TRUE(eventually([&] { return rec.count() == 42; })) << rec.count();
  std::vector<std::string> a, b;
  for (const auto& d : rec.seen()) (d.target == "t" ? a : b).push_back(d.event_id);
  // conv-a: a0 three times (two retries), then a1..a19 in order.
  ASSERT_EQ(a.size(), 22u);
  EXPECT_EQ(a[0], "a0");
  EXPECT_EQ(a[2], "a0");
  for (int i = 1; i < 20; ++i) EXPECT_EQ(a[static_cast<size_t>(i + 2)], "a" + std::to_string(i));
  for (int i = 0; i < 20; ++i) EXPECT_EQ(b[static_cast<size_t>(i)], "b" + std::to_string(i));
}

// The dispatcher keeps each target's guards: a target that hangs gets every
// worker but one, a target that answered 410 waits for the next setTargets,
// and a rate limit spaces the attempts; the other targets flow meanwhile.
TEST_F(NatsBusTest, TargetGuardsHoldOneTargetWhileOthersFlow) {
  NatsBus* bus = open();
  ASSERT_NE(bus, nullptr);
  std::mutex m;
  std::condition_variable cv;
  bool release = false;
  int t_running = 0;
  int t_max = 0;
  std::atomic<int> v_calls{0};
  std::vector<int64_t> r_times;
  const auto policies = [] {
    std::map<std::string, TargetOptions> t;
    t["t"] = TargetOptions{fastPolicy()};
    t["u"] = TargetOptions{fastPolicy()};
    t["v"] = TargetOptions{fastPolicy()};
    t["r"] = TargetOptions{fastPolicy(), {}, config::RateLimitPolicy{4.0, 1}};
    return t;
  };
  bus->setTargets(policies());
  bus->start(
      [&](const Delivery& d) {
        DeliveryResult r;
        r.outcome = Outcome::kSuccess;
        r.reason = Code::kOk;
        if (d.target == "v" && ++v_calls == 1) return result(Outcome::kDisable, Code::kNotFound);
        if (d.target == "r") {
          std::lock_guard<std::mutex> lock(m);
          r_times.push_back(std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::steady_clock::now().time_since_epoch())
                                .count());
        }
        if (d.target != "t") return r;
        std::unique_lock<std::mutex> lock(m);
        t_max = std::max(t_max, ++t_running);
        cv.notify_all();
        cv.wait(lock, [&] { return release; });
        --t_running;
        return r;
      },
      4);
  std::vector<AppendItem> items;
  for (int i = 0; i < 6; ++i) {
    items.push_back(
        item("s" + std::to_string(i), "ps" + std::to_string(i), {"t"}, "c" + std::to_string(i)));
  }
  ASSERT_TRUE(bus->append(std::move(items)));
  {
    std::unique_lock<std::mutex> lock(m);
    ASSERT_TRUE(cv.wait_for(lock, 15s, [&] { return t_running == 3; }));
  }
  // t holds three workers; the fourth serves u, v and r.
  ASSERT_TRUE(bus->append({item("fast", "pfast", {"u"})}));
  EXPECT_TRUE(waitState(bus, "fast", "done")) << "the fourth worker stays free for u";
  ASSERT_TRUE(bus->append({item("v1", "pv1", {"v"}, "cv1"), item("v2", "pv2", {"v"}, "cv2")}));
  ASSERT_TRUE(eventually([&] { return bus->isTargetDisabled("v"); }));
  std::vector<AppendItem> rated;
  for (int i = 0; i < 5; ++i) {
    rated.push_back(
        item("r" + std::to_string(i), "pr" + std::to_string(i), {"r"}, "cr" + std::to_string(i)));
  }
  ASSERT_TRUE(bus->append(std::move(rated)));
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(waitState(bus, "r" + std::to_string(i), "done"));
  {
    std::lock_guard<std::mutex> lock(m);
    ASSERT_EQ(r_times.size(), 5u);
    // A burst of 1 at 4/s: the fifth attempt starts 1 s after the first at
    // the earliest (a little less for the bucket's rounding).
    EXPECT_GE(r_times.back() - r_times.front(), 900) << "the rate limit spaced the attempts";
    EXPECT_EQ(t_max, 3) << "all workers but one";
  }
  EXPECT_NE(metrics_.serialize().find("sanjog_deliveries_throttled_total{target=\"r\"}"),
            std::string::npos);
  // v: one attempt (the 410), the other delivery not tried while disabled.
  EXPECT_EQ(v_calls.load(), 1);
  bus->setTargets(policies());
  EXPECT_TRUE(waitState(bus, "v1", "done"));
  EXPECT_TRUE(waitState(bus, "v2", "done"));
  EXPECT_EQ(v_calls.load(), 3);
  {
    std::lock_guard<std::mutex> lock(m);
    release = true;
  }
  cv.notify_all();
  for (int i = 0; i < 6; ++i) EXPECT_TRUE(waitState(bus, "s" + std::to_string(i), "done"));
}

TEST_F(NatsBusTest, TwoMembersSplitThePartitionsAndTheSurvivorFinishesTheWork) {
  NatsBus* a = open("a");
  NatsBus* b = open("b");
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  Recorder ra, rb;
  startWith(a, ra);
  startWith(b, rb);
  ASSERT_TRUE(eventually([&] {
    return a->ownedPartitions().size() == 2 && b->ownedPartitions().size() == 2;
  })) << a->ownedPartitions().size()
      << "/" << b->ownedPartitions().size();
  EXPECT_EQ(a->members().size(), 2u);
  EXPECT_NE(a->timerLeader(), b->timerLeader());
  std::vector<AppendItem> items;
  for (int i = 0; i < 40; ++i) {
    items.push_back(item("e" + std::to_string(i), "p" + std::to_string(i), {"t"},
                         "conv-" + std::to_string(i % 8)));
  }
  ASSERT_TRUE(a->append(std::move(items)));
  ASSERT_TRUE(eventually([&] { return ra.count() + rb.count() == 40; }));
  EXPECT_GT(ra.count(), 0u);
  EXPECT_GT(rb.count(), 0u);
  // b leaves: a takes every partition and delivers what comes next.
  b->stop(1s);
  buses_.pop_back();
  ASSERT_TRUE(eventually([&] { return a->ownedPartitions().size() == 4; }));
  EXPECT_TRUE(a->timerLeader());
  std::vector<AppendItem> more;
  for (int i = 40; i < 60; ++i) {
    more.push_back(item("e" + std::to_string(i), "p" + std::to_string(i), {"t"},
                        "conv-" + std::to_string(i % 8)));
  }
  ASSERT_TRUE(a->append(std::move(more)));
  ASSERT_TRUE(eventually([&] { return ra.count() + rb.count() == 60; }))
      << ra.count() << " + " << rb.count();
  std::set<std::string> ids;
  for (const auto& d : ra.seen()) ids.insert(d.event_id);
  for (const auto& d : rb.seen()) ids.insert(d.event_id);
  EXPECT_EQ(ids.size(), 60u);  // each once
}

TEST_F(NatsBusTest, TimersFireOnceAcrossMembers) {
  NatsBus* a = open("a");
  NatsBus* b = open("b");
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  Recorder ra, rb;
  startWith(a, ra);
  startWith(b, rb);
  ASSERT_TRUE(eventually([&] { return a->timerLeader() != b->timerLeader(); }));
  AppendItem it;
  TimerOp op;
  op.kind = TimerOp::Kind::kSchedule;
  op.timer = {"cart:1", "cart_recovery", "+8801711000001", "chk1", 1000, "{\"n\":1}"};
  it.timers.push_back(op);
  TimerOp dup = op;
  dup.timer.due_ms = 5000;  // scheduling an existing key leaves it alone
  it.timers.push_back(dup);
  auto out = a->append({it});
  ASSERT_TRUE(out);
  EXPECT_EQ((*out)[0].timers_scheduled, 1);
  ASSERT_TRUE(eventually([&] { return a->pendingTimers() == 1 && b->pendingTimers() == 1; }));
  NatsBus* leader = a->timerLeader() ? a : b;
  NatsBus* other = leader == a ? b : a;
  EXPECT_TRUE(other->dueTimers(2000, 10).empty());
  auto due = leader->dueTimers(2000, 10);
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].spec.due_ms, 1000);
  EXPECT_EQ(due[0].spec.payload, "{\"n\":1}");
  // Both try to fire it: one wins.
  auto f1 = leader->fireTimer("cart:1", 1000, "fired", {});
  auto f2 = other->fireTimer("cart:1", 1000, "fired", {});
  ASSERT_TRUE(f1);
  ASSERT_TRUE(f2);
  EXPECT_TRUE(*f1);
  EXPECT_FALSE(*f2);
  EXPECT_EQ(other->timer("cart:1")->state, "fired");
  // Cancel by group reaches the timers of another member's append.
  AppendItem two;
  TimerOp s2 = op;
  s2.timer.key = "cart:2";
  two.timers.push_back(s2);
  ASSERT_TRUE(b->append({two}));
  ASSERT_TRUE(eventually([&] { return a->pendingTimers() == 1; }));
  AppendItem cancel;
  TimerOp c;
  c.kind = TimerOp::Kind::kCancelGroup;
  c.timer.group = "+8801711000001";
  c.timer.automation = "cart_recovery";
  cancel.timers.push_back(c);
  auto cancelled = a->append({cancel});
  ASSERT_TRUE(cancelled);
  EXPECT_EQ((*cancelled)[0].timers_cancelled, 1);
  EXPECT_EQ(b->timer("cart:2")->state, "cancelled");
}

TEST_F(NatsBusTest, StateRegistryStatusesAndSentMessages) {
  NatsBus* bus = open();
  ASSERT_NE(bus, nullptr);
  ASSERT_TRUE(bus->kvPut("wa", "token", "abc", 0ms).isOk());
  ASSERT_TRUE(bus->kvPut("wa", "short", "x", 50ms).isOk());
  EXPECT_EQ(bus->kvGet("wa", "token").value_or(""), "abc");
  EXPECT_TRUE(eventually([&] { return !bus->kvGet("wa", "short").has_value(); }, 2s));
  ASSERT_TRUE(bus->kvDelete("wa", "token").isOk());
  EXPECT_FALSE(bus->kvGet("wa", "token").has_value());

  AppendItem in = item("e1", "p1", {}, "conv-1");
  in.conversation = ConversationUpsert{
      "conv-1", "wa", "+8801711000001", R"({"phone":"+8801711000001","name":"Rahim"})", 1000, true};
  in.status_update = StatusUpdate{"wa", "wamid.1", "delivered", 2, "{}", 1500};
  ASSERT_TRUE(bus->append({in}));
  auto c = bus->conversation("conv-1");
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->address, "+8801711000001");
  EXPECT_EQ(c->last_inbound_ms, 1000);
  EXPECT_EQ(c->awaiting_ms, 1000);
  AppendItem later;
  later.conversation_clears.push_back({"conv-1", true, false});
  later.status_update = StatusUpdate{"wa", "wamid.1", "sent", 1, "{}", 1600};  // backwards
  ASSERT_TRUE(bus->append({later}));
  EXPECT_EQ(bus->conversation("conv-1")->awaiting_ms, 0);
  EXPECT_EQ(bus->conversation("conv-1")->opened_ms, 1000);
  EXPECT_EQ(bus->messageState("wa", "wamid.1")->status, "delivered");

  Recorder rec;
  startWith(bus, rec);
  DeliveryResult ok;
  ok.outcome = Outcome::kSuccess;
  ok.reason = Code::kOk;
  ok.provider_message_id = "wamid.2";
  rec.script("t", {ok});
  ASSERT_TRUE(bus->append({item("e2", "p2", {"t"}, "conv-1")}));
  ASSERT_TRUE(waitState(bus, "e2", "done"));
  auto sent = bus->sentMessage("t", "wamid.2");
  ASSERT_TRUE(sent.has_value());
  EXPECT_EQ(sent->event_id, "e2");
  EXPECT_EQ(sent->delivery_key, "e2.0");
}

TEST_F(NatsBusTest, FindEventsAndContactExportAndErasure) {
  NatsBus* bus = open();
  ASSERT_NE(bus, nullptr);
  AppendItem in = item("e1", "p1", {}, "conv-1");
  in.conversation = ConversationUpsert{
      "conv-1", "wa", "+8801711000001", R"({"phone":"+8801711000001"})", 1000, true};
  AppendItem order = item("e2", "p2", {}, "");
  order.event.type = "order.created";
  order.event.json = R"({"type":"order.created","data":{"phone":"+8801711000001"}})";
  AppendItem stranger = item("e3", "p3", {}, "conv-2");
  ASSERT_TRUE(bus->append({in, order, stranger}));
  EventQuery q;
  q.conversation_id = "conv-1";
  auto page = bus->findEvents(q);
  ASSERT_TRUE(page) << page.status().toString();
  ASSERT_EQ(page->events.size(), 1u);
  EXPECT_EQ(page->events[0].event.id, "e1");
  EventQuery by_type;
  by_type.type = "order.";
  EXPECT_EQ(bus->findEvents(by_type)->events.size(), 1u);
  EventQuery by_contact;
  by_contact.contact = "+8801711000001";
  auto mine = bus->findEvents(by_contact);
  ASSERT_TRUE(mine);
  EXPECT_EQ(mine->events.size(), 2u);
  EXPECT_EQ(mine->events[0].event.id, "e2");  // newest first
  EventQuery paged;
  paged.limit = 1;
  auto p1 = bus->findEvents(paged);
  ASSERT_EQ(p1->events.size(), 1u);
  EXPECT_EQ(p1->events[0].event.id, "e3");
  paged.before_seq = p1->next_before;
  EXPECT_EQ(bus->findEvents(paged)->events[0].event.id, "e2");

  auto data = bus->contactData("+8801711000001");
  ASSERT_TRUE(data) << data.status().toString();
  EXPECT_EQ(data->conversations.size(), 1u);
  EXPECT_EQ(data->events.size(), 2u);
  auto erased = bus->eraseContact("+8801711000001");
  ASSERT_TRUE(erased) << erased.status().toString();
  EXPECT_EQ(erased->events, 2);
  EXPECT_EQ(erased->conversations, 1);
  EXPECT_FALSE(bus->event("e1").has_value());
  EXPECT_FALSE(bus->conversation("conv-1").has_value());
  EXPECT_TRUE(bus->event("e3").has_value());
  EXPECT_TRUE(bus->findEvents(by_contact)->events.empty());
}

TEST_F(NatsBusTest, StatsCountPendingWorkOfEveryMember) {
  NatsBus* bus = open();
  ASSERT_NE(bus, nullptr);
  Recorder rec;
  std::vector<DeliveryResult> slow(100, result(Outcome::kRetry));
  rec.script("t", slow);
  config::RetryPolicy hold = fastPolicy();
  hold.initial = 10s;
  hold.max_interval = 10s;
  bus->setTargets({{"t", TargetOptions{hold}}});
  bus->start([&rec](const Delivery& d) { return rec(d); }, 2);
  ASSERT_TRUE(bus->append({item("e1", "p1", {"t"}, "c1"), item("e2", "p2", {"t"}, "c1")}));
  ASSERT_TRUE(eventually([&] { return bus->stats()["t"].pending == 2; }));
  bus->refreshGauges();
  EXPECT_EQ(metrics_.queue_depth.Add({{"target", "t"}}).Value(), 2);
  EXPECT_EQ(metrics_.bus_connected.Add({}).Value(), 1);
  EXPECT_EQ(metrics_.bus_partitions.Add({}).Value(), 4);
  EXPECT_TRUE(bus->healthy());
}

// An event whose owners keep dying while they hold it (here: a consumer
// that takes it and never answers) is not handed out forever: at
// max_deliver its deliveries become dead letters with reason max_deliver.
TEST_F(NatsBusTest, AnEventItsOwnersDiedOnBecomesADeadLetter) {
  NatsBus::Options o;
  o.urls = cluster_->clientUrls();
  o.stream = stream_;
  o.partitions = 1;
  o.ack_wait = 1s;
  o.max_deliver = 3;
  o.lease = 1500ms;
  o.metrics = &metrics_;
  auto opened = NatsBus::open(o);
  ASSERT_TRUE(opened) << opened.status().toString();
  auto bus = std::move(opened).value();
  ASSERT_TRUE(bus->append({item("e1", "p1", {"t"}, "c1")}));

  // Two owners that die holding it: fetch, never ack.
  nats::Options co;
  co.urls = cluster_->clientUrls();
  auto conn = nats::Connection::open(co);
  ASSERT_TRUE(conn);
  ASSERT_TRUE(eventually([&] { return conn.value()->connected(); }));
  nats::ConsumerSpec spec;
  spec.stream = stream_;
  spec.durable = "part-0";
  spec.filter_subject = lowerStream() + ".ev.0";
  spec.ack_wait = 1s;
  spec.max_deliver = 3;
  spec.backoff = {1s, 2s};
  spec.max_ack_pending = 20000;
  auto consumer = conn.value()->jetstream().pullConsumer(spec);
  ASSERT_TRUE(consumer) << consumer.status().toString();
  std::vector<nats::Message> held;  // kept unanswered until the end
  for (uint64_t delivery = 1; delivery <= 2; ++delivery) {
    auto got = consumer.value()->fetch(1, 5s);
    ASSERT_TRUE(got) << got.status().toString();
    ASSERT_EQ(got->size(), 1u);
    EXPECT_EQ(got->front().metadata().num_delivered, delivery);
    held.push_back(std::move(got->front()));
  }
  consumer.value().reset();

  Recorder rec;
  startWith(bus.get(), rec);
  ASSERT_TRUE(waitState(bus.get(), "e1", "dead"));
  EXPECT_EQ(rec.count(), 0u) << "not attempted again";
  auto dead = bus->deadLetters({});
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].dead_reason, "max_deliver");
  EXPECT_EQ(metrics_.dead_letters_total.Add({{"target", "t"}, {"reason", "max_deliver"}}).Value(),
            1);
  // Replayed, it is delivered.
  ASSERT_TRUE(bus->replayDeadLetter(dead[0].delivery.id));
  ASSERT_TRUE(waitState(bus.get(), "e1", "done"));
  EXPECT_EQ(rec.count(), 1u);
  bus->stop(1s);
}

// The partition's owner may take an event before the appending instance
// wrote its trace (that comes after the stream's ack): the delivery goes
// ahead and writes the trace entry itself; nothing is dropped.
TEST_F(NatsBusTest, AnEventWhoseTraceIsNotWrittenYetIsDeliveredAndTraced) {
  NatsBus::Options o;
  o.urls = cluster_->clientUrls();
  o.stream = stream_;
  o.partitions = 1;
  o.ack_wait = 2s;
  o.lease = 1500ms;
  o.metrics = &metrics_;
  auto opened = NatsBus::open(o);
  ASSERT_TRUE(opened) << opened.status().toString();
  auto bus = std::move(opened).value();
  Recorder rec;
  startWith(bus.get(), rec);
  nats::Options co;
  co.urls = cluster_->clientUrls();
  auto conn = nats::Connection::open(co);
  ASSERT_TRUE(conn);
  ASSERT_TRUE(eventually([&] { return conn.value()->connected(); }));
  // An event message as appendItems publishes it, without its trace.
  const nlohmann::json env = {{"event",
                               {{"id", "e1"},
                                {"instance", "src"},
                                {"type", "message.received"},
                                {"subject", "c1"},
                                {"provider_id", "p1"},
                                {"time_ms", 1},
                                {"json", R"({"id":"e1"})"}}},
                              {"deliveries",
                               {{{"n", 0},
                                 {"route", "r1"},
                                 {"target", "t"},
                                 {"action", "deliver"},
                                 {"rendered", ""},
                                 {"order_key", "c1"},
                                 {"override", ""},
                                 {"created_ms", 1'767'225'600'000}}}}};
  nats::OutMessage m;
  m.subject = lowerStream() + ".ev.0";
  m.data = env.dump();
  ASSERT_TRUE(conn.value()->jetstream().publish(m, stream_));
  ASSERT_TRUE(eventually([&] { return rec.count() == 1; }));
  ASSERT_TRUE(waitState(bus.get(), "e1", "done"));
  auto trace = bus->event("e1");
  ASSERT_EQ(trace->deliveries.size(), 1u);
  EXPECT_EQ(trace->deliveries[0].delivery.target, "t");
  EXPECT_EQ(trace->deliveries[0].attempts.size(), 1u);
  bus->stop(1s);
}

// NATS goes away: appends fail at once with kUnavailable (the webhook
// answers 503 and the provider retries), the bus reports unhealthy, and
// everything works again when the server is back.
TEST(NatsBusServerGone, AppendsFailFastAndRecover) {
  if (!NatsCluster::installed()) GTEST_SKIP() << NatsCluster::notInstalledReason();
  NatsCluster cluster(1);
  ASSERT_TRUE(cluster.start());
  metrics::Metrics metrics;
  NatsBus::Options o;
  o.urls = cluster.clientUrls();
  o.stream = "GONE";
  o.partitions = 2;
  o.ack_wait = 2s;
  o.lease = 1500ms;
  o.metrics = &metrics;
  auto opened = NatsBus::open(o);
  ASSERT_TRUE(opened) << opened.status().toString();
  auto bus = std::move(opened).value();
  Recorder rec;
  bus->setTargets({{"t", TargetOptions{fastPolicy()}}});
  bus->start([&rec](const Delivery& d) { return rec(d); }, 2);
  AppendItem it;
  it.event = {"e1", "src", "message.received", "c1", "p1", 1, R"({"id":"e1"})"};
  it.deliveries.push_back({"r", "t", "deliver", "", "c1", ""});
  ASSERT_TRUE(bus->append({it}));
  ASSERT_TRUE(eventually([&] { return rec.count() == 1; }));

  cluster.stopNode(0);
  ASSERT_TRUE(eventually([&] { return !bus->healthy(); }, 5s));
  AppendItem second = it;
  second.event.id = "e2";
  second.event.provider_id = "p2";
  const auto t0 = std::chrono::steady_clock::now();
  auto refused = bus->append({second});
  const auto waited = std::chrono::steady_clock::now() - t0;
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.status().code(), Code::kUnavailable) << refused.status().toString();
  EXPECT_LT(waited, 1s) << "fails at once, does not wait for a timeout";
  bus->refreshGauges();
  EXPECT_EQ(metrics.bus_connected.Add({}).Value(), 0);

  ASSERT_TRUE(cluster.startNode(0));
  ASSERT_TRUE(cluster.waitReady());
  ASSERT_TRUE(eventually([&] { return bus->healthy(); }, 10s));
  // The provider's retry of the refused event is stored and delivered once.
  ASSERT_TRUE(eventually([&] { return static_cast<bool>(bus->append({second})); }, 10s));
  ASSERT_TRUE(eventually([&] { return rec.count() == 2; }, 15s)) << rec.count();
  bus->stop(1s);
}

}  // namespace
}  // namespace sanjog::bus
