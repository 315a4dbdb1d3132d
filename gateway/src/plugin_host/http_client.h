// Outbound HTTP for plugins (the host's http_request service), on POCO.
//
// TLS verifies the peer against the system CA store (or `ca_file` when set,
// for tests). Every request has a timeout; every request is counted in
// sanjog_upstream_requests_total{instance,result} (result = 2xx, 3xx, 4xx,
// 5xx, timeout, error) with its duration. Idle keep-alive connections are
// reused per (scheme, host, port). Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <Poco/Net/Context.h>
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/URI.h>

#include "common/net_guard.h"
#include "common/status.h"
#include "metrics/metrics.h"

namespace sanjog::plugin_host {

// SSRF guard: a URL whose host resolves to an internal address (loopback,
// private, link-local, ...) is refused unless its origin is trusted (named
// in an instance's config by the operator) or the address is in `allow`.
struct OutboundPolicy {
  std::vector<net::Cidr> allow;
  std::set<std::string> trusted_origins;  // "scheme://host:port", lower-case host
};
// "https://Graph.facebook.com/v19.0/x" -> "https://graph.facebook.com:443"
std::optional<std::string> originOf(const std::string& url);

struct HttpRequest {
  std::string method = "GET";
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::chrono::milliseconds timeout{10000};
};

struct HttpResponse {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

class HttpClient {
 public:
  struct Options {
    std::string ca_file;  // extra trust anchors; "" uses the system store only
    size_t max_response_bytes = (100u << 20) + (64u << 10);  // media up to api.media_max_bytes
    size_t max_idle_per_host = 8;
  };

  HttpClient(Options options, metrics::Metrics* metrics);
  ~HttpClient();

  // kTimeout, kUnavailable (connection refused, DNS, TLS failure) or
  // kInvalidArgument (bad URL) when no response arrived.
  Result<HttpResponse> send(const std::string& instance, const HttpRequest& request);
  void setPolicy(OutboundPolicy policy);

 private:
  using SessionPtr = std::unique_ptr<Poco::Net::HTTPClientSession>;
  SessionPtr acquire(const std::string& key, const std::string& scheme, const std::string& host,
                     uint16_t port);
  void release(const std::string& key, SessionPtr session);
  void count(const std::string& instance, const std::string& result, double seconds);
  // Why `uri` may not be reached, or "" when it may.
  std::string refusal(const Poco::URI& uri, const std::string& origin);

  Options options_;
  metrics::Metrics* metrics_;
  Poco::Net::Context::Ptr tls_;
  std::mutex mutex_;
  std::map<std::string, std::vector<SessionPtr>> idle_;
  std::mutex policy_mutex_;
  std::shared_ptr<const OutboundPolicy> policy_ = std::make_shared<const OutboundPolicy>();
};

}  // namespace sanjog::plugin_host
