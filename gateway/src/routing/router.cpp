#include "routing/router.h"

#include <algorithm>
#include <functional>

namespace sanjog::routing {

std::variant<Router, std::vector<config::ConfigError>> Router::build(
    const std::vector<config::RouteConfig>& routes, const DefaultAction& default_action) {
  Router router;
  std::vector<config::ConfigError> errors;
  for (size_t i = 0; i < routes.size(); ++i) {
    const auto& r = routes[i];
    const std::string pointer = "/routes/" + std::to_string(i);
    CompiledRoute cr;
    cr.id = r.id;
    cr.from_instance = r.from_instance;
    cr.types = r.types;
    auto when = Filter::compile(r.when);
    if (!when) {
      errors.push_back({"", pointer + "/when", when.status().message()});
    } else {
      cr.when = *when;
    }
    for (size_t t = 0; t < r.to.size(); ++t) {
      const auto& target = r.to[t];
      CompiledRoute::Target ct;
      ct.instance = target.instance;
      ct.action =
          target.action.empty() && default_action ? default_action(target.instance) : target.action;
      if (ct.action.empty()) {
        errors.push_back({target.instance, pointer + "/to/" + std::to_string(t),
                          "instance " + target.instance + " takes no deliveries (no actions)"});
      }
      if (target.template_text) {
        auto tmpl = Template::compile(*target.template_text);
        if (!tmpl) {
          errors.push_back(
              {"", pointer + "/to/" + std::to_string(t) + "/template", tmpl.status().message()});
        } else {
          ct.templ = *tmpl;
        }
      }
      if (target.message) {
        ct.message = *target.message;
        ct.fallback = target.fallback;
        const std::string base = pointer + "/to/" + std::to_string(t) + "/message";
        auto compiled = JsonTemplate::compile(*target.message);  // every string is a template
        if (auto* errs = std::get_if<std::vector<std::pair<std::string, std::string>>>(&compiled)) {
          for (const auto& [at, why] : *errs) errors.push_back({"", base + at, why});
        } else {
          ct.message_template = std::get<JsonTemplate>(std::move(compiled));
        }
        if (!target.recipient.empty()) {
          auto tmpl = Template::compile(target.recipient);
          if (!tmpl) {
            errors.push_back(
                {"", pointer + "/to/" + std::to_string(t) + "/recipient", tmpl.status().message()});
          } else {
            ct.recipient = *tmpl;
          }
        }
      }
      cr.to.push_back(std::move(ct));
    }
    router.routes_.push_back(std::move(cr));
  }
  if (!errors.empty()) return errors;
  return router;
}

std::vector<RoutedTarget> Router::route(const std::string& source_instance,
                                        const nlohmann::json& event) const {
  std::vector<RoutedTarget> out;
  const std::string type = event.value("type", "");
  for (const auto& r : routes_) {
    if (r.from_instance != "*" && r.from_instance != source_instance) continue;
    if (!r.types.empty() && std::find(r.types.begin(), r.types.end(), type) == r.types.end()) {
      continue;
    }
    if (!r.when.matches(event)) continue;
    for (const auto& t : r.to) {
      if (t.instance == source_instance) continue;  // no loops back to the sender
      RoutedTarget rt{
          r.id,         t.instance, t.action, t.templ ? t.templ->render(event) : std::string(),
          std::nullopt, "",         {}};
      if (t.message) {
        rt.message = t.message_template.render(event);
        rt.recipient = t.recipient ? t.recipient->render(event) : std::string();
        rt.fallback = t.fallback;
      }
      out.push_back(std::move(rt));
    }
  }
  return out;
}

}  // namespace sanjog::routing
