// sms_http: a generic HTTP SMS gateway, for the local aggregators that
// speak "GET/POST a URL with to, text and credentials", with a ready profile
// for Kannel's sendsms interface.
//
// Outbound (action "send"): the request is built from templates where
// {{name}} is replaced by a value encoded for where it stands (percent-
// encoded in URLs and form bodies, JSON-escaped in JSON bodies); success is
// decided by the HTTP status and an optional text in the answer; the message
// id is read from a JSON answer or is Sanjog's own (passed to the gateway in
// the delivery-report URL). Inbound: /webhooks/{instance}/mo (a customer's
// SMS) and /webhooks/{instance}/dlr (delivery reports), parameters by
// configurable names from the query string or a form body, guarded by a
// shared secret.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "channel.hpp"
#include "sanjog/sdk/plugin.hpp"
#include "sanjog/sdk/rate_limiter.hpp"

namespace sanjog::plugins::sms_http {

extern const char* const kConfigSchema;
inline constexpr const char* kActions = R"(["send"])";
inline constexpr const char* kVersion = "1.0.0";

struct Settings {
  std::string method = "GET";
  std::string url;   // template
  std::string body;  // template (POST)
  std::string content_type = "application/x-www-form-urlencoded";
  std::vector<sdk::Header> headers;
  std::string username, password, from;
  std::vector<int> success_status{200, 201, 202};
  std::string success_contains;
  std::string message_id_pointer;  // JSON pointer into the answer; "" = Sanjog's id
  std::string public_url;
  std::string secret;
  std::map<std::string, std::string> mo_params{
      {"from", "from"}, {"to", "to"}, {"text", "text"}, {"id", "id"}};
  std::map<std::string, std::string> dlr_params{{"id", "id"}, {"status", "status"}};
  std::map<std::string, std::string> dlr_status{
      {"1", "delivered"}, {"2", "failed"}, {"4", "accepted"}, {"8", "sent"}, {"16", "failed"}};
  std::string default_region = "BD";
  int max_segments = 5;
  double rate_per_second = 10;
  uint32_t timeout_ms = 10'000;
};

sdk::Result<Settings> parseSettings(const nlohmann::json& config);

enum class Encoding { kUrl, kJson, kNone };
// Replaces {{name}} with vars[name] encoded for its place; unknown names
// become empty.
std::string render(std::string_view tmpl, const std::map<std::string, std::string>& vars,
                   Encoding encoding);

using Params = std::vector<std::pair<std::string, std::string>>;
Params parseParams(std::string_view text);

// The events of one callback (pure): "/mo" or "/dlr".
sdk::Result<std::vector<nlohmann::json>> mapCallback(std::string_view path, const Params& params,
                                                     const Settings& settings);

class SmsHttp {
 public:
  static sdk::Result<std::unique_ptr<SmsHttp>> create(sdk::Host& host,
                                                      const std::string& instance_id,
                                                      const nlohmann::json& config);
  sdk::WebhookResponse handleWebhook(const sdk::WebhookRequest& request);
  sdk::DeliveryResult deliver(const sdk::Delivery& delivery);

  SmsHttp(sdk::Host& host, Settings settings, channel::Metrics metrics, sdk::Metric segments)
      : host_(host),
        settings_(std::move(settings)),
        metrics_(metrics),
        segments_(segments),
        limiter_(settings_.rate_per_second, std::max(1.0, settings_.rate_per_second)) {}

 private:
  sdk::Host& host_;
  const Settings settings_;
  channel::Metrics metrics_;
  sdk::Metric segments_;
  sdk::RateLimiter limiter_;
};

}  // namespace sanjog::plugins::sms_http
