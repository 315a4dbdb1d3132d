// Automations through the real sanjogd and plugins: a fake Graph API
// (WhatsApp) and a fake Twilio on loopback; timers shortened by config.
#include <gtest/gtest.h>

#include <csignal>

#include "fakes/fake_http_server.h"
#include "integration/daemon.h"
#include "sanjog/sdk/crypto.hpp"
#include "support/fixtures.h"

namespace sanjog::testing {
namespace {

constexpr const char* kAppSecret = "meta_app_secret_example";
constexpr const char* kShopifySecret = "shopify-client-secret-123";
constexpr const char* kCrmSecret = "whsec_dGVzdC1zZWNyZXQtb2YtaW5zdGFuY2UtYQ==";
constexpr const char* kPhone = "+8801711000001";
constexpr auto kWait = std::chrono::seconds(15);

std::string conversationOf(const std::string& instance, const std::string& address) {
  return "conv_" + sdk::crypto::hex(sdk::crypto::sha256(instance + '\n' + address)).substr(0, 24);
}

class AutomationFlow : public ::testing::Test {
 protected:
  void SetUp() override {
    graph_.setDefault(
        {200, R"({"messaging_product":"whatsapp","messages":[{"id":"wamid.OUT1"}]})"});
    twilio_.setDefault({201, R"({"sid":"SM0123456789abcdef0123456789abcdef","status":"queued"})"});
  }
  void TearDown() override {
    if (daemon_.running()) {
      EXPECT_EQ(daemon_.stop(SIGTERM), 0);
    }
  }

  nlohmann::json config(const std::string& cart_delay = "1s") {
    auto c = daemon_.baseConfig();
    c["instances"] = {
        {{"id", "shop"},
         {"plugin", "ecom_shopify"},
         {"config", {{"client_secret", kShopifySecret}}}},
        {{"id", "wa"},
         {"plugin", "channel_whatsapp"},
         {"config",
          {{"api_base", "http://127.0.0.1:" + std::to_string(graph_.port())},
           {"phone_number_id", "1122334455667"},
           {"access_token", "EAAG-integration-token-0123456789"},
           {"app_secret", kAppSecret},
           {"verify_token", "sanjog-verify-3f9c2a"}}}},
        {{"id", "sms"},
         {"plugin", "sms_twilio"},
         {"config",
          {{"api_base", "http://127.0.0.1:" + std::to_string(twilio_.port())},
           {"account_sid", "ACbe0a5e11e4c6be006090910c972360c9"},
           {"auth_token", "0123456789abcdef0123456789abcdef"},
           {"from", "+14155550123"},
           {"public_url", "https://gw.example.com/webhooks/sms"}}}},
        {{"id", "crm"}, {"plugin", "crm_webhook"}, {"config", {{"secret", kCrmSecret}}}}};
    c["automations"] = nlohmann::json::parse(R"J([
      {"id": "orders", "type": "order_notifications", "channel": "wa", "fallback": ["sms"],
       "events": {"order.created": {
         "template": {"name": "order_confirmed", "language": "bn",
                      "parameters": ["{{data.customer.name}}", "{{data.number}}"]},
         "sms": "{{data.customer.name}}, আপনার অর্ডার {{data.number}} আমরা পেয়েছি।"}}},
      {"id": "carts", "type": "cart_recovery", "channel": "wa",
       "message": {"template": {"name": "cart_reminder", "language": "bn",
                                "parameters": ["{{data.customer.name}}", "{{data.recovery_url}}"]}}},
      {"id": "bot", "type": "keyword_bot",
       "rules": [{"keywords": ["দাম", "price"], "reply": {"text": "দাম ৳৪,২০০"}}],
       "handoff": {"keywords": ["মানুষ", "agent"], "reply": {"text": "একজন এজেন্ট শীঘ্রই লিখবেন"}}},
      {"id": "csat", "type": "csat_survey", "delay": "1s"}
    ])J");
    c["automations"][1]["delays"] = {cart_delay};
    return c;
  }
  void start(const std::string& cart_delay = "1s") {
    daemon_.writeConfig(config(cart_delay));
    ASSERT_TRUE(daemon_.start());
  }

  int postShopify(const std::string& topic, const nlohmann::json& body, const std::string& id) {
    const std::string wire = body.dump();
    return daemon_
        .publicRequest("POST", "/webhooks/shop", wire,
                       {{"X-Shopify-Topic", topic},
                        {"X-Shopify-Hmac-Sha256",
                         sdk::crypto::base64Encode(sdk::crypto::hmacSha256(kShopifySecret, wire))},
                        {"X-Shopify-Webhook-Id", id},
                        {"X-Shopify-Shop-Domain", "sonali.myshopify.com"}})
        .status;
  }
  static nlohmann::json order(const std::string& checkout_token = "") {
    auto o = fixtureJson("shopify/orders_create.json");
    o["customer"]["phone"] = "01711-000001";
    o["customer"]["first_name"] = "রহিমা";
    o["customer"]["last_name"] = "খাতুন";
    if (!checkout_token.empty()) o["checkout_token"] = checkout_token;
    return o;
  }
  static nlohmann::json checkout(const std::string& token) {
    auto c = fixtureJson("shopify/checkouts_create.json");
    c["token"] = token;
    c["customer"]["phone"] = "01711-000001";
    c["abandoned_checkout_url"] = "https://sonali.example/r/" + token;
    return c;
  }
  int customerWrites(const std::string& text, const std::string& id) {
    auto body = fixtureJson("whatsapp/inbound_text.json");
    auto& value = body["entry"][0]["changes"][0]["value"];
    value["contacts"][0]["wa_id"] = "8801711000001";
    value["messages"][0]["from"] = "8801711000001";
    value["messages"][0]["id"] = id;
    value["messages"][0]["timestamp"] = std::to_string(nowSeconds());
    value["messages"][0]["text"]["body"] = text;
    const std::string wire = body.dump(-1, ' ', true);
    return daemon_
        .publicRequest("POST", "/webhooks/wa", wire,
                       {{"X-Hub-Signature-256", metaSignature(kAppSecret, wire)}})
        .status;
  }
  std::vector<nlohmann::json> graphBodies() const {
    std::vector<nlohmann::json> out;
    for (const auto& r : graph_.requests()) out.push_back(nlohmann::json::parse(r.body));
    return out;
  }
  double action(const std::string& automation, const std::string& result) const {
    return daemon_.metric("sanjog_automation_actions_total",
                          {{"automation", automation}, {"result", result}});
  }

  FakeHttpServer graph_;
  FakeHttpServer twilio_;
  Daemon daemon_;
};

TEST_F(AutomationFlow, OrderYieldsOneTemplateAndAnSmsWhenTheTemplateFailsForGood) {
  graph_.setDefault({400, readFixture("whatsapp/outbound_send.error_131009_param_invalid.json")});
  start();
  ASSERT_EQ(postShopify("orders/create", order(), "wh-1"), 200);
  ASSERT_EQ(postShopify("orders/create", order(), "wh-1"), 200);  // the same webhook again
  ASSERT_EQ(postShopify("orders/create", order(), "wh-2"), 200);  // re-sent with a new id
  ASSERT_TRUE(twilio_.waitForRequests(1, kWait));
  const auto graph = graphBodies();
  ASSERT_EQ(graph.size(), 1u);
  EXPECT_EQ(graph[0]["to"], "8801711000001");
  EXPECT_EQ(graph[0]["type"], "template");
  EXPECT_EQ(graph[0]["template"]["name"], "order_confirmed");
  const auto sms = twilio_.requests()[0];
  EXPECT_NE(sms.body.find("To=%2B8801711000001"), std::string::npos) << sms.body;
  EXPECT_NE(sms.body.find("Body="), std::string::npos);
  EXPECT_TRUE(daemon_.waitFor([&] { return action("fallback", "sent") == 1; }));
  EXPECT_EQ(action("orders", "sent"), 1);
  EXPECT_EQ(twilio_.requests().size(), 1u);
}

TEST_F(AutomationFlow, ACheckoutFollowedByAnOrderIsNotReminded) {
  start();
  ASSERT_EQ(postShopify("checkouts/create", checkout("tok-bought"), "c-2"), 200);
  ASSERT_EQ(postShopify("orders/create", order("tok-bought"), "o-1"), 200);
  // The order's commit cancelled the reminder: it can no longer fire.
  EXPECT_EQ(daemon_.metric("sanjog_timers_total", {{"result", "scheduled"}}), 1);
  EXPECT_EQ(daemon_.metric("sanjog_timers_total", {{"result", "cancelled"}}), 1);
  ASSERT_TRUE(graph_.waitForRequests(1, kWait));  // the order confirmation
  ASSERT_TRUE(daemon_.waitFor([&] { return daemon_.metric("sanjog_timers_pending", {}) == 0; }));
  EXPECT_EQ(daemon_.metric("sanjog_timers_total", {{"result", "fired"}}), 0);
  const auto graph = graphBodies();
  ASSERT_EQ(graph.size(), 1u);
  EXPECT_EQ(graph[0]["type"], "template");
}

TEST_F(AutomationFlow, ACheckoutAloneGetsItsReminderWithTheRecoveryLink) {
  start();
  ASSERT_EQ(postShopify("checkouts/create", checkout("tok-lonely"), "c-1"), 200);
  ASSERT_TRUE(graph_.waitForRequests(1, kWait)) << daemon_.log() << daemon_.metricsText();
  const auto sent = graphBodies()[0];
  EXPECT_EQ(sent["to"], "8801711000001");
  EXPECT_EQ(sent["template"]["name"], "cart_reminder");
  EXPECT_EQ(sent["template"]["components"][0]["parameters"][1]["text"],
            "https://sonali.example/r/tok-lonely");
  EXPECT_TRUE(daemon_.waitFor([&] {
    return daemon_.metric("sanjog_events_published_total",
                          {{"instance", "carts"}, {"type", "checkout.abandoned"}}) == 1;
  }));
}

TEST_F(AutomationFlow, PendingTimersFireExactlyOnceAfterKillDashNine) {
  start("2s");
  for (int i = 0; i < 5; ++i) {
    auto c = checkout("tok-" + std::to_string(i));
    c["customer"]["phone"] = "0171100000" + std::to_string(i + 2);
    ASSERT_EQ(postShopify("checkouts/create", c, "c-" + std::to_string(i)), 200);
  }
  ASSERT_EQ(daemon_.stop(SIGKILL), 128 + SIGKILL);
  ASSERT_TRUE(daemon_.start());
  ASSERT_TRUE(graph_.waitForRequests(5, kWait));
  ASSERT_TRUE(daemon_.waitFor([&] { return daemon_.metric("sanjog_timers_pending", {}) == 0; }));
  EXPECT_EQ(daemon_.metric("sanjog_timers_total", {{"result", "fired"}}), 5);
  // Deliveries are at least once: wait until their results are stored, so
  // that any further request could only come from a timer firing twice.
  ASSERT_TRUE(daemon_.waitFor([&] {
    return daemon_.metric("sanjog_deliveries_total", {{"target", "wa"}, {"result", "success"}}) ==
           5;
  }));
  // Kill again after they fired: nothing fires twice on the next start.
  ASSERT_EQ(daemon_.stop(SIGKILL), 128 + SIGKILL);
  ASSERT_TRUE(daemon_.start());
  ASSERT_TRUE(daemon_.waitFor([&] { return daemon_.metric("sanjog_timers_pending", {}) == 0; }));
  EXPECT_EQ(daemon_.metric("sanjog_timers_total", {{"result", "fired"}}), 0);
  std::set<std::string> to;
  for (const auto& b : graphBodies()) to.insert(b["to"].get<std::string>());
  EXPECT_EQ(graph_.requests().size(), 5u);
  EXPECT_EQ(to.size(), 5u);
}

TEST_F(AutomationFlow, BengaliKeywordIsAnsweredAndHandOffStopsTheBot) {
  start();
  ASSERT_EQ(customerWrites("শাড়িটার দাম কত?", "wamid.k1"), 200);
  ASSERT_TRUE(graph_.waitForRequests(1, kWait));
  EXPECT_EQ(graphBodies()[0]["text"]["body"], "দাম ৳৪,২০০");
  ASSERT_EQ(customerWrites("আমি একজন মানুষের সাথে কথা বলতে চাই", "wamid.k2"), 200);
  ASSERT_TRUE(graph_.waitForRequests(2, kWait));
  EXPECT_EQ(graphBodies()[1]["text"]["body"], "একজন এজেন্ট শীঘ্রই লিখবেন");
  EXPECT_EQ(daemon_.metric("sanjog_events_published_total",
                           {{"instance", "bot"}, {"type", "conversation.handoff"}}),
            1);
  ASSERT_EQ(customerWrites("দাম?", "wamid.k3"), 200);
  EXPECT_TRUE(daemon_.waitFor([&] { return action("bot", "silent_handoff") == 1; }));
  // The result is counted once its commit is done, just after the provider
  // saw the request: wait for it.
  EXPECT_TRUE(daemon_.waitFor([&] {
    return daemon_.metric("sanjog_deliveries_total", {{"target", "wa"}, {"result", "success"}}) ==
           2;
  }));
  EXPECT_EQ(graph_.requests().size(), 2u);
}

TEST_F(AutomationFlow, CsatReplyIsRecordedAndCounted) {
  start();
  ASSERT_EQ(customerWrites("অর্ডারটা কবে পাব?", "wamid.c1"), 200);
  const nlohmann::json resolved = {{"type", "conversation.resolved"},
                                   {"id", "res-1"},
                                   {"data", {{"conversation_id", conversationOf("wa", kPhone)}}}};
  ASSERT_EQ(daemon_.postSigned("crm", kCrmSecret, "res-1", resolved.dump()).status, 202);
  ASSERT_TRUE(graph_.waitForRequests(1, kWait));
  const auto ask = graphBodies()[0];
  EXPECT_EQ(ask["type"], "interactive");
  EXPECT_EQ(ask["interactive"]["type"], "list");
  ASSERT_EQ(customerWrites("৫", "wamid.c2"), 200);
  EXPECT_TRUE(daemon_.waitFor([&] {
    return daemon_.metric("sanjog_csat_responses_total",
                          {{"channel", "whatsapp"}, {"score", "5"}}) == 1;
  }));
  EXPECT_EQ(daemon_.metric("sanjog_events_published_total",
                           {{"instance", "csat"}, {"type", "csat.response"}}),
            1);
  EXPECT_EQ(daemon_.metric("sanjog_resolution_seconds_count", {{"channel", "whatsapp"}}), 1);
}

}  // namespace
}  // namespace sanjog::testing
