// The event bus: durable event store, deduplication, deliveries with retries
// and dead letters, per-instance key-value state and the conversation
// registry. `EmbeddedBus` (embedded_bus.h, SQLite in WAL mode) is the default
// backend; a NATS JetStream backend implements the same interface later, so
// plugins, routing and HTTP never see which one runs.
//
// Threading: every method is thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "config/config.h"

namespace sanjog::bus {

struct EventRecord {
  std::string id;           // unique, sortable (common/ids.h), assigned by the caller
  std::string instance;     // source instance id ("api" for the HTTP API)
  std::string type;         // CloudEvents type, e.g. "message.received"
  std::string subject;      // conversation id, or ""
  std::string provider_id;  // deduplication key within `instance`, "" for none
  int64_t time_ms = 0;
  std::string json;  // the complete CloudEvents JSON object
};

// A delivery the router decided on, stored atomically with its event.
struct DeliveryPlan {
  std::string route_id;  // "" for implicit deliveries (message.send by conversation)
  std::string target;    // target instance id
  std::string action;    // resolved action (never empty)
  std::string rendered;  // template output, "" when the route has no template
  // Deliveries with the same (target, order_key) are attempted strictly in
  // append order; different keys run in parallel. The router uses the
  // conversation id, or the event id when there is none.
  std::string order_key;
  // When set, `event_json` delivered to the target replaces the stored event
  // (e.g. message.send enriched with the resolved instance and address).
  std::string event_override;
};

// Registers or refreshes a conversation (channel instance + contact address).
struct ConversationUpsert {
  std::string conversation_id;
  std::string instance;
  std::string address;       // the channel's address of the contact (phone, PSID, chat id)
  std::string contact_json;  // the event's data.contact object, "{}" if none
  int64_t inbound_ms = 0;    // time of the customer's message, 0 if not inbound
  // KPI marks kept on the row (no extra write): the customer waits for a
  // reply from inbound_ms unless already waiting; the conversation is open
  // from its first message.
  bool start_waiting = true;
};

// Clears KPI marks of a conversation (a reply was sent, it was resolved).
struct ConversationClear {
  std::string conversation_id;
  bool awaiting = false;
  bool opened = false;
};

// A provider's report on a message Sanjog sent (message.status), keyed by the
// channel instance and the provider's message id. Kept only when it moves the
// message forward (rank: sent 1, delivered 2, read 3, failed 4).
struct StatusUpdate {
  std::string instance;
  std::string provider_message_id;
  std::string status;
  int rank = 0;
  std::string error_json;  // "{}" or {"code","reason",...}
  int64_t at_ms = 0;
};

struct MessageState {
  std::string status;
  int rank = 0;
  std::string error_json;
  int64_t updated_ms = 0;
};

// The message.send event whose delivery the provider knows by an id.
struct SentMessage {
  std::string event_id;
  std::string subject;
  std::string delivery_key;  // the delivery's idempotency key
  std::string event_json;    // what the channel was given (the message.send)
};

// A durable timer (automations): fires once at `due_ms`, unless cancelled.
struct TimerSpec {
  std::string key;         // unique; scheduling an existing key never duplicates it
  std::string automation;  // the automation that handles it when it fires
  std::string group;       // cancel handle (e.g. a contact), may be ""
  std::string ref;         // second cancel handle (e.g. a checkout id), may be ""
  int64_t due_ms = 0;
  std::string payload = "{}";  // JSON for the automation
};

struct Timer {
  TimerSpec spec;
  std::string state;  // pending | fired | cancelled | skipped
  int64_t created_ms = 0;
  int64_t done_ms = 0;
};

// A change to timers, stored atomically with the event that caused it.
struct TimerOp {
  enum class Kind {
    kSchedule,    // insert when the key is new; an existing timer is left alone
    kReschedule,  // insert, or move a still pending timer to the new due time
    kCancelKey,
    kCancelGroup,
    kCancelRef,
  };
  Kind kind = Kind::kSchedule;
  TimerSpec timer;  // the cancel kinds use key / group / ref (and automation)
};

// Automation state written with an event (key-value, see kvGet).
struct StateWrite {
  std::string instance;
  std::string key;
  std::string value;
  int64_t ttl_ms = 0;           // 0: no expiry
  bool erase = false;           // delete instead of write
  bool only_if_absent = false;  // keep an existing (unexpired) value
};

// An item whose event id is "" stores only its timers and state.
struct AppendItem {
  EventRecord event;
  std::vector<DeliveryPlan> deliveries;
  std::optional<ConversationUpsert> conversation;
  std::optional<StatusUpdate> status_update;
  std::vector<TimerOp> timers;
  std::vector<StateWrite> state;
  std::vector<ConversationClear> conversation_clears;
  // Run by the gateway after the item was committed (not for duplicates):
  // metrics that must count only what was stored. Ignored by the bus.
  std::vector<std::function<void()>> on_commit;
};

struct AppendOutcome {
  bool duplicate = false;
  std::string event_id;  // the stored id; on a duplicate, the id stored first
  int timers_scheduled = 0;
  int timers_cancelled = 0;
};

struct Delivery {
  int64_t id = 0;
  std::string event_id;
  std::string route_id;
  std::string target;
  std::string action;
  std::string rendered;
  std::string order_key;
  std::string idempotency_key;  // stable across retries and replays
  int attempts = 0;             // attempts made before this one
  int64_t created_ms = 0;
  int64_t next_attempt_ms = 0;
  std::string event_json;  // what the target receives (override or stored event)
};

// The conversation a delivery belongs to ("" when its event has none: the
// order key is then the event id).
inline std::string conversationOf(const Delivery& d) {
  return d.order_key == d.event_id ? std::string() : d.order_key;
}

enum class Outcome { kSuccess, kRetry, kPermanent, kDisable };

struct DeliveryResult {
  Outcome outcome = Outcome::kRetry;
  Code reason = Code::kInternal;  // class of the failure (kOk on success)
  int http_status = 0;
  std::optional<std::chrono::milliseconds> retry_after;
  std::string message;
  std::string provider_message_id;
};

// Called on a worker thread for each attempt. Must not throw.
using DeliverFn = std::function<DeliveryResult(const Delivery&)>;
// Called when a retried delivery runs out of time (it becomes a dead letter
// with reason "expired"), before that is stored: a crash in between repeats
// the attempt and the call.
using ExpiredFn = std::function<void(const Delivery&)>;

struct TargetOptions {
  config::RetryPolicy retry;
  config::CircuitBreakerPolicy circuit_breaker{};
  config::RateLimitPolicy rate_limit{};
  // Most attempts at once; 0: every worker but one when other targets exist.
  int max_in_flight = 0;
};

struct AttemptInfo {
  int attempt = 0;
  int64_t started_ms = 0;
  double duration_seconds = 0;
  std::string result;  // success | retry | permanent | disable
  std::string reason;  // codeName()
  int http_status = 0;
  std::string message;
};

struct DeliveryInfo {
  Delivery delivery;
  std::string state;  // pending | done | dead
  std::string dead_reason;
  std::string provider_message_id;
  int64_t updated_ms = 0;
  std::vector<AttemptInfo> attempts;
};

struct EventTrace {
  EventRecord event;
  std::vector<DeliveryInfo> deliveries;
};

struct DeadLetterFilter {
  std::optional<std::string> target;
  std::optional<std::string> reason;
  size_t limit = 100;    // list: at most 1000; bulk replay/delete: 0 = all
  int64_t after_id = 0;  // paging: only ids greater than this
};

// What a bulk replay or delete did: how many rows, and the highest id it
// touched (the cursor for the next batch; 0 when none).
struct BulkOutcome {
  int64_t changed = 0;
  int64_t last_id = 0;
};

// A search over stored events (admin API, `sanjogctl events find`), newest
// first. Every set field narrows the result.
struct EventQuery {
  std::optional<std::string> contact;          // phone, email, address or contact id
  std::optional<std::string> conversation_id;  // the event's subject
  std::optional<std::string> instance;         // source instance
  std::optional<std::string> type;             // exact, or a prefix ending in '.' ("order.")
  int64_t since_ms = 0;                        // stored at or after (0: open)
  int64_t until_ms = 0;                        // stored before (0: open)
  int64_t before_seq = 0;                      // paging: only older than this cursor
  size_t limit = 50;                           // at most 1000
};

struct EventSummary {
  int64_t seq = 0;
  EventRecord event;                          // json left empty
  std::map<std::string, int64_t> deliveries;  // state -> count
};

struct EventPage {
  std::vector<EventSummary> events;
  int64_t next_before = 0;  // cursor for the next page, 0 when the search is complete
  int64_t scanned = 0;      // rows looked at (a contact search reads payloads)
};

struct TargetStats {
  int64_t pending = 0;
  double oldest_age_seconds = 0;
  int64_t dead = 0;
};

struct Conversation {
  std::string conversation_id;
  std::string instance;
  std::string address;
  std::string contact_json;
  int64_t created_ms = 0;
  int64_t last_inbound_ms = 0;
  int64_t awaiting_ms = 0;  // oldest unanswered customer message, 0 if none
  int64_t opened_ms = 0;    // first customer message since the last resolution, 0 if none
};

// Everything stored about one contact (GET /admin/v1/contacts/{id}/export):
// their conversations, the events naming them (by conversation, phone,
// email, address or contact id), those events' deliveries, and the state
// and timers keyed by them. Payloads are decrypted.
struct ContactData {
  std::vector<Conversation> conversations;
  std::vector<EventRecord> events;
  std::vector<DeliveryInfo> deliveries;
  struct State {
    std::string instance, key, value;
  };
  std::vector<State> state;
  std::vector<Timer> timers;
};

struct ErasureCounts {
  int64_t conversations = 0, events = 0, deliveries = 0, state = 0, timers = 0;
};

class Bus {
 public:
  virtual ~Bus() = default;

  // Stores events (deduplicated on (instance, provider_id)) with their
  // deliveries and conversation updates, atomically per item, and returns
  // only when they are durable. Concurrent callers share one commit (group
  // commit). A duplicate stores nothing (no deliveries either).
  virtual Result<std::vector<AppendOutcome>> append(std::vector<AppendItem> items) = 0;

  // Starts the dispatcher and `workers` delivery threads calling `deliver`
  // (and `expired`, if given, see ExpiredFn).
  virtual void start(DeliverFn deliver, int workers, ExpiredFn expired = nullptr) = 0;
  // Stops dispatching new attempts, waits up to `grace` for attempts in
  // flight, then returns. Pending deliveries stay stored. Idempotent.
  virtual void stop(std::chrono::milliseconds grace) = 0;

  // The targets that may be delivered to, with their retry policies.
  // Deliveries to other targets stay pending. Also clears "disabled" marks
  // (a reload re-enables a target that answered 410).
  virtual void setTargets(std::map<std::string, TargetOptions> targets) = 0;
  // Stops delivering to `target` until the next setTargets (HTTP 410).
  virtual void disableTarget(const std::string& target) = 0;
  [[nodiscard]] virtual bool isTargetDisabled(const std::string& target) const = 0;
  // "closed", "half_open" or "open"; "" for a target with no breaker.
  [[nodiscard]] virtual std::string circuitState(const std::string& target) const = 0;

  // Inspection (admin API).
  virtual std::optional<EventTrace> event(const std::string& event_id) = 0;
  virtual std::vector<DeliveryInfo> deadLetters(const DeadLetterFilter& filter) = 0;
  // Moves dead letters back to pending (attempt count and age restart, the
  // idempotency key stays). Returns how many were replayed.
  virtual Result<int64_t> replayDeadLetter(int64_t delivery_id) = 0;
  // In id order from filter.after_id, at most filter.limit rows (0: all).
  virtual Result<BulkOutcome> replayDeadLetters(const DeadLetterFilter& filter) = 0;
  virtual Result<int64_t> deleteDeadLetter(int64_t delivery_id) = 0;
  virtual Result<BulkOutcome> deleteDeadLetters(const DeadLetterFilter& filter) = 0;
  // How many dead letters match (ignores limit and after_id).
  virtual Result<int64_t> countDeadLetters(const DeadLetterFilter& filter) = 0;
  virtual Result<EventPage> findEvents(const EventQuery& query) = 0;
  virtual std::map<std::string, TargetStats> stats() = 0;
  // Sets the queue_depth, queue_oldest_age_seconds and dead_letters gauges
  // from stats() (called before each /metrics scrape).
  virtual void refreshGauges() = 0;

  // Conversation registry.
  virtual std::optional<Conversation> conversation(const std::string& conversation_id) = 0;

  // Sent messages and their provider statuses.
  virtual std::optional<SentMessage> sentMessage(const std::string& target,
                                                 const std::string& provider_message_id) = 0;
  virtual std::optional<MessageState> messageState(const std::string& instance,
                                                   const std::string& provider_message_id) = 0;

  // Durable timers (written through AppendItem::timers).
  // Pending timers due at or before `now_ms`, oldest first.
  virtual std::vector<Timer> dueTimers(int64_t now_ms, size_t limit) = 0;
  // The earliest due time of a pending timer.
  virtual std::optional<int64_t> nextTimerDue() = 0;
  virtual std::optional<Timer> timer(const std::string& key) = 0;
  // Ends a pending timer as `state` ("fired" or "skipped") and appends `items`
  // in the same transaction, so a timer's effects are stored exactly once even
  // when the process dies while firing. Returns false (and stores nothing)
  // when the timer is no longer pending at `due_ms` (cancelled, moved or
  // already fired).
  virtual Result<bool> fireTimer(const std::string& key, int64_t due_ms, const std::string& state,
                                 std::vector<AppendItem> items) = 0;
  // Moves a pending timer to a later due time (quiet hours).
  virtual Result<bool> postponeTimer(const std::string& key, int64_t due_ms,
                                     int64_t new_due_ms) = 0;
  [[nodiscard]] virtual int64_t pendingTimers() = 0;

  // Per-instance key-value state; ttl 0 means no expiry.
  virtual std::optional<std::string> kvGet(const std::string& instance, const std::string& key) = 0;
  virtual Status kvPut(const std::string& instance, const std::string& key,
                       const std::string& value, std::chrono::milliseconds ttl) = 0;
  virtual Status kvDelete(const std::string& instance, const std::string& key) = 0;

  // Privacy: what is stored about a contact (an E.164 phone, an email, a
  // channel address or contact id, or a conversation id), and its erasure
  // (one transaction; pending deliveries of erased events are dropped).
  virtual Result<ContactData> contactData(const std::string& contact) = 0;
  virtual Result<ErasureCounts> eraseContact(const std::string& contact) = 0;

  // Whether storage is open and writable (for /readyz).
  [[nodiscard]] virtual bool healthy() const = 0;

  // What the admin status shows about the backend ({} when nothing more
  // than its name): the NATS bus names its member, the live members and the
  // partitions it owns.
  virtual nlohmann::json details() { return nlohmann::json::object(); }
};

}  // namespace sanjog::bus
