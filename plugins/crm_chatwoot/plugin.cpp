// The descriptor and the one exported entry point of libsanjog_crm_chatwoot.so.
#include "chatwoot.hpp"

SANJOG_PLUGIN(sanjog::plugins::crm_chatwoot::Chatwoot, "crm_chatwoot", "crm",
              sanjog::plugins::crm_chatwoot::kVersion,
              "Chatwoot API-channel inbox: customers' messages in, agents' replies back out",
              sanjog::plugins::crm_chatwoot::kConfigSchema, sanjog::plugins::crm_chatwoot::kActions)
