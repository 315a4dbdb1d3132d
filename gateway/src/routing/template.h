// Mustache templates (kainjow) rendered against a CloudEvent, for route
// targets that build text: "Order {{data.order.number}} is on its way".
// Dotted names walk the event. HTML escaping is off ({{x}} and {{{x}}} are
// the same) because the output is message text, not HTML.
#pragma once

#include <memory>
#include <string>

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

}  // namespace sanjog::routing
