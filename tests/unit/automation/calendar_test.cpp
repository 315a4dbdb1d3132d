#include "automation/calendar.h"

#include <gtest/gtest.h>

#include <date/tz.h>

namespace sanjog::automation {
namespace {

using nlohmann::json;

// Unix ms of a local wall-clock time in `zone`.
int64_t at(const char* zone, int y, unsigned m, unsigned d, int hh, int mm) {
  const auto local = date::local_days{date::year(y) / date::month(m) / date::day(d)} +
                     std::chrono::hours(hh) + std::chrono::minutes(mm);
  const auto sys = date::locate_zone(zone)->to_sys(local, date::choose::earliest);
  return std::chrono::duration_cast<std::chrono::milliseconds>(sys.time_since_epoch()).count();
}

Calendar shop() {
  // Open Sat-Thu 10:00-20:00, Friday afternoon only; Victory Day closed; a short New Year's Eve.
  const json spec = {{"type", "business_hours"},
                     {"weekly",
                      {{"sat", {"10:00-20:00"}},
                       {"sun", {"10:00-20:00"}},
                       {"mon", {"10:00-20:00"}},
                       {"tue", {"10:00-20:00"}},
                       {"wed", {"10:00-20:00"}},
                       {"thu", {"10:00-20:00"}},
                       {"fri", {"15:00-20:00"}}}},
                     {"holidays", {"2026-12-16"}},
                     {"special_days", {{"2026-12-31", {"10:00-14:00"}}}}};
  std::vector<config::ConfigError> errors;
  auto c = Calendar::parse(spec, "/automations/0", "Asia/Dhaka", errors);
  EXPECT_TRUE(errors.empty());
  return *c;
}

TEST(Calendar, DhakaEdgesAreExactToTheMinute) {
  const auto c = shop();
  // 2026-12-02 is a Wednesday.
  EXPECT_FALSE(c.isOpen(at("Asia/Dhaka", 2026, 12, 2, 9, 59)));
  EXPECT_TRUE(c.isOpen(at("Asia/Dhaka", 2026, 12, 2, 10, 0)));
  EXPECT_TRUE(c.isOpen(at("Asia/Dhaka", 2026, 12, 2, 19, 59)));
  EXPECT_FALSE(c.isOpen(at("Asia/Dhaka", 2026, 12, 2, 20, 0)));
  // Dhaka is UTC+6 all year: 04:00 UTC is 10:00 local.
  EXPECT_EQ(at("Asia/Dhaka", 2026, 12, 2, 10, 0), 1'796'184'000'000);
}

TEST(Calendar, NextOpenSkipsTheClosedMorningOfFriday) {
  const auto c = shop();
  // Thursday 21:00 -> Friday 15:00.
  EXPECT_EQ(c.nextOpen(at("Asia/Dhaka", 2026, 12, 3, 21, 0)), at("Asia/Dhaka", 2026, 12, 4, 15, 0));
  const int64_t open = at("Asia/Dhaka", 2026, 12, 3, 12, 0);
  EXPECT_EQ(c.nextOpen(open), open);
}

TEST(Calendar, HolidaysCloseAndSpecialDaysOverride) {
  const auto c = shop();
  EXPECT_FALSE(c.isOpen(at("Asia/Dhaka", 2026, 12, 16, 12, 0)));  // Victory Day (Wednesday)
  EXPECT_EQ(c.nextOpen(at("Asia/Dhaka", 2026, 12, 16, 12, 0)),
            at("Asia/Dhaka", 2026, 12, 17, 10, 0));
  EXPECT_TRUE(c.isOpen(at("Asia/Dhaka", 2026, 12, 31, 13, 59)));
  EXPECT_FALSE(c.isOpen(at("Asia/Dhaka", 2026, 12, 31, 14, 0)));  // a Thursday, closed early
}

TEST(Calendar, DaylightSavingZoneFollowsLocalTime) {
  std::vector<config::ConfigError> errors;
  auto c = Calendar::parse({{"timezone", "Europe/London"},
                            {"weekly", {{"sun", {"00:30-02:30"}}, {"mon", {"09:00-17:00"}}}}},
                           "/a", "Asia/Dhaka", errors);
  ASSERT_TRUE(c);
  // 2026-03-29 (Sunday): clocks go 01:00 -> 02:00. 01:30 does not exist; the
  // interval starts at 00:30 GMT and 02:00 BST is 01:00 UTC.
  EXPECT_TRUE(c->isOpen(at("Europe/London", 2026, 3, 29, 0, 45)));
  EXPECT_TRUE(c->isOpen(at("Europe/London", 2026, 3, 29, 2, 15)));
  EXPECT_FALSE(c->isOpen(at("Europe/London", 2026, 3, 29, 2, 30)));
  // Monday 09:00 in summer time is 08:00 UTC; in winter it is 09:00 UTC.
  EXPECT_EQ(c->nextOpen(at("Europe/London", 2026, 3, 29, 12, 0)),
            at("Europe/London", 2026, 3, 30, 9, 0));
  EXPECT_EQ(at("Europe/London", 2026, 3, 30, 9, 0) % 86'400'000, 8 * 3'600'000);
  EXPECT_EQ(at("Europe/London", 2026, 1, 5, 9, 0) % 86'400'000, 9 * 3'600'000);
  EXPECT_TRUE(c->isOpen(at("Europe/London", 2026, 1, 5, 9, 0)));
}

TEST(Calendar, BadSpecsAreReportedWithPointers) {
  std::vector<config::ConfigError> errors;
  auto c = Calendar::parse({{"timezone", "Mars/Olympus"},
                            {"weekly", {{"mon", {"18:00-09:00"}}}},
                            {"holidays", {"2026-02-30"}}},
                           "/automations/2", "Asia/Dhaka", errors);
  EXPECT_FALSE(c);
  ASSERT_EQ(errors.size(), 3u);
  EXPECT_EQ(errors[0].pointer, "/automations/2/timezone");
  EXPECT_EQ(errors[1].pointer, "/automations/2/weekly/mon/0");
  EXPECT_EQ(errors[2].pointer, "/automations/2/holidays/0");
}

TEST(Calendar, NeverOpenCalendarSaysSo) {
  std::vector<config::ConfigError> errors;
  auto c = Calendar::parse(json::object(), "/a", "Asia/Dhaka", errors);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->nextOpen(at("Asia/Dhaka", 2026, 12, 2, 10, 0)), -1);
}

TEST(QuietHours, AcrossMidnightInDhaka) {
  std::vector<config::ConfigError> errors;
  auto q = QuietHours::parse({{"start", "22:00"}, {"end", "09:00"}}, "/q", "Asia/Dhaka", errors);
  ASSERT_TRUE(q);
  EXPECT_FALSE(q->isQuiet(at("Asia/Dhaka", 2026, 12, 2, 21, 59)));
  EXPECT_TRUE(q->isQuiet(at("Asia/Dhaka", 2026, 12, 2, 22, 0)));
  EXPECT_TRUE(q->isQuiet(at("Asia/Dhaka", 2026, 12, 3, 8, 59)));
  EXPECT_FALSE(q->isQuiet(at("Asia/Dhaka", 2026, 12, 3, 9, 0)));
  // Before and after midnight, the quiet period ends the same morning.
  EXPECT_EQ(q->quietEnd(at("Asia/Dhaka", 2026, 12, 2, 23, 0)), at("Asia/Dhaka", 2026, 12, 3, 9, 0));
  EXPECT_EQ(q->quietEnd(at("Asia/Dhaka", 2026, 12, 3, 2, 0)), at("Asia/Dhaka", 2026, 12, 3, 9, 0));
  const int64_t day = at("Asia/Dhaka", 2026, 12, 3, 12, 0);
  EXPECT_EQ(q->quietEnd(day), day);
}

TEST(QuietHours, SameDayWindowAndErrors) {
  std::vector<config::ConfigError> errors;
  auto q = QuietHours::parse({{"start", "13:00"}, {"end", "14:00"}}, "/q", "Asia/Dhaka", errors);
  ASSERT_TRUE(q);
  EXPECT_TRUE(q->isQuiet(at("Asia/Dhaka", 2026, 12, 2, 13, 30)));
  EXPECT_FALSE(q->isQuiet(at("Asia/Dhaka", 2026, 12, 2, 14, 0)));
  EXPECT_FALSE(
      QuietHours::parse({{"start", "25:00"}, {"end", "09:00"}}, "/q", "Asia/Dhaka", errors));
  EXPECT_EQ(errors.back().pointer, "/q/start");
}

TEST(Clock, ParsesStrictly) {
  EXPECT_EQ(parseClock("00:00"), 0);
  EXPECT_EQ(parseClock("24:00"), 1440);
  EXPECT_FALSE(parseClock("24:01"));
  EXPECT_FALSE(parseClock("9:00"));
  EXPECT_FALSE(parseInterval("10:00-10:00"));
  EXPECT_FALSE(parseDay("2026-13-01"));
  EXPECT_EQ(parseDay("1970-01-02"), 1);
}

}  // namespace
}  // namespace sanjog::automation
