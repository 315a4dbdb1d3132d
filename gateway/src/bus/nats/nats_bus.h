// The NATS JetStream bus: several sanjogd processes share one bus and one
// state through a NATS cluster (docs/scaling.md). Same interface and the same
// guarantees as the embedded bus; where the data lives:
//
//   stream <S>           subjects <s>.ev.<partition>: one message per stored
//                        event (the event, its deliveries, or one replayed
//                        delivery), Nats-Msg-Id = the provider's id
//   stream <S>_DLQ       subjects <s>.dlq.<delivery id>: dead letters
//   KV <S>_dedup         (instance, provider id) -> first event id
//   KV <S>_trace         event id -> stream sequence, delivery states, attempts
//   KV <S>_conv          conversation registry
//   KV <S>_state         per-instance key-value state (with expiry)
//   KV <S>_timers        durable timers
//   KV <S>_msg           provider statuses and sent messages
//   KV <S>_lease         member heartbeats, partition and timer leases (TTL)
//
// Deliveries: events are partitioned by conversation (or event id) hash.
// Each partition has one durable pull consumer and one owner at a time (a
// lease in <S>_lease, renewed every lease/3; members share the partitions
// evenly). The owner keeps the partition's deliveries in memory, one queue
// per (target, conversation), retries with the target's policy, and acks an
// event's message only when all its deliveries are done or dead (without
// waiting for the server's confirmation: the trace says what is done, so a
// lost ack only brings the message back to be skipped); until then it
// extends the message's ack wait. The dispatcher reads a due index (each
// queue's first delivery, by target and due time), so a pass costs what it
// starts, not the number of conversations waiting. A dead owner's unacked
// messages come back after the ack wait to the next owner, which first
// collects them (every message still pending when it took over) and then
// goes on in stream order, so a conversation stays in order across the
// failover. A message
// that reached the consumer's max_deliver (its owners died on it) becomes
// a dead letter ("max_deliver") instead of being tried again.
//
// Threading: every method is thread-safe.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <thread>
#include <tuple>

#include <nlohmann/json.hpp>

#include "bus/bus.h"
#include "bus/nats/jetstream.h"
#include "bus/targets.h"
#include "common/crypto_box.h"
#include "metrics/metrics.h"

namespace sanjog::bus {

class NatsBus final : public Bus {
 public:
  struct Options {
    std::vector<std::string> urls;  // nats://host:port, at least one
    std::string credentials_file;   // "" for none
    std::string ca_file;            // extra trust anchors for TLS (PEM), "" for none
    std::string stream = "SANJOG";  // names the streams, buckets and subjects
    int replicas = 1;               // of every stream and bucket (1, 3 or 5)
    int partitions = 16;
    // How long an owner may hold an event message without a sign of life
    // before JetStream hands it to another instance.
    std::chrono::milliseconds ack_wait{30'000};
    // Deliveries of one event message to owners that died on it; the last
    // one turns its deliveries into dead letters (reason max_deliver).
    int max_deliver = 5;
    std::chrono::milliseconds lease{6'000};
    // JetStream's dedup window for Nats-Msg-Id; older duplicates are caught
    // by <S>_dedup, kept for dedup_ttl.
    std::chrono::milliseconds duplicate_window{120'000};
    std::chrono::milliseconds dedup_ttl{7LL * 24 * 3600 * 1000};
    std::chrono::milliseconds retention{0};          // events and traces; 0 keeps everything
    std::chrono::milliseconds connect_wait{10'000};  // open() waits this long for a server
    std::string member;  // this process's name in the cluster; "" for host-pid-random
    metrics::Metrics* metrics = nullptr;
    std::shared_ptr<const crypto::Keyring> keyring;
    uint64_t seed = 0;
  };

  static Result<std::unique_ptr<NatsBus>> open(const Options& options);
  ~NatsBus() override;
  NatsBus(const NatsBus&) = delete;
  NatsBus& operator=(const NatsBus&) = delete;

  Result<std::vector<AppendOutcome>> append(std::vector<AppendItem> items) override;
  void start(DeliverFn deliver, int workers, ExpiredFn expired = nullptr) override;
  void stop(std::chrono::milliseconds grace) override;
  void setTargets(std::map<std::string, TargetOptions> targets) override;
  void disableTarget(const std::string& target) override;
  [[nodiscard]] bool isTargetDisabled(const std::string& target) const override;
  [[nodiscard]] std::string circuitState(const std::string& target) const override;
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
  nlohmann::json details() override;

  void setKeyring(std::shared_ptr<const crypto::Keyring> keyring);
  [[nodiscard]] const std::string& member() const { return member_; }
  // Partitions this process owns now, and whether it holds the timer lease.
  [[nodiscard]] std::vector<int> ownedPartitions() const;
  [[nodiscard]] bool timerLeader() const { return timer_leader_.load(); }
  // Live members (their heartbeats in <S>_lease).
  [[nodiscard]] std::vector<std::string> members();

 private:
  struct Held;     // an event message held by its partition's owner
  struct Pending;  // one delivery of a held message
  struct Part;     // an owned partition
  using QueueKey = std::pair<std::string, std::string>;  // (target, order key)
  struct TimerEntry {
    Timer timer;
    uint64_t revision = 0;
  };
  struct DeadLetter;

  explicit NatsBus(Options options);
  Status initialize();

  // Storage helpers.
  std::string sealText(const std::string& plaintext) const;
  std::string openText(const std::string& stored) const;
  Status applySideEffects(const AppendItem& item, AppendOutcome& o);
  Status upsertConversation(const ConversationUpsert& c);
  Status clearConversation(const ConversationClear& c);
  Status applyStatus(const StatusUpdate& u);
  Status applyTimerOp(const TimerOp& op, AppendOutcome& o);
  Status applyState(const StateWrite& w);
  Result<std::vector<AppendOutcome>> appendItems(std::vector<AppendItem> items);
  int partitionOf(const std::string& order_key) const;
  // The stored event message at `seq` (nullopt when deleted or unreadable).
  std::optional<nlohmann::json> loadEnvelope(uint64_t seq);
  Result<int64_t> replayOne(const DeadLetter& dl);
  // Reads <S>_DLQ (all of it: dead letters are few).
  Result<std::vector<DeadLetter>> readDeadLetters();
  // Changes the trace record of `event_id` with `change` (compare-and-set).
  // `known`: a value of the trace read earlier, tried first (one read less
  // when nobody wrote it since).
  Status updateTrace(const std::string& event_id,
                     const std::function<bool(nlohmann::json&)>& change,
                     const std::optional<nats::KvEntry>* known = nullptr);
  std::map<std::string, Conversation> allConversations();
  Result<ContactData> selectContact(const std::string& contact,
                                    std::map<std::string, uint64_t>* event_seqs);

  // Cluster membership and ownership.
  void leaseLoop();
  void leaseTick();
  void acquire(int p);
  void release(int p, bool graceful);       // waits for attempts in flight
  void releaseAsync(int p, bool graceful);  // the same on a thread of its own
  void drain(const std::shared_ptr<Part>& part, bool graceful);
  void joinReleasers();
  void invalidateStats();
  void fetchLoop(std::shared_ptr<Part> part);
  void accept(const std::shared_ptr<Part>& part, nats::Message msg);
  void timerWatchLoop();

  // Delivery.
  void dispatcherLoop();
  void workerLoop();
  void runDelivery(const std::shared_ptr<Pending>& p);
  void finish(const std::shared_ptr<Pending>& p);
  // The due index (under dispatch_mutex_): the first delivery of each queue,
  // when it is not running, by target and then (next attempt, id), so that a
  // dispatch pass reads only what it can start instead of every queue.
  void indexFront(const QueueKey& key);
  void unindex(const std::shared_ptr<Pending>& p);
  void reindexAll();
  void wake();
  int64_t now() const;

  Options options_;
  std::string member_;
  std::string prefix_;  // subject prefix: lower-case stream name
  mutable std::mutex keyring_mutex_;
  std::shared_ptr<const crypto::Keyring> keyring_;

  std::unique_ptr<nats::Connection> conn_;
  std::unique_ptr<nats::KeyValue> dedup_, trace_, conv_, state_, timers_kv_, msg_, lease_;

  // Timers mirror (kept by a watch on <S>_timers).
  mutable std::mutex timers_mutex_;
  std::map<std::string, TimerEntry> timers_;
  std::condition_variable timers_cv_;
  bool timers_loaded_ = false;
  std::atomic<bool> timer_leader_{false};
  uint64_t timer_lease_rev_ = 0;
  int64_t timer_renewed_ms_ = 0;

  // Ownership.
  mutable std::mutex parts_mutex_;
  std::map<int, std::shared_ptr<Part>> parts_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> was_connected_{true};
  std::mutex tick_mutex_;
  std::mutex releasers_mutex_;
  std::vector<std::thread> releasers_;  // releaseAsync (joined by stop())  // one leaseTick at a
                                        // time (lease thread, start())
  std::thread lease_thread_;
  std::thread timer_watch_thread_;
  std::mutex lease_wait_mutex_;
  std::condition_variable lease_wait_cv_;

  // Dispatch (all under dispatch_mutex_).
  mutable std::mutex dispatch_mutex_;
  std::condition_variable dispatch_cv_, work_cv_, idle_cv_;
  std::map<QueueKey, std::deque<std::shared_ptr<Pending>>> queues_;
  using DueEntry = std::tuple<int64_t, int64_t, std::shared_ptr<Pending>>;  // (due, id, delivery)
  std::map<std::string, std::set<DueEntry>> due_;                           // by target
  std::deque<std::shared_ptr<Pending>> ready_;
  Targets targets_;  // options, guards, disabled marks, attempts in flight
  int busy_workers_ = 0;
  int worker_count_ = 0;
  bool started_ = false;
  bool dispatch_stop_ = false;
  uint64_t wake_generation_ = 0;
  DeliverFn deliver_;
  ExpiredFn expired_;
  std::thread dispatcher_;
  std::vector<std::thread> workers_;
  std::mutex rng_mutex_;
  std::mt19937_64 rng_;

  std::mutex stats_cache_mutex_;
  std::map<std::string, TargetStats> stats_cache_;
  int64_t stats_cache_ms_ = 0;
  // Cached dead-letter counts per target (stats(), at most every 5 s).
  std::mutex dead_cache_mutex_;
  std::map<std::string, int64_t> dead_cache_;
  int64_t dead_cache_ms_ = 0;
};

}  // namespace sanjog::bus
