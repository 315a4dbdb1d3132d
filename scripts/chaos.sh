#!/usr/bin/env bash
# Long crash and fault run of the delivery guarantees: builds sanjogd, the
# plugins and tests/reliability (reliability_tests), runs it with long
# settings and prints one CHAOS line of figures per test.
#
#   scripts/chaos.sh [LOAD_SECONDS [KILLS]] [GTEST_ARGS...]
#   scripts/chaos.sh                                  # 300 s of load per test, 50 kills
#   scripts/chaos.sh 60 10 --gtest_filter='*Kill9*'   # one test, shorter
#
# The environment variables SANJOG_CHAOS_SECONDS, SANJOG_CHAOS_KILLS,
# SANJOG_CHAOS_CONVERSATIONS, SANJOG_CHAOS_CLIENTS, SANJOG_CHAOS_PACE_MS and
# SANJOG_CHAOS_SEED set the size (the arguments win); a failing seed printed
# in a CHAOS line replays the same kill schedule. Build directory:
# $SANJOG_BUILD_DIR, default build/ (configured like scripts/setup.sh when
# missing). The storage-full test mounts a tmpfs, so it needs root; it is
# skipped otherwise. Exits non-zero when a test fails.
set -euo pipefail
cd "$(dirname "$0")/.."

load_seconds="${SANJOG_CHAOS_SECONDS:-300}"
kills="${SANJOG_CHAOS_KILLS:-50}"
if [[ "${1:-}" =~ ^[0-9]+([.][0-9]+)?$ ]]; then load_seconds=$1; shift; fi
if [[ "${1:-}" =~ ^[0-9]+$ ]]; then kills=$1; shift; fi
export SANJOG_CHAOS_SECONDS="$load_seconds" SANJOG_CHAOS_KILLS="$kills"

build="${SANJOG_BUILD_DIR:-build}"
if [ ! -f "$build/build.ninja" ]; then
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
# The target depends on sanjogd and every plugin.
cmake --build "$build" --target reliability_tests -j"$(nproc)"

log=$(mktemp -t sanjog-chaos.XXXXXX)
echo "chaos.sh: ${load_seconds}s of load per test, ${kills} kills; full output in $log"
start=$(date +%s)
rc=0
"$build/bin/reliability_tests" "$@" 2>&1 | tee "$log" || rc=$?
echo "== chaos.sh: figures ($(($(date +%s) - start))s)"
grep '^CHAOS ' "$log" || echo "chaos.sh: no CHAOS line (did any test run?)"
if [ "$rc" -ne 0 ]; then
  echo "chaos.sh: FAILED (exit $rc)"
  exit "$rc"
fi
echo "chaos.sh: passed"
