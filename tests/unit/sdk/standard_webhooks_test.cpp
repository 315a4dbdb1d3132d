#include "sanjog/sdk/standard_webhooks.hpp"

#include <gtest/gtest.h>

namespace sanjog::sdk::standard_webhooks {
namespace {

// The test vector published with the Standard Webhooks specification.
constexpr const char* kSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
constexpr const char* kId = "msg_p5jXN8AQM9LWM0D4loKWxJek";
constexpr int64_t kTs = 1614265330;
constexpr const char* kBody = R"({"test": 2432232314})";
constexpr const char* kSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

std::string key() { return *decodeSecret(kSecret); }

TEST(StandardWebhooks, SignsThePublishedVector) {
  EXPECT_EQ(sign(key(), kId, kTs, kBody), kSignature);
}

TEST(StandardWebhooks, VerifiesThePublishedVector) {
  EXPECT_EQ(verify(key(), kId, "1614265330", kSignature, kBody, kTs, 300), Verdict::kOk);
}

TEST(StandardWebhooks, SecretWithoutPrefixAndWeakSecrets) {
  EXPECT_EQ(decodeSecret("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"), key());
  EXPECT_FALSE(decodeSecret("whsec_c2hvcnQ="));  // 5 bytes
  EXPECT_FALSE(decodeSecret("whsec_not base64"));
  EXPECT_FALSE(decodeSecret(""));
}

TEST(StandardWebhooks, RefusesForgedBodyIdAndSecret) {
  EXPECT_EQ(verify(key(), kId, "1614265330", kSignature, R"({"test": 2432232315})", kTs, 300),
            Verdict::kBadSignature);
  EXPECT_EQ(verify(key(), "msg_other", "1614265330", kSignature, kBody, kTs, 300),
            Verdict::kBadSignature);
  const std::string other = *decodeSecret("whsec_" + crypto::base64Encode("another-secret-16b"));
  EXPECT_EQ(verify(other, kId, "1614265330", kSignature, kBody, kTs, 300), Verdict::kBadSignature);
  EXPECT_EQ(verify(key(), kId, "1614265330", "v1,AAAA", kBody, kTs, 300), Verdict::kBadSignature);
  EXPECT_EQ(verify(key(), kId, "1614265330",
                   "v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", kBody, kTs, 300),
            Verdict::kBadSignature);
}

TEST(StandardWebhooks, TimestampTolerance) {
  EXPECT_EQ(verify(key(), kId, "1614265330", kSignature, kBody, kTs + 300, 300), Verdict::kOk);
  EXPECT_EQ(verify(key(), kId, "1614265330", kSignature, kBody, kTs + 301, 300), Verdict::kStale);
  EXPECT_EQ(verify(key(), kId, "1614265330", kSignature, kBody, kTs - 301, 300), Verdict::kFuture);
  EXPECT_EQ(verify(key(), kId, "16142653x0", kSignature, kBody, kTs, 300), Verdict::kBadTimestamp);
  EXPECT_EQ(verify(key(), kId, "-1", kSignature, kBody, kTs, 300), Verdict::kBadTimestamp);
}

TEST(StandardWebhooks, MissingHeaders) {
  EXPECT_EQ(verify(key(), "", "1614265330", kSignature, kBody, kTs, 300), Verdict::kMissingHeaders);
  EXPECT_EQ(verify(key(), kId, "", kSignature, kBody, kTs, 300), Verdict::kMissingHeaders);
  EXPECT_EQ(verify(key(), kId, "1614265330", "", kBody, kTs, 300), Verdict::kMissingHeaders);
}

TEST(StandardWebhooks, AnyOfSeveralSignaturesMatches) {
  const std::string several = std::string("v1,AAAA v1a,xyz ") + kSignature;
  EXPECT_EQ(verify(key(), kId, "1614265330", several, kBody, kTs, 300), Verdict::kOk);
}

}  // namespace
}  // namespace sanjog::sdk::standard_webhooks
