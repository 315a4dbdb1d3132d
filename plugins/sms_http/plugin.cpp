// The descriptor and the one exported entry point of libsanjog_sms_http.so.
#include "sms_http.hpp"

SANJOG_PLUGIN(sanjog::plugins::sms_http::SmsHttp, "sms_http", "sms",
              sanjog::plugins::sms_http::kVersion,
              "Any HTTP SMS gateway (Kannel profile included): send requests from templates, "
              "MO and delivery reports in",
              sanjog::plugins::sms_http::kConfigSchema, sanjog::plugins::sms_http::kActions)
