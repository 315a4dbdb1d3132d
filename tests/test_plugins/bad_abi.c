/* A plugin built for a future ABI major: the host must refuse it. */
#include <sanjog/plugin_abi.h>
#include <stddef.h>

static const sanjog_plugin_descriptor descriptor = {
    SANJOG_ABI_MAJOR + 1, 0, sizeof(sanjog_plugin_descriptor), "bad_abi", "example", "9.0.0",
    "Built for another ABI", "{}", "[]", NULL};

SANJOG_PLUGIN_EXPORT const sanjog_plugin_descriptor* sanjog_plugin_entry(uint32_t major,
                                                                         uint32_t minor) {
  (void)major;
  (void)minor;
  return &descriptor;
}
