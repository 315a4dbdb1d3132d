// What both buses do the same way around a delivery attempt and a contact
// search: the outcome's name, the metrics and log lines of an attempt's
// result, and matching stored text against a contact's identifiers.
#pragma once

#include <set>
#include <string>

#include "bus/bus.h"
#include "metrics/metrics.h"

namespace sanjog::bus {

// "success", "retry", "permanent" or "disable" (metrics, stored attempts).
const char* outcomeName(Outcome o);

// Where an attempt left its delivery.
struct AttemptEnd {
  std::string state;        // pending | done | dead
  std::string dead_reason;  // when dead
  int attempt = 0;          // the attempt's number in the retry schedule
  double seconds = 0;
  std::string reason;   // codeName of the result
  std::string message;  // the target's message (cut to 1000 bytes)
};

// Where an attempt's result leaves its delivery: "done"; "dead" (a
// permanent error, with its reason; or "expired" when the next retry would
// fall past the policy's max_age); else "pending", for a retry at next_ms
// (backoff with jitter `u` in [-1, 1], or Retry-After). A kDisable result
// stays pending at its time (the caller disables the target).
struct Classified {
  std::string state;
  std::string dead_reason;
  int64_t next_ms = 0;
};
Classified classifyResult(const Delivery& d, const DeliveryResult& result,
                          const config::RetryPolicy& policy, int attempt, int64_t end_ms, double u);

// Counts the attempt (deliveries, duration, retries, dead letters) and
// logs "delivered" (when `stored`) or "delivery moved to the dead letters".
void reportAttempt(metrics::Metrics* metrics, const Delivery& d, Outcome outcome,
                   const AttemptEnd& end, bool stored);

// Whether a JSON text has one of `needles` as a whole string value.
bool mentions(const std::string& json, const std::set<std::string>& needles);
bool containsAny(const std::string& text, const std::set<std::string>& needles);
// Whether the conversation is `contact`'s (its id, address, or the phone,
// email or id of its contact); if so, adds every identifier it carries
// (three characters or more) to `needles`.
bool conversationOfContact(const Conversation& c, const std::string& contact,
                           std::set<std::string>* needles);

}  // namespace sanjog::bus
