// A running instance of a plugin, and the host services it is given.
//
// The C host API (sanjog_host_api in plugin_abi.h) is implemented in
// plugin_instance.cpp; this class is its C++ face for the rest of the host.
// Threading: handleWebhook, deliver and health may run concurrently; the
// destructor calls the plugin's destroy hook and must run when no other call
// is in flight (shared_ptr ownership guarantees that).
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "bus/bus.h"
#include "common/status.h"
#include "metrics/metrics.h"
#include "plugin_host/http_client.h"
#include "plugin_host/plugin_library.h"

namespace sanjog::plugin_host {

// Metric families registered by plugins through metric_register.
class PluginMetrics {
 public:
  explicit PluginMetrics(metrics::Metrics* metrics) : metrics_(metrics) {}
  Result<uint32_t> registerFamily(int32_t kind, const std::string& name, const std::string& help,
                                  std::vector<std::string> label_keys, std::vector<double> buckets);
  void record(uint32_t id, const std::string& instance, const std::vector<std::string>& values,
              double value);

 private:
  struct Family {
    int32_t kind;
    std::string name;
    std::vector<std::string> label_keys;
    std::vector<double> buckets;
    void* family;  // prometheus::Family<Counter|Gauge|Histogram>*
  };
  metrics::Metrics* metrics_;
  std::mutex mutex_;
  std::vector<Family> families_;
};

// Host services shared by every instance.
struct HostServices {
  metrics::Metrics* metrics = nullptr;
  HttpClient* http = nullptr;
  bus::Bus* bus = nullptr;  // key-value state
  PluginMetrics* plugin_metrics = nullptr;
  std::function<int64_t()> now_ms;
  // Durably emits an event produced outside a webhook (normalization,
  // routing and commit); returns when committed.
  std::function<Status(const std::string& instance, std::string_view event_json)> emit;
  // When the contact at `address` last wrote to `instance` (the conversation
  // registry), or -1.
  std::function<int64_t(const std::string& instance, const std::string& address)> last_inbound;
};

struct WebhookCall {
  std::string method;
  std::string path;
  std::string query;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string remote_address;
};

struct WebhookOutcome {
  Code hook_status = Code::kOk;  // what the hook returned
  std::string hook_message;
  int http_status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string content_type;
  std::string body;
  std::vector<std::string> events;  // raw event JSON emitted into the batch
};

struct MediaOutcome {
  Code status = Code::kOk;
  std::string message;
  std::string content_type;
  std::string file_name;
  std::string body;
};

class PluginInstance {
 public:
  static Result<std::shared_ptr<PluginInstance>> create(std::shared_ptr<PluginLibrary> library,
                                                        const std::string& id,
                                                        const nlohmann::json& config,
                                                        std::shared_ptr<HostServices> services);
  ~PluginInstance();
  PluginInstance(const PluginInstance&) = delete;
  PluginInstance& operator=(const PluginInstance&) = delete;

  [[nodiscard]] const std::string& id() const { return id_; }
  [[nodiscard]] const PluginLibrary& library() const { return *library_; }
  [[nodiscard]] bool acceptsWebhooks() const { return library_->hooks().handle_webhook != nullptr; }
  [[nodiscard]] bool delivers() const { return library_->hooks().deliver != nullptr; }

  WebhookOutcome handleWebhook(const WebhookCall& call);
  bus::DeliveryResult deliver(const bus::Delivery& delivery);
  // Fetches a provider-held media file (ABI 1.1 hook); kNotFound when the
  // plugin has no media hook.
  MediaOutcome fetchMedia(const std::string& media_id, uint64_t max_bytes);

  struct Health {
    int32_t state = SANJOG_HEALTH_OK;
    std::string message;
  };
  Health health();

  // Used by the C callbacks.
  [[nodiscard]] HostServices& services() const { return *services_; }

 private:
  PluginInstance() = default;

  std::shared_ptr<PluginLibrary> library_;
  std::shared_ptr<HostServices> services_;
  std::string id_;
  void* handle_ = nullptr;
  std::unique_ptr<sanjog_host> host_;
};

// The host API table handed to every plugin.
const sanjog_host_api* hostApi();

}  // namespace sanjog::plugin_host
