#include "bus/targets.h"

#include <algorithm>

#include "common/log.h"

namespace sanjog::bus {

namespace {

constexpr std::string_view kLog = "sanjog.bus";
constexpr const char* kStateNames[] = {"closed", "half_open", "open"};

bool sameGuards(const TargetOptions& a, const TargetOptions& b) {
  return a.circuit_breaker.enabled == b.circuit_breaker.enabled &&
         a.circuit_breaker.failure_ratio == b.circuit_breaker.failure_ratio &&
         a.circuit_breaker.min_attempts == b.circuit_breaker.min_attempts &&
         a.circuit_breaker.window == b.circuit_breaker.window &&
         a.circuit_breaker.open_for == b.circuit_breaker.open_for &&
         a.rate_limit.per_second == b.rate_limit.per_second &&
         a.rate_limit.burst == b.rate_limit.burst;
}

}  // namespace

void Targets::set(std::map<std::string, TargetOptions> targets) {
  std::map<std::string, Guard> guards;
  for (const auto& [name, options] : targets) {
    auto old = options_.find(name);
    auto g = guards_.find(name);
    const bool same =
        old != options_.end() && g != guards_.end() && sameGuards(old->second, options);
    guards.emplace(name, same ? g->second
                              : Guard{CircuitBreaker(options.circuit_breaker),
                                      TokenBucket(options.rate_limit)});
    if (metrics_ != nullptr) {
      metrics_->circuit_state.Add({{"target", name}})
          .Set(static_cast<double>(guards.at(name).breaker.state()));
    }
  }
  guards_ = std::move(guards);
  options_ = std::move(targets);
  disabled_.clear();
}

config::RetryPolicy Targets::retryPolicy(const std::string& target) const {
  auto it = options_.find(target);
  return it != options_.end() ? it->second.retry : config::RetryPolicy{};
}

std::map<std::string, int> Targets::budgets(int64_t now_ms, int workers, int64_t& wake_ms) {
  std::map<std::string, int> out;
  auto combine = [](int a, int b) { return a < 0 ? b : (b < 0 ? a : std::min(a, b)); };
  for (auto& [name, g] : guards_) {
    const int b = g.breaker.budget(now_ms);
    const int t = g.bucket.budget(now_ms);
    const auto options = options_.find(name);
    int cap = options != options_.end() ? options->second.max_in_flight : 0;
    if (cap <= 0) cap = options_.size() > 1 ? std::max(1, workers - 1) : -1;
    auto in = in_flight_.find(name);
    const int running = in != in_flight_.end() ? in->second : 0;
    const int slots = cap < 0 ? -1 : std::max(0, cap - running);
    const int budget = combine(combine(b, t), slots);
    out[name] = budget;
    if (budget == 0 && (b == 0 || t == 0)) {
      // (A full target wakes the dispatcher itself when an attempt ends.)
      const int64_t at = b == 0 ? g.breaker.probeAt() : g.bucket.nextTokenAt(now_ms);
      if (at > now_ms && (wake_ms <= 0 || at < wake_ms)) wake_ms = at;
    }
  }
  return out;
}

bool Targets::mayStart(const std::string& target, int64_t now_ms) {
  auto g = guards_.find(target);
  return g == guards_.end() ||
         (g->second.breaker.budget(now_ms) != 0 && g->second.bucket.budget(now_ms) != 0);
}

bool Targets::throttled(const std::string& target, int64_t now_ms) {
  auto g = guards_.find(target);
  return g != guards_.end() && g->second.bucket.budget(now_ms) == 0;
}

void Targets::started(const std::string& target, int64_t now_ms) {
  ++in_flight_[target];
  auto g = guards_.find(target);
  if (g == guards_.end()) return;
  g->second.breaker.started(now_ms);
  g->second.bucket.take(now_ms);
}

void Targets::ended(const std::string& target) {
  auto it = in_flight_.find(target);
  if (it != in_flight_.end() && --it->second <= 0) in_flight_.erase(it);
}

void Targets::record(const std::string& target, Outcome outcome, int64_t now_ms) {
  if (outcome == Outcome::kDisable) return;
  auto it = guards_.find(target);
  if (it == guards_.end()) return;
  const auto changed = it->second.breaker.record(outcome == Outcome::kRetry, now_ms);
  if (!changed) return;
  const char* name = kStateNames[static_cast<int>(*changed)];
  if (metrics_ != nullptr) {
    metrics_->circuit_state.Add({{"target", target}}).Set(static_cast<double>(*changed));
    metrics_->circuit_transitions.Add({{"target", target}, {"result", name}}).Increment();
  }
  if (*changed == CircuitBreaker::State::kOpen) {
    log::warn(kLog, "circuit open: deliveries to this target pause, then one probe is sent",
              {{"target", target}});
  } else {
    log::info(kLog, "circuit closed: the target answers again", {{"target", target}});
  }
}

bool Targets::disable(const std::string& target) {
  if (!disabled_.insert(target).second) return false;
  log::warn(kLog, "target disabled until the next config reload (it answered 410 Gone)",
            {{"target", target}});
  return true;
}

std::string Targets::circuitState(const std::string& target) const {
  auto it = guards_.find(target);
  if (it == guards_.end()) return "";
  return kStateNames[static_cast<int>(it->second.breaker.state())];
}

}  // namespace sanjog::bus
