// Helpers every channel plugin needs: times, phone numbers, query strings,
// CloudEvents building, the customer-service window and error accounting.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "sanjog/sdk/plugin.hpp"

namespace sanjog::plugins::channel {

// "2026-01-01T00:00:00Z", with ".mmm" when the milliseconds are not zero.
std::string rfc3339(int64_t unix_ms);

// An integer given as a number or a decimal string ("1700000000"), such as
// a Unix time in the provider's unit; nullopt when absent, malformed or
// beyond ±2^53 (so scaling seconds to milliseconds cannot overflow).
std::optional<int64_t> integerField(const nlohmann::json& obj, const char* key);

// E.164 ("+8801711000001") from what a provider or a person wrote: with or
// without '+', national format for `region` (ISO 3166 alpha-2), Bengali
// digits. nullopt when it is not a possible number.
std::optional<std::string> toE164(std::string_view raw, std::string_view region);

// The value of `name` in a raw query string, percent-decoded ('+' is a
// space); nullopt when absent.
std::optional<std::string> queryParam(std::string_view query, std::string_view name);
std::string percentEncode(std::string_view text);

// A CloudEvents object (without id/source/time, which the host fills).
nlohmann::json cloudEvent(std::string_view type, std::string_view provider_id, nlohmann::json data);

// String member or "" (never throws on a wrong type).
std::string str(const nlohmann::json& obj, const char* key);
// The member `key` of an object, or null (for a missing key or a non-object).
const nlohmann::json& member(const nlohmann::json& obj, const char* key);
// An id that providers send as a number or a string, as text ("" otherwise).
std::string idText(const nlohmann::json& v);

// The 24-hour (or longer) customer-service window of messaging platforms,
// counted from the contact's last inbound message. The gateway records that
// time in its conversation registry in the same commit as the message, so the
// window needs no write of its own and never opens for a message that was
// not stored.
class ServiceWindow {
 public:
  explicit ServiceWindow(sdk::Host& host) : host_(host) {}
  // The time of the last inbound message of the contact at `address`.
  [[nodiscard]] std::optional<int64_t> lastInbound(std::string_view contact) const;
  // True when the last inbound message is younger than `window_ms`.
  [[nodiscard]] bool open(std::string_view contact, int64_t now_ms, int64_t window_ms) const;

 private:
  sdk::Host& host_;
};

// An access token the provider refused (expired, revoked): remembered so
// health() reports degraded and the operator is told once, with what to do.
class TokenState {
 public:
  // Returns true the first time (log then).
  bool markInvalid() { return !invalid_.exchange(true); }
  void markValid() { invalid_.store(false); }
  [[nodiscard]] bool invalid() const { return invalid_.load(); }

 private:
  std::atomic<bool> invalid_{false};
};

// The metric families every channel plugin registers, labels from the fixed
// set: sanjog_channel_webhook_events_total{channel,type,result},
// sanjog_channel_signature_failures_total{channel,reason},
// sanjog_channel_sends_total{channel,kind,result},
// sanjog_channel_rate_limited_total{channel}.
struct Metrics {
  sdk::Metric events;
  sdk::Metric signature_failures;
  sdk::Metric sends;
  sdk::Metric rate_limited;
  static sdk::Result<Metrics> registerAll(const sdk::Host& host);
};

}  // namespace sanjog::plugins::channel
