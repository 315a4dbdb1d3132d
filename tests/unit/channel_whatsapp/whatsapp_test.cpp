#include <gtest/gtest.h>

#include "meta.hpp"
#include "sanjog/sdk/testing/fake_host.hpp"
#include "support/fixtures.h"
#include "whatsapp.hpp"

extern "C" const sanjog_plugin_descriptor* sanjog_plugin_entry(uint32_t, uint32_t);

namespace sanjog::plugins::channel_whatsapp {
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
constexpr const char* kToken = "EAAG-test-access-token-0123456789";
constexpr const char* kNumberId = "1122334455667";

json config(json extra = json::object()) {
  json c = {{"api_base", "https://graph.test"},
            {"phone_number_id", kNumberId},
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
          {"source", "/instances/api"},
          {"data", {{"instance", "wa"}, {"to", to}, {"message", std::move(message)}}}};
}

class WhatsAppTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(host_.create("wa", config())); }

  FakeHost::WebhookResult post(const std::string& body) {
    return host_.webhook("POST", body, {{"X-Hub-Signature-256", metaSignature(kSecret, body)}});
  }
  // A signed inbound text from +8801711000001 at the host's current time.
  void customerWrites(const std::string& wamid = "wamid.in1") {
    json body = fixtureJson("whatsapp/inbound_text.json");
    auto& value = body["entry"][0]["changes"][0]["value"];
    value["contacts"][0]["wa_id"] = "8801711000001";
    value["messages"][0]["from"] = "8801711000001";
    value["messages"][0]["id"] = wamid;
    value["messages"][0]["timestamp"] = std::to_string(host_.nowMs() / 1000);
    ASSERT_EQ(post(body.dump()).status, 200);
  }
  void answer(int status, const std::string& body) {
    host_.respond([status, body](const HttpRequest&) -> sdk::Result<HttpResponse> {
      return HttpResponse{status, {{"Content-Type", "application/json"}}, body};
    });
  }

  FakeHost host_{sanjog_plugin_entry(SANJOG_ABI_MAJOR, SANJOG_ABI_MINOR)};
};

TEST_F(WhatsAppTest, DescriptorDeclaresSecretsDefaultsAndActions) {
  const auto* d = sanjog_plugin_entry(SANJOG_ABI_MAJOR, SANJOG_ABI_MINOR);
  EXPECT_STREQ(d->name, "channel_whatsapp");
  EXPECT_STREQ(d->kind, "channel");
  auto schema = json::parse(d->config_schema);
  EXPECT_EQ(schema["additionalProperties"], false);
  for (const char* secret : {"access_token", "app_secret", "verify_token"}) {
    EXPECT_EQ(schema["properties"][secret]["x-secret"], true) << secret;
  }
  EXPECT_EQ(schema["properties"]["api_base"]["default"], "https://graph.facebook.com");
  EXPECT_EQ(json::parse(d->actions), json::array({"send", "mark_read"}));
  EXPECT_NE(d->hooks->fetch_media, nullptr);
}

TEST_F(WhatsAppTest, SubscribeHandshakeEchoesTheChallengeOnlyForTheRightToken) {
  auto ok = host_.webhook("GET", "", {}, "",
                          "hub.mode=subscribe&hub.challenge=1704863512&hub.verify_token=sanjog-"
                          "verify-3f9c2a");
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(ok.content_type, "text/plain");
  EXPECT_EQ(ok.body, "1704863512");
  auto wrong =
      host_.webhook("GET", "", {}, "",
                    "hub.mode=subscribe&hub.challenge=1704863512&hub.verify_token=not-the-token");
  EXPECT_EQ(wrong.status, 403);
  EXPECT_EQ(wrong.body.find("1704863512"), std::string::npos);
  auto mode =
      host_.webhook("GET", "", {}, "",
                    "hub.mode=unsubscribe&hub.challenge=1&hub.verify_token=sanjog-verify-3f9c2a");
  EXPECT_EQ(mode.status, 403);
}

TEST(MetaSignature, EveryShippedVectorVerifies) {
  const json vectors = fixtureJson("whatsapp/signature_examples.json");
  int checked = 0;
  for (const auto& ex : vectors["examples"]) {
    const std::string secret = ex["app_secret"];
    for (auto [body_key, sig_key] :
         {std::pair{"raw_body", "x_hub_signature_256"},
          std::pair{"raw_body_escaped", "x_hub_signature_256_for_escaped"},
          std::pair{"raw_body_reserialized_utf8", "x_hub_signature_256_for_reserialized"}}) {
      if (!ex.contains(sig_key)) continue;
      const std::string body = ex[body_key], sig = ex[sig_key];
      EXPECT_EQ(channel::meta::verifySignature(sig, body, secret), channel::meta::Signature::kValid)
          << sig_key;
      EXPECT_EQ(channel::meta::verifySignature(sig, body + " ", secret),
                channel::meta::Signature::kMismatch);
      ++checked;
    }
    if (ex.contains("raw_body_escaped")) {
      // The same JSON re-serialized is different bytes: the escaped signature must fail on it.
      EXPECT_EQ(channel::meta::verifySignature(
                    ex["x_hub_signature_256_for_escaped"].get<std::string>(),
                    ex["raw_body_reserialized_utf8"].get<std::string>(), secret),
                channel::meta::Signature::kMismatch);
    }
  }
  EXPECT_EQ(checked, 4);
  EXPECT_EQ(channel::meta::verifySignature(std::nullopt, "x", "k"),
            channel::meta::Signature::kMissing);
  EXPECT_EQ(channel::meta::verifySignature("sha256=abc", "x", "k"),
            channel::meta::Signature::kMalformed);
}

TEST_F(WhatsAppTest, SignedFixtureVectorIsAcceptedAndForgeriesAre401WithNothingEmitted) {
  const json ex = fixtureJson("whatsapp/signature_examples.json")["examples"][1];
  auto r = host_.webhook("POST", ex["raw_body"],
                         {{"X-Hub-Signature-256", ex["x_hub_signature_256"].get<std::string>()}});
  EXPECT_EQ(r.status, 200);
  ASSERT_EQ(r.events.size(), 1u);
  EXPECT_EQ(r.events[0]["providerid"], "wamid.xyzxyz");

  const std::string body = ex["raw_body"];
  auto forged =
      host_.webhook("POST", body, {{"X-Hub-Signature-256", metaSignature("other", body)}});
  EXPECT_EQ(forged.status, 401);
  EXPECT_TRUE(forged.events.empty());
  EXPECT_EQ(host_.webhook("POST", body, {}).status, 401);
  EXPECT_EQ(host_.webhook("POST", body, {{"X-Hub-Signature-256", "sha256=00"}}).status, 401);
  EXPECT_EQ(host_.metric("sanjog_channel_signature_failures_total", {"whatsapp", "mismatch"}), 1);
  EXPECT_EQ(host_.metric("sanjog_channel_signature_failures_total", {"whatsapp", "missing"}), 1);
  EXPECT_EQ(host_.metric("sanjog_channel_signature_failures_total", {"whatsapp", "malformed"}), 1);
}

TEST_F(WhatsAppTest, MalformedSignedBodiesAre400) {
  for (const std::string body : {"{not json", "[]", R"({"object":"page","entry":[]})",
                                 R"({"object":"whatsapp_business_account","entry":{}})"}) {
    auto r = post(body);
    EXPECT_EQ(r.status, 400) << body;
    EXPECT_TRUE(r.events.empty());
  }
}

TEST_F(WhatsAppTest, TextFixtureBecomesMessageReceived) {
  auto r = post(wireBody("whatsapp/inbound_text.json"));
  ASSERT_EQ(r.events.size(), 1u);
  const json& e = r.events[0];
  EXPECT_EQ(e["type"], "message.received");
  EXPECT_EQ(e["providerid"], "wamid.xyzxyz");
  EXPECT_EQ(e["time"], "2023-10-11T16:53:43Z");
  EXPECT_EQ(e["data"]["channel"], "whatsapp");
  EXPECT_EQ(e["data"]["contact"],
            json({{"id", "972987654321"}, {"phone", "+972987654321"}, {"name", "Test Name"}}));
  EXPECT_EQ(e["data"]["message"]["kind"], "text");
  EXPECT_EQ(e["data"]["message"]["text"], "Body Text");
  EXPECT_EQ(e["data"]["message"]["id"], "wamid.xyzxyz");
}

TEST_F(WhatsAppTest, ImageButtonAndTemplateReplyFixtures) {
  auto image = post(wireBody("whatsapp/inbound_image.json")).events.at(0)["data"]["message"];
  EXPECT_EQ(image["kind"], "image");
  EXPECT_EQ(image["attachments"][0], json({{"kind", "image"},
                                           {"media_id", "65463453"},
                                           {"mime_type", "image/jpeg"},
                                           {"sha256", "4654+8g="}}));

  auto button = post(wireBody("whatsapp/inbound_interactive_button_reply.json"))
                    .events.at(0)["data"]["message"];
  EXPECT_EQ(button["kind"], "interactive");
  EXPECT_EQ(button["interactive"],
            json({{"kind", "button_reply"}, {"id", "callback_data"}, {"title", "title"}}));
  EXPECT_EQ(button["reply_to"], "wamid.xyzxyz");

  const json tpl_fixture = fixtureJson("whatsapp/inbound_template_quick_reply_button.json");
  const json& b = tpl_fixture["entry"][0]["changes"][0]["value"]["messages"][0]["button"];
  auto tpl = post(tpl_fixture.dump()).events.at(0)["data"]["message"];
  EXPECT_EQ(tpl["kind"], "interactive");
  EXPECT_EQ(tpl["interactive"]["id"], b["payload"]);
  EXPECT_EQ(tpl["interactive"]["title"], b["text"]);
  EXPECT_EQ(tpl["interactive"]["template"], true);
}

TEST_F(WhatsAppTest, StatusFixturesBecomeMessageStatus) {
  auto delivered = post(wireBody("whatsapp/status_delivered.json")).events.at(0);
  EXPECT_EQ(delivered["type"], "message.status");
  EXPECT_EQ(delivered["data"]["status"], "delivered");
  EXPECT_EQ(delivered["providerid"],
            delivered["data"]["provider_message_id"].get<std::string>() + ":delivered");
  auto read = post(wireBody("whatsapp/status_read.json")).events.at(0);
  EXPECT_EQ(read["data"]["status"], "read");
  auto failed = post(wireBody("whatsapp/status_failed.json")).events.at(0);
  EXPECT_EQ(failed["data"]["status"], "failed");
  EXPECT_EQ(failed["data"]["error"]["code"], "130472");
  EXPECT_EQ(failed["data"]["error"]["reason"], "User's number is part of an experiment");
  EXPECT_EQ(failed["data"]["recipient"], "+972987654321");

  ASSERT_TRUE(host_.create("wa", config({{"phone_number_id", "109876543210987"}})));
  auto priced = post(wireBody("whatsapp/status_failed_with_pricing.json")).events.at(0);
  EXPECT_EQ(priced["data"]["error"]["code"], "131053");
  EXPECT_EQ(priced["data"]["pricing"]["billable"], false);
  EXPECT_EQ(priced["data"]["recipient"], "+8801811000002");
  EXPECT_EQ(priced["time"], "2025-03-15T08:20:11Z");
}

TEST_F(WhatsAppTest, OneBatchWithSeveralEntriesChangesAndMessages) {
  json body = fixtureJson("whatsapp/inbound_text.json");
  json entry = body["entry"][0];
  auto& msgs = entry["changes"][0]["value"]["messages"];
  msgs.push_back(msgs[0]);
  msgs[1]["id"] = "wamid.second";
  json change2 = fixtureJson("whatsapp/status_read.json")["entry"][0]["changes"][0];
  entry["changes"].push_back(change2);
  json other_number = entry;
  for (auto& c : other_number["changes"]) c["value"]["metadata"]["phone_number_id"] = "999999999";
  body["entry"] =
      json::array({entry, fixtureJson("whatsapp/inbound_image.json")["entry"][0], other_number});
  auto r = post(body.dump());
  ASSERT_EQ(r.status, 200);
  ASSERT_EQ(r.events.size(), 4u);
  EXPECT_EQ(r.events[0]["providerid"], "wamid.xyzxyz");
  EXPECT_EQ(r.events[1]["providerid"], "wamid.second");
  EXPECT_EQ(r.events[2]["type"], "message.status");
  EXPECT_EQ(r.events[3]["data"]["message"]["kind"], "image");
  EXPECT_EQ(host_.metric("sanjog_channel_webhook_events_total", {"whatsapp", "other", "ignored"}),
            2);
}

TEST_F(WhatsAppTest, EveryDocumentedMessageTypeAndUnknownOnes) {
  json body = fixtureJson("whatsapp/inbound_text.json");
  auto& value = body["entry"][0]["changes"][0]["value"];
  const json base = value["messages"][0];
  auto msg = [&](const std::string& id, const std::string& type, json content) {
    json m = base;
    m.erase("text");
    m["id"] = id;
    m["type"] = type;
    if (!content.is_null()) m[type] = std::move(content);
    return m;
  };
  value["messages"] = json::array({
      msg("w1", "audio", {{"id", "111"}, {"mime_type", "audio/ogg; codecs=opus"}, {"voice", true}}),
      msg("w2", "video", {{"id", "112"}, {"mime_type", "video/mp4"}, {"caption", "ভিডিও"}}),
      msg("w3", "document",
          {{"id", "113"}, {"mime_type", "application/pdf"}, {"filename", "invoice.pdf"}}),
      msg("w4", "sticker", {{"id", "114"}, {"mime_type", "image/webp"}, {"animated", false}}),
      msg("w5", "location",
          {{"latitude", 23.7808875},
           {"longitude", 90.2792371},
           {"name", "Dhanmondi"},
           {"address", "Road 27, Dhaka"}}),
      msg("w6", "contacts", nullptr),
      msg("w7", "reaction", {{"message_id", "wamid.out1"}, {"emoji", "👍"}}),
      msg("w8", "interactive",
          {{"type", "list_reply"},
           {"list_reply", {{"id", "size_xl"}, {"title", "XL"}, {"description", "৪২ ইঞ্চি"}}}}),
      msg("w9", "order", {{"catalog_id", "1"}}),
      msg("w10", "unsupported", nullptr),
  });
  value["messages"][5]["contacts"] = json::array(
      {{{"name", {{"formatted_name", "রহিম উদ্দিন"}}},
        {"phones", json::array({{{"phone", "+880 1711-000002"}, {"wa_id", "8801711000002"}}})}}});
  value["messages"][9]["errors"] =
      json::array({{{"code", 131051}, {"title", "Message type unknown"}}});
  auto r = post(body.dump());
  ASSERT_EQ(r.status, 200);
  ASSERT_EQ(r.events.size(), 10u);
  auto m = [&](size_t i) { return r.events[i]["data"]["message"]; };
  EXPECT_EQ(m(0)["attachments"][0]["kind"], "audio");
  EXPECT_EQ(m(0)["attachments"][0]["voice"], true);
  EXPECT_EQ(m(1)["text"], "ভিডিও");
  EXPECT_EQ(m(2)["attachments"][0]["filename"], "invoice.pdf");
  EXPECT_EQ(m(3)["kind"], "sticker");
  EXPECT_EQ(m(4)["location"]["name"], "Dhanmondi");
  EXPECT_DOUBLE_EQ(m(4)["location"]["latitude"].get<double>(), 23.7808875);
  EXPECT_EQ(m(5)["contacts"][0]["name"], "রহিম উদ্দিন");
  EXPECT_EQ(m(5)["contacts"][0]["phones"][0], "+8801711000002");
  EXPECT_EQ(m(6)["reaction"], json({{"message_id", "wamid.out1"}, {"emoji", "👍"}}));
  EXPECT_EQ(m(7)["interactive"]["kind"], "list_reply");
  EXPECT_EQ(m(7)["interactive"]["description"], "৪২ ইঞ্চি");
  EXPECT_EQ(m(8)["kind"], "unsupported");
  EXPECT_EQ(m(8)["raw_type"], "order");
  EXPECT_EQ(m(9)["kind"], "unsupported");
  EXPECT_EQ(m(9)["error"]["code"], "131051");
  EXPECT_EQ(host_.metric("sanjog_channel_webhook_events_total",
                         {"whatsapp", "message.received", "unsupported"}),
            2);
}

TEST_F(WhatsAppTest, TextSendMatchesTheDocumentedBodyExactly) {
  customerWrites();
  answer(200, readFixture("whatsapp/outbound_send.response_200.json"));
  const json expected = fixtureJson("whatsapp/outbound_send_text.request.json");
  auto r = host_.deliver(
      "send", sendEvent("+8801711000001", {{"text", expected["text"]["body"]}}).dump(), "evt_1.0");
  ASSERT_EQ(r.outcome, Outcome::kSuccess) << r.message;
  EXPECT_EQ(r.provider_message_id, "wamid.HBgLMTY1MDUwNzY1MjAVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA");
  auto reqs = host_.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].url, "https://graph.test/v21.0/1122334455667/messages");
  EXPECT_EQ(*sdk::findHeader(reqs[0].headers, "Authorization"), std::string("Bearer ") + kToken);
  EXPECT_EQ(json::parse(reqs[0].body), expected);
  // Bengali goes out as raw UTF-8 bytes, exactly as given.
  EXPECT_NE(reqs[0].body.find(expected["text"]["body"].get<std::string>()), std::string::npos);
}

TEST_F(WhatsAppTest, TemplateAndInteractiveBodiesMatchTheFixtures) {
  answer(200, readFixture("whatsapp/outbound_send.response_200.json"));
  // A template goes out even with the window closed (no inbound message yet).
  auto t =
      host_.deliver("send",
                    sendEvent("01711000001", {{"template",
                                               {{"name", "order_shipped"},
                                                {"language", "bn"},
                                                {"parameters", {"রহিমা", "#1042", "১৬ মার্চ"}}}}})
                        .dump(),
                    "evt_1.0");
  ASSERT_EQ(t.outcome, Outcome::kSuccess) << t.message;
  EXPECT_EQ(json::parse(host_.requests().back().body),
            fixtureJson("whatsapp/outbound_send_template.request.json"));

  customerWrites();
  const json fx = fixtureJson("whatsapp/outbound_send_interactive_buttons.request.json");
  json buttons = json::array();
  for (const auto& b : fx["interactive"]["action"]["buttons"]) {
    buttons.push_back({{"id", b["reply"]["id"]}, {"title", b["reply"]["title"]}});
  }
  auto i = host_.deliver("send",
                         sendEvent("+8801711000001", {{"interactive",
                                                       {{"kind", "buttons"},
                                                        {"body", fx["interactive"]["body"]["text"]},
                                                        {"buttons", buttons}}}})
                             .dump(),
                         "evt_2.0");
  ASSERT_EQ(i.outcome, Outcome::kSuccess) << i.message;
  EXPECT_EQ(json::parse(host_.requests().back().body), fx);
}

TEST_F(WhatsAppTest, MediaListReplyContextAndTemplateComponents) {
  customerWrites();
  answer(200, readFixture("whatsapp/outbound_send.response_200.json"));
  auto body = [&] { return json::parse(host_.requests().back().body); };
  ASSERT_EQ(host_
                .deliver("send",
                         sendEvent("+8801711000001", {{"media",
                                                       {{"kind", "document"},
                                                        {"url", "https://shop.example/invoice.pdf"},
                                                        {"caption", "চালান"},
                                                        {"filename", "invoice-1042.pdf"}}},
                                                      {"reply_to", "wamid.in1"}})
                             .dump(),
                         "e1")
                .outcome,
            Outcome::kSuccess);
  EXPECT_EQ(body()["document"], json({{"link", "https://shop.example/invoice.pdf"},
                                      {"caption", "চালান"},
                                      {"filename", "invoice-1042.pdf"}}));
  EXPECT_EQ(body()["context"], json({{"message_id", "wamid.in1"}}));
  ASSERT_EQ(host_
                .deliver("send",
                         sendEvent("+8801711000001",
                                   {{"media", {{"kind", "image"}, {"media_id", "65463453"}}}})
                             .dump(),
                         "e2")
                .outcome,
            Outcome::kSuccess);
  EXPECT_EQ(body()["image"], json({{"id", "65463453"}}));
  ASSERT_EQ(
      host_
          .deliver("send",
                   sendEvent("+8801711000001",
                             {{"interactive",
                               {{"kind", "list"},
                                {"body", "সাইজ বেছে নিন"},
                                {"button", "সাইজ"},
                                {"sections",
                                 {{{"title", "Sizes"},
                                   {"rows",
                                    {{{"id", "m"}, {"title", "M"}},
                                     {{"id", "xl"}, {"title", "XL"}, {"description", "42"}}}}}}}}}})
                       .dump(),
                   "e3")
          .outcome,
      Outcome::kSuccess);
  EXPECT_EQ(body()["interactive"]["type"], "list");
  EXPECT_EQ(body()["interactive"]["action"]["button"], "সাইজ");
  EXPECT_EQ(body()["interactive"]["action"]["sections"][0]["rows"][1]["description"], "42");
  ASSERT_EQ(
      host_
          .deliver(
              "send",
              sendEvent("+8801711000001",
                        {{"template",
                          {{"name", "order_ready"},
                           {"language", "en"},
                           {"header", {{{"kind", "image"}, {"url", "https://x/p.jpg"}}}},
                           {"parameters", {"1042"}},
                           {"buttons",
                            {{{"sub_type", "url"}, {"text", "1042"}}, {{"payload", "STOP"}}}}}}})
                  .dump(),
              "e4")
          .outcome,
      Outcome::kSuccess);
  const json comps = body()["template"]["components"];
  ASSERT_EQ(comps.size(), 4u);
  EXPECT_EQ(
      comps[0],
      json({{"type", "header"},
            {"parameters", {{{"type", "image"}, {"image", {{"link", "https://x/p.jpg"}}}}}}}));
  EXPECT_EQ(comps[2], json({{"type", "button"},
                            {"sub_type", "url"},
                            {"index", "0"},
                            {"parameters", {{{"type", "text"}, {"text", "1042"}}}}}));
  EXPECT_EQ(comps[3]["parameters"][0], json({{"type", "payload"}, {"payload", "STOP"}}));
}

TEST_F(WhatsAppTest, InvalidMessagesArePermanentBeforeAnyHttpCall) {
  customerWrites();
  const json bad[] = {
      {{"interactive", {{"kind", "buttons"}, {"body", "x"}, {"buttons", json::array()}}}},
      {{"interactive",
        {{"kind", "buttons"},
         {"body", "x"},
         {"buttons", {{{"id", "a"}, {"title", "এই শিরোনামটি বিশ অক্ষরের চেয়ে লম্বা"}}}}}}},
      {{"media", {{"kind", "image"}}}},
      {{"text", ""}},
      {{"template", {{"name", "x"}}}},
  };
  for (const auto& m : bad) {
    auto r = host_.deliver("send", sendEvent("+8801711000001", m).dump(), "e");
    EXPECT_EQ(r.outcome, Outcome::kPermanent) << m.dump();
    EXPECT_EQ(r.status, Code::kInvalidArgument);
  }
  auto nobody = host_.deliver("send", sendEvent("not a number", {{"text", "hi"}}).dump(), "e");
  EXPECT_EQ(nobody.outcome, Outcome::kPermanent);
  EXPECT_TRUE(host_.requests().empty());
}

TEST_F(WhatsAppTest, OutsideTheWindowOnlyTemplatesGoOut) {
  auto closed =
      host_.deliver("send", sendEvent("+8801711000001", {{"text", "hello"}}).dump(), "e1");
  EXPECT_EQ(closed.outcome, Outcome::kPermanent);
  EXPECT_EQ(closed.status, Code::kOutsideWindow);
  EXPECT_NE(closed.message.find("outside_window"), std::string::npos);
  EXPECT_TRUE(host_.requests().empty());
  EXPECT_EQ(host_.metric("sanjog_channel_sends_total", {"whatsapp", "text", "outside_window"}), 1);

  customerWrites();
  answer(200, readFixture("whatsapp/outbound_send.response_200.json"));
  host_.setNowMs(host_.nowMs() + 23LL * 3600 * 1000);
  EXPECT_EQ(
      host_.deliver("send", sendEvent("01711000001", {{"text", "hello"}}).dump(), "e2").outcome,
      Outcome::kSuccess);
  host_.setNowMs(host_.nowMs() + 2LL * 3600 * 1000);  // 25 h after the customer wrote
  auto late = host_.deliver("send", sendEvent("+8801711000001", {{"text", "hello"}}).dump(), "e3");
  EXPECT_EQ(late.status, Code::kOutsideWindow);
  EXPECT_EQ(host_.requests().size(), 1u);
}

TEST_F(WhatsAppTest, ProviderErrorsMapToTheTaxonomy) {
  customerWrites();
  auto send = [&] {
    return host_.deliver("send", sendEvent("+8801711000001", {{"text", "hi"}}).dump(), "e");
  };
  answer(400, readFixture("whatsapp/outbound_send.error_130429_rate_limit.json"));
  auto throttled = send();
  EXPECT_EQ(throttled.outcome, Outcome::kRetry);
  EXPECT_EQ(throttled.status, Code::kRateLimited);
  EXPECT_EQ(throttled.retry_after_ms, 60000);
  answer(400, readFixture("whatsapp/outbound_send.error_131056_pair_rate_limit.json"));
  EXPECT_EQ(send().status, Code::kRateLimited);
  answer(400, readFixture("whatsapp/outbound_send.error_131009_param_invalid.json"));
  auto invalid = send();
  EXPECT_EQ(invalid.outcome, Outcome::kPermanent);
  EXPECT_EQ(invalid.status, Code::kInvalidArgument);
  EXPECT_NE(invalid.message.find("131009"), std::string::npos);
  answer(503, "upstream down");
  EXPECT_EQ(send().outcome, Outcome::kRetry);
  host_.respond([](const HttpRequest&) -> sdk::Result<HttpResponse> {
    return sdk::Status(Code::kTimeout, "timed out after 10000 ms");
  });
  auto timeout = send();
  EXPECT_EQ(timeout.outcome, Outcome::kRetry);
  EXPECT_EQ(timeout.status, Code::kTimeout);
}

TEST_F(WhatsAppTest, ExpiredTokenIsPermanentLoggedOnceAndDegradesHealth) {
  customerWrites();
  EXPECT_EQ(host_.health().state, sdk::HealthState::kOk);
  answer(401, readFixture("whatsapp/outbound_send.error_190_expired_token.json"));
  for (int i = 0; i < 3; ++i) {
    auto r = host_.deliver("send", sendEvent("+8801711000001", {{"text", "hi"}}).dump(), "e");
    EXPECT_EQ(r.outcome, Outcome::kPermanent);
    EXPECT_EQ(r.status, Code::kUnauthenticated);
  }
  EXPECT_EQ(host_.health().state, sdk::HealthState::kDegraded);
  int token_logs = 0;
  for (const auto& l : host_.logs()) {
    if (l.level == SANJOG_LOG_ERROR && l.message.find("access token") != std::string::npos) {
      ++token_logs;
      EXPECT_EQ(l.message.find(kToken), std::string::npos) << "the token itself is never logged";
    }
  }
  EXPECT_EQ(token_logs, 1);
  EXPECT_EQ(host_.metric("sanjog_channel_sends_total", {"whatsapp", "text", "failed"}), 3);
}

TEST_F(WhatsAppTest, SendRateLimitHoldsBackWithoutCallingTheProvider) {
  ASSERT_TRUE(host_.create("wa", config({{"rate_limit_per_second", 1}, {"rate_limit_burst", 1}})));
  customerWrites();
  answer(200, readFixture("whatsapp/outbound_send.response_200.json"));
  auto ev = sendEvent("+8801711000001", {{"text", "hi"}}).dump();
  EXPECT_EQ(host_.deliver("send", ev, "e1").outcome, Outcome::kSuccess);
  auto held = host_.deliver("send", ev, "e2");
  EXPECT_EQ(held.outcome, Outcome::kRetry);
  EXPECT_EQ(held.status, Code::kRateLimited);
  EXPECT_GT(held.retry_after_ms, 0);
  EXPECT_LE(held.retry_after_ms, 1000);
  EXPECT_EQ(host_.requests().size(), 1u);
  EXPECT_EQ(host_.metric("sanjog_channel_rate_limited_total", {"whatsapp"}), 1);
  host_.setNowMs(host_.nowMs() + 1000);
  EXPECT_EQ(host_.deliver("send", ev, "e2").outcome, Outcome::kSuccess);
}

TEST_F(WhatsAppTest, MarkReadSendsTheReadReceipt) {
  answer(200, R"({"success":true})");
  auto received = post(wireBody("whatsapp/inbound_text.json")).events.at(0);
  ASSERT_EQ(host_.deliver("mark_read", received.dump(), "e1").outcome, Outcome::kSuccess);
  EXPECT_EQ(json::parse(host_.requests().back().body), json({{"messaging_product", "whatsapp"},
                                                             {"status", "read"},
                                                             {"message_id", "wamid.xyzxyz"}}));
}

TEST_F(WhatsAppTest, MediaIsResolvedAndDownloadedWithTheToken) {
  host_.respond([](const HttpRequest& req) -> sdk::Result<HttpResponse> {
    if (req.url == "https://graph.test/v21.0/65463453") {
      return HttpResponse{
          200,
          {},
          R"({"url":"https://lookaside.test/img?id=65463453","mime_type":"image/jpeg","file_size":4,"id":"65463453","messaging_product":"whatsapp"})"};
    }
    if (req.url == "https://lookaside.test/img?id=65463453") {
      return HttpResponse{200, {{"Content-Type", "image/jpeg"}}, "\xff\xd8\xff\xe0"};
    }
    return HttpResponse{404, {}, R"({"error":{"code":100,"message":"not found"}})"};
  });
  auto m = host_.fetchMedia("65463453");
  ASSERT_EQ(m.rc, SANJOG_OK) << m.error;
  EXPECT_EQ(m.content_type, "image/jpeg");
  EXPECT_EQ(m.body, "\xff\xd8\xff\xe0");
  for (const auto& r : host_.requests()) {
    EXPECT_EQ(*sdk::findHeader(r.headers, "Authorization"), std::string("Bearer ") + kToken);
  }
  EXPECT_EQ(host_.fetchMedia("65463453", 3).rc, SANJOG_INVALID_ARGUMENT);
  EXPECT_EQ(host_.fetchMedia("123").rc, SANJOG_NOT_FOUND);
  EXPECT_EQ(host_.fetchMedia("../etc").rc, SANJOG_NOT_FOUND);
}

TEST(ChannelHelpers, IntegersAndTimesFromProvidersAreBounded) {
  // Found by fuzz_messenger_webhook: a huge float timestamp was cast to int64 (UB).
  EXPECT_FALSE(channel::integerField(json::parse(R"({"t":1e300})"), "t"));
  EXPECT_FALSE(channel::integerField(json::parse(R"({"t":18446744073709551615})"), "t"));
  EXPECT_FALSE(channel::integerField(json::parse(R"({"t":"99999999999999999999"})"), "t"));
  EXPECT_EQ(channel::integerField(json::parse(R"({"t":"1697043223"})"), "t"), 1697043223);
  EXPECT_EQ(channel::integerField(json::parse(R"({"t":1742013737204.0})"), "t"), 1742013737204);
  EXPECT_EQ(channel::rfc3339(int64_t(1) << 53), "1970-01-01T00:00:00Z");  // year > 9999
  EXPECT_EQ(channel::rfc3339(1742013737204), "2025-03-15T04:42:17.204Z");
}

TEST(WhatsAppConfig, RefusesBadValues) {
  EXPECT_FALSE(parseSettings(config({{"api_base", "ftp://x"}})));
  EXPECT_FALSE(parseSettings(config({{"service_window", "a day"}})));
  EXPECT_FALSE(parseSettings(config({{"rate_limit_per_second", "fast"}})));
  json no_secret = config();
  no_secret.erase("app_secret");
  EXPECT_FALSE(parseSettings(no_secret));
  auto ok = parseSettings(config({{"api_base", "https://graph.test/"}}));
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->graphUrl("1/messages"), "https://graph.test/v21.0/1/messages");
}

}  // namespace
}  // namespace sanjog::plugins::channel_whatsapp
