// Failed authentications per client address.
#include <gtest/gtest.h>

#include "http/auth_limiter.h"

namespace sanjog::http {
namespace {

TEST(AuthLimiter, LocksAnAddressAfterTooManyFailuresUntilTheWindowEnds) {
  AuthLimiter limiter;
  const config::AuthFailureLimit limit{3, std::chrono::seconds(60)};
  const auto t0 = std::chrono::steady_clock::time_point{} + std::chrono::hours(1);
  for (int i = 0; i < 3; ++i) {
    EXPECT_FALSE(limiter.blocked("198.51.100.7", limit, t0));
    limiter.fail("198.51.100.7", limit, t0);
  }
  auto wait = limiter.blocked("198.51.100.7", limit, t0 + std::chrono::seconds(10));
  ASSERT_TRUE(wait);
  EXPECT_EQ(wait->count(), 50);
  EXPECT_FALSE(limiter.blocked("198.51.100.8", limit, t0)) << "other addresses are not affected";
  EXPECT_FALSE(limiter.blocked("198.51.100.7", limit, t0 + std::chrono::seconds(60)));
}

TEST(AuthLimiter, MemoryStaysBoundedUnderAnAddressSpray) {
  AuthLimiter limiter;
  const config::AuthFailureLimit limit{1, std::chrono::seconds(60)};
  const auto t0 = std::chrono::steady_clock::time_point{} + std::chrono::hours(1);
  for (size_t i = 0; i < AuthLimiter::kMaxAddresses * 3; ++i) {
    limiter.fail("10.0." + std::to_string(i / 256) + "." + std::to_string(i % 256), limit, t0);
  }
  // The table was cleared when full; it never held more than the cap (the
  // last address is still tracked).
  EXPECT_TRUE(limiter.blocked("10.0." + std::to_string((AuthLimiter::kMaxAddresses * 3 - 1) / 256) +
                                  "." + std::to_string((AuthLimiter::kMaxAddresses * 3 - 1) % 256),
                              limit, t0));
}

}  // namespace
}  // namespace sanjog::http
