#!/usr/bin/env bash
# Benchmark: signed webhook ingest into sanjogd (Standard Webhooks check +
# CloudEvent normalization + group-committed SQLite write before the 202),
# next to nginx answering `return 200` on the same machine in the same run.
# Also prints binary/plugin sizes and the idle RSS of sanjogd on the example
# config. Not a test: numbers go to docs/performance.md by hand.
# Usage: [SYNC=full|normal] scripts/bench/ingest.sh [build-dir] [seconds] [connections]
set -euo pipefail
cd "$(dirname "$0")/../.."
build="${1:-build}"; secs="${2:-10}"; conns="${3:-64}"; threads=2
bin="$build/bin/sanjogd"
[ -x "$bin" ] || { echo "no $bin; run scripts/setup.sh first" >&2; exit 1; }
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
wait_file() { for _ in $(seq 1 200); do [ -s "$1" ] && return 0; sleep 0.05; done; return 1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

echo "== sizes"
ls -l "$bin" "$build"/lib/sanjog/plugins/*.so | awk '{printf "%-60s %8.1f KiB\n", $NF, $5/1024}'
strip -o "$work/sanjogd.stripped" "$bin" && \
  echo "sanjogd stripped: $(( $(stat -c %s "$work/sanjogd.stripped") / 1024 )) KiB"

echo "== idle RSS on config/sanjog.example.json"
export SANJOG_ADMIN_TOKEN=bench-admin-token-0123456789
sed -e 's#"127.0.0.1:8080"#"127.0.0.1:0"#' -e 's#"127.0.0.1:9464"#"127.0.0.1:0"#' \
    -e "s#\"var/sanjog.db\"#\"$work/example.db\"#" config/sanjog.example.json >"$work/example.json"
"$bin" --config "$work/example.json" --ports-file "$work/example.ports" >"$work/example.log" 2>&1 &
pids+=($!); ex_pid=$!
wait_file "$work/example.ports" || { cat "$work/example.log"; exit 1; }
sleep 1  # let start-up allocations settle before reading RSS (a measurement, not a test wait)
echo "sanjogd idle RSS: $(awk '/VmRSS/{print $2, $3}' /proc/$ex_pid/status)"
kill -TERM "$ex_pid"; wait "$ex_pid" || true

echo "== ingest benchmark: wrk -t$threads -c$conns -d${secs}s"
secret="whsec_$(head -c 32 /dev/urandom | base64)"
cat >"$work/bench.json" <<JSON
{ "version": 1,
  "server": { "listen": "127.0.0.1:0" },
  "admin": { "listen": "127.0.0.1:0", "token": "bench-admin-token-0123456789" },
  "storage": { "path": "$work/bench.db", "sync": "${SYNC:-normal}" },
  "plugin_dir": "$(realpath "$build/lib/sanjog/plugins")",
  "instances": [ { "id": "in", "plugin": "crm_webhook", "config": { "secret": "$secret" } } ] }
JSON
"$bin" --config "$work/bench.json" --ports-file "$work/bench.ports" >"$work/bench.log" 2>&1 &
pids+=($!)
wait_file "$work/bench.ports" || { cat "$work/bench.log"; exit 1; }
port=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["public"])' "$work/bench.ports")

# Pre-signed requests (unique webhook-id each, so every request is a new event).
python3 - "$secret" "$work/requests.tsv" 400000 <<'PY'
import base64, hmac, hashlib, sys, time
secret, out, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
key = base64.b64decode(secret[len("whsec_"):])
ts = str(int(time.time()))
with open(out, "w") as f:
    for i in range(n):
        wid = "msg_bench_%d" % i
        body = ('{"type":"contact.updated","data":{"contact":{"id":"c%d","name":"রহিম উদ্দিন",'
                '"phone":"+8801711%06d"}}}' % (i, i % 1000000))
        sig = base64.b64encode(hmac.new(key, (wid + "." + ts + "." + body).encode(), hashlib.sha256).digest()).decode()
        f.write("%s\t%s\t%s\t%d\n" % (wid, ts, sig, i))
PY
cat >"$work/ingest.lua" <<'LUA'
reqs = {}
for line in io.lines(os.getenv("REQS")) do
  local id, ts, sig, i = line:match("([^\t]+)\t([^\t]+)\t([^\t]+)\t([^\t]+)")
  reqs[#reqs + 1] = { id, ts, sig, tonumber(i) }
end
local counter, nthreads = 0, 2
index = 0  -- set per thread by setup()
function setup(thread) thread:set("index", counter); counter = counter + 1 end
function request()
  local r = reqs[(index % #reqs) + 1]; index = index + nthreads
  local body = '{"type":"contact.updated","data":{"contact":{"id":"c' .. r[4] ..
    '","name":"রহিম উদ্দিন","phone":"+8801711' .. string.format("%06d", r[4] % 1000000) .. '"}}}'
  return wrk.format("POST", "/webhooks/in", { ["content-type"] = "application/json",
    ["webhook-id"] = r[1], ["webhook-timestamp"] = r[2], ["webhook-signature"] = "v1," .. r[3] }, body)
end
local codes = {}
function response(status) codes[status] = (codes[status] or 0) + 1 end
function done() for k, v in pairs(codes) do io.write("status ", k, ": ", v, "\n") end end
LUA
REQS="$work/requests.tsv" wrk -t$threads -c"$conns" -d"${secs}s" --latency -s "$work/ingest.lua" \
  "http://127.0.0.1:$port/" | tee "$work/wrk_sanjog.txt"
admin=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["admin"])' "$work/bench.ports")
echo "sanjogd metrics after the run:"
curl -s "http://127.0.0.1:$admin/metrics" | grep -E '^sanjog_(webhook_requests_total|storage_commits_total|events_published_total)' || true
echo "sanjogd RSS after the run: $(awk '/VmRSS/{print $2, $3}' /proc/${pids[1]}/status)"

echo "== nginx return 200, same machine, same run"
nport=$(free_port)
mkdir -p "$work/nginx"
cat >"$work/nginx/nginx.conf" <<NGX
daemon off; worker_processes 2; pid $work/nginx/nginx.pid; error_log $work/nginx/error.log;
events { worker_connections 1024; }
http { access_log off;
  server { listen 127.0.0.1:$nport; location / { return 200; } } }
NGX
nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" &
pids+=($!)
for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$nport/" && break; sleep 0.05; done
wrk -t$threads -c"$conns" -d"${secs}s" --latency "http://127.0.0.1:$nport/" | tee "$work/wrk_nginx.txt"
