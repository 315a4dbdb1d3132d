// Which addresses outbound requests built from untrusted data may reach
// (SSRF guard): loopback, link-local, private, CGNAT, multicast and
// unspecified addresses are refused unless a configured CIDR range allows
// them. Used by the host's HTTP client before it connects.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sanjog::net {

// An IPv4 address is held IPv4-mapped (::ffff:a.b.c.d), so one range type
// covers both families.
struct Cidr {
  std::array<uint8_t, 16> base{};
  int prefix = 0;  // 0..128 over the 16-byte form
  [[nodiscard]] bool contains(const std::array<uint8_t, 16>& address) const;
};

std::optional<std::array<uint8_t, 16>> parseAddress(std::string_view text);
// "10.0.0.0/8", "fd00::/8", or a single address ("127.0.0.1" = /32).
std::optional<Cidr> parseCidr(std::string_view text);

// Loopback, private, link-local, CGNAT, unique-local, multicast,
// unspecified or broadcast: not a public internet address.
bool isInternal(const std::array<uint8_t, 16>& address);

}  // namespace sanjog::net
