// Runs real nats-server processes with JetStream for tests: one node, or a
// cluster of three, on 127.0.0.1, each in its own temporary directory with a
// config file, its store and its log.
//
// Ports: client and monitoring ports are chosen by the server (-1) and read
// from its ports file (<dir>/nats-server_<pid>.ports). A clustered JetStream
// server refuses to start without configured routes, so the cluster ports are
// picked before the first start and every node routes to all the others. A
// restarted node keeps its name, store and all three ports, so it rejoins
// with its data and clients find it at the address they knew.
//
// Not thread-safe: one test thread drives it.
#pragma once

#include <gtest/gtest.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace sanjog::testing {

class NatsCluster {
 public:
  // `nodes`: 1 (plain JetStream) or 3 (a JetStream cluster).
  explicit NatsCluster(int nodes = 1);
  ~NatsCluster();  // stop(), then the temporary directory is removed
  NatsCluster(const NatsCluster&) = delete;
  NatsCluster& operator=(const NatsCluster&) = delete;

  // $SANJOG_NATS_SERVER, else /usr/sbin/nats-server (Debian), else
  // nats-server on PATH; "" when none exists.
  static std::string serverPath();
  static bool installed() { return !serverPath().empty(); }
  // Why a test skips: for GTEST_SKIP() when !installed().
  static std::string notInstalledReason();

  // Clients must use TLS with this certificate and key (PEM files); call
  // before start().
  void setTls(std::string cert_file, std::string key_file) {
    tls_cert_ = std::move(cert_file);
    tls_key_ = std::move(key_file);
  }

  // Starts every node and waits until the cluster is ready (waitReady).
  ::testing::AssertionResult start(std::chrono::milliseconds timeout = std::chrono::seconds(30));
  // Starts node i (0-based; its server_name is n<i+1>) and waits for its
  // ports file; it does not wait for the cluster (waitReady does).
  ::testing::AssertionResult startNode(int i);
  void stopNode(int i);  // SIGTERM, then waitpid (SIGKILL after 15 s)
  void killNode(int i);  // SIGKILL, then waitpid
  void stop();           // stops every running node

  // Polls until every running node answers its monitoring endpoint with
  // JetStream enabled and, for a cluster, all running nodes are routed to
  // each other, agree on a JetStream meta leader, and the leader sees every
  // other running node as current.
  ::testing::AssertionResult waitReady(
      std::chrono::milliseconds timeout = std::chrono::seconds(30));

  // The client URLs of all nodes (stopped ones too: they come back there).
  [[nodiscard]] std::vector<std::string> clientUrls() const;
  [[nodiscard]] std::string clientUrl(int i) const;
  [[nodiscard]] int size() const { return static_cast<int>(nodes_.size()); }
  [[nodiscard]] bool running(int i) const { return nodes_.at(static_cast<size_t>(i)).pid > 0; }
  [[nodiscard]] static std::string serverName(int i) { return "n" + std::to_string(i + 1); }
  // The node leading the stream (from the monitoring endpoint), -1 if none
  // is known.
  [[nodiscard]] int streamLeader(const std::string& stream) const;
  // The end of every node's log, for failure messages.
  [[nodiscard]] std::string logs() const;

 private:
  struct Node {
    std::filesystem::path dir;
    pid_t pid = 0;
    int client_port = -1;   // -1 until the first start
    int monitor_port = -1;  // -1 until the first start
    int cluster_port = -1;  // picked before the first start (cluster only)
  };
  void writeConfig(int i) const;
  std::string tls_cert_, tls_key_;
  void terminate(int i, int signal);  // signal, then reap
  void reap(int i);                   // waitpid, SIGKILL after 15 s
  std::filesystem::path dir_;
  std::vector<Node> nodes_;
};

}  // namespace sanjog::testing
