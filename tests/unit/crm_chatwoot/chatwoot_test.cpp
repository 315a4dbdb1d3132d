#include <gtest/gtest.h>

#include "chatwoot.hpp"
#include "sanjog/sdk/testing/fake_host.hpp"
#include "support/fixtures.h"

extern "C" const sanjog_plugin_descriptor* sanjog_plugin_entry(uint32_t, uint32_t);

namespace sanjog::plugins::crm_chatwoot {
namespace {

using nlohmann::json;
using sanjog::testing::fixtureJson;
using sanjog::testing::readFixture;
using sdk::Code;
using sdk::HttpRequest;
using sdk::HttpResponse;
using sdk::Outcome;
using sdk::testing::FakeHost;

constexpr const char* kBase = "https://chat.test/api/v1/accounts/1";

json received(const std::string& conv = "conv_abc", const std::string& text = "আমার অর্ডার কোথায়?") {
  return {{"specversion", "1.0"},
          {"id", "evt_1"},
          {"type", "message.received"},
          {"source", "/instances/wa"},
          {"data",
           {{"channel", "whatsapp"},
            {"conversation_id", conv},
            {"address", "+8801711000001"},
            {"contact", {{"id", "8801711000001"}, {"phone", "+8801711000001"}, {"name", "রহিমা"}}},
            {"message", {{"id", "wamid.1"}, {"kind", "text"}, {"text", text}}}}}};
}

class ChatwootTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(host_.create("cw", {{"api_base", "https://chat.test"},
                                    {"account_id", 1},
                                    {"inbox_id", 2},
                                    {"api_access_token", "cw-token-123456"}}));
    host_.respond([this](const HttpRequest& r) -> sdk::Result<HttpResponse> {
      const std::string url = r.url;
      if (url == std::string(kBase) + "/contacts") {
        if (contact_taken_)
          return HttpResponse{422, {}, R"({"message":"Identifier has already been taken"})"};
        return HttpResponse{
            200,
            {},
            R"({"payload":{"contact":{"id":5,"contact_inboxes":[{"source_id":"src-5","inbox":{"id":2}}]}}})"};
      }
      if (url.rfind(std::string(kBase) + "/contacts/search?q=", 0) == 0) {
        return HttpResponse{
            200,
            {},
            R"({"payload":[{"id":7,"identifier":"+8801711000001","contact_inboxes":[]}]})"};
      }
      if (url == std::string(kBase) + "/contacts/7/contact_inboxes") {
        return HttpResponse{200, {}, R"({"source_id":"src-7","inbox":{"id":2}})"};
      }
      if (url == std::string(kBase) + "/conversations")
        return HttpResponse{200, {}, R"({"id":12})"};
      if (url == std::string(kBase) + "/conversations/12/toggle_status") {
        return HttpResponse{200, {}, R"({"payload":{"success":true,"current_status":"open"}})"};
      }
      if (url == std::string(kBase) + "/conversations/12/messages") {
        return HttpResponse{message_status_, {}, R"({"id":99,"message_type":0})"};
      }
      return HttpResponse{404, {}, "{}"};
    });
  }
  std::vector<HttpRequest> requestsTo(const std::string& suffix) {
    std::vector<HttpRequest> out;
    for (const auto& r : host_.requests()) {
      if (r.url == std::string(kBase) + suffix) out.push_back(r);
    }
    return out;
  }
  bool contact_taken_ = false;
  int message_status_ = 200;
  FakeHost host_{sanjog_plugin_entry(SANJOG_ABI_MAJOR, SANJOG_ABI_MINOR)};
};

TEST_F(ChatwootTest, FirstMessageCreatesContactAndConversationThenReusesThem) {
  auto r = host_.deliver("deliver", received().dump(), "evt_1.0");
  ASSERT_EQ(r.outcome, Outcome::kSuccess) << r.message;
  EXPECT_EQ(r.provider_message_id, "99");
  auto contact = json::parse(requestsTo("/contacts").at(0).body);
  EXPECT_EQ(contact, json({{"inbox_id", 2},
                           {"identifier", "+8801711000001"},
                           {"name", "রহিমা"},
                           {"phone_number", "+8801711000001"}}));
  EXPECT_EQ(*sdk::findHeader(requestsTo("/contacts")[0].headers, "api_access_token"),
            "cw-token-123456");
  auto conv = json::parse(requestsTo("/conversations").at(0).body);
  EXPECT_EQ(conv["source_id"], "src-5");
  EXPECT_EQ(conv["contact_id"], 5);
  EXPECT_EQ(conv["additional_attributes"]["sanjog_conversation_id"], "conv_abc");
  auto msg = json::parse(requestsTo("/conversations/12/messages").at(0).body);
  EXPECT_EQ(msg["content"], "আমার অর্ডার কোথায়?");
  EXPECT_EQ(msg["message_type"], "incoming");
  EXPECT_EQ(msg["private"], false);

  ASSERT_EQ(host_.deliver("deliver", received("conv_abc", "আরেকটি প্রশ্ন").dump(), "evt_2.0").outcome,
            Outcome::kSuccess);
  EXPECT_EQ(requestsTo("/contacts").size(), 1u);
  EXPECT_EQ(requestsTo("/conversations").size(), 1u);
  EXPECT_EQ(requestsTo("/conversations/12/messages").size(), 2u);
}

TEST_F(ChatwootTest, AnExistingContactIsFoundAndJoinedToTheInbox) {
  contact_taken_ = true;
  ASSERT_EQ(host_.deliver("deliver", received().dump(), "e").outcome, Outcome::kSuccess);
  EXPECT_EQ(json::parse(requestsTo("/conversations").at(0).body)["source_id"], "src-7");
  EXPECT_EQ(json::parse(requestsTo("/conversations").at(0).body)["contact_id"], 7);
}

TEST_F(ChatwootTest, AttachmentsLocationsAndErrors) {
  json e = received();
  e["data"]["message"] = {
      {"id", "w2"},
      {"kind", "image"},
      {"attachments", {{{"kind", "image"}, {"media_id", "654"}, {"mime_type", "image/jpeg"}}}}};
  ASSERT_EQ(host_.deliver("deliver", e.dump(), "e").outcome, Outcome::kSuccess);
  EXPECT_EQ(json::parse(requestsTo("/conversations/12/messages").back().body)["content"],
            "[image] media 654");
  message_status_ = 500;
  EXPECT_EQ(host_.deliver("deliver", received().dump(), "e").outcome, Outcome::kRetry);
  message_status_ = 401;
  auto unauth = host_.deliver("deliver", received().dump(), "e");
  EXPECT_EQ(unauth.outcome, Outcome::kPermanent);
  EXPECT_EQ(host_.health().state, sdk::HealthState::kDegraded);
  message_status_ = 404;  // conversation deleted in Chatwoot: forget it and retry
  EXPECT_EQ(host_.deliver("deliver", received().dump(), "e").outcome, Outcome::kRetry);
  EXPECT_FALSE(host_.kv("conv:conv_abc"));
  json status = {{"type", "message.status"}, {"data", {}}};
  EXPECT_EQ(host_.deliver("deliver", status.dump(), "e").outcome, Outcome::kPermanent);
}

TEST_F(ChatwootTest, AgentRepliesBecomeMessageSendAndNothingLoops) {
  ASSERT_EQ(host_.deliver("deliver", received().dump(), "e").outcome, Outcome::kSuccess);
  auto reply = host_.webhook("POST", readFixture("chatwoot/message_created_outgoing_agent.json"));
  ASSERT_EQ(reply.status, 200) << reply.body;
  ASSERT_EQ(reply.events.size(), 1u);
  EXPECT_EQ(reply.events[0]["type"], "message.send");
  EXPECT_EQ(reply.events[0]["providerid"], "chatwoot:message:42");
  EXPECT_EQ(reply.events[0]["data"]["conversation_id"], "conv_abc");
  EXPECT_EQ(reply.events[0]["data"]["message"]["text"], "Hi, your order has shipped.");

  // Our own incoming message echoed back, a private note, another conversation: nothing.
  json incoming = fixtureJson("chatwoot/message_created_outgoing_agent.json");
  incoming["message_type"] = "incoming";
  EXPECT_TRUE(host_.webhook("POST", incoming.dump()).events.empty());
  json note = fixtureJson("chatwoot/message_created_outgoing_agent.json");
  note["private"] = true;
  EXPECT_TRUE(host_.webhook("POST", note.dump()).events.empty());
  json other = fixtureJson("chatwoot/message_created_outgoing_agent.json");
  other["conversation"]["id"] = 777;
  EXPECT_TRUE(host_.webhook("POST", other.dump()).events.empty());
  EXPECT_EQ(host_.metric("sanjog_chatwoot_webhooks_total", {"other", "unresolved"}), 1);
  EXPECT_TRUE(host_.webhook("POST", readFixture("chatwoot/message_created_api_inbox_incoming.json"))
                  .events.empty());

  json resolved = {{"event", "conversation_status_changed"},
                   {"id", 12},
                   {"status", "resolved"},
                   {"meta", {{"assignee", {{"name", "Agent"}}}}},
                   {"timestamp", 1715421700}};
  auto res = host_.webhook("POST", resolved.dump(), {{"X-Chatwoot-Delivery", "6b1c0d2e"}});
  ASSERT_EQ(res.events.size(), 1u);
  EXPECT_EQ(res.events[0]["type"], "conversation.resolved");
  EXPECT_EQ(res.events[0]["data"], json({{"conversation_id", "conv_abc"}, {"agent", "Agent"}}));
  EXPECT_EQ(res.events[0]["providerid"], "chatwoot:resolved:6b1c0d2e");
}

TEST_F(ChatwootTest, HandOffReopensWithANoteAndBotAnswersBecomePrivateNotes) {
  json handoff = {{"id", "evt_h"},
                  {"type", "conversation.handoff"},
                  {"source", "/automations/bot"},
                  {"data",
                   {{"conversation_id", "conv_abc"},
                    {"reason", "keyword"},
                    {"text", "মানুষ চাই"},
                    {"channel", "whatsapp"},
                    {"address", "+8801711000001"},
                    {"contact", {{"phone", "+8801711000001"}, {"name", "রহিমা"}}}}}};
  auto r = host_.deliver("deliver", handoff.dump(), "evt_h.0");
  ASSERT_EQ(r.outcome, Outcome::kSuccess) << r.message;
  ASSERT_EQ(requestsTo("/conversations/12/toggle_status").size(), 1u);
  EXPECT_EQ(json::parse(requestsTo("/conversations/12/toggle_status")[0].body)["status"], "open");
  auto note = json::parse(requestsTo("/conversations/12/messages").at(0).body);
  EXPECT_EQ(note["private"], true);
  EXPECT_EQ(note["content"], "The customer asked for a person: \"মানুষ চাই\"");

  json answer = {{"id", "evt_b"},
                 {"type", "message.send"},
                 {"source", "/automations/bot"},
                 {"data",
                  {{"conversation_id", "conv_abc"},
                   {"instance", "wa"},
                   {"to", "+8801711000001"},
                   {"message", {{"text", "দাম ৳৪,২০০"}}}}}};
  ASSERT_EQ(host_.deliver("deliver", answer.dump(), "evt_b.0").outcome, Outcome::kSuccess);
  auto shown = json::parse(requestsTo("/conversations/12/messages").at(1).body);
  EXPECT_EQ(shown["content"], "[bot] দাম ৳৪,২০০");
  EXPECT_EQ(shown["private"], true);
  EXPECT_EQ(shown["message_type"], "outgoing");

  // A send in a conversation Chatwoot does not have adds nothing.
  answer["data"]["conversation_id"] = "conv_elsewhere";
  ASSERT_EQ(host_.deliver("deliver", answer.dump(), "evt_c.0").outcome, Outcome::kSuccess);
  EXPECT_EQ(requestsTo("/conversations/12/messages").size(), 2u);
  // Other events are refused for good.
  json order = {{"id", "evt_o"}, {"type", "order.created"}, {"data", {{"conversation_id", "x"}}}};
  EXPECT_EQ(host_.deliver("deliver", order.dump(), "evt_o.0").outcome, Outcome::kPermanent);
}

TEST_F(ChatwootTest, SignedWebhooksWhenASecretIsConfigured) {
  const json v = fixtureJson("chatwoot/signature_example.json");
  ASSERT_TRUE(host_.create("cw", {{"api_base", "https://chat.test"},
                                  {"account_id", 1},
                                  {"inbox_id", 2},
                                  {"api_access_token", "cw-token-123456"},
                                  {"webhook_secret", v["webhook_secret"]}}));
  host_.setNowMs(std::stoll(v["X-Chatwoot-Timestamp"].get<std::string>()) * 1000 + 1000);
  const std::string body = v["raw_body"];
  auto ok = host_.webhook("POST", body,
                          {{"X-Chatwoot-Signature", v["X-Chatwoot-Signature"].get<std::string>()},
                           {"X-Chatwoot-Timestamp", v["X-Chatwoot-Timestamp"].get<std::string>()}});
  EXPECT_EQ(ok.status, 200);
  auto forged =
      host_.webhook("POST", body + " ",
                    {{"X-Chatwoot-Signature", v["X-Chatwoot-Signature"].get<std::string>()},
                     {"X-Chatwoot-Timestamp", v["X-Chatwoot-Timestamp"].get<std::string>()}});
  EXPECT_EQ(forged.status, 401);
  EXPECT_EQ(host_.webhook("POST", body, {}).status, 401);
  host_.setNowMs(host_.nowMs() + 3600'000);
  auto stale =
      host_.webhook("POST", body,
                    {{"X-Chatwoot-Signature", v["X-Chatwoot-Signature"].get<std::string>()},
                     {"X-Chatwoot-Timestamp", v["X-Chatwoot-Timestamp"].get<std::string>()}});
  EXPECT_EQ(stale.status, 401);
  EXPECT_EQ(host_.metric("sanjog_chatwoot_signature_failures_total", {"stale"}), 1);
}

}  // namespace
}  // namespace sanjog::plugins::crm_chatwoot
