// crm_chatwoot: a Chatwoot API-channel inbox as the agents' inbox.
//
// Outbound (action "deliver"): for message.received, finds or creates the
// contact (identifier = the conversation address: E.164 or channel id) and
// one Chatwoot conversation per Sanjog conversation, then adds the
// customer's message as "incoming". conversation.handoff reopens the
// conversation with a private note; a message.send (what automations sent)
// becomes a private note, so agents see the bot's answers. Inbound (webhook): an agent's outgoing,
// non-private message becomes message.send back to the conversation's
// channel and contact; a conversation resolved in Chatwoot becomes
// conversation.resolved. The incoming messages Sanjog created come back as
// message_created "incoming" and are ignored, so nothing loops.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "channel.hpp"
#include "sanjog/sdk/plugin.hpp"

namespace sanjog::plugins::crm_chatwoot {

extern const char* const kConfigSchema;
inline constexpr const char* kActions = R"(["deliver"])";
inline constexpr const char* kVersion = "1.0.0";

struct Settings {
  std::string api_base = "https://app.chatwoot.com";
  int64_t account_id = 0;
  int64_t inbox_id = 0;
  std::string api_access_token;
  std::string webhook_secret;  // empty: webhooks are not signed (Chatwoot < 4)
  int64_t tolerance_ms = 300'000;
  uint32_t timeout_ms = 10'000;
  [[nodiscard]] std::string accountUrl(const std::string& path) const {
    return api_base + "/api/v1/accounts/" + std::to_string(account_id) + path;
  }
};

sdk::Result<Settings> parseSettings(const nlohmann::json& config);

// The text an agent sees for a customer's message: the text, then one line
// per attachment (link when the provider gave a URL), location, contacts.
std::string renderIncoming(const nlohmann::json& message);

class Chatwoot {
 public:
  static sdk::Result<std::unique_ptr<Chatwoot>> create(sdk::Host& host,
                                                       const std::string& instance_id,
                                                       const nlohmann::json& config);
  sdk::WebhookResponse handleWebhook(const sdk::WebhookRequest& request);
  sdk::DeliveryResult deliver(const sdk::Delivery& delivery);
  sdk::Health health();

  Chatwoot(sdk::Host& host, Settings settings, sdk::Metric received, sdk::Metric failures)
      : host_(host), settings_(std::move(settings)), received_(received), failures_(failures) {}

 private:
  struct Call {
    int status = 0;
    nlohmann::json body;
    std::optional<sdk::DeliveryResult> failure;  // transport or classified API error
  };
  Call call(const std::string& method, const std::string& url, const nlohmann::json& body);
  // Adds a message to Chatwoot conversation `cw`; a deleted conversation is
  // forgotten so the retry opens a new one.
  sdk::DeliveryResult postMessage(const std::string& cw, const nlohmann::json& data,
                                  const nlohmann::json& body);
  sdk::Result<std::string> ensureConversation(const nlohmann::json& data,
                                              std::optional<sdk::DeliveryResult>* failure);
  sdk::DeliveryResult failed(const Call& c, const std::string& what);

  sdk::Host& host_;
  const Settings settings_;
  sdk::Metric received_;  // {type, result}
  sdk::Metric failures_;  // {reason}
  channel::TokenState token_;
  std::mutex create_mutex_;  // one contact/conversation creation at a time
};

}  // namespace sanjog::plugins::crm_chatwoot
