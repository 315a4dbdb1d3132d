// The out-of-tree example plugin (docs/examples/hello_plugin), built by
// scripts/build-example-plugin.sh against the INSTALLED SDK, loads into
// sanjogd and works end to end.
#include <filesystem>
#include <fstream>

#include "integration/daemon.h"

namespace sanjog::testing {
namespace {

TEST(ExamplePlugin, BuiltOutOfTreeLoadsAndRuns) {
  const std::string dir = std::string(SANJOG_BINARY_DIR) + "/example-plugin";
  ASSERT_TRUE(std::filesystem::exists(dir + "/libsanjog_example_hello.so"))
      << "run scripts/build-example-plugin.sh " << SANJOG_BINARY_DIR << " first";
  Daemon daemon;
  std::string out;
  ASSERT_EQ(daemon.runOnce({"--list-plugins", "--plugin-dir", dir}, out), 0) << out;
  EXPECT_NE(out.find("example_hello"), std::string::npos) << out;

  auto config = daemon.baseConfig();
  config["plugin_dir"] = dir;
  config["instances"] = {
      {{"id", "hello"}, {"plugin", "example_hello"}},
      {{"id", "greeter"}, {"plugin", "example_hello"}, {"config", {{"greeting", "nomoskar"}}}}};
  config["routes"] = {{{"id", "hello-to-greeter"},
                       {"from", {{"instance", "hello"}}},
                       {"to", {{{"instance", "greeter"}}}}}};
  daemon.writeConfig(config);
  ASSERT_TRUE(daemon.start());
  auto r = daemon.publicRequest("POST", "/webhooks/hello", R"({"name":"রহিম"})",
                                {{"X-Request-Id", "req-1"}});
  ASSERT_EQ(r.status, 202) << r.body;
  EXPECT_TRUE(daemon.waitFor([&] {
    return daemon.metric("sanjog_example_hello_greetings_total", {{"instance", "greeter"}}) == 1;
  }));
  EXPECT_NE(daemon.log().find("nomoskar, example.hello"), std::string::npos);
  EXPECT_EQ(daemon.publicRequest("POST", "/webhooks/hello", "[1]").status, 400);
  EXPECT_EQ(daemon.stop(SIGTERM), 0);
}

}  // namespace
}  // namespace sanjog::testing

namespace sanjog::testing {
namespace {

// Every config in config/examples/ passes --check-config with the real plugins.
TEST(ExampleConfigs, PassCheckConfig) {
  for (const char* name :
       {"SANJOG_ADMIN_TOKEN", "SHOPIFY_CLIENT_SECRET", "WHATSAPP_TOKEN", "META_APP_SECRET",
        "WHATSAPP_VERIFY_TOKEN", "TWILIO_AUTH_TOKEN", "META_VERIFY_TOKEN", "META_PAGE_TOKEN",
        "CHATWOOT_TOKEN", "CHATWOOT_WEBHOOK_SECRET", "HUBSPOT_TOKEN", "HUBSPOT_CLIENT_SECRET"}) {
    setenv(name, "dummy-secret-value-0123456789abcdef", 1);
  }
  int checked = 0;
  for (const auto& entry : std::filesystem::directory_iterator(
           std::filesystem::path(SANJOG_SOURCE_DIR) / "config" / "examples")) {
    if (entry.path().extension() != ".json") continue;
    SCOPED_TRACE(entry.path().string());
    Daemon d;
    std::string out;
    EXPECT_EQ(d.runOnce({"--check-config", "--config", entry.path().string(), "--plugin-dir",
                         SANJOG_PLUGIN_BUILD_DIR},
                        out),
              0)
        << out;
    ++checked;
  }
  EXPECT_GE(checked, 3);
}

// Every first-party plugin README carries the config table that
// `sanjogd --describe-plugin NAME --markdown` prints, between markers.
TEST(PluginDocs, ReadmeConfigTablesMatchDescribePlugin) {
  const std::filesystem::path plugins = std::filesystem::path(SANJOG_SOURCE_DIR) / "plugins";
  int checked = 0;
  for (const auto& entry : std::filesystem::directory_iterator(plugins)) {
    if (!entry.is_directory() || !std::filesystem::exists(entry.path() / "CMakeLists.txt"))
      continue;
    const std::string name = entry.path().filename().string();
    if (name.front() == '_') continue;  // shared code of several plugins, not a plugin
    SCOPED_TRACE(name);
    std::ifstream in(entry.path() / "README.md");
    ASSERT_TRUE(in) << "plugins/" << name << "/README.md is missing";
    const std::string readme((std::istreambuf_iterator<char>(in)),
                             std::istreambuf_iterator<char>());
    const std::string begin = "<!-- config-table:begin -->\n", end = "<!-- config-table:end -->";
    const size_t a = readme.find(begin), b = readme.find(end);
    ASSERT_TRUE(a != std::string::npos && b != std::string::npos && b > a);
    const std::string table = readme.substr(a + begin.size(), b - a - begin.size());
    Daemon d;
    std::string out;
    ASSERT_EQ(d.runOnce({"--describe-plugin", name, "--markdown", "--plugin-dir",
                         SANJOG_PLUGIN_BUILD_DIR},
                        out),
              0)
        << out;
    EXPECT_EQ(table, out) << "regenerate the table with: sanjogd --describe-plugin " << name
                          << " --markdown";
    ++checked;
  }
  EXPECT_GE(checked, 1);
}

}  // namespace
}  // namespace sanjog::testing
