// Outbound: signed POST of the event (or rendered text) to the CRM, and the
// classification of its answer.
#include "crm_webhook.hpp"
#include "sanjog/sdk/standard_webhooks.hpp"

namespace sanjog::plugins::crm_webhook {

namespace sw = sdk::standard_webhooks;
using sdk::Code;
using sdk::DeliveryResult;

DeliveryResult CrmWebhook::deliver(const sdk::Delivery& delivery) {
  if (settings_.url.empty()) {
    return DeliveryResult::permanent(Code::kInvalidArgument,
                                     "this instance has no url to deliver to");
  }
  sdk::HttpRequest req;
  req.method = "POST";
  req.url = settings_.url;
  req.timeout_ms = static_cast<uint32_t>(settings_.timeout.count());
  const bool rendered = !delivery.rendered.empty();
  req.body = rendered ? std::string(delivery.rendered) : std::string(delivery.event);
  const int64_t ts = host_.nowMs() / 1000;
  const std::string id(delivery.idempotency_key);
  req.headers = settings_.headers;
  req.headers.push_back({"content-type", rendered ? settings_.content_type
                                                  : "application/cloudevents+json; charset=utf-8"});
  req.headers.push_back({"user-agent", std::string("Sanjog-crm_webhook/") + kVersion});
  req.headers.push_back({"webhook-id", id});
  req.headers.push_back({"webhook-timestamp", std::to_string(ts)});
  req.headers.push_back({"webhook-signature", sw::sign(settings_.key, id, ts, req.body)});
  auto res = host_.http(req);
  if (!res) {
    const Code code = res.status().code();
    return DeliveryResult::retry(code == Code::kInvalidArgument ? Code::kInvalidArgument : code,
                                 "no response: " + res.status().message());
  }
  std::optional<int64_t> retry_after;
  if (auto h = res->header("retry-after")) retry_after = sdk::parseRetryAfter(*h, host_.nowMs());
  std::string message;
  if (res->status >= 300) {
    message = "the receiver answered " + std::to_string(res->status);
    if (!res->body.empty()) message += ": " + res->body.substr(0, 200);
  }
  return DeliveryResult::fromHttpStatus(res->status, retry_after, message);
}

}  // namespace sanjog::plugins::crm_webhook
