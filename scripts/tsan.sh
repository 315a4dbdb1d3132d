#!/usr/bin/env bash
# ThreadSanitizer run of the concurrency tests: the embedded bus (writer
# thread, dispatcher, workers, group commit, circuit breakers), the NATS bus
# (fetchers, dispatcher, workers, leases, timer watch) against a real
# nats-server, and the reliability and NATS failover harnesses driving
# TSan-built sanjogd processes under load, kill -9 and SIGTERM. Every report,
# from a test or from a daemon, is written to build-tsan/tsan-report.PID and
# fails the run.
#   scripts/tsan.sh   (after scripts/setup.sh; builds build-tsan/ with clang)
set -euo pipefail
cd "$(dirname "$0")/.."
tsan=build-tsan
if [ ! -f "$tsan/build.ninja" ]; then
  CC=clang CXX=clang++ cmake -S . -B "$tsan" -G Ninja -DCMAKE_BUILD_TYPE=Debug \
    -DCMAKE_C_FLAGS_DEBUG="-gline-tables-only -O1" -DCMAKE_CXX_FLAGS_DEBUG="-gline-tables-only -O1" \
    -DSANJOG_TSAN=ON >/dev/null
fi
cmake --build "$tsan" -j"$(nproc)" --target unit_bus reliability_tests nats_tests nats_failover_tests
rm -f "$tsan"/tsan-report.*
export TSAN_OPTIONS="halt_on_error=0 exitcode=66 second_deadlock_stack=1 log_path=$PWD/$tsan/tsan-report"
ctest --test-dir "$tsan" --output-on-failure -j2 --timeout 600 \
  -R '^(BusTest|RetryPolicy|ChaosTest|StorageFullTest|Nats)'
if compgen -G "$tsan/tsan-report.*" >/dev/null; then
  cat "$tsan"/tsan-report.*
  echo "tsan.sh: ThreadSanitizer reports above (files $tsan/tsan-report.*)" >&2
  exit 1
fi
echo "tsan.sh: ThreadSanitizer found no race in the concurrency tests"
