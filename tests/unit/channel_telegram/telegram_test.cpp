#include <gtest/gtest.h>

#include "sanjog/sdk/testing/fake_host.hpp"
#include "support/fixtures.h"
#include "telegram.hpp"

extern "C" const sanjog_plugin_descriptor* sanjog_plugin_entry(uint32_t, uint32_t);

namespace sanjog::plugins::channel_telegram {
namespace {

using nlohmann::json;
using sanjog::testing::fixtureJson;
using sanjog::testing::readFixture;
using sdk::Code;
using sdk::HttpRequest;
using sdk::HttpResponse;
using sdk::Outcome;
using sdk::testing::FakeHost;

constexpr const char* kBotToken = "7012345678:AAHn3-bot-token-example_0123456789";
constexpr const char* kSecret = "sanjog-telegram-secret-3f9c";

class TelegramTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(host_.create(
        "tg",
        {{"api_base", "https://tg.test"}, {"bot_token", kBotToken}, {"secret_token", kSecret}}));
  }
  FakeHost::WebhookResult post(const std::string& body, const std::string& secret = kSecret) {
    return host_.webhook("POST", body, {{"X-Telegram-Bot-Api-Secret-Token", secret}});
  }
  sdk::DeliveryResult send(const std::string& to, json message) {
    json ev = {{"type", "message.send"}, {"data", {{"to", to}, {"message", std::move(message)}}}};
    return host_.deliver("send", ev.dump(), "e");
  }
  void answer(int status, const std::string& body) {
    host_.respond([status, body](const HttpRequest&) -> sdk::Result<HttpResponse> {
      return HttpResponse{status, {}, body};
    });
  }
  FakeHost host_{sanjog_plugin_entry(SANJOG_ABI_MAJOR, SANJOG_ABI_MINOR)};
};

TEST_F(TelegramTest, SecretTokenIsRequiredAndComparedExactly) {
  const std::string body = readFixture("telegram/update_message_text.json");
  EXPECT_EQ(post(body, "wrong-secret-token-000000").status, 401);
  auto missing = host_.webhook("POST", body, {});
  EXPECT_EQ(missing.status, 401);
  EXPECT_TRUE(missing.events.empty());
  EXPECT_EQ(host_.metric("sanjog_channel_signature_failures_total", {"telegram", "mismatch"}), 1);
  EXPECT_EQ(host_.metric("sanjog_channel_signature_failures_total", {"telegram", "missing"}), 1);
  EXPECT_EQ(post(body).status, 200);
  EXPECT_EQ(host_.webhook("GET", "", {}).status, 405);
}

TEST_F(TelegramTest, TextFixtureInBengali) {
  auto r = post(readFixture("telegram/update_message_text.json"));
  ASSERT_EQ(r.events.size(), 1u);
  const json& e = r.events[0];
  EXPECT_EQ(e["providerid"], "update:583920174");
  EXPECT_EQ(e["time"], "2025-03-15T05:02:40Z");
  EXPECT_EQ(e["data"]["channel"], "telegram");
  EXPECT_EQ(e["data"]["contact"], json({{"id", "5823109476"},
                                        {"name", "Tanvir Hasan"},
                                        {"username", "tanvir_hasan_bd"},
                                        {"locale", "bn"}}));
  EXPECT_EQ(e["data"]["message"]["id"], "5823109476:1287");
  EXPECT_EQ(e["data"]["message"]["text"],
            fixtureJson("telegram/update_message_text.json")["message"]["text"]);
}

TEST_F(TelegramTest, PhotoFixtureTakesTheLargestSize) {
  auto r = post(readFixture("telegram/update_message_photo.json"));
  ASSERT_EQ(r.events.size(), 1u);
  const json& m = r.events[0]["data"]["message"];
  EXPECT_EQ(m["kind"], "image");
  EXPECT_EQ(m["attachments"][0]["media_id"],
            "AgACAgUAAxkBAAODYV3aGZlD6vhzKsE2WNmblsr6zKwAAi-tMRvCoeBWNQ1ENVBzJdwBAAMCAANzAAMhBA");
  EXPECT_EQ(m["attachments"][0]["mime_type"], "image/jpeg");
  EXPECT_EQ(r.events[0]["providerid"], "update:2342342343242");
}

TEST_F(TelegramTest, DocumentVoiceLocationContactCallbackAndUnknownUpdates) {
  json base = fixtureJson("telegram/update_message_text.json");
  auto with = [&](int64_t id, const std::string& key, json value) {
    json u = base;
    u["update_id"] = id;
    u["message"].erase("text");
    u["message"][key] = std::move(value);
    return post(u.dump()).events.at(0)["data"];
  };
  auto doc =
      with(1, "document",
           {{"file_id", "BQAC"}, {"file_name", "চালান.pdf"}, {"mime_type", "application/pdf"}});
  EXPECT_EQ(doc["message"]["attachments"][0], json({{"kind", "document"},
                                                    {"media_id", "BQAC"},
                                                    {"mime_type", "application/pdf"},
                                                    {"filename", "চালান.pdf"}}));
  auto voice = with(2, "voice", {{"file_id", "AwAC"}, {"duration", 3}});
  EXPECT_EQ(voice["message"]["attachments"][0]["kind"], "audio");
  EXPECT_EQ(voice["message"]["attachments"][0]["voice"], true);
  EXPECT_EQ(voice["message"]["attachments"][0]["mime_type"], "audio/ogg");
  auto loc = with(3, "location", {{"latitude", 24.8949}, {"longitude", 91.8687}});
  EXPECT_EQ(loc["message"]["kind"], "location");
  auto own =
      with(4, "contact",
           {{"phone_number", "০১৭১১০০০০০১"}, {"first_name", "Tanvir"}, {"user_id", 5823109476}});
  EXPECT_EQ(own["message"]["contacts"][0]["phones"][0], "+8801711000001");
  EXPECT_EQ(own["contact"]["phone"], "+8801711000001");  // shared their own number
  EXPECT_EQ(own["address"], "5823109476");               // replies still go to the chat
  auto other = with(5, "contact", {{"phone_number", "+8801811000002"}, {"first_name", "Karim"}});
  EXPECT_FALSE(other["contact"].contains("phone"));
  auto poll = with(6, "poll", {{"id", "1"}, {"question", "?"}});
  EXPECT_EQ(poll["message"]["kind"], "unsupported");
  EXPECT_EQ(poll["message"]["raw_type"], "poll");

  json cb = {{"update_id", 7},
             {"callback_query",
              {{"id", "4382bfdwdsb323b2d9"},
               {"from", base["message"]["from"]},
               {"data", "size_xl"},
               {"message",
                {{"message_id", 1290},
                 {"chat", base["message"]["chat"]},
                 {"date", 1742014990},
                 {"text", "সাইজ?"},
                 {"reply_markup",
                  {{"inline_keyboard", {{{{"text", "XL"}, {"callback_data", "size_xl"}}}}}}}}}}}};
  auto r = post(cb.dump());
  ASSERT_EQ(r.events.size(), 1u);
  EXPECT_EQ(r.events[0]["data"]["message"]["interactive"],
            json({{"kind", "button_reply"}, {"id", "size_xl"}, {"title", "XL"}}));
  EXPECT_EQ(r.events[0]["data"]["contact"]["id"], "5823109476");
  EXPECT_EQ(r.json(),
            json({{"method", "answerCallbackQuery"}, {"callback_query_id", "4382bfdwdsb323b2d9"}}));

  json member = {
      {"update_id", 8},
      {"my_chat_member",
       {{"chat", base["message"]["chat"]}, {"from", base["message"]["from"]}, {"date", 1}}}};
  auto m = post(member.dump()).events.at(0)["data"]["message"];
  EXPECT_EQ(m["kind"], "unsupported");
  EXPECT_EQ(m["raw_type"], "my_chat_member");
  EXPECT_EQ(post("{}").status, 400);
  EXPECT_EQ(post("[1]").status, 400);
}

TEST_F(TelegramTest, SendMessageMatchesTheFixture) {
  answer(200, readFixture("telegram/sendMessage.response_200.json"));
  const json expected = fixtureJson("telegram/sendMessage.request.json");
  auto r = send("5823109476",
                {{"text", expected["text"]}, {"format", "html"}, {"remove_keyboard", true}});
  ASSERT_EQ(r.outcome, Outcome::kSuccess) << r.message;
  const json result = fixtureJson("telegram/sendMessage.response_200.json")["result"];
  EXPECT_EQ(r.provider_message_id, std::to_string(result["chat"]["id"].get<int64_t>()) + ":" +
                                       std::to_string(result["message_id"].get<int64_t>()));
  auto req = host_.requests().back();
  EXPECT_EQ(req.url, std::string("https://tg.test/bot") + kBotToken + "/sendMessage");
  EXPECT_EQ(json::parse(req.body), expected);
}

TEST_F(TelegramTest, KeyboardsRepliesAndMedia) {
  answer(200, readFixture("telegram/sendMessage.response_200.json"));
  ASSERT_EQ(send("5823109476",
                 {{"interactive",
                   {{"kind", "buttons"},
                    {"body", "সাইজ?"},
                    {"buttons", {{{"id", "m"}, {"title", "M"}}, {{"id", "xl"}, {"title", "XL"}}}}}},
                  {"reply_to", "5823109476:1287"}})
                .outcome,
            Outcome::kSuccess);
  EXPECT_EQ(json::parse(host_.requests().back().body),
            json({{"chat_id", 5823109476},
                  {"text", "সাইজ?"},
                  {"reply_parameters", {{"message_id", 1287}}},
                  {"reply_markup",
                   {{"inline_keyboard",
                     {{{{"text", "M"}, {"callback_data", "m"}}},
                      {{{"text", "XL"}, {"callback_data", "xl"}}}}}}}}));
  ASSERT_EQ(
      send("-1001234567890",
           {{"media", {{"kind", "image"}, {"url", "https://shop.test/p.jpg"}, {"caption", "নতুন"}}}})
          .outcome,
      Outcome::kSuccess);
  auto req = host_.requests().back();
  EXPECT_NE(req.url.find("/sendPhoto"), std::string::npos);
  EXPECT_EQ(json::parse(req.body), json({{"chat_id", -1001234567890},
                                         {"photo", "https://shop.test/p.jpg"},
                                         {"caption", "নতুন"}}));
  EXPECT_EQ(send("5823109476", {{"template", {{"name", "x"}, {"language", "bn"}}}}).status,
            Code::kInvalidArgument);
}

TEST_F(TelegramTest, ErrorsMapToTheTaxonomy) {
  answer(429, readFixture("telegram/sendMessage.response_429.json"));
  auto flood = send("5823109476", {{"text", "hi"}});
  EXPECT_EQ(flood.outcome, Outcome::kRetry);
  EXPECT_EQ(flood.status, Code::kRateLimited);
  EXPECT_EQ(flood.retry_after_ms, 5000);
  answer(400, readFixture("telegram/sendMessage.response_error.json"));
  auto missing = send("5823109476", {{"text", "hi"}});
  EXPECT_EQ(missing.outcome, Outcome::kPermanent);
  EXPECT_NE(missing.message.find("chat not found"), std::string::npos);
  answer(403,
         R"({"ok":false,"error_code":403,"description":"Forbidden: bot was blocked by the user"})");
  EXPECT_EQ(send("5823109476", {{"text", "hi"}}).outcome, Outcome::kPermanent);
  answer(502, "Bad Gateway");
  EXPECT_EQ(send("5823109476", {{"text", "hi"}}).outcome, Outcome::kRetry);
  answer(401, R"({"ok":false,"error_code":401,"description":"Unauthorized"})");
  EXPECT_EQ(send("5823109476", {{"text", "hi"}}).status, Code::kUnauthenticated);
  EXPECT_EQ(send("5823109476", {{"text", "hi"}}).status, Code::kUnauthenticated);
  EXPECT_EQ(host_.health().state, sdk::HealthState::kDegraded);
  int logged = 0;
  for (const auto& l : host_.logs()) {
    EXPECT_EQ(l.message.find(kBotToken), std::string::npos);
    logged += l.level == SANJOG_LOG_ERROR;
  }
  EXPECT_EQ(logged, 1);
}

TEST_F(TelegramTest, MediaThroughGetFile) {
  host_.respond([](const HttpRequest& req) -> sdk::Result<HttpResponse> {
    if (req.url == std::string("https://tg.test/bot") + kBotToken + "/getFile?file_id=AgAC") {
      return HttpResponse{
          200,
          {},
          R"({"ok":true,"result":{"file_id":"AgAC","file_size":3,"file_path":"photos/file_7.jpg"}})"};
    }
    if (req.url == std::string("https://tg.test/file/bot") + kBotToken + "/photos/file_7.jpg") {
      return HttpResponse{200, {}, "JPG"};
    }
    return HttpResponse{400, {}, R"({"ok":false,"description":"Bad Request: invalid file_id"})"};
  });
  auto m = host_.fetchMedia("AgAC");
  ASSERT_EQ(m.rc, SANJOG_OK) << m.error;
  EXPECT_EQ(m.body, "JPG");
  EXPECT_EQ(m.content_type, "image/jpeg");
  EXPECT_EQ(host_.fetchMedia("AgAC", 2).rc, SANJOG_INVALID_ARGUMENT);
  EXPECT_EQ(host_.fetchMedia("nope").rc, SANJOG_NOT_FOUND);
  EXPECT_EQ(host_.fetchMedia("a/../b").rc, SANJOG_NOT_FOUND);
}

}  // namespace
}  // namespace sanjog::plugins::channel_telegram
