#include "common/log.h"

#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <unordered_map>

#include "common/time_format.h"

namespace sanjog::log {

namespace {

std::atomic<int> g_level{[] {
  const char* env = std::getenv("SANJOG_LOG_LEVEL");
  return static_cast<int>(parseLevel(env ? env : "", Level::kInfo));
}()};

std::atomic<int> g_privacy{static_cast<int>(Privacy::kMask)};
std::mutex g_mutex;

struct Repeat {
  int64_t first_ms = 0;
  int suppressed = 0;
};
std::unordered_map<std::string, Repeat> g_repeats;  // guarded by g_mutex
constexpr int64_t kRepeatWindowMs = 10000;

const char* levelName(Level level) {
  switch (level) {
    case Level::kDebug:
      return "debug";
    case Level::kInfo:
      return "info";
    case Level::kWarn:
      return "warn";
    case Level::kError:
      return "error";
  }
  return "info";
}

bool isWordChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' ||
         static_cast<unsigned char>(c) >= 0x80;
}
bool isEmailChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '.' || c == '_' || c == '-' ||
         c == '+' || c == '%';
}

bool fieldIs(std::string_view key, std::initializer_list<std::string_view> names) {
  for (auto n : names) {
    if (key == n) return true;
  }
  return false;
}

nlohmann::json redactField(std::string_view key, const nlohmann::json& value, Privacy p) {
  if (fieldIs(key, {"token", "secret", "password", "authorization", "api_key", "access_token",
                    "encryption_key"})) {
    return "***";
  }
  if (p == Privacy::kOff) return value;
  if (value.is_string()) {
    const auto& s = value.get_ref<const std::string&>();
    if (fieldIs(key, {"text", "body", "caption", "message_text"})) {
      return "[" + std::to_string(s.size()) + " bytes]";
    }
    if (fieldIs(key, {"name", "contact_name"}) && !s.empty()) {
      return p == Privacy::kStrict ? std::string("[name]") : s.substr(0, 1) + "***";
    }
    return redact(s, p);
  }
  if (value.is_object()) {
    nlohmann::json out = nlohmann::json::object();
    for (const auto& [k, v] : value.items()) out[k] = redactField(k, v, p);
    return out;
  }
  if (value.is_array()) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& v : value) out.push_back(redactField(key, v, p));
    return out;
  }
  return value;
}

}  // namespace

void setPrivacy(Privacy p) { g_privacy.store(static_cast<int>(p)); }
Privacy privacy() { return static_cast<Privacy>(g_privacy.load()); }
Privacy parsePrivacy(std::string_view text, Privacy fallback) {
  if (text == "strict") return Privacy::kStrict;
  if (text == "mask") return Privacy::kMask;
  if (text == "off") return Privacy::kOff;
  return fallback;
}

std::string redact(std::string_view text, Privacy p) {
  if (p == Privacy::kOff) return std::string(text);
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    // An email: local@domain.tld, found from its '@'.
    if (c == '@' && i > 0 && isEmailChar(text[i - 1])) {
      size_t start = out.size();
      while (start > 0 && isEmailChar(out[start - 1])) --start;
      size_t end = i + 1;
      while (end < text.size() && isEmailChar(text[end])) ++end;
      const auto domain = text.substr(i + 1, end - i - 1);
      if (domain.find('.') != std::string_view::npos) {
        const std::string local = out.substr(start);
        out.resize(start);
        out += p == Privacy::kStrict ? std::string("[email]")
                                     : maskEmail(local + "@" + std::string(domain));
        i = end;
        continue;
      }
    }
    // A phone number or another personal number: optional '+', 7 or more
    // digits, not part of a word (ids such as evt_01J9... stay readable).
    const bool plus = c == '+' && i + 1 < text.size() &&
                      std::isdigit(static_cast<unsigned char>(text[i + 1])) != 0;
    if ((plus || std::isdigit(static_cast<unsigned char>(c)) != 0) &&
        (i == 0 || !isWordChar(text[i - 1]))) {
      size_t end = i + (plus ? 1 : 0);
      while (end < text.size() && std::isdigit(static_cast<unsigned char>(text[end])) != 0) ++end;
      const size_t digits = end - i - (plus ? 1 : 0);
      if (digits >= 7 && (end == text.size() || !isWordChar(text[end]))) {
        out += p == Privacy::kStrict ? std::string("[phone]") : maskPhone(text.substr(i, end - i));
        i = end;
        continue;
      }
      out.append(text.substr(i, end - i));
      i = end;
      continue;
    }
    out += c;
    ++i;
  }
  return out;
}

void setLevel(Level level) { g_level.store(static_cast<int>(level)); }
Level level() { return static_cast<Level>(g_level.load()); }

Level parseLevel(std::string_view text, Level fallback) {
  if (text == "debug") return Level::kDebug;
  if (text == "info") return Level::kInfo;
  if (text == "warn" || text == "warning") return Level::kWarn;
  if (text == "error") return Level::kError;
  return fallback;
}

void write(Level lvl, std::string_view logger, std::string_view msg, const nlohmann::json& fields) {
  if (static_cast<int>(lvl) < g_level.load(std::memory_order_relaxed)) return;
  const int64_t now = nowUnixMs();
  nlohmann::ordered_json line = nlohmann::ordered_json::object();
  line["ts"] = formatRfc3339(now);
  line["level"] = levelName(lvl);
  line["logger"] = logger;
  const auto p = privacy();
  line["msg"] = redact(msg, p);
  if (fields.is_object()) {
    for (const auto& [k, v] : fields.items()) {
      // An id that does not apply (an event without a conversation) is left
      // out rather than written as "": jq filters on it stay simple.
      if (k.size() > 3 && k.ends_with("_id") && v.is_string() &&
          v.get_ref<const std::string&>().empty()) {
        continue;
      }
      line[k] = redactField(k, v, p);
    }
  }
  std::lock_guard<std::mutex> lock(g_mutex);
  if (lvl >= Level::kWarn) {
    std::string key = std::string(logger) + '\x1f' + std::string(msg) + '\x1f' + fields.dump();
    auto it = g_repeats.find(key);
    if (it != g_repeats.end() && now - it->second.first_ms < kRepeatWindowMs) {
      ++it->second.suppressed;
      return;
    }
    if (it != g_repeats.end() && it->second.suppressed > 0) {
      line["repeated"] = it->second.suppressed;
    }
    if (g_repeats.size() > 4096) g_repeats.clear();  // bounded memory
    g_repeats[key] = Repeat{now, 0};
  }
  const std::string text =
      line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  std::fwrite(text.data(), 1, text.size(), stderr);
  std::fflush(stderr);
}

std::string maskPhone(std::string_view phone) {
  if (phone.size() <= 6) return std::string(phone.size(), '*');
  std::string out(phone.substr(0, 5));
  out.append(phone.size() - 7, '*');
  out.append(phone.substr(phone.size() - 2));
  return out;
}

std::string maskEmail(std::string_view email) {
  const auto at = email.find('@');
  if (at == std::string_view::npos || at == 0) return "***";
  return std::string(email.substr(0, 1)) + "***" + std::string(email.substr(at));
}

}  // namespace sanjog::log
