// crm_hubspot: HubSpot CRM (v3 API).
//
// Actions: "log_message" records a message.received or message.send on the
// contact, as a Communication with channel type WhatsApp or SMS, or as a
// note for channels HubSpot has no type for (finding or creating the contact
// first); "upsert_contact" finds the contact by phone or email and creates or
// updates it from any event with data.contact or data.customer. Webhooks:
// signed v3 (or v1/v2) batches; contact.propertyChange becomes
// contact.updated. A per-instance rate limit keeps within HubSpot's limits;
// 429 answers are retried after Retry-After.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "channel.hpp"
#include "sanjog/sdk/plugin.hpp"
#include "sanjog/sdk/rate_limiter.hpp"

namespace sanjog::plugins::crm_hubspot {

extern const char* const kConfigSchema;
inline constexpr const char* kActions = R"(["log_message","upsert_contact"])";
inline constexpr const char* kVersion = "1.0.0";

struct Settings {
  std::string api_base = "https://api.hubapi.com";
  std::string access_token;
  std::string client_secret;
  std::string public_url;
  std::string default_region = "BD";
  double rate_per_second = 9;
  int64_t tolerance_ms = 300'000;
  uint32_t timeout_ms = 10'000;
};

sdk::Result<Settings> parseSettings(const nlohmann::json& config);

// Signature checks (pure). v3: base64 HMAC-SHA256(secret, method+uri+body+ts);
// v2: hex SHA-256(secret+method+uri+body); v1: hex SHA-256(secret+body).
std::string signatureV3(std::string_view secret, std::string_view method, std::string_view uri,
                        std::string_view body, std::string_view timestamp);
std::string signatureV1(std::string_view secret, std::string_view body);
std::string signatureV2(std::string_view secret, std::string_view method, std::string_view uri,
                        std::string_view body);

// HubSpot's Communication channel type for a Sanjog channel, or nullopt when
// HubSpot has none (the message is logged as a note then).
std::optional<std::string> communicationType(std::string_view channel);

// The contact.updated events of one webhook batch (pure).
std::vector<nlohmann::json> mapWebhookEvents(const nlohmann::json& batch);

class HubSpot {
 public:
  static sdk::Result<std::unique_ptr<HubSpot>> create(sdk::Host& host,
                                                      const std::string& instance_id,
                                                      const nlohmann::json& config);
  sdk::WebhookResponse handleWebhook(const sdk::WebhookRequest& request);
  sdk::DeliveryResult deliver(const sdk::Delivery& delivery);
  sdk::Health health();

  HubSpot(sdk::Host& host, Settings settings, sdk::Metric received, sdk::Metric failures,
          sdk::Metric logged)
      : host_(host),
        settings_(std::move(settings)),
        received_(received),
        failures_(failures),
        logged_(logged),
        limiter_(settings_.rate_per_second, std::max(1.0, settings_.rate_per_second)) {}

 private:
  struct Call {
    int status = 0;
    nlohmann::json body;
    std::optional<sdk::DeliveryResult> failure;
  };
  Call call(const std::string& method, const std::string& path, const nlohmann::json& body);
  // The HubSpot contact id for the event's contact, created when missing.
  sdk::Result<std::string> upsert(const nlohmann::json& contact, bool update,
                                  std::optional<sdk::DeliveryResult>* failure);

  sdk::Host& host_;
  const Settings settings_;
  sdk::Metric received_;  // {type, result}
  sdk::Metric failures_;  // {reason}
  sdk::Metric logged_;    // {kind, result}
  channel::TokenState token_;
  sdk::RateLimiter limiter_;
};

}  // namespace sanjog::plugins::crm_hubspot
