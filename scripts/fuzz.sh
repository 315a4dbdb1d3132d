#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan+UBSan, in build-asan/ shared
# with the sanitizer test run) and runs each one for
# FUZZ_SECONDS (default 20) from its seed corpus in tests/fuzz/corpus/<target>.
# New inputs go to a scratch copy, so the repo's corpora stay as committed.
# Usage: scripts/fuzz.sh [seconds]    (CI runs a short pass; run longer by hand)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-${FUZZ_SECONDS:-20}}"
build="${FUZZ_BUILD_DIR:-build-asan}"
if [ ! -f "$build/build.ninja" ]; then
  CC=clang CXX=clang++ cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Debug \
    -DCMAKE_C_FLAGS_DEBUG="-g -O1" -DCMAKE_CXX_FLAGS_DEBUG="-g -O1" \
    -DSANJOG_SANITIZE=ON -DSANJOG_FUZZ=ON >/dev/null
fi
cmake --build "$build" -j"$(nproc)" --target fuzz_targets
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
status=0
for bin in "$build"/bin/fuzz_*; do
  name=$(basename "$bin")
  mkdir -p "$scratch/$name"
  cp -r tests/fuzz/corpus/"$name"/. "$scratch/$name"/ 2>/dev/null || true
  log="$scratch/$name.log"
  if "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      "$scratch/$name" >"$log" 2>&1; then
    execs=$(grep -m1 'stat::number_of_executed_units' "$log" | awk '{print $2}')
    echo "fuzz: $name ok, ${execs:-?} executions in ${seconds}s, 0 crashes"
  else
    echo "fuzz: $name FAILED"; tail -40 "$log"; status=1
  fi
done
exit $status
