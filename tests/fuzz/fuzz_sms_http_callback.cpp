// Fuzzes sms_http's callback parsing and mapping and its template renderer.
#include <cstddef>
#include <cstdint>
#include <string>

#include "sms_http.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace sanjog::plugins::sms_http;
  static const Settings settings;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const Params params = parseParams(text);
  for (const char* path : {"/mo", "/dlr"}) (void)mapCallback(path, params, settings);
  (void)render(text, {{"to", "+8801711000001"}, {"text", "দাম \"কত\""}}, Encoding::kUrl);
  (void)render(text, {{"text", "x"}}, Encoding::kJson);
  return 0;
}
