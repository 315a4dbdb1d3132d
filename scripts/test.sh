#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test:
#   1. the normal build (gcc, RelWithDebInfo): unit + integration tests,
#      with the out-of-tree example plugin built against the installed SDK;
#   2. the ASan+UBSan build (clang, with libFuzzer instrumentation): the same
#      tests again;
#   3. the ThreadSanitizer build of the concurrency tests (bus, reliability
#      harness with the TSan-built daemon);
#   4. a short run of every fuzz target (from the ASan build).
# Exits non-zero on the first failure. Prints the wall time of each stage.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
stage_start=$start
stage() {  # stage NAME: prints the time of the previous stage
  local now; now=$(date +%s)
  echo "== test.sh: $1 (previous stage $((now - stage_start))s, total $((now - start))s)"
  stage_start=$now
}

stage "setup + build"
bash scripts/setup.sh

stage "format check (clang-format)"
bash scripts/lint.sh

stage "example plugin against the installed SDK"
bash scripts/build-example-plugin.sh build

stage "tests (build/)"
ctest --test-dir build --output-on-failure -j2 --timeout 300

stage "ASan+UBSan build (build-asan/)"
asan=build-asan
if [ ! -f "$asan/build.ninja" ]; then
  CC=clang CXX=clang++ cmake -S . -B "$asan" -G Ninja -DCMAKE_BUILD_TYPE=Debug \
    -DCMAKE_C_FLAGS_DEBUG="-gline-tables-only -O1" -DCMAKE_CXX_FLAGS_DEBUG="-gline-tables-only -O1" \
    -DSANJOG_SANITIZE=ON -DSANJOG_FUZZ=ON >/dev/null
fi
cmake --build "$asan" -j"$(nproc)"
bash scripts/build-example-plugin.sh "$asan"

stage "tests (build-asan/)"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
ctest --test-dir "$asan" --output-on-failure -j2 --timeout 600

stage "ThreadSanitizer build of the concurrency tests (build-tsan/)"
# The bus (writer, dispatcher, workers, group commit, breakers) and the
# daemon under concurrent load, kill -9 and SIGTERM (the reliability
# harness starts the TSan-built sanjogd; a race makes it exit non-zero).
tsan=build-tsan
if [ ! -f "$tsan/build.ninja" ]; then
  CC=clang CXX=clang++ cmake -S . -B "$tsan" -G Ninja -DCMAKE_BUILD_TYPE=Debug \
    -DCMAKE_C_FLAGS_DEBUG="-gline-tables-only -O1" -DCMAKE_CXX_FLAGS_DEBUG="-gline-tables-only -O1" \
    -DSANJOG_TSAN=ON >/dev/null
fi
cmake --build "$tsan" -j"$(nproc)" --target unit_bus reliability_tests

stage "tests (build-tsan/)"
export TSAN_OPTIONS="halt_on_error=0 exitcode=66 second_deadlock_stack=1"
ctest --test-dir "$tsan" --output-on-failure -j2 --timeout 600 -R '^(BusTest|RetryPolicy|Chaos|StorageFull)'

stage "fuzz targets (${FUZZ_SECONDS:-10}s each)"
FUZZ_BUILD_DIR="$asan" bash scripts/fuzz.sh "${FUZZ_SECONDS:-10}"

stage "done"
echo "test.sh: all stages passed in $(( $(date +%s) - start ))s"
