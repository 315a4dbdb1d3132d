#include "common/crypto_box.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <cctype>
#include <cstring>
#include <memory>
#include <stdexcept>

namespace sanjog::crypto {

namespace {

constexpr char kPrefix[] = "sj1:";
constexpr size_t kIdLen = 4;
constexpr size_t kNonceLen = 12;
constexpr size_t kTagLen = 16;

using Ctx = std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)>;

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::optional<Key> fromHex(std::string_view s) {
  if (s.size() != 64) return std::nullopt;
  Key k{};
  for (size_t i = 0; i < 32; ++i) {
    unsigned v = 0;
    for (size_t j = 0; j < 2; ++j) {
      const char c = s[2 * i + j];
      v <<= 4;
      if (c >= '0' && c <= '9') {
        v |= static_cast<unsigned>(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        v |= static_cast<unsigned>(c - 'a' + 10);
      } else if (c >= 'A' && c <= 'F') {
        v |= static_cast<unsigned>(c - 'A' + 10);
      } else {
        return std::nullopt;
      }
    }
    k[i] = static_cast<unsigned char>(v);
  }
  return k;
}

std::optional<Key> fromBase64(std::string_view s) {
  if (s.size() != 44 || s[43] != '=') return std::nullopt;
  unsigned char out[33];
  const int n = EVP_DecodeBlock(out, reinterpret_cast<const unsigned char*>(s.data()), 44);
  // EVP_DecodeBlock counts padding as zero bytes: 44 characters give 33.
  if (n != 33 || s[42] == '=') return std::nullopt;
  Key k{};
  std::memcpy(k.data(), out, 32);
  return k;
}

std::array<unsigned char, kIdLen> keyId(const Key& key) {
  std::string input = "sanjog-key-id";
  input.append(reinterpret_cast<const char*>(key.data()), key.size());
  unsigned char digest[SHA256_DIGEST_LENGTH];
  if (EVP_Digest(input.data(), input.size(), digest, nullptr, EVP_sha256(), nullptr) != 1) {
    throw std::runtime_error("SHA-256 failed");
  }
  std::array<unsigned char, kIdLen> id{};
  std::memcpy(id.data(), digest, kIdLen);
  return id;
}

}  // namespace

std::optional<Key> parseKey(std::string_view text) {
  text = trim(text);
  if (auto k = fromHex(text)) return k;
  return fromBase64(text);
}

Keyring::Keyring(const Key& current, const std::vector<Key>& previous) {
  keys_.push_back({current, keyId(current)});
  for (const auto& k : previous) keys_.push_back({k, keyId(k)});
}

bool Keyring::isSealed(std::string_view stored) {
  return stored.size() >= sizeof kPrefix - 1 && stored.compare(0, sizeof kPrefix - 1, kPrefix) == 0;
}

std::string Keyring::seal(std::string_view plaintext) const {
  if (keys_.empty()) return std::string(plaintext);
  const Entry& k = keys_.front();
  std::string raw(kIdLen + kNonceLen + plaintext.size() + kTagLen, '\0');
  auto* p = reinterpret_cast<unsigned char*>(raw.data());
  std::memcpy(p, k.id.data(), kIdLen);
  unsigned char* nonce = p + kIdLen;
  unsigned char* body = nonce + kNonceLen;
  if (RAND_bytes(nonce, kNonceLen) != 1) throw std::runtime_error("RAND_bytes failed");
  Ctx ctx(EVP_CIPHER_CTX_new(), &EVP_CIPHER_CTX_free);
  int len = 0;
  if (!ctx || EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, k.key.data(), nonce) != 1 ||
      EVP_EncryptUpdate(ctx.get(), body, &len,
                        reinterpret_cast<const unsigned char*>(plaintext.data()),
                        static_cast<int>(plaintext.size())) != 1 ||
      EVP_EncryptFinal_ex(ctx.get(), body + len, &len) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTagLen, body + plaintext.size()) != 1) {
    throw std::runtime_error("AES-256-GCM encryption failed");
  }
  std::string out(sizeof kPrefix - 1 + 4 * ((raw.size() + 2) / 3), '\0');
  std::memcpy(out.data(), kPrefix, sizeof kPrefix - 1);
  EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()) + sizeof kPrefix - 1, p,
                  static_cast<int>(raw.size()));
  return out;
}

Result<std::string> Keyring::open(std::string_view stored) const {
  if (!isSealed(stored)) return std::string(stored);
  const auto b64 = stored.substr(sizeof kPrefix - 1);
  if (b64.empty() || b64.size() % 4 != 0) {
    return Status(Code::kInternal, "stored data is damaged (bad encoding)");
  }
  std::string raw(b64.size() / 4 * 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(raw.data()),
                          reinterpret_cast<const unsigned char*>(b64.data()),
                          static_cast<int>(b64.size()));
  if (n < 0) return Status(Code::kInternal, "stored data is damaged (bad encoding)");
  if (b64.back() == '=') --n;  // EVP_DecodeBlock counts padding as data
  if (b64.size() >= 2 && b64[b64.size() - 2] == '=') --n;
  if (static_cast<size_t>(n) < kIdLen + kNonceLen + kTagLen) {
    return Status(Code::kInternal, "stored data is damaged (too short)");
  }
  const auto* p = reinterpret_cast<const unsigned char*>(raw.data());
  const Entry* key = nullptr;
  for (const auto& k : keys_) {
    if (std::memcmp(p, k.id.data(), kIdLen) == 0) key = &k;
  }
  if (key == nullptr) {
    return Status(Code::kInternal,
                  "stored data was encrypted with a key that is not configured "
                  "(add it to storage.previous_keys)");
  }
  const size_t len_ct = static_cast<size_t>(n) - kIdLen - kNonceLen - kTagLen;
  const unsigned char* nonce = p + kIdLen;
  const unsigned char* body = nonce + kNonceLen;
  std::string out(len_ct, '\0');
  std::array<unsigned char, kTagLen> tag{};
  std::memcpy(tag.data(), body + len_ct, kTagLen);
  Ctx ctx(EVP_CIPHER_CTX_new(), &EVP_CIPHER_CTX_free);
  int len = 0;
  auto* o = reinterpret_cast<unsigned char*>(out.data());
  const bool ok =
      ctx &&
      EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key->key.data(), nonce) == 1 &&
      EVP_DecryptUpdate(ctx.get(), o, &len, body, static_cast<int>(len_ct)) == 1 &&
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTagLen, tag.data()) == 1 &&
      EVP_DecryptFinal_ex(ctx.get(), o + len, &len) == 1;
  if (!ok) return Status(Code::kInternal, "stored data failed authentication (altered or corrupt)");
  return out;
}

}  // namespace sanjog::crypto
