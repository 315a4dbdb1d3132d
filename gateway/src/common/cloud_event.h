// Turning what a plugin (or the API) emits into a stored CloudEvents 1.0 event.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace sanjog {

// Limits on emitted events.
inline constexpr size_t kMaxEventTypeLength = 128;
inline constexpr size_t kMaxProviderIdLength = 512;

// Parses `raw` (a JSON object) and returns the normalized event: `specversion`
// "1.0", a fresh `id`, `source` "/instances/<instance>", `time` (RFC 3339,
// now unless given), `type` (required: lower-case dotted name), `data`
// (object; {} when absent), and `subject`/`providerid` when given as strings.
// Other extension attributes are kept. kInvalidArgument with a reason
// otherwise.
Result<nlohmann::json> normalizeEvent(std::string_view raw, const std::string& instance,
                                      int64_t now_ms, const std::string& id);
Result<nlohmann::json> normalizeEvent(nlohmann::json event, const std::string& instance,
                                      int64_t now_ms, const std::string& id);

}  // namespace sanjog
