# Runs at install time, from cmake_install.cmake (install(CODE) in
# cmake/install_layout.cmake sets the SANJOG_* variables first), where
# CMAKE_INSTALL_PREFIX is the prefix being installed to, including a
# `cmake --install --prefix` override. Installs with file(INSTALL), which
# honours DESTDIR, prints "-- Installing:" and fills install_manifest.txt:
#   <sysconfdir>/sanjog/sanjog.schema.json, sanjog.example.json
#   <localstatedir>/lib/sanjog/            (empty; owner set by tmpfiles.d or
#                                           the unit's StateDirectory=)
#   <prefix>/lib/systemd/system/sanjogd.service

# GNUInstallDirs_get_absolute_install_dir for SYSCONFDIR/LOCALSTATEDIR,
# evaluated for the install-time prefix.
function(_sanjog_system_dir out rel)
  if(IS_ABSOLUTE "${rel}")
    set(dir "${rel}")
  elseif(CMAKE_INSTALL_PREFIX MATCHES "^/?$" OR CMAKE_INSTALL_PREFIX MATCHES "^/usr/?$")
    set(dir "/${rel}")
  elseif(CMAKE_INSTALL_PREFIX MATCHES "^/opt/" AND NOT CMAKE_INSTALL_PREFIX MATCHES "^/opt/homebrew/")
    string(REGEX REPLACE "/$" "" prefix "${CMAKE_INSTALL_PREFIX}")
    set(dir "/${rel}${prefix}")
  else()
    string(REGEX REPLACE "/$" "" prefix "${CMAKE_INSTALL_PREFIX}")
    set(dir "${prefix}/${rel}")
  endif()
  set(${out} "${dir}" PARENT_SCOPE)
endfunction()

_sanjog_system_dir(_sanjog_etc "${SANJOG_CMAKE_INSTALL_SYSCONFDIR}")
_sanjog_system_dir(_sanjog_var "${SANJOG_CMAKE_INSTALL_LOCALSTATEDIR}")
if(IS_ABSOLUTE "${SANJOG_CMAKE_INSTALL_BINDIR}")
  set(_sanjog_bin "${SANJOG_CMAKE_INSTALL_BINDIR}")
else()
  string(REGEX REPLACE "/$" "" _sanjog_bin "${CMAKE_INSTALL_PREFIX}")
  string(APPEND _sanjog_bin "/${SANJOG_CMAKE_INSTALL_BINDIR}")
endif()
string(REGEX REPLACE "/$" "" _sanjog_prefix "${CMAKE_INSTALL_PREFIX}")

file(INSTALL DESTINATION "${_sanjog_etc}/sanjog" TYPE FILE FILES
  "${SANJOG_PROJECT_SOURCE_DIR}/config/sanjog.schema.json"
  "${SANJOG_PROJECT_SOURCE_DIR}/config/sanjog.example.json")

# An empty directory; install_manifest.txt lists files only.
file(MAKE_DIRECTORY "${SANJOG_PROJECT_BINARY_DIR}/install-staging/sanjog")
file(INSTALL DESTINATION "${_sanjog_var}/lib" TYPE DIRECTORY FILES
  "${SANJOG_PROJECT_BINARY_DIR}/install-staging/sanjog")

# The unit names /usr/bin/sanjogd; for another prefix it names that one's.
file(READ "${SANJOG_PROJECT_SOURCE_DIR}/deploy/systemd/sanjogd.service" _sanjog_unit)
string(REPLACE "/usr/bin/sanjogd" "${_sanjog_bin}/sanjogd" _sanjog_unit "${_sanjog_unit}")
set(_sanjog_staged "${SANJOG_PROJECT_BINARY_DIR}/install-staging/sanjogd.service")
set(_sanjog_old "")
if(EXISTS "${_sanjog_staged}")
  file(READ "${_sanjog_staged}" _sanjog_old)
endif()
if(NOT _sanjog_old STREQUAL _sanjog_unit)  # keep the timestamp: "Up-to-date" on re-install
  file(WRITE "${_sanjog_staged}" "${_sanjog_unit}")
endif()
file(INSTALL DESTINATION "${_sanjog_prefix}/lib/systemd/system" TYPE FILE FILES "${_sanjog_staged}")
