#include "common/input_limits.h"

#include <gtest/gtest.h>

#include <string>

namespace sanjog {
namespace {

TEST(InputLimits, JsonNestingIsMeasuredOutsideStrings) {
  EXPECT_FALSE(jsonNestingExceeds(R"({"a":[1,{"b":2}]})", 3));
  EXPECT_TRUE(jsonNestingExceeds(R"({"a":[1,{"b":[2]}]})", 3));
  // Brackets inside strings, with escaped quotes, do not count.
  EXPECT_FALSE(jsonNestingExceeds(R"({"t":"[[[[[[\"{{{{{{"})", 1));
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  EXPECT_TRUE(jsonNestingExceeds(deep, 64));
  EXPECT_FALSE(jsonNestingExceeds(std::string(64, '[') + std::string(64, ']'), 64));
  EXPECT_FALSE(jsonNestingExceeds("From=%2B8801711000001&Body=hi", 4));
  EXPECT_FALSE(jsonNestingExceeds("", 1));
}

}  // namespace
}  // namespace sanjog
