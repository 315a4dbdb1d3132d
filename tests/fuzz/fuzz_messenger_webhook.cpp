// Fuzzes the Messenger Platform webhook parser shared by channel_messenger
// and channel_instagram (object "page"), and the Send API message builder.
#include <cstddef>
#include <cstdint>
#include <string>

#include "messaging.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace sanjog::plugins::channel;
  static const MessagingSettings settings = [] {
    MessagingSettings s;
    s.channel = "messenger";
    s.object_name = "page";
    s.account_id = "104870412345678";
    return s;
  }();
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  if (auto parsed = parseMessagingWebhook(body, settings)) {
    for (const auto& e : parsed->events) {
      if (e.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).empty())
        __builtin_trap();
    }
  }
  auto doc = nlohmann::json::parse(body, nullptr, false);
  std::string caption;
  (void)buildMessagingMessage(doc, &caption);
  return 0;
}
