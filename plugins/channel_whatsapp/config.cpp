// channel_whatsapp's config: the declared schema and its conversion into
// Settings (checked again here: a plugin does not trust its input).
#include "sanjog/sdk/duration.hpp"
#include "whatsapp.hpp"

namespace sanjog::plugins::channel_whatsapp {

using sdk::Code;

const char* const kConfigSchema = R"json({
  "$schema": "http://json-schema.org/draft-07/schema#",
  "title": "channel_whatsapp",
  "type": "object",
  "additionalProperties": false,
  "required": ["phone_number_id", "access_token", "app_secret", "verify_token"],
  "properties": {
    "api_base": {
      "type": "string",
      "pattern": "^https?://[^\\s/]+(:[0-9]+)?(/[^\\s]*)?$",
      "default": "https://graph.facebook.com",
      "description": "Graph API base URL, without the version. Change it only for a sandbox or a test server."
    },
    "api_version": {
      "type": "string",
      "pattern": "^v[0-9]+\\.[0-9]+$",
      "default": "v21.0",
      "description": "Graph API version used in every request path."
    },
    "phone_number_id": {
      "type": "string",
      "pattern": "^[0-9]{5,32}$",
      "description": "The business phone number's id (WhatsApp Manager, API setup). Messages go out from it; webhook changes for other numbers of the account are ignored."
    },
    "access_token": {
      "type": "string",
      "minLength": 20,
      "x-secret": true,
      "description": "Access token with whatsapp_business_messaging permission; use a System User token, which does not expire."
    },
    "app_secret": {
      "type": "string",
      "minLength": 16,
      "x-secret": true,
      "description": "The Meta app secret; verifies X-Hub-Signature-256 on every webhook POST."
    },
    "verify_token": {
      "type": "string",
      "minLength": 8,
      "x-secret": true,
      "description": "The verify token typed into the app's webhook settings; answers Meta's subscribe handshake."
    },
    "default_region": {
      "type": "string",
      "pattern": "^[A-Z]{2}$",
      "default": "BD",
      "description": "Region (ISO 3166 code) for recipient numbers written without a country code, such as 01711000001."
    },
    "service_window": {
      "type": "string",
      "pattern": "^([0-9]+(ms|s|m|h|d))+$",
      "default": "24h",
      "description": "The customer-service window after a customer's last message; outside it only templates are sent and anything else fails with reason outside_window."
    },
    "rate_limit_per_second": {
      "type": "number",
      "minimum": 0,
      "default": 80,
      "description": "Sends per second from this number (Cloud API default throughput: 80 messages per second); 0 disables the limit."
    },
    "rate_limit_burst": {
      "type": "integer",
      "minimum": 1,
      "default": 80,
      "description": "How many sends may go out at once before the per-second rate applies."
    },
    "throttle_delay": {
      "type": "string",
      "pattern": "^([0-9]+(ms|s|m|h|d))+$",
      "default": "60s",
      "description": "Wait before retrying after Meta's throttling errors (130429, 131056, 80007) when no Retry-After is given."
    },
    "timeout": {
      "type": "string",
      "pattern": "^([0-9]+(ms|s|m|h))+$",
      "default": "10s",
      "description": "Time limit for one Graph API request; a timeout is retried."
    },
    "preview_url": {
      "type": "boolean",
      "default": false,
      "description": "Show link previews in text messages unless the message says otherwise (message.preview_url)."
    }
  },
  "examples": [
    { "phone_number_id": "109876543210987",
      "access_token": "${env:WHATSAPP_TOKEN}",
      "app_secret": "${file:/etc/sanjog/meta_app_secret}",
      "verify_token": "sanjog-verify-3f9c2a" }
  ]
})json";

namespace {
std::optional<int64_t> durationMs(const nlohmann::json& config, const char* key,
                                  const char* fallback) {
  auto d = sdk::parseDuration(config.value(key, fallback));
  if (!d || d->count() <= 0) return std::nullopt;
  return d->count();
}
}  // namespace

sdk::Result<Settings> parseSettings(const nlohmann::json& config) {
  if (!config.is_object()) return {Code::kInvalidArgument, "config must be an object"};
  Settings s;
  try {
    s.api_base = config.value("api_base", s.api_base);
    while (!s.api_base.empty() && s.api_base.back() == '/') s.api_base.pop_back();
    s.api_version = config.value("api_version", s.api_version);
    s.phone_number_id = config.value("phone_number_id", "");
    s.access_token = config.value("access_token", "");
    s.app_secret = config.value("app_secret", "");
    s.verify_token = config.value("verify_token", "");
    s.default_region = config.value("default_region", s.default_region);
    s.rate_per_second = config.value("rate_limit_per_second", s.rate_per_second);
    s.rate_burst = config.value("rate_limit_burst", s.rate_burst);
    s.preview_url = config.value("preview_url", false);
  } catch (const nlohmann::json::exception& e) {
    return {Code::kInvalidArgument,
            std::string("config has a value of the wrong type: ") + e.what()};
  }
  if (s.api_base.rfind("http://", 0) != 0 && s.api_base.rfind("https://", 0) != 0) {
    return {Code::kInvalidArgument, "api_base must start with http:// or https://"};
  }
  if (s.phone_number_id.empty()) return {Code::kInvalidArgument, "phone_number_id is required"};
  if (s.access_token.empty()) return {Code::kInvalidArgument, "access_token is required"};
  if (s.app_secret.empty()) return {Code::kInvalidArgument, "app_secret is required"};
  if (s.verify_token.empty()) return {Code::kInvalidArgument, "verify_token is required"};
  auto window = durationMs(config, "service_window", "24h");
  auto throttle = durationMs(config, "throttle_delay", "60s");
  auto timeout = durationMs(config, "timeout", "10s");
  if (!window) return {Code::kInvalidArgument, "service_window is not a duration"};
  if (!throttle) return {Code::kInvalidArgument, "throttle_delay is not a duration"};
  if (!timeout) return {Code::kInvalidArgument, "timeout is not a duration"};
  s.service_window_ms = *window;
  s.throttle_delay_ms = *throttle;
  s.timeout_ms = static_cast<uint32_t>(std::min<int64_t>(*timeout, 600'000));
  if (s.rate_per_second < 0) return {Code::kInvalidArgument, "rate_limit_per_second is negative"};
  return s;
}

sdk::Result<std::unique_ptr<WhatsApp>> WhatsApp::create(sdk::Host& host,
                                                        const std::string& /*instance_id*/,
                                                        const nlohmann::json& config) {
  auto settings = parseSettings(config);
  if (!settings) return settings.status();
  auto metrics = channel::Metrics::registerAll(host);
  if (!metrics) return metrics.status();
  return std::make_unique<WhatsApp>(host, std::move(settings).value(), *metrics);
}

}  // namespace sanjog::plugins::channel_whatsapp
