// HTTP edge cases, config validation, reload (SIGHUP and admin API), the
// message API and shutdown.
#include <signal.h>

#include <fstream>

#include "integration/flow_fixture.h"

namespace sanjog::testing {
namespace {

TEST_F(FlowTest, HttpErrorsAndAuth) {
  startDaemon();
  EXPECT_EQ(daemon_.publicRequest("GET", "/healthz").status, 200);
  EXPECT_EQ(daemon_.request(daemon_.adminPort(), "GET", "/healthz").status, 200);
  EXPECT_EQ(daemon_.postSigned("nope", kSecretA, "msg_x", event()).status, 404);
  const std::string huge(70000, 'x');  // over server.max_body_bytes (65536)
  EXPECT_EQ(daemon_.postSigned("a", kSecretA, "msg_big", huge).status, 413);
  EXPECT_EQ(daemon_.request(daemon_.adminPort(), "GET", "/admin/v1/instances").status, 401);
  EXPECT_EQ(daemon_
                .request(daemon_.adminPort(), "GET", "/admin/v1/instances", "",
                         {{"Authorization", "Bearer wrong-token-0123456789"}})
                .status,
            401);
  auto instances = daemon_.admin("GET", "/admin/v1/instances");
  ASSERT_EQ(instances.status, 200) << instances.body;
  EXPECT_EQ(instances.body.find(kSecretB), std::string::npos) << "secrets never appear in /admin";
  EXPECT_EQ(daemon_.admin("GET", "/admin/v1/routes").status, 200);
  EXPECT_EQ(daemon_.admin("GET", "/admin/v1/events/evt_unknown").status, 404);
  EXPECT_EQ(daemon_.postSigned("a", kSecretA, "msg_bad_json", "{not json").status, 400);
  EXPECT_GE(daemon_.metric("sanjog_auth_failures_total", {{"kind", "admin"}}), 2);
  EXPECT_EQ(
      daemon_.metric("sanjog_webhook_requests_total", {{"instance", "a"}, {"result", "too_large"}}),
      1);
}

TEST_F(FlowTest, MessageApiQueuesOnceAndReportsStatus) {
  startDaemon();
  const std::string body =
      nlohmann::json(
          {{"instance", "b"}, {"to", "+8801711000001"}, {"message", {{"text", "ধন্যবাদ"}}}})
          .dump();
  const std::vector<std::pair<std::string, std::string>> auth = {
      {"Authorization", std::string("Bearer ") + kApiKey}, {"Idempotency-Key", "order-1001"}};
  EXPECT_EQ(daemon_.publicRequest("POST", "/api/v1/messages", body).status, 401);
  auto first = daemon_.publicRequest("POST", "/api/v1/messages", body, auth);
  ASSERT_EQ(first.status, 202) << first.body;
  auto again = daemon_.publicRequest("POST", "/api/v1/messages", body, auth);
  ASSERT_EQ(again.status, 202) << again.body;
  EXPECT_EQ(again.json()["id"], first.json()["id"]);
  EXPECT_EQ(again.headers["idempotent-replayed"], "true");
  ASSERT_TRUE(receiver_.waitForRequests(1, kWait));
  EXPECT_FALSE(receiver_.waitForRequests(2, std::chrono::milliseconds(300)));
  auto sent = nlohmann::json::parse(receiver_.requests()[0].body);
  EXPECT_EQ(sent["type"], "message.send");
  EXPECT_EQ(sent["data"]["to"], "+8801711000001");
  const std::string id = first.json()["id"];
  EXPECT_TRUE(daemon_.waitFor([&] {
    auto s = daemon_.publicRequest("GET", "/api/v1/messages/" + id, "",
                                   {{"Authorization", std::string("Bearer ") + kApiKey}});
    return s.status == 200 && s.json()["status"] == "sent";
  }));
}

TEST_F(FlowTest, CheckConfigReportsEveryProblemAndOpensNoPort) {
  auto bad = config();
  bad["instances"][1]["config"]["colour"] = "blue";  // unknown plugin key
  bad["instances"][1]["config"]["secret"] = "${env:SANJOG_IT_MISSING_VAR}";
  bad["server"]["listen"] = "not-an-address";
  bad["routes"][0]["to"][0]["instance"] = "ghost";
  daemon_.writeConfig(bad);
  std::string out;
  const int rc =
      daemon_.runOnce({"--check-config", "--config", daemon_.configPath().string()}, out);
  EXPECT_NE(rc, 0);
  EXPECT_NE(out.find("instance=b pointer=/instances/1/config/secret reason=environment variable "
                     "SANJOG_IT_MISSING_VAR is not set"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("pointer=/server/listen"), std::string::npos) << out;
  // Starting with the bad config fails before any listener exists.
  const int start_rc = daemon_.runOnce({"--config", daemon_.configPath().string(), "--ports-file",
                                        (daemon_.dir() / "p.json").string()},
                                       out);
  EXPECT_NE(start_rc, 0);
  EXPECT_FALSE(std::filesystem::exists(daemon_.dir() / "p.json"));

  auto unknown = config();
  unknown["instances"][1]["config"]["colour"] = "blue";
  unknown["routes"][0]["to"][0]["instance"] = "ghost";
  daemon_.writeConfig(unknown);
  EXPECT_NE(daemon_.runOnce({"--check-config", "--config", daemon_.configPath().string()}, out), 0);
  EXPECT_NE(out.find("instance=b pointer=/instances/1/config/colour reason=unknown key"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("pointer=/routes/0/to/0/instance reason=no instance named ghost"),
            std::string::npos)
      << out;
  daemon_.writeConfig(config());
  EXPECT_EQ(daemon_.runOnce({"--check-config", "--config", daemon_.configPath().string()}, out), 0)
      << out;
}

TEST_F(FlowTest, ReloadRejectsABadConfigAndAppliesAGoodOne) {
  startDaemon();
  // SIGHUP with a broken file: rejected, the old config keeps running.
  daemon_.writeRawConfig("{ \"version\": 1, \"instances\": [ oops");
  daemon_.sendSignal(SIGHUP);
  ASSERT_TRUE(daemon_.waitFor([&] {
    return daemon_.metric("sanjog_config_reloads_total", {{"result", "rejected"}}) == 1;
  }));
  ASSERT_EQ(daemon_.postSigned("a", kSecretA, "msg_h1", event()).status, 202);
  ASSERT_TRUE(receiver_.waitForRequests(1, kWait));
  // The admin API reports why.
  auto rejected = daemon_.admin("POST", "/admin/v1/reload");
  EXPECT_EQ(rejected.status, 400) << rejected.body;
  EXPECT_EQ(rejected.json()["result"], "rejected");
  // A valid changed config: instance "a" now accepts only contact.updated.
  auto next = config();
  next["instances"][0]["config"]["accept_types"] = {"contact.updated"};
  daemon_.writeConfig(next);
  auto applied = daemon_.admin("POST", "/admin/v1/reload");
  ASSERT_EQ(applied.status, 200) << applied.body;
  EXPECT_EQ(applied.json()["result"], "applied");
  EXPECT_EQ(daemon_.postSigned("a", kSecretA, "msg_h2", event()).status, 422);
  const std::string contact =
      R"({"type":"contact.updated","data":{"contact":{"name":"সুমি","phone":"+8801711000002"}}})";
  EXPECT_EQ(daemon_.postSigned("a", kSecretA, "msg_h3", contact).status, 202);
  ASSERT_TRUE(receiver_.waitForRequests(2, kWait));
  // SIGHUP with the same good file applies too.
  daemon_.sendSignal(SIGHUP);
  EXPECT_TRUE(daemon_.waitFor([&] {
    return daemon_.metric("sanjog_config_reloads_total", {{"result", "applied"}}) == 2;
  }));
}

}  // namespace
}  // namespace sanjog::testing

namespace sanjog::testing {
namespace {

TEST_F(FlowTest, PublicListenerServesTls) {
  const auto key = daemon_.dir() / "key.pem";
  const auto cert = daemon_.dir() / "cert.pem";
  const std::string gen =
      "openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=localhost -days 1 "
      "-keyout '" +
      key.string() + "' -out '" + cert.string() + "' > /dev/null 2>&1";
  ASSERT_EQ(std::system(gen.c_str()), 0);
  auto c = config();
  c["server"]["tls"] = {{"cert_file", cert.string()}, {"key_file", key.string()}};
  daemon_.writeConfig(c);
  ASSERT_TRUE(daemon_.start());
  const std::string url = "https://127.0.0.1:" + std::to_string(daemon_.publicPort()) + "/healthz";
  const auto out = daemon_.dir() / "curl.txt";
  const std::string https = "curl -s --cacert '" + cert.string() +
                            "' --resolve localhost:" + std::to_string(daemon_.publicPort()) +
                            ":127.0.0.1 https://localhost:" + std::to_string(daemon_.publicPort()) +
                            "/healthz -o '" + out.string() + "' -w '%{http_code}' > '" +
                            out.string() + ".code'";
  ASSERT_EQ(std::system(https.c_str()), 0) << url;
  std::ifstream code(out.string() + ".code");
  std::string status;
  code >> status;
  EXPECT_EQ(status, "200");
  // TLS 1.1 is refused; plain HTTP gets no HTTP answer.
  const std::string old_tls = "curl -sk --tls-max 1.1 " + url + " > /dev/null 2>&1";
  EXPECT_NE(std::system(old_tls.c_str()), 0);
  EXPECT_EQ(daemon_.publicRequest("GET", "/healthz").status, 0);
}

}  // namespace
}  // namespace sanjog::testing

namespace sanjog::testing {
namespace {

// A full disk (here: storage.max_bytes) answers 503 + Retry-After, counts
// it, turns /readyz unready, and loses nothing that was accepted before.
TEST_F(FlowTest, FullStorageAnswers503AndKeepsWhatWasAccepted) {
  receiver_.setDefault({503, "receiver down"});  // keep accepted events pending in storage
  auto c = config();
  c["storage"]["max_bytes"] = 400 * 1024;
  daemon_.writeConfig(c);
  ASSERT_TRUE(daemon_.start());
  const std::string padding(8000, 'x');
  int accepted = 0;
  HttpResult last;
  for (int i = 0; i < 200; ++i) {
    const std::string body =
        nlohmann::json({{"type", "contact.updated"}, {"data", {{"note", padding}}}}).dump();
    last = daemon_.postSigned("a", kSecretA, "msg_full_" + std::to_string(i), body);
    if (last.status != 202) break;
    ++accepted;
  }
  ASSERT_EQ(last.status, 503) << last.body;
  EXPECT_EQ(last.headers["retry-after"], "5");
  EXPECT_GT(accepted, 5);
  EXPECT_EQ(daemon_.metric("sanjog_webhook_requests_total",
                           {{"instance", "a"}, {"result", "unavailable"}}),
            1);
  EXPECT_GE(daemon_.metric("sanjog_storage_commits_total", {{"result", "error"}}), 1);
  EXPECT_EQ(daemon_.request(daemon_.adminPort(), "GET", "/readyz").status, 503);
  // Everything answered 202 is still there and delivered once the receiver is back.
  ASSERT_EQ(daemon_.stop(SIGTERM), 0);
  auto bigger = c;
  bigger["storage"]["max_bytes"] = 0;
  daemon_.writeConfig(bigger);
  ASSERT_TRUE(daemon_.start());
  receiver_.setDefault({200, "ok"});
  EXPECT_TRUE(daemon_.waitFor(
      [&] {
        return daemon_.metric("sanjog_deliveries_total",
                              {{"target", "b"}, {"result", "success"}}) == accepted;
      },
      std::chrono::seconds(30)))
      << daemon_.metric("sanjog_deliveries_total", {{"target", "b"}, {"result", "success"}});
}

}  // namespace
}  // namespace sanjog::testing
