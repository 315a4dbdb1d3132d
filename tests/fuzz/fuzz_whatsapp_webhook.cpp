// Fuzzes channel_whatsapp's webhook parser (the bytes Meta POSTs, after the
// signature check) and, with the fuzzed JSON as message.send data, the send
// body builder. Every emitted event must serialize.
#include <cstddef>
#include <cstdint>
#include <string>

#include "whatsapp.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace sanjog::plugins::channel_whatsapp;
  static const Settings settings = [] {
    Settings s;
    s.phone_number_id = "1122334455667";
    return s;
  }();
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  if (auto parsed = parseWebhook(body, settings)) {
    for (const auto& e : parsed->events) {
      if (e.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).empty())
        __builtin_trap();
    }
  }
  auto doc = nlohmann::json::parse(body, nullptr, false);
  if (doc.is_object()) (void)buildSendBody(doc, "8801711000001", settings);
  return 0;
}
