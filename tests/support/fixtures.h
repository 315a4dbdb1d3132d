// Reading provider fixtures (tests/fixtures/) and signing like the providers.
#pragma once

#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

#include "sanjog/sdk/crypto.hpp"

namespace sanjog::testing {

inline std::string readFixture(const std::string& relative) {
  const std::string path = std::string(SANJOG_SOURCE_DIR) + "/tests/fixtures/" + relative;
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("missing fixture " + path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline nlohmann::json fixtureJson(const std::string& relative) {
  return nlohmann::json::parse(readFixture(relative));
}

// A fixture as the provider puts it on the wire: minified, non-ASCII escaped.
inline std::string wireBody(const std::string& relative) {
  return fixtureJson(relative).dump(-1, ' ', true);
}

// X-Hub-Signature-256 (Meta): "sha256=" + hex HMAC-SHA256(app secret, body).
inline std::string metaSignature(const std::string& app_secret, const std::string& body) {
  return "sha256=" + sdk::crypto::hex(sdk::crypto::hmacSha256(app_secret, body));
}

}  // namespace sanjog::testing
