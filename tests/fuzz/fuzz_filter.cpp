// Fuzzes route filters and templates: the input is split at the first NUL
// into a filter/template document and an event.
#include <cstddef>
#include <cstdint>
#include <string>

#include "routing/filter.h"
#include "routing/template.h"
#include "routing/text.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  const auto split = input.find('\0');
  const std::string first = input.substr(0, split);
  const std::string second = split == std::string::npos ? "{}" : input.substr(split + 1);
  nlohmann::json event = nlohmann::json::parse(second, nullptr, false);
  if (event.is_discarded()) event = nlohmann::json::object();
  nlohmann::json when = nlohmann::json::parse(first, nullptr, false);
  if (!when.is_discarded()) {
    auto filter = sanjog::routing::Filter::compile(when);
    if (filter) (void)filter->matches(event);
  }
  auto templ = sanjog::routing::Template::compile(first);
  if (templ) (void)templ->render(event);
  (void)sanjog::routing::normalizeText(first);
  return 0;
}
