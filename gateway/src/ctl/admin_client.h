// The admin API as sanjogctl sees it: one request, one parsed answer.
#pragma once

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace sanjog::ctl {

struct Response {
  int status = 0;               // HTTP status; 0 when no answer came
  std::string transport_error;  // why no answer came (refused, timeout, TLS)
  nlohmann::json body;          // parsed JSON (discarded when not JSON)
  std::string raw;
  [[nodiscard]] bool ok() const { return status >= 200 && status < 300; }
  // The API's own message for an error answer ("no event evt_x").
  [[nodiscard]] std::string message() const;
};

class AdminClient {
 public:
  // `base_url`: http://host:port or https://host:port (the admin listener).
  AdminClient(std::string base_url, std::string token, std::chrono::milliseconds timeout);
  Response call(const std::string& method, const std::string& path_and_query,
                const nlohmann::json* body = nullptr) const;
  [[nodiscard]] const std::string& baseUrl() const { return base_url_; }

 private:
  std::string base_url_;
  std::string token_;
  std::chrono::milliseconds timeout_;
};

// "?a=1&b=x%2By" from the pairs with a non-empty value ("" when none).
std::string queryString(const std::vector<std::pair<std::string, std::string>>& params);
// One path segment, percent-encoded ("+8801..." -> "%2B8801...").
std::string pathSegment(const std::string& text);

}  // namespace sanjog::ctl
