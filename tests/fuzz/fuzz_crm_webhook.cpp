// Fuzzes crm_webhook's inbound path through the real descriptor and the SDK
// trampolines: Standard Webhooks header parsing, then (with a valid
// signature over the fuzzed body, so the fuzzer gets past the check) the
// CloudEvents body parsing and batch handling.
#include <cstddef>
#include <cstdint>
#include <string>

#include "crm_webhook.hpp"
#include "sanjog/sdk/standard_webhooks.hpp"
#include "sanjog/sdk/testing/fake_host.hpp"

extern "C" const sanjog_plugin_descriptor* sanjog_plugin_entry(uint32_t, uint32_t);

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace sw = sanjog::sdk::standard_webhooks;
  static constexpr const char* kSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
  static sanjog::sdk::testing::FakeHost* host = [] {
    auto* h =
        new sanjog::sdk::testing::FakeHost(sanjog_plugin_entry(SANJOG_ABI_MAJOR, SANJOG_ABI_MINOR));
    (void)h->create("fuzz", {{"secret", kSecret}, {"accept_types", nlohmann::json::array()}});
    return h;
  }();
  if (size == 0) return 0;
  const uint8_t mode = data[0];
  const std::string body(reinterpret_cast<const char*>(data + 1), size - 1);
  const int64_t ts = host->nowMs() / 1000;
  std::vector<sanjog::sdk::Header> headers;
  if (mode & 1) {
    // Valid signature: exercise the body parser.
    headers = {{"webhook-id", "msg_fuzz"},
               {"webhook-timestamp", std::to_string(ts)},
               {"webhook-signature", sw::sign(*sw::decodeSecret(kSecret), "msg_fuzz", ts, body)}};
  } else {
    // Fuzzed headers: split the body on newlines into id, timestamp, signature.
    std::vector<std::string> parts{""};
    for (char c : body) {
      if (c == '\n' && parts.size() < 3) {
        parts.emplace_back();
      } else {
        parts.back() += c;
      }
    }
    parts.resize(3);
    headers = {
        {"webhook-id", parts[0]}, {"webhook-timestamp", parts[1]}, {"webhook-signature", parts[2]}};
  }
  auto r = host->webhook("POST", body, headers);
  if (r.status == 202 && r.events.empty()) __builtin_trap();  // accepted means events
  return 0;
}
