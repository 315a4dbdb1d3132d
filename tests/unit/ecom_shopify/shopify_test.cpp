#include <gtest/gtest.h>

#include "sanjog/sdk/testing/fake_host.hpp"
#include "shopify.hpp"
#include "support/fixtures.h"

extern "C" const sanjog_plugin_descriptor* sanjog_plugin_entry(uint32_t, uint32_t);

namespace sanjog::plugins::ecom_shopify {
namespace {

using nlohmann::json;
using sanjog::testing::fixtureJson;
using sdk::testing::FakeHost;

constexpr const char* kSecret = "test_secret_key";

std::string sign(const std::string& body, const std::string& secret = kSecret) {
  return sdk::crypto::base64Encode(sdk::crypto::hmacSha256(secret, body));
}

class ShopifyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(
        host_.create("shop", {{"client_secret", kSecret}, {"shop_domain", "shop1.myshopify.io"}}));
  }
  FakeHost::WebhookResult post(const std::string& topic, const std::string& body,
                               const std::string& id = "123456789") {
    return host_.webhook("POST", body,
                         {{"X-Shopify-Topic", topic},
                          {"X-Shopify-Hmac-Sha256", sign(body)},
                          {"X-Shopify-Shop-Domain", "shop1.myshopify.io"},
                          {"X-Shopify-API-Version", "2025-07"},
                          {"X-Shopify-Webhook-Id", id}});
  }
  FakeHost host_{sanjog_plugin_entry(SANJOG_ABI_MAJOR, SANJOG_ABI_MINOR)};
};

TEST(ShopifySignature, TheShippedVectorVerifies) {
  const json v = fixtureJson("shopify/signature_example.json");
  EXPECT_EQ(sign(v["raw_body"], v["client_secret"]), v["x_shopify_hmac_sha256"]);
}

TEST_F(ShopifyTest, ForgedMissingAndOtherShopAreRefusedWithNothingEmitted) {
  const std::string body = fixtureJson("shopify/orders_create.json").dump();
  auto forged = host_.webhook("POST", body,
                              {{"X-Shopify-Topic", "orders/create"},
                               {"X-Shopify-Hmac-Sha256", sign(body, "another-secret")},
                               {"X-Shopify-Webhook-Id", "1"}});
  EXPECT_EQ(forged.status, 401);
  EXPECT_TRUE(forged.events.empty());
  EXPECT_EQ(host_.webhook("POST", body, {{"X-Shopify-Topic", "orders/create"}}).status, 401);
  auto other = host_.webhook("POST", body,
                             {{"X-Shopify-Topic", "orders/create"},
                              {"X-Shopify-Hmac-Sha256", sign(body)},
                              {"X-Shopify-Shop-Domain", "evil.myshopify.com"},
                              {"X-Shopify-Webhook-Id", "1"}});
  EXPECT_EQ(other.status, 403);
  EXPECT_TRUE(other.events.empty());
  EXPECT_EQ(host_.metric("sanjog_shopify_signature_failures_total", {"mismatch"}), 1);
  EXPECT_EQ(host_.metric("sanjog_shopify_signature_failures_total", {"missing"}), 1);
  EXPECT_EQ(host_.metric("sanjog_shopify_signature_failures_total", {"other_shop"}), 1);
}

TEST_F(ShopifyTest, OrderCreatedFixture) {
  const json order = fixtureJson("shopify/orders_create.json");
  auto r = post("orders/create", order.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  ASSERT_EQ(r.events.size(), 1u);
  const json& e = r.events[0];
  EXPECT_EQ(e["type"], "order.created");
  EXPECT_EQ(e["providerid"], "shopify:123456789");
  const json& d = e["data"];
  EXPECT_EQ(d["order_id"], std::to_string(order["id"].get<int64_t>()));
  EXPECT_EQ(d["number"], order["name"]);
  EXPECT_EQ(d["currency"], order["currency"]);
  EXPECT_EQ(d["total"], order["total_price"]);
  EXPECT_EQ(d["line_items"].size(), order["line_items"].size());
  EXPECT_EQ(d["line_items"][0]["name"], order["line_items"][0]["title"]);
  EXPECT_EQ(d["store"], "shop1.myshopify.io");
}

TEST_F(ShopifyTest, FulfilledPaidCancelledAndCheckout) {
  json fulfilled = fixtureJson("shopify/orders_fulfilled.json");
  fulfilled["fulfillments"][0]["tracking_number"] = "SA-1042-BD";
  fulfilled["fulfillments"][0]["tracking_company"] = "Sundarban Courier";
  fulfilled["fulfillments"][0]["tracking_urls"] = {"https://track.example/SA-1042-BD"};
  auto f = post("orders/fulfilled", fulfilled.dump(), "2").events.at(0);
  EXPECT_EQ(f["type"], "order.fulfilled");
  EXPECT_EQ(f["data"]["tracking"], json({{"number", "SA-1042-BD"},
                                         {"company", "Sundarban Courier"},
                                         {"url", "https://track.example/SA-1042-BD"}}));
  EXPECT_EQ(f["subject"], "order_" + std::to_string(fulfilled["id"].get<int64_t>()));

  auto paid = post("orders/paid", fixtureJson("shopify/orders_paid_no_customer.json").dump(), "3");
  ASSERT_EQ(paid.status, 200) << paid.body;
  EXPECT_EQ(paid.events.at(0)["type"], "order.paid");
  EXPECT_FALSE(paid.events[0]["data"].contains("customer") &&
               paid.events[0]["data"]["customer"].contains("phone"));

  json cancelled = fixtureJson("shopify/orders_create.json");
  cancelled["cancel_reason"] = "customer";
  auto c = post("orders/cancelled", cancelled.dump(), "4").events.at(0);
  EXPECT_EQ(c["type"], "order.cancelled");
  EXPECT_EQ(c["data"]["reason"], "customer");

  const json checkout = fixtureJson("shopify/checkouts_create.json");
  auto k = post("checkouts/create", checkout.dump(), "5").events.at(0);
  EXPECT_EQ(k["type"], "checkout.updated");
  EXPECT_EQ(k["data"]["checkout_id"], checkout["token"]);
  EXPECT_EQ(k["data"]["recovery_url"], checkout["abandoned_checkout_url"]);
  EXPECT_EQ(k["data"]["customer"]["email"], "bob.norman@mail.example.com");
}

TEST_F(ShopifyTest, BengaliOrderWithALocalPhoneBecomesE164FromTheShippingAddress) {
  json order = fixtureJson("shopify/orders_create.json");
  order["customer"]["phone"] = nullptr;
  order["customer"]["first_name"] = "রহিমা";
  order["customer"]["last_name"] = "খাতুন";
  order["phone"] = nullptr;
  order["shipping_address"] = {{"first_name", "রহিমা"},        {"last_name", "খাতুন"},
                               {"address1", "বাড়ি ১২, রোড ৫"}, {"city", "ঢাকা"},
                               {"country_code", "BD"},         {"phone", "01711-000001"}};
  order["line_items"][0]["title"] = "জামদানি শাড়ি";
  order["currency"] = "BDT";
  auto e = post("orders/create", order.dump()).events.at(0);
  EXPECT_EQ(e["data"]["customer"]["phone"], "+8801711000001");
  EXPECT_EQ(e["data"]["customer"]["name"], "রহিমা খাতুন");
  EXPECT_EQ(e["data"]["shipping_address"]["city"], "ঢাকা");
  EXPECT_EQ(e["data"]["line_items"][0]["name"], "জামদানি শাড়ি");
}

TEST_F(ShopifyTest, OtherTopicsAreAcknowledgedAndMalformedBodiesAre400) {
  auto other = post("products/create", R"({"id":1})");
  EXPECT_EQ(other.status, 200);
  EXPECT_TRUE(other.events.empty());
  EXPECT_EQ(host_.metric("sanjog_shopify_webhooks_total", {"other", "ignored"}), 1);
  EXPECT_EQ(post("orders/create", "{not json").status, 400);
  EXPECT_EQ(post("orders/create", R"({"name":"#1"})").status, 400);
  const std::string body = R"({"id":1})";
  EXPECT_EQ(host_
                .webhook("POST", body,
                         {{"X-Shopify-Hmac-Sha256", sign(body)},
                          {"X-Shopify-Shop-Domain", "shop1.myshopify.io"}})
                .status,
            400);  // no topic, no webhook id
}

}  // namespace
}  // namespace sanjog::plugins::ecom_shopify
