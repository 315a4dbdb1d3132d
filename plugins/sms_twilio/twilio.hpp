// sms_twilio: SMS (and MMS) through Twilio Programmable Messaging.
//
// Inbound: POST /webhooks/{instance} (messages) and /webhooks/{instance}/status
// (status callbacks), form-encoded, verified with X-Twilio-Signature against
// the configured public URL. Outbound: action "send" creates a Message with
// a StatusCallback, after counting segments (max_segments). Media: MMS
// attachments are fetched from Twilio's Media resource with basic auth.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "channel.hpp"
#include "sanjog/sdk/plugin.hpp"
#include "sanjog/sdk/rate_limiter.hpp"

namespace sanjog::plugins::sms_twilio {

extern const char* const kConfigSchema;
inline constexpr const char* kActions = R"(["send"])";
inline constexpr const char* kVersion = "1.0.0";

struct Settings {
  std::string api_base = "https://api.twilio.com";
  std::string account_sid;
  std::string auth_token;
  std::string api_key_sid;     // optional: authenticate sends with an API key
  std::string api_key_secret;  // instead of the auth token
  std::string from;            // E.164 sender, or
  std::string messaging_service_sid;
  std::string public_url;  // what Twilio calls for this instance (signatures)
  bool status_callback = true;
  std::string default_region = "BD";
  int max_segments = 5;
  double rate_per_second = 10;
  uint32_t timeout_ms = 10'000;
};

sdk::Result<Settings> parseSettings(const nlohmann::json& config);

using Params = std::vector<std::pair<std::string, std::string>>;
// Decodes an application/x-www-form-urlencoded body (or query string).
Params parseForm(std::string_view body);
std::string formEncode(const Params& params);

// base64(HMAC-SHA1(auth_token, url + sorted name+value pairs)), repeated
// names contributing each distinct value in sorted order.
std::string signature(std::string_view auth_token, std::string_view url, const Params& params);
// Accepts the URL as configured and with the default port added or removed.
bool verify(std::string_view header, std::string_view auth_token, const std::string& url,
            const Params& params);

// One request's events (pure): a status callback or an inbound message.
sdk::Result<std::vector<nlohmann::json>> mapRequest(const Params& params, const Settings& settings);

class Twilio {
 public:
  static sdk::Result<std::unique_ptr<Twilio>> create(sdk::Host& host,
                                                     const std::string& instance_id,
                                                     const nlohmann::json& config);
  sdk::WebhookResponse handleWebhook(const sdk::WebhookRequest& request);
  sdk::DeliveryResult deliver(const sdk::Delivery& delivery);
  sdk::Health health();
  sdk::Result<sdk::Media> fetchMedia(std::string_view media_id, uint64_t max_bytes);

  Twilio(sdk::Host& host, Settings settings, channel::Metrics metrics, sdk::Metric segments)
      : host_(host),
        settings_(std::move(settings)),
        metrics_(metrics),
        segments_(segments),
        limiter_(settings_.rate_per_second, std::max(1.0, settings_.rate_per_second)) {}

 private:
  [[nodiscard]] std::string basicAuth() const;

  sdk::Host& host_;
  const Settings settings_;
  channel::Metrics metrics_;
  sdk::Metric segments_;  // sanjog_sms_segments_total{encoding}
  channel::TokenState token_;
  sdk::RateLimiter limiter_;
};

}  // namespace sanjog::plugins::sms_twilio
