// A small RAII layer over the NATS C client (libnats 3.4) for the JetStream
// bus backend: a connection that reconnects forever, streams, publishing with
// deduplication, durable pull consumers and key-value buckets. Failures are
// values (Status / Result, messages like "nats: publish to sanjog.ev.3:
// timeout"); nothing here throws except Library's constructor.
//
// While the connection is down every call fails at once (kUnavailable, "not
// connected") instead of being queued for the reconnect. A call that fails
// otherwise, a timeout above all, has an unknown outcome: the server may
// have done it. Publishes are retried with the same msg_id (deduplicated
// within the stream's duplicate window), KV writes with create/update.
//
// Lifetime: a Connection owns its JetStream context; PullConsumer, KeyValue
// and Message objects use it and must not outlive it (a Message must also not
// outlive its PullConsumer). The C library is closed (nats_Close) once at
// process exit by destroying the one `Library`: sanjogd holds it for its
// whole run, tests in a gtest Environment (released in TearDown).
//
// Threading: Connection, JetStream and KeyValue are thread-safe. A
// PullConsumer fetches on one thread at a time. A Message may be acked on any
// thread, by one thread at a time.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

// The C client's handles (nats/nats.h), so this header does not pull it in.
struct __natsConnection;
struct __natsSubscription;
struct __natsMsg;
struct __jsCtx;
struct __kvStore;
struct __kvWatcher;

namespace sanjog::bus::nats {

// Initializes the C library on construction (throws std::runtime_error if
// it cannot) and closes it on destruction (nats_CloseAndWait, up to 5 s for
// its threads), which must come after every Connection is gone. One per
// process, created on the main thread.
class Library {
 public:
  Library();
  ~Library();
  Library(const Library&) = delete;
  Library& operator=(const Library&) = delete;
};

// Message headers in order; a name may repeat.
using Headers = std::vector<std::pair<std::string, std::string>>;

struct Options {
  std::vector<std::string> urls;  // "nats://host:port", at least one
  std::string credentials_file;   // .creds (user JWT + NKey seed), "" for none
  // TLS: used whenever the server asks for it (tls {} in its config) or a
  // URL says tls://; the server's certificate is verified against the
  // system's trust store plus these certificates (PEM), "" for none.
  std::string ca_file;
  std::string name = "sanjog";  // connection name shown by the server
  std::chrono::milliseconds connect_timeout{2000};
  // Pause before trying the same server again; reconnects never give up.
  std::chrono::milliseconds reconnect_wait{500};
  // Waits for JetStream API replies and publish acks.
  std::chrono::milliseconds request_timeout{5000};
  // true: open() succeeds while no server is reachable and the connection
  // keeps trying in the background (connected() says when it is up).
  // false: open() fails when no server answers.
  bool retry_on_failed_connect = true;
};

enum class Retention {
  kLimits,     // kept until max_age
  kWorkQueue,  // removed once acked by its (single) consumer
};

struct StreamSpec {
  std::string name;  // no '.', '*', '>'
  std::vector<std::string> subjects;
  int replicas = 1;                      // 1..5, at most the cluster size
  std::chrono::milliseconds max_age{0};  // 0: no age limit
  // Publishes with the same Nats-Msg-Id within this window are stored once.
  // 0: the server's default (2 minutes, or max_age if shorter).
  std::chrono::milliseconds duplicate_window{0};
  Retention retention = Retention::kLimits;
  // Storage is always file.
};

struct OutMessage {
  std::string subject;
  std::string data;
  std::string msg_id;  // Nats-Msg-Id for deduplication, "" for none
  Headers headers;     // further headers
};

struct PubAck {
  uint64_t sequence = 0;   // stream sequence (the first one's on a duplicate)
  bool duplicate = false;  // the stream already had msg_id within the window
};

struct ConsumerSpec {
  std::string stream;
  std::string durable;         // consumer name; no '.', '*', '>'
  std::string filter_subject;  // "" for every subject of the stream
  // How long a delivered message may stay unacked before it is redelivered.
  std::chrono::milliseconds ack_wait{30000};
  int max_deliver = -1;  // deliveries per message, -1 unlimited
  // Redelivery delays after ack-wait expiries (the last one repeats); when
  // set it replaces ack_wait for redeliveries and needs max_deliver larger
  // than its length.
  std::vector<std::chrono::milliseconds> backoff;
  int max_ack_pending = 1000;  // delivered but unacked messages at most
  // Ack policy is always explicit; delivery starts at the stream's first message.
};

struct BucketSpec {
  std::string name;                  // [A-Za-z0-9_-]
  int history = 1;                   // values kept per key, 1..64
  std::chrono::milliseconds ttl{0};  // age after which a value expires, 0: never
  int replicas = 1;
  // Storage is always file.
};

struct KvEntry {
  std::string value;
  uint64_t revision = 0;
};

// A conditional write (create/update) that ran: written, or refused because
// of the key's state, which is an expected outcome and not an error.
struct KvWrite {
  enum class Outcome {
    kWritten,
    kExists,         // create: the key has a value
    kWrongRevision,  // update: the key's revision is not the expected one
  };
  Outcome outcome = Outcome::kWritten;
  uint64_t revision = 0;  // the new revision when written
  [[nodiscard]] bool written() const { return outcome == Outcome::kWritten; }
};

// A message read from a stream by its sequence or by a scan (not through a
// durable consumer: nothing to ack).
struct StoredMessage {
  uint64_t sequence = 0;
  std::string subject;
  std::string data;
  int64_t time_ns = 0;  // when the stream stored it (Unix epoch)
};

struct StreamState {
  uint64_t messages = 0;
  uint64_t first_sequence = 0;
  uint64_t last_sequence = 0;
};

struct ConsumerState {
  uint64_t num_ack_pending = 0;  // delivered, not acked yet
  uint64_t num_pending = 0;      // not delivered yet
  uint64_t num_redelivered = 0;
};

// A change seen by a KvWatcher. The first next() calls give every current
// value; then one update with an empty key says the watcher caught up.
struct KvUpdate {
  std::string key;
  std::string value;
  uint64_t revision = 0;
  bool deleted = false;  // a delete or purge marker (value empty)
};

class KvWatcher {
 public:
  ~KvWatcher();
  KvWatcher(const KvWatcher&) = delete;
  KvWatcher& operator=(const KvWatcher&) = delete;
  // The next update; nullopt when none came within `timeout`.
  Result<std::optional<KvUpdate>> next(std::chrono::milliseconds timeout);

 private:
  friend class KeyValue;
  KvWatcher(__kvWatcher* w, std::string bucket) : w_(w), bucket_(std::move(bucket)) {}
  __kvWatcher* w_ = nullptr;
  std::string bucket_;
};

// A key usable in any bucket for an arbitrary string: bytes in
// [A-Za-z0-9_-] are kept and every other byte becomes "=XX" (upper-case hex),
// so distinct strings give distinct keys; "" becomes "=". Keys longer than
// 200 characters are cut there and end with "==" + the SHA-256 (hex) of the
// whole string.
std::string kvKey(std::string_view text);

// A message delivered by a PullConsumer. Acking is explicit: one of ack,
// nak, nakWithDelay or term settles it; inProgress only extends its ack wait.
// Unsettled messages are redelivered after the consumer's ack wait.
class Message {
 public:
  struct Metadata {
    uint64_t stream_sequence = 0;
    uint64_t consumer_sequence = 0;
    uint64_t num_delivered = 0;  // 1 on the first delivery
    uint64_t num_pending = 0;    // messages left for the consumer after this one
    int64_t timestamp_ns = 0;    // when the stream stored it (Unix epoch)
  };

  Message(Message&&) noexcept;
  Message& operator=(Message&&) noexcept;
  ~Message();

  [[nodiscard]] std::string_view subject() const;
  [[nodiscard]] std::string_view data() const;
  // The first value of a header, if present.
  [[nodiscard]] std::optional<std::string> header(const std::string& name) const;
  [[nodiscard]] std::string msgId() const;  // Nats-Msg-Id, "" if none
  [[nodiscard]] const Metadata& metadata() const { return meta_; }

  // Waits for the server to confirm the ack.
  Status ack();
  // Sends the ack without waiting for the confirmation: an ack lost on the
  // way means one more redelivery after the ack wait, nothing else.
  Status ackNoWait();
  // Redelivery now, or after `delay`; both count as a delivery (max_deliver).
  Status nak();
  Status nakWithDelay(std::chrono::milliseconds delay);
  // Never redelivered.
  Status term();
  // Resets the ack wait timer.
  Status inProgress();

 private:
  friend class PullConsumer;
  Message(__natsMsg* msg, Metadata meta, __natsConnection* nc) : msg_(msg), meta_(meta), nc_(nc) {}
  __natsMsg* msg_ = nullptr;
  Metadata meta_;
  __natsConnection* nc_ = nullptr;  // not owned
};

class PullConsumer {
 public:
  ~PullConsumer();
  PullConsumer(const PullConsumer&) = delete;
  PullConsumer& operator=(const PullConsumer&) = delete;

  // Up to `batch` messages, waiting up to `timeout` for the first; may return
  // fewer when no more are available. None before the timeout is not an
  // error (empty vector).
  Result<std::vector<Message>> fetch(int batch, std::chrono::milliseconds timeout);

 private:
  friend class JetStream;
  PullConsumer(__natsSubscription* sub, __natsConnection* nc, std::string name)
      : sub_(sub), nc_(nc), name_(std::move(name)) {}
  __natsSubscription* sub_ = nullptr;
  __natsConnection* nc_ = nullptr;  // not owned
  std::string name_;                // "<stream>/<durable>" for messages
};

class KeyValue {
 public:
  ~KeyValue();
  KeyValue(const KeyValue&) = delete;
  KeyValue& operator=(const KeyValue&) = delete;

  // Keys must be valid NATS KV keys (kvKey() makes one from any string).
  // nullopt when the key has no value (never set, erased or expired).
  Result<std::optional<KvEntry>> get(const std::string& key);
  // Returns the new revision.
  Result<uint64_t> put(const std::string& key, std::string_view value);
  // Writes only when the key has no value.
  Result<KvWrite> create(const std::string& key, std::string_view value);
  // Writes only when the key's current revision is `expected_revision`.
  Result<KvWrite> update(const std::string& key, std::string_view value,
                         uint64_t expected_revision);
  // Leaves a delete marker (get then returns nullopt; create works again).
  Status erase(const std::string& key);
  // The keys that have a value.
  Result<std::vector<std::string>> keys();
  // Every key that has a value, with it, in one pass over the bucket.
  Status scan(const std::function<void(const std::string& key, const KvEntry& entry)>& fn);
  // Every current value, then every change as it happens (see KvUpdate).
  Result<std::unique_ptr<KvWatcher>> watchAll();

 private:
  friend class JetStream;
  KeyValue(__kvStore* kv, __jsCtx* js, __natsConnection* nc, std::string bucket)
      : kv_(kv), js_(js), nc_(nc), bucket_(std::move(bucket)) {}
  Result<KvWrite> conditionalPut(const std::string& key, std::string_view value,
                                 uint64_t expected_revision, bool create);
  __kvStore* kv_ = nullptr;
  __jsCtx* js_ = nullptr;           // the connection's, not owned
  __natsConnection* nc_ = nullptr;  // not owned
  std::string bucket_;
};

// The connection's JetStream context (Connection::jetstream()).
class JetStream {
 public:
  JetStream(const JetStream&) = delete;
  JetStream& operator=(const JetStream&) = delete;

  // Creates the stream, or updates it when it exists with other settings
  // (tolerates another process creating it at the same time). Retention and
  // storage cannot change on an existing stream: that is an error.
  Status ensureStream(const StreamSpec& spec);

  // Publishes and waits for the stream's ack. `expect_stream` (when not "")
  // makes the server refuse the message unless that stream stores it.
  Result<PubAck> publish(const OutMessage& msg, const std::string& expect_stream = {});
  // Publishes every message without waiting in between, then waits (up to
  // the request timeout after the last one is sent) for all acks. One result
  // per message, in order; every message that was not acked has an error
  // (timeout included). Concurrent batches run one after the other.
  std::vector<Result<PubAck>> publishBatch(const std::vector<OutMessage>& msgs,
                                           const std::string& expect_stream = {});

  // Creates or updates the durable consumer, then binds to it.
  Result<std::unique_ptr<PullConsumer>> pullConsumer(const ConsumerSpec& spec);

  // Creates the bucket, or updates its settings when it exists with others.
  Result<std::unique_ptr<KeyValue>> keyValue(const BucketSpec& spec);

  // The message at `sequence`; nullopt when there is none (deleted, or
  // outside the stream).
  Result<std::optional<StoredMessage>> getMessage(const std::string& stream, uint64_t sequence);
  Status deleteMessage(const std::string& stream, uint64_t sequence);
  Result<StreamState> streamState(const std::string& stream);
  Result<ConsumerState> consumerState(const std::string& stream, const std::string& durable);
  // Reads the stream's messages on `filter_subject` (a subset of the
  // stream's subjects) in order from `start_sequence`, up to the last one
  // stored when the call began, or until `fn` returns false. An ordered
  // consumer: one request per batch of messages, not per message.
  Status scan(const std::string& stream, const std::string& filter_subject, uint64_t start_sequence,
              const std::function<bool(StoredMessage&)>& fn);

 private:
  friend class Connection;
  struct BatchSlot;  // the running batch, for the ack callback
  JetStream();
  ~JetStream();
  void reset();                     // destroys the contexts
  __natsConnection* nc_ = nullptr;  // not owned
  __jsCtx* js_ = nullptr;           // sync calls
  __jsCtx* batch_js_ = nullptr;     // publishBatch (its async acks), under batch_mu_
  std::mutex batch_mu_;
  std::unique_ptr<BatchSlot> slot_;
  int64_t timeout_ms_ = 5000;
};

class Connection {
 public:
  // Connects (see Options::retry_on_failed_connect) and creates the
  // JetStream context.
  static Result<std::unique_ptr<Connection>> open(const Options& options);
  // Closes the connection (pending acks of unfinished calls are lost).
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Whether a server connection is up right now (kept by the client's
  // connected, disconnected, reconnected and closed events).
  [[nodiscard]] bool connected() const { return state_->connected.load(); }
  JetStream& jetstream() { return js_; }

 private:
  struct State {  // shared with the client's callback thread
    std::atomic<bool> connected{false};
    std::mutex mu;
    bool closed = false;  // the closed callback ran: no callback follows
    std::condition_variable closed_cv;
  };
  Connection() = default;
  static void onClosed(__natsConnection* nc, void* closure);
  std::unique_ptr<State> state_ = std::make_unique<State>();
  __natsConnection* nc_ = nullptr;
  JetStream js_;
};

}  // namespace sanjog::bus::nats
