#include "plugin_host/plugin_library.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include <boost/dll/runtime_symbol_info.hpp>

namespace sanjog::plugin_host {

namespace {

std::string str(const char* s) { return s ? std::string(s) : std::string(); }

}  // namespace

PluginLibrary::~PluginLibrary() = default;

Result<std::shared_ptr<PluginLibrary>> PluginLibrary::load(const std::filesystem::path& path) {
  std::shared_ptr<PluginLibrary> lib(new PluginLibrary());
  lib->path_ = path;
  try {
    lib->library_.load(path, boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local);
  } catch (const std::exception& e) {
    return Status(Code::kInvalidArgument, "cannot load " + path.string() + ": " + e.what());
  }
  if (!lib->library_.has(SANJOG_PLUGIN_ENTRY_SYMBOL)) {
    return Status(Code::kInvalidArgument, path.string() + " exports no " SANJOG_PLUGIN_ENTRY_SYMBOL
                                                          " symbol: not a Sanjog plugin");
  }
  auto& entry =
      lib->library_.get<std::remove_pointer_t<sanjog_plugin_entry_fn>>(SANJOG_PLUGIN_ENTRY_SYMBOL);
  const sanjog_plugin_descriptor* d = entry(SANJOG_ABI_MAJOR, SANJOG_ABI_MINOR);
  if (d == nullptr) {
    return Status(Code::kInvalidArgument,
                  path.string() + ": the entry point returned no descriptor");
  }
  if (d->abi_major != SANJOG_ABI_MAJOR) {
    return Status(Code::kInvalidArgument,
                  path.string() + " was built for plugin ABI " + std::to_string(d->abi_major) +
                      "." + std::to_string(d->abi_minor) + " but this sanjogd speaks ABI " +
                      std::to_string(SANJOG_ABI_MAJOR) + "." + std::to_string(SANJOG_ABI_MINOR) +
                      "; rebuild the plugin against the matching SDK");
  }
  constexpr size_t kMinDescriptor = offsetof(sanjog_plugin_descriptor, hooks) + sizeof(void*);
  if (d->struct_size < kMinDescriptor) {
    return Status(Code::kInvalidArgument, path.string() + ": descriptor struct_size " +
                                              std::to_string(d->struct_size) + " is too small");
  }
  lib->name_ = str(d->name);
  lib->kind_ = str(d->kind);
  lib->version_ = str(d->version);
  lib->summary_ = str(d->summary);
  lib->abi_minor_ = d->abi_minor;
  if (lib->name_.empty() || lib->kind_.empty() || lib->version_.empty()) {
    return Status(Code::kInvalidArgument,
                  path.string() + ": descriptor lacks name, kind or version");
  }
  const std::string expected_file = "libsanjog_" + lib->name_ + ".so";
  if (path.filename() != expected_file) {
    return Status(Code::kInvalidArgument, path.string() + ": plugin \"" + lib->name_ +
                                              "\" must be in a file named " + expected_file);
  }
  lib->schema_text_ = str(d->config_schema);
  lib->schema_ = nlohmann::json::parse(lib->schema_text_, nullptr, false);
  if (!lib->schema_.is_object()) {
    return Status(Code::kInvalidArgument, path.string() + ": config_schema is not a JSON object");
  }
  if (lib->schema_.value("additionalProperties", true) != false) {
    return Status(Code::kInvalidArgument,
                  path.string() + ": config_schema must set \"additionalProperties\": false");
  }
  const nlohmann::json actions = nlohmann::json::parse(str(d->actions), nullptr, false);
  if (!actions.is_array() ||
      !std::all_of(actions.begin(), actions.end(), [](const auto& a) { return a.is_string(); })) {
    return Status(Code::kInvalidArgument,
                  path.string() + ": actions is not a JSON array of strings");
  }
  for (const auto& a : actions) lib->actions_.push_back(a.get<std::string>());
  if (d->hooks == nullptr ||
      d->hooks->struct_size < offsetof(sanjog_plugin_hooks, destroy) + sizeof(void*)) {
    return Status(Code::kInvalidArgument, path.string() + ": descriptor has no usable hooks");
  }
  std::memcpy(&lib->hooks_, d->hooks, std::min<size_t>(d->hooks->struct_size, sizeof(lib->hooks_)));
  lib->hooks_.struct_size = sizeof(lib->hooks_);
  if (lib->hooks_.create == nullptr || lib->hooks_.destroy == nullptr) {
    return Status(Code::kInvalidArgument,
                  path.string() + ": create and destroy hooks are required");
  }
  if (!lib->actions_.empty() && lib->hooks_.deliver == nullptr) {
    return Status(Code::kInvalidArgument,
                  path.string() + ": declares actions but has no deliver hook");
  }
  return lib;
}

PluginRegistry PluginRegistry::loadDirectory(const std::filesystem::path& dir) {
  PluginRegistry reg;
  reg.dir_ = dir;
  std::error_code ec;
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("libsanjog_", 0) == 0 && entry.path().extension() == ".so") {
      files.push_back(entry.path());
    }
  }
  if (ec) {
    reg.errors_.push_back({dir.string(), "cannot read plugin directory: " + ec.message()});
    return reg;
  }
  std::sort(files.begin(), files.end());
  for (const auto& file : files) {
    auto lib = PluginLibrary::load(file);
    if (!lib) {
      reg.errors_.push_back({file.string(), lib.status().message()});
      continue;
    }
    if (reg.find((*lib)->name())) {
      reg.errors_.push_back({file.string(), "duplicate plugin name " + (*lib)->name()});
      continue;
    }
    reg.libraries_.push_back(std::move(lib).value());
  }
  return reg;
}

std::shared_ptr<PluginLibrary> PluginRegistry::find(const std::string& name) const {
  for (const auto& lib : libraries_) {
    if (lib->name() == name) return lib;
  }
  return nullptr;
}

std::string PluginRegistry::failureFor(const std::string& name) const {
  const std::string file = "libsanjog_" + name + ".so";
  for (const auto& e : errors_) {
    if (std::filesystem::path(e.file).filename() == file) return e.reason;
  }
  return "";
}

std::filesystem::path defaultPluginDir() {
  if (const char* env = std::getenv("SANJOG_PLUGIN_DIR"); env && *env) return env;
  std::error_code ec;
  const auto exe = std::filesystem::path(boost::dll::program_location().string());
  const auto sibling = exe.parent_path().parent_path() / "lib" / "sanjog" / "plugins";
  if (std::filesystem::is_directory(sibling, ec)) return sibling;
  return SANJOG_INSTALL_PLUGIN_DIR;
}

}  // namespace sanjog::plugin_host
