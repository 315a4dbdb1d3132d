// Fuzzes ecom_shopify's mapping of a webhook body (after the HMAC check) for
// every mapped topic.
#include <cstddef>
#include <cstdint>
#include <string>

#include "shopify.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace sanjog::plugins::ecom_shopify;
  static const Settings settings = [] {
    Settings s;
    s.client_secret = "fuzz";
    return s;
  }();
  const auto doc = nlohmann::json::parse(
      std::string_view(reinterpret_cast<const char*>(data), size), nullptr, false);
  for (const char* type :
       {"order.created", "order.paid", "order.fulfilled", "order.cancelled", "checkout.updated"}) {
    if (auto d = mapResource(type, doc, settings, "shop.myshopify.com")) {
      (void)d->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    }
  }
  return 0;
}
