#include "integration/kannel.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <thread>

namespace sanjog::testing {

namespace {
constexpr const char* kBearerbox = "/usr/sbin/bearerbox";
constexpr const char* kSmsbox = "/usr/sbin/smsbox";
constexpr const char* kFakesmsc = "/usr/lib/kannel/test/fakesmsc";

bool listening(uint16_t port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  close(fd);
  return ok;
}

bool waitListening(uint16_t port, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (listening(port)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // poll, bounded by the deadline
  }
  return false;
}

std::string readFile(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
}  // namespace

uint16_t freeTcpPort() {
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

Kannel::Kannel() {
  dir_ = std::filesystem::temp_directory_path() /
         ("sanjog-kannel-" + std::to_string(getpid()) + "-" + std::to_string(freeTcpPort()));
  std::filesystem::create_directories(dir_);
}

Kannel::~Kannel() {
  stop();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

bool Kannel::installed() {
  return std::filesystem::exists(kBearerbox) && std::filesystem::exists(kSmsbox) &&
         std::filesystem::exists(kFakesmsc);
}

pid_t Kannel::spawn(const std::vector<std::string>& argv, const std::string& out_file) {
  const pid_t pid = fork();
  if (pid == 0) {
    const int fd = open((dir_ / out_file).c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  pids_.push_back(pid);
  return pid;
}

::testing::AssertionResult Kannel::start(const std::string& mo_url, const std::string& mo_message) {
  if (!installed()) {
    return ::testing::AssertionFailure() << "Kannel is not installed (Debian kannel and "
                                            "kannel-extras; scripts/setup.sh installs them)";
  }
  admin_port_ = freeTcpPort();
  box_port_ = freeTcpPort();
  smsc_port_ = freeTcpPort();
  sendsms_port_ = freeTcpPort();
  std::ofstream conf(dir_ / "kannel.conf");
  conf << "group = core\nadmin-port = " << admin_port_ << "\nadmin-password = test\n"
       << "admin-interface = 127.0.0.1\nsmsbox-port = " << box_port_
       << "\nbox-allow-ip = \"127.0.0.1\"\nadmin-allow-ip = \"127.0.0.1\"\n"
       << "log-file = \"" << (dir_ / "bearerbox.log").string() << "\"\nlog-level = 0\n"
       << "dlr-storage = internal\n\n"
       << "group = smsc\nsmsc = fake\nsmsc-id = FAKE\nport = " << smsc_port_
       << "\nconnect-allow-ip = \"127.0.0.1\"\n\n"
       << "group = smsbox\nbearerbox-host = 127.0.0.1\nbearerbox-port = " << box_port_
       << "\nsendsms-port = " << sendsms_port_ << "\nsendsms-interface = 127.0.0.1\n"
       << "log-file = \"" << (dir_ / "smsbox.log").string() << "\"\nlog-level = 0\n"
       << "mo-recode = true\n\n"
       << "group = sendsms-user\nusername = sanjog\npassword = kannel-test-pass\n"
       << "max-messages = 10\nconcatenation = true\n\n"
       << "group = sms-service\nkeyword = default\ncatch-all = true\nmax-messages = 0\n"
       << "get-url = \"" << mo_url << "\"\n";
  conf.close();
  spawn({kBearerbox, (dir_ / "kannel.conf").string()}, "bearerbox.out");
  if (!waitListening(smsc_port_, std::chrono::seconds(10)) ||
      !waitListening(box_port_, std::chrono::seconds(10))) {
    return ::testing::AssertionFailure() << "bearerbox did not start:\n" << logs();
  }
  std::vector<std::string> fake = {kFakesmsc,
                                   "-H",
                                   "127.0.0.1",
                                   "-r",
                                   std::to_string(smsc_port_),
                                   "-i",
                                   "0.5",
                                   "-m",
                                   mo_message.empty() ? "0" : "1"};
  fake.push_back(mo_message.empty() ? "0 0 text none" : mo_message);
  spawn(fake, "fakesmsc.out");
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult Kannel::startSmsbox() {
  spawn({kSmsbox, (dir_ / "kannel.conf").string()}, "smsbox.out");
  if (!waitListening(sendsms_port_, std::chrono::seconds(10))) {
    return ::testing::AssertionFailure() << "smsbox did not start:\n" << logs();
  }
  return ::testing::AssertionSuccess();
}

void Kannel::stop() {
  for (auto it = pids_.rbegin(); it != pids_.rend(); ++it) kill(*it, SIGKILL);
  for (pid_t pid : pids_) waitpid(pid, nullptr, 0);
  pids_.clear();
}

std::string Kannel::smscOutput() const { return readFile(dir_ / "fakesmsc.out"); }

std::string Kannel::logs() const {
  std::string out;
  for (const char* f :
       {"bearerbox.log", "smsbox.log", "fakesmsc.out", "bearerbox.out", "smsbox.out"}) {
    out += "---- " + std::string(f) + "\n" + readFile(dir_ / f);
  }
  return out;
}

}  // namespace sanjog::testing
