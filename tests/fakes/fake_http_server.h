// A scripted HTTP server on 127.0.0.1 (port 0) standing in for a provider or
// a CRM that cannot run here. It records every request and answers from a
// queue of scripted responses, then from a default. Its listener can be
// closed and reopened on the same port to simulate a receiver that is down.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace Poco {
class ThreadPool;
namespace Net {
class HTTPServer;
}
}  // namespace Poco

namespace sanjog::testing {

struct RecordedRequest {
  std::string method;
  std::string uri;
  std::map<std::string, std::string> headers;  // lower-cased names
  std::string body;
  [[nodiscard]] std::string header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? "" : it->second;
  }
  std::chrono::steady_clock::time_point received{};  // when the request was complete
  int answered = 0;  // the status the server chose for it (sent after any delay)
};

struct ScriptedResponse {
  ScriptedResponse(int status_code = 200, std::string response_body = "",  // NOLINT
                   std::map<std::string, std::string> response_headers = {})
      : status(status_code), body(std::move(response_body)), headers(std::move(response_headers)) {}
  int status = 200;
  std::string body;
  std::map<std::string, std::string> headers;
  // Simulated provider latency before answering (for timeout tests).
  std::chrono::milliseconds delay{0};
};

class FakeHttpServer {
 public:
  FakeHttpServer();
  // Listens on `port` (0: any free port).
  explicit FakeHttpServer(uint16_t port);
  ~FakeHttpServer();
  FakeHttpServer(const FakeHttpServer&) = delete;
  FakeHttpServer& operator=(const FakeHttpServer&) = delete;

  [[nodiscard]] uint16_t port() const { return port_; }
  [[nodiscard]] std::string url(const std::string& path = "/events") const;

  // Responses used in order, one per request; then the default.
  void script(std::vector<ScriptedResponse> responses);
  void setDefault(ScriptedResponse response);

  [[nodiscard]] std::vector<RecordedRequest> requests() const;
  // Cheap polling for tests that receive many requests: the count, and the
  // requests from index `first` on (in arrival order).
  [[nodiscard]] size_t requestCount() const;
  [[nodiscard]] std::vector<RecordedRequest> requestsFrom(size_t first) const;

  // Closes the listener and aborts open connections: clients get
  // "connection refused" until reopenListener(), which listens on the same
  // port again (retrying until `timeout` in case the port is briefly taken).
  void closeListener();
  bool reopenListener(std::chrono::milliseconds timeout = std::chrono::seconds(5));
  // Waits until at least `n` requests arrived; false at the deadline.
  bool waitForRequests(size_t n, std::chrono::milliseconds timeout) const;

  // Called by the request handler.
  ScriptedResponse handle(RecordedRequest request);
  // Waits out a scripted delay; returns early when the server is stopping
  // or its listener is closed (the connection is gone then).
  void delay(std::chrono::milliseconds d);

 private:
  mutable std::mutex mutex_;
  mutable std::condition_variable cv_;
  std::deque<ScriptedResponse> script_;
  ScriptedResponse default_;
  std::vector<RecordedRequest> requests_;
  bool stopping_ = false;
  uint64_t closes_ = 0;  // closeListener() calls: ends pending delays
  // Own pool, joined in the destructor: no handler may outlive the server
  // (a delayed answer still running at exit was a use-after-free).
  std::unique_ptr<Poco::ThreadPool> pool_;
  std::unique_ptr<Poco::Net::HTTPServer> server_;
  uint16_t port_ = 0;
  void listen(uint16_t port);
};

}  // namespace sanjog::testing
