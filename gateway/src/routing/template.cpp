#include "routing/template.h"

#include <functional>

#include <kainjow/mustache.hpp>

#include <mutex>

namespace sanjog::routing {

namespace mustache = kainjow::mustache;

struct Template::Impl {
  // kainjow's render is not const; one template is shared by worker
  // threads, so renders are serialized (they are microseconds each).
  mutable std::mutex mutex;
  mutable mustache::mustache tmpl;
  explicit Impl(const std::string& text) : tmpl(text) {}
};

namespace {

mustache::data toData(const nlohmann::json& v) {
  switch (v.type()) {
    case nlohmann::json::value_t::object: {
      mustache::data d{mustache::data::type::object};
      for (const auto& [key, value] : v.items()) d.set(key, toData(value));
      return d;
    }
    case nlohmann::json::value_t::array: {
      mustache::data d{mustache::data::type::list};
      for (const auto& e : v) d.push_back(toData(e));
      return d;
    }
    case nlohmann::json::value_t::string:
      return {v.get<std::string>()};
    case nlohmann::json::value_t::boolean:
      return {v.get<bool>()};
    case nlohmann::json::value_t::null:
      return {mustache::data::type::bool_false};
    default:
      return {v.dump()};
  }
}

}  // namespace

Result<Template> Template::compile(const std::string& text) {
  auto impl = std::make_shared<Impl>(text);
  if (!impl->tmpl.is_valid()) {
    return Status(Code::kInvalidArgument, "invalid template: " + impl->tmpl.error_message());
  }
  impl->tmpl.set_custom_escape([](const std::string& s) { return s; });
  Template t;
  t.impl_ = std::move(impl);
  return t;
}

std::string Template::render(const nlohmann::json& event) const {
  if (!impl_) return "";
  const mustache::data data = toData(event);
  std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->tmpl.render(data);
}

std::variant<JsonTemplate, std::vector<std::pair<std::string, std::string>>> JsonTemplate::compile(
    const nlohmann::json& value) {
  JsonTemplate out;
  out.value_ = value;
  std::vector<std::pair<std::string, std::string>> errors;
  std::function<void(const nlohmann::json&, const nlohmann::json::json_pointer&)> walk =
      [&](const nlohmann::json& node, const nlohmann::json::json_pointer& at) {
        if (node.is_string()) {
          auto tmpl = Template::compile(node.get<std::string>());
          if (!tmpl) {
            errors.emplace_back(at.to_string(), tmpl.status().message());
          } else {
            out.strings_.emplace_back(at, *tmpl);
          }
        } else if (node.is_object()) {
          for (const auto& [k, v] : node.items()) walk(v, at / k);
        } else if (node.is_array()) {
          for (size_t i = 0; i < node.size(); ++i) walk(node[i], at / i);
        }
      };
  walk(value, nlohmann::json::json_pointer());
  if (!errors.empty()) return errors;
  return out;
}

nlohmann::json JsonTemplate::render(const nlohmann::json& context) const {
  nlohmann::json out = value_;
  for (const auto& [at, tmpl] : strings_) out[at] = tmpl.render(context);
  return out;
}

}  // namespace sanjog::routing
