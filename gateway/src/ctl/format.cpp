#include "ctl/format.h"

#include <algorithm>
#include <cmath>

namespace sanjog::ctl {

namespace {

bool isContinuation(unsigned char c) { return (c & 0xC0) == 0x80; }

std::string oneLine(std::string_view text) {
  std::string out(text);
  std::replace_if(
      out.begin(), out.end(), [](char c) { return c == '\n' || c == '\r' || c == '\t'; }, ' ');
  return out;
}

}  // namespace

size_t displayWidth(std::string_view utf8) {
  size_t n = 0;
  for (unsigned char c : utf8) {
    if (!isContinuation(c)) ++n;
  }
  return n;
}

std::string truncateDisplay(std::string_view utf8, size_t width) {
  if (displayWidth(utf8) <= width) return std::string(utf8);
  if (width == 0) return "";
  size_t columns = 0;
  size_t i = 0;
  for (; i < utf8.size(); ++i) {
    if (!isContinuation(static_cast<unsigned char>(utf8[i]))) {
      if (columns == width - 1) break;
      ++columns;
    }
  }
  return std::string(utf8.substr(0, i)) + "\u2026";
}

std::string humanDuration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) seconds = 0;
  auto s = static_cast<int64_t>(std::llround(seconds));
  const int64_t d = s / 86400;
  const int64_t h = (s % 86400) / 3600;
  const int64_t m = (s % 3600) / 60;
  const int64_t sec = s % 60;
  auto two = [](int64_t a, const char* ua, int64_t b, const char* ub) {
    std::string out = std::to_string(a) + ua;
    if (b > 0) out += " " + std::to_string(b) + ub;
    return out;
  };
  if (d > 0) return two(d, "d", h, "h");
  if (h > 0) return two(h, "h", m, "m");
  if (m > 0) return two(m, "m", sec, "s");
  return std::to_string(sec) + "s";
}

Table::Table(std::vector<std::string> headers, size_t max_cell)
    : headers_(std::move(headers)), max_cell_(max_cell) {}

void Table::add(std::vector<std::string> row) {
  row.resize(headers_.size());
  for (auto& cell : row) cell = truncateDisplay(oneLine(cell), max_cell_);
  rows_.push_back(std::move(row));
}

void Table::print(std::ostream& out) const {
  std::vector<size_t> widths(headers_.size());
  for (size_t c = 0; c < headers_.size(); ++c) widths[c] = displayWidth(headers_[c]);
  for (const auto& row : rows_) {
    for (size_t c = 0; c < row.size(); ++c) widths[c] = std::max(widths[c], displayWidth(row[c]));
  }
  auto line = [&](const std::vector<std::string>& row) {
    std::string text;
    for (size_t c = 0; c < row.size(); ++c) {
      text += row[c];
      if (c + 1 < row.size()) text += std::string(widths[c] - displayWidth(row[c]) + 2, ' ');
    }
    while (!text.empty() && text.back() == ' ') text.pop_back();
    out << text << '\n';
  };
  line(headers_);
  for (const auto& row : rows_) line(row);
}

}  // namespace sanjog::ctl
