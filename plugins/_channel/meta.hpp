// What WhatsApp, Messenger and Instagram share, all being Meta platforms:
// the GET subscribe handshake, X-Hub-Signature-256, Graph API errors.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "channel.hpp"
#include "sanjog/sdk/plugin.hpp"

namespace sanjog::plugins::channel::meta {

// Answers Meta's `GET ?hub.mode=subscribe&hub.verify_token=..&hub.challenge=..`:
// 200 with the bare challenge as text/plain when the mode is "subscribe" and
// the token equals `verify_token` (constant time); 403 otherwise.
sdk::WebhookResponse handshake(std::string_view query, std::string_view verify_token);

enum class Signature { kValid, kMissing, kMalformed, kMismatch };
// Checks `X-Hub-Signature-256: sha256=<64 lowercase hex>`, an HMAC-SHA256 of
// the raw body bytes keyed with the app secret, in constant time.
Signature verifySignature(std::optional<std::string_view> header, std::string_view body,
                          std::string_view app_secret);
const char* signatureReason(Signature s);

// The Graph API error envelope: {"error":{"message","type","code",
// "error_subcode","error_data":{"details"},"fbtrace_id"}}.
struct GraphError {
  bool present = false;
  int64_t code = 0;
  int64_t subcode = 0;
  std::string type;
  std::string message;
  std::string details;
  std::string trace_id;
  [[nodiscard]] std::string describe() const;
};
GraphError parseGraphError(std::string_view body);

// Maps a Graph API answer to a delivery outcome, per the shared taxonomy:
//  - throttling (4, 17, 32, 613, 80007, 130429, 131056) retries after the
//    Retry-After header or `throttle_delay_ms`;
//  - an expired or invalid token (190, 102, and OAuth subcodes) is permanent
//    and unauthenticated, and sets `*token_invalid`;
//  - re-engagement required (131047, 10/2018278, subcode 2018108) is
//    outside_window;
//  - 5xx, and the transient codes 1, 2, 131000, 131016, retry;
//  - everything else (invalid parameter, unknown recipient) is permanent.
sdk::DeliveryResult classify(const sdk::HttpResponse& response, int64_t now_ms,
                             int64_t throttle_delay_ms, bool* token_invalid);

// Logs once, counts, and explains what to do when the token is refused.
void reportInvalidToken(const sdk::Host& host, TokenState& token, std::string_view channel,
                        std::string_view detail);

// Downloads a file from a Meta CDN URL with the access token, refusing more
// than max_bytes. NOT_FOUND for 404/410.
sdk::Result<sdk::Media> download(const sdk::Host& host, const std::string& url,
                                 const std::string& access_token, uint64_t max_bytes,
                                 std::string mime_hint, uint32_t timeout_ms);

}  // namespace sanjog::plugins::channel::meta
