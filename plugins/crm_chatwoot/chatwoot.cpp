#include "chatwoot.hpp"

#include <charconv>

#include "sanjog/sdk/crypto.hpp"
#include "sanjog/sdk/duration.hpp"

namespace sanjog::plugins::crm_chatwoot {

using channel::idText;
using channel::member;
using channel::str;
using nlohmann::json;
using sdk::Code;
using sdk::DeliveryResult;

const char* const kConfigSchema = R"json({
  "$schema": "http://json-schema.org/draft-07/schema#",
  "title": "crm_chatwoot",
  "type": "object",
  "additionalProperties": false,
  "required": ["account_id", "inbox_id", "api_access_token"],
  "properties": {
    "api_base": {
      "type": "string",
      "pattern": "^https?://[^\\s]+$",
      "default": "https://app.chatwoot.com",
      "description": "Chatwoot's address (Chatwoot Cloud, or your own installation)."
    },
    "account_id": {
      "type": "integer",
      "minimum": 1,
      "description": "The Chatwoot account id (in the dashboard URL: /app/accounts/{id}/...)."
    },
    "inbox_id": {
      "type": "integer",
      "minimum": 1,
      "description": "The API-channel inbox the conversations go to; set its Callback URL (or an account webhook for message_created and conversation_status_changed) to /webhooks/{instance}."
    },
    "api_access_token": {
      "type": "string",
      "minLength": 8,
      "x-secret": true,
      "description": "An agent's or agent bot's access token (Profile settings > Access token)."
    },
    "webhook_secret": {
      "type": "string",
      "x-secret": true,
      "default": "",
      "description": "The webhook's secret (Chatwoot 4 signs webhooks with X-Chatwoot-Signature); empty accepts unsigned webhooks, as older Chatwoot sends them."
    },
    "tolerance": {
      "type": "string",
      "pattern": "^([0-9]+(ms|s|m|h))+$",
      "default": "5m",
      "description": "How far X-Chatwoot-Timestamp may be from now before a signed webhook is refused."
    },
    "timeout": {
      "type": "string",
      "pattern": "^([0-9]+(ms|s|m|h))+$",
      "default": "10s",
      "description": "Time limit for one Chatwoot API request; a timeout is retried."
    }
  },
  "examples": [
    { "api_base": "https://chat.example.com", "account_id": 1, "inbox_id": 2,
      "api_access_token": "${env:CHATWOOT_TOKEN}" }
  ]
})json";

namespace {

// Chatwoot answers some calls with {"payload": X} and others with X.
const json& payload(const json& body) {
  const json& p = member(body, "payload");
  return p.is_null() ? body : p;
}

}  // namespace

sdk::Result<Settings> parseSettings(const json& config) {
  if (!config.is_object()) return {Code::kInvalidArgument, "config must be an object"};
  Settings s;
  try {
    s.api_base = config.value("api_base", s.api_base);
    while (!s.api_base.empty() && s.api_base.back() == '/') s.api_base.pop_back();
    s.account_id = config.value("account_id", int64_t(0));
    s.inbox_id = config.value("inbox_id", int64_t(0));
    s.api_access_token = config.value("api_access_token", "");
    s.webhook_secret = config.value("webhook_secret", "");
  } catch (const json::exception& e) {
    return {Code::kInvalidArgument,
            std::string("config has a value of the wrong type: ") + e.what()};
  }
  if (s.api_base.rfind("http://", 0) != 0 && s.api_base.rfind("https://", 0) != 0) {
    return {Code::kInvalidArgument, "api_base must start with http:// or https://"};
  }
  if (s.account_id <= 0 || s.inbox_id <= 0) {
    return {Code::kInvalidArgument, "account_id and inbox_id are required"};
  }
  if (s.api_access_token.empty()) return {Code::kInvalidArgument, "api_access_token is required"};
  auto tolerance = sdk::parseDuration(config.value("tolerance", "5m"));
  auto timeout = sdk::parseDuration(config.value("timeout", "10s"));
  if (!tolerance || !timeout || timeout->count() <= 0) {
    return {Code::kInvalidArgument, "tolerance and timeout must be durations"};
  }
  s.tolerance_ms = tolerance->count();
  s.timeout_ms = static_cast<uint32_t>(std::min<int64_t>(timeout->count(), 600'000));
  return s;
}

std::string renderIncoming(const json& m) {
  std::string out = str(m, "text");
  auto line = [&out](const std::string& l) { out += (out.empty() ? "" : "\n") + l; };
  if (const json& atts = member(m, "attachments"); atts.is_array()) {
    // The text is the caption already when there is one attachment with a caption.
    for (const auto& a : atts) {
      std::string l = "[" + str(a, "kind") + "]";
      if (auto url = str(a, "url"); !url.empty()) {
        l += " " + url;
      } else if (auto id = str(a, "media_id"); !id.empty()) {
        l += " media " + id;
      }
      if (auto f = str(a, "filename"); !f.empty()) l += " (" + f + ")";
      line(l);
    }
  }
  if (const json& loc = member(m, "location"); loc.is_object()) {
    std::string l = "[location] " + loc.value("latitude", json(0.0)).dump() + "," +
                    loc.value("longitude", json(0.0)).dump();
    if (auto n = str(loc, "name"); !n.empty()) l += " " + n;
    line(l);
  }
  if (const json& contacts = member(m, "contacts"); contacts.is_array()) {
    for (const auto& c : contacts) {
      std::string l = "[contact] " + str(c, "name");
      if (const json& phones = member(c, "phones"); phones.is_array()) {
        for (const auto& p : phones) l += " " + (p.is_string() ? p.get<std::string>() : "");
      }
      line(l);
    }
  }
  if (const json& inter = member(m, "interactive"); inter.is_object() && out.empty()) {
    line("[button] " + str(inter, "title"));
  }
  if (out.empty()) line("[" + str(m, "kind") + "]");
  return out;
}

sdk::Result<std::unique_ptr<Chatwoot>> Chatwoot::create(sdk::Host& host,
                                                        const std::string& /*instance_id*/,
                                                        const json& config) {
  auto settings = parseSettings(config);
  if (!settings) return settings.status();
  auto received = host.counter("sanjog_chatwoot_webhooks_total",
                               "Chatwoot webhooks by event type and result (emitted, ignored, "
                               "unresolved, rejected).",
                               {"type", "result"});
  if (!received) return received.status();
  auto failures = host.counter("sanjog_chatwoot_signature_failures_total",
                               "Chatwoot webhooks refused by the signature check.", {"reason"});
  if (!failures) return failures.status();
  return std::make_unique<Chatwoot>(host, std::move(settings).value(), *received, *failures);
}

Chatwoot::Call Chatwoot::call(const std::string& method, const std::string& url, const json& body) {
  sdk::HttpRequest req;
  req.method = method;
  req.url = url;
  req.timeout_ms = settings_.timeout_ms;
  req.headers = {{"api_access_token", settings_.api_access_token},
                 {"Content-Type", "application/json"},
                 {"Accept", "application/json"}};
  if (!body.is_null()) req.body = body.dump();
  Call c;
  auto res = host_.http(req);
  if (!res) {
    c.failure = DeliveryResult::retry(res.status().code(), res.status().message());
    return c;
  }
  c.status = res->status;
  c.body = json::parse(res->body, nullptr, false);
  if (res->status >= 200 && res->status < 300) {
    token_.markValid();
    return c;
  }
  std::optional<int64_t> after;
  if (auto h = res->header("Retry-After")) after = sdk::parseRetryAfter(*h, host_.nowMs());
  std::string message = str(c.body, "message");
  if (message.empty()) message = str(c.body, "error");
  c.failure =
      DeliveryResult::fromHttpStatus(res->status, after,
                                     "Chatwoot answered " + std::to_string(res->status) +
                                         (message.empty() ? "" : ": " + message.substr(0, 200)));
  if (res->status == 401 && token_.markInvalid()) {
    host_.error(
        "Chatwoot refused api_access_token (401); create a new access token in Chatwoot, "
        "put it in this instance's config and reload");
  }
  return c;
}

DeliveryResult Chatwoot::failed(const Call& c, const std::string& what) {
  DeliveryResult r = *c.failure;
  r.message = what + ": " + r.message;
  return r;
}

sdk::Result<std::string> Chatwoot::ensureConversation(const json& data,
                                                      std::optional<DeliveryResult>* failure) {
  const std::string conv = str(data, "conversation_id");
  if (auto known = host_.kvGet("conv:" + conv)) return *known;
  std::lock_guard<std::mutex> lock(create_mutex_);
  if (auto known = host_.kvGet("conv:" + conv)) return *known;  // created meanwhile
  const json& contact = member(data, "contact");
  std::string identifier = str(data, "address");
  if (identifier.empty()) identifier = str(contact, "phone");
  if (identifier.empty()) identifier = str(contact, "id");
  if (identifier.empty()) return {Code::kInvalidArgument, "the message names no contact"};
  const std::string channel = str(data, "channel");
  // Channel ids (PSIDs, chat ids) are only unique per channel.
  if (identifier.front() != '+' && !channel.empty()) identifier = channel + ":" + identifier;

  // 1. The contact: create it, or find it when the identifier is taken.
  json body = {{"inbox_id", settings_.inbox_id}, {"identifier", identifier}};
  std::string name = str(contact, "name");
  body["name"] = name.empty() ? identifier : name;
  if (auto phone = str(contact, "phone"); !phone.empty()) body["phone_number"] = phone;
  if (auto email = str(contact, "email"); !email.empty()) body["email"] = email;
  std::string contact_id, source_id;
  Call created = call("POST", settings_.accountUrl("/contacts"), body);
  if (!created.failure) {
    const json& p = payload(created.body);
    const json& c = member(p, "contact").is_object() ? member(p, "contact") : p;
    contact_id = idText(member(c, "id"));
    if (const json& ci = member(p, "contact_inbox"); ci.is_object())
      source_id = str(ci, "source_id");
    for (const auto& ci :
         member(c, "contact_inboxes").is_array() ? member(c, "contact_inboxes") : json::array()) {
      if (source_id.empty() &&
          idText(member(member(ci, "inbox"), "id")) == std::to_string(settings_.inbox_id)) {
        source_id = str(ci, "source_id");
      }
    }
  } else if (created.status == 422) {
    Call found = call(
        "GET", settings_.accountUrl("/contacts/search?q=" + channel::percentEncode(identifier)),
        nullptr);
    if (found.failure) {
      *failure = failed(found, "searching the contact");
      return {Code::kUpstreamError, "search failed"};
    }
    const json& list = payload(found.body);
    for (const auto& c : list.is_array() ? list : json::array()) {
      if (str(c, "identifier") == identifier || str(c, "phone_number") == identifier) {
        contact_id = idText(member(c, "id"));
        for (const auto& ci : member(c, "contact_inboxes").is_array() ? member(c, "contact_inboxes")
                                                                      : json::array()) {
          if (idText(member(member(ci, "inbox"), "id")) == std::to_string(settings_.inbox_id)) {
            source_id = str(ci, "source_id");
          }
        }
        break;
      }
    }
    if (contact_id.empty()) {
      *failure = DeliveryResult::permanent(
          Code::kInvalidArgument, "Chatwoot refused the contact (422) and search found none");
      return {Code::kInvalidArgument, "no contact"};
    }
  } else {
    *failure = failed(created, "creating the contact");
    return {Code::kUpstreamError, "contact failed"};
  }
  if (contact_id.empty()) {
    *failure = DeliveryResult::retry(Code::kUpstreamError, "Chatwoot returned no contact id");
    return {Code::kUpstreamError, "no contact id"};
  }
  if (source_id.empty()) {  // the contact exists but not yet in this inbox
    Call ci = call("POST", settings_.accountUrl("/contacts/" + contact_id + "/contact_inboxes"),
                   {{"inbox_id", settings_.inbox_id}});
    if (ci.failure) {
      *failure = failed(ci, "adding the contact to the inbox");
      return {Code::kUpstreamError, "contact inbox failed"};
    }
    source_id = str(payload(ci.body), "source_id");
  }

  // 2. The conversation, remembered both ways.
  int64_t contact_number = 0;
  if (std::from_chars(contact_id.data(), contact_id.data() + contact_id.size(), contact_number)
          .ec != std::errc()) {
    *failure =
        DeliveryResult::retry(Code::kUpstreamError, "Chatwoot returned a strange contact id");
    return {Code::kUpstreamError, "bad contact id"};
  }
  json conv_body = {
      {"inbox_id", settings_.inbox_id},
      {"contact_id", contact_number},
      {"additional_attributes", {{"sanjog_conversation_id", conv}, {"channel", channel}}}};
  if (!source_id.empty()) conv_body["source_id"] = source_id;
  Call created_conv = call("POST", settings_.accountUrl("/conversations"), conv_body);
  if (created_conv.failure) {
    *failure = failed(created_conv, "creating the conversation");
    return {Code::kUpstreamError, "conversation failed"};
  }
  const std::string cw = idText(member(payload(created_conv.body), "id"));
  if (cw.empty()) {
    *failure = DeliveryResult::retry(Code::kUpstreamError, "Chatwoot returned no conversation id");
    return {Code::kUpstreamError, "no conversation id"};
  }
  if (auto st = host_.kvPut("conv:" + conv, cw); !st) {
    *failure =
        DeliveryResult::retry(st.code(), "cannot remember the conversation: " + st.message());
    return st;
  }
  if (auto st = host_.kvPut("cw:" + cw, conv); !st) {
    *failure =
        DeliveryResult::retry(st.code(), "cannot remember the conversation: " + st.message());
    return st;
  }
  return cw;
}

DeliveryResult Chatwoot::deliver(const sdk::Delivery& delivery) {
  const json event = json::parse(delivery.event, nullptr, false);
  const std::string type = event.is_object() ? str(event, "type") : "";
  if ((type != "message.received" && type != "conversation.handoff" && type != "message.send") ||
      !member(event, "data").is_object()) {
    return DeliveryResult::permanent(
        Code::kInvalidArgument,
        "crm_chatwoot delivers message.received, conversation.handoff and message.send events");
  }
  const json& data = event["data"];
  if (str(data, "conversation_id").empty()) {
    return DeliveryResult::permanent(Code::kInvalidArgument, "the message has no conversation");
  }
  if (type == "message.send") {
    // What Sanjog sent on its own (a bot answer, an away message, a
    // survey), shown to the agents as a private note: private notes never go
    // back out, so this cannot loop. Sends of a conversation Chatwoot does
    // not have are not added.
    const auto known = host_.kvGet("conv:" + str(data, "conversation_id"));
    if (!known) return DeliveryResult::success("", 200);
    const json& m = member(data, "message");
    std::string text = str(m, "text");
    if (text.empty()) text = str(member(m, "interactive"), "body");
    if (text.empty() && member(m, "template").is_object()) {
      text = "template " + str(m["template"], "name");
    }
    std::string from = str(event, "source");
    if (const size_t slash = from.rfind('/'); slash != std::string::npos) {
      from = from.substr(slash + 1);
    }
    return postMessage(*known, data,
                       {{"content", "[" + from + "] " + text},
                        {"message_type", "outgoing"},
                        {"private", true},
                        {"content_attributes", {{"sanjog_event_id", str(event, "id")}}}});
  }
  std::optional<DeliveryResult> failure;
  auto cw = ensureConversation(data, &failure);
  if (!cw) {
    return failure ? *failure
                   : DeliveryResult::permanent(cw.status().code(), cw.status().message());
  }
  if (type == "conversation.handoff") {
    // The bot stepped back: reopen the conversation for the agents, with a
    // private note saying why.
    Call opened = call("POST", settings_.accountUrl("/conversations/" + *cw + "/toggle_status"),
                       {{"status", "open"}});
    if (opened.failure && opened.status != 404) return failed(opened, "reopening the conversation");
    std::string note = "The customer asked for a person";
    if (auto t = str(data, "text"); !t.empty()) note += ": \"" + t + "\"";
    return postMessage(*cw, data,
                       {{"content", note},
                        {"message_type", "outgoing"},
                        {"private", true},
                        {"content_attributes", {{"sanjog_event_id", str(event, "id")}}}});
  }
  const json& m = member(data, "message");
  return postMessage(*cw, data,
                     {{"content", renderIncoming(m)},
                      {"message_type", "incoming"},
                      {"private", false},
                      {"content_type", "text"},
                      {"content_attributes", {{"sanjog_event_id", str(event, "id")}}}});
}

DeliveryResult Chatwoot::postMessage(const std::string& cw, const json& data, const json& body) {
  Call posted = call("POST", settings_.accountUrl("/conversations/" + cw + "/messages"), body);
  if (posted.failure && posted.status == 404) {
    // The conversation was deleted in Chatwoot: start a new one on the retry.
    (void)host_.kvDelete("conv:" + str(data, "conversation_id"));
    (void)host_.kvDelete("cw:" + cw);
    return DeliveryResult::retry(Code::kNotFound, "the Chatwoot conversation is gone; recreating",
                                 0);
  }
  if (posted.failure) return failed(posted, "adding the message");
  return DeliveryResult::success(idText(member(payload(posted.body), "id")), posted.status);
}

sdk::WebhookResponse Chatwoot::handleWebhook(const sdk::WebhookRequest& request) {
  if (request.method != "POST") {
    return sdk::WebhookResponse::error(405, Code::kInvalidArgument, "Chatwoot webhooks are POSTs");
  }
  if (!settings_.webhook_secret.empty()) {
    const auto sig = request.header("X-Chatwoot-Signature");
    const auto ts = request.header("X-Chatwoot-Timestamp");
    int64_t seconds = 0;
    const bool ts_ok =
        ts && std::from_chars(ts->data(), ts->data() + ts->size(), seconds).ec == std::errc();
    const std::string expected =
        "sha256=" + sdk::crypto::hex(sdk::crypto::hmacSha256(
                        settings_.webhook_secret,
                        std::string(ts.value_or("")) + "." + std::string(request.body)));
    const char* reason = nullptr;
    if (!sig || !ts) {
      reason = "missing";
    } else if (!ts_ok || std::llabs(host_.nowMs() - seconds * 1000) > settings_.tolerance_ms) {
      reason = "stale";
    } else if (!sdk::crypto::constantTimeEqual(*sig, expected)) {
      reason = "mismatch";
    }
    if (reason != nullptr) {
      failures_.inc({reason});
      host_.warn(std::string("webhook refused: X-Chatwoot-Signature ") + reason);
      return sdk::WebhookResponse::error(401, Code::kUnauthenticated,
                                         std::string("X-Chatwoot-Signature is ") + reason);
    }
  }
  const json body = json::parse(request.body, nullptr, false);
  if (!body.is_object()) {
    received_.inc({"invalid", "rejected"});
    return sdk::WebhookResponse::error(400, Code::kInvalidArgument,
                                       "the body is not a JSON object");
  }
  const std::string event = str(body, "event");
  const std::string delivery(request.header("X-Chatwoot-Delivery").value_or(""));
  sdk::WebhookResponse r = sdk::WebhookResponse::json(200, {{"received", 0}});
  auto ignore = [&](const char* why) {
    received_.inc({event.empty() ? "unknown" : "other", why});
    return sdk::WebhookResponse::json(200, {{"ignored", why}});
  };
  if (event == "message_created") {
    const json& type = member(body, "message_type");
    const bool outgoing = (type.is_string() && type == "outgoing") ||
                          (type.is_number_integer() && type.get<int64_t>() == 1);
    // Private notes, the incoming messages Sanjog itself created, activity and
    // template messages never go to the customer.
    if (!outgoing || member(body, "private") == true) return ignore("ignored");
    const std::string sender_type = str(member(body, "sender"), "type");
    if (sender_type != "user" && sender_type != "agent_bot") return ignore("ignored");
    const std::string cw = idText(member(member(body, "conversation"), "id"));
    const auto conv = host_.kvGet("cw:" + cw);
    if (!conv) return ignore("unresolved");  // a conversation Sanjog did not open
    json message = json::object();
    if (auto text = str(body, "content"); !text.empty()) message["text"] = text;
    if (const json& atts = member(body, "attachments"); atts.is_array() && !atts.empty()) {
      const std::string url = str(atts[0], "data_url");
      const std::string ft = str(atts[0], "file_type");
      if (!url.empty()) {
        message["media"] = {
            {"kind", ft == "image" || ft == "audio" || ft == "video" ? ft : "document"},
            {"url", url}};
        if (message.contains("text")) message["media"]["caption"] = message["text"];
        message.erase("text");
      }
    }
    if (message.empty()) return ignore("ignored");
    json data = {{"conversation_id", *conv}, {"message", message}};
    if (auto agent = str(member(body, "sender"), "name"); !agent.empty()) data["agent"] = agent;
    const std::string id = idText(member(body, "id"));
    json e = channel::cloudEvent("message.send", "chatwoot:message:" + id, data);
    e["subject"] = *conv;
    received_.inc({"message.send", "emitted"});
    r = sdk::WebhookResponse::json(200, {{"received", 1}});
    r.events.push_back(e.dump());
    return r;
  }
  if (event == "conversation_status_changed" || event == "conversation_resolved") {
    if (str(body, "status") != "resolved") return ignore("ignored");
    const std::string cw = idText(member(body, "id"));
    const auto conv = host_.kvGet("cw:" + cw);
    if (!conv) return ignore("unresolved");
    json data = {{"conversation_id", *conv}};
    if (auto agent = str(member(member(body, "meta"), "assignee"), "name"); !agent.empty()) {
      data["agent"] = agent;
    }
    // Each resolution is its own event; a retried delivery has the same delivery id.
    std::string key = delivery;
    if (key.empty())
      key = cw + ":" + idText(member(body, "updated_at")) + idText(member(body, "timestamp"));
    json e = channel::cloudEvent("conversation.resolved", "chatwoot:resolved:" + key, data);
    e["subject"] = *conv;
    received_.inc({"conversation.resolved", "emitted"});
    r = sdk::WebhookResponse::json(200, {{"received", 1}});
    r.events.push_back(e.dump());
    return r;
  }
  return ignore("ignored");
}

sdk::Health Chatwoot::health() {
  if (token_.invalid()) {
    return {sdk::HealthState::kDegraded,
            "Chatwoot refused api_access_token; replace it and reload"};
  }
  return {};
}

}  // namespace sanjog::plugins::crm_chatwoot
