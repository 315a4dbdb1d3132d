// Encryption of payloads at rest: AES-256-GCM (OpenSSL EVP) with a keyring.
//
// A sealed value is text (it stays in TEXT columns):
//   "sj1:" base64( key id (4 bytes) | nonce (12 random bytes) | ciphertext | tag (16) )
// The key id is the first 4 bytes of SHA-256("sanjog-key-id" || key), so a
// value names the key that sealed it and rotation needs no re-encryption:
// the current key seals, every configured key opens. Values that do not
// start with "sj1:" are plaintext written before a key was configured (JSON
// never starts so), and open as they are.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace sanjog::crypto {

using Key = std::array<unsigned char, 32>;

// 64 hex digits, or base64 of 32 bytes (surrounding whitespace ignored, as
// in a key file written by `openssl rand -hex 32 > key`).
std::optional<Key> parseKey(std::string_view text);
inline constexpr const char* kKeyFormatHint =
    "not a 256-bit key: give 64 hex digits or the base64 of 32 bytes (openssl rand -hex 32)";

class Keyring {
 public:
  // `current` seals; `current` and `previous` open. No keys: seal() and
  // open() pass plaintext through.
  Keyring() = default;
  Keyring(const Key& current, const std::vector<Key>& previous);

  [[nodiscard]] bool enabled() const { return !keys_.empty(); }
  // The sealed form of `plaintext` (throws std::runtime_error if OpenSSL fails).
  [[nodiscard]] std::string seal(std::string_view plaintext) const;
  // The plaintext; kInternal when the value was sealed with an unknown key or
  // was altered.
  [[nodiscard]] Result<std::string> open(std::string_view stored) const;
  // Whether `stored` is a sealed value (by its magic).
  static bool isSealed(std::string_view stored);

 private:
  struct Entry {
    Key key;
    std::array<unsigned char, 4> id;
  };
  std::vector<Entry> keys_;  // [0] is the current key
};

}  // namespace sanjog::crypto
