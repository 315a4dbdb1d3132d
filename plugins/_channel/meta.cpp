#include "meta.hpp"

#include "sanjog/sdk/crypto.hpp"

namespace sanjog::plugins::channel::meta {

using sdk::Code;
using sdk::DeliveryResult;

sdk::WebhookResponse handshake(std::string_view query, std::string_view verify_token) {
  const auto mode = queryParam(query, "hub.mode");
  const auto token = queryParam(query, "hub.verify_token");
  const auto challenge = queryParam(query, "hub.challenge");
  if (!mode || *mode != "subscribe" || !token || !challenge || verify_token.empty() ||
      !sdk::crypto::constantTimeEqual(*token, verify_token)) {
    return sdk::WebhookResponse::error(403, Code::kUnauthenticated,
                                       "the subscribe handshake needs hub.mode=subscribe and the "
                                       "configured hub.verify_token");
  }
  sdk::WebhookResponse r;
  r.status = 200;
  r.content_type = "text/plain";
  r.body = *challenge;
  return r;
}

Signature verifySignature(std::optional<std::string_view> header, std::string_view body,
                          std::string_view app_secret) {
  if (!header || header->empty()) return Signature::kMissing;
  constexpr std::string_view kPrefix = "sha256=";
  if (header->size() != kPrefix.size() + 64 || header->substr(0, kPrefix.size()) != kPrefix) {
    return Signature::kMalformed;
  }
  const std::string expected = sdk::crypto::hex(sdk::crypto::hmacSha256(app_secret, body));
  std::string given(header->substr(kPrefix.size()));
  for (auto& c : given) {
    if (c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');
  }
  return sdk::crypto::constantTimeEqual(expected, given) ? Signature::kValid : Signature::kMismatch;
}

const char* signatureReason(Signature s) {
  switch (s) {
    case Signature::kValid:
      return "valid";
    case Signature::kMissing:
      return "missing";
    case Signature::kMalformed:
      return "malformed";
    case Signature::kMismatch:
      return "mismatch";
  }
  return "mismatch";
}

std::string GraphError::describe() const {
  std::string out = "Graph error " + std::to_string(code);
  if (subcode != 0) out += "/" + std::to_string(subcode);
  if (!message.empty()) out += ": " + message;
  if (!details.empty()) out += " (" + details + ")";
  if (!trace_id.empty()) out += " fbtrace_id=" + trace_id;
  return out;
}

GraphError parseGraphError(std::string_view body) {
  GraphError e;
  auto doc = nlohmann::json::parse(body, nullptr, false);
  if (!doc.is_object() || !doc.contains("error") || !doc["error"].is_object()) return e;
  const auto& err = doc["error"];
  e.present = true;
  e.code = integerField(err, "code").value_or(0);
  e.subcode = integerField(err, "error_subcode").value_or(0);
  e.type = str(err, "type");
  e.message = str(err, "message");
  e.trace_id = str(err, "fbtrace_id");
  if (err.contains("error_data") && err["error_data"].is_object()) {
    e.details = str(err["error_data"], "details");
  }
  if (e.message.size() > 300) e.message.resize(300);
  if (e.details.size() > 300) e.details.resize(300);
  return e;
}

namespace {
bool isThrottle(int64_t code) {
  return code == 4 || code == 17 || code == 32 || code == 613 || code == 80007 || code == 130429 ||
         code == 131056;
}
bool isTokenError(const GraphError& e) {
  return e.code == 190 || e.code == 102 ||
         (e.type == "OAuthException" && (e.subcode == 458 || e.subcode == 459 || e.subcode == 460 ||
                                         e.subcode == 463 || e.subcode == 464 || e.subcode == 467));
}
bool isOutsideWindow(const GraphError& e) {
  return e.code == 131047 || (e.code == 10 && e.subcode == 2018278) || e.subcode == 2018108;
}
bool isTransient(int64_t code) {
  return code == 1 || code == 2 || code == 131000 || code == 131016;
}
}  // namespace

DeliveryResult classify(const sdk::HttpResponse& response, int64_t now_ms,
                        int64_t throttle_delay_ms, bool* token_invalid) {
  const GraphError e = parseGraphError(response.body);
  std::optional<int64_t> retry_after;
  if (auto h = response.header("Retry-After")) retry_after = sdk::parseRetryAfter(*h, now_ms);
  const std::string text =
      e.present ? e.describe() : "the Graph API answered " + std::to_string(response.status);
  DeliveryResult r;
  if (e.present && isThrottle(e.code)) {
    r = DeliveryResult::retry(Code::kRateLimited, text, retry_after.value_or(throttle_delay_ms));
  } else if (response.status == 429) {
    r = DeliveryResult::retry(Code::kRateLimited, text, retry_after.value_or(throttle_delay_ms));
  } else if (e.present && isTokenError(e)) {
    if (token_invalid != nullptr) *token_invalid = true;
    r = DeliveryResult::permanent(Code::kUnauthenticated, text);
  } else if (e.present && isOutsideWindow(e)) {
    r = DeliveryResult::permanent(Code::kOutsideWindow, text);
  } else if (response.status >= 500 || (e.present && isTransient(e.code)) ||
             response.status == 408) {
    r = DeliveryResult::retry(response.status == 408 ? Code::kTimeout : Code::kUpstreamError, text,
                              retry_after.value_or(-1));
  } else if (response.status == 401 || response.status == 403) {
    r = DeliveryResult::permanent(Code::kUnauthenticated, text);
  } else if (response.status == 404) {
    r = DeliveryResult::permanent(Code::kNotFound, text);
  } else {
    r = DeliveryResult::permanent(Code::kInvalidArgument, text);
  }
  r.http_status = response.status;
  return r;
}

void reportInvalidToken(const sdk::Host& host, TokenState& token, std::string_view channel,
                        std::string_view detail) {
  if (token.markInvalid()) {
    host.error("the " + std::string(channel) + " access token was refused (" + std::string(detail) +
               "); generate a new token in Meta's Business Manager (a System User token does not "
               "expire), put it in this instance's access_token and reload");
  }
}

sdk::Result<sdk::Media> download(const sdk::Host& host, const std::string& url,
                                 const std::string& access_token, uint64_t max_bytes,
                                 std::string mime_hint, uint32_t timeout_ms) {
  sdk::HttpRequest req;
  req.method = "GET";
  req.url = url;
  req.timeout_ms = timeout_ms;
  if (!access_token.empty()) req.headers.push_back({"Authorization", "Bearer " + access_token});
  auto res = host.http(req);
  if (!res) return res.status();
  if (res->status == 404 || res->status == 410) {
    return {Code::kNotFound, "the provider no longer has this media file"};
  }
  if (res->status < 200 || res->status >= 300) {
    return {
        res->status == 401 || res->status == 403 ? Code::kUnauthenticated : Code::kUpstreamError,
        "the media download answered " + std::to_string(res->status)};
  }
  if (res->body.size() > max_bytes) {
    return {Code::kInvalidArgument, "the media file is larger than the limit"};
  }
  sdk::Media m;
  if (auto ct = res->header("Content-Type"); ct && !ct->empty()) {
    m.content_type = std::string(*ct);
  } else if (!mime_hint.empty()) {
    m.content_type = std::move(mime_hint);
  }
  m.body = std::move(res->body);
  return m;
}

}  // namespace sanjog::plugins::channel::meta
