// FakeHost: an in-process implementation of the host side of the plugin ABI
// for plugin unit tests. It drives a plugin through its REAL descriptor and
// C hooks (so the test covers the ABI boundary and the SDK trampolines) and
// records what the plugin did: logs, metrics, outbound HTTP requests, emitted
// events, key-value state. The clock is a settable number; outbound HTTP is
// answered by a scripted responder.
//
//   sanjog::sdk::testing::FakeHost host(sanjog_plugin_entry(SANJOG_ABI_MAJOR, SANJOG_ABI_MINOR));
//   ASSERT_TRUE(host.create("crm", {{"url", "https://crm.test/in"}, {"secret", kSecret}}));
//   host.respond([](const HttpRequest&) { return HttpResponse{500, {}, "down"}; });
//   auto result = host.deliver("deliver", event_json, "evt_1.0");
//
// Thread-safe for concurrent hook calls, like the real host.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <ctime>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "sanjog/plugin_abi.h"
#include "sanjog/sdk/plugin.hpp"
#include "sanjog/sdk/text_sink.hpp"

namespace sanjog::sdk::testing {

class FakeHost {
 public:
  struct LogLine {
    int level;
    std::string message;
  };
  struct WebhookResult {
    int32_t rc = SANJOG_OK;  // the hook's return value
    int status = 200;
    std::vector<Header> headers;
    std::string content_type;
    std::string body;
    std::vector<nlohmann::json> events;  // emitted into the request's batch
    [[nodiscard]] nlohmann::json json() const { return nlohmann::json::parse(body); }
  };
  struct MediaResult {
    int32_t rc = SANJOG_OK;
    std::string error;
    std::string content_type;
    std::string file_name;
    std::string body;
    uint64_t max_bytes = 0;
  };
  using Responder = std::function<Result<HttpResponse>(const HttpRequest&)>;

  explicit FakeHost(const sanjog_plugin_descriptor* descriptor) : descriptor_(descriptor) {}
  ~FakeHost() { destroy(); }
  FakeHost(const FakeHost&) = delete;
  FakeHost& operator=(const FakeHost&) = delete;

  // Creates the instance (destroying a previous one). The config is passed
  // as given: apply defaults yourself or rely on the plugin's.
  Status create(const std::string& instance_id, const nlohmann::json& config) {
    destroy();
    instance_id_ = instance_id;
    const std::string text = config.dump();
    TextSink error;
    void* handle = nullptr;
    const int32_t rc = descriptor_->hooks->create(&api(), raw(), str(instance_id), str(text),
                                                  &handle, error.get());
    if (rc != SANJOG_OK) return {static_cast<Code>(rc), error.text};
    instance_ = handle;
    return {};
  }

  void destroy() {
    if (instance_ != nullptr) descriptor_->hooks->destroy(instance_);
    instance_ = nullptr;
  }

  WebhookResult webhook(const std::string& method, const std::string& body,
                        const std::vector<Header>& headers = {}, const std::string& path = "",
                        const std::string& query = "") {
    WebhookResult out;
    if (descriptor_->hooks->handle_webhook == nullptr) {
      out.rc = SANJOG_NOT_FOUND;
      out.status = 404;
      return out;
    }
    std::vector<sanjog_header> hs;
    for (const auto& h : headers) hs.push_back({str(h.name), str(h.value)});
    sanjog_webhook_request req{};
    req.struct_size = sizeof(req);
    req.method = str(method);
    req.path = str(path);
    req.query = str(query);
    req.headers = hs.data();
    req.header_count = hs.size();
    req.body = str(body);
    req.remote_address = str("127.0.0.1");
    out.rc = descriptor_->hooks->handle_webhook(instance_, &req,
                                                reinterpret_cast<sanjog_webhook_response*>(&out));
    // Like the gateway's commit: a 2xx answer stores the batch, and each
    // message.received records when its contact last wrote.
    if (out.rc == SANJOG_OK && out.status >= 200 && out.status < 300) {
      for (const auto& e : out.events) recordInbound(e);
    }
    return out;
  }

  DeliveryResult deliver(const std::string& action, const std::string& event,
                         const std::string& idempotency_key, uint32_t attempt = 1,
                         const std::string& rendered = "") {
    sanjog_delivery d{sizeof(sanjog_delivery), str(action), str(event),
                      str(idempotency_key),    attempt,     str(rendered)};
    TextSink message;
    TextSink provider_id;
    sanjog_delivery_result r{sizeof(sanjog_delivery_result),
                             SANJOG_DELIVERY_RETRY,
                             SANJOG_INTERNAL,
                             0,
                             -1,
                             message.get(),
                             provider_id.get()};
    DeliveryResult out;
    if (descriptor_->hooks->deliver == nullptr) {
      out.outcome = Outcome::kPermanent;
      out.message = "plugin delivers nothing";
      return out;
    }
    descriptor_->hooks->deliver(instance_, &d, &r);
    out.outcome = static_cast<Outcome>(r.outcome);
    out.status = static_cast<Code>(r.status);
    out.http_status = r.http_status;
    out.retry_after_ms = r.retry_after_ms;
    out.message = message.text;
    out.provider_message_id = provider_id.text;
    return out;
  }

  Health health() {
    Health h;
    if (descriptor_->hooks->health == nullptr) return h;
    TextSink message;
    int32_t state = SANJOG_HEALTH_OK;
    descriptor_->hooks->health(instance_, &state, message.get());
    h.state = static_cast<HealthState>(state);
    h.message = message.text;
    return h;
  }

  MediaResult fetchMedia(const std::string& media_id, uint64_t max_bytes = 16u << 20) {
    MediaResult out;
    out.max_bytes = max_bytes;
    if (descriptor_->hooks->fetch_media == nullptr) {
      out.rc = SANJOG_NOT_FOUND;
      return out;
    }
    TextSink error;
    out.rc = descriptor_->hooks->fetch_media(instance_, str(media_id), max_bytes,
                                             reinterpret_cast<sanjog_media_response*>(&out),
                                             error.get());
    out.error = error.text;
    return out;
  }

  // Records `event` (a message.received) as the gateway would: its
  // data.address (else contact.phone, else contact.id) last wrote at the
  // event's time, or now.
  void recordInbound(const nlohmann::json& e) {
    if (!e.is_object() || e.value("type", "") != "message.received" || !e.contains("data")) return;
    const auto& d = e["data"];
    std::string address = d.value("address", "");
    if (address.empty() && d.contains("contact") && d["contact"].is_object()) {
      address = d["contact"].value("phone", "");
      if (address.empty()) address = d["contact"].value("id", "");
    }
    if (address.empty()) return;
    std::lock_guard<std::mutex> lock(mutex_);
    int64_t at = now_ms_;
    if (e.contains("time") && e["time"].is_string()) {
      std::tm tm{};
      const std::string t = e["time"].get<std::string>();
      if (const char* end = strptime(t.c_str(), "%Y-%m-%dT%H:%M:%S", &tm); end != nullptr) {
        at = int64_t(timegm(&tm)) * 1000;
        if (*end == '.') at += std::strtol(end + 1, nullptr, 10) % 1000;
      }
    }
    auto& last = inbound_[address];
    last = std::max(last, std::min(at, now_ms_));
  }

  // Scripting and inspection.
  void respond(Responder responder) {
    std::lock_guard<std::mutex> lock(mutex_);
    responder_ = std::move(responder);
  }
  void setNowMs(int64_t now) {
    std::lock_guard<std::mutex> lock(mutex_);
    now_ms_ = now;
  }
  [[nodiscard]] int64_t nowMs() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return now_ms_;
  }
  [[nodiscard]] std::vector<HttpRequest> requests() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return requests_;
  }
  [[nodiscard]] std::vector<LogLine> logs() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return logs_;
  }
  [[nodiscard]] std::vector<nlohmann::json> emitted() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return emitted_;
  }
  [[nodiscard]] std::optional<std::string> kv(const std::string& key) const {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = kv_.find(key);
    if (it == kv_.end() || (it->second.second != 0 && it->second.second <= now_ms_)) return {};
    return it->second.first;
  }
  // The value of a metric sample (counters: the sum of records; gauges: the
  // last value; histograms: the number of observations). Labels as given to
  // record(), without `instance`.
  [[nodiscard]] double metric(const std::string& name,
                              const std::vector<std::string>& label_values = {}) const {
    std::lock_guard<std::mutex> lock(mutex_);
    for (size_t id = 0; id < metric_names_.size(); ++id) {
      if (metric_names_[id] != name) continue;
      auto it = samples_.find({id, label_values});
      return it == samples_.end() ? 0.0 : it->second;
    }
    return 0.0;
  }

 private:
  static FakeHost& self(sanjog_host* h) { return *reinterpret_cast<FakeHost*>(h); }
  sanjog_host* raw() { return reinterpret_cast<sanjog_host*>(this); }

  static const sanjog_host_api& api() {
    static const sanjog_host_api kApi = {
        sizeof(sanjog_host_api),
        [](sanjog_sink* sink, sanjog_str bytes) {
          if (sink != nullptr && sink->write != nullptr) sink->write(sink, bytes);
        },
        [](sanjog_host* h, int32_t level, sanjog_str message) {
          auto& s = self(h);
          std::lock_guard<std::mutex> lock(s.mutex_);
          s.logs_.push_back({level, std::string(view(message))});
        },
        [](sanjog_host* h) -> int64_t { return self(h).nowMs(); },
        [](sanjog_host* h, int32_t kind, sanjog_str name, sanjog_str, const sanjog_str* keys,
           size_t key_count, const double*, size_t, uint32_t* out_id,
           sanjog_sink* error) -> int32_t {
          auto& s = self(h);
          const std::string n(view(name));
          if (n.rfind("sanjog_", 0) != 0 || kind < 0 || kind > 2) {
            if (error != nullptr) error->write(error, str("metric names start with sanjog_"));
            return SANJOG_INVALID_ARGUMENT;
          }
          (void)keys;
          (void)key_count;
          std::lock_guard<std::mutex> lock(s.mutex_);
          for (size_t i = 0; i < s.metric_names_.size(); ++i) {
            if (s.metric_names_[i] == n) {
              *out_id = static_cast<uint32_t>(i);
              return SANJOG_OK;
            }
          }
          s.metric_names_.push_back(n);
          s.metric_kinds_.push_back(kind);
          *out_id = static_cast<uint32_t>(s.metric_names_.size() - 1);
          return SANJOG_OK;
        },
        [](sanjog_host* h, uint32_t id, const sanjog_str* values, size_t count, double value) {
          auto& s = self(h);
          std::vector<std::string> labels;
          for (size_t i = 0; i < count; ++i) labels.emplace_back(view(values[i]));
          std::lock_guard<std::mutex> lock(s.mutex_);
          if (id >= s.metric_kinds_.size()) return;
          auto& sample = s.samples_[{id, labels}];
          switch (s.metric_kinds_[id]) {
            case SANJOG_METRIC_GAUGE:
              sample = value;
              break;
            case SANJOG_METRIC_HISTOGRAM:
              sample += 1;
              break;
            default:
              sample += value;
              break;
          }
        },
        [](sanjog_host* h, const sanjog_http_request* request, sanjog_http_response_fn on_response,
           void* user, sanjog_sink* error) -> int32_t {
          auto& s = self(h);
          HttpRequest req;
          req.method = view(request->method);
          req.url = view(request->url);
          for (size_t i = 0; i < request->header_count; ++i) {
            req.headers.push_back({std::string(view(request->headers[i].name)),
                                   std::string(view(request->headers[i].value))});
          }
          req.body = view(request->body);
          req.timeout_ms = request->timeout_ms;
          Responder responder;
          {
            std::lock_guard<std::mutex> lock(s.mutex_);
            s.requests_.push_back(req);
            responder = s.responder_;
          }
          Result<HttpResponse> res =
              responder ? responder(req) : Result<HttpResponse>(HttpResponse{200, {}, ""});
          if (!res) {
            if (error != nullptr) error->write(error, str(res.status().message()));
            return static_cast<int32_t>(res.status().code());
          }
          std::vector<sanjog_header> hs;
          for (const auto& hd : res->headers) hs.push_back({str(hd.name), str(hd.value)});
          sanjog_http_response r{sizeof(sanjog_http_response), res->status, hs.data(), hs.size(),
                                 str(res->body)};
          on_response(user, &r);
          return SANJOG_OK;
        },
        [](sanjog_host* h, sanjog_str event, sanjog_sink* error) -> int32_t {
          auto& s = self(h);
          auto parsed = nlohmann::json::parse(view(event), nullptr, false);
          if (!parsed.is_object()) {
            if (error != nullptr) error->write(error, str("not a JSON object"));
            return SANJOG_INVALID_ARGUMENT;
          }
          std::lock_guard<std::mutex> lock(s.mutex_);
          s.emitted_.push_back(std::move(parsed));
          return SANJOG_OK;
        },
        [](sanjog_host* h, sanjog_str key, sanjog_value_fn on_value, void* user) -> int32_t {
          auto& s = self(h);
          auto value = s.kv(std::string(view(key)));
          if (!value) return SANJOG_NOT_FOUND;
          on_value(user, str(*value));
          return SANJOG_OK;
        },
        [](sanjog_host* h, sanjog_str key, sanjog_str value, int64_t ttl_ms) -> int32_t {
          auto& s = self(h);
          std::lock_guard<std::mutex> lock(s.mutex_);
          s.kv_[std::string(view(key))] = {std::string(view(value)),
                                           ttl_ms > 0 ? s.now_ms_ + ttl_ms : 0};
          return SANJOG_OK;
        },
        [](sanjog_host* h, sanjog_str key) -> int32_t {
          auto& s = self(h);
          std::lock_guard<std::mutex> lock(s.mutex_);
          return s.kv_.erase(std::string(view(key))) ? SANJOG_OK : SANJOG_NOT_FOUND;
        },
        [](sanjog_webhook_response* r, int32_t status) { result(r).status = status; },
        [](sanjog_webhook_response* r, sanjog_str name, sanjog_str value) {
          result(r).headers.push_back({std::string(view(name)), std::string(view(value))});
        },
        [](sanjog_webhook_response* r, sanjog_str content_type, sanjog_str body) {
          result(r).content_type = view(content_type);
          result(r).body = view(body);
        },
        [](sanjog_webhook_response* r, sanjog_str event, sanjog_sink* error) -> int32_t {
          auto parsed = nlohmann::json::parse(view(event), nullptr, false);
          if (!parsed.is_object() || !parsed.contains("type")) {
            if (error != nullptr) error->write(error, str("not a CloudEvents JSON object"));
            return SANJOG_INVALID_ARGUMENT;
          }
          result(r).events.push_back(std::move(parsed));
          return SANJOG_OK;
        },
        [](sanjog_media_response* r, sanjog_str content_type, sanjog_str file_name) {
          auto& m = *reinterpret_cast<MediaResult*>(r);
          m.content_type = view(content_type);
          m.file_name = view(file_name);
        },
        [](sanjog_media_response* r, sanjog_str bytes) -> int32_t {
          auto& m = *reinterpret_cast<MediaResult*>(r);
          if (m.body.size() + bytes.size > m.max_bytes) return SANJOG_INVALID_ARGUMENT;
          m.body.append(view(bytes));
          return SANJOG_OK;
        },
        [](sanjog_host* h, sanjog_str address) -> int64_t {
          auto& s = self(h);
          std::lock_guard<std::mutex> lock(s.mutex_);
          auto it = s.inbound_.find(std::string(view(address)));
          return it == s.inbound_.end() ? -1 : it->second;
        },
    };
    return kApi;
  }
  static WebhookResult& result(sanjog_webhook_response* r) {
    return *reinterpret_cast<WebhookResult*>(r);
  }

  const sanjog_plugin_descriptor* descriptor_;
  void* instance_ = nullptr;
  std::string instance_id_;
  mutable std::mutex mutex_;
  int64_t now_ms_ = 1'767'225'600'000;  // 2026-01-01T00:00:00Z
  Responder responder_;
  std::vector<HttpRequest> requests_;
  std::vector<LogLine> logs_;
  std::vector<nlohmann::json> emitted_;
  std::map<std::string, std::pair<std::string, int64_t>> kv_;
  std::map<std::string, int64_t> inbound_;
  std::vector<std::string> metric_names_;
  std::vector<int32_t> metric_kinds_;
  std::map<std::pair<size_t, std::vector<std::string>>, double> samples_;
};

}  // namespace sanjog::sdk::testing
