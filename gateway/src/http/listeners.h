// The public and admin HTTP listeners (POCO HTTPServer).
//
// POCO serves one connection per thread, so each listener gets its own
// thread pool sized by server.threads (idle keep-alive connections would
// otherwise starve new clients; see STACK.md). Handlers are small classes
// made by a factory; every handler catches everything and answers.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <Poco/Net/HTTPServer.h>
#include <Poco/ThreadPool.h>

#include "app/gateway.h"
#include "bus/bus.h"
#include "config/config.h"
#include "http/auth_limiter.h"
#include "metrics/metrics.h"

struct ssl_st;

namespace sanjog::http {

// What the admin API needs besides the gateway.
struct AdminHooks {
  // Reloads the config file; returns the errors (empty when applied).
  std::function<std::vector<std::string>()> reload;
};

class Listener {
 public:
  // Binds and starts; throws Poco::Exception when the address is taken or
  // the TLS certificate/key cannot be loaded. With `tls`, serves HTTPS
  // (TLS 1.2 or newer) with that certificate chain and key (PEM files).
  Listener(const std::string& name, const config::ListenAddress& address, int threads,
           Poco::Net::HTTPRequestHandlerFactory* factory,
           const std::optional<config::TlsConfig>& tls = std::nullopt,
           const config::LimitsConfig& limits = {});
  ~Listener();
  [[nodiscard]] uint16_t port() const { return port_; }
  // Loads a new certificate chain and key (PEM) for connections accepted
  // from now on; connections already open keep theirs. Throws
  // std::runtime_error (the old pair stays) when the files are unusable.
  void reloadTls(const config::TlsConfig& tls);
  // Stops accepting, lets current requests finish, joins the pool.
  void stop();

 private:
  struct Certs;
  static int selectCertificate(ssl_st* ssl, void* arg);
  std::string name_;
  std::mutex certs_mutex_;
  std::shared_ptr<const Certs> certs_;  // served by selectCertificate
  std::unique_ptr<Poco::ThreadPool> pool_;
  std::unique_ptr<Poco::Net::HTTPServer> server_;
  uint16_t port_ = 0;
  bool stopped_ = false;
};

// Factories (owned by the HTTPServer they are given to).
Poco::Net::HTTPRequestHandlerFactory* makePublicFactory(app::Gateway& gateway,
                                                        metrics::Metrics& metrics);
Poco::Net::HTTPRequestHandlerFactory* makeAdminFactory(app::Gateway& gateway, bus::Bus& bus,
                                                       metrics::Metrics& metrics, AdminHooks hooks);

// Constant-time check of "Authorization: Bearer <token>" against any of
// `accepted` (empty strings never match).
bool bearerMatches(const std::string& authorization, const std::vector<std::string>& accepted);

}  // namespace sanjog::http
