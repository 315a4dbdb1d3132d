#include "common/log.h"

#include <atomic>
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

}  // namespace

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
  line["msg"] = msg;
  if (fields.is_object()) {
    for (const auto& [k, v] : fields.items()) line[k] = v;
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
