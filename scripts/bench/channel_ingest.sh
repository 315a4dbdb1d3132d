#!/usr/bin/env bash
# Benchmark: signed WhatsApp Cloud API webhooks into sanjogd through the real
# channel_whatsapp plugin (X-Hub-Signature-256 over the raw body, envelope
# parsing, E.164 with libphonenumber, the service-window bookkeeping, the
# group-committed SQLite write) before the 200. Every request is a new wamid
# with Bengali text, as Meta sends it (minified, \u-escaped).
# Not a test: numbers go to docs/performance.md by hand.
# With AUTOMATIONS=1 a keyword bot, a greeting and an away message are
# configured too: every message (each from a new contact) is answered, so each
# webhook stores two events, their KPI state and a delivery (to a Graph API
# stand-in on a closed port: the deliveries retry in the background).
# Usage: [SYNC=full|normal] [AUTOMATIONS=1] scripts/bench/channel_ingest.sh [build-dir] [seconds] [connections]
set -euo pipefail
cd "$(dirname "$0")/../.."
build="${1:-build}"; secs="${2:-10}"; conns="${3:-64}"; threads=2
bin="$build/bin/sanjogd"
[ -x "$bin" ] || { echo "no $bin; run scripts/setup.sh first" >&2; exit 1; }
work=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
secret="bench-app-secret-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"
cat >"$work/bench.json" <<JSON
{ "version": 1,
  "server": { "listen": "127.0.0.1:0" },
  "admin": { "listen": "127.0.0.1:0", "token": "bench-admin-token-0123456789" },
  "storage": { "path": "$work/bench.db", "sync": "${SYNC:-normal}" },
  "plugin_dir": "$(realpath "$build/lib/sanjog/plugins")",
  "instances": [ { "id": "wa", "plugin": "channel_whatsapp",
    "config": { "api_base": "http://127.0.0.1:9", "phone_number_id": "1122334455667",
                "access_token": "bench-access-token-0123456789",
                "app_secret": "$secret", "verify_token": "bench-verify" } } ]
  $(if [ "${AUTOMATIONS:-0}" = 1 ]; then cat <<'AUTO'
  , "automations": [
    { "id": "hours", "type": "business_hours", "weekly": { "sat": ["10:00-20:00"] } },
    { "id": "away", "type": "away_message", "calendar": "hours", "message": { "text": "বন্ধ" } },
    { "id": "hello", "type": "greeting", "message": { "text": "স্বাগতম {{data.contact.name}}" } },
    { "id": "bot", "type": "keyword_bot",
      "rules": [ { "keywords": ["অর্ডার", "order"], "reply": { "text": "অর্ডারের খবর শীঘ্রই" } } ],
      "handoff": { "keywords": ["মানুষ"] } } ]
AUTO
fi) }
JSON
"$bin" --config "$work/bench.json" --ports-file "$work/bench.ports" >"$work/bench.log" 2>&1 &
pid=$!
for _ in $(seq 1 200); do [ -s "$work/bench.ports" ] && break; sleep 0.05; done
port=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["public"])' "$work/bench.ports")
n=$(( secs * 20000 ))
python3 - "$secret" "$work/requests.tsv" "$n" <<'PY'
import hmac, hashlib, json, sys, time
secret, out, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
ts = str(int(time.time()))
with open(out, "w") as f:
    for i in range(n):
        phone = "88017%08d" % (i % 100000000)
        body = json.dumps({"object": "whatsapp_business_account", "entry": [{"id": "1234567890987654321",
            "changes": [{"field": "messages", "value": {"messaging_product": "whatsapp",
              "metadata": {"display_phone_number": "8801711000100", "phone_number_id": "1122334455667"},
              "contacts": [{"profile": {"name": "রহিমা খাতুন"}, "wa_id": phone}],
              "messages": [{"from": phone, "id": "wamid.bench%d" % i, "timestamp": ts, "type": "text",
                            "text": {"body": "আমার অর্ডার #%d কবে পৌঁছাবে?" % i}}]}}]}]},
            separators=(",", ":"), ensure_ascii=True)
        sig = hmac.new(secret.encode(), body.encode(), hashlib.sha256).hexdigest()
        f.write("%s\t%s\n" % (sig, body))
PY
cat >"$work/ingest.lua" <<'LUA'
reqs = {}
for line in io.lines(os.getenv("REQS")) do
  local sig, body = line:match("([^\t]+)\t(.+)")
  reqs[#reqs + 1] = { sig, body }
end
local counter, nthreads = 0, 2
index = 0
function setup(thread) thread:set("index", counter); counter = counter + 1 end
function request()
  local r = reqs[(index % #reqs) + 1]; index = index + nthreads
  return wrk.format("POST", "/webhooks/wa", { ["content-type"] = "application/json",
    ["x-hub-signature-256"] = "sha256=" .. r[1] }, r[2])
end
local codes = {}
function response(status) codes[status] = (codes[status] or 0) + 1 end
function done() for k, v in pairs(codes) do io.write("status ", k, ": ", v, "\n") end end
LUA
echo "== channel_whatsapp ingest: wrk -t$threads -c$conns -d${secs}s, sync=${SYNC:-normal}, automations=${AUTOMATIONS:-0}"
REQS="$work/requests.tsv" wrk -t$threads -c"$conns" -d"${secs}s" --latency -s "$work/ingest.lua" \
  "http://127.0.0.1:$port/"
admin=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["admin"])' "$work/bench.ports")
curl -s "http://127.0.0.1:$admin/metrics" | grep -E '^sanjog_(webhook_requests_total|events_published_total|events_deduplicated_total|automation_actions_total|first_response_seconds_count)' || true
echo "sanjogd RSS after the run: $(awk '/VmRSS/{print $2, $3}' /proc/$pid/status)"
