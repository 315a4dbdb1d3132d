// channel_whatsapp: the WhatsApp Cloud API (Meta Graph API) as a channel.
//
// Inbound (webhook): Meta's GET subscribe handshake; POSTs signed with
// X-Hub-Signature-256 carrying messages (-> message.received) and statuses
// of messages Sanjog sent (-> message.status). Outbound (deliver): action
// "send" for message.send (text, template, media, interactive buttons and
// lists, reply context) within the 24-hour customer-service window, and
// "mark_read" for a received message. Media: fetchMedia resolves a media id
// to its download URL and streams the file with the access token.
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "channel.hpp"
#include "sanjog/sdk/plugin.hpp"
#include "sanjog/sdk/rate_limiter.hpp"

namespace sanjog::plugins::channel_whatsapp {

extern const char* const kConfigSchema;
inline constexpr const char* kActions = R"(["send","mark_read"])";
inline constexpr const char* kVersion = "1.0.0";

struct Settings {
  std::string api_base = "https://graph.facebook.com";
  std::string api_version = "v21.0";
  std::string phone_number_id;
  std::string access_token;
  std::string app_secret;
  std::string verify_token;
  std::string default_region = "BD";
  int64_t service_window_ms = 24LL * 3600 * 1000;
  double rate_per_second = 80;
  double rate_burst = 80;
  int64_t throttle_delay_ms = 60'000;
  uint32_t timeout_ms = 10'000;
  bool preview_url = false;
  [[nodiscard]] std::string graphUrl(const std::string& path) const {
    return api_base + "/" + api_version + "/" + path;
  }
};

sdk::Result<Settings> parseSettings(const nlohmann::json& config);

// Turns one webhook body into CloudEvents (pure; the plugin adds the window
// bookkeeping). `unsupported` counts items kept as kind "unsupported".
struct Parsed {
  std::vector<nlohmann::json> events;
  int ignored = 0;
};
sdk::Result<Parsed> parseWebhook(std::string_view body, const Settings& settings);

// Builds the Graph API body for a message.send event's data (pure).
// `to` is already the recipient's number without '+'.
sdk::Result<nlohmann::json> buildSendBody(const nlohmann::json& data, const std::string& to,
                                          const Settings& settings);

class WhatsApp {
 public:
  static sdk::Result<std::unique_ptr<WhatsApp>> create(sdk::Host& host,
                                                       const std::string& instance_id,
                                                       const nlohmann::json& config);
  sdk::WebhookResponse handleWebhook(const sdk::WebhookRequest& request);
  sdk::DeliveryResult deliver(const sdk::Delivery& delivery);
  sdk::Health health();
  sdk::Result<sdk::Media> fetchMedia(std::string_view media_id, uint64_t max_bytes);

  WhatsApp(sdk::Host& host, Settings settings, channel::Metrics metrics)
      : host_(host),
        settings_(std::move(settings)),
        metrics_(metrics),
        window_(host),
        limiter_(settings_.rate_per_second, settings_.rate_burst) {}

 private:
  sdk::DeliveryResult send(const nlohmann::json& event);
  sdk::DeliveryResult markRead(const nlohmann::json& event);
  sdk::DeliveryResult post(const nlohmann::json& body, const std::string& kind);

  sdk::Host& host_;
  const Settings settings_;
  channel::Metrics metrics_;
  channel::ServiceWindow window_;
  channel::TokenState token_;
  sdk::RateLimiter limiter_;
};

}  // namespace sanjog::plugins::channel_whatsapp
