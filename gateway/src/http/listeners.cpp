#include "http/listeners.h"

#include <Poco/Net/Context.h>
#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/SecureServerSocket.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/SocketAddress.h>
#include <Poco/URI.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <chrono>
#include <istream>

#include "common/input_limits.h"
#include "common/log.h"
#include "common/time_format.h"
#include "config/config_loader.h"
#include "sanjog/sdk/crypto.hpp"

namespace sanjog::http {

namespace {

using Poco::Net::HTTPRequestHandler;
using Poco::Net::HTTPServerRequest;
using Poco::Net::HTTPServerResponse;

constexpr const char* kLog = "sanjog.http";

void send(HTTPServerResponse& response, const app::Reply& reply) {
  response.setStatusAndReason(static_cast<Poco::Net::HTTPResponse::HTTPStatus>(reply.status));
  for (const auto& [name, value] : reply.headers) response.set(name, value);
  response.setContentType(reply.content_type);
  response.setContentLength(static_cast<std::streamsize>(reply.body.size()));
  response.send().write(reply.body.data(), static_cast<std::streamsize>(reply.body.size()));
}

void sendJson(HTTPServerResponse& response, int status, const nlohmann::json& body) {
  send(response, app::Reply::json(status, body));
}

// Answers without needing the body: reads and drops what the client sends
// (so the next request on a keep-alive connection starts where it should),
// and closes the connection instead when more than kDiscardBytes come.
void discardBody(HTTPServerRequest& request, HTTPServerResponse& response) {
  constexpr size_t kDiscardBytes = 64u << 10;
  std::istream& in = request.stream();
  char buf[8192];
  size_t seen = 0;
  try {
    while (in && seen <= kDiscardBytes) {
      in.read(buf, sizeof buf);
      seen += static_cast<size_t>(in.gcount());
    }
  } catch (const Poco::Exception&) {
    seen = kDiscardBytes + 1;
  }
  if (seen > kDiscardBytes || in.bad()) response.setKeepAlive(false);
}

// Counts a refused request and answers it.
void reject(HTTPServerResponse& response, metrics::Metrics& metrics, const char* kind,
            const char* reason, int status, const std::string& message) {
  metrics.requests_rejected.Add({{"kind", kind}, {"reason", reason}}).Increment();
  log::warn(kLog, "request refused", {{"listener", kind}, {"reason", reason}});
  response.setKeepAlive(false);
  send(response, app::Reply::error(status, reason, message));
}

// Header limits (server.limits). POCO itself refuses more than 100 fields or
// a field over 8 KiB with a bare 400 before any handler runs; these
// configurable limits sit inside those.
// Returns the reason after answering, or nullptr when the headers are fine.
const char* headersRefused(HTTPServerRequest& request, HTTPServerResponse& response,
                           metrics::Metrics& metrics, const char* kind,
                           const config::LimitsConfig& l) {
  if (static_cast<int>(request.size()) > l.max_header_count) {
    reject(response, metrics, kind, "too_many_headers", 431,
           "more than " + std::to_string(l.max_header_count) + " header fields");
    return "too_many_headers";
  }
  for (const auto& [name, value] : request) {
    if (name.size() + value.size() > l.max_header_bytes) {
      reject(response, metrics, kind, "header_too_large", 431,
             "a header field is longer than " + std::to_string(l.max_header_bytes) + " bytes");
      return "header_too_large";
    }
  }
  return nullptr;
}

// Reads the body up to `limit` bytes within `limits.body_timeout`, and checks
// its JSON nesting. Returns the reason after answering (nullptr when read): 413 when larger (before
// answering, up to kDrainBytes of the rest are read and discarded, so a
// client still sending sees the 413 instead of a connection reset), 408 when
// the client is too slow, 400 when nested too deep.
constexpr size_t kDrainBytes = 8u << 20;

const char* bodyRefused(HTTPServerRequest& request, HTTPServerResponse& response, size_t limit,
                        std::string& body, metrics::Metrics& metrics, const char* kind,
                        const config::LimitsConfig& limits) {
  const auto declared = request.getContentLength64();
  std::istream& in = request.stream();
  char buf[16384];
  auto tooLarge = [&] {
    size_t drained = 0;
    while (in && drained < kDrainBytes) {
      in.read(buf, sizeof buf);
      drained += static_cast<size_t>(in.gcount());
    }
    reject(response, metrics, kind, "too_large", 413,
           "body is larger than " + std::to_string(limit) + " bytes");
    return "too_large";
  };
  const auto deadline = std::chrono::steady_clock::now() + limits.body_timeout;
  auto tooSlow = [&] {
    reject(response, metrics, kind, "slow_client", 408,
           "the body did not arrive completely within " +
               std::to_string(limits.body_timeout.count()) + " ms");
    return "slow_client";
  };
  try {
    if (declared != Poco::Net::HTTPMessage::UNKNOWN_CONTENT_LENGTH &&
        static_cast<uint64_t>(declared) > limit) {
      return tooLarge();
    }
    while (in) {
      in.read(buf, sizeof buf);
      body.append(buf, static_cast<size_t>(in.gcount()));
      if (body.size() > limit) return tooLarge();
      if (std::chrono::steady_clock::now() > deadline) return tooSlow();
    }
  } catch (const Poco::TimeoutException&) {
    return tooSlow();
  }
  // No byte within read_timeout (the stream turns bad: iostreams swallow
  // the socket's timeout) or the client went away before the declared
  // length: an incomplete body is never handed on.
  if (in.bad() || (declared != Poco::Net::HTTPMessage::UNKNOWN_CONTENT_LENGTH &&
                   body.size() < static_cast<uint64_t>(declared))) {
    return tooSlow();
  }
  if (jsonNestingExceeds(body, limits.max_json_depth)) {
    reject(response, metrics, kind, "too_deep", 400,
           "JSON nested deeper than " + std::to_string(limits.max_json_depth) + " levels");
    return "too_deep";
  }
  return nullptr;
}

std::vector<std::string> splitPath(const std::string& path) {
  std::vector<std::string> parts;
  size_t start = 1;
  while (start <= path.size()) {
    const size_t end = path.find('/', start);
    const std::string part =
        path.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (!part.empty()) parts.push_back(part);
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return parts;
}

std::string queryParam(const Poco::URI& uri, const std::string& name) {
  for (const auto& [k, v] : uri.getQueryParameters()) {
    if (k == name) return v;
  }
  return "";
}

// Checks the bearer token, with the per-address failure limit: a client that
// failed `limit.max` times within the window gets 429 until it ends, even
// with a valid token (a guessing client learns nothing from its attempts).
bool authenticate(HTTPServerRequest& request, HTTPServerResponse& response,
                  const std::vector<std::string>& accepted, const config::AuthFailureLimit& limit,
                  AuthLimiter& limiter, metrics::Metrics& metrics, const char* kind) {
  const std::string address = request.clientAddress().host().toString();
  const auto now = std::chrono::steady_clock::now();
  if (auto wait = limiter.blocked(address, limit, now)) {
    metrics.requests_rejected
        .Add({{"kind", std::string(kind) == "admin" ? "admin" : "public"},
              {"reason", "auth_locked"}})
        .Increment();
    response.set("Retry-After", std::to_string(std::max<int64_t>(1, wait->count())));
    response.setKeepAlive(false);
    send(response, app::Reply::error(429, "rate_limited",
                                     "too many failed authentication attempts; retry later"));
    return false;
  }
  if (bearerMatches(request.get("Authorization", ""), accepted)) return true;
  limiter.fail(address, limit, now);
  metrics.auth_failures.Add({{"kind", kind}}).Increment();
  metrics.api_requests.Add({{"kind", kind}, {"result", "unauthenticated"}}).Increment();
  log::warn(kLog, "authentication failed", {{"kind", kind}, {"client", address}});
  discardBody(request, response);
  response.set("WWW-Authenticate", "Bearer");
  send(response, app::Reply::error(401, "unauthenticated",
                                   std::string(kind) == "admin" ? "a valid admin token is required"
                                                                : "a valid API key is required"));
  return false;
}

// ---------------------------------------------------------------- public --

class WebhookHandler : public HTTPRequestHandler {
 public:
  WebhookHandler(app::Gateway& gateway, metrics::Metrics& metrics, std::string instance,
                 std::string subpath)
      : gateway_(gateway),
        metrics_(metrics),
        instance_(std::move(instance)),
        subpath_(std::move(subpath)) {}

  void handleRequest(HTTPServerRequest& request, HTTPServerResponse& response) override {
    auto rt = gateway_.runtime();
    const auto& limits = rt->config.server.limits;
    plugin_host::WebhookCall call;
    const char* refused = headersRefused(request, response, metrics_, "public", limits);
    if (refused == nullptr) {
      refused = bodyRefused(request, response, rt->config.server.max_body_bytes, call.body,
                            metrics_, "public", limits);
    }
    if (refused != nullptr) {
      gateway_.countRejected(instance_, refused);
      return;
    }
    call.method = request.getMethod();
    call.path = subpath_;
    const std::string& uri = request.getURI();
    const auto q = uri.find('?');
    call.query = q == std::string::npos ? "" : uri.substr(q + 1);
    for (const auto& [name, value] : request) call.headers.emplace_back(name, value);
    call.remote_address = request.clientAddress().host().toString();
    send(response, gateway_.handleWebhook(instance_, std::move(call)));
  }

 private:
  app::Gateway& gateway_;
  metrics::Metrics& metrics_;
  std::string instance_;
  std::string subpath_;
};

class FixedHandler : public HTTPRequestHandler {
 public:
  explicit FixedHandler(app::Reply reply) : reply_(std::move(reply)) {}
  void handleRequest(HTTPServerRequest& request, HTTPServerResponse& response) override {
    discardBody(request, response);
    send(response, reply_);
  }

 private:
  app::Reply reply_;
};

class ApiHandler : public HTTPRequestHandler {
 public:
  ApiHandler(app::Gateway& gateway, metrics::Metrics& metrics, AuthLimiter& limiter,
             std::vector<std::string> parts)
      : gateway_(gateway), metrics_(metrics), limiter_(limiter), parts_(std::move(parts)) {}

  void handleRequest(HTTPServerRequest& request, HTTPServerResponse& response) override {
    auto rt = gateway_.runtime();
    const auto& limits = rt->config.server.limits;
    if (headersRefused(request, response, metrics_, "public", limits) != nullptr ||
        !authenticate(request, response, rt->config.api.keys, rt->config.server.auth_failures,
                      limiter_, metrics_, "api")) {
      return;
    }
    app::Reply reply;
    const std::string& method = request.getMethod();
    if (parts_.size() == 3 && method == "POST") {
      std::string body;
      if (bodyRefused(request, response, rt->config.server.max_body_bytes, body, metrics_, "public",
                      limits) != nullptr) {
        return;
      }
      reply = gateway_.submitMessage(body, request.get("Idempotency-Key", ""));
    } else if (parts_[2] == "media" && parts_.size() == 5 && method == "GET") {
      reply = gateway_.fetchMedia(parts_[3], parts_[4]);
    } else if (parts_[2] == "media") {
      reply = app::Reply::error(405, "method_not_allowed",
                                "use GET /api/v1/media/{instance}/{media_id}");
    } else if (parts_.size() == 4 && method == "GET") {
      reply = gateway_.messageStatus(parts_[3]);
    } else {
      reply = app::Reply::error(405, "method_not_allowed",
                                "use POST /api/v1/messages or GET "
                                "/api/v1/messages/{id}");
    }
    metrics_.api_requests
        .Add(
            {{"kind", "api"}, {"result", reply.status < 400 ? "ok" : std::to_string(reply.status)}})
        .Increment();
    send(response, reply);
  }

 private:
  app::Gateway& gateway_;
  metrics::Metrics& metrics_;
  AuthLimiter& limiter_;
  std::vector<std::string> parts_;
};

class PublicFactory : public Poco::Net::HTTPRequestHandlerFactory {
 public:
  PublicFactory(app::Gateway& gateway, metrics::Metrics& metrics)
      : gateway_(gateway), metrics_(metrics) {}

  HTTPRequestHandler* createRequestHandler(const HTTPServerRequest& request) override {
    const std::string& uri = request.getURI();
    const std::string path = uri.substr(0, uri.find('?'));
    const auto parts = splitPath(path);
    if (parts.size() >= 2 && parts[0] == "webhooks") {
      const std::string prefix = "/webhooks/" + parts[1];
      return new WebhookHandler(gateway_, metrics_, parts[1],
                                path.substr(std::min(prefix.size(), path.size())));
    }
    if (parts.size() >= 3 && parts.size() <= 4 && parts[0] == "api" && parts[1] == "v1" &&
        parts[2] == "messages") {
      return new ApiHandler(gateway_, metrics_, limiter_, parts);
    }
    if (parts.size() == 5 && parts[0] == "api" && parts[1] == "v1" && parts[2] == "media") {
      return new ApiHandler(gateway_, metrics_, limiter_, parts);
    }
    if (path == "/healthz") return new FixedHandler(app::Reply::json(200, {{"status", "ok"}}));
    return new FixedHandler(app::Reply::error(404, "not_found", "no such endpoint"));
  }

 private:
  app::Gateway& gateway_;
  metrics::Metrics& metrics_;
  AuthLimiter limiter_;
};

// ----------------------------------------------------------------- admin --

class MetricsHandler : public HTTPRequestHandler {
 public:
  MetricsHandler(app::Gateway& gateway, bus::Bus& bus, metrics::Metrics& metrics)
      : gateway_(gateway), bus_(bus), metrics_(metrics) {}
  void handleRequest(HTTPServerRequest&, HTTPServerResponse& response) override {
    bus_.refreshGauges();
    (void)gateway_.instancesJson();  // refreshes instance_up and instance_degraded
    app::Reply r;
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    r.body = metrics_.serialize();
    send(response, r);
  }

 private:
  app::Gateway& gateway_;
  bus::Bus& bus_;
  metrics::Metrics& metrics_;
};

class ReadyHandler : public HTTPRequestHandler {
 public:
  explicit ReadyHandler(app::Gateway& gateway) : gateway_(gateway) {}
  void handleRequest(HTTPServerRequest&, HTTPServerResponse& response) override {
    auto [ready, body] = gateway_.readiness();
    sendJson(response, ready ? 200 : 503, body);
  }

 private:
  app::Gateway& gateway_;
};

class AdminHandler : public HTTPRequestHandler {
 public:
  AdminHandler(app::Gateway& gateway, bus::Bus& bus, metrics::Metrics& metrics, AdminHooks& hooks,
               AuthLimiter& limiter, std::vector<std::string> parts)
      : gateway_(gateway),
        bus_(bus),
        metrics_(metrics),
        hooks_(hooks),
        limiter_(limiter),
        parts_(std::move(parts)) {}

  void handleRequest(HTTPServerRequest& request, HTTPServerResponse& response) override {
    auto rt = gateway_.runtime();
    const auto& limits = rt->config.server.limits;
    if (headersRefused(request, response, metrics_, "admin", limits) != nullptr ||
        !authenticate(request, response, rt->config.admin.tokens, rt->config.server.auth_failures,
                      limiter_, metrics_, "admin")) {
      return;
    }
    std::string body;
    if (bodyRefused(request, response, rt->config.server.max_body_bytes, body, metrics_, "admin",
                    limits) != nullptr) {
      return;
    }
    app::Reply reply = route(request, body);
    metrics_.api_requests
        .Add({{"kind", "admin"},
              {"result", reply.status < 400 ? "ok" : std::to_string(reply.status)}})
        .Increment();
    send(response, reply);
  }

 private:
  app::Reply route(HTTPServerRequest& request, const std::string& body) {
    const std::string& m = request.getMethod();
    const Poco::URI uri(request.getURI());
    const auto& p = parts_;  // admin, v1, ...
    const size_t n = p.size();
    if (n == 3 && p[2] == "instances" && m == "GET")
      return app::Reply::json(200, gateway_.instancesJson());
    if (n == 3 && p[2] == "routes" && m == "GET")
      return app::Reply::json(200, gateway_.routesJson());
    if (n == 3 && p[2] == "reload" && m == "POST") {
      auto errors = hooks_.reload();
      if (errors.empty()) return app::Reply::json(200, {{"result", "applied"}});
      return app::Reply::json(400, {{"result", "rejected"}, {"errors", errors}});
    }
    if (n == 3 && p[2] == "status" && m == "GET")
      return app::Reply::json(200, gateway_.statusJson());
    if (n == 3 && p[2] == "events" && m == "GET") return findEvents(uri);
    if (n == 4 && p[2] == "events" && m == "GET") {
      auto trace = bus_.event(p[3]);
      if (!trace) return app::Reply::error(404, "not_found", "no event " + p[3]);
      nlohmann::json deliveries = nlohmann::json::array();
      for (const auto& d : trace->deliveries) deliveries.push_back(app::deliveryJson(d));
      return app::Reply::json(200,
                              {{"event", nlohmann::json::parse(trace->event.json, nullptr, false)},
                               {"deliveries", deliveries}});
    }
    if (n >= 3 && p[2] == "dead-letters") return deadLetters(m, uri, body);
    if (n >= 4 && p[2] == "contacts") return contacts(m);
    return app::Reply::error(404, "not_found", "no such admin endpoint");
  }

  // "2026-12-03T10:00:00Z", or a duration back from now ("90m", "2h", "7d").
  // 0 when empty; nullopt when it is neither.
  static std::optional<int64_t> timeParam(const std::string& text) {
    if (text.empty()) return 0;
    if (const int64_t t = parseRfc3339(text); t >= 0) return t;
    if (auto d = config::ConfigLoader::parseDuration(text)) return nowUnixMs() - d->count();
    return std::nullopt;
  }

  // GET /admin/v1/events?contact=&conversation=&instance=&type=&since=&until=&limit=&before=
  app::Reply findEvents(const Poco::URI& uri) {
    bus::EventQuery q;
    auto opt = [&](const char* key) -> std::optional<std::string> {
      std::string v = queryParam(uri, key);
      return v.empty() ? std::nullopt : std::optional<std::string>(v);
    };
    q.contact = opt("contact");
    q.conversation_id = opt("conversation");
    q.instance = opt("instance");
    q.type = opt("type");
    const auto since = timeParam(queryParam(uri, "since"));
    const auto until = timeParam(queryParam(uri, "until"));
    if (!since || !until) {
      return app::Reply::error(400, "invalid_argument",
                               "since and until take an RFC 3339 time (2026-12-03T10:00:00Z) or a "
                               "duration back from now (90m, 2h, 7d)");
    }
    q.since_ms = *since;
    q.until_ms = *until;
    if (auto l = opt("limit"))
      q.limit = std::clamp<size_t>(std::strtoul(l->c_str(), nullptr, 10), 1, 1000);
    if (auto b = opt("before")) q.before_seq = std::strtoll(b->c_str(), nullptr, 10);
    auto page = bus_.findEvents(q);
    if (!page) return app::Reply::error(503, "unavailable", page.status().message());
    nlohmann::json items = nlohmann::json::array();
    for (const auto& e : page->events) {
      items.push_back({{"id", e.event.id},
                       {"time", formatRfc3339(e.event.time_ms)},
                       {"instance", e.event.instance},
                       {"type", e.event.type},
                       {"conversation_id", e.event.subject},
                       {"providerid", e.event.provider_id},
                       {"deliveries", e.deliveries}});
    }
    return app::Reply::json(
        200, {{"events", items},
              {"scanned", page->scanned},
              {"next_before", page->next_before > 0 ? nlohmann::json(page->next_before)
                                                    : nlohmann::json(nullptr)}});
  }

  // GET /admin/v1/contacts/{id}/export, DELETE /admin/v1/contacts/{id}.
  app::Reply contacts(const std::string& m) {
    const auto& p = parts_;
    std::string contact;
    Poco::URI::decode(p[3], contact);
    if (contact.empty() || contact.size() > 320) {
      return app::Reply::error(400, "invalid_argument", "give a phone, email, address or id");
    }
    if (p.size() == 5 && p[4] == "export" && m == "GET") {
      auto data = bus_.contactData(contact);
      if (!data) return app::Reply::error(503, "unavailable", data.status().message());
      metrics_.contacts.Add({{"result", "exported"}}).Increment();
      // The request is logged, the contact is not (the log must not become a
      // copy of what is exported).
      log::info(kLog, "contact data exported",
                {{"conversations", data->conversations.size()}, {"events", data->events.size()}});
      return app::Reply::json(200, contactJson(*data));
    }
    if (p.size() == 4 && m == "DELETE") {
      auto erased = bus_.eraseContact(contact);
      if (!erased) return app::Reply::error(503, "unavailable", erased.status().message());
      metrics_.contacts.Add({{"result", "erased"}}).Increment();
      const nlohmann::json counts = {{"conversations", erased->conversations},
                                     {"events", erased->events},
                                     {"deliveries", erased->deliveries},
                                     {"state", erased->state},
                                     {"timers", erased->timers}};
      log::info(kLog, "contact erased", {{"erased", counts}});
      return app::Reply::json(200, {{"erased", counts}});
    }
    return app::Reply::error(405, "method_not_allowed",
                             "use GET /admin/v1/contacts/{id}/export or DELETE "
                             "/admin/v1/contacts/{id}");
  }

  static nlohmann::json contactJson(const bus::ContactData& d) {
    auto parsed = [](const std::string& text) {
      auto j = nlohmann::json::parse(text, nullptr, false);
      return j.is_discarded() ? nlohmann::json(text) : j;
    };
    nlohmann::json out = {{"conversations", nlohmann::json::array()},
                          {"events", nlohmann::json::array()},
                          {"deliveries", nlohmann::json::array()},
                          {"state", nlohmann::json::array()},
                          {"timers", nlohmann::json::array()}};
    for (const auto& c : d.conversations) {
      out["conversations"].push_back({{"id", c.conversation_id},
                                      {"instance", c.instance},
                                      {"address", c.address},
                                      {"contact", parsed(c.contact_json)},
                                      {"created", formatRfc3339(c.created_ms)},
                                      {"last_inbound", formatRfc3339(c.last_inbound_ms)}});
    }
    for (const auto& e : d.events) out["events"].push_back(parsed(e.json));
    for (const auto& del : d.deliveries) out["deliveries"].push_back(app::deliveryJson(del));
    for (const auto& s : d.state) {
      out["state"].push_back(
          {{"instance", s.instance}, {"key", s.key}, {"value", parsed(s.value)}});
    }
    for (const auto& t : d.timers) {
      out["timers"].push_back({{"key", t.spec.key},
                               {"automation", t.spec.automation},
                               {"due", formatRfc3339(t.spec.due_ms)},
                               {"state", t.state},
                               {"payload", parsed(t.spec.payload)}});
    }
    return out;
  }

  static bus::DeadLetterFilter filterFrom(const Poco::URI& uri, const std::string& body) {
    bus::DeadLetterFilter f;
    nlohmann::json j =
        body.empty() ? nlohmann::json::object() : nlohmann::json::parse(body, nullptr, false);
    auto pick = [&](const char* key) -> std::optional<std::string> {
      std::string v = queryParam(uri, key);
      if (v.empty() && j.is_object() && j.contains(key) && j[key].is_string()) {
        v = j[key].get<std::string>();
      }
      return v.empty() ? std::nullopt : std::optional<std::string>(v);
    };
    f.target = pick("target");
    f.reason = pick("reason");
    if (auto l = pick("limit"))
      f.limit = std::clamp<size_t>(std::strtoul(l->c_str(), nullptr, 10), 1, 1000);
    if (auto a = pick("after")) f.after_id = std::strtoll(a->c_str(), nullptr, 10);
    return f;
  }

  // A query parameter or JSON body field given as true / 1 / yes.
  static bool flag(const Poco::URI& uri, const std::string& body, const char* key) {
    std::string v = queryParam(uri, key);
    if (v.empty() && !body.empty()) {
      auto j = nlohmann::json::parse(body, nullptr, false);
      if (j.is_object() && j.contains(key)) {
        if (j[key].is_boolean()) return j[key].get<bool>();
        if (j[key].is_string()) v = j[key].get<std::string>();
      }
    }
    return v == "true" || v == "1" || v == "yes";
  }

  static size_t bulkLimit(const Poco::URI& uri, const std::string& body) {
    std::string v = queryParam(uri, "limit");
    if (v.empty() && !body.empty()) {
      auto j = nlohmann::json::parse(body, nullptr, false);
      if (j.is_object() && j.contains("limit") && j["limit"].is_number_unsigned()) {
        return j["limit"].get<size_t>();
      }
    }
    return v.empty() ? 0 : std::strtoul(v.c_str(), nullptr, 10);
  }

  app::Reply deadLetters(const std::string& m, const Poco::URI& uri, const std::string& body) {
    const auto& p = parts_;
    const size_t n = p.size();
    if (n == 3 && m == "GET") {
      auto f = filterFrom(uri, "");
      auto list = bus_.deadLetters(f);
      nlohmann::json items = nlohmann::json::array();
      int64_t last = 0;
      for (const auto& d : list) {
        items.push_back({{"id", d.delivery.id},
                         {"event_id", d.delivery.event_id},
                         {"target", d.delivery.target},
                         {"route", d.delivery.route_id},
                         {"action", d.delivery.action},
                         {"reason", d.dead_reason},
                         {"message", d.attempts.empty() ? "" : d.attempts.back().message},
                         {"attempts", d.delivery.attempts},
                         {"dead_at", formatRfc3339(d.updated_ms)}});
        last = d.delivery.id;
      }
      nlohmann::json out = {{"dead_letters", items}};
      out["next_after"] = list.size() == f.limit ? nlohmann::json(last) : nlohmann::json(nullptr);
      if (auto total = bus_.countDeadLetters(f)) out["total"] = *total;
      return app::Reply::json(200, out);
    }
    // Bulk: POST .../replay and DELETE /admin/v1/dead-letters, by filter, in
    // id order from `after`, at most `limit` (default all); `dry_run` counts.
    const bool bulk_replay = n == 4 && p[3] == "replay" && m == "POST";
    const bool bulk_delete = n == 3 && m == "DELETE";
    if (bulk_replay || bulk_delete) {
      auto f = filterFrom(uri, body);
      f.limit = bulkLimit(uri, body);
      if (bulk_delete && !f.target && !f.reason && !flag(uri, body, "all")) {
        return app::Reply::error(
            400, "invalid_argument",
            "name a target or reason, or all=true to delete every dead letter");
      }
      if (flag(uri, body, "dry_run")) {
        auto c = bus_.countDeadLetters(f);
        if (!c) return app::Reply::error(503, "unavailable", c.status().message());
        return app::Reply::json(200, {{"dry_run", true}, {"matched", *c}});
      }
      auto r = bulk_replay ? bus_.replayDeadLetters(f) : bus_.deleteDeadLetters(f);
      if (!r) return app::Reply::error(503, "unavailable", r.status().message());
      return app::Reply::json(200, {{bulk_replay ? "replayed" : "deleted", r->changed},
                                    {"last_id", r->last_id > 0 ? nlohmann::json(r->last_id)
                                                               : nlohmann::json(nullptr)}});
    }
    const int64_t id = n >= 4 ? std::strtoll(p[3].c_str(), nullptr, 10) : 0;
    if (id <= 0) return app::Reply::error(404, "not_found", "no such dead letter");
    if (n == 5 && p[4] == "replay" && m == "POST") {
      auto r = bus_.replayDeadLetter(id);
      if (!r)
        return app::Reply::error(r.status().code() == Code::kNotFound ? 404 : 503,
                                 std::string(codeName(r.status().code())), r.status().message());
      return app::Reply::json(200, {{"replayed", *r}});
    }
    if (n == 4 && m == "DELETE") {
      auto r = bus_.deleteDeadLetter(id);
      if (!r)
        return app::Reply::error(r.status().code() == Code::kNotFound ? 404 : 503,
                                 std::string(codeName(r.status().code())), r.status().message());
      return app::Reply::json(200, {{"deleted", *r}});
    }
    return app::Reply::error(405, "method_not_allowed", "unsupported method on dead letters");
  }

  app::Gateway& gateway_;
  bus::Bus& bus_;
  metrics::Metrics& metrics_;
  AdminHooks& hooks_;
  AuthLimiter& limiter_;
  std::vector<std::string> parts_;
};

class AdminFactory : public Poco::Net::HTTPRequestHandlerFactory {
 public:
  AdminFactory(app::Gateway& gateway, bus::Bus& bus, metrics::Metrics& metrics, AdminHooks hooks)
      : gateway_(gateway), bus_(bus), metrics_(metrics), hooks_(std::move(hooks)) {}

  HTTPRequestHandler* createRequestHandler(const HTTPServerRequest& request) override {
    const std::string& uri = request.getURI();
    const std::string path = uri.substr(0, uri.find('?'));
    if (path == "/metrics") return new MetricsHandler(gateway_, bus_, metrics_);
    if (path == "/healthz") return new FixedHandler(app::Reply::json(200, {{"status", "ok"}}));
    if (path == "/readyz") return new ReadyHandler(gateway_);
    auto parts = splitPath(path);
    if (parts.size() >= 3 && parts[0] == "admin" && parts[1] == "v1") {
      return new AdminHandler(gateway_, bus_, metrics_, hooks_, limiter_, std::move(parts));
    }
    return new FixedHandler(app::Reply::error(404, "not_found", "no such endpoint"));
  }

 private:
  app::Gateway& gateway_;
  bus::Bus& bus_;
  metrics::Metrics& metrics_;
  AdminHooks hooks_;
  AuthLimiter limiter_;
};

}  // namespace

bool bearerMatches(const std::string& authorization, const std::vector<std::string>& accepted) {
  static const std::string kPrefix = "Bearer ";
  if (authorization.size() <= kPrefix.size() ||
      authorization.compare(0, kPrefix.size(), kPrefix) != 0) {
    return false;
  }
  // Compare digests so the comparison takes the same time whatever the
  // lengths; check every key (no early exit) so timing reveals nothing.
  const std::string given = sdk::crypto::sha256(authorization.substr(kPrefix.size()));
  bool match = false;
  for (const auto& key : accepted) {
    if (key.empty()) continue;
    match |= sdk::crypto::constantTimeEqual(given, sdk::crypto::sha256(key));
  }
  return match;
}

Listener::Listener(const std::string& name, const config::ListenAddress& address, int threads,
                   Poco::Net::HTTPRequestHandlerFactory* factory,
                   const std::optional<config::TlsConfig>& tls, const config::LimitsConfig& limits)
    : name_(name) {
  std::unique_ptr<Poco::Net::HTTPRequestHandlerFactory> owned(factory);
  Poco::Net::ServerSocket socket;
  if (tls) {
    Poco::Net::Context::Ptr context = new Poco::Net::Context(
        Poco::Net::Context::SERVER_USE, tls->key_file, tls->cert_file, "",
        Poco::Net::Context::VERIFY_NONE, 9, false, "HIGH:!aNULL:!MD5:!RC4:!3DES");
    context->requireMinimumProtocol(Poco::Net::Context::PROTO_TLSV1_2);
    context->enableSessionCache(true, "sanjogd");
    // Each handshake takes the current pair (selectCertificate), so SIGHUP
    // can replace it while the listener runs.
    reloadTls(*tls);
    SSL_CTX_set_cert_cb(context->sslContext(), &Listener::selectCertificate, this);
    socket = Poco::Net::SecureServerSocket(context);
  }
  socket.bind(Poco::Net::SocketAddress(address.host, address.port), true);
  socket.listen(256);
  port_ = socket.address().port();
  pool_ = std::make_unique<Poco::ThreadPool>(2, std::max(threads, 2), 60, 0);
  auto* params = new Poco::Net::HTTPServerParams();
  params->setMaxThreads(std::max(threads, 2));
  params->setMaxQueued(1024);
  params->setKeepAlive(true);
  params->setMaxKeepAliveRequests(0);
  auto span = [](std::chrono::milliseconds ms) {
    return Poco::Timespan(static_cast<Poco::Timespan::TimeDiff>(ms.count()) * 1000);
  };
  params->setKeepAliveTimeout(span(limits.keep_alive_timeout));
  // The socket's receive timeout: a client silent this long mid-request is
  // cut off (slow-client protection for the header phase as well).
  params->setTimeout(span(limits.read_timeout));
  params->setServerName("sanjogd");
  server_ = std::make_unique<Poco::Net::HTTPServer>(owned.release(), *pool_, socket, params);
  server_->start();
  log::info(
      kLog, "listening",
      {{"listener", name_}, {"host", address.host}, {"port", port_}, {"tls", tls.has_value()}});
}

struct Listener::Certs {
  std::unique_ptr<X509, decltype(&X509_free)> cert{nullptr, &X509_free};
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key{nullptr, &EVP_PKEY_free};
  std::unique_ptr<STACK_OF(X509), void (*)(STACK_OF(X509)*)> chain{
      nullptr, [](STACK_OF(X509) * c) { sk_X509_pop_free(c, X509_free); }};
};

void Listener::reloadTls(const config::TlsConfig& tls) {
  auto certs = std::make_shared<Certs>();
  using Bio = std::unique_ptr<BIO, decltype(&BIO_free)>;
  Bio cert_bio(BIO_new_file(tls.cert_file.c_str(), "r"), &BIO_free);
  if (!cert_bio) throw std::runtime_error("cannot read the certificate file " + tls.cert_file);
  certs->cert.reset(PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr));
  if (!certs->cert) throw std::runtime_error("no PEM certificate in " + tls.cert_file);
  certs->chain.reset(sk_X509_new_null());
  while (X509* extra = PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr)) {
    sk_X509_push(certs->chain.get(), extra);
  }
  ERR_clear_error();  // the loop ends on "no start line"
  Bio key_bio(BIO_new_file(tls.key_file.c_str(), "r"), &BIO_free);
  if (!key_bio) throw std::runtime_error("cannot read the key file " + tls.key_file);
  certs->key.reset(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
  if (!certs->key) throw std::runtime_error("no PEM private key in " + tls.key_file);
  if (X509_check_private_key(certs->cert.get(), certs->key.get()) != 1) {
    ERR_clear_error();
    throw std::runtime_error("the key does not match the certificate");
  }
  std::lock_guard<std::mutex> lock(certs_mutex_);
  certs_ = std::move(certs);
}

int Listener::selectCertificate(ssl_st* ssl, void* arg) {
  auto* self = static_cast<Listener*>(arg);
  std::shared_ptr<const Certs> certs;
  {
    std::lock_guard<std::mutex> lock(self->certs_mutex_);
    certs = self->certs_;
  }
  if (!certs) return 0;
  return SSL_use_cert_and_key(ssl, certs->cert.get(), certs->key.get(), certs->chain.get(), 1) == 1
             ? 1
             : 0;
}

Listener::~Listener() { stop(); }

void Listener::stop() {
  if (stopped_) return;
  stopped_ = true;
  server_->stopAll(false);
  pool_->joinAll();
  log::info(kLog, "listener stopped", {{"listener", name_}});
}

Poco::Net::HTTPRequestHandlerFactory* makePublicFactory(app::Gateway& gateway,
                                                        metrics::Metrics& metrics) {
  return new PublicFactory(gateway, metrics);
}

Poco::Net::HTTPRequestHandlerFactory* makeAdminFactory(app::Gateway& gateway, bus::Bus& bus,
                                                       metrics::Metrics& metrics,
                                                       AdminHooks hooks) {
  return new AdminFactory(gateway, bus, metrics, std::move(hooks));
}

}  // namespace sanjog::http
