#include "sanjog/sdk/crypto.hpp"

#include <gtest/gtest.h>

namespace sanjog::sdk::crypto {
namespace {

TEST(Crypto, HmacSha256Rfc4231Case2) {
  EXPECT_EQ(hex(hmacSha256("Jefe", "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(Crypto, HmacSha1Rfc2202Case2) {
  EXPECT_EQ(hex(hmacSha1("Jefe", "what do ya want for nothing?")),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
}

TEST(Crypto, Sha256KnownAnswers) {
  EXPECT_EQ(hex(sha256("")), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(hex(sha256("abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Crypto, Base64Rfc4648Vectors) {
  const std::pair<const char*, const char*> kVectors[] = {{"", ""},
                                                          {"f", "Zg=="},
                                                          {"fo", "Zm8="},
                                                          {"foo", "Zm9v"},
                                                          {"foob", "Zm9vYg=="},
                                                          {"fooba", "Zm9vYmE="},
                                                          {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, encoded] : kVectors) {
    EXPECT_EQ(base64Encode(plain), encoded);
    auto decoded = base64Decode(encoded);
    ASSERT_TRUE(decoded) << encoded;
    EXPECT_EQ(*decoded, plain);
  }
}

TEST(Crypto, Base64DecodeIsStrict) {
  EXPECT_FALSE(base64Decode("Zg="));       // length not a multiple of 4
  EXPECT_FALSE(base64Decode("Z g=="));     // whitespace
  EXPECT_FALSE(base64Decode("Zm9v_-=="));  // URL-safe alphabet
  EXPECT_FALSE(base64Decode("Zg==Zg=="));  // padding in the middle
  EXPECT_FALSE(base64Decode("Zh=="));      // non-canonical trailing bits
  EXPECT_FALSE(base64Decode("=AAA"));
}

TEST(Crypto, Base64RoundTripsEveryByte) {
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  for (size_t n = 0; n <= all.size(); n += 37) {
    auto back = base64Decode(base64Encode(all.substr(0, n)));
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, all.substr(0, n));
  }
}

TEST(Crypto, ConstantTimeEqual) {
  EXPECT_TRUE(constantTimeEqual("", ""));
  EXPECT_TRUE(constantTimeEqual("abc", "abc"));
  EXPECT_FALSE(constantTimeEqual("abc", "abd"));
  EXPECT_FALSE(constantTimeEqual("abc", "abcd"));
}

}  // namespace
}  // namespace sanjog::sdk::crypto
