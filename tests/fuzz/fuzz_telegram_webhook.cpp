// Fuzzes channel_telegram's Update parser and, with the fuzzed JSON as
// message.send data, the Bot API call builder.
#include <cstddef>
#include <cstdint>
#include <string>

#include "telegram.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace sanjog::plugins::channel_telegram;
  static const Settings settings;
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  if (auto parsed = parseUpdate(body, settings)) {
    if (parsed->events.size() != 1) __builtin_trap();  // one Update, one event
    (void)parsed->events[0].dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  auto doc = nlohmann::json::parse(body, nullptr, false);
  if (doc.is_object()) (void)buildCall(doc, settings);
  return 0;
}
