// The descriptor and the one exported entry point of libsanjog_sms_twilio.so.
#include "twilio.hpp"

SANJOG_PLUGIN(sanjog::plugins::sms_twilio::Twilio, "sms_twilio", "sms",
              sanjog::plugins::sms_twilio::kVersion,
              "Twilio Programmable Messaging: signed SMS/MMS and status callbacks in, SMS out",
              sanjog::plugins::sms_twilio::kConfigSchema, sanjog::plugins::sms_twilio::kActions)
