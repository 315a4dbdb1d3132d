#include <gtest/gtest.h>

#include "hubspot.hpp"
#include "sanjog/sdk/testing/fake_host.hpp"
#include "support/fixtures.h"

extern "C" const sanjog_plugin_descriptor* sanjog_plugin_entry(uint32_t, uint32_t);

namespace sanjog::plugins::crm_hubspot {
namespace {

using nlohmann::json;
using sanjog::testing::fixtureJson;
using sanjog::testing::readFixture;
using sdk::Code;
using sdk::HttpRequest;
using sdk::HttpResponse;
using sdk::Outcome;
using sdk::testing::FakeHost;

const json kVectors = fixtureJson("hubspot/signature_examples.json");

TEST(HubSpotSignature, EveryShippedVectorVerifies) {
  const std::string secret = kVectors["client_secret"];
  EXPECT_EQ(signatureV1(secret, kVectors["v1"]["raw_body"].get<std::string>()),
            kVectors["v1"]["X-HubSpot-Signature"]);
  for (const char* v : {"v2_get", "v2_post"}) {
    EXPECT_EQ(signatureV2(secret, kVectors[v]["method"].get<std::string>(),
                          kVectors[v]["uri"].get<std::string>(),
                          kVectors[v]["raw_body"].get<std::string>()),
              kVectors[v]["X-HubSpot-Signature"])
        << v;
  }
  const json& v3 = kVectors["v3"];
  EXPECT_EQ(signatureV3(secret, v3["method"].get<std::string>(), v3["uri"].get<std::string>(),
                        v3["raw_body"].get<std::string>(),
                        v3["X-HubSpot-Request-Timestamp"].get<std::string>()),
            v3["X-HubSpot-Signature-v3"]);
}

class HubSpotTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(host_.create("hs", {{"api_base", "https://hubspot.test"},
                                    {"access_token", "pat-na1-test-token"},
                                    {"client_secret", kVectors["client_secret"]},
                                    {"public_url", "https://www.example.com/webhook_uri"},
                                    {"rate_limit_per_second", 0}}));
    host_.respond([this](const HttpRequest& r) -> sdk::Result<HttpResponse> {
      if (r.url == "https://hubspot.test/crm/v3/objects/contacts/search") {
        return HttpResponse{
            200,
            {},
            existing_ ? R"({"total":1,"results":[{"id":"501"}]})" : R"({"total":0,"results":[]})"};
      }
      if (r.url == "https://hubspot.test/crm/v3/objects/contacts") {
        return HttpResponse{
            create_status_,
            {},
            create_status_ == 409
                ? R"({"status":"error","message":"Contact already exists. Existing ID: 777","category":"CONFLICT"})"
                : R"({"id":"601","properties":{}})"};
      }
      if (r.url.rfind("https://hubspot.test/crm/v3/objects/contacts/", 0) == 0) {
        return HttpResponse{200, {}, R"({"id":"501"})"};
      }
      if (r.url == "https://hubspot.test/crm/v3/objects/communications" ||
          r.url == "https://hubspot.test/crm/v3/objects/notes") {
        return HttpResponse{record_status_, {{"Retry-After", "3"}}, R"({"id":"9001"})"};
      }
      return HttpResponse{404, {}, "{}"};
    });
  }
  json received(const std::string& channel) {
    return {{"type", "message.received"},
            {"time", "2026-01-01T00:00:00Z"},
            {"data",
             {{"channel", channel},
              {"contact",
               {{"id", "8801711000001"}, {"phone", "+8801711000001"}, {"name", "রহিমা খাতুন"}}},
              {"message", {{"id", "wamid.1"}, {"text", "দাম কত?"}}}}}};
  }
  std::vector<HttpRequest> to(const std::string& path) {
    std::vector<HttpRequest> out;
    for (const auto& r : host_.requests()) {
      if (r.url == "https://hubspot.test" + path) out.push_back(r);
    }
    return out;
  }
  bool existing_ = false;
  int create_status_ = 201;
  int record_status_ = 201;
  FakeHost host_{sanjog_plugin_entry(SANJOG_ABI_MAJOR, SANJOG_ABI_MINOR)};
};

TEST_F(HubSpotTest, WhatsAppMessageIsACommunicationOnANewContact) {
  auto r = host_.deliver("log_message", received("whatsapp").dump(), "e1");
  ASSERT_EQ(r.outcome, Outcome::kSuccess) << r.message;
  auto search = json::parse(to("/crm/v3/objects/contacts/search").at(0).body);
  EXPECT_EQ(search["filterGroups"][0]["filters"][0],
            json({{"propertyName", "phone"}, {"operator", "EQ"}, {"value", "+8801711000001"}}));
  auto created = json::parse(to("/crm/v3/objects/contacts").at(0).body);
  EXPECT_EQ(created["properties"],
            json({{"firstname", "রহিমা"}, {"lastname", "খাতুন"}, {"phone", "+8801711000001"}}));
  auto comm = json::parse(to("/crm/v3/objects/communications").at(0).body);
  EXPECT_EQ(comm["properties"]["hs_communication_channel_type"], "WHATS_APP");
  EXPECT_EQ(comm["properties"]["hs_communication_body"], "দাম কত?");
  EXPECT_EQ(comm["associations"][0]["to"]["id"], "601");
  EXPECT_EQ(comm["associations"][0]["types"][0]["associationTypeId"], 81);
  EXPECT_EQ(*sdk::findHeader(to("/crm/v3/objects/communications")[0].headers, "Authorization"),
            "Bearer pat-na1-test-token");
  // The contact id is remembered: the next message needs no search.
  ASSERT_EQ(host_.deliver("log_message", received("whatsapp").dump(), "e2").outcome,
            Outcome::kSuccess);
  EXPECT_EQ(to("/crm/v3/objects/contacts/search").size(), 1u);
  EXPECT_EQ(host_.metric("sanjog_hubspot_records_total", {"communication", "created"}), 2);
}

TEST_F(HubSpotTest, ChannelsWithoutACommunicationTypeBecomeNotes) {
  existing_ = true;
  ASSERT_EQ(host_.deliver("log_message", received("telegram").dump(), "e").outcome,
            Outcome::kSuccess);
  EXPECT_TRUE(to("/crm/v3/objects/contacts").empty());
  auto note = json::parse(to("/crm/v3/objects/notes").at(0).body);
  EXPECT_EQ(note["properties"]["hs_note_body"], "Customer (telegram): দাম কত?");
  EXPECT_EQ(note["associations"][0]["types"][0]["associationTypeId"], 202);
  EXPECT_EQ(note["associations"][0]["to"]["id"], "501");
  EXPECT_EQ(communicationType("sms"), "SMS");
  EXPECT_FALSE(communicationType("messenger"));
}

TEST_F(HubSpotTest, UpsertUpdatesOrResolvesConflicts) {
  existing_ = true;
  json order = {
      {"type", "order.created"},
      {"data",
       {{"customer",
         {{"name", "Rahim Uddin"}, {"phone", "01711-000002"}, {"email", "rahim@example.com"}}}}}};
  ASSERT_EQ(host_.deliver("upsert_contact", order.dump(), "e").outcome, Outcome::kSuccess);
  auto patch = host_.requests().back();
  EXPECT_EQ(patch.method, "PATCH");
  EXPECT_EQ(json::parse(patch.body)["properties"]["phone"], "+8801711000002");
  EXPECT_EQ(json::parse(to("/crm/v3/objects/contacts/search").at(0).body)["filterGroups"].size(),
            2u);

  existing_ = false;
  create_status_ = 409;
  json other = received("whatsapp");
  other["data"]["contact"]["phone"] = "+8801711000009";
  auto r = host_.deliver("upsert_contact", other.dump(), "e2");
  ASSERT_EQ(r.outcome, Outcome::kSuccess) << r.message;
  EXPECT_EQ(r.provider_message_id, "777");
  json nobody = {{"type", "message.received"}, {"data", {{"contact", {{"id", "psid"}}}}}};
  EXPECT_EQ(host_.deliver("log_message", nobody.dump(), "e3").outcome, Outcome::kPermanent);
}

TEST_F(HubSpotTest, RateLimitsAndErrors) {
  existing_ = true;
  record_status_ = 429;
  auto limited = host_.deliver("log_message", received("whatsapp").dump(), "e");
  EXPECT_EQ(limited.outcome, Outcome::kRetry);
  EXPECT_EQ(limited.status, Code::kRateLimited);
  EXPECT_EQ(limited.retry_after_ms, 3000);
  record_status_ = 401;
  EXPECT_EQ(host_.deliver("log_message", received("whatsapp").dump(), "e").outcome,
            Outcome::kPermanent);
  EXPECT_EQ(host_.health().state, sdk::HealthState::kDegraded);
  ASSERT_TRUE(host_.create("hs", {{"api_base", "https://hubspot.test"},
                                  {"access_token", "pat-na1-test-token"},
                                  {"rate_limit_per_second", 1}}));
  existing_ = true;
  record_status_ = 201;
  // The contact id is known (kept state): one request each, and the second is held back.
  EXPECT_EQ(host_.deliver("log_message", received("whatsapp").dump(), "e").outcome,
            Outcome::kSuccess);
  auto held = host_.deliver("log_message", received("whatsapp").dump(), "e");
  EXPECT_EQ(held.outcome, Outcome::kRetry);
  EXPECT_EQ(held.status, Code::kRateLimited);
}

TEST_F(HubSpotTest, SignedWebhooksBecomeContactUpdated) {
  const json& v3 = kVectors["v3"];
  host_.setNowMs(std::stoll(v3["X-HubSpot-Request-Timestamp"].get<std::string>()) + 1000);
  auto ok = host_.webhook(
      "POST", v3["raw_body"],
      {{"X-HubSpot-Signature-v3", v3["X-HubSpot-Signature-v3"].get<std::string>()},
       {"X-HubSpot-Request-Timestamp", v3["X-HubSpot-Request-Timestamp"].get<std::string>()}});
  ASSERT_EQ(ok.status, 200) << ok.body;
  ASSERT_EQ(ok.events.size(), 1u);
  EXPECT_EQ(ok.events[0]["type"], "contact.updated");
  EXPECT_EQ(ok.events[0]["providerid"], "hubspot:1");
  EXPECT_EQ(ok.events[0]["data"]["contact"]["id"], "123");
  host_.setNowMs(host_.nowMs() + 600'000);
  auto stale = host_.webhook(
      "POST", v3["raw_body"],
      {{"X-HubSpot-Signature-v3", v3["X-HubSpot-Signature-v3"].get<std::string>()},
       {"X-HubSpot-Request-Timestamp", v3["X-HubSpot-Request-Timestamp"].get<std::string>()}});
  EXPECT_EQ(stale.status, 401);
  EXPECT_EQ(host_.metric("sanjog_hubspot_signature_failures_total", {"stale"}), 1);

  const json& v1 = kVectors["v1"];
  auto legacy =
      host_.webhook("POST", v1["raw_body"],
                    {{"X-HubSpot-Signature", v1["X-HubSpot-Signature"].get<std::string>()},
                     {"X-HubSpot-Signature-Version", "v1"}});
  EXPECT_EQ(legacy.status, 200);
  EXPECT_EQ(host_.webhook("POST", v1["raw_body"], {}).status, 401);

  json change =
      json::array({{{"eventId", 7},
                    {"subscriptionType", "contact.propertyChange"},
                    {"objectId", 123},
                    {"propertyName", "email"},
                    {"propertyValue", "new@example.com"},
                    {"occurredAt", 1767225600000},
                    {"changeSource", "CRM_UI"}},
                   {{"eventId", 8}, {"subscriptionType", "deal.creation"}, {"objectId", 9}}});
  auto events = mapWebhookEvents(change);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["data"]["contact"]["email"], "new@example.com");
  EXPECT_EQ(events[0]["data"]["changes"]["email"], "new@example.com");
  EXPECT_EQ(events[0]["time"], "2026-01-01T00:00:00Z");
}

}  // namespace
}  // namespace sanjog::plugins::crm_hubspot
