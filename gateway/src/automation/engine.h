// The built-in customer-service automations (docs/automations.md): business
// hours, greeting and away messages, order notifications, cart recovery,
// CSAT surveys, the keyword bot, channel fallback, and the conversation KPIs.
//
// The engine decides; the gateway stores. For each event the gateway is about
// to commit, onEvent() adds timer operations and state writes to that event's
// item and returns the events the automations emit (message.send,
// checkout.abandoned, csat.response, conversation.handoff). The gateway
// prepares those like any other event and commits them in the same
// transaction as their cause. Every emitted event carries a deterministic
// `providerid`, so the bus's deduplication makes "at most once" hold across
// webhook retries, concurrent requests and crashes.
//
// An Engine is built from one Config and is immutable (thread-safe).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "automation/calendar.h"
#include "bus/bus.h"
#include "config/config.h"
#include "metrics/metrics.h"
#include "routing/filter.h"
#include "routing/template.h"

namespace sanjog::automation {

// Key-value namespace of automation state in the bus.
inline constexpr const char* kStateInstance = "_automation";
// Source of fallback sends when no `fallback` automation is configured.
inline constexpr const char* kDefaultFallbackSource = "fallback";

// An event an automation emits, as raw CloudEvents JSON (type, data,
// providerid, subject), and the automation it comes from.
struct Emitted {
  std::string automation;
  nlohmann::json event;
  // Run after the event was stored (not when it was a duplicate).
  std::vector<std::function<void()>> on_commit;
};

// The event being prepared and what the gateway resolved about it.
struct Trigger {
  std::string source;  // instance (or automation) id the event comes from
  const nlohmann::json* event = nullptr;
  std::string conversation_id;  // "" when none
  std::string instance;         // channel instance of the conversation, "" if unknown
  std::string address;          // the contact's address on that channel
  bool from_automation = false;
};

struct Decision {
  enum class Kind { kFire, kSkip, kPostpone };
  Kind kind = Kind::kSkip;
  std::string reason;  // for kSkip: bounded label value
  int64_t postpone_to = 0;
  std::vector<Emitted> events;
  std::vector<bus::TimerOp> timers;
  std::vector<bus::StateWrite> state;
  std::vector<std::function<void()>> on_commit;
};

class Engine {
 public:
  // Compiles config.automations; errors carry "/automations/<i>/..." pointers.
  static std::variant<std::shared_ptr<const Engine>, std::vector<config::ConfigError>> build(
      const config::Config& config, metrics::Metrics* metrics);

  [[nodiscard]] bool isAutomation(const std::string& id) const;

  // Called for every event the gateway prepares (see the file comment).
  std::vector<Emitted> onEvent(const Trigger& trigger, bus::AppendItem& item, bus::Bus& bus,
                               int64_t now_ms) const;

  // A timer is due: what to do with it.
  Decision fire(const bus::Timer& timer, bus::Bus& bus, int64_t now_ms) const;

  // A delivery of a message.send finished an attempt. Returns the next send
  // of its fallback list when the attempt failed for good or fell outside
  // the messaging window, and the deadline timer after a success.
  Decision onDeliveryResult(const bus::Delivery& delivery, const bus::DeliveryResult& result,
                            bus::Bus& bus, int64_t now_ms) const;

  struct Impl;

 private:
  std::shared_ptr<const Impl> impl_;
};

}  // namespace sanjog::automation
