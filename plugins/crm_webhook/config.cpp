// crm_webhook's config: the schema it declares, and its conversion into
// Settings (checked again here: a plugin does not trust its input).
#include "crm_webhook.hpp"
#include "sanjog/sdk/duration.hpp"
#include "sanjog/sdk/standard_webhooks.hpp"

namespace sanjog::plugins::crm_webhook {

namespace sw = sdk::standard_webhooks;
using sdk::Code;

const char* const kConfigSchema = R"json({
  "$schema": "http://json-schema.org/draft-07/schema#",
  "title": "crm_webhook",
  "type": "object",
  "additionalProperties": false,
  "required": ["secret"],
  "properties": {
    "url": {
      "type": "string",
      "pattern": "^https?://[^\\s]+$",
      "description": "Where routed events are POSTed (http or https). Leave out for an instance that only receives."
    },
    "secret": {
      "type": "string",
      "pattern": "^(whsec_)?[A-Za-z0-9+/]+={0,2}$",
      "x-secret": true,
      "description": "Standard Webhooks secret, \"whsec_\" + base64 of at least 16 random bytes; signs outbound and verifies inbound requests."
    },
    "timeout": {
      "type": "string",
      "pattern": "^([0-9]+(ms|s|m|h))+$",
      "default": "10s",
      "description": "Time limit for one outbound request; a timeout is retried."
    },
    "tolerance": {
      "type": "string",
      "pattern": "^([0-9]+(ms|s|m|h))+$",
      "default": "5m",
      "description": "How far an inbound webhook-timestamp may be from the current time before the request is refused (401)."
    },
    "headers": {
      "type": "object",
      "additionalProperties": { "type": "string" },
      "x-secret": true,
      "default": {},
      "description": "Extra headers on every outbound request, for example an API key the CRM wants."
    },
    "accept_types": {
      "type": "array",
      "items": { "type": "string", "pattern": "^[a-z0-9]+(\\.[a-z0-9_]+)+$" },
      "uniqueItems": true,
      "default": [],
      "description": "Event types accepted inbound; others are refused with 422. Empty: every type."
    },
    "content_type": {
      "type": "string",
      "default": "application/json",
      "description": "Content-Type of outbound bodies built by a route template (events themselves go as application/cloudevents+json)."
    }
  },
  "examples": [
    { "url": "https://crm.example.com/sanjog/events",
      "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" }
  ]
})json";

std::optional<std::chrono::milliseconds> parseDuration(const std::string& text) {
  return sdk::parseDuration(text);
}

sdk::Result<Settings> parseSettings(const nlohmann::json& config) {
  if (!config.is_object()) return {Code::kInvalidArgument, "config must be an object"};
  Settings s;
  s.url = config.value("url", "");
  if (!s.url.empty() && s.url.rfind("http://", 0) != 0 && s.url.rfind("https://", 0) != 0) {
    return {Code::kInvalidArgument, "url must start with http:// or https://"};
  }
  auto key = sw::decodeSecret(config.value("secret", ""));
  if (!key) {
    return {Code::kInvalidArgument, "secret must be \"whsec_\" + base64 of at least 16 bytes"};
  }
  s.key = std::move(*key);
  auto timeout = parseDuration(config.value("timeout", "10s"));
  auto tolerance = parseDuration(config.value("tolerance", "5m"));
  if (!timeout || timeout->count() == 0)
    return {Code::kInvalidArgument, "timeout is not a duration"};
  if (!tolerance) return {Code::kInvalidArgument, "tolerance is not a duration"};
  s.timeout = *timeout;
  s.tolerance = *tolerance;
  if (config.contains("headers")) {
    for (const auto& [name, value] : config["headers"].items()) {
      if (!value.is_string())
        return {Code::kInvalidArgument, "headers." + name + " must be a string"};
      s.headers.push_back({name, value.get<std::string>()});
    }
  }
  if (config.contains("accept_types")) {
    for (const auto& t : config["accept_types"]) {
      if (!t.is_string()) return {Code::kInvalidArgument, "accept_types must be strings"};
      s.accept_types.push_back(t.get<std::string>());
    }
  }
  s.content_type = config.value("content_type", "application/json");
  return s;
}

sdk::Result<std::unique_ptr<CrmWebhook>> CrmWebhook::create(sdk::Host& host,
                                                            const std::string& /*instance_id*/,
                                                            const nlohmann::json& config) {
  auto settings = parseSettings(config);
  if (!settings) return settings.status();
  auto failures =
      host.counter("sanjog_crm_webhook_signature_failures_total",
                   "Inbound requests refused by the Standard Webhooks check.", {"reason"});
  if (!failures) return failures.status();
  auto received =
      host.counter("sanjog_crm_webhook_received_total",
                   "Inbound CloudEvents by result (accepted, refused type).", {"result"});
  if (!received) return received.status();
  return std::make_unique<CrmWebhook>(host, std::move(settings).value(), *failures, *received);
}

}  // namespace sanjog::plugins::crm_webhook
