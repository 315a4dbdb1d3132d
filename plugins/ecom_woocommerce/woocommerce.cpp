#include "woocommerce.hpp"

#include "sanjog/sdk/crypto.hpp"

namespace sanjog::plugins::ecom_woocommerce {

using channel::member;
using channel::str;
using nlohmann::json;
using sdk::Code;

const char* const kConfigSchema = R"json({
  "$schema": "http://json-schema.org/draft-07/schema#",
  "title": "ecom_woocommerce",
  "type": "object",
  "additionalProperties": false,
  "required": ["secret"],
  "properties": {
    "secret": {
      "type": "string",
      "minLength": 8,
      "x-secret": true,
      "description": "The webhook's secret as typed in WooCommerce > Settings > Advanced > Webhooks; verifies X-WC-Webhook-Signature."
    },
    "source_url": {
      "type": "string",
      "pattern": "^https?://[^\\s]+$",
      "description": "The shop's address (home URL, as in X-WC-Webhook-Source); when set, deliveries from other shops are refused with 403."
    },
    "default_region": {
      "type": "string",
      "pattern": "^[A-Z]{2}$",
      "default": "BD",
      "description": "Region for customer phone numbers written without a country code, when the billing address has no country."
    },
    "store": {
      "type": "string",
      "default": "",
      "description": "The store name put in events (data.store); empty: the shop's address."
    }
  },
  "examples": [
    { "secret": "${env:WOOCOMMERCE_WEBHOOK_SECRET}", "source_url": "https://shop.example.com/" }
  ]
})json";

namespace {

std::string text(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_unsigned()) return std::to_string(v.get<uint64_t>());
  if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
  if (v.is_number_float()) {
    json copy = v;
    return copy.dump();
  }
  return {};
}

std::string joinName(const json& a) {
  std::string name = str(a, "first_name");
  if (auto last = str(a, "last_name"); !last.empty()) name += (name.empty() ? "" : " ") + last;
  return name;
}

// The Shipment Tracking extension keeps shipments in order meta data.
json tracking(const json& order) {
  const json& meta = member(order, "meta_data");
  if (!meta.is_array()) return json::object();
  for (const auto& m : meta) {
    if (str(m, "key") != "_wc_shipment_tracking_items") continue;
    const json& items = member(m, "value");
    if (!items.is_array() || items.empty()) continue;
    const json& t = items.back();
    json out = json::object();
    if (auto n = str(t, "tracking_number"); !n.empty()) out["number"] = n;
    std::string company = str(t, "tracking_provider");
    if (company.empty()) company = str(t, "custom_tracking_provider");
    if (!company.empty()) out["company"] = company;
    if (auto url = str(t, "custom_tracking_link"); !url.empty()) out["url"] = url;
    return out;
  }
  return json::object();
}

}  // namespace

std::string decodeEntities(std::string_view in) {
  static const std::pair<std::string_view, char> kEntities[] = {{"&amp;", '&'},   {"&lt;", '<'},
                                                                {"&gt;", '>'},    {"&quot;", '"'},
                                                                {"&#039;", '\''}, {"&#39;", '\''}};
  std::string out;
  for (size_t i = 0; i < in.size();) {
    bool matched = false;
    if (in[i] == '&') {
      for (const auto& [entity, c] : kEntities) {
        if (in.substr(i, entity.size()) == entity) {
          out += c;
          i += entity.size();
          matched = true;
          break;
        }
      }
    }
    if (!matched) out += in[i++];
  }
  return out;
}

sdk::Result<Settings> parseSettings(const json& config) {
  if (!config.is_object()) return {Code::kInvalidArgument, "config must be an object"};
  Settings s;
  try {
    s.secret = decodeEntities(config.value("secret", ""));
    s.source_url = config.value("source_url", "");
    s.default_region = config.value("default_region", s.default_region);
    s.store = config.value("store", "");
  } catch (const json::exception& e) {
    return {Code::kInvalidArgument,
            std::string("config has a value of the wrong type: ") + e.what()};
  }
  if (s.secret.empty()) return {Code::kInvalidArgument, "secret is required"};
  return s;
}

std::optional<std::string> eventTypeFor(std::string_view status) {
  if (status == "pending" || status == "on-hold") return "order.created";
  if (status == "processing") return "order.paid";
  if (status == "completed") return "order.fulfilled";
  if (status == "cancelled" || status == "refunded" || status == "failed") return "order.cancelled";
  return std::nullopt;
}

sdk::Result<std::vector<json>> mapOrder(const json& order, std::string_view topic,
                                        const Settings& settings, const std::string& source) {
  if (!order.is_object()) return {Code::kInvalidArgument, "the body is not a JSON object"};
  const std::string id = text(member(order, "id"));
  if (id.empty()) return {Code::kInvalidArgument, "an order without id"};
  const std::string status = str(order, "status");
  json data = {{"order_id", id}};
  if (auto n = text(member(order, "number")); !n.empty()) data["number"] = n;
  if (auto c = str(order, "currency"); c.size() == 3) data["currency"] = c;
  if (auto t = text(member(order, "total")); !t.empty()) data["total"] = t;
  json items = json::array();
  if (const json& li = member(order, "line_items"); li.is_array()) {
    for (const auto& l : li) {
      json item = {{"name", str(l, "name")}};
      if (auto sku = str(l, "sku"); !sku.empty()) item["sku"] = sku;
      if (auto q = channel::integerField(l, "quantity"); q && *q >= 0) item["quantity"] = *q;
      if (auto p = text(member(l, "price")); !p.empty()) item["price"] = p;
      items.push_back(item);
    }
  }
  data["line_items"] = items;
  const json& billing = member(order, "billing");
  const json& shipping = member(order, "shipping");
  json customer = json::object();
  if (auto cid = text(member(order, "customer_id")); !cid.empty() && cid != "0") {
    customer["id"] = cid;
  }
  std::string name = joinName(billing);
  if (name.empty()) name = joinName(shipping);
  if (!name.empty()) customer["name"] = name;
  std::string region = str(billing, "country");
  if (region.size() != 2) region = settings.default_region;
  for (const std::string& raw : {str(billing, "phone"), str(shipping, "phone")}) {
    if (raw.empty()) continue;
    if (auto e164 = channel::toE164(raw, region)) {
      customer["phone"] = *e164;
      break;
    }
  }
  if (auto email = str(billing, "email"); !email.empty()) customer["email"] = email;
  if (!customer.empty()) data["customer"] = customer;
  json ship = json::object();
  if (auto n = joinName(shipping); !n.empty()) ship["name"] = n;
  if (auto v = str(shipping, "address_1"); !v.empty()) ship["line1"] = v;
  if (auto v = str(shipping, "address_2"); !v.empty()) ship["line2"] = v;
  if (auto v = str(shipping, "city"); !v.empty()) ship["city"] = v;
  if (auto v = str(shipping, "postcode"); !v.empty()) ship["postcode"] = v;
  if (auto v = str(shipping, "country"); !v.empty()) ship["country"] = v;
  if (!ship.empty()) data["shipping_address"] = ship;
  const std::string store = settings.store.empty() ? source : settings.store;
  if (!store.empty()) data["store"] = store;
  if (!status.empty()) data["status"] = status;
  if (auto pm = str(order, "payment_method"); !pm.empty()) data["payment_method"] = pm;

  std::vector<std::string> types;
  if (topic == "order.created") types.emplace_back("order.created");
  if (auto t = eventTypeFor(status); t && (types.empty() || *t != types.front())) {
    types.push_back(*t);
  }
  std::vector<json> events;
  for (const auto& type : types) {
    json d = data;
    if (type == "order.fulfilled") {
      if (json t = tracking(order); !t.empty()) d["tracking"] = t;
    }
    if (type == "order.cancelled") d["reason"] = status;
    // One event of each type per order: WooCommerce's repeated updates
    // (notes, stock, meta) are duplicates, answered 200 and stored once.
    json event = channel::cloudEvent(type, "woocommerce:" + id + ":" + type, d);
    event["subject"] = "order_" + id;
    events.push_back(std::move(event));
  }
  return events;
}

sdk::Result<std::unique_ptr<WooCommerce>> WooCommerce::create(sdk::Host& host,
                                                              const std::string& /*instance_id*/,
                                                              const json& config) {
  auto settings = parseSettings(config);
  if (!settings) return settings.status();
  auto received = host.counter("sanjog_woocommerce_webhooks_total",
                               "WooCommerce deliveries by event type and result (emitted, ping, "
                               "ignored, rejected).",
                               {"type", "result"});
  if (!received) return received.status();
  auto failures =
      host.counter("sanjog_woocommerce_signature_failures_total",
                   "WooCommerce deliveries refused by the signature or source check.", {"reason"});
  if (!failures) return failures.status();
  return std::make_unique<WooCommerce>(host, std::move(settings).value(), *received, *failures);
}

sdk::WebhookResponse WooCommerce::handleWebhook(const sdk::WebhookRequest& request) {
  if (request.method != "POST") {
    return sdk::WebhookResponse::error(405, Code::kInvalidArgument,
                                       "WooCommerce webhooks are POSTs");
  }
  const auto signature = request.header("X-WC-Webhook-Signature");
  if (!signature && request.body.rfind("webhook_id=", 0) == 0 && request.body.size() < 64) {
    // The unsigned ping WooCommerce sends when a webhook is saved; it needs a 200.
    received_.inc({"ping", "ping"});
    return sdk::WebhookResponse::json(200, {{"pong", true}});
  }
  const std::string expected =
      sdk::crypto::base64Encode(sdk::crypto::hmacSha256(settings_.secret, request.body));
  if (!signature || !sdk::crypto::constantTimeEqual(*signature, expected)) {
    failures_.inc({signature ? "mismatch" : "missing"});
    host_.warn(std::string("webhook refused: X-WC-Webhook-Signature is ") +
               (signature ? "wrong" : "missing"));
    return sdk::WebhookResponse::error(401, Code::kUnauthenticated,
                                       "X-WC-Webhook-Signature does not match the body");
  }
  const std::string source(request.header("X-WC-Webhook-Source").value_or(""));
  if (!settings_.source_url.empty() && source != settings_.source_url) {
    failures_.inc({"other_source"});
    return sdk::WebhookResponse::error(403, Code::kUnauthenticated,
                                       "this instance takes webhooks of " + settings_.source_url);
  }
  const std::string topic(request.header("X-WC-Webhook-Topic").value_or(""));
  if (topic != "order.created" && topic != "order.updated") {
    received_.inc({"other", "ignored"});
    return sdk::WebhookResponse::json(200, {{"ignored", topic}});
  }
  auto events = mapOrder(json::parse(request.body, nullptr, false), topic, settings_, source);
  if (!events) {
    received_.inc({"invalid", "rejected"});
    return sdk::WebhookResponse::error(400, Code::kInvalidArgument, events.status().message());
  }
  sdk::WebhookResponse r = sdk::WebhookResponse::json(200, {{"received", events->size()}});
  for (auto& e : *events) {
    received_.inc({e["type"].get<std::string>(), "emitted"});
    r.events.push_back(e.dump());
  }
  if (events->empty()) received_.inc({"other", "ignored"});
  return r;
}

}  // namespace sanjog::plugins::ecom_woocommerce
