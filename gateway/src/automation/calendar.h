// Business hours and quiet hours in a time zone (date/tz on the system's
// tzdata). Pure: the caller passes the time, so tests use any clock.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "config/config.h"

namespace date {
class time_zone;
}

namespace sanjog::automation {

// Minutes since local midnight, [start, end) with end up to 24:00.
struct Interval {
  int start = 0;
  int end = 0;
};

// Parses "HH:MM" (00:00 .. 24:00) into minutes; nullopt when malformed.
std::optional<int> parseClock(const std::string& text);
// Parses "HH:MM-HH:MM" with start < end.
std::optional<Interval> parseInterval(const std::string& text);
// Parses "YYYY-MM-DD" into days since 1970-01-01.
std::optional<int> parseDay(const std::string& text);

// A named weekly calendar: opening intervals per weekday, holidays (closed
// all day) and special days (their own intervals, overriding the week).
class Calendar {
 public:
  // `spec` is a validated business_hours automation object; problems are
  // reported with pointers under `pointer`.
  static std::optional<Calendar> parse(const nlohmann::json& spec, const std::string& pointer,
                                       const std::string& default_timezone,
                                       std::vector<config::ConfigError>& errors);

  [[nodiscard]] bool isOpen(int64_t unix_ms) const;
  // The first instant at or after `unix_ms` when the calendar is open; -1 if
  // it never opens within 400 days.
  [[nodiscard]] int64_t nextOpen(int64_t unix_ms) const;
  [[nodiscard]] const std::string& timezone() const { return timezone_; }

 private:
  [[nodiscard]] const std::vector<Interval>& intervalsOn(int day) const;

  std::string timezone_;
  const date::time_zone* zone_ = nullptr;
  std::vector<Interval> weekly_[7];  // 0 = Sunday
  std::map<int, std::vector<Interval>> special_;
  std::map<int, bool> holidays_;
};

// "Do not disturb" hours, e.g. 22:00-09:00 (may cross midnight).
class QuietHours {
 public:
  static std::optional<QuietHours> parse(const nlohmann::json& spec, const std::string& pointer,
                                         const std::string& timezone,
                                         std::vector<config::ConfigError>& errors);
  [[nodiscard]] bool isQuiet(int64_t unix_ms) const;
  // When the quiet period containing `unix_ms` ends (`unix_ms` if not quiet).
  [[nodiscard]] int64_t quietEnd(int64_t unix_ms) const;

 private:
  const date::time_zone* zone_ = nullptr;
  int start_ = 0;
  int end_ = 0;
};

// Looks up an IANA zone; nullptr when unknown.
const date::time_zone* findZone(const std::string& name);

}  // namespace sanjog::automation
