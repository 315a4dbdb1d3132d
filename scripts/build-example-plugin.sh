#!/usr/bin/env bash
# Installs the plugin SDK from a build tree into <build>/stage (component
# "sdk" only) and builds docs/examples/hello_plugin against it, out of tree,
# with find_package(SanjogPluginSdk). Output: <build>/example-plugin/
# libsanjog_example_hello.so (loaded by an integration test).
# Usage: scripts/build-example-plugin.sh [build-dir]
set -euo pipefail
cd "$(dirname "$0")/.."
build="$(realpath "${1:-build}")"
stage="$build/stage"
cmake --install "$build" --component sdk --prefix "$stage" >/dev/null
cmake -S docs/examples/hello_plugin -B "$build/example-plugin-build" -G Ninja \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_PREFIX_PATH="$stage" >/dev/null
cmake --build "$build/example-plugin-build" >/dev/null
mkdir -p "$build/example-plugin"
cp "$build/example-plugin-build/libsanjog_example_hello.so" "$build/example-plugin/"
echo "example plugin: $build/example-plugin/libsanjog_example_hello.so (SDK from $stage)"
