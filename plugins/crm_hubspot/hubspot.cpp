#include "hubspot.hpp"

#include <charconv>

#include "sanjog/sdk/crypto.hpp"
#include "sanjog/sdk/duration.hpp"

namespace sanjog::plugins::crm_hubspot {

using channel::idText;
using channel::member;
using channel::str;
using nlohmann::json;
using sdk::Code;
using sdk::DeliveryResult;

const char* const kConfigSchema = R"json({
  "$schema": "http://json-schema.org/draft-07/schema#",
  "title": "crm_hubspot",
  "type": "object",
  "additionalProperties": false,
  "required": ["access_token"],
  "properties": {
    "api_base": {
      "type": "string",
      "pattern": "^https?://[^\\s]+$",
      "default": "https://api.hubapi.com",
      "description": "HubSpot API base URL."
    },
    "access_token": {
      "type": "string",
      "minLength": 8,
      "x-secret": true,
      "description": "A private app's access token (scopes: crm.objects.contacts.read/write; notes and communications write through the contacts scope)."
    },
    "client_secret": {
      "type": "string",
      "x-secret": true,
      "default": "",
      "description": "The app's client secret; verifies webhook signatures (v3, or v1/v2). Empty: the instance takes no webhooks (401)."
    },
    "public_url": {
      "type": "string",
      "pattern": "^https?://[^\\s]+$",
      "description": "The exact URL HubSpot calls for this instance, e.g. https://gw.example.com/webhooks/hubspot; v2 and v3 signatures cover it."
    },
    "default_region": {
      "type": "string",
      "pattern": "^[A-Z]{2}$",
      "default": "BD",
      "description": "Region for phone numbers without a country code."
    },
    "rate_limit_per_second": {
      "type": "number",
      "minimum": 0,
      "default": 9,
      "description": "API requests per second from this instance (HubSpot allows 100 per 10 seconds for apps; its own SDK paces at about 9 per second); 0 disables the limit."
    },
    "tolerance": {
      "type": "string",
      "pattern": "^([0-9]+(ms|s|m|h))+$",
      "default": "5m",
      "description": "How old X-HubSpot-Request-Timestamp may be (v3)."
    },
    "timeout": {
      "type": "string",
      "pattern": "^([0-9]+(ms|s|m|h))+$",
      "default": "10s",
      "description": "Time limit for one API request; a timeout is retried."
    }
  },
  "examples": [
    { "access_token": "${env:HUBSPOT_TOKEN}",
      "client_secret": "${env:HUBSPOT_CLIENT_SECRET}",
      "public_url": "https://gateway.example.com/webhooks/hubspot" }
  ]
})json";

namespace {

// The contact part of an event: data.contact (messages) or data.customer
// (orders, checkouts).
json contactOf(const json& data) {
  if (member(data, "contact").is_object()) return data["contact"];
  if (member(data, "customer").is_object()) return data["customer"];
  return json::object();
}

}  // namespace

std::string signatureV3(std::string_view secret, std::string_view method, std::string_view uri,
                        std::string_view body, std::string_view timestamp) {
  std::string data;
  data.append(method).append(uri).append(body).append(timestamp);
  return sdk::crypto::base64Encode(sdk::crypto::hmacSha256(secret, data));
}

std::string signatureV1(std::string_view secret, std::string_view body) {
  return sdk::crypto::hex(sdk::crypto::sha256(std::string(secret) + std::string(body)));
}

std::string signatureV2(std::string_view secret, std::string_view method, std::string_view uri,
                        std::string_view body) {
  std::string data(secret);
  data.append(method).append(uri).append(body);
  return sdk::crypto::hex(sdk::crypto::sha256(data));
}

std::optional<std::string> communicationType(std::string_view channel) {
  if (channel == "whatsapp") return "WHATS_APP";
  if (channel == "sms") return "SMS";
  return std::nullopt;
}

std::vector<json> mapWebhookEvents(const json& batch) {
  std::vector<json> out;
  if (!batch.is_array()) return out;
  for (const auto& e : batch) {
    const std::string type = str(e, "subscriptionType");
    if (type != "contact.propertyChange" && type != "contact.creation") continue;
    const std::string id = idText(member(e, "objectId"));
    const std::string event_id = idText(member(e, "eventId"));
    if (id.empty() || event_id.empty()) continue;
    json data = {{"contact", {{"id", id}}}, {"source", "hubspot"}};
    if (type == "contact.propertyChange") {
      const std::string property = str(e, "propertyName");
      data["changes"] = {{property, member(e, "propertyValue")}};
      if (property == "email") data["contact"]["email"] = str(e, "propertyValue");
      if (property == "phone" || property == "mobilephone") {
        if (auto p = str(e, "propertyValue"); !p.empty() && p.front() == '+')
          data["contact"]["phone"] = p;
      }
    } else {
      data["created"] = true;
    }
    if (auto by = str(e, "changeSource"); !by.empty()) data["change_source"] = by;
    json ev = channel::cloudEvent("contact.updated", "hubspot:" + event_id, data);
    if (auto at = channel::integerField(e, "occurredAt")) ev["time"] = channel::rfc3339(*at);
    out.push_back(std::move(ev));
  }
  return out;
}

sdk::Result<Settings> parseSettings(const json& config) {
  if (!config.is_object()) return {Code::kInvalidArgument, "config must be an object"};
  Settings s;
  try {
    s.api_base = config.value("api_base", s.api_base);
    while (!s.api_base.empty() && s.api_base.back() == '/') s.api_base.pop_back();
    s.access_token = config.value("access_token", "");
    s.client_secret = config.value("client_secret", "");
    s.public_url = config.value("public_url", "");
    while (!s.public_url.empty() && s.public_url.back() == '/') s.public_url.pop_back();
    s.default_region = config.value("default_region", s.default_region);
    s.rate_per_second = config.value("rate_limit_per_second", s.rate_per_second);
  } catch (const json::exception& e) {
    return {Code::kInvalidArgument,
            std::string("config has a value of the wrong type: ") + e.what()};
  }
  if (s.access_token.empty()) return {Code::kInvalidArgument, "access_token is required"};
  auto tolerance = sdk::parseDuration(config.value("tolerance", "5m"));
  auto timeout = sdk::parseDuration(config.value("timeout", "10s"));
  if (!tolerance || !timeout || timeout->count() <= 0) {
    return {Code::kInvalidArgument, "tolerance and timeout must be durations"};
  }
  s.tolerance_ms = tolerance->count();
  s.timeout_ms = static_cast<uint32_t>(std::min<int64_t>(timeout->count(), 600'000));
  return s;
}

sdk::Result<std::unique_ptr<HubSpot>> HubSpot::create(sdk::Host& host,
                                                      const std::string& /*instance_id*/,
                                                      const json& config) {
  auto settings = parseSettings(config);
  if (!settings) return settings.status();
  auto received =
      host.counter("sanjog_hubspot_webhook_events_total",
                   "HubSpot webhook events by result (emitted, ignored).", {"type", "result"});
  if (!received) return received.status();
  auto failures = host.counter("sanjog_hubspot_signature_failures_total",
                               "HubSpot webhooks refused by the signature check.", {"reason"});
  if (!failures) return failures.status();
  auto logged = host.counter("sanjog_hubspot_records_total",
                             "Records written to HubSpot by kind (contact, communication, note) "
                             "and result.",
                             {"kind", "result"});
  if (!logged) return logged.status();
  return std::make_unique<HubSpot>(host, std::move(settings).value(), *received, *failures,
                                   *logged);
}

HubSpot::Call HubSpot::call(const std::string& method, const std::string& path, const json& body) {
  Call c;
  if (const int64_t wait = limiter_.tryAcquire(host_.nowMs()); wait > 0) {
    c.failure =
        DeliveryResult::retry(Code::kRateLimited, "held back by this instance's rate limit", wait);
    return c;
  }
  sdk::HttpRequest req;
  req.method = method;
  req.url = settings_.api_base + path;
  req.timeout_ms = settings_.timeout_ms;
  req.headers = {{"Authorization", "Bearer " + settings_.access_token},
                 {"Content-Type", "application/json"}};
  if (!body.is_null()) req.body = body.dump();
  auto res = host_.http(req);
  if (!res) {
    c.failure = DeliveryResult::retry(res.status().code(), res.status().message());
    return c;
  }
  c.status = res->status;
  c.body = json::parse(res->body, nullptr, false);
  if (res->status >= 200 && res->status < 300) {
    token_.markValid();
    return c;
  }
  std::optional<int64_t> after;
  if (auto h = res->header("Retry-After")) after = sdk::parseRetryAfter(*h, host_.nowMs());
  if (res->status == 429 && !after) after = 10'000;  // HubSpot's rolling ten-second window
  const std::string message = str(c.body, "message").substr(0, 300);
  c.failure = DeliveryResult::fromHttpStatus(
      res->status, after,
      "HubSpot answered " + std::to_string(res->status) + (message.empty() ? "" : ": " + message));
  if (res->status == 401 && token_.markInvalid()) {
    host_.error(
        "HubSpot refused the access token (401); create a new private app token and "
        "reload");
  }
  return c;
}

sdk::Result<std::string> HubSpot::upsert(const json& contact, bool update,
                                         std::optional<DeliveryResult>* failure) {
  std::string phone = str(contact, "phone");
  if (!phone.empty()) phone = channel::toE164(phone, settings_.default_region).value_or(phone);
  const std::string email = str(contact, "email");
  if (phone.empty() && email.empty()) {
    *failure = DeliveryResult::permanent(Code::kInvalidArgument,
                                         "the contact has neither a phone nor an e-mail address");
    return {Code::kInvalidArgument, "no key"};
  }
  const std::string key = "contact:" + (phone.empty() ? email : phone);
  std::optional<std::string> id = host_.kvGet(key);
  if (!id) {
    json groups = json::array();
    if (!phone.empty()) {
      groups.push_back(
          {{"filters", {{{"propertyName", "phone"}, {"operator", "EQ"}, {"value", phone}}}}});
    }
    if (!email.empty()) {
      groups.push_back(
          {{"filters", {{{"propertyName", "email"}, {"operator", "EQ"}, {"value", email}}}}});
    }
    Call found = call("POST", "/crm/v3/objects/contacts/search",
                      {{"filterGroups", groups},
                       {"properties", {"email", "firstname", "lastname", "phone"}},
                       {"limit", 1}});
    if (found.failure) {
      *failure = found.failure;
      return {Code::kUpstreamError, "search failed"};
    }
    const json& results = member(found.body, "results");
    if (results.is_array() && !results.empty()) id = idText(member(results[0], "id"));
  }
  json props = json::object();
  const std::string name = str(contact, "name");
  if (!name.empty()) {
    const size_t space = name.find(' ');
    props["firstname"] = name.substr(0, space);
    if (space != std::string::npos) props["lastname"] = name.substr(space + 1);
  }
  if (!phone.empty()) props["phone"] = phone;
  if (!email.empty()) props["email"] = email;
  if (!id) {
    Call created = call("POST", "/crm/v3/objects/contacts", {{"properties", props}});
    if (created.status == 409) {
      // "Contact already exists. Existing ID: 123"
      const std::string msg = str(created.body, "message");
      const size_t at = msg.rfind("Existing ID: ");
      if (at != std::string::npos) id = msg.substr(at + 13);
    } else if (created.failure) {
      logged_.inc({"contact", "failed"});
      *failure = created.failure;
      return {Code::kUpstreamError, "create failed"};
    } else {
      id = idText(member(created.body, "id"));
      logged_.inc({"contact", "created"});
    }
  } else if (update && !props.empty()) {
    Call patched = call("PATCH", "/crm/v3/objects/contacts/" + *id, {{"properties", props}});
    if (patched.failure) {
      logged_.inc({"contact", "failed"});
      *failure = patched.failure;
      return {Code::kUpstreamError, "update failed"};
    }
    logged_.inc({"contact", "updated"});
  }
  if (!id || id->empty()) {
    *failure = DeliveryResult::retry(Code::kUpstreamError, "HubSpot returned no contact id");
    return {Code::kUpstreamError, "no id"};
  }
  (void)host_.kvPut(key, *id);
  return *id;
}

DeliveryResult HubSpot::deliver(const sdk::Delivery& delivery) {
  const json event = json::parse(delivery.event, nullptr, false);
  if (!event.is_object() || !member(event, "data").is_object()) {
    return DeliveryResult::permanent(Code::kInvalidArgument, "the event has no data object");
  }
  const json& data = event["data"];
  const std::string type = str(event, "type");
  std::optional<DeliveryResult> failure;
  if (delivery.action == "upsert_contact") {
    auto id = upsert(contactOf(data), true, &failure);
    if (!id) return *failure;
    return DeliveryResult::success(*id);
  }
  if (delivery.action != "log_message") {
    return DeliveryResult::permanent(Code::kInvalidArgument,
                                     "unknown action " + std::string(delivery.action));
  }
  if (type != "message.received" && type != "message.send") {
    return DeliveryResult::permanent(Code::kInvalidArgument,
                                     "log_message takes message.received and message.send");
  }
  json contact = contactOf(data);
  if (type == "message.send" && str(contact, "phone").empty() && !str(data, "to").empty() &&
      str(data, "to").front() == '+') {
    contact["phone"] = str(data, "to");
  }
  auto id = upsert(contact, false, &failure);
  if (!id) return *failure;
  const json& m = member(data, "message");
  std::string text = str(m, "text");
  if (text.empty() && member(m, "template").is_object()) {
    text = "[template " + str(m["template"], "name") + "]";
  }
  if (text.empty() && member(m, "attachments").is_array() && !m["attachments"].empty()) {
    text = "[" + str(m["attachments"][0], "kind") + "]";
  }
  if (text.empty())
    text = "[" + (str(m, "kind").empty() ? std::string("message") : str(m, "kind")) + "]";
  const bool inbound = type == "message.received";
  std::string channel_name = str(data, "channel");
  if (channel_name.empty()) channel_name = str(data, "instance");
  std::string time = str(event, "time");
  if (time.empty()) time = channel::rfc3339(host_.nowMs());
  const auto comm = communicationType(str(data, "channel"));
  json body;
  std::string path;
  std::string kind;
  if (comm) {
    path = "/crm/v3/objects/communications";
    kind = "communication";
    body = {
        {"properties",
         {{"hs_communication_channel_type", *comm},
          {"hs_communication_logged_from", "CRM"},
          {"hs_communication_body", (inbound ? "" : "→ ") + text},
          {"hs_timestamp", time}}},
        {"associations",
         {{{"to", {{"id", *id}}},
           {"types", {{{"associationCategory", "HUBSPOT_DEFINED"}, {"associationTypeId", 81}}}}}}}};
  } else {
    path = "/crm/v3/objects/notes";
    kind = "note";
    const std::string who = inbound ? "Customer" : "Sent";
    body = {{"properties",
             {{"hs_timestamp", time},
              {"hs_note_body", who + " (" + (channel_name.empty() ? "channel" : channel_name) +
                                   "): " + text.substr(0, 60000)}}},
            {"associations",
             {{{"to", {{"id", *id}}},
               {"types",
                {{{"associationCategory", "HUBSPOT_DEFINED"}, {"associationTypeId", 202}}}}}}}};
  }
  Call posted = call("POST", path, body);
  if (posted.failure) {
    logged_.inc({kind, "failed"});
    return *posted.failure;
  }
  logged_.inc({kind, "created"});
  return DeliveryResult::success(idText(member(posted.body, "id")), posted.status);
}

sdk::WebhookResponse HubSpot::handleWebhook(const sdk::WebhookRequest& request) {
  if (settings_.client_secret.empty()) {
    return sdk::WebhookResponse::error(401, Code::kUnauthenticated,
                                       "this instance has no client_secret to verify webhooks");
  }
  std::string uri = settings_.public_url + std::string(request.path);
  if (!request.query.empty()) uri += "?" + std::string(request.query);
  const char* reason = nullptr;
  if (auto v3 = request.header("X-HubSpot-Signature-v3")) {
    const std::string ts(request.header("X-HubSpot-Request-Timestamp").value_or(""));
    int64_t ms = 0;
    const bool ts_ok =
        !ts.empty() && std::from_chars(ts.data(), ts.data() + ts.size(), ms).ec == std::errc();
    if (!ts_ok || std::llabs(host_.nowMs() - ms) > settings_.tolerance_ms) {
      reason = "stale";
    } else if (!sdk::crypto::constantTimeEqual(
                   *v3,
                   signatureV3(settings_.client_secret, request.method, uri, request.body, ts))) {
      reason = "mismatch";
    }
  } else if (auto sig = request.header("X-HubSpot-Signature")) {
    const std::string version(request.header("X-HubSpot-Signature-Version").value_or("v1"));
    const std::string expected =
        version == "v2" ? signatureV2(settings_.client_secret, request.method, uri, request.body)
                        : signatureV1(settings_.client_secret, request.body);
    if (!sdk::crypto::constantTimeEqual(*sig, expected)) reason = "mismatch";
  } else {
    reason = "missing";
  }
  if (reason != nullptr) {
    failures_.inc({reason});
    host_.warn(std::string("webhook refused: HubSpot signature ") + reason);
    return sdk::WebhookResponse::error(401, Code::kUnauthenticated,
                                       std::string("the HubSpot signature is ") + reason);
  }
  const json batch = json::parse(request.body, nullptr, false);
  if (!batch.is_array()) {
    received_.inc({"invalid", "rejected"});
    return sdk::WebhookResponse::error(400, Code::kInvalidArgument, "the body is not a JSON array");
  }
  auto events = mapWebhookEvents(batch);
  if (batch.size() > events.size()) {
    received_.record({"other", "ignored"}, static_cast<double>(batch.size() - events.size()));
  }
  sdk::WebhookResponse r = sdk::WebhookResponse::json(200, {{"received", events.size()}});
  for (auto& e : events) {
    received_.inc({"contact.updated", "emitted"});
    r.events.push_back(e.dump());
  }
  return r;
}

sdk::Health HubSpot::health() {
  if (token_.invalid()) {
    return {sdk::HealthState::kDegraded, "HubSpot refused the access token; replace it and reload"};
  }
  return {};
}

}  // namespace sanjog::plugins::crm_hubspot
