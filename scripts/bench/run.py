#!/usr/bin/env python3
"""Sanjog's benchmark suite: every scenario in one run, on this machine,
each figure next to a baseline taken in the same run.

Started by scripts/bench/run.sh (which installs wrk, nginx and Node-RED and
builds first). Writes the results as JSON and as a Markdown section that it
puts into docs/performance.md between the bench markers (--write-doc), or
prints it. Benchmarks, not tests: no timing is asserted; --quick only proves
that every scenario still starts and completes.
"""
import argparse
import datetime
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MARK_BEGIN = "<!-- bench:begin -->"
MARK_END = "<!-- bench:end -->"


def log(*a):
    print("bench:", *a, file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.005)
    raise RuntimeError("timed out waiting for " + what)


def http_ok(url, headers=None):
    try:
        req = urllib.request.Request(url, headers=headers or {})
        with urllib.request.urlopen(req, timeout=2) as r:
            return 200 <= r.status < 300
    except Exception:
        return False


def http_get(url, headers=None):
    req = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.read().decode()


def rss_kb(pid, field="VmRSS:"):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def stop(proc, timeout=30):
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class Bench:
    def __init__(self, args):
        self.args = args
        self.build = os.path.abspath(args.build)
        self.bin = os.path.join(self.build, "bin")
        self.plugins = os.path.join(self.build, "lib", "sanjog", "plugins")
        self.work = tempfile.mkdtemp(prefix="sanjog-bench-")
        self.secret = "bench-app-secret-" + os.urandom(8).hex()
        self.out_secret = "whsec_" + "YmVuY2gtb3V0Ym91bmQtc2VjcmV0LTAx"
        self.admin_token = "bench-admin-token-0123456789"
        self.results = {}
        self.procs = []
        q = args.quick
        self.secs = 1 if q else args.seconds
        self.backlog_events = 500 if q else args.backlog
        self.conns = 32

    # ------------------------------------------------------- processes --
    def spawn(self, cmd, log_name, env=None):
        f = open(os.path.join(self.work, log_name), "w")
        p = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, env=env,
                             start_new_session=True)
        self.procs.append(p)
        return p

    def cleanup(self):
        for p in self.procs:
            stop(p, 10)
        if not self.args.keep:
            shutil.rmtree(self.work, ignore_errors=True)

    def sanjogd(self, name, instances, routes=(), workers=4, extra=None, sync="full"):
        """Starts sanjogd on a fresh database; returns (proc, ports, db, start seconds)."""
        d = os.path.join(self.work, name)
        os.makedirs(d, exist_ok=True)
        db = os.path.join(d, "sanjog.db")
        cfg = {
            "version": 1,
            "server": {"listen": "127.0.0.1:0"},
            "admin": {"listen": "127.0.0.1:0", "token": self.admin_token},
            "storage": {"path": db, "sync": sync},
            "bus": {"backend": "embedded", "workers": workers},
            "logging": {"level": "warn"},
            "plugin_dir": self.plugins,
            "instances": instances,
            "routes": list(routes),
        }
        for k, v in (extra or {}).items():
            cfg[k] = {**cfg.get(k, {}), **v} if isinstance(v, dict) else v
        path = os.path.join(d, "config.json")
        with open(path, "w") as f:
            json.dump(cfg, f, indent=1)
        ports_file = os.path.join(d, "ports.json")
        t0 = time.monotonic()
        p = self.spawn([os.path.join(self.bin, "sanjogd"), "--config", path,
                        "--ports-file", ports_file], name + ".log")
        wait_until(lambda: os.path.exists(ports_file) and os.path.getsize(ports_file) > 0 or
                   p.poll() is not None, 30, "sanjogd ports file")
        if p.poll() is not None:
            raise RuntimeError(f"sanjogd exited: see {self.work}/{name}.log")
        with open(ports_file) as f:
            ports = json.load(f)
        ready = f"http://127.0.0.1:{ports['admin']}/readyz"
        wait_until(lambda: http_ok(ready), 30, "sanjogd /readyz")
        return p, ports, db, time.monotonic() - t0

    def metrics(self, ports):
        return http_get(f"http://127.0.0.1:{ports['admin']}/metrics")

    def wa_instance(self, api_base="http://127.0.0.1:9"):
        return {"id": "wa", "plugin": "channel_whatsapp",
                "config": {"api_base": api_base, "phone_number_id": "1122334455667",
                           "access_token": "bench-access-token-0123456789",
                           "app_secret": self.secret, "verify_token": "bench-verify-token"}}

    def relay_instances(self, sink_port, fast_recovery=False):
        crm = {"id": "crm", "plugin": "crm_webhook",
               "config": {"url": f"http://127.0.0.1:{sink_port}/events",
                          "secret": self.out_secret, "timeout": "10s"}}
        if fast_recovery:
            crm["retry"] = {"initial": "1s", "multiplier": 2, "max_interval": "2s",
                            "max_age": "24h"}
            crm["circuit_breaker"] = {"open_for": "1s"}
        return [self.wa_instance(), crm]

    RELAY_ROUTES = [{"id": "wa-to-crm", "from": {"instance": "wa", "types": ["message.received"]},
                     "to": [{"instance": "crm"}]}]

    def loadgen(self, url, sink_port, label, **kw):
        cmd = [os.path.join(self.bin, "sanjog_loadgen"), "run", "--url", url,
               "--secret", self.secret, "--sink-port", str(sink_port), "--label", label]
        if self.args.quick and "count" not in kw:
            kw["count"] = 300  # a tiny run: enough to see every part work
        for k, v in kw.items():
            if v is True:
                cmd.append("--" + k.replace("_", "-"))
            elif v is not None and v is not False:
                cmd += ["--" + k.replace("_", "-"), str(v)]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        log(label, {k: r[k] for k in ("sent", "acked", "delivered", "lost", "order_violations",
                                      "relay_per_s", "e2e_p50_ms", "e2e_p99_ms")})
        return r

    # ------------------------------------------------------------ wrk --
    def presign(self, count):
        path = os.path.join(self.work, "requests.tsv")
        subprocess.run([os.path.join(self.bin, "sanjog_loadgen"), "presign", "--secret",
                        self.secret, "--count", str(count), "--conversations", "10000",
                        "--out", path], check=True)
        lua = os.path.join(self.work, "ingest.lua")
        with open(lua, "w") as f:
            f.write(WRK_LUA)
        return path, lua

    def wrk(self, url, reqs, lua, threads=2, conns=64):
        env = {**os.environ, "REQS": reqs, "NTHREADS": str(threads)}
        out = subprocess.run(["wrk", f"-t{threads}", f"-c{conns}", f"-d{self.secs}s", "--latency",
                              "-s", lua, url], check=True, capture_output=True, text=True,
                             env=env).stdout
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

        def pct(p):
            m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
            if not m:
                return 0.0
            v, unit = float(m.group(1)), m.group(2)
            return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v
        statuses = {int(k): int(v) for k, v in re.findall(r"status (\d+): (\d+)", out)}
        return {"rps": rps, "p50_ms": pct(50), "p99_ms": pct(99), "statuses": statuses,
                "wrapped": "wrapped" in out}

    def nginx(self):
        d = os.path.join(self.work, "nginx")
        os.makedirs(d, exist_ok=True)
        port = free_port()
        conf = os.path.join(d, "nginx.conf")
        with open(conf, "w") as f:
            f.write(NGINX_CONF.format(dir=d, port=port))
        p = self.spawn(["nginx", "-c", conf, "-p", d, "-e", os.path.join(d, "error.log")],
                       "nginx.log")
        wait_until(lambda: http_ok(f"http://127.0.0.1:{port}/"), 10, "nginx")
        return p, port

    def poco_hello(self):
        pf = os.path.join(self.work, "hello.port")
        p = self.spawn([os.path.join(self.bin, "sanjog_loadgen"), "hello", "--port-file", pf],
                       "hello.log")
        wait_until(lambda: os.path.exists(pf), 10, "POCO hello server")
        with open(pf) as f:
            port = int(f.read())
        return p, port

    # ------------------------------------------------------- scenarios --
    def ingest(self):
        log("1. ingest: signed WhatsApp webhooks with wrk, against nginx and a bare POCO server")
        reqs, lua = self.presign(max(20000, 30000 * self.secs))
        p, ports, db, _ = self.sanjogd("ingest", [self.wa_instance()])
        s = self.wrk(f"http://127.0.0.1:{ports['public']}/webhooks/wa", reqs, lua)
        m = self.metrics(ports)
        s["accepted"] = metric_sum(m, "sanjog_webhook_requests_total", 'result="accepted"')
        s["events"] = metric_sum(m, "sanjog_events_published_total")
        s["hwm_rss_kb"] = rss_kb(p.pid, "VmHWM:")
        stop(p)
        n, nport = self.nginx()
        ng = self.wrk(f"http://127.0.0.1:{nport}/webhooks/wa", reqs, lua)
        stop(n)
        h, hport = self.poco_hello()
        po = self.wrk(f"http://127.0.0.1:{hport}/webhooks/wa", reqs, lua)
        stop(h)
        self.results["ingest"] = {"sanjogd": s, "nginx": ng, "poco": po,
                                  "body_bytes": avg_body(reqs)}

    def relay(self):
        log("2. relay end to end: webhook in, route, delivery to a fake provider")
        out = {}
        sink = free_port()
        p, ports, _, _ = self.sanjogd("relay-max", self.relay_instances(sink), self.RELAY_ROUTES)
        url = f"http://127.0.0.1:{ports['public']}/webhooks/wa"
        out["max"] = self.loadgen(url, sink, "relay max", duration=self.secs,
                                  connections=self.conns, conversations=10000, pid=p.pid,
                                  drain_timeout=60)
        stop(p)
        top = out["max"]["relay_per_s"]
        for pct in (25, 50, 90):
            sink = free_port()
            p, ports, _, _ = self.sanjogd(f"relay-{pct}", self.relay_instances(sink),
                                          self.RELAY_ROUTES)
            url = f"http://127.0.0.1:{ports['public']}/webhooks/wa"
            out[f"at_{pct}"] = self.loadgen(url, sink, f"relay at {pct}%", rate=int(top * pct / 100),
                                            duration=self.secs, connections=self.conns,
                                            conversations=10000, pid=p.pid, drain_timeout=60)
            stop(p)
        sink = free_port()
        p, ports, _, _ = self.sanjogd("relay-5k", self.relay_instances(sink), self.RELAY_ROUTES)
        url = f"http://127.0.0.1:{ports['public']}/webhooks/wa"
        out["at_5000"] = self.loadgen(url, sink, "relay at 5000/s", rate=5000, duration=self.secs,
                                      connections=self.conns, conversations=10000, pid=p.pid,
                                      drain_timeout=60)
        stop(p)
        self.results["relay"] = out

    def nodered(self):
        log("3. peer: the same relay as a Node-RED flow")
        nr_dir = os.path.join(ROOT, "scripts", "bench", "nodered")
        out = {}
        for name, rate in (("max", 0), ("at_50", None)):
            sink = free_port()
            port = free_port()
            user = os.path.join(self.work, f"nodered-{name}")
            os.makedirs(user, exist_ok=True)
            env = {**os.environ, "SINK_URL": f"http://127.0.0.1:{sink}/events",
                   "APP_SECRET": self.secret, "OUT_SECRET": self.out_secret}
            p = self.spawn(["bash", os.path.join(nr_dir, "start.sh"), user, str(port)],
                           f"nodered-{name}.log", env=env)
            wait_until(lambda: http_ok(f"http://127.0.0.1:{port}/healthz"), 60, "Node-RED")
            if rate is None:
                rate = int(out["max"]["relay_per_s"] * 0.5)
            out[name] = self.loadgen(f"http://127.0.0.1:{port}/webhooks/wa", sink,
                                     f"node-red {name}", rate=rate, duration=self.secs,
                                     connections=self.conns, conversations=10000, pid=p.pid,
                                     drain_timeout=60)
            stop(p)
        # Sanjog at the same rate as Node-RED's 50 % point, for latency side by side.
        sink = free_port()
        p, ports, _, _ = self.sanjogd("relay-nr50", self.relay_instances(sink), self.RELAY_ROUTES)
        out["sanjogd_at_same_rate"] = self.loadgen(
            f"http://127.0.0.1:{ports['public']}/webhooks/wa", sink, "sanjogd at node-red 50%",
            rate=out["at_50"]["rate"], duration=self.secs, connections=self.conns,
            conversations=10000, pid=p.pid, drain_timeout=60)
        stop(p)
        self.results["nodered"] = out

    def footprint(self):
        log("4. footprint: every plugin loaded")
        runs = []
        for i in range(1 if self.args.quick else 5):
            p, ports, _, secs = self.sanjogd(f"footprint-{i}", all_plugin_instances(self.secret))
            # Idle: let the start-up allocations settle.
            time.sleep(1.0)
            runs.append({"ready_s": secs, "rss_kb": rss_kb(p.pid),
                         "anon_kb": rss_kb(p.pid, "RssAnon:"), "file_kb": rss_kb(p.pid, "RssFile:"),
                         "plugins": metric_count(self.metrics(ports), "sanjog_plugin_info")})
            stop(p)
        ready = sorted(r["ready_s"] for r in runs)
        sizes = {}
        strip = shutil.which("strip")
        for path in [os.path.join(self.bin, "sanjogd")] + sorted(
                os.path.join(self.plugins, f) for f in os.listdir(self.plugins)):
            name = os.path.basename(path)
            stripped = os.path.join(self.work, "stripped-" + name)
            if strip:
                subprocess.run([strip, "-o", stripped, path], check=True)
            sizes[name] = {"built": os.path.getsize(path),
                           "stripped": os.path.getsize(stripped) if strip else 0}
        mid = sorted(runs, key=lambda r: r["rss_kb"])[len(runs) // 2]
        self.results["footprint"] = {"runs": runs, "ready_median_s": ready[len(ready) // 2],
                                     "idle_anon_kb": mid["anon_kb"], "idle_file_kb": mid["file_kb"],
                                     "idle_rss_kb": sorted(r["rss_kb"] for r in runs)[len(runs) // 2],
                                     "plugins_loaded": runs[0]["plugins"], "sizes": sizes}

    def backlog(self):
        n = self.backlog_events
        log(f"5. backlog: {n} events queued while the target is down, then drained")
        sink = free_port()
        extra = {"server": {"backpressure": {"max_pending": n * 2}}}
        p, ports, db, _ = self.sanjogd("backlog", self.relay_instances(sink, fast_recovery=True),
                                       self.RELAY_ROUTES, extra=extra)
        r = self.loadgen(f"http://127.0.0.1:{ports['public']}/webhooks/wa", sink, "backlog",
                         count=n, connections=self.conns, conversations=10000, pid=p.pid, db=db,
                         sink_down=True, drain_timeout=3600)
        r["metrics_after"] = {
            "dead_letters": metric_sum(self.metrics(ports), "sanjog_dead_letters_total"),
            "circuit_opened": metric_sum(self.metrics(ports), "sanjog_circuit_transitions_total",
                                         'result="open"')}
        stop(p)
        self.results["backlog"] = r

    def scaling(self):
        log("6. scaling: delivery workers x conversations")
        out = []
        for workers in (1, 2, 4, 16):
            for convs in (1, 100, 10000):
                sink = free_port()
                p, ports, _, _ = self.sanjogd(f"scale-{workers}-{convs}",
                                              self.relay_instances(sink), self.RELAY_ROUTES,
                                              workers=workers)
                r = self.loadgen(f"http://127.0.0.1:{ports['public']}/webhooks/wa", sink,
                                 f"scale workers={workers} conversations={convs}",
                                 duration=self.secs, connections=self.conns, conversations=convs,
                                 # One conversation is delivered one at a time: a 10 s
                                 # flood of it would take minutes to drain.
                                 count=None if convs > 1 or self.args.quick else 3000,
                                 pid=p.pid, drain_timeout=120)
                r["workers"] = workers
                out.append(r)
                stop(p)
        self.results["scaling"] = out


def metric_sum(text, name, label_filter=""):
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and (line[len(name)] in " {") and label_filter in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def metric_count(text, name):
    return sum(1 for line in text.splitlines() if line.startswith(name + "{"))


def avg_body(path):
    n = total = 0
    with open(path) as f:
        for line in f:
            total += len(line.split("\t", 1)[1]) - 1
            n += 1
            if n == 1000:
                break
    return total // max(n, 1)


def all_plugin_instances(secret):
    wh = "whsec_" + "YmVuY2gtYWxsLXBsdWdpbnMtc2VjcmV0"
    meta = {"access_token": "bench-access-token-0123456789", "app_secret": secret,
            "verify_token": "bench-verify-token"}
    return [
        {"id": "wa", "plugin": "channel_whatsapp", "config": {"phone_number_id": "1122334455667", **meta}},
        {"id": "fb", "plugin": "channel_messenger", "config": {"page_id": "1029384756", **meta}},
        {"id": "ig", "plugin": "channel_instagram", "config": {"account_id": "17841400000000", **meta}},
        {"id": "tg", "plugin": "channel_telegram",
         "config": {"bot_token": "123456:bench-telegram-bot-token", "secret_token": "bench-telegram-secret"}},
        {"id": "cw", "plugin": "crm_chatwoot",
         "config": {"account_id": 1, "inbox_id": 1, "api_access_token": "bench-chatwoot-token",
                    "webhook_secret": "bench-chatwoot-webhook-secret"}},
        {"id": "hs", "plugin": "crm_hubspot",
         "config": {"access_token": "pat-na1-bench-token", "client_secret": "bench-hubspot-secret"}},
        {"id": "crm", "plugin": "crm_webhook", "config": {"url": "http://127.0.0.1:9/", "secret": wh}},
        {"id": "shop", "plugin": "ecom_shopify", "config": {"client_secret": "bench-shopify-secret"}},
        {"id": "woo", "plugin": "ecom_woocommerce", "config": {"secret": "bench-woocommerce-secret"}},
        {"id": "sms", "plugin": "sms_http",
         "config": {"profile": "kannel", "public_url": "http://127.0.0.1:8080/webhooks/sms",
                    "secret": "bench-sms-callback-secret"}},
        {"id": "tw", "plugin": "sms_twilio",
         "config": {"account_sid": "AC0123456789abcdef0123456789abcdef",
                    "auth_token": "bench-twilio-auth-token", "from": "+15005550006",
                    "public_url": "http://127.0.0.1:8080/webhooks/tw"}},
    ]


WRK_LUA = r"""
-- Each wrk thread loads its own share of the pre-signed requests, so no
-- request is sent twice (a repeat would be a cheap deduplicated 200).
local nthreads = tonumber(os.getenv("NTHREADS"))
local counter = 0
local threads = {}
function setup(thread)
  thread:set("tid", counter); counter = counter + 1
  threads[#threads + 1] = thread
end
function init(args)
  reqs = {}
  local i = 0
  for line in io.lines(os.getenv("REQS")) do
    if i % nthreads == tid then
      local sig, body = line:match("([^\t]+)\t(.+)")
      reqs[#reqs + 1] = wrk.format("POST", nil, { ["Content-Type"] = "application/json",
        ["X-Hub-Signature-256"] = "sha256=" .. sig }, body)
    end
    i = i + 1
  end
  index = 0
  wrapped = false
end
function request()
  index = index + 1
  if index > #reqs then index = 1; wrapped = true end
  return reqs[index]
end
codes = {}
function response(status) codes[status] = (codes[status] or 0) + 1 end
function done(summary, latency, requests)
  local all = {}
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("codes")) do all[k] = (all[k] or 0) + v end
    if t:get("wrapped") then io.write("wrapped\n") end
  end
  for k, v in pairs(all) do io.write("status ", k, ": ", v, "\n") end
end
"""

NGINX_CONF = """
worker_processes 2;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {dir}/body; proxy_temp_path {dir}/proxy;
  fastcgi_temp_path {dir}/fastcgi; uwsgi_temp_path {dir}/uwsgi; scgi_temp_path {dir}/scgi;
  client_body_buffer_size 16k;
  server {{
    listen 127.0.0.1:{port};
    location / {{ return 200 "ok\\n"; }}
  }}
}}
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--build", default=os.environ.get("SANJOG_BUILD_DIR", "build"))
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--backlog", type=int, default=1_000_000)
    ap.add_argument("--quick", action="store_true", help="a tiny run of every scenario (CI)")
    ap.add_argument("--only", default="ingest,relay,nodered,footprint,backlog,scaling")
    ap.add_argument("--json", help="write the raw results here")
    ap.add_argument("--write-doc", action="store_true",
                    help="replace the benchmark section of docs/performance.md")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args()
    b = Bench(args)
    started = time.time()
    try:
        for name in args.only.split(","):
            t0 = time.monotonic()
            getattr(b, name)()
            b.results.setdefault("timing_s", {})[name] = round(time.monotonic() - t0, 1)
            log(f"{name}: {time.monotonic() - t0:.0f} s")
    finally:
        b.cleanup()
    b.results["meta"] = machine(args, time.time() - started)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(b.results, f, indent=1)
    text = report(b.results)
    if args.write_doc:
        path = os.path.join(ROOT, "docs", "performance.md")
        with open(path) as f:
            doc = f.read()
        if MARK_BEGIN in doc:
            pre, rest = doc.split(MARK_BEGIN, 1)
            post = rest.split(MARK_END, 1)[1]
        else:
            pre, post = doc.rstrip() + "\n\n", "\n"
        with open(path, "w") as f:
            f.write(pre + MARK_BEGIN + "\n" + text + MARK_END + post)
        log("wrote docs/performance.md")
    else:
        print(text)


def machine(args, elapsed):
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    with open("/proc/meminfo") as f:
        mem_kb = int(f.readline().split()[1])
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    return {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "cpu": cpu, "cores": os.cpu_count(), "mem_gib": round(mem_kb / 1048576, 1),
            "kernel": platform.release(), "commit": commit,
            "command": "bash scripts/bench/run.sh" +
                       ("" if args.seconds == 10 else f" --seconds {args.seconds}") +
                       ("" if args.backlog == 1_000_000 else f" --backlog {args.backlog}"),
            "elapsed_s": round(elapsed)}


def report(r):
    from report import render  # scripts/bench/report.py
    return render(r)


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    main()
