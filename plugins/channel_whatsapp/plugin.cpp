// The descriptor and the one exported entry point of libsanjog_channel_whatsapp.so.
#include "whatsapp.hpp"

SANJOG_PLUGIN(sanjog::plugins::channel_whatsapp::WhatsApp, "channel_whatsapp", "channel",
              sanjog::plugins::channel_whatsapp::kVersion,
              "WhatsApp Cloud API: signed webhooks in, messages, templates and media out",
              sanjog::plugins::channel_whatsapp::kConfigSchema,
              sanjog::plugins::channel_whatsapp::kActions)
