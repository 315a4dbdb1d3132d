#include <gtest/gtest.h>

#include "sanjog/sdk/testing/fake_host.hpp"
#include "support/fixtures.h"
#include "twilio.hpp"

extern "C" const sanjog_plugin_descriptor* sanjog_plugin_entry(uint32_t, uint32_t);

namespace sanjog::plugins::sms_twilio {
namespace {

using nlohmann::json;
using sanjog::testing::fixtureJson;
using sanjog::testing::readFixture;
using sdk::Code;
using sdk::HttpRequest;
using sdk::HttpResponse;
using sdk::Outcome;
using sdk::testing::FakeHost;

constexpr const char* kToken = "684e4ea5a1c8eecca6ff1a4af29cb8df";
constexpr const char* kAccount = "ACbe0a5e11e4c6be006090910c972360c9";
constexpr const char* kUrl = "https://gateway.example.com/webhooks/twilio-sms";

TEST(TwilioSignature, EveryShippedVectorVerifies) {
  const json doc = fixtureJson("twilio/signature_examples.json");
  int checked = 0;
  for (const auto& c : doc["cases"]) {
    const std::string token = c.contains("auth_token") ? c["auth_token"] : doc["auth_token"];
    Params params;
    const json& p = c["params"] == "default" ? doc["params"] : c["params"];
    for (const auto& [k, v] : p.items()) {
      if (v.is_array()) {
        for (const auto& one : v) params.emplace_back(k, one.get<std::string>());
      } else {
        params.emplace_back(k, v.get<std::string>());
      }
    }
    if (c.contains("raw_form_body")) params = parseForm(c["raw_form_body"].get<std::string>());
    const std::string url = c["signed_url"];
    EXPECT_TRUE(verify(c["signature"].get<std::string>(), token, url, params)) << url;
    EXPECT_FALSE(verify(c["signature"].get<std::string>(), "another-token", url, params));
    ++checked;
  }
  EXPECT_EQ(checked, 8);
  // The SDK accepts the URL with and without the default port.
  const json& c0 = doc["cases"][0];
  Params params;
  for (const auto& [k, v] : doc["params"].items()) params.emplace_back(k, v.get<std::string>());
  EXPECT_TRUE(verify(doc["cases"][1]["signature"].get<std::string>(),
                     doc["auth_token"].get<std::string>(), c0["signed_url"].get<std::string>(),
                     params));
}

class TwilioTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(host_.create("sms", {{"api_base", "https://twilio.test"},
                                     {"account_sid", kAccount},
                                     {"auth_token", kToken},
                                     {"from", "+14155550123"},
                                     {"public_url", kUrl}}));
  }
  FakeHost::WebhookResult post(const std::string& body, const std::string& path = "") {
    return host_.webhook("POST", body,
                         {{"X-Twilio-Signature", signature(kToken, kUrl + path, parseForm(body))},
                          {"Content-Type", "application/x-www-form-urlencoded"}},
                         path);
  }
  sdk::DeliveryResult send(const std::string& to, json message) {
    json ev = {{"type", "message.send"}, {"data", {{"to", to}, {"message", std::move(message)}}}};
    return host_.deliver("send", ev.dump(), "e1");
  }
  void answer(int status, const std::string& body) {
    host_.respond([status, body](const HttpRequest&) -> sdk::Result<HttpResponse> {
      return HttpResponse{status, {}, body};
    });
  }
  FakeHost host_{sanjog_plugin_entry(SANJOG_ABI_MAJOR, SANJOG_ABI_MINOR)};
};

TEST_F(TwilioTest, InboundSmsFixtureInBengali) {
  const std::string body = readFixture("twilio/inbound_sms.txt");
  const json vec = fixtureJson("twilio/signature_examples.json")["cases"][7];
  auto r =
      host_.webhook("POST", body, {{"X-Twilio-Signature", vec["signature"].get<std::string>()}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.content_type, "text/xml");
  ASSERT_EQ(r.events.size(), 1u);
  const json& e = r.events[0];
  EXPECT_EQ(e["type"], "message.received");
  EXPECT_EQ(e["providerid"], "SMefeb801c9754006fdc8d080dfe1c1569");
  EXPECT_EQ(e["data"]["channel"], "sms");
  EXPECT_EQ(e["data"]["contact"]["phone"], "+8801711000001");
  EXPECT_EQ(e["data"]["address"], "+8801711000001");
  EXPECT_EQ(e["data"]["message"]["text"], "আমার অর্ডার কবে পৌঁছাবে?");
  EXPECT_EQ(e["data"]["message"]["segments"], 1);
}

TEST_F(TwilioTest, ForgedOrMissingSignaturesAre401) {
  const std::string body = readFixture("twilio/inbound_sms.txt");
  auto forged = host_.webhook("POST", body,
                              {{"X-Twilio-Signature", signature("wrong", kUrl, parseForm(body))}});
  EXPECT_EQ(forged.status, 401);
  EXPECT_TRUE(forged.events.empty());
  EXPECT_EQ(host_.webhook("POST", body, {}).status, 401);
  // Signed for another URL (what a proxy in front would change).
  auto other = host_.webhook(
      "POST", body,
      {{"X-Twilio-Signature",
        signature(kToken, "http://10.0.0.5:8080/webhooks/twilio-sms", parseForm(body))}});
  EXPECT_EQ(other.status, 401);
  EXPECT_EQ(host_.metric("sanjog_channel_signature_failures_total", {"sms", "mismatch"}), 2);
}

TEST_F(TwilioTest, MmsAttachmentAndStatusCallbacks) {
  auto mms = post(readFixture("twilio/inbound_mms.txt")).events.at(0)["data"]["message"];
  ASSERT_EQ(mms["attachments"].size(), 1u);
  EXPECT_EQ(mms["attachments"][0]["kind"], "image");
  EXPECT_EQ(mms["attachments"][0]["media_id"],
            "MMdd136801f5e6476d5a52dccc945bd25c:MEc4f1f15556fae40d49020943f9dd98ce");

  auto delivered =
      post(readFixture("twilio/status_callback_delivered.txt"), "/status").events.at(0);
  EXPECT_EQ(delivered["type"], "message.status");
  EXPECT_EQ(delivered["data"]["status"], "delivered");
  auto read = post(readFixture("twilio/status_callback_read.txt"), "/status").events.at(0);
  EXPECT_EQ(read["data"]["status"], "read");
  EXPECT_EQ(read["data"]["recipient"].get<std::string>().front(), '+');
  auto failed =
      post(readFixture("twilio/status_callback_failed_21610.txt"), "/status").events.at(0);
  EXPECT_EQ(failed["data"]["status"], "failed");
  EXPECT_EQ(failed["data"]["error"]["code"], "21610");
  EXPECT_EQ(failed["providerid"], "SM588a093f9a1e8990f43300cf0def3e93:failed");
}

TEST_F(TwilioTest, SendCreatesAMessageWithStatusCallbackAndCountsSegments) {
  answer(201, readFixture("twilio/messages_create.response_201.json"));
  auto r = send("01711-000001", {{"text", "আপনার অর্ডার #1042 পাঠানো হয়েছে"}});
  ASSERT_EQ(r.outcome, Outcome::kSuccess) << r.message;
  EXPECT_EQ(r.provider_message_id, "SMaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
  auto req = host_.requests().back();
  EXPECT_EQ(req.url,
            std::string("https://twilio.test/2010-04-01/Accounts/") + kAccount + "/Messages.json");
  EXPECT_EQ(*sdk::findHeader(req.headers, "Authorization"),
            "Basic " + sdk::crypto::base64Encode(std::string(kAccount) + ":" + kToken));
  const Params form = parseForm(req.body);
  EXPECT_EQ(form, (Params{{"To", "+8801711000001"},
                          {"From", "+14155550123"},
                          {"Body", "আপনার অর্ডার #1042 পাঠানো হয়েছে"},
                          {"StatusCallback", std::string(kUrl) + "/status"}}));
  EXPECT_EQ(host_.metric("sanjog_sms_segments_total", {"ucs2"}), 1);
  ASSERT_EQ(send("+8801711000001", {{"text", std::string(200, 'a')}}).outcome, Outcome::kSuccess);
  EXPECT_EQ(host_.metric("sanjog_sms_segments_total", {"gsm7"}), 2);
}

TEST_F(TwilioTest, TooManySegmentsFailBeforeAnyRequest) {
  ASSERT_TRUE(host_.create("sms", {{"api_base", "https://twilio.test"},
                                   {"account_sid", kAccount},
                                   {"auth_token", kToken},
                                   {"from", "+14155550123"},
                                   {"public_url", kUrl},
                                   {"max_segments", 2}}));
  std::string text;
  for (int i = 0; i < 135; ++i) text += "ক";  // 135 UCS-2 units: 3 segments
  auto r = send("+8801711000001", {{"text", text}});
  EXPECT_EQ(r.outcome, Outcome::kPermanent);
  EXPECT_NE(r.message.find("3 ucs2 segments"), std::string::npos) << r.message;
  EXPECT_TRUE(host_.requests().empty());
}

TEST_F(TwilioTest, ErrorsMapToTheTaxonomy) {
  answer(400,
         R"({"code":21610,"message":"Attempt to send to unsubscribed recipient","status":400})");
  auto stop = send("+8801711000001", {{"text", "hi"}});
  EXPECT_EQ(stop.outcome, Outcome::kPermanent);
  EXPECT_NE(stop.message.find("21610"), std::string::npos);
  answer(400,
         R"({"code":21211,"message":"The 'To' number is not a valid phone number.","status":400})");
  EXPECT_EQ(send("+8801711000001", {{"text", "hi"}}).status, Code::kInvalidArgument);
  answer(429, readFixture("twilio/error_response_429.json"));
  auto limited = send("+8801711000001", {{"text", "hi"}});
  EXPECT_EQ(limited.outcome, Outcome::kRetry);
  EXPECT_EQ(limited.status, Code::kRateLimited);
  answer(503, "");
  EXPECT_EQ(send("+8801711000001", {{"text", "hi"}}).outcome, Outcome::kRetry);
  answer(401, R"({"code":20003,"message":"Authenticate","status":401})");
  EXPECT_EQ(send("+8801711000001", {{"text", "hi"}}).status, Code::kUnauthenticated);
  EXPECT_EQ(host_.health().state, sdk::HealthState::kDegraded);
  EXPECT_EQ(send("not a number", {{"text", "hi"}}).outcome, Outcome::kPermanent);
  EXPECT_EQ(send("+8801711000001", {{"template", {{"name", "x"}, {"language", "bn"}}}}).status,
            Code::kInvalidArgument);
}

TEST_F(TwilioTest, ButtonsBecomeNumberedLines) {
  answer(201, readFixture("twilio/messages_create.response_201.json"));
  ASSERT_EQ(send("+8801711000001",
                 {{"interactive",
                   {{"kind", "buttons"},
                    {"body", "রেটিং দিন"},
                    {"buttons",
                     {{{"id", "5"}, {"title", "চমৎকার"}}, {{"id", "1"}, {"title", "খারাপ"}}}}}}})
                .outcome,
            Outcome::kSuccess);
  const Params form = parseForm(host_.requests().back().body);
  EXPECT_EQ(form[2],
            (std::pair<std::string, std::string>{"Body", "রেটিং দিন\n1. চমৎকার\n2. খারাপ"}));
}

TEST_F(TwilioTest, MediaFollowsTheRedirect) {
  host_.respond([](const HttpRequest& req) -> sdk::Result<HttpResponse> {
    if (req.url.find("/Messages/MMdd136801f5e6476d5a52dccc945bd25c/Media/"
                     "MEc4f1f15556fae40d49020943f9dd98ce") != std::string::npos) {
      return HttpResponse{307, {{"Location", "https://cdn.twilio.test/x.jpg"}}, ""};
    }
    if (req.url == "https://cdn.twilio.test/x.jpg") {
      return HttpResponse{200, {{"Content-Type", "image/jpeg"}}, "JPEG"};
    }
    return HttpResponse{404, {}, ""};
  });
  auto m =
      host_.fetchMedia("MMdd136801f5e6476d5a52dccc945bd25c:MEc4f1f15556fae40d49020943f9dd98ce");
  ASSERT_EQ(m.rc, SANJOG_OK) << m.error;
  EXPECT_EQ(m.body, "JPEG");
  EXPECT_EQ(host_.fetchMedia("../../x").rc, SANJOG_NOT_FOUND);
}

}  // namespace
}  // namespace sanjog::plugins::sms_twilio
