// Fuzzes the guards that look at untrusted bytes before anything else: the
// JSON nesting scan, log redaction, address/CIDR parsing and the opening of
// sealed (encrypted) values, which a damaged database could hand back.
#include <cstddef>
#include <cstdint>
#include <string>

#include "common/crypto_box.h"
#include "common/input_limits.h"
#include "common/log.h"
#include "common/net_guard.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  (void)sanjog::jsonNestingExceeds(input, 64);
  (void)sanjog::log::redact(input, sanjog::log::Privacy::kMask);
  (void)sanjog::log::redact(input, sanjog::log::Privacy::kStrict);
  if (auto cidr = sanjog::net::parseCidr(input)) (void)sanjog::net::isInternal(cidr->base);
  static const sanjog::crypto::Keyring ring(sanjog::crypto::Key{}, {});
  (void)ring.open(input);
  (void)ring.open("sj1:" + input);
  (void)sanjog::crypto::parseKey(input);
  return 0;
}
