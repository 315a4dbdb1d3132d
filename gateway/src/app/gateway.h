// The gateway runtime: everything between the HTTP handlers and the bus.
//
// A Runtime is built from one validated Config (plugin instances created,
// routes compiled) and is immutable; a reload builds a new Runtime and swaps
// it in atomically. Requests and deliveries hold a shared_ptr to the Runtime
// they started with, so instances of an old config are destroyed only after
// the last call into them returned. The Bus lives across reloads.
//
// Threading: every public method is thread-safe.
#pragma once

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "automation/engine.h"
#include "bus/bus.h"
#include "config/config.h"
#include "metrics/metrics.h"
#include "plugin_host/plugin_instance.h"
#include "plugin_host/plugin_library.h"
#include "routing/router.h"

namespace sanjog::app {

struct Runtime {
  config::Config config;
  std::map<std::string, std::shared_ptr<plugin_host::PluginInstance>> instances;
  std::shared_ptr<routing::Router> router;
  std::shared_ptr<const automation::Engine> automations;
};

// What an HTTP handler sends back.
struct Reply {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;

  static Reply json(int status, const nlohmann::json& body);
  static Reply error(int status, const std::string& code, const std::string& message);
};

class Gateway {
 public:
  Gateway(metrics::Metrics& metrics, bus::Bus& bus, const plugin_host::PluginRegistry& plugins,
          std::shared_ptr<plugin_host::HostServices> services);
  ~Gateway();
  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;

  // Creates instances and compiles routes; nothing is swapped in yet.
  std::variant<std::shared_ptr<Runtime>, std::vector<std::string>> build(config::Config config);
  // Makes `runtime` current and tells the bus the new targets (this also
  // re-enables targets disabled by a 410).
  void apply(std::shared_ptr<Runtime> runtime);
  [[nodiscard]] std::shared_ptr<Runtime> runtime() const;

  // Public listener.
  Reply handleWebhook(const std::string& instance, plugin_host::WebhookCall call);
  Reply submitMessage(const std::string& body, const std::string& idempotency_key);
  // GET /api/v1/media/{instance}/{media_id}: the file, through the plugin.
  Reply fetchMedia(const std::string& instance, const std::string& media_id);
  Reply messageStatus(const std::string& id);

  // Counts a webhook refused before reaching the plugin (e.g. too large).
  void countRejected(const std::string& instance, const std::string& result);

  // HostServices::emit: an event produced by a plugin outside a webhook.
  Status emitFromPlugin(const std::string& instance, std::string_view event_json);

  // Bus delivery callbacks.
  bus::DeliveryResult deliver(const bus::Delivery& delivery);
  // A delivery ran out of retry time: its fallback, if it has one.
  void deliveryExpired(const bus::Delivery& delivery);

  // Admin listener.
  nlohmann::json instancesJson();
  nlohmann::json routesJson() const;
  // Ready when storage is healthy and every instance reports OK or degraded.
  std::pair<bool, nlohmann::json> readiness();
  // This process at a glance (GET /admin/v1/status, `sanjogctl status`):
  // the node, readiness, instances, queue per target, dead letters, timers.
  nlohmann::json statusJson();

  // Turns raw emitted events into bus items (normalize, registry, routing,
  // automations: the events they emit follow their cause). Exposed for tests.
  Result<std::vector<bus::AppendItem>> prepare(const Runtime& runtime, const std::string& instance,
                                               const std::vector<std::string>& raw_events,
                                               int depth = 0);

  // Fires the timers that are due (the timer thread calls this; tests call
  // it with a fake clock). Returns how many were handled.
  int fireDueTimers();
  // Starts / stops the timer thread.
  void startTimers();
  void stopTimers();
  // Wakes the timer thread (a timer was scheduled).
  void pokeTimers();
  // Commits items and counts published / deduplicated events.
  Result<std::vector<bus::AppendOutcome>> commit(const std::string& instance,
                                                 std::vector<bus::AppendItem> items);

 private:
  metrics::Metrics& metrics_;
  bus::Bus& bus_;
  const plugin_host::PluginRegistry& plugins_;
  std::shared_ptr<plugin_host::HostServices> services_;
  const std::chrono::system_clock::time_point started_ = std::chrono::system_clock::now();
  [[nodiscard]] int64_t now() const;
  Result<std::vector<bus::AppendItem>> prepareEmitted(const Runtime& rt,
                                                      std::vector<automation::Emitted>& emitted,
                                                      int depth);
  // Prepares and commits what an automation decided outside a webhook
  // (a delivery result); false when it could not be stored.
  bool commitDecision(const Runtime& rt, automation::Decision decision, const char* why);
  void timerLoop();
  // A 503 + Retry-After while the delivery backlog is over the configured
  // bounds (server.backpressure); the backlog is re-read at most every
  // 500 ms, by one request at a time.
  std::optional<Reply> backpressure(const config::BackpressureConfig& bounds);

  mutable std::mutex mutex_;
  std::shared_ptr<Runtime> runtime_;

  std::mutex timer_mutex_;
  std::condition_variable timer_cv_;
  bool timer_stop_ = false;
  bool timer_poked_ = false;
  std::thread timer_thread_;

  std::mutex backlog_mutex_;
  int64_t backlog_checked_ms_ = -1;    // steady clock
  std::atomic<int> backlog_state_{0};  // 0 fine, 1 too many, 2 too old
};

// The admin/API JSON form of one delivery with its attempts.
nlohmann::json deliveryJson(const bus::DeliveryInfo& info);

// The deterministic conversation id of (channel instance, contact address).
std::string conversationId(const std::string& instance, const std::string& address);

}  // namespace sanjog::app
