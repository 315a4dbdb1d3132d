// Fuzzes the Messenger Platform webhook parser as channel_instagram uses it
// (object "instagram": echoes, story mentions and story replies).
#include <cstddef>
#include <cstdint>
#include <string>

#include "messaging.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace sanjog::plugins::channel;
  static const MessagingSettings settings = [] {
    MessagingSettings s;
    s.channel = "instagram";
    s.object_name = "instagram";
    s.account_id = "17841455502468013";
    return s;
  }();
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  if (auto parsed = parseMessagingWebhook(body, settings)) {
    for (const auto& e : parsed->events) {
      if (e["type"] != "message.received" && e["type"] != "message.status") __builtin_trap();
    }
  }
  return 0;
}
