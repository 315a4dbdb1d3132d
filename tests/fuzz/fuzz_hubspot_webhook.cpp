// Fuzzes crm_hubspot's webhook batch mapping and the signature helpers.
#include <cstddef>
#include <cstdint>
#include <string>

#include "hubspot.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace sanjog::plugins::crm_hubspot;
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  (void)signatureV3("secret", "POST", "https://gw/webhooks/hs", body, "1700000000000");
  (void)signatureV1("secret", body);
  const auto doc = nlohmann::json::parse(body, nullptr, false);
  for (const auto& e : mapWebhookEvents(doc)) {
    if (e["type"] != "contact.updated") __builtin_trap();
  }
  return 0;
}
