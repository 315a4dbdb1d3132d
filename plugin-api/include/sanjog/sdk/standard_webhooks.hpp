// Standard Webhooks (https://www.standardwebhooks.com/) signing and
// verification: headers `webhook-id`, `webhook-timestamp` (Unix seconds) and
// `webhook-signature` ("v1,<base64 HMAC-SHA256>" entries separated by
// spaces), signed content `<id>.<timestamp>.<body>`, secret "whsec_" +
// base64 of the key bytes. Header-only, thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "sanjog/sdk/crypto.hpp"

namespace sanjog::sdk::standard_webhooks {

// Decodes a secret: "whsec_<base64>" or plain base64. nullopt if invalid or
// shorter than 16 bytes (too weak to sign with).
inline std::optional<std::string> decodeSecret(std::string_view secret) {
  constexpr std::string_view kPrefix = "whsec_";
  if (secret.substr(0, kPrefix.size()) == kPrefix) secret.remove_prefix(kPrefix.size());
  auto key = crypto::base64Decode(secret);
  if (!key || key->size() < 16) return std::nullopt;
  return key;
}

// The signature header value for one message: "v1,<base64>".
inline std::string sign(std::string_view key, std::string_view id, int64_t timestamp_s,
                        std::string_view body) {
  std::string content;
  content.reserve(id.size() + body.size() + 24);
  content.append(id).append(".").append(std::to_string(timestamp_s)).append(".").append(body);
  return "v1," + crypto::base64Encode(crypto::hmacSha256(key, content));
}

enum class Verdict {
  kOk,
  kMissingHeaders,  // one of the three headers is absent or empty
  kBadTimestamp,    // not an integer
  kStale,           // older than the tolerance
  kFuture,          // newer than the tolerance
  kBadSignature,    // no "v1," entry matches
};

inline const char* verdictName(Verdict v) {
  switch (v) {
    case Verdict::kOk:
      return "ok";
    case Verdict::kMissingHeaders:
      return "missing_headers";
    case Verdict::kBadTimestamp:
      return "bad_timestamp";
    case Verdict::kStale:
      return "stale";
    case Verdict::kFuture:
      return "future";
    case Verdict::kBadSignature:
      return "bad_signature";
  }
  return "unknown";
}

// Verifies one message. `signatures` is the whole webhook-signature header
// (several space-separated entries are allowed, for secret rotation);
// entries of other versions are ignored. The timestamp must be within
// `tolerance_s` of `now_s` in either direction.
inline Verdict verify(std::string_view key, std::string_view id, std::string_view timestamp,
                      std::string_view signatures, std::string_view body, int64_t now_s,
                      int64_t tolerance_s) {
  if (id.empty() || timestamp.empty() || signatures.empty()) return Verdict::kMissingHeaders;
  int64_t ts = 0;
  if (timestamp.size() > 15) return Verdict::kBadTimestamp;
  for (char c : timestamp) {
    if (c < '0' || c > '9') return Verdict::kBadTimestamp;
    ts = ts * 10 + (c - '0');
  }
  if (ts < now_s - tolerance_s) return Verdict::kStale;
  if (ts > now_s + tolerance_s) return Verdict::kFuture;
  const std::string expected = sign(key, id, ts, body);
  bool match = false;
  while (!signatures.empty()) {
    const size_t sp = signatures.find(' ');
    std::string_view entry = signatures.substr(0, sp);
    signatures = sp == std::string_view::npos ? std::string_view() : signatures.substr(sp + 1);
    if (entry.substr(0, 3) != "v1,") continue;
    // Compare every candidate (no early exit on a match either).
    match |= crypto::constantTimeEqual(entry, expected);
  }
  return match ? Verdict::kOk : Verdict::kBadSignature;
}

}  // namespace sanjog::sdk::standard_webhooks
