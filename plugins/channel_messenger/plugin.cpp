// The descriptor and the one exported entry point of libsanjog_channel_messenger.so.
#include "messenger.hpp"

SANJOG_PLUGIN(sanjog::plugins::channel_messenger::Messenger, "channel_messenger", "channel",
              sanjog::plugins::channel_messenger::kVersion,
              "Facebook Messenger: signed page webhooks in, Send API messages out",
              sanjog::plugins::channel_messenger::configSchema(),
              sanjog::plugins::channel_messenger::kActions)
