// Runs the real sanjogd for integration tests: writes a config into a fresh
// temporary directory, starts the binary with --ports-file, waits (with a
// deadline) until both listeners are bound and /readyz answers, and talks
// HTTP to it. The daemon's log is kept and printed when a test fails.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace sanjog::testing {

struct HttpResult {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-cased names
  std::string body;
  [[nodiscard]] nlohmann::json json() const { return nlohmann::json::parse(body, nullptr, false); }
};

// Standard Webhooks signature, written independently of the product code.
std::string signStandardWebhook(const std::string& secret, const std::string& id, int64_t ts,
                                const std::string& body);
int64_t nowSeconds();

constexpr const char* kAdminToken = "test-admin-token-0123456789";
constexpr const char* kApiKey = "test-api-key-0123456789abcdef";

class Daemon {
 public:
  Daemon();
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // A config with both listeners on 127.0.0.1:0, storage in the temp dir,
  // the build's plugin dir, fixed admin token and API key.
  [[nodiscard]] nlohmann::json baseConfig() const;
  void writeConfig(const nlohmann::json& config);
  void writeRawConfig(const std::string& text);
  [[nodiscard]] std::filesystem::path configPath() const { return dir_ / "sanjog.json"; }
  [[nodiscard]] const std::filesystem::path& dir() const { return dir_; }

  // Starts and waits until ready (ports file written, /readyz 200).
  ::testing::AssertionResult start(std::chrono::milliseconds timeout = std::chrono::seconds(20));
  // Sends `signal` and waits for the exit; returns the exit code, or
  // 128 + signal when killed by one, or -1 at the deadline.
  int stop(int signal = SIGTERM, std::chrono::milliseconds timeout = std::chrono::seconds(20));
  void sendSignal(int signal) const;
  [[nodiscard]] bool running() const { return pid_ > 0; }

  [[nodiscard]] uint16_t publicPort() const { return public_port_; }
  [[nodiscard]] uint16_t adminPort() const { return admin_port_; }

  HttpResult request(uint16_t port, const std::string& method, const std::string& path,
                     const std::string& body = "",
                     const std::vector<std::pair<std::string, std::string>>& headers = {}) const;
  HttpResult publicRequest(
      const std::string& method, const std::string& path, const std::string& body = "",
      const std::vector<std::pair<std::string, std::string>>& headers = {}) const {
    return request(public_port_, method, path, body, headers);
  }
  HttpResult admin(const std::string& method, const std::string& path,
                   const std::string& body = "") const;
  // POSTs a signed CloudEvent to /webhooks/{instance}.
  HttpResult postSigned(const std::string& instance, const std::string& secret,
                        const std::string& webhook_id, const std::string& body,
                        int64_t timestamp = 0) const;

  [[nodiscard]] std::string metricsText() const;
  // The value of one sample (0 when absent), e.g.
  // metric("sanjog_deliveries_total", {{"target","b"},{"result","success"}}).
  [[nodiscard]] double metric(const std::string& name,
                              const std::map<std::string, std::string>& labels) const;
  // Waits until `predicate` holds, polling every 20 ms, up to `timeout`.
  template <typename F>
  bool waitFor(F predicate, std::chrono::milliseconds timeout = std::chrono::seconds(10)) const {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (predicate()) return true;
      pollPause();
    }
    return predicate();
  }

  [[nodiscard]] std::string log() const;
  // Runs sanjogd with extra arguments to completion (e.g. --check-config);
  // returns the exit code and fills `output` with stdout+stderr.
  int runOnce(const std::vector<std::string>& args, std::string& output) const;

  static std::string binary();

 private:
  static void pollPause();
  std::filesystem::path dir_;
  pid_t pid_ = -1;
  uint16_t public_port_ = 0;
  uint16_t admin_port_ = 0;
  int starts_ = 0;
};

}  // namespace sanjog::testing
