// Fuzzes the config loader (JSON with comments, schema validation, expansion,
// plugin schema validation, filter and template compilation, automations).
#include <cstddef>
#include <cstdint>
#include <string>

#include "automation/engine.h"
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
  // Automations are compiled from a config that passed the schema.
  if (auto* config = std::get_if<sanjog::config::Config>(&result)) {
    auto engine = sanjog::automation::Engine::build(*config, nullptr);
    (void)engine;
  }
  return 0;
}
