// Outbound: message.send -> POST /{version}/{phone_number_id}/messages, the
// customer-service window, the send rate limit and Graph error mapping.
#include "meta.hpp"
#include "whatsapp.hpp"

namespace sanjog::plugins::channel_whatsapp {

using channel::str;
using nlohmann::json;
using sdk::Code;
using sdk::DeliveryResult;

namespace {

size_t codePoints(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

sdk::Result<json> templateBody(const json& t) {
  const std::string name = str(t, "name");
  const std::string language = str(t, "language");
  if (name.empty() || language.empty()) {
    return {Code::kInvalidArgument, "a template needs name and language"};
  }
  json components = json::array();
  auto textParams = [](const json& list) {
    json params = json::array();
    for (const auto& p : list) {
      if (p.is_string()) {
        params.push_back({{"type", "text"}, {"text", p}});
      } else if (p.is_object() && p.contains("kind")) {  // a media header
        const std::string kind = str(p, "kind");
        json media = json::object();
        if (auto u = str(p, "url"); !u.empty()) media["link"] = u;
        if (auto id = str(p, "media_id"); !id.empty()) media["id"] = id;
        if (auto f = str(p, "filename"); !f.empty()) media["filename"] = f;
        params.push_back({{"type", kind}, {kind, media}});
      }
    }
    return params;
  };
  if (t.contains("header") && t["header"].is_array() && !t["header"].empty()) {
    components.push_back({{"type", "header"}, {"parameters", textParams(t["header"])}});
  }
  if (t.contains("parameters") && t["parameters"].is_array() && !t["parameters"].empty()) {
    components.push_back({{"type", "body"}, {"parameters", textParams(t["parameters"])}});
  }
  if (t.contains("buttons") && t["buttons"].is_array()) {
    int index = 0;
    for (const auto& b : t["buttons"]) {
      const std::string sub = b.is_object() ? b.value("sub_type", "quick_reply") : "quick_reply";
      const int at = b.is_object() ? b.value("index", index) : index;
      ++index;
      json param;
      if (sub == "url") {
        param = {{"type", "text"}, {"text", str(b, "text")}};
      } else if (sub == "quick_reply") {
        param = {{"type", "payload"}, {"payload", str(b, "payload")}};
      } else {
        return {Code::kInvalidArgument, "template button sub_type must be quick_reply or url"};
      }
      components.push_back({{"type", "button"},
                            {"sub_type", sub},
                            {"index", std::to_string(at)},
                            {"parameters", json::array({param})}});
    }
  }
  json tpl = {{"name", name}, {"language", {{"policy", "deterministic"}, {"code", language}}}};
  if (!components.empty()) tpl["components"] = components;
  return tpl;
}

sdk::Result<json> interactiveBody(const json& in) {
  const std::string kind = str(in, "kind");
  const std::string text = str(in, "body");
  if (text.empty()) return {Code::kInvalidArgument, "interactive.body is required"};
  json out = {{"body", {{"text", text}}}};
  if (auto h = str(in, "header"); !h.empty()) out["header"] = {{"type", "text"}, {"text", h}};
  if (auto f = str(in, "footer"); !f.empty()) out["footer"] = {{"text", f}};
  if (kind == "buttons") {
    const json& buttons = in.contains("buttons") ? in["buttons"] : json();
    if (!buttons.is_array() || buttons.empty() || buttons.size() > 3) {
      return {Code::kInvalidArgument, "WhatsApp reply buttons: 1 to 3"};
    }
    json list = json::array();
    for (const auto& b : buttons) {
      const std::string title = str(b, "title");
      if (str(b, "id").empty() || title.empty() || codePoints(title) > 20) {
        return {Code::kInvalidArgument,
                "each button needs an id and a title of at most 20 characters"};
      }
      list.push_back({{"type", "reply"}, {"reply", {{"id", str(b, "id")}, {"title", title}}}});
    }
    out["type"] = "button";
    out["action"] = {{"buttons", list}};
    return out;
  }
  if (kind == "list") {
    const json& sections = in.contains("sections") ? in["sections"] : json();
    if (!sections.is_array() || sections.empty() || sections.size() > 10) {
      return {Code::kInvalidArgument, "WhatsApp lists: 1 to 10 sections"};
    }
    json secs = json::array();
    size_t rows_total = 0;
    for (const auto& s : sections) {
      json rows = json::array();
      if (s.contains("rows") && s["rows"].is_array()) {
        for (const auto& r : s["rows"]) {
          const std::string title = str(r, "title");
          if (str(r, "id").empty() || title.empty() || codePoints(title) > 24) {
            return {Code::kInvalidArgument,
                    "each list row needs an id and a title of at most 24 characters"};
          }
          json row = {{"id", str(r, "id")}, {"title", title}};
          if (auto d = str(r, "description"); !d.empty()) row["description"] = d;
          rows.push_back(row);
          ++rows_total;
        }
      }
      json sec = {{"rows", rows}};
      if (auto t = str(s, "title"); !t.empty()) sec["title"] = t;
      secs.push_back(sec);
    }
    if (rows_total == 0 || rows_total > 10) {
      return {Code::kInvalidArgument, "WhatsApp lists: 1 to 10 rows in all"};
    }
    std::string button = str(in, "button");
    if (button.empty()) button = "Options";
    out["type"] = "list";
    out["action"] = {{"button", button}, {"sections", secs}};
    return out;
  }
  return {Code::kInvalidArgument, "interactive.kind must be buttons or list"};
}

}  // namespace

sdk::Result<json> buildSendBody(const json& data, const std::string& to, const Settings& settings) {
  const json& m = data.contains("message") ? data["message"] : json();
  if (!m.is_object()) return {Code::kInvalidArgument, "message.send has no message object"};
  json body = {{"messaging_product", "whatsapp"}, {"recipient_type", "individual"}, {"to", to}};
  if (auto reply = str(m, "reply_to"); !reply.empty()) body["context"] = {{"message_id", reply}};
  if (m.contains("template") && m["template"].is_object()) {
    auto tpl = templateBody(m["template"]);
    if (!tpl) return tpl.status();
    body["type"] = "template";
    body["template"] = *tpl;
  } else if (m.contains("media") && m["media"].is_object()) {
    const json& media = m["media"];
    const std::string kind = str(media, "kind");
    if (kind != "image" && kind != "audio" && kind != "video" && kind != "document" &&
        kind != "sticker") {
      return {Code::kInvalidArgument,
              "media.kind must be image, audio, video, document or sticker"};
    }
    json obj = json::object();
    if (auto id = str(media, "media_id"); !id.empty()) {
      obj["id"] = id;
    } else if (auto url = str(media, "url"); !url.empty()) {
      obj["link"] = url;
    } else {
      return {Code::kInvalidArgument, "media needs url or media_id"};
    }
    if (auto c = str(media, "caption"); !c.empty() && kind != "audio" && kind != "sticker") {
      obj["caption"] = c;
    }
    if (auto f = str(media, "filename"); !f.empty() && kind == "document") obj["filename"] = f;
    body["type"] = kind;
    body[kind] = obj;
  } else if (m.contains("interactive") && m["interactive"].is_object()) {
    auto inter = interactiveBody(m["interactive"]);
    if (!inter) return inter.status();
    body["type"] = "interactive";
    body["interactive"] = *inter;
  } else if (m.contains("text") && m["text"].is_string()) {
    const std::string text = m["text"].get<std::string>();
    if (text.empty()) return {Code::kInvalidArgument, "message.text is empty"};
    if (codePoints(text) > 4096) {
      return {Code::kInvalidArgument, "WhatsApp text is limited to 4096 characters"};
    }
    const bool preview = m.contains("preview_url") && m["preview_url"].is_boolean()
                             ? m["preview_url"].get<bool>()
                             : settings.preview_url;
    body["type"] = "text";
    body["text"] = {{"preview_url", preview}, {"body", text}};
  } else {
    return {Code::kInvalidArgument, "message needs text, template, media or interactive"};
  }
  return body;
}

DeliveryResult WhatsApp::deliver(const sdk::Delivery& delivery) {
  json event = json::parse(delivery.event, nullptr, false);
  if (!event.is_object() || !event.contains("data") || !event["data"].is_object()) {
    return DeliveryResult::permanent(Code::kInvalidArgument, "the event has no data object");
  }
  if (delivery.action == "mark_read") return markRead(event);
  if (delivery.action != "send") {
    return DeliveryResult::permanent(Code::kInvalidArgument,
                                     "unknown action " + std::string(delivery.action));
  }
  return send(event);
}

DeliveryResult WhatsApp::send(const json& event) {
  const json& data = event["data"];
  const json& m = data.contains("message") ? data["message"] : json();
  const std::string kind = !m.is_object()              ? "invalid"
                           : m.contains("template")    ? "template"
                           : m.contains("media")       ? "media"
                           : m.contains("interactive") ? "interactive"
                                                       : "text";
  const auto e164 = channel::toE164(str(data, "to"), settings_.default_region);
  if (!e164) {
    metrics_.sends.inc({"whatsapp", kind, "invalid"});
    return DeliveryResult::permanent(Code::kInvalidArgument,
                                     "\"to\" is not a phone number WhatsApp can reach");
  }
  auto body = buildSendBody(data, e164->substr(1), settings_);
  if (!body) {
    metrics_.sends.inc({"whatsapp", kind, "invalid"});
    return DeliveryResult::permanent(Code::kInvalidArgument, body.status().message());
  }
  const int64_t now = host_.nowMs();
  if (kind != "template" && !window_.open(*e164, now, settings_.service_window_ms)) {
    metrics_.sends.inc({"whatsapp", kind, "outside_window"});
    return DeliveryResult::permanent(
        Code::kOutsideWindow,
        "outside_window: the customer's last message is older than the service window; only a "
        "template can be sent");
  }
  return post(*body, kind);
}

DeliveryResult WhatsApp::markRead(const json& event) {
  const std::string id = str(event["data"].value("message", json::object()), "id");
  if (str(event, "type") != "message.received" || id.empty()) {
    return DeliveryResult::permanent(Code::kInvalidArgument,
                                     "mark_read takes a message.received event");
  }
  return post({{"messaging_product", "whatsapp"}, {"status", "read"}, {"message_id", id}},
              "mark_read");
}

DeliveryResult WhatsApp::post(const json& body, const std::string& kind) {
  if (const int64_t wait = limiter_.tryAcquire(host_.nowMs()); wait > 0) {
    metrics_.rate_limited.inc({"whatsapp"});
    return DeliveryResult::retry(Code::kRateLimited, "held back by this instance's send rate limit",
                                 wait);
  }
  sdk::HttpRequest req;
  req.url = settings_.graphUrl(settings_.phone_number_id + "/messages");
  req.timeout_ms = settings_.timeout_ms;
  req.headers = {{"Authorization", "Bearer " + settings_.access_token},
                 {"Content-Type", "application/json"}};
  req.body = body.dump();
  auto res = host_.http(req);
  if (!res) {
    metrics_.sends.inc({"whatsapp", kind, "error"});
    return DeliveryResult::retry(res.status().code(), res.status().message());
  }
  if (res->status >= 200 && res->status < 300) {
    token_.markValid();
    metrics_.sends.inc({"whatsapp", kind, "sent"});
    json answer = json::parse(res->body, nullptr, false);
    std::string id;
    if (answer.is_object() && answer.contains("messages") && answer["messages"].is_array() &&
        !answer["messages"].empty()) {
      id = str(answer["messages"][0], "id");
    }
    return DeliveryResult::success(id, res->status);
  }
  bool token_invalid = false;
  auto r =
      channel::meta::classify(*res, host_.nowMs(), settings_.throttle_delay_ms, &token_invalid);
  if (token_invalid) channel::meta::reportInvalidToken(host_, token_, "WhatsApp", r.message);
  metrics_.sends.inc(
      {"whatsapp", kind, std::string(r.outcome == sdk::Outcome::kRetry ? "retry" : "failed")});
  return r;
}

}  // namespace sanjog::plugins::channel_whatsapp
