// Decides the deliveries of an event from the configured routes.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "config/config.h"
#include "routing/filter.h"
#include "routing/template.h"

namespace sanjog::routing {

struct RoutedTarget {
  std::string route_id;
  std::string instance;
  std::string action;    // resolved: the route's, or the target's default
  std::string rendered;  // the template's output, "" without a template
  // With a message target: the rendered message, recipient and fallback.
  std::optional<nlohmann::json> message;
  std::string recipient;
  std::vector<std::string> fallback;
};

class Router {
 public:
  // Returns the default action of an instance ("" if it has none / unknown).
  using DefaultAction = std::function<std::string(const std::string& instance)>;

  // Compiles every route; errors name "/routes/<i>/..." pointers.
  static std::variant<Router, std::vector<config::ConfigError>> build(
      const std::vector<config::RouteConfig>& routes, const DefaultAction& default_action);

  // Targets for one event coming from `source_instance`. Thread-safe. A
  // target equal to the source instance is skipped (no loops).
  [[nodiscard]] std::vector<RoutedTarget> route(const std::string& source_instance,
                                                const nlohmann::json& event) const;

  struct CompiledRoute {
    std::string id;
    std::string from_instance;
    std::vector<std::string> types;
    Filter when;
    struct Target {
      std::string instance;
      std::string action;
      std::optional<Template> templ;
      // A message target: the object, every string inside a template.
      std::optional<nlohmann::json> message;
      JsonTemplate message_template;
      std::optional<Template> recipient;
      std::vector<std::string> fallback;
    };
    std::vector<Target> to;
  };

 private:
  std::vector<CompiledRoute> routes_;
};

}  // namespace sanjog::routing
