#include "config/config_loader.h"

#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>

#include "common/crypto_box.h"
#include "common/net_guard.h"
#include "config/embedded.h"
#include "sanjog/sdk/duration.hpp"

namespace sanjog::config {

namespace {

using Errors = std::vector<ConfigError>;

std::string escapePointerToken(const std::string& token) {
  std::string out;
  for (char c : token) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}

// valijson context ["<root>", "[instances]", "[0]"] -> "/instances/0".
std::string pointerFromContext(const std::vector<std::string>& context) {
  std::string out;
  for (const auto& part : context) {
    if (part == "<root>") continue;
    std::string token = part;
    if (token.size() >= 2 && token.front() == '[' && token.back() == ']') {
      token = token.substr(1, token.size() - 2);
    }
    out += "/" + escapePointerToken(token);
  }
  return out;
}

// The instance id named by a pointer under /instances/N, if any.
std::string instanceFor(const nlohmann::json& doc, const std::string& pointer,
                        const std::string& prefix = "/instances/") {
  if (pointer.rfind(prefix, 0) != 0) return "";
  const size_t start = prefix.size();
  const size_t end = pointer.find('/', start);
  const std::string index = pointer.substr(start, end - start);
  if (index.empty() || index.find_first_not_of("0123456789") != std::string::npos) return "";
  const size_t i = std::stoul(index);
  if (!doc.contains("instances") || !doc["instances"].is_array() || i >= doc["instances"].size()) {
    return "";
  }
  const auto& inst = doc["instances"][i];
  if (inst.is_object() && inst.contains("id") && inst["id"].is_string()) return inst["id"];
  return "";
}

// A compiled JSON Schema; valijson's Schema is not copyable, so it is kept
// behind a pointer and reused (validation is const and thread-safe).
struct CompiledSchema {
  valijson::Schema schema;
};

std::shared_ptr<CompiledSchema> compileSchema(const nlohmann::json& schema_doc) {
  auto compiled = std::make_shared<CompiledSchema>();
  valijson::SchemaParser parser;
  valijson::adapters::NlohmannJsonAdapter adapter(schema_doc);
  parser.populateSchema(adapter, compiled->schema);
  return compiled;
}

// Validates `doc`; errors get pointers prefixed by `prefix`.
Errors validate(const CompiledSchema& schema, const nlohmann::json& doc, const std::string& prefix,
                const std::string& instance) {
  valijson::Validator validator;
  valijson::ValidationResults results;
  valijson::adapters::NlohmannJsonAdapter adapter(doc);
  if (validator.validate(schema.schema, adapter, &results)) return {};
  Errors specific;
  Errors summaries;
  valijson::ValidationResults::Error e;
  while (results.popError(e)) {
    std::string pointer = prefix + pointerFromContext(e.context);
    std::string reason = e.description;
    const std::string kUnknown = "Object contains a property that could not be validated";
    if (reason.rfind(kUnknown, 0) == 0) {
      // "... constraints: 'colour'." -- the key is in the last quotes.
      const size_t b = reason.rfind('\'');
      const size_t a =
          b == std::string::npos || b == 0 ? std::string::npos : reason.rfind('\'', b - 1);
      if (a != std::string::npos && b > a) {
        const std::string key = reason.substr(a + 1, b - a - 1);
        pointer += "/" + escapePointerToken(key);
        reason = "unknown key \"" + key + "\"";
      }
    }
    ConfigError err{instance, pointer, reason};
    if (reason.rfind("Failed to validate", 0) == 0) {
      summaries.push_back(std::move(err));
    } else {
      specific.push_back(std::move(err));
    }
  }
  return specific.empty() ? summaries : specific;
}

const CompiledSchema& topSchema() {
  static const std::shared_ptr<CompiledSchema> kSchema =
      compileSchema(nlohmann::json::parse(kEmbeddedConfigSchema));
  return *kSchema;
}

// Secrets and configs are small regular files; refusing anything else keeps
// "${file:/dev/zero}" from eating the machine.
std::optional<std::string> readFile(const std::string& path) {
  constexpr uintmax_t kMaxBytes = 1 << 20;
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec) ||
      std::filesystem::file_size(path, ec) > kMaxBytes) {
    return std::nullopt;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Expands ${env:NAME}, ${env:NAME:-default}, ${file:PATH} in one string;
// "$${" is a literal "${".
std::optional<std::string> expandString(const std::string& in, std::string& error) {
  std::string out;
  size_t i = 0;
  while (i < in.size()) {
    if (in.compare(i, 3, "$${") == 0) {
      out += "${";
      i += 3;
      continue;
    }
    if (in.compare(i, 2, "${") != 0) {
      out += in[i++];
      continue;
    }
    const size_t close = in.find('}', i + 2);
    if (close == std::string::npos) {
      error = "unterminated ${ in a string value (write $${ for a literal ${)";
      return std::nullopt;
    }
    const std::string expr = in.substr(i + 2, close - i - 2);
    if (expr.rfind("env:", 0) == 0) {
      std::string name = expr.substr(4);
      std::optional<std::string> fallback;
      if (const size_t d = name.find(":-"); d != std::string::npos) {
        fallback = name.substr(d + 2);
        name = name.substr(0, d);
      }
      if (name.empty()) {
        error = "empty variable name in ${" + expr + "}";
        return std::nullopt;
      }
      const char* value = std::getenv(name.c_str());
      if (value != nullptr && *value != '\0') {
        out += value;
      } else if (fallback) {
        out += *fallback;
      } else {
        error = "environment variable " + name + " is not set";
        return std::nullopt;
      }
    } else if (expr.rfind("file:", 0) == 0) {
      const std::string path = expr.substr(5);
      auto content = readFile(path);
      if (!content) {
        error = "cannot read file " + path + " (a regular file of at most 1 MiB)";
        return std::nullopt;
      }
      if (!content->empty() && content->back() == '\n') content->pop_back();
      if (!content->empty() && content->back() == '\r') content->pop_back();
      out += *content;
    } else {
      error = "unknown expansion ${" + expr + "} (use ${env:NAME}, ${env:NAME:-default} or " +
              "${file:PATH})";
      return std::nullopt;
    }
    i = close + 1;
  }
  return out;
}

void expandAll(nlohmann::json& node, const std::string& pointer, const nlohmann::json& doc,
               Errors& errors) {
  if (node.is_string()) {
    const std::string& s = node.get_ref<const std::string&>();
    if (s.find('$') == std::string::npos) return;
    std::string error;
    auto expanded = expandString(s, error);
    if (expanded) {
      node = std::move(*expanded);
    } else {
      errors.push_back({instanceFor(doc, pointer), pointer, error});
    }
  } else if (node.is_object()) {
    for (auto& [key, value] : node.items()) {
      expandAll(value, pointer + "/" + escapePointerToken(key), doc, errors);
    }
  } else if (node.is_array()) {
    for (size_t i = 0; i < node.size(); ++i) {
      expandAll(node[i], pointer + "/" + std::to_string(i), doc, errors);
    }
  }
}

void applyDefaults(const nlohmann::json& schema, nlohmann::json& config) {
  if (!config.is_object() || !schema.contains("properties")) return;
  for (const auto& [key, prop] : schema["properties"].items()) {
    if (!config.contains(key) && prop.contains("default")) config[key] = prop["default"];
    if (config.contains(key) && prop.value("type", "") == "object") {
      applyDefaults(prop, config[key]);
    }
  }
}

std::optional<ListenAddress> parseListen(const std::string& text) {
  const size_t colon = text.rfind(':');
  if (colon == std::string::npos) return std::nullopt;
  ListenAddress a;
  a.host = text.substr(0, colon);
  if (a.host.size() >= 2 && a.host.front() == '[' && a.host.back() == ']') {
    a.host = a.host.substr(1, a.host.size() - 2);
  }
  const std::string port = text.substr(colon + 1);
  if (port.empty() || port.size() > 5 ||
      port.find_first_not_of("0123456789") != std::string::npos) {
    return std::nullopt;
  }
  const long p = std::stol(port);
  if (p > 65535) return std::nullopt;
  a.port = static_cast<uint16_t>(p);
  return a;
}

// Maps the validated document to the typed Config.
Config toConfig(const nlohmann::json& doc, Errors& errors) {
  Config c;
  auto duration = [&](const nlohmann::json& obj, const char* key, const std::string& pointer,
                      std::chrono::milliseconds fallback) {
    if (!obj.contains(key)) return fallback;
    auto d = ConfigLoader::parseDuration(obj[key].get<std::string>());
    if (!d) {
      errors.push_back({instanceFor(doc, pointer), pointer + "/" + key, "not a duration"});
      return fallback;
    }
    return *d;
  };
  auto listen = [&](const nlohmann::json& obj, const std::string& pointer, ListenAddress fallback) {
    if (!obj.contains("listen")) return fallback;
    auto a = parseListen(obj["listen"].get<std::string>());
    if (!a) {
      errors.push_back({"", pointer + "/listen", "not a host:port address"});
      return fallback;
    }
    return *a;
  };
  c.version = doc.value("version", 1);
  if (doc.contains("server")) {
    const auto& s = doc["server"];
    c.server.listen = listen(s, "/server", c.server.listen);
    c.server.max_body_bytes = s.value("max_body_bytes", c.server.max_body_bytes);
    c.server.threads = s.value("threads", c.server.threads);
    if (s.contains("tls")) c.server.tls = TlsConfig{s["tls"]["cert_file"], s["tls"]["key_file"]};
    if (s.contains("limits")) {
      const auto& l = s["limits"];
      auto& o = c.server.limits;
      o.max_header_count = l.value("max_header_count", o.max_header_count);
      o.max_header_bytes = l.value("max_header_bytes", o.max_header_bytes);
      o.max_json_depth = l.value("max_json_depth", o.max_json_depth);
      o.read_timeout = duration(l, "read_timeout", "/server/limits", o.read_timeout);
      o.body_timeout = duration(l, "body_timeout", "/server/limits", o.body_timeout);
      o.keep_alive_timeout =
          duration(l, "keep_alive_timeout", "/server/limits", o.keep_alive_timeout);
      for (const char* key : {"read_timeout", "body_timeout", "keep_alive_timeout"}) {
        if (l.contains(key) && duration(l, key, "/server/limits", o.read_timeout).count() <= 0) {
          errors.push_back({"", std::string("/server/limits/") + key, "must be longer than 0"});
        }
      }
    }
    if (s.contains("backpressure")) {
      const auto& b = s["backpressure"];
      auto& o = c.server.backpressure;
      o.max_pending = b.value("max_pending", o.max_pending);
      o.max_age = duration(b, "max_age", "/server/backpressure", o.max_age);
      o.retry_after = duration(b, "retry_after", "/server/backpressure", o.retry_after);
    }
    if (s.contains("auth_failures")) {
      const auto& a = s["auth_failures"];
      c.server.auth_failures.max = a.value("max", c.server.auth_failures.max);
      c.server.auth_failures.window =
          duration(a, "window", "/server/auth_failures", c.server.auth_failures.window);
    }
  }
  if (doc.contains("admin")) {
    const auto& a = doc["admin"];
    c.admin.listen = listen(a, "/admin", c.admin.listen);
    if (a.contains("token")) c.admin.tokens.push_back(a["token"]);
    for (const auto& t : a.value("tokens", std::vector<std::string>{})) c.admin.tokens.push_back(t);
  }
  if (doc.contains("api")) {
    c.api.keys = doc["api"].value("keys", std::vector<std::string>{});
    c.api.media_max_bytes = doc["api"].value("media_max_bytes", c.api.media_max_bytes);
  }
  if (doc.contains("storage")) {
    const auto& s = doc["storage"];
    c.storage.path = s.value("path", c.storage.path);
    c.storage.sync = s.value("sync", c.storage.sync);
    c.storage.retention = std::chrono::duration_cast<std::chrono::seconds>(
        duration(s, "retention", "/storage", c.storage.retention));
    c.storage.encryption_key = s.value("encryption_key", "");
    c.storage.previous_keys = s.value("previous_keys", std::vector<std::string>{});
    c.storage.max_bytes = s.value("max_bytes", int64_t{0});
    if (!c.storage.encryption_key.empty() && !crypto::parseKey(c.storage.encryption_key)) {
      errors.push_back({"", "/storage/encryption_key", crypto::kKeyFormatHint});
    }
    for (size_t i = 0; i < c.storage.previous_keys.size(); ++i) {
      if (!crypto::parseKey(c.storage.previous_keys[i])) {
        errors.push_back(
            {"", "/storage/previous_keys/" + std::to_string(i), crypto::kKeyFormatHint});
      }
    }
    if (c.storage.encryption_key.empty() && !c.storage.previous_keys.empty()) {
      errors.push_back(
          {"", "/storage/previous_keys", "previous keys need an encryption_key for new data"});
    }
  }
  if (doc.contains("bus")) {
    const auto& b = doc["bus"];
    c.bus.backend = b.value("backend", c.bus.backend);
    // On NATS an attempt also waits for two round trips to the server
    // (trace read, result write), so more workers keep deliveries up with
    // ingest (docs/performance.md, NATS backend).
    c.bus.workers =
        b.value("workers", c.bus.backend == "nats" ? kNatsDefaultWorkers : c.bus.workers);
    if (b.contains("url")) {
      c.bus.urls.clear();
      std::string url = b["url"].get<std::string>();
      size_t pos = 0;
      while (pos <= url.size()) {
        const size_t comma = std::min(url.find(',', pos), url.size());
        std::string one = url.substr(pos, comma - pos);
        one.erase(0, one.find_first_not_of(" \t"));
        one.erase(one.find_last_not_of(" \t") + 1);
        if (!one.empty()) {
          if (one.find("://") == std::string::npos) one = "nats://" + one;
          c.bus.urls.push_back(one);
        }
        pos = comma + 1;
      }
      if (c.bus.urls.empty()) errors.push_back({"", "/bus/url", "no server in the list"});
    }
    c.bus.stream = b.value("stream", c.bus.stream);
    c.bus.replicas = b.value("replicas", c.bus.replicas);
    c.bus.credentials = b.value("credentials", "");
    c.bus.partitions = b.value("partitions", c.bus.partitions);
    c.bus.ack_wait = duration(b, "ack_wait", "/bus", c.bus.ack_wait);
    c.bus.max_deliver = b.value("max_deliver", c.bus.max_deliver);
    c.bus.dedup_window = duration(b, "dedup_window", "/bus", c.bus.dedup_window);
    if (c.bus.ack_wait < std::chrono::seconds(1)) {
      errors.push_back({"", "/bus/ack_wait", "at least 1s"});
    }
  }
  if (doc.contains("outbound")) {
    const auto& o = doc["outbound"];
    c.outbound.ca_file = o.value("ca_file", "");
    c.outbound.allow_private = o.value("allow_private", std::vector<std::string>{});
    for (size_t i = 0; i < c.outbound.allow_private.size(); ++i) {
      if (!net::parseCidr(c.outbound.allow_private[i])) {
        errors.push_back({"", "/outbound/allow_private/" + std::to_string(i),
                          "not a CIDR range such as 10.0.0.0/8 or fd00::/8"});
      }
    }
  }
  if (doc.contains("logging")) {
    c.logging.level = doc["logging"].value("level", c.logging.level);
    c.logging.privacy = doc["logging"].value("privacy", c.logging.privacy);
  }
  c.plugin_dir = doc.value("plugin_dir", "");
  if (doc.contains("defaults")) {
    const auto& d = doc["defaults"];
    c.defaults.region = d.value("region", c.defaults.region);
    c.defaults.timezone = d.value("timezone", c.defaults.timezone);
    c.defaults.language = d.value("language", c.defaults.language);
  }
  if (doc.contains("instances")) {
    for (size_t i = 0; i < doc["instances"].size(); ++i) {
      const auto& in = doc["instances"][i];
      const std::string pointer = "/instances/" + std::to_string(i);
      InstanceConfig ic;
      ic.id = in["id"];
      ic.plugin = in["plugin"];
      ic.config = in.value("config", nlohmann::json::object());
      if (in.contains("retry")) {
        const auto& r = in["retry"];
        const std::string rp = pointer + "/retry";
        ic.retry.initial = duration(r, "initial", rp, ic.retry.initial);
        ic.retry.multiplier = r.value("multiplier", ic.retry.multiplier);
        ic.retry.max_interval = duration(r, "max_interval", rp, ic.retry.max_interval);
        ic.retry.max_age = duration(r, "max_age", rp, ic.retry.max_age);
        ic.retry.jitter = r.value("jitter", ic.retry.jitter);
        if (ic.retry.initial.count() <= 0) {
          errors.push_back({ic.id, rp + "/initial", "must be longer than 0"});
        }
        if (ic.retry.max_interval < ic.retry.initial) {
          errors.push_back({ic.id, rp + "/max_interval", "must not be shorter than initial"});
        }
      }
      if (in.contains("circuit_breaker")) {
        const auto& b = in["circuit_breaker"];
        const std::string bp = pointer + "/circuit_breaker";
        auto& o = ic.circuit_breaker;
        o.enabled = b.value("enabled", o.enabled);
        o.failure_ratio = b.value("failure_ratio", o.failure_ratio);
        o.min_attempts = b.value("min_attempts", o.min_attempts);
        o.window = duration(b, "window", bp, o.window);
        o.open_for = duration(b, "open_for", bp, o.open_for);
        if (o.window.count() <= 0)
          errors.push_back({ic.id, bp + "/window", "must be longer than 0"});
      }
      ic.max_in_flight = in.value("max_in_flight", 0);
      if (in.contains("rate_limit")) {
        const auto& r = in["rate_limit"];
        ic.rate_limit.per_second = r["per_second"].get<double>();
        ic.rate_limit.burst =
            r.value("burst", static_cast<int>(std::ceil(ic.rate_limit.per_second)));
      }
      for (const auto& other : c.instances) {
        if (other.id == ic.id) {
          errors.push_back({ic.id, pointer + "/id", "duplicate instance id " + ic.id});
        }
      }
      c.instances.push_back(std::move(ic));
    }
  }
  // On NATS the retention is the event stream's max_age: JetStream drops an
  // older event even while a delivery of it is still retried (the embedded
  // bus never deletes pending work). Refused rather than lost.
  if (c.bus.backend == "nats" && c.storage.retention.count() > 0) {
    for (size_t i = 0; i < c.instances.size(); ++i) {
      const auto& retry = c.instances[i].retry;
      if (retry.max_age < c.storage.retention) continue;
      errors.push_back({c.instances[i].id, "/instances/" + std::to_string(i) + "/retry/max_age",
                        "on the nats bus must be shorter than storage.retention (" +
                            std::to_string(c.storage.retention.count()) +
                            " s): JetStream would drop events still being retried"});
    }
  }
  if (doc.contains("routes")) {
    for (size_t i = 0; i < doc["routes"].size(); ++i) {
      const auto& r = doc["routes"][i];
      const std::string pointer = "/routes/" + std::to_string(i);
      RouteConfig rc;
      rc.id = r["id"];
      rc.from_instance = r["from"]["instance"];
      rc.types = r["from"].value("types", std::vector<std::string>{});
      rc.when = r.contains("when") ? r["when"] : nlohmann::json();
      for (const auto& route : c.routes) {
        if (route.id == rc.id)
          errors.push_back({"", pointer + "/id", "duplicate route id " + rc.id});
      }
      if (rc.from_instance != "*" && !c.findInstance(rc.from_instance)) {
        errors.push_back({"", pointer + "/from/instance", "no instance named " + rc.from_instance});
      }
      for (size_t t = 0; t < r["to"].size(); ++t) {
        const auto& to = r["to"][t];
        RouteTarget target;
        target.instance = to["instance"];
        target.action = to.value("action", "");
        if (to.contains("template")) target.template_text = to["template"].get<std::string>();
        if (to.contains("message")) target.message = to["message"];
        target.recipient = to.value("recipient", "");
        target.fallback = to.value("fallback", std::vector<std::string>{});
        for (size_t f = 0; f < target.fallback.size(); ++f) {
          if (!c.findInstance(target.fallback[f])) {
            errors.push_back(
                {"", pointer + "/to/" + std::to_string(t) + "/fallback/" + std::to_string(f),
                 "no instance named " + target.fallback[f]});
          }
        }
        if (!c.findInstance(target.instance)) {
          errors.push_back({"", pointer + "/to/" + std::to_string(t) + "/instance",
                            "no instance named " + target.instance});
        }
        rc.to.push_back(std::move(target));
      }
      c.routes.push_back(std::move(rc));
    }
  }
  // Checked and compiled by automation::Engine::build.
  c.automations = doc.value("automations", nlohmann::json::array());
  return c;
}

}  // namespace

std::variant<nlohmann::json, std::vector<ConfigError>> ConfigLoader::parse(
    const std::string& text) {
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(text, nullptr, true, /*ignore_comments=*/true);
  } catch (const nlohmann::json::parse_error& e) {
    std::string what = e.what();
    // "[json.exception.parse_error.101] parse error at line 3, column 5: ..."
    if (const size_t p = what.find("] "); p != std::string::npos) what = what.substr(p + 2);
    return Errors{{"", "", "not valid JSON: " + what}};
  }
  if (!doc.is_object()) return Errors{{"", "", "the config must be a JSON object"}};
  Errors errors;
  expandAll(doc, "", doc, errors);
  auto schema_errors = validate(topSchema(), doc, "", "");
  for (auto& e : schema_errors) {
    e.instance = instanceFor(doc, e.pointer);
    errors.push_back(std::move(e));
  }
  if (!errors.empty()) return errors;
  return doc;
}

LoadResult ConfigLoader::load(const std::string& text, const std::string& source_path,
                              const PluginSchemaLookup& plugins) {
  auto parsed = parse(text);
  if (auto* errors = std::get_if<Errors>(&parsed)) return std::move(*errors);
  nlohmann::json doc = std::move(std::get<nlohmann::json>(parsed));
  Errors errors;
  Config config = toConfig(doc, errors);
  config.source_path = source_path;
  for (size_t i = 0; i < config.instances.size(); ++i) {
    auto& ic = config.instances[i];
    const std::string pointer = "/instances/" + std::to_string(i);
    const nlohmann::json* schema = plugins ? plugins(ic.plugin) : nullptr;
    if (schema == nullptr) {
      errors.push_back({ic.id, pointer + "/plugin", "no plugin named " + ic.plugin + " is loaded"});
      continue;
    }
    auto plugin_errors = validatePluginConfig(*schema, ic.config, ic.id, pointer + "/config");
    errors.insert(errors.end(), plugin_errors.begin(), plugin_errors.end());
    ic.redacted = redact(*schema, ic.config);
  }
  if (!errors.empty()) return errors;
  return config;
}

LoadResult ConfigLoader::loadFile(const std::string& path, const PluginSchemaLookup& plugins) {
  auto text = readFile(path);
  if (!text) return Errors{{"", "", "cannot read config file " + path}};
  return load(*text, path, plugins);
}

std::vector<ConfigError> ConfigLoader::validatePluginConfig(const nlohmann::json& schema,
                                                            nlohmann::json& config,
                                                            const std::string& instance,
                                                            const std::string& pointer_prefix) {
  if (!config.is_object()) return {{instance, pointer_prefix, "config must be an object"}};
  applyDefaults(schema, config);
  // Plugin schemas are few and small; cache compiled ones by their text.
  static std::mutex mutex;
  static std::map<std::string, std::shared_ptr<CompiledSchema>> cache;
  std::shared_ptr<CompiledSchema> compiled;
  {
    std::lock_guard<std::mutex> lock(mutex);
    auto& slot = cache[schema.dump()];
    if (!slot) slot = compileSchema(schema);
    compiled = slot;
  }
  return validate(*compiled, config, pointer_prefix, instance);
}

nlohmann::json ConfigLoader::redact(const nlohmann::json& schema, const nlohmann::json& config) {
  nlohmann::json out = config;
  if (!out.is_object() || !schema.contains("properties")) return out;
  for (const auto& [key, prop] : schema["properties"].items()) {
    if (!out.contains(key)) continue;
    if (prop.value("x-secret", false)) {
      out[key] = "***";
    } else if (prop.value("type", "") == "object") {
      out[key] = redact(prop, out[key]);
    }
  }
  return out;
}

std::optional<std::chrono::milliseconds> ConfigLoader::parseDuration(const std::string& text) {
  return sdk::parseDuration(text);
}

namespace {

std::string typeOf(const nlohmann::ordered_json& prop) {
  if (prop.contains("enum")) {
    std::string out;
    for (const auto& v : prop["enum"]) out += (out.empty() ? "" : " \\| ") + v.dump();
    return out;
  }
  if (prop.contains("type")) {
    const auto& t = prop["type"];
    if (t.is_string()) {
      std::string s = t.get<std::string>();
      if (s == "array" && prop.contains("items") && prop["items"].contains("type")) {
        s += " of " + prop["items"]["type"].get<std::string>();
      }
      if (s == "object" && prop.contains("additionalProperties") &&
          prop["additionalProperties"].is_object() &&
          prop["additionalProperties"].contains("type")) {
        s += " of " + prop["additionalProperties"]["type"].get<std::string>();
      }
      return s;
    }
    std::string out;
    for (const auto& v : t) out += (out.empty() ? "" : " \\| ") + v.get<std::string>();
    return out;
  }
  if (prop.contains("const")) return prop["const"].dump();
  return "any";
}

void collectRows(const nlohmann::ordered_json& schema, const std::string& prefix,
                 nlohmann::ordered_json& rows) {
  if (!schema.contains("properties")) return;
  std::set<std::string> required;
  if (schema.contains("required")) {
    for (const auto& r : schema["required"]) required.insert(r.get<std::string>());
  }
  for (const auto& [key, prop] : schema["properties"].items()) {
    nlohmann::ordered_json row;
    row["key"] = prefix + key;
    row["type"] = typeOf(prop);
    row["default"] = prop.contains("default") ? prop["default"] : nlohmann::ordered_json();
    row["required"] = required.count(key) > 0;
    row["secret"] = prop.value("x-secret", false);
    row["description"] = prop.value("description", "");
    rows.push_back(row);
    if (prop.value("type", "") == "object" && prop.contains("properties")) {
      collectRows(prop, prefix + key + ".", rows);
    }
  }
}

}  // namespace

nlohmann::ordered_json describeSchemaJson(const nlohmann::ordered_json& schema) {
  nlohmann::ordered_json rows = nlohmann::ordered_json::array();
  collectRows(schema, "", rows);
  return rows;
}

std::string describeSchemaMarkdown(const nlohmann::ordered_json& schema) {
  std::string out =
      "| Key | Type | Default | Required | Secret | Description |\n"
      "|---|---|---|---|---|---|\n";
  for (const auto& row : describeSchemaJson(schema)) {
    std::string description = row["description"].get<std::string>();
    for (size_t p = 0; (p = description.find('|', p)) != std::string::npos; p += 2) {
      description.replace(p, 1, "\\|");
    }
    out += "| `" + row["key"].get<std::string>() + "` | " + row["type"].get<std::string>() + " | " +
           (row["default"].is_null() ? std::string("—") : "`" + row["default"].dump() + "`") +
           " | " + (row["required"].get<bool>() ? "yes" : "no") + " | " +
           (row["secret"].get<bool>() ? "yes" : "no") + " | " + description + " |\n";
  }
  return out;
}

}  // namespace sanjog::config
