// Durations as they are written in Sanjog configs: "250ms", "30s", "5m",
// "2h", "7d" and sums like "1h30m". Header-only, no allocation.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

namespace sanjog::sdk {

// nullopt for anything else (empty, a number without unit, spaces, signs).
inline std::optional<std::chrono::milliseconds> parseDuration(std::string_view text) {
  if (text.empty()) return std::nullopt;
  int64_t total = 0;
  size_t i = 0;
  while (i < text.size()) {
    if (text[i] < '0' || text[i] > '9') return std::nullopt;
    int64_t n = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      n = n * 10 + (text[i] - '0');
      if (n > 100'000'000'000LL) return std::nullopt;
      ++i;
    }
    const std::string_view unit = text.substr(i);
    int64_t scale = 0;
    size_t len = 1;
    if (unit.substr(0, 2) == "ms") {
      scale = 1;
      len = 2;
    } else if (unit.substr(0, 1) == "s") {
      scale = 1000;
    } else if (unit.substr(0, 1) == "m") {
      scale = 60'000;
    } else if (unit.substr(0, 1) == "h") {
      scale = 3'600'000;
    } else if (unit.substr(0, 1) == "d") {
      scale = 86'400'000;
    } else {
      return std::nullopt;
    }
    total += n * scale;
    i += len;
  }
  return std::chrono::milliseconds(total);
}

}  // namespace sanjog::sdk
