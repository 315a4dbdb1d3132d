// The validated, typed configuration of sanjogd. Produced by ConfigLoader
// (config_loader.h); every field here has already passed the JSON Schema in
// config/sanjog.schema.json and the plugin's declared schema.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace sanjog::config {

struct ListenAddress {
  std::string host = "0.0.0.0";
  uint16_t port = 8080;  // 0 picks a free port (tests); see --ports-file
};

struct TlsConfig {
  std::string cert_file;
  std::string key_file;
};

// Limits on untrusted requests, applied on both listeners.
struct LimitsConfig {
  int max_header_count = 64;
  size_t max_header_bytes = 8192;  // one field, name + value
  int max_json_depth = 64;
  std::chrono::milliseconds read_timeout{10000};  // next bytes of a request
  std::chrono::milliseconds body_timeout{30000};  // a whole body
  std::chrono::milliseconds keep_alive_timeout{15000};
};

// Ingestion answers 503 + Retry-After while the delivery backlog is over
// either bound (0 = no bound).
struct BackpressureConfig {
  int64_t max_pending = 1000000;
  std::chrono::milliseconds max_age{0};
  std::chrono::milliseconds retry_after{30000};
};

// Failed authentications allowed per client address and window.
struct AuthFailureLimit {
  int max = 10;
  std::chrono::milliseconds window{60000};
};

struct ServerConfig {
  ListenAddress listen;
  size_t max_body_bytes = 1048576;
  int threads = 64;  // HTTP worker threads (POCO serves one connection per thread)
  std::optional<TlsConfig> tls;
  LimitsConfig limits;
  BackpressureConfig backpressure;
  AuthFailureLimit auth_failures;
};

struct AdminConfig {
  ListenAddress listen{"127.0.0.1", 9464};
  std::vector<std::string> tokens;  // secrets: admin.token and admin.tokens; any is accepted
};

struct ApiConfig {
  std::vector<std::string> keys;         // secrets; any of them is accepted
  uint64_t media_max_bytes = 16u << 20;  // GET /api/v1/media/... limit
};

struct StorageConfig {
  std::string path = "var/sanjog.db";
  std::chrono::seconds retention{30LL * 24 * 3600};
  std::string sync = "full";   // "full" (survives power loss) or "normal" (survives kill -9)
  std::string encryption_key;  // secret, optional: 32 bytes, hex or base64
  std::vector<std::string> previous_keys;  // secrets: still decrypt
  int64_t max_bytes = 0;                   // database size limit, 0 = none
};

// Delivery workers when bus.workers is not set and the backend is nats.
inline constexpr int kNatsDefaultWorkers = 16;

struct BusConfig {
  std::string backend = "embedded";
  int workers = 4;  // delivery worker threads (kNatsDefaultWorkers on NATS)
  // NATS JetStream (backend "nats").
  std::vector<std::string> urls{"nats://127.0.0.1:4222"};
  std::string stream = "SANJOG";
  int replicas = 1;
  std::string credentials;  // .creds file, "" for none
  int partitions = 16;
  std::chrono::milliseconds ack_wait{30'000};
  int max_deliver = 5;
  std::chrono::milliseconds dedup_window{120'000};
};

struct OutboundConfig {
  std::string ca_file;                     // extra trust anchors (PEM)
  std::vector<std::string> allow_private;  // CIDR ranges payload URLs may reach
};

struct LoggingConfig {
  std::string level = "info";
  std::string privacy = "mask";  // strict | mask | off
};

struct Defaults {
  std::string region = "BD";
  std::string timezone = "Asia/Dhaka";
  std::string language = "bn";
};

// Exponential backoff with jitter; attempts stop when the delivery is older
// than max_age (then it becomes a dead letter).
struct RetryPolicy {
  std::chrono::milliseconds initial{5000};
  double multiplier = 2.0;
  std::chrono::milliseconds max_interval{3600LL * 1000};
  std::chrono::milliseconds max_age{24LL * 3600 * 1000};
  double jitter = 0.2;  // +- fraction of the interval
};

// Per target: opens after `failure_ratio` of at least `min_attempts` recent
// attempts (within `window`) failed; after `open_for` one probe is let
// through (half-open): success closes it, failure opens it again.
struct CircuitBreakerPolicy {
  bool enabled = true;
  double failure_ratio = 0.5;
  int min_attempts = 10;
  std::chrono::milliseconds window{60000};
  std::chrono::milliseconds open_for{30000};
};

// Token bucket on delivery attempts; per_second 0 = no limit.
struct RateLimitPolicy {
  double per_second = 0;
  int burst = 0;
};

struct InstanceConfig {
  std::string id;
  std::string plugin;
  nlohmann::json config = nlohmann::json::object();    // expanded, defaults applied
  nlohmann::json redacted = nlohmann::json::object();  // secrets replaced by "***"
  RetryPolicy retry;
  CircuitBreakerPolicy circuit_breaker{};
  RateLimitPolicy rate_limit{};
  int max_in_flight = 0;  // 0: every worker but one when there are other targets
};

struct RouteTarget {
  std::string instance;
  std::string action;                        // empty: the target plugin's default action
  std::optional<std::string> template_text;  // mustache, rendered against the event
  // A message to send through the target channel, built from the event:
  // every string inside is a mustache template (see docs/configuration.md).
  std::optional<nlohmann::json> message;
  std::string recipient;              // mustache; default: the event's customer/contact phone
  std::vector<std::string> fallback;  // instances for message.send's fallback
};

struct RouteConfig {
  std::string id;
  std::string from_instance;       // "*" matches every instance
  std::vector<std::string> types;  // empty matches every type
  nlohmann::json when;             // filter document, null when absent
  std::vector<RouteTarget> to;
};

struct Config {
  int version = 1;
  std::string source_path;  // the file it was loaded from ("" for the embedded default)
  ServerConfig server;
  AdminConfig admin;
  ApiConfig api;
  StorageConfig storage;
  BusConfig bus;
  OutboundConfig outbound;
  LoggingConfig logging;
  std::string plugin_dir;  // empty: the default search path
  Defaults defaults;
  std::vector<InstanceConfig> instances;
  std::vector<RouteConfig> routes;
  nlohmann::json automations = nlohmann::json::array();

  [[nodiscard]] const InstanceConfig* findInstance(const std::string& id) const {
    for (const auto& i : instances) {
      if (i.id == id) return &i;
    }
    return nullptr;
  }
};

// One problem found in a config file. toString() gives the line printed by
// --check-config: "instance=<id> pointer=<json pointer> reason=<text>".
struct ConfigError {
  std::string instance;  // "" when the problem is outside instances[]
  std::string pointer;   // JSON pointer into the file, "" for the whole file
  std::string reason;

  [[nodiscard]] std::string toString() const {
    return "instance=" + (instance.empty() ? std::string("-") : instance) +
           " pointer=" + (pointer.empty() ? std::string("/") : pointer) + " reason=" + reason;
  }
};

}  // namespace sanjog::config
