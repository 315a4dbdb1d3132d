# The install layout (included from the top-level CMakeLists.txt, after
# GNUInstallDirs). With `cmake --install build --prefix /usr`:
#
#   /usr/bin/sanjogd, /usr/bin/sanjogctl          gateway/CMakeLists.txt
#   /usr/lib/sanjog/plugins/libsanjog_*.so         plugins/CMakeLists.txt
#   /etc/sanjog/sanjog.schema.json                 config/
#   /etc/sanjog/sanjog.example.json                config/
#   /var/lib/sanjog/                               empty state directory
#   /usr/lib/systemd/system/sanjogd.service        deploy/systemd/
#   /usr/lib/sysusers.d/sanjog.conf                deploy/systemd/ (user and group "sanjog")
#   /usr/lib/tmpfiles.d/sanjog.conf                deploy/systemd/ (owner of /var/lib/sanjog)
#   /usr/include/sanjog/, /usr/lib/<multiarch>/cmake/SanjogPluginSdk/
#                                                  plugin-api/ (component "sdk")
#
# Everything but the SDK is in the component "runtime" (the default component
# below): `cmake --install build --component runtime` installs the daemon
# without the SDK (the container image does this).
#
# Two things are computed when installing, not when configuring, because
# `cmake --install --prefix P` replaces the configured prefix only at that
# point (a rule using CMAKE_INSTALL_FULL_SYSCONFDIR would keep the configured
# prefix's /usr/local/etc):
#   - SYSCONFDIR and LOCALSTATEDIR follow GNUInstallDirs' special cases for the
#     prefix installed to: /usr -> /etc and /var, /opt/X -> /etc/opt/X and
#     /var/opt/X, anything else -> P/etc and P/var;
#   - the unit's /usr/bin/sanjogd becomes P/bin/sanjogd (identical for /usr).
# See cmake/install_system_files.cmake.

set(CMAKE_INSTALL_DEFAULT_COMPONENT_NAME runtime)

# Pinned, not under CMAKE_INSTALL_LIBDIR: for prefix /usr on Debian that is
# lib/x86_64-linux-gnu, and sanjogd looks for its plugins in
# <dir of sanjogd>/../lib/sanjog/plugins.
set(SANJOG_INSTALL_PLUGIN_DIR lib/sanjog/plugins)

install(FILES ${PROJECT_SOURCE_DIR}/deploy/systemd/sanjog.sysusers
        DESTINATION lib/sysusers.d RENAME sanjog.conf)
install(FILES ${PROJECT_SOURCE_DIR}/deploy/systemd/sanjog.tmpfiles
        DESTINATION lib/tmpfiles.d RENAME sanjog.conf)

# The config files, the state directory and the unit: paths that depend on
# the prefix being installed to (see above).
set(_sanjog_install_vars "")
foreach(var IN ITEMS PROJECT_SOURCE_DIR PROJECT_BINARY_DIR CMAKE_INSTALL_BINDIR
                     CMAKE_INSTALL_SYSCONFDIR CMAKE_INSTALL_LOCALSTATEDIR)
  string(APPEND _sanjog_install_vars "set(SANJOG_${var} [==[${${var}}]==])\n")
endforeach()
install(CODE "${_sanjog_install_vars}include([==[${PROJECT_SOURCE_DIR}/cmake/install_system_files.cmake]==])")
unset(_sanjog_install_vars)
