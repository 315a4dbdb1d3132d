// The embedded bus against real SQLite files, with a fake clock and real
// worker threads. Waits are on futures/conditions with deadlines.
#include "bus/embedded_bus.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <random>
#include <thread>

namespace sanjog::bus {
namespace {

using namespace std::chrono_literals;

class Clock {
 public:
  int64_t now() const { return now_.load(); }
  void advance(int64_t ms) { now_ += ms; }

 private:
  std::atomic<int64_t> now_{1'767'225'600'000};
};

// Records attempts and answers from a per-target script; lets tests wait.
class Recorder {
 public:
  DeliveryResult operator()(const Delivery& d) {
    std::unique_lock<std::mutex> lock(mutex_);
    seen_.push_back(d);
    DeliveryResult r;
    r.outcome = Outcome::kSuccess;
    r.reason = Code::kOk;
    auto& script = scripts_[d.target];
    if (!script.empty()) {
      r = script.front();
      script.erase(script.begin());
    }
    cv_.notify_all();
    return r;
  }
  void script(const std::string& target, std::vector<DeliveryResult> results) {
    std::lock_guard<std::mutex> lock(mutex_);
    scripts_[target] = std::move(results);
  }
  bool waitFor(size_t n, std::chrono::milliseconds timeout = 10s) {
    std::unique_lock<std::mutex> lock(mutex_);
    return cv_.wait_for(lock, timeout, [&] { return seen_.size() >= n; });
  }
  std::vector<Delivery> seen() {
    std::lock_guard<std::mutex> lock(mutex_);
    return seen_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
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

class BusTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("sanjog-bus-" + std::to_string(std::random_device{}()));
    open();
  }
  void TearDown() override {
    bus_.reset();
    std::filesystem::remove_all(dir_);
  }
  void open() {
    EmbeddedBus::Options o;
    o.path = (dir_ / "sub" / "bus.db").string();
    o.sync = "full";
    o.metrics = &metrics_;
    o.now_ms = [this] { return clock_.now(); };
    o.seed = 42;
    auto b = EmbeddedBus::open(o);
    ASSERT_TRUE(b) << b.status().toString();
    bus_ = std::move(b).value();
  }
  void reopen() {
    bus_.reset();
    open();
  }
  AppendItem item(const std::string& id, const std::string& provider_id,
                  std::vector<std::string> targets = {}, const std::string& order_key = "") {
    AppendItem it;
    it.event = {id,
                "src",
                "message.received",
                order_key,
                provider_id,
                clock_.now(),
                R"({"id":")" + id + R"(","type":"message.received"})"};
    for (const auto& t : targets) it.deliveries.push_back({"r1", t, "deliver", "", order_key, ""});
    return it;
  }
  void startWith(Recorder& rec, int workers = 4, config::RetryPolicy policy = fastPolicy()) {
    bus_->setTargets({{"t", TargetOptions{policy}}, {"u", TargetOptions{policy}}});
    bus_->start([&rec](const Delivery& d) { return rec(d); }, workers);
  }
  static config::RetryPolicy fastPolicy() {
    config::RetryPolicy p;
    p.initial = 100ms;
    p.multiplier = 2;
    p.max_interval = 1s;
    p.max_age = 10s;
    p.jitter = 0;
    return p;
  }
  // Moves the fake clock and wakes the dispatcher.
  void advance(int64_t ms) {
    clock_.advance(ms);
    bus_->poke();
  }
  bool waitState(const std::string& event_id, const std::string& state) {
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < deadline) {
      auto t = bus_->event(event_id);
      if (t && !t->deliveries.empty() && t->deliveries[0].state == state) return true;
      std::this_thread::sleep_for(5ms);  // poll interval, bounded by the deadline
    }
    return false;
  }

  // Waits until `n` attempts of the event's first delivery are stored (the
  // deliver function returning is not enough: the result commits after it).
  bool waitAttempts(const std::string& event_id, size_t n) {
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < deadline) {
      auto t = bus_->event(event_id);
      if (t && !t->deliveries.empty() && t->deliveries[0].attempts.size() >= n) return true;
      std::this_thread::sleep_for(2ms);  // poll interval, bounded by the deadline
    }
    return false;
  }

  std::filesystem::path dir_;
  Clock clock_;
  metrics::Metrics metrics_;
  std::unique_ptr<EmbeddedBus> bus_;
};

TEST_F(BusTest, AppendDeduplicatesAcrossBatchesWithinABatchAndAcrossReopen) {
  auto r = bus_->append({item("evt_1", "p1"), item("evt_2", "p1"), item("evt_3", "")});
  ASSERT_TRUE(r);
  EXPECT_FALSE((*r)[0].duplicate);
  EXPECT_TRUE((*r)[1].duplicate);
  EXPECT_EQ((*r)[1].event_id, "evt_1");
  EXPECT_FALSE((*r)[2].duplicate);
  reopen();
  auto again = bus_->append({item("evt_4", "p1", {"t"})});
  ASSERT_TRUE(again);
  EXPECT_TRUE((*again)[0].duplicate);
  EXPECT_FALSE(bus_->event("evt_4")) << "a duplicate stores nothing";
  EXPECT_TRUE(bus_->event("evt_1"));
  EXPECT_TRUE(bus_->stats().empty()) << "and no deliveries";
}

TEST_F(BusTest, ConcurrentAppendsShareCommits) {
  constexpr int kThreads = 8, kPer = 200;
  const int64_t before = bus_->commitCount();
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPer; ++i) {
        const std::string id = "evt_" + std::to_string(t) + "_" + std::to_string(i);
        ASSERT_TRUE(bus_->append({item(id, id)}));
      }
    });
  }
  for (auto& th : threads) th.join();
  const int64_t commits = bus_->commitCount() - before;
  EXPECT_LT(commits, kThreads * kPer / 2) << "group commit: " << commits << " commits";
  reopen();
  EXPECT_TRUE(bus_->event("evt_7_199"));
}

TEST_F(BusTest, DeliversWithStableIdempotencyKeyAcrossRetries) {
  Recorder rec;
  rec.script("t", {result(Outcome::kRetry), result(Outcome::kRetry)});
  ASSERT_TRUE(bus_->append({item("evt_r", "", {"t"})}));
  startWith(rec);
  ASSERT_TRUE(waitAttempts("evt_r", 1));
  advance(150);
  ASSERT_TRUE(waitAttempts("evt_r", 2));
  advance(250);
  ASSERT_TRUE(rec.waitFor(3));
  ASSERT_TRUE(waitState("evt_r", "done"));
  const auto seen = rec.seen();
  EXPECT_EQ(seen[0].idempotency_key, "evt_r.0");
  EXPECT_EQ(seen[2].idempotency_key, "evt_r.0");
  EXPECT_EQ(seen[2].attempts, 2);
  auto trace = bus_->event("evt_r");
  ASSERT_EQ(trace->deliveries[0].attempts.size(), 3u);
  EXPECT_EQ(trace->deliveries[0].attempts[0].result, "retry");
  EXPECT_EQ(trace->deliveries[0].attempts[2].result, "success");
  bus_->stop(1s);
}

TEST_F(BusTest, RetryAfterIsHonoured) {
  Recorder rec;
  auto limited = result(Outcome::kRetry, Code::kRateLimited);
  limited.retry_after = 800ms;
  rec.script("t", {limited});
  ASSERT_TRUE(bus_->append({item("evt_ra", "", {"t"})}));
  startWith(rec);
  ASSERT_TRUE(waitAttempts("evt_ra", 1));
  advance(500);  // backoff (100 ms) is due, Retry-After (800 ms) is not
  EXPECT_FALSE(rec.waitFor(2, 300ms));
  advance(400);
  ASSERT_TRUE(rec.waitFor(2));
  bus_->stop(1s);
}

TEST_F(BusTest, PermanentFailureIsADeadLetterAndReplayDeliversIt) {
  Recorder rec;
  rec.script("t", {result(Outcome::kPermanent, Code::kInvalidArgument)});
  ASSERT_TRUE(bus_->append({item("evt_p", "", {"t"})}));
  startWith(rec);
  ASSERT_TRUE(waitState("evt_p", "dead"));
  auto dead = bus_->deadLetters({});
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].dead_reason, "invalid_argument");
  EXPECT_EQ(bus_->stats()["t"].dead, 1);
  EXPECT_EQ(bus_->deadLetters({std::string("u"), std::nullopt, 100, 0}).size(), 0u);
  ASSERT_EQ(*bus_->replayDeadLetter(dead[0].delivery.id), 1);
  ASSERT_TRUE(waitState("evt_p", "done"));
  EXPECT_EQ(rec.seen().back().idempotency_key, "evt_p.0");
  EXPECT_EQ(bus_->replayDeadLetter(dead[0].delivery.id).status().code(), Code::kNotFound);
  bus_->stop(1s);
}

TEST_F(BusTest, MaxAgeTurnsRetriesIntoADeadLetter) {
  Recorder rec;
  std::vector<DeliveryResult> failures(100, result(Outcome::kRetry));
  rec.script("t", failures);
  ASSERT_TRUE(bus_->append({item("evt_m", "", {"t"})}));
  // The expiry hook (fallback) hears of it once, before the dead letter is stored.
  std::atomic<int> expired{0};
  std::atomic<bool> pending_when_called{false};
  bus_->setTargets({{"t", TargetOptions{fastPolicy()}}});
  bus_->start([&rec](const Delivery& d) { return rec(d); }, 4,
              [&](const Delivery& d) {
                ++expired;
                pending_when_called = bus_->event(d.event_id)->deliveries[0].state == "pending";
              });
  for (size_t n = 1; n < 40; ++n) {
    ASSERT_TRUE(waitAttempts("evt_m", n));
    if (bus_->event("evt_m")->deliveries[0].state == "dead") break;
    advance(1100);
  }
  ASSERT_TRUE(waitState("evt_m", "dead"));
  EXPECT_EQ(bus_->deadLetters({})[0].dead_reason, "expired");
  EXPECT_EQ(expired.load(), 1);
  EXPECT_TRUE(pending_when_called.load());
  bus_->stop(1s);
}

TEST_F(BusTest, DeleteAndBulkReplay) {
  Recorder rec;
  rec.script(
      "t", {result(Outcome::kPermanent), result(Outcome::kPermanent), result(Outcome::kPermanent)});
  ASSERT_TRUE(
      bus_->append({item("evt_a", "", {"t"}), item("evt_b", "", {"t"}), item("evt_c", "", {"t"})}));
  startWith(rec);
  ASSERT_TRUE(waitState("evt_a", "dead") && waitState("evt_b", "dead") &&
              waitState("evt_c", "dead"));
  auto dead = bus_->deadLetters({});
  ASSERT_EQ(dead.size(), 3u);
  EXPECT_EQ(*bus_->deleteDeadLetter(dead[0].delivery.id), 1);
  EXPECT_EQ(bus_->deleteDeadLetter(dead[0].delivery.id).status().code(), Code::kNotFound);
  DeadLetterFilter f;
  f.target = "t";
  EXPECT_EQ(*bus_->countDeadLetters(f), 2);
  // In batches, with the cursor: one, then the rest.
  f.limit = 1;
  auto first = bus_->replayDeadLetters(f);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->changed, 1);
  EXPECT_EQ(first->last_id, dead[1].delivery.id);
  f.after_id = first->last_id;
  f.limit = 0;
  auto rest = bus_->replayDeadLetters(f);
  ASSERT_TRUE(rest);
  EXPECT_EQ(rest->changed, 1);
  EXPECT_EQ(rest->last_id, dead[2].delivery.id);
  ASSERT_TRUE(waitState("evt_b", "done") && waitState("evt_c", "done"));
  EXPECT_EQ(*bus_->countDeadLetters({}), 0);
  bus_->stop(1s);
}

TEST_F(BusTest, DeleteDeadLettersByFilter) {
  Recorder rec;
  rec.script("t", {result(Outcome::kPermanent), result(Outcome::kPermanent)});
  rec.script("u", {result(Outcome::kPermanent)});
  ASSERT_TRUE(
      bus_->append({item("evt_x", "", {"t"}), item("evt_y", "", {"t"}), item("evt_z", "", {"u"})}));
  startWith(rec);
  ASSERT_TRUE(waitState("evt_x", "dead") && waitState("evt_y", "dead") &&
              waitState("evt_z", "dead"));
  DeadLetterFilter f;
  f.target = "t";
  f.limit = 0;
  auto r = bus_->deleteDeadLetters(f);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->changed, 2);
  EXPECT_TRUE(bus_->event("evt_x")->deliveries.empty());
  auto left = bus_->deadLetters({});
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].delivery.target, "u");
  EXPECT_EQ(bus_->deleteDeadLetters(f)->changed, 0);
  bus_->stop(1s);
}

TEST_F(BusTest, FindEventsByConversationContactTypeAndTime) {
  auto in = item("evt_f1", "", {}, "conv_r");
  in.conversation = ConversationUpsert{"conv_r", "wa", "+8801711000001",
                                       R"({"phone":"+8801711000001","name":"রহিম"})", 5};
  ASSERT_TRUE(bus_->append({in}));
  clock_.advance(1000);
  ASSERT_TRUE(bus_->append({item("evt_f2", "", {"t"}, "conv_r")}));
  clock_.advance(1000);
  auto order = item("evt_f3", "");
  order.event.type = "order.created";
  order.event.json = R"({"id":"evt_f3","data":{"customer":{"phone":"+8801711000001"}}})";
  ASSERT_TRUE(bus_->append({order, item("evt_f4", "", {}, "conv_other")}));

  EventQuery q;
  q.conversation_id = "conv_r";
  auto page = bus_->findEvents(q);
  ASSERT_TRUE(page);
  ASSERT_EQ(page->events.size(), 2u);
  EXPECT_EQ(page->events[0].event.id, "evt_f2");  // newest first
  EXPECT_EQ(page->events[0].deliveries.at("pending"), 1);
  EXPECT_EQ(page->next_before, 0);

  // A contact: its conversations, plus events that name it (the order).
  EventQuery by_contact;
  by_contact.contact = "+8801711000001";
  page = bus_->findEvents(by_contact);
  ASSERT_TRUE(page);
  std::vector<std::string> ids;
  for (const auto& e : page->events) ids.push_back(e.event.id);
  EXPECT_EQ(ids, (std::vector<std::string>{"evt_f3", "evt_f2", "evt_f1"}));

  EventQuery by_type;
  by_type.type = "order.";
  page = bus_->findEvents(by_type);
  ASSERT_EQ(page->events.size(), 1u);
  EXPECT_EQ(page->events[0].event.id, "evt_f3");

  // Paging: one at a time, following the cursor to the end.
  EventQuery paged;
  paged.limit = 1;
  std::vector<std::string> all;
  for (int i = 0; i < 10; ++i) {
    page = bus_->findEvents(paged);
    ASSERT_TRUE(page);
    for (const auto& e : page->events) all.push_back(e.event.id);
    if (page->next_before == 0) break;
    paged.before_seq = page->next_before;
  }
  EXPECT_EQ(all, (std::vector<std::string>{"evt_f4", "evt_f3", "evt_f2", "evt_f1"}));

  // A time window: stored at or after the second event, before the third.
  EventQuery window;
  window.since_ms = clock_.now() - 1000;
  window.until_ms = clock_.now();
  page = bus_->findEvents(window);
  ASSERT_EQ(page->events.size(), 1u);
  EXPECT_EQ(page->events[0].event.id, "evt_f2");
}

TEST_F(BusTest, OneConversationInOrderOthersInParallel) {
  std::mutex m;
  std::condition_variable cv;
  std::map<std::string, std::vector<std::string>> order;
  std::atomic<int> concurrent{0}, peak{0};
  std::atomic<int> done{0};
  bus_->setTargets({{"t", TargetOptions{fastPolicy()}}});
  bus_->start(
      [&](const Delivery& d) {
        const int now = ++concurrent;
        int p = peak.load();
        while (now > p && !peak.compare_exchange_weak(p, now)) {
        }
        std::this_thread::sleep_for(2ms);  // simulated provider latency
        {
          std::lock_guard<std::mutex> lock(m);
          order[d.order_key].push_back(d.event_id);
        }
        --concurrent;
        ++done;
        cv.notify_all();
        DeliveryResult r;
        r.outcome = Outcome::kSuccess;
        r.reason = Code::kOk;
        return r;
      },
      4);
  std::vector<AppendItem> items;
  for (int i = 0; i < 20; ++i) {
    for (const std::string conv : {"conv_a", "conv_b", "conv_c", "conv_d"}) {
      char id[32];
      std::snprintf(id, sizeof(id), "evt_%s_%02d", conv.c_str(), i);
      items.push_back(item(id, "", {"t"}, conv));
    }
  }
  ASSERT_TRUE(bus_->append(std::move(items)));
  std::unique_lock<std::mutex> lock(m);
  ASSERT_TRUE(cv.wait_for(lock, 20s, [&] { return done.load() == 80; }));
  for (const auto& [conv, ids] : order) {
    ASSERT_EQ(ids.size(), 20u);
    EXPECT_TRUE(std::is_sorted(ids.begin(), ids.end())) << conv;
  }
  EXPECT_GT(peak.load(), 1) << "different conversations run in parallel";
  lock.unlock();
  bus_->stop(1s);
}

TEST_F(BusTest, DisabledTargetWaitsUntilSetTargets) {
  Recorder rec;
  rec.script("t", {result(Outcome::kDisable, Code::kNotFound)});
  ASSERT_TRUE(bus_->append({item("evt_g", "", {"t"})}));
  startWith(rec);
  ASSERT_TRUE(rec.waitFor(1));
  // The result is recorded after deliver returns: wait for the attempt, not the call.
  ASSERT_TRUE(waitAttempts("evt_g", 1));
  ASSERT_TRUE(waitState("evt_g", "pending"));
  EXPECT_TRUE(bus_->isTargetDisabled("t"));
  advance(5000);
  EXPECT_FALSE(rec.waitFor(2, 300ms));
  bus_->setTargets({{"t", TargetOptions{fastPolicy()}}});
  ASSERT_TRUE(rec.waitFor(2));
  ASSERT_TRUE(waitState("evt_g", "done"));
  EXPECT_FALSE(bus_->isTargetDisabled("t"));
  bus_->stop(1s);
}

TEST_F(BusTest, PendingDeliveriesResumeAfterReopen) {
  ASSERT_TRUE(bus_->append({item("evt_crash", "", {"t"})}));
  reopen();  // never started: as if the process died right after the 2xx
  Recorder rec;
  startWith(rec);
  ASSERT_TRUE(rec.waitFor(1));
  EXPECT_EQ(rec.seen()[0].event_id, "evt_crash");
  EXPECT_EQ(rec.seen()[0].idempotency_key, "evt_crash.0");
  bus_->stop(1s);
}

TEST_F(BusTest, KeyValueWithTtlAndConversations) {
  ASSERT_TRUE(bus_->kvPut("i", "k", "v", 0ms).isOk());
  ASSERT_TRUE(bus_->kvPut("i", "short", "s", 1000ms).isOk());
  EXPECT_EQ(bus_->kvGet("i", "k"), "v");
  EXPECT_EQ(bus_->kvGet("other", "k"), std::nullopt);
  EXPECT_EQ(bus_->kvGet("i", "short"), "s");
  clock_.advance(1001);
  EXPECT_EQ(bus_->kvGet("i", "short"), std::nullopt);
  ASSERT_TRUE(bus_->kvDelete("i", "k").isOk());
  EXPECT_EQ(bus_->kvGet("i", "k"), std::nullopt);

  auto it = item("evt_c1", "");
  it.conversation = ConversationUpsert{"conv_1", "wa", "+8801711000001", R"({"name":"রহিম"})", 5};
  ASSERT_TRUE(bus_->append({it}));
  auto c = bus_->conversation("conv_1");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->instance, "wa");
  EXPECT_EQ(c->address, "+8801711000001");
  EXPECT_EQ(c->contact_json, R"({"name":"রহিম"})");
  EXPECT_FALSE(bus_->conversation("conv_2"));
}

TEST_F(BusTest, StatsAndGauges) {
  ASSERT_TRUE(bus_->append({item("evt_s1", "", {"t"}), item("evt_s2", "", {"t"})}));
  clock_.advance(3000);
  auto s = bus_->stats();
  EXPECT_EQ(s["t"].pending, 2);
  EXPECT_DOUBLE_EQ(s["t"].oldest_age_seconds, 3.0);
  bus_->refreshGauges();
  EXPECT_NE(metrics_.serialize().find("sanjog_queue_depth{target=\"t\"} 2"), std::string::npos);
  EXPECT_TRUE(bus_->healthy());
}

TEST_F(BusTest, ASchemaOneDatabaseGainsTheConversationKpiColumns) {
  bus_.reset();
  const std::string path = (dir_ / "v1.db").string();
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(
        sqlite3_exec(db,
                     "CREATE TABLE conversations(id TEXT PRIMARY KEY, instance TEXT NOT NULL, "
                     "address TEXT NOT NULL, contact_json TEXT NOT NULL, created_ms INTEGER "
                     "NOT NULL, last_inbound_ms INTEGER NOT NULL);"
                     "INSERT INTO conversations VALUES('conv_old','wa','+880','{}',1,5);"
                     "PRAGMA user_version=1;",
                     nullptr, nullptr, nullptr),
        SQLITE_OK);
    sqlite3_close(db);
  }
  EmbeddedBus::Options o;
  o.path = path;
  o.now_ms = [this] { return clock_.now(); };
  bus_ = std::move(EmbeddedBus::open(o)).value();
  auto old = bus_->conversation("conv_old");
  ASSERT_TRUE(old);
  EXPECT_EQ(old->last_inbound_ms, 5);
  EXPECT_EQ(old->awaiting_ms, 0);
  // A new message marks it waiting and open; a reply clears the wait.
  AppendItem in = item("evt_in", "p_in");
  in.conversation = ConversationUpsert{"conv_old", "wa", "+880", "{}", 700};
  ASSERT_TRUE(bus_->append({in}));
  EXPECT_EQ(bus_->conversation("conv_old")->awaiting_ms, 700);
  EXPECT_EQ(bus_->conversation("conv_old")->opened_ms, 700);
  AppendItem again = item("evt_in2", "p_in2");
  again.conversation = ConversationUpsert{"conv_old", "wa", "+880", "{}", 900};
  ASSERT_TRUE(bus_->append({again}));
  EXPECT_EQ(bus_->conversation("conv_old")->awaiting_ms, 700);  // the oldest unanswered
  AppendItem reply = item("evt_out", "p_out");
  reply.conversation_clears.push_back({"conv_old", true, false});
  ASSERT_TRUE(bus_->append({reply}));
  EXPECT_EQ(bus_->conversation("conv_old")->awaiting_ms, 0);
  EXPECT_EQ(bus_->conversation("conv_old")->opened_ms, 700);
}

TEST_F(BusTest, RetentionDeletesOldEventsButNeverPendingOnes) {
  bus_.reset();
  EmbeddedBus::Options o;
  o.path = (dir_ / "ret.db").string();
  o.now_ms = [this] { return clock_.now(); };
  o.retention = std::chrono::hours(24);
  bus_ = std::move(EmbeddedBus::open(o)).value();
  Recorder rec;
  startWith(rec);
  ASSERT_TRUE(bus_->append({item("evt_done", "p_done", {"t"})}));
  ASSERT_TRUE(waitState("evt_done", "done"));
  rec.script("t", {result(Outcome::kPermanent)});
  ASSERT_TRUE(bus_->append({item("evt_dead", "", {"t"})}));
  ASSERT_TRUE(waitState("evt_dead", "dead"));
  ASSERT_TRUE(bus_->append({item("evt_plain", "")}));
  // A delivery to a target that is not configured stays pending.
  ASSERT_TRUE(bus_->append({item("evt_pending", "", {"not_configured"})}));
  bus_->stop(1s);
  ASSERT_TRUE(bus_->kvPut("i", "k", "v", 1000ms).isOk());
  EXPECT_EQ(*bus_->purge(), 0) << "nothing is old yet";
  clock_.advance(25LL * 3600 * 1000);
  EXPECT_EQ(*bus_->purge(), 3);
  EXPECT_FALSE(bus_->event("evt_done"));
  EXPECT_FALSE(bus_->event("evt_plain"));
  EXPECT_FALSE(bus_->event("evt_dead")) << "the retention is also the replay window";
  EXPECT_TRUE(bus_->event("evt_pending")) << "nothing still to deliver is ever purged";
  EXPECT_EQ(bus_->kvGet("i", "k"), std::nullopt);
}

TEST_F(BusTest, AFullDiskFailsTheWholeBatchAndIsCounted) {
  bus_.reset();
  EmbeddedBus::Options o;
  o.path = (dir_ / "full.db").string();
  o.metrics = &metrics_;
  o.now_ms = [this] { return clock_.now(); };
  o.max_bytes = 256 * 1024;
  bus_ = std::move(EmbeddedBus::open(o)).value();
  const std::string big(4000, 'x');
  int stored = 0;
  Status failure;
  for (int i = 0; i < 1000; ++i) {
    auto it = item("evt_full_" + std::to_string(i), "");
    it.event.json = big;
    auto r = bus_->append({it});
    if (!r) {
      failure = r.status();
      break;
    }
    ++stored;
  }
  ASSERT_FALSE(failure.isOk()) << "the size limit was never reached";
  EXPECT_EQ(failure.code(), Code::kUnavailable);
  EXPECT_FALSE(bus_->event("evt_full_" + std::to_string(stored))) << "nothing half-written";
  EXPECT_TRUE(bus_->event("evt_full_" + std::to_string(stored - 1)));
  EXPECT_NE(metrics_.serialize().find("sanjog_storage_commits_total{result=\"error\"} 1"),
            std::string::npos);
  EXPECT_FALSE(bus_->healthy()) << "/readyz reports it";
}

TEST_F(BusTest, UnwritableLocationFailsToOpen) {
  EmbeddedBus::Options o;
  o.path = "/proc/sanjog-cannot-write-here/bus.db";
  auto b = EmbeddedBus::open(o);
  EXPECT_FALSE(b);
  EXPECT_EQ(b.status().code(), Code::kUnavailable);
}

// ------------------------------------------------- reliability, security --

crypto::Key testKey(unsigned char fill) {
  crypto::Key k{};
  k.fill(fill);
  return k;
}

// The raw bytes of the database files (main file and WAL).
std::string rawFiles(const std::filesystem::path& db) {
  std::string all;
  for (const auto& suffix : {"", "-wal"}) {
    std::ifstream in(db.string() + suffix, std::ios::binary);
    all.append(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  return all;
}

TEST_F(BusTest, PayloadsAreEncryptedAtRestAndKeysRotateWithoutDowntime) {
  bus_.reset();
  const auto path = dir_ / "enc.db";
  auto openWith = [&](std::shared_ptr<const crypto::Keyring> ring) {
    EmbeddedBus::Options o;
    o.path = path.string();
    o.metrics = &metrics_;
    o.now_ms = [this] { return clock_.now(); };
    o.keyring = std::move(ring);
    bus_ = std::move(EmbeddedBus::open(o)).value();
  };
  openWith(std::make_shared<const crypto::Keyring>(testKey(1), std::vector<crypto::Key>{}));
  const std::string secret_text = "আমার ফোন +8801711999888";
  auto it = item("evt_secret", "p1", {"t"}, "conv_x");
  it.event.json = R"({"id":"evt_secret","data":{"text":")" + secret_text + R"("}})";
  it.conversation = ConversationUpsert{
      "conv_x", "wa", "+8801711999888", R"({"phone":"+8801711999888","name":"Rahim"})", 1, true};
  it.state.push_back({"_automation", "k1", R"({"phone":"+8801711999888"})", 0, false, false});
  TimerSpec timer{
      "tm1", "cart", "+8801711999888", "", clock_.now() + 1000, R"({"phone":"+8801711999888"})"};
  it.timers.push_back({TimerOp::Kind::kSchedule, timer});
  ASSERT_TRUE(bus_->append({it}));
  ASSERT_TRUE(bus_->kvPut("wa", "plugin-key", "plugin value 8801711999888", 0ms).isOk());
  // Through the API everything reads back as written...
  EXPECT_NE(bus_->event("evt_secret")->event.json.find(secret_text), std::string::npos);
  EXPECT_NE(bus_->conversation("conv_x")->contact_json.find("Rahim"), std::string::npos);
  EXPECT_EQ(*bus_->kvGet("wa", "plugin-key"), "plugin value 8801711999888");
  EXPECT_NE(bus_->timer("tm1")->spec.payload.find("8801711999888"), std::string::npos);
  // ...while the files hold none of it (ids and addresses used as keys stay
  // readable: they index the rows).
  bus_.reset();
  const std::string raw = rawFiles(path);
  EXPECT_EQ(raw.find("আমার ফোন"), std::string::npos);
  EXPECT_EQ(raw.find("Rahim"), std::string::npos);
  EXPECT_EQ(raw.find("plugin value"), std::string::npos);

  // Rotation: the new key seals, the old one still opens.
  openWith(
      std::make_shared<const crypto::Keyring>(testKey(2), std::vector<crypto::Key>{testKey(1)}));
  EXPECT_NE(bus_->event("evt_secret")->event.json.find(secret_text), std::string::npos);
  ASSERT_TRUE(bus_->append({item("evt_new", "p2")}));
  // Without the old key, old data cannot be read: counted and logged, and
  // the stored bytes are left untouched for when the key comes back.
  bus_.reset();
  openWith(std::make_shared<const crypto::Keyring>(testKey(2), std::vector<crypto::Key>{}));
  EXPECT_EQ(bus_->event("evt_secret")->event.json, "");
  EXPECT_NE(bus_->event("evt_new")->event.json.find("evt_new"), std::string::npos);
  const auto text = metrics_.serialize();
  EXPECT_NE(text.find("sanjog_storage_decrypt_failures_total "), std::string::npos);
  EXPECT_EQ(text.find("sanjog_storage_decrypt_failures_total 0"), std::string::npos);
}

TEST_F(BusTest, CircuitBreakerPausesAFailingTargetWithoutStallingOthers) {
  Recorder rec;
  config::CircuitBreakerPolicy breaker;
  breaker.min_attempts = 3;
  breaker.failure_ratio = 0.5;
  breaker.open_for = 5s;
  TargetOptions failing{fastPolicy(), breaker, {}};
  bus_->setTargets({{"t", failing}, {"u", TargetOptions{fastPolicy()}}});
  rec.script("t", std::vector<DeliveryResult>(3, result(Outcome::kRetry, Code::kUnavailable)));
  bus_->start([&rec](const Delivery& d) { return rec(d); }, 4);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(
        bus_->append({item("evt_t" + std::to_string(i), "", {"t"}, "c" + std::to_string(i))}));
  }
  ASSERT_TRUE(rec.waitFor(3));
  // The third result (recorded after the attempt was seen) opens it.
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (metrics_.serialize().find("sanjog_circuit_state{target=\"t\"} 2") == std::string::npos &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  // Open: retries that fall due are held, the other target flows.
  advance(1000);
  ASSERT_TRUE(bus_->append({item("evt_u", "", {"u"})}));
  ASSERT_TRUE(waitState("evt_u", "done"));
  advance(1000);
  EXPECT_EQ(rec.seen().size(), 4u) << "no attempt on t while the circuit is open";
  EXPECT_NE(metrics_.serialize().find("sanjog_circuit_state{target=\"t\"} 2"), std::string::npos);
  // After open_for one probe goes; it succeeds, the circuit closes and the
  // held deliveries follow.
  advance(5000);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(waitState("evt_t" + std::to_string(i), "done"));
  const auto text = metrics_.serialize();
  EXPECT_NE(text.find("sanjog_circuit_state{target=\"t\"} 0"), std::string::npos);
  EXPECT_NE(text.find("sanjog_circuit_transitions_total{result=\"open\",target=\"t\"} 1"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("sanjog_circuit_transitions_total{result=\"closed\",target=\"t\"} 1"),
            std::string::npos);
}

TEST_F(BusTest, ASlowTargetNeverHoldsEveryWorker) {
  // Target t hangs until released; u must still be delivered with 4 workers.
  std::mutex m;
  std::condition_variable cv;
  bool release = false;
  int t_running = 0;
  int t_max = 0;
  std::atomic<int> u_done{0};
  bus_->setTargets({{"t", TargetOptions{fastPolicy()}}, {"u", TargetOptions{fastPolicy()}}});
  bus_->start(
      [&](const Delivery& d) {
        DeliveryResult r;
        r.outcome = Outcome::kSuccess;
        r.reason = Code::kOk;
        if (d.target == "u") {
          ++u_done;
          return r;
        }
        std::unique_lock<std::mutex> lock(m);
        t_max = std::max(t_max, ++t_running);
        cv.notify_all();
        cv.wait(lock, [&] { return release; });
        --t_running;
        return r;
      },
      4);
  std::vector<AppendItem> items;
  for (int i = 0; i < 6; ++i)
    items.push_back(item("evt_s" + std::to_string(i), "", {"t"}, "c" + std::to_string(i)));
  ASSERT_TRUE(bus_->append(std::move(items)));
  {
    std::unique_lock<std::mutex> lock(m);
    ASSERT_TRUE(cv.wait_for(lock, 10s, [&] { return t_running == 3; }));
  }
  ASSERT_TRUE(bus_->append({item("evt_fast", "", {"u"})}));
  EXPECT_TRUE(waitState("evt_fast", "done")) << "the fourth worker stays free for u";
  {
    std::lock_guard<std::mutex> lock(m);
    EXPECT_EQ(t_max, 3) << "all workers but one";
    release = true;
  }
  cv.notify_all();
  for (int i = 0; i < 6; ++i) EXPECT_TRUE(waitState("evt_s" + std::to_string(i), "done"));
}

TEST_F(BusTest, RateLimitSpacesAttempts) {
  Recorder rec;
  config::RateLimitPolicy rate{2.0, 2};  // 2 per second, burst 2
  bus_->setTargets({{"t", TargetOptions{fastPolicy(), {}, rate}}});
  bus_->start([&rec](const Delivery& d) { return rec(d); }, 4);
  std::vector<AppendItem> items;
  for (int i = 0; i < 5; ++i)
    items.push_back(item("evt_r" + std::to_string(i), "", {"t"}, "c" + std::to_string(i)));
  ASSERT_TRUE(bus_->append(std::move(items)));
  ASSERT_TRUE(rec.waitFor(2));
  bus_->poke();
  EXPECT_EQ(rec.seen().size(), 2u) << "the burst, then nothing until tokens come back";
  advance(500);
  ASSERT_TRUE(rec.waitFor(3));
  advance(1000);
  ASSERT_TRUE(rec.waitFor(5));
  EXPECT_NE(metrics_.serialize().find("sanjog_deliveries_throttled_total{target=\"t\"}"),
            std::string::npos);
}

TEST_F(BusTest, ContactExportFindsEverythingAndErasureRemovesIt) {
  const std::string phone = "+8801711555444";
  auto in = item("evt_in", "p_in", {"t"}, "conv_a");
  in.event.subject = "conv_a";
  in.conversation =
      ConversationUpsert{"conv_a", "wa", phone, R"({"phone":")" + phone + R"("})", 1, true};
  auto order = item("evt_order", "p_order");  // no conversation: found by the phone in it
  order.event.json = R"({"id":"evt_order","data":{"customer":{"phone":")" + phone + R"("}}})";
  order.timers.push_back({TimerOp::Kind::kSchedule, TimerSpec{"cart:" + phone, "cart", phone,
                                                              "chk1", clock_.now() + 1000, "{}"}});
  order.state.push_back({"_automation", "greeted:conv_a", "1", 0, false, false});
  auto other = item("evt_other", "p_other", {}, "conv_b");
  other.event.subject = "conv_b";
  other.conversation = ConversationUpsert{"conv_b", "wa", "+8801999000111", "{}", 1, true};
  ASSERT_TRUE(bus_->append({in, order, other}));

  auto data = bus_->contactData(phone);
  ASSERT_TRUE(data);
  EXPECT_EQ(data->conversations.size(), 1u);
  EXPECT_EQ(data->events.size(), 2u);
  EXPECT_EQ(data->deliveries.size(), 1u);
  EXPECT_EQ(data->state.size(), 1u);
  EXPECT_EQ(data->timers.size(), 1u);
  EXPECT_EQ(bus_->contactData("conv_a")->events.size(), 2u) << "by conversation id too";

  auto erased = bus_->eraseContact(phone);
  ASSERT_TRUE(erased);
  EXPECT_EQ(erased->events, 2);
  EXPECT_EQ(erased->conversations, 1);
  EXPECT_EQ(erased->deliveries, 1);
  EXPECT_EQ(erased->state, 1);
  EXPECT_EQ(erased->timers, 1);
  EXPECT_FALSE(bus_->event("evt_in"));
  EXPECT_FALSE(bus_->event("evt_order"));
  EXPECT_FALSE(bus_->conversation("conv_a"));
  EXPECT_FALSE(bus_->timer("cart:" + phone));
  EXPECT_TRUE(bus_->event("evt_other")) << "other contacts are untouched";
  EXPECT_TRUE(bus_->conversation("conv_b"));
  auto again = bus_->contactData(phone);
  EXPECT_TRUE(again->events.empty() && again->conversations.empty());
}

}  // namespace
}  // namespace sanjog::bus
