#include "app/application.h"

#include <Poco/Net/SSLManager.h>
#include <Poco/Util/HelpFormatter.h>
#include <Poco/Util/Option.h>
#include <Poco/Util/OptionSet.h>
#include <Poco/Util/ServerApplication.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <sstream>
#include <thread>

#include "app/gateway.h"
#include "bus/embedded_bus.h"
#include "bus/nats/nats_bus.h"
#include "common/crypto_box.h"
#include "common/log.h"
#include "common/net_guard.h"
#include "common/time_format.h"
#include "config/config_loader.h"
#include "config/embedded.h"
#include "http/listeners.h"
#include "metrics/metrics.h"
#include "plugin_host/http_client.h"
#include "plugin_host/plugin_instance.h"
#include "plugin_host/plugin_library.h"
#include "routing/router.h"

namespace sanjog::app {

namespace {

constexpr const char* kLog = "sanjog.app";

using Poco::Util::Application;
using Poco::Util::Option;
using Poco::Util::OptionSet;

// Reads a whole file; nullopt when it cannot be read.
std::optional<std::string> readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class SanjogApp : public Poco::Util::ServerApplication {
 public:
  SanjogApp() { setUnixOptions(true); }

  // Called from the SIGHUP thread and from POST /admin/v1/reload.
  std::vector<std::string> reload();

 protected:
  void defineOptions(OptionSet& options) override {
    ServerApplication::defineOptions(options);
    options.addOption(Option("help", "h", "Print this help and exit."));
    options.addOption(Option("version", "", "Print the version and exit."));
    options.addOption(Option("config", "c",
                             "The config file (JSON, comments allowed). Without it "
                             "the embedded default config runs.")
                          .argument("FILE"));
    options.addOption(Option("check-config", "",
                             "Validate the config and exit: 0 when valid, "
                             "otherwise one line per problem."));
    options.addOption(
        Option("list-plugins", "", "List the plugins found in the plugin directory."));
    options.addOption(
        Option("describe-plugin", "", "Print a plugin's config table.").argument("NAME"));
    options.addOption(Option("markdown", "", "With --describe-plugin: a Markdown table."));
    options.addOption(Option("json", "", "With --describe-plugin: JSON."));
    options.addOption(Option("plugin-dir", "",
                             "Where plugins are loaded from (overrides the "
                             "config's plugin_dir).")
                          .argument("DIR"));
    options.addOption(Option("ports-file", "",
                             "After both listeners are bound, write "
                             "{\"public\":PORT,\"admin\":PORT} to FILE.")
                          .argument("FILE"));
  }

  void handleOption(const std::string& name, const std::string& value) override {
    ServerApplication::handleOption(name, value);
    if (name == "help") {
      help_ = true;
      stopOptionsProcessing();
    } else if (name == "version") {
      version_ = true;
    } else if (name == "config") {
      config_path_ = value;
    } else if (name == "check-config") {
      check_config_ = true;
    } else if (name == "list-plugins") {
      list_plugins_ = true;
    } else if (name == "describe-plugin") {
      describe_ = value;
    } else if (name == "markdown") {
      format_ = "markdown";
    } else if (name == "json") {
      format_ = "json";
    } else if (name == "plugin-dir") {
      plugin_dir_override_ = value;
    } else if (name == "ports-file") {
      ports_file_ = value;
    }
  }

  int main(const std::vector<std::string>& args) override;

 private:
  config::LoadResult loadConfig();
  std::filesystem::path pluginDirFor(const std::string& configured) const;
  void loadPlugins(const std::filesystem::path& dir);
  int listPlugins();
  int describePlugin();
  int serve(config::Config config);
  void writePortsFile(uint16_t public_port, uint16_t admin_port);
  void signalLoop();

  bool help_ = false, version_ = false, check_config_ = false, list_plugins_ = false;
  std::string config_path_, describe_, format_ = "markdown", plugin_dir_override_, ports_file_;

  std::optional<plugin_host::PluginRegistry> plugins_;
  std::unique_ptr<metrics::Metrics> metrics_;
  std::unique_ptr<bus::Bus> bus_;
  // The NATS client library, while a NATS bus may exist (nats_Close at exit).
  std::optional<bus::nats::Library> nats_library_;
  std::unique_ptr<plugin_host::HttpClient> http_client_;
  std::unique_ptr<plugin_host::PluginMetrics> plugin_metrics_;
  std::unique_ptr<Gateway> gateway_;
  http::Listener* public_listener_ = nullptr;  // for TLS reloads; guarded by reload_mutex_
  std::mutex reload_mutex_;
  std::atomic<bool> stopping_{false};
};

std::filesystem::path SanjogApp::pluginDirFor(const std::string& configured) const {
  if (!plugin_dir_override_.empty()) return plugin_dir_override_;
  if (!configured.empty()) return configured;
  return plugin_host::defaultPluginDir();
}

void SanjogApp::loadPlugins(const std::filesystem::path& dir) {
  plugins_ = plugin_host::PluginRegistry::loadDirectory(dir);
  for (const auto& e : plugins_->errors()) {
    log::warn(kLog, "plugin not loaded", {{"file", e.file}, {"reason", e.reason}});
  }
}

config::LoadResult SanjogApp::loadConfig() {
  std::string text;
  if (config_path_.empty()) {
    text = config::kEmbeddedDefaultConfig;
  } else {
    auto file = readFile(config_path_);
    if (!file) {
      return std::vector<config::ConfigError>{{"", "", "cannot read config file " + config_path_}};
    }
    text = std::move(*file);
  }
  if (!plugins_) {
    // First pass with permissive plugin schemas, only to learn plugin_dir
    // (which may use ${env:...}); plugins are loaded once, from there.
    static const nlohmann::json kAnyObject = {{"type", "object"}};
    auto first = config::ConfigLoader::load(text, config_path_,
                                            [](const std::string&) { return &kAnyObject; });
    std::string dir;
    if (auto* c = std::get_if<config::Config>(&first)) dir = c->plugin_dir;
    loadPlugins(pluginDirFor(dir));
  }
  auto result = config::ConfigLoader::load(
      text, config_path_, [this](const std::string& name) -> const nlohmann::json* {
        auto lib = plugins_->find(name);
        return lib ? &lib->schema() : nullptr;
      });
  if (auto* errors = std::get_if<std::vector<config::ConfigError>>(&result)) {
    // Say why a named plugin is missing when its library failed to load.
    for (auto& e : *errors) {
      if (e.reason.find("plugin") == std::string::npos) continue;
      for (const auto& lib_error : plugins_->errors()) {
        if (e.reason.find(std::filesystem::path(lib_error.file).stem().string().substr(10)) !=
            std::string::npos) {
          e.reason += " (" + lib_error.reason + ")";
        }
      }
    }
    return result;
  }
  auto& cfg = std::get<config::Config>(result);
  std::vector<config::ConfigError> extra;
  for (size_t i = 0; i < cfg.instances.size(); ++i) {
    if (cfg.instances[i].id == "api") {
      extra.push_back({"api", "/instances/" + std::to_string(i) + "/id",
                       "\"api\" is reserved for events submitted through /api/v1/messages"});
    }
  }
  // Route filters and templates are compiled here too, so --check-config
  // reports them before anything starts.
  auto router = routing::Router::build(cfg.routes, [this, &cfg](const std::string& id) {
    const auto* ic = cfg.findInstance(id);
    auto lib = ic ? plugins_->find(ic->plugin) : nullptr;
    return lib ? lib->defaultAction() : std::string();
  });
  if (auto* errors = std::get_if<std::vector<config::ConfigError>>(&router)) {
    extra.insert(extra.end(), errors->begin(), errors->end());
  }
  auto engine = automation::Engine::build(cfg, nullptr);
  if (auto* errors = std::get_if<std::vector<config::ConfigError>>(&engine)) {
    extra.insert(extra.end(), errors->begin(), errors->end());
  }
  if (!extra.empty()) return extra;
  return result;
}

int SanjogApp::listPlugins() {
  std::printf("%-22s %-8s %-8s %s\n", "NAME", "KIND", "VERSION", "SUMMARY");
  for (const auto& lib : plugins_->libraries()) {
    std::printf("%-22s %-8s %-8s %s\n", lib->name().c_str(), lib->kind().c_str(),
                lib->version().c_str(), lib->summary().c_str());
  }
  for (const auto& e : plugins_->errors()) {
    std::fprintf(stderr, "not loaded: %s: %s\n", e.file.c_str(), e.reason.c_str());
  }
  std::printf("(plugin directory: %s)\n", plugins_->directory().string().c_str());
  return EXIT_OK;
}

int SanjogApp::describePlugin() {
  auto lib = plugins_->find(describe_);
  if (!lib) {
    const std::string why = plugins_->failureFor(describe_);
    std::fprintf(stderr, "no plugin named %s in %s%s%s\n", describe_.c_str(),
                 plugins_->directory().string().c_str(), why.empty() ? "" : ": ", why.c_str());
    return EXIT_USAGE;
  }
  if (format_ == "json") {
    nlohmann::json out = {
        {"name", lib->name()},
        {"kind", lib->kind()},
        {"version", lib->version()},
        {"summary", lib->summary()},
        {"actions", lib->actions()},
        {"abi_minor", lib->abiMinor()},
        {"config", config::describeSchemaJson(nlohmann::ordered_json::parse(lib->schemaText()))},
        {"schema", lib->schema()}};
    std::cout << out.dump(2) << "\n";
  } else {
    std::cout << config::describeSchemaMarkdown(nlohmann::ordered_json::parse(lib->schemaText()));
  }
  return EXIT_OK;
}

void SanjogApp::writePortsFile(uint16_t public_port, uint16_t admin_port) {
  if (ports_file_.empty()) return;
  const std::string tmp = ports_file_ + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << nlohmann::json({{"public", public_port}, {"admin", admin_port}}).dump() << "\n";
  }
  std::filesystem::rename(tmp, ports_file_);
}

// The storage keyring from storage.encryption_key / previous_keys (already
// checked by the config loader).
Result<std::shared_ptr<const crypto::Keyring>> makeKeyring(const config::StorageConfig& storage) {
  if (storage.encryption_key.empty()) return std::make_shared<const crypto::Keyring>();
  auto current = crypto::parseKey(storage.encryption_key);
  if (!current) return Status(Code::kInvalidArgument, crypto::kKeyFormatHint);
  std::vector<crypto::Key> previous;
  for (const auto& k : storage.previous_keys) {
    auto key = crypto::parseKey(k);
    if (!key) return Status(Code::kInvalidArgument, crypto::kKeyFormatHint);
    previous.push_back(*key);
  }
  return std::make_shared<const crypto::Keyring>(*current, previous);
}

// Outbound policy: the configured private ranges, and every http(s) origin
// named in an instance's config (api_base, url, ...), which the operator
// chose and which may therefore be internal.
plugin_host::OutboundPolicy outboundPolicy(const config::Config& cfg) {
  plugin_host::OutboundPolicy p;
  for (const auto& text : cfg.outbound.allow_private) {
    if (auto c = net::parseCidr(text)) p.allow.push_back(*c);
  }
  std::function<void(const nlohmann::json&)> collect = [&](const nlohmann::json& j) {
    if (j.is_string()) {
      if (auto origin = plugin_host::originOf(j.get<std::string>()))
        p.trusted_origins.insert(*origin);
    } else if (j.is_structured()) {
      for (const auto& v : j) collect(v);
    }
  };
  for (const auto& inst : cfg.instances) collect(inst.config);
  return p;
}

void applyLogging(const config::LoggingConfig& logging) {
  if (std::getenv("SANJOG_LOG_LEVEL") == nullptr) {
    log::setLevel(log::parseLevel(logging.level, log::Level::kInfo));
  }
  log::setPrivacy(log::parsePrivacy(logging.privacy, log::Privacy::kMask));
}

std::vector<std::string> SanjogApp::reload() {
  std::lock_guard<std::mutex> lock(reload_mutex_);
  auto reject = [this](std::vector<std::string> errors) {
    metrics_->config_reloads.Add({{"result", "rejected"}}).Increment();
    log::error(kLog, "config reload rejected; the previous config keeps running",
               {{"errors", errors}});
    return errors;
  };
  auto loaded = loadConfig();
  if (auto* errors = std::get_if<std::vector<config::ConfigError>>(&loaded)) {
    std::vector<std::string> lines;
    for (const auto& e : *errors) lines.push_back(e.toString());
    return reject(lines);
  }
  auto& next = std::get<config::Config>(loaded);
  const auto current = gateway_->runtime();
  const auto& cur = current->config;
  // Settings that only take effect at start keep their running values.
  auto keep = [&](bool changed, const char* what) {
    if (changed)
      log::warn(kLog, "setting changed; it takes effect after a restart", {{"setting", what}});
  };
  keep(next.server.listen.host != cur.server.listen.host ||
           next.server.listen.port != cur.server.listen.port ||
           next.server.threads != cur.server.threads,
       "server.listen/threads");
  keep(next.admin.listen.host != cur.admin.listen.host ||
           next.admin.listen.port != cur.admin.listen.port,
       "admin.listen");
  keep(next.storage.path != cur.storage.path || next.storage.sync != cur.storage.sync ||
           next.storage.max_bytes != cur.storage.max_bytes ||
           next.storage.retention != cur.storage.retention,
       "storage");
  keep(next.bus.backend != cur.bus.backend || next.bus.workers != cur.bus.workers ||
           next.bus.urls != cur.bus.urls || next.bus.stream != cur.bus.stream ||
           next.bus.replicas != cur.bus.replicas || next.bus.credentials != cur.bus.credentials ||
           next.bus.partitions != cur.bus.partitions || next.bus.ack_wait != cur.bus.ack_wait ||
           next.bus.max_deliver != cur.bus.max_deliver ||
           next.bus.dedup_window != cur.bus.dedup_window,
       "bus");
  keep(next.server.limits.read_timeout != cur.server.limits.read_timeout ||
           next.server.limits.keep_alive_timeout != cur.server.limits.keep_alive_timeout,
       "server.limits.read_timeout/keep_alive_timeout");
  keep(next.server.tls.has_value() != cur.server.tls.has_value(), "server.tls (on/off)");
  auto keyring = makeKeyring(next.storage);
  if (!keyring) return reject({keyring.status().message()});
  // The certificate files are re-read on every reload (renewed certificates
  // keep their paths); a broken pair rejects the reload and the old pair
  // keeps serving.
  if (next.server.tls && cur.server.tls && public_listener_ != nullptr) {
    try {
      public_listener_->reloadTls(*next.server.tls);
      metrics_->tls_reloads.Add({{"result", "applied"}}).Increment();
    } catch (const std::exception& e) {
      metrics_->tls_reloads.Add({{"result", "rejected"}}).Increment();
      return reject({std::string("instance=- pointer=/server/tls reason=") + e.what()});
    }
  }
  next.server.tls = cur.server.tls;
  next.server.listen = cur.server.listen;
  next.server.threads = cur.server.threads;
  next.admin.listen = cur.admin.listen;
  next.storage.path = cur.storage.path;
  next.storage.sync = cur.storage.sync;
  next.storage.max_bytes = cur.storage.max_bytes;
  next.storage.retention = cur.storage.retention;
  next.bus = cur.bus;
  const auto logging = next.logging;
  const auto outbound = outboundPolicy(next);
  auto built = gateway_->build(std::move(next));
  if (auto* errors = std::get_if<std::vector<std::string>>(&built)) return reject(*errors);
  gateway_->apply(std::get<std::shared_ptr<Runtime>>(built));
  if (auto* embedded = dynamic_cast<bus::EmbeddedBus*>(bus_.get())) {
    embedded->setKeyring(std::move(keyring).value());
  } else if (auto* nats = dynamic_cast<bus::NatsBus*>(bus_.get())) {
    nats->setKeyring(std::move(keyring).value());
  }
  http_client_->setPolicy(outbound);
  applyLogging(logging);
  metrics_->config_reloads.Add({{"result", "applied"}}).Increment();
  log::info(kLog, "config reloaded",
            {{"config", config_path_.empty() ? "(embedded)" : config_path_}});
  return {};
}

void SanjogApp::signalLoop() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGHUP);
  while (!stopping_.load()) {
    timespec timeout{0, 200 * 1000 * 1000};
    const int sig = sigtimedwait(&set, nullptr, &timeout);
    if (sig == SIGHUP) {
      log::info(kLog, "SIGHUP: reloading the config");
      reload();
    }
  }
}

int SanjogApp::serve(config::Config cfg) {
  applyLogging(cfg.logging);
  metrics_ = std::make_unique<metrics::Metrics>();
  metrics_->build_info.Add({{"version", SANJOG_VERSION}}).Set(1);
  for (const auto& lib : plugins_->libraries()) {
    metrics_->plugin_info
        .Add({{"plugin", lib->name()}, {"kind", lib->kind()}, {"version", lib->version()}})
        .Set(1);
  }
  auto keyring = makeKeyring(cfg.storage);
  if (!keyring) {
    log::error(kLog, "cannot use the storage keys", {{"reason", keyring.status().message()}});
    return EXIT_CONFIG;
  }
  metrics_->storage_encrypted.Add({}).Set(keyring.value()->enabled() ? 1 : 0);
  if (!keyring.value()->enabled()) {
    log::warn(kLog,
              "payloads are stored unencrypted: set storage.encryption_key (a 256-bit key "
              "file, e.g. openssl rand -hex 32) to encrypt them at rest");
  }
  if (cfg.bus.backend == "nats") {
    nats_library_.emplace();
    bus::NatsBus::Options o;
    o.urls = cfg.bus.urls;
    o.credentials_file = cfg.bus.credentials;
    o.ca_file = cfg.outbound.ca_file;
    o.stream = cfg.bus.stream;
    o.replicas = cfg.bus.replicas;
    o.partitions = cfg.bus.partitions;
    o.ack_wait = cfg.bus.ack_wait;
    o.max_deliver = cfg.bus.max_deliver;
    o.duplicate_window = cfg.bus.dedup_window;
    o.retention = cfg.storage.retention;
    o.metrics = metrics_.get();
    o.keyring = std::move(keyring).value();
    auto opened = bus::NatsBus::open(o);
    if (!opened) {
      log::error(kLog, "cannot open the NATS bus",
                 {{"url", cfg.bus.urls.front()}, {"reason", opened.status().message()}});
      return EXIT_UNAVAILABLE;
    }
    bus_ = std::move(opened).value();
  } else {
    bus::EmbeddedBus::Options bus_options;
    bus_options.path = cfg.storage.path;
    bus_options.sync = cfg.storage.sync;
    bus_options.metrics = metrics_.get();
    bus_options.retention = cfg.storage.retention;
    bus_options.max_bytes = cfg.storage.max_bytes;
    bus_options.keyring = std::move(keyring).value();
    auto opened = bus::EmbeddedBus::open(bus_options);
    if (!opened) {
      log::error(kLog, "cannot open storage",
                 {{"path", cfg.storage.path}, {"reason", opened.status().message()}});
      return EXIT_CANTCREAT;
    }
    bus_ = std::move(opened).value();
    metrics_->bus_connected.Add({}).Set(1);
    metrics_->bus_partitions.Add({}).Set(0);
  }
  plugin_host::HttpClient::Options http_options;
  http_options.ca_file = cfg.outbound.ca_file;
  http_client_ = std::make_unique<plugin_host::HttpClient>(http_options, metrics_.get());
  http_client_->setPolicy(outboundPolicy(cfg));
  plugin_metrics_ = std::make_unique<plugin_host::PluginMetrics>(metrics_.get());
  auto services = std::make_shared<plugin_host::HostServices>();
  services->metrics = metrics_.get();
  services->http = http_client_.get();
  services->bus = bus_.get();
  services->plugin_metrics = plugin_metrics_.get();
  services->now_ms = [] { return nowUnixMs(); };
  gateway_ = std::make_unique<Gateway>(*metrics_, *bus_, *plugins_, services);
  services->emit = [this](const std::string& instance, std::string_view event) {
    return gateway_->emitFromPlugin(instance, event);
  };
  services->last_inbound = [this](const std::string& instance, const std::string& address) {
    auto c = bus_->conversation(conversationId(instance, address));
    return c && c->last_inbound_ms > 0 ? c->last_inbound_ms : int64_t(-1);
  };
  const int workers = cfg.bus.workers;
  const auto server_cfg = cfg.server;
  const auto admin_cfg = cfg.admin;
  auto built = gateway_->build(std::move(cfg));
  if (auto* errors = std::get_if<std::vector<std::string>>(&built)) {
    for (const auto& e : *errors) std::fprintf(stderr, "%s\n", e.c_str());
    log::error(kLog, "start-up failed: instances could not be created");
    return EXIT_CONFIG;
  }
  gateway_->apply(std::get<std::shared_ptr<Runtime>>(built));

  std::unique_ptr<http::Listener> public_listener;
  std::unique_ptr<http::Listener> admin_listener;
  try {
    public_listener = std::make_unique<http::Listener>(
        "public", server_cfg.listen, server_cfg.threads,
        http::makePublicFactory(*gateway_, *metrics_), server_cfg.tls, server_cfg.limits);
    admin_listener = std::make_unique<http::Listener>(
        "admin", admin_cfg.listen, 8,
        http::makeAdminFactory(*gateway_, *bus_, *metrics_,
                               http::AdminHooks{[this] { return reload(); }}),
        std::nullopt, server_cfg.limits);
  } catch (const std::exception& e) {
    log::error(kLog, "cannot listen", {{"reason", e.what()}});
    return EXIT_IOERR;
  }
  bus_->start([this](const bus::Delivery& d) { return gateway_->deliver(d); }, workers,
              [this](const bus::Delivery& d) { gateway_->deliveryExpired(d); });
  gateway_->startTimers();
  {
    std::lock_guard<std::mutex> lock(reload_mutex_);
    public_listener_ = public_listener.get();
  }
  writePortsFile(public_listener->port(), admin_listener->port());
  std::thread signals([this] { signalLoop(); });
  log::info(kLog, "sanjogd ready",
            {{"version", SANJOG_VERSION},
             {"public_port", public_listener->port()},
             {"admin_port", admin_listener->port()},
             {"instances", gateway_->runtime()->instances.size()}});

  waitForTerminationRequest();

  log::info(kLog, "SIGTERM: draining");
  stopping_ = true;
  signals.join();
  {
    std::lock_guard<std::mutex> lock(reload_mutex_);
    public_listener_ = nullptr;
  }
  public_listener->stop();  // no new webhooks; requests in flight finish (and commit)
  gateway_->stopTimers();
  bus_->stop(std::chrono::seconds(10));  // attempts in flight finish; the rest stays stored
  admin_listener->stop();
  gateway_.reset();  // destroys the plugin instances
  bus_.reset();
  log::info(kLog, "stopped cleanly");
  return EXIT_OK;
}

// The working directory at start. --daemon makes POCO chdir("/"); relative
// paths (--config, storage.path, plugin_dir) keep meaning what the user
// typed, so main() goes back to it.
std::filesystem::path& startDirectory() {
  static std::filesystem::path dir;
  return dir;
}

int SanjogApp::main(const std::vector<std::string>&) {
  std::error_code ec;
  if (!startDirectory().empty()) std::filesystem::current_path(startDirectory(), ec);
  if (help_) {
    Poco::Util::HelpFormatter help(options());
    help.setCommand(commandName());
    help.setUsage(
        "[--config FILE] [--check-config] [--list-plugins] "
        "[--describe-plugin NAME [--markdown|--json]] [--daemon --pidfile FILE]");
    help.setHeader("Sanjog integration gateway daemon.");
    help.format(std::cout);
    return EXIT_OK;
  }
  if (version_) {
    std::cout << "sanjogd " << SANJOG_VERSION << " (plugin ABI " << SANJOG_ABI_MAJOR << "."
              << SANJOG_ABI_MINOR << ")\n";
    return EXIT_OK;
  }
  if (list_plugins_ || !describe_.empty()) {
    loadPlugins(pluginDirFor(""));
    return list_plugins_ ? listPlugins() : describePlugin();
  }
  auto loaded = loadConfig();
  if (auto* errors = std::get_if<std::vector<config::ConfigError>>(&loaded)) {
    for (const auto& e : *errors) std::fprintf(stderr, "%s\n", e.toString().c_str());
    std::fprintf(stderr, "config %s is invalid (%zu problem%s)\n",
                 config_path_.empty() ? "(embedded)" : config_path_.c_str(), errors->size(),
                 errors->size() == 1 ? "" : "s");
    return EXIT_CONFIG;
  }
  if (check_config_) {
    std::printf("config %s is valid\n", config_path_.empty() ? "(embedded)" : config_path_.c_str());
    return EXIT_OK;
  }
  return serve(std::move(std::get<config::Config>(loaded)));
}

}  // namespace

int runMain(int argc, char** argv) {
  // Every thread inherits this mask: SIGHUP is taken only by sigtimedwait in
  // the signal thread. Broken connections must not kill the process.
  // SIGTERM, SIGINT and SIGQUIT too: POCO's waitForTerminationRequest
  // blocks them only in the main thread before sigwait, and a process signal
  // may be delivered to any thread that does not block it, whose default
  // action kills the process (exit 143 instead of a drain, seen once in a
  // long SIGTERM run). Blocked everywhere, only sigwait takes them.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGHUP);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGQUIT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
  std::error_code ec;
  startDirectory() = std::filesystem::current_path(ec);
  Poco::Net::initializeSSL();
  int rc = 0;
  {
    SanjogApp app;
    rc = app.run(argc, argv);
  }
  Poco::Net::uninitializeSSL();
  return rc;
}

}  // namespace sanjog::app
