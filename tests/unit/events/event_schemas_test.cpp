// Every event type of docs/events.md has a JSON Schema in config/events/,
// and the example it carries validates against it; the normalizer's output
// for a plugin-emitted event validates too.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "common/cloud_event.h"
#include "support/event_schema.h"

namespace sanjog {
namespace {

const std::filesystem::path kDir = std::filesystem::path(SANJOG_SOURCE_DIR) / "config" / "events";

nlohmann::json load(const std::filesystem::path& p) {
  std::ifstream in(p);
  return nlohmann::json::parse(in);
}

std::string validate(const nlohmann::json& schema_doc, const nlohmann::json& doc) {
  return testing::validateAgainst(schema_doc, doc);
}

TEST(EventSchemas, EveryDocumentedTypeHasAValidSchemaAndExample) {
  const std::vector<std::string> types = {
      "message.received",   "message.send",    "message.status",        "order.created",
      "order.paid",         "order.fulfilled", "order.cancelled",       "checkout.updated",
      "checkout.abandoned", "contact.updated", "conversation.resolved", "conversation.handoff",
      "csat.response"};
  for (const auto& t : types) {
    SCOPED_TRACE(t);
    const auto path = kDir / (t + ".schema.json");
    ASSERT_TRUE(std::filesystem::exists(path));
    const auto schema = load(path);
    EXPECT_EQ(schema["properties"]["type"]["const"], t);
    ASSERT_FALSE(schema["examples"].empty());
    EXPECT_EQ(validate(schema, schema["examples"][0]), "");
    auto wrong = schema["examples"][0];
    wrong["type"] = "something.else";
    EXPECT_NE(validate(schema, wrong), "");
  }
}

TEST(EventSchemas, NormalizedPluginEventValidates) {
  const auto schema = load(kDir / "message.received.schema.json");
  const std::string raw = R"({"type":"message.received","providerid":"wamid.1","data":{
    "channel":"whatsapp","contact":{"phone":"+8801711000001","name":"রহিম"},
    "message":{"id":"wamid.1","text":"দাম কত?"}}})";
  auto event =
      normalizeEvent(std::string_view(raw), "wa", 1767225600000, "evt_01KAXT9N3R5D2Q8W0ZP6M4B7CJ");
  ASSERT_TRUE(event) << event.status().toString();
  EXPECT_EQ(validate(schema, *event), "");
  EXPECT_EQ((*event)["source"], "/instances/wa");
  auto bad_phone = *event;
  bad_phone["data"]["contact"]["phone"] = "01711000001";  // not E.164
  EXPECT_NE(validate(schema, bad_phone), "");
}

}  // namespace
}  // namespace sanjog
