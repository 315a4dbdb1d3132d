// Every automation rule through the real gateway (routing, registry, the
// SQLite bus, the real plugins' schemas) on a fake clock. Events are injected
// as if a plugin had emitted them; deliveries are inspected in storage, not
// attempted (no provider is reachable here).
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
#include <filesystem>
#include <random>

#include "app/gateway.h"
#include "automation/engine.h"
#include "bus/embedded_bus.h"
#include "config/config_loader.h"
#include "metrics/metrics.h"
#include "plugin_host/http_client.h"
#include "plugin_host/plugin_library.h"
#include "support/event_schema.h"

namespace sanjog {
namespace {

using nlohmann::json;

constexpr int64_t kMin = 60'000;
constexpr int64_t kHour = 60 * kMin;
// 2026-12-02 (Wednesday) 12:00 in Dhaka (06:00 UTC).
constexpr int64_t kWedNoon = 1'796'184'000'000 + 2 * kHour;
constexpr const char* kPhone = "+8801711000001";

const plugin_host::PluginRegistry& registry() {
  static const auto reg = plugin_host::PluginRegistry::loadDirectory(SANJOG_PLUGIN_BUILD_DIR);
  return reg;
}

std::string configText(const json& automations) {
  json cfg = {
      {"version", 1},
      {"storage", {{"path", "unused.db"}}},
      {"instances",
       {{{"id", "shop"},
         {"plugin", "ecom_shopify"},
         {"config",
          {{"client_secret", "shpss_test_secret_0001"}, {"shop_domain", "x.myshopify.com"}}}},
        {{"id", "wa"},
         {"plugin", "channel_whatsapp"},
         {"config",
          {{"phone_number_id", "109876543210987"},
           {"access_token", "EAAtesttoken0001EAAtesttoken0001"},
           {"app_secret", "meta_app_secret_0001meta_app_secret_0001"},
           {"verify_token", "verify_token_0001"}}}},
        {{"id", "sms"},
         {"plugin", "sms_twilio"},
         {"config",
          {{"account_sid", "AC00000000000000000000000000000000"},
           {"auth_token", "0123456789abcdef0123456789abcdef"},
           {"from", "+14155550123"},
           {"public_url", "https://gw.example.com/webhooks/sms"}}}},
        {{"id", "desk"},
         {"plugin", "crm_chatwoot"},
         {"config",
          {{"account_id", 1},
           {"inbox_id", 2},
           {"api_access_token", "chatwoot_token_0001chatwoot"}}}}}},
      {"automations", automations}};
  return cfg.dump();
}

json standardAutomations() {
  return json::parse(R"J([
    {"id": "hours", "type": "business_hours", "timezone": "Asia/Dhaka",
     "weekly": {"sat": ["10:00-20:00"], "sun": ["10:00-20:00"], "mon": ["10:00-20:00"],
                "tue": ["10:00-20:00"], "wed": ["10:00-20:00"], "thu": ["10:00-20:00"]},
     "holidays": ["2026-12-16"]},
    {"id": "away", "type": "away_message", "calendar": "hours",
     "message": {"text": "আমরা এখন বন্ধ, সকাল ১০টায় উত্তর দেব। We reply at 10:00."}},
    {"id": "hello", "type": "greeting", "inactivity": "7d",
     "message": {"text": "স্বাগতম {{data.contact.name}}!"}},
    {"id": "bot", "type": "keyword_bot",
     "rules": [{"keywords": ["দাম", "price"], "reply": {"text": "দাম: ৳৫০০ / Price: BDT 500"}},
               {"pattern": "(?i)deliver(y|ies)", "reply": {"text": "২-৩ দিনে ডেলিভারি"}}],
     "handoff": {"keywords": ["agent", "মানুষ"], "reply": {"text": "একজন এজেন্ট আসছেন"}}},
    {"id": "orders", "type": "order_notifications", "channel": "wa", "fallback": ["sms"],
     "events": {"order.created": {
        "template": {"name": "order_confirmed", "language": "bn",
                     "parameters": ["{{data.customer.name}}", "{{data.number}}"]},
        "sms": "{{data.customer.name}}, অর্ডার {{data.number}} পেয়েছি।"}}},
    {"id": "carts", "type": "cart_recovery", "channel": "wa", "delays": ["1h", "24h"],
     "quiet_hours": {"start": "22:00", "end": "09:00"},
     "message": {"template": {"name": "cart_reminder", "language": "bn",
                              "parameters": ["{{reminder}}", "{{data.recovery_url}}"]}}},
    {"id": "csat", "type": "csat_survey", "delay": "10m",
     "template": {"name": "csat_request", "language": "bn"}},
    {"id": "fb", "type": "fallback", "deadline": "10m"}
  ])J");
}

class AutomationRules : public ::testing::Test {
 protected:
  void SetUp() override {
    std::random_device rd;
    dir_ = std::filesystem::temp_directory_path() / ("sanjog-auto-" + std::to_string(rd()));
    std::filesystem::create_directories(dir_);
    clock_ = kWedNoon;
    open(standardAutomations());
  }
  void TearDown() override {
    // Whatever the automations stored is a valid event of its documented type.
    for (const char* type : {"message.send", "checkout.abandoned", "csat.response",
                             "conversation.handoff", "message.received", "order.created"}) {
      for (const auto& e : events(type)) EXPECT_EQ(testing::validateEvent(e), "") << e.dump(2);
    }
    gateway_.reset();
    bus_.reset();
    std::filesystem::remove_all(dir_);
  }

  void open(const json& automations) {
    gateway_.reset();
    bus_.reset();
    bus::EmbeddedBus::Options o;
    o.path = (dir_ / "sanjog.db").string();
    o.metrics = &metrics_;
    o.now_ms = [this] { return clock_.load(); };
    bus_ = std::move(bus::EmbeddedBus::open(o)).value();
    services_ = std::make_shared<plugin_host::HostServices>();
    services_->metrics = &metrics_;
    services_->http = &http_;
    services_->bus = bus_.get();
    services_->plugin_metrics = &plugin_metrics_;
    services_->now_ms = [this] { return clock_.load(); };
    gateway_ = std::make_unique<app::Gateway>(metrics_, *bus_, registry(), services_);
    auto loaded = config::ConfigLoader::load(configText(automations), "", [](const std::string& p) {
      auto lib = registry().find(p);
      return lib ? &lib->schema() : nullptr;
    });
    ASSERT_TRUE(std::holds_alternative<config::Config>(loaded))
        << std::get<std::vector<config::ConfigError>>(loaded)[0].toString();
    auto built = gateway_->build(std::get<config::Config>(std::move(loaded)));
    ASSERT_TRUE(std::holds_alternative<std::shared_ptr<app::Runtime>>(built))
        << std::get<std::vector<std::string>>(built)[0];
    gateway_->apply(std::get<std::shared_ptr<app::Runtime>>(built));
  }

  void emit(const std::string& instance, const json& event) {
    ASSERT_TRUE(gateway_->emitFromPlugin(instance, event.dump()).isOk());
  }

  void customerWrites(const std::string& text, const std::string& id,
                      const std::string& phone = kPhone) {
    emit("wa", {{"type", "message.received"},
                {"providerid", id},
                {"data",
                 {{"channel", "whatsapp"},
                  {"contact", {{"phone", phone}, {"name", "রহিম"}}},
                  {"message", {{"id", id}, {"text", text}}}}}});
  }

  std::string conv(const std::string& phone = kPhone) { return app::conversationId("wa", phone); }

  // Stored events of a type, oldest first.
  std::vector<json> events(const std::string& type) {
    sqlite3* db = nullptr;
    sqlite3_open_v2((dir_ / "sanjog.db").c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
    sqlite3_stmt* s = nullptr;
    sqlite3_prepare_v2(db, "SELECT json FROM events WHERE type=?1 ORDER BY seq", -1, &s, nullptr);
    sqlite3_bind_text(s, 1, type.c_str(), -1, SQLITE_TRANSIENT);
    std::vector<json> out;
    while (sqlite3_step(s) == SQLITE_ROW) {
      out.push_back(json::parse(reinterpret_cast<const char*>(sqlite3_column_text(s, 0))));
    }
    sqlite3_finalize(s);
    sqlite3_close(db);
    return out;
  }
  std::vector<json> sendsFrom(const std::string& automation) {
    std::vector<json> out;
    for (auto& e : events("message.send")) {
      if (e["source"] == "/automations/" + automation) out.push_back(e);
    }
    return out;
  }
  // The sample of a family with these labels (a copy), if any.
  std::optional<prometheus::ClientMetric> sample(const std::string& family,
                                                 const std::map<std::string, std::string>& labels) {
    for (const auto& f : metrics_.registry()->Collect()) {
      if (f.name != family) continue;
      for (const auto& m : f.metric) {
        bool all = true;
        for (const auto& [k, v] : labels) {
          bool found = false;
          for (const auto& l : m.label) found = found || (l.name == k && l.value == v);
          all = all && found;
        }
        if (all) return m;
      }
    }
    return std::nullopt;
  }
  // Counter or gauge value, or a histogram's sample count; 0 when absent.
  double counter(const std::string& family, const std::map<std::string, std::string>& labels) {
    const auto m = sample(family, labels);
    if (!m) return 0;
    if (m->histogram.sample_count > 0) return static_cast<double>(m->histogram.sample_count);
    return m->counter.value + m->gauge.value;
  }
  double histogramSum(const std::string& family, const std::map<std::string, std::string>& labels) {
    const auto m = sample(family, labels);
    return m ? m->histogram.sample_sum : -1;
  }
  void advance(int64_t ms) {
    clock_ += ms;
    gateway_->fireDueTimers();
  }

  json order(const std::string& providerid, const std::string& type = "order.created") {
    return {{"type", type},
            {"providerid", providerid},
            {"data",
             {{"order_id", "820982911946154508"},
              {"number", "#1001"},
              {"checkout_id", "chk-1"},
              {"customer", {{"name", "রহিম উদ্দিন"}, {"phone", kPhone}}}}}};
  }
  json checkout(const std::string& providerid, const std::string& phone = kPhone) {
    return {{"type", "checkout.updated"},
            {"providerid", providerid},
            {"data",
             {{"checkout_id", "chk-1"},
              {"recovery_url", "https://x.myshopify.com/r/chk-1"},
              {"customer", {{"name", "রহিম"}, {"phone", phone}}}}}};
  }

  std::filesystem::path dir_;
  std::atomic<int64_t> clock_{0};
  metrics::Metrics metrics_;
  plugin_host::HttpClient http_{plugin_host::HttpClient::Options{}, &metrics_};
  plugin_host::PluginMetrics plugin_metrics_{&metrics_};
  std::shared_ptr<plugin_host::HostServices> services_;
  std::unique_ptr<bus::EmbeddedBus> bus_;
  std::unique_ptr<app::Gateway> gateway_;
};

// ------------------------------------------------------- order updates --

TEST_F(AutomationRules, OrderCreatedSendsOneTemplateWithAnSmsFallback) {
  emit("shop", order("wh-1"));
  emit("shop", order("wh-1"));                // the same webhook again
  emit("shop", order("wh-2"));                // Shopify re-sent it with a new webhook id
  emit("shop", order("wh-3", "order.paid"));  // no rule for order.paid
  const auto sends = sendsFrom("orders");
  ASSERT_EQ(sends.size(), 1u);
  const json& d = sends[0]["data"];
  EXPECT_EQ(d["instance"], "wa");
  EXPECT_EQ(d["to"], kPhone);
  EXPECT_EQ(d["message"]["template"]["name"], "order_confirmed");
  EXPECT_EQ(d["message"]["template"]["parameters"], json({"রহিম উদ্দিন", "#1001"}));
  ASSERT_EQ(d["fallback"].size(), 1u);
  EXPECT_EQ(d["fallback"][0]["instance"], "sms");
  EXPECT_EQ(d["fallback"][0]["message"]["text"], "রহিম উদ্দিন, অর্ডার #1001 পেয়েছি।");
  auto trace = bus_->event(sends[0]["id"]);
  ASSERT_TRUE(trace);
  ASSERT_EQ(trace->deliveries.size(), 1u);
  EXPECT_EQ(trace->deliveries[0].delivery.target, "wa");
  EXPECT_EQ(
      counter("sanjog_automation_actions_total", {{"automation", "orders"}, {"result", "sent"}}),
      1);
}

TEST_F(AutomationRules, OrderWithoutPhoneIsCountedNotSent) {
  json o = order("wh-9");
  o["data"]["customer"].erase("phone");
  emit("shop", o);
  EXPECT_TRUE(sendsFrom("orders").empty());
  EXPECT_EQ(counter("sanjog_automation_actions_total",
                    {{"automation", "orders"}, {"result", "no_phone"}}),
            1);
}

// ------------------------------------------------------- cart recovery --

TEST_F(AutomationRules, CheckoutWithoutOrderRemindsTwiceAndEmitsAbandonedOnce) {
  emit("shop", checkout("c-1"));
  EXPECT_EQ(bus_->pendingTimers(), 2);
  advance(59 * kMin);
  EXPECT_TRUE(sendsFrom("carts").empty());
  advance(kMin);
  auto sends = sendsFrom("carts");
  ASSERT_EQ(sends.size(), 1u);
  EXPECT_EQ(sends[0]["data"]["message"]["template"]["parameters"],
            json({"1", "https://x.myshopify.com/r/chk-1"}));
  EXPECT_EQ(sends[0]["data"]["to"], kPhone);
  auto abandoned = events("checkout.abandoned");
  ASSERT_EQ(abandoned.size(), 1u);
  EXPECT_EQ(abandoned[0]["data"]["checkout_id"], "chk-1");
  EXPECT_EQ(abandoned[0]["source"], "/automations/carts");
  advance(23 * kHour);  // 24 h after the checkout; 10:00 next day is outside quiet hours
  EXPECT_EQ(sendsFrom("carts").size(), 2u);
  EXPECT_EQ(events("checkout.abandoned").size(), 1u);
  EXPECT_EQ(bus_->pendingTimers(), 0);
  EXPECT_EQ(counter("sanjog_timers_total", {{"result", "fired"}}), 2);
}

TEST_F(AutomationRules, AnOrderCancelsTheReminders) {
  emit("shop", checkout("c-1"));
  advance(30 * kMin);
  emit("shop", order("wh-1"));
  EXPECT_EQ(bus_->pendingTimers(), 0);
  EXPECT_EQ(counter("sanjog_timers_total", {{"result", "cancelled"}}), 2);
  advance(48 * kHour);
  EXPECT_TRUE(sendsFrom("carts").empty());
  EXPECT_TRUE(events("checkout.abandoned").empty());
}

TEST_F(AutomationRules, ACheckoutUpdateMovesThePendingReminders) {
  emit("shop", checkout("c-1"));
  advance(50 * kMin);
  emit("shop", checkout("c-2"));  // the customer came back and changed the cart
  advance(20 * kMin);             // 70 min after the first, 20 after the update
  EXPECT_TRUE(sendsFrom("carts").empty());
  advance(40 * kMin);
  EXPECT_EQ(sendsFrom("carts").size(), 1u);
}

TEST_F(AutomationRules, QuietHoursPostponeToTheMorning) {
  clock_ = kWedNoon + 9 * kHour + 30 * kMin;  // 21:30 Dhaka
  emit("shop", checkout("c-1"));
  advance(kHour);  // 22:30: quiet
  EXPECT_TRUE(sendsFrom("carts").empty());
  EXPECT_EQ(counter("sanjog_timers_total", {{"result", "postponed"}}), 1);
  auto t = bus_->timer("cart:carts:shop:chk-1:1");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->spec.due_ms, kWedNoon + 21 * kHour);  // Thursday 09:00 Dhaka
  clock_ = kWedNoon + 21 * kHour;
  gateway_->fireDueTimers();
  EXPECT_EQ(sendsFrom("carts").size(), 1u);
}

TEST_F(AutomationRules, OptedOutContactsAreNeverReminded) {
  emit("shop", checkout("c-1"));
  customerWrites("বন্ধ", "wamid.stop");  // "stop" in Bengali
  EXPECT_EQ(bus_->pendingTimers(), 0);
  emit("shop", checkout("c-2"));
  EXPECT_EQ(bus_->pendingTimers(), 0);
  EXPECT_EQ(counter("sanjog_automation_actions_total",
                    {{"automation", "carts"}, {"result", "opted_out"}}),
            2);
  advance(48 * kHour);
  EXPECT_TRUE(sendsFrom("carts").empty());
  // Opting in again allows reminders for new carts (a cancelled reminder
  // stays cancelled, so a late update of an ordered cart cannot revive it).
  customerWrites("START", "wamid.start");
  json fresh = checkout("c-3");
  fresh["data"]["checkout_id"] = "chk-2";
  emit("shop", fresh);
  EXPECT_EQ(bus_->pendingTimers(), 2);
}

// ---------------------------------------------------------------- timers --

TEST_F(AutomationRules, TimersSurviveARestartAndFireOnce) {
  emit("shop", checkout("c-1"));
  open(standardAutomations());  // a new process on the same storage
  EXPECT_EQ(bus_->pendingTimers(), 2);
  clock_ += kHour;
  gateway_->fireDueTimers();
  gateway_->fireDueTimers();
  EXPECT_EQ(sendsFrom("carts").size(), 1u);
  // A second firing of the same timer (two processes, or a retried commit)
  // stores nothing.
  auto again = bus_->fireTimer("cart:carts:shop:chk-1:1", kWedNoon + kHour, "fired", {});
  ASSERT_TRUE(again);
  EXPECT_FALSE(*again);
}

TEST_F(AutomationRules, TimersFoundTooLateAreSkipped) {
  emit("shop", checkout("c-1"));
  clock_ += 30 * kHour;  // down for a day: the first reminder is 29 h late
  gateway_->fireDueTimers();
  EXPECT_EQ(counter("sanjog_timers_total", {{"result", "skipped"}}), 1);
  EXPECT_EQ(
      counter("sanjog_automation_actions_total", {{"automation", "carts"}, {"result", "too_late"}}),
      1);
  EXPECT_EQ(sendsFrom("carts").size(), 1u);  // the 24 h one is only 6 h late
}

// ----------------------------------------------------------- keyword bot --

TEST_F(AutomationRules, BotAnswersBengaliAndEnglishKeywords) {
  customerWrites("দাম কত?", "m1");
  customerWrites("PRICE please", "m2");
  customerWrites("When is the delivery?", "m3");
  customerWrites("ধন্যবাদ", "m4");  // no rule
  const auto sends = sendsFrom("bot");
  ASSERT_EQ(sends.size(), 3u);
  EXPECT_EQ(sends[0]["data"]["message"]["text"], "দাম: ৳৫০০ / Price: BDT 500");
  EXPECT_EQ(sends[0]["data"]["instance"], "wa");
  EXPECT_EQ(sends[0]["data"]["to"], kPhone);
  EXPECT_EQ(sends[1]["data"]["message"]["text"], "দাম: ৳৫০০ / Price: BDT 500");
  EXPECT_EQ(sends[2]["data"]["message"]["text"], "২-৩ দিনে ডেলিভারি");
  EXPECT_EQ(
      counter("sanjog_automation_actions_total", {{"automation", "bot"}, {"result", "answered"}}),
      3);
}

TEST_F(AutomationRules, HandoffStopsTheBotAndTellsTheHelpdesk) {
  customerWrites("আমি মানুষের সাথে কথা বলতে চাই", "m1");
  auto handoffs = events("conversation.handoff");
  ASSERT_EQ(handoffs.size(), 1u);
  EXPECT_EQ(handoffs[0]["data"]["conversation_id"], conv());
  EXPECT_EQ(handoffs[0]["data"]["reason"], "keyword");
  EXPECT_EQ(handoffs[0]["subject"], conv());
  ASSERT_EQ(sendsFrom("bot").size(), 1u);
  EXPECT_EQ(sendsFrom("bot")[0]["data"]["message"]["text"], "একজন এজেন্ট আসছেন");
  customerWrites("price?", "m2");
  EXPECT_EQ(sendsFrom("bot").size(), 1u);
  EXPECT_EQ(counter("sanjog_automation_actions_total",
                    {{"automation", "bot"}, {"result", "silent_handoff"}}),
            1);
}

TEST_F(AutomationRules, BotStaysSilentAfterAHumanReplied) {
  customerWrites("hello", "m1");
  emit("desk",
       {{"type", "message.send"},
        {"data", {{"conversation_id", conv()}, {"message", {{"text", "Hi, I am Karim"}}}}}});
  customerWrites("price?", "m2");
  EXPECT_TRUE(sendsFrom("bot").empty());
  clock_ += 13 * kHour;  // the pause (12 h) is over
  customerWrites("price?", "m3");
  EXPECT_EQ(sendsFrom("bot").size(), 1u);
}

// ------------------------------------------------- greeting and away --

TEST_F(AutomationRules, GreetingForNewContactsAndAfterInactivity) {
  customerWrites("hello", "m1");
  customerWrites("hello again", "m2");
  ASSERT_EQ(sendsFrom("hello").size(), 1u);
  EXPECT_EQ(sendsFrom("hello")[0]["data"]["message"]["text"], "স্বাগতম রহিম!");
  clock_ += 8 * 24 * kHour;  // a week and a day later, a Thursday at noon
  customerWrites("I am back", "m3");
  EXPECT_EQ(sendsFrom("hello").size(), 2u);
}

TEST_F(AutomationRules, AwayMessageOncePerClosedPeriod) {
  clock_ = kWedNoon + 10 * kHour;  // 22:00 Wednesday
  customerWrites("hello?", "m1");
  customerWrites("anyone?", "m2");
  clock_ += 8 * kHour;  // 06:00 Thursday: still the same closed period
  customerWrites("hello??", "m3");
  ASSERT_EQ(sendsFrom("away").size(), 1u);
  EXPECT_TRUE(sendsFrom("hello").empty());  // the away message is the one answer
  clock_ = kWedNoon + 24 * kHour;           // Thursday noon: open
  customerWrites("now?", "m4");
  EXPECT_EQ(sendsFrom("away").size(), 1u);
  clock_ = kWedNoon + 2 * 24 * kHour;  // Friday: closed all day, a new period
  customerWrites("friday?", "m5");
  EXPECT_EQ(sendsFrom("away").size(), 2u);
  clock_ = kWedNoon + 14 * 24 * kHour;  // Wednesday 2026-12-16: a holiday
  customerWrites("holiday?", "m6");
  EXPECT_EQ(sendsFrom("away").size(), 3u);
}

TEST_F(AutomationRules, TheBotAnswerReplacesTheAwayMessage) {
  clock_ = kWedNoon + 10 * kHour;
  customerWrites("দাম?", "m1");
  EXPECT_EQ(sendsFrom("bot").size(), 1u);
  EXPECT_TRUE(sendsFrom("away").empty());
}

// ------------------------------------------------------------------ CSAT --

TEST_F(AutomationRules, CsatAskedOnceAndTheAnswerCounted) {
  customerWrites("my order?", "m1");
  emit("desk", {{"type", "conversation.resolved"},
                {"providerid", "r1"},
                {"data", {{"conversation_id", conv()}}}});
  emit("desk", {{"type", "conversation.resolved"},
                {"providerid", "r2"},
                {"data", {{"conversation_id", conv()}}}});  // resolved again
  advance(10 * kMin);
  auto asks = sendsFrom("csat");
  ASSERT_EQ(asks.size(), 1u);
  EXPECT_EQ(asks[0]["data"]["message"]["interactive"]["kind"], "list");
  EXPECT_EQ(asks[0]["data"]["message"]["interactive"]["sections"][0]["rows"].size(), 5u);
  customerWrites("৫", "m2");
  auto answers = events("csat.response");
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_EQ(answers[0]["data"]["score"], 5);
  EXPECT_EQ(answers[0]["data"]["conversation_id"], conv());
  EXPECT_EQ(counter("sanjog_csat_responses_total", {{"channel", "whatsapp"}, {"score", "5"}}), 1);
  customerWrites("4", "m3");  // only the first answer counts
  EXPECT_EQ(events("csat.response").size(), 1u);
  EXPECT_EQ(counter("sanjog_resolution_seconds", {{"channel", "whatsapp"}}), 1);
}

TEST_F(AutomationRules, CsatOutsideTheWhatsAppWindowUsesTheTemplate) {
  customerWrites("my order?", "m1");
  clock_ += 30 * kHour;
  emit("desk", {{"type", "conversation.resolved"},
                {"providerid", "r1"},
                {"data", {{"conversation_id", conv()}}}});
  advance(10 * kMin);
  auto asks = sendsFrom("csat");
  ASSERT_EQ(asks.size(), 1u);
  EXPECT_EQ(asks[0]["data"]["message"]["template"]["name"], "csat_request");
}

// ------------------------------------------------------------------ KPIs --

TEST_F(AutomationRules, FirstResponseTimeByWhoAnswered) {
  clock_ = kWedNoon + 30 * kHour;  // Thursday 18:00, open, no greeting for a known contact
  customerWrites("hi", "m0");      // greeted automatically
  EXPECT_EQ(
      counter("sanjog_first_response_seconds", {{"channel", "whatsapp"}, {"kind", "automated"}}),
      1);
  clock_ += 2 * kMin;
  customerWrites("I need help with my order", "m1");
  clock_ += 90'000;
  emit("desk", {{"type", "message.send"},
                {"data", {{"conversation_id", conv()}, {"message", {{"text", "Sure!"}}}}}});
  EXPECT_EQ(counter("sanjog_first_response_seconds", {{"channel", "whatsapp"}, {"kind", "human"}}),
            1);
  EXPECT_DOUBLE_EQ(
      histogramSum("sanjog_first_response_seconds", {{"channel", "whatsapp"}, {"kind", "human"}}),
      90.0);
}

// -------------------------------------------------------------- fallback --

class FallbackRules : public AutomationRules {
 protected:
  // The order's WhatsApp send as the bus would hand it to the channel.
  bus::Delivery waDelivery() {
    emit("shop", order("wh-1"));
    auto sends = sendsFrom("orders");
    EXPECT_EQ(sends.size(), 1u);
    auto trace = bus_->event(sends.at(0)["id"]);
    return trace->deliveries.at(0).delivery;
  }
  const automation::Engine& engine() { return *gateway_->runtime()->automations; }
};

TEST_F(FallbackRules, PermanentFailureMovesToSmsWithItsText) {
  const auto d = waDelivery();
  bus::DeliveryResult failed;
  failed.outcome = bus::Outcome::kPermanent;
  failed.reason = Code::kInvalidArgument;
  auto decision = engine().onDeliveryResult(d, failed, *bus_, clock_);
  ASSERT_EQ(decision.events.size(), 1u);
  const json& next = decision.events[0].event;
  EXPECT_EQ(next["data"]["instance"], "sms");
  EXPECT_EQ(next["data"]["to"], kPhone);
  EXPECT_EQ(next["data"]["message"]["text"], "রহিম উদ্দিন, অর্ডার #1001 পেয়েছি।");
  EXPECT_EQ(next["data"]["cause"]["reason"], "permanent_failure");
  EXPECT_FALSE(next["data"].contains("fallback"));
}

TEST_F(FallbackRules, OutsideWindowAlsoFallsBack) {
  const auto d = waDelivery();
  bus::DeliveryResult r;
  r.outcome = bus::Outcome::kPermanent;
  r.reason = Code::kOutsideWindow;
  auto decision = engine().onDeliveryResult(d, r, *bus_, clock_);
  ASSERT_EQ(decision.events.size(), 1u);
  EXPECT_EQ(decision.events[0].event["data"]["cause"]["reason"], "outside_window");
}

TEST_F(FallbackRules, RetriesThatRunOutOfTimeFallBack) {
  const auto d = waDelivery();
  bus::DeliveryResult r;
  r.outcome = bus::Outcome::kPermanent;
  r.reason = Code::kTimeout;
  r.message = "expired";  // what Gateway::deliveryExpired passes
  auto decision = engine().onDeliveryResult(d, r, *bus_, clock_);
  ASSERT_EQ(decision.events.size(), 1u);
  EXPECT_EQ(decision.events[0].event["data"]["cause"]["reason"], "expired");
}

TEST_F(FallbackRules, RetriesDoNotFallBack) {
  const auto d = waDelivery();
  bus::DeliveryResult r;
  r.outcome = bus::Outcome::kRetry;
  r.reason = Code::kUnavailable;
  EXPECT_TRUE(engine().onDeliveryResult(d, r, *bus_, clock_).events.empty());
}

TEST_F(FallbackRules, NoDeliveredStatusByTheDeadlineSendsSms) {
  const auto d = waDelivery();
  bus::DeliveryResult ok;
  ok.outcome = bus::Outcome::kSuccess;
  ok.reason = Code::kOk;
  ok.provider_message_id = "wamid.OK1";
  auto decision = engine().onDeliveryResult(d, ok, *bus_, clock_);
  ASSERT_EQ(decision.timers.size(), 1u);
  bus::AppendItem only;
  only.timers = decision.timers;
  ASSERT_TRUE(bus_->append({only}));
  advance(10 * kMin);
  auto fb = sendsFrom("fb");
  ASSERT_EQ(fb.size(), 1u);
  EXPECT_EQ(fb[0]["data"]["instance"], "sms");
  EXPECT_EQ(fb[0]["data"]["cause"]["reason"], "deadline");
  EXPECT_EQ(fb[0]["providerid"], "fallback:" + d.idempotency_key);
}

TEST_F(FallbackRules, DeliveredInTimeSendsNothingElse) {
  const auto d = waDelivery();
  bus::DeliveryResult ok;
  ok.outcome = bus::Outcome::kSuccess;
  ok.reason = Code::kOk;
  ok.provider_message_id = "wamid.OK2";
  auto decision = engine().onDeliveryResult(d, ok, *bus_, clock_);
  bus::AppendItem only;
  only.timers = decision.timers;
  ASSERT_TRUE(bus_->append({only}));
  emit(
      "wa",
      {{"type", "message.status"},
       {"providerid", "st1"},
       {"data",
        {{"channel", "whatsapp"}, {"provider_message_id", "wamid.OK2"}, {"status", "delivered"}}}});
  advance(10 * kMin);
  EXPECT_TRUE(sendsFrom("fb").empty());
  EXPECT_EQ(
      counter("sanjog_automation_actions_total", {{"automation", "fb"}, {"result", "delivered"}}),
      1);
}

TEST_F(FallbackRules, AFailedStatusFallsBackAtOnceAndOnlyOnce) {
  const auto d = waDelivery();
  // The delivery succeeded (the bus records the provider id), then failed.
  sqlite3* db = nullptr;
  sqlite3_open((dir_ / "sanjog.db").c_str(), &db);
  const std::string sql =
      "UPDATE deliveries SET state='done', provider_message_id='wamid.F' WHERE id=" +
      std::to_string(d.id);
  sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr);
  sqlite3_close(db);
  bus::DeliveryResult ok;
  ok.outcome = bus::Outcome::kSuccess;
  ok.provider_message_id = "wamid.F";
  bus::AppendItem only;
  only.timers = engine().onDeliveryResult(d, ok, *bus_, clock_).timers;
  ASSERT_TRUE(bus_->append({only}));
  const json failed = {{"type", "message.status"},
                       {"providerid", "st-f"},
                       {"data",
                        {{"channel", "whatsapp"},
                         {"provider_message_id", "wamid.F"},
                         {"status", "failed"},
                         {"error", {{"code", 131026}, {"reason", "undeliverable"}}}}}};
  emit("wa", failed);
  auto fb = sendsFrom("fb");
  ASSERT_EQ(fb.size(), 1u);
  EXPECT_EQ(fb[0]["data"]["cause"]["reason"], "failed:131026");
  advance(10 * kMin);  // the deadline timer was cancelled
  EXPECT_EQ(sendsFrom("fb").size(), 1u);
}

// ---------------------------------------------------------------- config --

TEST(AutomationConfig, ProblemsAreReportedWithPointers) {
  config::Config cfg;
  cfg.instances.push_back({"wa", "channel_whatsapp", {}, {}, {}});
  cfg.automations = json::parse(R"J([
    {"id": "away", "type": "away_message", "calendar": "missing", "message": {"text": "x"}},
    {"id": "orders", "type": "order_notifications", "channel": "nowhere", "events": {}},
    {"id": "bot", "type": "keyword_bot", "rules": [{"pattern": "(", "reply": {"text": "x"}}]},
    {"id": "texts", "type": "cart_recovery", "channel": "wa", "message": {"text": "x"}},
    {"id": "carts", "type": "cart_recovery", "channel": "wa", "delays": ["soon"],
     "quiet_hours": {"start": "22:00", "end": "9"}, "message": {"text": "{{#x}}"}},
    {"id": "wa", "type": "fallback"}
  ])J");
  auto built = automation::Engine::build(cfg, nullptr);
  ASSERT_TRUE(std::holds_alternative<std::vector<config::ConfigError>>(built));
  std::set<std::string> pointers;
  for (const auto& e : std::get<std::vector<config::ConfigError>>(built))
    pointers.insert(e.pointer);
  for (const char* p :
       {"/automations/0/calendar", "/automations/1/channel", "/automations/2/rules/0/pattern",
        "/automations/3/message", "/automations/4/delays/0", "/automations/4/quiet_hours/end",
        "/automations/4/message/text", "/automations/5/id"}) {
    EXPECT_TRUE(pointers.count(p)) << p;
  }
}

}  // namespace
}  // namespace sanjog
