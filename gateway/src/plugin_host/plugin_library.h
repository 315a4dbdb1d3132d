// One loaded plugin shared library (Boost.DLL).
//
// Lifetime: the library stays mapped as long as the PluginLibrary object
// lives; every PluginInstance holds a shared_ptr to its library, so the code
// of an instance can never be unloaded under it. Libraries are loaded once,
// on the main thread, with RTLD_NOW | RTLD_LOCAL.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <boost/dll/shared_library.hpp>
#include <nlohmann/json.hpp>

#include "common/status.h"
#include "sanjog/plugin_abi.h"

namespace sanjog::plugin_host {

class PluginLibrary {
 public:
  // Loads the library and checks its descriptor: ABI major equal to the
  // host's (a mismatch is refused with a message naming both versions),
  // struct sizes, non-empty name/kind/version, the schema is a JSON object
  // with "additionalProperties": false, and actions is a JSON array of strings.
  static Result<std::shared_ptr<PluginLibrary>> load(const std::filesystem::path& path);

  PluginLibrary(const PluginLibrary&) = delete;
  PluginLibrary& operator=(const PluginLibrary&) = delete;
  ~PluginLibrary();

  [[nodiscard]] const std::string& name() const { return name_; }
  [[nodiscard]] const std::string& kind() const { return kind_; }
  [[nodiscard]] const std::string& version() const { return version_; }
  [[nodiscard]] const std::string& summary() const { return summary_; }
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }
  [[nodiscard]] const nlohmann::json& schema() const { return schema_; }
  // The schema as declared (key order kept, for documentation).
  [[nodiscard]] const std::string& schemaText() const { return schema_text_; }
  [[nodiscard]] const std::vector<std::string>& actions() const { return actions_; }
  [[nodiscard]] std::string defaultAction() const { return actions_.empty() ? "" : actions_[0]; }
  [[nodiscard]] uint32_t abiMinor() const { return abi_minor_; }
  [[nodiscard]] const sanjog_plugin_hooks& hooks() const { return hooks_; }

 private:
  PluginLibrary() = default;

  boost::dll::shared_library library_;
  std::filesystem::path path_;
  std::string name_, kind_, version_, summary_;
  nlohmann::json schema_;
  std::string schema_text_;
  std::vector<std::string> actions_;
  uint32_t abi_minor_ = 0;
  sanjog_plugin_hooks hooks_{};  // copied, zero-filled past the plugin's struct_size
};

// All plugin libraries found in a directory (files named libsanjog_*.so).
class PluginRegistry {
 public:
  struct LoadError {
    std::string file;
    std::string reason;
  };

  // Loads every library of the directory; failures are collected, not fatal
  // (a config that names a failed plugin reports its reason).
  static PluginRegistry loadDirectory(const std::filesystem::path& dir);

  [[nodiscard]] std::shared_ptr<PluginLibrary> find(const std::string& name) const;
  [[nodiscard]] const std::vector<std::shared_ptr<PluginLibrary>>& libraries() const {
    return libraries_;
  }
  [[nodiscard]] const std::vector<LoadError>& errors() const { return errors_; }
  // The reason a plugin of that name failed to load, or "" if none did.
  [[nodiscard]] std::string failureFor(const std::string& name) const;
  [[nodiscard]] const std::filesystem::path& directory() const { return dir_; }

 private:
  std::filesystem::path dir_;
  std::vector<std::shared_ptr<PluginLibrary>> libraries_;
  std::vector<LoadError> errors_;
};

// Where plugins are looked for when the config names no plugin_dir:
// $SANJOG_PLUGIN_DIR, then <dir of the executable>/../lib/sanjog/plugins
// (build and install trees share this layout), then the compiled-in
// install directory.
std::filesystem::path defaultPluginDir();

}  // namespace sanjog::plugin_host
