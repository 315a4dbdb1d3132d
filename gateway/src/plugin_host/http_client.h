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
#include <string>
#include <utility>
#include <vector>

#include <Poco/Net/Context.h>
#include <Poco/Net/HTTPClientSession.h>

#include "common/status.h"
#include "metrics/metrics.h"

namespace sanjog::plugin_host {

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

 private:
  using SessionPtr = std::unique_ptr<Poco::Net::HTTPClientSession>;
  SessionPtr acquire(const std::string& key, const std::string& scheme, const std::string& host,
                     uint16_t port);
  void release(const std::string& key, SessionPtr session);
  void count(const std::string& instance, const std::string& result, double seconds);

  Options options_;
  metrics::Metrics* metrics_;
  Poco::Net::Context::Ptr tls_;
  std::mutex mutex_;
  std::map<std::string, std::vector<SessionPtr>> idle_;
};

}  // namespace sanjog::plugin_host
