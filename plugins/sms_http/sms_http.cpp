#include "sms_http.hpp"

#include <algorithm>

#include "sanjog/sdk/crypto.hpp"
#include "sanjog/sdk/duration.hpp"
#include "sms.hpp"

namespace sanjog::plugins::sms_http {

using channel::str;
using nlohmann::json;
using sdk::Code;
using sdk::DeliveryResult;

const char* const kConfigSchema = R"json({
  "$schema": "http://json-schema.org/draft-07/schema#",
  "title": "sms_http",
  "type": "object",
  "additionalProperties": false,
  "required": ["public_url", "secret"],
  "properties": {
    "profile": {
      "enum": ["custom", "kannel"],
      "default": "custom",
      "description": "kannel: the send request, success rule and callback names of Kannel's sendsms interface, from api_base; custom: everything from the keys below."
    },
    "api_base": {
      "type": "string",
      "pattern": "^https?://[^\\s]+$",
      "default": "http://127.0.0.1:13013",
      "description": "The gateway's base URL; {{api_base}} in url (the kannel profile sends to api_base + /cgi-bin/sendsms)."
    },
    "method": { "enum": ["GET", "POST"], "default": "GET", "description": "HTTP method of the send request." },
    "url": {
      "type": "string",
      "description": "Send URL template, e.g. {{api_base}}/send?user={{username}}&to={{to}}&msg={{text}}; values are percent-encoded. Required with the custom profile."
    },
    "body": {
      "type": "string",
      "default": "",
      "description": "Body template for POST; values are percent-encoded for a form body, JSON-escaped when content_type is JSON."
    },
    "content_type": {
      "type": "string",
      "default": "application/x-www-form-urlencoded",
      "description": "Content-Type of a POST body."
    },
    "headers": {
      "type": "object",
      "additionalProperties": { "type": "string" },
      "x-secret": true,
      "default": {},
      "description": "Extra request headers (templates too), e.g. an API key header."
    },
    "username": { "type": "string", "x-secret": true, "default": "", "description": "{{username}} in templates (Kannel: a sendsms-user)." },
    "password": { "type": "string", "x-secret": true, "default": "", "description": "{{password}} in templates." },
    "from": { "type": "string", "default": "", "description": "{{from}}: the sender number or id." },
    "success_status": {
      "type": "array", "items": { "type": "integer" }, "default": [200, 201, 202],
      "description": "HTTP statuses that mean the gateway took the message (kannel: 202)."
    },
    "success_contains": {
      "type": "string", "default": "",
      "description": "Text the answer must contain as well (kannel: Accepted or Queued); empty: any."
    },
    "message_id_pointer": {
      "type": "string", "default": "",
      "description": "JSON pointer to the gateway's message id in a JSON answer, e.g. /data/id; empty: Sanjog's own id ({{id}}), which the delivery-report URL carries."
    },
    "public_url": {
      "type": "string", "pattern": "^https?://[^\\s]+$",
      "description": "This instance's public URL (…/webhooks/{instance}); delivery reports go to public_url + /dlr, MO to public_url + /mo."
    },
    "secret": {
      "type": "string", "minLength": 16, "x-secret": true,
      "description": "Shared secret the gateway must send back on callbacks (query parameter secret, or header X-Sanjog-Secret); it is put into {{dlr_url}}."
    },
    "mo_params": {
      "type": "object", "additionalProperties": { "type": "string" }, "default": {},
      "description": "Names of the MO callback's parameters: from, to, text, id (defaults: the same names; kannel: from=%p to=%P text=%a id=%I in the sms-service get-url)."
    },
    "dlr_params": {
      "type": "object", "additionalProperties": { "type": "string" }, "default": {},
      "description": "Names of the delivery-report parameters: id, status (defaults: id, status)."
    },
    "dlr_status": {
      "type": "object", "additionalProperties": { "enum": ["accepted", "sent", "delivered", "read", "failed"] },
      "default": {},
      "description": "Gateway status values to message.status (default Kannel's: 1 delivered, 2 failed, 4 accepted, 8 sent, 16 failed)."
    },
    "default_region": { "type": "string", "pattern": "^[A-Z]{2}$", "default": "BD", "description": "Region for numbers without a country code." },
    "max_segments": { "type": "integer", "minimum": 1, "maximum": 10, "default": 5, "description": "Longest text sent, in segments (GSM-7 160/153, UCS-2 70/67); longer fails before any request." },
    "rate_limit_per_second": { "type": "number", "minimum": 0, "default": 10, "description": "Sends per second; 0 disables the limit." },
    "timeout": { "type": "string", "pattern": "^([0-9]+(ms|s|m|h))+$", "default": "10s", "description": "Time limit for one send request; a timeout is retried." }
  },
  "examples": [
    { "profile": "kannel", "api_base": "http://127.0.0.1:13013",
      "username": "sanjog", "password": "${env:KANNEL_PASSWORD}", "from": "16555",
      "public_url": "https://gateway.example.com/webhooks/sms",
      "secret": "replace-with-a-long-random-secret" }
  ]
})json";

namespace {

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string decode(std::string_view in) {
  std::string out;
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '+') {
      out += ' ';
    } else if (in[i] == '%' && i + 2 < in.size() && hexValue(in[i + 1]) >= 0 &&
               hexValue(in[i + 2]) >= 0) {
      out += static_cast<char>(hexValue(in[i + 1]) * 16 + hexValue(in[i + 2]));
      i += 2;
    } else {
      out += in[i];
    }
  }
  return out;
}

std::string param(const Params& params, const std::string& name) {
  for (const auto& [k, v] : params) {
    if (k == name) return v;
  }
  return {};
}

std::string jsonEscape(const std::string& s) {
  const std::string quoted = json(s).dump();
  return quoted.substr(1, quoted.size() - 2);
}

}  // namespace

std::string render(std::string_view tmpl, const std::map<std::string, std::string>& vars,
                   Encoding encoding) {
  std::string out;
  size_t i = 0;
  while (i < tmpl.size()) {
    const size_t open = tmpl.find("{{", i);
    if (open == std::string_view::npos) {
      out.append(tmpl.substr(i));
      break;
    }
    const size_t close = tmpl.find("}}", open + 2);
    if (close == std::string_view::npos) {
      out.append(tmpl.substr(i));
      break;
    }
    out.append(tmpl.substr(i, open - i));
    std::string name(tmpl.substr(open + 2, close - open - 2));
    name.erase(0, name.find_first_not_of(' '));
    name.erase(name.find_last_not_of(' ') + 1);
    auto it = vars.find(name);
    const std::string value = it == vars.end() ? std::string() : it->second;
    // api_base is a URL prefix, never encoded.
    if (name == "api_base" || encoding == Encoding::kNone) {
      out += value;
    } else if (encoding == Encoding::kUrl) {
      out += channel::percentEncode(value);
    } else {
      out += jsonEscape(value);
    }
    i = close + 2;
  }
  return out;
}

Params parseParams(std::string_view text) {
  Params out;
  while (!text.empty()) {
    const size_t amp = text.find('&');
    const std::string_view pair = text.substr(0, amp);
    if (!pair.empty()) {
      const size_t eq = pair.find('=');
      out.emplace_back(decode(pair.substr(0, eq)),
                       eq == std::string_view::npos ? std::string() : decode(pair.substr(eq + 1)));
    }
    if (amp == std::string_view::npos) break;
    text.remove_prefix(amp + 1);
  }
  return out;
}

sdk::Result<Settings> parseSettings(const json& config) {
  if (!config.is_object()) return {Code::kInvalidArgument, "config must be an object"};
  Settings s;
  std::string api_base;
  try {
    const std::string profile = config.value("profile", "custom");
    api_base = config.value("api_base", "http://127.0.0.1:13013");
    while (!api_base.empty() && api_base.back() == '/') api_base.pop_back();
    if (profile == "kannel") {
      s.url =
          "{{api_base}}/cgi-bin/sendsms?username={{username}}&password={{password}}"
          "&from={{from}}&to={{to}}&text={{text}}&charset=UTF-8&coding={{coding}}"
          "&dlr-mask=31&dlr-url={{dlr_url}}";
      s.success_status = {202};  // "0: Accepted for delivery", "3: Queued for later delivery"
    }
    s.method = config.value("method", s.method);
    s.url = config.value("url", s.url);
    s.body = config.value("body", "");
    s.content_type = config.value("content_type", s.content_type);
    if (config.contains("headers")) {
      for (const auto& [k, v] : config["headers"].items())
        s.headers.push_back({k, v.get<std::string>()});
    }
    s.username = config.value("username", "");
    s.password = config.value("password", "");
    s.from = config.value("from", "");
    s.success_status = config.value("success_status", s.success_status);
    s.success_contains = config.value("success_contains", s.success_contains);
    s.message_id_pointer = config.value("message_id_pointer", "");
    s.public_url = config.value("public_url", "");
    while (!s.public_url.empty() && s.public_url.back() == '/') s.public_url.pop_back();
    s.secret = config.value("secret", "");
    for (const char* key : {"mo_params", "dlr_params", "dlr_status"}) {
      if (!config.contains(key)) continue;
      auto& target = std::string(key) == "mo_params"    ? s.mo_params
                     : std::string(key) == "dlr_params" ? s.dlr_params
                                                        : s.dlr_status;
      for (const auto& [k, v] : config[key].items()) target[k] = v.get<std::string>();
    }
    s.default_region = config.value("default_region", s.default_region);
    s.max_segments = config.value("max_segments", s.max_segments);
    s.rate_per_second = config.value("rate_limit_per_second", s.rate_per_second);
  } catch (const json::exception& e) {
    return {Code::kInvalidArgument,
            std::string("config has a value of the wrong type: ") + e.what()};
  }
  if (s.url.empty()) return {Code::kInvalidArgument, "url is required with the custom profile"};
  // The base URL is configuration, not data: substituted once, unencoded.
  for (size_t p; (p = s.url.find("{{api_base}}")) != std::string::npos;) {
    s.url.replace(p, 12, api_base);
  }
  if (s.public_url.rfind("http://", 0) != 0 && s.public_url.rfind("https://", 0) != 0) {
    return {Code::kInvalidArgument, "public_url must be this instance's http(s) URL"};
  }
  if (s.secret.size() < 16) return {Code::kInvalidArgument, "secret needs at least 16 characters"};
  auto timeout = sdk::parseDuration(config.value("timeout", "10s"));
  if (!timeout || timeout->count() <= 0)
    return {Code::kInvalidArgument, "timeout is not a duration"};
  s.timeout_ms = static_cast<uint32_t>(std::min<int64_t>(timeout->count(), 600'000));
  return s;
}

sdk::Result<std::vector<json>> mapCallback(std::string_view path, const Params& params,
                                           const Settings& s) {
  auto get = [&](const std::map<std::string, std::string>& names, const char* key) {
    auto it = names.find(key);
    return param(params, it == names.end() ? key : it->second);
  };
  std::vector<json> events;
  if (path == "/dlr") {
    const std::string id = get(s.dlr_params, "id");
    const std::string raw = get(s.dlr_params, "status");
    if (id.empty() || raw.empty())
      return {Code::kInvalidArgument, "a delivery report needs id and status"};
    auto it = s.dlr_status.find(raw);
    if (it == s.dlr_status.end()) return events;  // an intermediate state Sanjog does not track
    json data = {{"channel", "sms"}, {"provider_message_id", id}, {"status", it->second}};
    if (it->second == "failed")
      data["error"] = {{"code", raw}, {"reason", "the gateway reported " + raw}};
    events.push_back(channel::cloudEvent("message.status", "dlr:" + id + ":" + it->second, data));
    return events;
  }
  if (path == "/mo") {
    const std::string from = get(s.mo_params, "from");
    if (from.empty()) return {Code::kInvalidArgument, "an MO message needs its sender"};
    const std::string text = get(s.mo_params, "text");
    std::string id = get(s.mo_params, "id");
    if (id.empty()) {
      // No id from the gateway: the sender, recipient and text identify a repeat.
      id = "mo:" +
           sdk::crypto::hex(sdk::crypto::sha256(from + "\n" + get(s.mo_params, "to") + "\n" + text))
               .substr(0, 24);
    }
    const auto phone = channel::toE164(from, s.default_region);
    json contact = {{"id", from}};
    if (phone) contact["phone"] = *phone;
    json data = {{"channel", "sms"},
                 {"address", phone.value_or(from)},
                 {"contact", contact},
                 {"message", {{"id", id}, {"kind", "text"}, {"text", text}}}};
    events.push_back(channel::cloudEvent("message.received", id, data));
    return events;
  }
  return {Code::kNotFound, "callbacks go to /mo or /dlr"};
}

sdk::Result<std::unique_ptr<SmsHttp>> SmsHttp::create(sdk::Host& host,
                                                      const std::string& /*instance_id*/,
                                                      const json& config) {
  auto settings = parseSettings(config);
  if (!settings) return settings.status();
  auto metrics = channel::Metrics::registerAll(host);
  if (!metrics) return metrics.status();
  auto segments = host.counter("sanjog_sms_segments_total",
                               "SMS segments sent, by encoding (gsm7, ucs2).", {"encoding"});
  if (!segments) return segments.status();
  return std::make_unique<SmsHttp>(host, std::move(settings).value(), *metrics, *segments);
}

sdk::WebhookResponse SmsHttp::handleWebhook(const sdk::WebhookRequest& request) {
  Params params = parseParams(request.query);
  if (request.method == "POST" && !request.body.empty()) {
    for (auto& p : parseParams(request.body)) params.push_back(std::move(p));
  }
  std::string given(request.header("X-Sanjog-Secret").value_or(""));
  if (given.empty()) given = param(params, "secret");
  if (given.empty() || !sdk::crypto::constantTimeEqual(given, settings_.secret)) {
    metrics_.signature_failures.inc({"sms", given.empty() ? "missing" : "mismatch"});
    host_.warn("callback refused: the shared secret is missing or wrong");
    return sdk::WebhookResponse::error(401, Code::kUnauthenticated, "secret is missing or wrong");
  }
  auto events = mapCallback(request.path, params, settings_);
  if (!events) {
    metrics_.events.inc({"sms", "invalid", "rejected"});
    return sdk::WebhookResponse::error(events.status().code() == Code::kNotFound ? 404 : 400,
                                       events.status().code(), events.status().message());
  }
  sdk::WebhookResponse r;
  r.status = 200;
  r.content_type = "text/plain";
  r.body = "";  // Kannel would send a non-empty answer back to the customer as a reply
  for (auto& e : *events) {
    metrics_.events.inc({"sms", e["type"].get<std::string>(), "emitted"});
    r.events.push_back(e.dump());
  }
  return r;
}

DeliveryResult SmsHttp::deliver(const sdk::Delivery& delivery) {
  if (delivery.action != "send") {
    return DeliveryResult::permanent(Code::kInvalidArgument,
                                     "unknown action " + std::string(delivery.action));
  }
  const json event = json::parse(delivery.event, nullptr, false);
  const json& data = event.is_object() && event.contains("data") ? event["data"] : json();
  const json& m = data.is_object() && data.contains("message") ? data["message"] : json();
  const auto to = channel::toE164(str(data, "to"), settings_.default_region);
  if (!to || !m.is_object()) {
    metrics_.sends.inc({"sms", "text", "invalid"});
    return DeliveryResult::permanent(Code::kInvalidArgument, "\"to\" or message is missing");
  }
  std::string text = str(m, "text");
  if (text.empty() && m.contains("interactive") && m["interactive"].is_object()) {
    text = str(m["interactive"], "body");
    int n = 0;
    for (const auto& b : m["interactive"].value("buttons", json::array())) {
      text += "\n" + std::to_string(++n) + ". " + str(b, "title");
    }
  }
  if (text.empty()) {
    metrics_.sends.inc({"sms", "text", "invalid"});
    return DeliveryResult::permanent(Code::kInvalidArgument,
                                     "SMS sends text (no templates or media)");
  }
  const auto seg = channel::sms::segment(text);
  if (seg.segments > settings_.max_segments) {
    metrics_.sends.inc({"sms", "text", "invalid"});
    return DeliveryResult::permanent(Code::kInvalidArgument,
                                     "the text needs " + std::to_string(seg.segments) + " " +
                                         seg.encoding + " segments; this instance allows " +
                                         std::to_string(settings_.max_segments));
  }
  if (const int64_t wait = limiter_.tryAcquire(host_.nowMs()); wait > 0) {
    metrics_.rate_limited.inc({"sms"});
    return DeliveryResult::retry(Code::kRateLimited, "held back by this instance's send rate limit",
                                 wait);
  }
  // Sanjog's id for this message: stable across retries, carried by the DLR URL.
  const std::string id =
      "sj" +
      sdk::crypto::hex(sdk::crypto::sha256(std::string(delivery.idempotency_key))).substr(0, 30);
  const std::map<std::string, std::string> vars = {
      {"to", *to},
      {"to_digits", to->substr(1)},
      {"text", text},
      {"from", settings_.from},
      {"username", settings_.username},
      {"password", settings_.password},
      {"id", id},
      {"coding", std::string(seg.encoding) == "ucs2" ? "2" : "0"},
      {"segments", std::to_string(seg.segments)},
      {"dlr_url", settings_.public_url + "/dlr?id=" + id +
                      "&status=%d&secret=" + channel::percentEncode(settings_.secret)}};
  sdk::HttpRequest req;
  req.method = settings_.method;
  req.url = render(settings_.url, vars, Encoding::kUrl);
  req.timeout_ms = settings_.timeout_ms;
  for (const auto& h : settings_.headers)
    req.headers.push_back({h.name, render(h.value, vars, Encoding::kNone)});
  if (settings_.method == "POST") {
    const bool is_json = settings_.content_type.find("json") != std::string::npos;
    req.body = render(settings_.body, vars, is_json ? Encoding::kJson : Encoding::kUrl);
    req.headers.push_back({"Content-Type", settings_.content_type});
  }
  auto res = host_.http(req);
  if (!res) {
    metrics_.sends.inc({"sms", "text", "error"});
    return DeliveryResult::retry(res.status().code(), res.status().message());
  }
  const bool status_ok = std::find(settings_.success_status.begin(), settings_.success_status.end(),
                                   res->status) != settings_.success_status.end();
  const bool body_ok = settings_.success_contains.empty() ||
                       res->body.find(settings_.success_contains) != std::string::npos;
  if (status_ok && body_ok) {
    std::string provider_id = id;
    if (!settings_.message_id_pointer.empty()) {
      const json answer = json::parse(res->body, nullptr, false);
      try {
        const json& v = answer.at(json::json_pointer(settings_.message_id_pointer));
        provider_id = v.is_string() ? v.get<std::string>() : v.dump();
      } catch (const json::exception&) {
        host_.warn("the gateway's answer has no message id at message_id_pointer");
      }
    }
    metrics_.sends.inc({"sms", "text", "sent"});
    segments_.record({seg.encoding}, seg.segments);
    return DeliveryResult::success(provider_id, res->status);
  }
  std::optional<int64_t> after;
  if (auto h = res->header("Retry-After")) after = sdk::parseRetryAfter(*h, host_.nowMs());
  DeliveryResult r = DeliveryResult::fromHttpStatus(
      status_ok ? 502 : res->status, after,
      "the SMS gateway answered " + std::to_string(res->status) + ": " + res->body.substr(0, 200));
  r.http_status = res->status;
  metrics_.sends.inc({"sms", "text", r.outcome == sdk::Outcome::kRetry ? "retry" : "failed"});
  return r;
}

}  // namespace sanjog::plugins::sms_http
