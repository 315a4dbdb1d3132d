#include "config/config_loader.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "config/embedded.h"

namespace sanjog::config {
namespace {

const nlohmann::json& pluginSchema() {
  static const nlohmann::json kSchema = nlohmann::json::parse(R"({
    "type": "object", "additionalProperties": false, "required": ["secret"],
    "properties": {
      "url": {"type": "string", "description": "u"},
      "secret": {"type": "string", "x-secret": true, "description": "s"},
      "timeout": {"type": "string", "default": "10s", "description": "t"},
      "nested": {"type": "object", "additionalProperties": false, "default": {},
                 "properties": {"depth": {"type": "integer", "default": 3, "description": "d"}},
                 "description": "n"}
    }})");
  return kSchema;
}

PluginSchemaLookup lookup() {
  return [](const std::string& name) -> const nlohmann::json* {
    return name == "crm_webhook" ? &pluginSchema() : nullptr;
  };
}

const char* kValid = R"({
  // comments are allowed
  "version": 1,
  "server": {"listen": "[::1]:0", "max_body_bytes": 4096},
  "admin": {"listen": "127.0.0.1:9464", "token": "0123456789abcdef"},
  "storage": {"path": "/tmp/x.db", "retention": "7d", "sync": "normal"},
  "instances": [
    {"id": "a", "plugin": "crm_webhook", "config": {"secret": "s1"}},
    {"id": "b", "plugin": "crm_webhook", "config": {"secret": "s2", "url": "http://x/y"},
     "retry": {"initial": "250ms", "max_age": "1h30m"}}
  ],
  /* block comments too */
  "routes": [{"id": "r1", "from": {"instance": "a", "types": ["message.received"]},
              "to": [{"instance": "b"}]}]
})";

std::vector<ConfigError> errorsOf(const std::string& text) {
  auto r = ConfigLoader::load(text, "t.json", lookup());
  if (auto* e = std::get_if<std::vector<ConfigError>>(&r)) return *e;
  return {};
}

bool hasError(const std::vector<ConfigError>& errors, const std::string& instance,
              const std::string& pointer, const std::string& reason_part = "") {
  for (const auto& e : errors) {
    if (e.instance == instance && e.pointer == pointer &&
        e.reason.find(reason_part) != std::string::npos) {
      return true;
    }
  }
  return false;
}

std::string dump(const std::vector<ConfigError>& errors) {
  std::string out;
  for (const auto& e : errors) out += e.toString() + "\n";
  return out;
}

TEST(ConfigLoader, ValidConfigMapsToTheTypedModel) {
  auto r = ConfigLoader::load(kValid, "t.json", lookup());
  ASSERT_TRUE(std::holds_alternative<Config>(r)) << dump(std::get<1>(r));
  const auto& c = std::get<Config>(r);
  EXPECT_EQ(c.server.listen.host, "::1");
  EXPECT_EQ(c.server.listen.port, 0);
  EXPECT_EQ(c.server.max_body_bytes, 4096u);
  EXPECT_EQ(c.admin.listen.port, 9464);
  EXPECT_EQ(c.storage.sync, "normal");
  EXPECT_EQ(c.storage.retention.count(), 7 * 86400);
  ASSERT_EQ(c.instances.size(), 2u);
  EXPECT_EQ(c.instances[1].retry.initial.count(), 250);
  EXPECT_EQ(c.instances[1].retry.max_age.count(), 5400000);
  EXPECT_EQ(c.instances[0].config["timeout"], "10s") << "plugin defaults applied";
  EXPECT_EQ(c.instances[0].config["nested"]["depth"], 3) << "nested defaults applied";
  EXPECT_EQ(c.instances[0].redacted["secret"], "***");
  EXPECT_EQ(c.instances[0].config["secret"], "s1");
  ASSERT_EQ(c.routes.size(), 1u);
  EXPECT_EQ(c.routes[0].types, std::vector<std::string>{"message.received"});
  EXPECT_EQ(c.routes[0].to[0].instance, "b");
}

TEST(ConfigLoader, UnknownKeysAreErrorsAtEveryLevel) {
  auto top = nlohmann::json::parse(kValid, nullptr, true, true);
  top["colour"] = 1;
  top["server"]["colour"] = 1;
  top["instances"][1]["colour"] = 1;
  top["instances"][1]["config"]["colour"] = 1;
  top["routes"][0]["to"][0]["colour"] = 1;
  auto errors = errorsOf(top.dump());
  EXPECT_TRUE(hasError(errors, "", "/colour", "unknown key")) << dump(errors);
  EXPECT_TRUE(hasError(errors, "", "/server/colour", "unknown key")) << dump(errors);
  EXPECT_TRUE(hasError(errors, "b", "/instances/1/colour", "unknown key")) << dump(errors);
  EXPECT_TRUE(hasError(errors, "", "/routes/0/to/0/colour", "unknown key")) << dump(errors);
  // Plugin-level keys are checked once the top level is valid.
  auto plugin_only = nlohmann::json::parse(kValid, nullptr, true, true);
  plugin_only["instances"][1]["config"]["colour"] = 1;
  errors = errorsOf(plugin_only.dump());
  EXPECT_TRUE(hasError(errors, "b", "/instances/1/config/colour", "unknown key \"colour\""))
      << dump(errors);
}

TEST(ConfigLoader, SchemaErrorsNamePointerAndInstance) {
  auto c = nlohmann::json::parse(kValid, nullptr, true, true);
  c["server"]["listen"] = "nowhere";
  c["storage"]["sync"] = "sometimes";
  c["instances"][0]["retry"] = {{"initial", "soon"}};
  c["admin"]["token"] = "short";
  auto errors = errorsOf(c.dump());
  EXPECT_TRUE(hasError(errors, "", "/server/listen")) << dump(errors);
  EXPECT_TRUE(hasError(errors, "", "/storage/sync")) << dump(errors);
  EXPECT_TRUE(hasError(errors, "a", "/instances/0/retry/initial")) << dump(errors);
  EXPECT_TRUE(hasError(errors, "", "/admin/token")) << dump(errors);
  EXPECT_EQ(errorsOf("{\"version\": 2}").size() >= 1, true);
  EXPECT_TRUE(hasError(errorsOf("{ nope"), "", "", "not valid JSON")) << dump(errorsOf("{ nope"));
  EXPECT_TRUE(hasError(errorsOf("[1]"), "", "", "must be a JSON object"));
}

TEST(ConfigLoader, ReferencesAndDuplicates) {
  auto c = nlohmann::json::parse(kValid, nullptr, true, true);
  c["instances"][1]["id"] = "a";
  c["instances"].push_back({{"id", "z"}, {"plugin", "crm_nothing"}});
  c["routes"].push_back(
      {{"id", "r1"}, {"from", {{"instance", "ghost"}}}, {"to", {{{"instance", "a"}}}}});
  auto errors = errorsOf(c.dump());
  EXPECT_TRUE(hasError(errors, "a", "/instances/1/id", "duplicate instance id")) << dump(errors);
  EXPECT_TRUE(hasError(errors, "z", "/instances/2/plugin", "no plugin named crm_nothing"))
      << dump(errors);
  EXPECT_TRUE(hasError(errors, "", "/routes/1/id", "duplicate route id")) << dump(errors);
  EXPECT_TRUE(hasError(errors, "", "/routes/0/to/0/instance", "no instance named b"))
      << dump(errors);
  EXPECT_TRUE(hasError(errors, "", "/routes/1/from/instance", "no instance named ghost"))
      << dump(errors);
}

TEST(ConfigLoader, PluginSchemaRequiredAndTypes) {
  auto c = nlohmann::json::parse(kValid, nullptr, true, true);
  c["instances"][0]["config"] = {{"url", 5}};
  auto errors = errorsOf(c.dump());
  EXPECT_TRUE(hasError(errors, "a", "/instances/0/config/url")) << dump(errors);
  EXPECT_TRUE(hasError(errors, "a", "/instances/0/config")) << dump(errors);  // missing secret
}

TEST(ConfigLoader, EnvAndFileExpansion) {
  const auto dir = std::filesystem::temp_directory_path() / "sanjog-cfg-test";
  std::filesystem::create_directories(dir);
  const auto secret_file = dir / "secret.txt";
  std::ofstream(secret_file) << "from-file\n";
  ::setenv("SANJOG_TEST_TOKEN", "token-from-env-0123", 1);
  ::unsetenv("SANJOG_TEST_UNSET");
  auto c = nlohmann::json::parse(kValid, nullptr, true, true);
  c["admin"]["token"] = "${env:SANJOG_TEST_TOKEN}";
  c["instances"][0]["config"]["secret"] = "${file:" + secret_file.string() + "}";
  c["instances"][1]["config"]["url"] = "http://x/${env:SANJOG_TEST_UNSET:-fallback}?a=$${b}";
  auto r = ConfigLoader::load(c.dump(), "t.json", lookup());
  ASSERT_TRUE(std::holds_alternative<Config>(r)) << dump(std::get<1>(r));
  const auto& cfg = std::get<Config>(r);
  ASSERT_EQ(cfg.admin.tokens.size(), 1u);
  EXPECT_EQ(cfg.admin.tokens[0], "token-from-env-0123");
  EXPECT_EQ(cfg.instances[0].config["secret"], "from-file");
  EXPECT_EQ(cfg.instances[1].config["url"], "http://x/fallback?a=${b}");

  c["instances"][0]["config"]["secret"] = "${env:SANJOG_TEST_UNSET}";
  c["instances"][1]["config"]["secret"] = "${file:" + (dir / "missing").string() + "}";
  c["admin"]["token"] = "${vault:x}";
  auto errors = errorsOf(c.dump());
  EXPECT_TRUE(hasError(errors, "a", "/instances/0/config/secret",
                       "environment variable SANJOG_TEST_UNSET is not set"))
      << dump(errors);
  EXPECT_TRUE(hasError(errors, "b", "/instances/1/config/secret", "cannot read file"))
      << dump(errors);
  EXPECT_TRUE(hasError(errors, "", "/admin/token", "unknown expansion")) << dump(errors);
  std::filesystem::remove_all(dir);
}

TEST(ConfigLoader, NatsBusSettings) {
  auto c = nlohmann::json::parse(kValid, nullptr, true, true);
  c["bus"] = {{"backend", "nats"},  {"url", "nats://n1:4222, n2:4222 ,nats://n3:4222"},
              {"stream", "SHOP_1"}, {"replicas", 3},
              {"partitions", 32},   {"ack_wait", "10s"},
              {"max_deliver", 3},   {"dedup_window", "5m"}};
  auto r = ConfigLoader::load(c.dump(), "t.json", lookup());
  ASSERT_TRUE(std::holds_alternative<Config>(r)) << dump(std::get<1>(r));
  const auto& bus = std::get<Config>(r).bus;
  EXPECT_EQ(bus.backend, "nats");
  EXPECT_EQ(bus.urls,
            (std::vector<std::string>{"nats://n1:4222", "nats://n2:4222", "nats://n3:4222"}));
  EXPECT_EQ(bus.stream, "SHOP_1");
  EXPECT_EQ(bus.replicas, 3);
  EXPECT_EQ(bus.partitions, 32);
  EXPECT_EQ(bus.ack_wait, std::chrono::seconds(10));
  EXPECT_EQ(bus.max_deliver, 3);
  EXPECT_EQ(bus.dedup_window, std::chrono::minutes(5));

  auto defaults = nlohmann::json::parse(kValid, nullptr, true, true);
  defaults["bus"] = {{"backend", "nats"}};
  auto d = ConfigLoader::load(defaults.dump(), "t.json", lookup());
  ASSERT_TRUE(std::holds_alternative<Config>(d)) << dump(std::get<1>(d));
  EXPECT_EQ(std::get<Config>(d).bus.urls, std::vector<std::string>{"nats://127.0.0.1:4222"});
  EXPECT_EQ(std::get<Config>(d).bus.stream, "SANJOG");
  EXPECT_EQ(std::get<Config>(d).bus.partitions, 16);
  EXPECT_EQ(std::get<Config>(d).bus.workers, kNatsDefaultWorkers) << "more workers on NATS";
  EXPECT_EQ(bus.workers, kNatsDefaultWorkers);
  defaults["bus"]["workers"] = 6;
  auto set = ConfigLoader::load(defaults.dump(), "t.json", lookup());
  ASSERT_TRUE(std::holds_alternative<Config>(set)) << dump(std::get<1>(set));
  EXPECT_EQ(std::get<Config>(set).bus.workers, 6) << "a set value wins";
  auto embedded = nlohmann::json::parse(kValid, nullptr, true, true);
  embedded.erase("bus");
  auto e = ConfigLoader::load(embedded.dump(), "t.json", lookup());
  ASSERT_TRUE(std::holds_alternative<Config>(e)) << dump(std::get<1>(e));
  EXPECT_EQ(std::get<Config>(e).bus.workers, 4);

  auto bad = c;
  bad["bus"]["replicas"] = 2;
  bad["bus"]["stream"] = "no.dots";
  bad["bus"]["ack_wait"] = "500ms";
  bad["bus"]["url"] = " , ";
  auto errors = errorsOf(bad.dump());
  EXPECT_TRUE(hasError(errors, "", "/bus/replicas", "")) << dump(errors);
  EXPECT_TRUE(hasError(errors, "", "/bus/stream", "")) << dump(errors);
}

TEST(ConfigLoader, NatsBusValuesTheSchemaCannotCheck) {
  auto c = nlohmann::json::parse(kValid, nullptr, true, true);
  c["bus"] = {{"backend", "nats"}, {"url", " , "}, {"ack_wait", "500ms"}};
  auto errors = errorsOf(c.dump());
  EXPECT_TRUE(hasError(errors, "", "/bus/url", "no server")) << dump(errors);
  EXPECT_TRUE(hasError(errors, "", "/bus/ack_wait", "at least 1s")) << dump(errors);
}

// On NATS the retention is the stream's max_age: a target that may retry
// longer than that would see its events dropped mid-retry.
TEST(ConfigLoader, NatsRetentionMustOutlastEveryRetry) {
  auto c = nlohmann::json::parse(kValid, nullptr, true, true);
  c["bus"] = {{"backend", "nats"}};
  c["storage"]["retention"] = "2h";
  auto errors = errorsOf(c.dump());
  // a: the default retry max_age (1 day); b: 1h30m, inside the retention.
  EXPECT_TRUE(hasError(errors, "a", "/instances/0/retry/max_age", "storage.retention (7200 s)"))
      << dump(errors);
  EXPECT_FALSE(hasError(errors, "b", "/instances/1/retry/max_age")) << dump(errors);
  c["storage"]["retention"] = "0s";  // keeps everything
  EXPECT_TRUE(errorsOf(c.dump()).empty()) << dump(errorsOf(c.dump()));
  c["storage"]["retention"] = "2h";
  c["bus"]["backend"] = "embedded";  // never deletes pending work
  EXPECT_TRUE(errorsOf(c.dump()).empty()) << dump(errorsOf(c.dump()));
}

TEST(ConfigLoader, ReliabilityAndSecuritySettings) {
  auto c = nlohmann::json::parse(kValid, nullptr, true, true);
  c["server"]["limits"] = {
      {"max_header_count", 32}, {"max_json_depth", 16}, {"body_timeout", "5s"}};
  c["server"]["backpressure"] = {{"max_pending", 5000}, {"max_age", "2h"}, {"retry_after", "1m"}};
  c["server"]["auth_failures"] = {{"max", 3}, {"window", "10m"}};
  c["admin"]["tokens"] = {"a-second-admin-token-123"};
  c["storage"]["encryption_key"] = std::string(64, 'b');
  c["storage"]["previous_keys"] = {std::string(64, 'c')};
  c["outbound"] = {{"allow_private", {"10.0.0.0/8", "fd00::/8"}}, {"ca_file", "/etc/ca.pem"}};
  c["logging"] = {{"privacy", "strict"}};
  c["instances"][1]["circuit_breaker"] = {{"failure_ratio", 0.25}, {"open_for", "10s"}};
  c["instances"][1]["rate_limit"] = {{"per_second", 2.5}};
  auto r = ConfigLoader::load(c.dump(), "t.json", lookup());
  ASSERT_TRUE(std::holds_alternative<Config>(r)) << dump(std::get<1>(r));
  const auto& cfg = std::get<Config>(r);
  EXPECT_EQ(cfg.server.limits.max_header_count, 32);
  EXPECT_EQ(cfg.server.limits.max_header_bytes, 8192u) << "default";
  EXPECT_EQ(cfg.server.limits.body_timeout, std::chrono::seconds(5));
  EXPECT_EQ(cfg.server.backpressure.max_pending, 5000);
  EXPECT_EQ(cfg.server.backpressure.max_age, std::chrono::hours(2));
  EXPECT_EQ(cfg.server.auth_failures.window, std::chrono::minutes(10));
  EXPECT_EQ(cfg.admin.tokens.size(), 2u) << "token and tokens are both accepted";
  EXPECT_EQ(cfg.storage.previous_keys.size(), 1u);
  EXPECT_EQ(cfg.outbound.allow_private.size(), 2u);
  EXPECT_EQ(cfg.logging.privacy, "strict");
  EXPECT_DOUBLE_EQ(cfg.instances[1].circuit_breaker.failure_ratio, 0.25);
  EXPECT_EQ(cfg.instances[1].circuit_breaker.min_attempts, 10) << "default";
  EXPECT_EQ(cfg.instances[1].rate_limit.burst, 3) << "default burst: per_second rounded up";
  EXPECT_TRUE(cfg.instances[0].circuit_breaker.enabled) << "on by default";

  c["storage"]["encryption_key"] = "k";
  c["storage"]["previous_keys"] = {"also-not-a-key"};
  c["outbound"]["allow_private"] = {"10.0.0.0/40"};
  auto semantic = errorsOf(c.dump());
  EXPECT_TRUE(hasError(semantic, "", "/storage/encryption_key", "256-bit")) << dump(semantic);
  EXPECT_TRUE(hasError(semantic, "", "/storage/previous_keys/0", "256-bit")) << dump(semantic);
  EXPECT_TRUE(hasError(semantic, "", "/outbound/allow_private/0", "CIDR")) << dump(semantic);

  c["server"]["limits"]["max_header_count"] = 500;
  c["logging"]["privacy"] = "none";
  c["admin"].erase("token");
  c["admin"].erase("tokens");
  auto errors = errorsOf(c.dump());
  EXPECT_TRUE(hasError(errors, "", "/server/limits/max_header_count")) << dump(errors);
  EXPECT_TRUE(hasError(errors, "", "/logging/privacy")) << dump(errors);
  EXPECT_TRUE(hasError(errors, "", "/admin")) << dump(errors);
}

TEST(ConfigLoader, AutomationsAreCheckedAgainstTheirKindsSchema) {
  auto c = nlohmann::json::parse(kValid, nullptr, true, true);
  // An away message without its calendar, and a key no automation has.
  c["automations"] = {{{"id", "away"}, {"type", "away_message"}, {"message", {{"text", "x"}}}},
                      {{"id", "bot"},
                       {"type", "keyword_bot"},
                       {"rules", nlohmann::json::array()},
                       {"colour", "red"}},
                      {{"id", "x"}, {"type", "teleport"}}};
  auto errors = errorsOf(c.dump());
  EXPECT_TRUE(hasError(errors, "", "/automations/0", "calendar")) << dump(errors);
  EXPECT_TRUE(hasError(errors, "", "/automations/1/colour", "unknown key")) << dump(errors);
  EXPECT_TRUE(hasError(errors, "", "/automations/2/type", "")) << dump(errors);
  c["automations"] = {
      {{"id", "hours"}, {"type", "business_hours"}, {"weekly", {{"mon", {"09:00-17:00"}}}}}};
  EXPECT_TRUE(errorsOf(c.dump()).empty()) << dump(errorsOf(c.dump()));
}

TEST(ConfigLoader, Durations) {
  EXPECT_EQ(ConfigLoader::parseDuration("250ms")->count(), 250);
  EXPECT_EQ(ConfigLoader::parseDuration("30s")->count(), 30000);
  EXPECT_EQ(ConfigLoader::parseDuration("7d")->count(), 7LL * 86400000);
  EXPECT_EQ(ConfigLoader::parseDuration("1h30m")->count(), 5400000);
  EXPECT_FALSE(ConfigLoader::parseDuration(""));
  EXPECT_FALSE(ConfigLoader::parseDuration("5"));
  EXPECT_FALSE(ConfigLoader::parseDuration("5 s"));
  EXPECT_FALSE(ConfigLoader::parseDuration("-5s"));
}

TEST(ConfigLoader, EmbeddedDefaultConfigLoads) {
  auto r = ConfigLoader::load(kEmbeddedDefaultConfig, "", lookup());
  ASSERT_TRUE(std::holds_alternative<Config>(r)) << dump(std::get<1>(r));
  const auto& c = std::get<Config>(r);
  EXPECT_EQ(c.server.listen.port, 8080);
  EXPECT_EQ(c.admin.listen.host, "127.0.0.1");
  EXPECT_EQ(c.instances.size(), 2u);
  EXPECT_EQ(c.routes.size(), 1u);
}

TEST(ConfigLoader, DescribeSchemaMarkdownKeepsOrderAndMarksSecrets) {
  const auto schema = nlohmann::ordered_json::parse(R"({
    "type": "object", "required": ["secret"],
    "properties": {
      "url": {"type": "string", "description": "Where | to."},
      "secret": {"type": "string", "x-secret": true, "description": "Key."},
      "sync": {"enum": ["full", "normal"], "default": "full", "description": "Mode."},
      "nested": {"type": "object", "properties": {"depth": {"type": "integer", "default": 3,
                 "description": "D."}}, "description": "N."}
    }})");
  const std::string md = describeSchemaMarkdown(schema);
  EXPECT_EQ(md,
            "| Key | Type | Default | Required | Secret | Description |\n"
            "|---|---|---|---|---|---|\n"
            "| `url` | string | — | no | no | Where \\| to. |\n"
            "| `secret` | string | — | yes | yes | Key. |\n"
            "| `sync` | \"full\" \\| \"normal\" | `\"full\"` | no | no | Mode. |\n"
            "| `nested` | object | — | no | no | N. |\n"
            "| `nested.depth` | integer | `3` | no | no | D. |\n");
}

}  // namespace
}  // namespace sanjog::config
