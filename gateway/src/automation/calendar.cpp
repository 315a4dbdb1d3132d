#include "automation/calendar.h"

#include <date/tz.h>

#include <array>
#include <chrono>

namespace sanjog::automation {

namespace {

using std::chrono::milliseconds;
using std::chrono::minutes;

constexpr std::array<const char*, 7> kWeekdays = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

struct LocalPoint {
  int day = 0;     // days since 1970-01-01 (local calendar)
  int minute = 0;  // minutes since local midnight
};

LocalPoint toLocal(const date::time_zone* zone, int64_t unix_ms) {
  const date::sys_time<milliseconds> t{milliseconds(unix_ms)};
  const auto local = zone->to_local(t);
  const auto day = date::floor<date::days>(local);
  const auto mins = std::chrono::duration_cast<minutes>(local - day);
  return {static_cast<int>(day.time_since_epoch().count()), static_cast<int>(mins.count())};
}

// The instant of a local day and minute; a time skipped by a DST change maps
// to the moment of the change, a repeated one to its first occurrence.
int64_t toUnix(const date::time_zone* zone, int day, int minute) {
  const date::local_time<minutes> local{date::days(day) + minutes(minute)};
  const auto sys = zone->to_sys(local, date::choose::earliest);
  return std::chrono::duration_cast<milliseconds>(sys.time_since_epoch()).count();
}

int weekday(int day) {
  return static_cast<int>(date::weekday(date::sys_days(date::days(day))).c_encoding());
}

std::vector<Interval> parseIntervals(const nlohmann::json& list, const std::string& pointer,
                                     std::vector<config::ConfigError>& errors) {
  std::vector<Interval> out;
  if (!list.is_array()) return out;
  for (size_t i = 0; i < list.size(); ++i) {
    auto iv = list[i].is_string() ? parseInterval(list[i].get<std::string>()) : std::nullopt;
    if (!iv) {
      errors.push_back({"", pointer + "/" + std::to_string(i),
                        "not an interval HH:MM-HH:MM with start before end"});
      continue;
    }
    out.push_back(*iv);
  }
  return out;
}

}  // namespace

const date::time_zone* findZone(const std::string& name) {
  try {
    return date::locate_zone(name);
  } catch (const std::exception&) {
    return nullptr;
  }
}

std::optional<int> parseClock(const std::string& text) {
  if (text.size() != 5 || text[2] != ':') return std::nullopt;
  for (size_t i : {0, 1, 3, 4}) {
    if (text[i] < '0' || text[i] > '9') return std::nullopt;
  }
  const int h = (text[0] - '0') * 10 + (text[1] - '0');
  const int m = (text[3] - '0') * 10 + (text[4] - '0');
  if (m > 59 || h > 24 || (h == 24 && m != 0)) return std::nullopt;
  return h * 60 + m;
}

std::optional<Interval> parseInterval(const std::string& text) {
  const size_t dash = text.find('-');
  if (dash == std::string::npos) return std::nullopt;
  auto a = parseClock(text.substr(0, dash));
  auto b = parseClock(text.substr(dash + 1));
  if (!a || !b || *a >= *b) return std::nullopt;
  return Interval{*a, *b};
}

std::optional<int> parseDay(const std::string& text) {
  if (text.size() != 10 || text[4] != '-' || text[7] != '-') return std::nullopt;
  int y = 0, m = 0, d = 0;
  for (size_t i = 0; i < 10; ++i) {
    if (i == 4 || i == 7) continue;
    if (text[i] < '0' || text[i] > '9') return std::nullopt;
  }
  y = std::stoi(text.substr(0, 4));
  m = std::stoi(text.substr(5, 2));
  d = std::stoi(text.substr(8, 2));
  const date::year_month_day ymd{date::year(y), date::month(static_cast<unsigned>(m)),
                                 date::day(static_cast<unsigned>(d))};
  if (!ymd.ok()) return std::nullopt;
  return static_cast<int>(date::sys_days(ymd).time_since_epoch().count());
}

std::optional<Calendar> Calendar::parse(const nlohmann::json& spec, const std::string& pointer,
                                        const std::string& default_timezone,
                                        std::vector<config::ConfigError>& errors) {
  const size_t before = errors.size();
  Calendar c;
  c.timezone_ = spec.value("timezone", default_timezone);
  c.zone_ = findZone(c.timezone_);
  if (c.zone_ == nullptr) {
    errors.push_back({"", pointer + "/timezone", "unknown time zone " + c.timezone_});
  }
  const nlohmann::json weekly = spec.value("weekly", nlohmann::json::object());
  for (size_t d = 0; d < kWeekdays.size(); ++d) {
    if (weekly.contains(kWeekdays[d])) {
      c.weekly_[d] =
          parseIntervals(weekly[kWeekdays[d]], pointer + "/weekly/" + kWeekdays[d], errors);
    }
  }
  const nlohmann::json holidays = spec.value("holidays", nlohmann::json::array());
  for (size_t i = 0; i < holidays.size(); ++i) {
    auto day = holidays[i].is_string() ? parseDay(holidays[i].get<std::string>()) : std::nullopt;
    if (!day) {
      errors.push_back({"", pointer + "/holidays/" + std::to_string(i), "not a date YYYY-MM-DD"});
      continue;
    }
    c.holidays_[*day] = true;
  }
  const nlohmann::json special = spec.value("special_days", nlohmann::json::object());
  for (const auto& [key, value] : special.items()) {
    auto day = parseDay(key);
    if (!day) {
      errors.push_back({"", pointer + "/special_days/" + key, "not a date YYYY-MM-DD"});
      continue;
    }
    c.special_[*day] = parseIntervals(value, pointer + "/special_days/" + key, errors);
  }
  if (errors.size() != before) return std::nullopt;
  return c;
}

const std::vector<Interval>& Calendar::intervalsOn(int day) const {
  static const std::vector<Interval> kClosed;
  if (auto it = special_.find(day); it != special_.end()) return it->second;
  if (holidays_.count(day) > 0) return kClosed;
  return weekly_[weekday(day)];
}

bool Calendar::isOpen(int64_t unix_ms) const {
  const LocalPoint p = toLocal(zone_, unix_ms);
  for (const auto& iv : intervalsOn(p.day)) {
    if (p.minute >= iv.start && p.minute < iv.end) return true;
  }
  return false;
}

int64_t Calendar::nextOpen(int64_t unix_ms) const {
  if (isOpen(unix_ms)) return unix_ms;
  const LocalPoint p = toLocal(zone_, unix_ms);
  for (int d = 0; d < 400; ++d) {
    int64_t best = -1;
    for (const auto& iv : intervalsOn(p.day + d)) {
      if (d == 0 && iv.start <= p.minute) continue;
      const int64_t at = toUnix(zone_, p.day + d, iv.start);
      if (at > unix_ms && (best < 0 || at < best)) best = at;
    }
    if (best >= 0) return best;
  }
  return -1;
}

std::optional<QuietHours> QuietHours::parse(const nlohmann::json& spec, const std::string& pointer,
                                            const std::string& timezone,
                                            std::vector<config::ConfigError>& errors) {
  QuietHours q;
  q.zone_ = findZone(timezone);
  auto a = parseClock(spec.value("start", ""));
  auto b = parseClock(spec.value("end", ""));
  if (!a) errors.push_back({"", pointer + "/start", "not a time HH:MM"});
  if (!b) errors.push_back({"", pointer + "/end", "not a time HH:MM"});
  if (q.zone_ == nullptr) errors.push_back({"", pointer, "unknown time zone " + timezone});
  if (!a || !b || q.zone_ == nullptr) return std::nullopt;
  if (*a == *b) {
    errors.push_back({"", pointer + "/end", "quiet hours must not start and end at once"});
    return std::nullopt;
  }
  q.start_ = *a;
  q.end_ = *b;
  return q;
}

bool QuietHours::isQuiet(int64_t unix_ms) const {
  const LocalPoint p = toLocal(zone_, unix_ms);
  if (start_ < end_) return p.minute >= start_ && p.minute < end_;
  return p.minute >= start_ || p.minute < end_;  // across midnight
}

int64_t QuietHours::quietEnd(int64_t unix_ms) const {
  if (!isQuiet(unix_ms)) return unix_ms;
  const LocalPoint p = toLocal(zone_, unix_ms);
  const int day = p.minute < end_ ? p.day : p.day + 1;
  return toUnix(zone_, day, end_);
}

}  // namespace sanjog::automation
