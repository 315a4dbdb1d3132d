// sanjogctl's text output: widths of Bengali text, truncation, durations,
// table alignment, and the query strings it sends.
#include <gtest/gtest.h>

#include <sstream>

#include "ctl/admin_client.h"
#include "ctl/format.h"

namespace sanjog::ctl {
namespace {

TEST(CtlFormat, DisplayWidthCountsCodePoints) {
  EXPECT_EQ(displayWidth("abc"), 3u);
  EXPECT_EQ(displayWidth("অর্ডার"), 6u);  // 6 code points, 18 bytes
  EXPECT_EQ(displayWidth(""), 0u);
}

TEST(CtlFormat, TruncateCutsOnCodePointBoundaries) {
  EXPECT_EQ(truncateDisplay("short", 10), "short");
  EXPECT_EQ(truncateDisplay("abcdefgh", 5), "abcd\u2026");
  const std::string cut = truncateDisplay("আপনার অর্ডার পাঠানো হয়েছে", 6);
  EXPECT_EQ(displayWidth(cut), 6u);
  EXPECT_EQ(cut, "আপনার\u2026");
  EXPECT_EQ(truncateDisplay("abc", 0), "");
}

TEST(CtlFormat, HumanDuration) {
  EXPECT_EQ(humanDuration(0), "0s");
  EXPECT_EQ(humanDuration(59.4), "59s");
  EXPECT_EQ(humanDuration(75), "1m 15s");
  EXPECT_EQ(humanDuration(120), "2m");
  EXPECT_EQ(humanDuration(7500), "2h 5m");
  EXPECT_EQ(humanDuration(200000), "2d 7h");
  EXPECT_EQ(humanDuration(-3), "0s");
}

TEST(CtlFormat, TableAlignsColumnsByDisplayWidth) {
  Table t({"ID", "TEXT", "N"}, 8);
  t.add({"1", "অর্ডার", "10"});
  t.add({"22", "line\nbreak and more", "3"});
  std::ostringstream out;
  t.print(out);
  EXPECT_EQ(out.str(),
            "ID  TEXT      N\n"
            "1   অর্ডার    10\n"
            "22  line br\u2026  3\n");
}

TEST(CtlFormat, QueryStringEncodesAndSkipsEmpty) {
  EXPECT_EQ(queryString({}), "");
  EXPECT_EQ(queryString({{"contact", "+8801711000001"}, {"type", ""}, {"since", "2h"}}),
            "?contact=%2B8801711000001&since=2h");
  EXPECT_EQ(queryString({{"a", "x y&z"}}), "?a=x%20y%26z");
  EXPECT_EQ(pathSegment("+8801711000001"), "%2B8801711000001");
  EXPECT_EQ(pathSegment("a/b"), "a%2Fb");
}

}  // namespace
}  // namespace sanjog::ctl
