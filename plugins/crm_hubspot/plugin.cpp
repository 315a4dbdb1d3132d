// The descriptor and the one exported entry point of libsanjog_crm_hubspot.so.
#include "hubspot.hpp"

SANJOG_PLUGIN(sanjog::plugins::crm_hubspot::HubSpot, "crm_hubspot", "crm",
              sanjog::plugins::crm_hubspot::kVersion,
              "HubSpot CRM: contacts upserted, conversations logged, contact changes in",
              sanjog::plugins::crm_hubspot::kConfigSchema, sanjog::plugins::crm_hubspot::kActions)
