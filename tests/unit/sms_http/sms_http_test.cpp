#include <gtest/gtest.h>

#include "sanjog/sdk/testing/fake_host.hpp"
#include "sms_http.hpp"

extern "C" const sanjog_plugin_descriptor* sanjog_plugin_entry(uint32_t, uint32_t);

namespace sanjog::plugins::sms_http {
namespace {

using nlohmann::json;
using sdk::Code;
using sdk::HttpRequest;
using sdk::HttpResponse;
using sdk::Outcome;
using sdk::testing::FakeHost;

constexpr const char* kSecret = "callback-secret-0123456789";

json kannelConfig() {
  return {{"profile", "kannel"},  {"api_base", "http://kannel.test:13013"},
          {"username", "sanjog"}, {"password", "p&ss word"},
          {"from", "16555"},      {"public_url", "https://gw.example.com/webhooks/sms"},
          {"secret", kSecret}};
}

std::string sendEvent(const std::string& to, const std::string& text) {
  return json({{"type", "message.send"}, {"data", {{"to", to}, {"message", {{"text", text}}}}}})
      .dump();
}

TEST(SmsHttpTemplates, ValuesAreEncodedForWhereTheyStand) {
  const std::map<std::string, std::string> vars = {{"to", "+8801711000001"},
                                                   {"text", "দাম \"কত\"?"}};
  EXPECT_EQ(render("x?to={{to}}&t={{ text }}&n={{missing}}", vars, Encoding::kUrl),
            "x?to=%2B8801711000001&t=%E0%A6%A6%E0%A6%BE%E0%A6%AE%20%22%E0%A6%95%E0%A6%A4%22%3F&n=");
  EXPECT_EQ(render(R"({"to":"{{to}}","text":"{{text}}"})", vars, Encoding::kJson),
            R"({"to":"+8801711000001","text":"দাম \"কত\"?"})");
  EXPECT_EQ(render("{{unclosed", vars, Encoding::kUrl), "{{unclosed");
  EXPECT_EQ(parseParams("a=1&b=%E0%A6%86+x&c"), (Params{{"a", "1"}, {"b", "আ x"}, {"c", ""}}));
}

class SmsHttpTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(host_.create("sms", kannelConfig())); }
  FakeHost host_{sanjog_plugin_entry(SANJOG_ABI_MAJOR, SANJOG_ABI_MINOR)};
};

TEST_F(SmsHttpTest, KannelProfileBuildsTheSendsmsRequest) {
  host_.respond([](const HttpRequest&) -> sdk::Result<HttpResponse> {
    return HttpResponse{202, {}, "0: Accepted for delivery"};
  });
  auto r = host_.deliver("send", sendEvent("01711-000001", "আপনার অর্ডার পাঠানো হয়েছে"), "evt_1.0");
  ASSERT_EQ(r.outcome, Outcome::kSuccess) << r.message;
  EXPECT_EQ(r.provider_message_id.rfind("sj", 0), 0u);
  const std::string url = host_.requests().back().url;
  EXPECT_EQ(
      url.rfind("http://kannel.test:13013/cgi-bin/sendsms?username=sanjog&password=p%26ss%20word"
                "&from=16555&to=%2B8801711000001&text=%E0%A6%86",
                0),
      0u)
      << url;
  EXPECT_NE(url.find("&coding=2&dlr-mask=31&dlr-url=https%3A%2F%2Fgw.example.com%2Fwebhooks%2Fsms%"
                     "2Fdlr%3Fid%3D" +
                     r.provider_message_id + "%26status%3D%25d%26secret%3D"),
            std::string::npos)
      << url;
  EXPECT_EQ(host_.metric("sanjog_sms_segments_total", {"ucs2"}), 1);
  // The same delivery (a retry) gets the same id.
  EXPECT_EQ(host_.deliver("send", sendEvent("01711-000001", "x"), "evt_1.0").provider_message_id,
            r.provider_message_id);
}

TEST_F(SmsHttpTest, GatewayErrorsAndLimits) {
  host_.respond([](const HttpRequest&) -> sdk::Result<HttpResponse> {
    return HttpResponse{503, {}, "Service unavailable"};
  });
  EXPECT_EQ(host_.deliver("send", sendEvent("+8801711000001", "hi"), "e").outcome, Outcome::kRetry);
  host_.respond([](const HttpRequest&) -> sdk::Result<HttpResponse> {
    return HttpResponse{403, {}, "Authorization failed for sendsms"};
  });
  EXPECT_EQ(host_.deliver("send", sendEvent("+8801711000001", "hi"), "e").outcome,
            Outcome::kPermanent);
  std::string long_text;
  for (int i = 0; i < 400; ++i) long_text += "ক";
  auto too_long = host_.deliver("send", sendEvent("+8801711000001", long_text), "e");
  EXPECT_EQ(too_long.outcome, Outcome::kPermanent);
  EXPECT_NE(too_long.message.find("6 ucs2 segments"), std::string::npos) << too_long.message;
}

TEST_F(SmsHttpTest, CustomJsonGatewayWithMessageIdFromTheAnswer) {
  ASSERT_TRUE(host_.create(
      "sms", {{"method", "POST"},
              {"url", "https://sms.example.bd/api/send"},
              {"content_type", "application/json"},
              {"body", R"({"to":"{{to_digits}}","msg":"{{text}}","sender":"{{from}}"})"},
              {"headers", {{"Authorization", "Bearer {{password}}"}}},
              {"password", "tok-123"},
              {"from", "SHOP"},
              {"success_status", {200}},
              {"success_contains", "\"ok\""},
              {"message_id_pointer", "/data/id"},
              {"public_url", "https://gw.example.com/webhooks/sms"},
              {"secret", kSecret}}));
  host_.respond([](const HttpRequest&) -> sdk::Result<HttpResponse> {
    return HttpResponse{200, {}, R"({"status":"ok","data":{"id":"BD-77"}})"};
  });
  auto r = host_.deliver("send", sendEvent("+8801711000001", "দাম \"৳৫০০\""), "e");
  ASSERT_EQ(r.outcome, Outcome::kSuccess) << r.message;
  EXPECT_EQ(r.provider_message_id, "BD-77");
  auto req = host_.requests().back();
  EXPECT_EQ(req.method, "POST");
  EXPECT_EQ(json::parse(req.body),
            json({{"to", "8801711000001"}, {"msg", "দাম \"৳৫০০\""}, {"sender", "SHOP"}}));
  EXPECT_EQ(*sdk::findHeader(req.headers, "Authorization"), "Bearer tok-123");
  host_.respond([](const HttpRequest&) -> sdk::Result<HttpResponse> {
    return HttpResponse{200, {}, R"({"status":"error","reason":"balance"})"};
  });
  EXPECT_EQ(host_.deliver("send", sendEvent("+8801711000001", "x"), "e").outcome, Outcome::kRetry)
      << "a 200 without the success text is a gateway error";
}

TEST_F(SmsHttpTest, CallbacksNeedTheSecretAndMapToEvents) {
  auto mo = host_.webhook(
      "GET", "", {}, "/mo",
      std::string(
          "from=%2B8801711000001&to=16555&text=%E0%A6%A6%E0%A6%BE%E0%A6%AE&id=uuid-1&secret=") +
          kSecret);
  ASSERT_EQ(mo.status, 200) << mo.body;
  EXPECT_TRUE(mo.body.empty()) << "a non-empty answer would go back to the customer as an SMS";
  ASSERT_EQ(mo.events.size(), 1u);
  EXPECT_EQ(mo.events[0]["type"], "message.received");
  EXPECT_EQ(mo.events[0]["providerid"], "uuid-1");
  EXPECT_EQ(mo.events[0]["data"]["message"]["text"], "দাম");
  EXPECT_EQ(mo.events[0]["data"]["address"], "+8801711000001");
  auto dlr = host_.webhook("GET", "", {{"X-Sanjog-Secret", kSecret}}, "/dlr", "id=sj1&status=1");
  ASSERT_EQ(dlr.events.size(), 1u);
  EXPECT_EQ(dlr.events[0]["data"]["status"], "delivered");
  EXPECT_EQ(dlr.events[0]["providerid"], "dlr:sj1:delivered");
  auto failed =
      host_.webhook("GET", "", {{"X-Sanjog-Secret", kSecret}}, "/dlr", "id=sj1&status=16");
  EXPECT_EQ(failed.events.at(0)["data"]["status"], "failed");
  EXPECT_TRUE(host_.webhook("GET", "", {{"X-Sanjog-Secret", kSecret}}, "/dlr", "id=sj1&status=32")
                  .events.empty());
  EXPECT_EQ(host_.webhook("GET", "", {}, "/dlr", "id=sj1&status=1").status, 401);
  EXPECT_EQ(
      host_.webhook("GET", "", {}, "/dlr", "id=sj1&status=1&secret=wrong-secret-value").status,
      401);
  EXPECT_EQ(host_.webhook("GET", "", {{"X-Sanjog-Secret", kSecret}}, "/other", "").status, 404);
  EXPECT_EQ(host_.webhook("GET", "", {{"X-Sanjog-Secret", kSecret}}, "/mo", "text=hi").status, 400);
  // Without an id from the gateway, a repeat of the same MO maps to the same provider id.
  auto a = host_.webhook("POST", "from=01711000001&to=16555&text=hi",
                         {{"X-Sanjog-Secret", kSecret}}, "/mo");
  auto b = host_.webhook("POST", "from=01711000001&to=16555&text=hi",
                         {{"X-Sanjog-Secret", kSecret}}, "/mo");
  EXPECT_EQ(a.events.at(0)["providerid"], b.events.at(0)["providerid"]);
}

TEST(SmsHttpConfig, RefusesIncompleteConfigs) {
  EXPECT_FALSE(
      parseSettings({{"public_url", "https://gw/webhooks/sms"}, {"secret", kSecret}}));  // no url
  EXPECT_FALSE(parseSettings({{"profile", "kannel"}, {"public_url", "gw"}, {"secret", kSecret}}));
  EXPECT_FALSE(
      parseSettings({{"profile", "kannel"}, {"public_url", "https://gw"}, {"secret", "short"}}));
}

}  // namespace
}  // namespace sanjog::plugins::sms_http
