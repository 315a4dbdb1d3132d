#include "messaging.hpp"

#include "meta.hpp"
#include "sanjog/sdk/duration.hpp"

namespace sanjog::plugins::channel {

using nlohmann::json;
using sdk::Code;
using sdk::DeliveryResult;

namespace {

constexpr size_t kMaxItems = 1000;
constexpr size_t kOutboxSize = 50;                        // messages remembered per recipient
constexpr int64_t kOutboxTtlMs = 8LL * 24 * 3600 * 1000;  // longer than the HUMAN_AGENT window
constexpr int64_t kMediaTtlMs = 7LL * 24 * 3600 * 1000;

std::string senderOf(const json& item) {
  const json& s = member(item, "sender");
  if (auto id = str(s, "id"); !id.empty()) return id;
  return str(s, "user_ref");  // chat-plugin guests
}

std::string attachmentKind(const std::string& type) {
  if (type == "image" || type == "audio" || type == "video") return type;
  if (type == "file") return "document";
  if (type == "sticker") return "sticker";
  return "other";
}

size_t codePoints(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

std::optional<int64_t> durationMs(const json& config, const char* key, const char* fallback) {
  auto d = sdk::parseDuration(config.value(key, fallback));
  if (!d || d->count() <= 0) return std::nullopt;
  return d->count();
}

}  // namespace

sdk::Result<MessagingSettings> parseMessagingSettings(const json& config,
                                                      const std::string& channel,
                                                      const std::string& object_name,
                                                      const std::string& id_key,
                                                      double default_rate) {
  if (!config.is_object()) return {Code::kInvalidArgument, "config must be an object"};
  MessagingSettings s;
  s.channel = channel;
  s.object_name = object_name;
  s.rate_per_second = default_rate;
  s.rate_burst = default_rate;
  try {
    s.api_base = config.value("api_base", s.api_base);
    while (!s.api_base.empty() && s.api_base.back() == '/') s.api_base.pop_back();
    s.api_version = config.value("api_version", s.api_version);
    s.account_id = config.value(id_key, "");
    s.access_token = config.value("access_token", "");
    s.app_secret = config.value("app_secret", "");
    s.verify_token = config.value("verify_token", "");
    s.human_agent = config.value("human_agent", false);
    s.rate_per_second = config.value("rate_limit_per_second", s.rate_per_second);
    s.rate_burst = config.value("rate_limit_burst", s.rate_per_second > 0 ? s.rate_per_second : 1);
  } catch (const json::exception& e) {
    return {Code::kInvalidArgument,
            std::string("config has a value of the wrong type: ") + e.what()};
  }
  if (s.api_base.rfind("http://", 0) != 0 && s.api_base.rfind("https://", 0) != 0) {
    return {Code::kInvalidArgument, "api_base must start with http:// or https://"};
  }
  if (s.account_id.empty()) return {Code::kInvalidArgument, id_key + " is required"};
  if (s.access_token.empty()) return {Code::kInvalidArgument, "access_token is required"};
  if (s.app_secret.empty()) return {Code::kInvalidArgument, "app_secret is required"};
  if (s.verify_token.empty()) return {Code::kInvalidArgument, "verify_token is required"};
  auto window = durationMs(config, "service_window", "24h");
  auto human = durationMs(config, "human_agent_window", "7d");
  auto throttle = durationMs(config, "throttle_delay", "60s");
  auto timeout = durationMs(config, "timeout", "10s");
  if (!window || !human || !throttle || !timeout) {
    return {Code::kInvalidArgument,
            "service_window, human_agent_window, throttle_delay and timeout must be durations"};
  }
  s.service_window_ms = *window;
  s.human_agent_window_ms = *human;
  s.throttle_delay_ms = *throttle;
  s.timeout_ms = static_cast<uint32_t>(std::min<int64_t>(*timeout, 600'000));
  if (s.rate_per_second < 0) return {Code::kInvalidArgument, "rate_limit_per_second is negative"};
  return s;
}

sdk::Result<MessagingParsed> parseMessagingWebhook(std::string_view body,
                                                   const MessagingSettings& settings) {
  json doc = json::parse(body, nullptr, false);
  if (!doc.is_object()) return {Code::kInvalidArgument, "the body is not a JSON object"};
  if (str(doc, "object") != settings.object_name) {
    return {Code::kInvalidArgument, "object is not \"" + settings.object_name + "\""};
  }
  const json& entries = member(doc, "entry");
  if (!entries.is_array()) return {Code::kInvalidArgument, "entry must be an array"};
  MessagingParsed out;
  size_t count = 0;
  for (const auto& entry : entries) {
    const std::string entry_id =
        entry.is_object() && entry.contains("id")
            ? (entry["id"].is_string() ? entry["id"].get<std::string>() : entry["id"].dump())
            : std::string();
    if (!entry_id.empty() && entry_id != settings.account_id) {
      ++out.ignored;  // another page or account of the same app
      continue;
    }
    for (const char* list_key : {"messaging", "standby"}) {
      const json& list = member(entry, list_key);
      if (!list.is_array()) continue;
      const bool standby = std::string(list_key) == "standby";
      for (const auto& item : list) {
        if (++count > kMaxItems) return {Code::kInvalidArgument, "too many items in one POST"};
        const std::string sender = senderOf(item);
        const auto ts = integerField(item, "timestamp");
        const std::string time = ts ? rfc3339(*ts) : std::string();
        if (const json& d = member(item, "delivery"); d.is_object()) {
          bool any = false;
          if (const json& mids = member(d, "mids"); mids.is_array()) {
            for (const auto& mid : mids) {
              if (!mid.is_string()) continue;
              json data = {{"channel", settings.channel},
                           {"provider_message_id", mid},
                           {"status", "delivered"},
                           {"recipient", sender}};
              if (!time.empty()) data["timestamp"] = time;
              out.events.push_back(
                  cloudEvent("message.status", mid.get<std::string>() + ":delivered", data));
              any = true;
            }
          }
          if (auto wm = integerField(d, "watermark"); wm && !any) {
            out.watermarks.push_back({sender, "delivered", *wm});
          }
          continue;
        }
        if (const json& r = member(item, "read"); r.is_object()) {
          if (auto wm = integerField(r, "watermark"))
            out.watermarks.push_back({sender, "read", *wm});
          continue;
        }
        if (sender.empty()) return {Code::kInvalidArgument, "a messaging item without a sender"};
        json contact = {{"id", sender}};
        json msg = json::object();
        std::string provider_id;
        const json& m = member(item, "message");
        const json& pb = member(item, "postback");
        const json& reaction = member(item, "reaction");
        if (m.is_object()) {
          if (m.value("is_echo", false)) {
            ++out.echoes;  // our own (or another tool's) outbound message: never a customer's
            continue;
          }
          provider_id = str(m, "mid");
          if (provider_id.empty()) return {Code::kInvalidArgument, "a message without mid"};
          msg["id"] = provider_id;
          std::string kind = "text";
          if (auto t = str(m, "text"); !t.empty()) msg["text"] = t;
          if (const json& qr = member(m, "quick_reply"); qr.is_object()) {
            msg["interactive"] = {
                {"kind", "button_reply"}, {"id", str(qr, "payload")}, {"title", str(m, "text")}};
            kind = "interactive";
          }
          if (const json& rt = member(m, "reply_to"); rt.is_object()) {
            if (auto mid = str(rt, "mid"); !mid.empty()) msg["reply_to"] = mid;
            if (const json& story = member(rt, "story"); story.is_object()) {
              msg["story_reply"] = {{"id", str(story, "id")}, {"url", str(story, "url")}};
              kind = "story_reply";
            }
          }
          if (const json& atts = member(m, "attachments"); atts.is_array() && !atts.empty()) {
            json list = json::array();
            size_t i = 0;
            for (const auto& a : atts) {
              const std::string type = str(a, "type");
              const json& payload = member(a, "payload");
              json att = {{"kind", attachmentKind(type)}};
              if (att["kind"] == "other") att["type"] = type;
              const std::string url = str(payload, "url");
              if (!url.empty()) {
                att["url"] = url;
                const std::string media_id = provider_id + "." + std::to_string(i);
                if (type != "story_mention" && type != "fallback") {
                  att["media_id"] = media_id;
                  out.media.push_back({media_id, url});
                }
              }
              if (payload.is_object() && payload.contains("sticker_id")) {
                att["kind"] = "sticker";
                att["sticker_id"] = payload["sticker_id"].is_string()
                                        ? payload["sticker_id"].get<std::string>()
                                        : payload["sticker_id"].dump();
              }
              if (auto title = str(payload, "title"); !title.empty()) att["caption"] = title;
              list.push_back(att);
              if (type == "story_mention") kind = "story_mention";
              ++i;
            }
            msg["attachments"] = list;
            if (kind == "text") kind = list[0]["kind"].get<std::string>();
            if (kind == "other") kind = "attachment";
          }
          if (!msg.contains("text") && !msg.contains("attachments")) {
            kind = "unsupported";
            msg["raw_type"] = "message";
          }
          msg["kind"] = kind;
        } else if (pb.is_object()) {
          provider_id = str(pb, "mid");
          if (provider_id.empty()) {
            provider_id = "postback:" + sender + ":" + std::to_string(ts.value_or(0));
          }
          msg["id"] = provider_id;
          msg["kind"] = "postback";
          msg["text"] = str(pb, "title");
          msg["interactive"] = {
              {"kind", "button_reply"}, {"id", str(pb, "payload")}, {"title", str(pb, "title")}};
          if (const json& ref = member(pb, "referral"); ref.is_object()) {
            msg["referral"] = {{"ref", str(ref, "ref")},
                               {"source", str(ref, "source")},
                               {"type", str(ref, "type")}};
          }
        } else if (reaction.is_object()) {
          const std::string action = str(reaction, "action");
          provider_id = "reaction:" + str(reaction, "mid") + ":" + sender + ":" + action + ":" +
                        std::to_string(ts.value_or(0));
          msg["id"] = provider_id;
          msg["kind"] = "reaction";
          json r = {{"message_id", str(reaction, "mid")}, {"action", action}};
          if (auto e = str(reaction, "emoji"); !e.empty()) r["emoji"] = e;
          if (auto e = str(reaction, "reaction"); !e.empty()) r["reaction"] = e;
          msg["reaction"] = r;
        } else {
          // optin, referral, message_edit, ...: kept, never dropped silently.
          std::string raw;
          for (const auto& [key, value] : item.items()) {
            if (key != "sender" && key != "recipient" && key != "timestamp") {
              raw = key;
              break;
            }
          }
          if (raw.empty()) raw = "unknown";
          provider_id = raw + ":" + sender + ":" + std::to_string(ts.value_or(0));
          msg["id"] = provider_id;
          msg["kind"] = "unsupported";
          msg["raw_type"] = raw;
        }
        if (standby) msg["standby"] = true;
        if (!time.empty()) msg["timestamp"] = time;
        json event = cloudEvent("message.received", provider_id,
                                {{"channel", settings.channel},
                                 {"address", sender},
                                 {"contact", contact},
                                 {"message", msg}});
        if (!time.empty()) event["time"] = time;
        out.events.push_back(std::move(event));
      }
    }
  }
  return out;
}

sdk::Result<json> buildMessagingMessage(const json& m, std::string* caption) {
  if (!m.is_object()) return {Code::kInvalidArgument, "message.send has no message object"};
  if (m.contains("template")) {
    return {Code::kInvalidArgument,
            "templates are a WhatsApp feature; send text (with the HUMAN_AGENT tag when enabled)"};
  }
  if (m.contains("media") && m["media"].is_object()) {
    const json& media = m["media"];
    const std::string kind = str(media, "kind");
    const std::string type = kind == "document" ? "file" : kind;
    if (type != "image" && type != "audio" && type != "video" && type != "file") {
      return {Code::kInvalidArgument, "media.kind must be image, audio, video or document"};
    }
    json payload = json::object();
    if (auto id = str(media, "media_id"); !id.empty()) {
      payload["attachment_id"] = id;
    } else if (auto url = str(media, "url"); !url.empty()) {
      payload["url"] = url;
      payload["is_reusable"] = false;
    } else {
      return {Code::kInvalidArgument, "media needs url or media_id"};
    }
    if (caption != nullptr) *caption = str(media, "caption");
    return json{{"attachment", {{"type", type}, {"payload", payload}}}};
  }
  if (m.contains("interactive") && m["interactive"].is_object()) {
    const json& in = m["interactive"];
    const std::string text = str(in, "body");
    if (text.empty()) return {Code::kInvalidArgument, "interactive.body is required"};
    json options = json::array();
    auto add = [&](const json& b) -> sdk::Status {
      const std::string title = str(b, "title");
      if (str(b, "id").empty() || title.empty() || codePoints(title) > 20) {
        return {Code::kInvalidArgument,
                "each quick reply needs an id and a title of at most 20 "
                "characters"};
      }
      options.push_back({{"content_type", "text"}, {"title", title}, {"payload", str(b, "id")}});
      return {};
    };
    if (str(in, "kind") == "buttons" && in.contains("buttons") && in["buttons"].is_array()) {
      for (const auto& b : in["buttons"]) {
        if (auto st = add(b); !st) return st;
      }
    } else if (str(in, "kind") == "list" && in.contains("sections") && in["sections"].is_array()) {
      for (const auto& s : in["sections"]) {  // no lists here: rows become quick replies
        if (!s.contains("rows") || !s["rows"].is_array()) continue;
        for (const auto& r : s["rows"]) {
          if (auto st = add(r); !st) return st;
        }
      }
    } else {
      return {Code::kInvalidArgument, "interactive needs buttons or list sections"};
    }
    if (options.empty() || options.size() > 13) {
      return {Code::kInvalidArgument, "quick replies: 1 to 13"};
    }
    return json{{"text", text}, {"quick_replies", options}};
  }
  if (m.contains("text") && m["text"].is_string() && !m["text"].get<std::string>().empty()) {
    const std::string text = m["text"].get<std::string>();
    if (text.size() > 2000 * 4 || codePoints(text) > 2000) {
      return {Code::kInvalidArgument, "text is limited to 2000 characters"};
    }
    return json{{"text", text}};
  }
  return {Code::kInvalidArgument, "message needs text, media or interactive"};
}

sdk::WebhookResponse MessagingChannel::handleWebhook(const sdk::WebhookRequest& request) {
  if (request.method == "GET") return meta::handshake(request.query, settings_.verify_token);
  if (request.method != "POST") {
    return sdk::WebhookResponse::error(405, Code::kInvalidArgument, "use GET or POST");
  }
  const auto sig = meta::verifySignature(request.header("X-Hub-Signature-256"), request.body,
                                         settings_.app_secret);
  if (sig != meta::Signature::kValid) {
    metrics_.signature_failures.inc({settings_.channel, meta::signatureReason(sig)});
    host_.warn(std::string("webhook refused: X-Hub-Signature-256 is ") +
               meta::signatureReason(sig));
    return sdk::WebhookResponse::error(401, Code::kUnauthenticated,
                                       "X-Hub-Signature-256 does not match the body");
  }
  auto parsed = parseMessagingWebhook(request.body, settings_);
  if (!parsed) {
    metrics_.events.inc({settings_.channel, "invalid", "rejected"});
    return sdk::WebhookResponse::error(400, Code::kInvalidArgument, parsed.status().message());
  }
  for (const auto& w : parsed->watermarks) {
    for (auto& e : resolveWatermark(w)) parsed->events.push_back(std::move(e));
  }
  for (const auto& ref : parsed->media) {
    if (auto st = host_.kvPut("media:" + ref.media_id, ref.url, kMediaTtlMs); !st) {
      host_.warn("cannot remember a media URL: " + st.message());
    }
  }
  sdk::WebhookResponse r = sdk::WebhookResponse::json(200, {{"received", parsed->events.size()}});
  for (auto& e : parsed->events) {
    const std::string type = e["type"].get<std::string>();
    const bool unsupported =
        type == "message.received" && e["data"]["message"]["kind"] == "unsupported";
    metrics_.events.inc({settings_.channel, type, unsupported ? "unsupported" : "emitted"});
    r.events.push_back(e.dump());
  }
  if (parsed->echoes > 0)
    metrics_.events.record({settings_.channel, "echo", "ignored"}, parsed->echoes);
  if (parsed->ignored > 0) {
    metrics_.events.record({settings_.channel, "other", "ignored"}, parsed->ignored);
  }
  return r;
}

// The outbox: the last messages sent to each recipient, so that delivery and
// read watermarks ("everything before this time") become per-message statuses.
void MessagingChannel::rememberSent(const std::string& recipient, const std::string& mid,
                                    int64_t at_ms) {
  if (mid.empty()) return;
  std::lock_guard<std::mutex> lock(outbox_mutex_);
  const std::string key = "outbox:" + recipient;
  json box = json::parse(host_.kvGet(key).value_or("[]"), nullptr, false);
  if (!box.is_array()) box = json::array();
  box.push_back({{"mid", mid}, {"at", at_ms}, {"rank", 1}});
  while (box.size() > kOutboxSize) box.erase(box.begin());
  if (auto st = host_.kvPut(key, box.dump(), kOutboxTtlMs); !st) {
    host_.warn("cannot remember a sent message: " + st.message());
  }
}

std::vector<json> MessagingChannel::resolveWatermark(const MessagingParsed::Watermark& w) {
  std::vector<json> events;
  const int rank = w.status == "read" ? 3 : 2;
  std::lock_guard<std::mutex> lock(outbox_mutex_);
  const std::string key = "outbox:" + w.sender;
  auto stored = host_.kvGet(key);
  if (!stored) return events;
  json box = json::parse(*stored, nullptr, false);
  if (!box.is_array()) return events;
  for (auto& m : box) {
    if (m.value("at", int64_t(0)) > w.watermark_ms || m.value("rank", 0) >= rank) continue;
    // read implies delivered: emit both so a missed delivery receipt is not a gap.
    for (int r = std::max(2, m.value("rank", 0) + 1); r <= rank; ++r) {
      const std::string status = r == 3 ? "read" : "delivered";
      json data = {{"channel", settings_.channel},
                   {"provider_message_id", m["mid"]},
                   {"status", status},
                   {"recipient", w.sender},
                   {"timestamp", rfc3339(w.watermark_ms)}};
      events.push_back(
          cloudEvent("message.status", m["mid"].get<std::string>() + ":" + status, data));
    }
    m["rank"] = rank;
  }
  if (!events.empty()) {
    if (auto st = host_.kvPut(key, box.dump(), kOutboxTtlMs); !st) {
      host_.warn("cannot update the outbox: " + st.message());
    }
  }
  return events;
}

DeliveryResult MessagingChannel::deliver(const sdk::Delivery& delivery) {
  json event = json::parse(delivery.event, nullptr, false);
  if (!event.is_object() || !event.contains("data") || !event["data"].is_object()) {
    return DeliveryResult::permanent(Code::kInvalidArgument, "the event has no data object");
  }
  if (delivery.action == "mark_read") return markSeen(event);
  if (delivery.action != "send") {
    return DeliveryResult::permanent(Code::kInvalidArgument,
                                     "unknown action " + std::string(delivery.action));
  }
  return send(event);
}

DeliveryResult MessagingChannel::send(const json& event) {
  const json& data = event["data"];
  const json& m = data.contains("message") ? data["message"] : json();
  const std::string kind = !m.is_object()              ? "invalid"
                           : m.contains("template")    ? "template"
                           : m.contains("media")       ? "media"
                           : m.contains("interactive") ? "interactive"
                                                       : "text";
  const std::string to = str(data, "to");
  if (to.empty() || to.size() > 64) {
    metrics_.sends.inc({settings_.channel, kind, "invalid"});
    return DeliveryResult::permanent(Code::kInvalidArgument, "\"to\" must be the person's id");
  }
  std::string caption;
  auto message = buildMessagingMessage(m, &caption);
  if (!message) {
    metrics_.sends.inc({settings_.channel, kind, "invalid"});
    return DeliveryResult::permanent(Code::kInvalidArgument, message.status().message());
  }
  const int64_t now = host_.nowMs();
  json body = {{"recipient", {{"id", to}}}, {"message", *message}};
  if (window_.open(to, now, settings_.service_window_ms)) {
    body["messaging_type"] = "RESPONSE";
  } else if (settings_.human_agent && window_.open(to, now, settings_.human_agent_window_ms)) {
    body["messaging_type"] = "MESSAGE_TAG";
    body["tag"] = "HUMAN_AGENT";
  } else {
    metrics_.sends.inc({settings_.channel, kind, "outside_window"});
    return DeliveryResult::permanent(
        Code::kOutsideWindow,
        settings_.human_agent
            ? "outside_window: the person's last message is older than the HUMAN_AGENT window"
            : "outside_window: the person's last message is older than 24 hours (enable "
              "human_agent to answer for up to 7 days)");
  }
  std::string mid;
  auto r = post(body, kind, &mid);
  if (r.outcome != sdk::Outcome::kSuccess) return r;
  rememberSent(to, mid, now);
  if (!caption.empty()) {  // the Send API has no captions: the text follows as its own message
    json text = body;
    text["message"] = {{"text", caption}};
    std::string caption_mid;
    auto c = post(text, "text", &caption_mid);
    if (c.outcome == sdk::Outcome::kSuccess) {
      rememberSent(to, caption_mid, now);
    } else {
      host_.warn("the media went out but its caption did not: " + c.message);
    }
  }
  return r;
}

DeliveryResult MessagingChannel::markSeen(const json& event) {
  const json& contact = event["data"].value("contact", json::object());
  const std::string to = str(contact, "id");
  if (str(event, "type") != "message.received" || to.empty()) {
    return DeliveryResult::permanent(Code::kInvalidArgument,
                                     "mark_read takes a message.received event");
  }
  return post({{"recipient", {{"id", to}}}, {"sender_action", "mark_seen"}}, "mark_read", nullptr);
}

DeliveryResult MessagingChannel::post(const json& body, const std::string& kind,
                                      std::string* message_id) {
  if (const int64_t wait = limiter_.tryAcquire(host_.nowMs()); wait > 0) {
    metrics_.rate_limited.inc({settings_.channel});
    return DeliveryResult::retry(Code::kRateLimited, "held back by this instance's send rate limit",
                                 wait);
  }
  sdk::HttpRequest req;
  req.url = settings_.graphUrl(settings_.account_id + "/messages");
  req.timeout_ms = settings_.timeout_ms;
  req.headers = {{"Authorization", "Bearer " + settings_.access_token},
                 {"Content-Type", "application/json"}};
  req.body = body.dump();
  auto res = host_.http(req);
  if (!res) {
    metrics_.sends.inc({settings_.channel, kind, "error"});
    return DeliveryResult::retry(res.status().code(), res.status().message());
  }
  if (res->status >= 200 && res->status < 300) {
    token_.markValid();
    metrics_.sends.inc({settings_.channel, kind, "sent"});
    const json answer = json::parse(res->body, nullptr, false);
    const std::string id = str(answer, "message_id");
    if (message_id != nullptr) *message_id = id;
    return DeliveryResult::success(id, res->status);
  }
  bool token_invalid = false;
  auto r = meta::classify(*res, host_.nowMs(), settings_.throttle_delay_ms, &token_invalid);
  if (token_invalid) {
    meta::reportInvalidToken(
        host_, token_, settings_.channel == "instagram" ? "Instagram" : "Messenger", r.message);
  }
  metrics_.sends.inc(
      {settings_.channel, kind, r.outcome == sdk::Outcome::kRetry ? "retry" : "failed"});
  return r;
}

sdk::Health MessagingChannel::health() {
  if (token_.invalid()) {
    return {sdk::HealthState::kDegraded,
            "the page access token was refused (Graph error 190); replace it and reload"};
  }
  return {};
}

sdk::Result<sdk::Media> MessagingChannel::fetchMedia(std::string_view media_id,
                                                     uint64_t max_bytes) {
  auto url = host_.kvGet("media:" + std::string(media_id));
  if (!url) {
    return {Code::kNotFound,
            "unknown media id (attachments are kept for 7 days after they arrive)"};
  }
  return meta::download(host_, *url, settings_.access_token, max_bytes, "", settings_.timeout_ms);
}

}  // namespace sanjog::plugins::channel

namespace sanjog::plugins::channel {

std::string messagingSchema(const std::string& title, const std::string& id_key,
                            const std::string& id_description, double default_rate,
                            const std::string& rate_description, const std::string& example_id) {
  using ojson = nlohmann::ordered_json;
  auto duration = [](const char* fallback, const char* description) {
    return ojson{{"type", "string"},
                 {"pattern", "^([0-9]+(ms|s|m|h|d))+$"},
                 {"default", fallback},
                 {"description", description}};
  };
  ojson props = {
      {"api_base",
       {{"type", "string"},
        {"pattern", "^https?://[^\\s/]+(:[0-9]+)?(/[^\\s]*)?$"},
        {"default", "https://graph.facebook.com"},
        {"description",
         "Graph API base URL, without the version. Change it only for a sandbox or a test "
         "server."}}},
      {"api_version",
       {{"type", "string"},
        {"pattern", "^v[0-9]+\\.[0-9]+$"},
        {"default", "v21.0"},
        {"description", "Graph API version used in every request path."}}},
      {id_key, {{"type", "string"}, {"pattern", "^[0-9]{5,32}$"}, {"description", id_description}}},
      {"access_token",
       {{"type", "string"},
        {"minLength", 20},
        {"x-secret", true},
        {"description",
         "Page access token with the messaging permissions; a System User token does not "
         "expire."}}},
      {"app_secret",
       {{"type", "string"},
        {"minLength", 16},
        {"x-secret", true},
        {"description",
         "The secret of the Meta app that owns the webhook; verifies X-Hub-Signature-256."}}},
      {"verify_token",
       {{"type", "string"},
        {"minLength", 8},
        {"x-secret", true},
        {"description",
         "The verify token typed into the app's webhook settings; answers Meta's subscribe "
         "handshake."}}},
      {"human_agent",
       {{"type", "boolean"},
        {"default", false},
        {"description",
         "Answer after the 24-hour window, for up to human_agent_window, with the HUMAN_AGENT "
         "tag (the app must have the Human Agent permission). Off: such messages fail with "
         "reason outside_window."}}},
      {"service_window", duration("24h",
                                  "The standard messaging window after the person's last "
                                  "message (messaging_type RESPONSE).")},
      {"human_agent_window", duration("7d", "How long the HUMAN_AGENT tag may be used.")},
      {"rate_limit_per_second",
       {{"type", "number"},
        {"minimum", 0},
        {"default", static_cast<int64_t>(default_rate)},
        {"description", rate_description}}},
      {"rate_limit_burst",
       {{"type", "integer"},
        {"minimum", 1},
        {"default", static_cast<int64_t>(default_rate)},
        {"description", "How many sends may go out at once before the per-second rate applies."}}},
      {"throttle_delay", duration("60s",
                                  "Wait before retrying after Meta's throttling errors (4, 17, 32, "
                                  "613) when no Retry-After is given.")},
      {"timeout", duration("10s", "Time limit for one Graph API request; a timeout is retried.")},
  };
  ojson schema = {{"$schema", "http://json-schema.org/draft-07/schema#"},
                  {"title", title},
                  {"type", "object"},
                  {"additionalProperties", false},
                  {"required", {id_key, "access_token", "app_secret", "verify_token"}},
                  {"properties", props},
                  {"examples",
                   {{{id_key, example_id},
                     {"access_token", "${env:META_PAGE_TOKEN}"},
                     {"app_secret", "${file:/etc/sanjog/meta_app_secret}"},
                     {"verify_token", "sanjog-verify-3f9c2a"}}}}};
  return schema.dump(2);
}

}  // namespace sanjog::plugins::channel
