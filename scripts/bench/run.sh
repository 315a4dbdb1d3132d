#!/usr/bin/env bash
# The benchmark suite: sets up what it needs (the Debian packages and build of
# scripts/setup.sh, which include wrk and nginx; Node-RED from the npm
# registry), then runs every scenario in one run on this machine and writes
# the table into docs/performance.md (between the bench markers) and the raw
# figures into docs/bench/results.json.
#   bash scripts/bench/run.sh                 # the full run (a one-million backlog: long)
#   bash scripts/bench/run.sh --backlog 100000  # the same with a 100k backlog (8 minutes)
#   bash scripts/bench/run.sh --seconds 20    # longer load phases
#   bash scripts/bench/run.sh --quick         # a tiny run of everything (CI); writes nothing
#   bash scripts/bench/run.sh --only relay,nodered
# Benchmarks, not tests: nothing here asserts a timing. Run it on a quiet
# machine; the figures are ratios against baselines of the same run.
set -euo pipefail
cd "$(dirname "$0")/../.."
build="${SANJOG_BUILD_DIR:-build}"

bash scripts/setup.sh
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  # Debian's nodejs 18 runs Node-RED 4 (a preinstalled NodeSource node is used as it is).
  sudo_cmd=()
  [ "$(id -u)" -ne 0 ] && sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends \
    nodejs npm >/dev/null
fi
bash scripts/bench/nodered/install.sh

quick=0
for a in "$@"; do [ "$a" = --quick ] && quick=1; done
if [ "$quick" = 1 ]; then
  exec python3 scripts/bench/run.py --build "$build" "$@"
fi
mkdir -p docs/bench
exec python3 scripts/bench/run.py --build "$build" --write-doc --json docs/bench/results.json "$@"
