#pragma once

#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "config/config.h"

namespace sanjog::http {

// Failed authentications per client address (server.auth_failures).
// Bounded: at most kMaxAddresses are tracked.
class AuthLimiter {
 public:
  static constexpr size_t kMaxAddresses = 10000;
  // How long `address` must still wait, or nullopt when it may try.
  std::optional<std::chrono::seconds> blocked(const std::string& address,
                                              const config::AuthFailureLimit& limit,
                                              std::chrono::steady_clock::time_point now);
  void fail(const std::string& address, const config::AuthFailureLimit& limit,
            std::chrono::steady_clock::time_point now);

 private:
  struct Entry {
    std::chrono::steady_clock::time_point window_start;
    int failures = 0;
  };
  std::mutex mutex_;
  std::unordered_map<std::string, Entry> entries_;
};

}  // namespace sanjog::http
