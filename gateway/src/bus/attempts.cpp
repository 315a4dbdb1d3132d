#include "bus/attempts.h"

#include <cmath>
#include <vector>

#include <nlohmann/json.hpp>

#include "bus/retry_policy.h"
#include "common/log.h"

namespace sanjog::bus {

namespace {
constexpr std::string_view kLog = "sanjog.bus";
}  // namespace

const char* outcomeName(Outcome o) {
  switch (o) {
    case Outcome::kSuccess:
      return "success";
    case Outcome::kRetry:
      return "retry";
    case Outcome::kPermanent:
      return "permanent";
    case Outcome::kDisable:
      return "disable";
  }
  return "retry";
}

Classified classifyResult(const Delivery& d, const DeliveryResult& result,
                          const config::RetryPolicy& policy, int attempt, int64_t end_ms,
                          double u) {
  Classified c{"pending", "", d.next_attempt_ms};
  switch (result.outcome) {
    case Outcome::kSuccess:
      c.state = "done";
      break;
    case Outcome::kPermanent:
      c.state = "dead";
      c.dead_reason = std::string(codeName(result.reason));
      break;
    case Outcome::kDisable:
      break;
    case Outcome::kRetry:
      c.next_ms = end_ms + nextDelay(policy, attempt, u, result.retry_after).count();
      if (c.next_ms - d.created_ms > policy.max_age.count()) {
        c.state = "dead";
        c.dead_reason = "expired";
      }
      break;
  }
  return c;
}

void reportAttempt(metrics::Metrics* m, const Delivery& d, Outcome outcome, const AttemptEnd& end,
                   bool stored) {
  if (m != nullptr) {
    m->deliveries.Add({{"target", d.target}, {"result", outcomeName(outcome)}}).Increment();
    m->delivery_duration.Add({{"target", d.target}}, metrics::latencyBuckets())
        .Observe(end.seconds);
    if (outcome == Outcome::kRetry && end.state == "pending") {
      m->delivery_retries.Add({{"target", d.target}, {"reason", end.reason}}).Increment();
    }
    if (end.state == "dead") {
      m->dead_letters_total.Add({{"target", d.target}, {"reason", end.dead_reason}}).Increment();
    }
  }
  if (stored && outcome == Outcome::kSuccess) {
    log::info(kLog, "delivered",
              {{"event_id", d.event_id},
               {"conversation_id", conversationOf(d)},
               {"delivery_id", d.id},
               {"target", d.target},
               {"attempt", end.attempt},
               {"duration_ms", std::lround(end.seconds * 1000)}});
  }
  if (end.state == "dead") {
    log::warn(kLog, "delivery moved to the dead letters",
              {{"event_id", d.event_id},
               {"conversation_id", conversationOf(d)},
               {"delivery_id", d.id},
               {"target", d.target},
               {"reason", end.dead_reason},
               {"attempts", end.attempt},
               {"message", end.message}});
  }
}

bool mentions(const std::string& json, const std::set<std::string>& needles) {
  for (const auto& n : needles) {
    if (json.find('"' + n + '"') != std::string::npos) return true;
  }
  return false;
}

bool containsAny(const std::string& text, const std::set<std::string>& needles) {
  for (const auto& n : needles) {
    if (text.find(n) != std::string::npos) return true;
  }
  return false;
}

bool conversationOfContact(const Conversation& c, const std::string& contact,
                           std::set<std::string>* needles) {
  const auto j = nlohmann::json::parse(c.contact_json, nullptr, false);
  bool match = c.conversation_id == contact || c.address == contact;
  std::vector<std::string> ids{c.address};
  if (j.is_object()) {
    for (const char* field : {"phone", "email", "id"}) {
      if (j.contains(field) && j[field].is_string()) {
        ids.push_back(j[field].get<std::string>());
        match = match || ids.back() == contact;
      }
    }
  }
  if (!match) return false;
  for (auto& id : ids) {
    if (id.size() >= 3) needles->insert(id);  // tiny values would match too much
  }
  return true;
}

}  // namespace sanjog::bus
