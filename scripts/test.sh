#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test:
#   1. the normal build (gcc, RelWithDebInfo): unit + integration tests,
#      with the out-of-tree example plugin built against the installed SDK;
#   2. the ASan+UBSan build (clang, with libFuzzer instrumentation): the same
#      tests again;
#   3. a short run of every fuzz target (from the ASan build);
# plus the operations kit: the Prometheus rules (promtool tests) and the
# Grafana dashboard against docs/metrics.md, and the installed tree
# (cmake --install layout, the installed daemon run unprivileged, the unit).
# The ThreadSanitizer run of the concurrency tests is scripts/tsan.sh (it
# does not fit CI's time budget on 2 cores as well; see docs/reliability.md).
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

stage "monitoring: alert rules and their tests, scrape config, dashboard"
bash scripts/check-monitoring.sh

stage "example plugin against the installed SDK"
bash scripts/build-example-plugin.sh build

stage "tests (build/)"
ctest --test-dir build --output-on-failure -j2 --timeout 300

stage "deploy: install layout, installed daemon run unprivileged, unit, Containerfile"
bash scripts/check-deploy.sh build

stage "benchmark command (tiny run of every scenario)"
# Only that it still starts and completes: no timing is checked.
bash scripts/bench/run.sh --quick >/dev/null

stage "ASan+UBSan build (build-asan/)"
asan=build-asan
# -O0: with ASan and fuzzer instrumentation clang compiles 2.7x faster than
# at -O1 (config_loader.cpp: 27 s instead of 72 s); the tests run a little
# slower, the build is most of this stage.
if [ ! -f "$asan/build.ninja" ]; then
  CC=clang CXX=clang++ cmake -S . -B "$asan" -G Ninja -DCMAKE_BUILD_TYPE=Debug \
    -DCMAKE_C_FLAGS_DEBUG="-gline-tables-only -O0" -DCMAKE_CXX_FLAGS_DEBUG="-gline-tables-only -O0" \
    -DSANJOG_SANITIZE=ON -DSANJOG_FUZZ=ON >/dev/null
fi
cmake --build "$asan" -j"$(nproc)"
bash scripts/build-example-plugin.sh "$asan"

stage "tests (build-asan/)"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
ctest --test-dir "$asan" --output-on-failure -j2 --timeout 600

stage "fuzz targets (${FUZZ_SECONDS:-10}s each)"
FUZZ_BUILD_DIR="$asan" bash scripts/fuzz.sh "${FUZZ_SECONDS:-10}"

stage "done"
echo "test.sh: all stages passed in $(( $(date +%s) - start ))s"
