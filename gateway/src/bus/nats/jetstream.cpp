#include "bus/nats/jetstream.h"

#include <nats/nats.h>

#include <algorithm>
#include <cctype>
#include <stdexcept>
#include <unordered_map>

#include "sanjog/sdk/crypto.hpp"

namespace sanjog::bus::nats {

namespace {

constexpr jsErrCode kNoJsErr = static_cast<jsErrCode>(0);

int64_t toNanos(std::chrono::milliseconds d) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
}

Code codeOf(natsStatus s, jsErrCode jerr) {
  switch (jerr) {
    case JSStreamNotFoundErr:
    case JSConsumerNotFoundErr:
    case JSNoMessageFoundErr:
      return Code::kNotFound;
    case JSClusterNotAvailErr:
    case JSClusterNoPeersErr:
    case JSClusterNotLeaderErr:
    case JSStreamOfflineErr:
    case JSConsumerOfflineErr:
    case JSInsufficientResourcesErr:
    case JSStorageResourcesExceededErr:
    case JSMemoryResourcesExceededErr:
      return Code::kUnavailable;
    case JSStreamInvalidConfig:
    case JSBadRequestErr:
    case JSStreamReplicasNotSupportedErr:
    case JSStreamSubjectOverlapErr:
    case JSConsumerMaxDeliverBackoffErr:
      return Code::kInvalidArgument;
    default:
      break;
  }
  switch (s) {
    case NATS_TIMEOUT:
      return Code::kTimeout;
    case NATS_NO_SERVER:
    case NATS_NOT_YET_CONNECTED:
    case NATS_CONNECTION_CLOSED:
    case NATS_CONNECTION_DISCONNECTED:
    case NATS_STALE_CONNECTION:
    case NATS_IO_ERROR:
    case NATS_NO_RESPONDERS:
    case NATS_DRAINING:
    case NATS_SECURE_CONNECTION_WANTED:
    case NATS_SECURE_CONNECTION_REQUIRED:
    case NATS_SSL_ERROR:
    case NATS_SLOW_CONSUMER:
    case NATS_INSUFFICIENT_BUFFER:  // publishing while reconnecting
      return Code::kUnavailable;
    case NATS_CONNECTION_AUTH_FAILED:
    case NATS_NOT_PERMITTED:
      return Code::kUnauthenticated;
    case NATS_INVALID_ARG:
    case NATS_INVALID_SUBJECT:
    case NATS_INVALID_TIMEOUT:
    case NATS_ADDRESS_MISSING:
    case NATS_MAX_PAYLOAD:
      return Code::kInvalidArgument;
    case NATS_NOT_FOUND:
      return Code::kNotFound;
    case NATS_ERR:
      return jerr != kNoJsErr ? Code::kUpstreamError : Code::kInternal;
    default:
      return Code::kInternal;
  }
}

// "nats: <what>: <why>[ (jetstream error N)]". The client's thread-local last
// error holds the server's description ("wrong last sequence: 5") after
// the failing call, prefixed with "(file.c:line): ".
Status toStatus(const std::string& what, natsStatus s, jsErrCode jerr = kNoJsErr,
                const char* detail = nullptr) {
  std::string why;
  if (detail != nullptr && *detail != '\0') {
    why = detail;
  } else {
    natsStatus last = NATS_OK;
    const char* text = nats_GetLastError(&last);
    if (last == s && text != nullptr) {
      why = text;
      if (!why.empty() && why.front() == '(') {
        const size_t end = why.find("): ");
        if (end != std::string::npos) why.erase(0, end + 3);
      }
    }
  }
  if (s == NATS_TIMEOUT) {
    why = "timeout";
  } else if (s == NATS_INSUFFICIENT_BUFFER) {
    why = "not connected";  // the reconnect buffer is off (Connection::open)
  } else if (s == NATS_NO_RESPONDERS) {
    // The client also reports JSNotEnabledErr then. Transient while a
    // stream elects a leader (seconds after its leader's server crashed).
    why = "no responders (no stream takes the subject, or it has no leader right now)";
    jerr = kNoJsErr;
  } else if (why.empty()) {
    why = natsStatus_GetText(s);
    for (char& c : why) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  std::string message = "nats: " + what + ": " + why;
  if (jerr != kNoJsErr) message += " (jetstream error " + std::to_string(jerr) + ")";
  return {codeOf(s, jerr), std::move(message)};
}

struct MsgDeleter {
  void operator()(natsMsg* m) const { natsMsg_Destroy(m); }
};
using MsgPtr = std::unique_ptr<natsMsg, MsgDeleter>;

// A message to publish, with its headers (js_PublishMsg sets Nats-Msg-Id
// and the expectations from jsPubOptions).
Result<MsgPtr> makeMsg(const OutMessage& out) {
  natsMsg* raw = nullptr;
  natsStatus s = natsMsg_Create(&raw, out.subject.c_str(), nullptr, out.data.data(),
                                static_cast<int>(out.data.size()));
  MsgPtr msg(raw);
  for (size_t i = 0; s == NATS_OK && i < out.headers.size(); ++i) {
    s = natsMsgHeader_Add(msg.get(), out.headers[i].first.c_str(), out.headers[i].second.c_str());
  }
  if (s != NATS_OK) return toStatus("publish to " + out.subject, s);
  return msg;
}

void initPubOptions(jsPubOptions& po, const OutMessage& out, const std::string& expect_stream) {
  jsPubOptions_Init(&po);
  if (!out.msg_id.empty()) po.MsgId = out.msg_id.c_str();
  if (!expect_stream.empty()) po.ExpectStream = expect_stream.c_str();
}

// Creates the stream from `cfg`, or updates it to `cfg` when it exists and
// `matches` says its settings differ.
template <typename Matches>
Status ensureStreamConfig(jsCtx* js, jsStreamConfig& cfg, Matches matches) {
  const std::string name = cfg.Name;
  jsErrCode jerr = kNoJsErr;
  natsStatus s = js_AddStream(nullptr, js, &cfg, nullptr, &jerr);
  if (s == NATS_OK) return Status::ok();
  // The stream exists with other settings (or another process created it
  // in the meantime, which a cluster may also report this way).
  if (jerr != JSStreamNameExistErr) return toStatus("create stream " + name, s, jerr);
  jsStreamInfo* info = nullptr;
  jerr = kNoJsErr;
  s = js_GetStreamInfo(&info, js, name.c_str(), nullptr, &jerr);
  if (s != NATS_OK) return toStatus("stream info " + name, s, jerr);
  const bool same = matches(*info->Config);
  jsStreamInfo_Destroy(info);
  if (same) return Status::ok();
  jerr = kNoJsErr;
  s = js_UpdateStream(nullptr, js, &cfg, nullptr, &jerr);
  if (s != NATS_OK) return toStatus("update stream " + name, s, jerr);
  return Status::ok();
}

// Every call fails at once while the connection is down. libnats buffers
// the first message sent while reconnecting even with a 1-byte reconnect
// buffer (Connection::open) and sends it on reconnect, maybe long after the
// call reported a timeout: a publish stored or a KV value written then.
Status requireConnected(natsConnection* nc, const std::string& what) {
  if (natsConnection_Status(nc) == NATS_CONN_STATUS_CONNECTED) return Status::ok();
  return {Code::kUnavailable, "nats: " + what + ": not connected"};
}

// Valid NATS KV key (as kvStore_* check it).
bool validKvKey(const std::string& key) {
  if (key.empty() || key.front() == '.' || key.back() == '.') return false;
  for (size_t i = 0; i < key.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(key[i]);
    if (c == '.' && key[i - 1] == '.') return false;
    if (!std::isalnum(c) && c != '.' && c != '_' && c != '-' && c != '/' && c != '=' && c != '\\') {
      return false;
    }
  }
  return true;
}

// The current batch of JetStream::publishBatch, reached from the client's
// ack callback thread.
struct Batch {
  std::unordered_map<natsMsg*, size_t> index;  // in flight -> position
  std::vector<Result<PubAck>>* results = nullptr;
  const std::vector<OutMessage>* msgs = nullptr;
};

}  // namespace

struct JetStream::BatchSlot {
  std::mutex mu;
  Batch* current = nullptr;

  // jsPubAckHandler: every async publish ends here once (ack, error or
  // the library's timeout) unless it is taken back from the pending list.
  static void onAck(jsCtx* /*js*/, natsMsg* msg, jsPubAck* pa, jsPubAckErr* pae, void* closure) {
    auto* slot = static_cast<BatchSlot*>(closure);
    {
      std::lock_guard lock(slot->mu);
      Batch* batch = slot->current;
      if (batch != nullptr) {
        const auto it = batch->index.find(msg);
        if (it != batch->index.end()) {
          const size_t i = it->second;
          batch->index.erase(it);
          auto& result = (*batch->results)[i];
          if (pa != nullptr) {
            result = PubAck{pa->Sequence, pa->Duplicate};
          } else if (pae != nullptr) {
            result = toStatus("publish to " + (*batch->msgs)[i].subject, pae->Err, pae->ErrCode,
                              pae->ErrText);
          }
        }
      }
    }
    natsMsg_Destroy(msg);
  }
};

// ---- Library ----

Library::Library() {
  // No spinning on the library's locks: sanjogd's threads (workers, HTTP,
  // fetchers) contend on the one connection's lock, and a spinning waiter
  // takes a core from the holder. Measured on 2 cores (scripts/bench, NATS
  // rows): 1.2-1.3k webhooks/s instead of 1.0k, 2.1 instead of 2.5 ms CPU
  // per event.
  const natsStatus s = nats_Open(0);
  if (s != NATS_OK) {
    throw std::runtime_error(toStatus("initialize the client library", s).message());
  }
}

// nats_Close() plus waiting (bounded) for the library's threads to end, so
// that leak checkers see everything freed.
Library::~Library() { nats_CloseAndWait(5000); }

// ---- kvKey ----

std::string kvKey(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  static constexpr size_t kMaxKey = 200;
  if (text.empty()) return "=";
  std::string out;
  out.reserve(text.size());
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    const bool plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                       c == '_' || c == '-';
    if (plain) {
      out.push_back(ch);
    } else {
      out.push_back('=');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xF]);
    }
  }
  if (out.size() <= kMaxKey) return out;
  // "=" is always followed by two hex digits above, so "==" marks a hash.
  const std::string hash = sdk::crypto::hex(sdk::crypto::sha256(text));
  size_t cut = kMaxKey - 2 - hash.size();
  if (out[cut - 1] == '=') {
    cut -= 1;
  } else if (out[cut - 2] == '=') {
    cut -= 2;
  }
  out.resize(cut);
  return out + "==" + hash;
}

// ---- Message ----

Message::Message(Message&& other) noexcept
    : msg_(std::exchange(other.msg_, nullptr)), meta_(other.meta_), nc_(other.nc_) {}

Message& Message::operator=(Message&& other) noexcept {
  if (this != &other) {
    natsMsg_Destroy(msg_);
    msg_ = std::exchange(other.msg_, nullptr);
    meta_ = other.meta_;
    nc_ = other.nc_;
  }
  return *this;
}

Message::~Message() { natsMsg_Destroy(msg_); }

std::string_view Message::subject() const { return natsMsg_GetSubject(msg_); }

std::string_view Message::data() const {
  return {natsMsg_GetData(msg_), static_cast<size_t>(natsMsg_GetDataLength(msg_))};
}

std::optional<std::string> Message::header(const std::string& name) const {
  const char* value = nullptr;
  if (natsMsgHeader_Get(msg_, name.c_str(), &value) != NATS_OK || value == nullptr) {
    return std::nullopt;
  }
  return std::string(value);
}

std::string Message::msgId() const { return header("Nats-Msg-Id").value_or(""); }

namespace {
std::string ackWhat(const char* verb, const Message& m) {
  return std::string(verb) + " " + std::string(m.subject()) + " (stream sequence " +
         std::to_string(m.metadata().stream_sequence) + ")";
}
}  // namespace

Status Message::ack() {
  if (auto up = requireConnected(nc_, ackWhat("ack", *this)); !up.isOk()) return up;
  jsErrCode jerr = kNoJsErr;
  const natsStatus s = natsMsg_AckSync(msg_, nullptr, &jerr);
  return s == NATS_OK ? Status::ok() : toStatus(ackWhat("ack", *this), s, jerr);
}

Status Message::ackNoWait() {
  if (auto up = requireConnected(nc_, ackWhat("ack", *this)); !up.isOk()) return up;
  const natsStatus s = natsMsg_Ack(msg_, nullptr);
  return s == NATS_OK ? Status::ok() : toStatus(ackWhat("ack", *this), s);
}

Status Message::nak() {
  if (auto up = requireConnected(nc_, ackWhat("nak", *this)); !up.isOk()) return up;
  const natsStatus s = natsMsg_Nak(msg_, nullptr);
  return s == NATS_OK ? Status::ok() : toStatus(ackWhat("nak", *this), s);
}

Status Message::nakWithDelay(std::chrono::milliseconds delay) {
  if (auto up = requireConnected(nc_, ackWhat("nak", *this)); !up.isOk()) return up;
  const natsStatus s = natsMsg_NakWithDelay(msg_, delay.count(), nullptr);
  return s == NATS_OK ? Status::ok() : toStatus(ackWhat("nak", *this), s);
}

Status Message::term() {
  if (auto up = requireConnected(nc_, ackWhat("term", *this)); !up.isOk()) return up;
  const natsStatus s = natsMsg_Term(msg_, nullptr);
  return s == NATS_OK ? Status::ok() : toStatus(ackWhat("term", *this), s);
}

Status Message::inProgress() {
  if (auto up = requireConnected(nc_, ackWhat("in-progress ack", *this)); !up.isOk()) return up;
  const natsStatus s = natsMsg_InProgress(msg_, nullptr);
  return s == NATS_OK ? Status::ok() : toStatus(ackWhat("in-progress ack", *this), s);
}

// ---- PullConsumer ----

PullConsumer::~PullConsumer() { natsSubscription_Destroy(sub_); }

Result<std::vector<Message>> PullConsumer::fetch(int batch, std::chrono::milliseconds timeout) {
  if (auto up = requireConnected(nc_, "fetch from " + name_); !up.isOk()) return up;
  natsMsgList list{};
  jsErrCode jerr = kNoJsErr;
  const natsStatus s = natsSubscription_Fetch(&list, sub_, batch, timeout.count(), &jerr);
  std::vector<Message> out;
  out.reserve(static_cast<size_t>(list.Count));
  for (int i = 0; i < list.Count; ++i) {
    natsMsg* raw = std::exchange(list.Msgs[i], nullptr);
    Message::Metadata meta;
    jsMsgMetaData* md = nullptr;
    if (natsMsg_GetMetaData(&md, raw) == NATS_OK) {
      meta.stream_sequence = md->Sequence.Stream;
      meta.consumer_sequence = md->Sequence.Consumer;
      meta.num_delivered = md->NumDelivered;
      meta.num_pending = md->NumPending;
      meta.timestamp_ns = md->Timestamp;
      jsMsgMetaData_Destroy(md);
    }
    out.push_back(Message(raw, meta, nc_));
  }
  natsMsgList_Destroy(&list);
  // Messages that arrived are handed out even when the call then failed:
  // the next fetch reports a lasting error.
  if (s == NATS_OK || s == NATS_TIMEOUT || !out.empty()) return out;
  return toStatus("fetch from " + name_, s, jerr);
}

// ---- KeyValue ----

KeyValue::~KeyValue() { kvStore_Destroy(kv_); }

Result<std::optional<KvEntry>> KeyValue::get(const std::string& key) {
  if (auto up = requireConnected(nc_, "kv get " + bucket_ + "/" + key); !up.isOk()) return up;
  kvEntry* e = nullptr;
  const natsStatus s = kvStore_Get(&e, kv_, key.c_str());
  if (s == NATS_NOT_FOUND) return std::optional<KvEntry>();
  if (s != NATS_OK) return toStatus("kv get " + bucket_ + "/" + key, s);
  KvEntry entry{std::string(static_cast<const char*>(kvEntry_Value(e)),
                            static_cast<size_t>(kvEntry_ValueLen(e))),
                kvEntry_Revision(e)};
  kvEntry_Destroy(e);
  return std::optional<KvEntry>(std::move(entry));
}

Result<uint64_t> KeyValue::put(const std::string& key, std::string_view value) {
  if (auto up = requireConnected(nc_, "kv put " + bucket_ + "/" + key); !up.isOk()) return up;
  uint64_t revision = 0;
  const natsStatus s =
      kvStore_Put(&revision, kv_, key.c_str(), value.data(), static_cast<int>(value.size()));
  if (s != NATS_OK) return toStatus("kv put " + bucket_ + "/" + key, s);
  return revision;
}

// kvStore_Create/Update do not report the JetStream error code, so a refused
// write could not be told from a failure: they are done here with
// js_Publish and the same expectations.
Result<KvWrite> KeyValue::conditionalPut(const std::string& key, std::string_view value,
                                         uint64_t expected_revision, bool create) {
  const std::string what = std::string(create ? "kv create " : "kv update ") + bucket_ + "/" + key;
  if (!validKvKey(key)) return Status(Code::kInvalidArgument, "nats: " + what + ": invalid key");
  if (auto up = requireConnected(nc_, what); !up.isOk()) return up;
  const std::string stream = "KV_" + bucket_;
  const std::string subject = "$KV." + bucket_ + "." + key;
  jsPubOptions po;
  jsPubOptions_Init(&po);
  po.ExpectStream = stream.c_str();
  if (expected_revision == 0) {
    po.ExpectNoMessage = true;
  } else {
    po.ExpectLastSubjectSeq = expected_revision;
  }
  jsPubAck* pa = nullptr;
  jsErrCode jerr = kNoJsErr;
  natsStatus s = js_Publish(&pa, js_, subject.c_str(), value.data(), static_cast<int>(value.size()),
                            &po, &jerr);
  if (s == NATS_OK) {
    KvWrite written{KvWrite::Outcome::kWritten, pa->Sequence};
    jsPubAck_Destroy(pa);
    return written;
  }
  if (jerr != JSStreamWrongLastSequenceErr) return toStatus(what, s, jerr);
  if (!create) return KvWrite{KvWrite::Outcome::kWrongRevision, 0};
  // The key has a message: a value, or a delete/purge marker, over which a
  // create may write (at the marker's revision).
  natsMsg* last = nullptr;
  jerr = kNoJsErr;
  s = js_GetLastMsg(&last, js_, stream.c_str(), subject.c_str(), nullptr, &jerr);
  if (s != NATS_OK) {
    if (s == NATS_NOT_FOUND) return KvWrite{KvWrite::Outcome::kExists, 0};
    return toStatus(what, s, jerr);
  }
  MsgPtr marker(last);
  const char* op = nullptr;
  const bool deleted = natsMsgHeader_Get(last, "KV-Operation", &op) == NATS_OK && op != nullptr &&
                       (std::string_view(op) == "DEL" || std::string_view(op) == "PURGE");
  if (!deleted) return KvWrite{KvWrite::Outcome::kExists, 0};
  auto retried = conditionalPut(key, value, natsMsg_GetSequence(last), /*create=*/false);
  if (retried && retried->outcome == KvWrite::Outcome::kWrongRevision) {
    retried->outcome = KvWrite::Outcome::kExists;  // someone else created it meanwhile
  }
  return retried;
}

Result<KvWrite> KeyValue::create(const std::string& key, std::string_view value) {
  return conditionalPut(key, value, 0, /*create=*/true);
}

Result<KvWrite> KeyValue::update(const std::string& key, std::string_view value,
                                 uint64_t expected_revision) {
  return conditionalPut(key, value, expected_revision, /*create=*/false);
}

Status KeyValue::erase(const std::string& key) {
  if (auto up = requireConnected(nc_, "kv erase " + bucket_ + "/" + key); !up.isOk()) return up;
  const natsStatus s = kvStore_Delete(kv_, key.c_str());
  return s == NATS_OK ? Status::ok() : toStatus("kv erase " + bucket_ + "/" + key, s);
}

Result<std::vector<std::string>> KeyValue::keys() {
  if (auto up = requireConnected(nc_, "kv keys " + bucket_); !up.isOk()) return up;
  kvKeysList list{};
  const natsStatus s = kvStore_Keys(&list, kv_, nullptr);
  if (s == NATS_NOT_FOUND) return std::vector<std::string>();
  if (s != NATS_OK) return toStatus("kv keys " + bucket_, s);
  std::vector<std::string> out(list.Keys, list.Keys + list.Count);
  kvKeysList_Destroy(&list);
  return out;
}

// ---- JetStream ----

JetStream::JetStream() : slot_(std::make_unique<BatchSlot>()) {}

JetStream::~JetStream() { reset(); }

void JetStream::reset() {
  jsCtx_Destroy(js_);
  jsCtx_Destroy(batch_js_);
  js_ = batch_js_ = nullptr;
}

Status JetStream::ensureStream(const StreamSpec& spec) {
  if (spec.name.empty()) return Status(Code::kInvalidArgument, "nats: stream without a name");
  if (auto up = requireConnected(nc_, "ensure stream " + spec.name); !up.isOk()) return up;
  std::vector<const char*> subjects;
  for (const auto& s : spec.subjects) subjects.push_back(s.c_str());
  jsStreamConfig cfg;
  jsStreamConfig_Init(&cfg);
  cfg.Name = spec.name.c_str();
  cfg.Subjects = subjects.data();
  cfg.SubjectsLen = static_cast<int>(subjects.size());
  cfg.Retention = spec.retention == Retention::kWorkQueue ? js_WorkQueuePolicy : js_LimitsPolicy;
  cfg.Storage = js_FileStorage;
  cfg.Replicas = spec.replicas;
  cfg.MaxAge = toNanos(spec.max_age);
  cfg.Duplicates = toNanos(spec.duplicate_window);
  return ensureStreamConfig(js_, cfg, [&](const jsStreamConfig& have) {
    std::vector<std::string> a(spec.subjects), b(have.Subjects, have.Subjects + have.SubjectsLen);
    std::sort(a.begin(), a.end());
    std::sort(b.begin(), b.end());
    return a == b && have.Replicas == cfg.Replicas && have.MaxAge == cfg.MaxAge &&
           (cfg.Duplicates == 0 || have.Duplicates == cfg.Duplicates) &&
           have.Retention == cfg.Retention && have.Storage == cfg.Storage;
  });
}

Result<PubAck> JetStream::publish(const OutMessage& out, const std::string& expect_stream) {
  if (auto up = requireConnected(nc_, "publish to " + out.subject); !up.isOk()) return up;
  auto msg = makeMsg(out);
  if (!msg) return msg.status();
  jsPubOptions po;
  initPubOptions(po, out, expect_stream);
  jsPubAck* pa = nullptr;
  jsErrCode jerr = kNoJsErr;
  const natsStatus s = js_PublishMsg(&pa, js_, msg->get(), &po, &jerr);
  if (s != NATS_OK) return toStatus("publish to " + out.subject, s, jerr);
  PubAck ack{pa->Sequence, pa->Duplicate};
  jsPubAck_Destroy(pa);
  return ack;
}

std::vector<Result<PubAck>> JetStream::publishBatch(const std::vector<OutMessage>& msgs,
                                                    const std::string& expect_stream) {
  std::vector<Result<PubAck>> results(
      msgs.size(), Result<PubAck>(Status(Code::kInternal, "nats: publish: not sent")));
  if (msgs.empty()) return results;
  if (natsConnection_Status(nc_) != NATS_CONN_STATUS_CONNECTED) {
    for (size_t i = 0; i < msgs.size(); ++i) {
      results[i] = requireConnected(nc_, "publish to " + msgs[i].subject);
    }
    return results;
  }
  std::lock_guard batch_lock(batch_mu_);

  // Every message exists before the first is sent, so none is destroyed
  // (by an ack) while another is created at its address.
  std::vector<MsgPtr> owned(msgs.size());
  Batch batch;
  batch.results = &results;
  batch.msgs = &msgs;
  for (size_t i = 0; i < msgs.size(); ++i) {
    auto msg = makeMsg(msgs[i]);
    if (!msg) {
      results[i] = msg.status();
      continue;
    }
    owned[i] = std::move(msg.value());
    batch.index.emplace(owned[i].get(), i);
  }
  {
    std::lock_guard lock(slot_->mu);
    slot_->current = &batch;
  }
  for (size_t i = 0; i < msgs.size(); ++i) {
    if (!owned[i]) continue;
    jsPubOptions po;
    initPubOptions(po, msgs[i], expect_stream);
    po.MaxWait = timeout_ms_;  // the library reports an ack not received by then
    natsMsg* raw = owned[i].release();
    const natsStatus s = js_PublishMsgAsync(batch_js_, &raw, &po);
    if (raw != nullptr) {  // not taken: it was not sent
      std::lock_guard lock(slot_->mu);
      batch.index.erase(raw);
      results[i] = toStatus("publish to " + msgs[i].subject, s);
      natsMsg_Destroy(raw);
    }
  }
  jsPubOptions wait;
  jsPubOptions_Init(&wait);
  wait.MaxWait = timeout_ms_ + 1000;  // the per-message MaxWait normally ends it first
  if (js_PublishAsyncComplete(batch_js_, &wait) != NATS_OK) {
    // Take back what is still in flight: its acks are dropped from now on.
    natsMsgList pending{};
    if (js_PublishAsyncGetPendingList(&pending, batch_js_) == NATS_OK) {
      std::lock_guard lock(slot_->mu);
      for (int i = 0; i < pending.Count; ++i) {
        const auto it = batch.index.find(pending.Msgs[i]);
        if (it == batch.index.end()) continue;
        results[it->second] = toStatus("publish to " + msgs[it->second].subject, NATS_TIMEOUT);
        batch.index.erase(it);
      }
      natsMsgList_Destroy(&pending);
    }
  }
  std::lock_guard lock(slot_->mu);
  for (const auto& [msg, i] : batch.index) {  // never settled: reported, not dropped
    results[i] = Status(Code::kInternal, "nats: publish to " + msgs[i].subject + ": no ack");
  }
  slot_->current = nullptr;
  return results;
}

Result<std::unique_ptr<PullConsumer>> JetStream::pullConsumer(const ConsumerSpec& spec) {
  const std::string name = spec.stream + "/" + spec.durable;
  if (spec.stream.empty() || spec.durable.empty()) {
    return Status(Code::kInvalidArgument, "nats: consumer needs a stream and a durable name");
  }
  if (auto up = requireConnected(nc_, "create consumer " + name); !up.isOk()) return up;
  std::vector<int64_t> backoff;
  for (const auto d : spec.backoff) backoff.push_back(toNanos(d));
  jsConsumerConfig cc;
  jsConsumerConfig_Init(&cc);
  cc.Durable = spec.durable.c_str();
  cc.AckPolicy = js_AckExplicit;
  cc.DeliverPolicy = js_DeliverAll;
  cc.AckWait = toNanos(spec.ack_wait);
  cc.MaxDeliver = spec.max_deliver;
  cc.MaxAckPending = spec.max_ack_pending;
  if (!backoff.empty()) {
    cc.BackOff = backoff.data();
    cc.BackOffLen = static_cast<int>(backoff.size());
  }
  if (!spec.filter_subject.empty()) cc.FilterSubject = spec.filter_subject.c_str();
  // Creating an existing durable updates its settings (nats-server 2.9).
  jsErrCode jerr = kNoJsErr;
  natsStatus s = js_AddConsumer(nullptr, js_, spec.stream.c_str(), &cc, nullptr, &jerr);
  if (s != NATS_OK && jerr == JSConsumerNameExistErr) {
    jerr = kNoJsErr;
    s = js_UpdateConsumer(nullptr, js_, spec.stream.c_str(), &cc, nullptr, &jerr);
  }
  if (s != NATS_OK) return toStatus("create consumer " + name, s, jerr);

  jsSubOptions so;
  jsSubOptions_Init(&so);
  so.Stream = spec.stream.c_str();
  so.Consumer = spec.durable.c_str();
  natsSubscription* sub = nullptr;
  jerr = kNoJsErr;
  s = js_PullSubscribe(&sub, js_, "", spec.durable.c_str(), nullptr, &so, &jerr);
  if (s != NATS_OK) return toStatus("bind consumer " + name, s, jerr);
  return std::unique_ptr<PullConsumer>(new PullConsumer(sub, nc_, name));
}

Result<std::unique_ptr<KeyValue>> JetStream::keyValue(const BucketSpec& spec) {
  if (spec.name.empty()) return Status(Code::kInvalidArgument, "nats: bucket without a name");
  if (auto up = requireConnected(nc_, "ensure bucket " + spec.name); !up.isOk()) return up;
  // The stream js_CreateKeyValue makes (libnats 3.4), created or updated
  // here so that changed settings are applied.
  const std::string stream = "KV_" + spec.name;
  const std::string subject = "$KV." + spec.name + ".>";
  const char* subjects[] = {subject.c_str()};
  jsStreamConfig cfg;
  jsStreamConfig_Init(&cfg);
  cfg.Name = stream.c_str();
  cfg.Subjects = subjects;
  cfg.SubjectsLen = 1;
  cfg.MaxMsgsPerSubject = spec.history;
  cfg.MaxBytes = -1;
  cfg.MaxMsgSize = -1;
  cfg.MaxAge = toNanos(spec.ttl);
  cfg.Storage = js_FileStorage;
  cfg.Replicas = spec.replicas;
  cfg.AllowRollup = true;
  cfg.DenyDelete = true;
  cfg.AllowDirect = true;
  cfg.Discard = js_DiscardNew;
  Status ensured = ensureStreamConfig(js_, cfg, [&](const jsStreamConfig& have) {
    return have.MaxMsgsPerSubject == cfg.MaxMsgsPerSubject && have.MaxAge == cfg.MaxAge &&
           have.Replicas == cfg.Replicas;
  });
  if (!ensured.isOk()) return ensured;
  kvStore* kv = nullptr;
  const natsStatus s = js_KeyValue(&kv, js_, spec.name.c_str());
  if (s != NATS_OK) return toStatus("bind bucket " + spec.name, s);
  return std::unique_ptr<KeyValue>(new KeyValue(kv, js_, nc_, spec.name));
}

// ---- Reading streams, watching buckets ----

Result<std::optional<StoredMessage>> JetStream::getMessage(const std::string& stream,
                                                           uint64_t sequence) {
  const std::string what = "get " + stream + "/" + std::to_string(sequence);
  if (auto up = requireConnected(nc_, what); !up.isOk()) return up;
  natsMsg* raw = nullptr;
  jsErrCode jerr = kNoJsErr;
  const natsStatus s = js_GetMsg(&raw, js_, stream.c_str(), sequence, nullptr, &jerr);
  if (s == NATS_NOT_FOUND || jerr == JSNoMessageFoundErr) return std::optional<StoredMessage>();
  if (s != NATS_OK) return toStatus(what, s, jerr);
  MsgPtr msg(raw);
  StoredMessage out;
  out.sequence = natsMsg_GetSequence(raw);
  out.subject = natsMsg_GetSubject(raw);
  out.data.assign(natsMsg_GetData(raw), static_cast<size_t>(natsMsg_GetDataLength(raw)));
  out.time_ns = natsMsg_GetTime(raw);
  return std::optional<StoredMessage>(std::move(out));
}

Status JetStream::deleteMessage(const std::string& stream, uint64_t sequence) {
  const std::string what = "delete " + stream + "/" + std::to_string(sequence);
  if (auto up = requireConnected(nc_, what); !up.isOk()) return up;
  jsErrCode jerr = kNoJsErr;
  const natsStatus s = js_DeleteMsg(js_, stream.c_str(), sequence, nullptr, &jerr);
  if (s == NATS_OK) return Status::ok();
  if (s == NATS_NOT_FOUND || jerr == JSNoMessageFoundErr) {
    return {Code::kNotFound, "nats: " + what + ": no such message"};
  }
  return toStatus(what, s, jerr);
}

Result<StreamState> JetStream::streamState(const std::string& stream) {
  if (auto up = requireConnected(nc_, "stream info " + stream); !up.isOk()) return up;
  jsStreamInfo* info = nullptr;
  jsErrCode jerr = kNoJsErr;
  const natsStatus s = js_GetStreamInfo(&info, js_, stream.c_str(), nullptr, &jerr);
  if (s != NATS_OK) return toStatus("stream info " + stream, s, jerr);
  StreamState out{info->State.Msgs, info->State.FirstSeq, info->State.LastSeq};
  jsStreamInfo_Destroy(info);
  return out;
}

Result<ConsumerState> JetStream::consumerState(const std::string& stream,
                                               const std::string& durable) {
  const std::string what = "consumer info " + stream + "/" + durable;
  if (auto up = requireConnected(nc_, what); !up.isOk()) return up;
  jsConsumerInfo* info = nullptr;
  jsErrCode jerr = kNoJsErr;
  const natsStatus s =
      js_GetConsumerInfo(&info, js_, stream.c_str(), durable.c_str(), nullptr, &jerr);
  if (s != NATS_OK) return toStatus(what, s, jerr);
  ConsumerState out{static_cast<uint64_t>(std::max<int64_t>(0, info->NumAckPending)),
                    info->NumPending,
                    static_cast<uint64_t>(std::max<int64_t>(0, info->NumRedelivered))};
  jsConsumerInfo_Destroy(info);
  return out;
}

Status JetStream::scan(const std::string& stream, const std::string& filter_subject,
                       uint64_t start_sequence, const std::function<bool(StoredMessage&)>& fn) {
  const std::string what = "scan " + stream;
  auto state = streamState(stream);
  if (!state) return state.status();
  const uint64_t last = state->last_sequence;
  const uint64_t start = std::max<uint64_t>({start_sequence, state->first_sequence, 1});
  if (state->messages == 0 || start > last) return Status::ok();
  jsSubOptions so;
  jsSubOptions_Init(&so);
  so.Stream = stream.c_str();
  so.Ordered = true;
  so.Config.DeliverPolicy = js_DeliverByStartSequence;
  so.Config.OptStartSeq = start;
  natsSubscription* sub = nullptr;
  jsErrCode jerr = kNoJsErr;
  natsStatus s = js_SubscribeSync(&sub, js_, filter_subject.c_str(), nullptr, &so, &jerr);
  if (s != NATS_OK) return toStatus(what, s, jerr);
  struct SubGuard {
    natsSubscription* sub;
    ~SubGuard() {
      natsSubscription_Unsubscribe(sub);
      natsSubscription_Destroy(sub);
    }
  } guard{sub};
  while (true) {
    natsMsg* raw = nullptr;
    s = natsSubscription_NextMsg(&raw, sub, 2000);
    if (s == NATS_TIMEOUT) {
      // Nothing more on this filter up to the end (the rest of the stream
      // is on other subjects, or deleted).
      return Status::ok();
    }
    if (s != NATS_OK) return toStatus(what, s);
    MsgPtr msg(raw);
    jsMsgMetaData* meta = nullptr;
    if (natsMsg_GetMetaData(&meta, raw) != NATS_OK) continue;  // a control message
    StoredMessage out;
    out.sequence = meta->Sequence.Stream;
    out.time_ns = meta->Timestamp;
    const uint64_t pending = meta->NumPending;
    jsMsgMetaData_Destroy(meta);
    out.subject = natsMsg_GetSubject(raw);
    out.data.assign(natsMsg_GetData(raw), static_cast<size_t>(natsMsg_GetDataLength(raw)));
    if (out.sequence > last) return Status::ok();
    if (!fn(out)) return Status::ok();
    if (pending == 0 || out.sequence >= last) return Status::ok();
  }
}

Status KeyValue::scan(const std::function<void(const std::string& key, const KvEntry& entry)>& fn) {
  auto w = watchAll();
  if (!w) return w.status();
  while (true) {
    auto next = w.value()->next(std::chrono::milliseconds(10000));
    if (!next) return next.status();
    if (!next.value()) return {Code::kTimeout, "nats: kv scan " + bucket_ + ": timeout"};
    const KvUpdate& u = *next.value();
    if (u.key.empty()) return Status::ok();
    if (!u.deleted) fn(u.key, KvEntry{u.value, u.revision});
  }
}

Result<std::unique_ptr<KvWatcher>> KeyValue::watchAll() {
  if (auto up = requireConnected(nc_, "kv watch " + bucket_); !up.isOk()) return up;
  kvWatcher* w = nullptr;
  const natsStatus s = kvStore_WatchAll(&w, kv_, nullptr);
  if (s != NATS_OK) return toStatus("kv watch " + bucket_, s);
  return std::unique_ptr<KvWatcher>(new KvWatcher(w, bucket_));
}

KvWatcher::~KvWatcher() {
  kvWatcher_Stop(w_);
  kvWatcher_Destroy(w_);
}

Result<std::optional<KvUpdate>> KvWatcher::next(std::chrono::milliseconds timeout) {
  kvEntry* e = nullptr;
  const natsStatus s = kvWatcher_Next(&e, w_, timeout.count());
  if (s == NATS_TIMEOUT) return std::optional<KvUpdate>();
  if (s != NATS_OK) return toStatus("kv watch " + bucket_, s);
  KvUpdate u;
  if (e == nullptr) return std::optional<KvUpdate>(u);  // caught up
  u.key = kvEntry_Key(e);
  u.revision = kvEntry_Revision(e);
  const kvOperation op = kvEntry_Operation(e);
  u.deleted = op == kvOp_Delete || op == kvOp_Purge;
  if (!u.deleted) {
    u.value.assign(static_cast<const char*>(kvEntry_Value(e)),
                   static_cast<size_t>(kvEntry_ValueLen(e)));
  }
  kvEntry_Destroy(e);
  return std::optional<KvUpdate>(std::move(u));
}

// ---- Connection ----

namespace {

// The client's callbacks run on its own thread; the closure is the State.
template <bool kUp>
void onConnectionEvent(natsConnection* /*nc*/, void* closure) {
  static_cast<std::atomic<bool>*>(closure)->store(kUp);
}

}  // namespace

void Connection::onClosed(natsConnection* /*nc*/, void* closure) {
  auto* state = static_cast<State*>(closure);
  state->connected.store(false);
  std::lock_guard lock(state->mu);  // notify under the lock: ~Connection frees State after
  state->closed = true;
  state->closed_cv.notify_all();
}

Result<std::unique_ptr<Connection>> Connection::open(const Options& options) {
  if (options.urls.empty()) return Status(Code::kInvalidArgument, "nats: no server urls");
  // One URL per entry; an entry may itself be a comma-separated list.
  std::vector<std::string> servers;
  for (const auto& entry : options.urls) {
    size_t start = 0;
    while (start <= entry.size()) {
      const size_t comma = std::min(entry.find(',', start), entry.size());
      std::string url = entry.substr(start, comma - start);
      url.erase(0, url.find_first_not_of(" \t"));
      url.erase(url.find_last_not_of(" \t") + 1);
      if (!url.empty()) servers.push_back(std::move(url));
      start = comma + 1;
    }
  }
  if (servers.empty()) return Status(Code::kInvalidArgument, "nats: no server urls");
  std::string urls;
  std::vector<const char*> server_ptrs;
  for (const auto& u : servers) {
    urls += (urls.empty() ? "" : ",") + u;
    server_ptrs.push_back(u.c_str());
  }
  const std::string what = "connect to " + urls;

  natsOptions* raw = nullptr;
  natsStatus s = natsOptions_Create(&raw);
  if (s != NATS_OK) return toStatus(what, s);
  std::unique_ptr<natsOptions, void (*)(natsOptions*)> opts(raw, natsOptions_Destroy);

  std::unique_ptr<Connection> conn(new Connection());
  State* state = conn->state_.get();
  // Not natsOptions_SetURL with a comma-separated list: libnats 3.4.1 then
  // connects to none of them ("No server available for connection").
  s = natsOptions_SetServers(opts.get(), server_ptrs.data(), static_cast<int>(server_ptrs.size()));
  if (s == NATS_OK) s = natsOptions_SetName(opts.get(), options.name.c_str());
  if (s == NATS_OK) s = natsOptions_SetTimeout(opts.get(), options.connect_timeout.count());
  if (s == NATS_OK) s = natsOptions_SetMaxReconnect(opts.get(), -1);  // forever
  if (s == NATS_OK) s = natsOptions_SetReconnectWait(opts.get(), options.reconnect_wait.count());
  // A request (publish, API call) waiting on a lost connection fails at once
  // instead of waiting for its timeout.
  if (s == NATS_OK) s = natsOptions_SetFailRequestsOnDisconnect(opts.get(), true);
  // No publishing into the reconnect buffer (0 would mean 8 MiB): a publish
  // made while disconnected fails at once. Buffered, it was sent on
  // reconnect, maybe long after it had been reported as failed (timeout),
  // and stored then: a duplicate once the dedup window is over.
  if (s == NATS_OK) s = natsOptions_SetReconnectBufSize(opts.get(), 1);
  if (s == NATS_OK) {
    s = natsOptions_SetDisconnectedCB(opts.get(), onConnectionEvent<false>, &state->connected);
  }
  if (s == NATS_OK) {
    s = natsOptions_SetReconnectedCB(opts.get(), onConnectionEvent<true>, &state->connected);
  }
  if (s == NATS_OK) s = natsOptions_SetClosedCB(opts.get(), onClosed, state);
  if (s == NATS_OK && options.retry_on_failed_connect) {
    // With a callback the connect returns at once and goes on in the background.
    s = natsOptions_SetRetryOnFailedConnect(opts.get(), true, onConnectionEvent<true>,
                                            &state->connected);
  }
  if (s == NATS_OK && !options.credentials_file.empty()) {
    s = natsOptions_SetUserCredentialsFromFiles(opts.get(), options.credentials_file.c_str(),
                                                nullptr);
  }
  if (s == NATS_OK && !options.ca_file.empty()) {
    s = natsOptions_LoadCATrustedCertificates(opts.get(), options.ca_file.c_str());
  }
  if (s != NATS_OK) return toStatus(what, s);

  s = natsConnection_Connect(&conn->nc_, opts.get());
  if (s == NATS_OK) {
    state->connected.store(natsConnection_Status(conn->nc_) == NATS_CONN_STATUS_CONNECTED);
  } else if (s != NATS_NOT_YET_CONNECTED) {
    return toStatus(what, s);
  }

  const int64_t timeout_ms = options.request_timeout.count();
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.Wait = timeout_ms;
  s = natsConnection_JetStream(&conn->js_.js_, conn->nc_, &jo);
  if (s == NATS_OK) {
    jsOptions_Init(&jo);
    jo.Wait = timeout_ms;
    jo.PublishAsync.AckHandler = JetStream::BatchSlot::onAck;
    jo.PublishAsync.AckHandlerClosure = conn->js_.slot_.get();
    jo.PublishAsync.MaxPending = 4096;
    jo.PublishAsync.StallWait = timeout_ms;  // a full window waits instead of failing
    s = natsConnection_JetStream(&conn->js_.batch_js_, conn->nc_, &jo);
  }
  if (s != NATS_OK) return toStatus("jetstream context", s);
  conn->js_.timeout_ms_ = timeout_ms;
  conn->js_.nc_ = conn->nc_;
  return conn;
}

Connection::~Connection() {
  js_.reset();  // contexts go before their connection
  if (nc_ == nullptr) return;
  natsConnection_Close(nc_);
  bool closed = false;
  {
    std::unique_lock lock(state_->mu);
    closed =
        state_->closed_cv.wait_for(lock, std::chrono::seconds(10), [&] { return state_->closed; });
  }
  natsConnection_Destroy(nc_);
  // Without the closed callback a late one could still use the State.
  if (!closed) static_cast<void>(state_.release());
}

}  // namespace sanjog::bus::nats
