// Building blocks of the crash and fault tests: a load generator that posts
// signed events per conversation the way a provider does (retrying the same
// webhook id until it gets a 2xx), a killer thread that kills and restarts
// the daemon, and a delivery log that checks what a receiver got.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "fakes/fake_http_server.h"
#include "integration/daemon.h"

namespace sanjog::testing::chaos {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr const char* kSecretIn = "whsec_dGVzdC1zZWNyZXQtb2YtaW5zdGFuY2UtYQ==";
constexpr const char* kSecretOut = "whsec_dGVzdC1zZWNyZXQtb2YtaW5zdGFuY2UtYg==";

// Test size, from the environment so that the same tests are the short CI
// run and the long one (scripts/chaos.sh).
struct Settings {
  milliseconds load{3000};  // SANJOG_CHAOS_SECONDS: how long load runs
  int kills = 3;            // SANJOG_CHAOS_KILLS: kills (or SIGTERMs) during the load
  int conversations = 16;   // SANJOG_CHAOS_CONVERSATIONS
  int clients = 4;          // SANJOG_CHAOS_CLIENTS: posting threads
  milliseconds pace{4};     // SANJOG_CHAOS_PACE_MS: pause of a client between posts
  uint64_t seed = 0;        // SANJOG_CHAOS_SEED (default: random, printed)
  static Settings fromEnv();
};

inline int64_t millisBetween(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration_cast<milliseconds>(to - from).count();
}

// The daemon's public port as the clients see it. Daemon's own members are
// rewritten by Daemon::start on another thread, so clients read the port
// here: 0 while the daemon is down, and a new generation after each restart.
class Endpoint {
 public:
  struct View {
    uint16_t port = 0;
    uint64_t generation = 0;
  };
  void publish(uint16_t port);
  void markDown() { publish(0); }
  [[nodiscard]] View current() const;
  // Returns when the generation differs from `seen`, or after `timeout`.
  void awaitChange(uint64_t seen, milliseconds timeout) const;

 private:
  mutable std::mutex mutex_;
  mutable std::condition_variable cv_;
  View view_;
};

// One acknowledged (2xx) event.
struct Acked {
  std::string id;  // webhook id = provider id
  int conversation = 0;
  int seq = 0;
  Clock::time_point at;
};

// A contact.updated event of conversation "conv_<conversation>"; `padding`
// bytes make it bigger (to fill a disk).
std::string eventBody(const std::string& id, int conversation, int seq, size_t padding = 0);
std::string eventId(int conversation, int seq);

// Posts one signed event to /webhooks/a on `port`.
HttpResult postEvent(const Daemon& daemon, uint16_t port, const std::string& id,
                     const std::string& body);

// Client threads, each owning the conversations k with k % clients == index,
// post events round-robin over their conversations, one conversation's
// events strictly one after another: the next is posted only once the
// previous one was acknowledged, so acceptance order = sequence order.
class Load {
 public:
  Load(const Daemon& daemon, Endpoint& endpoint, const Settings& settings);
  ~Load();
  Load(const Load&) = delete;
  Load& operator=(const Load&) = delete;

  void start();
  // Stops posting new events; each client first gets its current event
  // acknowledged (the daemon may be restarting), giving up after `grace`.
  void stop(milliseconds grace = std::chrono::seconds(60));

  [[nodiscard]] std::vector<Acked> acked() const;
  [[nodiscard]] size_t ackedCount() const;
  [[nodiscard]] size_t sent() const { return sent_; }
  [[nodiscard]] size_t posts() const { return posts_; }
  [[nodiscard]] size_t abandoned() const { return abandoned_; }
  [[nodiscard]] std::vector<std::string> rejections() const;

 private:
  void client(int index);
  bool send(int conversation, int seq);
  bool givingUp() const;

  const Daemon& daemon_;
  Endpoint& endpoint_;
  Settings settings_;
  std::vector<std::thread> threads_;
  std::atomic<bool> stopping_{false};
  std::atomic<Clock::rep> give_up_at_{Clock::time_point::max().time_since_epoch().count()};
  std::atomic<size_t> sent_{0};
  std::atomic<size_t> posts_{0};
  std::atomic<size_t> abandoned_{0};
  mutable std::mutex mutex_;
  std::vector<Acked> acked_;
  std::vector<std::string> rejections_;  // unexpected answers (4xx), with the body
};

// Kills the daemon with `signal` at random moments (interval uniform in
// [min_interval, max_interval]) and restarts it on the same directory, at
// most `max_kills` times, until stopped.
class Killer {
 public:
  Killer(Daemon& daemon, Endpoint& endpoint, int signal, int max_kills, milliseconds min_interval,
         milliseconds max_interval, uint64_t seed);
  ~Killer();
  Killer(const Killer&) = delete;
  Killer& operator=(const Killer&) = delete;

  void start();
  void stop();  // joins; the daemon is running afterwards unless a restart failed

  [[nodiscard]] int kills() const { return kills_; }
  [[nodiscard]] int64_t downtimeMs() const { return downtime_ms_; }
  [[nodiscard]] const std::vector<std::string>& failures() const { return failures_; }
  // Waits until all kills are done (or a restart failed), up to `timeout`.
  bool waitDone(milliseconds timeout);

 private:
  void run();
  Daemon& daemon_;
  Endpoint& endpoint_;
  int signal_;
  int max_kills_;
  milliseconds min_interval_;
  milliseconds max_interval_;
  uint64_t seed_;
  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool stop_ = false;
  bool done_ = false;
  std::atomic<int> kills_{0};
  std::atomic<int64_t> downtime_ms_{0};
  std::vector<std::string> failures_;  // read after stop()
};

// What one receiver got, read incrementally from its recorded requests.
// A delivery is a request the receiver answered 2xx; the webhook-id of every
// attempt (whatever the answer) counts for key stability.
class DeliveryLog {
 public:
  explicit DeliveryLog(const FakeHttpServer& receiver) : receiver_(receiver) {}
  void poll();
  // Acknowledged events not delivered yet (polls first).
  size_t missing(const std::vector<Acked>& acked);
  [[nodiscard]] const Clock::time_point* firstDelivery(const std::string& id) const;

  [[nodiscard]] size_t unique() const { return first_.size(); }
  [[nodiscard]] size_t duplicatesSameKey() const { return dup_same_key_; }
  [[nodiscard]] size_t duplicatesDifferentKey() const;
  [[nodiscard]] size_t orderViolations() const { return order_violations_; }
  [[nodiscard]] size_t malformed() const { return malformed_; }
  [[nodiscard]] const std::vector<std::string>& examples() const { return examples_; }

 private:
  const FakeHttpServer& receiver_;
  size_t read_ = 0;
  std::unordered_map<std::string, Clock::time_point> first_;
  std::unordered_map<std::string, std::set<std::string>> keys_;
  std::map<std::string, int> last_seq_;  // conversation -> seq of its latest first delivery
  size_t dup_same_key_ = 0;
  size_t order_violations_ = 0;
  size_t malformed_ = 0;
  std::vector<std::string> examples_;  // a few violations, for the failure message
};

// The figures of one test, printed as one line `CHAOS {json}`.
struct Figures {
  std::string test;
  uint64_t seed = 0;
  size_t sent = 0;
  size_t acked = 0;
  size_t delivered = 0;
  size_t lost = 0;
  size_t dup_different_key = 0;
  size_t dup_same_key = 0;
  int kills = 0;
  int64_t outage_ms = 0;
  int64_t recovery_ms = 0;
  size_t order_violations = 0;
  nlohmann::json extra = nlohmann::json::object();

  void add(const DeliveryLog& log, const std::vector<Acked>& acked);
  // Prints the line, then checks nothing was lost, duplicated under another
  // key or reordered.
  void report() const;
};

}  // namespace sanjog::testing::chaos
