#include "app/gateway.h"

#include <algorithm>
#include <chrono>
#include <set>

#include <unistd.h>

#include <Poco/Environment.h>

#include "common/cloud_event.h"
#include "common/ids.h"
#include "common/log.h"
#include "common/time_format.h"
#include "sanjog/sdk/crypto.hpp"

namespace sanjog::app {

namespace {

constexpr const char* kLog = "sanjog.gateway";

int httpStatusFor(Code code) {
  switch (code) {
    case Code::kOk:
      return 200;
    case Code::kInvalidArgument:
      return 400;
    case Code::kUnauthenticated:
      return 401;
    case Code::kNotFound:
      return 404;
    case Code::kRateLimited:
      return 429;
    case Code::kTimeout:
      return 504;
    case Code::kUnavailable:
      return 503;
    case Code::kUpstreamError:
      return 502;
    case Code::kInternal:
      return 500;
    case Code::kOutsideWindow:
      return 422;
  }
  return 500;
}

// Bounded values of sanjog_webhook_requests_total{result}.
std::string resultForStatus(int status) {
  switch (status) {
    case 400:
    case 405:
    case 409:
    case 415:
    case 422:
      return "invalid";
    case 401:
    case 403:
      return "unauthenticated";
    case 404:
      return "not_found";
    case 413:
      return "too_large";
    case 429:
      return "rate_limited";
    case 503:
      return "unavailable";
    default:
      break;
  }
  if (status >= 200 && status < 300) return "accepted";
  if (status >= 500) return "error";
  return "rejected";
}

std::string stringAt(const nlohmann::json& obj, const char* key) {
  if (!obj.is_object()) return "";
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : "";
}

// Order of provider statuses; a later report never moves a message back.
int statusRank(const std::string& status) {
  if (status == "sent") return 1;
  if (status == "delivered") return 2;
  if (status == "read") return 3;
  if (status == "failed") return 4;
  return 0;
}

bool hasAction(const plugin_host::PluginInstance& inst, const std::string& action) {
  const auto& actions = inst.library().actions();
  return std::find(actions.begin(), actions.end(), action) != actions.end();
}

// The action that sends a message through an instance: "send" for channel
// plugins; otherwise the default action of a plugin that delivers (a
// crm_webhook instance bridging an in-house chat gets the message.send event
// itself). "" when the instance cannot take messages.
std::string sendAction(const plugin_host::PluginInstance& inst) {
  if (hasAction(inst, "send")) return "send";
  return inst.delivers() ? inst.library().defaultAction() : std::string();
}

nlohmann::json attemptsJson(const std::vector<bus::AttemptInfo>& attempts) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& a : attempts) {
    out.push_back({{"attempt", a.attempt},
                   {"started_at", formatRfc3339(a.started_ms)},
                   {"duration_seconds", a.duration_seconds},
                   {"result", a.result},
                   {"reason", a.reason},
                   {"http_status", a.http_status},
                   {"message", a.message}});
  }
  return out;
}

}  // namespace

nlohmann::json deliveryJson(const bus::DeliveryInfo& info) {
  const auto& d = info.delivery;
  return {
      {"id", d.id},
      {"event_id", d.event_id},
      {"route", d.route_id},
      {"target", d.target},
      {"action", d.action},
      {"state", info.state},
      {"idempotency_key", d.idempotency_key},
      {"attempt_count", d.attempts},
      {"created_at", formatRfc3339(d.created_ms)},
      {"next_attempt_at", info.state == "pending" ? nlohmann::json(formatRfc3339(d.next_attempt_ms))
                                                  : nlohmann::json(nullptr)},
      {"dead_reason", info.dead_reason},
      {"provider_message_id", info.provider_message_id},
      {"attempts", attemptsJson(info.attempts)}};
}

Reply Reply::json(int status, const nlohmann::json& body) {
  Reply r;
  r.status = status;
  r.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return r;
}

Reply Reply::error(int status, const std::string& code, const std::string& message) {
  return json(status, {{"error", code}, {"message", message}});
}

std::string conversationId(const std::string& instance, const std::string& address) {
  const std::string digest = sdk::crypto::sha256(instance + '\n' + address);
  return "conv_" + sdk::crypto::hex(digest).substr(0, 24);
}

Gateway::Gateway(metrics::Metrics& metrics, bus::Bus& bus,
                 const plugin_host::PluginRegistry& plugins,
                 std::shared_ptr<plugin_host::HostServices> services)
    : metrics_(metrics), bus_(bus), plugins_(plugins), services_(std::move(services)) {
  // Present from the first scrape (0), so the SanjogBackpressure alert and
  // the dashboard see "off" rather than no data.
  metrics_.backpressure.Add({}).Set(0);
}

Gateway::~Gateway() { stopTimers(); }

std::variant<std::shared_ptr<Runtime>, std::vector<std::string>> Gateway::build(
    config::Config config) {
  auto rt = std::make_shared<Runtime>();
  std::vector<std::string> errors;
  for (const auto& ic : config.instances) {
    auto lib = plugins_.find(ic.plugin);
    if (!lib) {
      errors.push_back("instance=" + ic.id + " pointer=/instances reason=plugin " + ic.plugin +
                       " is not loaded");
      continue;
    }
    auto inst = plugin_host::PluginInstance::create(lib, ic.id, ic.config, services_);
    if (!inst) {
      errors.push_back("instance=" + ic.id +
                       " pointer=/instances reason=" + inst.status().message());
      continue;
    }
    rt->instances.emplace(ic.id, std::move(inst).value());
  }
  auto router = routing::Router::build(config.routes, [this, &config](const std::string& id) {
    const auto* ic = config.findInstance(id);
    if (!ic) return std::string();
    auto lib = plugins_.find(ic->plugin);
    return lib ? lib->defaultAction() : std::string();
  });
  if (auto* errs = std::get_if<std::vector<config::ConfigError>>(&router)) {
    for (const auto& e : *errs) errors.push_back(e.toString());
  } else {
    rt->router = std::make_shared<routing::Router>(std::move(std::get<routing::Router>(router)));
  }
  auto engine = automation::Engine::build(config, &metrics_);
  if (auto* errs = std::get_if<std::vector<config::ConfigError>>(&engine)) {
    for (const auto& e : *errs) errors.push_back(e.toString());
  } else {
    rt->automations = std::get<std::shared_ptr<const automation::Engine>>(std::move(engine));
  }
  if (!errors.empty()) return errors;
  rt->config = std::move(config);
  return rt;
}

void Gateway::apply(std::shared_ptr<Runtime> runtime) {
  std::map<std::string, bus::TargetOptions> targets;
  for (const auto& ic : runtime->config.instances) {
    auto it = runtime->instances.find(ic.id);
    if (it != runtime->instances.end() && it->second->delivers()) {
      targets[ic.id] =
          bus::TargetOptions{ic.retry, ic.circuit_breaker, ic.rate_limit, ic.max_in_flight};
    }
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    runtime_ = std::move(runtime);
  }
  bus_.setTargets(std::move(targets));
}

std::shared_ptr<Runtime> Gateway::runtime() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return runtime_;
}

int64_t Gateway::now() const { return services_->now_ms ? services_->now_ms() : nowUnixMs(); }

Result<std::vector<bus::AppendItem>> Gateway::prepare(const Runtime& rt,
                                                      const std::string& instance,
                                                      const std::vector<std::string>& raw_events,
                                                      int depth) {
  std::vector<bus::AppendItem> items;
  items.reserve(raw_events.size());
  const int64_t now = this->now();
  const bool from_automation = rt.automations && rt.automations->isAutomation(instance);
  for (const auto& raw : raw_events) {
    const std::string id = newEventId();
    auto normalized = normalizeEvent(std::string_view(raw), instance, now, id);
    if (!normalized) return normalized.status();
    nlohmann::json event = std::move(normalized).value();
    if (from_automation) event["source"] = "/automations/" + instance;
    // What the automations need to know about the event's conversation.
    std::string trigger_conv, trigger_instance, trigger_address;
    bus::AppendItem item;
    auto& rec = item.event;
    rec.id = id;
    rec.instance = instance;
    rec.type = event["type"].get<std::string>();
    rec.provider_id = stringAt(event, "providerid");
    rec.time_ms = now;
    nlohmann::json& data = event["data"];

    // Conversation registry: an inbound message registers (instance, address).
    if (rec.type == "message.received") {
      // The address replies go to: what the channel says (data.address), else
      // the phone, else the provider's contact id.
      std::string address = stringAt(data, "address");
      if (address.empty())
        address = stringAt(data.value("contact", nlohmann::json::object()), "phone");
      if (address.empty())
        address = stringAt(data.value("contact", nlohmann::json::object()), "id");
      if (address.empty()) address = stringAt(data, "from");
      if (!address.empty()) {
        std::string conv = stringAt(data, "conversation_id");
        if (conv.empty()) {
          conv = conversationId(instance, address);
          data["conversation_id"] = conv;
        }
        // The customer's own time of writing (the provider's timestamp) when
        // it is in the past, so messaging windows count from the message.
        int64_t inbound_ms = now;
        if (const std::string t = stringAt(event, "time"); !t.empty()) {
          if (const int64_t at = parseRfc3339(t); at > 0 && at < now) inbound_ms = at;
        }
        item.conversation = bus::ConversationUpsert{
            conv, instance, address, data.value("contact", nlohmann::json::object()).dump(),
            inbound_ms};
        trigger_conv = conv;
        trigger_instance = instance;
        trigger_address = address;
      }
    }
    // A provider status for a message Sanjog sent: linked to the message.send
    // by (channel instance, provider message id).
    if (rec.type == "message.status") {
      const std::string pmid = stringAt(data, "provider_message_id");
      const std::string status = stringAt(data, "status");
      const int rank = statusRank(status);
      if (!pmid.empty() && rank > 0) {
        nlohmann::json error = data.contains("error") && data["error"].is_object()
                                   ? data["error"]
                                   : nlohmann::json::object();
        item.status_update = bus::StatusUpdate{instance, pmid, status, rank, error.dump(), now};
        const auto sent = bus_.sentMessage(instance, pmid);
        if (sent) {
          data["message_id"] = sent->event_id;
          if (!sent->subject.empty() && stringAt(data, "conversation_id").empty()) {
            data["conversation_id"] = sent->subject;
          }
        }
        metrics_.message_statuses
            .Add({{"channel",
                   stringAt(data, "channel").empty() ? "unknown" : stringAt(data, "channel")},
                  {"type", status},
                  {"result", sent ? "linked" : "unknown"}})
            .Increment();
      }
    }
    if (stringAt(event, "subject").empty() && !stringAt(data, "conversation_id").empty()) {
      event["subject"] = stringAt(data, "conversation_id");
    }
    rec.subject = stringAt(event, "subject");
    const std::string order_key = rec.subject.empty() ? id : rec.subject;

    // Configured routes.
    if (rt.router) {
      for (auto& t : rt.router->route(instance, event)) {
        metrics_.routed.Add({{"route", t.route_id}, {"result", "matched"}}).Increment();
        if (t.message) {
          // A message built from the event (an order update, a reminder): the
          // target gets a message.send, as if one had been posted.
          std::string to = t.recipient;
          for (const char* path : {"/customer/phone", "/contact/phone", "/address"}) {
            if (!to.empty()) break;
            const auto ptr = nlohmann::json::json_pointer(path);
            if (data.contains(ptr) && data[ptr].is_string()) to = data[ptr].get<std::string>();
          }
          if (to.empty()) {
            metrics_.routed.Add({{"route", t.route_id}, {"result", "no_recipient"}}).Increment();
            log::warn(kLog, "route builds a message but the event has no recipient",
                      {{"event_id", id}, {"route", t.route_id}});
            continue;
          }
          const std::string conv = conversationId(t.instance, to);
          nlohmann::json send_data = {{"instance", t.instance},
                                      {"to", to},
                                      {"conversation_id", conv},
                                      {"message", *t.message},
                                      {"cause", {{"event_id", id}, {"type", rec.type}}}};
          if (!t.fallback.empty()) send_data["fallback"] = t.fallback;
          nlohmann::json send = {{"specversion", "1.0"},
                                 {"id", id},
                                 {"source", "/instances/" + instance},
                                 {"type", "message.send"},
                                 {"time", event.value("time", "")},
                                 {"subject", conv},
                                 {"data", send_data}};
          item.deliveries.push_back(
              bus::DeliveryPlan{t.route_id, t.instance, t.action, "", conv, send.dump()});
          continue;
        }
        item.deliveries.push_back(
            bus::DeliveryPlan{t.route_id, t.instance, t.action, t.rendered, order_key, ""});
      }
    }

    // message.send goes to the channel it names, or to the conversation's.
    if (rec.type == "message.send") {
      std::string target = stringAt(data, "instance");
      std::string to = stringAt(data, "to");
      std::string conv = stringAt(data, "conversation_id");
      if ((target.empty() || to.empty()) && !conv.empty()) {
        if (auto c = bus_.conversation(conv)) {
          target = c->instance;
          to = c->address;
        }
      }
      auto it = rt.instances.find(target);
      const std::string action = it != rt.instances.end() ? sendAction(*it->second) : std::string();
      if (!target.empty() && !to.empty() && !action.empty()) {
        if (conv.empty()) conv = conversationId(target, to);
        // Route targets (a helpdesk showing what was sent) see the conversation too.
        if (stringAt(data, "conversation_id").empty()) data["conversation_id"] = conv;
        if (stringAt(event, "subject").empty()) event["subject"] = conv;
        rec.subject = conv;
        trigger_conv = conv;
        trigger_instance = target;
        trigger_address = to;
        const bool routed = std::any_of(item.deliveries.begin(), item.deliveries.end(),
                                        [&](const auto& p) { return p.target == target; });
        if (!routed && target != instance) {
          nlohmann::json enriched = event;
          enriched["data"]["instance"] = target;
          enriched["data"]["to"] = to;
          enriched["data"]["conversation_id"] = conv;
          if (stringAt(enriched, "subject").empty()) enriched["subject"] = conv;
          item.deliveries.push_back(
              bus::DeliveryPlan{"", target, action, "", conv, enriched.dump()});
        }
        metrics_.routed.Add({{"route", "message.send"}, {"result", "matched"}}).Increment();
      } else {
        metrics_.routed.Add({{"route", "message.send"}, {"result", "unresolved"}}).Increment();
        log::warn(kLog, "message.send names no reachable channel; stored without a send delivery",
                  {{"event_id", id}, {"instance", instance}});
      }
    }
    std::vector<automation::Emitted> emitted;
    if (rt.automations && depth < 3) {
      if (trigger_conv.empty()) trigger_conv = stringAt(data, "conversation_id");
      automation::Trigger trigger{instance,         &event,          trigger_conv,
                                  trigger_instance, trigger_address, from_automation};
      emitted = rt.automations->onEvent(trigger, item, bus_, now);
    }
    rec.json = event.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    items.push_back(std::move(item));
    if (!emitted.empty()) {
      auto more = prepareEmitted(rt, emitted, depth + 1);
      if (!more) return more.status();
      for (auto& m : *more) items.push_back(std::move(m));
    }
  }
  return items;
}

Result<std::vector<bus::AppendItem>> Gateway::prepareEmitted(
    const Runtime& rt, std::vector<automation::Emitted>& emitted, int depth) {
  std::vector<bus::AppendItem> items;
  for (auto& e : emitted) {
    auto prepared = prepare(rt, e.automation, {e.event.dump()}, depth);
    if (!prepared) return prepared.status();
    if (!prepared->empty()) {
      auto& first = prepared->front().on_commit;
      first.insert(first.end(), e.on_commit.begin(), e.on_commit.end());
    }
    for (auto& p : *prepared) items.push_back(std::move(p));
  }
  return items;
}

bool Gateway::commitDecision(const Runtime& rt, automation::Decision decision, const char* why) {
  auto items = prepareEmitted(rt, decision.events, 1);
  if (!items) {
    log::error(kLog, "an automation produced an invalid event",
               {{"reason", items.status().message()}, {"during", why}});
    return false;
  }
  if (!decision.timers.empty() || !decision.state.empty()) {
    bus::AppendItem only;  // no event: timers and state only
    only.timers = std::move(decision.timers);
    only.state = std::move(decision.state);
    only.on_commit = std::move(decision.on_commit);
    items->push_back(std::move(only));
  }
  if (items->empty()) return true;
  auto committed = commit("automation", std::move(items).value());
  if (!committed) {
    log::error(kLog, "cannot store what an automation decided",
               {{"reason", committed.status().message()}, {"during", why}});
    return false;
  }
  return true;
}

int Gateway::fireDueTimers() {
  auto rt = runtime();
  if (!rt || !rt->automations) return 0;
  const int64_t now_ms = now();
  const auto due = bus_.dueTimers(now_ms, 64);
  for (const auto& t : due) {
    auto d = rt->automations->fire(t, bus_, now_ms);
    const auto& id = t.spec.automation;
    if (d.kind == automation::Decision::Kind::kPostpone) {
      auto moved = bus_.postponeTimer(t.spec.key, t.spec.due_ms, d.postpone_to);
      if (moved && *moved) {
        metrics_.timers.Add({{"result", "postponed"}}).Increment();
        metrics_.automation_actions.Add({{"automation", id}, {"result", "postponed"}}).Increment();
      }
      continue;
    }
    std::vector<bus::AppendItem> items;
    std::string state = "skipped";
    if (d.kind == automation::Decision::Kind::kFire) {
      auto prepared = prepareEmitted(*rt, d.events, 1);
      if (!prepared) {
        log::error(kLog, "a timer produced an invalid event; skipped",
                   {{"automation", id}, {"reason", prepared.status().message()}});
        d.reason = "invalid";
      } else {
        items = std::move(prepared).value();
        if (!d.timers.empty() || !d.state.empty()) {
          bus::AppendItem only;
          only.timers = std::move(d.timers);
          only.state = std::move(d.state);
          items.push_back(std::move(only));
        }
        state = "fired";
      }
    }
    std::vector<std::function<void()>> effects = std::move(d.on_commit);
    for (auto& i : items) {
      effects.insert(effects.end(), i.on_commit.begin(), i.on_commit.end());
      i.on_commit.clear();
      if (!i.event.type.empty()) {
        effects.emplace_back([this, instance = i.event.instance, type = i.event.type] {
          metrics_.events_published.Add({{"instance", instance}, {"type", type}}).Increment();
        });
      }
    }
    auto done = bus_.fireTimer(t.spec.key, t.spec.due_ms, state, std::move(items));
    if (!done) {
      log::error(kLog, "cannot store a fired timer; it stays pending",
                 {{"automation", id}, {"reason", done.status().message()}});
      metrics_.timers.Add({{"result", "error"}}).Increment();
      continue;
    }
    if (!*done) continue;  // cancelled or moved meanwhile
    metrics_.timers.Add({{"result", state}}).Increment();
    if (state == "fired") {
      for (auto& f : effects) f();
    } else {
      metrics_.automation_actions.Add({{"automation", id}, {"result", d.reason}}).Increment();
    }
  }
  metrics_.timers_pending.Add({}).Set(static_cast<double>(bus_.pendingTimers()));
  return static_cast<int>(due.size());
}

void Gateway::startTimers() {
  std::lock_guard<std::mutex> lock(timer_mutex_);
  if (timer_thread_.joinable()) return;
  timer_stop_ = false;
  timer_thread_ = std::thread([this] { timerLoop(); });
}

void Gateway::stopTimers() {
  {
    std::lock_guard<std::mutex> lock(timer_mutex_);
    timer_stop_ = true;
  }
  timer_cv_.notify_all();
  if (timer_thread_.joinable()) timer_thread_.join();
}

void Gateway::pokeTimers() {
  {
    std::lock_guard<std::mutex> lock(timer_mutex_);
    timer_poked_ = true;
  }
  timer_cv_.notify_all();
}

void Gateway::timerLoop() {
  std::unique_lock<std::mutex> lock(timer_mutex_);
  while (!timer_stop_) {
    timer_poked_ = false;
    lock.unlock();
    int handled = 0;
    std::optional<int64_t> next;
    try {
      handled = fireDueTimers();
      next = bus_.nextTimerDue();
    } catch (const std::exception& e) {
      log::error(kLog, "timer loop failed", {{"reason", e.what()}});
    }
    lock.lock();
    if (handled >= 64) continue;  // more are due
    // Until the next timer is due (at least 50 ms: a timer that cannot be
    // stored is retried, not spun on), a poke, or 1 s for clock changes.
    auto wait = std::chrono::milliseconds(1000);
    if (next) {
      wait =
          std::clamp(std::chrono::milliseconds(*next - now()), std::chrono::milliseconds(50), wait);
    }
    timer_cv_.wait_for(lock, wait, [&] { return timer_stop_ || timer_poked_; });
  }
}

Result<std::vector<bus::AppendOutcome>> Gateway::commit(const std::string& instance,
                                                        std::vector<bus::AppendItem> items) {
  std::vector<std::pair<std::string, std::string>> labels;  // (instance, type); "" for state only
  std::vector<std::vector<std::function<void()>>> effects;
  std::vector<std::pair<std::string, size_t>> traces;  // (conversation, deliveries) for the log
  labels.reserve(items.size());
  traces.reserve(items.size());
  bool timers = false;
  for (auto& i : items) {
    labels.emplace_back(i.event.instance.empty() ? instance : i.event.instance, i.event.type);
    traces.emplace_back(i.event.subject, i.deliveries.size());
    effects.push_back(std::move(i.on_commit));
    timers = timers || !i.timers.empty();
  }
  auto outcome = bus_.append(std::move(items));
  if (!outcome) return outcome;
  for (size_t i = 0; i < outcome->size(); ++i) {
    const bool is_event = !labels[i].second.empty();  // else a state write only
    if ((*outcome)[i].duplicate) {
      metrics_.events_deduplicated.Add({{"instance", labels[i].first}}).Increment();
      if (is_event) {
        log::debug(kLog, "duplicate event; the first copy stays",
                   {{"event_id", (*outcome)[i].event_id},
                    {"conversation_id", traces[i].first},
                    {"instance", labels[i].first},
                    {"type", labels[i].second}});
      }
      continue;
    }
    if (is_event) {
      metrics_.events_published.Add({{"instance", labels[i].first}, {"type", labels[i].second}})
          .Increment();
      log::info(kLog, "event stored",
                {{"event_id", (*outcome)[i].event_id},
                 {"conversation_id", traces[i].first},
                 {"instance", labels[i].first},
                 {"type", labels[i].second},
                 {"deliveries", traces[i].second}});
    }
    for (auto& f : effects[i]) f();
  }
  if (timers) pokeTimers();
  return outcome;
}

std::optional<Reply> Gateway::backpressure(const config::BackpressureConfig& bounds) {
  if (bounds.max_pending <= 0 && bounds.max_age.count() <= 0) return std::nullopt;
  const int64_t steady_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::steady_clock::now().time_since_epoch())
                                .count();
  std::unique_lock<std::mutex> lock(backlog_mutex_, std::try_to_lock);
  if (lock.owns_lock() && (backlog_checked_ms_ < 0 || steady_ms - backlog_checked_ms_ >= 500)) {
    backlog_checked_ms_ = steady_ms;
    int64_t pending = 0;
    double oldest = 0;
    for (const auto& [target, st] : bus_.stats()) {
      pending += st.pending;
      oldest = std::max(oldest, st.oldest_age_seconds);
    }
    int state = 0;
    if (bounds.max_pending > 0 && pending >= bounds.max_pending) {
      state = 1;
    } else if (bounds.max_age.count() > 0 &&
               oldest * 1000.0 >= static_cast<double>(bounds.max_age.count())) {
      state = 2;
    }
    const int before = backlog_state_.exchange(state);
    metrics_.backpressure.Add({}).Set(state == 0 ? 0 : 1);
    if (before != state) {
      if (state == 0) {
        log::info(kLog, "backlog back under its bounds; accepting webhooks again",
                  {{"pending", pending}});
      } else {
        log::warn(kLog, "backlog over its bound; webhooks get 503 until it drains",
                  {{"pending", pending},
                   {"oldest_age_s", oldest},
                   {"bound", state == 1 ? "max_pending" : "max_age"}});
      }
    }
  }
  const int state = backlog_state_.load();
  if (state == 0) return std::nullopt;
  metrics_.requests_rejected.Add({{"kind", "public"}, {"reason", "backlog"}}).Increment();
  Reply r = Reply::error(503, "overloaded",
                         state == 1 ? "too many deliveries are waiting; retry later"
                                    : "the oldest waiting delivery is too old; retry later");
  const auto secs = std::max<int64_t>(
      1, std::chrono::duration_cast<std::chrono::seconds>(bounds.retry_after).count());
  r.headers.emplace_back("Retry-After", std::to_string(secs));
  return r;
}

Reply Gateway::handleWebhook(const std::string& instance, plugin_host::WebhookCall call) {
  const auto started = std::chrono::steady_clock::now();
  auto finish = [&](Reply reply, const std::string& result) {
    metrics_.webhook_requests.Add({{"instance", instance}, {"result", result}}).Increment();
    metrics_.webhook_duration.Add({{"instance", instance}}, metrics::latencyBuckets())
        .Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    return reply;
  };
  auto rt = runtime();
  auto it = rt->instances.find(instance);
  if (it == rt->instances.end()) {
    // Unknown ids are not used as label values (unbounded): count them together.
    metrics_.webhook_requests.Add({{"instance", "unknown"}, {"result", "not_found"}}).Increment();
    return Reply::error(404, "not_found", "no instance named " + instance);
  }
  auto& inst = *it->second;
  if (!inst.acceptsWebhooks()) {
    return finish(Reply::error(404, "not_found", "instance " + instance + " takes no webhooks"),
                  "not_found");
  }
  plugin_host::WebhookOutcome out = inst.handleWebhook(call);
  Reply reply;
  reply.status = out.http_status;
  reply.headers = out.headers;
  reply.content_type = out.content_type.empty() ? "application/json" : out.content_type;
  reply.body = out.body;
  if (out.hook_status != Code::kOk) {
    if (reply.status < 400) reply.status = httpStatusFor(out.hook_status);
    if (reply.body.empty()) {
      reply = Reply::error(reply.status, std::string(codeName(out.hook_status)),
                           out.hook_message.empty() ? "request refused" : out.hook_message);
    }
    if (reply.status >= 500) {
      log::warn(kLog, "webhook handler failed", {{"instance", instance}, {"status", reply.status}});
    }
    return finish(reply, resultForStatus(reply.status));
  }
  if (reply.status < 200 || reply.status >= 300 || out.events.empty()) {
    return finish(reply, resultForStatus(reply.status));
  }
  if (auto refused = backpressure(rt->config.server.backpressure)) {
    return finish(*refused, "backpressure");
  }
  auto items = prepare(*rt, instance, out.events);
  if (!items) {
    log::error(kLog, "plugin emitted an invalid event",
               {{"instance", instance}, {"reason", items.status().message()}});
    return finish(Reply::error(500, "internal", "the plugin emitted an invalid event"), "error");
  }
  auto committed = commit(instance, std::move(items).value());
  if (!committed) {
    log::error(kLog, "commit failed; answering 503 so the provider retries",
               {{"instance", instance}, {"reason", committed.status().message()}});
    Reply r = Reply::error(503, "unavailable", "storage is not accepting writes; retry later");
    r.headers.emplace_back("Retry-After", "5");
    return finish(r, "unavailable");
  }
  // The stored ids (the first copy's for a duplicate), so whoever sent the
  // webhook can trace it: GET /admin/v1/events/{id}, `sanjogctl events show`.
  std::string ids;
  for (const auto& o : *committed) {
    if (o.event_id.empty()) continue;
    ids += (ids.empty() ? "" : ",") + o.event_id;
  }
  if (!ids.empty()) reply.headers.emplace_back("Sanjog-Event-Ids", ids);
  const bool all_duplicates =
      std::all_of(committed->begin(), committed->end(), [](const auto& o) { return o.duplicate; });
  if (all_duplicates) {
    reply.status = 200;  // SPEC: a repeated provider event is answered 200 and stored once
    return finish(reply, "duplicate");
  }
  return finish(reply, "accepted");
}

void Gateway::countRejected(const std::string& instance, const std::string& result) {
  auto rt = runtime();
  const bool known = rt && rt->instances.count(instance) > 0;
  metrics_.webhook_requests.Add({{"instance", known ? instance : "unknown"}, {"result", result}})
      .Increment();
}

Status Gateway::emitFromPlugin(const std::string& instance, std::string_view event_json) {
  auto rt = runtime();
  auto items = prepare(*rt, instance, {std::string(event_json)});
  if (!items) return items.status();
  auto committed = commit(instance, std::move(items).value());
  return committed ? Status::ok() : committed.status();
}

Reply Gateway::submitMessage(const std::string& body, const std::string& idempotency_key) {
  nlohmann::json req = nlohmann::json::parse(body, nullptr, false);
  if (!req.is_object()) return Reply::error(400, "invalid_argument", "body must be a JSON object");
  if (!req.contains("message") || !req["message"].is_object()) {
    return Reply::error(400, "invalid_argument", "\"message\" (an object) is required");
  }
  auto rt = runtime();
  std::string target = stringAt(req, "instance");
  const std::string conv = stringAt(req, "conversation_id");
  if (target.empty() && conv.empty()) {
    return Reply::error(400, "invalid_argument",
                        "give \"conversation_id\", or \"instance\" and \"to\"");
  }
  if (!target.empty() && stringAt(req, "to").empty()) {
    return Reply::error(400, "invalid_argument", "\"to\" is required with \"instance\"");
  }
  if (target.empty()) {
    auto c = bus_.conversation(conv);
    if (!c) return Reply::error(404, "not_found", "no conversation " + conv);
    target = c->instance;
  }
  auto it = rt->instances.find(target);
  if (it == rt->instances.end()) return Reply::error(404, "not_found", "no instance " + target);
  if (sendAction(*it->second).empty()) {
    return Reply::error(422, "invalid_argument", "instance " + target + " cannot send messages");
  }
  if (idempotency_key.size() > 256) {
    return Reply::error(400, "invalid_argument", "Idempotency-Key is longer than 256 bytes");
  }
  nlohmann::json event = {{"type", "message.send"}, {"data", req}};
  if (!idempotency_key.empty()) event["providerid"] = idempotency_key;
  auto items = prepare(*rt, "api", {event.dump()});
  if (!items) return Reply::error(400, "invalid_argument", items.status().message());
  if (auto refused = backpressure(rt->config.server.backpressure)) return *refused;
  auto committed = commit("api", std::move(items).value());
  if (!committed) {
    Reply r = Reply::error(503, "unavailable", "storage is not accepting writes; retry later");
    r.headers.emplace_back("Retry-After", "5");
    return r;
  }
  const auto& o = committed->front();
  Reply r = Reply::json(202, {{"id", o.event_id}, {"status", "queued"}});
  if (o.duplicate) r.headers.emplace_back("Idempotent-Replayed", "true");
  return r;
}

Reply Gateway::messageStatus(const std::string& id) {
  auto trace = bus_.event(id);
  if (!trace || trace->event.type != "message.send") {
    return Reply::error(404, "not_found", "no message " + id);
  }
  std::string status = "queued";
  bool any_done = false;
  bool all_dead = !trace->deliveries.empty();
  bool retried = false;
  for (const auto& d : trace->deliveries) {
    if (d.state == "done") any_done = true;
    if (d.state != "dead") all_dead = false;
    if (!d.attempts.empty()) retried = true;
  }
  if (any_done) {
    status = "sent";
  } else if (all_dead) {
    status = "failed";
  } else if (retried) {
    status = "retrying";
  }
  // What the provider reported since (delivered, read, failed), if anything.
  nlohmann::json provider = nullptr;
  int best_rank = 0;
  for (const auto& d : trace->deliveries) {
    if (d.provider_message_id.empty()) continue;
    auto st = bus_.messageState(d.delivery.target, d.provider_message_id);
    if (!st || st->rank <= best_rank) continue;
    best_rank = st->rank;
    provider = {{"status", st->status},
                {"instance", d.delivery.target},
                {"provider_message_id", d.provider_message_id},
                {"updated_at", formatRfc3339(st->updated_ms)}};
    auto err = nlohmann::json::parse(st->error_json, nullptr, false);
    if (err.is_object() && !err.empty()) provider["error"] = err;
  }
  if (best_rank > 0 && any_done) status = provider["status"].get<std::string>();
  nlohmann::json deliveries = nlohmann::json::array();
  for (const auto& d : trace->deliveries) deliveries.push_back(deliveryJson(d));
  return Reply::json(200, {{"id", id},
                           {"status", status},
                           {"provider_status", provider},
                           {"event", nlohmann::json::parse(trace->event.json, nullptr, false)},
                           {"deliveries", deliveries}});
}

Reply Gateway::fetchMedia(const std::string& instance, const std::string& media_id) {
  auto rt = runtime();
  auto it = rt->instances.find(instance);
  if (it == rt->instances.end()) return Reply::error(404, "not_found", "no instance " + instance);
  if (media_id.empty() || media_id.size() > 512) {
    return Reply::error(400, "invalid_argument", "media id is empty or too long");
  }
  const auto started = std::chrono::steady_clock::now();
  auto out = it->second->fetchMedia(media_id, rt->config.api.media_max_bytes);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  metrics_.media_requests
      .Add({{"instance", instance}, {"result", std::string(codeName(out.status))}})
      .Increment();
  if (out.status != Code::kOk) {
    int status = httpStatusFor(out.status);
    if (out.status == Code::kInvalidArgument) status = 413;  // over api.media_max_bytes
    log::warn(kLog, "media fetch failed",
              {{"instance", instance},
               {"reason", std::string(codeName(out.status))},
               {"message", out.message}});
    return Reply::error(status, std::string(codeName(out.status)), out.message);
  }
  Reply r;
  r.status = 200;
  r.content_type = out.content_type;
  r.body = std::move(out.body);
  if (!out.file_name.empty()) {
    std::string safe;
    for (char c : out.file_name)
      safe += (c == '"' || c == '\\' || c == '\r' || c == '\n') ? '_' : c;
    r.headers.emplace_back("Content-Disposition", "inline; filename=\"" + safe + "\"");
  }
  r.headers.emplace_back("Cache-Control", "private, max-age=300");
  log::debug(kLog, "media served",
             {{"instance", instance}, {"bytes", r.body.size()}, {"seconds", seconds}});
  return r;
}

bus::DeliveryResult Gateway::deliver(const bus::Delivery& d) {
  auto rt = runtime();
  bus::DeliveryResult result;
  auto it = rt ? rt->instances.find(d.target) : decltype(rt->instances.end()){};
  if (!rt || it == rt->instances.end()) {
    result.outcome = bus::Outcome::kRetry;
    result.reason = Code::kNotFound;
    result.message = "target instance " + d.target + " is not configured";
    return result;
  }
  auto inst = it->second;
  if (!inst->delivers() || !hasAction(*inst, d.action)) {
    result.outcome = bus::Outcome::kPermanent;
    result.reason = Code::kInvalidArgument;
    result.message = "instance " + d.target + " has no action " + d.action;
    return result;
  }
  result = inst->deliver(d);
  if (rt->automations) {
    // Fallback: the next instance after a failure, or a deadline timer after
    // a success. Stored before the result, so a crash in between repeats the
    // attempt and the bus's deduplication keeps the fallback single.
    auto decision = rt->automations->onDeliveryResult(d, result, bus_, now());
    if (decision.kind == automation::Decision::Kind::kFire &&
        !commitDecision(*rt, std::move(decision), "delivery") &&
        result.outcome == bus::Outcome::kPermanent) {
      result.outcome = bus::Outcome::kRetry;
      result.message += " (its fallback could not be stored yet; retrying)";
    }
  }
  if (result.outcome != bus::Outcome::kSuccess) {
    log::warn("sanjog.delivery", "delivery attempt failed",
              {{"event_id", d.event_id},
               {"conversation_id", bus::conversationOf(d)},
               {"delivery_id", d.id},
               {"target", d.target},
               {"attempt", d.attempts + 1},
               {"reason", std::string(codeName(result.reason))},
               {"http_status", result.http_status},
               {"message", result.message}});
  }
  return result;
}

void Gateway::deliveryExpired(const bus::Delivery& d) {
  auto rt = runtime();
  if (!rt || !rt->automations) return;
  bus::DeliveryResult expired;
  expired.outcome = bus::Outcome::kPermanent;
  expired.reason = Code::kTimeout;
  expired.message = "expired";
  auto decision = rt->automations->onDeliveryResult(d, expired, bus_, now());
  if (decision.kind == automation::Decision::Kind::kFire) {
    (void)commitDecision(*rt, std::move(decision), "expiry");
  }
}

nlohmann::json Gateway::instancesJson() {
  auto rt = runtime();
  nlohmann::json out = nlohmann::json::array();
  for (const auto& ic : rt->config.instances) {
    auto it = rt->instances.find(ic.id);
    if (it == rt->instances.end()) continue;
    auto& inst = *it->second;
    const auto h = inst.health();
    static const char* kStates[] = {"ok", "degraded", "down"};
    metrics_.instance_up.Add({{"instance", ic.id}, {"plugin", ic.plugin}})
        .Set(h.state == SANJOG_HEALTH_DOWN ? 0 : 1);
    metrics_.instance_degraded.Add({{"instance", ic.id}, {"plugin", ic.plugin}})
        .Set(h.state == SANJOG_HEALTH_DEGRADED ? 1 : 0);
    out.push_back({{"id", ic.id},
                   {"plugin", ic.plugin},
                   {"kind", inst.library().kind()},
                   {"version", inst.library().version()},
                   {"health", kStates[h.state]},
                   {"message", h.message},
                   {"webhooks", inst.acceptsWebhooks()},
                   {"actions", inst.library().actions()},
                   {"delivery_disabled", bus_.isTargetDisabled(ic.id)},
                   {"config", ic.redacted}});
  }
  return {{"instances", out}};
}

nlohmann::json Gateway::routesJson() const {
  auto rt = runtime();
  nlohmann::json out = nlohmann::json::array();
  for (const auto& r : rt->config.routes) {
    nlohmann::json to = nlohmann::json::array();
    for (const auto& t : r.to) {
      nlohmann::json j = {{"instance", t.instance}, {"action", t.action}};
      if (t.template_text) j["template"] = *t.template_text;
      to.push_back(j);
    }
    out.push_back({{"id", r.id},
                   {"from", {{"instance", r.from_instance}, {"types", r.types}}},
                   {"when", r.when},
                   {"to", to}});
  }
  return {{"routes", out}};
}

nlohmann::json Gateway::statusJson() {
  auto rt = runtime();
  auto [ready, readiness_body] = readiness();
  nlohmann::json instances = nlohmann::json::array();
  const nlohmann::json all = instancesJson();
  for (const auto& i : all["instances"]) {
    instances.push_back({{"id", i["id"]},
                         {"plugin", i["plugin"]},
                         {"kind", i["kind"]},
                         {"health", i["health"]},
                         {"message", i["message"]},
                         {"delivery_disabled", i["delivery_disabled"]}});
  }
  nlohmann::json targets = nlohmann::json::object();
  int64_t pending = 0;
  int64_t dead = 0;
  double oldest = 0;
  std::set<std::string> names;
  for (const auto& ic : rt->config.instances) names.insert(ic.id);
  auto stats = bus_.stats();
  for (const auto& [t, _] : stats) names.insert(t);
  for (const auto& t : names) {
    const auto& st = stats[t];
    pending += st.pending;
    dead += st.dead;
    oldest = std::max(oldest, st.oldest_age_seconds);
    const std::string circuit = bus_.circuitState(t);
    targets[t] = {{"pending", st.pending},
                  {"oldest_age_seconds", st.oldest_age_seconds},
                  {"dead_letters", st.dead},
                  {"circuit", circuit.empty() ? nlohmann::json(nullptr) : nlohmann::json(circuit)},
                  {"disabled", bus_.isTargetDisabled(t)}};
  }
  const auto now_tp = std::chrono::system_clock::now();
  const auto ms = [](std::chrono::system_clock::time_point tp) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(tp.time_since_epoch()).count();
  };
  return {{"node",
           {{"hostname", Poco::Environment::nodeName()},
            {"pid", static_cast<int64_t>(::getpid())},
            {"version", SANJOG_VERSION},
            {"bus", rt->config.bus.backend},
            {"bus_details", bus_.details()},
            {"started", formatRfc3339(ms(started_))},
            {"uptime_seconds",
             std::chrono::duration_cast<std::chrono::seconds>(now_tp - started_).count()}}},
          {"ready", ready},
          {"checks", readiness_body["checks"]},
          {"instances", instances},
          {"queue", {{"pending", pending}, {"oldest_age_seconds", oldest}, {"targets", targets}}},
          {"dead_letters", dead},
          {"timers_pending", bus_.pendingTimers()}};
}

std::pair<bool, nlohmann::json> Gateway::readiness() {
  bool ready = bus_.healthy();
  nlohmann::json checks = {{"storage", ready ? "ok" : "down"}};
  auto inst = instancesJson();
  nlohmann::json states = nlohmann::json::object();
  for (const auto& i : inst["instances"]) {
    states[i["id"].get<std::string>()] = i["health"];
    if (i["health"] == "down") ready = false;
  }
  checks["instances"] = states;
  return {ready, {{"ready", ready}, {"checks", checks}}};
}

}  // namespace sanjog::app
