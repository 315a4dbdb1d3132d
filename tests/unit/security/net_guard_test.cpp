// The SSRF guard's address classes and CIDR parsing.
#include "common/net_guard.h"

#include <gtest/gtest.h>

namespace sanjog::net {
namespace {

bool internal(const char* text) {
  auto a = parseAddress(text);
  EXPECT_TRUE(a) << text;
  return a && isInternal(*a);
}

TEST(NetGuard, InternalRangesAreRecognisedInBothFamilies) {
  for (const char* a :
       {"127.0.0.1", "127.8.9.10", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1",
        "169.254.169.254", "100.64.0.1", "0.0.0.0", "255.255.255.255", "224.0.0.1", "::1",
        "::", "fe80::1", "fd12:3456::1", "::ffff:127.0.0.1", "::ffff:169.254.169.254", "ff02::1"}) {
    EXPECT_TRUE(internal(a)) << a;
  }
  for (const char* a :
       {"8.8.8.8", "157.240.1.35", "172.32.0.1", "100.128.0.1", "2a03:2880::1", "::ffff:8.8.8.8"}) {
    EXPECT_FALSE(internal(a)) << a;
  }
}

TEST(NetGuard, CidrParsingAndMatching) {
  auto r = parseCidr("10.20.0.0/16");
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->contains(*parseAddress("10.20.5.6")));
  EXPECT_FALSE(r->contains(*parseAddress("10.21.0.1")));
  auto single = parseCidr("127.0.0.1");
  ASSERT_TRUE(single);
  EXPECT_TRUE(single->contains(*parseAddress("127.0.0.1")));
  EXPECT_FALSE(single->contains(*parseAddress("127.0.0.2")));
  auto v6 = parseCidr("fd00::/8");
  ASSERT_TRUE(v6);
  EXPECT_TRUE(v6->contains(*parseAddress("fd99::1")));
  EXPECT_FALSE(parseCidr("10.0.0.0/33"));
  EXPECT_FALSE(parseCidr("10.0.0.0/"));
  EXPECT_FALSE(parseCidr("example.com/8"));
  EXPECT_FALSE(parseCidr("fd00::/129"));
}

}  // namespace
}  // namespace sanjog::net
