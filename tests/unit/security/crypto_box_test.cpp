// AES-256-GCM sealing of stored payloads: round trip, key rotation, tamper
// detection, plaintext passthrough, key parsing.
#include "common/crypto_box.h"

#include <gtest/gtest.h>

namespace sanjog::crypto {
namespace {

Key key(unsigned char fill) {
  Key k{};
  k.fill(fill);
  return k;
}

TEST(CryptoBox, SealsAndOpensUtf8TextWithAFreshNonceEachTime) {
  const Keyring ring(key(1), {});
  const std::string text = R"({"text":"আপনার অর্ডার #1001 পাঠানো হয়েছে","phone":"+8801711000001"})";
  const auto a = ring.seal(text);
  const auto b = ring.seal(text);
  EXPECT_NE(a, b) << "a nonce must never repeat";
  EXPECT_TRUE(Keyring::isSealed(a));
  EXPECT_EQ(a.find("8801711000001"), std::string::npos) << "no plaintext in the sealed form";
  EXPECT_EQ(a.find("অর্ডার"), std::string::npos);
  auto opened = ring.open(a);
  ASSERT_TRUE(opened) << opened.status().message();
  EXPECT_EQ(*opened, text);
  EXPECT_EQ(*ring.open(ring.seal("")), "");
}

TEST(CryptoBox, RotationOldKeyStillOpensNewKeySeals) {
  const Keyring old_ring(key(1), {});
  const auto sealed_old = old_ring.seal("old data");
  const Keyring rotated(key(2), {key(1)});
  EXPECT_EQ(*rotated.open(sealed_old), "old data");
  const auto sealed_new = rotated.seal("new data");
  EXPECT_FALSE(old_ring.open(sealed_new)) << "the old ring does not know the new key";
  const Keyring without_old(key(2), {});
  auto r = without_old.open(sealed_old);
  ASSERT_FALSE(r);
  EXPECT_NE(r.status().message().find("previous_keys"), std::string::npos);
}

TEST(CryptoBox, AnyAlteredByteFailsAuthentication) {
  const Keyring ring(key(7), {});
  const auto sealed = ring.seal("the customer's address");
  for (size_t i = 4; i < sealed.size(); i += 3) {
    std::string bad = sealed;
    bad[i] = bad[i] == 'A' ? 'B' : 'A';
    EXPECT_FALSE(ring.open(bad)) << "byte " << i;
  }
  EXPECT_FALSE(ring.open("sj1:"));
  EXPECT_FALSE(ring.open("sj1:AAAA"));
}

TEST(CryptoBox, PlaintextFromBeforeAKeyOpensAsIs) {
  const Keyring ring(key(3), {});
  EXPECT_EQ(*ring.open(R"({"a":1})"), R"({"a":1})");
  const Keyring none;
  EXPECT_FALSE(none.enabled());
  EXPECT_EQ(none.seal("x"), "x");
}

TEST(CryptoBox, KeysParseFromHexOrBase64AndNothingElse) {
  const std::string hex(64, 'a');
  auto k = parseKey(hex + "\n");
  ASSERT_TRUE(k);
  EXPECT_EQ((*k)[0], 0xAA);
  EXPECT_TRUE(parseKey("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="));
  EXPECT_FALSE(parseKey(std::string(63, 'a')));
  EXPECT_FALSE(parseKey(std::string(64, 'g')));
  EXPECT_FALSE(parseKey("short"));
  EXPECT_FALSE(parseKey("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg=="));  // 31 bytes
}

}  // namespace
}  // namespace sanjog::crypto
