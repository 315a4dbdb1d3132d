// ecom_shopify: a Shopify store's order and checkout webhooks as events.
//
// Inbound only: POST /webhooks/{instance} with X-Shopify-Hmac-Sha256 (base64
// HMAC-SHA256 of the raw body with the app's client secret), the topic in
// X-Shopify-Topic and the delivery id in X-Shopify-Webhook-Id (the dedup
// key). orders/create, orders/paid, orders/fulfilled, orders/cancelled and
// checkouts/create|update become order.created, order.paid, order.fulfilled,
// order.cancelled and checkout.updated; other topics are acknowledged and
// counted. Parsing is in memory only, so the answer comes well inside
// Shopify's 5-second limit.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "channel.hpp"
#include "sanjog/sdk/plugin.hpp"

namespace sanjog::plugins::ecom_shopify {

extern const char* const kConfigSchema;
inline constexpr const char* kActions = "[]";
inline constexpr const char* kVersion = "1.0.0";

struct Settings {
  std::string client_secret;
  std::string shop_domain;  // when set, other shops' webhooks are refused
  std::string default_region = "BD";
  std::string store;  // the `store` field of events; the shop domain when empty
};

sdk::Result<Settings> parseSettings(const nlohmann::json& config);

// The event type for a topic ("orders/paid" -> "order.paid"); nullopt for
// topics Sanjog does not map.
std::optional<std::string> eventTypeFor(std::string_view topic);

// Builds the event data of `type` from an Order or Checkout JSON (pure).
sdk::Result<nlohmann::json> mapResource(const std::string& type, const nlohmann::json& resource,
                                        const Settings& settings, const std::string& shop);

class Shopify {
 public:
  static sdk::Result<std::unique_ptr<Shopify>> create(sdk::Host& host,
                                                      const std::string& instance_id,
                                                      const nlohmann::json& config);
  sdk::WebhookResponse handleWebhook(const sdk::WebhookRequest& request);

  Shopify(sdk::Host& host, Settings settings, sdk::Metric received, sdk::Metric signature_failures)
      : host_(host),
        settings_(std::move(settings)),
        received_(received),
        signature_failures_(signature_failures) {}

 private:
  sdk::Host& host_;
  const Settings settings_;
  sdk::Metric received_;            // {type, result}
  sdk::Metric signature_failures_;  // {reason}
};

}  // namespace sanjog::plugins::ecom_shopify
