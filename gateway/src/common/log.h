// Structured logging: one JSON object per line on stderr.
//
//   {"ts":"2026-11-22T13:44:23.123Z","level":"info","logger":"sanjog.http",
//    "msg":"webhook accepted","instance":"wa","event_id":"evt_..."}
//
// Loggers are named hierarchically (sanjog.app, sanjog.http, sanjog.bus,
// sanjog.plugin.<instance>). Identical warnings and errors repeated within
// 10 s are collapsed into one line with a "repeated" count. Fields named
// *_id with an empty string value are left out. Thread-safe.
// Privacy (logging.privacy): before a line is written, string values and the
// message are scanned; phone numbers (7+ digits standing alone) and emails
// are masked, fields that carry message text ("text", "body", "caption")
// are replaced by their length, fields named like secrets ("token",
// "secret", "password", "authorization", "api_key") are always "***".
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace sanjog::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

// Minimum level written; from SANJOG_LOG_LEVEL (debug|info|warn|error) at start.
void setLevel(Level level);
Level level();
Level parseLevel(std::string_view text, Level fallback);

enum class Privacy { kStrict, kMask, kOff };
void setPrivacy(Privacy privacy);
Privacy privacy();
Privacy parsePrivacy(std::string_view text, Privacy fallback);
// What privacy `p` makes of a free-text value (exposed for tests).
std::string redact(std::string_view text, Privacy p);

void write(Level level, std::string_view logger, std::string_view msg,
           const nlohmann::json& fields = nlohmann::json::object());

inline void debug(std::string_view logger, std::string_view msg,
                  const nlohmann::json& fields = nlohmann::json::object()) {
  write(Level::kDebug, logger, msg, fields);
}
inline void info(std::string_view logger, std::string_view msg,
                 const nlohmann::json& fields = nlohmann::json::object()) {
  write(Level::kInfo, logger, msg, fields);
}
inline void warn(std::string_view logger, std::string_view msg,
                 const nlohmann::json& fields = nlohmann::json::object()) {
  write(Level::kWarn, logger, msg, fields);
}
inline void error(std::string_view logger, std::string_view msg,
                  const nlohmann::json& fields = nlohmann::json::object()) {
  write(Level::kError, logger, msg, fields);
}

// "+8801711000001" -> "+88017*****01"
std::string maskPhone(std::string_view phone);
// "rahim@example.com" -> "r***@example.com"
std::string maskEmail(std::string_view email);

}  // namespace sanjog::log
