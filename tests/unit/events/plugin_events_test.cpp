// Every event the provider plugins produce from the provider fixtures is a
// valid CloudEvent of its documented type (config/events/*.schema.json), so
// routes, the CRM and the docs can rely on the schemas.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "common/cloud_event.h"
#include "hubspot.hpp"
#include "messaging.hpp"
#include "shopify.hpp"
#include "support/event_schema.h"
#include "support/fixtures.h"
#include "telegram.hpp"
#include "twilio.hpp"
#include "whatsapp.hpp"
#include "woocommerce.hpp"

namespace sanjog {
namespace {

std::string validateAs(const nlohmann::json& event) { return testing::validateEvent(event); }

void expectValid(const std::vector<nlohmann::json>& events, const std::string& instance) {
  ASSERT_FALSE(events.empty());
  for (const auto& raw : events) {
    auto event = normalizeEvent(std::string_view(raw.dump()), instance, 1767225600000,
                                "evt_01KAXT9N3R5D2Q8W0ZP6M4B7CJ");
    ASSERT_TRUE(event) << event.status().toString();
    EXPECT_EQ(validateAs(*event), "") << event->dump(2);
  }
}

std::vector<std::string> fixtures(const std::string& dir, const std::string& prefix) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(
           std::filesystem::path(SANJOG_SOURCE_DIR) / "tests" / "fixtures" / dir)) {
    const std::string name = e.path().filename().string();
    if (name.rfind(prefix, 0) == 0 && e.path().extension() == ".json")
      out.push_back(dir + "/" + name);
  }
  return out;
}

TEST(ChannelEvents, WhatsAppFixturesValidate) {
  for (const auto& f : fixtures("whatsapp", "inbound_")) {
    SCOPED_TRACE(f);
    auto doc = testing::fixtureJson(f);
    plugins::channel_whatsapp::Settings s;
    s.phone_number_id = doc["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"];
    auto parsed = plugins::channel_whatsapp::parseWebhook(doc.dump(), s);
    ASSERT_TRUE(parsed);
    expectValid(parsed->events, "wa");
  }
  for (const auto& f : fixtures("whatsapp", "status_")) {
    SCOPED_TRACE(f);
    auto doc = testing::fixtureJson(f);
    plugins::channel_whatsapp::Settings s;
    s.phone_number_id = doc["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"];
    auto parsed = plugins::channel_whatsapp::parseWebhook(doc.dump(), s);
    ASSERT_TRUE(parsed);
    expectValid(parsed->events, "wa");
  }
}

TEST(ChannelEvents, MessengerAndInstagramFixturesValidate) {
  for (const auto& [dir, object, account] :
       {std::tuple{"messenger", "page", "104870412345678"},
        std::tuple{"instagram", "instagram", "17841455502468013"}}) {
    plugins::channel::MessagingSettings s;
    s.channel = dir;
    s.object_name = object;
    s.account_id = account;
    for (const auto& f : fixtures(dir, "inbound_")) {
      SCOPED_TRACE(f);
      auto parsed = plugins::channel::parseMessagingWebhook(testing::readFixture(f), s);
      ASSERT_TRUE(parsed);
      if (f.find("echo") != std::string::npos) {
        EXPECT_TRUE(parsed->events.empty());
        continue;
      }
      expectValid(parsed->events, dir);
    }
  }
}

TEST(ChannelEvents, TelegramFixturesValidate) {
  for (const auto& f : fixtures("telegram", "update_")) {
    SCOPED_TRACE(f);
    auto parsed = plugins::channel_telegram::parseUpdate(testing::readFixture(f), {});
    ASSERT_TRUE(parsed);
    expectValid(parsed->events, "tg");
  }
}

TEST(ChannelEvents, ShopifyFixturesValidate) {
  for (const auto& [file, type] :
       {std::pair{"shopify/orders_create.json", "order.created"},
        std::pair{"shopify/orders_paid_no_customer.json", "order.paid"},
        std::pair{"shopify/orders_fulfilled.json", "order.fulfilled"},
        std::pair{"shopify/orders_create.json", "order.cancelled"},
        std::pair{"shopify/checkouts_create.json", "checkout.updated"}}) {
    SCOPED_TRACE(file);
    auto data = plugins::ecom_shopify::mapResource(type, testing::fixtureJson(file), {}, "shop");
    ASSERT_TRUE(data);
    expectValid({nlohmann::json{{"type", type}, {"providerid", "shopify:1"}, {"data", *data}}},
                "shop");
  }
}

TEST(ChannelEvents, TwilioFixturesValidate) {
  plugins::sms_twilio::Settings s;
  for (const char* f :
       {"twilio/inbound_sms.txt", "twilio/inbound_mms.txt", "twilio/status_callback_delivered.txt",
        "twilio/status_callback_read.txt", "twilio/status_callback_failed_21610.txt"}) {
    SCOPED_TRACE(f);
    auto events =
        plugins::sms_twilio::mapRequest(plugins::sms_twilio::parseForm(testing::readFixture(f)), s);
    ASSERT_TRUE(events);
    expectValid(*events, "sms");
  }
}

TEST(ChannelEvents, WooCommerceOrdersValidate) {
  auto order = testing::fixtureJson("woocommerce/order_created.json");
  for (const char* status : {"pending", "processing", "completed", "refunded"}) {
    SCOPED_TRACE(status);
    order["status"] = status;
    auto events = plugins::ecom_woocommerce::mapOrder(order, "order.created", {}, "https://shop/");
    ASSERT_TRUE(events);
    expectValid(*events, "woo");
  }
}

TEST(ChannelEvents, HubSpotContactChangesValidate) {
  auto batch = nlohmann::json::parse(testing::readFixture("hubspot/webhook_events.json"));
  batch.push_back({{"eventId", 2},
                   {"subscriptionType", "contact.propertyChange"},
                   {"objectId", 123},
                   {"propertyName", "phone"},
                   {"propertyValue", "+8801711000001"}});
  expectValid(plugins::crm_hubspot::mapWebhookEvents(batch), "hubspot");
}

}  // namespace
}  // namespace sanjog
