#include "support/nats_cluster.h"

#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/StreamCopier.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

namespace sanjog::testing {

namespace {

constexpr const char* kDebianPath = "/usr/sbin/nats-server";
constexpr auto kPoll = std::chrono::milliseconds(20);

bool executable(const std::filesystem::path& p) {
  std::error_code ec;
  return std::filesystem::is_regular_file(p, ec) && access(p.c_str(), X_OK) == 0;
}

// A port nothing listens on right now (bind to 0, read it, close).
int unusedPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

int portOf(const std::string& url) {  // "nats://127.0.0.1:4222"
  const size_t colon = url.rfind(':');
  return colon == std::string::npos ? -1 : std::atoi(url.c_str() + colon + 1);
}

std::string readFile(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// GET http://127.0.0.1:port/path as JSON; nullopt when it does not answer.
std::optional<nlohmann::json> getJson(int port, const std::string& path) {
  try {
    Poco::Net::HTTPClientSession session("127.0.0.1", static_cast<Poco::UInt16>(port));
    session.setTimeout(Poco::Timespan(2, 0));
    Poco::Net::HTTPRequest req(Poco::Net::HTTPRequest::HTTP_GET, path,
                               Poco::Net::HTTPMessage::HTTP_1_1);
    session.sendRequest(req);
    Poco::Net::HTTPResponse res;
    std::istream& in = session.receiveResponse(res);
    std::string body;
    Poco::StreamCopier::copyToString(in, body);
    if (res.getStatus() != Poco::Net::HTTPResponse::HTTP_OK) return std::nullopt;
    auto json = nlohmann::json::parse(body, nullptr, false);
    if (json.is_discarded()) return std::nullopt;
    return json;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

}  // namespace

NatsCluster::NatsCluster(int nodes) {
  static std::atomic<int> counter{0};
  dir_ = std::filesystem::temp_directory_path() /
         ("sanjog-nats-" + std::to_string(getpid()) + "-" + std::to_string(counter++));
  std::filesystem::remove_all(dir_);
  for (int i = 0; i < nodes; ++i) {
    Node node;
    node.dir = dir_ / serverName(i);
    std::filesystem::create_directories(node.dir);
    nodes_.push_back(node);
  }
}

NatsCluster::~NatsCluster() {
  stop();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

std::string NatsCluster::serverPath() {
  if (const char* env = std::getenv("SANJOG_NATS_SERVER"); env != nullptr && *env != '\0') {
    return executable(env) ? env : "";
  }
  if (executable(kDebianPath)) return kDebianPath;
  if (const char* path = std::getenv("PATH"); path != nullptr) {
    std::stringstream dirs(path);
    for (std::string d; std::getline(dirs, d, ':');) {
      const auto candidate = std::filesystem::path(d.empty() ? "." : d) / "nats-server";
      if (executable(candidate)) return candidate.string();
    }
  }
  return "";
}

std::string NatsCluster::notInstalledReason() {
  if (const char* env = std::getenv("SANJOG_NATS_SERVER"); env != nullptr && *env != '\0') {
    return std::string("SANJOG_NATS_SERVER=") + env + " is not an executable file";
  }
  return std::string("nats-server not found (not at ") + kDebianPath +
         " nor on PATH; Debian package nats-server, installed by scripts/setup.sh; or set "
         "SANJOG_NATS_SERVER)";
}

void NatsCluster::writeConfig(int i) const {
  const Node& node = nodes_.at(static_cast<size_t>(i));
  std::ofstream conf(node.dir / "nats.conf");
  conf << "server_name: " << serverName(i) << "\n"
       << "listen: 127.0.0.1:" << node.client_port << "\n"
       << "http: 127.0.0.1:" << node.monitor_port << "\n"
       << "ports_file_dir: \"" << node.dir.string() << "\"\n"
       << "jetstream {\n"
       << "  store_dir: \"" << (node.dir / "store").string() << "\"\n"
       << "  max_memory_store: 64MB\n"
       << "  max_file_store: 1GB\n"
       << "}\n";
  if (!tls_cert_.empty()) {
    conf << "tls {\n  cert_file: \"" << tls_cert_ << "\"\n  key_file: \"" << tls_key_ << "\"\n}\n";
  }
  if (nodes_.size() > 1) {
    conf << "cluster {\n"
         << "  name: sanjog-test\n"
         << "  listen: 127.0.0.1:" << node.cluster_port << "\n"
         << "  routes: [\n";
    for (size_t j = 0; j < nodes_.size(); ++j) {
      if (static_cast<int>(j) == i) continue;
      conf << "    nats-route://127.0.0.1:" << nodes_[j].cluster_port << "\n";
    }
    conf << "  ]\n}\n";
  }
}

::testing::AssertionResult NatsCluster::start(std::chrono::milliseconds timeout) {
  if (!installed()) return ::testing::AssertionFailure() << notInstalledReason();
  for (int i = 0; i < size(); ++i) {
    if (running(i)) continue;
    if (auto started = startNode(i); !started) return started;
  }
  return waitReady(timeout);
}

::testing::AssertionResult NatsCluster::startNode(int i) {
  const std::string server = serverPath();
  if (server.empty()) return ::testing::AssertionFailure() << notInstalledReason();
  Node& node = nodes_.at(static_cast<size_t>(i));
  if (node.pid > 0) return ::testing::AssertionFailure() << serverName(i) << " is running";
  if (nodes_.size() > 1) {
    for (auto& n : nodes_) {
      if (n.cluster_port < 0) n.cluster_port = unusedPort();
    }
  }
  writeConfig(i);
  const std::string conf = (node.dir / "nats.conf").string();
  const std::string log = (node.dir / "server.log").string();
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);  // no orphaned servers when the test dies
    if (getppid() != parent) _exit(127);
    const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    execl(server.c_str(), server.c_str(), "-c", conf.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  if (pid < 0) return ::testing::AssertionFailure() << "fork failed";
  node.pid = pid;

  const auto ports_file = node.dir / ("nats-server_" + std::to_string(pid) + ".ports");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      node.pid = 0;
      return ::testing::AssertionFailure() << serverName(i) << " exited at start:\n" << logs();
    }
    auto ports = nlohmann::json::parse(readFile(ports_file), nullptr, false);
    if (!ports.is_discarded() && ports.contains("nats") && ports.contains("monitoring")) {
      node.client_port = portOf(ports["nats"].at(0).get<std::string>());
      node.monitor_port = portOf(ports["monitoring"].at(0).get<std::string>());
      return ::testing::AssertionSuccess();
    }
    std::this_thread::sleep_for(kPoll);  // poll, bounded by the deadline
  }
  terminate(i, SIGKILL);
  return ::testing::AssertionFailure() << serverName(i) << " wrote no ports file:\n" << logs();
}

void NatsCluster::terminate(int i, int signal) {
  if (running(i)) kill(nodes_[static_cast<size_t>(i)].pid, signal);
  reap(i);
}

void NatsCluster::reap(int i) {
  Node& node = nodes_.at(static_cast<size_t>(i));
  if (node.pid <= 0) return;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (waitpid(node.pid, nullptr, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      kill(node.pid, SIGKILL);
      waitpid(node.pid, nullptr, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // poll, bounded by the deadline
  }
  node.pid = 0;
}

void NatsCluster::stopNode(int i) { terminate(i, SIGTERM); }

void NatsCluster::killNode(int i) { terminate(i, SIGKILL); }

void NatsCluster::stop() {
  for (int i = 0; i < size(); ++i) {  // all at once, then wait for each
    if (running(i)) kill(nodes_[static_cast<size_t>(i)].pid, SIGTERM);
  }
  for (int i = 0; i < size(); ++i) reap(i);
}

::testing::AssertionResult NatsCluster::waitReady(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string why = "no node is running";
  while (std::chrono::steady_clock::now() < deadline) {
    std::vector<int> up;
    for (int i = 0; i < size(); ++i) {
      if (running(i)) up.push_back(i);
    }
    bool ready = !up.empty();
    std::set<std::string> leaders;
    std::map<std::string, nlohmann::json> meta;  // node name -> meta_cluster
    for (const int i : up) {
      const int port = nodes_[static_cast<size_t>(i)].monitor_port;
      auto jsz = getJson(port, "/jsz");
      if (!jsz || !jsz->contains("config")) {
        why = serverName(i) + ": no JetStream on /jsz";
        ready = false;
        break;
      }
      if (size() == 1) continue;
      auto routez = getJson(port, "/routez");
      const int routes = routez ? routez->value("num_routes", 0) : 0;
      if (routes != static_cast<int>(up.size()) - 1) {
        why = serverName(i) + ": " + std::to_string(routes) + " routes";
        ready = false;
        break;
      }
      const auto mc = jsz->value("meta_cluster", nlohmann::json::object());
      leaders.insert(mc.value("leader", ""));
      meta[serverName(i)] = mc;
    }
    if (ready && size() > 1) {
      if (leaders.size() != 1 || leaders.begin()->empty() || !meta.count(*leaders.begin())) {
        why = "no agreed JetStream meta leader";
        ready = false;
      } else {
        const std::string leader = *leaders.begin();
        std::set<std::string> current;
        for (const auto& r : meta[leader].value("replicas", nlohmann::json::array())) {
          if (r.value("current", false)) current.insert(r.value("name", ""));
        }
        for (const int i : up) {
          if (serverName(i) != leader && !current.count(serverName(i))) {
            why = "meta leader " + leader + " does not see " + serverName(i) + " as current";
            ready = false;
          }
        }
      }
    }
    if (ready) return ::testing::AssertionSuccess();
    std::this_thread::sleep_for(kPoll);  // poll, bounded by the deadline
  }
  return ::testing::AssertionFailure() << "cluster not ready: " << why << "\n" << logs();
}

std::vector<std::string> NatsCluster::clientUrls() const {
  std::vector<std::string> urls;
  for (int i = 0; i < size(); ++i) urls.push_back(clientUrl(i));
  return urls;
}

std::string NatsCluster::clientUrl(int i) const {
  return "nats://127.0.0.1:" + std::to_string(nodes_.at(static_cast<size_t>(i)).client_port);
}

int NatsCluster::streamLeader(const std::string& stream) const {
  for (int i = 0; i < size(); ++i) {
    if (!running(i)) continue;
    auto jsz =
        getJson(nodes_[static_cast<size_t>(i)].monitor_port, "/jsz?accounts=true&streams=true");
    if (!jsz) continue;
    for (const auto& account : jsz->value("account_details", nlohmann::json::array())) {
      for (const auto& s : account.value("stream_detail", nlohmann::json::array())) {
        if (s.value("name", "") != stream) continue;
        const std::string leader = s.value("cluster", nlohmann::json::object()).value("leader", "");
        for (int j = 0; j < size(); ++j) {
          if (serverName(j) == leader) return j;
        }
      }
    }
  }
  return -1;
}

std::string NatsCluster::logs() const {
  std::string out;
  for (int i = 0; i < size(); ++i) {
    std::string log = readFile(nodes_[static_cast<size_t>(i)].dir / "server.log");
    if (log.size() > 4000) log = "..." + log.substr(log.size() - 4000);
    out += "---- " + serverName(i) + " server.log\n" + log;
  }
  return out;
}

}  // namespace sanjog::testing
