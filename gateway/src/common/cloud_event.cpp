#include "common/cloud_event.h"

#include "common/time_format.h"

namespace sanjog {

namespace {

bool validType(const std::string& type) {
  if (type.empty() || type.size() > kMaxEventTypeLength) return false;
  if (type.front() < 'a' || type.front() > 'z') return false;
  for (char c : type) {
    const bool ok =
        (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

Result<nlohmann::json> normalizeEvent(std::string_view raw, const std::string& instance,
                                      int64_t now_ms, const std::string& id) {
  nlohmann::json event = nlohmann::json::parse(raw, nullptr, false);
  if (event.is_discarded()) return Status(Code::kInvalidArgument, "event is not valid JSON");
  return normalizeEvent(std::move(event), instance, now_ms, id);
}

Result<nlohmann::json> normalizeEvent(nlohmann::json event, const std::string& instance,
                                      int64_t now_ms, const std::string& id) {
  if (!event.is_object()) return Status(Code::kInvalidArgument, "event is not a JSON object");
  auto type = event.find("type");
  if (type == event.end() || !type->is_string() || !validType(type->get<std::string>())) {
    return Status(Code::kInvalidArgument,
                  "event needs a \"type\" like \"message.received\" (lower case, dotted)");
  }
  auto data = event.find("data");
  if (data == event.end() || data->is_null()) {
    event["data"] = nlohmann::json::object();
  } else if (!data->is_object()) {
    return Status(Code::kInvalidArgument, "event \"data\" must be a JSON object");
  }
  for (const char* key : {"subject", "providerid", "time"}) {
    auto it = event.find(key);
    if (it == event.end()) continue;
    if (it->is_null()) {
      event.erase(it);
      continue;
    }
    if (!it->is_string()) {
      return Status(Code::kInvalidArgument, std::string("event \"") + key + "\" must be a string");
    }
  }
  if (auto p = event.find("providerid");
      p != event.end() && p->get_ref<const std::string&>().size() > kMaxProviderIdLength) {
    return Status(Code::kInvalidArgument, "event \"providerid\" is too long");
  }
  event["specversion"] = "1.0";
  event["id"] = id;
  event["source"] = "/instances/" + instance;
  if (!event.contains("time")) event["time"] = formatRfc3339(now_ms);
  if (!event.contains("datacontenttype")) event["datacontenttype"] = "application/json";
  return event;
}

}  // namespace sanjog
