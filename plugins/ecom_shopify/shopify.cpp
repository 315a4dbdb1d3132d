#include "shopify.hpp"

#include "sanjog/sdk/crypto.hpp"

namespace sanjog::plugins::ecom_shopify {

using channel::idText;
using channel::member;
using channel::str;
using nlohmann::json;
using sdk::Code;

const char* const kConfigSchema = R"json({
  "$schema": "http://json-schema.org/draft-07/schema#",
  "title": "ecom_shopify",
  "type": "object",
  "additionalProperties": false,
  "required": ["client_secret"],
  "properties": {
    "client_secret": {
      "type": "string",
      "minLength": 8,
      "x-secret": true,
      "description": "The app's client secret (API secret key); verifies X-Shopify-Hmac-Sha256 on every webhook."
    },
    "shop_domain": {
      "type": "string",
      "pattern": "^[a-z0-9][a-z0-9.-]*\\.[a-z]{2,}$",
      "description": "The shop's myshopify.com domain; when set, webhooks from other shops (X-Shopify-Shop-Domain) are refused with 403."
    },
    "default_region": {
      "type": "string",
      "pattern": "^[A-Z]{2}$",
      "default": "BD",
      "description": "Region for customer phone numbers written without a country code, such as 01711-000001."
    },
    "store": {
      "type": "string",
      "default": "",
      "description": "The store name put in events (data.store); empty: the shop domain."
    }
  },
  "examples": [
    { "client_secret": "${env:SHOPIFY_CLIENT_SECRET}", "shop_domain": "sonali-fashion.myshopify.com" }
  ]
})json";

namespace {

std::string joinName(const json& obj) {
  std::string name = str(obj, "first_name");
  if (auto last = str(obj, "last_name"); !last.empty()) name += (name.empty() ? "" : " ") + last;
  return name;
}

json lineItems(const json& items) {
  json out = json::array();
  if (!items.is_array()) return out;
  for (const auto& li : items) {
    json item = {{"name", str(li, "title").empty() ? str(li, "name") : str(li, "title")}};
    if (auto sku = str(li, "sku"); !sku.empty()) item["sku"] = sku;
    if (auto q = channel::integerField(li, "quantity"); q && *q >= 0) item["quantity"] = *q;
    if (auto p = str(li, "price"); !p.empty()) item["price"] = p;
    out.push_back(item);
  }
  return out;
}

json address(const json& a) {
  json out = json::object();
  if (!a.is_object()) return out;
  std::string name = str(a, "name");
  if (name.empty()) name = joinName(a);
  if (!name.empty()) out["name"] = name;
  if (auto v = str(a, "address1"); !v.empty()) out["line1"] = v;
  if (auto v = str(a, "address2"); !v.empty()) out["line2"] = v;
  if (auto v = str(a, "city"); !v.empty()) out["city"] = v;
  if (auto v = str(a, "zip"); !v.empty()) out["postcode"] = v;
  if (auto v = str(a, "country_code"); !v.empty()) out["country"] = v;
  return out;
}

// The customer, with the phone from the customer, the order, or the
// shipping or billing address, in that order, normalized to E.164.
json customer(const json& r, const Settings& s) {
  const json& c = member(r, "customer");
  json out = json::object();
  if (auto id = idText(member(c, "id")); !id.empty()) out["id"] = id;
  std::string name = joinName(c);
  if (name.empty()) name = str(member(r, "shipping_address"), "name");
  if (name.empty()) name = str(member(r, "billing_address"), "name");
  if (!name.empty()) out["name"] = name;
  for (const std::string& raw :
       {str(c, "phone"), str(r, "phone"), str(member(r, "shipping_address"), "phone"),
        str(member(r, "billing_address"), "phone"), str(r, "sms_marketing_phone")}) {
    if (raw.empty()) continue;
    if (auto e164 = channel::toE164(raw, s.default_region)) {
      out["phone"] = *e164;
      break;
    }
  }
  std::string email = str(c, "email");
  if (email.empty()) email = str(r, "email");
  if (email.empty()) email = str(r, "contact_email");
  if (!email.empty()) out["email"] = email;
  if (auto locale = str(r, "customer_locale"); !locale.empty()) out["locale"] = locale;
  return out;
}

}  // namespace

sdk::Result<Settings> parseSettings(const json& config) {
  if (!config.is_object()) return {Code::kInvalidArgument, "config must be an object"};
  Settings s;
  try {
    s.client_secret = config.value("client_secret", "");
    s.shop_domain = config.value("shop_domain", "");
    s.default_region = config.value("default_region", s.default_region);
    s.store = config.value("store", "");
  } catch (const json::exception& e) {
    return {Code::kInvalidArgument,
            std::string("config has a value of the wrong type: ") + e.what()};
  }
  if (s.client_secret.empty()) return {Code::kInvalidArgument, "client_secret is required"};
  return s;
}

std::optional<std::string> eventTypeFor(std::string_view topic) {
  if (topic == "orders/create") return "order.created";
  if (topic == "orders/paid") return "order.paid";
  if (topic == "orders/fulfilled") return "order.fulfilled";
  if (topic == "orders/cancelled") return "order.cancelled";
  if (topic == "checkouts/create" || topic == "checkouts/update") return "checkout.updated";
  return std::nullopt;
}

sdk::Result<json> mapResource(const std::string& type, const json& r, const Settings& settings,
                              const std::string& shop) {
  if (!r.is_object()) return {Code::kInvalidArgument, "the body is not a JSON object"};
  const std::string store = settings.store.empty() ? shop : settings.store;
  json data = json::object();
  if (type == "checkout.updated") {
    std::string id = str(r, "token");
    if (id.empty()) id = idText(member(r, "id"));
    if (id.empty()) return {Code::kInvalidArgument, "a checkout without token or id"};
    data["checkout_id"] = id;
  } else {
    const std::string id = idText(member(r, "id"));
    if (id.empty()) return {Code::kInvalidArgument, "an order without id"};
    data["order_id"] = id;
    std::string number = str(r, "name");
    if (number.empty()) number = idText(member(r, "order_number"));
    if (!number.empty()) data["number"] = number;
    const json ship = address(member(r, "shipping_address"));
    if (!ship.empty()) data["shipping_address"] = ship;
    // Lets cart recovery match the order to the checkout it came from.
    if (auto token = str(r, "checkout_token"); !token.empty()) data["checkout_id"] = token;
    if (auto url = str(r, "order_status_url"); !url.empty()) data["status_url"] = url;
    if (auto fs = str(r, "financial_status"); !fs.empty()) data["financial_status"] = fs;
  }
  if (auto cur = str(r, "currency"); cur.size() == 3) data["currency"] = cur;
  if (auto total = str(r, "total_price"); !total.empty()) data["total"] = total;
  data["line_items"] = lineItems(member(r, "line_items"));
  const json cust = customer(r, settings);
  if (!cust.empty()) data["customer"] = cust;
  if (!store.empty()) data["store"] = store;
  if (type == "checkout.updated") {
    if (auto url = str(r, "abandoned_checkout_url"); !url.empty()) data["recovery_url"] = url;
  }
  if (type == "order.fulfilled") {
    json tracking = json::object();
    const json& fulfillments = member(r, "fulfillments");
    if (fulfillments.is_array()) {
      for (const auto& f : fulfillments) {  // the latest successful shipment wins
        if (!str(f, "status").empty() && str(f, "status") != "success") continue;
        std::string number = str(f, "tracking_number");
        if (number.empty() && member(f, "tracking_numbers").is_array() &&
            !member(f, "tracking_numbers").empty()) {
          number = idText(member(f, "tracking_numbers")[0]);
        }
        std::string url = str(f, "tracking_url");
        if (url.empty() && member(f, "tracking_urls").is_array() &&
            !member(f, "tracking_urls").empty()) {
          url = idText(member(f, "tracking_urls")[0]);
        }
        json t = json::object();
        if (!number.empty()) t["number"] = number;
        if (auto company = str(f, "tracking_company"); !company.empty()) t["company"] = company;
        if (!url.empty()) t["url"] = url;
        if (!t.empty()) tracking = t;
      }
    }
    if (!tracking.empty()) data["tracking"] = tracking;
  }
  if (type == "order.cancelled") {
    if (auto reason = str(r, "cancel_reason"); !reason.empty()) data["reason"] = reason;
  }
  return data;
}

sdk::Result<std::unique_ptr<Shopify>> Shopify::create(sdk::Host& host,
                                                      const std::string& /*instance_id*/,
                                                      const json& config) {
  auto settings = parseSettings(config);
  if (!settings) return settings.status();
  auto received = host.counter("sanjog_shopify_webhooks_total",
                               "Shopify webhooks by event type and result (emitted, ignored "
                               "topic, invalid).",
                               {"type", "result"});
  if (!received) return received.status();
  auto failures = host.counter("sanjog_shopify_signature_failures_total",
                               "Shopify webhooks refused by the HMAC or shop check.", {"reason"});
  if (!failures) return failures.status();
  return std::make_unique<Shopify>(host, std::move(settings).value(), *received, *failures);
}

sdk::WebhookResponse Shopify::handleWebhook(const sdk::WebhookRequest& request) {
  if (request.method != "POST") {
    return sdk::WebhookResponse::error(405, Code::kInvalidArgument, "Shopify webhooks are POSTs");
  }
  // Classic webhooks use X-Shopify-*; the newer events webhooks lower-case shopify-*.
  auto header = [&request](const char* classic, const char* events) {
    auto v = request.header(classic);
    if (!v) v = request.header(events);
    return v ? std::string(*v) : std::string();
  };
  const std::string hmac = header("X-Shopify-Hmac-Sha256", "shopify-hmac-sha256");
  const std::string expected =
      sdk::crypto::base64Encode(sdk::crypto::hmacSha256(settings_.client_secret, request.body));
  if (hmac.empty() || !sdk::crypto::constantTimeEqual(hmac, expected)) {
    signature_failures_.inc({hmac.empty() ? "missing" : "mismatch"});
    host_.warn(std::string("webhook refused: X-Shopify-Hmac-Sha256 is ") +
               (hmac.empty() ? "missing" : "wrong"));
    return sdk::WebhookResponse::error(401, Code::kUnauthenticated,
                                       "X-Shopify-Hmac-Sha256 does not match the body");
  }
  const std::string shop = header("X-Shopify-Shop-Domain", "shopify-shop-domain");
  if (!settings_.shop_domain.empty() && shop != settings_.shop_domain) {
    signature_failures_.inc({"other_shop"});
    return sdk::WebhookResponse::error(403, Code::kUnauthenticated,
                                       "this instance takes webhooks of " + settings_.shop_domain);
  }
  const std::string topic = header("X-Shopify-Topic", "shopify-topic");
  std::string delivery_id = header("X-Shopify-Webhook-Id", "shopify-webhook-id");
  if (delivery_id.empty()) delivery_id = header("X-Shopify-Event-Id", "shopify-event-id");
  if (topic.empty() || delivery_id.empty()) {
    received_.inc({"invalid", "rejected"});
    return sdk::WebhookResponse::error(400, Code::kInvalidArgument,
                                       "X-Shopify-Topic and X-Shopify-Webhook-Id are required");
  }
  const auto type = eventTypeFor(topic);
  if (!type) {
    received_.inc({"other", "ignored"});  // acknowledged so Shopify does not retry it
    return sdk::WebhookResponse::json(200, {{"ignored", topic}});
  }
  const json resource = json::parse(request.body, nullptr, false);
  auto data = mapResource(*type, resource, settings_, shop);
  if (!data) {
    received_.inc({*type, "rejected"});
    return sdk::WebhookResponse::error(400, Code::kInvalidArgument, data.status().message());
  }
  json event = channel::cloudEvent(*type, "shopify:" + delivery_id, std::move(data).value());
  if (const std::string subject = str(event["data"], "order_id"); !subject.empty()) {
    event["subject"] = "order_" + subject;  // one order's events are delivered in order
  }
  received_.inc({*type, "emitted"});
  sdk::WebhookResponse r = sdk::WebhookResponse::json(200, {{"received", 1}});
  r.events.push_back(event.dump());
  return r;
}

}  // namespace sanjog::plugins::ecom_shopify
