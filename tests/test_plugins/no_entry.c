/* A shared library that is not a Sanjog plugin (no entry point). */
#include <sanjog/plugin_abi.h>

SANJOG_PLUGIN_EXPORT int sanjog_not_a_plugin(void);
int sanjog_not_a_plugin(void) { return 42; }
