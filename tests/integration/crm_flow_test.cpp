// The real daemon with channel_whatsapp, crm_chatwoot, ecom_shopify and
// ecom_woocommerce against fake Graph API and Chatwoot servers: a WhatsApp
// message appears in Chatwoot and the agent's reply reaches WhatsApp; store
// webhooks are verified, stored once, and forgeries store nothing.
#include "fakes/fake_http_server.h"
#include "integration/daemon.h"
#include "support/fixtures.h"

namespace sanjog::testing {
namespace {

constexpr const char* kAppSecret = "meta_app_secret_example";
constexpr const char* kShopifySecret = "shopify-client-secret-123";
constexpr auto kWait = std::chrono::seconds(10);

class CrmFlowTest : public ::testing::Test {
 protected:
  void SetUp() override {
    graph_.setDefault(
        {200, R"({"messaging_product":"whatsapp","messages":[{"id":"wamid.OUT7"}]})"});
    chatwoot_.script(
        {{200,
          R"({"payload":{"contact":{"id":5,"contact_inboxes":[{"source_id":"src-5","inbox":{"id":2}}]}}})"},
         {200, R"({"id":12})"},
         {200, R"({"id":99})"}});
    chatwoot_.setDefault({200, R"({"id":100})"});
    auto c = daemon_.baseConfig();
    c["instances"] = {{{"id", "wa"},
                       {"plugin", "channel_whatsapp"},
                       {"config",
                        {{"api_base", "http://127.0.0.1:" + std::to_string(graph_.port())},
                         {"phone_number_id", "1122334455667"},
                         {"access_token", "EAAG-integration-token-0123456789"},
                         {"app_secret", kAppSecret},
                         {"verify_token", "sanjog-verify-3f9c2a"}}}},
                      {{"id", "cw"},
                       {"plugin", "crm_chatwoot"},
                       {"config",
                        {{"api_base", "http://127.0.0.1:" + std::to_string(chatwoot_.port())},
                         {"account_id", 1},
                         {"inbox_id", 2},
                         {"api_access_token", "cw-token-123456"}}}},
                      {{"id", "shop"},
                       {"plugin", "ecom_shopify"},
                       {"config", {{"client_secret", kShopifySecret}}}}};
    c["routes"] = {{{"id", "wa-to-chatwoot"},
                    {"from", {{"instance", "wa"}, {"types", {"message.received"}}}},
                    {"to", {{{"instance", "cw"}}}}},
                   {{"id", "orders-to-whatsapp"},
                    {"from", {{"instance", "shop"}, {"types", {"order.created"}}}},
                    {"to",
                     {{{"instance", "wa"},
                       {"message",
                        {{"template",
                          {{"name", "order_confirmed"},
                           {"language", "bn"},
                           {"parameters", {"{{data.customer.name}}", "{{data.number}}"}}}}}}}}}}};
    daemon_.writeConfig(c);
    ASSERT_TRUE(daemon_.start());
  }
  void TearDown() override {
    if (daemon_.running()) {
      EXPECT_EQ(daemon_.stop(SIGTERM), 0);
    }
  }

  FakeHttpServer graph_;
  FakeHttpServer chatwoot_;
  Daemon daemon_;
};

TEST_F(CrmFlowTest, WhatsAppMessageAppearsInChatwootAndTheAgentsReplyReachesWhatsApp) {
  auto body = fixtureJson("whatsapp/inbound_text.json");
  auto& value = body["entry"][0]["changes"][0]["value"];
  value["contacts"][0]["wa_id"] = "8801711000001";
  value["messages"][0]["from"] = "8801711000001";
  value["messages"][0]["timestamp"] = std::to_string(nowSeconds());
  value["messages"][0]["text"]["body"] = "শাড়িটার দাম কত?";
  const std::string wire = body.dump(-1, ' ', true);
  ASSERT_EQ(daemon_
                .publicRequest("POST", "/webhooks/wa", wire,
                               {{"X-Hub-Signature-256", metaSignature(kAppSecret, wire)}})
                .status,
            200);
  ASSERT_TRUE(chatwoot_.waitForRequests(3, kWait));
  const auto reqs = chatwoot_.requests();
  EXPECT_EQ(reqs[0].uri, "/api/v1/accounts/1/contacts");
  EXPECT_EQ(nlohmann::json::parse(reqs[0].body)["phone_number"], "+8801711000001");
  EXPECT_EQ(reqs[1].uri, "/api/v1/accounts/1/conversations");
  EXPECT_EQ(reqs[2].uri, "/api/v1/accounts/1/conversations/12/messages");
  const auto msg = nlohmann::json::parse(reqs[2].body);
  EXPECT_EQ(msg["content"], "শাড়িটার দাম কত?");
  EXPECT_EQ(msg["message_type"], "incoming");
  EXPECT_EQ(reqs[2].header("api_access_token"), "cw-token-123456");

  // The agent answers in Chatwoot; Chatwoot's webhook comes to the cw instance.
  auto reply = fixtureJson("chatwoot/message_created_outgoing_agent.json");
  reply["conversation"]["id"] = 12;
  reply["content"] = "দাম ৳৪,২০০। আজ অর্ডার করলে কাল পৌঁছাবে।";
  ASSERT_EQ(daemon_.publicRequest("POST", "/webhooks/cw", reply.dump()).status, 200);
  ASSERT_TRUE(graph_.waitForRequests(1, kWait));
  const auto sent = nlohmann::json::parse(graph_.requests()[0].body);
  EXPECT_EQ(sent["to"], "8801711000001");
  EXPECT_EQ(sent["text"]["body"], "দাম ৳৪,২০০। আজ অর্ডার করলে কাল পৌঁছাবে।");

  // Chatwoot echoing the incoming message Sanjog created sends nothing anywhere.
  auto echo = reply;
  echo["id"] = 43;
  echo["message_type"] = "incoming";
  ASSERT_EQ(daemon_.publicRequest("POST", "/webhooks/cw", echo.dump()).status, 200);
  EXPECT_FALSE(graph_.waitForRequests(2, std::chrono::milliseconds(500)));
}

TEST_F(CrmFlowTest, ShopifyOrderIsStoredOnceAndAForgeryStoresNothing) {
  auto order = fixtureJson("shopify/orders_create.json");
  order["shipping_address"] = {{"name", "রহিমা খাতুন"}, {"phone", "01711-000001"}, {"city", "ঢাকা"}};
  order["customer"]["phone"] = nullptr;
  order["customer"]["first_name"] = "রহিমা";
  order["customer"]["last_name"] = "খাতুন";
  const std::string body = order.dump();
  auto sign = [](const std::string& secret, const std::string& b) {
    return sdk::crypto::base64Encode(sdk::crypto::hmacSha256(secret, b));
  };
  std::vector<std::pair<std::string, std::string>> headers = {
      {"X-Shopify-Topic", "orders/create"},
      {"X-Shopify-Hmac-Sha256", sign("wrong-secret", body)},
      {"X-Shopify-Webhook-Id", "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"},
      {"X-Shopify-Shop-Domain", "sonali.myshopify.com"}};
  EXPECT_EQ(daemon_.publicRequest("POST", "/webhooks/shop", body, headers).status, 401);
  headers[1].second = sign(kShopifySecret, body);
  EXPECT_EQ(daemon_.publicRequest("POST", "/webhooks/shop", body, headers).status, 200);
  EXPECT_EQ(daemon_.publicRequest("POST", "/webhooks/shop", body, headers).status, 200);
  EXPECT_EQ(daemon_.metric("sanjog_events_published_total",
                           {{"instance", "shop"}, {"type", "order.created"}}),
            1);
  // The route turns the order into a WhatsApp template to the customer's local number, in E.164.
  ASSERT_TRUE(graph_.waitForRequests(1, kWait));
  const auto sent = nlohmann::json::parse(graph_.requests()[0].body);
  EXPECT_EQ(sent["to"], "8801711000001");
  EXPECT_EQ(sent["type"], "template");
  EXPECT_EQ(sent["template"]["name"], "order_confirmed");
  EXPECT_EQ(sent["template"]["components"][0]["parameters"][0]["text"], "রহিমা খাতুন");
  EXPECT_EQ(sent["template"]["components"][0]["parameters"][1]["text"], order["name"]);
  EXPECT_FALSE(graph_.waitForRequests(2, std::chrono::milliseconds(300))) << "sent once";
  EXPECT_EQ(daemon_.metric("sanjog_events_deduplicated_total", {{"instance", "shop"}}), 1);
  EXPECT_EQ(daemon_.metric("sanjog_webhook_requests_total",
                           {{"instance", "shop"}, {"result", "unauthenticated"}}),
            1);
}

// WooCommerce order in, its customer upserted in HubSpot through a route;
// WhatsApp-less, so it also shows upsert_contact serving order events.
TEST(StoreToHubSpot, WooCommerceOrderCustomerIsUpsertedInHubSpot) {
  FakeHttpServer hubspot;
  hubspot.script({{200, R"({"total":0,"results":[]})"}, {201, R"({"id":"601"})"}});
  Daemon daemon;
  constexpr const char* kWooSecret = "wc_secret_example";
  auto c = daemon.baseConfig();
  c["instances"] = {
      {{"id", "woo"}, {"plugin", "ecom_woocommerce"}, {"config", {{"secret", kWooSecret}}}},
      {{"id", "hs"},
       {"plugin", "crm_hubspot"},
       {"config",
        {{"api_base", "http://127.0.0.1:" + std::to_string(hubspot.port())},
         {"access_token", "pat-na1-integration"}}}}};
  c["routes"] = {{{"id", "customers-to-hubspot"},
                  {"from", {{"instance", "woo"}, {"types", {"order.created"}}}},
                  {"to", {{{"instance", "hs"}, {"action", "upsert_contact"}}}}}};
  daemon.writeConfig(c);
  ASSERT_TRUE(daemon.start());
  EXPECT_EQ(daemon.publicRequest("POST", "/webhooks/woo", "webhook_id=12").status,
            200);  // the ping
  auto order = fixtureJson("woocommerce/order_created.json");
  order["status"] = "pending";
  order["billing"]["country"] = "BD";
  order["billing"]["phone"] = "০১৭১১-০০০০০১";  // Bengali digits
  const std::string body = order.dump();
  const std::string sig = sdk::crypto::base64Encode(sdk::crypto::hmacSha256(kWooSecret, body));
  ASSERT_EQ(
      daemon
          .publicRequest("POST", "/webhooks/woo", body,
                         {{"X-WC-Webhook-Topic", "order.created"}, {"X-WC-Webhook-Signature", sig}})
          .status,
      200);
  ASSERT_TRUE(hubspot.waitForRequests(2, std::chrono::seconds(10)));
  const auto reqs = hubspot.requests();
  EXPECT_EQ(reqs[0].uri, "/crm/v3/objects/contacts/search");
  EXPECT_EQ(reqs[1].uri, "/crm/v3/objects/contacts");
  const auto created = nlohmann::json::parse(reqs[1].body);
  EXPECT_EQ(created["properties"]["phone"], "+8801711000001");
  EXPECT_EQ(created["properties"]["email"], "john.doe@example.com");
  EXPECT_EQ(reqs[1].header("authorization"), "Bearer pat-na1-integration");
  EXPECT_EQ(daemon.stop(SIGTERM), 0);
}

}  // namespace
}  // namespace sanjog::testing
