#include <gtest/gtest.h>

#include "sanjog/sdk/testing/fake_host.hpp"
#include "support/fixtures.h"
#include "woocommerce.hpp"

extern "C" const sanjog_plugin_descriptor* sanjog_plugin_entry(uint32_t, uint32_t);

namespace sanjog::plugins::ecom_woocommerce {
namespace {

using nlohmann::json;
using sanjog::testing::fixtureJson;
using sanjog::testing::readFixture;
using sdk::testing::FakeHost;

constexpr const char* kSecret = "wc_secret_example";

std::string sign(const std::string& body, const std::string& secret = kSecret) {
  return sdk::crypto::base64Encode(sdk::crypto::hmacSha256(secret, body));
}

class WooCommerceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(
        host_.create("woo", {{"secret", kSecret}, {"source_url", "https://shop.example.com/"}}));
  }
  FakeHost::WebhookResult post(const std::string& topic, const std::string& body) {
    return host_.webhook("POST", body,
                         {{"X-WC-Webhook-Topic", topic},
                          {"X-WC-Webhook-Source", "https://shop.example.com/"},
                          {"X-WC-Webhook-Signature", sign(body)},
                          {"X-WC-Webhook-Delivery-ID", "d41d8cd98f00b204e9800998ecf8427e"}});
  }
  FakeHost host_{sanjog_plugin_entry(SANJOG_ABI_MAJOR, SANJOG_ABI_MINOR)};
};

TEST(WooCommerceSignature, TheShippedVectorVerifiesAndSecretsAreEntityDecoded) {
  const json v = fixtureJson("woocommerce/signature_example.json");
  EXPECT_EQ(sign(v["raw_body"], v["secret"]), v["x_wc_webhook_signature"]);
  EXPECT_EQ(decodeEntities("a&amp;b&lt;c&gt;&quot;d&#039;"), "a&b<c>\"d'");
  auto s = parseSettings({{"secret", "p&amp;ss&lt;word"}});
  ASSERT_TRUE(s);
  EXPECT_EQ(s->secret, "p&ss<word");
}

TEST_F(WooCommerceTest, UnsignedPingIsAnsweredAndStoresNothing) {
  auto r = host_.webhook("POST", readFixture("woocommerce/ping.txt"), {});
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(r.events.empty());
  auto unsigned_order = host_.webhook("POST", readFixture("woocommerce/order_created.json"), {});
  EXPECT_EQ(unsigned_order.status, 401);
  EXPECT_TRUE(unsigned_order.events.empty());
}

TEST_F(WooCommerceTest, ForgedAndOtherShopsAreRefused) {
  const std::string body = readFixture("woocommerce/order_created.json");
  auto forged = host_.webhook("POST", body,
                              {{"X-WC-Webhook-Topic", "order.created"},
                               {"X-WC-Webhook-Signature", sign(body, "not-the-secret")}});
  EXPECT_EQ(forged.status, 401);
  auto other = host_.webhook("POST", body,
                             {{"X-WC-Webhook-Topic", "order.created"},
                              {"X-WC-Webhook-Source", "https://evil.example/"},
                              {"X-WC-Webhook-Signature", sign(body)}});
  EXPECT_EQ(other.status, 403);
  EXPECT_EQ(host_.metric("sanjog_woocommerce_signature_failures_total", {"mismatch"}), 1);
  EXPECT_EQ(host_.metric("sanjog_woocommerce_signature_failures_total", {"other_source"}), 1);
}

TEST_F(WooCommerceTest, CreatedProcessingOrderIsCreatedAndPaidOnce) {
  const json order = fixtureJson("woocommerce/order_created.json");
  auto r = post("order.created", order.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  ASSERT_EQ(r.events.size(), 2u);
  EXPECT_EQ(r.events[0]["type"], "order.created");
  EXPECT_EQ(r.events[0]["providerid"], "woocommerce:727:order.created");
  EXPECT_EQ(r.events[1]["type"], "order.paid");
  EXPECT_EQ(r.events[1]["providerid"], "woocommerce:727:order.paid");
  const json& d = r.events[0]["data"];
  EXPECT_EQ(d["order_id"], "727");
  EXPECT_EQ(d["number"], "727");
  EXPECT_EQ(d["total"], "29.35");
  EXPECT_EQ(d["customer"]["name"], "John Doe");
  EXPECT_EQ(d["customer"]["phone"], "+15555555555");  // US billing country, not BD
  EXPECT_EQ(d["line_items"][0], json({{"name", "Woo Single #1"}, {"quantity", 2}, {"price", "3"}}));
  EXPECT_EQ(d["store"], "https://shop.example.com/");
  // An update with the same status maps to the same provider ids: stored once by the host.
  auto again = post("order.updated", order.dump());
  ASSERT_EQ(again.events.size(), 1u);
  EXPECT_EQ(again.events[0]["providerid"], "woocommerce:727:order.paid");
}

TEST_F(WooCommerceTest, StatusesMapToTheirEvents) {
  json order = fixtureJson("woocommerce/order_created.json");
  order["billing"]["country"] = "BD";
  order["billing"]["phone"] = "01711-000001";
  order["billing"]["first_name"] = "রহিমা";
  order["billing"]["last_name"] = "খাতুন";
  order["status"] = "completed";
  order["meta_data"] = {{{"key", "_wc_shipment_tracking_items"},
                         {"value",
                          {{{"tracking_provider", "Pathao"},
                            {"tracking_number", "PT-1042"},
                            {"custom_tracking_link", "https://track.example/PT-1042"}}}}}};
  auto done = post("order.updated", order.dump()).events.at(0);
  EXPECT_EQ(done["type"], "order.fulfilled");
  EXPECT_EQ(done["data"]["tracking"], json({{"number", "PT-1042"},
                                            {"company", "Pathao"},
                                            {"url", "https://track.example/PT-1042"}}));
  EXPECT_EQ(done["data"]["customer"]["phone"], "+8801711000001");
  EXPECT_EQ(done["data"]["customer"]["name"], "রহিমা খাতুন");
  order["status"] = "refunded";
  auto refunded = post("order.updated", order.dump()).events.at(0);
  EXPECT_EQ(refunded["type"], "order.cancelled");
  EXPECT_EQ(refunded["data"]["reason"], "refunded");
  order["status"] = "checkout-draft";
  auto draft = post("order.updated", order.dump());
  EXPECT_EQ(draft.status, 200);
  EXPECT_TRUE(draft.events.empty());
  order["status"] = "pending";
  auto created = post("order.created", order.dump());
  ASSERT_EQ(created.events.size(), 1u);  // order.created once, not twice
}

TEST_F(WooCommerceTest, OtherTopicsAndMalformedBodies) {
  EXPECT_TRUE(post("product.created", R"({"id":1})").events.empty());
  EXPECT_EQ(post("order.created", "{").status, 400);
  EXPECT_EQ(post("order.created", R"({"status":"pending"})").status, 400);
}

}  // namespace
}  // namespace sanjog::plugins::ecom_woocommerce
