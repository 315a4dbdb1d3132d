#include "routing/router.h"

#include <gtest/gtest.h>

namespace sanjog::routing {
namespace {

config::RouteConfig route(const std::string& id, const std::string& from,
                          std::vector<std::string> types, std::vector<config::RouteTarget> to,
                          nlohmann::json when = nullptr) {
  config::RouteConfig r;
  r.id = id;
  r.from_instance = from;
  r.types = std::move(types);
  r.to = std::move(to);
  r.when = std::move(when);
  return r;
}

config::RouteTarget target(const std::string& instance, const std::string& action,
                           std::optional<std::string> templ) {
  config::RouteTarget t;
  t.instance = instance;
  t.action = action;
  t.template_text = std::move(templ);
  return t;
}

Router::DefaultAction defaults() {
  return [](const std::string& instance) { return instance == "wa" ? "send" : "deliver"; };
}

TEST(Router, ResolvesSourcesTypesFiltersAndActions) {
  auto built =
      Router::build({route("all-to-crm", "*", {}, {target("crm", "", std::nullopt)}),
                     route("wa-orders", "wa", {"message.received"},
                           {target("crm", "note", std::string("অর্ডার: {{data.message.text}}")),
                            target("wa", "", std::nullopt)},
                           {{"data.message.text", {{"$regex", "order|অর্ডার"}}}})},
                    defaults());
  ASSERT_TRUE(std::holds_alternative<Router>(built));
  const auto& router = std::get<Router>(built);
  const nlohmann::json order = {{"type", "message.received"},
                                {"data", {{"message", {{"text", "নতুন অর্ডার"}}}}}};
  auto targets = router.route("wa", order);
  ASSERT_EQ(targets.size(), 2u);  // the self target "wa" is skipped
  EXPECT_EQ(targets[0].route_id, "all-to-crm");
  EXPECT_EQ(targets[0].action, "deliver");
  EXPECT_EQ(targets[0].rendered, "");
  EXPECT_EQ(targets[1].route_id, "wa-orders");
  EXPECT_EQ(targets[1].action, "note");
  EXPECT_EQ(targets[1].rendered, "অর্ডার: নতুন অর্ডার");
  // Another type from wa: only the wildcard route.
  EXPECT_EQ(
      router.route("wa", {{"type", "message.status"}, {"data", nlohmann::json::object()}}).size(),
      1u);
  // From crm itself: the wildcard route would target crm, which is the source.
  EXPECT_TRUE(router.route("crm", order).empty());
}

TEST(Router, BuildErrorsNamePointers) {
  auto built = Router::build({route("ok", "a", {}, {target("b", "", std::nullopt)}),
                              route("bad", "a", {}, {target("b", "", std::string("{{#x}}"))},
                                    {{"data.x", {{"$regex", "("}}}})},
                             defaults());
  ASSERT_TRUE(std::holds_alternative<std::vector<config::ConfigError>>(built));
  const auto& errors = std::get<std::vector<config::ConfigError>>(built);
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_EQ(errors[0].pointer, "/routes/1/when");
  EXPECT_EQ(errors[1].pointer, "/routes/1/to/0/template");
}

TEST(Router, MessageTargetsRenderEveryStringOfTheMessage) {
  config::RouteTarget t = target("wa", "", std::nullopt);
  t.message =
      nlohmann::json{{"template",
                      {{"name", "order_confirmed"},
                       {"language", "bn"},
                       {"parameters", {"{{data.customer.name}}", "{{data.number}}", "fixed"}}}}};
  t.recipient = "{{data.customer.phone}}";
  t.fallback = {"sms"};
  auto built = Router::build({route("orders", "shop", {"order.created"}, {t})}, defaults());
  ASSERT_TRUE(std::holds_alternative<Router>(built));
  const auto event = nlohmann::json{
      {"type", "order.created"},
      {"data",
       {{"number", "#1042"}, {"customer", {{"name", "রহিমা"}, {"phone", "+8801711000001"}}}}}};
  auto out = std::get<Router>(built).route("shop", event);
  ASSERT_EQ(out.size(), 1u);
  ASSERT_TRUE(out[0].message);
  EXPECT_EQ((*out[0].message)["template"]["parameters"],
            nlohmann::json({"রহিমা", "#1042", "fixed"}));
  EXPECT_EQ(out[0].recipient, "+8801711000001");
  EXPECT_EQ(out[0].fallback, std::vector<std::string>{"sms"});
  EXPECT_EQ(out[0].action, "send");

  config::RouteTarget bad = target("wa", "", std::nullopt);
  bad.message = nlohmann::json{{"text", "{{#open}}"}};
  auto errors = Router::build({route("bad", "shop", {}, {bad})}, defaults());
  ASSERT_TRUE(std::holds_alternative<std::vector<config::ConfigError>>(errors));
  EXPECT_EQ(std::get<std::vector<config::ConfigError>>(errors)[0].pointer,
            "/routes/0/to/0/message/text");
}

}  // namespace
}  // namespace sanjog::routing
