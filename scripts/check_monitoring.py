#!/usr/bin/env python3
"""Checks the monitoring kit against docs/metrics.md and the code (stdlib only).

  - deploy/grafana/sanjog-dashboard.json: valid JSON, uid/title/panels, every
    panel a unique id, a gridPos inside the 24-column grid without overlaps,
    a title and a description; every query target an expr and a unique refId;
    every template variable a query uses ($var, ${var}, [[var]]) is defined;
  - every PromQL expression of the dashboard (panel targets and template
    variable queries) and of deploy/prometheus/sanjog.rules.yml: each metric
    name it selects is `up` (the scrape's own series) or a family documented
    in docs/metrics.md (a table row "| `name` |"); `_bucket`, `_sum` and
    `_count` map to their family only when it is a documented histogram; and
    the family name appears as a string literal ("name") in gateway/ or
    plugins/, so docs and code agree;
  - labels: every label in a matcher ({label="..."}) and every label of a
    `by (...)`/`without (...)` grouping must be documented for the metrics it
    applies to, or be a label the scrape adds (job, node, instance) or `le`
    on a histogram's `_bucket`; labels of on(...)/ignoring(...)/group_*(...)
    must be one of those for some metric of the expression;
  - deploy/prometheus/sanjog.rules.test.yml: every series it feeds is a
    documented metric, and every alert of the rules file has a test case in
    which it fires and one in which it stays quiet;
  - every alert's runbook_url ends in docs/operations.md#<alert in lower
    case>, and docs/operations.md has the heading `### <Alert>`.

Options:
  --self-test          check that the check bites: a fake dashboard with an
                       unknown metric, an undocumented label, a histogram
                       suffix on a counter, ... must fail; a clean one pass;
                       and the PromQL tokenizer on tricky expressions.
  --metrics-file FILE  a /metrics scrape (Prometheus text format): report the
                       families in it that docs/metrics.md does not list, and
                       documented families it lacks (report only, no failure).
  --root DIR           repository root (default: the parent of scripts/).

Prints one "ok: ..." line per check and "FAILED: ..." lines; exits 1 on failure.
"""

import argparse
import json
import os
import re
import sys
import tempfile

DASHBOARD = "deploy/grafana/sanjog-dashboard.json"
RULES = "deploy/prometheus/sanjog.rules.yml"
RULE_TESTS = "deploy/prometheus/sanjog.rules.test.yml"
METRICS_DOC = "docs/metrics.md"
CODE_DIRS = ("gateway", "plugins")
CODE_EXTS = (".cpp", ".cc", ".cxx", ".h", ".hpp", ".hh", ".ipp", ".inc")

# Series Prometheus makes itself for every scrape target.
SCRAPE_METRICS = {"up"}
# Labels Prometheus attaches at scrape time (prometheus.yml: job, the `node`
# relabel, and `instance` for series that have no own instance label).
SCRAPE_LABELS = {"job", "node", "instance"}
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")

AGGREGATIONS = {
    "sum", "avg", "min", "max", "count", "group", "stddev", "stdvar", "topk", "bottomk",
    "quantile", "count_values", "limitk", "limit_ratio",
}
FUNCTIONS = {
    "abs", "absent", "absent_over_time", "acos", "acosh", "asin", "asinh", "atan", "atanh",
    "avg_over_time", "ceil", "changes", "clamp", "clamp_max", "clamp_min", "cos", "cosh",
    "count_over_time", "days_in_month", "day_of_month", "day_of_week", "day_of_year", "deg",
    "delta", "deriv", "exp", "floor", "histogram_avg", "histogram_count", "histogram_fraction",
    "histogram_quantile", "histogram_stddev", "histogram_stdvar", "histogram_sum",
    "holt_winters", "double_exponential_smoothing", "hour", "idelta", "increase", "irate",
    "label_join", "label_replace", "last_over_time", "ln", "log10", "log2", "mad_over_time",
    "max_over_time", "min_over_time", "minute", "month", "pi", "predict_linear",
    "present_over_time", "quantile_over_time", "rad", "rate", "resets", "round", "scalar",
    "sgn", "sin", "sinh", "sort", "sort_desc", "sort_by_label", "sort_by_label_desc", "sqrt",
    "stddev_over_time", "stdvar_over_time", "sum_over_time", "tan", "tanh", "time",
    "timestamp", "vector", "year",
}
# Grafana's template queries wrapping PromQL (label_values(expr, label), ...).
GRAFANA_QUERY_FUNCS = {"label_values", "label_names", "metrics", "query_result"}
BINARY_KEYWORDS = {"and", "or", "unless", "atan2"}
GROUPING_KEYWORDS = {"by", "without"}
MATCHING_KEYWORDS = {"on", "ignoring", "group_left", "group_right"}
OTHER_KEYWORDS = {"bool", "offset", "inf", "nan"}
GRAFANA_BUILTINS = {
    "__rate_interval", "__interval", "__interval_ms", "__range", "__range_s", "__range_ms",
    "__from", "__to", "__dashboard", "__org", "__user", "__name", "__all", "timeFilter",
    "__timeFilter", "__auto_interval",
}

TOKEN_RE = re.compile(r"""
    (?P<ws>\s+|\#[^\n]*)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
  | (?P<duration>(?:\d+(?:ms|[smhdwy]))+(?![\w.]))
  | (?P<number>0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<ident>[A-Za-z_:][A-Za-z0-9_:]*)
  | (?P<op>=~|!~|!=|==|>=|<=|[-+*/%^<>=,(){}\[\]@:])
""", re.X)

TEMPLATE_VAR_RE = re.compile(r"\$\{(\w+)(?::[^}]*)?\}|\[\[(\w+)(?::[^\]]*)?\]\]|\$(\w+)")


class CheckError(Exception):
    pass


# ----------------------------------------------------------------- PromQL --

def template_vars(expr):
    """Names of the Grafana template variables an expression uses."""
    return {a or b or c for a, b, c in TEMPLATE_VAR_RE.findall(expr)}


def replace_template_vars(expr):
    """Grafana variables become a duration (valid in [...] and harmless in strings)."""
    return TEMPLATE_VAR_RE.sub("5m", expr)


def tokenize(expr):
    tokens, pos = [], 0
    while pos < len(expr):
        m = TOKEN_RE.match(expr, pos)
        if not m:
            raise CheckError(f"cannot tokenize at {expr[pos:pos + 20]!r}")
        pos = m.end()
        kind = m.lastgroup
        if kind != "ws":
            tokens.append((kind, m.group(kind)))
    return tokens


def _close(tokens, i):
    """Index of the bracket that closes tokens[i]."""
    pairs = {"(": ")", "{": "}", "[": "]"}
    opening, depth = tokens[i][1], 0
    for j in range(i, len(tokens)):
        if tokens[j] == ("op", opening):
            depth += 1
        elif tokens[j] == ("op", pairs[opening]):
            depth -= 1
            if depth == 0:
                return j
    raise CheckError(f"unbalanced {opening!r}")


def _label_list(tokens, i):
    """tokens[i] is '(' of a label list: returns (labels, index of ')')."""
    j = _close(tokens, i)
    labels = [v for k, v in tokens[i + 1:j] if k in ("ident", "string")]
    labels = [v.strip("\"'`") for v in labels]
    return labels, j


def _matchers(tokens, i):
    """tokens[i] is '{': returns ([(label, op, value)], index of '}')."""
    j = _close(tokens, i)
    out, body = [], tokens[i + 1:j]
    k = 0
    while k < len(body):
        if body[k][0] in ("ident", "string") and k + 2 < len(body) and body[k + 1][0] == "op" \
                and body[k + 1][1] in ("=", "!=", "=~", "!~") and body[k + 2][0] == "string":
            out.append((body[k][1].strip("\"'`"), body[k + 1][1], body[k + 2][1][1:-1]))
            k += 3
        elif body[k][0] == "string":  # {"metric.name"} (UTF-8 name form)
            out.append(("__name__", "=", body[k][1][1:-1]))
            k += 1
        elif body[k] == ("op", ","):
            k += 1
        else:
            raise CheckError(f"cannot read label matcher near {body[k][1]!r}")
    return out, j


def analyze(expr):
    """Parses the PromQL parts that matter here.

    Returns (selectors, groupings, matchings): selectors are
    (token index, metric name, [(label, op, value)]); groupings are
    (keyword, [labels], first token, last token) of the aggregation's argument;
    matchings are (keyword, [labels]) of vector matching clauses."""
    tokens = tokenize(replace_template_vars(expr))
    selectors, groupings, matchings = [], [], []
    i = 0
    n = len(tokens)
    while i < n:
        kind, val = tokens[i]
        nxt = tokens[i + 1] if i + 1 < n else ("", "")
        if kind != "ident" and tokens[i] != ("op", "{"):
            i += 1
            continue
        if tokens[i] == ("op", "{"):  # {__name__="x", ...} without a name in front
            ms, j = _matchers(tokens, i)
            names = [v for lab, op, v in ms if lab == "__name__" and op == "="]
            selectors.append((i, names[0] if names else "", ms))
            i = j + 1
            continue
        low = val.lower()
        if low in GROUPING_KEYWORDS and nxt == ("op", "("):
            labels, j = _label_list(tokens, i + 1)
            groupings.append((low, labels, i))  # scope resolved below
            i = j + 1
            continue
        if low in MATCHING_KEYWORDS:
            if nxt == ("op", "("):
                labels, j = _label_list(tokens, i + 1)
                matchings.append((low, labels))
                i = j + 1
            else:
                i += 1
            continue
        if low in BINARY_KEYWORDS or low in OTHER_KEYWORDS:
            i += 1
            continue
        if nxt == ("op", "("):
            if val not in AGGREGATIONS and val not in FUNCTIONS and val not in GRAFANA_QUERY_FUNCS:
                raise CheckError(f"unknown PromQL function {val!r}")
            i += 1
            continue
        if val in AGGREGATIONS and nxt[0] == "ident" and nxt[1].lower() in GROUPING_KEYWORDS:
            i += 1
            continue
        # A metric name, with or without matchers.
        ms = []
        j = i
        if nxt == ("op", "{"):
            ms, j = _matchers(tokens, i + 1)
        selectors.append((i, val, ms))
        i = j + 1

    # The scope of each by/without: the argument of its aggregation, either
    # `agg by (l) (arg)` or `agg (arg) by (l)`.
    scoped = []
    for kw, labels, at in groupings:
        if at > 0 and tokens[at - 1][0] == "ident" and tokens[at - 1][1] in AGGREGATIONS:
            # agg by (l) (arg): skip the label list, the argument follows.
            lst_end = _close(tokens, at + 1)
            if lst_end + 1 >= n or tokens[lst_end + 1] != ("op", "("):
                raise CheckError(f"`{kw}` without an aggregation argument")
            start, end = lst_end + 1, _close(tokens, lst_end + 1)
        elif at > 0 and tokens[at - 1] == ("op", ")"):
            # agg (arg) by (l): find the '(' matching the ')' before `by`.
            depth, k = 0, at - 1
            while k >= 0:
                if tokens[k] == ("op", ")"):
                    depth += 1
                elif tokens[k] == ("op", "("):
                    depth -= 1
                    if depth == 0:
                        break
                k -= 1
            if k <= 0 or tokens[k - 1][1] not in AGGREGATIONS:
                raise CheckError(f"`{kw}` does not follow an aggregation")
            start, end = k, at - 1
        else:
            raise CheckError(f"`{kw}` does not follow an aggregation")
        scoped.append((kw, labels, start, end))
    return selectors, scoped, matchings


# --------------------------------------------------------------- the docs --

def load_docs(root):
    """{family: (type, set of labels)} from the tables of docs/metrics.md."""
    path = os.path.join(root, METRICS_DOC)
    fams = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            m = re.match(r"\|\s*`([a-zA-Z_:][a-zA-Z0-9_:]*)`\s*\|([^|]*)\|([^|]*)\|", line)
            if not m:
                continue
            name, typ, labels = m.group(1), m.group(2).strip(), m.group(3)
            fams[name] = (typ, set(re.findall(r"`([a-zA-Z_][a-zA-Z0-9_]*)`", labels)))
    if not fams:
        raise CheckError(f"no metric table rows found in {METRICS_DOC}")
    return fams


def load_code_strings(root):
    """Every "sanjog_..." string literal in gateway/ and plugins/."""
    found = set()
    for d in CODE_DIRS:
        for dirpath, _, files in os.walk(os.path.join(root, d)):
            for fn in files:
                if fn.endswith(CODE_EXTS):
                    with open(os.path.join(dirpath, fn), encoding="utf-8", errors="replace") as f:
                        found.update(re.findall(r'"([a-zA-Z_:][a-zA-Z0-9_:]*)"', f.read()))
    return found


class Checker:
    def __init__(self, docs, code):
        self.docs = docs
        self.code = code
        self.errors = []
        self.families = set()   # families a query uses
        self.exprs = 0

    def family(self, name):
        """(family, is_bucket) or (None, False) when the name is unknown."""
        if name in SCRAPE_METRICS or name in self.docs:
            return name, False
        for suf in HISTOGRAM_SUFFIXES:
            base = name[: -len(suf)]
            if name.endswith(suf) and base in self.docs and self.docs[base][0] == "histogram":
                return base, suf == "_bucket"
        return None, False

    def labels_of(self, name):
        fam, bucket = self.family(name)
        if fam is None:
            return None
        labels = set(SCRAPE_LABELS) | {"__name__"}
        if fam in self.docs:
            labels |= self.docs[fam][1]
        if bucket:
            labels.add("le")
        return labels

    def check_expr(self, expr, where):
        """Checks one PromQL expression; `where` names it in messages."""
        self.exprs += 1
        try:
            selectors, groupings, matchings = analyze(expr)
        except CheckError as e:
            self.errors.append(f"{where}: cannot parse the query: {e}\n    {expr}")
            return
        known = []
        for _, name, ms in selectors:
            if not name:
                self.errors.append(f"{where}: a selector without a metric name: {expr!r}")
                continue
            fam, _ = self.family(name)
            if fam is None:
                hint = ""
                for suf in HISTOGRAM_SUFFIXES:
                    if name.endswith(suf) and name[: -len(suf)] in self.docs:
                        hint = f" ({name[: -len(suf)]} is a {self.docs[name[: -len(suf)]][0]}, not a histogram)"
                self.errors.append(f"metric {name} in {where} is not documented in {METRICS_DOC}{hint}")
                continue
            self.families.add(fam)
            if fam not in SCRAPE_METRICS and fam not in self.code:
                self.errors.append(f"metric {fam} in {where} is documented but no string \"{fam}\" "
                                   f"exists in {' or '.join(d + '/' for d in CODE_DIRS)}")
            allowed = self.labels_of(name)
            known.append(name)
            for lab, _, _ in ms:
                if lab not in allowed:
                    self.errors.append(f"label {lab} of {name} in {where} is not a documented label "
                                       f"of {fam} ({', '.join(sorted(allowed - {'__name__'}))})")
        names_at = {i: name for i, name, _ in selectors}
        for kw, labels, start, end in groupings:
            inside = [names_at[i] for i in names_at if start < i < end and self.family(names_at[i])[0]]
            for lab in labels:
                for name in inside:
                    if lab not in self.labels_of(name):
                        self.errors.append(f"label {lab} in `{kw} (...)` in {where} is not a documented "
                                           f"label of {name}")
        for kw, labels in matchings:
            for lab in labels:
                if not any(lab in self.labels_of(name) for name in known):
                    self.errors.append(f"label {lab} in `{kw} (...)` in {where} is not a label of any "
                                       f"metric of the expression")


# -------------------------------------------------------------- dashboard --

def all_panels(panels):
    for p in panels:
        yield p
        yield from all_panels(p.get("panels") or [])


def check_dashboard(dash, checker, name=DASHBOARD):
    errs = checker.errors
    if not isinstance(dash, dict):
        errs.append(f"{name}: the top level is not a JSON object")
        return 0, 0
    for key in ("uid", "title"):
        if not isinstance(dash.get(key), str) or not dash.get(key):
            errs.append(f"{name}: no `{key}`")
    if not isinstance(dash.get("panels"), list) or not dash["panels"]:
        errs.append(f"{name}: no `panels`")
        return 0, 0
    variables = {v.get("name") for v in (dash.get("templating") or {}).get("list", [])}
    has_ds_input = any(i.get("name") == "DS_PROMETHEUS" for i in dash.get("__inputs", []))
    ids, boxes, n_panels, n_targets = {}, [], 0, 0

    def uses_vars(text, where):
        for v in template_vars(text):
            if v not in variables and v not in GRAFANA_BUILTINS and not (v == "DS_PROMETHEUS" and has_ds_input):
                errs.append(f"{where} uses ${v}, which is not a template variable of the dashboard")

    for p in all_panels(dash["panels"]):
        title = p.get("title") or "(no title)"
        where = f"panel '{title}'"
        pid = p.get("id")
        if not isinstance(pid, int):
            errs.append(f"{where}: no integer `id`")
        elif pid in ids:
            errs.append(f"{where}: id {pid} is also the id of panel '{ids[pid]}'")
        else:
            ids[pid] = title
        gp = p.get("gridPos")
        if not isinstance(gp, dict) or not all(isinstance(gp.get(k), int) for k in "hwxy"):
            errs.append(f"{where}: no gridPos with integer h, w, x, y")
        elif gp["x"] < 0 or gp["y"] < 0 or gp["w"] < 1 or gp["h"] < 1 or gp["x"] + gp["w"] > 24:
            errs.append(f"{where}: gridPos {gp} is outside the 24-column grid")
        else:
            for other, ob in boxes:
                if gp["x"] < ob["x"] + ob["w"] and ob["x"] < gp["x"] + gp["w"] and \
                        gp["y"] < ob["y"] + ob["h"] and ob["y"] < gp["y"] + gp["h"]:
                    errs.append(f"{where} overlaps panel '{other}'")
            boxes.append((title, gp))
        if p.get("type") == "row":
            continue
        n_panels += 1
        if not p.get("title"):
            errs.append(f"panel id {pid}: no title")
        if not p.get("description"):
            errs.append(f"{where}: no description")
        ds = json.dumps(p.get("datasource", ""))
        uses_vars(ds, where)
        targets = p.get("targets")
        if not isinstance(targets, list) or not targets:
            errs.append(f"{where}: no targets")
            continue
        refids = set()
        for t in targets:
            ref = t.get("refId")
            if not ref or ref in refids:
                errs.append(f"{where}: target refId {ref!r} missing or repeated")
            refids.add(ref)
            expr = t.get("expr")
            if not isinstance(expr, str) or not expr.strip():
                errs.append(f"{where}: target {ref} has no expr")
                continue
            n_targets += 1
            uses_vars(expr, f"{where} (target {ref})")
            checker.check_expr(expr, f"{where} (target {ref})")
    for v in (dash.get("templating") or {}).get("list", []):
        if v.get("type") != "query":
            continue
        q = v.get("query")
        q = q.get("query") if isinstance(q, dict) else q
        if not isinstance(q, str) or not q.strip():
            errs.append(f"template variable {v.get('name')}: no query")
            continue
        where = f"template variable '{v.get('name')}'"
        uses_vars(q, where)
        m = re.fullmatch(r"\s*label_values\((.*),\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)\s*", q, re.S)
        if m:
            inner, label = m.group(1), m.group(2)
            checker.check_expr(inner, where)
            try:
                names = [nm for _, nm, _ in analyze(inner)[0]]
            except CheckError:
                names = []
            for nm in names:
                allowed = checker.labels_of(nm)
                if allowed is not None and label not in allowed:
                    errs.append(f"{where}: label {label} is not a documented label of {nm}")
        else:
            m = re.fullmatch(r"\s*query_result\((.*)\)\s*", q, re.S)
            checker.check_expr(m.group(1) if m else q, where)
    return n_panels, n_targets


# ------------------------------------------------------------------- rules --

def yaml_values(text, key):
    """(line number, value) of every `key:` in a simple YAML file (plain,
    quoted, and | or > block scalars); enough for the rules and test files."""
    out = []
    lines = text.split("\n")
    i = 0
    key_re = re.compile(r"^(\s*)(?:-\s+)?" + re.escape(key) + r":\s*(.*?)\s*$")
    while i < len(lines):
        m = key_re.match(lines[i])
        if not m:
            i += 1
            continue
        indent, val = len(m.group(1)), m.group(2)
        lineno = i + 1
        i += 1
        if val[:1] in ("|", ">"):
            block = []
            while i < len(lines) and (not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > indent):
                block.append(lines[i])
                i += 1
            body = [b for b in block if b.strip()]
            cut = min((len(b) - len(b.lstrip()) for b in body), default=0)
            sep = "\n" if val[0] == "|" else " "
            val = sep.join(b[cut:] for b in block).strip()
        elif val[:1] in ("'", '"'):
            q = val[0]
            if q == "'":
                val = val[1:-1].replace("''", "'")
            else:
                val = json.loads(val)
        else:
            val = re.sub(r"\s+#.*$", "", val)
        out.append((lineno, val))
    return out


def check_rules(root, checker):
    path = os.path.join(root, RULES)
    with open(path, encoding="utf-8") as f:
        text = f.read()
    names = [v for _, v in yaml_values(text, "alert")] + [v for _, v in yaml_values(text, "record")]
    exprs = yaml_values(text, "expr")
    if len(exprs) != len(names):
        checker.errors.append(f"{RULES}: {len(names)} rules but {len(exprs)} expr fields were read")
    for name, (lineno, expr) in zip(names, exprs):
        checker.check_expr(expr, f"rule '{name}' ({RULES}:{lineno})")
    return names, len(exprs)


def check_runbooks(root, checker):
    """Every alert's runbook_url points into docs/operations.md at a heading
    `### <AlertName>` (GitHub's anchor: the name in lower case)."""
    with open(os.path.join(root, RULES), encoding="utf-8") as f:
        text = f.read()
    with open(os.path.join(root, "docs", "operations.md"), encoding="utf-8") as f:
        headings = {m.group(1).lower() for m in re.finditer(r"^###\s+(\S+)\s*$", f.read(), re.M)}
    alerts = [v for _, v in yaml_values(text, "alert")]
    urls = [v for _, v in yaml_values(text, "runbook_url")]
    if len(urls) != len(alerts):
        checker.errors.append(f"{RULES}: {len(alerts)} alerts but {len(urls)} runbook_url fields")
    for name, url in zip(alerts, urls):
        want = "docs/operations.md#" + name.lower()
        if not url.endswith(want):
            checker.errors.append(f"alert {name}: runbook_url {url} does not end in {want}")
        elif name.lower() not in headings:
            checker.errors.append(f"alert {name}: docs/operations.md has no heading '### {name}'")
    return len(alerts)


def check_rule_tests(root, checker, alerts):
    path = os.path.join(root, RULE_TESTS)
    with open(path, encoding="utf-8") as f:
        text = f.read()
    series = yaml_values(text, "series")
    for lineno, s in series:
        checker.check_expr(s, f"test series ({RULE_TESTS}:{lineno})")
    firing, quiet = {}, {}
    lines = text.split("\n")
    cases = 0
    for i, line in enumerate(lines):
        m = re.match(r"^\s*(?:-\s+)?alertname:\s*(\S+)", line)
        if not m:
            continue
        cases += 1
        name = m.group(1).strip("\"'")
        # Its exp_alerts follows within the same list item.
        for nxt in lines[i + 1:i + 4]:
            e = re.match(r"^\s*exp_alerts:\s*(.*?)\s*$", nxt)
            if e:
                bucket = quiet if e.group(1) == "[]" else firing
                bucket[name] = bucket.get(name, 0) + 1
                break
        else:
            checker.errors.append(f"{RULE_TESTS}:{i + 1}: alertname {name} without exp_alerts")
        if name not in alerts:
            checker.errors.append(f"{RULE_TESTS}:{i + 1}: test of {name}, which is not an alert of {RULES}")
    for a in alerts:
        if a not in firing:
            checker.errors.append(f"alert {a} has no test case in which it fires ({RULE_TESTS})")
        if a not in quiet:
            checker.errors.append(f"alert {a} has no test case in which it stays quiet ({RULE_TESTS})")
    return cases, sum(firing.values()), sum(quiet.values()), len(series)


# ---------------------------------------------------------- /metrics file --

def report_metrics_file(path, docs):
    fams, typed, labels = set(), {}, {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            m = re.match(r"#\s*TYPE\s+(\S+)\s+(\S+)", line)
            if m:
                typed[m.group(1)] = m.group(2)
                fams.add(m.group(1))
                continue
            if line.startswith("#") or not line.strip():
                continue
            name = re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line).group(0)
            sample_labels = set(re.findall(r'[{,]\s*([a-zA-Z_][a-zA-Z0-9_]*)="', line.split("}")[0] + "}"))
            for suf in HISTOGRAM_SUFFIXES:
                base = name[: -len(suf)]
                if name.endswith(suf) and typed.get(base) in ("histogram", "summary"):
                    name = base
                    break
            fams.add(name)
            labels.setdefault(name, set()).update(sample_labels - {"le", "quantile"})
    undocumented = sorted(fams - set(docs))
    absent = sorted(set(docs) - fams)
    print(f"ok: {path}: {len(fams)} families scraped, {len(fams) - len(undocumented)} documented")
    for name in undocumented:
        print(f"note: {path}: family {name} is not documented in {METRICS_DOC}")
    wrong_type = sorted(n for n in fams & set(docs) if n in typed and typed[n] != docs[n][0])
    for name in wrong_type:
        print(f"note: {path}: {name} is a {typed[name]}, {METRICS_DOC} says {docs[name][0]}")
    for name in sorted(n for n in labels if n in docs):
        extra = labels[name] - docs[name][1]
        if extra:
            print(f"note: {path}: {name} has labels {', '.join(sorted(extra))} that {METRICS_DOC} "
                  f"does not list ({', '.join(sorted(docs[name][1])) or 'none'})")
    if absent:
        print(f"note: {len(absent)} documented families not in this scrape (plugins not loaded, or "
              f"no series yet): {', '.join(absent)}")


# --------------------------------------------------------------- self-test --

def self_test(docs, code):
    failures = []

    def expect(cond, what):
        if not cond:
            failures.append(what)

    # The tokenizer.
    sel, grp, mat = analyze('sum by (target) (rate(sanjog_deliveries_total{result="success", '
                            'target=~"$target"}[$__rate_interval] offset 1h)) / on(job) group_left '
                            'sum without (reason) (increase(x_total[5m])) > bool 1e3 and y @ 123 '
                            'or label_replace(z, "a", "sanjog_not_a_metric", "b", "(.*)") unless '
                            'sum(w) by (k)')
    expect([s[1] for s in sel] == ["sanjog_deliveries_total", "x_total", "y", "z", "w"],
           f"tokenizer: metric names {[s[1] for s in sel]}")
    expect([(g[0], g[1]) for g in grp] == [("by", ["target"]), ("without", ["reason"]), ("by", ["k"])],
           f"tokenizer: groupings {grp}")
    expect(mat == [("on", ["job"])], f"tokenizer: matchings {mat}")
    expect(sel[0][2] == [("result", "=", "success"), ("target", "=~", "5m")],
           f"tokenizer: matchers {sel[0][2]}")

    def run(dash):
        c = Checker(docs, code)
        check_dashboard(dash, c, name="self-test dashboard")
        return c.errors

    def panel(pid, expr, y=0, title=None):
        return {"id": pid, "type": "timeseries", "title": title or f"p{pid}", "description": "d",
                "gridPos": {"h": 4, "w": 12, "x": 0, "y": y},
                "targets": [{"refId": "A", "expr": expr}]}

    def dash(*panels):
        return {"uid": "t", "title": "t", "panels": list(panels),
                "templating": {"list": [{"name": "node", "type": "custom"}]}}

    good = dash(panel(1, 'sum by (target, job) (rate(sanjog_deliveries_total{node=~"$node", '
                         'result="success"}[$__rate_interval]))'),
                panel(2, 'histogram_quantile(0.9, sum by (le, channel) '
                         '(rate(sanjog_first_response_seconds_bucket[1h]))) and on(instance) up', y=4))
    errs = run(good)
    expect(not errs, f"a clean dashboard fails: {errs}")

    cases = [
        ("an unknown metric", panel(1, 'sum(rate(sanjog_no_such_metric_total{node=~"$node"}[5m]))',
                                    title="Bogus"),
         "metric sanjog_no_such_metric_total in panel 'Bogus' (target A) is not documented"),
        ("_bucket of a counter", panel(1, "rate(sanjog_deliveries_total_bucket[5m])"),
         "sanjog_deliveries_total_bucket"),
        ("an undocumented by label", panel(1, "sum by (channel) (rate(sanjog_deliveries_total[5m]))"),
         "label channel in `by (...)`"),
        ("an undocumented matcher label", panel(1, 'sanjog_queue_depth{reason="x"}'),
         "label reason of sanjog_queue_depth"),
        ("le on a non-bucket", panel(1, "sum by (le) (sanjog_queue_depth)"), "label le"),
        ("an undefined variable", panel(1, 'sanjog_queue_depth{target=~"$nope"}'), "$nope"),
        ("a target without expr", {**panel(1, ""), "targets": [{"refId": "A"}]}, "has no expr"),
        ("a panel without gridPos", {k: v for k, v in panel(1, "up").items() if k != "gridPos"},
         "gridPos"),
    ]
    for what, p, needle in cases:
        errs = run(dash(p))
        expect(any(needle in e for e in errs), f"{what}: expected an error with {needle!r}, got {errs}")
    errs = run(dash(panel(1, "up"), panel(1, "up", y=4)))
    expect(any("id 1 is also" in e for e in errs), f"a repeated panel id: {errs}")
    errs = run(dash(panel(1, "up"), panel(2, "up", y=2)))
    expect(any("overlaps" in e for e in errs), f"overlapping panels: {errs}")

    # Documented but missing from the code.
    c = Checker(docs, code - {"sanjog_queue_depth"})
    c.check_expr("sanjog_queue_depth", "self-test")
    expect(any('no string "sanjog_queue_depth"' in e for e in c.errors), f"docs without code: {c.errors}")

    # The whole script, as a process would run it: a fake dashboard file must fail.
    with tempfile.TemporaryDirectory() as tmp:
        os.makedirs(os.path.join(tmp, "deploy", "grafana"))
        with open(os.path.join(tmp, DASHBOARD), "w") as f:
            json.dump(dash(panel(1, "rate(sanjog_made_up_total[5m])", title="Made up")), f)
        c = Checker(docs, code)
        with open(os.path.join(tmp, DASHBOARD)) as f:
            check_dashboard(json.load(f), c)
        expect(c.errors == ["metric sanjog_made_up_total in panel 'Made up' (target A) is not "
                            f"documented in {METRICS_DOC}"], f"fake dashboard file: {c.errors}")

    if failures:
        for f in failures:
            print(f"FAILED: self-test: {f}")
        return False
    print(f"ok: self-test: the tokenizer, a clean dashboard passes, {len(cases) + 4} broken ones "
          f"fail (unknown metric, histogram suffix on a counter, undocumented labels, undefined "
          f"variable, missing expr/gridPos, repeated id, overlap, docs without code)")
    return True


# -------------------------------------------------------------------- main --

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    ap.add_argument("--self-test", action="store_true")
    ap.add_argument("--metrics-file")
    args = ap.parse_args()
    root = args.root

    docs = load_docs(root)
    code = load_code_strings(root)
    print(f"ok: {METRICS_DOC}: {len(docs)} metric families documented "
          f"({sum(1 for t, _ in docs.values() if t == 'histogram')} histograms)")

    if args.self_test:
        return 0 if self_test(docs, code) else 1

    failed = False
    checker = Checker(docs, code)

    def section(ok_line):
        nonlocal failed
        if checker.errors:
            failed = True
            for e in checker.errors:
                print(f"FAILED: {e}")
            checker.errors.clear()
        else:
            print(f"ok: {ok_line}")

    # The dashboard.
    try:
        with open(os.path.join(root, DASHBOARD), encoding="utf-8") as f:
            dash = json.load(f)
    except (OSError, ValueError) as e:
        print(f"FAILED: {DASHBOARD} is not valid JSON: {e}")
        return 1
    print(f"ok: {DASHBOARD} parses as JSON (uid {dash.get('uid')!r}, title {dash.get('title')!r}, "
          f"schemaVersion {dash.get('schemaVersion')})")
    checker.exprs = 0
    n_panels, n_targets = check_dashboard(dash, checker)
    n_rows = sum(1 for p in all_panels(dash.get("panels") or []) if p.get("type") == "row")
    dash_fams = set(checker.families)
    section(f"{DASHBOARD}: {n_panels} panels in {n_rows} rows, {n_targets} queries and "
            f"{checker.exprs - n_targets} template variable queries; unique ids, gridPos, "
            f"descriptions, defined variables; {len(dash_fams)} metric families, all documented, "
            f"in the code, with documented labels")

    # The alert rules and their tests.
    checker.families = set()
    checker.exprs = 0
    alerts, n_exprs = check_rules(root, checker)
    rule_fams = set(checker.families)
    section(f"{RULES}: {len(alerts)} rules, {n_exprs} expressions; {len(rule_fams)} metric "
            f"families, all documented, in the code, with documented labels")
    checker.families = set()
    cases, firing, quiet, n_series = check_rule_tests(root, checker, alerts)
    section(f"{RULE_TESTS}: {n_series} input series, all documented metrics; {cases} alert test "
            f"cases ({firing} firing, {quiet} quiet) cover all {len(alerts)} alerts both ways")

    n_runbooks = check_runbooks(root, checker)
    section(f"{RULES}: all {n_runbooks} alerts link to their runbook in docs/operations.md")

    fams = dash_fams | rule_fams
    print(f"ok: {len(fams)} metric families queried in all: {', '.join(sorted(fams))}")
    unused = sorted(set(docs) - fams)
    if unused:
        print(f"note: documented but in no query (fine): {len(unused)} families")

    if args.metrics_file:
        report_metrics_file(args.metrics_file, docs)

    if failed:
        print("check_monitoring: FAILED")
        return 1
    print("check_monitoring: all checks passed")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except CheckError as e:
        print(f"FAILED: {e}")
        sys.exit(1)
