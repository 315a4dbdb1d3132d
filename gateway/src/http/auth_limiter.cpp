#include "http/auth_limiter.h"

#include <vector>

namespace sanjog::http {

std::optional<std::chrono::seconds> AuthLimiter::blocked(
    const std::string& address, const config::AuthFailureLimit& limit,
    std::chrono::steady_clock::time_point now) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = entries_.find(address);
  if (it == entries_.end()) return std::nullopt;
  const auto end = it->second.window_start + limit.window;
  if (now >= end) {
    entries_.erase(it);
    return std::nullopt;
  }
  if (it->second.failures < limit.max) return std::nullopt;
  return std::chrono::ceil<std::chrono::seconds>(end - now);
}

void AuthLimiter::fail(const std::string& address, const config::AuthFailureLimit& limit,
                       std::chrono::steady_clock::time_point now) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (entries_.size() >= kMaxAddresses) {
    // Bounded memory under a spray of addresses: drop finished windows,
    // then (if still full) the whole table; a flood cannot grow it.
    std::erase_if(entries_,
                  [&](const auto& e) { return now >= e.second.window_start + limit.window; });
    if (entries_.size() >= kMaxAddresses) entries_.clear();
  }
  auto& e = entries_[address];
  if (e.failures == 0 || now >= e.window_start + limit.window) {
    e.window_start = now;
    e.failures = 0;
  }
  ++e.failures;
}

}  // namespace sanjog::http
