#include "reliability/harness.h"

#include <signal.h>

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <random>

namespace sanjog::testing::chaos {

namespace {

double envNumber(const char* name, double fallback) {
  const char* v = std::getenv(name);
  return v == nullptr || *v == '\0' ? fallback : std::strtod(v, nullptr);
}

}  // namespace

Settings Settings::fromEnv() {
  Settings s;
  s.load = milliseconds(static_cast<int64_t>(envNumber("SANJOG_CHAOS_SECONDS", 3) * 1000));
  s.kills = static_cast<int>(envNumber("SANJOG_CHAOS_KILLS", s.kills));
  s.conversations = std::max(1, static_cast<int>(envNumber("SANJOG_CHAOS_CONVERSATIONS", 16)));
  s.clients =
      std::clamp(static_cast<int>(envNumber("SANJOG_CHAOS_CLIENTS", 4)), 1, s.conversations);
  s.pace = milliseconds(static_cast<int64_t>(envNumber("SANJOG_CHAOS_PACE_MS", 4)));
  const char* seed = std::getenv("SANJOG_CHAOS_SEED");
  s.seed = seed != nullptr ? std::strtoull(seed, nullptr, 10) : 0;
  if (s.seed == 0) s.seed = std::random_device{}();
  return s;
}

// ---------------------------------------------------------------- Endpoint --

void Endpoint::publish(uint16_t port) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    view_.port = port;
    ++view_.generation;
  }
  cv_.notify_all();
}

Endpoint::View Endpoint::current() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return view_;
}

void Endpoint::awaitChange(uint64_t seen, milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(mutex_);
  cv_.wait_for(lock, timeout, [&] { return view_.generation != seen; });
}

// ------------------------------------------------------------------ events --

std::string eventId(int conversation, int seq) {
  return "evt_" + std::to_string(conversation) + "_" + std::to_string(seq);
}

std::string eventBody(const std::string& id, int conversation, int seq, size_t padding) {
  return nlohmann::json({{"type", "contact.updated"},
                         {"id", id},
                         {"data",
                          {{"conversation_id", "conv_" + std::to_string(conversation)},
                           {"seq", seq},
                           {"note", "গ্রাহক " + std::to_string(seq) + std::string(padding, '.')}}}})
      .dump();
}

HttpResult postEvent(const Daemon& daemon, uint16_t port, const std::string& id,
                     const std::string& body) {
  const int64_t ts = nowSeconds();
  return daemon.request(port, "POST", "/webhooks/a", body,
                        {{"webhook-id", id},
                         {"webhook-timestamp", std::to_string(ts)},
                         {"webhook-signature", signStandardWebhook(kSecretIn, id, ts, body)}});
}

// -------------------------------------------------------------------- Load --

Load::Load(const Daemon& daemon, Endpoint& endpoint, const Settings& settings)
    : daemon_(daemon), endpoint_(endpoint), settings_(settings) {}

Load::~Load() { stop(milliseconds(0)); }

void Load::start() {
  for (int i = 0; i < settings_.clients; ++i) threads_.emplace_back([this, i] { client(i); });
}

void Load::stop(milliseconds grace) {
  stopping_ = true;
  give_up_at_ = (Clock::now() + grace).time_since_epoch().count();
  for (auto& t : threads_) t.join();
  threads_.clear();
}

bool Load::givingUp() const {
  return Clock::now().time_since_epoch().count() >= give_up_at_.load();
}

void Load::client(int index) {
  std::vector<int> mine;
  for (int k = index; k < settings_.conversations; k += settings_.clients) mine.push_back(k);
  std::vector<int> next(mine.size(), 1);
  while (!stopping_) {
    for (size_t i = 0; i < mine.size() && !stopping_; ++i) {
      if (!send(mine[i], next[i]++)) return;
      if (settings_.pace.count() > 0) std::this_thread::sleep_for(settings_.pace);  // pacing only
    }
  }
}

bool Load::send(int conversation, int seq) {
  const std::string id = eventId(conversation, seq);
  const std::string body = eventBody(id, conversation, seq);
  ++sent_;
  while (true) {
    const auto view = endpoint_.current();
    if (view.port != 0) {
      const auto r = postEvent(daemon_, view.port, id, body);
      ++posts_;
      if (r.status == 200 || r.status == 202) {
        std::lock_guard<std::mutex> lock(mutex_);
        acked_.push_back({id, conversation, seq, Clock::now()});
        return true;
      }
      // A 4xx is a bug, unless the daemon was restarted meanwhile and the
      // port now belongs to something else (e.g. the new admin listener).
      if (r.status >= 400 && r.status < 500 && endpoint_.current().generation == view.generation) {
        std::lock_guard<std::mutex> lock(mutex_);
        rejections_.push_back(id + ": " + std::to_string(r.status) + " " + r.body);
        return false;
      }
    }
    if (givingUp()) {
      ++abandoned_;
      return false;
    }
    // Connection refused or reset, 5xx, timeout, or down: retry the same id
    // and body as a provider would, at once when the daemon was restarted.
    endpoint_.awaitChange(view.generation, milliseconds(100));
  }
}

std::vector<Acked> Load::acked() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return acked_;
}

size_t Load::ackedCount() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return acked_.size();
}

std::vector<std::string> Load::rejections() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return rejections_;
}

// ------------------------------------------------------------------ Killer --

Killer::Killer(Daemon& daemon, Endpoint& endpoint, int signal, int max_kills,
               milliseconds min_interval, milliseconds max_interval, uint64_t seed)
    : daemon_(daemon),
      endpoint_(endpoint),
      signal_(signal),
      max_kills_(max_kills),
      min_interval_(min_interval),
      max_interval_(std::max(min_interval, max_interval)),
      seed_(seed) {}

Killer::~Killer() { stop(); }

void Killer::start() {
  thread_ = std::thread([this] { run(); });
}

void Killer::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool Killer::waitDone(milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mutex_);
  return cv_.wait_for(lock, timeout, [&] { return done_; });
}

void Killer::run() {
  std::mt19937_64 rng(seed_);
  std::uniform_int_distribution<int64_t> interval(min_interval_.count(), max_interval_.count());
  const int expected = signal_ == SIGKILL ? 128 + SIGKILL : 0;  // SIGTERM drains and exits 0
  while (kills_ < max_kills_) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      if (cv_.wait_for(lock, milliseconds(interval(rng)), [&] { return stop_; })) break;
    }
    // Clients must not post to the old port: a restarted daemon may get it
    // for another listener.
    endpoint_.markDown();
    const auto down = Clock::now();
    const int rc = daemon_.stop(signal_, std::chrono::seconds(30));
    if (rc != expected) {
      failures_.push_back("kill " + std::to_string(kills_ + 1) + ": signal " +
                          std::to_string(signal_) + " gave exit code " + std::to_string(rc) +
                          ", expected " + std::to_string(expected));
    }
    const auto started = daemon_.start(std::chrono::seconds(60));
    if (!started) {
      failures_.push_back("restart " + std::to_string(kills_ + 1) +
                          " failed: " + started.message());
      break;
    }
    endpoint_.publish(daemon_.publicPort());
    downtime_ms_ += millisBetween(down, Clock::now());
    ++kills_;
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    done_ = true;
  }
  cv_.notify_all();
}

// ------------------------------------------------------------- DeliveryLog --

void DeliveryLog::poll() {
  const auto fresh = receiver_.requestsFrom(read_);
  read_ += fresh.size();
  for (const auto& req : fresh) {
    const auto body = nlohmann::json::parse(req.body, nullptr, false);
    const std::string key = req.header("webhook-id");
    if (!body.is_object() || !body.contains("providerid") || !body["data"].is_object() ||
        key.empty()) {
      ++malformed_;
      continue;
    }
    const std::string id = body.value("providerid", "");
    keys_[id].insert(key);
    if (req.answered < 200 || req.answered >= 300) continue;  // not delivered
    if (first_.count(id) > 0) {
      ++dup_same_key_;  // a different key is counted from keys_
      continue;
    }
    first_.emplace(id, req.received);
    const std::string conv = body["data"].value("conversation_id", "");
    const int seq = body["data"].value("seq", 0);
    auto [it, inserted] = last_seq_.emplace(conv, seq);
    if (!inserted) {
      if (seq <= it->second) {
        ++order_violations_;
        if (examples_.size() < 5) {
          examples_.push_back(conv + ": seq " + std::to_string(seq) + " first delivered after " +
                              std::to_string(it->second));
        }
      }
      it->second = std::max(it->second, seq);
    }
  }
}

size_t DeliveryLog::missing(const std::vector<Acked>& acked) {
  poll();
  size_t n = 0;
  for (const auto& a : acked) n += first_.count(a.id) == 0 ? 1 : 0;
  return n;
}

const Clock::time_point* DeliveryLog::firstDelivery(const std::string& id) const {
  auto it = first_.find(id);
  return it == first_.end() ? nullptr : &it->second;
}

size_t DeliveryLog::duplicatesDifferentKey() const {
  size_t n = 0;
  for (const auto& [id, keys] : keys_) n += keys.size() > 1 ? 1 : 0;
  return n;
}

// ----------------------------------------------------------------- Figures --

void Figures::add(const DeliveryLog& log, const std::vector<Acked>& acked) {
  delivered += log.unique();
  for (const auto& a : acked) lost += log.firstDelivery(a.id) == nullptr ? 1 : 0;
  dup_different_key += log.duplicatesDifferentKey();
  dup_same_key += log.duplicatesSameKey();
  order_violations += log.orderViolations();
  if (log.malformed() > 0) extra["malformed"] = extra.value("malformed", 0) + log.malformed();
  for (const auto& e : log.examples()) extra["order_examples"].push_back(e);
}

void Figures::report() const {
  nlohmann::json j = {{"test", test},
                      {"seed", seed},
                      {"sent", sent},
                      {"acked", acked},
                      {"delivered", delivered},
                      {"lost", lost},
                      {"dup_different_key", dup_different_key},
                      {"dup_same_key", dup_same_key},
                      {"kills", kills},
                      {"outage_ms", outage_ms},
                      {"recovery_ms", recovery_ms},
                      {"order_violations", order_violations}};
  j.update(extra);
  std::cout << "CHAOS " << j.dump() << std::endl;
  EXPECT_EQ(lost, 0u) << "acknowledged events were not delivered";
  EXPECT_EQ(dup_different_key, 0u) << "an event was delivered under two idempotency keys";
  EXPECT_EQ(order_violations, 0u) << "a conversation was delivered out of order";
  EXPECT_EQ(extra.value("malformed", 0), 0) << "the receiver got requests without the event";
}

}  // namespace sanjog::testing::chaos
