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
        // Every string leaf is a template.
        std::function<void(const nlohmann::json&, const nlohmann::json::json_pointer&)> walk =
            [&](const nlohmann::json& node, const nlohmann::json::json_pointer& at) {
              if (node.is_string()) {
                auto tmpl = Template::compile(node.get<std::string>());
                if (!tmpl) {
                  errors.push_back({"", base + at.to_string(), tmpl.status().message()});
                } else {
                  ct.message_templates.emplace_back(at, *tmpl);
                }
              } else if (node.is_object()) {
                for (const auto& [k, v] : node.items()) walk(v, at / k);
              } else if (node.is_array()) {
                for (size_t i = 0; i < node.size(); ++i) walk(node[i], at / i);
              }
            };
        walk(*target.message, nlohmann::json::json_pointer());
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
        nlohmann::json m = *t.message;
        for (const auto& [at, tmpl] : t.message_templates) m[at] = tmpl.render(event);
        rt.message = std::move(m);
        rt.recipient = t.recipient ? t.recipient->render(event) : std::string();
        rt.fallback = t.fallback;
      }
      out.push_back(std::move(rt));
    }
  }
  return out;
}

}  // namespace sanjog::routing
