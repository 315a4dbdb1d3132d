// A signed event in on instance A is delivered, signed, to instance B's
// receiver; failures retry, dead-letter, replay and survive kill -9.
#include <cstdlib>
#include <fstream>

#include "integration/flow_fixture.h"

namespace sanjog::testing {
namespace {

TEST_F(FlowTest, SignedEventIsDeliveredSignedWithTextIntact) {
  startDaemon();
  const std::string body = event();
  auto r = daemon_.postSigned("a", kSecretA, "msg_a1", body);
  ASSERT_EQ(r.status, 202) << r.body;
  EXPECT_EQ(r.json()["accepted"], 1);
  ASSERT_TRUE(receiver_.waitForRequests(1, kWait));
  const auto req = receiver_.requests()[0];
  EXPECT_EQ(req.method, "POST");
  EXPECT_EQ(req.header("content-type"), "application/cloudevents+json; charset=utf-8");
  // Signed with B's secret over exactly the bytes received.
  const std::string id = req.header("webhook-id");
  const int64_t ts = std::stoll(req.header("webhook-timestamp"));
  EXPECT_LE(std::llabs(ts - nowSeconds()), 60);
  EXPECT_EQ(req.header("webhook-signature"), signStandardWebhook(kSecretB, id, ts, req.body));
  EXPECT_NE(req.header("webhook-signature"), signStandardWebhook(kSecretA, id, ts, req.body));
  auto delivered = nlohmann::json::parse(req.body);
  EXPECT_EQ(delivered["specversion"], "1.0");
  EXPECT_EQ(delivered["type"], "message.send");
  EXPECT_EQ(delivered["source"], "/instances/a");
  EXPECT_EQ(delivered["providerid"], "msg_a1");
  EXPECT_EQ(delivered["senderid"], "crm-1");
  EXPECT_EQ(delivered["data"]["message"]["text"], "আপনার অর্ডার #1001 পাঠানো হয়েছে");
  EXPECT_NE(req.body.find("আপনার অর্ডার #1001"), std::string::npos) << "UTF-8 bytes, not escapes";
  EXPECT_EQ(id, delivered["id"].get<std::string>() + ".0");
  // The admin trace shows the event and its successful delivery.
  EXPECT_TRUE(daemon_.waitFor([&] {
    auto t = daemon_.admin("GET", "/admin/v1/events/" + delivered["id"].get<std::string>());
    return t.status == 200 && t.json()["deliveries"][0]["state"] == "done";
  }));
}

TEST_F(FlowTest, ForgedOrStaleSignaturesAre401AndNothingIsStored) {
  startDaemon();
  const std::string body = event();
  auto forged = daemon_.postSigned("a", kSecretB, "msg_f1", body);  // wrong secret
  EXPECT_EQ(forged.status, 401) << forged.body;
  auto stale = daemon_.postSigned("a", kSecretA, "msg_f2", body, nowSeconds() - 600);
  EXPECT_EQ(stale.status, 401) << stale.body;
  auto unsigned_request = daemon_.publicRequest("POST", "/webhooks/a", body);
  EXPECT_EQ(unsigned_request.status, 401);
  // Then a good one: if anything of the bad ones had been stored, it would be
  // delivered before or with it (same route, same receiver).
  ASSERT_EQ(daemon_.postSigned("a", kSecretA, "msg_ok", body).status, 202);
  ASSERT_TRUE(receiver_.waitForRequests(1, kWait));
  EXPECT_FALSE(receiver_.waitForRequests(2, std::chrono::milliseconds(500)));
  EXPECT_EQ(daemon_.metric("sanjog_webhook_requests_total",
                           {{"instance", "a"}, {"result", "unauthenticated"}}),
            3);
  EXPECT_EQ(daemon_.metric("sanjog_events_published_total",
                           {{"instance", "a"}, {"type", "message.send"}}),
            1);
}

TEST_F(FlowTest, ReceiverErrorsAreRetriedWithTheSameWebhookId) {
  receiver_.script({{500, "down"}, {500, "down"}, {200, "ok"}});
  startDaemon();
  ASSERT_EQ(daemon_.postSigned("a", kSecretA, "msg_r1", event()).status, 202);
  ASSERT_TRUE(receiver_.waitForRequests(3, kWait));
  EXPECT_FALSE(receiver_.waitForRequests(4, std::chrono::milliseconds(500)));
  const auto reqs = receiver_.requests();
  EXPECT_EQ(reqs[0].header("webhook-id"), reqs[1].header("webhook-id"));
  EXPECT_EQ(reqs[1].header("webhook-id"), reqs[2].header("webhook-id"));
  EXPECT_EQ(reqs[0].body, reqs[2].body);
  EXPECT_TRUE(daemon_.waitFor([&] {
    return daemon_.metric("sanjog_deliveries_total", {{"target", "b"}, {"result", "success"}}) == 1;
  }));
  EXPECT_EQ(daemon_.metric("sanjog_deliveries_total", {{"target", "b"}, {"result", "retry"}}), 2);
  EXPECT_EQ(daemon_.metric("sanjog_delivery_retries_total",
                           {{"target", "b"}, {"reason", "upstream_error"}}),
            2);
}

TEST_F(FlowTest, SlowReceiverTimesOutAndIsRetried) {
  ScriptedResponse slow(200, "late");
  slow.delay = std::chrono::milliseconds(3000);  // over b's 2 s timeout
  receiver_.script({slow});
  startDaemon();
  ASSERT_EQ(daemon_.postSigned("a", kSecretA, "msg_t1", event()).status, 202);
  ASSERT_TRUE(receiver_.waitForRequests(2, kWait));
  EXPECT_TRUE(daemon_.waitFor([&] {
    return daemon_.metric("sanjog_deliveries_total", {{"target", "b"}, {"result", "success"}}) == 1;
  }));
  EXPECT_EQ(
      daemon_.metric("sanjog_delivery_retries_total", {{"target", "b"}, {"reason", "timeout"}}), 1);
  EXPECT_EQ(
      daemon_.metric("sanjog_upstream_requests_total", {{"instance", "b"}, {"result", "timeout"}}),
      1);
  const auto reqs = receiver_.requests();
  EXPECT_EQ(reqs[0].header("webhook-id"), reqs[1].header("webhook-id"));
}

TEST_F(FlowTest, RateLimitedReceiverIsRetriedAfterRetryAfter) {
  receiver_.script({ScriptedResponse(429, "slow down", {{"Retry-After", "1"}})});
  startDaemon();
  const auto start = std::chrono::steady_clock::now();
  ASSERT_EQ(daemon_.postSigned("a", kSecretA, "msg_429", event()).status, 202);
  ASSERT_TRUE(receiver_.waitForRequests(2, kWait));
  // Backoff alone would retry after 100 ms; Retry-After asks for 1 s.
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(900));
  EXPECT_EQ(daemon_.metric("sanjog_delivery_retries_total",
                           {{"target", "b"}, {"reason", "rate_limited"}}),
            1);
}

TEST_F(FlowTest, PermanentErrorIsADeadLetterAndReplayDeliversIt) {
  receiver_.setDefault({400, "bad request"});
  startDaemon();
  ASSERT_EQ(daemon_.postSigned("a", kSecretA, "msg_d1", event()).status, 202);
  ASSERT_TRUE(receiver_.waitForRequests(1, kWait));
  nlohmann::json dead;
  ASSERT_TRUE(daemon_.waitFor([&] {
    auto r = daemon_.admin("GET", "/admin/v1/dead-letters?target=b");
    dead = r.json();
    return r.status == 200 && dead["dead_letters"].size() == 1;
  })) << dead.dump();
  const auto& letter = dead["dead_letters"][0];
  EXPECT_EQ(letter["target"], "b");
  EXPECT_EQ(letter["route"], "a-to-b");
  EXPECT_EQ(letter["reason"], "invalid_argument");
  EXPECT_FALSE(receiver_.waitForRequests(2, std::chrono::milliseconds(400))) << "no retry";
  EXPECT_EQ(daemon_.metric("sanjog_dead_letters_total",
                           {{"target", "b"}, {"reason", "invalid_argument"}}),
            1);
  EXPECT_EQ(daemon_.metric("sanjog_dead_letters", {{"target", "b"}}), 1);
  // The receiver is fixed; replay.
  receiver_.setDefault({200, "ok"});
  const std::string id = std::to_string(letter["id"].get<int64_t>());
  auto replay = daemon_.admin("POST", "/admin/v1/dead-letters/" + id + "/replay");
  ASSERT_EQ(replay.status, 200) << replay.body;
  EXPECT_EQ(replay.json()["replayed"], 1);
  ASSERT_TRUE(receiver_.waitForRequests(2, kWait));
  const auto reqs = receiver_.requests();
  EXPECT_EQ(reqs[0].header("webhook-id"), reqs[1].header("webhook-id"));
  EXPECT_TRUE(daemon_.waitFor([&] {
    return daemon_.admin("GET", "/admin/v1/dead-letters?target=b").json()["dead_letters"].empty();
  }));
  EXPECT_EQ(daemon_.admin("POST", "/admin/v1/dead-letters/" + id + "/replay").status, 404);
}

TEST_F(FlowTest, AcceptedEventSurvivesKill9) {
  receiver_.setDefault({503, "maintenance"});
  startDaemon();
  ASSERT_EQ(daemon_.postSigned("a", kSecretA, "msg_k1", event()).status, 202);
  EXPECT_EQ(daemon_.stop(SIGKILL), 128 + SIGKILL);
  receiver_.setDefault({200, "ok"});
  const size_t before = receiver_.requests().size();
  ASSERT_TRUE(daemon_.start());
  ASSERT_TRUE(receiver_.waitForRequests(before + 1, kWait));
  auto last = nlohmann::json::parse(receiver_.requests().back().body);
  EXPECT_EQ(last["providerid"], "msg_k1");
  EXPECT_TRUE(daemon_.waitFor([&] {
    return daemon_.metric("sanjog_deliveries_total", {{"target", "b"}, {"result", "success"}}) == 1;
  }));
}

TEST_F(FlowTest, DuplicateWebhookIsAcceptedAndDeliveredOnce) {
  startDaemon();
  const std::string body = event();
  ASSERT_EQ(daemon_.postSigned("a", kSecretA, "msg_dup", body).status, 202);
  auto again = daemon_.postSigned("a", kSecretA, "msg_dup", body);
  EXPECT_EQ(again.status, 200) << again.body;
  ASSERT_TRUE(receiver_.waitForRequests(1, kWait));
  EXPECT_FALSE(receiver_.waitForRequests(2, std::chrono::milliseconds(500)));
  EXPECT_EQ(
      daemon_.metric("sanjog_webhook_requests_total", {{"instance", "a"}, {"result", "duplicate"}}),
      1);
}

TEST_F(FlowTest, MetricsPassPromtoolAndCountWhatHappened) {
  receiver_.script({{500, "x"}});
  startDaemon();
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(daemon_.postSigned("a", kSecretA, "msg_m" + std::to_string(i), event()).status, 202);
  }
  EXPECT_EQ(daemon_.postSigned("a", kSecretB, "msg_bad", event()).status, 401);
  ASSERT_TRUE(receiver_.waitForRequests(4, kWait));
  ASSERT_TRUE(daemon_.waitFor([&] {
    return daemon_.metric("sanjog_deliveries_total", {{"target", "b"}, {"result", "success"}}) == 3;
  }));
  EXPECT_EQ(
      daemon_.metric("sanjog_webhook_requests_total", {{"instance", "a"}, {"result", "accepted"}}),
      3);
  EXPECT_EQ(daemon_.metric("sanjog_webhook_requests_total",
                           {{"instance", "a"}, {"result", "unauthenticated"}}),
            1);
  EXPECT_EQ(daemon_.metric("sanjog_events_published_total",
                           {{"instance", "a"}, {"type", "message.send"}}),
            3);
  EXPECT_EQ(daemon_.metric("sanjog_deliveries_total", {{"target", "b"}, {"result", "retry"}}), 1);
  EXPECT_EQ(daemon_.metric("sanjog_queue_depth", {{"target", "b"}}), 0);
  EXPECT_EQ(daemon_.metric("sanjog_build_info", {{"version", "0.1.0"}}), 1);
  EXPECT_EQ(daemon_.metric("sanjog_plugin_info",
                           {{"kind", "crm"}, {"plugin", "crm_webhook"}, {"version", "1.0.0"}}),
            1);
  EXPECT_GE(
      daemon_.metric("sanjog_upstream_requests_total", {{"instance", "b"}, {"result", "2xx"}}), 3);
  // promtool (Debian package prometheus) lints the exposition.
  const auto file = daemon_.dir() / "metrics.txt";
  std::ofstream(file) << daemon_.metricsText();
  const std::string cmd = "promtool check metrics < '" + file.string() + "' > '" +
                          (daemon_.dir() / "promtool.txt").string() + "' 2>&1";
  const int rc = std::system(cmd.c_str());
  std::ifstream out(daemon_.dir() / "promtool.txt");
  std::string text((std::istreambuf_iterator<char>(out)), std::istreambuf_iterator<char>());
  EXPECT_EQ(rc, 0) << text;
}

}  // namespace
}  // namespace sanjog::testing
