// Fuzzes what automations do with a customer's message text: Unicode
// normalization and case folding (ICU), keyword matching, opt-out words and
// CSAT rating parsing. Any bytes, including invalid UTF-8.
#include <cstddef>
#include <cstdint>
#include <string>

#include "automation/text_match.h"
#include "routing/text.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string raw(reinterpret_cast<const char*>(data), size);
  const std::string folded = sanjog::routing::normalizeText(raw);
  (void)sanjog::automation::containsKeyword(folded, "দাম");
  (void)sanjog::automation::containsKeyword(folded, "price");
  (void)sanjog::automation::containsKeyword(folded, folded.substr(0, folded.size() / 2));
  (void)sanjog::automation::isOptOut(folded, {"no more"});
  (void)sanjog::automation::isOptIn(folded);
  const auto rating = sanjog::automation::parseRating(folded, raw.substr(0, 6));
  if (rating && (*rating < 1 || *rating > 5)) __builtin_trap();
  return 0;
}
