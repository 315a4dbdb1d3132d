#include "metrics/metrics.h"

#include <prometheus/text_serializer.h>

namespace sanjog::metrics {

namespace {

template <typename Builder>
auto& build(Builder builder, const char* name, const char* help,
            const std::shared_ptr<prometheus::Registry>& registry) {
  return builder.Name(name).Help(help).Register(*registry);
}

}  // namespace

const prometheus::Histogram::BucketBoundaries& latencyBuckets() {
  static const prometheus::Histogram::BucketBoundaries kBuckets{
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
  return kBuckets;
}

const prometheus::Histogram::BucketBoundaries& conversationBuckets() {
  static const prometheus::Histogram::BucketBoundaries kBuckets{
      5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400, 28800, 86400, 259200, 604800};
  return kBuckets;
}

Metrics::Metrics()
    : build_info(build(prometheus::BuildGauge(), "sanjog_build_info",
                       "Build information; the value is always 1.", registry_)),
      plugin_info(build(prometheus::BuildGauge(), "sanjog_plugin_info",
                        "Loaded plugin libraries; the value is always 1.", registry_)),
      instance_up(build(prometheus::BuildGauge(), "sanjog_instance_up",
                        "1 when the instance started and reports healthy, 0 otherwise.",
                        registry_)),
      instance_degraded(
          build(prometheus::BuildGauge(), "sanjog_instance_degraded",
                "1 while the provider refuses the instance's credentials (expired or revoked "
                "token), 0 otherwise.",
                registry_)),
      webhook_requests(build(prometheus::BuildCounter(), "sanjog_webhook_requests_total",
                             "Webhook requests by instance and result.", registry_)),
      webhook_duration(
          build(prometheus::BuildHistogram(), "sanjog_webhook_request_duration_seconds",
                "Time from request read to response, including the durable commit.", registry_)),
      events_published(build(prometheus::BuildCounter(), "sanjog_events_published_total",
                             "Events committed to the bus by source instance and type.",
                             registry_)),
      events_deduplicated(build(prometheus::BuildCounter(), "sanjog_events_deduplicated_total",
                                "Events dropped because their provider id was already stored.",
                                registry_)),
      api_requests(build(prometheus::BuildCounter(), "sanjog_api_requests_total",
                         "Requests to /api and /admin by kind (api, admin) and result.",
                         registry_)),
      auth_failures(build(prometheus::BuildCounter(), "sanjog_auth_failures_total",
                          "Requests refused for a missing or wrong bearer token.", registry_)),
      media_requests(build(prometheus::BuildCounter(), "sanjog_media_requests_total",
                           "GET /api/v1/media requests by channel instance and result.",
                           registry_)),
      message_statuses(build(prometheus::BuildCounter(), "sanjog_message_statuses_total",
                             "Provider status reports (type = the status) by whether they "
                             "matched a message Sanjog sent (result: linked, unknown).",
                             registry_)),
      storage_commits(build(prometheus::BuildCounter(), "sanjog_storage_commits_total",
                            "Storage transactions committed (group commits) by result.",
                            registry_)),
      storage_commit_duration(build(prometheus::BuildHistogram(),
                                    "sanjog_storage_commit_duration_seconds",
                                    "Duration of one durable commit, fsync included.", registry_)),
      storage_commit_batch(build(prometheus::BuildHistogram(), "sanjog_storage_commit_batch_events",
                                 "Events written per group commit.", registry_)),
      deliveries(build(prometheus::BuildCounter(), "sanjog_deliveries_total",
                       "Delivery attempts by target instance and result.", registry_)),
      delivery_duration(build(prometheus::BuildHistogram(), "sanjog_delivery_duration_seconds",
                              "Duration of one delivery attempt.", registry_)),
      delivery_retries(build(prometheus::BuildCounter(), "sanjog_delivery_retries_total",
                             "Delivery attempts that will be retried, by reason.", registry_)),
      dead_letters_total(build(prometheus::BuildCounter(), "sanjog_dead_letters_total",
                               "Deliveries moved to the dead-letter queue, by reason.", registry_)),
      dead_letter_replays(build(prometheus::BuildCounter(), "sanjog_dead_letter_replays_total",
                                "Dead letters put back for delivery.", registry_)),
      dead_letters(build(prometheus::BuildGauge(), "sanjog_dead_letters",
                         "Deliveries currently in the dead-letter queue.", registry_)),
      queue_depth(build(prometheus::BuildGauge(), "sanjog_queue_depth",
                        "Deliveries waiting (pending or retrying) per target.", registry_)),
      queue_oldest_age(build(prometheus::BuildGauge(), "sanjog_queue_oldest_age_seconds",
                             "Age of the oldest waiting delivery per target.", registry_)),
      routed(build(prometheus::BuildCounter(), "sanjog_route_matches_total",
                   "Events matched by a route (result=matched) or filtered out (result=filtered).",
                   registry_)),
      upstream_requests(build(prometheus::BuildCounter(), "sanjog_upstream_requests_total",
                              "Outbound HTTP requests made for plugins, by status class.",
                              registry_)),
      upstream_duration(build(prometheus::BuildHistogram(),
                              "sanjog_upstream_request_duration_seconds",
                              "Duration of outbound HTTP requests made for plugins.", registry_)),
      timers(build(prometheus::BuildCounter(), "sanjog_timers_total",
                   "Automation timers by result: scheduled, fired, cancelled, skipped, postponed.",
                   registry_)),
      timers_pending(build(prometheus::BuildGauge(), "sanjog_timers_pending",
                           "Automation timers waiting to fire.", registry_)),
      automation_actions(build(prometheus::BuildCounter(), "sanjog_automation_actions_total",
                               "What automations did, by automation id and result.", registry_)),
      first_response(build(prometheus::BuildHistogram(), "sanjog_first_response_seconds",
                           "Customer message to the first reply, by channel and by who replied "
                           "(kind: human or automated).",
                           registry_)),
      resolution(build(prometheus::BuildHistogram(), "sanjog_resolution_seconds",
                       "First customer message of a conversation to its resolution.", registry_)),
      csat_responses(build(prometheus::BuildCounter(), "sanjog_csat_responses_total",
                           "Customer satisfaction answers by channel and score (1-5).", registry_)),
      requests_rejected(build(prometheus::BuildCounter(), "sanjog_requests_rejected_total",
                              "Requests refused before any plugin saw them, by listener (kind) "
                              "and reason (too_large, too_many_headers, header_too_large, "
                              "too_deep, slow_client, backlog, auth_locked).",
                              registry_)),
      backpressure(build(prometheus::BuildGauge(), "sanjog_backpressure",
                         "1 while the delivery backlog is over its bound and ingestion answers "
                         "503.",
                         registry_)),
      circuit_state(build(prometheus::BuildGauge(), "sanjog_circuit_state",
                          "Circuit breaker per target: 0 closed, 1 half-open, 2 open.", registry_)),
      circuit_transitions(build(prometheus::BuildCounter(), "sanjog_circuit_transitions_total",
                                "Circuit breaker changes by target and new state (result).",
                                registry_)),
      deliveries_throttled(build(prometheus::BuildCounter(), "sanjog_deliveries_throttled_total",
                                 "Due deliveries held back by a target's rate limit.", registry_)),
      outbound_blocked(build(prometheus::BuildCounter(), "sanjog_outbound_blocked_total",
                             "Outbound requests refused because the URL led to an internal "
                             "address (SSRF guard).",
                             registry_)),
      retention_purged(build(prometheus::BuildCounter(), "sanjog_retention_purged_total",
                             "Events deleted by the retention schedule.", registry_)),
      contacts(build(prometheus::BuildCounter(), "sanjog_contact_requests_total",
                     "Contact data requests by result (exported, erased).", registry_)),
      storage_encrypted(build(prometheus::BuildGauge(), "sanjog_storage_encrypted",
                              "1 when payloads are encrypted at rest.", registry_)),
      storage_decrypt_failures(build(prometheus::BuildCounter(),
                                     "sanjog_storage_decrypt_failures_total",
                                     "Stored values that could not be decrypted (unknown key or "
                                     "altered data).",
                                     registry_)),
      tls_reloads(build(prometheus::BuildCounter(), "sanjog_tls_reloads_total",
                        "Certificate reloads of the public listener by result.", registry_)),
      bus_connected(build(prometheus::BuildGauge(), "sanjog_bus_connected",
                          "1 while the NATS bus is connected (always 1 on the embedded bus).",
                          registry_)),
      bus_partitions(build(prometheus::BuildGauge(), "sanjog_bus_partitions",
                           "Delivery partitions this instance owns (NATS bus).", registry_)),
      config_reloads(build(prometheus::BuildCounter(), "sanjog_config_reloads_total",
                           "Configuration reloads by result (applied, rejected).", registry_)),
      plugin_log_lines(build(prometheus::BuildCounter(), "sanjog_plugin_log_lines_total",
                             "Log lines written by plugins, by level (kind label).", registry_)) {}

std::string Metrics::serialize() const {
  return prometheus::TextSerializer().Serialize(registry_->Collect());
}

}  // namespace sanjog::metrics
