// Unique, time-sortable identifiers (ULID layout: 48-bit milliseconds +
// 80 random bits, Crockford base32, monotonic within one millisecond).
#pragma once

#include <cstdint>
#include <string>

namespace sanjog {

// "evt_01HZX3K9Q8..." — 4-char prefix + 26 chars. Thread-safe.
std::string newEventId();
// Same layout with another prefix ("msg_", ...).
std::string newId(const char* prefix);

}  // namespace sanjog
