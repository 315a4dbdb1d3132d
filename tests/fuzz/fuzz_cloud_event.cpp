// Fuzzes the normalization of events emitted by plugins and posted to the API.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/cloud_event.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view raw(reinterpret_cast<const char*>(data), size);
  auto r = sanjog::normalizeEvent(raw, "fuzz", 1700000000000, "evt_fuzz");
  if (r) {
    (void)r->dump();
  }
  return 0;
}
