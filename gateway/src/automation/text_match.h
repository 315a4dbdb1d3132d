// Text rules of the automations, on NFC-normalized, case-folded UTF-8
// (routing::normalizeText): keywords, opt-out words and CSAT ratings, in
// English and Bengali.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sanjog::automation {

// Whether `keyword` occurs in `text` (both already folded). An ASCII keyword
// must not touch ASCII letters or digits ("price" is not found in
// "priceless"); other scripts match inside words, so Bengali inflections
// ("দামে") still match "দাম".
bool containsKeyword(std::string_view text, std::string_view keyword);

// Whole-message commands, compared after trimming spaces and punctuation.
bool isOptOut(std::string_view folded, const std::vector<std::string>& extra);
bool isOptIn(std::string_view folded);

// A 1-5 rating from a reply: ASCII or Bengali digits ("4", "৪"), English or
// Bengali words ("four", "চার"), stars ("⭐⭐⭐"), or an interactive reply id
// "csat:N". The rating must start the message; longer texts count only when
// they start with a digit and are short, so "3 items missing" after a survey
// still reads as 3 but an unrelated message does not.
std::optional<int> parseRating(std::string_view folded, std::string_view interactive_id);

}  // namespace sanjog::automation
