#include "bus/retry_policy.h"

#include <gtest/gtest.h>

namespace sanjog::bus {
namespace {

using std::chrono::milliseconds;

TEST(RetryPolicy, ExponentialUpToTheCap) {
  config::RetryPolicy p;  // 5 s, x2, 1 h cap
  EXPECT_EQ(retryDelay(p, 1, 0).count(), 5000);
  EXPECT_EQ(retryDelay(p, 2, 0).count(), 10000);
  EXPECT_EQ(retryDelay(p, 5, 0).count(), 80000);
  EXPECT_EQ(retryDelay(p, 12, 0).count(), 3600000);
  EXPECT_EQ(retryDelay(p, 1000, 0).count(), 3600000);
}

TEST(RetryPolicy, JitterStaysWithinTheFraction) {
  config::RetryPolicy p;
  EXPECT_EQ(retryDelay(p, 1, -1).count(), 4000);
  EXPECT_EQ(retryDelay(p, 1, 1).count(), 6000);
  EXPECT_EQ(retryDelay(p, 1, 7).count(), 6000);  // clamped
}

TEST(RetryPolicy, RetryAfterWinsWhenLongerButIsCapped) {
  config::RetryPolicy p;
  EXPECT_EQ(nextDelay(p, 1, 0, milliseconds(30000)).count(), 30000);
  EXPECT_EQ(nextDelay(p, 1, 0, milliseconds(1000)).count(), 5000);
  EXPECT_EQ(nextDelay(p, 1, 0, milliseconds(30LL * 24 * 3600 * 1000)).count(), 7200000);
}

TEST(RetryPolicy, DefaultScheduleCoversAboutADay) {
  const auto s = summarize(config::RetryPolicy{});
  const double hours = static_cast<double>(s.span.count()) / 3.6e6;
  EXPECT_GT(hours, 22.0);
  EXPECT_LE(hours, 24.0);
  EXPECT_GE(s.attempts, 30);
  EXPECT_LE(s.attempts, 40);
}

}  // namespace
}  // namespace sanjog::bus
