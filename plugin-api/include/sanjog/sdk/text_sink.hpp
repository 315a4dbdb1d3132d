// A sanjog_sink that collects text into a std::string; used by the SDK (for
// host callbacks' error messages) and by the host (for hook outputs).
#pragma once

#include <string>

#include "sanjog/plugin_abi.h"

namespace sanjog::sdk {

// Not copyable or movable: the C side holds a pointer to it during a call.
class TextSink {
 public:
  TextSink() : raw_{{&TextSink::append}, this} {}
  TextSink(const TextSink&) = delete;
  TextSink& operator=(const TextSink&) = delete;

  sanjog_sink* get() { return &raw_.base; }
  std::string text;

 private:
  // Standard-layout, so a sanjog_sink* to `base` converts back to Raw*.
  struct Raw {
    sanjog_sink base;
    TextSink* owner;
  };
  static void append(sanjog_sink* sink, sanjog_str bytes) {
    if (sink == nullptr || bytes.size == 0) return;
    reinterpret_cast<Raw*>(sink)->owner->text.append(bytes.data, bytes.size);
  }
  Raw raw_;
};

}  // namespace sanjog::sdk
