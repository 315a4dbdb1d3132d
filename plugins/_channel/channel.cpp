#include "channel.hpp"

#include <phonenumbers/phonenumberutil.h>

#include <charconv>
#include <cstdio>
#include <ctime>

namespace sanjog::plugins::channel {

std::string rfc3339(int64_t unix_ms) {
  const std::time_t secs =
      static_cast<std::time_t>(unix_ms >= 0 ? unix_ms / 1000 : (unix_ms - 999) / 1000);
  const int ms = static_cast<int>(unix_ms - int64_t(secs) * 1000);
  std::tm tm{};
  if (gmtime_r(&secs, &tm) == nullptr || tm.tm_year > 9999 - 1900 || tm.tm_year < -1900) {
    return "1970-01-01T00:00:00Z";  // out of range: a provider's nonsense, not a crash
  }
  char buf[64];
  size_t n = std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
  if (ms != 0) n += static_cast<size_t>(std::snprintf(buf + n, sizeof(buf) - n, ".%03d", ms));
  buf[n++] = 'Z';
  return std::string(buf, n);
}

std::optional<int64_t> integerField(const nlohmann::json& obj, const char* key) {
  if (!obj.is_object()) return std::nullopt;
  auto it = obj.find(key);
  if (it == obj.end()) return std::nullopt;
  // Bounded to what JSON carries exactly (2^53): times in seconds or
  // milliseconds stay far from overflow when scaled.
  constexpr int64_t kMax = int64_t(1) << 53;
  int64_t v = 0;
  if (it->is_number_unsigned()) {
    if (it->get<uint64_t>() > uint64_t(kMax)) return std::nullopt;
    v = static_cast<int64_t>(it->get<uint64_t>());
  } else if (it->is_number_integer()) {
    v = it->get<int64_t>();
  } else if (it->is_number_float()) {
    const double d = it->get<double>();
    if (!(d > -double(kMax) && d < double(kMax))) return std::nullopt;  // also NaN
    v = static_cast<int64_t>(d);
  } else if (it->is_string()) {
    const auto& s = it->get_ref<const std::string&>();
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  } else {
    return std::nullopt;
  }
  if (v > kMax || v < -kMax) return std::nullopt;
  return v;
}

std::optional<std::string> toE164(std::string_view raw, std::string_view region) {
  if (raw.empty() || raw.size() > 64) return std::nullopt;
  using i18n::phonenumbers::PhoneNumber;
  using i18n::phonenumbers::PhoneNumberUtil;
  const auto* util = PhoneNumberUtil::GetInstance();
  PhoneNumber number;
  const std::string region_code(region.empty() ? "ZZ" : region);
  if (util->Parse(std::string(raw), region_code, &number) != PhoneNumberUtil::NO_PARSING_ERROR) {
    return std::nullopt;
  }
  if (!util->IsPossibleNumber(number)) return std::nullopt;
  std::string out;
  util->Format(number, PhoneNumberUtil::E164, &out);
  return out;
}

namespace {
int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
std::string percentDecode(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '+') {
      out += ' ';
    } else if (in[i] == '%' && i + 2 < in.size() && hexValue(in[i + 1]) >= 0 &&
               hexValue(in[i + 2]) >= 0) {
      out += static_cast<char>(hexValue(in[i + 1]) * 16 + hexValue(in[i + 2]));
      i += 2;
    } else {
      out += in[i];
    }
  }
  return out;
}
}  // namespace

std::optional<std::string> queryParam(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    const size_t eq = pair.find('=');
    if (percentDecode(pair.substr(0, eq)) == name) {
      return eq == std::string_view::npos ? std::string() : percentDecode(pair.substr(eq + 1));
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

std::string percentEncode(std::string_view text) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

nlohmann::json cloudEvent(std::string_view type, std::string_view provider_id,
                          nlohmann::json data) {
  return {{"specversion", "1.0"},
          {"type", std::string(type)},
          {"providerid", std::string(provider_id)},
          {"datacontenttype", "application/json"},
          {"data", std::move(data)}};
}

std::string str(const nlohmann::json& obj, const char* key) {
  if (!obj.is_object()) return {};
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : std::string();
}

const nlohmann::json& member(const nlohmann::json& obj, const char* key) {
  static const nlohmann::json kNull;
  if (!obj.is_object()) return kNull;
  auto it = obj.find(key);
  return it == obj.end() ? kNull : *it;
}

std::string idText(const nlohmann::json& v) {
  if (v.is_number_unsigned()) return std::to_string(v.get<uint64_t>());
  if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
  if (v.is_string()) return v.get<std::string>();
  return {};
}

std::optional<int64_t> ServiceWindow::lastInbound(std::string_view contact) const {
  return host_.lastInboundMs(contact);
}

bool ServiceWindow::open(std::string_view contact, int64_t now_ms, int64_t window_ms) const {
  auto last = lastInbound(contact);
  return last && now_ms - *last < window_ms;
}

sdk::Result<Metrics> Metrics::registerAll(const sdk::Host& host) {
  auto events = host.counter("sanjog_channel_webhook_events_total",
                             "Provider webhook items by channel, normalized type and result "
                             "(emitted, ignored, unsupported).",
                             {"channel", "type", "result"});
  if (!events) return events.status();
  auto sig = host.counter("sanjog_channel_signature_failures_total",
                          "Channel webhook requests refused by signature or token checks.",
                          {"channel", "reason"});
  if (!sig) return sig.status();
  auto sends = host.counter("sanjog_channel_sends_total",
                            "Outbound channel sends by message kind and result.",
                            {"channel", "kind", "result"});
  if (!sends) return sends.status();
  auto limited =
      host.counter("sanjog_channel_rate_limited_total",
                   "Sends held back by the instance's own send rate limit.", {"channel"});
  if (!limited) return limited.status();
  return Metrics{*events, *sig, *sends, *limited};
}

}  // namespace sanjog::plugins::channel
