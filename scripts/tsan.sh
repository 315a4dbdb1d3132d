#!/usr/bin/env bash
# ThreadSanitizer run of the concurrency tests: the bus (writer thread,
# dispatcher, workers, group commit, circuit breakers) and the reliability
# harness driving a TSan-built sanjogd under concurrent load, kill -9 and
# SIGTERM (a race makes the daemon exit 66, which fails the test).
#   scripts/tsan.sh   (after scripts/setup.sh; builds build-tsan/ with clang)
set -euo pipefail
cd "$(dirname "$0")/.."
tsan=build-tsan
if [ ! -f "$tsan/build.ninja" ]; then
  CC=clang CXX=clang++ cmake -S . -B "$tsan" -G Ninja -DCMAKE_BUILD_TYPE=Debug \
    -DCMAKE_C_FLAGS_DEBUG="-gline-tables-only -O1" -DCMAKE_CXX_FLAGS_DEBUG="-gline-tables-only -O1" \
    -DSANJOG_TSAN=ON >/dev/null
fi
cmake --build "$tsan" -j"$(nproc)" --target unit_bus reliability_tests
export TSAN_OPTIONS="halt_on_error=0 exitcode=66 second_deadlock_stack=1"
ctest --test-dir "$tsan" --output-on-failure -j2 --timeout 600 -R '^(BusTest|RetryPolicy|ChaosTest|StorageFullTest)'
echo "tsan.sh: ThreadSanitizer found no race in the concurrency tests"
