// Shared setup: crm_webhook instance "a" receives signed CloudEvents, instance
// "b" delivers them to a fake receiver; route a -> b.
#pragma once

#include <gtest/gtest.h>

#include "fakes/fake_http_server.h"
#include "integration/daemon.h"

namespace sanjog::testing {

constexpr const char* kSecretA = "whsec_dGVzdC1zZWNyZXQtb2YtaW5zdGFuY2UtYQ==";
constexpr const char* kSecretB = "whsec_dGVzdC1zZWNyZXQtb2YtaW5zdGFuY2UtYg==";
constexpr auto kWait = std::chrono::seconds(10);

class FlowTest : public ::testing::Test {
 protected:
  nlohmann::json config() {
    auto c = daemon_.baseConfig();
    c["instances"] = {
        {{"id", "a"}, {"plugin", "crm_webhook"}, {"config", {{"secret", kSecretA}}}},
        {{"id", "b"},
         {"plugin", "crm_webhook"},
         {"config", {{"secret", kSecretB}, {"url", receiver_.url()}, {"timeout", "2s"}}},
         // Short pauses keep recovery quick in tests (default 30 s).
         {"circuit_breaker", {{"open_for", "300ms"}}},
         {"retry",
          {{"initial", "100ms"},
           {"multiplier", 2},
           {"max_interval", "1s"},
           {"max_age", "1h"},
           {"jitter", 0}}}}};
    c["routes"] = {
        {{"id", "a-to-b"}, {"from", {{"instance", "a"}}}, {"to", {{{"instance", "b"}}}}}};
    return c;
  }
  void startDaemon() {
    daemon_.writeConfig(config());
    ASSERT_TRUE(daemon_.start());
  }
  void TearDown() override {
    if (daemon_.running()) {
      EXPECT_EQ(daemon_.stop(SIGTERM), 0) << "SIGTERM must drain and exit 0";
    }
  }
  static std::string event(const std::string& text = "আপনার অর্ডার #1001 পাঠানো হয়েছে") {
    return nlohmann::json(
               {{"type", "message.send"},
                {"id", "crm-1"},
                {"data", {{"conversation_id", "conv_test"}, {"message", {{"text", text}}}}}})
        .dump();
  }

  FakeHttpServer receiver_;
  Daemon daemon_;
};

}  // namespace sanjog::testing
