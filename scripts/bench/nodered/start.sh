#!/usr/bin/env bash
# Start the Node-RED relay in the foreground: start.sh USERDIR PORT
# Env: SINK_URL, APP_SECRET (Meta app secret), OUT_SECRET (whsec_<base64>).
# Copies settings.js and flows.json into USERDIR, then execs node itself, so
# `scripts/bench/nodered/start.sh DIR PORT & pid=$!` gives the node PID.
# Listens on 127.0.0.1:PORT only. Run install.sh first.
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 USERDIR PORT" >&2; exit 2; }
userdir="$1"; port="$2"
here="$(cd "$(dirname "$0")" && pwd)"
red="${SANJOG_BENCH_CACHE:-/var/cache/sanjog-bench}/node-red/node_modules/node-red/red.js"
[ -f "$red" ] || { echo "start.sh: $red missing; run $here/install.sh first" >&2; exit 1; }
for v in SINK_URL APP_SECRET OUT_SECRET; do
  [ -n "${!v:-}" ] || { echo "start.sh: $v is not set" >&2; exit 1; }
done
case "$OUT_SECRET" in whsec_*) ;; *) echo "start.sh: OUT_SECRET must be whsec_<base64>" >&2; exit 1;; esac
mkdir -p "$userdir"
cp "$here/settings.js" "$here/flows.json" "$userdir/"
export SINK_URL APP_SECRET OUT_SECRET
exec node "$red" --no-telemetry -u "$userdir" -p "$port" --settings "$userdir/settings.js"
