#include "crm_webhook.hpp"

#include <gtest/gtest.h>

#include "sanjog/sdk/standard_webhooks.hpp"
#include "sanjog/sdk/testing/fake_host.hpp"

extern "C" const sanjog_plugin_descriptor* sanjog_plugin_entry(uint32_t, uint32_t);

namespace sanjog::plugins::crm_webhook {
namespace {

namespace sw = sdk::standard_webhooks;
using sdk::Outcome;
using sdk::testing::FakeHost;

constexpr const char* kSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

class CrmWebhookTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(host_.create("crm", {{"url", "https://crm.test/events"},
                                     {"secret", kSecret},
                                     {"headers", {{"x-api-key", "k-123"}}}}));
  }
  std::vector<sdk::Header> signedHeaders(const std::string& id, const std::string& body,
                                         int64_t ts) {
    return {{"Webhook-Id", id},
            {"Webhook-Timestamp", std::to_string(ts)},
            {"Webhook-Signature", sw::sign(*sw::decodeSecret(kSecret), id, ts, body)}};
  }
  int64_t nowS() { return host_.nowMs() / 1000; }

  FakeHost host_{sanjog_plugin_entry(SANJOG_ABI_MAJOR, SANJOG_ABI_MINOR)};
};

TEST_F(CrmWebhookTest, DescriptorAndSchema) {
  const auto* d = sanjog_plugin_entry(SANJOG_ABI_MAJOR, SANJOG_ABI_MINOR);
  EXPECT_STREQ(d->name, "crm_webhook");
  EXPECT_STREQ(d->kind, "crm");
  auto schema = nlohmann::json::parse(d->config_schema);
  EXPECT_EQ(schema["additionalProperties"], false);
  EXPECT_EQ(schema["properties"]["secret"]["x-secret"], true);
  EXPECT_EQ(nlohmann::json::parse(d->actions), nlohmann::json::array({"deliver"}));
}

TEST_F(CrmWebhookTest, InboundSignedEventIsEmittedWithProviderId) {
  const std::string body =
      R"({"id":"crm-77","type":"message.send","data":{"conversation_id":"conv_1","message":{"text":"আপনার অর্ডার পাঠানো হয়েছে"}}})";
  auto r = host_.webhook("POST", body, signedHeaders("msg_1", body, nowS()));
  EXPECT_EQ(r.status, 202);
  EXPECT_EQ(r.json()["accepted"], 1);
  ASSERT_EQ(r.events.size(), 1u);
  EXPECT_EQ(r.events[0]["type"], "message.send");
  EXPECT_EQ(r.events[0]["providerid"], "msg_1");
  EXPECT_EQ(r.events[0]["senderid"], "crm-77");
  EXPECT_FALSE(r.events[0].contains("id"));
  EXPECT_EQ(r.events[0]["data"]["message"]["text"], "আপনার অর্ডার পাঠানো হয়েছে");
  EXPECT_EQ(host_.metric("sanjog_crm_webhook_received_total", {"accepted"}), 1.0);
}

TEST_F(CrmWebhookTest, InboundBatchGetsOneProviderIdPerEvent) {
  const std::string body =
      R"([{"type":"contact.updated","data":{}},{"type":"message.send","data":{}}])";
  auto r = host_.webhook("POST", body, signedHeaders("msg_b", body, nowS()));
  EXPECT_EQ(r.status, 202);
  ASSERT_EQ(r.events.size(), 2u);
  EXPECT_EQ(r.events[0]["providerid"], "msg_b:0");
  EXPECT_EQ(r.events[1]["providerid"], "msg_b:1");
}

TEST_F(CrmWebhookTest, ForgedStaleFutureAndUnsignedAreRefused) {
  const std::string body = R"({"type":"message.send","data":{}})";
  auto forged = signedHeaders("msg_1", body, nowS());
  forged[2].value = sw::sign("a-different-key-of-16+", "msg_1", nowS(), body);
  EXPECT_EQ(host_.webhook("POST", body, forged).status, 401);
  EXPECT_EQ(host_.webhook("POST", body, signedHeaders("msg_1", body, nowS() - 600)).status, 401);
  EXPECT_EQ(host_.webhook("POST", body, signedHeaders("msg_1", body, nowS() + 600)).status, 401);
  EXPECT_EQ(host_.webhook("POST", body, {}).status, 401);
  auto tampered = signedHeaders("msg_1", body, nowS());
  auto r = host_.webhook("POST", R"({"type":"message.send","data":{"x":1}})", tampered);
  EXPECT_EQ(r.status, 401);
  EXPECT_TRUE(r.events.empty());
  EXPECT_EQ(host_.metric("sanjog_crm_webhook_signature_failures_total", {"bad_signature"}), 2.0);
  EXPECT_EQ(host_.metric("sanjog_crm_webhook_signature_failures_total", {"stale"}), 1.0);
  EXPECT_EQ(host_.metric("sanjog_crm_webhook_signature_failures_total", {"future"}), 1.0);
  EXPECT_EQ(host_.metric("sanjog_crm_webhook_signature_failures_total", {"missing_headers"}), 1.0);
}

TEST_F(CrmWebhookTest, MalformedBodiesAre400AndMethodsOtherThanPost405) {
  for (const std::string body : {"not json", "42", "[]", R"({"data":{}})", R"({"type":""})",
                                 R"({"type":"x.y","data":"text"})", R"([{"type":"a.b"},7])"}) {
    auto r = host_.webhook("POST", body, signedHeaders("msg_m", body, nowS()));
    EXPECT_EQ(r.status, 400) << body;
    EXPECT_TRUE(r.events.empty()) << body;
  }
  EXPECT_EQ(host_.webhook("GET", "", {}).status, 405);
}

TEST_F(CrmWebhookTest, UnacceptedTypesAre422) {
  ASSERT_TRUE(host_.create("crm", {{"secret", kSecret}, {"accept_types", {"message.send"}}}));
  const std::string body = R"({"type":"order.created","data":{}})";
  auto r = host_.webhook("POST", body, signedHeaders("msg_t", body, nowS()));
  EXPECT_EQ(r.status, 422);
  EXPECT_TRUE(r.events.empty());
}

TEST_F(CrmWebhookTest, OutboundIsSignedWithTheIdempotencyKey) {
  const std::string event =
      R"({"specversion":"1.0","id":"evt_1","type":"message.received","data":{"message":{"text":"দাম কত?"}}})";
  auto r = host_.deliver("deliver", event, "evt_1.0");
  EXPECT_EQ(r.outcome, Outcome::kSuccess);
  EXPECT_EQ(r.http_status, 200);
  ASSERT_EQ(host_.requests().size(), 1u);
  const auto requests = host_.requests();
  const auto& req = requests[0];
  EXPECT_EQ(req.method, "POST");
  EXPECT_EQ(req.url, "https://crm.test/events");
  EXPECT_EQ(req.body, event);
  EXPECT_EQ(req.timeout_ms, 10000u);
  EXPECT_EQ(sdk::findHeader(req.headers, "x-api-key"), "k-123");
  EXPECT_EQ(sdk::findHeader(req.headers, "content-type"),
            "application/cloudevents+json; charset=utf-8");
  EXPECT_EQ(sdk::findHeader(req.headers, "webhook-id"), "evt_1.0");
  const auto ts = std::string(*sdk::findHeader(req.headers, "webhook-timestamp"));
  EXPECT_EQ(ts, std::to_string(nowS()));
  EXPECT_EQ(sw::verify(*sw::decodeSecret(kSecret), "evt_1.0", ts,
                       *sdk::findHeader(req.headers, "webhook-signature"), req.body, nowS(), 300),
            sw::Verdict::kOk);
}

TEST_F(CrmWebhookTest, RenderedTextIsSentWithTheConfiguredContentType) {
  host_.deliver("deliver", "{}", "evt_2.1", 1, "অর্ডার #1001 পাঠানো হয়েছে");
  ASSERT_EQ(host_.requests().size(), 1u);
  EXPECT_EQ(host_.requests()[0].body, "অর্ডার #1001 পাঠানো হয়েছে");
  EXPECT_EQ(sdk::findHeader(host_.requests()[0].headers, "content-type"), "application/json");
}

TEST_F(CrmWebhookTest, OutcomesFollowTheReceiversStatus) {
  int status = 500;
  std::vector<sdk::Header> headers;
  host_.respond([&](const sdk::HttpRequest&) -> sdk::Result<sdk::HttpResponse> {
    if (status == 0) return sdk::Status(sdk::Code::kTimeout, "timed out after 10000 ms");
    return sdk::HttpResponse{status, headers, "nope"};
  });
  auto r = host_.deliver("deliver", "{}", "evt_3.0", 1);
  EXPECT_EQ(r.outcome, Outcome::kRetry);
  EXPECT_EQ(r.http_status, 500);
  EXPECT_EQ(r.message, "the receiver answered 500: nope");
  status = 0;
  EXPECT_EQ(host_.deliver("deliver", "{}", "evt_3.0", 2).status, sdk::Code::kTimeout);
  status = 429;
  headers = {{"Retry-After", "30"}};
  r = host_.deliver("deliver", "{}", "evt_3.0", 3);
  EXPECT_EQ(r.outcome, Outcome::kRetry);
  EXPECT_EQ(r.retry_after_ms, 30000);
  status = 400;
  headers.clear();
  EXPECT_EQ(host_.deliver("deliver", "{}", "evt_3.0", 4).outcome, Outcome::kPermanent);
  status = 410;
  EXPECT_EQ(host_.deliver("deliver", "{}", "evt_3.0", 5).outcome, Outcome::kDisable);
  // Every attempt carried the same webhook-id.
  for (const auto& req : host_.requests()) {
    EXPECT_EQ(sdk::findHeader(req.headers, "webhook-id"), "evt_3.0");
  }
  EXPECT_EQ(host_.requests().size(), 5u);
}

TEST_F(CrmWebhookTest, NoUrlIsAPermanentFailure) {
  ASSERT_TRUE(host_.create("inbox", {{"secret", kSecret}}));
  auto r = host_.deliver("deliver", "{}", "evt_4.0");
  EXPECT_EQ(r.outcome, Outcome::kPermanent);
  EXPECT_TRUE(host_.requests().empty());
}

TEST_F(CrmWebhookTest, BadConfigIsRefusedAtCreate) {
  EXPECT_EQ(host_.create("x", {{"secret", "whsec_short"}}).code(), sdk::Code::kInvalidArgument);
  EXPECT_EQ(host_.create("x", {{"secret", kSecret}, {"url", "ftp://x"}}).code(),
            sdk::Code::kInvalidArgument);
  EXPECT_EQ(host_.create("x", {{"secret", kSecret}, {"timeout", "soon"}}).code(),
            sdk::Code::kInvalidArgument);
}

TEST(CrmWebhookDuration, Parses) {
  EXPECT_EQ(parseDuration("250ms")->count(), 250);
  EXPECT_EQ(parseDuration("1h30m")->count(), 5400000);
  EXPECT_FALSE(parseDuration("5 m"));
  EXPECT_FALSE(parseDuration("m"));
  EXPECT_FALSE(parseDuration(""));
}

}  // namespace
}  // namespace sanjog::plugins::crm_webhook
