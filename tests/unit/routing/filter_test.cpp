#include "routing/filter.h"

#include <gtest/gtest.h>

#include "routing/template.h"
#include "routing/text.h"

namespace sanjog::routing {
namespace {

nlohmann::json event(const std::string& text, const std::string& channel = "whatsapp") {
  return {{"type", "message.received"},
          {"data",
           {{"channel", channel},
            {"contact", {{"phone", "+8801711000001"}, {"name", "রহিম"}}},
            {"message",
             {{"text", text}, {"attachments", nlohmann::json::array({{{"kind", "image"}}})}}},
            {"total", 1500}}}};
}

bool matches(const std::string& when, const nlohmann::json& e) {
  auto f = Filter::compile(nlohmann::json::parse(when));
  EXPECT_TRUE(f) << f.status().toString();
  return f && f->matches(e);
}

TEST(Filter, NullMatchesEverything) {
  auto f = Filter::compile(nullptr);
  ASSERT_TRUE(f);
  EXPECT_TRUE(f->matches(event("x")));
}

TEST(Filter, ImplicitEqAndEqAreCaseInsensitiveOnText) {
  EXPECT_TRUE(matches(R"({"type": "message.received"})", event("x")));
  EXPECT_TRUE(matches(R"({"data.channel": "WhatsApp"})", event("x")));
  EXPECT_TRUE(matches(R"({"data.message.text": {"$eq": "PRICE"}})", event("price")));
  EXPECT_FALSE(matches(R"({"data.channel": "sms"})", event("x")));
  EXPECT_TRUE(matches(R"({"data.total": 1500})", event("x")));
  EXPECT_FALSE(matches(R"({"data.total": "1500"})", event("x"))) << "no type coercion";
  EXPECT_TRUE(matches(R"({"data.message.attachments.0.kind": "image"})", event("x")));
}

TEST(Filter, InExistsStartsWith) {
  EXPECT_TRUE(matches(R"({"data.channel": {"$in": ["sms", "whatsapp"]}})", event("x")));
  EXPECT_FALSE(matches(R"({"data.channel": {"$in": ["sms"]}})", event("x")));
  EXPECT_TRUE(matches(R"({"data.contact.phone": {"$exists": true}})", event("x")));
  EXPECT_TRUE(matches(R"({"data.contact.email": {"$exists": false}})", event("x")));
  EXPECT_FALSE(matches(R"({"data.contact.email": {"$exists": true}})", event("x")));
  EXPECT_TRUE(matches(R"({"data.contact.phone": {"$startsWith": "+880"}})", event("x")));
  EXPECT_FALSE(matches(R"({"data.contact.phone": {"$startsWith": "+91"}})", event("x")));
  EXPECT_FALSE(matches(R"({"data.nothing.here": {"$startsWith": "+"}})", event("x")));
}

TEST(Filter, RegexMatchesBengaliAndEnglishKeywords) {
  const std::string when = R"({"data.message.text": {"$regex": "order|অর্ডার|দাম"}})";
  EXPECT_TRUE(matches(when, event("আমার অর্ডার কোথায়?")));
  EXPECT_TRUE(matches(when, event("এটার দাম কত?")));
  EXPECT_TRUE(matches(when, event("Where is my ORDER")));
  EXPECT_FALSE(matches(when, event("hello")));
  EXPECT_FALSE(matches(R"({"data.total": {"$regex": "15"}})", event("x")))
      << "numbers are not text";
}

TEST(Filter, NfcAndNfdFormsMatch) {
  // "কী" can be typed precomposed or not; Bengali "ো" (U+09CB) vs
  // "ে" + "া" (U+09C7 U+09BE) is a canonical equivalence.
  const std::string composed = "\xe0\xa6\x95\xe0\xa7\x8b";                // কো (U+0995 U+09CB)
  const std::string decomposed = "\xe0\xa6\x95\xe0\xa7\x87\xe0\xa6\xbe";  // ক ে া
  EXPECT_EQ(normalizeText(decomposed), normalizeText(composed));
  EXPECT_TRUE(matches(R"({"data.message.text": ")" + composed + "\"}", event(decomposed)));
  EXPECT_TRUE(
      matches(R"({"data.message.text": {"$regex": ")" + decomposed + "\"}}", event(composed)));
}

TEST(Filter, BooleanCombinators) {
  const std::string when = R"({
    "$or": [ {"data.channel": "sms"}, {"data.contact.phone": {"$startsWith": "+880"}} ],
    "$not": {"data.message.text": {"$regex": "spam"}},
    "$and": [ {"type": "message.received"}, {"data.total": {"$in": [1500, 2000]}} ] })";
  EXPECT_TRUE(matches(when, event("hi")));
  EXPECT_FALSE(matches(when, event("this is SPAM")));
}

TEST(Filter, CompileErrorsNameThePointer) {
  auto bad = Filter::compile(nlohmann::json::parse(R"({"data.x": {"$regex": "(unclosed"}})"));
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.status().message().find("/data.x/$regex"), std::string::npos)
      << bad.status().message();
  EXPECT_FALSE(Filter::compile(nlohmann::json::parse(R"({"$nor": []})")));
  EXPECT_FALSE(Filter::compile(nlohmann::json::parse(R"({"a": {"$in": 5}})")));
  EXPECT_FALSE(Filter::compile(nlohmann::json::parse(R"({"a": {"$exists": "yes"}})")));
  EXPECT_FALSE(Filter::compile(nlohmann::json::parse(R"({"$or": []})")));
  EXPECT_FALSE(Filter::compile(nlohmann::json::parse(R"([1])")));
}

TEST(Template, DottedNamesBengaliAndNoEscaping) {
  auto t = Template::compile(
      "প্রিয় {{data.contact.name}}, অর্ডার <{{data.total}}> & "
      "{{#data.message.attachments}}[{{kind}}]{{/data.message.attachments}}{{data.missing}}.");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->render(event("x")), "প্রিয় রহিম, অর্ডার <1500> & [image].");
  EXPECT_FALSE(Template::compile("{{#open}} never closed"));
}

}  // namespace
}  // namespace sanjog::routing
