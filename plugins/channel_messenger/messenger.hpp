// channel_messenger: Facebook Messenger (a Facebook Page's inbox) as a
// channel, on the Messenger Platform shared with channel_instagram
// (plugins/_channel/messaging.*): webhook object "page", Send API at
// /{page_id}/messages, echoes ignored, delivery and read watermarks.
#pragma once

#include <memory>
#include <string>

#include "messaging.hpp"

namespace sanjog::plugins::channel_messenger {

const char* configSchema();
inline constexpr const char* kActions = R"(["send","mark_read"])";
inline constexpr const char* kVersion = "1.0.0";
// Meta's Send API allows about 250 requests per second per page.
inline constexpr double kDefaultRate = 250;

sdk::Result<channel::MessagingSettings> parseSettings(const nlohmann::json& config);

class Messenger : public channel::MessagingChannel {
 public:
  using MessagingChannel::MessagingChannel;
  static sdk::Result<std::unique_ptr<Messenger>> create(sdk::Host& host,
                                                        const std::string& instance_id,
                                                        const nlohmann::json& config);
};

}  // namespace sanjog::plugins::channel_messenger
