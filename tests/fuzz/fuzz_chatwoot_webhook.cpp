// Fuzzes crm_chatwoot's webhook handling (JSON parsing, event selection,
// loop rules) through the real descriptor, and the rendering of customer messages.
#include <cstddef>
#include <cstdint>
#include <string>

#include "chatwoot.hpp"
#include "sanjog/sdk/testing/fake_host.hpp"

extern "C" const sanjog_plugin_descriptor* sanjog_plugin_entry(uint32_t, uint32_t);

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static sanjog::sdk::testing::FakeHost* host = [] {
    auto* h =
        new sanjog::sdk::testing::FakeHost(sanjog_plugin_entry(SANJOG_ABI_MAJOR, SANJOG_ABI_MINOR));
    (void)h->create("fuzz",
                    {{"account_id", 1}, {"inbox_id", 2}, {"api_access_token", "fuzz-token"}});
    return h;
  }();
  const std::string body(reinterpret_cast<const char*>(data), size);
  auto r = host->webhook("POST", body);
  if (r.status == 200 && r.events.size() > 1) __builtin_trap();  // one webhook, at most one event
  const auto doc = nlohmann::json::parse(body, nullptr, false);
  if (doc.is_object()) (void)sanjog::plugins::crm_chatwoot::renderIncoming(doc);
  return 0;
}
