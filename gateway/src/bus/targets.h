// The delivery targets of a bus: their options (retry, breaker, rate limit,
// in-flight cap), the circuit breaker and token bucket of each, the targets
// disabled by a 410, and the attempts in flight. Shared by both buses' dis-
// patchers. Not thread-safe: a bus uses it under its dispatch lock.
#pragma once

#include <map>
#include <set>
#include <string>

#include "bus/bus.h"
#include "bus/target_guard.h"
#include "metrics/metrics.h"

namespace sanjog::bus {

class Targets {
 public:
  explicit Targets(metrics::Metrics* metrics = nullptr) : metrics_(metrics) {}

  // Replaces the targets (a reload). An unchanged target keeps the state of
  // its breaker and bucket; disabled marks are cleared.
  void set(std::map<std::string, TargetOptions> targets);
  [[nodiscard]] const std::map<std::string, TargetOptions>& options() const { return options_; }
  [[nodiscard]] bool known(const std::string& target) const { return options_.count(target) > 0; }
  [[nodiscard]] config::RetryPolicy retryPolicy(const std::string& target) const;

  // Attempts each target's guards let start now (-1: no limit). One slow
  // target may not take every worker: by default it gets all but one when
  // other targets exist. `wake_ms` becomes the earliest time a held-back
  // target may go again (a probe, a token), if earlier.
  std::map<std::string, int> budgets(int64_t now_ms, int workers, int64_t& wake_ms);
  // Whether the guards let one attempt start now (asked again just before).
  [[nodiscard]] bool mayStart(const std::string& target, int64_t now_ms);
  // Whether the rate limit is what holds `target` back now.
  [[nodiscard]] bool throttled(const std::string& target, int64_t now_ms);
  void started(const std::string& target, int64_t now_ms);
  void ended(const std::string& target);
  void clearInFlight() { in_flight_.clear(); }
  // An attempt's result feeds the breaker (only retryable failures count:
  // a permanent error is the message's fault); changes are logged and
  // counted.
  void record(const std::string& target, Outcome outcome, int64_t now_ms);

  // HTTP 410: no deliveries to `target` until the next set(). True when new.
  bool disable(const std::string& target);
  [[nodiscard]] bool disabled(const std::string& target) const {
    return disabled_.count(target) > 0;
  }
  [[nodiscard]] const std::set<std::string>& disabledSet() const { return disabled_; }
  // "closed", "half_open" or "open"; "" for an unknown target.
  [[nodiscard]] std::string circuitState(const std::string& target) const;

 private:
  struct Guard {
    CircuitBreaker breaker;
    TokenBucket bucket;
  };
  metrics::Metrics* metrics_;
  std::map<std::string, TargetOptions> options_;
  std::map<std::string, Guard> guards_;
  std::set<std::string> disabled_;
  std::map<std::string, int> in_flight_;
};

}  // namespace sanjog::bus
