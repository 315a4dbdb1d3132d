// The descriptor and the one exported entry point of libsanjog_channel_instagram.so.
#include "instagram.hpp"

SANJOG_PLUGIN(sanjog::plugins::channel_instagram::Instagram, "channel_instagram", "channel",
              sanjog::plugins::channel_instagram::kVersion,
              "Instagram Direct: signed webhooks in, messages out through the Send API",
              sanjog::plugins::channel_instagram::configSchema(),
              sanjog::plugins::channel_instagram::kActions)
