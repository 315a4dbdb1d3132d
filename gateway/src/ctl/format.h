// Text output of sanjogctl: aligned tables and short human durations.
// Pure functions, unit-tested in tests/unit/ctl.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace sanjog::ctl {

// Columns as a terminal shows them: one per UTF-8 code point (Bengali
// combining marks are counted too, which errs on the wide side).
size_t displayWidth(std::string_view utf8);
// At most `width` columns, cut on a code point boundary, "…" when cut.
std::string truncateDisplay(std::string_view utf8, size_t width);

// 0 -> "0s", 75 -> "1m 15s", 7500 -> "2h 5m", 200000 -> "2d 7h".
std::string humanDuration(double seconds);

// An aligned table with a header row; cells longer than `max_cell` columns
// are cut. Newlines and tabs inside cells become spaces.
class Table {
 public:
  explicit Table(std::vector<std::string> headers, size_t max_cell = 60);
  void add(std::vector<std::string> row);
  [[nodiscard]] bool empty() const { return rows_.empty(); }
  [[nodiscard]] size_t size() const { return rows_.size(); }
  void print(std::ostream& out) const;

 private:
  std::vector<std::string> headers_;
  std::vector<std::vector<std::string>> rows_;
  size_t max_cell_;
};

}  // namespace sanjog::ctl
