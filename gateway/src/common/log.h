// Structured logging: one JSON object per line on stderr.
//
//   {"ts":"2026-11-22T13:44:23.123Z","level":"info","logger":"sanjog.http",
//    "msg":"webhook accepted","instance":"wa","event_id":"evt_..."}
//
// Loggers are named hierarchically (sanjog.app, sanjog.http, sanjog.bus,
// sanjog.plugin.<instance>). Identical warnings and errors repeated within
// 10 s are collapsed into one line with a "repeated" count. Thread-safe.
// Secrets never go into fields; phone numbers and emails are masked by the
// callers with maskPhone()/maskEmail().
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
