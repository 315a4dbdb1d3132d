// Fuzzes the config loader (JSON with comments, schema validation, expansion,
// plugin schema validation, filter and template compilation).
#include <cstddef>
#include <cstdint>
#include <string>

#include "config/config_loader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const nlohmann::json kSchema = nlohmann::json::parse(R"({
    "type": "object", "additionalProperties": false,
    "properties": {
      "url": {"type": "string", "description": "u"},
      "secret": {"type": "string", "description": "s", "x-secret": true},
      "timeout": {"type": "string", "default": "10s", "description": "t"}
    }})");
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto result = sanjog::config::ConfigLoader::load(
      text, "fuzz.json", [](const std::string& name) -> const nlohmann::json* {
        return name == "crm_webhook" ? &kSchema : nullptr;
      });
  (void)result;
  return 0;
}
