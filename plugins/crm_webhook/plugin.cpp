// The descriptor and the one exported entry point of libsanjog_crm_webhook.so.
#include "crm_webhook.hpp"

SANJOG_PLUGIN(sanjog::plugins::crm_webhook::CrmWebhook, "crm_webhook", "crm",
              sanjog::plugins::crm_webhook::kVersion,
              "Any CRM or in-house system: signed CloudEvents in and out (Standard Webhooks)",
              sanjog::plugins::crm_webhook::kConfigSchema, sanjog::plugins::crm_webhook::kActions)
