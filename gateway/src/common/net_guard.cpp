#include "common/net_guard.h"

#include <arpa/inet.h>

#include <cstring>

namespace sanjog::net {

namespace {

// Ranges that are not the public internet (RFC 6890 and friends).
const std::vector<Cidr>& internalRanges() {
  static const std::vector<Cidr> ranges = [] {
    std::vector<Cidr> r;
    for (const char* text :
         {"0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
          "172.16.0.0/12", "192.0.0.0/24", "192.168.0.0/16", "198.18.0.0/15", "224.0.0.0/3",
          "::/128", "::1/128", "fc00::/7", "fe80::/10", "ff00::/8", "64:ff9b::/96"}) {
      r.push_back(*parseCidr(text));
    }
    return r;
  }();
  return ranges;
}

}  // namespace

bool Cidr::contains(const std::array<uint8_t, 16>& address) const {
  int bits = prefix;
  for (size_t i = 0; i < 16 && bits > 0; ++i, bits -= 8) {
    const int take = bits >= 8 ? 8 : bits;
    const auto mask = static_cast<uint8_t>(0xFF << (8 - take));
    if ((address[i] & mask) != (base[i] & mask)) return false;
  }
  return true;
}

std::optional<std::array<uint8_t, 16>> parseAddress(std::string_view text) {
  const std::string s(text);
  std::array<uint8_t, 16> out{};
  in_addr v4{};
  if (inet_pton(AF_INET, s.c_str(), &v4) == 1) {
    out[10] = 0xFF;
    out[11] = 0xFF;
    std::memcpy(out.data() + 12, &v4, 4);
    return out;
  }
  in6_addr v6{};
  if (inet_pton(AF_INET6, s.c_str(), &v6) == 1) {
    std::memcpy(out.data(), &v6, 16);
    return out;
  }
  return std::nullopt;
}

std::optional<Cidr> parseCidr(std::string_view text) {
  const size_t slash = text.find('/');
  auto address = parseAddress(text.substr(0, slash));
  if (!address) return std::nullopt;
  const bool v4 = (*address)[10] == 0xFF && (*address)[11] == 0xFF &&
                  text.substr(0, slash).find(':') == std::string_view::npos;
  const int width = v4 ? 32 : 128;
  int prefix = width;
  if (slash != std::string_view::npos) {
    const auto digits = text.substr(slash + 1);
    if (digits.empty() || digits.size() > 3) return std::nullopt;
    prefix = 0;
    for (char c : digits) {
      if (c < '0' || c > '9') return std::nullopt;
      prefix = prefix * 10 + (c - '0');
    }
    if (prefix > width) return std::nullopt;
  }
  return Cidr{*address, v4 ? prefix + 96 : prefix};
}

bool isInternal(const std::array<uint8_t, 16>& address) {
  for (const auto& range : internalRanges()) {
    if (range.contains(address)) return true;
  }
  // 255.255.255.255 (limited broadcast) is inside 224.0.0.0/3 already.
  return false;
}

}  // namespace sanjog::net
