#!/usr/bin/env python3
"""Structural check of deploy/container/Containerfile (no container engine needed).

Debian 12 packages no Dockerfile linter (no hadolint), and the build machines
run no container engine, so this script (stdlib only) parses the file the way
the Dockerfile frontend does and checks what can be checked without building:

  - syntax: parser directives, comments, line continuations, known
    instructions, ARG/FROM order, unique stage names;
  - every base image is debian:12-slim; every COPY --from names an earlier
    stage; every COPY from the context exists and is not .dockerignore'd;
  - JSON (exec) forms are valid JSON arrays of strings; ENTRYPOINT and CMD
    must use them, so that SIGTERM reaches sanjogd and not a /bin/sh;
  - the final stage: a non-root USER created in that stage with the same
    fixed uid, HEALTHCHECK in exec form whose program is installed there,
    EXPOSE 8080 9464, VOLUME /var/lib/sanjog, ENTRYPOINT /usr/bin/sanjogd;
  - apt packages: each exists in the apt cache (apt-cache show); the build
    stage installs every build package of scripts/setup.sh (the test and
    benchmark tools excepted, listed below);
  - the install step: the build stage configures with prefix /usr and
    installs with DESTDIR=D, and the final stage copies D from that stage;
  - the image's config (the file COPY'd to the CMD's --config path): its
    listeners are the EXPOSEd ports, the HEALTHCHECK probes the admin port,
    storage.path lies in the VOLUME;
  - with --installed-root R (a `DESTDIR=R cmake --install build --prefix /usr`
    tree): every program the image runs exists in R, and every shared library
    that R's executables and plugins link (ELF NEEDED) comes from a package the
    runtime stage installs, or from debian:12-slim itself;
  - with --configure-in DIR: the build stage's COPY instructions are replayed
    into DIR and its `cmake -S` command runs there (configure only), which
    proves that the copied subset of the repository configures with the
    image's options.

Usage: scripts/check_containerfile.py [--containerfile F] [--context DIR]
         [--setup scripts/setup.sh] [--installed-root R] [--configure-in DIR]
Prints one line per check; exits 1 on the first group of failures.
"""

import argparse
import fnmatch
import json
import os
import re
import shlex
import shutil
import subprocess
import sys

INSTRUCTIONS = {
    "ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK",
    "LABEL", "MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME",
    "WORKDIR",
}
BASE_IMAGE = "debian:12-slim"
# scripts/setup.sh packages the image build does not need: test, lint and
# benchmark tools (tests are off in the image) and tools no build step runs.
SETUP_ONLY = {
    "ccache", "curl", "ca-certificates", "openssl", "python3", "libgtest-dev", "libgmock-dev",
    "prometheus", "clang", "libclang-rt-14-dev", "clang-format", "clang-tidy", "wrk",
    "nginx-light", "kannel", "kannel-extras", "systemd", "nats-server",
}
# Packages every debian:12-slim image has (apt depends on them), so a
# library from them needs no apt-get install.
SLIM_BASE = {"libc6", "libgcc-s1", "libstdc++6", "zlib1g"}


class Failed(Exception):
    pass


class Instruction:
    def __init__(self, line, keyword, value):
        self.line, self.keyword, self.value = line, keyword, value

    def __repr__(self):
        return f"line {self.line}: {self.keyword} {self.value[:60]}"


class Stage:
    def __init__(self, index, image, name, line):
        self.index, self.image, self.name, self.line = index, image, name, line
        self.instructions = []

    def label(self):
        return f"stage {self.index} ({self.name or 'unnamed'}, line {self.line})"

    def all(self, keyword):
        return [i for i in self.instructions if i.keyword == keyword]


def parse(text):
    """Dockerfile lexing: directives, comments, continuations (escape char)."""
    lines = text.split("\n")
    escape = "\\"
    # Parser directives: only at the very top, before any comment or blank line.
    for raw in lines:
        m = re.match(r"^#\s*([a-zA-Z]+)\s*=\s*(.*?)\s*$", raw)
        if not m:
            break
        if m.group(1).lower() == "escape":
            escape = m.group(2)
            if escape not in ("\\", "`"):
                raise Failed(f"escape directive must be \\ or `, not {escape!r}")
    out = []
    buf, start = None, 0
    for n, raw in enumerate(lines, 1):
        stripped = raw.strip()
        if stripped.startswith("#"):
            continue  # a comment, also between continuation lines
        if buf is None:
            if not stripped:
                continue
            buf, start = "", n
        elif not stripped:
            continue  # an empty continuation line (allowed, deprecated)
        body = raw.rstrip()
        if body.endswith(escape):
            buf += body[: -len(escape)] + " "
            continue
        buf += body
        m = re.match(r"^\s*([A-Za-z]+)(\s+(.*))?$", buf, re.S)
        if not m:
            raise Failed(f"line {start}: cannot parse {buf.strip()[:60]!r}")
        out.append(Instruction(start, m.group(1).upper(), (m.group(3) or "").strip()))
        buf = None
    if buf is not None:
        raise Failed(f"line {start}: the file ends inside a continuation")
    return out


def json_form(ins, required=False):
    """The exec form ["a", "b"] as a list, or None for the shell form."""
    v = ins.value
    if not v.startswith("["):
        if required:
            raise Failed(f"{ins}: must be in JSON (exec) form")
        return None
    try:
        parsed = json.loads(v)
    except json.JSONDecodeError as e:
        raise Failed(f"{ins}: invalid JSON: {e}")
    if not isinstance(parsed, list) or not parsed or not all(isinstance(s, str) for s in parsed):
        raise Failed(f"{ins}: JSON form must be a non-empty array of strings")
    return parsed


def flags(value):
    """Leading --name=value flags of COPY/ADD/HEALTHCHECK; returns (dict, rest)."""
    out = {}
    rest = value
    while True:
        m = re.match(r"^--([a-z-]+)(?:=(\S*))?\s*(.*)$", rest, re.S)
        if not m:
            return out, rest
        out[m.group(1)] = m.group(2) if m.group(2) is not None else ""
        rest = m.group(3)


def stages_of(instructions):
    stages, names = [], {}
    seen_from = False
    for ins in instructions:
        if ins.keyword not in INSTRUCTIONS:
            raise Failed(f"{ins}: unknown instruction")
        if ins.keyword == "FROM":
            seen_from = True
            f, rest = flags(ins.value)
            m = re.match(r"^(\S+)(?:\s+[Aa][Ss]\s+(\S+))?$", rest)
            if not m:
                raise Failed(f"{ins}: expected FROM image [AS name]")
            image, name = m.group(1), (m.group(2) or "").lower() or None
            if name:
                if name in names:
                    raise Failed(f"{ins}: stage name {name} used twice")
                names[name] = len(stages)
            stages.append(Stage(len(stages), image, name, ins.line))
        elif not seen_from:
            if ins.keyword != "ARG":
                raise Failed(f"{ins}: only ARG may come before the first FROM")
        else:
            stages[-1].instructions.append(ins)
    if not stages:
        raise Failed("no FROM instruction")
    return stages, names


def shell_commands(run_value):
    """A shell-form RUN split into simple commands (lists of words)."""
    words = shlex.split(run_value, comments=False, posix=True)
    cmds, cur = [], []
    for w in words:
        if w in ("&&", "||", ";", "|"):
            if cur:
                cmds.append(cur)
            cur = []
        else:
            cur.append(w)
    if cur:
        cmds.append(cur)
    return cmds


def apt_packages(stage):
    pkgs = []
    for ins in stage.all("RUN"):
        for cmd in shell_commands(ins.value):
            words = [w for w in cmd if not re.match(r"^[A-Z_]+=", w)]  # drop VAR=value
            if len(words) >= 2 and words[0] in ("apt-get", "apt") and "install" in words:
                after = words[words.index("install") + 1:]
                pkgs += [w for w in after if not w.startswith("-")]
    return pkgs


def apt_missing(pkgs):
    """The packages apt-cache does not know (one call: each one takes ~1 s)."""
    r = subprocess.run(["apt-cache", "show", "--no-all-versions"] + sorted(set(pkgs)),
                       capture_output=True, text=True)
    found = set(re.findall(r"^Package: (\S+)$", r.stdout, re.M))
    return sorted(set(pkgs) - found)


def setup_packages(path):
    text = open(path, encoding="utf-8").read()
    m = re.search(r"^packages=\((.*?)^\)", text, re.S | re.M)
    if not m:
        raise Failed(f"{path}: no packages=( ... ) array")
    return [w for w in shlex.split(m.group(1), comments=True)]


def dockerignored(path, patterns):
    """Whether a context path (or a parent) matches a .dockerignore pattern."""
    parts = path.strip("/").split("/")
    excluded = False
    for pat in patterns:
        neg = pat.startswith("!")
        p = pat[1:] if neg else pat
        p = p.strip("/")
        for i in range(1, len(parts) + 1):
            if fnmatch.fnmatchcase("/".join(parts[:i]), p):
                excluded = not neg
                break
    return excluded


def read_jsonc(path):
    """JSON with // line comments (the config format)."""
    lines = [ln for ln in open(path, encoding="utf-8") if not ln.lstrip().startswith("//")]
    return json.loads("".join(lines))


def port_of(listen):
    return int(listen.rsplit(":", 1)[1])


def needed_packages(root):
    """{package: [soname...]} for the ELF NEEDED entries of root's programs and plugins."""
    files = []
    for d in ("usr/bin", "usr/lib/sanjog/plugins"):
        full = os.path.join(root, d)
        for name in sorted(os.listdir(full)):
            f = os.path.join(full, name)
            with open(f, "rb") as fh:
                if fh.read(4) == b"\x7fELF":
                    files.append(f)
    sonames = set()
    for f in files:
        out = subprocess.run(["readelf", "-d", f], capture_output=True, text=True, check=True).stdout
        sonames.update(re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out))
    # Where the loader finds each library (ldd resolves NEEDED as sanjogd would).
    where = {}
    for f in files:
        out = subprocess.run(["ldd", f], capture_output=True, text=True, check=True).stdout
        for m in re.finditer(r"^\s*(\S+) => (/\S+)", out, re.M):
            where.setdefault(m.group(1), m.group(2))
    cands = {}
    for so in sorted(sonames):
        if so not in where:
            raise Failed(f"{so} (NEEDED by the installed tree) is not found by the loader (ldd)")
        c = {where[so], os.path.realpath(where[so])}
        c |= {p[4:] if p.startswith("/usr/") else "/usr" + p for p in c}  # merged /usr
        cands[so] = c
    # One dpkg -S for all paths (it answers the ones it owns, and exits 1).
    r = subprocess.run(["dpkg", "-S"] + sorted(set().union(*cands.values())),
                       capture_output=True, text=True)
    owner = {}
    for line in r.stdout.splitlines():
        pkg, _, path = line.partition(": ")
        owner[path.strip()] = pkg.split(":")[0]
    by_pkg = {}
    for so, c in cands.items():
        pkgs = {owner[p] for p in c if p in owner}
        if not pkgs:
            raise Failed(f"{so} ({where[so]}): no Debian package owns it (dpkg -S)")
        by_pkg.setdefault(sorted(pkgs)[0], []).append(so)
    return by_pkg, len(files)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--containerfile", default="deploy/container/Containerfile")
    ap.add_argument("--context", default=".")
    ap.add_argument("--setup", default="scripts/setup.sh")
    ap.add_argument("--installed-root")
    ap.add_argument("--configure-in")
    args = ap.parse_args()
    ok = lambda msg: print(f"  ok: {msg}")

    text = open(args.containerfile, encoding="utf-8").read()
    instructions = parse(text)
    stages, names = stages_of(instructions)
    ok(f"{args.containerfile}: {len(instructions)} instructions in {len(stages)} stages parse")

    for st in stages:
        if st.image != BASE_IMAGE and st.image.lower() not in names:
            raise Failed(f"{st.label()}: base image {st.image}, expected {BASE_IMAGE}")
    ok(f"every stage is based on {BASE_IMAGE}")

    ignore = []
    ign_path = os.path.join(args.context, ".dockerignore")
    if os.path.exists(ign_path):
        ignore = [ln.strip() for ln in open(ign_path, encoding="utf-8")
                  if ln.strip() and not ln.strip().startswith("#")]
    copies = 0
    for st in stages:
        for ins in st.all("COPY") + st.all("ADD"):
            f, rest = flags(ins.value)
            parts = json_form(Instruction(ins.line, ins.keyword, rest)) if rest.startswith("[") \
                else shlex.split(rest)
            if len(parts) < 2:
                raise Failed(f"{ins}: needs a source and a destination")
            if "from" in f:
                src = f["from"].lower()
                idx = names.get(src, int(src) if src.isdigit() else None)
                if idx is None or idx >= st.index:
                    raise Failed(f"{ins}: --from={f['from']} is not an earlier stage")
            else:
                for s in parts[:-1]:
                    p = os.path.join(args.context, s)
                    if not os.path.exists(p):
                        raise Failed(f"{ins}: {s} does not exist in the build context")
                    if dockerignored(s, ignore):
                        raise Failed(f"{ins}: {s} is excluded by .dockerignore")
            copies += 1
    ok(f"{copies} COPY instructions: sources exist, --from names an earlier stage")

    for st in stages:
        for ins in st.instructions:
            if ins.keyword in ("ENTRYPOINT", "CMD"):
                json_form(ins, required=True)
            elif ins.keyword in ("RUN", "VOLUME", "SHELL"):
                json_form(ins, required=ins.keyword == "SHELL")
    ok("ENTRYPOINT and CMD are in exec form; every JSON form is valid JSON")

    final = stages[-1]
    users = final.all("USER")
    if not users:
        raise Failed(f"{final.label()}: no USER (the image would run as root)")
    user = users[-1].value.split(":")[0]
    if user in ("root", "0", ""):
        raise Failed(f"{users[-1]}: runs as root")
    created = False
    for ins in final.all("RUN"):
        for cmd in shell_commands(ins.value):
            if cmd and cmd[0] == "useradd":
                uid = cmd[cmd.index("--uid") + 1] if "--uid" in cmd else None
                if uid is None:
                    raise Failed(f"{ins}: useradd without a fixed --uid")
                if user in (uid, cmd[-1]):
                    created = True
    if not created:
        raise Failed(f"{users[-1]}: user {user} is not created (useradd --uid) in the final stage")
    ok(f"the final stage runs as the non-root user {users[-1].value}, created there with a fixed uid")

    pkgs = {st.index: apt_packages(st) for st in stages}
    missing = apt_missing([p for v in pkgs.values() for p in v])
    if missing:
        raise Failed(f"not in the apt cache (apt-cache show): {' '.join(missing)}")
    total = sum(len(v) for v in pkgs.values())
    ok(f"all {total} apt packages exist in the apt cache (apt-cache show)")

    runtime_pkgs = set(pkgs[final.index])
    hcs = final.all("HEALTHCHECK")
    if not hcs:
        raise Failed(f"{final.label()}: no HEALTHCHECK")
    f, rest = flags(hcs[-1].value)
    if not rest.upper().startswith("CMD"):
        raise Failed(f"{hcs[-1]}: expected HEALTHCHECK [options] CMD [...]")
    hc = json_form(Instruction(hcs[-1].line, "HEALTHCHECK", rest[3:].strip()), required=True)
    if hc[0] not in runtime_pkgs:
        raise Failed(f"{hcs[-1]}: {hc[0]} is not installed in the final stage")
    hc_url = next((w for w in hc if w.startswith("http")), "")
    ok(f"HEALTHCHECK runs {hc[0]} (installed in the final stage): {' '.join(hc)}")

    exposed = {int(p.split("/")[0]) for ins in final.all("EXPOSE") for p in ins.value.split()}
    if not {8080, 9464} <= exposed:
        raise Failed(f"{final.label()}: EXPOSE {sorted(exposed)}, expected 8080 and 9464")
    volumes = set()
    for ins in final.all("VOLUME"):
        volumes.update(json_form(ins) or ins.value.split())
    if "/var/lib/sanjog" not in volumes:
        raise Failed(f"{final.label()}: no VOLUME /var/lib/sanjog")
    entry = json_form(final.all("ENTRYPOINT")[-1], required=True)
    cmd = json_form(final.all("CMD")[-1], required=True)
    if entry != ["/usr/bin/sanjogd"]:
        raise Failed(f"ENTRYPOINT {entry}, expected [\"/usr/bin/sanjogd\"]")
    ok(f"EXPOSE {' '.join(map(str, sorted(exposed)))}, VOLUME /var/lib/sanjog, "
       f"ENTRYPOINT {json.dumps(entry)}, CMD {json.dumps(cmd)}")

    build = [st for st in stages if st is not final]
    if not build:
        raise Failed("no build stage")
    build_pkgs = set(pkgs[build[0].index])
    wanted = [p for p in setup_packages(args.setup) if p not in SETUP_ONLY]
    missing = [p for p in wanted if p not in build_pkgs]
    if missing:
        raise Failed(f"{build[0].label()}: does not install these build packages of "
                     f"{args.setup}: {' '.join(missing)} (add them, or list them in SETUP_ONLY "
                     f"of {sys.argv[0]} if the image build does not need them)")
    ok(f"the build stage installs all {len(wanted)} build packages of {args.setup}")

    # The install step and how the final stage picks it up.
    configure = destdir = None
    for ins in build[0].all("RUN"):
        for c in shell_commands(ins.value):
            if c[:1] == ["cmake"] and "-S" in c:
                configure = c
            if "cmake" in c and "--install" in c:
                env = [w for w in c if w.startswith("DESTDIR=")]
                if not env:
                    raise Failed(f"{ins}: cmake --install without DESTDIR=")
                destdir = env[0].split("=", 1)[1].rstrip("/")
    if configure is None or destdir is None:
        raise Failed(f"{build[0].label()}: no `cmake -S` configure or no `DESTDIR=... cmake --install`")
    if "-DCMAKE_INSTALL_PREFIX=/usr" not in configure:
        raise Failed(f"{build[0].label()}: configure without -DCMAKE_INSTALL_PREFIX=/usr")
    picked = False
    for ins in final.all("COPY"):
        f, rest = flags(ins.value)
        if f.get("from", "").lower() in (build[0].name, str(build[0].index)):
            if shlex.split(rest)[0].rstrip("/") == destdir and shlex.split(rest)[-1] == "/":
                picked = True
    if not picked:
        raise Failed(f"{final.label()}: no COPY --from={build[0].name} {destdir}/ /")
    ok(f"the build stage installs with prefix /usr into DESTDIR={destdir}, "
       f"the final stage copies {destdir}/ to /")

    # The image's own config.
    config_path = cmd[cmd.index("--config") + 1] if "--config" in cmd else None
    config_src = None
    for ins in final.all("COPY"):
        f, rest = flags(ins.value)
        parts = shlex.split(rest)
        if "from" not in f and parts[-1] == config_path:
            config_src = os.path.join(args.context, parts[0])
    if config_src is None:
        raise Failed(f"{final.label()}: nothing is copied to the CMD's --config {config_path}")
    conf = read_jsonc(config_src)
    admin_port = port_of(conf["admin"]["listen"])
    public_port = port_of(conf["server"]["listen"])
    if not conf["admin"]["listen"].startswith("0.0.0.0:") or \
       not conf["server"]["listen"].startswith("0.0.0.0:"):
        raise Failed(f"{config_src}: listeners must be on 0.0.0.0 inside a container")
    if {admin_port, public_port} - exposed:
        raise Failed(f"{config_src}: ports {public_port}/{admin_port} are not all EXPOSEd")
    if f":{admin_port}/" not in hc_url:
        raise Failed(f"HEALTHCHECK probes {hc_url}, but the admin listener is port {admin_port}")
    if not any(conf["storage"]["path"].startswith(v.rstrip("/") + "/") for v in volumes):
        raise Failed(f"{config_src}: storage.path {conf['storage']['path']} is not in a VOLUME")
    ok(f"the image's config {os.path.relpath(config_src, args.context)} listens on the EXPOSEd "
       f"ports {public_port} and {admin_port} (HEALTHCHECK's), keeps storage in the VOLUME")

    if args.installed_root:
        root = args.installed_root
        for prog in [entry[0], hc[0] if hc[0].startswith("/") else None]:
            if prog and not os.access(os.path.join(root, prog.lstrip("/")), os.X_OK):
                raise Failed(f"{prog} is not in the installed tree {root}")
        by_pkg, nfiles = needed_packages(root)
        missing = {p: s for p, s in by_pkg.items() if p not in runtime_pkgs and p not in SLIM_BASE}
        if missing:
            raise Failed("the final stage does not install " + ", ".join(
                f"{p} (for {' '.join(s)})" for p, s in sorted(missing.items())))
        ok(f"the {sum(len(s) for s in by_pkg.values())} shared libraries linked by the "
           f"{nfiles} installed programs and plugins come from the runtime stage's packages "
           f"or {BASE_IMAGE}: {' '.join(sorted(by_pkg))}")

    if args.configure_in:
        # Replay the build stage's COPY instructions (relative to its WORKDIR).
        src = os.path.join(args.configure_in, "src")
        os.makedirs(src, exist_ok=True)
        for ins in build[0].all("COPY"):
            f, rest = flags(ins.value)
            parts = shlex.split(rest)
            dest = parts[-1]
            if os.path.isabs(dest):
                raise Failed(f"{ins}: the check replays relative destinations only")
            target = os.path.normpath(os.path.join(src, dest))
            for s in parts[:-1]:
                from_ = os.path.join(args.context, s)
                if os.path.isdir(from_):  # the directory's contents go into dest
                    shutil.copytree(from_, target, dirs_exist_ok=True,
                                    ignore=shutil.ignore_patterns("__pycache__"))
                elif dest.endswith("/") or dest in (".", "./"):
                    os.makedirs(target, exist_ok=True)
                    shutil.copy2(from_, os.path.join(target, os.path.basename(s)))
                else:
                    os.makedirs(os.path.dirname(target), exist_ok=True)
                    shutil.copy2(from_, target)
        opts = []
        words = iter(configure[1:])
        for w in words:
            if w == "-G":
                opts += [w, next(words)]
            elif w.startswith("-D") or w.startswith("-G"):
                opts.append(w)
        bdir = os.path.join(args.configure_in, "build")
        r = subprocess.run(["cmake", "-S", src, "-B", bdir] + opts, capture_output=True, text=True)
        if r.returncode != 0:
            raise Failed("the build stage's configure failed on the copied files:\n"
                         + r.stdout[-3000:] + r.stderr[-3000:])
        ok("the build stage's COPY'd files configure with its cmake options: "
           + " ".join(shlex.quote(o) for o in opts))


if __name__ == "__main__":
    try:
        main()
    except Failed as e:
        print(f"check_containerfile: FAILED: {e}", file=sys.stderr)
        sys.exit(1)
