// Inbound: Standard Webhooks verification and CloudEvents parsing.
#include <algorithm>

#include "crm_webhook.hpp"
#include "sanjog/sdk/standard_webhooks.hpp"

namespace sanjog::plugins::crm_webhook {

namespace sw = sdk::standard_webhooks;
using sdk::Code;
using sdk::WebhookResponse;

WebhookResponse CrmWebhook::handleWebhook(const sdk::WebhookRequest& request) {
  if (request.method != "POST") {
    auto r = WebhookResponse::error(405, Code::kInvalidArgument, "only POST is accepted");
    r.headers.push_back({"Allow", "POST"});
    return r;
  }
  const auto id = request.header("webhook-id").value_or("");
  const auto verdict = sw::verify(
      settings_.key, id, request.header("webhook-timestamp").value_or(""),
      request.header("webhook-signature").value_or(""), request.body, host_.nowMs() / 1000,
      std::chrono::duration_cast<std::chrono::seconds>(settings_.tolerance).count());
  if (verdict != sw::Verdict::kOk) {
    signature_failures_.inc({sw::verdictName(verdict)});
    host_.warn(std::string("refused an inbound request: ") + sw::verdictName(verdict));
    return WebhookResponse::error(
        401, Code::kUnauthenticated,
        std::string("signature check failed: ") + sw::verdictName(verdict));
  }
  auto body = nlohmann::json::parse(request.body, nullptr, false);
  if (body.is_discarded() || !(body.is_object() || body.is_array())) {
    received_.inc({"invalid"});
    return WebhookResponse::error(400, Code::kInvalidArgument,
                                  "the body must be a CloudEvents JSON object or an array of them");
  }
  const bool batch = body.is_array();
  if (!batch) body = nlohmann::json::array({std::move(body)});
  if (body.empty()) {
    received_.inc({"invalid"});
    return WebhookResponse::error(400, Code::kInvalidArgument, "empty batch");
  }
  WebhookResponse response;
  for (size_t i = 0; i < body.size(); ++i) {
    auto& event = body[i];
    const std::string where = batch ? "event " + std::to_string(i) + ": " : "";
    if (!event.is_object() || !event.contains("type") || !event["type"].is_string() ||
        event["type"].get<std::string>().empty()) {
      received_.inc({"invalid"});
      return WebhookResponse::error(400, Code::kInvalidArgument,
                                    where + "each event needs a string \"type\"");
    }
    if (event.contains("data") && !event["data"].is_object()) {
      received_.inc({"invalid"});
      return WebhookResponse::error(400, Code::kInvalidArgument,
                                    where + "\"data\" must be a JSON object");
    }
    const std::string type = event["type"];
    if (!settings_.accept_types.empty() &&
        std::find(settings_.accept_types.begin(), settings_.accept_types.end(), type) ==
            settings_.accept_types.end()) {
      received_.inc({"refused_type"});
      return WebhookResponse::error(422, Code::kInvalidArgument,
                                    where + "event type " + type + " is not accepted here");
    }
    // The host assigns id, source and time; keep the sender's id for tracing.
    if (event.contains("id")) {
      if (event["id"].is_string()) event["senderid"] = event["id"];
      event.erase("id");
    }
    event.erase("source");
    event.erase("specversion");
    event["providerid"] = batch ? std::string(id) + ":" + std::to_string(i) : std::string(id);
    response.events.push_back(event.dump());
  }
  received_.record({"accepted"}, static_cast<double>(response.events.size()));
  response.status = 202;
  response.body = nlohmann::json({{"accepted", response.events.size()}}).dump();
  return response;
}

}  // namespace sanjog::plugins::crm_webhook
