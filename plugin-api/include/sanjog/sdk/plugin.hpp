// The C++ plugin SDK: write a class, add one macro, and the C ABI of
// plugin_abi.h is implemented for you.
//
//   class Hello {
//    public:
//     static sanjog::sdk::Result<std::unique_ptr<Hello>> create(
//         sanjog::sdk::Host& host, const std::string& instance_id, const nlohmann::json& config);
//     sanjog::sdk::WebhookResponse handleWebhook(const sanjog::sdk::WebhookRequest& request);
//     sanjog::sdk::DeliveryResult deliver(const sanjog::sdk::Delivery& delivery);   // optional
//     sanjog::sdk::Health health();                                                // optional
//   };
//   SANJOG_PLUGIN(Hello, "example_hello", "example", "1.0.0", "Says hello", kSchema, R"(["log"])")
//
// handleWebhook, deliver and health are optional: a hook is NULL in the
// descriptor when the class lacks the method. Exceptions never cross the
// ABI: the trampolines catch them and report SANJOG_INTERNAL with the text.
//
// Threading: the host may call handleWebhook, deliver and health of one
// instance concurrently from several threads; make them thread-safe. The
// Host reference given to create() stays valid for the instance's life.
#pragma once

#include <strings.h>

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <ctime>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "sanjog/plugin_abi.h"
#include "sanjog/sdk/text_sink.hpp"

namespace sanjog::sdk {

// ------------------------------------------------------------ basics --

enum class Code : int32_t {
  kOk = SANJOG_OK,
  kInvalidArgument = SANJOG_INVALID_ARGUMENT,
  kUnauthenticated = SANJOG_UNAUTHENTICATED,
  kNotFound = SANJOG_NOT_FOUND,
  kRateLimited = SANJOG_RATE_LIMITED,
  kTimeout = SANJOG_TIMEOUT,
  kUnavailable = SANJOG_UNAVAILABLE,
  kUpstreamError = SANJOG_UPSTREAM_ERROR,
  kInternal = SANJOG_INTERNAL,
  kOutsideWindow = SANJOG_OUTSIDE_WINDOW,
};

class Status {
 public:
  Status() = default;
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}
  static Status ok() { return {}; }
  [[nodiscard]] bool isOk() const { return code_ == Code::kOk; }
  explicit operator bool() const { return isOk(); }
  [[nodiscard]] Code code() const { return code_; }
  [[nodiscard]] const std::string& message() const { return message_; }

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

// A value or an error Status.
template <typename T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}         // NOLINT(google-explicit-constructor)
  Result(Status status) : v_(std::move(status)) {}  // NOLINT(google-explicit-constructor)
  Result(Code code, std::string message) : v_(Status(code, std::move(message))) {}
  [[nodiscard]] bool ok() const { return std::holds_alternative<T>(v_); }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  [[nodiscard]] Status status() const { return ok() ? Status() : std::get<Status>(v_); }

 private:
  std::variant<T, Status> v_;
};

inline std::string_view view(sanjog_str s) {
  return s.size == 0 ? std::string_view() : std::string_view(s.data, s.size);
}
inline sanjog_str str(std::string_view s) { return {s.data(), s.size()}; }

inline bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = char(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = char(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

struct Header {
  std::string name;
  std::string value;
};

// Finds a header by case-insensitive name in any container of pairs/Headers.
template <typename Headers>
std::optional<std::string_view> findHeader(const Headers& headers, std::string_view name) {
  for (const auto& h : headers) {
    if (equalsIgnoreCase(h.name, name)) return std::string_view(h.value);
  }
  return std::nullopt;
}

// Parses a Retry-After value: delta seconds or an HTTP-date (IMF-fixdate).
// Returns the delay in milliseconds from `now_ms` (never negative).
inline std::optional<int64_t> parseRetryAfter(std::string_view value, int64_t now_ms) {
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
  if (value.empty()) return std::nullopt;
  bool digits = value.size() <= 10;
  int64_t seconds = 0;
  for (char c : value) {
    if (c < '0' || c > '9') {
      digits = false;
      break;
    }
    seconds = seconds * 10 + (c - '0');
  }
  if (digits) return seconds * 1000;
  std::tm tm{};
  const std::string text(value);
  const char* end = strptime(text.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (end == nullptr || *end != '\0') return std::nullopt;
  const int64_t at_ms = int64_t(timegm(&tm)) * 1000;
  return at_ms > now_ms ? at_ms - now_ms : 0;
}

// ------------------------------------------------------------- host --

struct HttpRequest {
  std::string method = "POST";
  std::string url;
  std::vector<Header> headers;
  std::string body;
  uint32_t timeout_ms = 0;  // 0: the host default
};

struct HttpResponse {
  int status = 0;
  std::vector<Header> headers;
  std::string body;
  [[nodiscard]] std::optional<std::string_view> header(std::string_view name) const {
    return findHeader(headers, name);
  }
};

enum class LogLevel : int32_t {
  kDebug = SANJOG_LOG_DEBUG,
  kInfo = SANJOG_LOG_INFO,
  kWarn = SANJOG_LOG_WARN,
  kError = SANJOG_LOG_ERROR
};

class Host;

// A registered metric family; record() with label values in registration
// order (the host adds `instance`). Cheap to copy.
class Metric {
 public:
  Metric() = default;
  void record(std::initializer_list<std::string_view> labels, double value) const;
  void inc(std::initializer_list<std::string_view> labels = {}) const { record(labels, 1.0); }

 private:
  friend class Host;
  Metric(const Host* host, uint32_t id) : host_(host), id_(id) {}
  const Host* host_ = nullptr;
  uint32_t id_ = 0;
};

// The services of the host for one instance. Thread-safe; valid for the
// whole life of the instance.
class Host {
 public:
  Host(const sanjog_host_api* api, sanjog_host* host, std::string instance_id)
      : api_(api), host_(host), instance_id_(std::move(instance_id)) {}

  [[nodiscard]] const std::string& instanceId() const { return instance_id_; }

  void log(LogLevel level, std::string_view message) const {
    api_->log(host_, static_cast<int32_t>(level), str(message));
  }
  void debug(std::string_view m) const { log(LogLevel::kDebug, m); }
  void info(std::string_view m) const { log(LogLevel::kInfo, m); }
  void warn(std::string_view m) const { log(LogLevel::kWarn, m); }
  void error(std::string_view m) const { log(LogLevel::kError, m); }

  [[nodiscard]] int64_t nowMs() const { return api_->now_unix_ms(host_); }

  Result<Metric> counter(std::string_view name, std::string_view help,
                         std::initializer_list<std::string_view> labels = {}) const {
    return registerMetric(SANJOG_METRIC_COUNTER, name, help, labels, {});
  }
  Result<Metric> gauge(std::string_view name, std::string_view help,
                       std::initializer_list<std::string_view> labels = {}) const {
    return registerMetric(SANJOG_METRIC_GAUGE, name, help, labels, {});
  }
  Result<Metric> histogram(std::string_view name, std::string_view help,
                           std::initializer_list<std::string_view> labels = {},
                           std::vector<double> buckets = {}) const {
    return registerMetric(SANJOG_METRIC_HISTOGRAM, name, help, labels, std::move(buckets));
  }

  // Synchronous outbound HTTP through the host's client. An HTTP error
  // status is a response, not an error; errors are "no response arrived"
  // (kTimeout, kUnavailable, kInvalidArgument).
  Result<HttpResponse> http(const HttpRequest& request) const {
    std::vector<sanjog_header> headers;
    headers.reserve(request.headers.size());
    for (const auto& h : request.headers) headers.push_back({str(h.name), str(h.value)});
    sanjog_http_request req{};
    req.struct_size = sizeof(req);
    req.method = str(request.method);
    req.url = str(request.url);
    req.headers = headers.data();
    req.header_count = headers.size();
    req.body = str(request.body);
    req.timeout_ms = request.timeout_ms;
    HttpResponse response;
    std::string error;
    SinkBox sink(error);
    const int32_t rc = api_->http_request(
        host_, &req,
        [](void* user, const sanjog_http_response* r) {
          auto* out = static_cast<HttpResponse*>(user);
          out->status = r->status;
          for (size_t i = 0; i < r->header_count; ++i) {
            out->headers.push_back(
                {std::string(view(r->headers[i].name)), std::string(view(r->headers[i].value))});
          }
          out->body.assign(view(r->body));
        },
        &response, sink.get(*this));
    if (rc != SANJOG_OK) return Status(static_cast<Code>(rc), sink.text());
    return response;
  }

  // Emits an event outside a webhook; blocks until it is durable.
  [[nodiscard]] Status emit(std::string_view event_json) const {
    std::string error;
    SinkBox sink(error);
    const int32_t rc = api_->emit_event(host_, str(event_json), sink.get(*this));
    return rc == SANJOG_OK ? Status() : Status(static_cast<Code>(rc), sink.text());
  }

  // Durable per-instance key-value state.
  [[nodiscard]] std::optional<std::string> kvGet(std::string_view key) const {
    std::optional<std::string> out;
    api_->kv_get(
        host_, str(key),
        [](void* user, sanjog_str value) {
          static_cast<std::optional<std::string>*>(user)->emplace(view(value));
        },
        &out);
    return out;
  }
  [[nodiscard]] Status kvPut(std::string_view key, std::string_view value,
                             int64_t ttl_ms = 0) const {
    const int32_t rc = api_->kv_put(host_, str(key), str(value), ttl_ms);
    return rc == SANJOG_OK ? Status() : Status(static_cast<Code>(rc), "kv_put failed");
  }
  [[nodiscard]] Status kvDelete(std::string_view key) const {
    const int32_t rc = api_->kv_delete(host_, str(key));
    return rc == SANJOG_OK || rc == SANJOG_NOT_FOUND
               ? Status()
               : Status(static_cast<Code>(rc), "kv_delete failed");
  }

  // When the contact at `address` last wrote to this instance (Unix ms, as
  // committed with its message.received), or nullopt. ABI 1.1; nullopt on an
  // older host.
  [[nodiscard]] std::optional<int64_t> lastInboundMs(std::string_view address) const {
    if (api_->struct_size < offsetof(sanjog_host_api, last_inbound_ms) + sizeof(void*) ||
        api_->last_inbound_ms == nullptr) {
      return std::nullopt;
    }
    const int64_t ms = api_->last_inbound_ms(host_, str(address));
    return ms < 0 ? std::nullopt : std::optional<int64_t>(ms);
  }

  [[nodiscard]] const sanjog_host_api* api() const { return api_; }
  [[nodiscard]] sanjog_host* raw() const { return host_; }

 private:
  friend class Metric;

  // Collects a host callback's error text.
  class SinkBox {
   public:
    explicit SinkBox(std::string& /*unused*/) {}
    sanjog_sink* get(const Host& /*host*/) { return sink_.get(); }
    [[nodiscard]] std::string text() const {
      return sink_.text.empty() ? std::string("host call failed") : sink_.text;
    }

   private:
    TextSink sink_;
  };

  Result<Metric> registerMetric(int32_t kind, std::string_view name, std::string_view help,
                                std::initializer_list<std::string_view> labels,
                                std::vector<double> buckets) const {
    std::vector<sanjog_str> keys;
    for (auto l : labels) keys.push_back(str(l));
    uint32_t id = 0;
    TextSink error;
    const int32_t rc = api_->metric_register(
        host_, kind, str(name), str(help), keys.data(), keys.size(),
        buckets.empty() ? nullptr : buckets.data(), buckets.size(), &id, error.get());
    if (rc != SANJOG_OK) {
      return Status(static_cast<Code>(rc),
                    "cannot register metric " + std::string(name) + ": " + error.text);
    }
    return Metric(this, id);
  }

  const sanjog_host_api* api_;
  sanjog_host* host_;
  std::string instance_id_;
};

inline void Metric::record(std::initializer_list<std::string_view> labels, double value) const {
  if (host_ == nullptr) return;
  std::vector<sanjog_str> values;
  values.reserve(labels.size());
  for (auto l : labels) values.push_back(str(l));
  host_->api_->metric_record(host_->host_, id_, values.data(), values.size(), value);
}

// ---------------------------------------------------------- webhooks --

// A request to /webhooks/{instance}[/...]. Views are valid during the call.
struct WebhookRequest {
  struct HeaderView {
    std::string_view name;
    std::string_view value;
  };
  std::string_view method;
  std::string_view path;
  std::string_view query;
  std::vector<HeaderView> headers;
  std::string_view body;
  std::string_view remote_address;

  [[nodiscard]] std::optional<std::string_view> header(std::string_view name) const {
    return findHeader(headers, name);
  }
};

struct WebhookResponse {
  int status = 200;
  std::vector<Header> headers;
  std::string content_type = "application/json";
  std::string body;
  // CloudEvents JSON objects to commit before the response is sent (only
  // when status is 2xx).
  std::vector<std::string> events;
  // Set to make the hook return a non-OK status (the host logs and counts it).
  Code code = Code::kOk;

  static WebhookResponse json(int status, const nlohmann::json& body) {
    WebhookResponse r;
    r.status = status;
    r.body = body.dump();
    return r;
  }
  // An error answer: {"error": "<code>", "message": "..."}.
  static WebhookResponse error(int status, Code code, std::string_view message) {
    static constexpr const char* kNames[] = {
        "ok",      "invalid_argument", "unauthenticated", "not_found", "rate_limited",
        "timeout", "unavailable",      "upstream_error",  "internal",  "outside_window"};
    WebhookResponse r = json(
        status, {{"error", kNames[static_cast<int>(code)]}, {"message", std::string(message)}});
    r.code = code;
    return r;
  }
};

// ---------------------------------------------------------- delivery --

struct Delivery {
  std::string_view action;
  std::string_view event;            // CloudEvents JSON object
  std::string_view idempotency_key;  // stable across retries and replays
  uint32_t attempt = 1;
  std::string_view rendered;  // the route template's output, or empty
};

enum class Outcome : int32_t {
  kSuccess = SANJOG_DELIVERY_SUCCESS,
  kRetry = SANJOG_DELIVERY_RETRY,
  kPermanent = SANJOG_DELIVERY_PERMANENT,
  kDisable = SANJOG_DELIVERY_DISABLE,
};

struct DeliveryResult {
  Outcome outcome = Outcome::kRetry;
  Code status = Code::kInternal;
  int http_status = 0;
  int64_t retry_after_ms = -1;  // >= 0 when the upstream asked for a delay
  std::string message;
  std::string provider_message_id;

  static DeliveryResult success(std::string provider_message_id = {}, int http_status = 0) {
    DeliveryResult r;
    r.outcome = Outcome::kSuccess;
    r.status = Code::kOk;
    r.http_status = http_status;
    r.provider_message_id = std::move(provider_message_id);
    return r;
  }
  static DeliveryResult retry(Code reason, std::string message, int64_t retry_after_ms = -1) {
    DeliveryResult r;
    r.outcome = Outcome::kRetry;
    r.status = reason;
    r.message = std::move(message);
    r.retry_after_ms = retry_after_ms;
    return r;
  }
  static DeliveryResult permanent(Code reason, std::string message) {
    DeliveryResult r;
    r.outcome = Outcome::kPermanent;
    r.status = reason;
    r.message = std::move(message);
    return r;
  }
  static DeliveryResult disable(std::string message) {
    DeliveryResult r;
    r.outcome = Outcome::kDisable;
    r.status = Code::kNotFound;
    r.message = std::move(message);
    return r;
  }

  // The common HTTP classification: 2xx success; 410 disables the target;
  // 408, 425, 429 and 5xx retry (honouring Retry-After); other statuses
  // (most 4xx, and 1xx/3xx which a client should not see here) are permanent.
  static DeliveryResult fromHttpStatus(int status, std::optional<int64_t> retry_after_ms = {},
                                       std::string message = {}) {
    DeliveryResult r;
    if (status >= 200 && status < 300) {
      r = success({}, status);
    } else if (status == 410) {
      r = disable(message.empty() ? "the receiver answered 410 Gone" : message);
    } else if (status == 429) {
      r = retry(Code::kRateLimited, message.empty() ? "rate limited (429)" : message,
                retry_after_ms.value_or(-1));
    } else if (status == 408 || status == 425 || status >= 500) {
      r = retry(status == 408 ? Code::kTimeout : Code::kUpstreamError,
                message.empty() ? "the receiver answered " + std::to_string(status) : message,
                retry_after_ms.value_or(-1));
    } else {
      r = permanent(status == 401 || status == 403 ? Code::kUnauthenticated
                    : status == 404                ? Code::kNotFound
                                                   : Code::kInvalidArgument,
                    message.empty() ? "the receiver answered " + std::to_string(status) : message);
    }
    r.http_status = status;
    return r;
  }
};

// ------------------------------------------------------------ health --

enum class HealthState : int32_t {
  kOk = SANJOG_HEALTH_OK,
  kDegraded = SANJOG_HEALTH_DEGRADED,
  kDown = SANJOG_HEALTH_DOWN
};
struct Health {
  HealthState state = HealthState::kOk;
  std::string message;
};

// ------------------------------------------------------------ adapter --

// A media file fetched from the provider for GET /api/v1/media/...
struct Media {
  std::string content_type = "application/octet-stream";
  std::string file_name;  // may be empty
  std::string body;
};

template <typename T>
concept PluginClass = requires(Host& host, const std::string& id, const nlohmann::json& config) {
  { T::create(host, id, config) } -> std::same_as<Result<std::unique_ptr<T>>>;
};
template <typename T>
concept HasWebhook = requires(T& t, const WebhookRequest& r) {
  { t.handleWebhook(r) } -> std::same_as<WebhookResponse>;
};
template <typename T>
concept HasDeliver = requires(T& t, const Delivery& d) {
  { t.deliver(d) } -> std::same_as<DeliveryResult>;
};
template <typename T>
concept HasHealth = requires(T& t) {
  { t.health() } -> std::same_as<Health>;
};
// Optional: Result<Media> fetchMedia(std::string_view media_id, uint64_t max_bytes).
template <typename T>
concept HasMedia = requires(T& t, std::string_view id, uint64_t max) {
  { t.fetchMedia(id, max) } -> std::same_as<Result<Media>>;
};

namespace detail {

template <PluginClass T>
struct Instance {
  Host host;
  std::unique_ptr<T> impl;
};

inline void write(const sanjog_host_api* api, sanjog_sink* sink, std::string_view text) {
  if (api != nullptr && sink != nullptr) api->sink_write(sink, str(text));
}

// The host API table, remembered at create() for hooks that receive only
// the instance (it is static in the host, identical for every instance).
template <PluginClass T>
struct Adapter {
  static int32_t create(const sanjog_host_api* api, sanjog_host* host, sanjog_str instance_id,
                        sanjog_str config, void** out_instance, sanjog_sink* error) noexcept {
    try {
      auto instance = std::make_unique<Instance<T>>(
          Instance<T>{Host(api, host, std::string(view(instance_id))), nullptr});
      const auto json = nlohmann::json::parse(view(config));
      auto created = T::create(instance->host, instance->host.instanceId(), json);
      if (!created) {
        write(api, error, created.status().message());
        const auto code = static_cast<int32_t>(created.status().code());
        return code == SANJOG_OK ? SANJOG_INTERNAL : code;
      }
      instance->impl = std::move(created).value();
      *out_instance = instance.release();
      return SANJOG_OK;
    } catch (const std::exception& e) {
      write(api, error, std::string("create failed: ") + e.what());
    } catch (...) {
      write(api, error, "create failed: unknown exception");
    }
    return SANJOG_INTERNAL;
  }

  static void destroy(void* instance) noexcept {
    delete static_cast<Instance<T>*>(instance);  // destructors must not throw
  }

  static int32_t handleWebhook(void* instance, const sanjog_webhook_request* request,
                               sanjog_webhook_response* response) noexcept {
    auto* self = static_cast<Instance<T>*>(instance);
    const sanjog_host_api* api = self->host.api();
    try {
      WebhookRequest req;
      req.method = view(request->method);
      req.path = view(request->path);
      req.query = view(request->query);
      req.body = view(request->body);
      req.remote_address = view(request->remote_address);
      req.headers.reserve(request->header_count);
      for (size_t i = 0; i < request->header_count; ++i) {
        req.headers.push_back({view(request->headers[i].name), view(request->headers[i].value)});
      }
      WebhookResponse res;
      if constexpr (HasWebhook<T>) res = self->impl->handleWebhook(req);
      for (const auto& event : res.events) {
        TextSink error;
        const int32_t rc = api->response_emit_event(response, str(event), error.get());
        if (rc != SANJOG_OK) {
          self->host.error("the host refused an emitted event: " + error.text);
          api->response_set_status(response, 500);
          return rc;
        }
      }
      api->response_set_status(response, res.status);
      for (const auto& h : res.headers) {
        api->response_set_header(response, str(h.name), str(h.value));
      }
      api->response_set_body(response, str(res.content_type), str(res.body));
      return static_cast<int32_t>(res.code);
    } catch (const std::exception& e) {
      api->response_set_status(response, 500);
      self->host.error(std::string("handleWebhook threw: ") + e.what());
    } catch (...) {
      api->response_set_status(response, 500);
      self->host.error("handleWebhook threw an unknown exception");
    }
    return SANJOG_INTERNAL;
  }

  static int32_t deliver(void* instance, const sanjog_delivery* delivery,
                         sanjog_delivery_result* result) noexcept {
    auto* self = static_cast<Instance<T>*>(instance);
    const sanjog_host_api* api = self->host.api();
    try {
      Delivery d;
      d.action = view(delivery->action);
      d.event = view(delivery->event);
      d.idempotency_key = view(delivery->idempotency_key);
      d.attempt = delivery->attempt;
      d.rendered = view(delivery->rendered);
      DeliveryResult r;
      if constexpr (HasDeliver<T>) r = self->impl->deliver(d);
      result->outcome = static_cast<int32_t>(r.outcome);
      result->status = static_cast<int32_t>(r.status);
      result->http_status = r.http_status;
      result->retry_after_ms = r.retry_after_ms;
      write(api, result->message, r.message);
      write(api, result->provider_message_id, r.provider_message_id);
      return SANJOG_OK;
    } catch (const std::exception& e) {
      result->outcome = SANJOG_DELIVERY_RETRY;
      result->status = SANJOG_INTERNAL;
      write(api, result->message, std::string("deliver threw: ") + e.what());
    } catch (...) {
      result->outcome = SANJOG_DELIVERY_RETRY;
      result->status = SANJOG_INTERNAL;
      write(api, result->message, "deliver threw an unknown exception");
    }
    return SANJOG_INTERNAL;
  }

  static int32_t health(void* instance, int32_t* out_state, sanjog_sink* message) noexcept {
    auto* self = static_cast<Instance<T>*>(instance);
    try {
      Health h;
      if constexpr (HasHealth<T>) h = self->impl->health();
      *out_state = static_cast<int32_t>(h.state);
      write(self->host.api(), message, h.message);
      return SANJOG_OK;
    } catch (...) {
      *out_state = SANJOG_HEALTH_DOWN;
      write(self->host.api(), message, "health threw an exception");
    }
    return SANJOG_INTERNAL;
  }

  static int32_t fetchMedia(void* instance, sanjog_str media_id, uint64_t max_bytes,
                            sanjog_media_response* response, sanjog_sink* error) noexcept {
    auto* self = static_cast<Instance<T>*>(instance);
    const sanjog_host_api* api = self->host.api();
    try {
      if constexpr (HasMedia<T>) {
        auto media = self->impl->fetchMedia(view(media_id), max_bytes);
        if (!media) {
          write(api, error, media.status().message());
          const auto code = static_cast<int32_t>(media.status().code());
          return code == SANJOG_OK ? SANJOG_INTERNAL : code;
        }
        if (media->body.size() > max_bytes) {
          write(api, error, "the media file is larger than the limit");
          return SANJOG_INVALID_ARGUMENT;
        }
        api->media_set_type(response, str(media->content_type), str(media->file_name));
        return api->media_write(response, str(media->body));
      }
      write(api, error, "this plugin serves no media");
      return SANJOG_NOT_FOUND;
    } catch (const std::exception& e) {
      write(api, error, std::string("fetchMedia threw: ") + e.what());
    } catch (...) {
      write(api, error, "fetchMedia threw an unknown exception");
    }
    return SANJOG_INTERNAL;
  }

  static sanjog_plugin_hooks hooks() {
    sanjog_plugin_hooks h{};
    h.struct_size = sizeof(h);
    h.create = &Adapter::create;
    h.destroy = &Adapter::destroy;
    h.handle_webhook = HasWebhook<T> ? &Adapter::handleWebhook : nullptr;
    h.deliver = HasDeliver<T> ? &Adapter::deliver : nullptr;
    h.health = HasHealth<T> ? &Adapter::health : nullptr;
    h.fetch_media = HasMedia<T> ? &Adapter::fetchMedia : nullptr;
    return h;
  }
};

}  // namespace detail

// The descriptor of a plugin class; SANJOG_PLUGIN exports it.
template <PluginClass T>
const sanjog_plugin_descriptor* describe(const char* name, const char* kind, const char* version,
                                         const char* summary, const char* config_schema,
                                         const char* actions) {
  static const sanjog_plugin_hooks hooks = detail::Adapter<T>::hooks();
  static const sanjog_plugin_descriptor descriptor = {SANJOG_ABI_MAJOR,
                                                      SANJOG_ABI_MINOR,
                                                      sizeof(sanjog_plugin_descriptor),
                                                      name,
                                                      kind,
                                                      version,
                                                      summary,
                                                      config_schema,
                                                      actions,
                                                      &hooks};
  return &descriptor;
}

}  // namespace sanjog::sdk

// Defines the one exported entry point of a plugin library. Use it once, in
// the plugin's plugin.cpp. `schema` and `actions` are JSON text (string
// constants with static storage).
#define SANJOG_PLUGIN(Class, name, kind, version, summary, schema, actions)               \
  extern "C" SANJOG_PLUGIN_EXPORT const sanjog_plugin_descriptor* sanjog_plugin_entry(    \
      uint32_t /*host_abi_major*/, uint32_t /*host_abi_minor*/) {                         \
    return ::sanjog::sdk::describe<Class>(name, kind, version, summary, schema, actions); \
  }
