#include "integration/daemon.h"

#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/StreamCopier.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

namespace sanjog::testing {

namespace {

std::string base64(const unsigned char* data, size_t n) {
  std::string out(4 * ((n + 2) / 3) + 1, '\0');
  const int len =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(n));
  out.resize(static_cast<size_t>(len));
  return out;
}

std::string unbase64(const std::string& text) {
  std::string out(text.size(), '\0');
  int len = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                            reinterpret_cast<const unsigned char*>(text.data()),
                            static_cast<int>(text.size()));
  if (len < 0) return "";
  size_t pad = 0;
  for (size_t i = text.size(); i > 0 && text[i - 1] == '='; --i) ++pad;
  out.resize(static_cast<size_t>(len) - pad);
  return out;
}

std::string readAll(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

std::string signStandardWebhook(const std::string& secret, const std::string& id, int64_t ts,
                                const std::string& body) {
  const std::string key = unbase64(secret.substr(secret.rfind("whsec_", 0) == 0 ? 6 : 0));
  const std::string content = id + "." + std::to_string(ts) + "." + body;
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(content.data()), content.size(), mac, &len);
  return "v1," + base64(mac, len);
}

int64_t nowSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string Daemon::binary() { return std::string(SANJOG_BINARY_DIR) + "/bin/sanjogd"; }

void Daemon::pollPause() { std::this_thread::sleep_for(std::chrono::milliseconds(20)); }

Daemon::Daemon() {
  std::random_device rd;
  dir_ = std::filesystem::temp_directory_path() /
         ("sanjog-it-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
  std::filesystem::create_directories(dir_);
}

Daemon::~Daemon() {
  if (pid_ > 0) stop(SIGKILL, std::chrono::seconds(5));
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  if (info != nullptr && info->result()->Failed()) {
    std::cerr << "---- sanjogd log (" << dir_ << ") ----\n" << log() << "---- end of log ----\n";
  } else {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

nlohmann::json Daemon::baseConfig() const {
  return {{"version", 1},
          {"server", {{"listen", "127.0.0.1:0"}, {"max_body_bytes", 65536}, {"threads", 8}}},
          {"admin", {{"listen", "127.0.0.1:0"}, {"token", kAdminToken}}},
          {"api", {{"keys", {kApiKey}}}},
          {"storage", {{"path", (dir_ / "data" / "sanjog.db").string()}, {"sync", "normal"}}},
          {"bus", {{"workers", 4}}},
          {"plugin_dir", SANJOG_PLUGIN_BUILD_DIR},
          {"instances", nlohmann::json::array()},
          {"routes", nlohmann::json::array()}};
}

void Daemon::writeConfig(const nlohmann::json& config) { writeRawConfig(config.dump(2)); }

void Daemon::writeRawConfig(const std::string& text) {
  const auto tmp = configPath().string() + ".tmp";
  std::ofstream(tmp, std::ios::trunc) << text;
  std::filesystem::rename(tmp, configPath());
}

::testing::AssertionResult Daemon::start(std::chrono::milliseconds timeout) {
  if (!std::filesystem::exists(binary())) {
    return ::testing::AssertionFailure() << "sanjogd is not built: " << binary();
  }
  const auto ports = dir_ / "ports.json";
  std::filesystem::remove(ports);
  const std::string log_path = (dir_ / "sanjogd.log").string();
  ++starts_;
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    // The daemon must not inherit the test's sockets: a fake server's
    // listener kept open in sanjogd would go on accepting after the test
    // closed it (an outage that never happens).
    ::close_range(3, ~0U, 0);
    const std::string bin = binary();
    const std::string cfg = configPath().string();
    const std::string pf = ports.string();
    ::execl(bin.c_str(), bin.c_str(), "--config", cfg.c_str(), "--ports-file", pf.c_str(),
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  pid_ = pid;
  const bool up = waitFor(
      [&] {
        int status = 0;
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
          pid_ = -1;
          return true;  // exited: reported below
        }
        if (!std::filesystem::exists(ports)) return false;
        auto j = nlohmann::json::parse(readAll(ports), nullptr, false);
        if (!j.is_object()) return false;
        public_port_ = j.value("public", 0);
        admin_port_ = j.value("admin", 0);
        return request(admin_port_, "GET", "/readyz").status == 200;
      },
      timeout);
  if (pid_ <= 0) return ::testing::AssertionFailure() << "sanjogd exited at start:\n" << log();
  if (!up) return ::testing::AssertionFailure() << "sanjogd not ready in time:\n" << log();
  return ::testing::AssertionSuccess();
}

void Daemon::sendSignal(int signal) const {
  if (pid_ > 0) ::kill(pid_, signal);
}

int Daemon::stop(int signal, std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return -1;
  ::kill(pid_, signal);
  int status = 0;
  const bool exited = waitFor([&] { return ::waitpid(pid_, &status, WNOHANG) == pid_; }, timeout);
  if (!exited) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return -1;
  }
  pid_ = -1;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

HttpResult Daemon::request(uint16_t port, const std::string& method, const std::string& path,
                           const std::string& body,
                           const std::vector<std::pair<std::string, std::string>>& headers) const {
  HttpResult out;
  try {
    Poco::Net::HTTPClientSession session("127.0.0.1", port);
    session.setTimeout(Poco::Timespan(10, 0));
    Poco::Net::HTTPRequest req(method, path, Poco::Net::HTTPMessage::HTTP_1_1);
    for (const auto& [k, v] : headers) req.set(k, v);
    if (!body.empty() || method == "POST") {
      req.setContentLength(static_cast<std::streamsize>(body.size()));
      if (!req.has("Content-Type")) req.setContentType("application/json");
    }
    session.sendRequest(req) << body;
    Poco::Net::HTTPResponse res;
    std::istream& in = session.receiveResponse(res);
    out.status = res.getStatus();
    for (const auto& [k, v] : res) {
      std::string lower = k;
      std::transform(lower.begin(), lower.end(), lower.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      out.headers[lower] = v;
    }
    Poco::StreamCopier::copyToString(in, out.body);
  } catch (const std::exception& e) {
    out.status = 0;
    out.body = e.what();
  }
  return out;
}

HttpResult Daemon::admin(const std::string& method, const std::string& path,
                         const std::string& body) const {
  return request(admin_port_, method, path, body,
                 {{"Authorization", std::string("Bearer ") + kAdminToken}});
}

HttpResult Daemon::postSigned(const std::string& instance, const std::string& secret,
                              const std::string& webhook_id, const std::string& body,
                              int64_t timestamp) const {
  const int64_t ts = timestamp != 0 ? timestamp : nowSeconds();
  return publicRequest("POST", "/webhooks/" + instance, body,
                       {{"webhook-id", webhook_id},
                        {"webhook-timestamp", std::to_string(ts)},
                        {"webhook-signature", signStandardWebhook(secret, webhook_id, ts, body)}});
}

std::string Daemon::metricsText() const { return request(admin_port_, "GET", "/metrics").body; }

double Daemon::metric(const std::string& name,
                      const std::map<std::string, std::string>& labels) const {
  std::string key = name;
  if (!labels.empty()) {
    key += "{";
    bool first = true;
    for (const auto& [k, v] : labels) {  // prometheus-cpp prints labels sorted
      key += (first ? "" : ",") + k + "=\"" + v + "\"";
      first = false;
    }
    key += "}";
  }
  std::istringstream in(metricsText());
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key + " ", 0) == 0) return std::stod(line.substr(key.size() + 1));
  }
  return 0;
}

std::string Daemon::log() const { return readAll(dir_ / "sanjogd.log"); }

int Daemon::runOnce(const std::vector<std::string>& args, std::string& output) const {
  std::string cmd = binary();
  for (const auto& a : args) cmd += " '" + a + "'";
  cmd += " > '" + (dir_ / "once.log").string() + "' 2>&1";
  const int rc = std::system(cmd.c_str());
  output = readAll(dir_ / "once.log");
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

}  // namespace sanjog::testing
