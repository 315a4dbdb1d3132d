// The real daemon with the real channel_whatsapp and crm_webhook plugins,
// against a fake Graph API and a fake CRM on loopback: a signed WhatsApp
// message reaches the CRM, the CRM's reply reaches WhatsApp with the exact
// documented body, receipts make the message "read", the 24-hour window is
// enforced before any HTTP call, and media streams through the API.
#include "fakes/fake_http_server.h"
#include "integration/daemon.h"
#include "support/fixtures.h"

namespace sanjog::testing {
namespace {

constexpr const char* kAppSecret = "meta_app_secret_example";
constexpr const char* kAccessToken = "EAAG-integration-token-0123456789";
constexpr const char* kCrmSecret = "whsec_dGVzdC1zZWNyZXQtb2YtaW5zdGFuY2UtYg==";
constexpr auto kWait = std::chrono::seconds(10);
const std::string kBengali = "আমার অর্ডার #1042 কবে পৌঁছাবে? ধন্যবাদ 🙏";
const std::string kReply = "আপনার অর্ডার #1042 আগামীকাল (১৬ মার্চ) পৌঁছাবে। ধন্যবাদ!";

class WhatsAppFlowTest : public ::testing::Test {
 protected:
  void SetUp() override {
    graph_.setDefault(
        {200,
         R"({"messaging_product":"whatsapp","contacts":[{"input":"8801711000001","wa_id":"8801711000001"}],"messages":[{"id":"wamid.OUT1"}]})",
         {{"Content-Type", "application/json"}}});
    auto c = daemon_.baseConfig();
    const std::string graph_base = "http://127.0.0.1:" + std::to_string(graph_.port());
    c["instances"] = {
        {{"id", "wa"},
         {"plugin", "channel_whatsapp"},
         {"config",
          {{"api_base", graph_base},
           {"phone_number_id", "1122334455667"},
           {"access_token", kAccessToken},
           {"app_secret", kAppSecret},
           {"verify_token", "sanjog-verify-3f9c2a"}}}},
        {{"id", "crm"},
         {"plugin", "crm_webhook"},
         {"config", {{"secret", kCrmSecret}, {"url", crm_.url()}, {"timeout", "2s"}}}}};
    c["routes"] = {
        {{"id", "wa-to-crm"},
         {"from", {{"instance", "wa"}, {"types", {"message.received", "message.status"}}}},
         {"to", {{{"instance", "crm"}}}}}};
    daemon_.writeConfig(c);
    ASSERT_TRUE(daemon_.start());
  }
  void TearDown() override {
    if (daemon_.running()) {
      EXPECT_EQ(daemon_.stop(SIGTERM), 0);
    }
  }

  HttpResult postWhatsApp(const std::string& body) {
    return daemon_.publicRequest("POST", "/webhooks/wa", body,
                                 {{"Content-Type", "application/json"},
                                  {"X-Hub-Signature-256", metaSignature(kAppSecret, body)}});
  }
  // An inbound text as Meta sends it: minified, non-ASCII escaped.
  std::string inboundText(const std::string& wamid, const std::string& text) {
    auto body = fixtureJson("whatsapp/inbound_text.json");
    auto& value = body["entry"][0]["changes"][0]["value"];
    value["contacts"][0]["wa_id"] = "8801711000001";
    value["contacts"][0]["profile"]["name"] = "রহিমা";
    value["messages"][0]["from"] = "8801711000001";
    value["messages"][0]["id"] = wamid;
    value["messages"][0]["timestamp"] = std::to_string(nowSeconds());
    value["messages"][0]["text"]["body"] = text;
    return body.dump(-1, ' ', true);
  }
  std::string status(const std::string& wamid, const std::string& state) {
    auto body = fixtureJson("whatsapp/status_delivered.json");
    auto& st = body["entry"][0]["changes"][0]["value"]["statuses"][0];
    st["id"] = wamid;
    st["status"] = state;
    st["recipient_id"] = "8801711000001";
    st["timestamp"] = std::to_string(nowSeconds());
    return body.dump();
  }
  std::vector<nlohmann::json> crmEvents(const std::string& type) {
    std::vector<nlohmann::json> out;
    for (const auto& r : crm_.requests()) {
      auto e = nlohmann::json::parse(r.body, nullptr, false);
      if (e.is_object() && e["type"] == type) out.push_back(e);
    }
    return out;
  }
  std::vector<RecordedRequest> graphSends() {
    std::vector<RecordedRequest> out;
    for (const auto& r : graph_.requests()) {
      if (r.uri == "/v21.0/1122334455667/messages") out.push_back(r);
    }
    return out;
  }
  std::vector<std::pair<std::string, std::string>> apiAuth() {
    return {{"Authorization", std::string("Bearer ") + kApiKey}};
  }

  FakeHttpServer graph_;
  FakeHttpServer crm_;
  Daemon daemon_;
};

TEST_F(WhatsAppFlowTest, MessageToCrmReplyToWhatsAppAndReceiptsToRead) {
  // 1. The customer writes in Bengali; the signed webhook is stored and routed to the CRM.
  const std::string inbound = inboundText("wamid.IN1", kBengali);
  auto r = postWhatsApp(inbound);
  ASSERT_EQ(r.status, 200) << r.body;
  ASSERT_TRUE(crm_.waitForRequests(1, kWait));
  const auto received = crmEvents("message.received").at(0);
  EXPECT_EQ(received["data"]["message"]["text"], kBengali);
  EXPECT_NE(crm_.requests()[0].body.find(kBengali), std::string::npos) << "UTF-8 bytes intact";
  EXPECT_EQ(received["data"]["contact"]["phone"], "+8801711000001");
  EXPECT_EQ(received["data"]["contact"]["name"], "রহিমা");
  const std::string conversation = received["data"]["conversation_id"];
  ASSERT_FALSE(conversation.empty());

  // Meta retries the same webhook: 200, stored once, not routed again.
  EXPECT_EQ(postWhatsApp(inbound).status, 200);

  // 2. The agent answers in the CRM; the reply reaches the Graph API exactly as documented.
  const std::string reply =
      nlohmann::json(
          {{"type", "message.send"},
           {"id", "crm-reply-1"},
           {"data", {{"conversation_id", conversation}, {"message", {{"text", kReply}}}}}})
          .dump();
  auto posted = daemon_.postSigned("crm", kCrmSecret, "crm_msg_1", reply);
  ASSERT_EQ(posted.status, 202) << posted.body;
  ASSERT_TRUE(daemon_.waitFor([&] { return graphSends().size() == 1; }, kWait));
  const auto send = graphSends()[0];
  EXPECT_EQ(send.method, "POST");
  EXPECT_EQ(send.header("authorization"), std::string("Bearer ") + kAccessToken);
  EXPECT_EQ(nlohmann::json::parse(send.body),
            fixtureJson("whatsapp/outbound_send_text.request.json"));
  EXPECT_NE(send.body.find(kReply), std::string::npos) << "UTF-8 bytes intact";

  // 3. Receipts, out of order: read must win over a late "delivered".
  for (const char* s : {"sent", "read", "delivered"}) {
    ASSERT_EQ(postWhatsApp(status("wamid.OUT1", s)).status, 200) << s;
  }
  ASSERT_TRUE(daemon_.waitFor([&] { return crmEvents("message.status").size() == 3; }, kWait));
  const auto st = crmEvents("message.status")[0];
  ASSERT_TRUE(st["data"].contains("message_id")) << st.dump();
  EXPECT_EQ(st["data"]["conversation_id"], conversation);
  const std::string send_id = st["data"]["message_id"];
  auto msg = daemon_.publicRequest("GET", "/api/v1/messages/" + send_id, "", apiAuth());
  ASSERT_EQ(msg.status, 200) << msg.body;
  EXPECT_EQ(msg.json()["status"], "read");
  EXPECT_EQ(msg.json()["provider_status"]["provider_message_id"], "wamid.OUT1");
  EXPECT_EQ(msg.json()["deliveries"][0]["provider_message_id"], "wamid.OUT1");
  EXPECT_EQ(daemon_.metric("sanjog_message_statuses_total",
                           {{"channel", "whatsapp"}, {"type", "read"}, {"result", "linked"}}),
            1);
  EXPECT_EQ(daemon_.metric("sanjog_events_deduplicated_total", {{"instance", "wa"}}), 1);
  EXPECT_EQ(crmEvents("message.received").size(), 1u);
}

TEST_F(WhatsAppFlowTest, OutsideTheWindowIsRefusedBeforeAnyHttpCall) {
  const std::string body =
      nlohmann::json(
          {{"instance", "wa"}, {"to", "+8801999000000"}, {"message", {{"text", "অফার!"}}}})
          .dump();
  auto r = daemon_.publicRequest("POST", "/api/v1/messages", body, apiAuth());
  ASSERT_EQ(r.status, 202) << r.body;
  const std::string id = r.json()["id"];
  ASSERT_TRUE(daemon_.waitFor(
      [&] {
        auto m = daemon_.publicRequest("GET", "/api/v1/messages/" + id, "", apiAuth());
        return m.status == 200 && m.json()["status"] == "failed";
      },
      kWait));
  auto m = daemon_.publicRequest("GET", "/api/v1/messages/" + id, "", apiAuth());
  EXPECT_EQ(m.json()["deliveries"][0]["dead_reason"], "outside_window");
  EXPECT_TRUE(graphSends().empty());
  EXPECT_EQ(daemon_.metric("sanjog_channel_sends_total", {{"instance", "wa"},
                                                          {"channel", "whatsapp"},
                                                          {"kind", "text"},
                                                          {"result", "outside_window"}}),
            1);

  // A template may go out all the same.
  const std::string tpl =
      nlohmann::json({{"instance", "wa"},
                      {"to", "01999000000"},
                      {"message", {{"template", {{"name", "order_shipped"}, {"language", "bn"}}}}}})
          .dump();
  ASSERT_EQ(daemon_.publicRequest("POST", "/api/v1/messages", tpl, apiAuth()).status, 202);
  ASSERT_TRUE(daemon_.waitFor([&] { return graphSends().size() == 1; }, kWait));
  EXPECT_EQ(nlohmann::json::parse(graphSends()[0].body)["to"], "8801999000000");
}

TEST_F(WhatsAppFlowTest, HandshakeForgeryAndMediaThroughTheApi) {
  auto hs = daemon_.publicRequest(
      "GET",
      "/webhooks/"
      "wa?hub.mode=subscribe&hub.challenge=1704863512&hub.verify_token=sanjog-verify-3f9c2a");
  EXPECT_EQ(hs.status, 200);
  EXPECT_EQ(hs.body, "1704863512");
  const std::string body = inboundText("wamid.F1", "hi");
  auto forged = daemon_.publicRequest("POST", "/webhooks/wa", body,
                                      {{"X-Hub-Signature-256", metaSignature("wrong", body)}});
  EXPECT_EQ(forged.status, 401);
  EXPECT_EQ(daemon_.metric("sanjog_webhook_requests_total",
                           {{"instance", "wa"}, {"result", "unauthenticated"}}),
            1);

  graph_.script({{200, R"({"url":")" + graph_.url("/media/65463453") +
                           R"(","mime_type":"image/jpeg","file_size":8,"id":"65463453"})"},
                 {200, "JPEGDATA", {{"Content-Type", "image/jpeg"}}}});
  EXPECT_EQ(daemon_.publicRequest("GET", "/api/v1/media/wa/65463453").status, 401);
  auto media = daemon_.publicRequest("GET", "/api/v1/media/wa/65463453", "", apiAuth());
  ASSERT_EQ(media.status, 200) << media.body;
  EXPECT_EQ(media.body, "JPEGDATA");
  EXPECT_EQ(media.headers["content-type"], "image/jpeg");
  for (const auto& req : graph_.requests()) {
    EXPECT_EQ(req.header("authorization"), std::string("Bearer ") + kAccessToken);
  }
  graph_.script({{404, R"({"error":{"code":100,"message":"Unsupported get request"}})"}});
  EXPECT_EQ(daemon_.publicRequest("GET", "/api/v1/media/wa/999", "", apiAuth()).status, 404);
  EXPECT_EQ(daemon_.publicRequest("GET", "/api/v1/media/nope/1", "", apiAuth()).status, 404);
  EXPECT_EQ(daemon_.metric("sanjog_media_requests_total", {{"instance", "wa"}, {"result", "ok"}}),
            1);

  // SSRF guard: a media URL (from the provider's answer) that leads to an
  // internal address is refused; only the configured api_base origin may be
  // internal. Here: the daemon's own admin listener and a metadata address.
  for (const std::string& url :
       {"http://127.0.0.1:" + std::to_string(daemon_.adminPort()) + "/metrics",
        std::string("http://169.254.169.254/latest/meta-data/")}) {
    graph_.script({{200, R"({"url":")" + url + R"(","mime_type":"image/jpeg","id":"77"})"}});
    auto blocked = daemon_.publicRequest("GET", "/api/v1/media/wa/77", "", apiAuth());
    EXPECT_NE(blocked.status, 200) << blocked.body;
    EXPECT_EQ(blocked.body.find("sanjog_"), std::string::npos) << "no internal data leaks";
  }
  EXPECT_EQ(daemon_.metric("sanjog_outbound_blocked_total", {{"instance", "wa"}}), 2);
}

}  // namespace
}  // namespace sanjog::testing
