#include <gtest/gtest.h>

#include "messenger.hpp"
#include "sanjog/sdk/testing/fake_host.hpp"
#include "support/fixtures.h"

extern "C" const sanjog_plugin_descriptor* sanjog_plugin_entry(uint32_t, uint32_t);

namespace sanjog::plugins::channel_messenger {
namespace {

using nlohmann::json;
using sanjog::testing::fixtureJson;
using sanjog::testing::metaSignature;
using sanjog::testing::readFixture;
using sanjog::testing::wireBody;
using sdk::Code;
using sdk::HttpRequest;
using sdk::HttpResponse;
using sdk::Outcome;
using sdk::testing::FakeHost;

constexpr const char* kSecret = "meta_app_secret_example";
constexpr const char* kToken = "EAAG-page-access-token-0123456789";
constexpr const char* kPage = "104870412345678";
constexpr const char* kPsid = "6843215907654321";

json config(json extra = json::object()) {
  json c = {{"api_base", "https://graph.test"},
            {"page_id", kPage},
            {"access_token", kToken},
            {"app_secret", kSecret},
            {"verify_token", "sanjog-verify-3f9c2a"}};
  c.update(extra);
  return c;
}

json sendEvent(const std::string& to, json message) {
  return {{"specversion", "1.0"},
          {"id", "evt_1"},
          {"type", "message.send"},
          {"data", {{"instance", "fb"}, {"to", to}, {"message", std::move(message)}}}};
}

class MessengerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    host_.setNowMs(1742013737204 + 60'000);  // a minute after inbound_text.json
    ASSERT_TRUE(host_.create("fb", config()));
  }
  FakeHost::WebhookResult post(const std::string& body) {
    return host_.webhook("POST", body, {{"X-Hub-Signature-256", metaSignature(kSecret, body)}});
  }
  void answer(int status, const std::string& body) {
    host_.respond([status, body](const HttpRequest&) -> sdk::Result<HttpResponse> {
      return HttpResponse{status, {}, body};
    });
  }
  FakeHost host_{sanjog_plugin_entry(SANJOG_ABI_MAJOR, SANJOG_ABI_MINOR)};
};

TEST_F(MessengerTest, DescriptorAndHandshake) {
  const auto* d = sanjog_plugin_entry(SANJOG_ABI_MAJOR, SANJOG_ABI_MINOR);
  EXPECT_STREQ(d->name, "channel_messenger");
  auto schema = json::parse(d->config_schema);
  EXPECT_EQ(schema["properties"]["app_secret"]["x-secret"], true);
  EXPECT_EQ(schema["properties"]["rate_limit_per_second"]["default"], 250);
  auto ok =
      host_.webhook("GET", "", {}, "",
                    "hub.mode=subscribe&hub.challenge=42&hub.verify_token=sanjog-verify-3f9c2a");
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(ok.body, "42");
  EXPECT_EQ(host_.webhook("GET", "", {}, "", "hub.mode=subscribe&hub.challenge=42").status, 403);
}

TEST_F(MessengerTest, SignatureVectorWithEscapedBengaliIsAcceptedAsSent) {
  const json ex = fixtureJson("whatsapp/signature_examples.json")["examples"][2];
  auto r = host_.webhook(
      "POST", ex["raw_body_escaped"],
      {{"X-Hub-Signature-256", ex["x_hub_signature_256_for_escaped"].get<std::string>()}});
  ASSERT_EQ(r.status, 200);
  ASSERT_EQ(r.events.size(), 1u);
  EXPECT_EQ(r.events[0]["data"]["message"]["text"], "আমার অর্ডার কবে পৌঁছাবে?");
  // The same signature over the re-serialized body is a forgery.
  auto bad = host_.webhook(
      "POST", ex["raw_body_reserialized_utf8"],
      {{"X-Hub-Signature-256", ex["x_hub_signature_256_for_escaped"].get<std::string>()}});
  EXPECT_EQ(bad.status, 401);
  EXPECT_TRUE(bad.events.empty());
  EXPECT_EQ(host_.metric("sanjog_channel_signature_failures_total", {"messenger", "mismatch"}), 1);
}

TEST_F(MessengerTest, TextPostbackAndDeliveryFixtures) {
  auto text = post(wireBody("messenger/inbound_text.json")).events.at(0);
  EXPECT_EQ(text["type"], "message.received");
  EXPECT_EQ(text["data"]["channel"], "messenger");
  EXPECT_EQ(text["data"]["contact"]["id"], kPsid);
  EXPECT_EQ(text["data"]["message"]["kind"], "text");
  EXPECT_EQ(text["time"], "2025-03-15T04:42:17.204Z");
  EXPECT_EQ(text["providerid"], text["data"]["message"]["id"]);

  auto postback = post(wireBody("messenger/inbound_postback.json")).events.at(0);
  EXPECT_EQ(postback["data"]["message"]["kind"], "postback");
  EXPECT_EQ(postback["data"]["message"]["interactive"],
            json({{"kind", "button_reply"}, {"id", "TRACK_ORDER"}, {"title", "অর্ডার ট্র্যাক করুন"}}));
  EXPECT_EQ(postback["data"]["message"]["referral"]["ref"], "eid_sale_2025");

  auto delivery = post(wireBody("messenger/inbound_delivery.json")).events.at(0);
  EXPECT_EQ(delivery["type"], "message.status");
  EXPECT_EQ(delivery["data"]["status"], "delivered");
  EXPECT_EQ(
      delivery["data"]["provider_message_id"],
      "m_RTlxxCukDuuvWT1_Hd3HQ64siSLPP2CZMxO_eHdKO_i9byIzC49t91OCEt_8Dgv62Pv3rwBMBpdodvdVBRmIRA");
}

TEST_F(MessengerTest, EchoesAreNeverCustomerMessages) {
  json body = fixtureJson("messenger/inbound_text.json");
  body["entry"][0]["messaging"][0]["message"]["is_echo"] = true;
  auto r = post(body.dump());
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(r.events.empty());
  EXPECT_EQ(host_.metric("sanjog_channel_webhook_events_total", {"messenger", "echo", "ignored"}),
            1);
}

TEST_F(MessengerTest, AttachmentsQuickRepliesReactionsAndUnknownItems) {
  json body = fixtureJson("messenger/inbound_text.json");
  json base = body["entry"][0]["messaging"][0];
  json image = base;
  image["message"] = {{"mid", "m_img"},
                      {"attachments",
                       {{{"type", "image"}, {"payload", {{"url", "https://cdn.test/a.jpg"}}}},
                        {{"type", "file"}, {"payload", {{"url", "https://cdn.test/b.pdf"}}}}}}};
  json qr = base;
  qr["message"] = {{"mid", "m_qr"}, {"text", "হ্যাঁ"}, {"quick_reply", {{"payload", "CONFIRM"}}}};
  json reaction = base;
  reaction.erase("message");
  reaction["reaction"] = {
      {"mid", "m_out"}, {"action", "react"}, {"reaction", "love"}, {"emoji", "❤"}};
  json optin = base;
  optin.erase("message");
  optin["optin"] = {{"type", "notification_messages"}};
  body["entry"][0]["messaging"] = json::array({image, qr, reaction, optin});
  auto r = post(body.dump());
  ASSERT_EQ(r.events.size(), 4u);
  auto m = [&](size_t i) { return r.events[i]["data"]["message"]; };
  EXPECT_EQ(m(0)["kind"], "image");
  EXPECT_EQ(m(0)["attachments"][0],
            json({{"kind", "image"}, {"url", "https://cdn.test/a.jpg"}, {"media_id", "m_img.0"}}));
  EXPECT_EQ(m(0)["attachments"][1]["kind"], "document");
  EXPECT_EQ(host_.kv("media:m_img.1"), "https://cdn.test/b.pdf");
  EXPECT_EQ(m(1)["interactive"],
            json({{"kind", "button_reply"}, {"id", "CONFIRM"}, {"title", "হ্যাঁ"}}));
  EXPECT_EQ(m(2)["kind"], "reaction");
  EXPECT_EQ(m(2)["reaction"]["message_id"], "m_out");
  EXPECT_EQ(m(3)["kind"], "unsupported");
  EXPECT_EQ(m(3)["raw_type"], "optin");
}

TEST_F(MessengerTest, SendMatchesTheDocumentedBodyAndRecordsTheMid) {
  post(wireBody("messenger/inbound_text.json"));
  answer(200, readFixture("messenger/outbound_send.response_200.json"));
  const json expected = fixtureJson("messenger/outbound_send_text.request.json");
  auto r =
      host_.deliver("send", sendEvent(kPsid, {{"text", expected["message"]["text"]}}).dump(), "e1");
  ASSERT_EQ(r.outcome, Outcome::kSuccess) << r.message;
  EXPECT_EQ(r.provider_message_id,
            fixtureJson("messenger/outbound_send.response_200.json")["message_id"]);
  auto req = host_.requests().back();
  EXPECT_EQ(req.url, std::string("https://graph.test/v21.0/") + kPage + "/messages");
  EXPECT_EQ(*sdk::findHeader(req.headers, "Authorization"), std::string("Bearer ") + kToken);
  EXPECT_EQ(req.url.find(kToken), std::string::npos);
  EXPECT_EQ(json::parse(req.body), expected);
}

TEST_F(MessengerTest, WindowThenHumanAgentTagThenOutsideWindow) {
  const json expected = fixtureJson("messenger/outbound_send_text_human_agent_tag.request.json");
  const std::string psid = expected["recipient"]["id"];
  auto ev = sendEvent(psid, {{"text", expected["message"]["text"]}}).dump();
  auto closed = host_.deliver("send", ev, "e1");
  EXPECT_EQ(closed.status, Code::kOutsideWindow);
  EXPECT_TRUE(host_.requests().empty());

  ASSERT_TRUE(host_.create("fb", config({{"human_agent", true}})));
  post(wireBody("messenger/inbound_postback.json"));  // the person tapped a button
  answer(200, R"({"recipient_id":"7129304856127734","message_id":"m_1"})");
  host_.setNowMs(1742094930102 + 3LL * 24 * 3600 * 1000);  // three days later
  ASSERT_EQ(host_.deliver("send", ev, "e2").outcome, Outcome::kSuccess);
  EXPECT_EQ(json::parse(host_.requests().back().body), expected);
  host_.setNowMs(1742094930102 + 8LL * 24 * 3600 * 1000);
  EXPECT_EQ(host_.deliver("send", ev, "e3").status, Code::kOutsideWindow);
}

TEST_F(MessengerTest, QuickRepliesMediaWithCaptionAndMarkSeen) {
  post(wireBody("messenger/inbound_text.json"));
  int n = 0;
  host_.respond([&n](const HttpRequest&) -> sdk::Result<HttpResponse> {
    return HttpResponse{
        200,
        {},
        R"({"recipient_id":"6843215907654321","message_id":"m_)" + std::to_string(++n) + "\"}"};
  });
  auto q = host_.deliver(
      "send",
      sendEvent(
          kPsid,
          {{"interactive",
            {{"kind", "buttons"},
             {"body", "অর্ডার নিশ্চিত করবেন?"},
             {"buttons", {{{"id", "yes"}, {"title", "হ্যাঁ"}}, {{"id", "no"}, {"title", "না"}}}}}}})
          .dump(),
      "e1");
  ASSERT_EQ(q.outcome, Outcome::kSuccess);
  EXPECT_EQ(json::parse(host_.requests().back().body)["message"],
            json({{"text", "অর্ডার নিশ্চিত করবেন?"},
                  {"quick_replies",
                   {{{"content_type", "text"}, {"title", "হ্যাঁ"}, {"payload", "yes"}},
                    {{"content_type", "text"}, {"title", "না"}, {"payload", "no"}}}}}));
  auto media = host_.deliver(
      "send",
      sendEvent(
          kPsid,
          {{"media",
            {{"kind", "image"}, {"url", "https://shop.test/p.jpg"}, {"caption", "নতুন কালেকশন"}}}})
          .dump(),
      "e2");
  ASSERT_EQ(media.outcome, Outcome::kSuccess);
  auto reqs = host_.requests();
  ASSERT_EQ(reqs.size(), 3u);
  EXPECT_EQ(json::parse(reqs[1].body)["message"],
            json({{"attachment",
                   {{"type", "image"},
                    {"payload", {{"url", "https://shop.test/p.jpg"}, {"is_reusable", false}}}}}}));
  EXPECT_EQ(json::parse(reqs[2].body)["message"], json({{"text", "নতুন কালেকশন"}}));
  EXPECT_EQ(media.provider_message_id, "m_2");

  auto received = post(wireBody("messenger/inbound_text.json"));
  (void)received;
  auto text = fixtureJson("messenger/inbound_text.json");
  json event = {{"type", "message.received"},
                {"data", {{"contact", {{"id", kPsid}}}, {"message", {{"id", "m_x"}}}}}};
  ASSERT_EQ(host_.deliver("mark_read", event.dump(), "e3").outcome, Outcome::kSuccess);
  EXPECT_EQ(json::parse(host_.requests().back().body),
            json({{"recipient", {{"id", kPsid}}}, {"sender_action", "mark_seen"}}));
  EXPECT_EQ(
      host_
          .deliver("send",
                   sendEvent(kPsid, {{"template", {{"name", "x"}, {"language", "bn"}}}}).dump(),
                   "e4")
          .status,
      Code::kInvalidArgument);
}

TEST_F(MessengerTest, WatermarksMarkEverySentMessageBeforeThem) {
  post(wireBody("messenger/inbound_text.json"));
  int n = 0;
  host_.respond([&n](const HttpRequest&) -> sdk::Result<HttpResponse> {
    return HttpResponse{200, {}, R"({"message_id":"m_out)" + std::to_string(++n) + "\"}"};
  });
  ASSERT_EQ(host_.deliver("send", sendEvent(kPsid, {{"text", "এক"}}).dump(), "e1").outcome,
            Outcome::kSuccess);
  host_.setNowMs(host_.nowMs() + 5000);
  ASSERT_EQ(host_.deliver("send", sendEvent(kPsid, {{"text", "দুই"}}).dump(), "e2").outcome,
            Outcome::kSuccess);
  const int64_t first_sent = host_.nowMs() - 5000;

  json read = fixtureJson("messenger/inbound_delivery.json");
  auto& item = read["entry"][0]["messaging"][0];
  item.erase("delivery");
  item["read"] = {{"watermark", first_sent + 1}};
  auto r = post(read.dump());
  ASSERT_EQ(r.events.size(), 2u);  // m_out1: delivered and read (read implies delivered)
  EXPECT_EQ(r.events[0]["providerid"], "m_out1:delivered");
  EXPECT_EQ(r.events[1]["providerid"], "m_out1:read");
  json delivered = fixtureJson("messenger/inbound_delivery.json");
  delivered["entry"][0]["messaging"][0]["delivery"] = {{"watermark", host_.nowMs()}};
  auto d = post(delivered.dump());
  ASSERT_EQ(d.events.size(), 1u);
  EXPECT_EQ(d.events[0]["providerid"], "m_out2:delivered");
  EXPECT_TRUE(post(delivered.dump()).events.empty());
}

TEST_F(MessengerTest, GraphErrorsMapToTheTaxonomy) {
  post(wireBody("messenger/inbound_text.json"));
  auto ev = sendEvent(kPsid, {{"text", "hi"}}).dump();
  answer(400, readFixture("messenger/outbound_send.response_400_error.json"));
  auto unknown = host_.deliver("send", ev, "e1");
  EXPECT_EQ(unknown.outcome, Outcome::kPermanent);
  EXPECT_EQ(unknown.status, Code::kInvalidArgument);
  EXPECT_NE(unknown.message.find("2018001"), std::string::npos);
  answer(
      400,
      R"({"error":{"message":"(#613) Calls to this api have exceeded the rate limit.","type":"OAuthException","code":613}})");
  auto limited = host_.deliver("send", ev, "e2");
  EXPECT_EQ(limited.status, Code::kRateLimited);
  EXPECT_EQ(limited.retry_after_ms, 60000);
  answer(
      400,
      R"({"error":{"message":"(#10) This message is sent outside of allowed window.","type":"OAuthException","code":10,"error_subcode":2018278}})");
  EXPECT_EQ(host_.deliver("send", ev, "e3").status, Code::kOutsideWindow);
  answer(401, readFixture("whatsapp/outbound_send.error_190_expired_token.json"));
  EXPECT_EQ(host_.deliver("send", ev, "e4").status, Code::kUnauthenticated);
  EXPECT_EQ(host_.health().state, sdk::HealthState::kDegraded);
}

TEST_F(MessengerTest, MediaIsServedFromTheRememberedUrl) {
  json body = fixtureJson("messenger/inbound_text.json");
  body["entry"][0]["messaging"][0]["message"] = {
      {"mid", "m_img"},
      {"attachments", {{{"type", "audio"}, {"payload", {{"url", "https://cdn.test/v.mp4"}}}}}}};
  post(body.dump());
  host_.respond([](const HttpRequest& req) -> sdk::Result<HttpResponse> {
    if (req.url == "https://cdn.test/v.mp4")
      return HttpResponse{200, {{"Content-Type", "audio/mp4"}}, "AUDIO"};
    return HttpResponse{404, {}, ""};
  });
  auto m = host_.fetchMedia("m_img.0");
  ASSERT_EQ(m.rc, SANJOG_OK) << m.error;
  EXPECT_EQ(m.body, "AUDIO");
  EXPECT_EQ(m.content_type, "audio/mp4");
  EXPECT_EQ(host_.fetchMedia("m_img.9").rc, SANJOG_NOT_FOUND);
}

TEST_F(MessengerTest, OtherPagesAndMalformedBodies) {
  json body = fixtureJson("messenger/inbound_text.json");
  body["entry"][0]["id"] = "999999999999";
  auto r = post(body.dump());
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(r.events.empty());
  EXPECT_EQ(post(wireBody("instagram/inbound_dm_text.json")).status, 400);  // object "instagram"
  EXPECT_EQ(post("{").status, 400);
}

}  // namespace
}  // namespace sanjog::plugins::channel_messenger
