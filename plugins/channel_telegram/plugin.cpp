// The descriptor and the one exported entry point of libsanjog_channel_telegram.so.
#include "telegram.hpp"

SANJOG_PLUGIN(sanjog::plugins::channel_telegram::Telegram, "channel_telegram", "channel",
              sanjog::plugins::channel_telegram::kVersion,
              "Telegram Bot API: secret-token webhooks in, messages and inline keyboards out",
              sanjog::plugins::channel_telegram::kConfigSchema,
              sanjog::plugins::channel_telegram::kActions)
