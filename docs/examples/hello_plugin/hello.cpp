// example_hello: the smallest useful Sanjog plugin.
//  - webhook: POST a JSON object to /webhooks/{instance}; it becomes one
//    "example.hello" event whose data is the object (deduplicated on the
//    X-Request-Id header when given).
//  - deliver, action "log": logs the event type and greets; always succeeds.
#include <memory>
#include <string>

#include "sanjog/sdk/plugin.hpp"

namespace {

using namespace sanjog::sdk;  // NOLINT: an example keeps it short

constexpr const char* kSchema = R"json({
  "type": "object",
  "additionalProperties": false,
  "properties": {
    "greeting": { "type": "string", "default": "hello", "description": "What the log line says." }
  },
  "examples": [ { "greeting": "nomoskar" } ]
})json";

class Hello {
 public:
  static Result<std::unique_ptr<Hello>> create(Host& host, const std::string& /*id*/,
                                               const nlohmann::json& config) {
    auto greeted = host.counter("sanjog_example_hello_greetings_total", "Events greeted.");
    if (!greeted) return greeted.status();
    return std::make_unique<Hello>(host, config.value("greeting", "hello"), *greeted);
  }
  Hello(Host& host, std::string greeting, Metric greeted)
      : host_(host), greeting_(std::move(greeting)), greeted_(greeted) {}

  WebhookResponse handleWebhook(const WebhookRequest& request) {
    if (request.method != "POST") {
      return WebhookResponse::error(405, Code::kInvalidArgument, "POST a JSON object");
    }
    auto body = nlohmann::json::parse(request.body, nullptr, false);
    if (!body.is_object()) {
      return WebhookResponse::error(400, Code::kInvalidArgument, "the body must be a JSON object");
    }
    nlohmann::json event = {{"type", "example.hello"}, {"data", body}};
    if (auto id = request.header("x-request-id")) event["providerid"] = std::string(*id);
    WebhookResponse response = WebhookResponse::json(202, {{"accepted", 1}});
    response.events.push_back(event.dump());
    return response;
  }

  DeliveryResult deliver(const Delivery& delivery) {
    const auto event = nlohmann::json::parse(delivery.event, nullptr, false);
    host_.info(greeting_ + ", " + event.value("type", std::string("?")) + " (" +
               std::string(delivery.idempotency_key) + ")");
    greeted_.inc();
    return DeliveryResult::success();
  }

 private:
  Host& host_;
  const std::string greeting_;
  Metric greeted_;
};

}  // namespace

SANJOG_PLUGIN(Hello, "example_hello", "example", "1.0.0",
              "Example: turns posted JSON into example.hello events and logs deliveries", kSchema,
              R"(["log"])")
