// Reliability and security at the edge, against the real daemon: request
// limits, authentication lockout, back-pressure, contact export and erasure,
// encryption at rest, log privacy and certificate reload.
#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/SocketAddress.h>
#include <Poco/Net/StreamSocket.h>
#include <signal.h>

#include <fstream>
#include <iterator>

#include "integration/flow_fixture.h"

namespace sanjog::testing {
namespace {

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string messageWith(const std::string& id, const std::string& text) {
  return nlohmann::json(
             {{"type", "message.send"},
              {"id", id},
              {"data", {{"conversation_id", "conv_test"}, {"message", {{"text", text}}}}}})
      .dump();
}

TEST_F(FlowTest, LimitsRefuseUntrustedRequestsClearlyAndCountTheReason) {
  auto c = config();
  c["server"]["limits"] = {{"max_header_count", 16},
                           {"max_header_bytes", 1024},
                           {"max_json_depth", 8},
                           {"read_timeout", "500ms"}};
  daemon_.writeConfig(c);
  ASSERT_TRUE(daemon_.start());
  auto rejected = [&](const std::string& reason) {
    return daemon_.metric("sanjog_requests_rejected_total",
                          {{"kind", "public"}, {"reason", reason}});
  };
  std::vector<std::pair<std::string, std::string>> many;
  for (int i = 0; i < 20; ++i) many.emplace_back("X-Extra-" + std::to_string(i), "1");
  EXPECT_EQ(daemon_.publicRequest("POST", "/webhooks/a", event(), many).status, 431);
  EXPECT_EQ(
      daemon_.publicRequest("POST", "/webhooks/a", event(), {{"X-Long", std::string(2000, 'v')}})
          .status,
      431);
  // Nested deeper than allowed: refused before the plugin parses it, even
  // with a valid signature, and nothing is stored.
  const std::string deep = R"({"type":"message.send","id":"deep","data":)" + std::string(20, '[') +
                           std::string(20, ']') + "}";
  auto r = daemon_.postSigned("a", kSecretA, "msg_deep", deep);
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_NE(r.body.find("too_deep"), std::string::npos) << r.body;
  EXPECT_EQ(rejected("too_many_headers"), 1);
  EXPECT_EQ(rejected("header_too_large"), 1);
  EXPECT_EQ(rejected("too_deep"), 1);
  EXPECT_EQ(daemon_.metric("sanjog_events_published_total",
                           {{"instance", "a"}, {"type", "message.send"}}),
            0);
  // A client that announces a body and stops sending is cut off after the
  // read timeout instead of holding a thread.
  Poco::Net::StreamSocket slow(Poco::Net::SocketAddress("127.0.0.1", daemon_.publicPort()));
  const std::string head =
      "POST /webhooks/a HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n" + std::string(10, '{');
  slow.sendBytes(head.data(), static_cast<int>(head.size()));
  EXPECT_TRUE(daemon_.waitFor([&] { return rejected("slow_client") == 1; }));
  EXPECT_EQ(daemon_.metric("sanjog_webhook_requests_total",
                           {{"instance", "a"}, {"result", "slow_client"}}),
            1);
  EXPECT_EQ(daemon_.publicRequest("GET", "/healthz").status, 200) << "still serving";
}

TEST_F(FlowTest, FailedAuthenticationIsLockedOutPerAddressAndTokensRotate) {
  auto c = config();
  c["admin"]["tokens"] = {"rotated-admin-token-9876543210"};
  c["server"]["auth_failures"] = {{"max", 3}, {"window", "1m"}};
  daemon_.writeConfig(c);
  ASSERT_TRUE(daemon_.start());
  const auto admin = daemon_.adminPort();
  // Both the old and the new token work during a rotation.
  EXPECT_EQ(daemon_.admin("GET", "/admin/v1/routes").status, 200);
  EXPECT_EQ(daemon_
                .request(admin, "GET", "/admin/v1/routes", "",
                         {{"Authorization", "Bearer rotated-admin-token-9876543210"}})
                .status,
            200);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(daemon_
                  .request(admin, "GET", "/admin/v1/routes", "",
                           {{"Authorization", "Bearer guess-" + std::to_string(i) + "-0123456789"}})
                  .status,
              401);
  }
  auto locked = daemon_.request(admin, "GET", "/admin/v1/routes", "",
                                {{"Authorization", "Bearer guess-3-0123456789"}});
  EXPECT_EQ(locked.status, 429);
  EXPECT_FALSE(locked.headers["retry-after"].empty());
  EXPECT_EQ(daemon_.admin("GET", "/admin/v1/routes").status, 429)
      << "a locked address learns nothing, not even from the right token";
  EXPECT_EQ(daemon_.metric("sanjog_requests_rejected_total",
                           {{"kind", "admin"}, {"reason", "auth_locked"}}),
            2);
  EXPECT_EQ(daemon_.metric("sanjog_auth_failures_total", {{"kind", "admin"}}), 3);
  // The API keys have their own budget (another listener).
  EXPECT_EQ(daemon_
                .publicRequest("GET", "/api/v1/messages/evt_x", "",
                               {{"Authorization", std::string("Bearer ") + kApiKey}})
                .status,
            404);
}

TEST_F(FlowTest, BacklogOverItsBoundAnswers503UntilItDrains) {
  receiver_.setDefault({503, "down"});
  auto c = config();
  c["server"]["backpressure"] = {{"max_pending", 5}, {"retry_after", "7s"}};
  daemon_.writeConfig(c);
  ASSERT_TRUE(daemon_.start());
  // Off (0) from the first scrape, not absent: alerts and dashboards see it.
  EXPECT_NE(daemon_.metricsText().find("\nsanjog_backpressure 0"), std::string::npos);
  int accepted = 0;
  HttpResult refused;
  ASSERT_TRUE(daemon_.waitFor([&] {
    auto r = daemon_.postSigned("a", kSecretA, "msg_bp_" + std::to_string(accepted + 1),
                                messageWith("bp" + std::to_string(accepted + 1), "x"));
    if (r.status == 202 || r.status == 200) ++accepted;
    if (r.status == 503) refused = r;
    return r.status == 503;
  }));
  EXPECT_GE(accepted, 5);
  EXPECT_EQ(refused.headers["retry-after"], "7");
  EXPECT_NE(refused.body.find("overloaded"), std::string::npos) << refused.body;
  EXPECT_EQ(daemon_.metric("sanjog_backpressure", {}), 1);
  EXPECT_GE(daemon_.metric("sanjog_webhook_requests_total",
                           {{"instance", "a"}, {"result", "backpressure"}}),
            1);
  // The target recovers, the backlog drains, webhooks are taken again, and
  // everything accepted before was delivered.
  receiver_.setDefault({200, "ok"});
  ASSERT_TRUE(daemon_.waitFor(
      [&] {
        auto r = daemon_.postSigned("a", kSecretA, "msg_bp_after", messageWith("bp_after", "y"));
        return r.status == 202 || r.status == 200;
      },
      std::chrono::seconds(30)));
  ++accepted;
  ASSERT_TRUE(daemon_.waitFor(
      [&] {
        std::set<std::string> ids;
        for (const auto& req : receiver_.requests()) {
          if ((req.answered >= 200 && req.answered < 300)) ids.insert(req.header("webhook-id"));
        }
        return static_cast<int>(ids.size()) >= accepted;
      },
      std::chrono::seconds(30)));
  EXPECT_EQ(daemon_.metric("sanjog_backpressure", {}), 0);
}

TEST_F(FlowTest, ContactExportAndErasureAndNoPersonalDataInTheLog) {
  startDaemon();
  const std::string phone = "+8801711000042";
  const std::vector<std::pair<std::string, std::string>> auth = {
      {"Authorization", std::string("Bearer ") + kApiKey}};
  auto sent = daemon_.publicRequest(
      "POST", "/api/v1/messages",
      nlohmann::json({{"instance", "b"}, {"to", phone}, {"message", {{"text", "ধন্যবাদ রহিম"}}}})
          .dump(),
      auth);
  ASSERT_EQ(sent.status, 202) << sent.body;
  const std::string id = sent.json()["id"];
  ASSERT_TRUE(receiver_.waitForRequests(1, kWait));
  auto exported = daemon_.admin("GET", "/admin/v1/contacts/%2B8801711000042/export");
  ASSERT_EQ(exported.status, 200) << exported.body;
  auto j = exported.json();
  ASSERT_EQ(j["events"].size(), 1u) << exported.body;
  EXPECT_EQ(j["events"][0]["id"], id);
  EXPECT_EQ(j["deliveries"].size(), 1u);
  auto erased = daemon_.admin("DELETE", "/admin/v1/contacts/%2B8801711000042");
  ASSERT_EQ(erased.status, 200) << erased.body;
  EXPECT_EQ(erased.json()["erased"]["events"], 1);
  EXPECT_EQ(daemon_.admin("GET", "/admin/v1/events/" + id).status, 404);
  EXPECT_EQ(daemon_.admin("GET", "/admin/v1/contacts/%2B8801711000042/export").json()["events"],
            nlohmann::json::array());
  EXPECT_EQ(daemon_.metric("sanjog_contact_requests_total", {{"result", "erased"}}), 1);
  const std::string log = daemon_.log();
  EXPECT_NE(log.find("contact erased"), std::string::npos);
  EXPECT_EQ(log.find("8801711000042"), std::string::npos) << "the log holds no phone number";
  EXPECT_EQ(log.find("ধন্যবাদ"), std::string::npos) << "nor message text";
}

TEST_F(FlowTest, EncryptedStorageHoldsNoPlaintextAndSurvivesARestart) {
  const auto key_file = daemon_.dir() / "storage.key";
  std::ofstream(key_file) << std::string(64, 'e') << "\n";
  receiver_.setDefault({503, "down"});  // keep the event pending across the restart
  auto c = config();
  c["storage"]["encryption_key"] = "${file:" + key_file.string() + "}";
  daemon_.writeConfig(c);
  ASSERT_TRUE(daemon_.start());
  EXPECT_EQ(daemon_.metric("sanjog_storage_encrypted", {}), 1);
  const std::string text = "গোপন ঠিকানা: বাড়ি ১২, রোড ৫";
  ASSERT_EQ(daemon_.postSigned("a", kSecretA, "msg_enc", messageWith("enc1", text)).status, 202);
  ASSERT_TRUE(receiver_.waitForRequests(1, kWait));
  ASSERT_EQ(daemon_.stop(SIGTERM), 0);
  std::string raw;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(daemon_.dir())) {
    if (entry.path().string().find(".db") != std::string::npos) raw += slurp(entry.path());
  }
  ASSERT_FALSE(raw.empty());
  EXPECT_EQ(raw.find("গোপন"), std::string::npos) << "no message text in the database files";
  receiver_.setDefault({200, "ok"});
  ASSERT_TRUE(daemon_.start());
  ASSERT_TRUE(daemon_.waitFor([&] {
    for (const auto& req : receiver_.requests()) {
      if ((req.answered >= 200 && req.answered < 300) && req.body.find(text) != std::string::npos)
        return true;
    }
    return false;
  }));
}

TEST_F(FlowTest, WithoutAKeyTheDaemonWarnsThatStorageIsUnencrypted) {
  startDaemon();
  EXPECT_NE(daemon_.log().find("payloads are stored unencrypted"), std::string::npos);
  EXPECT_EQ(daemon_.metric("sanjog_storage_encrypted", {}), 0);
}

// The certificate served for new connections (its subject), via openssl.
std::string servedSubject(uint16_t port, const std::filesystem::path& dir) {
  const auto out = dir / "subject.txt";
  const std::string cmd = "openssl s_client -connect 127.0.0.1:" + std::to_string(port) +
                          " </dev/null 2>/dev/null | openssl x509 -noout -subject > '" +
                          out.string() + "' 2>/dev/null";
  if (std::system(cmd.c_str()) != 0) return "";
  return slurp(out);
}

bool makeCertificate(const std::filesystem::path& key, const std::filesystem::path& cert,
                     const std::string& cn) {
  const std::string gen = "openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=" + cn +
                          " -days 1 -keyout '" + key.string() + "' -out '" + cert.string() +
                          "' > /dev/null 2>&1";
  return std::system(gen.c_str()) == 0;
}

TEST_F(FlowTest, CertificateIsReplacedOnSighupAndABrokenOneIsRefused) {
  const auto key = daemon_.dir() / "key.pem";
  const auto cert = daemon_.dir() / "cert.pem";
  ASSERT_TRUE(makeCertificate(key, cert, "first.example"));
  auto c = config();
  c["server"]["tls"] = {{"cert_file", cert.string()}, {"key_file", key.string()}};
  daemon_.writeConfig(c);
  ASSERT_TRUE(daemon_.start());
  EXPECT_NE(servedSubject(daemon_.publicPort(), daemon_.dir()).find("first.example"),
            std::string::npos);
  ASSERT_TRUE(makeCertificate(key, cert, "second.example"));
  daemon_.sendSignal(SIGHUP);
  EXPECT_TRUE(daemon_.waitFor([&] {
    return servedSubject(daemon_.publicPort(), daemon_.dir()).find("second.example") !=
           std::string::npos;
  }));
  EXPECT_EQ(daemon_.metric("sanjog_tls_reloads_total", {{"result", "applied"}}), 1);
  // A broken file rejects the reload; the running certificate stays.
  std::ofstream(cert) << "not a certificate\n";
  auto reload = daemon_.admin("POST", "/admin/v1/reload");
  EXPECT_EQ(reload.status, 400) << reload.body;
  EXPECT_NE(reload.body.find("/server/tls"), std::string::npos) << reload.body;
  EXPECT_EQ(daemon_.metric("sanjog_tls_reloads_total", {{"result", "rejected"}}), 1);
  EXPECT_NE(servedSubject(daemon_.publicPort(), daemon_.dir()).find("second.example"),
            std::string::npos);
}

// Outbound HTTPS verifies the peer: a self-signed target is refused, and
// accepted once its CA is given in outbound.ca_file. The target is the
// daemon's own TLS listener (POST /healthz answers 200).
TEST_F(FlowTest, OutboundTlsVerifiesAgainstTheConfiguredCa) {
  const auto key = daemon_.dir() / "key.pem";
  const auto cert = daemon_.dir() / "cert.pem";
  const std::string gen =
      "openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=localhost -addext "
      "subjectAltName=DNS:localhost -days 1 -keyout '" +
      key.string() + "' -out '" + cert.string() + "' > /dev/null 2>&1";
  ASSERT_EQ(std::system(gen.c_str()), 0);
  uint16_t port = 0;
  {
    Poco::Net::ServerSocket probe(Poco::Net::SocketAddress("127.0.0.1", 0));
    port = probe.address().port();
  }
  auto c = config();
  c["server"]["listen"] = "127.0.0.1:" + std::to_string(port);
  c["server"]["tls"] = {{"cert_file", cert.string()}, {"key_file", key.string()}};
  c["instances"][1]["config"]["url"] = "https://localhost:" + std::to_string(port) + "/healthz";
  auto post = [&](const std::string& id) {
    // The public listener speaks TLS: post through curl.
    const std::string body = messageWith(id, "tls");
    const int64_t ts = nowSeconds();
    const std::string sig = signStandardWebhook(kSecretA, "msg_" + id, ts, body);
    const std::string cmd =
        "curl -s -o /dev/null --cacert '" + cert.string() + "' -H 'webhook-id: msg_" + id +
        "' -H 'webhook-timestamp: " + std::to_string(ts) + "' -H 'webhook-signature: " + sig +
        "' -H 'Content-Type: application/json' --data-binary '" + body +
        "' https://localhost:" + std::to_string(port) + "/webhooks/a";
    return std::system(cmd.c_str());
  };
  // Without the CA: the certificate is not trusted, the delivery fails.
  daemon_.writeConfig(c);
  ASSERT_TRUE(daemon_.start());
  ASSERT_EQ(post("untrusted"), 0);
  EXPECT_TRUE(daemon_.waitFor([&] {
    return daemon_.metric("sanjog_upstream_requests_total",
                          {{"instance", "b"}, {"result", "error"}}) >= 1;
  }));
  EXPECT_EQ(daemon_.metric("sanjog_deliveries_total", {{"target", "b"}, {"result", "success"}}), 0);
  ASSERT_EQ(daemon_.stop(SIGTERM), 0);
  // With it: the pending delivery and a new one go through.
  c["outbound"] = {{"ca_file", cert.string()}};
  daemon_.writeConfig(c);
  ASSERT_TRUE(daemon_.start());
  ASSERT_EQ(post("trusted"), 0);
  EXPECT_TRUE(daemon_.waitFor([&] {
    return daemon_.metric("sanjog_deliveries_total", {{"target", "b"}, {"result", "success"}}) == 2;
  }));
}

}  // namespace
}  // namespace sanjog::testing
