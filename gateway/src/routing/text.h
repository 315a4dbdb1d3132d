// Unicode text helpers (ICU).
#pragma once

#include <string>
#include <string_view>

namespace sanjog::routing {

// NFC-normalizes and case-folds UTF-8 text ("PRICE" -> "price"; Bengali
// sequences composed). Invalid UTF-8 is returned with U+FFFD replacements.
std::string normalizeText(std::string_view utf8);

}  // namespace sanjog::routing

namespace sanjog::routing {
// NFC normalization only (no case folding): used for regex subjects and
// patterns, which keep their case (use (?i) or rely on the filter's
// case-insensitive matching).
std::string composeText(std::string_view utf8);
}  // namespace sanjog::routing
