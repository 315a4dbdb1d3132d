// SMS text handling shared by the SMS plugins: which encoding a text needs
// and how many segments it takes (3GPP TS 23.038 GSM 7-bit default alphabet
// with its extension table, else UCS-2).
#pragma once

#include <string>
#include <string_view>

namespace sanjog::plugins::channel::sms {

struct Segmentation {
  const char* encoding = "gsm7";  // "gsm7" or "ucs2"
  int units = 0;                  // septets (extension characters count 2) or UTF-16 code units
  int segments = 0;               // 0 for an empty text
};

// GSM-7: up to 160 septets in one segment, else 153 per segment (an escape
// pair is never split). UCS-2: up to 70 code units in one, else 67 per
// segment (a surrogate pair is never split). Invalid UTF-8 counts as UCS-2
// replacement characters.
Segmentation segment(std::string_view utf8);

}  // namespace sanjog::plugins::channel::sms
