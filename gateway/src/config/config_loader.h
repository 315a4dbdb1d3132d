// Loading and validating the config file.
//
// Pipeline: read text (JSON with // and /* */ comments) -> validate against
// config/sanjog.schema.json (valijson; unknown keys are errors) -> expand
// "${env:NAME}", "${env:NAME:-default}" and "${file:PATH}" in string values
// -> validate each instance's config against its plugin's declared schema
// (defaults applied, unknown keys rejected, "x-secret" properties redacted in
// InstanceConfig::redacted) -> typed Config. Every problem is reported, not
// only the first.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "config/config.h"

namespace sanjog::config {

// What the loader needs to know about a plugin: its declared config schema.
// Returns nullptr when no plugin of that name is loaded.
using PluginSchemaLookup = std::function<const nlohmann::json*(const std::string& plugin)>;

using LoadResult = std::variant<Config, std::vector<ConfigError>>;

class ConfigLoader {
 public:
  // Parses and validates the top-level document only (no plugin schemas);
  // used first, to learn plugin_dir before plugins are loaded.
  static std::variant<nlohmann::json, std::vector<ConfigError>> parse(const std::string& text);

  // The full pipeline on text; `source_path` is reported in Config.
  static LoadResult load(const std::string& text, const std::string& source_path,
                         const PluginSchemaLookup& plugins);

  // Reads the file, then load(). A missing file is one ConfigError.
  static LoadResult loadFile(const std::string& path, const PluginSchemaLookup& plugins);

  // Validates `config` against a plugin schema, applying "default" values in
  // place. Errors carry `instance` and pointers prefixed with `pointer_prefix`.
  static std::vector<ConfigError> validatePluginConfig(const nlohmann::json& schema,
                                                       nlohmann::json& config,
                                                       const std::string& instance,
                                                       const std::string& pointer_prefix);

  // A copy of `config` with every property marked "x-secret" in `schema`
  // replaced by "***".
  static nlohmann::json redact(const nlohmann::json& schema, const nlohmann::json& config);

  // Parses "250ms", "30s", "5m", "2h", "7d" (and combinations like "1h30m").
  static std::optional<std::chrono::milliseconds> parseDuration(const std::string& text);
};

// Documentation of a plugin config schema: a Markdown table (key, type,
// default, required, secret, description) and a JSON form, used by
// --describe-plugin and the plugin READMEs.
// The schema is taken as ordered_json so rows keep the declared order.
std::string describeSchemaMarkdown(const nlohmann::ordered_json& schema);
nlohmann::ordered_json describeSchemaJson(const nlohmann::ordered_json& schema);

}  // namespace sanjog::config
