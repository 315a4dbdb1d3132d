// Log privacy: phones, emails and message text are masked by default,
// secrets always; ids stay readable so a message can be followed.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "common/log.h"

namespace sanjog::log {
namespace {

TEST(LogPrivacy, MaskHidesPhonesAndEmailsButKeepsIds) {
  EXPECT_EQ(redact("to +8801711000001 now", Privacy::kMask), "to +8801*******01 now");
  EXPECT_EQ(redact("rahim.uddin@example.com wrote", Privacy::kMask), "r***@example.com wrote");
  EXPECT_EQ(redact("psid 6712345678901234", Privacy::kMask).find("6712345678901234"),
            std::string::npos);
  for (const char* id : {"evt_01J9ZK4N3R8W2Q5T7Y1B6C0D9E", "conv_3f2a99c0d1e24b5a6c7d8e9f",
                         "port 45678", "HTTP 503", "2026-12-02T15:02:09Z"}) {
    EXPECT_EQ(redact(id, Privacy::kMask), id);
  }
  EXPECT_EQ(redact("+8801711000001 x@y.co", Privacy::kStrict), "[phone] [email]");
  EXPECT_EQ(redact("+8801711000001", Privacy::kOff), "+8801711000001");
}

// The written line, from stderr.
std::string capture(Privacy p, const nlohmann::json& fields) {
  setPrivacy(p);
  std::fflush(stderr);
  ::testing::internal::CaptureStderr();
  info("test.privacy", "message from +8801711000002", fields);
  std::string out = ::testing::internal::GetCapturedStderr();
  setPrivacy(Privacy::kMask);
  return out;
}

TEST(LogPrivacy, FieldsAreMaskedByNameAndContent) {
  const nlohmann::json fields = {{"text", "আমার অর্ডার কোথায়?"},
                                 {"token", "sk_live_0123456789"},
                                 {"contact", {{"name", "Rahim"}, {"phone", "+8801711000003"}}},
                                 {"event_id", "evt_01J9ZK4N3R8W2Q5T7Y1B6C0D9E"}};
  const std::string line = capture(Privacy::kMask, fields);
  EXPECT_EQ(line.find("অর্ডার"), std::string::npos) << line;
  EXPECT_NE(line.find("bytes]"), std::string::npos) << line;
  EXPECT_EQ(line.find("sk_live"), std::string::npos) << line;
  EXPECT_EQ(line.find("8801711000002"), std::string::npos) << line;
  EXPECT_EQ(line.find("8801711000003"), std::string::npos) << line;
  EXPECT_EQ(line.find("Rahim"), std::string::npos) << line;
  EXPECT_NE(line.find("evt_01J9ZK4N3R8W2Q5T7Y1B6C0D9E"), std::string::npos) << line;

  const std::string raw = capture(Privacy::kOff, fields);
  EXPECT_NE(raw.find("8801711000003"), std::string::npos) << raw;
  EXPECT_EQ(raw.find("sk_live"), std::string::npos) << "secrets are hidden at every level";
}

TEST(LogFormat, EmptyIdsAreLeftOut) {
  const std::string line = capture(
      Privacy::kMask,
      {{"event_id", "evt_01J9ZK4N3R8W2Q5T7Y1B6C0D9E"}, {"conversation_id", ""}, {"reason", ""}});
  const auto parsed = nlohmann::json::parse(line);
  EXPECT_EQ(parsed["event_id"], "evt_01J9ZK4N3R8W2Q5T7Y1B6C0D9E");
  EXPECT_FALSE(parsed.contains("conversation_id")) << line;
  EXPECT_TRUE(parsed.contains("reason")) << "only ids are dropped when empty: " << line;
}

}  // namespace
}  // namespace sanjog::log
