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
import shlex
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
NATS_BEGIN = "<!-- bench:nats:begin -->"
NATS_END = "<!-- bench:nats:end -->"


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
        # The NATS scenario runs five set-ups: each gets half the load phase of the others.
        self.nats_secs = 1 if q else max(1, args.seconds // 2)
        self.nats_drain = 5 if q else 30  # seconds to wait for the backlog to be delivered

    # ------------------------------------------------------- processes --
    def spawn(self, cmd, log_name, env=None):
        f = open(os.path.join(self.work, log_name), "w")
        p = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, env=env,
                             start_new_session=True)
        self.procs.append(p)
        return p

    def cleanup(self):
        for p in reversed(self.procs):  # newest first: sanjogd before its NATS servers
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
        if cfg["bus"].get("backend") == "nats" and "workers" not in (extra or {}).get("bus", {}):
            del cfg["bus"]["workers"]  # the NATS default (16), as a user gets it
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

    def wrk(self, url, reqs, lua, threads=2, conns=64, secs=None, targets=None, started=None):
        """targets: "host:port" list; with SPREAD_LUA, thread i sends to targets[i % n].
        started: called once every wrk thread runs (wrk prints "Running" then; its first
        threads start while it prepares the next ones)."""
        env = {**os.environ, "REQS": reqs, "NTHREADS": str(threads),
               "TARGETS": ",".join(targets or [])}
        cmd = ["wrk", f"-t{threads}", f"-c{conns}", f"-d{secs or self.secs}s", "--latency",
               "-s", lua, url]
        if started is None:
            out = subprocess.run(cmd, check=True, capture_output=True, text=True,
                                 env=env).stdout
        else:
            with subprocess.Popen(["stdbuf", "-oL"] + cmd, stdout=subprocess.PIPE, text=True,
                                  env=env) as p:
                lines = []
                for line in p.stdout:
                    lines.append(line)
                    if line.startswith("Running "):
                        started()
                if p.wait() != 0:
                    raise subprocess.CalledProcessError(p.returncode, cmd, "".join(lines))
            out = "".join(lines)
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

        def pct(p):
            m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
            if not m:
                return 0.0
            v, unit = float(m.group(1)), m.group(2)
            return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v
        statuses = {int(k): int(v) for k, v in re.findall(r"status (\d+): (\d+)", out)}
        sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                         out)
        r = {"rps": rps, "p50_ms": pct(50), "p99_ms": pct(99), "statuses": statuses,
             "wrapped": "wrapped" in out}
        per_thread = [int(v) for v in re.findall(r"^thread \d+: (\d+)$", out, re.M)]
        if per_thread:
            r["per_thread"] = per_thread
        if sock:
            r["socket_errors"] = dict(zip(("connect", "read", "write", "timeout"),
                                          map(int, sock.groups())))
        return r

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

    # ------------------------------------------------------------ NATS --
    NATS_PARTITIONS = 16
    NATS_WRK_THREADS = 6  # 6 wrk threads, 60 connections: split evenly over 1, 2 or 3 sanjogd

    def nats_servers(self, name, nodes):
        """Starts nats-server with JetStream on 127.0.0.1: one node from the command line, or a
        cluster of three from config files (as tests/support/nats_cluster.cpp writes them).
        Returns (procs, client urls, monitoring ports) once JetStream is ready everywhere."""
        server = os.environ.get("SANJOG_NATS_SERVER") or (
            "/usr/sbin/nats-server" if os.access("/usr/sbin/nats-server", os.X_OK)
            else shutil.which("nats-server"))
        if not server:
            raise RuntimeError("nats-server not found (Debian package nats-server, installed by "
                               "scripts/setup.sh; or set SANJOG_NATS_SERVER)")
        cluster_ports = [free_port() for _ in range(nodes)] if nodes > 1 else []
        procs, dirs = [], []
        for i in range(nodes):
            d = os.path.join(self.work, f"{name}-n{i + 1}")
            os.makedirs(d, exist_ok=True)
            dirs.append(d)
            if nodes == 1:
                cmd = [server, "-js", "-a", "127.0.0.1", "-p", "-1", "-m", "-1",
                       "-sd", os.path.join(d, "store"), "--ports_file_dir", d]
            else:
                conf = os.path.join(d, "nats.conf")
                with open(conf, "w") as f:
                    f.write(NATS_NODE_CONF.format(
                        name=f"n{i + 1}", dir=d, cluster_port=cluster_ports[i],
                        routes="\n".join(f"    nats-route://127.0.0.1:{port}"
                                         for j, port in enumerate(cluster_ports) if j != i)))
                cmd = [server, "-c", conf]
            procs.append(self.spawn(cmd, f"{name}-n{i + 1}.log"))
            procs[-1].log_path = os.path.join(self.work, f"{name}-n{i + 1}.log")
        urls, monitors = [], []
        for p, d in zip(procs, dirs):
            pf = os.path.join(d, f"nats-server_{p.pid}.ports")

            def ports_ready():
                if p.poll() is not None:
                    raise RuntimeError(f"nats-server exited: see {self.work}/{name}-n*.log")
                try:
                    with open(pf) as f:
                        j = json.load(f)
                    return "nats" in j and "monitoring" in j
                except (OSError, ValueError):
                    return False
            wait_until(ports_ready, 15, "the nats-server ports file")
            with open(pf) as f:
                j = json.load(f)
            urls.append(j["nats"][0])
            monitors.append(int(j["monitoring"][0].rsplit(":", 1)[1]))
            p.monitor_port = monitors[-1]

        def ready():  # JetStream up; for a cluster: routed, one meta leader seeing all as current
            leaders, metas = set(), {}
            for i, port in enumerate(monitors):
                try:
                    jsz = json.loads(http_get(f"http://127.0.0.1:{port}/jsz"))
                    if "config" not in jsz:
                        return False
                    if nodes == 1:
                        continue
                    routes = json.loads(http_get(f"http://127.0.0.1:{port}/routez"))
                    if routes.get("num_routes", 0) != nodes - 1:
                        return False
                except Exception:
                    return False
                mc = jsz.get("meta_cluster", {})
                leaders.add(mc.get("leader", ""))
                metas[f"n{i + 1}"] = mc
            if nodes == 1:
                return True
            if len(leaders) != 1 or not next(iter(leaders)) in metas:
                return False
            leader = next(iter(leaders))
            current = {r.get("name") for r in metas[leader].get("replicas", []) if r.get("current")}
            return all(f"n{i + 1}" in current for i in range(nodes) if f"n{i + 1}" != leader)
        wait_until(ready, 30, "NATS JetStream" + (" cluster" if nodes > 1 else ""))
        return procs, urls, monitors

    def wait_balanced(self, daemons, timeout=30):
        """Waits until the daemons own every partition between them, each its share."""
        n, parts = len(daemons), self.NATS_PARTITIONS
        share = -(-parts // n)

        def owned():
            return [int(metric_sum(self.metrics(ports), "sanjog_bus_partitions"))
                    for _, ports in daemons]

        def balanced():
            o = owned()
            return sum(o) == parts and min(o) > 0 and max(o) <= share
        t0 = time.monotonic()
        try:
            wait_until(balanced, timeout, "the partitions to be shared")
        except RuntimeError:
            log("partitions not balanced in time:", owned())
        return time.monotonic() - t0

    def nats_row(self, key, label, n, bus, sink, reqs, lua, servers=()):
        """n sanjogd on `bus` (the embedded bus when it names no url), the load spread over
        them. Rates count from the moment every wrk thread runs: the 2xx answers and the
        deliveries from the sanjogd's counters, the CPU time of the sanjogd and nats-server
        processes from /proc."""
        secs = self.nats_secs
        daemons = []
        t_begin = time.monotonic()
        for i in range(n):
            b = dict(bus)
            if isinstance(b.get("url"), list):  # each daemon lists a different node first
                b["url"] = ",".join(b["url"][i:] + b["url"][:i])
            p, ports, _, _ = self.sanjogd(f"nats-{key}-{i + 1}", self.relay_instances(sink),
                                          self.RELAY_ROUTES, extra={"bus": b})
            daemons.append((p, ports))
        start_s = time.monotonic() - t_begin
        balance_s = self.wait_balanced(daemons) \
            if b["backend"] == "nats" and not self.args.quick else 0.0
        pids = [p.pid for p, _ in daemons]
        all_pids = pids + [s.pid for s in servers]

        def snapshot():
            per = []
            for _, ports in daemons:
                m = self.metrics(ports)
                per.append({
                    "accepted": metric_sum(m, "sanjog_webhook_requests_total", 'result="accepted"'),
                    "events": metric_sum(m, "sanjog_events_published_total",
                                         'type="message.received"'),
                    "delivered": metric_sum(m, "sanjog_deliveries_total", 'result="success"'),
                    "attempts": metric_sum(m, "sanjog_deliveries_total"),
                    "partitions": metric_sum(m, "sanjog_bus_partitions"),
                    # the store's write (embedded: group commit with fsync; NATS: publish
                    # to the ack, including the wait for the publisher)
                    "commit_s": metric_sum(m, "sanjog_storage_commit_duration_seconds_sum"),
                    "commits": metric_sum(m, "sanjog_storage_commit_duration_seconds_count")})
            return per

        def total(per, field):
            return sum(x[field] for x in per)
        mark = {}

        def varz():  # messages into and out of the NATS servers (clients and routes)
            totals = {"in_msgs": 0, "out_msgs": 0}
            for srv in servers:
                v = json.loads(http_get(f"http://127.0.0.1:{srv.monitor_port}/varz"))
                for k in totals:
                    totals[k] += v.get(k, 0)
            return totals

        def started():
            mark["t"] = time.monotonic()
            mark["cpu"] = {pid: cpu_seconds(pid) for pid in all_pids}
            mark["per"] = snapshot()
            mark["varz"] = varz()
        t_wrk = time.monotonic()
        w = self.wrk(f"http://127.0.0.1:{daemons[0][1]['public']}/webhooks/wa", reqs, lua,
                     threads=self.NATS_WRK_THREADS, conns=10 * self.NATS_WRK_THREADS,
                     secs=secs, targets=[f"127.0.0.1:{ports['public']}" for _, ports in daemons],
                     started=started)
        t_end = time.monotonic()
        end = snapshot()
        if not mark:  # no "Running" line seen: count from wrk's start
            mark = {"t": t_wrk, "cpu": {pid: 0.0 for pid in all_pids},
                    "per": [{k: 0.0 for k in x} for x in end], "varz": {}}
        t_start, first = mark["t"], mark["per"]
        # Drain: every stored event delivered, or no progress for 10 s, or the time limit.
        last, t_last, deadline = -1.0, time.monotonic(), time.monotonic() + self.nats_drain
        while True:
            per = snapshot()
            d, events = total(per, "delivered"), total(per, "events")
            now = time.monotonic()
            if d != last:
                last, t_last = d, now
            if d >= events or now > deadline or now - t_last > 10:
                break
            time.sleep(0.2)
        cpu = {pid: cpu_seconds(pid) - c for pid, c in mark["cpu"].items()}
        msgs = {k: v - mark["varz"].get(k, 0) for k, v in varz().items()}
        t0 = time.monotonic()
        stop_all([p for p, _ in daemons])
        stop_s = time.monotonic() - t0
        load_s = t_end - t_start
        stored = total(end, "events") - total(first, "events")
        r = {
            "label": label, "daemons": n, "bus": {k: v for k, v in b.items() if k != "url"},
            "seconds": secs, "load_s": load_s,
            "acked": total(end, "accepted") - total(first, "accepted"),
            "p50_ms": w["p50_ms"], "p99_ms": w["p99_ms"], "statuses": w["statuses"],
            "socket_errors": w.get("socket_errors", {}), "wrapped": w["wrapped"],
            "wrk_rps": w["rps"], "wrk_per_thread": w.get("per_thread", []),
            "events": events, "delivered": last, "drained": last >= events,
            "delivered_in_load_per_s":
                (total(end, "delivered") - total(first, "delivered")) / load_s,
            "delivered_per_s": (last - total(first, "delivered")) / max(t_last - t_start, 1e-9),
            "drain_s": max(t_last - t_end, 0.0),
            "sanjogd_cpu_s": sum(cpu[pid] for pid in pids),
            "nats_cpu_s": sum(cpu[s.pid] for s in servers),
            "cpu_busy": sum(cpu.values()) / max(t_last - t_start, 1e-9),
            "start_s": start_s, "balance_s": balance_s, "stop_s": stop_s,
            "wrk_wall_s": t_end - t_wrk,
            "per_daemon": per,
            "log_warnings": scan_logs([os.path.join(self.work, f"nats-{key}-{i + 1}.log")
                                       for i in range(n)]),
            "nats_log_warnings": scan_nats_logs([s.log_path for s in servers]),
        }
        r["acked_per_s"] = r["acked"] / load_s
        # Over the events stored from the start of the load (their delivery is in the window).
        r["cpu_ms_per_event"] = (r["sanjogd_cpu_s"] + r["nats_cpu_s"]) * 1000 / max(stored, 1)
        r["sanjogd_cpu_ms_per_event"] = r["sanjogd_cpu_s"] * 1000 / max(stored, 1)
        r["nats_cpu_ms_per_event"] = r["nats_cpu_s"] * 1000 / max(stored, 1)
        r["nats_msgs_per_event"] = {k: v / max(stored, 1) for k, v in msgs.items()} \
            if servers else None
        log(label, {k: (round(r[k], 2) if isinstance(r[k], float) else r[k])
                    for k in ("acked_per_s", "p50_ms", "p99_ms", "delivered_per_s", "drained",
                              "statuses", "cpu_ms_per_event", "cpu_busy", "start_s",
                              "balance_s", "drain_s", "stop_s")})
        if r["log_warnings"]:
            log(label, "warnings in the sanjogd logs:", r["log_warnings"])
        if r["nats_log_warnings"]:
            log(label, "warnings in the nats-server logs:", r["nats_log_warnings"])
        return r

    def nats(self):
        log("7. NATS backend: 1, 2 and 3 sanjogd sharing one NATS JetStream bus, next to the "
            "embedded bus")
        load_avg = os.getloadavg()[0]  # other work on the machine makes every figure lower
        path = os.path.join(self.work, "nats-requests.tsv")
        subprocess.run([os.path.join(self.bin, "sanjog_loadgen"), "presign", "--secret",
                        self.secret, "--count", str(max(20000, 8000 * self.nats_secs)),
                        "--conversations", "10000", "--out", path], check=True)
        lua = os.path.join(self.work, "spread.lua")
        with open(lua, "w") as f:
            f.write(SPREAD_LUA)
        h, sink = self.poco_hello()  # the delivery target: answers 200 to every POST
        rows = []
        rows.append(self.nats_row("embedded", "embedded bus, 1 sanjogd", 1,
                                  {"backend": "embedded"}, sink, path, lua))
        bus = {"backend": "nats", "stream": "SANJOG", "replicas": 1,
               "partitions": self.NATS_PARTITIONS, "ack_wait": "30s"}
        for n in (2,) if self.args.quick else (1, 2, 3):
            # A new server each time: the same pre-signed webhooks would be duplicates.
            procs, urls, _ = self.nats_servers(f"nats-r1-{n}", 1)
            rows.append(self.nats_row(f"r1-{n}", f"NATS, 1 server, {n} sanjogd", n,
                                      {**bus, "url": urls[0]}, sink, path, lua, procs))
            stop_all(procs)
        if not self.args.quick and not self.args.nats_no_cluster:
            procs, urls, _ = self.nats_servers("nats-r3", 3)
            rows.append(self.nats_row("r3-3", "NATS, 3-node cluster (replicas 3), 3 sanjogd", 3,
                                      {**bus, "replicas": 3, "url": urls}, sink, path, lua,
                                      procs))
            stop_all(procs)
        stop(h)
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain"],
                               capture_output=True, text=True).stdout.strip() != ""
        self.results["nats"] = {"rows": rows, "body_bytes": avg_body(path),
                                "nats_server": nats_version(),
                                "partitions": self.NATS_PARTITIONS,
                                "drain_limit_s": self.nats_drain, "dirty": dirty,
                                "load_avg_1m": load_avg,
                                "command": "python3 scripts/bench/run.py " +
                                           shlex.join(sys.argv[1:])}


def cpu_seconds(pid):
    """User + system CPU time of a process so far."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def stop_all(procs, timeout=30):
    """SIGTERM to all at once, then waits for each (a NATS member hands its partitions over)."""
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        stop(p, timeout)


def scan_logs(paths):
    """Warnings and errors in sanjogd's JSON logs, counted by message."""
    counts = {}
    for path in paths:
        try:
            with open(path, errors="replace") as f:
                for line in f:
                    try:
                        j = json.loads(line)
                    except ValueError:
                        key = "(not JSON) " + line.strip()[:120]
                    else:
                        if j.get("level") not in ("warn", "error", "fatal"):
                            continue
                        if j.get("msg", "").startswith("payloads are stored unencrypted"):
                            continue
                        key = f"{j.get('level')}: {j.get('msg')}"
                        if j.get("reason"):
                            key += f" ({str(j['reason'])[:100]})"
                    counts[key] = counts.get(key, 0) + 1
        except OSError:
            pass
    return counts


def scan_nats_logs(paths):
    """[WRN] and [ERR] lines of nats-server logs, counted by message; the routes refused
    while a cluster's nodes start one after the other are left out."""
    counts = {}
    for path in paths:
        try:
            with open(path, errors="replace") as f:
                for line in f:
                    m = re.search(r"\[(WRN|ERR)\] (.*)", line)
                    if not m or re.search(r"Waiting for routing|Error trying to connect to route",
                                          m.group(2)):
                        continue
                    key = f"{m.group(1)}: " + re.sub(r"\d+", "N", m.group(2))[:120]
                    counts[key] = counts.get(key, 0) + 1
        except OSError:
            pass
    return counts


def nats_version():
    server = os.environ.get("SANJOG_NATS_SERVER") or "/usr/sbin/nats-server"
    try:
        return subprocess.run([server, "--version"], capture_output=True, text=True,
                              timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


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

# wrk for the NATS scenario: thread i sends to TARGETS[i % n] ("host:port,...") its own share
# of the pre-signed webhooks. wrk runs setup() and init() of each thread just before starting
# it, so reading the requests there would let the first threads run while the others read:
# the first setup() reads them all (in wrk's main Lua state) and each thread gets its share
# copied, which takes milliseconds.
SPREAD_LUA = r"""
local targets, counter, shares = {}, 0, nil
for t in string.gmatch(os.getenv("TARGETS") or "", "[^,]+") do targets[#targets + 1] = t end
local threads = {}
function setup(thread)
  if not shares then
    local n = tonumber(os.getenv("NTHREADS"))
    shares = {}
    for i = 1, n do shares[i] = {} end
    local i = 0
    for line in io.lines(os.getenv("REQS")) do
      local sig, body = line:match("([^\t]+)\t(.+)")
      local share = shares[i % n + 1]
      share[#share + 1] = wrk.format("POST", nil, { ["Content-Type"] = "application/json",
        ["X-Hub-Signature-256"] = "sha256=" .. sig }, body)
      i = i + 1
    end
  end
  thread:set("reqs", shares[counter + 1])
  shares[counter + 1] = {}
  if #targets > 0 then
    local host, port = targets[counter % #targets + 1]:match("^(.+):(%d+)$")
    thread.addr = wrk.lookup(host, port)[1]
  end
  counter = counter + 1
  threads[#threads + 1] = thread
end
index, wrapped = 0, false
function request()
  index = index + 1
  if index > #reqs then index = 1; wrapped = true end
  return reqs[index]
end
codes = {}
function response(status) codes[status] = (codes[status] or 0) + 1 end
function done(summary, latency, requests)
  local all = {}
  for i, t in ipairs(threads) do
    local n = 0
    for k, v in pairs(t:get("codes")) do all[k] = (all[k] or 0) + v; n = n + v end
    io.write("thread ", i - 1, ": ", n, "\n")
    if t:get("wrapped") then io.write("wrapped\n") end
  end
  for k, v in pairs(all) do io.write("status ", k, ": ", v, "\n") end
end
"""

# One node of a 3-node JetStream cluster (the layout of tests/support/nats_cluster.cpp).
NATS_NODE_CONF = """server_name: {name}
listen: 127.0.0.1:-1
http: 127.0.0.1:-1
ports_file_dir: "{dir}"
jetstream {{
  store_dir: "{dir}/store"
}}
cluster {{
  name: sanjog-bench
  listen: 127.0.0.1:{cluster_port}
  routes: [
{routes}
  ]
}}
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
    ap.add_argument("--only", default="ingest,relay,nodered,footprint,backlog,scaling,nats")
    ap.add_argument("--nats-no-cluster", action="store_true",
                    help="nats scenario: skip the 3-node cluster set-up")
    ap.add_argument("--json", help="write the raw results here")
    ap.add_argument("--write-doc", action="store_true",
                    help="replace the benchmark section of docs/performance.md")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args()
    b = Bench(args)
    started = time.time()
    # A SIGTERM to the runner stops what it started too (Ctrl-C does: KeyboardInterrupt).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
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
    # The NATS scenario has its own section (and markers) after the suite's: a run of
    # --only nats rewrites that one and leaves the other scenarios' figures alone.
    suite = any(k not in ("nats", "timing_s", "meta") for k in b.results)
    text = report(b.results) if suite else ""
    nats_text = render_nats(b.results) if "nats" in b.results else ""
    if args.write_doc:
        path = os.path.join(ROOT, "docs", "performance.md")
        with open(path) as f:
            doc = f.read()
        if text:
            doc = replace_section(doc, MARK_BEGIN, MARK_END, text)
        if nats_text:
            doc = replace_section(doc, NATS_BEGIN, NATS_END, nats_text, after=MARK_END)
        with open(path, "w") as f:
            f.write(doc)
        log("wrote docs/performance.md")
    else:
        print(text + ("\n" if text and nats_text else "") + nats_text, end="")


def replace_section(doc, begin, end, text, after=None):
    """Puts text between the markers; new markers go after the line holding `after` (if
    found), else at the end."""
    if begin in doc:
        pre, rest = doc.split(begin, 1)
        post = rest.split(end, 1)[1]
    elif after and after in doc:
        head, tail = doc.split(after, 1)
        nl = tail.find("\n") + 1
        pre, post = head + after + tail[:nl] + "\n", "\n\n" + tail[nl:].lstrip("\n")
    else:
        pre, post = doc.rstrip() + "\n\n", "\n"
    return pre + begin + "\n" + text + end + post


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


def render_nats(r):
    """The NATS section of docs/performance.md (its own markers, after the suite's)."""
    m, n = r["meta"], r["nats"]
    rows = n["rows"]
    base = next((x for x in rows if x["bus"]["backend"] == "embedded"), None)
    secs = rows[0]["seconds"] if rows else 0

    def f(x, d=0):
        return f"{x:,.{d}f}"

    def ratio(x):
        return f"{x['acked_per_s'] / base['acked_per_s']:.2f}×" if base and base["acked_per_s"] \
            else "—"

    def non2xx(x):
        bad = {k: v for k, v in x["statuses"].items() if not 200 <= int(k) < 300}
        errs = {k: v for k, v in x.get("socket_errors", {}).items() if v}
        out = ", ".join(f"{v:,} × {k}" for k, v in sorted(bad.items())) or "0"
        if errs:
            out += " (socket errors: " + ", ".join(f"{k} {v}" for k, v in errs.items()) + ")"
        return out

    def msgs(x):
        m = x.get("nats_msgs_per_event")
        return f"{m['in_msgs']:.1f} / {m['out_msgs']:.1f}" if m else "—"

    def delivered(x):
        s = f(x["delivered_per_s"])
        if not x["drained"]:
            s += f" (not drained: {f(x['events'] - x['delivered'])} left)"
        return s
    dirty = " plus uncommitted changes" if n.get("dirty") else ""
    out = [
        "## NATS backend",
        "",
        f"`{n['command']}` at commit `{m['commit']}`{dirty}, {m['date']}, on {m['cpu']} "
        f"({m['cores']} cores, {m['mem_gib']} GiB, Linux {m['kernel']}), {n['nats_server']}; "
        f"the scenario took {f(r.get('timing_s', {}).get('nats', 0))} s, and the machine's "
        f"1-minute load average was {n.get('load_avg_1m', 0):.1f} when it started (other "
        "work on the cores lowers every figure; compare rows of one run). It runs with the rest "
        "of the suite (`bash scripts/bench/run.sh`) and alone with `--only nats`, which rewrites "
        "only this section; each set-up loads for half of `--seconds`, and `--quick` (CI) runs "
        "only the embedded bus and 2 sanjogd on one server, for 1 s.",
        "",
        f"**Read this first: this machine has {m['cores']} cores, and the sanjogd processes, "
        "the nats-server(s), the load generator and the delivery target all share them.** A "
        "second or third sanjogd adds no CPU here, so the rows below show what the shared bus "
        "costs, not how far sanjogd scales out; that needs a machine (or machines) with cores "
        "for each sanjogd and each NATS node.",
        "",
        "Each set-up is the relay: signed WhatsApp webhooks into the real `channel_whatsapp` "
        "plugin, routed to a `crm_webhook` target that POSTs to a bare POCO server answering "
        f"200 (`sanjog_loadgen hello`). Load: `wrk -t6 -c60 -d{secs}s`, each request a "
        f"distinct pre-signed webhook (~{f(n['body_bytes'])} bytes, 10,000 conversations); "
        "wrk thread i sends to sanjogd i mod n, so 1, 2 or 3 sanjogd get 60, 30 or 20 "
        "connections each. Each bus has its default delivery workers (embedded 4, NATS 16). "
        "The embedded bus is SQLite with `storage.sync=full` (fsync per "
        "group commit); the NATS rows use `\"partitions\": "
        f"{n['partitions']}, \"ack_wait\": \"30s\"`, a new nats-server for each set-up "
        "(default file store: a publish is acknowledged before it is fsynced, the server syncs "
        "on an interval; with 3 replicas, after a majority of the nodes stored it), and the "
        "load starts once the sanjogd have shared the partitions.",
        "",
        "| Set-up | Webhooks answered 2xx/s | p50 | p99 | vs embedded | Store write, mean "
        "| Delivered/s while loaded | Delivered/s, load start to last delivery | CPU per event, "
        "sanjogd + nats-server | NATS messages per event, in / out | Not 2xx |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for x in rows:
        cpu = f"{x['cpu_ms_per_event']:.2f} ms"
        if x["nats_cpu_s"]:
            cpu += f" ({x['sanjogd_cpu_ms_per_event']:.2f} + {x['nats_cpu_ms_per_event']:.2f})"
        commits = sum(d["commits"] for d in x["per_daemon"])
        write = sum(d["commit_s"] for d in x["per_daemon"]) * 1000 / commits if commits else 0
        out.append(f"| {x['label']} | {f(x['acked_per_s'])} | {x['p50_ms']:.2f} ms | "
                   f"{x['p99_ms']:.2f} ms | {ratio(x)} | {write:.1f} ms | "
                   f"{f(x['delivered_in_load_per_s'])} | {delivered(x)} | {cpu} | {msgs(x)} | "
                   f"{non2xx(x)} |")
    out += [
        "",
        "p50 and p99 are wrk's, from request sent to the 2xx (the event is stored before the "
        "answer). Store write is `sanjog_storage_commit_duration_seconds` (sum over count): on "
        "the embedded bus one fsynced group commit, on NATS one publish of a webhook's events "
        "until JetStream acknowledged it, waiting for the sanjogd's publisher included. "
        "Delivered/s counts `sanjog_deliveries_total{result=\"success\"}` of every sanjogd; "
        f"after the load the run waits up to {n['drain_limit_s']} s for the backlog. CPU per "
        "event is the user + system time of the sanjogd and nats-server processes from the "
        "start of the load to the end of the drain, over the events stored in that time; "
        "NATS messages are the `in_msgs` and `out_msgs` of the servers' `/varz` over the same "
        "time (on the cluster, summed over the nodes: replication between them included).",
        "",
    ]
    if any(not x["drained"] for x in rows):
        out += ["“Not drained”: that many stored events still had no successful delivery when the "
                "run stopped waiting (at the limit, or after 10 s without progress).", ""]
    lines = []
    for x in rows:
        parts = ", ".join(f"{f(d['accepted'])} in / {f(d['delivered'])} out / "
                          f"{d['partitions']:.0f} partitions" for d in x["per_daemon"])
        lines.append(f"- {x['label']}: {parts}.")
    out += ["Per sanjogd (webhooks accepted / deliveries made / partitions owned at the end):",
            ""] + lines + [""]
    for what, field in (("sanjogd", "log_warnings"), ("nats-server", "nats_log_warnings")):
        warn = [(x["label"], x.get(field)) for x in rows if x.get(field)]
        if warn:
            out += [f"Warnings and errors in the {what} logs:", ""]
            for label, w in warn:
                out.append(f"- {label}: " + "; ".join(f"{k} × {v}" for k, v in w.items()) + ".")
            out.append("")
        else:
            out += [f"No warning or error in any {what} log"
                    + (" (besides the routes refused while the cluster's nodes start)"
                       if what == "nats-server" else "") + ".", ""]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    main()
