#include "plugin_host/plugin_instance.h"

#include <algorithm>
#include <chrono>
#include <set>

#include "common/log.h"
#include "sanjog/sdk/text_sink.hpp"

// Host-side definitions of the opaque ABI types.
struct sanjog_host {
  sanjog::plugin_host::PluginInstance* instance = nullptr;
  std::string id;
  std::string logger;  // "sanjog.plugin.<id>"
};

struct sanjog_webhook_response {
  sanjog::plugin_host::WebhookOutcome* outcome = nullptr;
};

struct sanjog_media_response {
  sanjog::plugin_host::MediaOutcome* outcome = nullptr;
  uint64_t max_bytes = 0;
};

namespace sanjog::plugin_host {

namespace {

std::string toString(sanjog_str s) { return s.data ? std::string(s.data, s.size) : std::string(); }
sanjog_str view(const std::string& s) { return {s.data(), s.size()}; }

const std::set<std::string>& allowedLabelKeys() {
  static const std::set<std::string> kKeys{"plugin", "kind",   "type",    "target",  "route",
                                           "result", "reason", "channel", "version", "encoding"};
  return kKeys;
}

// ---- C callbacks --------------------------------------------------------

void sinkWrite(sanjog_sink* sink, sanjog_str bytes) {
  if (sink && sink->write) sink->write(sink, bytes);
}

void hostLog(sanjog_host* host, int32_t level, sanjog_str message) {
  if (!host) return;
  const auto lvl = static_cast<log::Level>(std::clamp(level, 0, 3));
  log::write(lvl, host->logger, toString(message), {{"instance", host->id}});
  auto* m = host->instance->services().metrics;
  if (m) {
    static const char* kNames[] = {"debug", "info", "warn", "error"};
    m->plugin_log_lines.Add({{"instance", host->id}, {"kind", kNames[static_cast<int>(lvl)]}})
        .Increment();
  }
}

int64_t hostNow(sanjog_host* host) {
  if (host && host->instance->services().now_ms) return host->instance->services().now_ms();
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int32_t hostMetricRegister(sanjog_host* host, int32_t kind, sanjog_str name, sanjog_str help,
                           const sanjog_str* label_keys, size_t label_count, const double* buckets,
                           size_t bucket_count, uint32_t* out_id, sanjog_sink* error) {
  if (!host || !out_id) return SANJOG_INVALID_ARGUMENT;
  auto* pm = host->instance->services().plugin_metrics;
  if (!pm) {
    sinkWrite(error, view(std::string("metrics are not available")));
    return SANJOG_UNAVAILABLE;
  }
  std::vector<std::string> keys;
  for (size_t i = 0; i < label_count; ++i) keys.push_back(toString(label_keys[i]));
  std::vector<double> b;
  if (buckets) b.assign(buckets, buckets + bucket_count);
  auto r = pm->registerFamily(kind, toString(name), toString(help), std::move(keys), std::move(b));
  if (!r) {
    sinkWrite(error, view(r.status().message()));
    return static_cast<int32_t>(r.status().code());
  }
  *out_id = *r;
  return SANJOG_OK;
}

void hostMetricRecord(sanjog_host* host, uint32_t id, const sanjog_str* values, size_t count,
                      double value) {
  if (!host) return;
  auto* pm = host->instance->services().plugin_metrics;
  if (!pm) return;
  std::vector<std::string> v;
  v.reserve(count);
  for (size_t i = 0; i < count; ++i) v.push_back(toString(values[i]));
  pm->record(id, host->id, v, value);
}

int32_t hostHttp(sanjog_host* host, const sanjog_http_request* request,
                 sanjog_http_response_fn on_response, void* user, sanjog_sink* error) {
  if (!host || !request || !on_response) return SANJOG_INVALID_ARGUMENT;
  auto* client = host->instance->services().http;
  if (!client) {
    sinkWrite(error, view(std::string("outbound HTTP is not available")));
    return SANJOG_UNAVAILABLE;
  }
  HttpRequest req;
  req.method = toString(request->method);
  req.url = toString(request->url);
  for (size_t i = 0; i < request->header_count; ++i) {
    req.headers.emplace_back(toString(request->headers[i].name),
                             toString(request->headers[i].value));
  }
  req.body = toString(request->body);
  if (request->timeout_ms > 0) req.timeout = std::chrono::milliseconds(request->timeout_ms);
  auto res = client->send(host->id, req);
  if (!res) {
    sinkWrite(error, view(res.status().message()));
    return static_cast<int32_t>(res.status().code());
  }
  std::vector<sanjog_header> headers;
  headers.reserve(res->headers.size());
  for (const auto& [n, v] : res->headers) headers.push_back({view(n), view(v)});
  sanjog_http_response out{sizeof(sanjog_http_response), res->status, headers.data(),
                           headers.size(), view(res->body)};
  on_response(user, &out);
  return SANJOG_OK;
}

int32_t hostEmit(sanjog_host* host, sanjog_str event, sanjog_sink* error) {
  if (!host) return SANJOG_INVALID_ARGUMENT;
  auto& emit = host->instance->services().emit;
  if (!emit) {
    sinkWrite(error, view(std::string("emitting events is not available")));
    return SANJOG_UNAVAILABLE;
  }
  Status s = emit(host->id, std::string_view(event.data ? event.data : "", event.size));
  if (!s.isOk()) {
    sinkWrite(error, view(s.message()));
    return static_cast<int32_t>(s.code());
  }
  return SANJOG_OK;
}

int32_t hostKvGet(sanjog_host* host, sanjog_str key, sanjog_value_fn on_value, void* user) {
  if (!host || !on_value) return SANJOG_INVALID_ARGUMENT;
  auto* bus = host->instance->services().bus;
  if (!bus) return SANJOG_UNAVAILABLE;
  auto v = bus->kvGet(host->id, toString(key));
  if (!v) return SANJOG_NOT_FOUND;
  on_value(user, view(*v));
  return SANJOG_OK;
}

int32_t hostKvPut(sanjog_host* host, sanjog_str key, sanjog_str value, int64_t ttl_ms) {
  if (!host) return SANJOG_INVALID_ARGUMENT;
  auto* bus = host->instance->services().bus;
  if (!bus) return SANJOG_UNAVAILABLE;
  return static_cast<int32_t>(
      bus->kvPut(host->id, toString(key), toString(value), std::chrono::milliseconds(ttl_ms))
          .code());
}

int32_t hostKvDelete(sanjog_host* host, sanjog_str key) {
  if (!host) return SANJOG_INVALID_ARGUMENT;
  auto* bus = host->instance->services().bus;
  if (!bus) return SANJOG_UNAVAILABLE;
  return static_cast<int32_t>(bus->kvDelete(host->id, toString(key)).code());
}

void responseSetStatus(sanjog_webhook_response* r, int32_t status) {
  if (r && r->outcome && status >= 100 && status <= 599) r->outcome->http_status = status;
}

void responseSetHeader(sanjog_webhook_response* r, sanjog_str name, sanjog_str value) {
  if (!r || !r->outcome) return;
  std::string n = toString(name);
  std::string v = toString(value);
  // No header injection through CR/LF.
  if (n.find_first_of("\r\n:") != std::string::npos || v.find_first_of("\r\n") != std::string::npos)
    return;
  r->outcome->headers.emplace_back(std::move(n), std::move(v));
}

void responseSetBody(sanjog_webhook_response* r, sanjog_str content_type, sanjog_str body) {
  if (!r || !r->outcome) return;
  r->outcome->content_type = toString(content_type);
  r->outcome->body = toString(body);
}

int32_t responseEmit(sanjog_webhook_response* r, sanjog_str event, sanjog_sink* error) {
  if (!r || !r->outcome) return SANJOG_INVALID_ARGUMENT;
  std::string e = toString(event);
  if (e.empty()) {
    sinkWrite(error, view(std::string("empty event")));
    return SANJOG_INVALID_ARGUMENT;
  }
  r->outcome->events.push_back(std::move(e));
  return SANJOG_OK;
}

void mediaSetType(sanjog_media_response* r, sanjog_str content_type, sanjog_str file_name) {
  if (!r || !r->outcome) return;
  r->outcome->content_type = toString(content_type);
  r->outcome->file_name = toString(file_name);
}

int32_t mediaWrite(sanjog_media_response* r, sanjog_str bytes) {
  if (!r || !r->outcome) return SANJOG_INVALID_ARGUMENT;
  if (r->outcome->body.size() + bytes.size > r->max_bytes) return SANJOG_INVALID_ARGUMENT;
  r->outcome->body.append(bytes.data ? bytes.data : "", bytes.size);
  return SANJOG_OK;
}

int64_t hostLastInbound(sanjog_host* host, sanjog_str address) {
  if (!host) return -1;
  const auto& services = host->instance->services();
  return services.last_inbound ? services.last_inbound(host->id, toString(address)) : -1;
}

const sanjog_host_api kHostApi = {
    sizeof(sanjog_host_api),
    sinkWrite,
    hostLog,
    hostNow,
    hostMetricRegister,
    hostMetricRecord,
    hostHttp,
    hostEmit,
    hostKvGet,
    hostKvPut,
    hostKvDelete,
    responseSetStatus,
    responseSetHeader,
    responseSetBody,
    responseEmit,
    mediaSetType,
    mediaWrite,
    hostLastInbound,
};

}  // namespace

const sanjog_host_api* hostApi() { return &kHostApi; }

// ---- PluginMetrics ------------------------------------------------------

Result<uint32_t> PluginMetrics::registerFamily(int32_t kind, const std::string& name,
                                               const std::string& help,
                                               std::vector<std::string> label_keys,
                                               std::vector<double> buckets) {
  if (name.rfind("sanjog_", 0) != 0 || name.size() > 128) {
    return Status(Code::kInvalidArgument, "metric name must start with sanjog_: " + name);
  }
  for (const auto& k : label_keys) {
    if (!allowedLabelKeys().count(k)) {
      return Status(Code::kInvalidArgument, "label key \"" + k + "\" is not in the fixed set");
    }
  }
  if (kind < SANJOG_METRIC_COUNTER || kind > SANJOG_METRIC_HISTOGRAM) {
    return Status(Code::kInvalidArgument, "unknown metric kind");
  }
  if (kind == SANJOG_METRIC_COUNTER &&
      (name.size() < 6 || name.substr(name.size() - 6) != "_total")) {
    return Status(Code::kInvalidArgument, "counter names end with _total: " + name);
  }
  std::lock_guard<std::mutex> lock(mutex_);
  for (size_t i = 0; i < families_.size(); ++i) {
    const auto& f = families_[i];
    if (f.name != name) continue;
    if (f.kind != kind || f.label_keys != label_keys) {
      return Status(Code::kInvalidArgument,
                    "metric " + name + " was registered before with another kind or labels");
    }
    return static_cast<uint32_t>(i);
  }
  if (!metrics_) return Status(Code::kUnavailable, "no metrics registry");
  Family f{kind, name, std::move(label_keys), std::move(buckets), nullptr};
  if (f.buckets.empty()) f.buckets = metrics::latencyBuckets();
  auto& reg = *metrics_->registry();
  try {
    switch (kind) {
      case SANJOG_METRIC_COUNTER:
        f.family = &prometheus::BuildCounter().Name(name).Help(help).Register(reg);
        break;
      case SANJOG_METRIC_GAUGE:
        f.family = &prometheus::BuildGauge().Name(name).Help(help).Register(reg);
        break;
      default:
        f.family = &prometheus::BuildHistogram().Name(name).Help(help).Register(reg);
        break;
    }
  } catch (const std::exception& e) {
    return Status(Code::kInvalidArgument, "metric " + name + ": " + e.what());
  }
  families_.push_back(std::move(f));
  return static_cast<uint32_t>(families_.size() - 1);
}

void PluginMetrics::record(uint32_t id, const std::string& instance,
                           const std::vector<std::string>& values, double value) {
  Family f;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (id >= families_.size()) return;
    f = families_[id];
  }
  if (values.size() != f.label_keys.size()) {
    log::warn("sanjog.plugin." + instance, "metric recorded with the wrong number of labels",
              {{"metric", f.name}});
    return;
  }
  prometheus::Labels labels{{"instance", instance}};
  for (size_t i = 0; i < values.size(); ++i) labels[f.label_keys[i]] = values[i];
  switch (f.kind) {
    case SANJOG_METRIC_COUNTER:
      if (value >= 0)
        static_cast<prometheus::Family<prometheus::Counter>*>(f.family)->Add(labels).Increment(
            value);
      break;
    case SANJOG_METRIC_GAUGE:
      static_cast<prometheus::Family<prometheus::Gauge>*>(f.family)->Add(labels).Set(value);
      break;
    default:
      static_cast<prometheus::Family<prometheus::Histogram>*>(f.family)
          ->Add(labels, prometheus::Histogram::BucketBoundaries(f.buckets))
          .Observe(value);
      break;
  }
}

// ---- PluginInstance -----------------------------------------------------

Result<std::shared_ptr<PluginInstance>> PluginInstance::create(
    std::shared_ptr<PluginLibrary> library, const std::string& id, const nlohmann::json& config,
    std::shared_ptr<HostServices> services) {
  std::shared_ptr<PluginInstance> inst(new PluginInstance());
  inst->library_ = std::move(library);
  inst->services_ = std::move(services);
  inst->id_ = id;
  inst->host_ = std::make_unique<sanjog_host>();
  inst->host_->instance = inst.get();
  inst->host_->id = id;
  inst->host_->logger = "sanjog.plugin." + id;
  const std::string cfg = config.dump();
  sdk::TextSink error;
  void* handle = nullptr;
  const int32_t rc = inst->library_->hooks().create(hostApi(), inst->host_.get(), view(id),
                                                    view(cfg), &handle, error.get());
  if (rc != SANJOG_OK || handle == nullptr) {
    return Status(rc == SANJOG_OK ? Code::kInternal : codeFromInt(rc),
                  "instance " + id + " (" + inst->library_->name() + ") failed to start: " +
                      (error.text.empty() ? std::string("no reason given") : error.text));
  }
  inst->handle_ = handle;
  return inst;
}

PluginInstance::~PluginInstance() {
  if (handle_ != nullptr && library_) library_->hooks().destroy(handle_);
}

WebhookOutcome PluginInstance::handleWebhook(const WebhookCall& call) {
  WebhookOutcome outcome;
  std::vector<sanjog_header> headers;
  headers.reserve(call.headers.size());
  for (const auto& [n, v] : call.headers) headers.push_back({view(n), view(v)});
  sanjog_webhook_request req{sizeof(sanjog_webhook_request),
                             view(call.method),
                             view(call.path),
                             view(call.query),
                             headers.data(),
                             headers.size(),
                             view(call.body),
                             view(call.remote_address)};
  sanjog_webhook_response resp{&outcome};
  const int32_t rc = library_->hooks().handle_webhook(handle_, &req, &resp);
  outcome.hook_status = codeFromInt(rc);
  return outcome;
}

bus::DeliveryResult PluginInstance::deliver(const bus::Delivery& d) {
  sdk::TextSink message;
  sdk::TextSink provider_id;
  sanjog_delivery_result result{sizeof(sanjog_delivery_result),
                                SANJOG_DELIVERY_RETRY,
                                SANJOG_INTERNAL,
                                0,
                                -1,
                                message.get(),
                                provider_id.get()};
  sanjog_delivery delivery{sizeof(sanjog_delivery),
                           view(d.action),
                           view(d.event_json),
                           view(d.idempotency_key),
                           static_cast<uint32_t>(d.attempts + 1),
                           view(d.rendered)};
  const int32_t rc = library_->hooks().deliver(handle_, &delivery, &result);
  bus::DeliveryResult out;
  switch (result.outcome) {
    case SANJOG_DELIVERY_SUCCESS:
      out.outcome = bus::Outcome::kSuccess;
      break;
    case SANJOG_DELIVERY_PERMANENT:
      out.outcome = bus::Outcome::kPermanent;
      break;
    case SANJOG_DELIVERY_DISABLE:
      out.outcome = bus::Outcome::kDisable;
      break;
    default:
      out.outcome = bus::Outcome::kRetry;
      break;
  }
  out.reason = out.outcome == bus::Outcome::kSuccess ? Code::kOk : codeFromInt(result.status);
  if (rc != SANJOG_OK && out.outcome == bus::Outcome::kSuccess) {
    // A hook that fails while claiming success is treated as a retry.
    out.outcome = bus::Outcome::kRetry;
    out.reason = codeFromInt(rc);
  }
  out.http_status = result.http_status;
  if (result.retry_after_ms >= 0)
    out.retry_after = std::chrono::milliseconds(result.retry_after_ms);
  out.message = std::move(message.text);
  out.provider_message_id = std::move(provider_id.text);
  return out;
}

PluginInstance::Health PluginInstance::health() {
  Health h;
  if (library_->hooks().health == nullptr) return h;
  sdk::TextSink message;
  int32_t state = SANJOG_HEALTH_OK;
  const int32_t rc = library_->hooks().health(handle_, &state, message.get());
  h.state = rc == SANJOG_OK ? std::clamp(state, 0, 2) : SANJOG_HEALTH_DOWN;
  h.message = std::move(message.text);
  return h;
}

}  // namespace sanjog::plugin_host

namespace sanjog::plugin_host {

MediaOutcome PluginInstance::fetchMedia(const std::string& media_id, uint64_t max_bytes) {
  MediaOutcome out;
  if (library_->hooks().fetch_media == nullptr) {
    out.status = Code::kNotFound;
    out.message = "instance " + id_ + " serves no media";
    return out;
  }
  sanjog_media_response response{&out, max_bytes};
  sdk::TextSink error;
  const int32_t rc =
      library_->hooks().fetch_media(handle_, view(media_id), max_bytes, &response, error.get());
  out.status = codeFromInt(rc);
  if (rc != SANJOG_OK) {
    out.message = error.text.empty() ? std::string(codeName(out.status)) : error.text;
    out.body.clear();
  }
  if (out.content_type.empty()) out.content_type = "application/octet-stream";
  return out;
}

}  // namespace sanjog::plugin_host
