// Validates an event against its documented schema,
// config/events/<type>.schema.json. Returns "" when valid, else the errors.
#pragma once

#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>
#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validator.hpp>

namespace sanjog::testing {

// "" when `doc` is valid against the JSON Schema `schema_doc`, else the errors.
inline std::string validateAgainst(const nlohmann::json& schema_doc, const nlohmann::json& doc) {
  valijson::Schema schema;
  valijson::SchemaParser parser;
  valijson::adapters::NlohmannJsonAdapter sa(schema_doc);
  parser.populateSchema(sa, schema);
  valijson::Validator validator;
  valijson::ValidationResults results;
  valijson::adapters::NlohmannJsonAdapter da(doc);
  if (validator.validate(schema, da, &results)) return "";
  std::string out;
  valijson::ValidationResults::Error e;
  while (results.popError(e)) {
    for (const auto& c : e.context) out += c;
    out += ": " + e.description + "\n";
  }
  return out;
}

inline std::string validateEvent(const nlohmann::json& event) {
  const auto path = std::filesystem::path(SANJOG_SOURCE_DIR) / "config" / "events" /
                    (event.value("type", std::string("?")) + ".schema.json");
  std::ifstream in(path);
  if (!in) return "no schema for " + event.value("type", std::string("?"));
  return validateAgainst(nlohmann::json::parse(in), event);
}

}  // namespace sanjog::testing
