#include "sms.hpp"

#include <cstdint>
#include <vector>

namespace sanjog::plugins::channel::sms {

namespace {

// Decodes UTF-8 into code points; malformed bytes become U+FFFD.
std::vector<char32_t> codePoints(std::string_view s) {
  std::vector<char32_t> out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (len == 0 || i + len > s.size()) {
      out.push_back(0xFFFD);
      ++i;
      continue;
    }
    char32_t cp = len == 1 ? c : len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F) : (c & 0x07);
    bool ok = true;
    for (int k = 1; k < len; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) ok = false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    out.push_back(ok ? cp : 0xFFFD);
    i += ok ? len : 1;
  }
  return out;
}

// Septets a code point takes in GSM 7-bit: 1 (default alphabet), 2 (escape +
// extension table) or 0 (not representable).
int gsmSeptets(char32_t c) {
  static const std::u32string kBasic =
      U"@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
      U"¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
  static const std::u32string kExtension = U"\f^{}\\[~]|€";
  if (kBasic.find(c) != std::u32string::npos) return 1;
  if (kExtension.find(c) != std::u32string::npos) return 2;
  return 0;
}

// Greedy packing: how many segments of `per_segment` units the pieces need
// when no piece is split.
int pack(const std::vector<int>& pieces, int per_segment) {
  int segments = 1, used = 0;
  for (int p : pieces) {
    if (used + p > per_segment) {
      ++segments;
      used = 0;
    }
    used += p;
  }
  return segments;
}

}  // namespace

Segmentation segment(std::string_view utf8) {
  Segmentation out;
  const auto cps = codePoints(utf8);
  if (cps.empty()) return out;
  std::vector<int> pieces;
  pieces.reserve(cps.size());
  bool gsm = true;
  for (char32_t c : cps) {
    const int n = gsmSeptets(c);
    if (n == 0) {
      gsm = false;
      break;
    }
    pieces.push_back(n);
  }
  if (!gsm) {
    pieces.clear();
    for (char32_t c : cps) pieces.push_back(c > 0xFFFF ? 2 : 1);
  }
  for (int p : pieces) out.units += p;
  out.encoding = gsm ? "gsm7" : "ucs2";
  const int single = gsm ? 160 : 70;
  const int multi = gsm ? 153 : 67;
  out.segments = out.units <= single ? 1 : pack(pieces, multi);
  return out;
}

}  // namespace sanjog::plugins::channel::sms
