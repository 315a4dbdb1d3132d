/*
 * Sanjog plugin ABI, version 1.
 *
 * This pure-C header is the only thing that crosses the boundary between
 * sanjogd (the host) and a plugin shared library. No C++ type, no exception
 * and no ownership of memory crosses it:
 *
 *  - Strings cross as `sanjog_str` (pointer + length, not NUL-terminated).
 *    A `sanjog_str` handed to a function is BORROWED: valid only until that
 *    function returns. Copy what you need to keep.
 *  - Output from one side to the other (error messages, response bodies,
 *    events) is written through callbacks into objects owned by the
 *    receiving side (`sanjog_sink`, `sanjog_webhook_response`,
 *    `sanjog_delivery_result`). Nothing is ever freed on the other side.
 *  - Errors cross as an `int32_t` status code (`sanjog_status`) plus an
 *    optional message written into a sink.
 *
 * Versioning: the descriptor carries ABI major and minor and its own size.
 * The host refuses a plugin whose major differs from its own. Minor versions
 * only append fields at the end of structs; every struct starts with
 * `struct_size`, so each side reads only the fields the other side has.
 *
 * Threading: every host function is thread-safe. The host may call
 * `handle_webhook`, `deliver` and `health` of one instance from several
 * threads at once; `create` and `destroy` are never concurrent with any other
 * call on the same instance.
 *
 * Lifetime: the descriptor, its strings and its hooks are static data of the
 * library and stay valid while the library is loaded. The host keeps the
 * library loaded until every instance created from it has been destroyed.
 */
#ifndef SANJOG_PLUGIN_ABI_H
#define SANJOG_PLUGIN_ABI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SANJOG_ABI_MAJOR 1u
#define SANJOG_ABI_MINOR 1u

/* Name of the one exported symbol of every plugin library. */
#define SANJOG_PLUGIN_ENTRY_SYMBOL "sanjog_plugin_entry"

#if defined(__GNUC__)
#define SANJOG_PLUGIN_EXPORT __attribute__((visibility("default")))
#else
#define SANJOG_PLUGIN_EXPORT
#endif

/* A borrowed byte string: `data` may be NULL when `size` is 0. */
typedef struct sanjog_str {
  const char* data;
  size_t size;
} sanjog_str;

typedef struct sanjog_header {
  sanjog_str name;
  sanjog_str value;
} sanjog_header;

/* A text output channel (error messages, reasons, ids). Whoever creates a
 * sink embeds a `sanjog_sink` as the FIRST member of its own struct and sets
 * `write`; whoever receives a sink appends bytes with
 * `sink->write(sink, bytes)` (possibly several times). A NULL sink means
 * "not interested". The host creates the sinks it hands to hooks; a plugin
 * creates the sinks it hands to host callbacks. */
typedef struct sanjog_sink {
  void (*write)(struct sanjog_sink* self, sanjog_str bytes);
} sanjog_sink;

/* The bounded error taxonomy shared by the ABI, the host's Status type and
 * the `reason` metric label. */
typedef enum sanjog_status {
  SANJOG_OK = 0,
  SANJOG_INVALID_ARGUMENT = 1, /* bad input: malformed body, bad config  */
  SANJOG_UNAUTHENTICATED = 2,  /* bad or missing signature or token      */
  SANJOG_NOT_FOUND = 3,
  SANJOG_RATE_LIMITED = 4,
  SANJOG_TIMEOUT = 5,
  SANJOG_UNAVAILABLE = 6,    /* the provider or a host service is down  */
  SANJOG_UPSTREAM_ERROR = 7, /* the provider answered with an error     */
  SANJOG_INTERNAL = 8,
  /* Since 1.1: the platform's rules forbid this message now (for example
   * WhatsApp's 24-hour customer-service window is closed and the message is
   * not a template). Permanent for this message; a fallback may act. */
  SANJOG_OUTSIDE_WINDOW = 9
} sanjog_status;

typedef enum sanjog_log_level {
  SANJOG_LOG_DEBUG = 0,
  SANJOG_LOG_INFO = 1,
  SANJOG_LOG_WARN = 2,
  SANJOG_LOG_ERROR = 3
} sanjog_log_level;

typedef enum sanjog_metric_kind {
  SANJOG_METRIC_COUNTER = 0,  /* record() adds the value            */
  SANJOG_METRIC_GAUGE = 1,    /* record() sets the value            */
  SANJOG_METRIC_HISTOGRAM = 2 /* record() observes the value        */
} sanjog_metric_kind;

typedef enum sanjog_delivery_outcome {
  SANJOG_DELIVERY_SUCCESS = 0,   /* done                                   */
  SANJOG_DELIVERY_RETRY = 1,     /* transient: retry with backoff          */
  SANJOG_DELIVERY_PERMANENT = 2, /* never retry: straight to dead letters  */
  SANJOG_DELIVERY_DISABLE = 3    /* the target is gone (HTTP 410): stop
                                    delivering to this instance until the
                                    config is reloaded; nothing is lost     */
} sanjog_delivery_outcome;

typedef enum sanjog_health_state {
  SANJOG_HEALTH_OK = 0,
  SANJOG_HEALTH_DEGRADED = 1,
  SANJOG_HEALTH_DOWN = 2
} sanjog_health_state;

/* Opaque, host-owned objects. */
typedef struct sanjog_host sanjog_host;                         /* one per instance  */
typedef struct sanjog_webhook_response sanjog_webhook_response; /* one per request   */
typedef struct sanjog_media_response sanjog_media_response;     /* one per request   */

/* ---------------------------------------------------------------- HTTP -- */

typedef struct sanjog_http_request {
  uint32_t struct_size;
  sanjog_str method; /* "GET", "POST", ...                                */
  sanjog_str url;    /* absolute http:// or https:// URL                   */
  const sanjog_header* headers;
  size_t header_count;
  sanjog_str body;
  uint32_t timeout_ms; /* whole exchange; 0 means the host default (10 s) */
} sanjog_http_request;

typedef struct sanjog_http_response {
  uint32_t struct_size;
  int32_t status; /* HTTP status code                                      */
  const sanjog_header* headers;
  size_t header_count;
  sanjog_str body;
} sanjog_http_response;

/* Called by the host, synchronously, before http_request returns. The
 * response and everything it points to is borrowed for the call only. */
typedef void (*sanjog_http_response_fn)(void* user, const sanjog_http_response* response);

/* Called synchronously with a stored value; borrowed for the call only. */
typedef void (*sanjog_value_fn)(void* user, sanjog_str value);

/* ------------------------------------------------------------ Host API -- */

/* Services the host offers to a plugin instance. The table is static in the
 * host and valid for the whole life of every instance. Every function is
 * thread-safe. */
typedef struct sanjog_host_api {
  uint32_t struct_size;

  /* Appends bytes to a sink (same as `sink->write(sink, bytes)`; NULL sinks
   * are ignored). */
  void (*sink_write)(sanjog_sink* sink, sanjog_str bytes);

  /* Logs one line under the logger `sanjog.plugin.<instance>`. The host adds
   * the instance id; do not log secrets. */
  void (*log)(sanjog_host* host, int32_t level, sanjog_str message);

  /* Wall clock, milliseconds since the Unix epoch. Tests replace it. */
  int64_t (*now_unix_ms)(sanjog_host* host);

  /* Registers a metric family once (usually in create). `name` must start
   * with "sanjog_"; label keys must come from the fixed set (instance,
   * plugin, kind, type, target, route, result, reason, channel, version,
   * encoding); the host adds the `instance` label itself. `buckets` are for histograms only
   * (seconds) and may be NULL for the default buckets. Registering the same
   * name twice returns the same id. */
  int32_t (*metric_register)(sanjog_host* host, int32_t kind, sanjog_str name, sanjog_str help,
                             const sanjog_str* label_keys, size_t label_count,
                             const double* buckets, size_t bucket_count, uint32_t* out_metric_id,
                             sanjog_sink* error);

  /* Records a value; label values are given in registration order and must
   * be bounded (no ids, phone numbers or URLs). */
  void (*metric_record)(sanjog_host* host, uint32_t metric_id, const sanjog_str* label_values,
                        size_t label_count, double value);

  /* Performs an outbound HTTP request through the host's client (TLS with
   * certificate verification, timeouts, upstream metrics). Blocks the calling
   * thread. Returns SANJOG_OK when a response arrived (whatever its status;
   * `on_response` was called), or TIMEOUT / UNAVAILABLE / INVALID_ARGUMENT
   * with a message in `error` when no response arrived. */
  int32_t (*http_request)(sanjog_host* host, const sanjog_http_request* request,
                          sanjog_http_response_fn on_response, void* user, sanjog_sink* error);

  /* Emits an event outside a webhook (for example from deliver). `event` is
   * a CloudEvents JSON object; the host fills `specversion`, `id`, `source`
   * and `time` when absent. Blocks until the event is durable. */
  int32_t (*emit_event)(sanjog_host* host, sanjog_str event, sanjog_sink* error);

  /* Key-value state, per instance, durable. kv_get returns SANJOG_NOT_FOUND
   * when absent or expired and otherwise calls `on_value` synchronously.
   * ttl_ms 0 means no expiry. */
  int32_t (*kv_get)(sanjog_host* host, sanjog_str key, sanjog_value_fn on_value, void* user);
  int32_t (*kv_put)(sanjog_host* host, sanjog_str key, sanjog_str value, int64_t ttl_ms);
  int32_t (*kv_delete)(sanjog_host* host, sanjog_str key);

  /* Webhook response building; valid only during handle_webhook. */
  void (*response_set_status)(sanjog_webhook_response* response, int32_t http_status);
  void (*response_set_header)(sanjog_webhook_response* response, sanjog_str name, sanjog_str value);
  void (*response_set_body)(sanjog_webhook_response* response, sanjog_str content_type,
                            sanjog_str body);
  /* Adds an event to this request's batch. The batch is committed durably
   * (deduplicated on the `providerid` attribute) BEFORE the response is
   * sent, and only if the response status is 2xx. If the commit fails the
   * client gets 503 with Retry-After instead. Returns INVALID_ARGUMENT with
   * a message when the event is not a valid CloudEvents JSON object. */
  int32_t (*response_emit_event)(sanjog_webhook_response* response, sanjog_str event,
                                 sanjog_sink* error);

  /* Since 1.1. Media download building; valid only during fetch_media.
   * media_set_type is called once before the first media_write. media_write
   * appends bytes and returns SANJOG_INVALID_ARGUMENT once the total passes
   * the request's max_bytes (stop then). */
  void (*media_set_type)(sanjog_media_response* response, sanjog_str content_type,
                         sanjog_str file_name);
  int32_t (*media_write)(sanjog_media_response* response, sanjog_str bytes);

  /* Since 1.1. When the contact at `address` (the `data.address` of this
   * instance's message.received events: E.164 phone, PSID, chat id) last
   * wrote, in Unix ms, as stored durably with that event; -1 if never.
   * Channel plugins derive messaging windows from it. */
  int64_t (*last_inbound_ms)(sanjog_host* host, sanjog_str address);
} sanjog_host_api;

/* ------------------------------------------------------------- Webhooks -- */

typedef struct sanjog_webhook_request {
  uint32_t struct_size;
  sanjog_str method;
  sanjog_str path;  /* sub-path after /webhooks/{instance}: "" or "/..."    */
  sanjog_str query; /* raw query string without '?', still percent-encoded */
  const sanjog_header* headers;
  size_t header_count;
  sanjog_str body; /* raw bytes, exactly as received (for signatures)       */
  sanjog_str remote_address;
} sanjog_webhook_request;

/* ------------------------------------------------------------- Delivery -- */

typedef struct sanjog_delivery {
  uint32_t struct_size;
  sanjog_str action;          /* one of the descriptor's actions           */
  sanjog_str event;           /* the CloudEvents JSON object to deliver    */
  sanjog_str idempotency_key; /* stable across retries and replays         */
  uint32_t attempt;           /* 1 for the first attempt                   */
  sanjog_str rendered;        /* the route's template output, or empty     */
} sanjog_delivery;

/* Host-allocated; the plugin fills the scalar fields and writes text into
 * the sinks. The host pre-sets outcome to RETRY and status to INTERNAL. */
typedef struct sanjog_delivery_result {
  uint32_t struct_size;
  int32_t outcome;                  /* sanjog_delivery_outcome                    */
  int32_t status;                   /* sanjog_status, the reason class            */
  int32_t http_status;              /* upstream HTTP status, 0 if none            */
  int64_t retry_after_ms;           /* >= 0 when the upstream asked for a delay   */
  sanjog_sink* message;             /* human-readable detail (no secrets)         */
  sanjog_sink* provider_message_id; /* id the provider gave the message  */
} sanjog_delivery_result;

/* ---------------------------------------------------------- Descriptor -- */

typedef struct sanjog_plugin_hooks {
  uint32_t struct_size;

  /* Creates an instance. `config` is the instance's JSON config object,
   * already validated by the host against the declared schema, with defaults
   * applied and `${env:..}`/`${file:..}` expanded. On failure return a
   * non-OK status and write the reason into `error`. */
  int32_t (*create)(const sanjog_host_api* api, sanjog_host* host, sanjog_str instance_id,
                    sanjog_str config, void** out_instance, sanjog_sink* error);

  /* Destroys an instance; no other call on it is running or will follow. */
  void (*destroy)(void* instance);

  /* Handles a request to /webhooks/{instance}[/...]. NULL if the plugin
   * takes no webhooks (the host answers 404). The plugin sets the response
   * status (default 200) and emits events into the request's batch. */
  int32_t (*handle_webhook)(void* instance, const sanjog_webhook_request* request,
                            sanjog_webhook_response* response);

  /* Delivers one event with an action. NULL if the plugin delivers nothing.
   * Runs on a host worker thread and may block (for example in
   * http_request). The result says whether to retry. */
  int32_t (*deliver)(void* instance, const sanjog_delivery* delivery,
                     sanjog_delivery_result* result);

  /* Reports health for /readyz. NULL means always OK. */
  int32_t (*health)(void* instance, int32_t* out_state, sanjog_sink* message);

  /* Since 1.1. Fetches a media file the provider holds (an attachment's
   * media_id) for GET /api/v1/media/{instance}/{media_id}. NULL if the
   * plugin has no media. The plugin writes the type and the bytes into
   * `response` through the host API (at most `max_bytes`). Returns
   * NOT_FOUND for an unknown id, INVALID_ARGUMENT when the file is larger
   * than max_bytes, or the upstream failure class, with a message. */
  int32_t (*fetch_media)(void* instance, sanjog_str media_id, uint64_t max_bytes,
                         sanjog_media_response* response, sanjog_sink* error);
} sanjog_plugin_hooks;

typedef struct sanjog_plugin_descriptor {
  uint32_t abi_major;
  uint32_t abi_minor;
  uint32_t struct_size;
  const char* name;    /* "crm_webhook": the directory and library name   */
  const char* kind;    /* "channel", "crm", "ecom", "sms", "example"       */
  const char* version; /* the plugin's own semantic version                */
  const char* summary; /* one line                                          */
  /* JSON Schema (draft 7) of the instance config. Extensions understood by
   * the host: "x-secret": true on a property redacts it in logs, admin
   * output and docs. Every property has a "description"; defaults are given
   * with "default". "additionalProperties": false is required. */
  const char* config_schema;
  /* JSON array of the action names `deliver` accepts; the first one is the
   * default action of routes that name none. "[]" if none. */
  const char* actions;
  const sanjog_plugin_hooks* hooks;
} sanjog_plugin_descriptor;

/* The one exported entry point. The host passes its own ABI version; the
 * plugin returns its static descriptor (never NULL). The host checks
 * abi_major before reading anything else. */
typedef const sanjog_plugin_descriptor* (*sanjog_plugin_entry_fn)(uint32_t host_abi_major,
                                                                  uint32_t host_abi_minor);

#ifdef __cplusplus
}
#endif

#endif /* SANJOG_PLUGIN_ABI_H */
