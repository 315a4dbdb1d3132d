// channel_telegram: a Telegram bot as a channel.
//
// Inbound (webhook): one Update per POST, authenticated by the
// X-Telegram-Bot-Api-Secret-Token header set with setWebhook's secret_token;
// messages, edits and inline-button callbacks become message.received
// (callbacks are acknowledged in the webhook answer itself, so the button
// stops spinning). Outbound: action "send" (sendMessage, sendPhoto,
// sendDocument, sendAudio, sendVideo, sendVoice, sendSticker, inline
// keyboards, replies). Media: getFile, then the file download.
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "channel.hpp"
#include "sanjog/sdk/plugin.hpp"
#include "sanjog/sdk/rate_limiter.hpp"

namespace sanjog::plugins::channel_telegram {

extern const char* const kConfigSchema;
inline constexpr const char* kActions = R"(["send"])";
inline constexpr const char* kVersion = "1.0.0";

struct Settings {
  std::string api_base = "https://api.telegram.org";
  std::string bot_token;
  std::string secret_token;
  std::string default_region = "BD";
  std::string parse_mode;  // "", "HTML", "MarkdownV2"
  double rate_per_second = 30;
  double rate_burst = 30;
  uint32_t timeout_ms = 10'000;
  [[nodiscard]] std::string methodUrl(const std::string& method) const {
    return api_base + "/bot" + bot_token + "/" + method;
  }
};

sdk::Result<Settings> parseSettings(const nlohmann::json& config);

struct Parsed {
  std::vector<nlohmann::json> events;
  std::string callback_query_id;  // to acknowledge in the webhook answer
};
// One Update as events (pure).
sdk::Result<Parsed> parseUpdate(std::string_view body, const Settings& settings);

// The Bot API method and JSON parameters for a message.send (pure).
struct Call {
  std::string method;
  nlohmann::json params;
};
sdk::Result<Call> buildCall(const nlohmann::json& data, const Settings& settings);

class Telegram {
 public:
  static sdk::Result<std::unique_ptr<Telegram>> create(sdk::Host& host,
                                                       const std::string& instance_id,
                                                       const nlohmann::json& config);
  sdk::WebhookResponse handleWebhook(const sdk::WebhookRequest& request);
  sdk::DeliveryResult deliver(const sdk::Delivery& delivery);
  sdk::Health health();
  sdk::Result<sdk::Media> fetchMedia(std::string_view media_id, uint64_t max_bytes);

  Telegram(sdk::Host& host, Settings settings, channel::Metrics metrics)
      : host_(host),
        settings_(std::move(settings)),
        metrics_(metrics),
        limiter_(settings_.rate_per_second, settings_.rate_burst) {}

 private:
  sdk::Host& host_;
  const Settings settings_;
  channel::Metrics metrics_;
  channel::TokenState token_;
  sdk::RateLimiter limiter_;
};

}  // namespace sanjog::plugins::channel_telegram
