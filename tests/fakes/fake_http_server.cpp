#include "fakes/fake_http_server.h"

#include <Poco/Exception.h>
#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServer.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/StreamCopier.h>
#include <Poco/ThreadPool.h>

#include <fcntl.h>

#include <algorithm>
#include <cctype>

namespace sanjog::testing {

namespace {

class Handler : public Poco::Net::HTTPRequestHandler {
 public:
  explicit Handler(FakeHttpServer& server) : server_(server) {}
  void handleRequest(Poco::Net::HTTPServerRequest& req,
                     Poco::Net::HTTPServerResponse& res) override {
    RecordedRequest r;
    r.method = req.getMethod();
    r.uri = req.getURI();
    for (const auto& [name, value] : req) {
      std::string lower = name;
      std::transform(lower.begin(), lower.end(), lower.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      r.headers[lower] = value;
    }
    Poco::StreamCopier::copyToString(req.stream(), r.body);
    const ScriptedResponse answer = server_.handle(std::move(r));
    if (answer.delay.count() > 0) server_.delay(answer.delay);
    res.setStatus(static_cast<Poco::Net::HTTPResponse::HTTPStatus>(answer.status));
    for (const auto& [name, value] : answer.headers) res.set(name, value);
    res.setContentLength(static_cast<std::streamsize>(answer.body.size()));
    res.send() << answer.body;
  }

 private:
  FakeHttpServer& server_;
};

class Factory : public Poco::Net::HTTPRequestHandlerFactory {
 public:
  explicit Factory(FakeHttpServer& server) : server_(server) {}
  Poco::Net::HTTPRequestHandler* createRequestHandler(
      const Poco::Net::HTTPServerRequest&) override {
    return new Handler(server_);
  }

 private:
  FakeHttpServer& server_;
};

}  // namespace

FakeHttpServer::FakeHttpServer() : FakeHttpServer(0) {}

FakeHttpServer::FakeHttpServer(uint16_t port) {
  pool_ = std::make_unique<Poco::ThreadPool>(2, 16);
  listen(port);
}

void FakeHttpServer::listen(uint16_t port) {
  Poco::Net::ServerSocket socket(Poco::Net::SocketAddress("127.0.0.1", port));
  if (port_ == 0) port_ = socket.address().port();  // set once: url() may run concurrently
  // Not inherited by processes the test starts (sanjogd): a copy of the
  // listener there would keep accepting after closeListener().
  ::fcntl(socket.impl()->sockfd(), F_SETFD, FD_CLOEXEC);
  auto* params = new Poco::Net::HTTPServerParams;
  params->setMaxThreads(16);
  params->setKeepAlive(true);
  server_ = std::make_unique<Poco::Net::HTTPServer>(new Factory(*this), *pool_, socket, params);
  server_->start();
}

FakeHttpServer::~FakeHttpServer() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (server_) server_->stopAll(true);
  pool_->joinAll();
}

void FakeHttpServer::closeListener() {
  if (!server_) return;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    ++closes_;
  }
  cv_.notify_all();
  server_->stopAll(true);  // closes the listening socket and aborts connections
  server_.reset();
}

bool FakeHttpServer::reopenListener(std::chrono::milliseconds timeout) {
  if (server_) return true;
  // The kernel may hand the freed port to an outgoing connection meanwhile
  // (listeners and clients share the ephemeral range): retry until it is free.
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    try {
      listen(port_);
      return true;
    } catch (const Poco::Exception&) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      std::unique_lock<std::mutex> lock(mutex_);
      cv_.wait_for(lock, std::chrono::milliseconds(50), [&] { return stopping_; });
    }
  }
}

void FakeHttpServer::delay(std::chrono::milliseconds d) {
  std::unique_lock<std::mutex> lock(mutex_);
  const uint64_t closes = closes_;
  cv_.wait_for(lock, d, [&] { return stopping_ || closes_ != closes; });
}

std::string FakeHttpServer::url(const std::string& path) const {
  return "http://127.0.0.1:" + std::to_string(port_) + path;
}

void FakeHttpServer::script(std::vector<ScriptedResponse> responses) {
  std::lock_guard<std::mutex> lock(mutex_);
  script_.assign(responses.begin(), responses.end());
}

void FakeHttpServer::setDefault(ScriptedResponse response) {
  std::lock_guard<std::mutex> lock(mutex_);
  default_ = std::move(response);
}

std::vector<RecordedRequest> FakeHttpServer::requests() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return requests_;
}

size_t FakeHttpServer::requestCount() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return requests_.size();
}

std::vector<RecordedRequest> FakeHttpServer::requestsFrom(size_t first) const {
  std::lock_guard<std::mutex> lock(mutex_);
  if (first >= requests_.size()) return {};
  return {requests_.begin() + static_cast<std::ptrdiff_t>(first), requests_.end()};
}

bool FakeHttpServer::waitForRequests(size_t n, std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(mutex_);
  return cv_.wait_for(lock, timeout, [&] { return requests_.size() >= n; });
}

ScriptedResponse FakeHttpServer::handle(RecordedRequest request) {
  std::lock_guard<std::mutex> lock(mutex_);
  ScriptedResponse answer = default_;
  if (!script_.empty()) {
    answer = script_.front();
    script_.pop_front();
  }
  request.received = std::chrono::steady_clock::now();
  request.answered = answer.status;
  requests_.push_back(std::move(request));
  cv_.notify_all();
  return answer;
}

}  // namespace sanjog::testing
