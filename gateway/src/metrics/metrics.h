// Every metric family of sanjogd, declared in one place (docs/metrics.md
// lists them). Components keep references to the children they use, so the
// hot path never looks a metric up by name.
//
// Label keys come from one fixed set: instance, plugin, kind, type, target,
// route, result, reason, channel, version, encoding, automation, score.
// Label values must be bounded.
#pragma once

#include <memory>
#include <string>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

namespace sanjog::metrics {

// Default latency buckets in seconds (0.5 ms .. 30 s).
const prometheus::Histogram::BucketBoundaries& latencyBuckets();
// Buckets for human time scales (5 s .. 7 days): response and resolution times.
const prometheus::Histogram::BucketBoundaries& conversationBuckets();

class Metrics {
  // Declared first: it is initialized before the families that register in it.
  std::shared_ptr<prometheus::Registry> registry_ = std::make_shared<prometheus::Registry>();

 public:
  Metrics();

  [[nodiscard]] const std::shared_ptr<prometheus::Registry>& registry() const { return registry_; }
  // The Prometheus text exposition of everything registered.
  [[nodiscard]] std::string serialize() const;

  // Build and plugins.
  prometheus::Family<prometheus::Gauge>& build_info;   // {version}
  prometheus::Family<prometheus::Gauge>& plugin_info;  // {plugin, kind, version}
  prometheus::Family<prometheus::Gauge>& instance_up;  // {instance, plugin}
  // 1 while the provider refuses the instance's credentials.
  prometheus::Family<prometheus::Gauge>& instance_degraded;  // {instance, plugin}

  // Ingest.
  prometheus::Family<prometheus::Counter>& webhook_requests;     // {instance, result}
  prometheus::Family<prometheus::Histogram>& webhook_duration;   // {instance}
  prometheus::Family<prometheus::Counter>& events_published;     // {instance, type}
  prometheus::Family<prometheus::Counter>& events_deduplicated;  // {instance}
  prometheus::Family<prometheus::Counter>& api_requests;         // {kind, result}
  prometheus::Family<prometheus::Counter>& auth_failures;        // {kind}
  prometheus::Family<prometheus::Counter>& media_requests;       // {instance, result}
  prometheus::Family<prometheus::Counter>& message_statuses;     // {channel, type, result}

  // Storage.
  prometheus::Family<prometheus::Counter>& storage_commits;  // {result}
  prometheus::Family<prometheus::Histogram>& storage_commit_duration;
  prometheus::Family<prometheus::Histogram>& storage_commit_batch;  // events per commit

  // Delivery.
  prometheus::Family<prometheus::Counter>& deliveries;           // {target, result}
  prometheus::Family<prometheus::Histogram>& delivery_duration;  // {target}
  prometheus::Family<prometheus::Counter>& delivery_retries;     // {target, reason}
  prometheus::Family<prometheus::Counter>& dead_letters_total;   // {target, reason}
  prometheus::Family<prometheus::Counter>& dead_letter_replays;  // {target}
  prometheus::Family<prometheus::Gauge>& dead_letters;           // {target}
  prometheus::Family<prometheus::Gauge>& queue_depth;            // {target}
  prometheus::Family<prometheus::Gauge>& queue_oldest_age;       // {target}
  prometheus::Family<prometheus::Counter>& routed;               // {route, result}

  // Upstream HTTP made by plugins through the host.
  prometheus::Family<prometheus::Counter>& upstream_requests;    // {instance, result}
  prometheus::Family<prometheus::Histogram>& upstream_duration;  // {instance}

  // Automations and customer-service KPIs.
  prometheus::Family<prometheus::Counter>& timers;              // {result}
  prometheus::Family<prometheus::Gauge>& timers_pending;        // {}
  prometheus::Family<prometheus::Counter>& automation_actions;  // {automation, result}
  prometheus::Family<prometheus::Histogram>& first_response;    // {channel, kind}
  prometheus::Family<prometheus::Histogram>& resolution;        // {channel}
  prometheus::Family<prometheus::Counter>& csat_responses;      // {channel, score}

  // Reliability and security.
  prometheus::Family<prometheus::Counter>& requests_rejected;     // {kind, reason}
  prometheus::Family<prometheus::Gauge>& backpressure;            // {} 1 while ingestion refuses
  prometheus::Family<prometheus::Gauge>& circuit_state;           // {target} 0 closed 1 half 2 open
  prometheus::Family<prometheus::Counter>& circuit_transitions;   // {target, result}
  prometheus::Family<prometheus::Counter>& deliveries_throttled;  // {target}
  prometheus::Family<prometheus::Counter>& outbound_blocked;      // {instance}
  prometheus::Family<prometheus::Counter>& retention_purged;      // {} events deleted
  prometheus::Family<prometheus::Counter>& contacts;              // {result} exported, erased
  prometheus::Family<prometheus::Gauge>& storage_encrypted;       // {} 1 when a key is set
  prometheus::Family<prometheus::Counter>& storage_decrypt_failures;  // {}
  prometheus::Family<prometheus::Counter>& tls_reloads;               // {result}

  // Scale-out (NATS bus).
  prometheus::Family<prometheus::Gauge>& bus_connected;   // {} 1 while connected to NATS
  prometheus::Family<prometheus::Gauge>& bus_partitions;  // {} delivery partitions owned here

  // Operations.
  prometheus::Family<prometheus::Counter>& config_reloads;    // {result}
  prometheus::Family<prometheus::Counter>& plugin_log_lines;  // {instance, kind}
};

}  // namespace sanjog::metrics
