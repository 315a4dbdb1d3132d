// The retry schedule of deliveries: exponential backoff with jitter.
// Pure functions; see config::RetryPolicy for the knobs.
#pragma once

#include <chrono>
#include <optional>

#include "config/config.h"

namespace sanjog::bus {

// The delay before attempt number `attempts + 1`, after `attempts` failed
// attempts (attempts >= 1): min(initial * multiplier^(attempts-1),
// max_interval), then scaled by (1 + jitter * u) with u in [-1, 1].
std::chrono::milliseconds retryDelay(const config::RetryPolicy& policy, int attempts, double u);

// The delay to use after a failed attempt: the backoff, or the upstream's
// Retry-After when that is longer (capped at twice max_interval, so a
// misbehaving upstream cannot park a delivery for a week).
std::chrono::milliseconds nextDelay(const config::RetryPolicy& policy, int attempts, double u,
                                    std::optional<std::chrono::milliseconds> retry_after);

// How many attempts the policy makes before max_age, and the span they
// cover (without jitter); for docs and tests.
struct ScheduleSummary {
  int attempts = 0;
  std::chrono::milliseconds span{0};
};
ScheduleSummary summarize(const config::RetryPolicy& policy);

}  // namespace sanjog::bus
