// Per-target protection for deliveries: a circuit breaker (stop hammering a
// failing provider, probe it now and then) and a token-bucket rate limit.
// Pure logic on a caller-supplied clock (milliseconds); not thread-safe: the
// bus uses it under its dispatch lock.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>

#include "config/config.h"

namespace sanjog::bus {

class CircuitBreaker {
 public:
  enum class State { kClosed = 0, kHalfOpen = 1, kOpen = 2 };

  explicit CircuitBreaker(config::CircuitBreakerPolicy policy = {}) : policy_(policy) {}

  // How many attempts may start now: unlimited (-1) when closed, 1 when a
  // probe is due (open for `open_for`, no probe running), else 0.
  [[nodiscard]] int budget(int64_t now_ms) const;
  // An attempt starts (a probe when the breaker is not closed).
  void started(int64_t now_ms);
  // An attempt ended; returns the new state when it changed.
  std::optional<State> record(bool failure, int64_t now_ms);
  [[nodiscard]] State state() const { return state_; }
  // When an open breaker lets its probe go.
  [[nodiscard]] int64_t probeAt() const { return opened_ms_ + policy_.open_for.count(); }

 private:
  void trim(int64_t now_ms);
  config::CircuitBreakerPolicy policy_;
  State state_ = State::kClosed;
  int64_t opened_ms_ = 0;
  bool probing_ = false;
  std::deque<std::pair<int64_t, bool>> window_;  // (time, failed) of recent attempts
  int failures_ = 0;                             // in window_
};

class TokenBucket {
 public:
  explicit TokenBucket(config::RateLimitPolicy policy = {});
  // Whole tokens available now (-1: no limit).
  [[nodiscard]] int budget(int64_t now_ms);
  void take(int64_t now_ms);
  // When the next token is there (for the dispatcher's sleep).
  [[nodiscard]] int64_t nextTokenAt(int64_t now_ms);

 private:
  void refill(int64_t now_ms);
  config::RateLimitPolicy policy_;
  double tokens_ = 0;
  int64_t last_ms_ = -1;
};

}  // namespace sanjog::bus
