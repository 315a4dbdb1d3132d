// The real daemon with channel_messenger, channel_instagram and
// channel_telegram against fake Meta and Telegram servers on loopback: signed
// (or secret-token) webhooks in, routed to a CRM receiver; replies through
// /api/v1/messages out with the documented bodies; receipts and readiness.
#include "fakes/fake_http_server.h"
#include "integration/daemon.h"
#include "support/fixtures.h"

namespace sanjog::testing {
namespace {

constexpr const char* kMetaSecret = "meta_app_secret_example";
constexpr const char* kPageToken = "EAAG-page-token-integration-0123";
constexpr const char* kBotToken = "7012345678:AAHn3-integration-token_0123456789";
constexpr const char* kTgSecret = "sanjog-telegram-secret-3f9c";
constexpr const char* kPage = "104870412345678";
constexpr const char* kIgAccount = "17841455502468013";
constexpr auto kWait = std::chrono::seconds(10);

int64_t nowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class ChannelsFlowTest : public ::testing::Test {
 protected:
  void SetUp() override {
    meta_.setDefault({200, R"({"recipient_id":"6843215907654321","message_id":"m_out1"})"});
    telegram_.setDefault(
        {200,
         R"({"ok":true,"result":{"message_id":1301,"chat":{"id":5823109476},"date":1,"text":"x"}})"});
    const std::string meta_base = "http://127.0.0.1:" + std::to_string(meta_.port());
    const std::string tg_base = "http://127.0.0.1:" + std::to_string(telegram_.port());
    auto c = daemon_.baseConfig();
    auto metaConfig = [&](const char* id_key, const char* id) {
      return nlohmann::json{{"api_base", meta_base},
                            {id_key, id},
                            {"access_token", kPageToken},
                            {"app_secret", kMetaSecret},
                            {"verify_token", "sanjog-verify-3f9c2a"}};
    };
    c["instances"] = {
        {{"id", "fb"}, {"plugin", "channel_messenger"}, {"config", metaConfig("page_id", kPage)}},
        {{"id", "ig"},
         {"plugin", "channel_instagram"},
         {"config", metaConfig("account_id", kIgAccount)}},
        {{"id", "tg"},
         {"plugin", "channel_telegram"},
         {"config",
          {{"api_base", tg_base}, {"bot_token", kBotToken}, {"secret_token", kTgSecret}}}},
        {{"id", "crm"},
         {"plugin", "crm_webhook"},
         {"config",
          {{"secret", "whsec_dGVzdC1zZWNyZXQtb2YtaW5zdGFuY2UtYg=="}, {"url", crm_.url()}}}}};
    c["routes"] = nlohmann::json::array();
    for (const char* from : {"fb", "ig", "tg"}) {
      c["routes"].push_back({{"id", std::string(from) + "-to-crm"},
                             {"from", {{"instance", from}, {"types", {"message.received"}}}},
                             {"to", {{{"instance", "crm"}}}}});
    }
    daemon_.writeConfig(c);
    ASSERT_TRUE(daemon_.start());
  }
  void TearDown() override {
    if (daemon_.running()) {
      EXPECT_EQ(daemon_.stop(SIGTERM), 0);
    }
  }
  HttpResult postMeta(const std::string& instance, const std::string& body) {
    return daemon_.publicRequest("POST", "/webhooks/" + instance, body,
                                 {{"X-Hub-Signature-256", metaSignature(kMetaSecret, body)}});
  }
  std::vector<std::pair<std::string, std::string>> apiAuth() {
    return {{"Authorization", std::string("Bearer ") + kApiKey}};
  }
  nlohmann::json lastCrmEvent() { return nlohmann::json::parse(crm_.requests().back().body); }
  std::string reply(const std::string& conversation, const std::string& text) {
    auto r = daemon_.publicRequest(
        "POST", "/api/v1/messages",
        nlohmann::json({{"conversation_id", conversation}, {"message", {{"text", text}}}}).dump(),
        apiAuth());
    EXPECT_EQ(r.status, 202) << r.body;
    return r.json().value("id", "");
  }

  FakeHttpServer meta_;
  FakeHttpServer telegram_;
  FakeHttpServer crm_;
  Daemon daemon_;
};

TEST_F(ChannelsFlowTest, MessengerInReplyOutAndDeliveryWatermark) {
  auto in = fixtureJson("messenger/inbound_text.json");
  in["entry"][0]["messaging"][0]["timestamp"] = nowMs();
  ASSERT_EQ(postMeta("fb", in.dump(-1, ' ', true)).status, 200);
  ASSERT_TRUE(crm_.waitForRequests(1, kWait));
  const auto received = lastCrmEvent();
  EXPECT_EQ(received["data"]["message"]["text"], "আমার অর্ডার কবে পৌঁছাবে?");
  const std::string expected_text =
      fixtureJson("messenger/outbound_send_text.request.json")["message"]["text"];
  const std::string id = reply(received["data"]["conversation_id"], expected_text);
  ASSERT_TRUE(meta_.waitForRequests(1, kWait));
  const auto send = meta_.requests()[0];
  EXPECT_EQ(send.uri, std::string("/v21.0/") + kPage + "/messages");
  EXPECT_EQ(send.header("authorization"), std::string("Bearer ") + kPageToken);
  EXPECT_EQ(nlohmann::json::parse(send.body),
            fixtureJson("messenger/outbound_send_text.request.json"));
  // Wait for the delivery result (the mid) to be recorded, then a watermark receipt.
  ASSERT_TRUE(daemon_.waitFor([&] {
    auto m = daemon_.publicRequest("GET", "/api/v1/messages/" + id, "", apiAuth());
    return m.status == 200 && m.json()["status"] == "sent";
  }));
  auto delivery = fixtureJson("messenger/inbound_delivery.json");
  delivery["entry"][0]["messaging"][0]["delivery"] = {{"watermark", nowMs() + 1000}};
  ASSERT_EQ(postMeta("fb", delivery.dump()).status, 200);
  ASSERT_TRUE(daemon_.waitFor([&] {
    auto m = daemon_.publicRequest("GET", "/api/v1/messages/" + id, "", apiAuth());
    return m.status == 200 && m.json()["status"] == "delivered";
  }));
}

TEST_F(ChannelsFlowTest, InstagramEchoesAreNotRoutedButDirectMessagesAre) {
  ASSERT_EQ(postMeta("ig", wireBody("instagram/inbound_dm_echo.json")).status, 200);
  auto dm = fixtureJson("instagram/inbound_dm_text.json");
  dm["entry"][0]["messaging"][0]["timestamp"] = nowMs();
  ASSERT_EQ(postMeta("ig", dm.dump()).status, 200);
  ASSERT_TRUE(crm_.waitForRequests(1, kWait));
  EXPECT_FALSE(crm_.waitForRequests(2, std::chrono::milliseconds(300)));
  const auto received = lastCrmEvent();
  EXPECT_EQ(received["data"]["channel"], "instagram");
  reply(received["data"]["conversation_id"], "জি আপু, আছে");
  ASSERT_TRUE(meta_.waitForRequests(1, kWait));
  EXPECT_EQ(meta_.requests()[0].uri, std::string("/v21.0/") + kIgAccount + "/messages");
  EXPECT_EQ(nlohmann::json::parse(meta_.requests()[0].body)["recipient"]["id"], "1153728264519087");
  EXPECT_EQ(
      daemon_.metric(
          "sanjog_channel_webhook_events_total",
          {{"instance", "ig"}, {"channel", "instagram"}, {"type", "echo"}, {"result", "ignored"}}),
      1);
}

TEST_F(ChannelsFlowTest, TelegramSecretTokenUpdateInReplyOut) {
  const std::string body = readFixture("telegram/update_message_text.json");
  EXPECT_EQ(daemon_.publicRequest("POST", "/webhooks/tg", body).status, 401);
  auto r = daemon_.publicRequest("POST", "/webhooks/tg", body,
                                 {{"X-Telegram-Bot-Api-Secret-Token", kTgSecret}});
  ASSERT_EQ(r.status, 200) << r.body;
  ASSERT_TRUE(crm_.waitForRequests(1, kWait));
  const auto received = lastCrmEvent();
  EXPECT_EQ(received["data"]["message"]["text"],
            fixtureJson("telegram/update_message_text.json")["message"]["text"]);
  const std::string id = reply(received["data"]["conversation_id"], "জি, XL সাইজ আছে।");
  ASSERT_TRUE(telegram_.waitForRequests(1, kWait));
  const auto send = telegram_.requests()[0];
  EXPECT_EQ(send.uri, std::string("/bot") + kBotToken + "/sendMessage");
  EXPECT_EQ(nlohmann::json::parse(send.body),
            nlohmann::json({{"chat_id", 5823109476}, {"text", "জি, XL সাইজ আছে।"}}));
  ASSERT_TRUE(daemon_.waitFor([&] {
    auto m = daemon_.publicRequest("GET", "/api/v1/messages/" + id, "", apiAuth());
    return m.status == 200 && m.json()["status"] == "sent" &&
           m.json()["deliveries"][0]["provider_message_id"] == "5823109476:1301";
  }));
  EXPECT_EQ(daemon_.log().find(kBotToken), std::string::npos) << "the bot token is never logged";
}

TEST_F(ChannelsFlowTest, ARevokedTokenTurnsTheInstanceDegradedInReadyz) {
  auto in = fixtureJson("messenger/inbound_text.json");
  in["entry"][0]["messaging"][0]["timestamp"] = nowMs();
  ASSERT_EQ(postMeta("fb", in.dump()).status, 200);
  ASSERT_TRUE(crm_.waitForRequests(1, kWait));
  meta_.setDefault({401, readFixture("whatsapp/outbound_send.error_190_expired_token.json")});
  const std::string id = reply(lastCrmEvent()["data"]["conversation_id"], "hello");
  ASSERT_TRUE(daemon_.waitFor([&] {
    auto m = daemon_.publicRequest("GET", "/api/v1/messages/" + id, "", apiAuth());
    return m.status == 200 && m.json()["status"] == "failed";
  }));
  auto ready = daemon_.request(daemon_.adminPort(), "GET", "/readyz");
  EXPECT_EQ(ready.status, 200) << "degraded, not down: other instances keep working";
  EXPECT_EQ(ready.json()["checks"]["instances"]["fb"], "degraded");
  EXPECT_EQ(ready.json()["checks"]["instances"]["tg"], "ok");
  EXPECT_EQ(daemon_.metric("sanjog_dead_letters_total",
                           {{"target", "fb"}, {"reason", "unauthenticated"}}),
            1);
  // What the SanjogInstanceTokenExpired alert watches, refreshed on a scrape.
  EXPECT_EQ(daemon_.metric("sanjog_instance_degraded",
                           {{"instance", "fb"}, {"plugin", "channel_messenger"}}),
            1);
  EXPECT_NE(daemon_.metricsText().find(
                "sanjog_instance_degraded{instance=\"tg\",plugin=\"channel_telegram\"} 0"),
            std::string::npos);
  EXPECT_EQ(
      daemon_.metric("sanjog_instance_up", {{"instance", "fb"}, {"plugin", "channel_messenger"}}),
      1);
}

// SMS through Twilio: a signed inbound SMS is routed, the reply goes out as a
// Messages API form with a status callback, and the delivered callback links
// back to the message.
TEST(TwilioFlow, SmsInReplyOutStatusCallbackLinksBack) {
  FakeHttpServer twilio;
  FakeHttpServer crm;
  twilio.setDefault(
      {201,
       R"({"sid":"SM0123456789abcdef0123456789abcdef","status":"queued","num_segments":"1"})"});
  // The shipped vector: inbound_sms.txt signed for this URL with this token.
  const nlohmann::json vector = fixtureJson("twilio/signature_examples.json")["cases"][7];
  const std::string token = vector["auth_token"];
  const std::string public_url = vector["signed_url"];
  Daemon daemon;
  auto c = daemon.baseConfig();
  c["instances"] = {
      {{"id", "sms"},
       {"plugin", "sms_twilio"},
       {"config",
        {{"api_base", "http://127.0.0.1:" + std::to_string(twilio.port())},
         {"account_sid", "ACbe0a5e11e4c6be006090910c972360c9"},
         {"auth_token", token},
         {"from", "+14155550123"},
         {"public_url", public_url}}}},
      {{"id", "crm"},
       {"plugin", "crm_webhook"},
       {"config", {{"secret", "whsec_dGVzdC1zZWNyZXQtb2YtaW5zdGFuY2UtYg=="}, {"url", crm.url()}}}}};
  c["routes"] = {{{"id", "sms-to-crm"},
                  {"from", {{"instance", "sms"}, {"types", {"message.received"}}}},
                  {"to", {{{"instance", "crm"}}}}}};
  daemon.writeConfig(c);
  ASSERT_TRUE(daemon.start());
  const auto api = std::vector<std::pair<std::string, std::string>>{
      {"Authorization", std::string("Bearer ") + kApiKey}};

  EXPECT_EQ(daemon
                .publicRequest("POST", "/webhooks/sms", vector["raw_form_body"].get<std::string>(),
                               {{"X-Twilio-Signature", "forged"}})
                .status,
            401);
  auto in =
      daemon.publicRequest("POST", "/webhooks/sms", vector["raw_form_body"].get<std::string>(),
                           {{"X-Twilio-Signature", vector["signature"].get<std::string>()},
                            {"Content-Type", "application/x-www-form-urlencoded"}});
  ASSERT_EQ(in.status, 200) << in.body;
  ASSERT_TRUE(crm.waitForRequests(1, std::chrono::seconds(10)));
  const auto received = nlohmann::json::parse(crm.requests()[0].body);
  EXPECT_EQ(received["data"]["message"]["text"], "আমার অর্ডার কবে পৌঁছাবে?");

  auto sent =
      daemon.publicRequest("POST", "/api/v1/messages",
                           nlohmann::json({{"conversation_id", received["data"]["conversation_id"]},
                                           {"message", {{"text", "কাল পৌঁছাবে, ধন্যবাদ!"}}}})
                               .dump(),
                           api);
  ASSERT_EQ(sent.status, 202) << sent.body;
  const std::string id = sent.json()["id"];
  ASSERT_TRUE(twilio.waitForRequests(1, std::chrono::seconds(10)));
  const auto req = twilio.requests()[0];
  EXPECT_EQ(req.uri, "/2010-04-01/Accounts/ACbe0a5e11e4c6be006090910c972360c9/Messages.json");
  EXPECT_NE(req.body.find("To=%2B8801711000001"), std::string::npos) << req.body;
  EXPECT_NE(req.body.find(
                "StatusCallback=" +
                std::string("https%3A%2F%2Fgateway.example.com%2Fwebhooks%2Ftwilio-sms%2Fstatus")),
            std::string::npos)
      << req.body;

  // Twilio's delivered callback, signed for public_url + "/status".
  ASSERT_TRUE(daemon.waitFor([&] {
    auto m = daemon.publicRequest("GET", "/api/v1/messages/" + id, "", api);
    return m.status == 200 && m.json()["status"] == "sent";
  }));
  const std::map<std::string, std::string> params = {
      {"AccountSid", "ACbe0a5e11e4c6be006090910c972360c9"},
      {"From", "+14155550123"},
      {"MessageSid", "SM0123456789abcdef0123456789abcdef"},
      {"MessageStatus", "delivered"},
      {"To", "+8801711000001"}};
  std::string signed_data = public_url + "/status", body;
  for (const auto& [k, v] : params) {
    signed_data += k + v;
    body += (body.empty() ? "" : "&") + k + "=" + (v.front() == '+' ? "%2B" + v.substr(1) : v);
  }
  const std::string signature =
      sdk::crypto::base64Encode(sdk::crypto::hmacSha1(token, signed_data));
  ASSERT_EQ(
      daemon
          .publicRequest("POST", "/webhooks/sms/status", body, {{"X-Twilio-Signature", signature}})
          .status,
      200);
  EXPECT_TRUE(daemon.waitFor([&] {
    auto m = daemon.publicRequest("GET", "/api/v1/messages/" + id, "", api);
    return m.status == 200 && m.json()["status"] == "delivered";
  }));
  EXPECT_EQ(daemon.metric("sanjog_sms_segments_total", {{"instance", "sms"}, {"encoding", "ucs2"}}),
            1);
  EXPECT_EQ(daemon.stop(SIGTERM), 0);
}

}  // namespace
}  // namespace sanjog::testing
