# sanjog_plugin_module(<target> <plugin name> <sources>...)
#   Builds a plugin library named libsanjog_<plugin name>.so, as sanjogd
#   expects: a MODULE, hidden visibility (only sanjog_plugin_entry is
#   exported), no undefined symbols, linked with Sanjog::PluginSdk.
function(sanjog_plugin_module target name)
  add_library(${target} MODULE ${ARGN})
  target_link_libraries(${target} PRIVATE Sanjog::PluginSdk)
  set_target_properties(${target} PROPERTIES
    PREFIX "lib" OUTPUT_NAME "sanjog_${name}"
    CXX_VISIBILITY_PRESET hidden VISIBILITY_INLINES_HIDDEN ON)
  target_link_options(${target} PRIVATE -Wl,--no-undefined)
endfunction()
