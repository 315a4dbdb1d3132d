#include "automation/text_match.h"

#include <gtest/gtest.h>

#include "routing/text.h"

namespace sanjog::automation {
namespace {

std::string fold(const char* s) { return routing::normalizeText(s); }

TEST(Keywords, EnglishAndBengaliMatchAfterFolding) {
  EXPECT_TRUE(containsKeyword(fold("What is the PRICE?"), fold("price")));
  EXPECT_TRUE(containsKeyword(fold("দাম কত?"), fold("দাম")));
  EXPECT_TRUE(containsKeyword(fold("এটার দামে ছাড় আছে?"), fold("দাম")));  // inflected
  EXPECT_FALSE(containsKeyword(fold("priceless"), fold("price")));
  EXPECT_FALSE(containsKeyword(fold("reagent"), fold("agent")));
  EXPECT_TRUE(containsKeyword(fold("I want an AGENT please"), fold("agent")));
  EXPECT_TRUE(containsKeyword(fold("মানুষের সাথে কথা বলব"), fold("মানুষ")));
  EXPECT_FALSE(containsKeyword(fold("hello"), ""));
}

TEST(OptOut, WholeMessageCommandsOnly) {
  EXPECT_TRUE(isOptOut(fold("STOP"), {}));
  EXPECT_TRUE(isOptOut(fold(" stop! "), {}));
  EXPECT_TRUE(isOptOut(fold("বন্ধ।"), {}));
  EXPECT_TRUE(isOptOut(fold("বন্ধ করুন"), {}));
  EXPECT_FALSE(isOptOut(fold("please don't stop sending"), {}));
  EXPECT_TRUE(isOptOut(fold("no more"), {fold("No more")}));
  EXPECT_TRUE(isOptIn(fold("START")));
  EXPECT_FALSE(isOptIn(fold("start my order")));
}

TEST(Rating, DigitsWordsStarsAndButtons) {
  EXPECT_EQ(parseRating(fold("5"), ""), 5);
  EXPECT_EQ(parseRating(fold("৪"), ""), 4);
  EXPECT_EQ(parseRating(fold("Three"), ""), 3);
  EXPECT_EQ(parseRating(fold("পাঁচ"), ""), 5);
  EXPECT_EQ(parseRating(fold("দুই, ডেলিভারি দেরি"), ""), 2);
  EXPECT_EQ(parseRating(fold("⭐⭐⭐⭐"), ""), 4);
  EXPECT_EQ(parseRating(fold("1 - too slow"), ""), 1);
  EXPECT_EQ(parseRating("", "csat:2"), 2);
  EXPECT_FALSE(parseRating(fold("12"), ""));
  EXPECT_FALSE(parseRating(fold("১২"), ""));
  EXPECT_FALSE(parseRating(fold("6"), ""));
  EXPECT_FALSE(parseRating(fold("fourteen"), ""));
  EXPECT_FALSE(parseRating(fold("একটা প্রশ্ন ছিল"), ""));
  EXPECT_FALSE(parseRating(fold("thanks!"), ""));
  EXPECT_FALSE(
      parseRating(fold("3 of the items in my order arrived broken and I want a refund now"), ""));
}

}  // namespace
}  // namespace sanjog::automation
