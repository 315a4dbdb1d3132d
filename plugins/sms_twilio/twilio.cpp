#include "twilio.hpp"

#include <algorithm>
#include <set>

#include "sanjog/sdk/crypto.hpp"
#include "sanjog/sdk/duration.hpp"
#include "sms.hpp"

namespace sanjog::plugins::sms_twilio {

using channel::str;
using nlohmann::json;
using sdk::Code;
using sdk::DeliveryResult;

const char* const kConfigSchema = R"json({
  "$schema": "http://json-schema.org/draft-07/schema#",
  "title": "sms_twilio",
  "type": "object",
  "additionalProperties": false,
  "required": ["account_sid", "auth_token", "public_url"],
  "properties": {
    "api_base": {
      "type": "string",
      "pattern": "^https?://[^\\s/]+(:[0-9]+)?(/[^\\s]*)?$",
      "default": "https://api.twilio.com",
      "description": "Twilio REST API base URL (the 2010-04-01 API)."
    },
    "account_sid": {
      "type": "string",
      "pattern": "^AC[0-9a-fA-F]{32}$",
      "description": "The account SID (AC...)."
    },
    "auth_token": {
      "type": "string",
      "minLength": 16,
      "x-secret": true,
      "description": "The account's auth token: verifies X-Twilio-Signature, and authenticates sends unless an API key is given."
    },
    "api_key_sid": {
      "type": "string",
      "pattern": "^SK[0-9a-fA-F]{32}$",
      "description": "Optional API key SID (SK...) for sends, so the auth token is only used to check signatures."
    },
    "api_key_secret": {
      "type": "string",
      "x-secret": true,
      "description": "The secret of api_key_sid."
    },
    "from": {
      "type": "string",
      "description": "Sender: a Twilio number in E.164 or an alphanumeric sender id. Give this or messaging_service_sid."
    },
    "messaging_service_sid": {
      "type": "string",
      "pattern": "^MG[0-9a-fA-F]{32}$",
      "description": "A Messaging Service (MG...) that picks the sender; used when from is not set."
    },
    "public_url": {
      "type": "string",
      "pattern": "^https?://[^\\s]+$",
      "description": "The exact public URL Twilio calls for this instance, e.g. https://gw.example.com/webhooks/sms. Signatures are computed over it (a proxy changes what Sanjog sees); status callbacks go to public_url + \"/status\"."
    },
    "status_callback": {
      "type": "boolean",
      "default": true,
      "description": "Ask Twilio for delivery status callbacks (message.status)."
    },
    "default_region": {
      "type": "string",
      "pattern": "^[A-Z]{2}$",
      "default": "BD",
      "description": "Region for recipient numbers written without a country code."
    },
    "max_segments": {
      "type": "integer",
      "minimum": 1,
      "maximum": 10,
      "default": 5,
      "description": "Longest text sent, in segments (GSM-7: 160 characters in one, 153 each when longer; Bengali and other UCS-2 text: 70, then 67); longer ones fail permanently before any request."
    },
    "rate_limit_per_second": {
      "type": "number",
      "minimum": 0,
      "default": 10,
      "description": "Sends per second (Twilio queues above a sender's throughput: 1/s for a US long code, more for short codes and Messaging Services); 0 disables the limit."
    },
    "timeout": {
      "type": "string",
      "pattern": "^([0-9]+(ms|s|m|h))+$",
      "default": "10s",
      "description": "Time limit for one REST request; a timeout is retried."
    }
  },
  "examples": [
    { "account_sid": "ACbe0a5e11e4c6be006090910c972360c9",
      "auth_token": "${env:TWILIO_AUTH_TOKEN}",
      "from": "+14155550123",
      "public_url": "https://gateway.example.com/webhooks/sms" }
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
  out.reserve(in.size());
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

std::string param(const Params& params, std::string_view name) {
  for (const auto& [k, v] : params) {
    if (k == name) return v;
  }
  return {};
}

std::string stripChannel(std::string address) {
  if (auto colon = address.find(':'); colon != std::string::npos && address[0] != '+') {
    address = address.substr(colon + 1);  // "whatsapp:+880..." -> "+880..."
  }
  return address;
}

// The URL with its default port added, or removed when present.
std::string togglePort(const std::string& url) {
  const bool https = url.rfind("https://", 0) == 0;
  const size_t host_start = https ? 8 : 7;
  const size_t path = url.find_first_of("/?", host_start);
  const std::string host = url.substr(host_start, path - host_start);
  const std::string rest = path == std::string::npos ? "" : url.substr(path);
  const std::string port = https ? ":443" : ":80";
  if (host.size() > port.size() &&
      host.compare(host.size() - port.size(), port.size(), port) == 0) {
    return url.substr(0, host_start) + host.substr(0, host.size() - port.size()) + rest;
  }
  if (host.find(':') != std::string::npos) return url;  // another port: no variant
  return url.substr(0, host_start) + host + port + rest;
}

const char* statusFor(const std::string& twilio) {
  if (twilio == "sent") return "sent";
  if (twilio == "delivered") return "delivered";
  if (twilio == "read") return "read";
  if (twilio == "failed" || twilio == "undelivered") return "failed";
  if (twilio == "queued" || twilio == "accepted" || twilio == "scheduled" || twilio == "sending") {
    return "accepted";
  }
  return nullptr;
}

}  // namespace

Params parseForm(std::string_view body) {
  Params out;
  while (!body.empty()) {
    const size_t amp = body.find('&');
    const std::string_view pair = body.substr(0, amp);
    if (!pair.empty()) {
      const size_t eq = pair.find('=');
      out.emplace_back(decode(pair.substr(0, eq)),
                       eq == std::string_view::npos ? std::string() : decode(pair.substr(eq + 1)));
    }
    if (amp == std::string_view::npos) break;
    body.remove_prefix(amp + 1);
  }
  return out;
}

std::string formEncode(const Params& params) {
  std::string out;
  for (const auto& [k, v] : params) {
    if (!out.empty()) out += '&';
    out += channel::percentEncode(k) + "=" + channel::percentEncode(v);
  }
  return out;
}

std::string signature(std::string_view auth_token, std::string_view url, const Params& params) {
  std::map<std::string, std::set<std::string>> sorted;
  for (const auto& [k, v] : params) sorted[k].insert(v);
  std::string data(url);
  for (const auto& [k, values] : sorted) {
    for (const auto& v : values) data += k + v;
  }
  return sdk::crypto::base64Encode(sdk::crypto::hmacSha1(auth_token, data));
}

bool verify(std::string_view header, std::string_view auth_token, const std::string& url,
            const Params& params) {
  if (header.empty()) return false;
  if (sdk::crypto::constantTimeEqual(header, signature(auth_token, url, params))) return true;
  const std::string other = togglePort(url);
  return other != url &&
         sdk::crypto::constantTimeEqual(header, signature(auth_token, other, params));
}

sdk::Result<Settings> parseSettings(const json& config) {
  if (!config.is_object()) return {Code::kInvalidArgument, "config must be an object"};
  Settings s;
  try {
    s.api_base = config.value("api_base", s.api_base);
    while (!s.api_base.empty() && s.api_base.back() == '/') s.api_base.pop_back();
    s.account_sid = config.value("account_sid", "");
    s.auth_token = config.value("auth_token", "");
    s.api_key_sid = config.value("api_key_sid", "");
    s.api_key_secret = config.value("api_key_secret", "");
    s.from = config.value("from", "");
    s.messaging_service_sid = config.value("messaging_service_sid", "");
    s.public_url = config.value("public_url", "");
    while (!s.public_url.empty() && s.public_url.back() == '/') s.public_url.pop_back();
    s.status_callback = config.value("status_callback", true);
    s.default_region = config.value("default_region", s.default_region);
    s.max_segments = config.value("max_segments", s.max_segments);
    s.rate_per_second = config.value("rate_limit_per_second", s.rate_per_second);
  } catch (const json::exception& e) {
    return {Code::kInvalidArgument,
            std::string("config has a value of the wrong type: ") + e.what()};
  }
  if (s.account_sid.empty() || s.auth_token.empty()) {
    return {Code::kInvalidArgument, "account_sid and auth_token are required"};
  }
  if (s.public_url.rfind("http://", 0) != 0 && s.public_url.rfind("https://", 0) != 0) {
    return {Code::kInvalidArgument, "public_url must be the http(s) URL Twilio calls"};
  }
  if (s.from.empty() && s.messaging_service_sid.empty()) {
    return {Code::kInvalidArgument, "give from or messaging_service_sid"};
  }
  if (s.api_key_sid.empty() != s.api_key_secret.empty()) {
    return {Code::kInvalidArgument, "api_key_sid and api_key_secret go together"};
  }
  if (s.max_segments < 1) return {Code::kInvalidArgument, "max_segments must be at least 1"};
  auto timeout = sdk::parseDuration(config.value("timeout", "10s"));
  if (!timeout || timeout->count() <= 0)
    return {Code::kInvalidArgument, "timeout is not a duration"};
  s.timeout_ms = static_cast<uint32_t>(std::min<int64_t>(timeout->count(), 600'000));
  return s;
}

sdk::Result<std::vector<json>> mapRequest(const Params& params, const Settings& settings) {
  const std::string sid =
      param(params, "MessageSid").empty() ? param(params, "SmsSid") : param(params, "MessageSid");
  if (sid.empty()) return {Code::kInvalidArgument, "MessageSid is required"};
  if (!settings.account_sid.empty() && !param(params, "AccountSid").empty() &&
      param(params, "AccountSid") != settings.account_sid) {
    return {Code::kInvalidArgument, "AccountSid is not this instance's account"};
  }
  std::vector<json> events;
  if (const std::string status = param(params, "MessageStatus"); !status.empty()) {
    const char* mapped = statusFor(status);
    if (mapped == nullptr) return events;  // e.g. "receiving": nothing to report
    json data = {{"channel", "sms"}, {"provider_message_id", sid}, {"status", mapped}};
    const std::string to = stripChannel(param(params, "To"));
    if (!to.empty()) data["recipient"] = channel::toE164(to, settings.default_region).value_or(to);
    if (auto code = param(params, "ErrorCode"); !code.empty()) {
      json err = {{"code", code}};
      if (code == "21610") err["reason"] = "the recipient has opted out (STOP)";
      if (auto m = param(params, "ErrorMessage"); !m.empty()) err["reason"] = m;
      data["error"] = err;
    }
    events.push_back(channel::cloudEvent("message.status", sid + ":" + status, data));
    return events;
  }
  const std::string from = stripChannel(param(params, "From"));
  if (from.empty()) return {Code::kInvalidArgument, "From is required"};
  const auto phone = channel::toE164(from, settings.default_region);
  json contact = {{"id", from}};
  if (phone) contact["phone"] = *phone;
  json msg = {{"id", sid}, {"kind", "text"}, {"text", param(params, "Body")}};
  const int media = static_cast<int>(
      std::clamp<long>(std::strtol(param(params, "NumMedia").c_str(), nullptr, 10), 0, 10));
  if (media > 0) {
    json list = json::array();
    for (int i = 0; i < std::min(media, 10); ++i) {
      const std::string url = param(params, "MediaUrl" + std::to_string(i));
      const std::string type = param(params, "MediaContentType" + std::to_string(i));
      json a = {{"kind", type.rfind("image/", 0) == 0   ? "image"
                         : type.rfind("audio/", 0) == 0 ? "audio"
                         : type.rfind("video/", 0) == 0 ? "video"
                                                        : "document"}};
      if (!type.empty()) a["mime_type"] = type;
      // ".../Messages/MM.../Media/ME..." -> media id "MM...:ME..."
      if (auto m = url.find("/Media/"); m != std::string::npos) {
        a["media_id"] = sid + ":" + url.substr(m + 7);
      }
      list.push_back(a);
    }
    msg["attachments"] = list;
    if (msg["text"] == "") msg["kind"] = list[0]["kind"];
  }
  if (auto n = param(params, "NumSegments"); !n.empty()) {
    msg["segments"] = std::clamp<long>(std::strtol(n.c_str(), nullptr, 10), 0, 1000);
  }
  json data = {{"channel", "sms"},
               {"address", phone.value_or(from)},
               {"contact", contact},
               {"message", msg}};
  events.push_back(channel::cloudEvent("message.received", sid, data));
  return events;
}

sdk::Result<std::unique_ptr<Twilio>> Twilio::create(sdk::Host& host,
                                                    const std::string& /*instance_id*/,
                                                    const json& config) {
  auto settings = parseSettings(config);
  if (!settings) return settings.status();
  auto metrics = channel::Metrics::registerAll(host);
  if (!metrics) return metrics.status();
  auto segments = host.counter("sanjog_sms_segments_total",
                               "SMS segments sent, by encoding (gsm7, ucs2).", {"encoding"});
  if (!segments) return segments.status();
  return std::make_unique<Twilio>(host, std::move(settings).value(), *metrics, *segments);
}

sdk::WebhookResponse Twilio::handleWebhook(const sdk::WebhookRequest& request) {
  if (request.method != "POST") {
    return sdk::WebhookResponse::error(405, Code::kInvalidArgument, "Twilio webhooks are POSTs");
  }
  const Params params = parseForm(request.body);
  std::string url = settings_.public_url + std::string(request.path);
  if (!request.query.empty()) url += "?" + std::string(request.query);
  const auto header = request.header("X-Twilio-Signature");
  if (!header || !verify(*header, settings_.auth_token, url, params)) {
    metrics_.signature_failures.inc({"sms", header ? "mismatch" : "missing"});
    host_.warn(std::string("webhook refused: X-Twilio-Signature is ") +
               (header ? "wrong (is public_url the URL Twilio calls?)" : "missing"));
    return sdk::WebhookResponse::error(401, Code::kUnauthenticated,
                                       "X-Twilio-Signature does not match");
  }
  auto events = mapRequest(params, settings_);
  if (!events) {
    metrics_.events.inc({"sms", "invalid", "rejected"});
    return sdk::WebhookResponse::error(400, Code::kInvalidArgument, events.status().message());
  }
  sdk::WebhookResponse r;
  r.status = 200;
  // An empty TwiML answer: Twilio sends no automatic reply.
  r.content_type = "text/xml";
  r.body = R"(<?xml version="1.0" encoding="UTF-8"?><Response></Response>)";
  for (auto& e : *events) {
    metrics_.events.inc({"sms", e["type"].get<std::string>(), "emitted"});
    r.events.push_back(e.dump());
  }
  return r;
}

std::string Twilio::basicAuth() const {
  const std::string user =
      settings_.api_key_sid.empty() ? settings_.account_sid : settings_.api_key_sid;
  const std::string pass =
      settings_.api_key_sid.empty() ? settings_.auth_token : settings_.api_key_secret;
  return "Basic " + sdk::crypto::base64Encode(user + ":" + pass);
}

DeliveryResult Twilio::deliver(const sdk::Delivery& delivery) {
  if (delivery.action != "send") {
    return DeliveryResult::permanent(Code::kInvalidArgument,
                                     "unknown action " + std::string(delivery.action));
  }
  const json event = json::parse(delivery.event, nullptr, false);
  const json& data = event.is_object() && event.contains("data") ? event["data"] : json();
  const json& m = data.is_object() && data.contains("message") ? data["message"] : json();
  if (!m.is_object()) {
    return DeliveryResult::permanent(Code::kInvalidArgument, "message.send has no message");
  }
  const auto to = channel::toE164(str(data, "to"), settings_.default_region);
  if (!to) {
    metrics_.sends.inc({"sms", "text", "invalid"});
    return DeliveryResult::permanent(Code::kInvalidArgument, "\"to\" is not a phone number");
  }
  std::string body = str(m, "text");
  std::string media_url;
  if (m.contains("media") && m["media"].is_object()) {
    media_url = str(m["media"], "url");
    if (body.empty()) body = str(m["media"], "caption");
  } else if (m.contains("interactive") && m["interactive"].is_object()) {
    // SMS has no buttons: the choices become numbered lines.
    const json& in = m["interactive"];
    body = str(in, "body");
    int n = 0;
    auto add = [&](const json& b) { body += "\n" + std::to_string(++n) + ". " + str(b, "title"); };
    if (in.contains("buttons") && in["buttons"].is_array()) {
      for (const auto& b : in["buttons"]) add(b);
    }
    if (in.contains("sections") && in["sections"].is_array()) {
      for (const auto& s : in["sections"]) {
        if (s.contains("rows") && s["rows"].is_array()) {
          for (const auto& r : s["rows"]) add(r);
        }
      }
    }
  } else if (m.contains("template")) {
    metrics_.sends.inc({"sms", "template", "invalid"});
    return DeliveryResult::permanent(Code::kInvalidArgument,
                                     "SMS has no templates: give the text to send");
  }
  if (body.empty() && media_url.empty()) {
    metrics_.sends.inc({"sms", "text", "invalid"});
    return DeliveryResult::permanent(Code::kInvalidArgument, "nothing to send");
  }
  const auto seg = channel::sms::segment(body);
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
  Params form = {{"To", *to}};
  if (!settings_.from.empty()) {
    form.emplace_back("From", settings_.from);
  } else {
    form.emplace_back("MessagingServiceSid", settings_.messaging_service_sid);
  }
  if (!body.empty()) form.emplace_back("Body", body);
  if (!media_url.empty()) form.emplace_back("MediaUrl", media_url);
  if (settings_.status_callback)
    form.emplace_back("StatusCallback", settings_.public_url + "/status");
  sdk::HttpRequest req;
  req.url = settings_.api_base + "/2010-04-01/Accounts/" + settings_.account_sid + "/Messages.json";
  req.timeout_ms = settings_.timeout_ms;
  req.headers = {{"Authorization", basicAuth()},
                 {"Content-Type", "application/x-www-form-urlencoded"}};
  req.body = formEncode(form);
  const std::string kind = media_url.empty() ? "text" : "media";
  auto res = host_.http(req);
  if (!res) {
    metrics_.sends.inc({"sms", kind, "error"});
    return DeliveryResult::retry(res.status().code(), res.status().message());
  }
  const json answer = json::parse(res->body, nullptr, false);
  if (res->status >= 200 && res->status < 300) {
    token_.markValid();
    metrics_.sends.inc({"sms", kind, "sent"});
    segments_.record({seg.encoding}, seg.segments);
    return DeliveryResult::success(str(answer, "sid"), res->status);
  }
  const int64_t code = channel::integerField(answer, "code").value_or(0);
  const std::string text = "Twilio answered " + std::to_string(res->status) +
                           (code ? " (error " + std::to_string(code) + "): " : ": ") +
                           str(answer, "message").substr(0, 300);
  DeliveryResult r;
  if (res->status == 429 || code == 20429) {
    std::optional<int64_t> after;
    if (auto h = res->header("Retry-After")) after = sdk::parseRetryAfter(*h, host_.nowMs());
    r = DeliveryResult::retry(Code::kRateLimited, text, after.value_or(60'000));
  } else if (res->status == 401 || code == 20003) {
    r = DeliveryResult::permanent(Code::kUnauthenticated, text);
    if (token_.markInvalid()) {
      host_.error("Twilio refused the credentials (" + text +
                  "); check account_sid and auth_token (or the API key) and reload");
    }
  } else if (res->status >= 500) {
    r = DeliveryResult::retry(Code::kUpstreamError, text);
  } else if (code == 21610) {
    r = DeliveryResult::permanent(Code::kInvalidArgument,
                                  text + " (the recipient replied STOP; do not send again)");
  } else {
    r = DeliveryResult::permanent(res->status == 404 ? Code::kNotFound : Code::kInvalidArgument,
                                  text);
  }
  r.http_status = res->status;
  metrics_.sends.inc({"sms", kind, r.outcome == sdk::Outcome::kRetry ? "retry" : "failed"});
  return r;
}

sdk::Health Twilio::health() {
  if (token_.invalid()) {
    return {sdk::HealthState::kDegraded, "Twilio refused the credentials; fix them and reload"};
  }
  return {};
}

sdk::Result<sdk::Media> Twilio::fetchMedia(std::string_view media_id, uint64_t max_bytes) {
  const size_t colon = media_id.find(':');
  const std::string message(media_id.substr(0, colon));
  const std::string media(colon == std::string_view::npos ? "" : media_id.substr(colon + 1));
  auto sidLike = [](const std::string& s, const char* prefix) {
    return s.size() == 34 && s.rfind(prefix, 0) == 0 &&
           s.find_first_not_of("0123456789abcdefABCDEF", 2) == std::string::npos;
  };
  if (!(sidLike(message, "MM") || sidLike(message, "SM")) || !sidLike(media, "ME")) {
    return {Code::kNotFound, "not a Twilio media id (MM...:ME...)"};
  }
  sdk::HttpRequest req;
  req.method = "GET";
  req.url = settings_.api_base + "/2010-04-01/Accounts/" + settings_.account_sid + "/Messages/" +
            message + "/Media/" + media;
  req.timeout_ms = settings_.timeout_ms;
  req.headers = {{"Authorization", basicAuth()}};
  auto res = host_.http(req);
  if (!res) return res.status();
  if (res->status == 404) return {Code::kNotFound, "Twilio has no such media"};
  if (res->status == 301 || res->status == 302 || res->status == 307) {
    // Twilio redirects media to its CDN with a short-lived signed URL (no auth needed).
    auto location = res->header("Location");
    if (!location) return {Code::kUpstreamError, "a media redirect without Location"};
    sdk::HttpRequest get;
    get.method = "GET";
    get.url = std::string(*location);
    get.timeout_ms = settings_.timeout_ms;
    res = host_.http(get);
    if (!res) return res.status();
  }
  if (res->status != 200) {
    return {Code::kUpstreamError, "the media download answered " + std::to_string(res->status)};
  }
  if (res->body.size() > max_bytes)
    return {Code::kInvalidArgument, "the file is larger than the limit"};
  sdk::Media m;
  if (auto ct = res->header("Content-Type")) m.content_type = std::string(*ct);
  m.body = std::move(res->body);
  return m;
}

}  // namespace sanjog::plugins::sms_twilio
