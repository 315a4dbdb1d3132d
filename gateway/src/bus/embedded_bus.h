// The embedded bus: one SQLite database in WAL mode (see embedded_bus.cpp
// for the schema and the dispatch algorithm). No external server needed.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "bus/bus.h"
#include "bus/targets.h"
#include "common/crypto_box.h"
#include "metrics/metrics.h"

struct sqlite3;

namespace sanjog::bus {

class EmbeddedBus final : public Bus {
 public:
  struct Options {
    std::string path = "var/sanjog.db";
    std::string sync = "full";            // "full" or "normal"
    metrics::Metrics* metrics = nullptr;  // may be null (tests)
    std::function<int64_t()> now_ms;      // default: the wall clock
    uint64_t seed = 0;                    // jitter randomness; 0: random
    // Events older than this are deleted with their deliveries and attempts
    // (dead letters included: the retention is also the replay window) by
    // purge(), which the dispatcher runs hourly; so are finished timers,
    // provider statuses and conversations without a customer message for as
    // long. Events with a pending delivery are kept. 0 keeps everything.
    std::chrono::milliseconds retention{0};
    // Upper bound of the database size (0: none). Writes beyond it fail like
    // a full disk: the batch is rolled back and its callers get kUnavailable.
    int64_t max_bytes = 0;
    // Seals payload columns (events.json, deliveries.rendered and
    // event_override, conversations.contact_json, kv.value, timers.payload)
    // with AES-256-GCM; null or empty: plaintext.
    std::shared_ptr<const crypto::Keyring> keyring;
  };

  static Result<std::unique_ptr<EmbeddedBus>> open(const Options& options);
  ~EmbeddedBus() override;
  EmbeddedBus(const EmbeddedBus&) = delete;
  EmbeddedBus& operator=(const EmbeddedBus&) = delete;

  Result<std::vector<AppendOutcome>> append(std::vector<AppendItem> items) override;
  void start(DeliverFn deliver, int workers, ExpiredFn expired = nullptr) override;
  void stop(std::chrono::milliseconds grace) override;
  void setTargets(std::map<std::string, TargetOptions> targets) override;
  void disableTarget(const std::string& target) override;
  [[nodiscard]] std::string circuitState(const std::string& target) const override;
  [[nodiscard]] bool isTargetDisabled(const std::string& target) const override;
  std::optional<EventTrace> event(const std::string& event_id) override;
  std::vector<DeliveryInfo> deadLetters(const DeadLetterFilter& filter) override;
  Result<int64_t> replayDeadLetter(int64_t delivery_id) override;
  Result<BulkOutcome> replayDeadLetters(const DeadLetterFilter& filter) override;
  Result<int64_t> deleteDeadLetter(int64_t delivery_id) override;
  Result<BulkOutcome> deleteDeadLetters(const DeadLetterFilter& filter) override;
  Result<int64_t> countDeadLetters(const DeadLetterFilter& filter) override;
  Result<EventPage> findEvents(const EventQuery& query) override;
  std::map<std::string, TargetStats> stats() override;
  void refreshGauges() override;
  std::optional<Conversation> conversation(const std::string& conversation_id) override;
  std::optional<SentMessage> sentMessage(const std::string& target,
                                         const std::string& provider_message_id) override;
  std::optional<MessageState> messageState(const std::string& instance,
                                           const std::string& provider_message_id) override;
  std::vector<Timer> dueTimers(int64_t now_ms, size_t limit) override;
  std::optional<int64_t> nextTimerDue() override;
  std::optional<Timer> timer(const std::string& key) override;
  Result<bool> fireTimer(const std::string& key, int64_t due_ms, const std::string& state,
                         std::vector<AppendItem> items) override;
  Result<bool> postponeTimer(const std::string& key, int64_t due_ms, int64_t new_due_ms) override;
  int64_t pendingTimers() override;
  std::optional<std::string> kvGet(const std::string& instance, const std::string& key) override;
  Status kvPut(const std::string& instance, const std::string& key, const std::string& value,
               std::chrono::milliseconds ttl) override;
  Status kvDelete(const std::string& instance, const std::string& key) override;
  Result<ContactData> contactData(const std::string& contact) override;
  Result<ErasureCounts> eraseContact(const std::string& contact) override;
  [[nodiscard]] bool healthy() const override;

  // Replaces the keys (config reload): new data is sealed with the new
  // current key; data sealed before keeps opening with any key listed.
  void setKeyring(std::shared_ptr<const crypto::Keyring> keyring);

  // Wakes the dispatcher (after a test advanced its fake clock).
  void poke();
  // Applies the retention (see Options::retention) and drops expired KV
  // entries; returns the number of events deleted.
  Result<int64_t> purge();
  // Number of transactions committed by the writer (group commit shows as
  // commits < appends).
  [[nodiscard]] int64_t commitCount() const { return commits_.load(); }

 private:
  // A unit of work for the writer thread, run inside the shared transaction.
  struct WriteJob {
    std::function<Status(sqlite3*)> run;
    Status result;
    bool done = false;
    size_t events = 0;  // for the batch-size histogram
    // Set by writeAsync: run on the writer thread once the batch is
    // committed (or failed), instead of waking a waiting caller.
    std::function<void(const Status&)> then;
  };

  explicit EmbeddedBus(Options options);
  Status initialize();
  Status write(std::function<Status(sqlite3*)> run, size_t events = 0);
  void writeAsync(std::function<Status(sqlite3*)> run, std::function<void(const Status&)> then);
  void writerLoop();
  void dispatcherLoop();
  void workerLoop();
  void runDelivery(int64_t id);
  void attemptEnded(const std::string& target);
  int64_t now() const;
  void countTimerOps(const std::vector<AppendOutcome>& outcomes);
  [[nodiscard]] std::shared_ptr<const crypto::Keyring> keyring() const;
  // Payload columns in and out (see Options::keyring).
  void seal(std::vector<AppendItem>& items) const;
  std::string sealText(const std::string& plaintext) const;
  std::string openText(const std::string& stored) const;
  void openDelivery(DeliveryInfo& info) const;
  // The conversations whose id, address, phone, email or contact id is
  // `contact`; adds every identifier they carry to `keys`.
  std::vector<Conversation> selectConversations(sqlite3* db, const std::string& contact,
                                                std::set<std::string>* keys) const;
  // The rows about `contact` on connection `db` (see contactData).
  ContactData selectContact(sqlite3* db, const std::string& contact) const;

  Options options_;
  mutable std::mutex keyring_mutex_;
  std::shared_ptr<const crypto::Keyring> keyring_;
  sqlite3* writer_db_ = nullptr;
  sqlite3* reader_db_ = nullptr;
  mutable std::mutex reader_mutex_;
  std::atomic<bool> healthy_{false};
  // steady_clock ms of the last failed commit; storage counts as unhealthy
  // for kUnhealthyAfterFailureMs after it (small writes may still fit while
  // webhooks are refused, so "the last commit worked" would flap).
  std::atomic<int64_t> last_failure_ms_{-1};
  std::atomic<int64_t> commits_{0};

  // Writer.
  std::mutex write_mutex_;
  std::condition_variable write_cv_;       // jobs queued
  std::condition_variable write_done_cv_;  // a batch finished
  std::deque<std::shared_ptr<WriteJob>> write_queue_;
  bool writer_stop_ = false;
  std::thread writer_;

  // Dispatch.
  mutable std::mutex dispatch_mutex_;
  std::condition_variable dispatch_cv_;
  std::condition_variable work_cv_;
  std::condition_variable idle_cv_;
  Targets targets_;  // options, guards, disabled marks, attempts in flight
  void recordGuard(const std::string& target, Outcome outcome, int64_t now_ms);
  std::set<std::pair<std::string, std::string>> running_keys_;
  std::deque<int64_t> ready_;
  int busy_workers_ = 0;
  // Delivery results handed to the writer and not yet committed: their rows
  // stay "running" until then, and stop() waits for them.
  int results_pending_ = 0;
  int worker_count_ = 0;
  bool dispatch_stop_ = false;
  bool started_ = false;
  uint64_t wake_generation_ = 0;
  int64_t last_purge_ms_ = 0;
  DeliverFn deliver_;
  ExpiredFn expired_;
  std::thread dispatcher_;
  std::vector<std::thread> workers_;
  std::mutex rng_mutex_;
  std::mt19937_64 rng_;
};

}  // namespace sanjog::bus
