#include "common/ids.h"

#include <array>
#include <chrono>
#include <mutex>
#include <random>

namespace sanjog {

namespace {

constexpr char kAlphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

struct Generator {
  std::mutex mutex;
  std::mt19937_64 rng{std::random_device{}()};
  uint64_t last_ms = 0;
  // 80 random bits as 16 + 64.
  uint16_t hi = 0;
  uint64_t lo = 0;
};

Generator& generator() {
  static Generator g;
  return g;
}

}  // namespace

std::string newId(const char* prefix) {
  auto& g = generator();
  uint64_t ms = 0;
  uint16_t hi = 0;
  uint64_t lo = 0;
  {
    std::lock_guard<std::mutex> lock(g.mutex);
    ms = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
    if (ms <= g.last_ms) {
      // Same (or earlier) millisecond: increment the random part so ids stay sortable.
      ms = g.last_ms;
      if (++g.lo == 0) ++g.hi;
    } else {
      g.last_ms = ms;
      g.hi = static_cast<uint16_t>(g.rng() & 0x7FFF);  // leave room for increments
      g.lo = g.rng();
    }
    hi = g.hi;
    lo = g.lo;
  }
  // 128 bits big-endian: ms (48) | hi (16) | lo (64), encoded as 26 base32
  // characters (130 bits, the top two always zero).
  std::array<uint8_t, 16> bytes{};
  for (int i = 0; i < 6; ++i)
    bytes[static_cast<size_t>(i)] = static_cast<uint8_t>(ms >> (40 - 8 * i));
  bytes[6] = static_cast<uint8_t>(hi >> 8);
  bytes[7] = static_cast<uint8_t>(hi);
  for (int i = 0; i < 8; ++i)
    bytes[static_cast<size_t>(8 + i)] = static_cast<uint8_t>(lo >> (56 - 8 * i));
  auto bit = [&](int index) -> unsigned {  // index 0 = most significant of 130 bits
    const int b = index - 2;
    if (b < 0) return 0;
    return (bytes[static_cast<size_t>(b / 8)] >> (7 - b % 8)) & 1u;
  };
  std::array<char, 26> out{};
  for (int c = 0; c < 26; ++c) {
    unsigned v = 0;
    for (int k = 0; k < 5; ++k) v = (v << 1) | bit(c * 5 + k);
    out[static_cast<size_t>(c)] = kAlphabet[v];
  }
  return std::string(prefix) + std::string(out.data(), out.size());
}

std::string newEventId() { return newId("evt_"); }

}  // namespace sanjog
