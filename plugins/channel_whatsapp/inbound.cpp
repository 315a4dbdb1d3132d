// Inbound: the subscribe handshake, signature check and the mapping of
// WhatsApp webhook payloads to message.received / message.status events.
#include "meta.hpp"
#include "whatsapp.hpp"

namespace sanjog::plugins::channel_whatsapp {

using channel::member;
using channel::str;
using nlohmann::json;
using sdk::Code;

namespace {

constexpr size_t kMaxItems = 1000;  // messages + statuses in one POST

json mediaAttachment(const std::string& kind, const json& m) {
  json a = {{"kind", kind}};
  if (auto v = str(m, "id"); !v.empty()) a["media_id"] = v;
  if (auto v = str(m, "mime_type"); !v.empty()) a["mime_type"] = v;
  if (auto v = str(m, "caption"); !v.empty()) a["caption"] = v;
  if (auto v = str(m, "filename"); !v.empty()) a["filename"] = v;
  if (auto v = str(m, "sha256"); !v.empty()) a["sha256"] = v;
  if (m.is_object() && m.contains("voice") && m["voice"].is_boolean()) a["voice"] = m["voice"];
  if (m.is_object() && m.contains("animated") && m["animated"].is_boolean()) {
    a["animated"] = m["animated"];
  }
  return a;
}

json sharedContacts(const json& list, const std::string& region) {
  json out = json::array();
  if (!list.is_array()) return out;
  for (const auto& c : list) {
    json one = json::object();
    const json& name = member(c, "name");
    if (auto v = str(name, "formatted_name"); !v.empty()) one["name"] = v;
    json phones = json::array();
    for (const auto& p : member(c, "phones").is_array() ? member(c, "phones") : json::array()) {
      std::string raw = str(p, "wa_id").empty() ? str(p, "phone") : "+" + str(p, "wa_id");
      if (auto e164 = channel::toE164(raw, region)) {
        phones.push_back(*e164);
      } else if (!raw.empty()) {
        phones.push_back(raw);
      }
    }
    if (!phones.empty()) one["phones"] = phones;
    json emails = json::array();
    for (const auto& e : member(c, "emails").is_array() ? member(c, "emails") : json::array()) {
      if (auto v = str(e, "email"); !v.empty()) emails.push_back(v);
    }
    if (!emails.empty()) one["emails"] = emails;
    out.push_back(one);
  }
  return out;
}

// Fills data.message for one messages[] item; returns the kind.
std::string mapMessage(const json& m, json& msg, const std::string& region) {
  const std::string type = str(m, "type");
  const json& body = member(m, type.c_str());
  if (type == "text") {
    msg["text"] = str(body, "body");
    return "text";
  }
  if (type == "image" || type == "audio" || type == "video" || type == "document" ||
      type == "sticker") {
    msg["attachments"] = json::array({mediaAttachment(type, body)});
    if (auto caption = str(body, "caption"); !caption.empty()) msg["text"] = caption;
    return type;
  }
  if (type == "location") {
    json loc = {{"latitude", body.value("latitude", 0.0)},
                {"longitude", body.value("longitude", 0.0)}};
    if (auto v = str(body, "name"); !v.empty()) loc["name"] = v;
    if (auto v = str(body, "address"); !v.empty()) loc["address"] = v;
    if (auto v = str(body, "url"); !v.empty()) loc["url"] = v;
    msg["location"] = loc;
    return "location";
  }
  if (type == "contacts") {
    msg["contacts"] = sharedContacts(member(m, "contacts"), region);
    return "contacts";
  }
  if (type == "interactive") {
    const std::string itype = str(body, "type");
    if (itype == "button_reply" || itype == "list_reply") {
      const json& reply = member(body, itype.c_str());
      json inter = {{"kind", itype}, {"id", str(reply, "id")}, {"title", str(reply, "title")}};
      if (auto v = str(reply, "description"); !v.empty()) inter["description"] = v;
      msg["interactive"] = inter;
      msg["text"] = str(reply, "title");
      return "interactive";
    }
    msg["raw_type"] = "interactive." + itype;
    return "unsupported";
  }
  if (type == "button") {  // quick-reply button of a template message
    msg["interactive"] = {{"kind", "button_reply"},
                          {"id", str(body, "payload")},
                          {"title", str(body, "text")},
                          {"template", true}};
    msg["text"] = str(body, "text");
    return "interactive";
  }
  if (type == "reaction") {
    json r = {{"message_id", str(body, "message_id")}};
    if (body.is_object() && body.contains("emoji") && body["emoji"].is_string()) {
      r["emoji"] = body["emoji"];  // absent or empty when a reaction is removed
    }
    msg["reaction"] = r;
    return "reaction";
  }
  msg["raw_type"] = type.empty() ? "unknown" : type;
  if (const json& errors = member(m, "errors"); errors.is_array() && !errors.empty()) {
    msg["error"] = {{"code", std::to_string(channel::integerField(errors[0], "code").value_or(0))},
                    {"reason", str(errors[0], "title")}};
  }
  return "unsupported";
}

json mapStatus(const json& st, const std::string& region) {
  const std::string status = str(st, "status");
  json data = {{"channel", "whatsapp"}, {"provider_message_id", str(st, "id")}, {"status", status}};
  if (auto ts = channel::integerField(st, "timestamp")) {
    data["timestamp"] = channel::rfc3339(*ts * 1000);
  }
  if (auto r = str(st, "recipient_id"); !r.empty()) {
    data["recipient"] = channel::toE164("+" + r, region).value_or(r);
  }
  if (const json& errors = member(st, "errors"); errors.is_array() && !errors.empty()) {
    const json& e = errors[0];
    json err = {{"code", std::to_string(channel::integerField(e, "code").value_or(0))},
                {"reason", str(e, "title")}};
    if (auto d = str(member(e, "error_data"), "details"); !d.empty()) err["details"] = d;
    data["error"] = err;
  }
  if (const json& pricing = member(st, "pricing"); pricing.is_object()) {
    data["pricing"] = {{"billable", pricing.value("billable", false)},
                       {"category", str(pricing, "category")}};
  }
  return data;
}

}  // namespace

sdk::Result<Parsed> parseWebhook(std::string_view body, const Settings& settings) {
  json doc = json::parse(body, nullptr, false);
  if (!doc.is_object()) return {Code::kInvalidArgument, "the body is not a JSON object"};
  if (str(doc, "object") != "whatsapp_business_account") {
    return {Code::kInvalidArgument, "object is not \"whatsapp_business_account\""};
  }
  const json& entries = member(doc, "entry");
  if (!entries.is_array()) return {Code::kInvalidArgument, "entry must be an array"};
  Parsed out;
  size_t items = 0;
  for (const auto& entry : entries) {
    const json& changes = member(entry, "changes");
    if (!changes.is_array()) continue;
    for (const auto& change : changes) {
      const json& value = member(change, "value");
      if (str(change, "field") != "messages" || !value.is_object()) {
        ++out.ignored;
        continue;
      }
      const std::string number_id = str(member(value, "metadata"), "phone_number_id");
      if (!number_id.empty() && number_id != settings.phone_number_id) {
        ++out.ignored;  // another number of the same business account
        continue;
      }
      std::map<std::string, std::string> names;
      if (const json& contacts = member(value, "contacts"); contacts.is_array()) {
        for (const auto& c : contacts) names[str(c, "wa_id")] = str(member(c, "profile"), "name");
      }
      if (const json& messages = member(value, "messages"); messages.is_array()) {
        for (const auto& m : messages) {
          if (++items > kMaxItems) return {Code::kInvalidArgument, "too many items in one POST"};
          const std::string id = str(m, "id");
          const std::string from = str(m, "from");
          if (id.empty() || from.empty()) {
            return {Code::kInvalidArgument, "a message without id or from"};
          }
          json contact = {{"id", from}};
          const std::string phone =
              channel::toE164("+" + from, settings.default_region).value_or("");
          if (!phone.empty()) contact["phone"] = phone;
          if (auto it = names.find(from); it != names.end() && !it->second.empty()) {
            contact["name"] = it->second;
          }
          json msg = {{"id", id}};
          msg["kind"] = mapMessage(m, msg, settings.default_region);
          if (auto ctx = str(member(m, "context"), "id"); !ctx.empty()) msg["reply_to"] = ctx;
          if (member(member(m, "context"), "forwarded").is_boolean()) {
            msg["forwarded"] = member(member(m, "context"), "forwarded");
          }
          json data = {{"channel", "whatsapp"}, {"contact", contact}, {"message", msg}};
          if (!phone.empty()) data["address"] = phone;
          json event = channel::cloudEvent("message.received", id, std::move(data));
          if (auto ts = channel::integerField(m, "timestamp")) {
            event["time"] = channel::rfc3339(*ts * 1000);
            event["data"]["message"]["timestamp"] = event["time"];
          }
          out.events.push_back(std::move(event));
        }
      }
      if (const json& statuses = member(value, "statuses"); statuses.is_array()) {
        for (const auto& st : statuses) {
          if (++items > kMaxItems) return {Code::kInvalidArgument, "too many items in one POST"};
          json data = mapStatus(st, settings.default_region);
          const std::string sid = str(st, "id");
          const std::string status = str(st, "status");
          if (sid.empty() || status.empty()) {
            return {Code::kInvalidArgument, "a status without id or status"};
          }
          if (status != "sent" && status != "delivered" && status != "read" && status != "failed") {
            ++out.ignored;  // "deleted", "warning": nothing Sanjog tracks
            continue;
          }
          json event = channel::cloudEvent("message.status", sid + ":" + status, data);
          if (data.contains("timestamp")) event["time"] = data["timestamp"];
          out.events.push_back(std::move(event));
        }
      }
    }
  }
  return out;
}

sdk::WebhookResponse WhatsApp::handleWebhook(const sdk::WebhookRequest& request) {
  if (request.method == "GET")
    return channel::meta::handshake(request.query, settings_.verify_token);
  if (request.method != "POST") {
    return sdk::WebhookResponse::error(405, Code::kInvalidArgument, "use GET or POST");
  }
  const auto sig = channel::meta::verifySignature(request.header("X-Hub-Signature-256"),
                                                  request.body, settings_.app_secret);
  if (sig != channel::meta::Signature::kValid) {
    metrics_.signature_failures.inc({"whatsapp", channel::meta::signatureReason(sig)});
    host_.warn(std::string("webhook refused: X-Hub-Signature-256 is ") +
               channel::meta::signatureReason(sig));
    return sdk::WebhookResponse::error(401, Code::kUnauthenticated,
                                       "X-Hub-Signature-256 does not match the body");
  }
  auto parsed = parseWebhook(request.body, settings_);
  if (!parsed) {
    metrics_.events.inc({"whatsapp", "invalid", "rejected"});
    return sdk::WebhookResponse::error(400, Code::kInvalidArgument, parsed.status().message());
  }
  sdk::WebhookResponse r = sdk::WebhookResponse::json(200, {{"received", parsed->events.size()}});
  for (auto& e : parsed->events) {
    const std::string type = e["type"].get<std::string>();
    const bool unsupported =
        type == "message.received" && e["data"]["message"]["kind"] == "unsupported";
    metrics_.events.inc({"whatsapp", type, unsupported ? "unsupported" : "emitted"});
    r.events.push_back(e.dump());
  }
  if (parsed->ignored > 0)
    metrics_.events.record({"whatsapp", "other", "ignored"}, parsed->ignored);
  return r;
}

sdk::Result<sdk::Media> WhatsApp::fetchMedia(std::string_view media_id, uint64_t max_bytes) {
  if (media_id.empty() || media_id.size() > 128 ||
      media_id.find_first_not_of("0123456789") != std::string_view::npos) {
    return {Code::kNotFound, "WhatsApp media ids are numeric"};
  }
  sdk::HttpRequest req;
  req.method = "GET";
  req.url = settings_.graphUrl(std::string(media_id));
  req.timeout_ms = settings_.timeout_ms;
  req.headers.push_back({"Authorization", "Bearer " + settings_.access_token});
  auto res = host_.http(req);
  if (!res) return res.status();
  if (res->status != 200) {
    bool token_invalid = false;
    auto r =
        channel::meta::classify(*res, host_.nowMs(), settings_.throttle_delay_ms, &token_invalid);
    if (token_invalid) channel::meta::reportInvalidToken(host_, token_, "WhatsApp", r.message);
    return {res->status == 404 || res->status == 400 ? Code::kNotFound : r.status, r.message};
  }
  json info = json::parse(res->body, nullptr, false);
  const std::string url = str(info, "url");
  if (url.empty()) return {Code::kUpstreamError, "the media lookup returned no url"};
  if (auto size = channel::integerField(info, "file_size");
      size && static_cast<uint64_t>(*size) > max_bytes) {
    return {Code::kInvalidArgument,
            "the media file (" + std::to_string(*size) + " bytes) is larger than the limit"};
  }
  return channel::meta::download(host_, url, settings_.access_token, max_bytes,
                                 str(info, "mime_type"), settings_.timeout_ms);
}

sdk::Health WhatsApp::health() {
  if (token_.invalid()) {
    return {sdk::HealthState::kDegraded,
            "the access token was refused (Graph error 190); replace it and reload"};
  }
  return {};
}

}  // namespace sanjog::plugins::channel_whatsapp
