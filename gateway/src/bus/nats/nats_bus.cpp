// The NATS JetStream bus (see nats_bus.h for the layout and the algorithm).
#include "bus/nats/nats_bus.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "bus/attempts.h"
#include "bus/retry_policy.h"
#include "common/log.h"

namespace sanjog::bus {

using nlohmann::json;
using namespace std::chrono_literals;

namespace {

constexpr std::string_view kLog = "sanjog.bus";
// Delivery ids: stream sequence * kIdStride + the delivery's index in its
// event (so an event has at most kIdStride deliveries).
constexpr int64_t kIdStride = 1000;
// Compare-and-set retries of a trace or registry record.
constexpr int kCasTries = 8;

int64_t wallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

uint64_t fnv1a(std::string_view s) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

json recordJson(const EventRecord& e) {
  return {{"id", e.id},           {"instance", e.instance},       {"type", e.type},
          {"subject", e.subject}, {"provider_id", e.provider_id}, {"time_ms", e.time_ms},
          {"json", e.json}};
}

EventRecord recordFrom(const json& j) {
  EventRecord e;
  e.id = j.value("id", "");
  e.instance = j.value("instance", "");
  e.type = j.value("type", "");
  e.subject = j.value("subject", "");
  e.provider_id = j.value("provider_id", "");
  e.time_ms = j.value("time_ms", int64_t{0});
  e.json = j.value("json", "");
  return e;
}

json conversationJson(const Conversation& c) {
  return {{"id", c.conversation_id},      {"instance", c.instance},
          {"address", c.address},         {"contact", c.contact_json},
          {"created_ms", c.created_ms},   {"last_inbound_ms", c.last_inbound_ms},
          {"awaiting_ms", c.awaiting_ms}, {"opened_ms", c.opened_ms}};
}

Conversation conversationFrom(const json& j) {
  return {j.value("id", ""),
          j.value("instance", ""),
          j.value("address", ""),
          j.value("contact", "{}"),
          j.value("created_ms", int64_t{0}),
          j.value("last_inbound_ms", int64_t{0}),
          j.value("awaiting_ms", int64_t{0}),
          j.value("opened_ms", int64_t{0})};
}

json timerJson(const Timer& t) {
  return {{"key", t.spec.key}, {"automation", t.spec.automation}, {"group", t.spec.group},
          {"ref", t.spec.ref}, {"due_ms", t.spec.due_ms},         {"payload", t.spec.payload},
          {"state", t.state},  {"created_ms", t.created_ms},      {"done_ms", t.done_ms}};
}

Timer timerFrom(const json& j) {
  Timer t;
  t.spec.key = j.value("key", "");
  t.spec.automation = j.value("automation", "");
  t.spec.group = j.value("group", "");
  t.spec.ref = j.value("ref", "");
  t.spec.due_ms = j.value("due_ms", int64_t{0});
  t.spec.payload = j.value("payload", "{}");
  t.state = j.value("state", "pending");
  t.created_ms = j.value("created_ms", int64_t{0});
  t.done_ms = j.value("done_ms", int64_t{0});
  return t;
}

json attemptJson(const AttemptInfo& a) {
  return {{"attempt", a.attempt}, {"started_ms", a.started_ms}, {"duration_s", a.duration_seconds},
          {"result", a.result},   {"reason", a.reason},         {"http_status", a.http_status},
          {"message", a.message}};
}

AttemptInfo attemptFrom(const json& j) {
  return {j.value("attempt", 0),      j.value("started_ms", int64_t{0}),
          j.value("duration_s", 0.0), j.value("result", ""),
          j.value("reason", ""),      j.value("http_status", 0),
          j.value("message", "")};
}

// A delivery plan as carried in an event message.
json planJson(int64_t index, const DeliveryPlan& p, const std::string& order_key,
              int64_t created_ms) {
  return {{"n", index},
          {"route", p.route_id},
          {"target", p.target},
          {"action", p.action},
          {"rendered", p.rendered},
          {"order_key", order_key},
          {"override", p.event_override},
          {"created_ms", created_ms}};
}

Result<json> parse(std::string_view text, const char* what) {
  auto j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return Status(Code::kInternal, std::string("nats: malformed ") + what);
  }
  return j;
}

}  // namespace

// One event message held by the owner of its partition until every delivery
// in it is finished.
struct NatsBus::Held {
  nats::Message msg;
  std::weak_ptr<Part> part;
  uint64_t seq = 0;
  int partition = 0;
  int remaining = 0;   // deliveries not finished
  bool acked = false;  // (under dispatch_mutex_)
  explicit Held(nats::Message m) : msg(std::move(m)) {}
};

struct NatsBus::Pending {
  Delivery d;
  std::string override_json;  // the delivery's event_override (sealed as stored)
  EventRecord event;          // the stored event (sealed json)
  int64_t index = 0;          // n: the delivery's index in its event
  std::shared_ptr<Held> held;
  bool running = false;
  bool done = false;
  bool indexed = false;  // in due_, under idx_due
  int64_t idx_due = 0;
};

struct NatsBus::Part {
  int p = 0;
  uint64_t lease_rev = 0;
  std::unique_ptr<nats::PullConsumer> consumer;
  std::thread fetcher;
  std::atomic<bool> stop{false};
  std::mutex mu;
  std::vector<std::shared_ptr<Held>> held;  // under mu: messages not yet acked
  // Until when the lease is surely ours (2/3 of a lease after the last
  // renewal): past it nothing of this partition is dispatched, so that two
  // members never deliver one partition at the same time.
  std::atomic<int64_t> valid_until_ms{0};
};

struct NatsBus::DeadLetter {
  uint64_t seq = 0;  // in <S>_DLQ
  DeliveryInfo info;
  EventRecord event;
  std::string override_json;
  int64_t index = 0;
};

NatsBus::NatsBus(Options options) : options_(std::move(options)), targets_(options_.metrics) {
  member_ = options_.member;
  if (member_.empty()) {
    char host[256] = {};
    if (::gethostname(host, sizeof host - 1) != 0) std::snprintf(host, sizeof host, "host");
    std::random_device rd;
    member_ =
        std::string(host) + "-" + std::to_string(::getpid()) + "-" + std::to_string(rd() % 100000);
  }
  prefix_ = lower(options_.stream);
  keyring_ = options_.keyring ? options_.keyring : std::make_shared<const crypto::Keyring>();
  rng_.seed(options_.seed != 0 ? options_.seed : std::random_device{}());
}

NatsBus::~NatsBus() {
  stop(0ms);
  stopping_ = true;
  lease_wait_cv_.notify_all();
  if (lease_thread_.joinable()) lease_thread_.join();
  std::vector<int> owned = ownedPartitions();
  for (int p : owned) release(p, true);
  joinReleasers();
  if (timer_watch_thread_.joinable()) timer_watch_thread_.join();
  if (timer_leader_.load() && lease_) (void)lease_->erase("timers");
  if (lease_) (void)lease_->erase("member." + nats::kvKey(member_));
  dedup_.reset();
  trace_.reset();
  conv_.reset();
  state_.reset();
  timers_kv_.reset();
  msg_.reset();
  lease_.reset();
  conn_.reset();
}

Result<std::unique_ptr<NatsBus>> NatsBus::open(const Options& options) {
  if (options.urls.empty()) return Status(Code::kInvalidArgument, "nats: no server url");
  if (options.max_deliver < 3) {
    // The consumer's two backoff steps need a third delivery.
    return Status(Code::kInvalidArgument, "nats: max_deliver must be at least 3");
  }
  if (options.partitions < 1 || options.partitions > 1024) {
    return Status(Code::kInvalidArgument, "nats: partitions must be 1..1024");
  }
  std::unique_ptr<NatsBus> bus(new NatsBus(options));
  if (auto s = bus->initialize(); !s.isOk()) return s;
  return bus;
}

Status NatsBus::initialize() {
  nats::Options o;
  o.urls = options_.urls;
  o.credentials_file = options_.credentials_file;
  o.ca_file = options_.ca_file;
  o.name = "sanjogd " + member_;
  o.retry_on_failed_connect = true;
  // A call that hangs must not outlive a lease renewal period.
  o.request_timeout = std::clamp<std::chrono::milliseconds>(options_.lease / 3, 500ms, 5000ms);
  auto c = nats::Connection::open(o);
  if (!c) return c.status();
  conn_ = std::move(c).value();
  const auto deadline = std::chrono::steady_clock::now() + options_.connect_wait;
  while (!conn_->connected()) {
    if (std::chrono::steady_clock::now() >= deadline) {
      // The background connect does not say why it fails (refused, a TLS
      // certificate that does not verify, credentials): one plain attempt
      // does.
      nats::Options probe = o;
      probe.retry_on_failed_connect = false;
      auto tried = nats::Connection::open(probe);
      return Status(Code::kUnavailable,
                    "nats: no server answered within " +
                        std::to_string(options_.connect_wait.count()) + " ms at " +
                        options_.urls.front() +
                        (tried ? std::string() : " (" + tried.status().message() + ")"));
    }
    std::this_thread::sleep_for(20ms);  // polling the connection state, bounded by the deadline
  }
  auto& js = conn_->jetstream();
  const auto& S = options_.stream;
  // Stream and bucket creation races with other members starting at the
  // same time and with a cluster still electing its leaders: each step is
  // retried for up to connect_wait. The wait is per step, not one deadline
  // for the whole set-up, so that a start that keeps making progress (a new
  // 3-node cluster electing a leader for each of the 25 replicated streams,
  // buckets and consumers) does not fail, while one that is stuck still
  // does after connect_wait.
  auto withRetry = [&](const std::function<Status()>& fn) {
    const auto step_deadline = std::chrono::steady_clock::now() + options_.connect_wait;
    while (true) {
      Status s = fn();
      if (s.isOk() || std::chrono::steady_clock::now() >= step_deadline) return s;
      std::this_thread::sleep_for(250ms);  // JetStream not ready yet; bounded by the deadline
    }
  };
  nats::StreamSpec events;
  events.name = S;
  events.subjects = {prefix_ + ".ev.*"};
  events.replicas = options_.replicas;
  events.max_age = options_.retention;
  events.duplicate_window = options_.duplicate_window;
  if (auto s = withRetry([&] { return js.ensureStream(events); }); !s.isOk()) return s;
  nats::StreamSpec dlq;
  dlq.name = S + "_DLQ";
  dlq.subjects = {prefix_ + ".dlq.*"};
  dlq.replicas = options_.replicas;
  dlq.duplicate_window = options_.duplicate_window;
  if (auto s = withRetry([&] { return js.ensureStream(dlq); }); !s.isOk()) return s;
  auto bucket = [&](const std::string& suffix, std::chrono::milliseconds ttl,
                    std::unique_ptr<nats::KeyValue>& out) {
    nats::BucketSpec spec;
    spec.name = S + "_" + suffix;
    spec.ttl = ttl;
    spec.replicas = options_.replicas;
    return withRetry([&]() -> Status {
      auto kv = js.keyValue(spec);
      if (!kv) return kv.status();
      out = std::move(kv).value();
      return Status::ok();
    });
  };
  if (auto s = bucket("dedup", options_.dedup_ttl, dedup_); !s.isOk()) return s;
  if (auto s = bucket("trace", options_.retention, trace_); !s.isOk()) return s;
  if (auto s = bucket("conv", options_.retention, conv_); !s.isOk()) return s;
  if (auto s = bucket("state", 0ms, state_); !s.isOk()) return s;
  if (auto s = bucket("timers", 0ms, timers_kv_); !s.isOk()) return s;
  if (auto s = bucket("msg", options_.retention, msg_); !s.isOk()) return s;
  if (auto s = bucket("lease", options_.lease, lease_); !s.isOk()) return s;
  for (int p = 0; p < options_.partitions; ++p) {
    // Created up front so that messages published before any owner exists
    // are kept for the consumer (it starts at the first message).
    nats::ConsumerSpec spec;
    spec.stream = S;
    spec.durable = "part-" + std::to_string(p);
    spec.filter_subject = prefix_ + ".ev." + std::to_string(p);
    spec.ack_wait = options_.ack_wait;
    spec.max_deliver = options_.max_deliver;
    spec.backoff = {options_.ack_wait, 2 * options_.ack_wait};
    spec.max_ack_pending = 20000;
    if (auto s = withRetry([&]() -> Status {
          auto c = js.pullConsumer(spec);
          return c ? Status::ok() : c.status();
        });
        !s.isOk()) {
      return s;
    }
  }
  timer_watch_thread_ = std::thread([this] { timerWatchLoop(); });
  {
    std::unique_lock<std::mutex> lock(timers_mutex_);
    timers_cv_.wait_for(lock, options_.connect_wait, [&] { return timers_loaded_; });
  }
  leaseTick();  // joins the cluster at once (partitions are taken when started)
  lease_thread_ = std::thread([this] { leaseLoop(); });
  log::info(kLog, "joined the NATS cluster",
            {{"member", member_},
             {"stream", S},
             {"partitions", options_.partitions},
             {"replicas", options_.replicas}});
  return Status::ok();
}

bool NatsBus::healthy() const { return conn_ && conn_->connected(); }

json NatsBus::details() {
  return {{"member", member_},
          {"members", members()},
          {"stream", options_.stream},
          {"partitions", options_.partitions},
          {"partitions_owned", ownedPartitions()},
          {"timer_leader", timer_leader_.load()},
          {"connected", healthy()}};
}

int64_t NatsBus::now() const { return wallMs(); }

void NatsBus::setKeyring(std::shared_ptr<const crypto::Keyring> keyring) {
  std::lock_guard<std::mutex> lock(keyring_mutex_);
  keyring_ = keyring ? std::move(keyring) : std::make_shared<const crypto::Keyring>();
}

std::string NatsBus::sealText(const std::string& plaintext) const {
  if (plaintext.empty() || plaintext == "{}") return plaintext;
  std::shared_ptr<const crypto::Keyring> keys;
  {
    std::lock_guard<std::mutex> lock(keyring_mutex_);
    keys = keyring_;
  }
  return keys->enabled() ? keys->seal(plaintext) : plaintext;
}

std::string NatsBus::openText(const std::string& stored) const {
  if (!crypto::Keyring::isSealed(stored)) return stored;
  std::shared_ptr<const crypto::Keyring> keys;
  {
    std::lock_guard<std::mutex> lock(keyring_mutex_);
    keys = keyring_;
  }
  auto opened = keys->open(stored);
  if (opened) return std::move(opened).value();
  if (options_.metrics != nullptr) options_.metrics->storage_decrypt_failures.Add({}).Increment();
  log::error(kLog, "cannot decrypt a stored value", {{"reason", opened.status().message()}});
  return "";
}

int NatsBus::partitionOf(const std::string& order_key) const {
  return static_cast<int>(fnv1a(order_key) % static_cast<uint64_t>(options_.partitions));
}

// ---------------------------------------------------------------- append --

Result<std::vector<AppendOutcome>> NatsBus::append(std::vector<AppendItem> items) {
  return appendItems(std::move(items));
}

Result<std::vector<AppendOutcome>> NatsBus::appendItems(std::vector<AppendItem> items) {
  std::vector<AppendOutcome> outcomes(items.size());
  const int64_t now_ms = now();
  std::vector<nats::OutMessage> out;
  std::vector<size_t> out_item;  // item index of each message
  std::set<std::string> batch_keys;
  for (size_t i = 0; i < items.size(); ++i) {
    auto& item = items[i];
    auto& e = item.event;
    AppendOutcome& o = outcomes[i];
    o.event_id = e.id;
    std::string dedup_key;
    if (!e.id.empty() && !e.provider_id.empty()) {
      dedup_key = nats::kvKey(e.instance + "\n" + e.provider_id);
      auto known = dedup_->get(dedup_key);
      if (!known) return known.status();
      if (known.value() || !batch_keys.insert(dedup_key).second) {
        o.duplicate = true;
        if (known.value()) o.event_id = known.value()->value;
        continue;
      }
    }
    // Registry, statuses, timers and state first: if the publish fails the
    // provider retries, and these writes are idempotent.
    if (auto s = applySideEffects(item, o); !s.isOk()) return s;
    if (e.id.empty()) continue;  // timers and state only
    const std::string order_key = e.subject.empty() ? e.id : e.subject;
    json msg = {{"event", recordJson(e)}};
    msg["event"]["json"] = sealText(e.json);
    json plans = json::array();
    for (size_t n = 0; n < item.deliveries.size(); ++n) {
      auto plan = item.deliveries[n];
      plan.rendered = sealText(plan.rendered);
      plan.event_override = sealText(plan.event_override);
      plans.push_back(planJson(static_cast<int64_t>(n), plan,
                               plan.order_key.empty() ? e.id : plan.order_key, now_ms));
    }
    msg["deliveries"] = std::move(plans);
    nats::OutMessage m;
    m.subject = prefix_ + ".ev." + std::to_string(partitionOf(order_key));
    m.data = msg.dump();
    m.msg_id = dedup_key.empty() ? "event-" + e.id : dedup_key;
    out.push_back(std::move(m));
    out_item.push_back(i);
  }
  if (out.empty()) return outcomes;
  const auto t0 = std::chrono::steady_clock::now();
  // One message (a webhook's usual event) is published on its own, so that
  // concurrent requests do not queue behind each other's batches.
  std::vector<Result<nats::PubAck>> acks;
  if (out.size() == 1) {
    acks.push_back(conn_->jetstream().publish(out.front(), options_.stream));
  } else {
    acks = conn_->jetstream().publishBatch(out, options_.stream);
  }
  if (options_.metrics != nullptr) {
    options_.metrics->storage_commit_duration.Add({}, metrics::latencyBuckets())
        .Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  for (size_t k = 0; k < acks.size(); ++k) {
    if (!acks[k]) {
      if (options_.metrics != nullptr) {
        options_.metrics->storage_commits.Add({{"result", "error"}}).Increment();
      }
      log::error(
          kLog, "event not stored: NATS did not acknowledge it",
          {{"event_id", items[out_item[k]].event.id}, {"reason", acks[k].status().message()}});
      return Status(Code::kUnavailable, "event not stored: " + acks[k].status().message());
    }
  }
  if (options_.metrics != nullptr) {
    options_.metrics->storage_commits.Add({{"result", "ok"}}).Increment();
  }
  for (size_t k = 0; k < acks.size(); ++k) {
    auto& item = items[out_item[k]];
    auto& o = outcomes[out_item[k]];
    const auto& e = item.event;
    const nats::PubAck ack = acks[k].value();
    const std::string dedup_key =
        e.provider_id.empty() ? "" : nats::kvKey(e.instance + "\n" + e.provider_id);
    if (ack.duplicate) {
      // Stored by an earlier try (or another member) within the window.
      o.duplicate = true;
      if (!dedup_key.empty()) {
        if (auto known = dedup_->get(dedup_key); known && known.value()) {
          o.event_id = known.value()->value;
        }
      }
      continue;
    }
    json trace = {{"seq", ack.sequence}, {"deliveries", json::array()}};
    for (size_t n = 0; n < item.deliveries.size(); ++n) {
      const auto& p = item.deliveries[n];
      trace["deliveries"].push_back(
          {{"n", n},
           {"id", static_cast<int64_t>(ack.sequence) * kIdStride + static_cast<int64_t>(n)},
           {"route", p.route_id},
           {"target", p.target},
           {"action", p.action},
           {"order_key", p.order_key.empty() ? e.id : p.order_key},
           {"state", "pending"},
           {"created_ms", now_ms},
           {"updated_ms", now_ms},
           {"attempts", json::array()}});
    }
    // Only if absent: the partition's owner may already have delivered the
    // event and written its trace (it writes the entry itself when missing).
    if (auto w = trace_->create(nats::kvKey(e.id), trace.dump()); !w) {
      log::warn(kLog, "event stored; its trace waits for the first attempt",
                {{"event_id", e.id}, {"reason", w.status().message()}});
    }
    if (!dedup_key.empty()) {
      if (auto w = dedup_->create(dedup_key, e.id); w && !w.value().written()) {
        if (auto known = dedup_->get(dedup_key); known && known.value()) {
          // Another member stored the same provider id first (outside the
          // stream's window): this copy is a duplicate too.
          o.event_id = known.value()->value;
          o.duplicate = o.event_id != e.id;
        }
      }
    }
  }
  if (options_.metrics != nullptr) {
    for (const auto& o : outcomes) {
      if (o.timers_scheduled > 0) {
        options_.metrics->timers.Add({{"result", "scheduled"}}).Increment(o.timers_scheduled);
      }
      if (o.timers_cancelled > 0) {
        options_.metrics->timers.Add({{"result", "cancelled"}}).Increment(o.timers_cancelled);
      }
    }
  }
  return outcomes;
}

Status NatsBus::applySideEffects(const AppendItem& item, AppendOutcome& o) {
  if (item.conversation) {
    if (auto s = upsertConversation(*item.conversation); !s.isOk()) return s;
  }
  for (const auto& c : item.conversation_clears) {
    if (auto s = clearConversation(c); !s.isOk()) return s;
  }
  if (item.status_update) {
    if (auto s = applyStatus(*item.status_update); !s.isOk()) return s;
  }
  for (const auto& op : item.timers) {
    if (auto s = applyTimerOp(op, o); !s.isOk()) return s;
  }
  for (const auto& w : item.state) {
    if (auto s = applyState(w); !s.isOk()) return s;
  }
  return Status::ok();
}

namespace {

// Runs `change` on the current value of `key` (nullopt when absent) and
// writes the result with compare-and-set, retrying on a concurrent write.
// `change` returns nullopt to leave the key as it is. `known`, when given,
// is a value of the key read earlier, tried first instead of a read.
Status casLoop(
    nats::KeyValue& kv, const std::string& key,
    const std::function<std::optional<std::string>(const std::optional<std::string>&)>& change,
    const std::optional<nats::KvEntry>* known = nullptr) {
  for (int i = 0; i < kCasTries; ++i) {
    auto cur =
        i == 0 && known != nullptr ? Result<std::optional<nats::KvEntry>>(*known) : kv.get(key);
    if (!cur) return cur.status();
    std::optional<std::string> value;
    if (cur.value()) value = cur.value()->value;
    auto next = change(value);
    if (!next) return Status::ok();
    auto w = cur.value() ? kv.update(key, *next, cur.value()->revision) : kv.create(key, *next);
    if (!w) return w.status();
    if (w.value().written()) return Status::ok();
  }
  return Status(Code::kUnavailable, "nats: too many concurrent writes to one key");
}

}  // namespace

Status NatsBus::upsertConversation(const ConversationUpsert& c) {
  const int64_t now_ms = now();
  return casLoop(*conv_, nats::kvKey(c.conversation_id),
                 [&](const std::optional<std::string>& cur) -> std::optional<std::string> {
                   Conversation v;
                   if (cur) {
                     v = conversationFrom(json::parse(*cur, nullptr, false));
                   } else {
                     v.conversation_id = c.conversation_id;
                     v.instance = c.instance;
                     v.address = c.address;
                     v.contact_json = "{}";
                     v.created_ms = now_ms;
                   }
                   if (!c.contact_json.empty() && c.contact_json != "{}") {
                     v.contact_json = sealText(c.contact_json);
                   }
                   v.last_inbound_ms = std::max(v.last_inbound_ms, c.inbound_ms);
                   if (v.awaiting_ms == 0 && c.start_waiting) v.awaiting_ms = c.inbound_ms;
                   if (v.opened_ms == 0) v.opened_ms = c.inbound_ms;
                   return conversationJson(v).dump();
                 });
}

Status NatsBus::clearConversation(const ConversationClear& c) {
  return casLoop(*conv_, nats::kvKey(c.conversation_id),
                 [&](const std::optional<std::string>& cur) -> std::optional<std::string> {
                   if (!cur) return std::nullopt;
                   Conversation v = conversationFrom(json::parse(*cur, nullptr, false));
                   if (c.awaiting) v.awaiting_ms = 0;
                   if (c.opened) v.opened_ms = 0;
                   return conversationJson(v).dump();
                 });
}

Status NatsBus::applyStatus(const StatusUpdate& u) {
  return casLoop(*msg_, nats::kvKey("status\n" + u.instance + "\n" + u.provider_message_id),
                 [&](const std::optional<std::string>& cur) -> std::optional<std::string> {
                   if (cur) {
                     auto j = json::parse(*cur, nullptr, false);
                     if (j.is_object() && j.value("rank", 0) >= u.rank) return std::nullopt;
                   }
                   return json{{"status", u.status},
                               {"rank", u.rank},
                               {"error", u.error_json.empty() ? "{}" : u.error_json},
                               {"updated_ms", u.at_ms}}
                       .dump();
                 });
}

Status NatsBus::applyState(const StateWrite& w) {
  const std::string key = nats::kvKey(w.instance + "\n" + w.key);
  if (w.erase) return state_->erase(key);
  const int64_t now_ms = now();
  const std::string value = json{{"instance", w.instance},
                                 {"key", w.key},
                                 {"value", sealText(w.value)},
                                 {"expires_ms", w.ttl_ms > 0 ? now_ms + w.ttl_ms : 0}}
                                .dump();
  if (!w.only_if_absent) {
    auto put = state_->put(key, value);
    return put ? Status::ok() : put.status();
  }
  return casLoop(*state_, key,
                 [&](const std::optional<std::string>& cur) -> std::optional<std::string> {
                   if (cur) {
                     auto j = json::parse(*cur, nullptr, false);
                     const int64_t exp = j.is_object() ? j.value("expires_ms", int64_t{0}) : 0;
                     if (exp == 0 || exp > now_ms) return std::nullopt;  // still there
                   }
                   return value;
                 });
}

Status NatsBus::applyTimerOp(const TimerOp& op, AppendOutcome& o) {
  const auto& t = op.timer;
  const int64_t now_ms = now();
  switch (op.kind) {
    case TimerOp::Kind::kSchedule:
    case TimerOp::Kind::kReschedule: {
      Timer timer;
      timer.spec = t;
      if (timer.spec.payload.empty()) timer.spec.payload = "{}";
      timer.spec.payload = sealText(timer.spec.payload);
      timer.state = "pending";
      timer.created_ms = now_ms;
      bool scheduled = false;
      auto s = casLoop(*timers_kv_, nats::kvKey(t.key),
                       [&](const std::optional<std::string>& cur) -> std::optional<std::string> {
                         scheduled = false;
                         if (!cur) {
                           scheduled = true;
                           return timerJson(timer).dump();
                         }
                         if (op.kind == TimerOp::Kind::kSchedule) return std::nullopt;
                         Timer old = timerFrom(json::parse(*cur, nullptr, false));
                         if (old.state != "pending") return std::nullopt;
                         old.spec.due_ms = timer.spec.due_ms;
                         old.spec.payload = timer.spec.payload;
                         scheduled = true;
                         return timerJson(old).dump();
                       });
      if (!s.isOk()) return s;
      o.timers_scheduled += scheduled ? 1 : 0;
      return Status::ok();
    }
    case TimerOp::Kind::kCancelKey:
    case TimerOp::Kind::kCancelGroup:
    case TimerOp::Kind::kCancelRef: {
      const std::string& value = op.kind == TimerOp::Kind::kCancelKey     ? t.key
                                 : op.kind == TimerOp::Kind::kCancelGroup ? t.group
                                                                          : t.ref;
      if (value.empty()) return Status::ok();
      std::vector<std::string> keys;
      if (op.kind == TimerOp::Kind::kCancelKey) {
        keys.push_back(t.key);
      } else {
        std::lock_guard<std::mutex> lock(timers_mutex_);
        for (const auto& [k, entry] : timers_) {
          const auto& spec = entry.timer.spec;
          const std::string& field = op.kind == TimerOp::Kind::kCancelGroup ? spec.group : spec.ref;
          if (field == value && spec.automation == t.automation && entry.timer.state == "pending") {
            keys.push_back(spec.key);
          }
        }
      }
      for (const auto& key : keys) {
        bool cancelled = false;
        auto s = casLoop(*timers_kv_, nats::kvKey(key),
                         [&](const std::optional<std::string>& cur) -> std::optional<std::string> {
                           cancelled = false;
                           if (!cur) return std::nullopt;
                           Timer old = timerFrom(json::parse(*cur, nullptr, false));
                           if (old.state != "pending" || old.spec.automation != t.automation) {
                             return std::nullopt;
                           }
                           old.state = "cancelled";
                           old.done_ms = now_ms;
                           cancelled = true;
                           return timerJson(old).dump();
                         });
        if (!s.isOk()) return s;
        o.timers_cancelled += cancelled ? 1 : 0;
      }
      return Status::ok();
    }
  }
  return Status::ok();
}

// ------------------------------------------------------------ registry --

std::optional<Conversation> NatsBus::conversation(const std::string& conversation_id) {
  auto got = conv_->get(nats::kvKey(conversation_id));
  if (!got || !got.value()) return std::nullopt;
  Conversation c = conversationFrom(json::parse(got.value()->value, nullptr, false));
  c.contact_json = openText(c.contact_json);
  return c;
}

std::optional<SentMessage> NatsBus::sentMessage(const std::string& target,
                                                const std::string& provider_message_id) {
  auto got = msg_->get(nats::kvKey("sent\n" + target + "\n" + provider_message_id));
  if (!got || !got.value()) return std::nullopt;
  auto j = json::parse(got.value()->value, nullptr, false);
  if (!j.is_object()) return std::nullopt;
  return SentMessage{j.value("event_id", ""), j.value("subject", ""), j.value("key", ""),
                     openText(j.value("event_json", ""))};
}

std::optional<MessageState> NatsBus::messageState(const std::string& instance,
                                                  const std::string& provider_message_id) {
  auto got = msg_->get(nats::kvKey("status\n" + instance + "\n" + provider_message_id));
  if (!got || !got.value()) return std::nullopt;
  auto j = json::parse(got.value()->value, nullptr, false);
  if (!j.is_object()) return std::nullopt;
  return MessageState{j.value("status", ""), j.value("rank", 0), j.value("error", "{}"),
                      j.value("updated_ms", int64_t{0})};
}

std::optional<std::string> NatsBus::kvGet(const std::string& instance, const std::string& key) {
  auto got = state_->get(nats::kvKey(instance + "\n" + key));
  if (!got || !got.value()) return std::nullopt;
  auto j = json::parse(got.value()->value, nullptr, false);
  if (!j.is_object()) return std::nullopt;
  const int64_t exp = j.value("expires_ms", int64_t{0});
  if (exp != 0 && exp <= now()) return std::nullopt;
  return openText(j.value("value", ""));
}

Status NatsBus::kvPut(const std::string& instance, const std::string& key, const std::string& value,
                      std::chrono::milliseconds ttl) {
  StateWrite w;
  w.instance = instance;
  w.key = key;
  w.value = value;
  w.ttl_ms = ttl.count();
  return applyState(w);
}

Status NatsBus::kvDelete(const std::string& instance, const std::string& key) {
  return state_->erase(nats::kvKey(instance + "\n" + key));
}

// ---------------------------------------------------------------- timers --

void NatsBus::timerWatchLoop() {
  while (!stopping_.load()) {
    auto w = timers_kv_->watchAll();
    if (!w) {
      log::warn(kLog, "cannot watch the timers bucket; trying again",
                {{"reason", w.status().message()}});
      std::unique_lock<std::mutex> lock(lease_wait_mutex_);
      lease_wait_cv_.wait_for(lock, 1s, [&] { return stopping_.load(); });
      continue;
    }
    auto watcher = std::move(w).value();
    std::map<std::string, TimerEntry> fresh;
    bool loaded = false;
    while (!stopping_.load()) {
      auto next = watcher->next(500ms);
      if (!next) {
        log::warn(kLog, "the timers watch failed; starting it again",
                  {{"reason", next.status().message()}});
        break;
      }
      if (!next.value()) continue;  // timeout
      const auto& u = *next.value();
      if (u.key.empty()) {  // caught up with the bucket
        std::lock_guard<std::mutex> lock(timers_mutex_);
        if (!loaded) {
          timers_ = std::move(fresh);
          fresh.clear();
          loaded = true;
        }
        timers_loaded_ = true;
        timers_cv_.notify_all();
        continue;
      }
      auto& target = loaded ? timers_ : fresh;
      std::unique_lock<std::mutex> lock(timers_mutex_, std::defer_lock);
      if (loaded) lock.lock();
      if (u.deleted) {
        // Keys are kvKey(timer key); the mirror is keyed by the timer key.
        for (auto it = target.begin(); it != target.end(); ++it) {
          if (nats::kvKey(it->first) == u.key) {
            target.erase(it);
            break;
          }
        }
        continue;
      }
      auto j = json::parse(u.value, nullptr, false);
      if (!j.is_object()) continue;
      Timer t = timerFrom(j);
      target[t.spec.key] = TimerEntry{t, u.revision};
      timers_cv_.notify_all();
    }
  }
}

std::vector<Timer> NatsBus::dueTimers(int64_t now_ms, size_t limit) {
  std::vector<Timer> out;
  if (!timer_leader_.load()) return out;  // another member fires them
  {
    std::lock_guard<std::mutex> lock(timers_mutex_);
    for (const auto& [k, e] : timers_) {
      if (e.timer.state == "pending" && e.timer.spec.due_ms <= now_ms) out.push_back(e.timer);
    }
  }
  std::sort(out.begin(), out.end(), [](const Timer& a, const Timer& b) {
    return std::tie(a.spec.due_ms, a.spec.key) < std::tie(b.spec.due_ms, b.spec.key);
  });
  if (out.size() > limit) out.resize(limit);
  for (auto& t : out) t.spec.payload = openText(t.spec.payload);
  return out;
}

std::optional<int64_t> NatsBus::nextTimerDue() {
  std::optional<int64_t> next;
  std::lock_guard<std::mutex> lock(timers_mutex_);
  for (const auto& [k, e] : timers_) {
    if (e.timer.state == "pending" && (!next || e.timer.spec.due_ms < *next)) {
      next = e.timer.spec.due_ms;
    }
  }
  if (next && !timer_leader_.load()) {
    // Not ours to fire: look again after a lease period (the leader may die).
    next = std::max(*next, now() + options_.lease.count());
  }
  return next;
}

std::optional<Timer> NatsBus::timer(const std::string& key) {
  auto got = timers_kv_->get(nats::kvKey(key));
  if (!got || !got.value()) return std::nullopt;
  Timer t = timerFrom(json::parse(got.value()->value, nullptr, false));
  t.spec.payload = openText(t.spec.payload);
  return t;
}

int64_t NatsBus::pendingTimers() {
  std::lock_guard<std::mutex> lock(timers_mutex_);
  return std::count_if(timers_.begin(), timers_.end(),
                       [](const auto& e) { return e.second.timer.state == "pending"; });
}

Result<bool> NatsBus::fireTimer(const std::string& key, int64_t due_ms, const std::string& state,
                                std::vector<AppendItem> items) {
  auto cur = timers_kv_->get(nats::kvKey(key));
  if (!cur) return cur.status();
  if (!cur.value()) return false;
  Timer t = timerFrom(json::parse(cur.value()->value, nullptr, false));
  if (t.state != "pending" || t.spec.due_ms != due_ms) return false;
  // The effects first: they carry deterministic provider ids, so if this
  // process dies before the timer is marked, the next leader's second try
  // is deduplicated; marking first could lose them.
  if (!items.empty()) {
    auto appended = appendItems(std::move(items));
    if (!appended) return appended.status();
  }
  t.state = state;
  t.done_ms = now();
  auto w = timers_kv_->update(nats::kvKey(key), timerJson(t).dump(), cur.value()->revision);
  if (!w) return w.status();
  return w.value().written();
}

Result<bool> NatsBus::postponeTimer(const std::string& key, int64_t due_ms, int64_t new_due_ms) {
  auto cur = timers_kv_->get(nats::kvKey(key));
  if (!cur) return cur.status();
  if (!cur.value()) return false;
  Timer t = timerFrom(json::parse(cur.value()->value, nullptr, false));
  if (t.state != "pending" || t.spec.due_ms != due_ms) return false;
  t.spec.due_ms = new_due_ms;
  auto w = timers_kv_->update(nats::kvKey(key), timerJson(t).dump(), cur.value()->revision);
  if (!w) return w.status();
  return w.value().written();
}

// ------------------------------------------------------ members, leases --

std::vector<int> NatsBus::ownedPartitions() const {
  std::lock_guard<std::mutex> lock(parts_mutex_);
  std::vector<int> out;
  for (const auto& [p, part] : parts_) out.push_back(p);
  return out;
}

std::vector<std::string> NatsBus::members() {
  std::vector<std::string> out;
  auto keys = lease_->keys();
  if (!keys) return out;
  for (const auto& k : keys.value()) {
    if (k.rfind("member.", 0) == 0) out.push_back(k.substr(7));
  }
  std::sort(out.begin(), out.end());
  return out;
}

void NatsBus::leaseLoop() {
  while (!stopping_.load()) {
    {
      std::unique_lock<std::mutex> lock(lease_wait_mutex_);
      lease_wait_cv_.wait_for(lock, options_.lease / 3, [&] { return stopping_.load(); });
    }
    if (stopping_.load()) return;
    leaseTick();
  }
}

void NatsBus::leaseTick() {
  std::lock_guard<std::mutex> tick(tick_mutex_);
  auto* m = options_.metrics;
  const bool connected = conn_->connected();
  if (m != nullptr) m->bus_connected.Add({}).Set(connected ? 1 : 0);
  if (connected != was_connected_.exchange(connected)) {
    if (connected) {
      log::info(kLog, "NATS connection back", {{"member", member_}});
    } else {
      log::warn(kLog, "NATS connection lost: webhooks get 503 until it is back; reconnecting",
                {{"member", member_}, {"servers", options_.urls.size()}});
    }
  }
  const int64_t now_ms = now();
  bool started = false;
  json heartbeat = {{"member", member_}, {"at_ms", now_ms}, {"targets", json::object()}};
  {
    std::lock_guard<std::mutex> lock(dispatch_mutex_);
    started = started_ && !dispatch_stop_;
    for (const auto& [key, q] : queues_) {
      if (q.empty()) continue;
      auto& t = heartbeat["targets"][key.first];
      if (!t.is_object()) t = json::object();
      t["pending"] = t.value("pending", int64_t{0}) + static_cast<int64_t>(q.size());
      int64_t oldest = t.value("oldest_ms", int64_t{0});
      for (const auto& p : q) {
        if (oldest == 0 || p->d.created_ms < oldest) oldest = p->d.created_ms;
      }
      t["oldest_ms"] = oldest;
    }
  }
  const int64_t fence = options_.lease.count() * 2 / 3;
  // Leases not renewed in time (no connection, or calls that hang) expire
  // and other members take them: let ours go before that.
  auto dropStale = [&](const char* why) {
    std::vector<int> stale;
    {
      std::lock_guard<std::mutex> lock(parts_mutex_);
      for (const auto& [p, part] : parts_) {
        if (now() >= part->valid_until_ms.load()) stale.push_back(p);
      }
    }
    for (int p : stale) {
      log::warn(kLog, "partition lease not renewed in time: letting it go",
                {{"partition", p}, {"why", why}});
      releaseAsync(p, false);
    }
    if (timer_leader_.load() && now() - timer_renewed_ms_ >= fence) {
      timer_leader_ = false;
      log::warn(kLog, "timer lease not renewed in time: another member fires the timers",
                {{"why", why}});
    }
  };
  if (!connected) {
    dropStale("disconnected");
    return;
  }
  // Renew what we own first: it is what must not lapse.
  std::vector<std::shared_ptr<Part>> owned;
  {
    std::lock_guard<std::mutex> lock(parts_mutex_);
    for (const auto& [p, part] : parts_) owned.push_back(part);
  }
  for (const auto& part : owned) {
    const int64_t asked_ms = now();
    auto w = lease_->update("part." + std::to_string(part->p), member_, part->lease_rev);
    if (w && w.value().written()) {
      part->lease_rev = w.value().revision;
      part->valid_until_ms = asked_ms + fence;
    } else if (w) {
      log::warn(kLog, "partition lease taken by another member", {{"partition", part->p}});
      releaseAsync(part->p, false);
    }
  }
  if (started && timer_leader_.load()) {
    const int64_t asked_ms = now();
    auto w = lease_->update("timers", member_, timer_lease_rev_);
    if (w && w.value().written()) {
      timer_lease_rev_ = w.value().revision;
      timer_renewed_ms_ = asked_ms;
    } else if (w) {
      timer_leader_ = false;
      log::warn(kLog, "timer lease taken by another member");
    }
  }
  dropStale("renewal failed");
  heartbeat["partitions"] = ownedPartitions();
  if (auto put = lease_->put("member." + nats::kvKey(member_), heartbeat.dump()); !put) {
    log::warn(kLog, "cannot write the member heartbeat", {{"reason", put.status().message()}});
    return;
  }
  if (!started) {
    if (timer_leader_.exchange(false)) (void)lease_->erase("timers");
  } else if (!timer_leader_.load()) {
    if (auto w = lease_->create("timers", member_); w && w.value().written()) {
      timer_lease_rev_ = w.value().revision;
      timer_renewed_ms_ = now_ms;
      timer_leader_ = true;
      log::info(kLog, "this member now fires the timers", {{"member", member_}});
    }
  }
  // Balance: every live member takes its share.
  auto live = members();
  if (std::find(live.begin(), live.end(), nats::kvKey(member_)) == live.end()) {
    live.push_back(nats::kvKey(member_));
  }
  const int share = started ? (options_.partitions + static_cast<int>(live.size()) - 1) /
                                  static_cast<int>(live.size())
                            : 0;
  auto mine = ownedPartitions();
  while (static_cast<int>(mine.size()) > share) {
    const int p = mine.back();
    mine.pop_back();
    log::info(kLog, "handing a partition over", {{"partition", p}, {"share", share}});
    releaseAsync(p, true);
  }
  if (static_cast<int>(mine.size()) < share) {
    // Start at a different place per member, so joiners do not all race
    // for partition 0.
    const size_t me = static_cast<size_t>(
        std::find(live.begin(), live.end(), nats::kvKey(member_)) - live.begin());
    const int start = static_cast<int>(me * static_cast<size_t>(options_.partitions) /
                                       std::max<size_t>(1, live.size()));
    for (int i = 0; i < options_.partitions && static_cast<int>(mine.size()) < share; ++i) {
      const int p = (start + i) % options_.partitions;
      if (std::find(mine.begin(), mine.end(), p) != mine.end()) continue;
      auto w = lease_->create("part." + std::to_string(p), member_);
      if (!w || !w.value().written()) continue;
      auto part = std::make_shared<Part>();
      part->p = p;
      part->lease_rev = w.value().revision;
      part->valid_until_ms = now_ms + fence;
      {
        std::lock_guard<std::mutex> lock(parts_mutex_);
        parts_[p] = part;
      }
      acquire(p);
      mine.push_back(p);
    }
  }
  if (m != nullptr) m->bus_partitions.Add({}).Set(static_cast<double>(mine.size()));
}

void NatsBus::acquire(int p) {
  std::shared_ptr<Part> part;
  {
    std::lock_guard<std::mutex> lock(parts_mutex_);
    part = parts_.at(p);
  }
  nats::ConsumerSpec spec;
  spec.stream = options_.stream;
  spec.durable = "part-" + std::to_string(p);
  spec.filter_subject = prefix_ + ".ev." + std::to_string(p);
  spec.ack_wait = options_.ack_wait;
  spec.max_deliver = options_.max_deliver;
  spec.backoff = {options_.ack_wait, 2 * options_.ack_wait};
  spec.max_ack_pending = 20000;
  auto consumer = conn_->jetstream().pullConsumer(spec);
  if (!consumer) {
    log::warn(kLog, "cannot bind a partition's consumer; letting it go",
              {{"partition", p}, {"reason", consumer.status().message()}});
    {
      std::lock_guard<std::mutex> lock(parts_mutex_);
      parts_.erase(p);
    }
    (void)lease_->erase("part." + std::to_string(p));
    return;
  }
  part->consumer = std::move(consumer).value();
  uint64_t settle = 0;
  if (auto st = conn_->jetstream().consumerState(options_.stream, spec.durable); st) {
    settle = st.value().num_ack_pending;
  }
  log::info(kLog, "took a partition",
            {{"partition", p}, {"member", member_}, {"unacked_before", settle}});
  part->fetcher = std::thread([this, part, settle] {
    // Messages that went to another fetch (the last owner's, or one of ours
    // lost with a connection) come back after their ack wait. Until they
    // are here (or the longest backoff passed), later messages of this
    // partition are held, then everything goes on in stream order, so that
    // a conversation keeps its order. At a takeover the count is the
    // consumer's unacked messages; later, a gap in the consumer's sequence.
    std::vector<nats::Message> settling;
    uint64_t want = settle;  // redeliveries to wait for
    uint64_t redelivered = 0;
    int64_t settle_deadline = now() + 2 * options_.ack_wait.count() + 1000;
    const char* why = "takeover";
    uint64_t last_cseq = 0;
    int64_t last_extend = now();
    while (!part->stop.load()) {
      auto got = part->consumer->fetch(64, 250ms);
      if (!got) {
        if (!part->stop.load()) {
          log::debug(kLog, "fetch failed",
                     {{"partition", part->p}, {"reason", got.status().message()}});
          std::this_thread::sleep_for(100ms);  // the connection is reconnecting
        }
        continue;
      }
      for (auto& msg : got.value()) {
        const auto& meta = msg.metadata();
        if (last_cseq != 0 && meta.consumer_sequence > last_cseq + 1) {
          // Deliveries we never saw: they come back as redeliveries.
          if (want == 0) {
            redelivered = 0;
            settle_deadline = now() + 2 * options_.ack_wait.count() + 1000;
            why = "lost fetch";
          }
          want += meta.consumer_sequence - last_cseq - 1;
        }
        last_cseq = std::max(last_cseq, meta.consumer_sequence);
        if (want == 0) {
          accept(part, std::move(msg));
        } else {
          if (meta.num_delivered > 1) ++redelivered;
          settling.push_back(std::move(msg));
        }
      }
      const int64_t now_ms = now();
      if (want > 0 && (redelivered >= want || now_ms >= settle_deadline)) {
        std::sort(settling.begin(), settling.end(), [](const auto& a, const auto& b) {
          return a.metadata().stream_sequence < b.metadata().stream_sequence;
        });
        log::info(kLog, "partition settled: held messages go on in stream order",
                  {{"partition", part->p},
                   {"after", why},
                   {"redelivered", redelivered},
                   {"expected", want},
                   {"messages", settling.size()}});
        for (auto& msg : settling) accept(part, std::move(msg));
        settling.clear();
        want = 0;
        redelivered = 0;
      }
      if (now_ms - last_extend >= options_.ack_wait.count() / 3) {
        last_extend = now_ms;
        for (auto& msg : settling) (void)msg.inProgress();
        std::lock_guard<std::mutex> lock(part->mu);
        for (auto& h : part->held) {
          if (!h->acked) (void)h->msg.inProgress();
        }
      }
    }
  });
}

void NatsBus::releaseAsync(int p, bool graceful) {
  // Taken out of parts_ now (no more renewals, dispatch fenced), drained on
  // a thread of its own: waiting for attempts in flight must not hold up
  // the renewal of the other leases.
  std::shared_ptr<Part> part;
  {
    std::lock_guard<std::mutex> lock(parts_mutex_);
    auto it = parts_.find(p);
    if (it == parts_.end()) return;
    part = it->second;
    parts_.erase(it);
  }
  part->valid_until_ms = 0;
  std::lock_guard<std::mutex> lock(releasers_mutex_);
  releasers_.emplace_back([this, part, graceful] { drain(part, graceful); });
}

void NatsBus::release(int p, bool graceful) {
  std::shared_ptr<Part> part;
  {
    std::lock_guard<std::mutex> lock(parts_mutex_);
    auto it = parts_.find(p);
    if (it == parts_.end()) return;
    part = it->second;
    parts_.erase(it);
  }
  part->valid_until_ms = 0;
  drain(part, graceful);
}

void NatsBus::drain(const std::shared_ptr<Part>& part, bool graceful) {
  const int p = part->p;
  part->stop = true;
  if (part->fetcher.joinable()) part->fetcher.join();
  {
    // Deliveries of this partition not running now are dropped here; the
    // next owner gets their messages again.
    std::unique_lock<std::mutex> lock(dispatch_mutex_);
    for (auto it = queues_.begin(); it != queues_.end();) {
      auto& q = it->second;
      q.erase(std::remove_if(q.begin(), q.end(),
                             [&](const std::shared_ptr<Pending>& x) {
                               return x->held->partition == p && !x->running;
                             }),
              q.end());
      it = q.empty() ? queues_.erase(it) : std::next(it);
    }
    ready_.erase(
        std::remove_if(ready_.begin(), ready_.end(),
                       [&](const std::shared_ptr<Pending>& x) { return x->held->partition == p; }),
        ready_.end());
    reindexAll();
    auto running = [&] {
      for (const auto& [k, q] : queues_) {
        for (const auto& x : q) {
          if (x->held->partition == p && x->running) return true;
        }
      }
      return false;
    };
    idle_cv_.wait_for(lock, 10s, [&] { return !running(); });
  }
  {
    std::lock_guard<std::mutex> lock(part->mu);
    for (auto& h : part->held) {
      if (h->acked) continue;
      h->acked = true;                   // not ours any more
      if (graceful) (void)h->msg.nak();  // to the next owner now, not after the ack wait
    }
    part->held.clear();
  }
  part->consumer.reset();
  if (graceful) (void)lease_->erase("part." + std::to_string(p));
  if (options_.metrics != nullptr) {
    options_.metrics->bus_partitions.Add({}).Set(static_cast<double>(ownedPartitions().size()));
  }
}

void NatsBus::accept(const std::shared_ptr<Part>& part, nats::Message msg) {
  const auto meta = msg.metadata();
  auto env = parse(msg.data(), "event message");
  if (!env || !env.value().contains("event") || !env.value()["event"].is_object()) {
    log::error(kLog, "dropping an unreadable event message",
               {{"partition", part->p}, {"seq", meta.stream_sequence}});
    (void)msg.term();
    return;
  }
  const json& j = env.value();
  EventRecord event = recordFrom(j["event"]);
  auto held = std::make_shared<Held>(std::move(msg));
  held->seq = meta.stream_sequence;
  held->partition = part->p;
  held->part = part;
  const bool poison =
      meta.num_delivered > 1 && static_cast<int>(meta.num_delivered) >= options_.max_deliver;
  // A message seen before (its owner died, or a replay): skip what is
  // finished, and count the attempts made since the delivery was created.
  std::map<int64_t, std::string> states;
  std::map<int64_t, int> attempts_since;
  if (meta.num_delivered > 1 || j.value("replay", false)) {
    if (auto t = trace_->get(nats::kvKey(event.id)); t && t.value()) {
      auto tj = json::parse(t.value()->value, nullptr, false);
      if (tj.is_object() && tj.value("erased", false)) {
        (void)held->msg.ack();  // erased with its contact: nothing to deliver
        return;
      }
      if (tj.is_object()) {
        for (const auto& d : tj.value("deliveries", json::array())) {
          const int64_t n = d.value("n", int64_t{0});
          states[n] = d.value("state", "pending");
          int count = 0;
          for (const auto& a : d.value("attempts", json::array())) {
            if (a.value("started_ms", int64_t{0}) >= d.value("created_ms", int64_t{0})) ++count;
          }
          attempts_since[n] = count;
        }
      }
    }
  }
  std::vector<std::shared_ptr<Pending>> pendings;
  const int64_t now_ms = now();
  for (const auto& plan : j.value("deliveries", json::array())) {
    const int64_t n = plan.value("n", int64_t{0});
    if (auto s = states.find(n); s != states.end() && s->second != "pending") continue;
    auto p = std::make_shared<Pending>();
    p->index = n;
    p->held = held;
    p->event = event;
    p->override_json = plan.value("override", "");
    p->done = false;
    Delivery& d = p->d;
    d.id = plan.contains("id") ? plan.value("id", int64_t{0})
                               : static_cast<int64_t>(held->seq) * kIdStride + n;
    d.event_id = event.id;
    d.route_id = plan.value("route", "");
    d.target = plan.value("target", "");
    d.action = plan.value("action", "");
    d.rendered = plan.value("rendered", "");
    d.order_key = plan.value("order_key", event.id);
    d.idempotency_key = event.id + "." + std::to_string(n);
    d.attempts = attempts_since.count(n) ? attempts_since[n] : 0;
    d.created_ms = plan.value("created_ms", now_ms);
    d.next_attempt_ms = now_ms;
    if (poison) d.attempts = -1;  // marks: no attempt, straight to the dead letters
    pendings.push_back(std::move(p));
  }
  held->remaining = static_cast<int>(pendings.size());
  if (pendings.empty()) {
    (void)held->msg.ack();
    return;
  }
  {
    std::lock_guard<std::mutex> lock(part->mu);
    part->held.push_back(held);
  }
  std::lock_guard<std::mutex> lock(dispatch_mutex_);
  for (auto& p : pendings) {
    QueueKey key{p->d.target, p->d.order_key};
    auto& q = queues_[key];
    q.push_back(std::move(p));
    if (q.size() == 1) indexFront(key);
  }
  ++wake_generation_;
  dispatch_cv_.notify_all();
}

// -------------------------------------------------------------- dispatch --

void NatsBus::start(DeliverFn deliver, int workers, ExpiredFn expired) {
  {
    std::lock_guard<std::mutex> lock(dispatch_mutex_);
    if (started_) return;
    started_ = true;
    dispatch_stop_ = false;
    deliver_ = std::move(deliver);
    expired_ = std::move(expired);
    worker_count_ = std::max(1, workers);
    targets_.clearInFlight();
    for (int i = 0; i < worker_count_; ++i) workers_.emplace_back([this] { workerLoop(); });
    dispatcher_ = std::thread([this] { dispatcherLoop(); });
  }
  leaseTick();  // takes this member's share of the partitions now
}

void NatsBus::stop(std::chrono::milliseconds grace) {
  {
    std::unique_lock<std::mutex> lock(dispatch_mutex_);
    if (!started_) return;
    dispatch_stop_ = true;
    for (auto& p : ready_) p->running = false;
    ready_.clear();
    reindexAll();
    dispatch_cv_.notify_all();
    work_cv_.notify_all();
    if (!idle_cv_.wait_for(lock, grace, [&] { return busy_workers_ == 0; })) {
      log::warn(kLog, "stopping with delivery attempts still running; they finish first",
                {{"running", busy_workers_}});
    }
  }
  if (dispatcher_.joinable()) dispatcher_.join();
  for (auto& w : workers_) {
    if (w.joinable()) w.join();
  }
  {
    std::lock_guard<std::mutex> lock(dispatch_mutex_);
    workers_.clear();
    started_ = false;
  }
  // Hand the partitions over at once (their unfinished messages go back to
  // the stream for the next owner) and let the timers go.
  for (int p : ownedPartitions()) release(p, true);
  joinReleasers();
  if (timer_leader_.exchange(false)) (void)lease_->erase("timers");
}

void NatsBus::joinReleasers() {
  std::vector<std::thread> done;
  {
    std::lock_guard<std::mutex> lock(releasers_mutex_);
    done.swap(releasers_);
  }
  for (auto& t : done) {
    if (t.joinable()) t.join();
  }
}

void NatsBus::wake() {
  std::lock_guard<std::mutex> lock(dispatch_mutex_);
  ++wake_generation_;
  dispatch_cv_.notify_all();
}

void NatsBus::indexFront(const QueueKey& key) {
  auto it = queues_.find(key);
  if (it == queues_.end() || it->second.empty()) return;
  const auto& h = it->second.front();
  if (h->running || h->done) return;
  if (h->indexed && h->idx_due == h->d.next_attempt_ms) return;
  unindex(h);
  h->indexed = true;
  h->idx_due = h->d.next_attempt_ms;
  due_[key.first].emplace(h->idx_due, h->d.id, h);
}

void NatsBus::unindex(const std::shared_ptr<Pending>& p) {
  if (!p->indexed) return;
  p->indexed = false;
  auto it = due_.find(p->d.target);
  if (it == due_.end()) return;
  it->second.erase({p->idx_due, p->d.id, p});
  if (it->second.empty()) due_.erase(it);
}

void NatsBus::reindexAll() {
  for (auto& [target, entries] : due_) {
    for (const auto& e : entries) std::get<2>(e)->indexed = false;
  }
  due_.clear();
  for (const auto& [key, q] : queues_) indexFront(key);
}

void NatsBus::setTargets(std::map<std::string, TargetOptions> targets) {
  {
    std::lock_guard<std::mutex> lock(dispatch_mutex_);
    targets_.set(std::move(targets));
  }
  wake();
}

void NatsBus::disableTarget(const std::string& target) {
  std::lock_guard<std::mutex> lock(dispatch_mutex_);
  targets_.disable(target);
}

bool NatsBus::isTargetDisabled(const std::string& target) const {
  std::lock_guard<std::mutex> lock(dispatch_mutex_);
  return targets_.disabled(target);
}

std::string NatsBus::circuitState(const std::string& target) const {
  std::lock_guard<std::mutex> lock(dispatch_mutex_);
  return targets_.circuitState(target);
}

void NatsBus::dispatcherLoop() {
  std::unique_lock<std::mutex> lock(dispatch_mutex_);
  while (!dispatch_stop_) {
    const uint64_t generation = wake_generation_;
    const int64_t now_ms = now();
    int free = worker_count_ - busy_workers_ - static_cast<int>(ready_.size());
    int64_t next_due = -1;
    int64_t guard_wake = 0;
    if (free > 0) {
      auto budgets = targets_.budgets(now_ms, worker_count_, guard_wake);
      // Per target, its first deliveries that are due, as many as it may
      // start; then the earliest of them over all targets.
      std::vector<std::shared_ptr<Pending>> heads;
      std::set<std::string> throttled;
      for (const auto& [target, entries] : due_) {
        if (targets_.disabled(target) || !targets_.known(target)) continue;
        auto b = budgets.find(target);
        const int budget = b == budgets.end() || b->second < 0 ? free : std::min(free, b->second);
        int taken = 0;
        for (const auto& [due, id, h] : entries) {
          if (due > now_ms) {
            if (next_due < 0 || due < next_due) next_due = due;
            break;
          }
          if (taken == budget) {
            if (budget == 0 && targets_.throttled(target, now_ms)) throttled.insert(target);
            break;
          }
          if (auto part = h->held->part.lock(); !part || now_ms >= part->valid_until_ms.load()) {
            continue;  // the lease may be another member's by now
          }
          heads.push_back(h);
          ++taken;
        }
      }
      std::sort(heads.begin(), heads.end(), [](const auto& a, const auto& b) {
        return std::tie(a->d.next_attempt_ms, a->d.id) < std::tie(b->d.next_attempt_ms, b->d.id);
      });
      if (heads.size() > static_cast<size_t>(free)) heads.resize(static_cast<size_t>(free));
      for (const auto& h : heads) {
        unindex(h);
        h->running = true;
        ready_.push_back(h);
        targets_.started(h->d.target, now_ms);
      }
      if (options_.metrics != nullptr) {
        for (const auto& t : throttled) {
          options_.metrics->deliveries_throttled.Add({{"target", t}}).Increment();
        }
      }
      if (!ready_.empty()) work_cv_.notify_all();
    }
    if (generation != wake_generation_) continue;
    auto wait = std::chrono::milliseconds(1000);
    if (guard_wake > 0 && (next_due <= 0 || guard_wake < next_due)) next_due = guard_wake;
    if (next_due > 0) {
      wait = std::clamp(std::chrono::milliseconds(next_due - now()), std::chrono::milliseconds(1),
                        wait);
    }
    dispatch_cv_.wait_for(lock, wait,
                          [&] { return dispatch_stop_ || generation != wake_generation_; });
  }
}

void NatsBus::workerLoop() {
  std::unique_lock<std::mutex> lock(dispatch_mutex_);
  while (true) {
    work_cv_.wait(lock, [&] { return dispatch_stop_ || !ready_.empty(); });
    if (dispatch_stop_ && ready_.empty()) return;
    auto p = ready_.front();
    ready_.pop_front();
    ++busy_workers_;
    lock.unlock();
    runDelivery(p);
    lock.lock();
    --busy_workers_;
    ++wake_generation_;
    dispatch_cv_.notify_all();
    idle_cv_.notify_all();
  }
}

Status NatsBus::updateTrace(const std::string& event_id, const std::function<bool(json&)>& change,
                            const std::optional<nats::KvEntry>* known) {
  return casLoop(
      *trace_, nats::kvKey(event_id),
      [&](const std::optional<std::string>& cur) -> std::optional<std::string> {
        json j = cur ? json::parse(*cur, nullptr, false) : json::object();
        if (!j.is_object()) j = json::object();
        if (!j.contains("deliveries")) j["deliveries"] = json::array();
        if (!change(j)) return std::nullopt;
        return j.dump();
      },
      known);
}

void NatsBus::runDelivery(const std::shared_ptr<Pending>& p) {
  Delivery d = p->d;
  const bool poison = d.attempts < 0;
  if (poison) d.attempts = 0;
  // The trace tells whether the delivery is still wanted: finished by an
  // earlier owner, or erased with its contact (a tombstone). A trace not
  // written yet (the appending instance writes it after the stream's ack)
  // is no reason to wait: the entry is added with the result.
  auto trace = trace_->get(nats::kvKey(d.event_id));
  int prior_attempts = 0;
  if (trace && trace.value()) {
    auto tj = json::parse(trace.value()->value, nullptr, false);
    if (tj.is_object() && tj.value("erased", false)) {
      log::info(kLog, "delivery dropped: its event was erased",
                {{"event_id", d.event_id}, {"delivery_id", d.id}});
      finish(p);
      return;
    }
    for (const auto& x : tj.value("deliveries", json::array())) {
      if (x.value("n", int64_t{-1}) != p->index) continue;
      const std::string state = x.value("state", "pending");
      if (state != "pending") {
        finish(p);
        return;
      }
      prior_attempts = static_cast<int>(x.value("attempts", json::array()).size());
    }
  }
  config::RetryPolicy policy;
  {
    std::lock_guard<std::mutex> lock(dispatch_mutex_);
    policy = targets_.retryPolicy(d.target);
  }
  d.rendered = openText(d.rendered);
  d.event_json = openText(p->override_json.empty() ? p->event.json : p->override_json);
  const int64_t started_ms = now();
  const auto t0 = std::chrono::steady_clock::now();
  DeliveryResult result;
  if (poison) {
    result.outcome = Outcome::kPermanent;
    result.reason = Code::kInternal;
    result.message = "the event message reached max_deliver (its owners stopped while holding it)";
  } else {
    try {
      result = deliver_(d);
    } catch (const std::exception& e) {
      result.outcome = Outcome::kRetry;
      result.reason = Code::kInternal;
      result.message = e.what();
    }
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const int attempt = d.attempts + 1;
  const int64_t end_ms = now();
  {
    std::lock_guard<std::mutex> lock(dispatch_mutex_);
    targets_.ended(d.target);
    if (!poison) targets_.record(d.target, result.outcome, end_ms);
  }

  const std::string reason(codeName(result.reason));
  double jitter = 0;
  if (result.outcome == Outcome::kRetry) {
    std::lock_guard<std::mutex> lock(rng_mutex_);
    jitter = std::uniform_real_distribution<double>(-1.0, 1.0)(rng_);
  }
  const Classified end = classifyResult(d, result, policy, attempt, end_ms, jitter);
  std::string state = end.state;
  const std::string dead_reason = poison ? "max_deliver" : end.dead_reason;
  int64_t next_ms = end.next_ms;
  if (result.outcome == Outcome::kDisable) disableTarget(d.target);
  if (dead_reason == "expired" && expired_) {
    try {
      expired_(d);
    } catch (const std::exception& e) {
      log::error(kLog, "expiry hook failed", {{"id", d.id}, {"reason", e.what()}});
    }
  }
  const std::string message = result.message.substr(0, 1000);
  AttemptInfo info{prior_attempts + 1, started_ms, seconds, outcomeName(result.outcome), reason,
                   result.http_status, message};
  if (poison) info.result = "permanent";
  bool stored = true;
  if (state == "dead") {
    // The dead letter first: if this process dies now, the delivery is
    // still pending in its trace and comes back to the next owner.
    json dl = {{"id", d.id},
               {"n", p->index},
               {"event", recordJson(p->event)},
               {"route", d.route_id},
               {"target", d.target},
               {"action", d.action},
               {"rendered", p->d.rendered},
               {"order_key", d.order_key},
               {"override", p->override_json},
               {"created_ms", d.created_ms},
               {"attempts", attempt},
               {"reason", dead_reason},
               {"message", message},
               {"updated_ms", end_ms}};
    nats::OutMessage m;
    m.subject = prefix_ + ".dlq." + std::to_string(d.id);
    m.data = dl.dump();
    m.msg_id = "dlq-" + std::to_string(d.id) + "-" + std::to_string(prior_attempts + 1);
    if (auto ack = conn_->jetstream().publish(m, options_.stream + "_DLQ"); !ack) {
      log::error(
          kLog, "cannot store a dead letter; the delivery stays pending",
          {{"event_id", d.event_id}, {"delivery_id", d.id}, {"reason", ack.status().message()}});
      stored = false;
      state = "pending";
      next_ms = end_ms + 5000;
    }
  }
  if (stored) {
    // The trace read before the attempt is tried first: one read less
    // unless another delivery of the event wrote it meanwhile.
    const std::optional<nats::KvEntry>* known = trace ? &trace.value() : nullptr;
    auto s = updateTrace(
        d.event_id,
        [&](json& j) {
          if (j.value("erased", false)) return false;
          if (!j.contains("seq")) j["seq"] = p->held->seq;
          bool found = false;
          for (const auto& x : j["deliveries"])
            found = found || x.value("n", int64_t{-1}) == p->index;
          if (!found) {
            j["deliveries"].push_back({{"n", p->index},
                                       {"id", d.id},
                                       {"route", d.route_id},
                                       {"target", d.target},
                                       {"action", d.action},
                                       {"order_key", d.order_key},
                                       {"state", "pending"},
                                       {"created_ms", d.created_ms},
                                       {"updated_ms", d.created_ms},
                                       {"attempts", json::array()}});
          }
          for (auto& x : j["deliveries"]) {
            if (x.value("n", int64_t{-1}) != p->index) continue;
            found = true;
            x["attempts"].push_back(attemptJson(info));
            x["state"] = state;
            x["dead_reason"] = dead_reason;
            x["updated_ms"] = end_ms;
            x["message"] = message;
            if (!result.provider_message_id.empty()) {
              x["provider_message_id"] = result.provider_message_id;
            }
          }
          return found;
        },
        known);
    if (!s.isOk()) {
      log::error(kLog, "cannot store a delivery result",
                 {{"delivery_id", d.id}, {"reason", s.message()}});
    }
  }
  if (state == "dead") {
    std::lock_guard<std::mutex> lock(dead_cache_mutex_);
    dead_cache_ms_ = 0;
    invalidateStats();
  }
  if (state == "done" && !result.provider_message_id.empty()) {
    json sent = {{"event_id", d.event_id},
                 {"subject", p->event.subject},
                 {"key", d.idempotency_key},
                 {"event_json", p->override_json.empty() ? p->event.json : p->override_json}};
    (void)msg_->put(nats::kvKey("sent\n" + d.target + "\n" + result.provider_message_id),
                    sent.dump());
  }
  reportAttempt(options_.metrics, d, result.outcome,
                AttemptEnd{state, dead_reason, attempt, seconds, reason, message}, stored);
  if (state == "pending") {
    std::lock_guard<std::mutex> lock(dispatch_mutex_);
    p->d.attempts = result.outcome == Outcome::kDisable ? d.attempts : attempt;
    p->d.next_attempt_ms = next_ms;
    p->running = false;
    indexFront({p->d.target, p->d.order_key});
    ++wake_generation_;
    dispatch_cv_.notify_all();
    return;
  }
  finish(p);
}

void NatsBus::finish(const std::shared_ptr<Pending>& p) {
  bool ack = false;
  {
    std::lock_guard<std::mutex> lock(dispatch_mutex_);
    p->running = false;
    if (!p->done) {
      p->done = true;
      unindex(p);
      const QueueKey key{p->d.target, p->d.order_key};
      auto it = queues_.find(key);
      if (it != queues_.end()) {
        auto& q = it->second;
        q.erase(std::remove(q.begin(), q.end(), p), q.end());
        if (q.empty()) {
          queues_.erase(it);
        } else {
          indexFront(key);
        }
      }
      ack = --p->held->remaining == 0;
    }
    ++wake_generation_;
    dispatch_cv_.notify_all();
    idle_cv_.notify_all();
  }
  if (!ack) return;
  std::shared_ptr<Part> part;
  {
    std::lock_guard<std::mutex> lock(parts_mutex_);
    auto it = parts_.find(p->held->partition);
    if (it != parts_.end()) part = it->second;
  }
  if (!part) return;  // released meanwhile: the next owner sees the trace
  std::lock_guard<std::mutex> lock(part->mu);
  if (p->held->acked) return;
  p->held->acked = true;
  if (auto s = p->held->msg.ackNoWait(); !s.isOk()) {
    log::warn(kLog, "cannot ack an event message; it comes back and is skipped",
              {{"event_id", p->d.event_id}, {"reason", s.message()}});
  }
  part->held.erase(std::remove(part->held.begin(), part->held.end(), p->held), part->held.end());
}

// ------------------------------------------------------------ inspection --

std::optional<json> NatsBus::loadEnvelope(uint64_t seq) {
  auto got = conn_->jetstream().getMessage(options_.stream, seq);
  if (!got || !got.value()) return std::nullopt;
  auto j = json::parse(got.value()->data, nullptr, false);
  if (!j.is_object() || !j.contains("event")) return std::nullopt;
  return j;
}

namespace {

// A delivery as the trace and the event message describe it.
DeliveryInfo deliveryInfo(const json& x, const json* plan, const EventRecord& event) {
  DeliveryInfo info;
  Delivery& d = info.delivery;
  const int64_t n = x.value("n", int64_t{0});
  d.id = x.value("id", int64_t{0});
  d.event_id = event.id;
  d.route_id = x.value("route", "");
  d.target = x.value("target", "");
  d.action = x.value("action", "");
  d.order_key = x.value("order_key", event.id);
  d.idempotency_key = event.id + "." + std::to_string(n);
  d.created_ms = x.value("created_ms", int64_t{0});
  info.state = x.value("state", "pending");
  info.dead_reason = x.value("dead_reason", "");
  info.provider_message_id = x.value("provider_message_id", "");
  info.updated_ms = x.value("updated_ms", int64_t{0});
  for (const auto& a : x.value("attempts", json::array())) info.attempts.push_back(attemptFrom(a));
  d.attempts = static_cast<int>(info.attempts.size());
  if (plan != nullptr) {
    d.rendered = plan->value("rendered", "");
    d.event_json = plan->value("override", "");
  }
  if (d.event_json.empty()) d.event_json = event.json;
  return info;
}

const json* planOf(const json& envelope, int64_t n) {
  auto list = envelope.find("deliveries");
  if (list == envelope.end() || !list->is_array()) return nullptr;
  for (const auto& p : *list) {
    if (p.is_object() && p.value("n", int64_t{-1}) == n) return &p;
  }
  return nullptr;
}

}  // namespace

std::optional<EventTrace> NatsBus::event(const std::string& event_id) {
  auto t = trace_->get(nats::kvKey(event_id));
  if (!t || !t.value()) return std::nullopt;
  auto tj = json::parse(t.value()->value, nullptr, false);
  if (!tj.is_object() || tj.value("erased", false) || !tj.contains("seq")) return std::nullopt;
  auto env = loadEnvelope(tj.value("seq", uint64_t{0}));
  if (!env) return std::nullopt;
  EventTrace trace;
  trace.event = recordFrom((*env)["event"]);
  for (const auto& x : tj.value("deliveries", json::array())) {
    auto info = deliveryInfo(x, planOf(*env, x.value("n", int64_t{0})), trace.event);
    info.delivery.rendered = openText(info.delivery.rendered);
    info.delivery.event_json = openText(info.delivery.event_json);
    trace.deliveries.push_back(std::move(info));
  }
  trace.event.json = openText(trace.event.json);
  return trace;
}

Result<std::vector<NatsBus::DeadLetter>> NatsBus::readDeadLetters() {
  std::vector<DeadLetter> out;
  auto s = conn_->jetstream().scan(
      options_.stream + "_DLQ", prefix_ + ".dlq.*", 1, [&](nats::StoredMessage& m) {
        auto j = json::parse(m.data, nullptr, false);
        if (!j.is_object()) return true;
        DeadLetter dl;
        dl.seq = m.sequence;
        dl.event = recordFrom(j.value("event", json::object()));
        dl.override_json = j.value("override", "");
        dl.index = j.value("n", int64_t{0});
        Delivery& d = dl.info.delivery;
        d.id = j.value("id", int64_t{0});
        d.event_id = dl.event.id;
        d.route_id = j.value("route", "");
        d.target = j.value("target", "");
        d.action = j.value("action", "");
        d.rendered = j.value("rendered", "");
        d.order_key = j.value("order_key", dl.event.id);
        d.idempotency_key = dl.event.id + "." + std::to_string(dl.index);
        d.attempts = j.value("attempts", 0);
        d.created_ms = j.value("created_ms", int64_t{0});
        d.event_json = dl.override_json.empty() ? dl.event.json : dl.override_json;
        dl.info.state = "dead";
        dl.info.dead_reason = j.value("reason", "");
        dl.info.updated_ms = j.value("updated_ms", int64_t{0});
        dl.info.attempts.push_back({});
        dl.info.attempts.back().message = j.value("message", "");
        out.push_back(std::move(dl));
        return true;
      });
  if (!s.isOk()) return s;
  std::sort(out.begin(), out.end(), [](const DeadLetter& a, const DeadLetter& b) {
    return a.info.delivery.id < b.info.delivery.id;
  });
  // A replay that died between publishing and deleting leaves two copies
  // of one id: keep the last.
  std::vector<DeadLetter> unique;
  for (auto& dl : out) {
    if (!unique.empty() && unique.back().info.delivery.id == dl.info.delivery.id) {
      unique.back() = std::move(dl);
    } else {
      unique.push_back(std::move(dl));
    }
  }
  return unique;
}

namespace {

bool matches(const DeliveryInfo& info, const DeadLetterFilter& f) {
  return info.delivery.id > f.after_id && (!f.target || info.delivery.target == *f.target) &&
         (!f.reason || info.dead_reason == *f.reason);
}

}  // namespace

std::vector<DeliveryInfo> NatsBus::deadLetters(const DeadLetterFilter& filter) {
  std::vector<DeliveryInfo> out;
  auto all = readDeadLetters();
  if (!all) {
    log::warn(kLog, "cannot read the dead letters", {{"reason", all.status().message()}});
    return out;
  }
  const size_t limit = std::clamp<size_t>(filter.limit, 1, 1000);
  for (auto& dl : all.value()) {
    if (!matches(dl.info, filter)) continue;
    dl.info.delivery.rendered = openText(dl.info.delivery.rendered);
    dl.info.delivery.event_json = openText(dl.info.delivery.event_json);
    out.push_back(std::move(dl.info));
    if (out.size() == limit) break;
  }
  return out;
}

Result<int64_t> NatsBus::replayOne(const DeadLetter& dl) {
  const Delivery& d = dl.info.delivery;
  const int64_t now_ms = now();
  // Pending in the trace first: the owner skips deliveries that are not.
  auto s = updateTrace(d.event_id, [&](json& j) {
    bool found = false;
    for (auto& x : j["deliveries"]) {
      if (x.value("n", int64_t{-1}) != dl.index) continue;
      x["state"] = "pending";
      x["dead_reason"] = "";
      x["created_ms"] = now_ms;
      x["updated_ms"] = now_ms;
      found = true;
    }
    return found;
  });
  if (!s.isOk()) return s;
  json plan = {{"n", dl.index},
               {"id", d.id},
               {"route", d.route_id},
               {"target", d.target},
               {"action", d.action},
               {"rendered", d.rendered},
               {"order_key", d.order_key},
               {"override", dl.override_json},
               {"created_ms", now_ms}};
  json env = {
      {"event", recordJson(dl.event)}, {"deliveries", json::array({plan})}, {"replay", true}};
  nats::OutMessage m;
  m.subject = prefix_ + ".ev." + std::to_string(partitionOf(d.order_key));
  m.data = env.dump();
  m.msg_id = "replay-" + std::to_string(d.id) + "-" + std::to_string(dl.seq);
  auto ack = conn_->jetstream().publish(m, options_.stream);
  if (!ack) return ack.status();
  if (auto del = conn_->jetstream().deleteMessage(options_.stream + "_DLQ", dl.seq); !del.isOk()) {
    log::warn(kLog, "replayed dead letter not removed from the dead-letter stream",
              {{"delivery_id", d.id}, {"reason", del.message()}});
  }
  if (options_.metrics != nullptr) {
    options_.metrics->dead_letter_replays.Add({{"target", d.target}}).Increment();
  }
  std::lock_guard<std::mutex> lock(dead_cache_mutex_);
  dead_cache_ms_ = 0;
  invalidateStats();
  return 1;
}

Result<int64_t> NatsBus::replayDeadLetter(int64_t delivery_id) {
  auto all = readDeadLetters();
  if (!all) return all.status();
  for (const auto& dl : all.value()) {
    if (dl.info.delivery.id != delivery_id) continue;
    auto r = replayOne(dl);
    if (r) {
      log::info(kLog, "dead letters replayed", {{"count", 1}, {"delivery_id", delivery_id}});
    }
    return r;
  }
  return Status(Code::kNotFound, "no dead letter with id " + std::to_string(delivery_id));
}

Result<BulkOutcome> NatsBus::replayDeadLetters(const DeadLetterFilter& filter) {
  auto all = readDeadLetters();
  if (!all) return all.status();
  BulkOutcome out;
  for (const auto& dl : all.value()) {
    if (!matches(dl.info, filter)) continue;
    if (filter.limit > 0 && static_cast<size_t>(out.changed) >= filter.limit) break;
    auto r = replayOne(dl);
    if (!r) return r.status();
    ++out.changed;
    out.last_id = dl.info.delivery.id;
  }
  if (out.changed > 0) log::info(kLog, "dead letters replayed", {{"count", out.changed}});
  return out;
}

Result<int64_t> NatsBus::deleteDeadLetter(int64_t delivery_id) {
  DeadLetterFilter f;
  f.after_id = delivery_id - 1;
  f.limit = 1;
  auto all = readDeadLetters();
  if (!all) return all.status();
  for (const auto& dl : all.value()) {
    if (dl.info.delivery.id != delivery_id) continue;
    if (auto s = conn_->jetstream().deleteMessage(options_.stream + "_DLQ", dl.seq); !s.isOk()) {
      return s;
    }
    (void)updateTrace(dl.info.delivery.event_id, [&](json& j) {
      for (auto& x : j["deliveries"]) {
        if (x.value("n", int64_t{-1}) == dl.index) x["state"] = "deleted";
      }
      return true;
    });
    std::lock_guard<std::mutex> lock(dead_cache_mutex_);
    dead_cache_ms_ = 0;
    invalidateStats();
    return 1;
  }
  return Status(Code::kNotFound, "no dead letter with id " + std::to_string(delivery_id));
}

Result<BulkOutcome> NatsBus::deleteDeadLetters(const DeadLetterFilter& filter) {
  auto all = readDeadLetters();
  if (!all) return all.status();
  BulkOutcome out;
  for (const auto& dl : all.value()) {
    if (!matches(dl.info, filter)) continue;
    if (filter.limit > 0 && static_cast<size_t>(out.changed) >= filter.limit) break;
    auto r = deleteDeadLetter(dl.info.delivery.id);
    if (!r) return r.status();
    ++out.changed;
    out.last_id = dl.info.delivery.id;
  }
  if (out.changed > 0) log::info(kLog, "dead letters deleted", {{"count", out.changed}});
  return out;
}

Result<int64_t> NatsBus::countDeadLetters(const DeadLetterFilter& filter) {
  auto all = readDeadLetters();
  if (!all) return all.status();
  DeadLetterFilter f = filter;
  f.after_id = 0;
  return static_cast<int64_t>(
      std::count_if(all.value().begin(), all.value().end(),
                    [&](const DeadLetter& dl) { return matches(dl.info, f); }));
}

std::map<std::string, Conversation> NatsBus::allConversations() {
  std::map<std::string, Conversation> out;
  (void)conv_->scan([&](const std::string&, const nats::KvEntry& e) {
    auto j = json::parse(e.value, nullptr, false);
    if (!j.is_object()) return;
    Conversation c = conversationFrom(j);
    c.contact_json = openText(c.contact_json);
    out[c.conversation_id] = std::move(c);
  });
  return out;
}

namespace {

// The conversations of `contact` (its id, address, phone, email or contact
// id), adding every identifier they carry to `needles`.
std::vector<Conversation> conversationsOf(const std::map<std::string, Conversation>& all,
                                          const std::string& contact,
                                          std::set<std::string>* needles) {
  std::vector<Conversation> out;
  for (const auto& [id, c] : all) {
    if (conversationOfContact(c, contact, needles)) out.push_back(c);
  }
  return out;
}

}  // namespace

Result<EventPage> NatsBus::findEvents(const EventQuery& qry) {
  constexpr int64_t kMaxScanned = 20'000;
  constexpr int64_t kTimeSlackMs = 60'000;
  constexpr uint64_t kChunk = 512;
  auto& js = conn_->jetstream();
  auto st = js.streamState(options_.stream);
  if (!st) return st.status();
  EventPage page;
  const size_t limit = std::clamp<size_t>(qry.limit, 1, 1000);
  std::set<std::string> conversations;
  std::set<std::string> needles;
  if (qry.contact) {
    needles.insert(*qry.contact);
    for (const auto& c : conversationsOf(allConversations(), *qry.contact, &needles)) {
      conversations.insert(c.conversation_id);
    }
  }
  const uint64_t first = std::max<uint64_t>(1, st.value().first_sequence);
  uint64_t top = st.value().last_sequence;
  if (qry.before_seq > 0) top = std::min<uint64_t>(top, static_cast<uint64_t>(qry.before_seq) - 1);
  bool done = false;
  while (!done && top >= first && top > 0) {
    const uint64_t from = top >= first + kChunk ? top - kChunk + 1 : first;
    std::vector<nats::StoredMessage> chunk;
    auto s = js.scan(options_.stream, prefix_ + ".ev.*", from, [&](nats::StoredMessage& m) {
      if (m.sequence > top) return false;
      chunk.push_back(std::move(m));
      return true;
    });
    if (!s.isOk()) return s;
    for (auto it = chunk.rbegin(); it != chunk.rend() && !done; ++it) {
      auto env = json::parse(it->data, nullptr, false);
      if (!env.is_object() || env.value("replay", false) || !env.contains("event")) continue;
      EventRecord e = recordFrom(env["event"]);
      const auto seq = static_cast<int64_t>(it->sequence);
      if (qry.since_ms > 0 && e.time_ms < qry.since_ms - kTimeSlackMs) {
        done = true;
        break;
      }
      if (++page.scanned > kMaxScanned) {
        page.next_before = seq + 1;
        done = true;
        break;
      }
      if (qry.since_ms > 0 && e.time_ms < qry.since_ms) continue;
      if (qry.until_ms > 0 && e.time_ms >= qry.until_ms) continue;
      if (qry.conversation_id && e.subject != *qry.conversation_id) continue;
      if (qry.instance && e.instance != *qry.instance) continue;
      if (qry.type) {
        const bool prefix = qry.type->back() == '.';
        if (prefix ? e.type.rfind(*qry.type, 0) != 0 : e.type != *qry.type) continue;
      }
      if (qry.contact && conversations.count(e.subject) == 0 &&
          !mentions(openText(e.json), needles)) {
        continue;
      }
      e.json.clear();
      page.events.push_back({seq, std::move(e), {}});
      if (page.events.size() == limit) {
        page.next_before = seq;
        done = true;
      }
    }
    if (from == first) break;
    top = from - 1;
  }
  for (auto& ev : page.events) {
    auto t = trace_->get(nats::kvKey(ev.event.id));
    if (!t || !t.value()) continue;
    auto tj = json::parse(t.value()->value, nullptr, false);
    for (const auto& x : tj.value("deliveries", json::array())) {
      ++ev.deliveries[x.value("state", "pending")];
    }
  }
  return page;
}

void NatsBus::invalidateStats() {
  std::lock_guard<std::mutex> lock(stats_cache_mutex_);
  stats_cache_ms_ = 0;
}

std::map<std::string, TargetStats> NatsBus::stats() {
  const int64_t now_ms = now();
  {
    // The heartbeats it reads change every lease/3: callers on hot paths
    // (the back-pressure check, every scrape) share one read per second.
    std::lock_guard<std::mutex> lock(stats_cache_mutex_);
    if (now_ms - stats_cache_ms_ < 1000) return stats_cache_;
  }
  std::map<std::string, TargetStats> out;
  // Pending work lives with the partition owners, who publish it with
  // their heartbeats; a member that stopped drops out with its lease.
  (void)lease_->scan([&](const std::string& key, const nats::KvEntry& e) {
    if (key.rfind("member.", 0) != 0) return;
    auto j = json::parse(e.value, nullptr, false);
    if (!j.is_object()) return;
    const json targets = j.value("targets", json::object());
    for (const auto& [target, t] : targets.items()) {
      auto& s = out[target];
      s.pending += t.value("pending", int64_t{0});
      const int64_t oldest = t.value("oldest_ms", int64_t{0});
      if (oldest > 0) {
        s.oldest_age_seconds =
            std::max(s.oldest_age_seconds, static_cast<double>(now_ms - oldest) / 1000.0);
      }
    }
  });
  std::map<std::string, int64_t> dead;
  {
    std::lock_guard<std::mutex> lock(dead_cache_mutex_);
    if (now_ms - dead_cache_ms_ < 5000) dead = dead_cache_;
  }
  if (dead.empty()) {
    if (auto all = readDeadLetters(); all) {
      for (const auto& dl : all.value()) ++dead[dl.info.delivery.target];
      std::lock_guard<std::mutex> lock(dead_cache_mutex_);
      dead_cache_ = dead;
      dead_cache_ms_ = now_ms;
    }
  }
  for (const auto& [t, n] : dead) out[t].dead = n;
  std::lock_guard<std::mutex> lock(stats_cache_mutex_);
  stats_cache_ = out;
  stats_cache_ms_ = now_ms;
  return out;
}

void NatsBus::refreshGauges() {
  auto* m = options_.metrics;
  if (m == nullptr) return;
  m->bus_connected.Add({}).Set(healthy() ? 1 : 0);
  m->bus_partitions.Add({}).Set(static_cast<double>(ownedPartitions().size()));
  auto s = stats();
  std::set<std::string> names;
  {
    std::lock_guard<std::mutex> lock(dispatch_mutex_);
    for (const auto& [t, _] : targets_.options()) names.insert(t);
  }
  for (const auto& [t, _] : s) names.insert(t);
  for (const auto& t : names) {
    const auto& st = s[t];
    m->queue_depth.Add({{"target", t}}).Set(double(st.pending));
    m->queue_oldest_age.Add({{"target", t}}).Set(st.oldest_age_seconds);
    m->dead_letters.Add({{"target", t}}).Set(double(st.dead));
  }
}

// -------------------------------------------------------------- contacts --

Result<ContactData> NatsBus::selectContact(const std::string& contact,
                                           std::map<std::string, uint64_t>* event_seqs) {
  ContactData out;
  std::set<std::string> keys{contact};
  std::set<std::string> conversation_ids;
  out.conversations = conversationsOf(allConversations(), contact, &keys);
  for (const auto& c : out.conversations) conversation_ids.insert(c.conversation_id);
  std::set<std::string> all = keys;
  all.insert(conversation_ids.begin(), conversation_ids.end());
  std::vector<std::pair<EventRecord, json>> events;
  auto s =
      conn_->jetstream().scan(options_.stream, prefix_ + ".ev.*", 1, [&](nats::StoredMessage& m) {
        auto env = json::parse(m.data, nullptr, false);
        if (!env.is_object() || env.value("replay", false) || !env.contains("event")) return true;
        EventRecord e = recordFrom(env["event"]);
        e.json = openText(e.json);
        if (conversation_ids.count(e.subject) == 0 && !mentions(e.json, all)) return true;
        if (event_seqs != nullptr) (*event_seqs)[e.id] = m.sequence;
        events.emplace_back(std::move(e), std::move(env));
        return true;
      });
  if (!s.isOk()) return s;
  for (auto& [e, env] : events) {
    if (auto t = trace_->get(nats::kvKey(e.id)); t && t.value()) {
      auto tj = json::parse(t.value()->value, nullptr, false);
      for (const auto& x : tj.value("deliveries", json::array())) {
        auto info = deliveryInfo(x, planOf(env, x.value("n", int64_t{0})), e);
        info.delivery.rendered = openText(info.delivery.rendered);
        info.delivery.event_json = openText(info.delivery.event_json);
        out.deliveries.push_back(std::move(info));
      }
    }
    out.events.push_back(std::move(e));
  }
  (void)state_->scan([&](const std::string&, const nats::KvEntry& e) {
    auto j = json::parse(e.value, nullptr, false);
    if (!j.is_object()) return;
    ContactData::State st{j.value("instance", ""), j.value("key", ""),
                          openText(j.value("value", ""))};
    if (containsAny(st.key, all) || mentions(st.value, all)) out.state.push_back(std::move(st));
  });
  {
    std::lock_guard<std::mutex> lock(timers_mutex_);
    for (const auto& [k, entry] : timers_) {
      Timer t = entry.timer;
      t.spec.payload = openText(t.spec.payload);
      if (containsAny(t.spec.key, all) || containsAny(t.spec.group, all) ||
          containsAny(t.spec.ref, all) || mentions(t.spec.payload, all)) {
        out.timers.push_back(std::move(t));
      }
    }
  }
  return out;
}

Result<ContactData> NatsBus::contactData(const std::string& contact) {
  return selectContact(contact, nullptr);
}

Result<ErasureCounts> NatsBus::eraseContact(const std::string& contact) {
  std::map<std::string, uint64_t> seqs;
  auto data = selectContact(contact, &seqs);
  if (!data) return data.status();
  ErasureCounts counts;
  auto& js = conn_->jetstream();
  std::set<int64_t> dead_ids;
  for (const auto& d : data.value().deliveries) {
    ++counts.deliveries;
    if (d.state == "dead") dead_ids.insert(d.delivery.id);
    if (!d.provider_message_id.empty()) {
      (void)msg_->erase(nats::kvKey("status\n" + d.delivery.target + "\n" + d.provider_message_id));
      (void)msg_->erase(nats::kvKey("sent\n" + d.delivery.target + "\n" + d.provider_message_id));
    }
  }
  if (!dead_ids.empty()) {
    if (auto all = readDeadLetters(); all) {
      for (const auto& dl : all.value()) {
        if (dead_ids.count(dl.info.delivery.id)) {
          (void)js.deleteMessage(options_.stream + "_DLQ", dl.seq);
        }
      }
    }
  }
  for (const auto& e : data.value().events) {
    // The trace first: an owner holding the event's message checks it
    // before each attempt and drops the delivery when it is gone.
    // A tombstone, not a delete: an owner holding the event's message sees
    // it before the next attempt and drops the delivery (it expires with
    // the retention).
    if (auto put = trace_->put(nats::kvKey(e.id), R"({"erased":true})"); !put) {
      return put.status();
    }
    if (auto s = js.deleteMessage(options_.stream, seqs[e.id]); !s.isOk()) return s;
    ++counts.events;
  }
  for (const auto& c : data.value().conversations) {
    if (auto s = conv_->erase(nats::kvKey(c.conversation_id)); !s.isOk()) return s;
    ++counts.conversations;
  }
  for (const auto& st : data.value().state) {
    if (auto s = state_->erase(nats::kvKey(st.instance + "\n" + st.key)); !s.isOk()) return s;
    ++counts.state;
  }
  for (const auto& t : data.value().timers) {
    if (auto s = timers_kv_->erase(nats::kvKey(t.spec.key)); !s.isOk()) return s;
    ++counts.timers;
  }
  std::lock_guard<std::mutex> lock(dead_cache_mutex_);
  dead_cache_ms_ = 0;
  invalidateStats();
  return counts;
}

}  // namespace sanjog::bus
