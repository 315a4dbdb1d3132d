// ABI conformance: every plugin the build produced loads, describes itself
// completely, and survives repeated create/destroy (run under ASan in CI).
#include <gtest/gtest.h>

#include <filesystem>

#include "plugin_host/plugin_instance.h"
#include "plugin_host/plugin_library.h"

namespace sanjog::plugin_host {
namespace {

std::vector<std::filesystem::path> builtPlugins() {
  std::vector<std::filesystem::path> out;
  for (const auto& e : std::filesystem::directory_iterator(SANJOG_PLUGIN_BUILD_DIR)) {
    if (e.path().extension() == ".so") out.push_back(e.path());
  }
  return out;
}

void checkProperties(const nlohmann::json& schema, const std::string& where) {
  ASSERT_TRUE(schema.is_object()) << where;
  if (schema.value("type", "") == "object") {
    // Either a closed object, or a map whose values have a schema.
    const auto it = schema.find("additionalProperties");
    EXPECT_TRUE(it != schema.end() && (*it == false || it->is_object()))
        << where << ": objects must reject unknown keys";
  }
  if (!schema.contains("properties")) return;
  for (const auto& [key, prop] : schema["properties"].items()) {
    EXPECT_TRUE(prop.contains("description") && prop["description"].is_string() &&
                !prop["description"].get<std::string>().empty())
        << where << "." << key << " needs a description";
    if (prop.value("type", "") == "object") checkProperties(prop, where + "." + key);
  }
}

TEST(AbiConformance, EveryBuiltPluginLoadsAndDescribesItself) {
  const auto plugins = builtPlugins();
  ASSERT_FALSE(plugins.empty()) << "no plugins in " << SANJOG_PLUGIN_BUILD_DIR;
  for (const auto& path : plugins) {
    SCOPED_TRACE(path.string());
    auto lib = PluginLibrary::load(path);
    ASSERT_TRUE(lib) << lib.status().toString();
    const auto& l = **lib;
    EXPECT_EQ(path.filename().string(), "libsanjog_" + l.name() + ".so");
    EXPECT_FALSE(l.summary().empty());
    EXPECT_TRUE(l.kind() == "channel" || l.kind() == "crm" || l.kind() == "ecom" ||
                l.kind() == "sms" || l.kind() == "example")
        << l.kind();
    checkProperties(l.schema(), l.name());
  }
}

TEST(AbiConformance, InstancesCanBeCreatedAndDestroyedRepeatedly) {
  for (const auto& path : builtPlugins()) {
    SCOPED_TRACE(path.string());
    auto lib = PluginLibrary::load(path);
    ASSERT_TRUE(lib);
    const auto& schema = (*lib)->schema();
    ASSERT_TRUE(schema.contains("examples") && schema["examples"].is_array() &&
                !schema["examples"].empty())
        << "the schema must carry a valid example config in \"examples\"";
    const nlohmann::json config = schema["examples"][0];
    metrics::Metrics metrics;
    PluginMetrics plugin_metrics(&metrics);
    auto services = std::make_shared<HostServices>();
    services->metrics = &metrics;
    services->plugin_metrics = &plugin_metrics;
    for (int i = 0; i < 50; ++i) {
      auto inst = PluginInstance::create(*lib, "conf" + std::to_string(i), config, services);
      ASSERT_TRUE(inst) << inst.status().toString();
      (void)(*inst)->health();
    }
    // A config that is not an object must be refused, not crash.
    auto bad = PluginInstance::create(*lib, "bad", nlohmann::json::array({1, 2}), services);
    EXPECT_FALSE(bad);
  }
}

}  // namespace
}  // namespace sanjog::plugin_host
