// Fuzzes sms_twilio's form parsing, signature computation and the mapping of
// inbound messages and status callbacks.
#include <cstddef>
#include <cstdint>
#include <string>

#include "twilio.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace sanjog::plugins::sms_twilio;
  static const Settings settings = [] {
    Settings s;
    s.account_sid = "ACbe0a5e11e4c6be006090910c972360c9";
    return s;
  }();
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  const Params params = parseForm(body);
  (void)verify("x", "token", "https://gw.example.com/webhooks/sms", params);
  if (auto events = mapRequest(params, settings)) {
    for (const auto& e : *events) {
      (void)e.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    }
  }
  (void)formEncode(params);
  return 0;
}
