#!/usr/bin/env bash
# Quick load check of the Node-RED relay (not the benchmark itself):
# wrk POSTs one pre-signed WhatsApp webhook over and over. Only the first
# request is forwarded to the sink; the rest take the dedup path (verify HMAC,
# parse, context lookup, 200). Prints wrk's summary and node's RSS.
# Usage: scripts/bench/nodered/load.sh [seconds] [connections]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
secs="${1:-5}"; conns="${2:-32}"
command -v wrk >/dev/null || { echo "wrk not installed (apt-get install -y wrk)" >&2; exit 1; }
work=$(mktemp -d); nr_pid=""; sink_pid=""
cleanup() { for p in $nr_pid $sink_pid; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
wait_for() { local end=$(( $(date +%s) + $1 )); shift
  until "$@"; do [ "$(date +%s)" -lt "$end" ] || return 1; sleep 0.05; done; }
"$here/install.sh"
cat >"$work/sink.py" <<'PY'
import http.server, os, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self.send_response(204); self.send_header("content-length", "0"); self.end_headers()
    def log_message(self, *a): pass
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
open(sys.argv[1] + ".tmp", "w").write(str(s.server_address[1])); os.rename(sys.argv[1] + ".tmp", sys.argv[1])
s.serve_forever()
PY
python3 "$work/sink.py" "$work/sink.port" & sink_pid=$!
wait_for 10 test -s "$work/sink.port" || { echo "sink did not start" >&2; exit 1; }
APP_SECRET="app-secret-$RANDOM$RANDOM"; OUT_SECRET="whsec_$(head -c 32 /dev/urandom | base64)"
SINK_URL="http://127.0.0.1:$(cat "$work/sink.port")/events"; export APP_SECRET OUT_SECRET SINK_URL
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$here/start.sh" "$work/userdir" "$port" >"$work/nr.log" 2>&1 & nr_pid=$!
healthy() { kill -0 "$nr_pid" && [ "$(curl -s -m 2 "http://127.0.0.1:$port/healthz" || true)" = ok ]; }
wait_for 60 healthy || { cat "$work/nr.log"; exit 1; }
python3 - "$work" <<'PY'
import hashlib, hmac, json, os, sys
w = sys.argv[1]
body = json.dumps({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages",
  "value": {"messaging_product": "whatsapp", "contacts": [{"profile": {"name": "রহিম"}, "wa_id": "8801712345678"}],
  "messages": [{"from": "8801712345678", "id": "wamid.load1", "timestamp": "1733200000", "type": "text",
                "text": {"body": "আমার অর্ডার seq=1 conv=7"}}]}}]}]}, ensure_ascii=False).encode()
open(w + "/body.json", "wb").write(body)
sig = "sha256=" + hmac.new(os.environ["APP_SECRET"].encode(), body, hashlib.sha256).hexdigest()
open(w + "/post.lua", "w").write('''
local f = assert(io.open("%s/body.json", "rb")); local b = f:read("*a"); f:close()
wrk.method = "POST"; wrk.body = b
wrk.headers["content-type"] = "application/json"
wrk.headers["x-hub-signature-256"] = "%s"
''' % (w, sig))
PY
echo "node-red idle RSS: $(awk '/VmRSS/{print $2, $3}' /proc/$nr_pid/status)"
wrk -t2 -c"$conns" -d"${secs}s" -s "$work/post.lua" "http://127.0.0.1:$port/webhooks/wa"
echo "node-red RSS after load: $(awk '/VmRSS/{print $2, $3}' /proc/$nr_pid/status) (VmHWM $(awk '/VmHWM/{print $2, $3}' /proc/$nr_pid/status))"
