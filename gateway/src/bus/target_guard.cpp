#include "bus/target_guard.h"

#include <algorithm>
#include <cmath>

namespace sanjog::bus {

int CircuitBreaker::budget(int64_t now_ms) const {
  if (!policy_.enabled || state_ == State::kClosed) return -1;
  if (probing_) return 0;
  return state_ == State::kHalfOpen || now_ms >= probeAt() ? 1 : 0;
}

void CircuitBreaker::started(int64_t now_ms) {
  if (!policy_.enabled || state_ == State::kClosed) return;
  if (state_ == State::kOpen) {
    if (now_ms < probeAt()) return;  // not a probe: its result will be ignored
    state_ = State::kHalfOpen;
  }
  probing_ = true;
}

void CircuitBreaker::trim(int64_t now_ms) {
  while (!window_.empty() && window_.front().first <= now_ms - policy_.window.count()) {
    failures_ -= window_.front().second ? 1 : 0;
    window_.pop_front();
  }
}

std::optional<CircuitBreaker::State> CircuitBreaker::record(bool failure, int64_t now_ms) {
  if (!policy_.enabled) return std::nullopt;
  const State before = state_;
  if (state_ != State::kClosed) {
    // The probe's answer decides; results of attempts started before the
    // breaker opened are ignored.
    if (!probing_) return std::nullopt;
    probing_ = false;
    if (failure) {
      state_ = State::kOpen;
      opened_ms_ = now_ms;
    } else {
      state_ = State::kClosed;
      window_.clear();
      failures_ = 0;
    }
  } else {
    window_.emplace_back(now_ms, failure);
    failures_ += failure ? 1 : 0;
    trim(now_ms);
    const auto n = static_cast<int>(window_.size());
    if (failure && n >= policy_.min_attempts &&
        static_cast<double>(failures_) >= policy_.failure_ratio * n) {
      state_ = State::kOpen;
      opened_ms_ = now_ms;
      window_.clear();
      failures_ = 0;
    }
  }
  if (state_ == before) return std::nullopt;
  return state_;
}

TokenBucket::TokenBucket(config::RateLimitPolicy policy) : policy_(policy) {
  if (policy_.burst <= 0) policy_.burst = static_cast<int>(std::ceil(policy_.per_second));
  tokens_ = policy_.burst;
}

void TokenBucket::refill(int64_t now_ms) {
  if (last_ms_ >= 0 && now_ms > last_ms_) {
    tokens_ = std::min<double>(policy_.burst,
                               tokens_ + policy_.per_second * double(now_ms - last_ms_) / 1000.0);
  }
  if (now_ms > last_ms_) last_ms_ = now_ms;
}

int TokenBucket::budget(int64_t now_ms) {
  if (policy_.per_second <= 0) return -1;
  refill(now_ms);
  return static_cast<int>(std::floor(tokens_));
}

void TokenBucket::take(int64_t now_ms) {
  if (policy_.per_second <= 0) return;
  refill(now_ms);
  tokens_ -= 1;
}

int64_t TokenBucket::nextTokenAt(int64_t now_ms) {
  if (policy_.per_second <= 0) return now_ms;
  refill(now_ms);
  if (tokens_ >= 1) return now_ms;
  return now_ms + static_cast<int64_t>(std::ceil((1 - tokens_) * 1000.0 / policy_.per_second));
}

}  // namespace sanjog::bus
