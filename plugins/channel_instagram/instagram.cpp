#include "instagram.hpp"

namespace sanjog::plugins::channel_instagram {

const char* configSchema() {
  static const std::string schema = channel::messagingSchema(
      "channel_instagram", "account_id",
      "The Instagram professional account id (entry[].id of its webhooks); messages go out from "
      "it and entries for other accounts are ignored.",
      kDefaultRate,
      "Sends per second from this account (Instagram allows about 100 text sends per second per "
      "account, fewer for audio and video); 0 disables the limit.",
      "17841455502468013");
  return schema.c_str();
}

sdk::Result<channel::MessagingSettings> parseSettings(const nlohmann::json& config) {
  return channel::parseMessagingSettings(config, "instagram", "instagram", "account_id",
                                         kDefaultRate);
}

sdk::Result<std::unique_ptr<Instagram>> Instagram::create(sdk::Host& host,
                                                          const std::string& /*instance_id*/,
                                                          const nlohmann::json& config) {
  auto settings = parseSettings(config);
  if (!settings) return settings.status();
  auto metrics = channel::Metrics::registerAll(host);
  if (!metrics) return metrics.status();
  return std::make_unique<Instagram>(host, std::move(settings).value(), *metrics);
}

}  // namespace sanjog::plugins::channel_instagram
