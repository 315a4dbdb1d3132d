#include <gtest/gtest.h>

#include "instagram.hpp"
#include "sanjog/sdk/testing/fake_host.hpp"
#include "support/fixtures.h"

extern "C" const sanjog_plugin_descriptor* sanjog_plugin_entry(uint32_t, uint32_t);

namespace sanjog::plugins::channel_instagram {
namespace {

using nlohmann::json;
using sanjog::testing::fixtureJson;
using sanjog::testing::metaSignature;
using sanjog::testing::wireBody;
using sdk::Code;
using sdk::HttpRequest;
using sdk::HttpResponse;
using sdk::Outcome;
using sdk::testing::FakeHost;

constexpr const char* kSecret = "instagram_app_secret_example";
constexpr const char* kAccount = "17841455502468013";

class InstagramTest : public ::testing::Test {
 protected:
  void SetUp() override {
    host_.setNowMs(1742026811243 + 1000);
    ASSERT_TRUE(host_.create("ig", {{"api_base", "https://graph.test"},
                                    {"account_id", kAccount},
                                    {"access_token", "IGAAG-token-0123456789abcdef"},
                                    {"app_secret", kSecret},
                                    {"verify_token", "sanjog-verify-3f9c2a"}}));
  }
  FakeHost::WebhookResult post(const std::string& body) {
    return host_.webhook("POST", body, {{"X-Hub-Signature-256", metaSignature(kSecret, body)}});
  }
  FakeHost host_{sanjog_plugin_entry(SANJOG_ABI_MAJOR, SANJOG_ABI_MINOR)};
};

TEST_F(InstagramTest, Descriptor) {
  const auto* d = sanjog_plugin_entry(SANJOG_ABI_MAJOR, SANJOG_ABI_MINOR);
  EXPECT_STREQ(d->name, "channel_instagram");
  auto schema = json::parse(d->config_schema);
  EXPECT_TRUE(schema["properties"].contains("account_id"));
  EXPECT_EQ(schema["properties"]["rate_limit_per_second"]["default"], 100);
}

TEST_F(InstagramTest, DirectMessageFixture) {
  auto r = post(wireBody("instagram/inbound_dm_text.json"));
  ASSERT_EQ(r.status, 200);
  ASSERT_EQ(r.events.size(), 1u);
  const json& e = r.events[0];
  const json fx = fixtureJson("instagram/inbound_dm_text.json")["entry"][0]["messaging"][0];
  EXPECT_EQ(e["data"]["channel"], "instagram");
  EXPECT_EQ(e["data"]["contact"]["id"], fx["sender"]["id"]);
  EXPECT_EQ(e["data"]["message"]["text"], fx["message"]["text"]);
  EXPECT_EQ(e["providerid"], fx["message"]["mid"]);
}

TEST_F(InstagramTest, EchoOfOurBengaliReplyIsIgnored) {
  auto r = post(wireBody("instagram/inbound_dm_echo.json"));
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(r.events.empty());
  EXPECT_EQ(host_.metric("sanjog_channel_webhook_events_total", {"instagram", "echo", "ignored"}),
            1);
}

TEST_F(InstagramTest, StoryMentionKeepsTheUrlButNoMediaId) {
  auto r = post(wireBody("instagram/inbound_story_mention.json"));
  ASSERT_EQ(r.events.size(), 1u);
  const json& m = r.events[0]["data"]["message"];
  EXPECT_EQ(m["kind"], "story_mention");
  EXPECT_EQ(m["attachments"][0]["kind"], "other");
  EXPECT_EQ(m["attachments"][0]["type"], "story_mention");
  EXPECT_EQ(m["attachments"][0]["url"].get<std::string>().rfind("https://lookaside.fbsbx.com/", 0),
            0u);
  EXPECT_FALSE(m["attachments"][0].contains("media_id"));  // the media itself must not be stored
}

TEST_F(InstagramTest, StoryReplyAndSendWithinTheWindow) {
  json body = fixtureJson("instagram/inbound_dm_text.json");
  auto& msg = body["entry"][0]["messaging"][0]["message"];
  msg["reply_to"] = {{"story", {{"url", "https://lookaside.fbsbx.com/story"}, {"id", "1799"}}}};
  auto r = post(body.dump());
  ASSERT_EQ(r.events.size(), 1u);
  EXPECT_EQ(r.events[0]["data"]["message"]["kind"], "story_reply");
  EXPECT_EQ(r.events[0]["data"]["message"]["story_reply"]["id"], "1799");

  host_.respond([](const HttpRequest&) -> sdk::Result<HttpResponse> {
    return HttpResponse{200, {}, R"({"recipient_id":"1","message_id":"aWdfbWVzc2FnZV9pdGVtOjE="})"};
  });
  const std::string to = body["entry"][0]["messaging"][0]["sender"]["id"];
  host_.setNowMs(body["entry"][0]["messaging"][0]["timestamp"].get<int64_t>() + 60'000);
  json send = {{"type", "message.send"},
               {"data", {{"to", to}, {"message", {{"text", "জি, আছে"}}}}}};
  auto d = host_.deliver("send", send.dump(), "e1");
  ASSERT_EQ(d.outcome, Outcome::kSuccess) << d.message;
  EXPECT_EQ(d.provider_message_id, "aWdfbWVzc2FnZV9pdGVtOjE=");
  auto req = host_.requests().back();
  EXPECT_EQ(req.url, std::string("https://graph.test/v21.0/") + kAccount + "/messages");
  EXPECT_EQ(json::parse(req.body), json({{"recipient", {{"id", to}}},
                                         {"messaging_type", "RESPONSE"},
                                         {"message", {{"text", "জি, আছে"}}}}));
  host_.setNowMs(host_.nowMs() + 25LL * 3600 * 1000);
  EXPECT_EQ(host_.deliver("send", send.dump(), "e2").status, Code::kOutsideWindow);
}

TEST_F(InstagramTest, PageObjectsAreRefused) {
  EXPECT_EQ(post(wireBody("messenger/inbound_text.json")).status, 400);
}

}  // namespace
}  // namespace sanjog::plugins::channel_instagram
