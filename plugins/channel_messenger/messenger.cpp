#include "messenger.hpp"

namespace sanjog::plugins::channel_messenger {

const char* configSchema() {
  static const std::string schema = channel::messagingSchema(
      "channel_messenger", "page_id",
      "The Facebook Page id; messages go out from this page and webhook entries for other pages "
      "are ignored.",
      kDefaultRate,
      "Sends per second from this page (the Send API allows about 250 requests per second per "
      "page); 0 disables the limit.",
      "104870412345678");
  return schema.c_str();
}

sdk::Result<channel::MessagingSettings> parseSettings(const nlohmann::json& config) {
  return channel::parseMessagingSettings(config, "messenger", "page", "page_id", kDefaultRate);
}

sdk::Result<std::unique_ptr<Messenger>> Messenger::create(sdk::Host& host,
                                                          const std::string& /*instance_id*/,
                                                          const nlohmann::json& config) {
  auto settings = parseSettings(config);
  if (!settings) return settings.status();
  auto metrics = channel::Metrics::registerAll(host);
  if (!metrics) return metrics.status();
  return std::make_unique<Messenger>(host, std::move(settings).value(), *metrics);
}

}  // namespace sanjog::plugins::channel_messenger
