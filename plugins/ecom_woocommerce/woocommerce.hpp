// ecom_woocommerce: a WooCommerce shop's order webhooks as events.
//
// Inbound only. WooCommerce signs deliveries with X-WC-Webhook-Signature
// (base64 HMAC-SHA256 of the body with the entity-decoded secret); the
// unsigned `webhook_id=N` ping sent when a webhook is saved is answered 200.
// order.created and order.updated deliveries are mapped by the order's
// status: pending/on-hold -> order.created, processing -> order.paid,
// completed -> order.fulfilled, cancelled/refunded/failed -> order.cancelled.
// The provider id is (order, event type), so each event happens once per
// order however many updates WooCommerce sends.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "channel.hpp"
#include "sanjog/sdk/plugin.hpp"

namespace sanjog::plugins::ecom_woocommerce {

extern const char* const kConfigSchema;
inline constexpr const char* kActions = "[]";
inline constexpr const char* kVersion = "1.0.0";

struct Settings {
  std::string secret;  // entity-decoded, as WooCommerce uses it
  std::string source_url;
  std::string default_region = "BD";
  std::string store;
};

sdk::Result<Settings> parseSettings(const nlohmann::json& config);
// wp_specialchars_decode(..., ENT_QUOTES): &amp; &lt; &gt; &quot; &#039;.
std::string decodeEntities(std::string_view text);

// The event type an order status leads to; nullopt for statuses that lead to
// none (draft, checkout-draft, unknown custom statuses).
std::optional<std::string> eventTypeFor(std::string_view status);

// The events one order delivery produces (pure): on order.created also
// order.created itself when the status maps elsewhere.
sdk::Result<std::vector<nlohmann::json>> mapOrder(const nlohmann::json& order,
                                                  std::string_view topic, const Settings& settings,
                                                  const std::string& source);

class WooCommerce {
 public:
  static sdk::Result<std::unique_ptr<WooCommerce>> create(sdk::Host& host,
                                                          const std::string& instance_id,
                                                          const nlohmann::json& config);
  sdk::WebhookResponse handleWebhook(const sdk::WebhookRequest& request);

  WooCommerce(sdk::Host& host, Settings settings, sdk::Metric received, sdk::Metric failures)
      : host_(host), settings_(std::move(settings)), received_(received), failures_(failures) {}

 private:
  sdk::Host& host_;
  const Settings settings_;
  sdk::Metric received_;  // {type, result}
  sdk::Metric failures_;  // {reason}
};

}  // namespace sanjog::plugins::ecom_woocommerce
