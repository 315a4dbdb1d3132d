// The embedded bus on SQLite (WAL).
//
// Schema (PRAGMA user_version = 2):
//   events(seq PK, id UNIQUE, instance, type, subject, provider_id, time_ms, json)
//     UNIQUE(instance, provider_id) WHERE provider_id <> ''   -- deduplication
//   deliveries(id PK, event_id, route_id, target, action, rendered, order_key,
//              idempotency_key UNIQUE, event_override, state pending|done|dead,
//              attempts, created_ms, next_attempt_ms, dead_reason, message,
//              provider_message_id, updated_ms)
//   attempts(delivery_id, attempt, started_ms, duration_s, result, reason,
//            http_status, message)            -- one row per delivery attempt
//   conversations(id PK, instance, address, contact_json, created_ms, last_inbound_ms,
//                 awaiting_ms, opened_ms)        -- schema 2 added the KPI marks
//   kv(instance, key, value, expires_ms)      -- plugin and automation state
//   timers(key PK, automation, grp, ref, due_ms, payload, state, created_ms,
//          done_ms)                            -- durable automation timers
//
// Writes: every write (appends, delivery results, admin changes) is a job
// queued for ONE writer thread. The writer takes every queued job, runs them
// in one transaction (each job in a savepoint, so one failing job does not
// undo the others), commits once, and wakes the callers: concurrent webhooks
// share an fsync (group commit). A caller returns only after the commit; a
// failed commit fails every job of the batch and nothing of it stays.
//
// Dispatch: a delivery may run when it is pending, due (next_attempt_ms <=
// now), its target is configured and not disabled, and it is the OLDEST
// pending delivery of its (target, order_key) -- so one conversation is
// delivered in order while different conversations run in parallel. The
// dispatcher reads, per target its guards let send, only as many such heads
// as it can use (indexes deliveries_target_ready and deliveries_order), skips
// keys already running, and hands ids to the worker threads. A worker does not
// wait for its result's commit; the key stays running until then. It sleeps until the next due time
// or until an append, a result, a replay or a config change wakes it. A delivery stays `pending` in
// the database while it is attempted, so after a crash it is attempted again with the same
// idempotency key (at least once).
#include "bus/embedded_bus.h"

#include <sqlite3.h>

#include <algorithm>
#include <filesystem>
#include <limits>
#include <unordered_map>

#include "bus/attempts.h"
#include "bus/retry_policy.h"
#include "common/log.h"
#include "common/time_format.h"

namespace sanjog::bus {

namespace {

constexpr const char* kLog = "sanjog.bus";
constexpr int kSchemaVersion = 2;

const char* const kSchemaSql = R"sql(
CREATE TABLE IF NOT EXISTS events(
  seq INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  instance TEXT NOT NULL,
  type TEXT NOT NULL,
  subject TEXT NOT NULL DEFAULT '',
  provider_id TEXT NOT NULL DEFAULT '',
  time_ms INTEGER NOT NULL,
  json TEXT NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS events_dedup ON events(instance, provider_id)
  WHERE provider_id <> '';
CREATE TABLE IF NOT EXISTS deliveries(
  id INTEGER PRIMARY KEY,
  event_id TEXT NOT NULL,
  route_id TEXT NOT NULL,
  target TEXT NOT NULL,
  action TEXT NOT NULL,
  rendered TEXT NOT NULL DEFAULT '',
  order_key TEXT NOT NULL,
  idempotency_key TEXT NOT NULL UNIQUE,
  event_override TEXT NOT NULL DEFAULT '',
  state TEXT NOT NULL DEFAULT 'pending',
  attempts INTEGER NOT NULL DEFAULT 0,
  created_ms INTEGER NOT NULL,
  next_attempt_ms INTEGER NOT NULL,
  dead_reason TEXT NOT NULL DEFAULT '',
  message TEXT NOT NULL DEFAULT '',
  provider_message_id TEXT NOT NULL DEFAULT '',
  updated_ms INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS events_subject ON events(subject, seq) WHERE subject <> '';
CREATE INDEX IF NOT EXISTS deliveries_ready ON deliveries(next_attempt_ms, id)
  WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS deliveries_order ON deliveries(target, order_key, id)
  WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS deliveries_target_ready ON deliveries(target, next_attempt_ms, id)
  WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS deliveries_state ON deliveries(state, target, id);
CREATE INDEX IF NOT EXISTS deliveries_event ON deliveries(event_id);
CREATE INDEX IF NOT EXISTS deliveries_provider ON deliveries(target, provider_message_id)
  WHERE provider_message_id <> '';
CREATE TABLE IF NOT EXISTS message_states(
  instance TEXT NOT NULL,
  provider_message_id TEXT NOT NULL,
  status TEXT NOT NULL,
  rank INTEGER NOT NULL,
  error_json TEXT NOT NULL,
  updated_ms INTEGER NOT NULL,
  PRIMARY KEY(instance, provider_message_id));
CREATE TABLE IF NOT EXISTS attempts(
  delivery_id INTEGER NOT NULL,
  attempt INTEGER NOT NULL,
  started_ms INTEGER NOT NULL,
  duration_s REAL NOT NULL,
  result TEXT NOT NULL,
  reason TEXT NOT NULL,
  http_status INTEGER NOT NULL,
  message TEXT NOT NULL,
  PRIMARY KEY(delivery_id, attempt));
CREATE TABLE IF NOT EXISTS conversations(
  id TEXT PRIMARY KEY,
  instance TEXT NOT NULL,
  address TEXT NOT NULL,
  contact_json TEXT NOT NULL,
  created_ms INTEGER NOT NULL,
  last_inbound_ms INTEGER NOT NULL,
  awaiting_ms INTEGER NOT NULL DEFAULT 0,
  opened_ms INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS kv(
  instance TEXT NOT NULL,
  key TEXT NOT NULL,
  value BLOB NOT NULL,
  expires_ms INTEGER NOT NULL,
  PRIMARY KEY(instance, key));
CREATE TABLE IF NOT EXISTS timers(
  key TEXT PRIMARY KEY,
  automation TEXT NOT NULL,
  grp TEXT NOT NULL DEFAULT '',
  ref TEXT NOT NULL DEFAULT '',
  due_ms INTEGER NOT NULL,
  payload TEXT NOT NULL,
  state TEXT NOT NULL DEFAULT 'pending',
  created_ms INTEGER NOT NULL,
  done_ms INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS timers_due ON timers(due_ms) WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS timers_grp ON timers(automation, grp) WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS timers_ref ON timers(automation, ref) WHERE state = 'pending';
)sql";

// A prepared statement borrowed from a connection's cache; reset on scope exit.
class Stmt {
 public:
  explicit Stmt(sqlite3_stmt* s) : s_(s) {}
  ~Stmt() {
    if (s_ != nullptr) {
      sqlite3_reset(s_);
      sqlite3_clear_bindings(s_);
    }
  }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  Stmt& bind(int i, const std::string& v) {
    sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& bind(int i, int64_t v) {
    sqlite3_bind_int64(s_, i, v);
    return *this;
  }
  Stmt& bind(int i, double v) {
    sqlite3_bind_double(s_, i, v);
    return *this;
  }
  int step() { return sqlite3_step(s_); }
  // Ready to run again with new bindings.
  void reset() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }
  bool row() { return step() == SQLITE_ROW; }
  std::string text(int c) {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s_, c));
    return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(s_, c))) : std::string();
  }
  int64_t i64(int c) { return sqlite3_column_int64(s_, c); }
  double dbl(int c) { return sqlite3_column_double(s_, c); }
  bool isNull(int c) { return sqlite3_column_type(s_, c) == SQLITE_NULL; }

 private:
  sqlite3_stmt* s_;
};

// Per-connection statement cache (each connection is used by one thread at
// a time, so the cache needs no lock of its own).
std::unordered_map<sqlite3*, std::unordered_map<std::string, sqlite3_stmt*>>& caches() {
  static std::unordered_map<sqlite3*, std::unordered_map<std::string, sqlite3_stmt*>> c;
  return c;
}
std::mutex& cachesMutex() {
  static std::mutex m;
  return m;
}

sqlite3_stmt* prepared(sqlite3* db, const std::string& sql) {
  std::unordered_map<std::string, sqlite3_stmt*>* cache = nullptr;
  {
    std::lock_guard<std::mutex> lock(cachesMutex());
    cache = &caches()[db];
  }
  auto it = cache->find(sql);
  if (it != cache->end()) return it->second;
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v3(db, sql.c_str(), -1, SQLITE_PREPARE_PERSISTENT, &s, nullptr) !=
      SQLITE_OK) {
    throw std::runtime_error(std::string("SQL prepare failed: ") + sqlite3_errmsg(db));
  }
  cache->emplace(sql, s);
  return s;
}

Stmt query(sqlite3* db, const std::string& sql) { return Stmt(prepared(db, sql)); }

void closeDb(sqlite3* db) {
  if (db == nullptr) return;
  {
    std::lock_guard<std::mutex> lock(cachesMutex());
    for (auto& [sql, s] : caches()[db]) sqlite3_finalize(s);
    caches().erase(db);
  }
  sqlite3_close_v2(db);
}

Status exec(sqlite3* db, const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    Status s(Code::kUnavailable, std::string("SQL failed: ") + (err ? err : "?"));
    sqlite3_free(err);
    return s;
  }
  return Status::ok();
}

Result<sqlite3*> openDb(const std::string& path, const std::string& sync) {
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(
      path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close_v2(db);
    return Status(Code::kUnavailable, "cannot open " + path + ": " + msg);
  }
  sqlite3_busy_timeout(db, 5000);
  const std::string pragmas = "PRAGMA journal_mode=WAL; PRAGMA synchronous=" +
                              std::string(sync == "normal" ? "NORMAL" : "FULL") +
                              "; PRAGMA foreign_keys=ON; PRAGMA temp_store=MEMORY;";
  if (auto s = exec(db, pragmas.c_str()); !s.isOk()) {
    sqlite3_close_v2(db);
    return s;
  }
  return db;
}

constexpr const char* kDeliveryColumns =
    "d.id, d.event_id, d.route_id, d.target, d.action, d.rendered, d.order_key, "
    "d.idempotency_key, d.attempts, d.created_ms, d.next_attempt_ms, "
    "CASE WHEN d.event_override <> '' THEN d.event_override ELSE e.json END, "
    "d.state, d.dead_reason, d.provider_message_id, d.updated_ms, d.message";

DeliveryInfo readDelivery(Stmt& s) {
  DeliveryInfo info;
  auto& d = info.delivery;
  d.id = s.i64(0);
  d.event_id = s.text(1);
  d.route_id = s.text(2);
  d.target = s.text(3);
  d.action = s.text(4);
  d.rendered = s.text(5);
  d.order_key = s.text(6);
  d.idempotency_key = s.text(7);
  d.attempts = static_cast<int>(s.i64(8));
  d.created_ms = s.i64(9);
  d.next_attempt_ms = s.i64(10);
  d.event_json = s.text(11);
  info.state = s.text(12);
  info.dead_reason = s.text(13);
  info.provider_message_id = s.text(14);
  info.updated_ms = s.i64(15);
  return info;
}

}  // namespace

EmbeddedBus::EmbeddedBus(Options options)
    : options_(std::move(options)), targets_(options_.metrics) {
  if (!options_.now_ms) options_.now_ms = [] { return nowUnixMs(); };
  keyring_ = options_.keyring ? options_.keyring : std::make_shared<const crypto::Keyring>();
  rng_.seed(options_.seed != 0 ? options_.seed : std::random_device{}());
}

Result<std::unique_ptr<EmbeddedBus>> EmbeddedBus::open(const Options& options) {
  std::unique_ptr<EmbeddedBus> bus(new EmbeddedBus(options));
  if (auto s = bus->initialize(); !s.isOk()) return s;
  return bus;
}

Status EmbeddedBus::initialize() {
  std::error_code ec;
  const auto parent = std::filesystem::path(options_.path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  if (ec)
    return Status(Code::kUnavailable, "cannot create " + parent.string() + ": " + ec.message());
  auto w = openDb(options_.path, options_.sync);
  if (!w) return w.status();
  writer_db_ = *w;
  int version = 0;
  {
    Stmt s = query(writer_db_, "PRAGMA user_version");
    if (s.row()) version = static_cast<int>(s.i64(0));
  }
  if (version > kSchemaVersion) {
    return Status(Code::kUnavailable, "the database was written by a newer sanjogd (schema " +
                                          std::to_string(version) + ")");
  }
  if (auto s = exec(writer_db_, kSchemaSql); !s.isOk()) return s;
  if (version == 1) {  // schema 1 -> 2: KPI marks on conversations
    if (auto s = exec(writer_db_,
                      "ALTER TABLE conversations ADD COLUMN awaiting_ms INTEGER NOT NULL DEFAULT 0;"
                      "ALTER TABLE conversations ADD COLUMN opened_ms INTEGER NOT NULL DEFAULT 0;");
        !s.isOk()) {
      return s;
    }
  }
  if (options_.max_bytes > 0) {
    int64_t page_size = 4096;
    {
      Stmt s = query(writer_db_, "PRAGMA page_size");
      if (s.row()) page_size = s.i64(0);
    }
    const std::string pragma = "PRAGMA max_page_count=" +
                               std::to_string(std::max<int64_t>(1, options_.max_bytes / page_size));
    if (auto s = exec(writer_db_, pragma.c_str()); !s.isOk()) return s;
  }
  if (auto s = exec(writer_db_, ("PRAGMA user_version=" + std::to_string(kSchemaVersion)).c_str());
      !s.isOk()) {
    return s;
  }
  auto r = openDb(options_.path, options_.sync);
  if (!r) return r.status();
  reader_db_ = *r;
  writer_ = std::thread([this] { writerLoop(); });
  healthy_ = true;
  return Status::ok();
}

EmbeddedBus::~EmbeddedBus() {
  stop(std::chrono::milliseconds(0));
  {
    std::lock_guard<std::mutex> lock(write_mutex_);
    writer_stop_ = true;
  }
  write_cv_.notify_all();
  if (writer_.joinable()) writer_.join();
  closeDb(reader_db_);
  closeDb(writer_db_);
}

int64_t EmbeddedBus::now() const { return options_.now_ms(); }

// ---------------------------------------------------------------- writer --

Status EmbeddedBus::write(std::function<Status(sqlite3*)> run, size_t events) {
  auto job = std::make_shared<WriteJob>();
  job->run = std::move(run);
  job->events = events;
  std::unique_lock<std::mutex> lock(write_mutex_);
  if (writer_stop_) return Status(Code::kUnavailable, "storage is closed");
  write_queue_.push_back(job);
  write_cv_.notify_one();
  write_done_cv_.wait(lock, [&] { return job->done; });
  return job->result;
}

void EmbeddedBus::writeAsync(std::function<Status(sqlite3*)> run,
                             std::function<void(const Status&)> then) {
  auto job = std::make_shared<WriteJob>();
  job->run = std::move(run);
  job->then = std::move(then);
  std::unique_lock<std::mutex> lock(write_mutex_);
  if (writer_stop_) {
    lock.unlock();
    job->then(Status(Code::kUnavailable, "storage is closed"));
    return;
  }
  write_queue_.push_back(std::move(job));
  write_cv_.notify_one();
}

void EmbeddedBus::writerLoop() {
  while (true) {
    std::deque<std::shared_ptr<WriteJob>> batch;
    {
      std::unique_lock<std::mutex> lock(write_mutex_);
      write_cv_.wait(lock, [&] { return writer_stop_ || !write_queue_.empty(); });
      if (write_queue_.empty() && writer_stop_) return;
      batch.swap(write_queue_);
    }
    const auto started = std::chrono::steady_clock::now();
    Status commit = exec(writer_db_, "BEGIN IMMEDIATE");
    size_t events = 0;
    if (commit.isOk()) {
      for (auto& job : batch) {
        exec(writer_db_, "SAVEPOINT job");
        try {
          job->result = job->run(writer_db_);
        } catch (const std::exception& e) {
          job->result = Status(Code::kInternal, e.what());
        }
        if (job->result.isOk()) {
          exec(writer_db_, "RELEASE job");
          events += job->events;
        } else {
          exec(writer_db_, "ROLLBACK TO job; RELEASE job");
        }
      }
      commit = exec(writer_db_, "COMMIT");
      if (!commit.isOk()) exec(writer_db_, "ROLLBACK");
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    if (options_.metrics != nullptr) {
      options_.metrics->storage_commits.Add({{"result", commit.isOk() ? "ok" : "error"}})
          .Increment();
      options_.metrics->storage_commit_duration.Add({}, metrics::latencyBuckets()).Observe(seconds);
      if (events > 0) {
        options_.metrics->storage_commit_batch
            .Add({}, prometheus::Histogram::BucketBoundaries{1, 2, 4, 8, 16, 32, 64, 128, 256})
            .Observe(static_cast<double>(events));
      }
    }
    if (commit.isOk()) {
      ++commits_;
    } else {
      last_failure_ms_ = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::steady_clock::now().time_since_epoch())
                             .count();
      log::error(kLog, "commit failed; the batch was rolled back",
                 {{"jobs", batch.size()}, {"reason", commit.message()}});
    }
    {
      std::lock_guard<std::mutex> lock(write_mutex_);
      for (auto& job : batch) {
        if (!commit.isOk()) {
          job->result = Status(Code::kUnavailable, "storage commit failed: " + commit.message());
        }
        job->done = true;
      }
    }
    write_done_cv_.notify_all();
    for (auto& job : batch) {
      if (job->then) job->then(job->result);
    }
  }
}

// ---------------------------------------------------------------- append --

namespace {

Status sqlError(sqlite3* db, const char* what) {
  return Status(Code::kUnavailable, std::string(what) + ": " + sqlite3_errmsg(db));
}

Status applyTimerOp(sqlite3* db, const TimerOp& op, int64_t now_ms, AppendOutcome& o) {
  const auto& t = op.timer;
  switch (op.kind) {
    case TimerOp::Kind::kSchedule:
    case TimerOp::Kind::kReschedule: {
      const std::string sql =
          std::string(
              "INSERT INTO timers(key, automation, grp, ref, due_ms, payload, created_ms) "
              "VALUES(?1,?2,?3,?4,?5,?6,?7) ON CONFLICT(key) DO ") +
          (op.kind == TimerOp::Kind::kSchedule
               ? "NOTHING"
               : "UPDATE SET due_ms=excluded.due_ms, payload=excluded.payload WHERE "
                 "timers.state='pending'");
      Stmt q = query(db, sql);
      q.bind(1, t.key).bind(2, t.automation).bind(3, t.group).bind(4, t.ref);
      q.bind(5, t.due_ms).bind(6, t.payload.empty() ? std::string("{}") : t.payload);
      q.bind(7, now_ms);
      if (q.step() != SQLITE_DONE) return sqlError(db, "cannot store timer");
      o.timers_scheduled += sqlite3_changes(db) > 0 ? 1 : 0;
      return Status::ok();
    }
    case TimerOp::Kind::kCancelKey:
    case TimerOp::Kind::kCancelGroup:
    case TimerOp::Kind::kCancelRef: {
      const char* column = op.kind == TimerOp::Kind::kCancelKey     ? "key"
                           : op.kind == TimerOp::Kind::kCancelGroup ? "grp"
                                                                    : "ref";
      const std::string& value = op.kind == TimerOp::Kind::kCancelKey     ? t.key
                                 : op.kind == TimerOp::Kind::kCancelGroup ? t.group
                                                                          : t.ref;
      if (value.empty()) return Status::ok();
      Stmt q = query(db, std::string("UPDATE timers SET state='cancelled', done_ms=?1 WHERE ") +
                             column + "=?2 AND automation=?3 AND state='pending'");
      q.bind(1, now_ms).bind(2, value).bind(3, t.automation);
      if (q.step() != SQLITE_DONE) return sqlError(db, "cannot cancel timers");
      o.timers_cancelled += sqlite3_changes(db);
      return Status::ok();
    }
  }
  return Status::ok();
}

Status applyStateWrite(sqlite3* db, const StateWrite& w, int64_t now_ms) {
  if (w.erase) {
    Stmt q = query(db, "DELETE FROM kv WHERE instance=?1 AND key=?2");
    q.bind(1, w.instance).bind(2, w.key);
    return q.step() == SQLITE_DONE ? Status::ok() : sqlError(db, "cannot erase state");
  }
  const int64_t expires = w.ttl_ms > 0 ? now_ms + w.ttl_ms : 0;
  Stmt q = query(db, w.only_if_absent
                         ? "INSERT INTO kv(instance, key, value, expires_ms) VALUES(?1,?2,?3,?4) "
                           "ON CONFLICT(instance, key) DO UPDATE SET value=excluded.value, "
                           "expires_ms=excluded.expires_ms WHERE kv.expires_ms <> 0 AND "
                           "kv.expires_ms <= ?5"
                         : "INSERT OR REPLACE INTO kv(instance, key, value, expires_ms) "
                           "VALUES(?1,?2,?3,?4)");
  q.bind(1, w.instance).bind(2, w.key).bind(3, w.value).bind(4, expires);
  if (w.only_if_absent) q.bind(5, now_ms);
  return q.step() == SQLITE_DONE ? Status::ok() : sqlError(db, "cannot store state");
}

Status applyTimersAndState(sqlite3* db, const AppendItem& item, int64_t now_ms, AppendOutcome& o) {
  for (const auto& op : item.timers) {
    if (auto st = applyTimerOp(db, op, now_ms, o); !st.isOk()) return st;
  }
  for (const auto& w : item.state) {
    if (auto st = applyStateWrite(db, w, now_ms); !st.isOk()) return st;
  }
  return Status::ok();
}

// Stores `items` inside the writer's transaction (see append()).
Status appendTx(sqlite3* db, const std::vector<AppendItem>& items, int64_t now_ms,
                std::vector<AppendOutcome>& outcomes) {
  outcomes.clear();
  for (const auto& item : items) {
    const auto& e = item.event;
    AppendOutcome o;
    o.event_id = e.id;
    if (e.id.empty()) {  // timers and state only
      if (auto st = applyTimersAndState(db, item, now_ms, o); !st.isOk()) return st;
      outcomes.push_back(o);
      continue;
    }
    if (!e.provider_id.empty()) {
      Stmt q = query(
          db, "SELECT id FROM events WHERE instance=?1 AND provider_id=?2 AND provider_id <> ''");
      q.bind(1, e.instance).bind(2, e.provider_id);
      if (q.row()) {
        o.duplicate = true;
        o.event_id = q.text(0);
        outcomes.push_back(o);
        continue;
      }
    }
    {
      Stmt ins = query(db,
                       "INSERT INTO events(id, instance, type, subject, provider_id, "
                       "time_ms, json) VALUES(?1,?2,?3,?4,?5,?6,?7)");
      ins.bind(1, e.id).bind(2, e.instance).bind(3, e.type).bind(4, e.subject);
      ins.bind(5, e.provider_id).bind(6, e.time_ms).bind(7, e.json);
      if (ins.step() != SQLITE_DONE) return sqlError(db, "cannot store event");
    }
    for (size_t i = 0; i < item.deliveries.size(); ++i) {
      const auto& p = item.deliveries[i];
      Stmt ins = query(db,
                       "INSERT INTO deliveries(event_id, route_id, target, action, rendered, "
                       "order_key, idempotency_key, event_override, created_ms, "
                       "next_attempt_ms, updated_ms) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?9,?9)");
      ins.bind(1, e.id).bind(2, p.route_id).bind(3, p.target).bind(4, p.action);
      ins.bind(5, p.rendered).bind(6, p.order_key.empty() ? e.id : p.order_key);
      ins.bind(7, e.id + "." + std::to_string(i)).bind(8, p.event_override).bind(9, now_ms);
      if (ins.step() != SQLITE_DONE) return sqlError(db, "cannot store delivery");
    }
    if (item.conversation) {
      const auto& c = *item.conversation;
      Stmt up = query(db,
                      "INSERT INTO conversations(id, instance, address, contact_json, "
                      "created_ms, last_inbound_ms, awaiting_ms, opened_ms) "
                      "VALUES(?1,?2,?3,?4,?5,?6,?7,?6) "
                      "ON CONFLICT(id) DO UPDATE SET contact_json=CASE WHEN "
                      "excluded.contact_json <> '{}' THEN excluded.contact_json ELSE "
                      "contact_json END, last_inbound_ms=max(last_inbound_ms, "
                      "excluded.last_inbound_ms), awaiting_ms=CASE WHEN awaiting_ms = 0 "
                      "THEN excluded.awaiting_ms ELSE awaiting_ms END, opened_ms=CASE WHEN "
                      "opened_ms = 0 THEN excluded.opened_ms ELSE opened_ms END");
      up.bind(1, c.conversation_id).bind(2, c.instance).bind(3, c.address);
      up.bind(4, c.contact_json.empty() ? std::string("{}") : c.contact_json);
      up.bind(5, now_ms).bind(6, c.inbound_ms).bind(7, c.start_waiting ? c.inbound_ms : 0);
      if (up.step() != SQLITE_DONE) return sqlError(db, "cannot store conversation");
    }
    for (const auto& clear : item.conversation_clears) {
      Stmt up = query(db,
                      "UPDATE conversations SET awaiting_ms=CASE WHEN ?2 THEN 0 ELSE "
                      "awaiting_ms END, opened_ms=CASE WHEN ?3 THEN 0 ELSE opened_ms END "
                      "WHERE id=?1");
      up.bind(1, clear.conversation_id).bind(2, int64_t(clear.awaiting ? 1 : 0));
      up.bind(3, int64_t(clear.opened ? 1 : 0));
      if (up.step() != SQLITE_DONE) return sqlError(db, "cannot update conversation");
    }
    if (item.status_update) {
      const auto& u = *item.status_update;
      Stmt up = query(db,
                      "INSERT INTO message_states(instance, provider_message_id, status, "
                      "rank, error_json, updated_ms) VALUES(?1,?2,?3,?4,?5,?6) "
                      "ON CONFLICT(instance, provider_message_id) DO UPDATE SET "
                      "status=excluded.status, rank=excluded.rank, "
                      "error_json=excluded.error_json, updated_ms=excluded.updated_ms "
                      "WHERE excluded.rank > message_states.rank");
      up.bind(1, u.instance).bind(2, u.provider_message_id).bind(3, u.status);
      up.bind(4, int64_t(u.rank)).bind(5, u.error_json.empty() ? "{}" : u.error_json);
      up.bind(6, u.at_ms);
      if (up.step() != SQLITE_DONE) return sqlError(db, "cannot store message status");
    }
    if (auto st = applyTimersAndState(db, item, now_ms, o); !st.isOk()) return st;
    outcomes.push_back(o);
  }
  return Status::ok();
}

}  // namespace

// ------------------------------------------------------------ encryption --

void EmbeddedBus::setKeyring(std::shared_ptr<const crypto::Keyring> keyring) {
  std::lock_guard<std::mutex> lock(keyring_mutex_);
  keyring_ = keyring ? std::move(keyring) : std::make_shared<const crypto::Keyring>();
}

std::shared_ptr<const crypto::Keyring> EmbeddedBus::keyring() const {
  std::lock_guard<std::mutex> lock(keyring_mutex_);
  return keyring_;
}

std::string EmbeddedBus::sealText(const std::string& plaintext) const {
  // "{}" and "" carry no data and are compared in SQL: left as they are.
  if (plaintext.empty() || plaintext == "{}") return plaintext;
  return keyring()->seal(plaintext);
}

void EmbeddedBus::seal(std::vector<AppendItem>& items) const {
  const auto keys = keyring();
  if (!keys->enabled()) return;
  auto one = [&](std::string& v) {
    if (!v.empty() && v != "{}") v = keys->seal(v);
  };
  for (auto& item : items) {
    one(item.event.json);
    for (auto& d : item.deliveries) {
      one(d.rendered);
      one(d.event_override);
    }
    if (item.conversation) one(item.conversation->contact_json);
    for (auto& w : item.state) {
      if (!w.erase) one(w.value);
    }
    for (auto& t : item.timers) one(t.timer.payload);
  }
}

std::string EmbeddedBus::openText(const std::string& stored) const {
  if (!crypto::Keyring::isSealed(stored)) return stored;
  auto opened = keyring()->open(stored);
  if (opened) return std::move(opened).value();
  if (options_.metrics != nullptr) options_.metrics->storage_decrypt_failures.Add({}).Increment();
  log::error(kLog, "cannot decrypt a stored value", {{"reason", opened.status().message()}});
  return "";
}

void EmbeddedBus::openDelivery(DeliveryInfo& info) const {
  info.delivery.rendered = openText(info.delivery.rendered);
  info.delivery.event_json = openText(info.delivery.event_json);
}

Result<std::vector<AppendOutcome>> EmbeddedBus::append(std::vector<AppendItem> items) {
  seal(items);
  auto outcomes = std::make_shared<std::vector<AppendOutcome>>();
  const int64_t now_ms = now();
  size_t with_deliveries = 0;
  for (const auto& it : items) with_deliveries += it.deliveries.empty() ? 0 : 1;
  Status s = write([&items, outcomes, now_ms](
                       sqlite3* db) -> Status { return appendTx(db, items, now_ms, *outcomes); },
                   items.size());
  if (!s.isOk()) return s;
  if (with_deliveries > 0) poke();
  countTimerOps(*outcomes);
  return *outcomes;
}

void EmbeddedBus::countTimerOps(const std::vector<AppendOutcome>& outcomes) {
  if (options_.metrics == nullptr) return;
  for (const auto& o : outcomes) {
    if (o.timers_scheduled > 0) {
      options_.metrics->timers.Add({{"result", "scheduled"}}).Increment(o.timers_scheduled);
    }
    if (o.timers_cancelled > 0) {
      options_.metrics->timers.Add({{"result", "cancelled"}}).Increment(o.timers_cancelled);
    }
  }
}

// ---------------------------------------------------------------- timers --

namespace {

constexpr const char* kTimerColumns =
    "key, automation, grp, ref, due_ms, payload, state, created_ms, done_ms";

Timer readTimer(Stmt& q) {
  Timer t;
  t.spec = {q.text(0), q.text(1), q.text(2), q.text(3), q.i64(4), q.text(5)};
  t.state = q.text(6);
  t.created_ms = q.i64(7);
  t.done_ms = q.i64(8);
  return t;
}

}  // namespace

std::vector<Timer> EmbeddedBus::dueTimers(int64_t now_ms, size_t limit) {
  std::lock_guard<std::mutex> rlock(reader_mutex_);
  std::vector<Timer> out;
  Stmt q = query(reader_db_, std::string("SELECT ") + kTimerColumns +
                                 " FROM timers WHERE state='pending' AND due_ms <= ?1 "
                                 "ORDER BY due_ms, key LIMIT ?2");
  q.bind(1, now_ms).bind(2, static_cast<int64_t>(limit));
  while (q.row()) out.push_back(readTimer(q));
  for (auto& t : out) t.spec.payload = openText(t.spec.payload);
  return out;
}

std::optional<int64_t> EmbeddedBus::nextTimerDue() {
  std::lock_guard<std::mutex> rlock(reader_mutex_);
  Stmt q = query(reader_db_, "SELECT MIN(due_ms) FROM timers WHERE state='pending'");
  if (!q.row() || q.isNull(0)) return std::nullopt;
  return q.i64(0);
}

std::optional<Timer> EmbeddedBus::timer(const std::string& key) {
  std::lock_guard<std::mutex> rlock(reader_mutex_);
  Stmt q = query(reader_db_, std::string("SELECT ") + kTimerColumns + " FROM timers WHERE key=?1");
  q.bind(1, key);
  if (!q.row()) return std::nullopt;
  Timer t = readTimer(q);
  t.spec.payload = openText(t.spec.payload);
  return t;
}

int64_t EmbeddedBus::pendingTimers() {
  std::lock_guard<std::mutex> rlock(reader_mutex_);
  Stmt q = query(reader_db_, "SELECT COUNT(*) FROM timers WHERE state='pending'");
  return q.row() ? q.i64(0) : 0;
}

Result<bool> EmbeddedBus::fireTimer(const std::string& key, int64_t due_ms,
                                    const std::string& state, std::vector<AppendItem> items) {
  seal(items);
  const int64_t now_ms = now();
  auto fired = std::make_shared<bool>(false);
  auto outcomes = std::make_shared<std::vector<AppendOutcome>>();
  Status s = write(
      [&, fired, outcomes](sqlite3* db) -> Status {
        *fired = false;
        Stmt u = query(db,
                       "UPDATE timers SET state=?3, done_ms=?4 WHERE key=?1 AND due_ms=?2 AND "
                       "state='pending'");
        u.bind(1, key).bind(2, due_ms).bind(3, state).bind(4, now_ms);
        if (u.step() != SQLITE_DONE) return sqlError(db, "cannot end timer");
        if (sqlite3_changes(db) == 0) return Status::ok();
        *fired = true;
        return appendTx(db, items, now_ms, *outcomes);
      },
      items.size());
  if (!s.isOk()) return s;
  if (*fired) {
    poke();
    countTimerOps(*outcomes);
  }
  return *fired;
}

Result<bool> EmbeddedBus::postponeTimer(const std::string& key, int64_t due_ms,
                                        int64_t new_due_ms) {
  auto moved = std::make_shared<bool>(false);
  Status s = write([&, moved](sqlite3* db) -> Status {
    Stmt u =
        query(db, "UPDATE timers SET due_ms=?3 WHERE key=?1 AND due_ms=?2 AND state='pending'");
    u.bind(1, key).bind(2, due_ms).bind(3, new_due_ms);
    if (u.step() != SQLITE_DONE) return sqlError(db, "cannot postpone timer");
    *moved = sqlite3_changes(db) > 0;
    return Status::ok();
  });
  if (!s.isOk()) return s;
  return *moved;
}

// -------------------------------------------------------------- dispatch --

void EmbeddedBus::start(DeliverFn deliver, int workers, ExpiredFn expired) {
  std::lock_guard<std::mutex> lock(dispatch_mutex_);
  if (started_) return;
  started_ = true;
  dispatch_stop_ = false;
  deliver_ = std::move(deliver);
  expired_ = std::move(expired);
  worker_count_ = std::max(1, workers);
  running_keys_.clear();
  targets_.clearInFlight();
  for (int i = 0; i < worker_count_; ++i) workers_.emplace_back([this] { workerLoop(); });
  dispatcher_ = std::thread([this] { dispatcherLoop(); });
}

void EmbeddedBus::stop(std::chrono::milliseconds grace) {
  {
    std::unique_lock<std::mutex> lock(dispatch_mutex_);
    if (!started_) return;
    dispatch_stop_ = true;
    ready_.clear();  // not started: stays pending in storage
    dispatch_cv_.notify_all();
    work_cv_.notify_all();
    if (!idle_cv_.wait_for(lock, grace,
                           [&] { return busy_workers_ == 0 && results_pending_ == 0; })) {
      log::warn(kLog, "stopping with delivery attempts still running; they finish first",
                {{"running", busy_workers_}, {"results_not_stored", results_pending_}});
    }
  }
  if (dispatcher_.joinable()) dispatcher_.join();
  for (auto& w : workers_) {
    if (w.joinable()) w.join();
  }
  std::lock_guard<std::mutex> lock(dispatch_mutex_);
  workers_.clear();
  started_ = false;
}

void EmbeddedBus::setTargets(std::map<std::string, TargetOptions> targets) {
  {
    std::lock_guard<std::mutex> lock(dispatch_mutex_);
    targets_.set(std::move(targets));
  }
  poke();
}

void EmbeddedBus::attemptEnded(const std::string& target) {
  std::lock_guard<std::mutex> lock(dispatch_mutex_);
  targets_.ended(target);
}

void EmbeddedBus::recordGuard(const std::string& target, Outcome outcome, int64_t now_ms) {
  std::lock_guard<std::mutex> lock(dispatch_mutex_);
  targets_.record(target, outcome, now_ms);
}

void EmbeddedBus::disableTarget(const std::string& target) {
  std::lock_guard<std::mutex> lock(dispatch_mutex_);
  targets_.disable(target);
}

std::string EmbeddedBus::circuitState(const std::string& target) const {
  std::lock_guard<std::mutex> lock(dispatch_mutex_);
  return targets_.circuitState(target);
}

bool EmbeddedBus::isTargetDisabled(const std::string& target) const {
  std::lock_guard<std::mutex> lock(dispatch_mutex_);
  return targets_.disabled(target);
}

void EmbeddedBus::poke() {
  std::lock_guard<std::mutex> lock(dispatch_mutex_);
  ++wake_generation_;
  dispatch_cv_.notify_all();
}

void EmbeddedBus::dispatcherLoop() {
  std::unique_lock<std::mutex> lock(dispatch_mutex_);
  // Per target: no deep scan before this time (see below).
  std::map<std::string, std::chrono::steady_clock::time_point> deep_scan_at;
  while (!dispatch_stop_) {
    bool deep_wanted = false;  // a throttled deep scan may find heads
    const uint64_t generation = wake_generation_;
    // Results waiting for their commit do not hold a worker, but a writer
    // that falls far behind does hold the dispatch back.
    const int free_workers = results_pending_ > 8 * worker_count_
                                 ? 0
                                 : worker_count_ - busy_workers_ - static_cast<int>(ready_.size());
    int64_t next_due = -1;
    int64_t guard_wake = 0;
    if (free_workers > 0) {
      const auto targets = targets_.options();
      const auto disabled = targets_.disabledSet();
      const auto running = running_keys_;
      auto budgets = targets_.budgets(now(), worker_count_, guard_wake);
      lock.unlock();
      const int64_t now_ms = now();
      std::vector<std::pair<int64_t, std::pair<std::string, std::string>>> picked;
      bool held_back = false;  // due rows of a target a guard holds back
      try {
        std::lock_guard<std::mutex> rlock(reader_mutex_);
        // One query per target that may send now, each reading only as many
        // due heads as could be used (the free workers, plus the heads
        // skipped because their conversation is still running): the work
        // per pass does not grow with the backlog, and a paused target's
        // backlog is never read at all. INDEXED BY because, without
        // statistics, SQLite would pick deliveries_state and sort every
        // pending row on each pass (the relay benchmark found that).
        struct Head {
          int64_t due_ms, id;
          std::pair<std::string, std::string> key;
        };
        std::vector<Head> heads;
        for (const auto& entry : targets) {
          const std::string& target = entry.first;  // (clang 14: no lambda capture of a binding)
          if (disabled.count(target)) continue;
          const int budget = budgets.count(target) ? budgets[target] : -1;
          if (budget == 0) {
            Stmt e = query(reader_db_,
                           "SELECT 1 FROM deliveries INDEXED BY deliveries_target_ready "
                           "WHERE state='pending' AND target=?1 AND next_attempt_ms <= ?2 LIMIT 1");
            e.bind(1, target).bind(2, now_ms);
            held_back = held_back || e.row();
            continue;
          }
          // (+1 past a guard's budget: to see that it held something back.)
          const int want = budget < 0 ? free_workers : std::min(budget + 1, free_workers);
          // Rows come with a "blocked" column (an older delivery of the same
          // conversation is pending) instead of a NOT EXISTS filter, so
          // SQLite examines at most one page per query: when retried heads
          // are due later than their followers (a target back from an
          // outage), a filter would walk every follower on every pass.
          int found = 0;
          int64_t last_due = std::numeric_limits<int64_t>::min();
          int64_t last_id = std::numeric_limits<int64_t>::min();
          std::set<int64_t> taken;
          auto collect = [&](Stmt& t) {
            int rows = 0;
            while (t.row()) {
              ++rows;
              last_due = t.i64(2);
              last_id = t.i64(0);
              if (t.i64(3) != 0 || last_due > now_ms) continue;
              auto key = std::make_pair(target, t.text(1));
              if (running.count(key) || !taken.insert(last_id).second) continue;
              heads.push_back({last_due, last_id, std::move(key)});
              ++found;
            }
            return rows;
          };
          constexpr int kPage = 256;
          // Past the first page the scan is deep (up to 16 pages of 256 in
          // each order). When one finds nothing -- one conversation whose
          // head is running, followers behind it -- the next waits 100 ms:
          // otherwise every append would pay for it.
          const auto steady = std::chrono::steady_clock::now();
          auto deep_at = deep_scan_at.find(target);
          const bool deep_ok = deep_at == deep_scan_at.end() || steady >= deep_at->second;
          const int kPages = deep_ok ? 16 : 1;
          // First by due time (the usual case: the first rows are heads)...
          int page_rows = kPage;
          int pages_read = 0;
          for (int page = 0; page < kPages && found < want && page_rows == kPage; ++page) {
            ++pages_read;
            const int limit = page == 0 ? std::max(2 * want, 16) : kPage;
            Stmt t = query(reader_db_,
                           "SELECT d.id, d.order_key, d.next_attempt_ms, EXISTS(SELECT 1 FROM "
                           "deliveries p WHERE p.state='pending' AND p.target=d.target AND "
                           "p.order_key=d.order_key AND p.id < d.id) FROM deliveries d "
                           "INDEXED BY deliveries_target_ready WHERE d.state='pending' AND "
                           "d.target=?1 AND d.next_attempt_ms <= ?2 AND "
                           "(d.next_attempt_ms, d.id) > (?3, ?4) "
                           "ORDER BY d.next_attempt_ms, d.id LIMIT ?5");
            t.bind(1, target).bind(2, now_ms).bind(3, last_due).bind(4, last_id);
            t.bind(5, static_cast<int64_t>(limit));
            page_rows = collect(t) == limit ? kPage : 0;
          }
          // ...then, if followers filled those pages, oldest first: the heads
          // of most conversations are among the oldest pending rows.
          last_id = std::numeric_limits<int64_t>::min();
          page_rows = found < want && page_rows == kPage ? kPage : 0;
          for (int page = 0; page < kPages && found < want && page_rows == kPage; ++page) {
            Stmt t = query(reader_db_,
                           "SELECT d.id, d.order_key, d.next_attempt_ms, EXISTS(SELECT 1 FROM "
                           "deliveries p WHERE p.state='pending' AND p.target=d.target AND "
                           "p.order_key=d.order_key AND p.id < d.id) FROM deliveries d "
                           "INDEXED BY deliveries_state WHERE d.state='pending' AND "
                           "d.target=?1 AND d.id > ?2 ORDER BY d.id LIMIT ?3");
            t.bind(1, target).bind(2, last_id).bind(3, static_cast<int64_t>(kPage));
            page_rows = collect(t);
            ++pages_read;
          }
          if (pages_read > 1 && found == 0) {
            deep_scan_at[target] = steady + std::chrono::milliseconds(100);
          } else if (found > 0) {
            deep_scan_at.erase(target);
          }
          if (!deep_ok && found < want && page_rows == kPage) deep_wanted = true;
        }
        // Oldest due first across targets.
        std::sort(heads.begin(), heads.end(), [](const Head& a, const Head& b) {
          return std::tie(a.due_ms, a.id) < std::tie(b.due_ms, b.id);
        });
        for (const auto& h : heads) {
          if (static_cast<int>(picked.size()) >= free_workers) break;
          if (running.count(h.key)) continue;
          int& budget = budgets[h.key.first];
          if (budget == 0) {
            held_back = true;
            continue;
          }
          picked.emplace_back(h.id, h.key);
          if (budget > 0) --budget;
        }
        Stmt n = query(reader_db_,
                       "SELECT MIN(next_attempt_ms) FROM deliveries INDEXED BY deliveries_ready "
                       "WHERE state='pending' AND "
                       "next_attempt_ms > ?1");
        n.bind(1, now_ms);
        if (n.row() && !n.isNull(0)) next_due = n.i64(0);
      } catch (const std::exception& e) {
        log::error(kLog, "dispatch query failed", {{"reason", e.what()}});
      }
      lock.lock();
      bool stale = false;  // a guard changed while the lock was dropped
      for (auto& [id, key] : picked) {
        // The budgets were read before the query: a breaker may have opened
        // (or a probe started) since. Ask again before anything goes.
        if (!targets_.mayStart(key.first, now_ms)) {
          stale = true;
          continue;
        }
        if (!running_keys_.insert(key).second) continue;
        ready_.push_back(id);
        targets_.started(key.first, now_ms);
      }
      if (held_back && options_.metrics != nullptr) {
        for (const auto& [target, budget] : budgets) {
          if (budget == 0 && targets_.throttled(target, now_ms)) {
            options_.metrics->deliveries_throttled.Add({{"target", target}}).Increment();
          }
        }
      }
      if (!picked.empty()) work_cv_.notify_all();
      if (stale) continue;  // the next pass holds them back and sets the wake-up
      if (!picked.empty() && static_cast<int>(picked.size()) == free_workers) continue;
    }
    if (dispatch_stop_ || generation != wake_generation_) continue;
    if (options_.retention.count() > 0 && now() - last_purge_ms_ > 3'600'000) {
      last_purge_ms_ = now();
      lock.unlock();
      auto purged = purge();
      if (purged && *purged > 0)
        log::info(kLog, "retention: deleted old events", {{"events", *purged}});
      lock.lock();
      continue;
    }
    // Sleep until the next retry is due (wall clock), a poke, or 1 s (a
    // safety net for clock jumps and fake clocks in tests).
    auto wait = std::chrono::milliseconds(1000);
    if (guard_wake > 0 && (next_due <= 0 || guard_wake < next_due)) next_due = guard_wake;
    if (next_due > 0) {
      wait = std::clamp(std::chrono::milliseconds(next_due - now()), std::chrono::milliseconds(1),
                        wait);
    }
    if (deep_wanted) wait = std::min(wait, std::chrono::milliseconds(100));
    dispatch_cv_.wait_for(lock, wait,
                          [&] { return dispatch_stop_ || generation != wake_generation_; });
  }
}

void EmbeddedBus::workerLoop() {
  std::unique_lock<std::mutex> lock(dispatch_mutex_);
  while (true) {
    work_cv_.wait(lock, [&] { return dispatch_stop_ || !ready_.empty(); });
    if (dispatch_stop_ && ready_.empty()) return;
    const int64_t id = ready_.front();
    ready_.pop_front();
    ++busy_workers_;
    lock.unlock();
    runDelivery(id);
    lock.lock();
    --busy_workers_;
    ++wake_generation_;
    dispatch_cv_.notify_all();
    idle_cv_.notify_all();
  }
}

void EmbeddedBus::runDelivery(int64_t id) {
  std::optional<DeliveryInfo> info;
  try {
    std::lock_guard<std::mutex> rlock(reader_mutex_);
    Stmt q = query(reader_db_, std::string("SELECT ") + kDeliveryColumns +
                                   " FROM deliveries d JOIN events e ON e.id = d.event_id "
                                   "WHERE d.id=?1");
    q.bind(1, id);
    if (q.row()) info = readDelivery(q);
    if (info) openDelivery(*info);
  } catch (const std::exception& e) {
    log::error(kLog, "cannot load a delivery", {{"id", id}, {"reason", e.what()}});
  }
  const auto release = [&](const DeliveryInfo* d) {
    if (d == nullptr) return;
    std::lock_guard<std::mutex> lock(dispatch_mutex_);
    running_keys_.erase({d->delivery.target, d->delivery.order_key});
    targets_.ended(d->delivery.target);
  };
  if (!info || info->state != "pending") {
    if (info) release(&*info);
    return;
  }
  const Delivery& d = info->delivery;
  config::RetryPolicy policy;
  {
    std::lock_guard<std::mutex> lock(dispatch_mutex_);
    policy = targets_.retryPolicy(d.target);
  }
  const int64_t started_ms = now();
  const auto t0 = std::chrono::steady_clock::now();
  DeliveryResult result;
  try {
    result = deliver_(d);
  } catch (const std::exception& e) {
    result.outcome = Outcome::kRetry;
    result.reason = Code::kInternal;
    result.message = e.what();
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const int attempt = d.attempts + 1;
  const int64_t end_ms = now();
  attemptEnded(d.target);
  recordGuard(d.target, result.outcome, end_ms);

  const std::string reason(codeName(result.reason));
  double jitter = 0;
  if (result.outcome == Outcome::kRetry) {
    std::lock_guard<std::mutex> lock(rng_mutex_);
    jitter = std::uniform_real_distribution<double>(-1.0, 1.0)(rng_);
  }
  const Classified end = classifyResult(d, result, policy, attempt, end_ms, jitter);
  const std::string& state = end.state;
  const std::string& dead_reason = end.dead_reason;
  const int64_t next_ms = end.next_ms;
  if (result.outcome == Outcome::kDisable) disableTarget(d.target);
  if (dead_reason == "expired" && expired_) {
    try {
      expired_(d);
    } catch (const std::exception& e) {
      log::error(kLog, "expiry hook failed", {{"id", d.id}, {"reason", e.what()}});
    }
  }
  const std::string message = result.message.substr(0, 1000);
  // The result is stored by the writer's next group commit; the worker does
  // not wait for it and takes the next delivery. The row stays "running"
  // (not dispatched again, nor the next one of its conversation) until the
  // commit, so order and at-least-once are as before: a crash before the
  // commit means the same attempt again, with the same idempotency key.
  auto store = [id = d.id, attempt, started_ms, seconds, outcome = result.outcome, reason,
                http_status = result.http_status, message, state, next_ms, dead_reason,
                provider_id = result.provider_message_id, end_ms](sqlite3* db) -> Status {
    // Numbered after every attempt stored so far, not `attempt` (which a
    // replay starts again at 1 for the retry schedule): the history of a
    // replayed dead letter keeps the attempts that failed before.
    Stmt a = query(db,
                   "INSERT INTO attempts(delivery_id, attempt, started_ms, duration_s, result, "
                   "reason, http_status, message) VALUES(?1, (SELECT COALESCE(MAX(attempt), 0) "
                   "+ 1 FROM attempts WHERE delivery_id=?1), ?3, ?4, ?5, ?6, ?7, ?8)");
    a.bind(1, id).bind(3, started_ms).bind(4, seconds);
    a.bind(5, std::string(outcomeName(outcome))).bind(6, reason);
    a.bind(7, static_cast<int64_t>(http_status)).bind(8, message);
    if (a.step() != SQLITE_DONE) return Status(Code::kUnavailable, sqlite3_errmsg(db));
    Stmt u = query(db,
                   "UPDATE deliveries SET state=?2, attempts=?3, next_attempt_ms=?4, "
                   "dead_reason=?5, message=?6, provider_message_id=?7, updated_ms=?8 "
                   "WHERE id=?1 AND state='pending'");
    u.bind(1, id).bind(2, state).bind(3, static_cast<int64_t>(attempt)).bind(4, next_ms);
    u.bind(5, dead_reason).bind(6, message).bind(7, provider_id).bind(8, end_ms);
    if (u.step() != SQLITE_DONE) return Status(Code::kUnavailable, sqlite3_errmsg(db));
    return Status::ok();
  };
  {
    std::lock_guard<std::mutex> lock(dispatch_mutex_);
    ++results_pending_;
  }
  writeAsync(std::move(store), [this, d, outcome = result.outcome, reason, seconds, state,
                                dead_reason, attempt, message](const Status& s) {
    if (!s.isOk()) {
      // The attempt happened but its result is not stored: the delivery
      // stays pending and is attempted again (at least once).
      log::error(kLog, "cannot store a delivery result", {{"id", d.id}, {"reason", s.message()}});
    }
    reportAttempt(options_.metrics, d, outcome,
                  AttemptEnd{state, dead_reason, attempt, seconds, reason, message}, s.isOk());
    std::lock_guard<std::mutex> lock(dispatch_mutex_);
    running_keys_.erase({d.target, d.order_key});
    --results_pending_;
    ++wake_generation_;
    dispatch_cv_.notify_all();
    idle_cv_.notify_all();
  });
}

// ------------------------------------------------------------ inspection --

std::optional<EventTrace> EmbeddedBus::event(const std::string& event_id) {
  std::lock_guard<std::mutex> rlock(reader_mutex_);
  EventTrace trace;
  {
    Stmt q = query(reader_db_,
                   "SELECT id, instance, type, subject, provider_id, time_ms, json FROM events "
                   "WHERE id=?1");
    q.bind(1, event_id);
    if (!q.row()) return std::nullopt;
    trace.event = {q.text(0), q.text(1), q.text(2),          q.text(3),
                   q.text(4), q.i64(5),  openText(q.text(6))};
  }
  {
    Stmt q = query(reader_db_, std::string("SELECT ") + kDeliveryColumns +
                                   " FROM deliveries d JOIN events e ON e.id = d.event_id "
                                   "WHERE d.event_id=?1 ORDER BY d.id");
    q.bind(1, event_id);
    while (q.row()) {
      trace.deliveries.push_back(readDelivery(q));
      openDelivery(trace.deliveries.back());
    }
  }
  for (auto& info : trace.deliveries) {
    Stmt q = query(reader_db_,
                   "SELECT attempt, started_ms, duration_s, result, reason, http_status, message "
                   "FROM attempts WHERE delivery_id=?1 ORDER BY attempt");
    q.bind(1, info.delivery.id);
    while (q.row()) {
      info.attempts.push_back({static_cast<int>(q.i64(0)), q.i64(1), q.dbl(2), q.text(3), q.text(4),
                               static_cast<int>(q.i64(5)), q.text(6)});
    }
  }
  return trace;
}

std::vector<DeliveryInfo> EmbeddedBus::deadLetters(const DeadLetterFilter& filter) {
  std::lock_guard<std::mutex> rlock(reader_mutex_);
  Stmt q = query(reader_db_, std::string("SELECT ") + kDeliveryColumns +
                                 " FROM deliveries d JOIN events e ON e.id = d.event_id "
                                 "WHERE d.state='dead' AND d.id > ?1 AND (?2 = '' OR d.target=?2) "
                                 "AND (?3 = '' OR d.dead_reason=?3) ORDER BY d.id LIMIT ?4");
  q.bind(1, filter.after_id)
      .bind(2, filter.target.value_or(""))
      .bind(3, filter.reason.value_or(""));
  q.bind(4, static_cast<int64_t>(std::clamp<size_t>(filter.limit, 1, 1000)));
  std::vector<DeliveryInfo> out;
  while (q.row()) {
    out.push_back(readDelivery(q));
    out.back().attempts.push_back({});
    out.back().attempts.back().message = q.text(16);
  }
  return out;
}

Result<int64_t> EmbeddedBus::replayDeadLetter(int64_t delivery_id) {
  DeadLetterFilter f;
  int64_t changed = 0;
  std::string target;
  const int64_t now_ms = now();
  Status s = write([&](sqlite3* db) -> Status {
    Stmt q = query(db, "SELECT target FROM deliveries WHERE id=?1 AND state='dead'");
    q.bind(1, delivery_id);
    if (!q.row())
      return Status(Code::kNotFound, "no dead letter with id " + std::to_string(delivery_id));
    target = q.text(0);
    Stmt u = query(db,
                   "UPDATE deliveries SET state='pending', attempts=0, created_ms=?2, "
                   "next_attempt_ms=?2, dead_reason='', updated_ms=?2 WHERE id=?1");
    u.bind(1, delivery_id).bind(2, now_ms);
    if (u.step() != SQLITE_DONE) return Status(Code::kUnavailable, sqlite3_errmsg(db));
    changed = sqlite3_changes(db);
    return Status::ok();
  });
  if (!s.isOk()) return s;
  if (options_.metrics != nullptr) {
    options_.metrics->dead_letter_replays.Add({{"target", target}}).Increment(double(changed));
  }
  poke();
  return changed;
}

namespace {

// The dead letters a bulk filter selects, in id order (a limit of 0: all).
constexpr const char* kDeadSelection =
    "SELECT id, target FROM deliveries WHERE state='dead' AND id > ?1 AND (?2 = '' OR "
    "target=?2) AND (?3 = '' OR dead_reason=?3) ORDER BY id LIMIT ?4";

// The ids a bulk filter selects on `db`, counting them per target.
std::vector<int64_t> selectDead(sqlite3* db, const DeadLetterFilter& f,
                                std::map<std::string, int64_t>& per_target) {
  std::vector<int64_t> ids;
  Stmt q = query(db, kDeadSelection);
  q.bind(1, f.after_id).bind(2, f.target.value_or("")).bind(3, f.reason.value_or(""));
  q.bind(4, f.limit == 0 ? int64_t{-1} : static_cast<int64_t>(f.limit));
  while (q.row()) {
    ids.push_back(q.i64(0));
    ++per_target[q.text(1)];
  }
  return ids;
}

}  // namespace

Result<BulkOutcome> EmbeddedBus::replayDeadLetters(const DeadLetterFilter& filter) {
  std::map<std::string, int64_t> per_target;
  BulkOutcome out;
  const int64_t now_ms = now();
  Status s = write([&](sqlite3* db) -> Status {
    per_target.clear();
    out = {};
    const std::vector<int64_t> ids = selectDead(db, filter, per_target);
    Stmt u = query(db,
                   "UPDATE deliveries SET state='pending', attempts=0, created_ms=?2, "
                   "next_attempt_ms=?2, dead_reason='', updated_ms=?2 WHERE id=?1 AND "
                   "state='dead'");
    for (int64_t id : ids) {
      u.bind(1, id).bind(2, now_ms);
      if (u.step() != SQLITE_DONE) return Status(Code::kUnavailable, sqlite3_errmsg(db));
      out.changed += sqlite3_changes(db);
      out.last_id = id;
      u.reset();
    }
    return Status::ok();
  });
  if (!s.isOk()) return s;
  if (options_.metrics != nullptr) {
    for (const auto& [t, n] : per_target) {
      options_.metrics->dead_letter_replays.Add({{"target", t}}).Increment(double(n));
    }
  }
  if (out.changed > 0) {
    log::info(kLog, "dead letters replayed",
              {{"count", out.changed}, {"target", filter.target.value_or("")}});
  }
  poke();
  return out;
}

Result<int64_t> EmbeddedBus::deleteDeadLetter(int64_t delivery_id) {
  int64_t changed = 0;
  Status s = write([&](sqlite3* db) -> Status {
    Stmt u = query(db, "DELETE FROM deliveries WHERE id=?1 AND state='dead'");
    u.bind(1, delivery_id);
    if (u.step() != SQLITE_DONE) return Status(Code::kUnavailable, sqlite3_errmsg(db));
    changed = sqlite3_changes(db);
    if (changed == 0)
      return Status(Code::kNotFound, "no dead letter with id " + std::to_string(delivery_id));
    Stmt a = query(db, "DELETE FROM attempts WHERE delivery_id=?1");
    a.bind(1, delivery_id);
    a.step();
    return Status::ok();
  });
  if (!s.isOk()) return s;
  log::info(kLog, "dead letter deleted", {{"delivery_id", delivery_id}});
  return changed;
}

Result<BulkOutcome> EmbeddedBus::deleteDeadLetters(const DeadLetterFilter& filter) {
  BulkOutcome out;
  Status s = write([&](sqlite3* db) -> Status {
    out = {};
    std::map<std::string, int64_t> per_target;
    const std::vector<int64_t> ids = selectDead(db, filter, per_target);
    Stmt d = query(db, "DELETE FROM deliveries WHERE id=?1 AND state='dead'");
    Stmt a = query(db, "DELETE FROM attempts WHERE delivery_id=?1");
    for (int64_t id : ids) {
      d.bind(1, id);
      if (d.step() != SQLITE_DONE) return Status(Code::kUnavailable, sqlite3_errmsg(db));
      out.changed += sqlite3_changes(db);
      d.reset();
      a.bind(1, id);
      if (a.step() != SQLITE_DONE) return Status(Code::kUnavailable, sqlite3_errmsg(db));
      a.reset();
      out.last_id = id;
    }
    return Status::ok();
  });
  if (!s.isOk()) return s;
  if (out.changed > 0) {
    log::info(kLog, "dead letters deleted",
              {{"count", out.changed}, {"target", filter.target.value_or("")}});
  }
  return out;
}

Result<int64_t> EmbeddedBus::countDeadLetters(const DeadLetterFilter& filter) {
  try {
    std::lock_guard<std::mutex> rlock(reader_mutex_);
    Stmt q = query(reader_db_,
                   "SELECT COUNT(*) FROM deliveries WHERE state='dead' AND (?1 = '' OR "
                   "target=?1) AND (?2 = '' OR dead_reason=?2)");
    q.bind(1, filter.target.value_or("")).bind(2, filter.reason.value_or(""));
    return q.row() ? q.i64(0) : 0;
  } catch (const std::exception& e) {
    return Status(Code::kUnavailable, e.what());
  }
}

std::map<std::string, TargetStats> EmbeddedBus::stats() {
  std::map<std::string, TargetStats> out;
  const int64_t now_ms = now();
  std::lock_guard<std::mutex> rlock(reader_mutex_);
  Stmt q = query(reader_db_,
                 "SELECT target, state, COUNT(*), MIN(created_ms) FROM deliveries "
                 "WHERE state IN ('pending','dead') GROUP BY target, state");
  while (q.row()) {
    auto& t = out[q.text(0)];
    if (q.text(1) == "pending") {
      t.pending = q.i64(2);
      t.oldest_age_seconds = std::max<double>(0, double(now_ms - q.i64(3)) / 1000.0);
    } else {
      t.dead = q.i64(2);
    }
  }
  return out;
}

void EmbeddedBus::refreshGauges() {
  if (options_.metrics == nullptr) return;
  auto s = stats();
  std::set<std::string> names;
  {
    std::lock_guard<std::mutex> lock(dispatch_mutex_);
    for (const auto& [t, _] : targets_.options()) names.insert(t);
  }
  for (const auto& [t, _] : s) names.insert(t);
  for (const auto& t : names) {
    const auto& st = s[t];
    options_.metrics->queue_depth.Add({{"target", t}}).Set(double(st.pending));
    options_.metrics->queue_oldest_age.Add({{"target", t}}).Set(st.oldest_age_seconds);
    options_.metrics->dead_letters.Add({{"target", t}}).Set(double(st.dead));
  }
}

std::optional<Conversation> EmbeddedBus::conversation(const std::string& conversation_id) {
  std::lock_guard<std::mutex> rlock(reader_mutex_);
  Stmt q = query(reader_db_,
                 "SELECT id, instance, address, contact_json, created_ms, last_inbound_ms, "
                 "awaiting_ms, opened_ms FROM conversations WHERE id=?1");
  q.bind(1, conversation_id);
  if (!q.row()) return std::nullopt;
  return Conversation{q.text(0), q.text(1), q.text(2), openText(q.text(3)),
                      q.i64(4),  q.i64(5),  q.i64(6),  q.i64(7)};
}

std::optional<SentMessage> EmbeddedBus::sentMessage(const std::string& target,
                                                    const std::string& provider_message_id) {
  std::lock_guard<std::mutex> rlock(reader_mutex_);
  Stmt q = query(reader_db_,
                 "SELECT d.event_id, e.subject, d.idempotency_key, CASE WHEN d.event_override "
                 "<> '' THEN d.event_override ELSE e.json END FROM deliveries d JOIN events e "
                 "ON e.id = d.event_id WHERE d.target=?1 AND d.provider_message_id=?2 AND "
                 "d.provider_message_id <> '' ORDER BY d.id DESC LIMIT 1");
  q.bind(1, target).bind(2, provider_message_id);
  if (!q.row()) return std::nullopt;
  return SentMessage{q.text(0), q.text(1), q.text(2), openText(q.text(3))};
}

std::optional<MessageState> EmbeddedBus::messageState(const std::string& instance,
                                                      const std::string& provider_message_id) {
  std::lock_guard<std::mutex> rlock(reader_mutex_);
  Stmt q = query(reader_db_,
                 "SELECT status, rank, error_json, updated_ms FROM message_states WHERE "
                 "instance=?1 AND provider_message_id=?2");
  q.bind(1, instance).bind(2, provider_message_id);
  if (!q.row()) return std::nullopt;
  return MessageState{q.text(0), static_cast<int>(q.i64(1)), q.text(2), q.i64(3)};
}

std::optional<std::string> EmbeddedBus::kvGet(const std::string& instance, const std::string& key) {
  std::lock_guard<std::mutex> rlock(reader_mutex_);
  Stmt q = query(reader_db_,
                 "SELECT value FROM kv WHERE instance=?1 AND key=?2 AND (expires_ms = 0 OR "
                 "expires_ms > ?3)");
  q.bind(1, instance).bind(2, key).bind(3, now());
  if (!q.row()) return std::nullopt;
  return openText(q.text(0));
}

Status EmbeddedBus::kvPut(const std::string& instance, const std::string& key,
                          const std::string& value, std::chrono::milliseconds ttl) {
  const int64_t expires = ttl.count() > 0 ? now() + ttl.count() : 0;
  const std::string sealed = sealText(value);
  return write([&](sqlite3* db) -> Status {
    Stmt q = query(
        db, "INSERT OR REPLACE INTO kv(instance, key, value, expires_ms) VALUES(?1,?2,?3,?4)");
    q.bind(1, instance).bind(2, key).bind(3, sealed).bind(4, expires);
    return q.step() == SQLITE_DONE ? Status::ok() : Status(Code::kUnavailable, sqlite3_errmsg(db));
  });
}

Status EmbeddedBus::kvDelete(const std::string& instance, const std::string& key) {
  return write([&](sqlite3* db) -> Status {
    Stmt q = query(db, "DELETE FROM kv WHERE instance=?1 AND key=?2");
    q.bind(1, instance).bind(2, key);
    return q.step() == SQLITE_DONE ? Status::ok() : Status(Code::kUnavailable, sqlite3_errmsg(db));
  });
}

Result<int64_t> EmbeddedBus::purge() {
  const int64_t now_ms = now();
  const int64_t cutoff = options_.retention.count() > 0 ? now_ms - options_.retention.count() : 0;
  int64_t deleted = 0;
  Status s = write([&](sqlite3* db) -> Status {
    Stmt kv = query(db, "DELETE FROM kv WHERE expires_ms <> 0 AND expires_ms <= ?1");
    kv.bind(1, now_ms);
    kv.step();
    if (cutoff <= 0) return Status::ok();
    Stmt t = query(db, "DELETE FROM timers WHERE state <> 'pending' AND done_ms < ?1");
    t.bind(1, cutoff);
    if (t.step() != SQLITE_DONE) return Status(Code::kUnavailable, sqlite3_errmsg(db));
    Stmt a = query(db,
                   "DELETE FROM attempts WHERE delivery_id IN (SELECT d.id FROM deliveries d "
                   "JOIN events e ON e.id = d.event_id WHERE e.time_ms < ?1 AND d.state <> "
                   "'pending' AND NOT EXISTS (SELECT 1 FROM deliveries o WHERE o.event_id = e.id "
                   "AND o.state = 'pending'))");
    a.bind(1, cutoff);
    if (a.step() != SQLITE_DONE) return Status(Code::kUnavailable, sqlite3_errmsg(db));
    Stmt d = query(db,
                   "DELETE FROM deliveries WHERE state <> 'pending' AND event_id IN (SELECT e.id "
                   "FROM events e WHERE e.time_ms < ?1 AND NOT EXISTS (SELECT 1 FROM deliveries "
                   "o WHERE o.event_id = e.id AND o.state = 'pending'))");
    d.bind(1, cutoff);
    if (d.step() != SQLITE_DONE) return Status(Code::kUnavailable, sqlite3_errmsg(db));
    Stmt ms = query(db, "DELETE FROM message_states WHERE updated_ms < ?1");
    ms.bind(1, cutoff);
    if (ms.step() != SQLITE_DONE) return Status(Code::kUnavailable, sqlite3_errmsg(db));
    Stmt e = query(db,
                   "DELETE FROM events WHERE time_ms < ?1 AND NOT EXISTS (SELECT 1 FROM "
                   "deliveries o WHERE o.event_id = events.id)");
    e.bind(1, cutoff);
    if (e.step() != SQLITE_DONE) return Status(Code::kUnavailable, sqlite3_errmsg(db));
    deleted = sqlite3_changes(db);
    // A conversation the customer has not written in for the whole
    // retention goes too (it holds the contact's details); writing again
    // registers it anew.
    Stmt c = query(db, "DELETE FROM conversations WHERE max(created_ms, last_inbound_ms) < ?1");
    c.bind(1, cutoff);
    if (c.step() != SQLITE_DONE) return Status(Code::kUnavailable, sqlite3_errmsg(db));
    return Status::ok();
  });
  if (!s.isOk()) return s;
  if (options_.metrics != nullptr && deleted > 0) {
    options_.metrics->retention_purged.Add({}).Increment(static_cast<double>(deleted));
  }
  return deleted;
}

// ---------------------------------------------------------------- privacy --

namespace {

// Whether a JSON text holds one of `needles` as a whole string value.

}  // namespace

// A full scan: payloads may be encrypted, so SQL cannot search them. An
// erasure is rare and bounded by the retention.
std::vector<Conversation> EmbeddedBus::selectConversations(sqlite3* db, const std::string& contact,
                                                           std::set<std::string>* keys) const {
  std::vector<Conversation> out;
  Stmt q = query(db,
                 "SELECT id, instance, address, contact_json, created_ms, last_inbound_ms, "
                 "awaiting_ms, opened_ms FROM conversations");
  while (q.row()) {
    Conversation c{q.text(0), q.text(1), q.text(2), openText(q.text(3)),
                   q.i64(4),  q.i64(5),  q.i64(6),  q.i64(7)};
    if (conversationOfContact(c, contact, keys)) out.push_back(std::move(c));
  }
  return out;
}

ContactData EmbeddedBus::selectContact(sqlite3* db, const std::string& contact) const {
  ContactData out;
  std::set<std::string> keys{contact};
  std::set<std::string> conversation_ids;
  out.conversations = selectConversations(db, contact, &keys);
  for (const auto& c : out.conversations) conversation_ids.insert(c.conversation_id);
  std::set<std::string> all = keys;
  all.insert(conversation_ids.begin(), conversation_ids.end());
  std::set<std::string> event_ids;
  {
    Stmt q = query(db,
                   "SELECT id, instance, type, subject, provider_id, time_ms, json FROM events "
                   "ORDER BY seq");
    while (q.row()) {
      EventRecord e{q.text(0), q.text(1), q.text(2), q.text(3), q.text(4), q.i64(5), ""};
      if (conversation_ids.count(e.subject) == 0) {
        e.json = openText(q.text(6));
        if (!mentions(e.json, all)) continue;
      } else {
        e.json = openText(q.text(6));
      }
      event_ids.insert(e.id);
      out.events.push_back(std::move(e));
    }
  }
  for (const auto& id : event_ids) {
    Stmt q = query(db, std::string("SELECT ") + kDeliveryColumns +
                           " FROM deliveries d JOIN events e ON e.id = d.event_id "
                           "WHERE d.event_id=?1 ORDER BY d.id");
    q.bind(1, id);
    while (q.row()) {
      out.deliveries.push_back(readDelivery(q));
      openDelivery(out.deliveries.back());
    }
  }
  {
    Stmt q = query(db, "SELECT instance, key, value FROM kv");
    while (q.row()) {
      ContactData::State st{q.text(0), q.text(1), openText(q.text(2))};
      if (containsAny(st.key, all) || mentions(st.value, all)) out.state.push_back(std::move(st));
    }
  }
  {
    Stmt q = query(db, std::string("SELECT ") + kTimerColumns + " FROM timers");
    while (q.row()) {
      Timer t = readTimer(q);
      t.spec.payload = openText(t.spec.payload);
      if (containsAny(t.spec.key, all) || containsAny(t.spec.group, all) ||
          containsAny(t.spec.ref, all) || mentions(t.spec.payload, all)) {
        out.timers.push_back(std::move(t));
      }
    }
  }
  return out;
}

Result<ContactData> EmbeddedBus::contactData(const std::string& contact) {
  try {
    std::lock_guard<std::mutex> rlock(reader_mutex_);
    return selectContact(reader_db_, contact);
  } catch (const std::exception& e) {
    return Status(Code::kUnavailable, e.what());
  }
}

Result<EventPage> EmbeddedBus::findEvents(const EventQuery& qry) {
  // A contact search reads (and opens) payloads, so one call looks at a
  // bounded number of rows and hands back a cursor.
  constexpr int64_t kMaxScanned = 20'000;
  // Event times come from the thread that prepared them, so seq order and
  // time order may differ by a little: keep reading this far past `since`.
  constexpr int64_t kTimeSlackMs = 60'000;
  try {
    std::lock_guard<std::mutex> rlock(reader_mutex_);
    EventPage page;
    const size_t limit = std::clamp<size_t>(qry.limit, 1, 1000);
    std::set<std::string> conversations;
    std::set<std::string> needles;
    if (qry.contact) {
      needles.insert(*qry.contact);
      for (const auto& c : selectConversations(reader_db_, *qry.contact, &needles)) {
        conversations.insert(c.conversation_id);
      }
    }
    std::string sql =
        "SELECT seq, id, instance, type, subject, provider_id, time_ms, json FROM events "
        "WHERE seq < ?1";
    if (qry.conversation_id) sql += " AND subject = ?2";
    if (qry.instance) sql += " AND instance = ?3";
    if (qry.type) {
      sql += qry.type->back() == '.' ? " AND substr(type, 1, length(?4)) = ?4" : " AND type = ?4";
    }
    if (qry.until_ms > 0) sql += " AND time_ms < ?5";
    sql += " ORDER BY seq DESC";
    Stmt q = query(reader_db_, sql);
    q.bind(1, qry.before_seq > 0 ? qry.before_seq : std::numeric_limits<int64_t>::max());
    if (qry.conversation_id) q.bind(2, *qry.conversation_id);
    if (qry.instance) q.bind(3, *qry.instance);
    if (qry.type) q.bind(4, *qry.type);
    if (qry.until_ms > 0) q.bind(5, qry.until_ms);
    while (q.row()) {
      const int64_t seq = q.i64(0);
      const int64_t time_ms = q.i64(6);
      if (qry.since_ms > 0 && time_ms < qry.since_ms - kTimeSlackMs) break;
      if (++page.scanned > kMaxScanned) {
        page.next_before = seq + 1;
        break;
      }
      if (qry.since_ms > 0 && time_ms < qry.since_ms) continue;
      EventRecord e{q.text(1), q.text(2), q.text(3), q.text(4), q.text(5), time_ms, ""};
      if (qry.contact && conversations.count(e.subject) == 0 &&
          !mentions(openText(q.text(7)), needles)) {
        continue;
      }
      page.events.push_back({seq, std::move(e), {}});
      if (page.events.size() == limit) {
        page.next_before = seq;
        break;
      }
    }
    for (auto& ev : page.events) {
      Stmt d = query(reader_db_,
                     "SELECT state, COUNT(*) FROM deliveries WHERE event_id=?1 GROUP BY state");
      d.bind(1, ev.event.id);
      while (d.row()) ev.deliveries[d.text(0)] = d.i64(1);
    }
    return page;
  } catch (const std::exception& e) {
    return Status(Code::kUnavailable, e.what());
  }
}

Result<ErasureCounts> EmbeddedBus::eraseContact(const std::string& contact) {
  ErasureCounts counts;
  Status s = write([&](sqlite3* db) -> Status {
    // Selected inside the writer's transaction: nothing appended meanwhile
    // can slip between the search and the deletes.
    const ContactData data = selectContact(db, contact);
    counts = {};
    auto run = [&](const char* sql, const std::string& a, const std::string& b = "") -> Status {
      Stmt q = query(db, sql);
      q.bind(1, a);
      if (!b.empty()) q.bind(2, b);
      return q.step() == SQLITE_DONE ? Status::ok() : sqlError(db, "cannot erase");
    };
    for (const auto& d : data.deliveries) {
      Stmt a = query(db, "DELETE FROM attempts WHERE delivery_id=?1");
      a.bind(1, d.delivery.id);
      if (a.step() != SQLITE_DONE) return sqlError(db, "cannot erase");
      if (!d.provider_message_id.empty()) {
        if (auto st = run("DELETE FROM message_states WHERE instance=?1 AND provider_message_id=?2",
                          d.delivery.target, d.provider_message_id);
            !st.isOk()) {
          return st;
        }
      }
    }
    for (const auto& e : data.events) {
      if (auto st = run("DELETE FROM deliveries WHERE event_id=?1", e.id); !st.isOk()) return st;
      counts.deliveries += sqlite3_changes(db);
      if (auto st = run("DELETE FROM events WHERE id=?1", e.id); !st.isOk()) return st;
      counts.events += sqlite3_changes(db);
    }
    for (const auto& c : data.conversations) {
      if (auto st = run("DELETE FROM conversations WHERE id=?1", c.conversation_id); !st.isOk()) {
        return st;
      }
      counts.conversations += sqlite3_changes(db);
    }
    for (const auto& st : data.state) {
      if (auto r = run("DELETE FROM kv WHERE instance=?1 AND key=?2", st.instance, st.key);
          !r.isOk()) {
        return r;
      }
      counts.state += sqlite3_changes(db);
    }
    for (const auto& t : data.timers) {
      if (auto r = run("DELETE FROM timers WHERE key=?1", t.spec.key); !r.isOk()) return r;
      counts.timers += sqlite3_changes(db);
    }
    return Status::ok();
  });
  if (!s.isOk()) return s;
  poke();
  return counts;
}

bool EmbeddedBus::healthy() const {
  constexpr int64_t kUnhealthyAfterFailureMs = 30'000;
  const int64_t failed = last_failure_ms_.load();
  const int64_t now_steady = std::chrono::duration_cast<std::chrono::milliseconds>(
                                 std::chrono::steady_clock::now().time_since_epoch())
                                 .count();
  return healthy_.load() && (failed < 0 || now_steady - failed > kUnhealthyAfterFailureMs);
}

}  // namespace sanjog::bus
