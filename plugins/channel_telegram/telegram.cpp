#include "telegram.hpp"

#include <charconv>

#include "sanjog/sdk/crypto.hpp"
#include "sanjog/sdk/duration.hpp"

namespace sanjog::plugins::channel_telegram {

using channel::idText;
using channel::member;
using channel::str;
using nlohmann::json;
using sdk::Code;
using sdk::DeliveryResult;

const char* const kConfigSchema = R"json({
  "$schema": "http://json-schema.org/draft-07/schema#",
  "title": "channel_telegram",
  "type": "object",
  "additionalProperties": false,
  "required": ["bot_token", "secret_token"],
  "properties": {
    "api_base": {
      "type": "string",
      "pattern": "^https?://[^\\s/]+(:[0-9]+)?(/[^\\s]*)?$",
      "default": "https://api.telegram.org",
      "description": "Bot API base URL (a local Bot API server works too)."
    },
    "bot_token": {
      "type": "string",
      "pattern": "^[0-9]{3,20}:[A-Za-z0-9_-]{20,}$",
      "x-secret": true,
      "description": "The bot token from @BotFather. It is part of every request URL, so Sanjog never logs URLs of this instance."
    },
    "secret_token": {
      "type": "string",
      "pattern": "^[A-Za-z0-9_-]{16,256}$",
      "x-secret": true,
      "description": "The secret_token given to setWebhook; every webhook must carry it in X-Telegram-Bot-Api-Secret-Token (compared in constant time)."
    },
    "default_region": {
      "type": "string",
      "pattern": "^[A-Z]{2}$",
      "default": "BD",
      "description": "Region for phone numbers in shared contacts written without a country code."
    },
    "parse_mode": {
      "enum": ["", "HTML", "MarkdownV2"],
      "default": "",
      "description": "Formatting of outgoing text unless the message says otherwise (message.format); empty sends plain text."
    },
    "rate_limit_per_second": {
      "type": "number",
      "minimum": 0,
      "default": 30,
      "description": "Sends per second from this bot (Telegram allows about 30 messages per second overall); 0 disables the limit."
    },
    "rate_limit_burst": {
      "type": "integer",
      "minimum": 1,
      "default": 30,
      "description": "How many sends may go out at once before the per-second rate applies."
    },
    "timeout": {
      "type": "string",
      "pattern": "^([0-9]+(ms|s|m|h))+$",
      "default": "10s",
      "description": "Time limit for one Bot API request; a timeout is retried."
    }
  },
  "examples": [
    { "bot_token": "7012345678:AAHn3-example-token-from-BotFather",
      "secret_token": "replace-with-a-long-random-secret" }
  ]
})json";

namespace {

json fileAttachment(const std::string& kind, const json& f, const std::string& mime_fallback) {
  json a = {{"kind", kind}, {"media_id", str(f, "file_id")}};
  const std::string mime = str(f, "mime_type");
  if (!mime.empty() || !mime_fallback.empty()) a["mime_type"] = mime.empty() ? mime_fallback : mime;
  if (auto name = str(f, "file_name"); !name.empty()) a["filename"] = name;
  if (auto size = channel::integerField(f, "file_size")) a["size"] = *size;
  return a;
}

json contactOf(const json& from, const json& chat) {
  json contact = {{"id", idText(member(chat, "id"))}};
  std::string name = str(from, "first_name");
  if (auto last = str(from, "last_name"); !last.empty()) name += (name.empty() ? "" : " ") + last;
  if (name.empty()) name = str(chat, "title");
  if (!name.empty()) contact["name"] = name;
  if (auto user = str(from, "username"); !user.empty()) contact["username"] = user;
  if (auto lang = str(from, "language_code"); !lang.empty()) contact["locale"] = lang;
  return contact;
}

// Fills data.message from a Message object; returns the kind.
std::string mapMessage(const json& m, json& msg, json& contact, const Settings& settings) {
  const std::string chat = idText(member(member(m, "chat"), "id"));
  msg["id"] = chat + ":" + idText(member(m, "message_id"));
  if (const json& reply = member(m, "reply_to_message"); reply.is_object()) {
    msg["reply_to"] = chat + ":" + idText(member(reply, "message_id"));
  }
  if (auto caption = str(m, "caption"); !caption.empty()) msg["text"] = caption;
  if (auto text = str(m, "text"); !text.empty()) {
    msg["text"] = text;
    return "text";
  }
  if (const json& photos = member(m, "photo"); photos.is_array() && !photos.empty()) {
    msg["attachments"] = json::array({fileAttachment("image", photos.back(), "image/jpeg")});
    return "image";
  }
  struct FileKind {
    const char* key;
    const char* kind;
    const char* mime;
  };
  for (const FileKind fk :
       {FileKind{"document", "document", ""}, FileKind{"voice", "audio", "audio/ogg"},
        FileKind{"audio", "audio", ""}, FileKind{"video", "video", "video/mp4"},
        FileKind{"video_note", "video", "video/mp4"}, FileKind{"sticker", "sticker", ""},
        FileKind{"animation", "video", ""}}) {
    if (const json& f = member(m, fk.key); f.is_object()) {
      json a = fileAttachment(fk.kind, f, fk.mime);
      if (std::string(fk.key) == "voice") a["voice"] = true;
      if (std::string(fk.key) == "sticker") {
        if (auto e = str(f, "emoji"); !e.empty()) a["caption"] = e;
      }
      msg["attachments"] = json::array({a});
      return fk.kind;
    }
  }
  if (const json& loc = member(m, "location"); loc.is_object()) {
    msg["location"] = {{"latitude", loc.value("latitude", 0.0)},
                       {"longitude", loc.value("longitude", 0.0)}};
    return "location";
  }
  if (const json& venue = member(m, "venue"); venue.is_object()) {
    const json& loc = member(venue, "location");
    msg["location"] = {{"latitude", loc.value("latitude", 0.0)},
                       {"longitude", loc.value("longitude", 0.0)},
                       {"name", str(venue, "title")},
                       {"address", str(venue, "address")}};
    return "location";
  }
  if (const json& c = member(m, "contact"); c.is_object()) {
    const std::string raw = str(c, "phone_number");
    const std::string phone = channel::toE164(raw, settings.default_region).value_or(raw);
    std::string name = str(c, "first_name");
    if (auto last = str(c, "last_name"); !last.empty()) name += " " + last;
    json shared = {{"name", name}, {"phones", json::array({phone})}};
    msg["contacts"] = json::array({shared});
    // The person shared their own number: that is the contact's phone.
    if (member(c, "user_id") == member(member(m, "from"), "id") &&
        !member(c, "user_id").is_null() && phone.rfind('+', 0) == 0) {
      contact["phone"] = phone;
    }
    return "contacts";
  }
  if (msg.contains("text")) return "text";
  for (const auto& [key, value] : m.items()) {
    if (key != "message_id" && key != "from" && key != "chat" && key != "date" &&
        key != "message_thread_id" && key != "reply_to_message" && value.is_object()) {
      msg["raw_type"] = key;
      return "unsupported";
    }
  }
  msg["raw_type"] = "message";
  return "unsupported";
}

}  // namespace

sdk::Result<Settings> parseSettings(const json& config) {
  if (!config.is_object()) return {Code::kInvalidArgument, "config must be an object"};
  Settings s;
  try {
    s.api_base = config.value("api_base", s.api_base);
    while (!s.api_base.empty() && s.api_base.back() == '/') s.api_base.pop_back();
    s.bot_token = config.value("bot_token", "");
    s.secret_token = config.value("secret_token", "");
    s.default_region = config.value("default_region", s.default_region);
    s.parse_mode = config.value("parse_mode", "");
    s.rate_per_second = config.value("rate_limit_per_second", s.rate_per_second);
    s.rate_burst = config.value("rate_limit_burst", s.rate_burst);
  } catch (const json::exception& e) {
    return {Code::kInvalidArgument,
            std::string("config has a value of the wrong type: ") + e.what()};
  }
  if (s.api_base.rfind("http://", 0) != 0 && s.api_base.rfind("https://", 0) != 0) {
    return {Code::kInvalidArgument, "api_base must start with http:// or https://"};
  }
  if (s.bot_token.find(':') == std::string::npos) {
    return {Code::kInvalidArgument, "bot_token must look like 123456:ABC... (from @BotFather)"};
  }
  if (s.secret_token.empty() || s.secret_token.size() > 256 ||
      s.secret_token.find_first_not_of(
          "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") !=
          std::string::npos) {
    return {Code::kInvalidArgument, "secret_token: 1 to 256 characters of A-Z a-z 0-9 _ -"};
  }
  auto timeout = sdk::parseDuration(config.value("timeout", "10s"));
  if (!timeout || timeout->count() <= 0)
    return {Code::kInvalidArgument, "timeout is not a duration"};
  s.timeout_ms = static_cast<uint32_t>(std::min<int64_t>(timeout->count(), 600'000));
  if (s.rate_per_second < 0) return {Code::kInvalidArgument, "rate_limit_per_second is negative"};
  return s;
}

sdk::Result<Parsed> parseUpdate(std::string_view body, const Settings& settings) {
  json u = json::parse(body, nullptr, false);
  if (!u.is_object()) return {Code::kInvalidArgument, "the body is not a JSON object"};
  const auto update_id = channel::integerField(u, "update_id");
  if (!update_id) return {Code::kInvalidArgument, "an Update needs update_id"};
  const std::string provider_id = "update:" + std::to_string(*update_id);
  Parsed out;
  json data = {{"channel", "telegram"}};
  json msg = json::object();
  int64_t date = 0;
  if (const json& cq = member(u, "callback_query"); cq.is_object()) {
    const json& m = member(cq, "message");
    json contact = contactOf(member(cq, "from"), member(m, "chat"));
    if (str(contact, "id").empty()) contact["id"] = idText(member(member(cq, "from"), "id"));
    data["contact"] = contact;
    msg["id"] = "callback:" + str(cq, "id");
    msg["kind"] = "interactive";
    msg["interactive"] = {{"kind", "button_reply"}, {"id", str(cq, "data")}};
    msg["text"] = str(cq, "data");
    if (m.is_object()) {
      msg["reply_to"] =
          idText(member(member(m, "chat"), "id")) + ":" + idText(member(m, "message_id"));
      // The button's title, from the keyboard of the message it belongs to.
      const json& rows = member(member(m, "reply_markup"), "inline_keyboard");
      for (const auto& row : rows.is_array() ? rows : json::array()) {
        for (const auto& b : row.is_array() ? row : json::array()) {
          if (str(b, "callback_data") == str(cq, "data"))
            msg["interactive"]["title"] = str(b, "text");
        }
      }
    }
    out.callback_query_id = str(cq, "id");
  } else {
    const char* key = nullptr;
    for (const char* k :
         {"message", "edited_message", "channel_post", "edited_channel_post", "business_message"}) {
      if (member(u, k).is_object()) {
        key = k;
        break;
      }
    }
    if (key != nullptr) {
      const json& m = member(u, key);
      json contact = contactOf(member(m, "from"), member(m, "chat"));
      if (str(contact, "id").empty()) return {Code::kInvalidArgument, "a message without chat.id"};
      msg["kind"] = mapMessage(m, msg, contact, settings);
      if (std::string(key).find("edited") != std::string::npos) msg["edited"] = true;
      data["contact"] = contact;
      date = channel::integerField(m, "date").value_or(0);
    } else {
      // my_chat_member, poll_answer, ...: kept as unsupported, never dropped silently.
      std::string raw = "unknown";
      json contact = json::object();
      for (const auto& [k, v] : u.items()) {
        if (k == "update_id" || !v.is_object()) continue;
        raw = k;
        contact = contactOf(member(v, "from"), member(v, "chat"));
        if (str(contact, "id").empty()) contact["id"] = idText(member(member(v, "from"), "id"));
        date = channel::integerField(v, "date").value_or(0);
        break;
      }
      if (str(contact, "id").empty()) contact = {{"id", "unknown"}};
      data["contact"] = contact;
      msg["id"] = provider_id;
      msg["kind"] = "unsupported";
      msg["raw_type"] = raw;
    }
  }
  // Replies go to the chat, even when the person shared a phone number.
  if (!str(data["contact"], "id").empty()) data["address"] = str(data["contact"], "id");
  json event = channel::cloudEvent("message.received", provider_id, std::move(data));
  if (date > 0) {
    event["time"] = channel::rfc3339(date * 1000);
    msg["timestamp"] = event["time"];
  }
  event["data"]["message"] = std::move(msg);
  out.events.push_back(std::move(event));
  return out;
}

sdk::Result<Call> buildCall(const json& data, const Settings& settings) {
  const json& m = data.contains("message") ? data["message"] : json();
  if (!m.is_object()) return {Code::kInvalidArgument, "message.send has no message object"};
  const std::string to = str(data, "to");
  if (to.empty()) return {Code::kInvalidArgument, "\"to\" (the chat id) is required"};
  Call call;
  json& p = call.params;
  // Numeric chat ids go as numbers (as Telegram documents them); @channel names as text.
  auto integer = [](const std::string& text) -> std::optional<int64_t> {
    int64_t v = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
    return v;
  };
  if (auto numeric = integer(to)) {
    p["chat_id"] = *numeric;
  } else {
    p["chat_id"] = to;
  }
  if (auto reply = str(m, "reply_to"); !reply.empty()) {
    if (auto id = integer(reply.substr(reply.rfind(':') + 1)); id && *id > 0) {
      p["reply_parameters"] = {{"message_id", *id}};
    }
  }
  std::string parse_mode = settings.parse_mode;
  if (auto f = str(m, "format"); f == "html")
    parse_mode = "HTML";
  else if (f == "markdown")
    parse_mode = "MarkdownV2";
  else if (f == "plain")
    parse_mode.clear();
  auto keyboard = [](const json& in) -> sdk::Result<json> {
    json rows = json::array();
    auto add = [&rows](const json& b) -> bool {
      const std::string id = str(b, "id"), title = str(b, "title");
      if (id.empty() || title.empty() || id.size() > 64) return false;  // callback_data: 1-64 bytes
      rows.push_back(json::array({{{"text", title}, {"callback_data", id}}}));
      return true;
    };
    if (str(in, "kind") == "buttons" && in.contains("buttons") && in["buttons"].is_array()) {
      for (const auto& b : in["buttons"]) {
        if (!add(b))
          return sdk::Status{Code::kInvalidArgument,
                             "each button needs an id of at most 64 bytes and a title"};
      }
    } else if (str(in, "kind") == "list" && in.contains("sections") && in["sections"].is_array()) {
      for (const auto& s : in["sections"]) {
        for (const auto& r :
             s.contains("rows") && s["rows"].is_array() ? s["rows"] : json::array()) {
          if (!add(r))
            return sdk::Status{Code::kInvalidArgument,
                               "each row needs an id of at most 64 bytes and a title"};
        }
      }
    }
    if (rows.empty() || rows.size() > 100)
      return sdk::Status{Code::kInvalidArgument, "inline keyboard: 1 to 100 buttons"};
    return json{{"inline_keyboard", rows}};
  };
  if (m.contains("template")) {
    return {Code::kInvalidArgument, "templates are a WhatsApp feature; Telegram sends text"};
  }
  if (m.contains("media") && m["media"].is_object()) {
    const json& media = m["media"];
    const std::string kind = str(media, "kind");
    static const std::map<std::string, std::pair<const char*, const char*>> kMethods = {
        {"image", {"sendPhoto", "photo"}},       {"document", {"sendDocument", "document"}},
        {"audio", {"sendAudio", "audio"}},       {"video", {"sendVideo", "video"}},
        {"sticker", {"sendSticker", "sticker"}}, {"voice", {"sendVoice", "voice"}}};
    auto it = kMethods.find(media.value("voice", false) ? "voice" : kind);
    if (it == kMethods.end()) {
      return {Code::kInvalidArgument,
              "media.kind must be image, audio, video, document or sticker"};
    }
    std::string file = str(media, "media_id");
    if (file.empty()) file = str(media, "url");
    if (file.empty()) return {Code::kInvalidArgument, "media needs url or media_id"};
    call.method = it->second.first;
    p[it->second.second] = file;
    if (auto c = str(media, "caption"); !c.empty() && kind != "sticker") {
      p["caption"] = c;
      if (!parse_mode.empty()) p["parse_mode"] = parse_mode;
    }
    return call;
  }
  std::string text;
  if (m.contains("interactive") && m["interactive"].is_object()) {
    text = str(m["interactive"], "body");
    auto kb = keyboard(m["interactive"]);
    if (!kb) return kb.status();
    p["reply_markup"] = *kb;
  } else {
    text = str(m, "text");
    if (m.value("remove_keyboard", false)) p["reply_markup"] = {{"remove_keyboard", true}};
  }
  if (text.empty()) return {Code::kInvalidArgument, "message needs text, media or interactive"};
  size_t units = 0;  // Telegram counts UTF-16 code units after entity parsing; bound it loosely
  for (unsigned char c : text) units += (c & 0xC0) != 0x80;
  if (units > 4096) return {Code::kInvalidArgument, "Telegram text is limited to 4096 characters"};
  call.method = "sendMessage";
  p["text"] = text;
  if (!parse_mode.empty()) p["parse_mode"] = parse_mode;
  if (m.contains("preview_url") && m["preview_url"].is_boolean()) {
    p["link_preview_options"] = {{"is_disabled", !m["preview_url"].get<bool>()}};
  }
  return call;
}

sdk::Result<std::unique_ptr<Telegram>> Telegram::create(sdk::Host& host,
                                                        const std::string& /*instance_id*/,
                                                        const json& config) {
  auto settings = parseSettings(config);
  if (!settings) return settings.status();
  auto metrics = channel::Metrics::registerAll(host);
  if (!metrics) return metrics.status();
  return std::make_unique<Telegram>(host, std::move(settings).value(), *metrics);
}

sdk::WebhookResponse Telegram::handleWebhook(const sdk::WebhookRequest& request) {
  if (request.method != "POST") {
    return sdk::WebhookResponse::error(405, Code::kInvalidArgument, "Telegram webhooks are POSTs");
  }
  const auto given = request.header("X-Telegram-Bot-Api-Secret-Token");
  if (!given || !sdk::crypto::constantTimeEqual(*given, settings_.secret_token)) {
    metrics_.signature_failures.inc({"telegram", given ? "mismatch" : "missing"});
    host_.warn(std::string("webhook refused: X-Telegram-Bot-Api-Secret-Token is ") +
               (given ? "wrong" : "missing"));
    return sdk::WebhookResponse::error(401, Code::kUnauthenticated,
                                       "X-Telegram-Bot-Api-Secret-Token is missing or wrong");
  }
  auto parsed = parseUpdate(request.body, settings_);
  if (!parsed) {
    metrics_.events.inc({"telegram", "invalid", "rejected"});
    return sdk::WebhookResponse::error(400, Code::kInvalidArgument, parsed.status().message());
  }
  sdk::WebhookResponse r;
  r.status = 200;
  if (!parsed->callback_query_id.empty()) {
    // Answering with a method call acknowledges the tap without another request.
    r.body =
        json{{"method", "answerCallbackQuery"}, {"callback_query_id", parsed->callback_query_id}}
            .dump();
  } else {
    r.body = json{{"received", parsed->events.size()}}.dump();
  }
  for (auto& e : parsed->events) {
    const bool unsupported = e["data"]["message"]["kind"] == "unsupported";
    metrics_.events.inc({"telegram", "message.received", unsupported ? "unsupported" : "emitted"});
    r.events.push_back(e.dump());
  }
  return r;
}

DeliveryResult Telegram::deliver(const sdk::Delivery& delivery) {
  if (delivery.action != "send") {
    return DeliveryResult::permanent(Code::kInvalidArgument,
                                     "unknown action " + std::string(delivery.action));
  }
  json event = json::parse(delivery.event, nullptr, false);
  if (!event.is_object() || !event.contains("data") || !event["data"].is_object()) {
    return DeliveryResult::permanent(Code::kInvalidArgument, "the event has no data object");
  }
  auto call = buildCall(event["data"], settings_);
  if (!call) {
    metrics_.sends.inc({"telegram", "invalid", "invalid"});
    return DeliveryResult::permanent(Code::kInvalidArgument, call.status().message());
  }
  const std::string kind = call->method == "sendMessage" ? "text" : "media";
  if (const int64_t wait = limiter_.tryAcquire(host_.nowMs()); wait > 0) {
    metrics_.rate_limited.inc({"telegram"});
    return DeliveryResult::retry(Code::kRateLimited, "held back by this instance's send rate limit",
                                 wait);
  }
  sdk::HttpRequest req;
  req.url = settings_.methodUrl(call->method);
  req.timeout_ms = settings_.timeout_ms;
  req.headers = {{"Content-Type", "application/json"}};
  req.body = call->params.dump();
  auto res = host_.http(req);
  if (!res) {
    metrics_.sends.inc({"telegram", kind, "error"});
    // The host's message names the URL's host only; never the path with the token.
    return DeliveryResult::retry(res.status().code(), res.status().message());
  }
  const json answer = json::parse(res->body, nullptr, false);
  if (res->status == 200 && answer.is_object() && answer.value("ok", false)) {
    token_.markValid();
    metrics_.sends.inc({"telegram", kind, "sent"});
    const json& result = member(answer, "result");
    return DeliveryResult::success(
        idText(member(member(result, "chat"), "id")) + ":" + idText(member(result, "message_id")),
        res->status);
  }
  const std::string description = str(answer, "description").substr(0, 300);
  const std::string text = "Telegram answered " + std::to_string(res->status) +
                           (description.empty() ? "" : ": " + description);
  DeliveryResult r;
  const json& params = member(answer, "parameters");
  if (res->status == 429) {
    const auto after = channel::integerField(params, "retry_after");
    r = DeliveryResult::retry(Code::kRateLimited, text, after ? *after * 1000 : 5000);
  } else if (res->status == 401 || res->status == 404) {
    r = DeliveryResult::permanent(Code::kUnauthenticated, text);
    if (token_.markInvalid()) {
      host_.error("Telegram refused the bot token (" + text +
                  "); get the current token from @BotFather, put it in bot_token and reload");
    }
  } else if (res->status == 403) {
    r = DeliveryResult::permanent(Code::kNotFound, text + " (the person blocked the bot or left)");
  } else if (res->status >= 500) {
    r = DeliveryResult::retry(Code::kUpstreamError, text);
  } else if (auto to = channel::integerField(params, "migrate_to_chat_id")) {
    r = DeliveryResult::permanent(Code::kInvalidArgument,
                                  text + "; the group moved to chat " + std::to_string(*to));
  } else {
    r = DeliveryResult::permanent(Code::kInvalidArgument, text);
  }
  r.http_status = res->status;
  metrics_.sends.inc({"telegram", kind, r.outcome == sdk::Outcome::kRetry ? "retry" : "failed"});
  return r;
}

sdk::Health Telegram::health() {
  if (token_.invalid()) {
    return {sdk::HealthState::kDegraded, "Telegram refused the bot token; replace it and reload"};
  }
  return {};
}

sdk::Result<sdk::Media> Telegram::fetchMedia(std::string_view media_id, uint64_t max_bytes) {
  if (media_id.empty() || media_id.size() > 256 ||
      media_id.find_first_not_of(
          "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") !=
          std::string_view::npos) {
    return {Code::kNotFound, "not a Telegram file id"};
  }
  sdk::HttpRequest req;
  req.method = "GET";
  req.url = settings_.methodUrl("getFile") + "?file_id=" + std::string(media_id);
  req.timeout_ms = settings_.timeout_ms;
  auto res = host_.http(req);
  if (!res) return res.status();
  const json answer = json::parse(res->body, nullptr, false);
  if (res->status != 200 || !answer.is_object() || !answer.value("ok", false)) {
    if (res->status == 401 || res->status == 404) {
      return {Code::kUnauthenticated, "Telegram refused the bot token"};
    }
    return {res->status == 400 ? Code::kNotFound : Code::kUpstreamError,
            "getFile failed: " + str(answer, "description").substr(0, 200)};
  }
  const json& file = member(answer, "result");
  const std::string path = str(file, "file_path");
  if (path.empty()) return {Code::kNotFound, "Telegram has no downloadable path for this file"};
  if (auto size = channel::integerField(file, "file_size"); size && uint64_t(*size) > max_bytes) {
    return {Code::kInvalidArgument, "the file is larger than the limit"};
  }
  sdk::HttpRequest get;
  get.method = "GET";
  get.url = settings_.api_base + "/file/bot" + settings_.bot_token + "/" + path;
  get.timeout_ms = settings_.timeout_ms;
  auto body = host_.http(get);
  if (!body) return body.status();
  if (body->status != 200) {
    return {Code::kUpstreamError, "the file download answered " + std::to_string(body->status)};
  }
  if (body->body.size() > max_bytes)
    return {Code::kInvalidArgument, "the file is larger than the limit"};
  sdk::Media m;
  const std::string ext = path.substr(path.rfind('.') + 1);
  m.content_type = ext == "jpg" || ext == "jpeg"  ? "image/jpeg"
                   : ext == "png"                 ? "image/png"
                   : ext == "oga" || ext == "ogg" ? "audio/ogg"
                   : ext == "mp4"                 ? "video/mp4"
                   : ext == "webp"                ? "image/webp"
                   : ext == "pdf"                 ? "application/pdf"
                                                  : "application/octet-stream";
  m.file_name = path.substr(path.rfind('/') + 1);
  m.body = std::move(body->body);
  return m;
}

}  // namespace sanjog::plugins::channel_telegram
