#include "routing/text.h"

#include <unicode/normalizer2.h>
#include <unicode/unistr.h>

namespace sanjog::routing {

std::string normalizeText(std::string_view utf8) {
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* nfc = icu::Normalizer2::getNFCInstance(status);
  if (U_FAILURE(status)) return std::string(utf8);
  icu::UnicodeString text = icu::UnicodeString::fromUTF8(
      icu::StringPiece(utf8.data(), static_cast<int32_t>(utf8.size())));
  text.foldCase(U_FOLD_CASE_DEFAULT);
  // Folding can produce decomposed sequences; compose afterwards.
  icu::UnicodeString composed = nfc->normalize(text, status);
  if (U_FAILURE(status)) return std::string(utf8);
  std::string out;
  composed.toUTF8String(out);
  return out;
}

std::string composeText(std::string_view utf8) {
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* nfc = icu::Normalizer2::getNFCInstance(status);
  if (U_FAILURE(status)) return std::string(utf8);
  icu::UnicodeString composed = nfc->normalize(icu::UnicodeString::fromUTF8(icu::StringPiece(
                                                   utf8.data(), static_cast<int32_t>(utf8.size()))),
                                               status);
  if (U_FAILURE(status)) return std::string(utf8);
  std::string out;
  composed.toUTF8String(out);
  return out;
}

}  // namespace sanjog::routing
