// Fuzzes ecom_woocommerce's order mapping for both topics.
#include <cstddef>
#include <cstdint>
#include <string>

#include "woocommerce.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace sanjog::plugins::ecom_woocommerce;
  static const Settings settings = [] {
    Settings s;
    s.secret = "fuzz";
    return s;
  }();
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  (void)decodeEntities(body);
  const auto doc = nlohmann::json::parse(body, nullptr, false);
  for (const char* topic : {"order.created", "order.updated"}) {
    if (auto events = mapOrder(doc, topic, settings, "https://shop.example.com/")) {
      for (const auto& e : *events) {
        (void)e.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      }
    }
  }
  return 0;
}
