#include <gtest/gtest.h>

#include <string>

#include "sms.hpp"

namespace sanjog::plugins::channel::sms {
namespace {

std::string repeat(const std::string& s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

TEST(SmsSegments, Gsm7SingleAndMulti) {
  EXPECT_EQ(segment("").segments, 0);
  auto one = segment(repeat("a", 160));
  EXPECT_STREQ(one.encoding, "gsm7");
  EXPECT_EQ(one.units, 160);
  EXPECT_EQ(one.segments, 1);
  EXPECT_EQ(segment(repeat("a", 161)).segments, 2);
  EXPECT_EQ(segment(repeat("a", 306)).segments, 2);
  EXPECT_EQ(segment(repeat("a", 307)).segments, 3);
  EXPECT_STREQ(segment("Hello @ £5 Ödön, ¿qué?").encoding, "gsm7");
}

TEST(SmsSegments, ExtensionCharactersTakeTwoSeptetsAndAreNeverSplit) {
  auto euro = segment(repeat("€", 80));
  EXPECT_STREQ(euro.encoding, "gsm7");
  EXPECT_EQ(euro.units, 160);
  EXPECT_EQ(euro.segments, 1);
  EXPECT_EQ(segment(repeat("a", 159) + "{").segments, 2);  // 161 septets
  // 152 plain septets then an escape pair: the pair moves to the next segment.
  EXPECT_EQ(segment(repeat("a", 152) + "[" + repeat("a", 152)).segments, 3);
  EXPECT_EQ(segment(repeat("a", 151) + "[" + repeat("a", 153)).segments, 2);
}

TEST(SmsSegments, BengaliIsUcs2At70And67) {
  const std::string bn = "আ";  // U+0986, one UTF-16 unit
  auto one = segment(repeat(bn, 70));
  EXPECT_STREQ(one.encoding, "ucs2");
  EXPECT_EQ(one.units, 70);
  EXPECT_EQ(one.segments, 1);
  EXPECT_EQ(segment(repeat(bn, 71)).segments, 2);
  EXPECT_EQ(segment(repeat(bn, 134)).segments, 2);
  EXPECT_EQ(segment(repeat(bn, 135)).segments, 3);
  // One non-GSM character makes the whole text UCS-2.
  EXPECT_STREQ(segment(repeat("a", 100) + "ক").encoding, "ucs2");
  EXPECT_EQ(segment(repeat("a", 100) + "ক").segments, 2);
  EXPECT_EQ(segment("আপনার অর্ডার #1042 আগামীকাল (১৬ মার্চ) পৌঁছাবে। ধন্যবাদ!").segments, 1);
}

TEST(SmsSegments, EmojiAreSurrogatePairsNeverSplit) {
  auto e = segment(repeat("🙏", 35));
  EXPECT_EQ(e.units, 70);
  EXPECT_EQ(e.segments, 1);
  EXPECT_EQ(segment(repeat("a", 66) + "🙏" + "a").segments, 1);  // 69 units
  EXPECT_EQ(segment(repeat("a", 68) + "🙏" + "a").segments, 2);  // 71 units
  // 66 units then a pair: the pair starts segment 2 (67 would split it).
  EXPECT_EQ(segment(repeat("ক", 66) + "🙏" + repeat("ক", 65)).segments, 2);
  EXPECT_EQ(segment(repeat("ক", 66) + "🙏" + repeat("ক", 66)).segments, 3);
}

TEST(SmsSegments, InvalidUtf8DoesNotCrash) {
  EXPECT_STREQ(segment(std::string("\xff\xfe", 2)).encoding, "ucs2");
  EXPECT_EQ(segment(std::string("\xe0\xa6", 2)).segments, 1);
}

}  // namespace
}  // namespace sanjog::plugins::channel::sms
