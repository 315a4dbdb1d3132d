// crm_webhook: bridges any CRM or in-house system over signed HTTP.
//
// Outbound (deliver, action "deliver"): POSTs the event (CloudEvents JSON) or
// the route's rendered text to `url`, signed per Standard Webhooks with a
// webhook-id equal to the delivery's idempotency key (stable across retries).
// Inbound (webhook): accepts CloudEvents POSTed by the CRM, signed the same
// way, within `tolerance` of the current time.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sanjog/sdk/plugin.hpp"

namespace sanjog::plugins::crm_webhook {

// The config schema (JSON Schema draft 7), declared by the plugin.
extern const char* const kConfigSchema;
inline constexpr const char* kActions = R"(["deliver"])";
inline constexpr const char* kVersion = "1.0.0";

struct Settings {
  std::string url;
  std::string key;  // the decoded secret
  std::chrono::milliseconds timeout{10000};
  std::chrono::milliseconds tolerance{300000};
  std::vector<sdk::Header> headers;
  std::vector<std::string> accept_types;
  std::string content_type = "application/json";
};

// Parses "250ms", "10s", "5m", "2h", "1h30m"; nullopt when malformed.
std::optional<std::chrono::milliseconds> parseDuration(const std::string& text);

// Validates and converts an instance config (already schema-checked by the
// host, but checked again here: the plugin must not trust its input).
sdk::Result<Settings> parseSettings(const nlohmann::json& config);

class CrmWebhook {
 public:
  static sdk::Result<std::unique_ptr<CrmWebhook>> create(sdk::Host& host,
                                                         const std::string& instance_id,
                                                         const nlohmann::json& config);
  sdk::WebhookResponse handleWebhook(const sdk::WebhookRequest& request);
  sdk::DeliveryResult deliver(const sdk::Delivery& delivery);

  CrmWebhook(sdk::Host& host, Settings settings, sdk::Metric signature_failures,
             sdk::Metric received)
      : host_(host),
        settings_(std::move(settings)),
        signature_failures_(signature_failures),
        received_(received) {}

 private:
  sdk::Host& host_;
  const Settings settings_;
  sdk::Metric signature_failures_;  // {reason}
  sdk::Metric received_;            // {type, result}
};

}  // namespace sanjog::plugins::crm_webhook
