// Crash and fault tests of the delivery guarantees (SPEC "Delivery
// guarantees"): a 2xx means durable, delivery is at least once with a stable
// key per delivery, in order per conversation, and one failing target does
// not stall the others. Each test prints `CHAOS {json}` with its figures.
#include <signal.h>
#include <sys/mount.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "reliability/harness.h"

namespace sanjog::testing::chaos {
namespace {

class ChaosTest : public ::testing::Test {
 protected:
  void SetUp() override { settings_ = Settings::fromEnv(); }
  void TearDown() override {
    if (daemon_.running()) {
      EXPECT_EQ(daemon_.stop(SIGTERM), 0) << "SIGTERM must drain and exit 0";
    }
  }

  // A crm_webhook target delivering to `receiver`, with a short retry policy.
  static nlohmann::json target(const std::string& id, const FakeHttpServer& receiver,
                               const std::string& timeout) {
    nlohmann::json t = {
        {"id", id},
        {"plugin", "crm_webhook"},
        {"config", {{"secret", kSecretOut}, {"url", receiver.url()}, {"timeout", timeout}}},
        {"retry",
         {{"initial", "100ms"},
          {"multiplier", 2},
          {"max_interval", "1s"},
          {"max_age", "1h"},
          {"jitter", 0}}}};
    return t;
  }
  // Instance "a" receives signed events, each routed to every target.
  nlohmann::json config(const std::vector<nlohmann::json>& targets) const {
    auto c = daemon_.baseConfig();
    c["instances"] = {
        {{"id", "a"}, {"plugin", "crm_webhook"}, {"config", {{"secret", kSecretIn}}}}};
    for (const auto& t : targets) {
      c["instances"].push_back(t);
      const std::string id = t["id"];
      c["routes"].push_back(
          {{"id", "a-to-" + id}, {"from", {{"instance", "a"}}}, {"to", {{{"instance", id}}}}});
    }
    return c;
  }
  void start(nlohmann::json config) {
    // A circuit breaker opens during the outages here, and its default open
    // time (30 s) would dominate the recovery time: probe again after 1 s.
    // Only where the daemon has one (the config key is refused otherwise).
    auto with_breaker = config;
    for (auto& i : with_breaker["instances"]) {
      if (i["config"].contains("url")) i["circuit_breaker"] = {{"open_for", "1s"}};
    }
    daemon_.writeConfig(with_breaker);
    std::string out;
    if (daemon_.runOnce({"--check-config", "--config", daemon_.configPath().string()}, out) == 0) {
      config = with_breaker;
    }
    daemon_.writeConfig(config);
    ASSERT_TRUE(daemon_.start());
  }
  // Waits until `log` has every acknowledged event; generous, as a backlog
  // built up under load drains one conversation at a time.
  bool waitDelivered(DeliveryLog& log, const std::vector<Acked>& acked) const {
    const auto timeout = std::chrono::seconds(60) + milliseconds(5 * acked.size());
    return daemon_.waitFor([&] { return log.missing(acked) == 0; }, timeout);
  }
  // Scenarios 1 and 4: load while the daemon is killed (or terminated) and
  // restarted at random moments.
  void loadWhileKilling(const std::string& name, int signal);

  Settings settings_;
  FakeHttpServer receiver_;
  Daemon daemon_;
};

void ChaosTest::loadWhileKilling(const std::string& name, int signal) {
  start(config({target("b", receiver_, "2s")}));
  if (HasFatalFailure()) return;
  Endpoint endpoint;
  endpoint.publish(daemon_.publicPort());
  const auto mean = settings_.load / (settings_.kills + 1);
  const auto min_interval = std::max(milliseconds(200), mean / 2);
  const auto max_interval = std::max(min_interval, mean * 3 / 2);
  Killer killer(daemon_, endpoint, signal, settings_.kills, min_interval, max_interval,
                settings_.seed);
  Load load(daemon_, endpoint, settings_);
  const auto began = Clock::now();
  load.start();
  killer.start();
  std::this_thread::sleep_for(settings_.load);  // the load's duration, not a condition
  // Restarts take time of their own: the load goes on until every kill is done.
  const bool all_kills = killer.waitDone(settings_.load * 2 + std::chrono::seconds(30));
  killer.stop();
  load.stop();
  const auto load_ms = millisBetween(began, Clock::now());
  ASSERT_TRUE(daemon_.running()) << ::testing::PrintToString(killer.failures());

  const auto acked = load.acked();
  DeliveryLog log(receiver_);
  const auto stopped = Clock::now();
  const bool delivered = waitDelivered(log, acked);
  Figures f;
  f.test = name;
  f.seed = settings_.seed;
  f.sent = load.sent();
  f.acked = acked.size();
  f.kills = killer.kills();
  f.outage_ms = killer.downtimeMs();
  f.recovery_ms = millisBetween(stopped, Clock::now());
  f.add(log, acked);
  f.extra.update(nlohmann::json{{"posts", load.posts()},
                                {"abandoned", load.abandoned()},
                                {"rejected", load.rejections().size()},
                                {"load_ms", load_ms},
                                {"kill_interval_ms", {min_interval.count(), max_interval.count()}},
                                {"conversations", settings_.conversations},
                                {"clients", settings_.clients}});
  f.report();
  EXPECT_TRUE(delivered);
  EXPECT_TRUE(all_kills) << "only " << killer.kills() << " of " << settings_.kills << " kills";
  EXPECT_TRUE(killer.failures().empty()) << ::testing::PrintToString(killer.failures());
  EXPECT_TRUE(load.rejections().empty()) << ::testing::PrintToString(load.rejections());
  EXPECT_EQ(load.abandoned(), 0u) << "events never acknowledged";
  EXPECT_GT(acked.size(), 0u);
}

// 1. kill -9 at random moments under sustained load.
TEST_F(ChaosTest, Kill9UnderLoadLosesNothingAndKeepsOrder) {
  loadWhileKilling("kill9_under_load", SIGKILL);
}

// 4. SIGTERM under load drains (exit 0); nothing acknowledged is lost.
TEST_F(ChaosTest, SigtermUnderLoadDrainsAndLosesNothing) {
  loadWhileKilling("sigterm_under_load", SIGTERM);
}

// 2. Target "b" refuses connections, then answers 503, then is slower than
// its timeout, then is healthy; target "c" gets the same events meanwhile.
TEST_F(ChaosTest, TargetOutageDelaysOnlyThatTargetAndRecovers) {
  FakeHttpServer receiver_c;
  start(config({target("b", receiver_, "1s"), target("c", receiver_c, "1s")}));
  if (HasFatalFailure()) return;
  Endpoint endpoint;
  endpoint.publish(daemon_.publicPort());
  Settings paced = settings_;
  // A steady trickle well below the daemon's capacity (also in an ASan
  // build), so that a lag of c is b's doing and not a backlog of the load.
  paced.pace = std::max(settings_.pace, milliseconds(100));
  Load load(daemon_, endpoint, paced);
  DeliveryLog log_b(receiver_);
  DeliveryLog log_c(receiver_c);
  const auto phase = std::max(milliseconds(1200), settings_.load / 4);
  nlohmann::json c_catch_up = nlohmann::json::object();
  // At the end of each outage phase (b still failing), c must have every
  // event acknowledged so far: deliveries to c keep up with the intake.
  const auto runPhase = [&](const std::string& name) {
    std::this_thread::sleep_for(phase);  // the phase's duration
    const auto snapshot = load.acked();
    const auto t0 = Clock::now();
    EXPECT_TRUE(daemon_.waitFor([&] { return log_c.missing(snapshot) == 0; }))
        << "target c stalled while b was failing (" << name << "): " << log_c.missing(snapshot)
        << " of " << snapshot.size() << " missing";
    c_catch_up[name] = millisBetween(t0, Clock::now());
  };

  load.start();
  std::this_thread::sleep_for(phase / 2);  // healthy traffic first
  const auto outage = Clock::now();
  receiver_.closeListener();
  runPhase("refused");
  receiver_.setDefault({503, "maintenance", {{"Retry-After", "1"}}});
  ASSERT_TRUE(receiver_.reopenListener());
  runPhase("unavailable");
  ScriptedResponse slow(200, "late");
  slow.delay = milliseconds(2000);  // over b's 1 s timeout
  receiver_.setDefault(slow);
  runPhase("slow");
  receiver_.setDefault({200, "ok"});
  const auto healthy = Clock::now();
  const auto before_recovery = load.acked();
  std::this_thread::sleep_for(phase / 2);  // load goes on after the recovery
  load.stop();

  const auto acked = load.acked();
  const bool delivered_b = waitDelivered(log_b, acked);
  const bool delivered_c = waitDelivered(log_c, acked);
  // Recovery: from "healthy" until b has everything acknowledged before it.
  int64_t recovery_ms = 0;
  // How long c took per event, before and during b's outage.
  int64_t c_lag_before_ms = 0;
  int64_t c_lag_during_ms = 0;
  for (const auto& a : before_recovery) {
    if (const auto* at = log_b.firstDelivery(a.id)) {
      recovery_ms = std::max(recovery_ms, millisBetween(healthy, *at));
    }
    if (const auto* at = log_c.firstDelivery(a.id)) {
      auto& lag = a.at < outage ? c_lag_before_ms : c_lag_during_ms;
      lag = std::max(lag, millisBetween(a.at, *at));
    }
  }
  Figures f;
  f.test = "target_outage";
  f.seed = settings_.seed;
  f.sent = load.sent();
  f.acked = acked.size();
  f.outage_ms = millisBetween(outage, healthy);
  f.recovery_ms = recovery_ms;
  f.add(log_b, acked);
  f.add(log_c, acked);
  f.extra.update(nlohmann::json{{"delivered_b", log_b.unique()},
                                {"delivered_c", log_c.unique()},
                                {"phase_ms", phase.count()},
                                {"c_max_lag_before_ms", c_lag_before_ms},
                                {"c_max_lag_during_ms", c_lag_during_ms},
                                {"c_catch_up_ms", c_catch_up},
                                {"b_attempts", receiver_.requestCount()},
                                {"rejected", load.rejections().size()}});
  f.report();
  EXPECT_TRUE(delivered_b);
  EXPECT_TRUE(delivered_c);
  // c's deliveries take milliseconds; while b fails they may wait for a
  // worker busy with b, but not longer than one attempt of b (its timeout).
  EXPECT_LT(c_lag_during_ms, 1500) << "a failing target stalled the deliveries to another one";
  EXPECT_TRUE(load.rejections().empty()) << ::testing::PrintToString(load.rejections());
  EXPECT_EQ(load.abandoned(), 0u);
}

// 3. The storage's file system fills up, then grows again.
class StorageFullTest : public ChaosTest {
 protected:
  void TearDown() override {
    ChaosTest::TearDown();  // the daemon must be gone before the unmount
    if (!mounted_.empty()) ::umount2(mounted_.c_str(), MNT_DETACH);
  }
  std::string mounted_;
};

TEST_F(StorageFullTest, FullDiskAnswers503ThenAcceptsAgainAndLosesNothing) {
  // baseConfig() keeps the database in <dir>/data: put a small tmpfs there.
  const auto data = daemon_.dir() / "data";
  std::filesystem::create_directories(data);
  if (::mount("tmpfs", data.c_str(), "tmpfs", 0, "size=2m") != 0) {
    GTEST_SKIP() << "cannot mount a tmpfs on " << data << " (needs root): " << std::strerror(errno);
  }
  mounted_ = data.string();
  receiver_.setDefault({503, "receiver down"});  // accepted events stay stored
  start(config({target("b", receiver_, "1s")}));
  if (HasFatalFailure()) return;

  constexpr int kConversations = 4;
  constexpr size_t kPadding = 4000;
  std::vector<int> next(kConversations, 1);
  std::vector<Acked> acked;
  size_t sent = 0;
  // Posts the next event of a conversation; a 503 leaves it to be retried.
  const auto post = [&](int conv) {
    const std::string id = eventId(conv, next[conv]);
    auto r =
        postEvent(daemon_, daemon_.publicPort(), id, eventBody(id, conv, next[conv], kPadding));
    if (r.status == 200 || r.status == 202) {
      acked.push_back({id, conv, next[conv]++, Clock::now()});
    }
    return r;
  };

  HttpResult full;
  int conv = 0;
  for (int i = 0; i < 20000 && full.status == 0; ++i, conv = i % kConversations) {
    ++sent;
    auto r = post(conv);
    if (r.status == 503) full = r;
    ASSERT_TRUE(r.status == 202 || r.status == 503) << r.status << " " << r.body;
  }
  ASSERT_EQ(full.status, 503) << "the disk never filled up";
  const auto full_at = Clock::now();
  EXPECT_FALSE(full.headers["retry-after"].empty()) << "a 503 tells the provider when to retry";
  EXPECT_EQ(daemon_.request(daemon_.adminPort(), "GET", "/readyz").status, 503);
  const double commit_errors =
      daemon_.metric("sanjog_storage_commits_total", {{"result", "error"}});
  EXPECT_GE(commit_errors, 1);
  EXPECT_GE(daemon_.metric("sanjog_webhook_requests_total",
                           {{"instance", "a"}, {"result", "unavailable"}}),
            1);
  // The disk stays full for a while, deliveries failing meanwhile (their
  // results cannot be written either); the daemon keeps running.
  std::this_thread::sleep_for(std::min(settings_.load / 4, milliseconds(2000)));
  ASSERT_EQ(daemon_.request(daemon_.adminPort(), "GET", "/healthz").status, 200);

  ASSERT_EQ(::mount("tmpfs", data.c_str(), "tmpfs", MS_REMOUNT, "size=64m"), 0)
      << std::strerror(errno);
  // The provider retries the refused event (same webhook id) until accepted.
  EXPECT_TRUE(
      daemon_.waitFor([&] { return post(conv).status / 100 == 2; }, std::chrono::seconds(20)))
      << "still refused after the file system grew";
  const auto accepting = Clock::now();
  for (int i = 0; i < 20; ++i) {
    ++sent;
    const auto r = post(i % kConversations);
    EXPECT_EQ(r.status, 202) << r.body;
  }

  receiver_.setDefault({200, "ok"});
  const auto receiver_up = Clock::now();
  DeliveryLog log(receiver_);
  const bool delivered = waitDelivered(log, acked);
  Figures f;
  f.test = "storage_full";
  f.seed = settings_.seed;
  f.sent = sent;
  f.acked = acked.size();
  f.outage_ms = millisBetween(full_at, accepting);
  f.recovery_ms = millisBetween(receiver_up, Clock::now());
  f.add(log, acked);
  f.extra.update(nlohmann::json{
      {"storage_commit_errors", commit_errors},
      {"readyz_after", daemon_.request(daemon_.adminPort(), "GET", "/readyz").status}});
  f.report();
  EXPECT_TRUE(delivered);
}

}  // namespace
}  // namespace sanjog::testing::chaos
