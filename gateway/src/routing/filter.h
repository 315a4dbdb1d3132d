// `when` filters of routes: JSON operators over a CloudEvent.
//
//   { "data.message.text": { "$regex": "(?i)order|অর্ডার" },
//     "type": "message.received",                       // implicit $eq
//     "$or": [ { "data.channel": { "$in": ["whatsapp", "sms"] } },
//              { "data.contact.phone": { "$startsWith": "+880" } } ],
//     "$not": { "data.contact.email": { "$exists": true } } }
//
// Keys are dotted paths into the event. Operators: $eq, $in, $exists,
// $startsWith, $regex (RE2), $and, $or, $not. String comparisons are done on
// NFC-normalized, case-folded text (text.h), so Bengali and English keywords
// both match regardless of case or composition.
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace sanjog::routing {

class Filter {
 public:
  // Compiles a filter document; a null document matches everything. Errors
  // name the JSON pointer within the document and the reason.
  static Result<Filter> compile(const nlohmann::json& when);

  // Thread-safe; never throws.
  [[nodiscard]] bool matches(const nlohmann::json& event) const;

  struct Node;

 private:
  std::shared_ptr<const Node> root_;
};

}  // namespace sanjog::routing
