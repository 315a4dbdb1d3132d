#!/usr/bin/env bash
# Smoke test of the Node-RED relay: install, start it next to a tiny python3
# sink, then post (1) a correctly signed WhatsApp webhook, (2) a forged one,
# (3) the first one again. Expects 200, 401, 200; the sink must get the first
# message exactly once, with the Bengali text intact and a valid Standard
# Webhooks signature. A 4th signed message (seq=2) is a barrier: once it has
# reached the sink, a forwarded duplicate would have been seen too.
# Usage: scripts/bench/nodered/smoke.sh   (KEEP=1 keeps the work dir)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work=$(mktemp -d)
nr_pid=""; sink_pid=""
cleanup() {
  for p in $nr_pid $sink_pid; do kill "$p" 2>/dev/null || true; done
  for p in $nr_pid $sink_pid; do wait "$p" 2>/dev/null || true; done
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
fail() { echo "smoke: FAIL: $*" >&2; echo "--- node-red log" >&2; cat "$work/nr.log" >&2 || true; exit 1; }
# poll CMD until it succeeds or SECONDS_LIMIT pass
wait_for() { local limit=$1; shift; local end=$(( $(date +%s) + limit ))
  until "$@"; do [ "$(date +%s)" -lt "$end" ] || return 1; sleep 0.05; done; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

"$here/install.sh"

# --- sink: records every request (headers + raw body) as one JSON line
cat >"$work/sink.py" <<'PY'
import base64, http.server, json, os, sys
out, portfile = sys.argv[1], sys.argv[2]
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"   # keep-alive for the relay's agent
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        rec = {"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()},
               "body_b64": base64.b64encode(body).decode()}
        with open(out, "a") as f:
            f.write(json.dumps(rec) + "\n")
        with open(out + ".bodies", "ab") as f:
            f.write(body + b"\n")
        self.send_response(204); self.send_header("content-length", "0"); self.end_headers()
    def log_message(self, *a): pass
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
open(portfile + ".tmp", "w").write(str(s.server_address[1])); os.rename(portfile + ".tmp", portfile)
s.serve_forever()
PY
: >"$work/sink.jsonl"
python3 "$work/sink.py" "$work/sink.jsonl" "$work/sink.port" >"$work/sink.log" 2>&1 &
sink_pid=$!
wait_for 10 test -s "$work/sink.port" || fail "sink did not start"
sink_port=$(cat "$work/sink.port")

# --- node-red
export APP_SECRET="app-secret-$RANDOM$RANDOM"
OUT_SECRET="whsec_$(head -c 32 /dev/urandom | base64)"; export OUT_SECRET
export SINK_URL="http://127.0.0.1:$sink_port/events"
port=$(free_port)
"$here/start.sh" "$work/userdir" "$port" >"$work/nr.log" 2>&1 &
nr_pid=$!
healthy() { kill -0 "$nr_pid" 2>/dev/null || fail "node-red exited"; \
  [ "$(curl -s -m 2 "http://127.0.0.1:$port/healthz" || true)" = ok ]; }
wait_for 60 healthy || fail "node-red not healthy after 60 s"
echo "node-red pid $nr_pid ($(cat /proc/$nr_pid/comm)) on 127.0.0.1:$port, sink on $sink_port"

# --- requests and assertions (python3 computes the HMACs)
python3 - "$port" "$work/sink.jsonl" <<'PY' || fail "assertions failed"
import base64, hashlib, hmac, json, os, sys, time, urllib.request, urllib.error
port, sink = int(sys.argv[1]), sys.argv[2]
app_secret = os.environ["APP_SECRET"].encode()
out_key = base64.b64decode(os.environ["OUT_SECRET"][len("whsec_"):])
run = "%d%d" % (os.getpid(), int(time.time()))
text1 = "আমার অর্ডার seq=1 conv=7"

def webhook(mid, text):
    v = {"object": "whatsapp_business_account", "entry": [{"id": "102290129340398", "changes": [{
        "field": "messages", "value": {"messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
        "contacts": [{"profile": {"name": "রহিম উদ্দিন"}, "wa_id": "8801712345678"}],
        "messages": [{"from": "8801712345678", "id": mid, "timestamp": str(int(time.time())),
                      "type": "text", "text": {"body": text}}]}}]}]}
    # raw UTF-8 and non-canonical spacing: only a raw-byte HMAC check passes
    return json.dumps(v, ensure_ascii=False, indent=1).encode("utf-8")

def post(body, sig):
    h = {"content-type": "application/json"}
    if sig is not None:
        h["x-hub-signature-256"] = sig
    req = urllib.request.Request("http://127.0.0.1:%d/webhooks/wa" % port, data=body, headers=h, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code

def sign(body):
    return "sha256=" + hmac.new(app_secret, body, hashlib.sha256).hexdigest()

def records():
    with open(sink) as f:
        return [json.loads(l) for l in f if l.strip()]

def wait_records(pred, limit=15):
    end = time.time() + limit
    while time.time() < end:
        r = records()
        if pred(r):
            return r
        time.sleep(0.05)
    return records()

mid1 = "wamid.HBgNODgwMTcxMjM0NTY3OBUCABIYFj%sAA==" % run
b1 = webhook(mid1, text1)
codes = [post(b1, sign(b1)),
         post(b1, "sha256=" + hmac.new(b"wrong-secret", b1, hashlib.sha256).hexdigest()),
         post(b1, sign(b1))]
print("codes:", codes)
assert codes == [200, 401, 200], codes
assert post(b1, None) == 401, "missing signature must be 401"

# barrier: a second, new message; once it is at the sink, seq=1's duplicate would be too
mid2 = "wamid.HBgNODgwMTcxMjM0NTY3OBUCABIYFj%sAB==" % run
b2 = webhook(mid2, "আমার অর্ডার seq=2 conv=7")
assert post(b2, sign(b2)) == 200
recs = wait_records(lambda r: any(mid2 in base64.b64decode(x["body_b64"]).decode() for x in r))
bodies = [base64.b64decode(x["body_b64"]) for x in recs]
first = [(x, b) for x, b in zip(recs, bodies) if mid1.encode() in b]
print("sink requests:", len(recs), "for message 1:", len(first))
assert any(mid2.encode() in b for b in bodies), "barrier message never reached the sink"
assert len(first) == 1, "message 1 reached the sink %d times" % len(first)
assert len(recs) == 2, "unexpected sink requests: %d" % len(recs)

rec, raw = first[0]
assert b"seq=1 conv=7" in raw
assert text1.encode("utf-8") in raw, "Bengali text not intact in raw body"
ev = json.loads(raw.decode("utf-8"))
assert ev["data"]["text"] == text1, ev["data"]["text"]
assert ev["specversion"] == "1.0" and ev["type"] == "message.received" and ev["source"] == "/instances/wa"
assert ev["subject"] == "whatsapp:8801712345678" and ev["providerid"] == mid1
assert ev["data"]["contact"] == {"name": "রহিম উদ্দিন", "phone": "+8801712345678"}, ev["data"]["contact"]
h = rec["headers"]
assert h["content-type"] == "application/cloudevents+json", h["content-type"]
assert h["webhook-id"] == ev["id"]
assert abs(int(h["webhook-timestamp"]) - time.time()) < 300
want = base64.b64encode(hmac.new(out_key, ("%s.%s." % (h["webhook-id"], h["webhook-timestamp"])).encode() + raw,
                                  hashlib.sha256).digest()).decode()
sigs = [s.split(",", 1)[1] for s in h["webhook-signature"].split() if s.startswith("v1,")]
assert any(hmac.compare_digest(s, want) for s in sigs), "webhook-signature does not verify"
print("event:", raw.decode("utf-8"))
print("webhook-signature verifies")
PY
echo "smoke: OK (node-red RSS $(awk '/VmRSS/{print $2, $3}' /proc/$nr_pid/status))"
