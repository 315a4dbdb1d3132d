#include "common/time_format.h"

#include <chrono>
#include <cstdio>
#include <ctime>

namespace sanjog {

std::string formatRfc3339(int64_t unix_ms) {
  const std::time_t secs = static_cast<std::time_t>(unix_ms / 1000);
  const int millis = static_cast<int>(unix_ms % 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
  return buf;
}

int64_t parseRfc3339(const std::string& text) {
  std::tm tm{};
  const char* end = strptime(text.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (end == nullptr) return -1;
  int64_t ms = int64_t(timegm(&tm)) * 1000;
  if (*end == '.') {
    int scale = 100;
    for (++end; *end >= '0' && *end <= '9'; ++end) {
      ms += (*end - '0') * scale;
      scale /= 10;
    }
  }
  return *end == 'Z' && end[1] == '\0' ? ms : -1;
}

int64_t nowUnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace sanjog
