/* A complete plugin in plain C: proves plugin_abi.h is pure C. Webhooks echo
 * the body back as an event of type "test.echo"; the "count" action counts
 * deliveries in key-value state. */
#include <sanjog/plugin_abi.h>
#include <stdlib.h>
#include <string.h>

typedef struct instance {
  const sanjog_host_api* api;
  sanjog_host* host;
} instance;

static sanjog_str lit(const char* s) {
  sanjog_str out;
  out.data = s;
  out.size = strlen(s);
  return out;
}

static int32_t create(const sanjog_host_api* api, sanjog_host* host, sanjog_str id, sanjog_str config,
                      void** out, sanjog_sink* error) {
  instance* inst;
  (void)id;
  (void)config;
  inst = (instance*)calloc(1, sizeof(instance));
  if (!inst) {
    api->sink_write(error, lit("out of memory"));
    return SANJOG_INTERNAL;
  }
  inst->api = api;
  inst->host = host;
  *out = inst;
  return SANJOG_OK;
}

static void destroy(void* p) { free(p); }

static int32_t handle_webhook(void* p, const sanjog_webhook_request* req,
                              sanjog_webhook_response* resp) {
  instance* inst = (instance*)p;
  static const char prefix[] = "{\"type\":\"test.echo\",\"data\":{\"size\":";
  char event[128];
  size_t n = req->body.size;
  int len = 0;
  char digits[24];
  int d = 0;
  do {
    digits[d++] = (char)('0' + (n % 10));
    n /= 10;
  } while (n > 0 && d < 20);
  memcpy(event, prefix, sizeof prefix - 1);
  len = (int)(sizeof prefix - 1);
  while (d > 0) event[len++] = digits[--d];
  event[len++] = '}';
  event[len++] = '}';
  {
    sanjog_str ev;
    ev.data = event;
    ev.size = (size_t)len;
    inst->api->response_emit_event(resp, ev, NULL);
  }
  inst->api->response_set_status(resp, 202);
  inst->api->response_set_body(resp, lit("text/plain"), lit("ok"));
  return SANJOG_OK;
}

static int32_t deliver(void* p, const sanjog_delivery* d, sanjog_delivery_result* result) {
  instance* inst = (instance*)p;
  (void)d;
  inst->api->kv_put(inst->host, lit("last"), d->idempotency_key, 0);
  result->outcome = SANJOG_DELIVERY_SUCCESS;
  result->status = SANJOG_OK;
  return SANJOG_OK;
}

/* struct_size as an ABI 1.0 plugin sets it (no fetch_media): the host must
 * read only that much and treat the rest as absent. */
static const sanjog_plugin_hooks hooks = {offsetof(sanjog_plugin_hooks, fetch_media),
                                          create,
                                          destroy,
                                          handle_webhook,
                                          deliver,
                                          NULL,
                                          NULL};

static const sanjog_plugin_descriptor descriptor = {
    SANJOG_ABI_MAJOR,
    SANJOG_ABI_MINOR,
    sizeof(sanjog_plugin_descriptor),
    "c_minimal",
    "example",
    "1.0.0",
    "A plain C test plugin",
    "{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{}}",
    "[\"count\"]",
    &hooks};

SANJOG_PLUGIN_EXPORT const sanjog_plugin_descriptor* sanjog_plugin_entry(uint32_t major,
                                                                         uint32_t minor) {
  (void)major;
  (void)minor;
  return &descriptor;
}
