// RFC 3339 timestamps.
#pragma once

#include <cstdint>
#include <string>

namespace sanjog {

// "2026-11-22T13:44:23.123Z" (UTC, milliseconds).
std::string formatRfc3339(int64_t unix_ms);
int64_t nowUnixMs();
// Parses "YYYY-MM-DDTHH:MM:SS[.fff]Z"; -1 when it is not that.
int64_t parseRfc3339(const std::string& text);

}  // namespace sanjog
