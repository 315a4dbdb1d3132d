// channel_instagram: Instagram Direct messages of a professional account as
// a channel, on the Messenger Platform shared with channel_messenger
// (plugins/_channel/messaging.*): webhook object "instagram", Send API at
// /{account_id}/messages, echoes (is_echo) ignored, story mentions and
// story replies kept.
#pragma once

#include <memory>
#include <string>

#include "messaging.hpp"

namespace sanjog::plugins::channel_instagram {

const char* configSchema();
inline constexpr const char* kActions = R"(["send","mark_read"])";
inline constexpr const char* kVersion = "1.0.0";
// Instagram messaging allows about 100 text sends per second per account.
inline constexpr double kDefaultRate = 100;

sdk::Result<channel::MessagingSettings> parseSettings(const nlohmann::json& config);

class Instagram : public channel::MessagingChannel {
 public:
  using MessagingChannel::MessagingChannel;
  static sdk::Result<std::unique_ptr<Instagram>> create(sdk::Host& host,
                                                        const std::string& instance_id,
                                                        const nlohmann::json& config);
};

}  // namespace sanjog::plugins::channel_instagram
