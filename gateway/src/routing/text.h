// Unicode text helpers (ICU).
#pragma once

#include <string>
#include <string_view>

namespace sanjog::routing {

// NFC-normalizes and case-folds UTF-8 text ("PRICE" -> "price"; Bengali
// sequences composed). Invalid UTF-8 is returned with U+FFFD replacements.
std::string normalizeText(std::string_view utf8);

}  // namespace sanjog::routing
