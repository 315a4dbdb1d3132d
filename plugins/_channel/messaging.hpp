// The Messenger Platform, shared by channel_messenger (object "page") and
// channel_instagram (object "instagram"): same webhook envelope
// (entry[].messaging[] with sender/recipient/timestamp in ms), same Send API
// body, same 24-hour window with the HUMAN_AGENT tag for up to 7 days.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "channel.hpp"
#include "sanjog/sdk/plugin.hpp"
#include "sanjog/sdk/rate_limiter.hpp"

namespace sanjog::plugins::channel {

struct MessagingSettings {
  std::string channel;      // "messenger" | "instagram"
  std::string object_name;  // "page" | "instagram"
  std::string api_base = "https://graph.facebook.com";
  std::string api_version = "v21.0";
  std::string account_id;  // page id or Instagram professional account id
  std::string access_token;
  std::string app_secret;
  std::string verify_token;
  bool human_agent = false;
  int64_t service_window_ms = 24LL * 3600 * 1000;
  int64_t human_agent_window_ms = 7LL * 24 * 3600 * 1000;
  double rate_per_second = 0;
  double rate_burst = 1;
  int64_t throttle_delay_ms = 60'000;
  uint32_t timeout_ms = 10'000;
  [[nodiscard]] std::string graphUrl(const std::string& path) const {
    return api_base + "/" + api_version + "/" + path;
  }
};

// Parses the config keys both plugins share; `id_key` names the account id
// key ("page_id" or "account_id").
sdk::Result<MessagingSettings> parseMessagingSettings(const nlohmann::json& config,
                                                      const std::string& channel,
                                                      const std::string& object_name,
                                                      const std::string& id_key,
                                                      double default_rate);

// One webhook body as events (pure). Attachments that can be fetched later
// are listed in `media` (media_id -> url, mime hint) for the kv store.
struct MessagingParsed {
  std::vector<nlohmann::json> events;
  struct MediaRef {
    std::string media_id;
    std::string url;
  };
  std::vector<MediaRef> media;
  // Watermarks: (sender, status, watermark ms) to resolve against the outbox.
  struct Watermark {
    std::string sender;
    std::string status;
    int64_t watermark_ms;
  };
  std::vector<Watermark> watermarks;
  int echoes = 0;
  int ignored = 0;
};
sdk::Result<MessagingParsed> parseMessagingWebhook(std::string_view body,
                                                   const MessagingSettings& settings);

// The Send API "message" object for a message.send's data.message (pure).
// `caption` receives a media caption, which goes out as a second message.
sdk::Result<nlohmann::json> buildMessagingMessage(const nlohmann::json& message,
                                                  std::string* caption);

class MessagingChannel {
 public:
  MessagingChannel(sdk::Host& host, MessagingSettings settings, Metrics metrics)
      : host_(host),
        settings_(std::move(settings)),
        metrics_(metrics),
        window_(host),
        limiter_(settings_.rate_per_second, settings_.rate_burst) {}

  sdk::WebhookResponse handleWebhook(const sdk::WebhookRequest& request);
  sdk::DeliveryResult deliver(const sdk::Delivery& delivery);
  sdk::Health health();
  sdk::Result<sdk::Media> fetchMedia(std::string_view media_id, uint64_t max_bytes);

 private:
  sdk::DeliveryResult send(const nlohmann::json& event);
  sdk::DeliveryResult markSeen(const nlohmann::json& event);
  sdk::DeliveryResult post(const nlohmann::json& body, const std::string& kind,
                           std::string* message_id);
  void rememberSent(const std::string& recipient, const std::string& mid, int64_t at_ms);
  std::vector<nlohmann::json> resolveWatermark(const MessagingParsed::Watermark& w);

  sdk::Host& host_;
  const MessagingSettings settings_;
  Metrics metrics_;
  ServiceWindow window_;
  TokenState token_;
  sdk::RateLimiter limiter_;
  std::mutex outbox_mutex_;
};

}  // namespace sanjog::plugins::channel

namespace sanjog::plugins::channel {

// The config schema both plugins declare, differing in the title, the
// account id key and the default send rate.
std::string messagingSchema(const std::string& title, const std::string& id_key,
                            const std::string& id_description, double default_rate,
                            const std::string& rate_description, const std::string& example_id);

}  // namespace sanjog::plugins::channel
