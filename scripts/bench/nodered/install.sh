#!/usr/bin/env bash
# Install the pinned Node-RED used by the side-by-side benchmark into
# ${SANJOG_BENCH_CACHE:-/var/cache/sanjog-bench}/node-red. Idempotent: does
# nothing if that exact version is already there. Prints one line.
# node-red 5.x needs node >= 22.9; this image has node 20, so pin the 4.x line.
set -euo pipefail
NODE_RED_VERSION=4.1.15
cache="${SANJOG_BENCH_CACHE:-/var/cache/sanjog-bench}"
dir="$cache/node-red"
pkg="$dir/node_modules/node-red/package.json"
have=""
[ -f "$pkg" ] && have=$(node -p 'require(process.argv[1]).version' "$pkg" 2>/dev/null || true)
if [ "$have" = "$NODE_RED_VERSION" ]; then
  echo "node-red $NODE_RED_VERSION already installed in $dir"
  exit 0
fi
command -v npm >/dev/null || { echo "install.sh: npm not found (node 20 + npm expected on PATH)" >&2; exit 1; }
mkdir -p "$dir"
[ -f "$dir/package.json" ] || printf '{ "name": "sanjog-bench-node-red", "private": true }\n' >"$dir/package.json"
log="$dir/npm-install.log"
if ! npm install --prefix "$dir" --no-audit --no-fund --omit=dev --save-exact \
       "node-red@$NODE_RED_VERSION" >"$log" 2>&1; then
  echo "install.sh: npm install node-red@$NODE_RED_VERSION failed; last lines of $log:" >&2
  tail -n 20 "$log" >&2
  exit 1
fi
echo "node-red $NODE_RED_VERSION installed in $dir"
