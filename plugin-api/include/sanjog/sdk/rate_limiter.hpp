// RateLimiter: a thread-safe token bucket for a plugin's outbound sends.
//
// A channel plugin keeps one per instance, sized to the provider's published
// limit. Before each send it asks for a token; when none is left the send is
// not attempted and the delivery is retried after the returned wait, so a
// burst of queued messages never earns a provider-side throttling error.
//
//   sdk::RateLimiter limiter(80.0, 80);            // 80 per second, burst 80
//   if (auto wait = limiter.tryAcquire(host.nowMs()); wait > 0)
//     return sdk::DeliveryResult::retry(sdk::Code::kRateLimited, "...", wait);
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <mutex>

namespace sanjog::sdk {

class RateLimiter {
 public:
  // rate_per_second <= 0 means unlimited.
  RateLimiter(double rate_per_second, double burst)
      : rate_(rate_per_second), burst_(std::max(1.0, burst)), tokens_(std::max(1.0, burst)) {}

  // Takes one token at `now_ms` (any monotonic-enough clock in milliseconds).
  // Returns 0 when the token was taken, otherwise the milliseconds until one
  // is available (nothing is taken then).
  int64_t tryAcquire(int64_t now_ms) {
    if (rate_ <= 0) return 0;
    std::lock_guard<std::mutex> lock(mutex_);
    if (last_ms_ < 0) last_ms_ = now_ms;
    if (now_ms > last_ms_) {
      tokens_ = std::min(burst_, tokens_ + double(now_ms - last_ms_) * rate_ / 1000.0);
      last_ms_ = now_ms;
    }
    if (tokens_ >= 1.0) {
      tokens_ -= 1.0;
      return 0;
    }
    return std::max<int64_t>(1, int64_t(std::ceil((1.0 - tokens_) * 1000.0 / rate_)));
  }

  [[nodiscard]] double ratePerSecond() const { return rate_; }

 private:
  const double rate_;
  const double burst_;
  std::mutex mutex_;
  double tokens_;
  int64_t last_ms_ = -1;
};

}  // namespace sanjog::sdk
