#include "bus/retry_policy.h"

#include <algorithm>
#include <cmath>

namespace sanjog::bus {

std::chrono::milliseconds retryDelay(const config::RetryPolicy& policy, int attempts, double u) {
  const int n = std::max(1, attempts);
  const double base = static_cast<double>(policy.initial.count()) *
                      std::pow(policy.multiplier, static_cast<double>(std::min(n - 1, 64)));
  const double capped = std::min(base, static_cast<double>(policy.max_interval.count()));
  const double jittered = capped * (1.0 + policy.jitter * std::clamp(u, -1.0, 1.0));
  return std::chrono::milliseconds(static_cast<int64_t>(std::max(1.0, jittered)));
}

std::chrono::milliseconds nextDelay(const config::RetryPolicy& policy, int attempts, double u,
                                    std::optional<std::chrono::milliseconds> retry_after) {
  auto delay = retryDelay(policy, attempts, u);
  if (retry_after && *retry_after > delay) delay = std::min(*retry_after, policy.max_interval * 2);
  return delay;
}

ScheduleSummary summarize(const config::RetryPolicy& policy) {
  ScheduleSummary s;
  s.attempts = 1;  // the first attempt is immediate
  std::chrono::milliseconds at{0};
  for (int n = 1; n < 10000; ++n) {
    const auto next = at + retryDelay(policy, n, 0.0);
    if (next > policy.max_age) break;
    at = next;
    ++s.attempts;
  }
  s.span = at;
  return s;
}

}  // namespace sanjog::bus
