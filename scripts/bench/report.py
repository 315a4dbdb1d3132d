"""Renders the results of scripts/bench/run.py as the Markdown section of
docs/performance.md. Every figure that has a baseline is shown as a ratio to
it: the machines are noisy, a ratio taken in the same run is not."""


def _n(x, digits=0):
    if x is None:
        return "—"
    return f"{x:,.{digits}f}"


def _ms(x):
    return "—" if x is None else f"{x:.2f} ms"


def _mib(kb):
    return f"{kb / 1024:.1f} MiB"


def _ratio(a, b):
    return f"{a / b:.2f}×" if b else "—"


def _target(ok):
    return "**met**" if ok else "**not met**"


def render(r):
    m = r["meta"]
    out = [
        "## Benchmark suite",
        "",
        f"`{m['command']}` at commit `{m['commit']}`, {m['date']}, on {m['cpu']} "
        f"({m['cores']} cores, {m['mem_gib']} GiB, Linux {m['kernel']}); the whole run took "
        f"{m['elapsed_s'] // 60} min {m['elapsed_s'] % 60} s. Load generator and server share "
        "the cores. Every ratio is against a baseline measured in the same run.",
        "",
    ]
    targets = []
    if "ingest" in r:
        i = r["ingest"]
        s, ng, po = i["sanjogd"], i["nginx"], i["poco"]
        out += [
            "### 1. Ingest",
            "",
            f"`wrk -t2 -c64` with a Lua script, each request a distinct signed WhatsApp webhook "
            f"(~{i['body_bytes']:,} bytes, Bengali text, valid `X-Hub-Signature-256`). sanjogd runs "
            "the real `channel_whatsapp` plugin with the embedded bus at `storage.sync=full`: "
            "the 200 comes after the HMAC check, parsing, normalization and the fsynced group "
            "commit.",
            "",
            "| Server | Requests/s | p50 | p99 | vs nginx |",
            "|---|---|---|---|---|",
            f"| sanjogd, verified and durable | {_n(s['rps'])} | {_ms(s['p50_ms'])} | "
            f"{_ms(s['p99_ms'])} | {_ratio(s['rps'], ng['rps'])} |",
            f"| bare POCO HTTP server (`200 ok`) | {_n(po['rps'])} | {_ms(po['p50_ms'])} | "
            f"{_ms(po['p99_ms'])} | {_ratio(po['rps'], ng['rps'])} |",
            f"| nginx `return 200` | {_n(ng['rps'])} | {_ms(ng['p50_ms'])} | {_ms(ng['p99_ms'])} | "
            "1.00× |",
            "",
            f"sanjogd answered {_n(s['accepted'])} webhooks 2xx and stored {_n(s['events'])} events "
            f"(statuses seen by wrk: {s['statuses']}); peak RSS {_mib(s['hwm_rss_kb'])}.",
            "",
        ]
        targets.append(("durable, verified ingest ≥ 50 % of nginx `return 200`",
                        f"{s['rps'] / ng['rps'] * 100:.0f} %", s["rps"] >= 0.5 * ng["rps"]))
    if "relay" in r:
        rl = r["relay"]
        rows = [("maximum (closed loop, 32 connections)", rl["max"])]
        rows += [(f"{p} % of the maximum ({_n(rl[f'at_{p}']['rate'])}/s offered)", rl[f"at_{p}"])
                 for p in (25, 50, 90)]
        rows.append(("5,000/s offered", rl["at_5000"]))
        out += [
            "### 2. Relay end to end",
            "",
            "Signed WhatsApp webhook in → route → `crm_webhook` delivery (a signed CloudEvent "
            "POST) to a fake provider on loopback, 10,000 conversations. Latency is from the "
            "moment the webhook was due to be sent (open loop: no coordinated omission) to the "
            "provider receiving the delivery, so it includes ingest.",
            "",
            "| Load | Events delivered/s | Webhook p50 / p99 | End to end p50 | End to end p99 "
            "| Lost | Order violations |",
            "|---|---|---|---|---|---|---|",
        ]
        for name, x in rows:
            out.append(f"| {name} | {_n(x['relay_per_s'])} | {_ms(x['ingest_p50_ms'])} / "
                       f"{_ms(x['ingest_p99_ms'])} | {_ms(x['e2e_p50_ms'])} | "
                       f"{_ms(x['e2e_p99_ms'])} | {x['lost']} | {x['order_violations']} |")
        out.append("")
        targets.append(("relay ≥ 10,000 events/s", _n(rl["max"]["relay_per_s"]) + "/s",
                        rl["max"]["relay_per_s"] >= 10000))
        targets.append(("relay p99 ≤ 10 ms at 5,000 events/s", _ms(rl["at_5000"]["e2e_p99_ms"]),
                        rl["at_5000"]["e2e_p99_ms"] <= 10))
    if "nodered" in r:
        nr = r["nodered"]
        s_max = r.get("relay", {}).get("max")
        out += [
            "### 3. Peer: the same relay in Node-RED",
            "",
            "The flow in `scripts/bench/nodered/` (Node-RED 4 from the npm registry, Node.js "
            "20): HTTP in with the raw body, HMAC check, the same CloudEvent mapping, dedup and "
            "event kept in the file-backed context store, signed HTTP POST to the same fake "
            "provider. Same load generator, same machine, same run.",
            "",
            "| | Events delivered/s | End to end p50 | End to end p99 | Peak RSS | Lost |",
            "|---|---|---|---|---|---|",
        ]
        if s_max:
            out.append(f"| sanjogd, maximum | {_n(s_max['relay_per_s'])} | "
                       f"{_ms(s_max['e2e_p50_ms'])} | {_ms(s_max['e2e_p99_ms'])} | "
                       f"{_mib(s_max['hwm_rss_kb'])} | {s_max['lost']} |")
        for name, x in (("Node-RED, maximum", nr["max"]),
                        (f"Node-RED at {_n(nr['at_50']['rate'])}/s", nr["at_50"]),
                        (f"sanjogd at {_n(nr['at_50']['rate'])}/s", nr["sanjogd_at_same_rate"])):
            out.append(f"| {name} | {_n(x['relay_per_s'])} | {_ms(x['e2e_p50_ms'])} | "
                       f"{_ms(x['e2e_p99_ms'])} | {_mib(x['hwm_rss_kb'])} | {x['lost']} |")
        out.append("")
        if s_max:
            tr = s_max["relay_per_s"] / max(nr["max"]["relay_per_s"], 1)
            mr = s_max["hwm_rss_kb"] / max(nr["max"]["hwm_rss_kb"], 1)
            out += [f"Throughput ratio sanjogd / Node-RED: **{tr:.1f}×**; memory at peak "
                    f"sanjogd / Node-RED: **{mr:.2f}**.", ""]
            targets.append(("≥ 10× Node-RED's relay throughput", f"{tr:.1f}×", tr >= 10))
            targets.append(("at ≤ 1/5 of its memory", f"{mr:.2f}", mr <= 0.2))
    if "footprint" in r:
        f = r["footprint"]
        out += [
            "### 4. Footprint",
            "",
            f"sanjogd with one instance of each of the {f['plugins_loaded']} plugins, "
            "RelWithDebInfo build; start-up is from `exec` to `/readyz` answering 200 (median of "
            f"{len(f['runs'])} starts, each on a new database); idle RSS one second later.",
            "",
            "| What | Value |",
            "|---|---|",
            f"| start-up to ready | {f['ready_median_s'] * 1000:.0f} ms |",
            f"| idle RSS, every plugin loaded | {_mib(f['idle_rss_kb'])}: "
            f"{_mib(f.get('idle_anon_kb', 0))} private (heap, stacks), "
            f"{_mib(f.get('idle_file_kb', 0))} mapped library code shared with other processes |",
        ]
        if "relay" in r:
            out.append(f"| RSS at peak relay load | {_mib(r['relay']['max']['hwm_rss_kb'])} |")
        for name, sz in f["sizes"].items():
            out.append(f"| `{name}` | {sz['built'] / 1048576:.1f} MiB as built, "
                       f"{sz['stripped'] / 1024:,.0f} KiB stripped |")
        out.append("")
        targets.append(("idle RSS ≤ 20 MB", _mib(f["idle_rss_kb"]), f["idle_rss_kb"] <= 20000))
        targets.append(("start-up to ready ≤ 200 ms", f"{f['ready_median_s'] * 1000:.0f} ms",
                        f["ready_median_s"] <= 0.2))
    if "backlog" in r:
        b = r["backlog"]
        curve = ", ".join(f"{_n(n)}: {_mib(kb)}" for n, kb in b["rss_curve_kb"])
        out += [
            "### 5. Backlog",
            "",
            f"{_n(b['acked'])} webhooks accepted while the provider refused connections (circuit "
            "open, retries every 1-2 s), then the provider came back.",
            "",
            "| What | Value |",
            "|---|---|",
            f"| ingest rate while the target was down | {_n(b['ingest_per_s'])}/s |",
            f"| disk per queued event (database + WAL) | {b['db_bytes'] / max(b['acked'], 1):,.0f} "
            "bytes |",
            f"| RSS after queueing them all | {_mib(b['rss_after_fill_kb'])} |",
            f"| peak RSS, fill and drain | {_mib(b['peak_rss_kb'])} |",
            f"| drain once the target was back | {_n(b['drain_per_s'])} events/s "
            f"({b['drain_seconds']:.1f} s) |",
            f"| delivered / lost / duplicates / order violations | {_n(b['delivered'])} / "
            f"{b['lost']} / {b['duplicates']} / {b['order_violations']} |",
            "",
            f"RSS against events accepted: {curve}.",
            "",
        ]
        first = b["rss_curve_kb"][len(b["rss_curve_kb"]) // 4][1] if b["rss_curve_kb"] else 0
        targets.append(("backlog memory independent of backlog size",
                        f"{_mib(first)} at a quarter, {_mib(b['rss_after_fill_kb'])} full",
                        b["rss_after_fill_kb"] <= first * 1.5 + 10240))
    if "scaling" in r:
        sc = r["scaling"]
        convs = sorted({x["conversations"] for x in sc})
        out += [
            "### 6. Scaling",
            "",
            "Relay events delivered/s (closed loop, 32 connections) by delivery workers "
            "(`bus.workers`) and by number of conversations (deliveries within a conversation go "
            "one at a time, in order).",
            "",
            "| Workers | " + " | ".join(f"{_n(c)} conversation{'s' if c > 1 else ''}"
                                       for c in convs) + " |",
            "|---|" + "---|" * len(convs),
        ]
        for w in sorted({x["workers"] for x in sc}):
            cells = [next(x for x in sc if x["workers"] == w and x["conversations"] == c)
                     for c in convs]
            out.append(f"| {w} | " + " | ".join(_n(x["relay_per_s"]) for x in cells) + " |")
        out.append("")
    if targets:
        out += ["### Targets", "", "| Target | Measured | |", "|---|---|---|"]
        out += [f"| {t} | {v} | {_target(ok)} |" for t, v, ok in targets]
        out.append("")
    return "\n".join(out) + "\n"
