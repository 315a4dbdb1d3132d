#include "automation/text_match.h"

#include <array>
#include <utility>

namespace sanjog::automation {

namespace {

bool isAsciiWordChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

bool isAsciiWord(std::string_view s) {
  for (char c : s) {
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  }
  return true;
}

// Trims ASCII spaces and punctuation and the Bengali danda at both ends.
std::string_view trim(std::string_view s) {
  auto strip = [](std::string_view& v) {
    bool changed = true;
    while (changed && !v.empty()) {
      changed = false;
      const unsigned char f = static_cast<unsigned char>(v.front());
      if (f < 0x80 && !isAsciiWordChar(static_cast<char>(f))) {
        v.remove_prefix(1);
        changed = true;
      }
      if (v.empty()) break;
      const unsigned char b = static_cast<unsigned char>(v.back());
      if (b < 0x80 && !isAsciiWordChar(static_cast<char>(b))) {
        v.remove_suffix(1);
        changed = true;
      } else if (v.size() >= 3 && v.substr(v.size() - 3) == "\u0964") {  // ।
        v.remove_suffix(3);
        changed = true;
      }
    }
  };
  strip(s);
  return s;
}

const std::array<std::string_view, 9> kOptOut = {"stop", "stopall", "unsubscribe", "cancel", "end",
                                                 "quit", "বন্ধ",     "বন্ধ করুন",     "বাতিল"};
const std::array<std::string_view, 4> kOptIn = {"start", "unstop", "subscribe", "চালু"};

}  // namespace

bool containsKeyword(std::string_view text, std::string_view keyword) {
  if (keyword.empty()) return false;
  const bool ascii = isAsciiWord(keyword);
  for (size_t pos = text.find(keyword); pos != std::string_view::npos;
       pos = text.find(keyword, pos + 1)) {
    if (!ascii) return true;
    const bool left_ok = pos == 0 || !isAsciiWordChar(text[pos - 1]);
    const size_t end = pos + keyword.size();
    const bool right_ok = end >= text.size() || !isAsciiWordChar(text[end]);
    if (left_ok && right_ok) return true;
  }
  return false;
}

bool isOptOut(std::string_view folded, const std::vector<std::string>& extra) {
  const std::string_view t = trim(folded);
  for (auto w : kOptOut) {
    if (t == w) return true;
  }
  for (const auto& w : extra) {
    if (t == trim(w)) return true;
  }
  return false;
}

bool isOptIn(std::string_view folded) {
  const std::string_view t = trim(folded);
  for (auto w : kOptIn) {
    if (t == w) return true;
  }
  return false;
}

std::optional<int> parseRating(std::string_view folded, std::string_view interactive_id) {
  if (interactive_id.size() == 6 && interactive_id.substr(0, 5) == "csat:" &&
      interactive_id[5] >= '1' && interactive_id[5] <= '5') {
    return interactive_id[5] - '0';
  }
  const std::string_view t = trim(folded);
  if (t.empty()) return std::nullopt;
  // Stars only: the count is the rating.
  {
    constexpr std::string_view kStar = "\u2b50";
    std::string_view rest = t;
    int stars = 0;
    while (rest.size() >= kStar.size() && rest.substr(0, kStar.size()) == kStar) {
      rest.remove_prefix(kStar.size());
      if (rest.size() >= 3 && rest.substr(0, 3) == "\ufe0f") rest.remove_prefix(3);
      while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
      ++stars;
    }
    if (rest.empty() && stars >= 1 && stars <= 5) return stars;
  }
  static const std::array<std::pair<std::string_view, int>, 20> kTokens = {{
      {"1", 1},    {"2", 2},  {"3", 3},  {"4", 4},   {"5", 5},   {"১", 1},     {"২", 2},
      {"৩", 3},    {"৪", 4},  {"৫", 5},  {"one", 1}, {"two", 2}, {"three", 3}, {"four", 4},
      {"five", 5}, {"এক", 1}, {"দুই", 2}, {"তিন", 3}, {"চার", 4}, {"পাঁচ", 5},
  }};
  for (const auto& [token, value] : kTokens) {
    if (t.substr(0, token.size()) != token) continue;
    const std::string_view rest = t.substr(token.size());
    if (rest.empty()) return value;
    // "4 stars", "৪ ভালো", but not "12" or "fourteen".
    const unsigned char next = static_cast<unsigned char>(rest.front());
    const bool digit_token = token.size() == 1 || token.substr(0, 2) == "\xe0\xa7";
    if (next < 0x80 && isAsciiWordChar(static_cast<char>(next))) continue;
    if (!digit_token && !isAsciiWord(token) && next >= 0x80) continue;  // "একটা" is not "এক"
    if (digit_token && rest.size() >= 3 && rest.substr(0, 2) == "\xe0\xa7" &&
        static_cast<unsigned char>(rest[2]) >= 0xa6 &&
        static_cast<unsigned char>(rest[2]) <= 0xaf) {
      continue;  // another Bengali digit: "১২"
    }
    size_t code_points = 0;
    for (char c : t) code_points += (static_cast<unsigned char>(c) & 0xc0) != 0x80 ? 1 : 0;
    if (code_points <= 40) return value;
  }
  return std::nullopt;
}

}  // namespace sanjog::automation
