// Mustache templates (kainjow) rendered against a CloudEvent, for route
// targets that build text: "Order {{data.order.number}} is on its way".
// Dotted names walk the event. HTML escaping is off ({{x}} and {{{x}}} are
// the same) because the output is message text, not HTML.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace sanjog::routing {

class Template {
 public:
  static Result<Template> compile(const std::string& text);
  // Thread-safe. Missing names render as empty text.
  [[nodiscard]] std::string render(const nlohmann::json& event) const;

  struct Impl;

 private:
  std::shared_ptr<const Impl> impl_;
};

// A JSON value whose every string is a mustache template: a message object
// ({"text": "Order {{data.number}}"}, a template with parameters, ...).
class JsonTemplate {
 public:
  JsonTemplate() = default;
  // On errors, returns them as (JSON pointer below the value, reason).
  static std::variant<JsonTemplate, std::vector<std::pair<std::string, std::string>>> compile(
      const nlohmann::json& value);
  // Thread-safe.
  [[nodiscard]] nlohmann::json render(const nlohmann::json& context) const;
  [[nodiscard]] bool empty() const { return value_.is_null(); }

 private:
  nlohmann::json value_;
  std::vector<std::pair<nlohmann::json::json_pointer, Template>> strings_;
};

}  // namespace sanjog::routing
