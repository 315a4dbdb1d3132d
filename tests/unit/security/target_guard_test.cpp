// Circuit breaker and token bucket on a fake clock.
#include "bus/target_guard.h"

#include <gtest/gtest.h>

namespace sanjog::bus {
namespace {

config::CircuitBreakerPolicy policy() {
  config::CircuitBreakerPolicy p;
  p.failure_ratio = 0.5;
  p.min_attempts = 4;
  p.window = std::chrono::milliseconds(10'000);
  p.open_for = std::chrono::milliseconds(5'000);
  return p;
}

TEST(CircuitBreaker, OpensOnTheFailureRatioThenProbesOnce) {
  CircuitBreaker b(policy());
  int64_t t = 1000;
  EXPECT_EQ(b.budget(t), -1);
  EXPECT_FALSE(b.record(false, t));
  EXPECT_FALSE(b.record(true, t));
  EXPECT_FALSE(b.record(true, t)) << "3 attempts: under min_attempts";
  auto changed = b.record(true, t);  // 3 of 4 failed
  ASSERT_TRUE(changed);
  EXPECT_EQ(*changed, CircuitBreaker::State::kOpen);
  EXPECT_EQ(b.budget(t + 4999), 0);
  EXPECT_EQ(b.budget(t + 5000), 1) << "one probe after open_for";
  b.started(t + 5000);
  EXPECT_EQ(b.state(), CircuitBreaker::State::kHalfOpen);
  EXPECT_EQ(b.budget(t + 5001), 0) << "only one probe at a time";
  auto reopened = b.record(true, t + 5001);
  ASSERT_TRUE(reopened);
  EXPECT_EQ(*reopened, CircuitBreaker::State::kOpen) << "a failed probe opens it again";
  EXPECT_EQ(b.budget(t + 10'000), 0);
  EXPECT_EQ(b.budget(t + 10'001), 1);
  b.started(t + 10'001);
  auto closed = b.record(false, t + 10'100);
  ASSERT_TRUE(closed);
  EXPECT_EQ(*closed, CircuitBreaker::State::kClosed);
  EXPECT_EQ(b.budget(t + 10'100), -1);
}

TEST(CircuitBreaker, OldFailuresLeaveTheWindowAndLateResultsAreIgnored) {
  CircuitBreaker b(policy());
  b.record(true, 0);
  b.record(true, 0);
  b.record(true, 0);
  // 10 s later those three are out of the window: one failure among four
  // recent attempts does not open it.
  b.record(false, 10'500);
  b.record(false, 10'500);
  b.record(false, 10'500);
  EXPECT_FALSE(b.record(true, 10'600));
  EXPECT_EQ(b.state(), CircuitBreaker::State::kClosed);
  for (int i = 0; i < 4; ++i) b.record(true, 11'000);
  ASSERT_EQ(b.state(), CircuitBreaker::State::kOpen);
  EXPECT_FALSE(b.record(false, 11'001)) << "an attempt started before it opened is no probe";
  EXPECT_EQ(b.state(), CircuitBreaker::State::kOpen);
  // An attempt started while open and before open_for (a dispatcher that
  // read the budget before the breaker opened) is not a probe either.
  b.started(11'002);
  EXPECT_FALSE(b.record(false, 11'003));
  EXPECT_EQ(b.state(), CircuitBreaker::State::kOpen);
  EXPECT_EQ(b.budget(11'004), 0);
}

TEST(CircuitBreaker, DisabledNeverLimits) {
  auto p = policy();
  p.enabled = false;
  CircuitBreaker b(p);
  for (int i = 0; i < 100; ++i) b.record(true, i);
  EXPECT_EQ(b.budget(100), -1);
}

TEST(TokenBucket, BurstThenSteadyRate) {
  TokenBucket bucket({10.0, 3});
  EXPECT_EQ(bucket.budget(0), 3);
  for (int i = 0; i < 3; ++i) bucket.take(0);
  EXPECT_EQ(bucket.budget(0), 0);
  EXPECT_EQ(bucket.nextTokenAt(0), 100);
  EXPECT_EQ(bucket.budget(99), 0);
  EXPECT_EQ(bucket.budget(100), 1);
  EXPECT_EQ(bucket.budget(10'000), 3) << "never more than the burst";
  TokenBucket unlimited{config::RateLimitPolicy{}};
  EXPECT_EQ(unlimited.budget(0), -1);
}

}  // namespace
}  // namespace sanjog::bus
