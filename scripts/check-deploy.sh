#!/usr/bin/env bash
# Checks the deployment kit against the built tree (run in CI; no container
# engine, no systemd as PID 1, no change to the system):
#   1. `DESTDIR=T cmake --install BUILD_DIR --prefix /usr`: the install layout
#      (binaries, every plugin, configs, state directory, unit, sysusers.d,
#      tmpfiles.d, SDK), and `--component runtime` (the container's) without
#      the SDK; as root, systemd-sysusers/systemd-tmpfiles --root=T apply the
#      installed sysusers.d and tmpfiles.d files inside T;
#   2. the installed sanjogd: --version, --list-plugins (every plugin loads),
#      --check-config of the installed example config and of the container's
#      config (deploy/container/sanjog.json);
#   3. the installed sanjogd run the way the unit and the image run it: as
#      nobody:nogroup with no capabilities and no_new_privs (setpriv), as PID 1
#      of its own PID namespace (unshare), under PR_SET_MDWE (the kernel's
#      MemoryDenyWriteExecute), with a clean environment, umask 0077 and the
#      admin token as a ${file:...} secret; /readyz, /metrics and
#      `sanjogctl status` against it, then SIGTERM must exit 0;
#   4. systemd-analyze verify and `systemd-analyze security --offline=yes`
#      of the installed unit (exposure at most MAX_EXPOSURE, default 2.0);
#   5. scripts/check_containerfile.py --installed-root T --configure-in DIR.
# Run as root for all of it; as another user, the steps that need root
# (setpriv, unshare, sysusers/tmpfiles) are skipped and say so.
#
# Usage: scripts/check-deploy.sh [BUILD_DIR=build]
# Prints one line per check; exits 1 on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
start_ns=$(date +%s%N)

build=${1:-build}
[ $# -le 1 ] || { echo "usage: scripts/check-deploy.sh [BUILD_DIR=build]" >&2; exit 2; }
build=$(cd "$build" 2>/dev/null && pwd) || { echo "check-deploy: FAILED: no build directory ${1:-build}" >&2; exit 1; }
max_exposure=${MAX_EXPOSURE:-2.0}
token=check-deploy-admin-token-0123456789  # >= 16 characters (the schema's minimum)

ok() { echo "  ok: $*"; }
skip() { echo "  skip: $*"; }
fail() { echo "check-deploy: FAILED: $*" >&2; exit 1; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
# poll SECONDS COMMAND...: runs COMMAND until it succeeds; 1 after the deadline.
poll() {
  local deadline=$(( $(now_ms) + $1 * 1000 )); shift
  until "$@"; do
    [ "$(now_ms)" -lt "$deadline" ] || return 1
    sleep 0.05  # the polling interval; no wait relies on a fixed delay
  done
}

tmp=$(mktemp -d -t sanjog-check-deploy.XXXXXX)
daemon_pid=""   # the process this script starts: unshare, or sanjogd itself
sanjogd_pid=""
cleanup() {
  # sanjogd and unshare (with --kill-child, the namespace's PID 1 also gets
  # SIGKILL when unshare dies: setpriv --pdeathsig keep carries that over the
  # change of user, which would clear it).
  if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then
    find_sanjogd || true
    [ -z "$sanjogd_pid" ] || kill -KILL "$sanjogd_pid" 2>/dev/null || true
    kill -KILL "$daemon_pid" 2>/dev/null || true
    wait "$daemon_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

root=$tmp/root            # DESTDIR of the full install
is_root=false; [ "$(id -u)" = 0 ] && is_root=true

# ---- 1. install layout -------------------------------------------------------
echo "== install layout (DESTDIR=... cmake --install $build --prefix /usr)"
DESTDIR=$root cmake --install "$build" --prefix /usr >"$tmp/install.log" 2>&1 \
  || { cat "$tmp/install.log" >&2; fail "cmake --install"; }
for f in usr/bin/sanjogd usr/bin/sanjogctl; do
  [ -x "$root/$f" ] || fail "/$f is not installed (or not executable)"
done
for f in etc/sanjog/sanjog.schema.json etc/sanjog/sanjog.example.json \
         usr/lib/systemd/system/sanjogd.service usr/lib/sysusers.d/sanjog.conf \
         usr/lib/tmpfiles.d/sanjog.conf usr/include/sanjog/plugin_abi.h; do
  [ -f "$root/$f" ] || fail "/$f is not installed"
done
[ -d "$root/var/lib/sanjog" ] || fail "/var/lib/sanjog is not installed"
[ -n "$(find "$root/usr/lib" -name SanjogPluginSdkConfig.cmake)" ] \
  || fail "the SDK's SanjogPluginSdkConfig.cmake is not installed under /usr/lib"
built_plugins=$(find "$build/lib/sanjog/plugins" -maxdepth 1 -name 'libsanjog_*.so' | wc -l)
installed_plugins=$(find "$root/usr/lib/sanjog/plugins" -maxdepth 1 -name 'libsanjog_*.so' | wc -l)
[ "$built_plugins" -gt 0 ] || fail "no plugins in $build/lib/sanjog/plugins (is the build complete?)"
[ "$built_plugins" = "$installed_plugins" ] \
  || fail "$built_plugins plugins built, $installed_plugins installed in /usr/lib/sanjog/plugins"
ok "/usr/bin/{sanjogd,sanjogctl}, $installed_plugins plugins in /usr/lib/sanjog/plugins, /etc/sanjog/sanjog.{schema,example}.json, /var/lib/sanjog/, SDK"
grep -qx 'ExecStart=/usr/bin/sanjogd --config /etc/sanjog/sanjog.json' "$root/usr/lib/systemd/system/sanjogd.service" \
  || fail "the installed unit does not run /usr/bin/sanjogd --config /etc/sanjog/sanjog.json"
ok "/usr/lib/systemd/system/sanjogd.service, /usr/lib/sysusers.d/sanjog.conf, /usr/lib/tmpfiles.d/sanjog.conf"

DESTDIR=$tmp/runtime cmake --install "$build" --prefix /usr --component runtime >"$tmp/install.log" 2>&1 \
  || { cat "$tmp/install.log" >&2; fail "cmake --install --component runtime"; }
[ -x "$tmp/runtime/usr/bin/sanjogd" ] || fail "--component runtime installs no /usr/bin/sanjogd"
[ ! -e "$tmp/runtime/usr/include" ] || fail "--component runtime installs the SDK headers"
ok "--component runtime (the container's): the daemon, without the SDK"

if $is_root && command -v systemd-sysusers >/dev/null && command -v systemd-tmpfiles >/dev/null; then
  # Inside the DESTDIR only: the user goes to $root/etc/passwd.
  systemd-sysusers --root="$root" "$root/usr/lib/sysusers.d/sanjog.conf" >/dev/null 2>&1 \
    || fail "systemd-sysusers --root: $(systemd-sysusers --root="$root" "$root/usr/lib/sysusers.d/sanjog.conf" 2>&1)"
  uid=$(awk -F: '$1 == "sanjog" { print $3 }' "$root/etc/passwd")
  [ -n "$uid" ] || fail "systemd-sysusers created no user sanjog"
  systemd-tmpfiles --root="$root" --create "$root/usr/lib/tmpfiles.d/sanjog.conf" \
    || fail "systemd-tmpfiles --root --create"
  got=$(stat -c '%a %u %g' "$root/var/lib/sanjog")
  gid=$(awk -F: '$1 == "sanjog" { print $3 }' "$root/etc/group")
  [ "$got" = "750 $uid $gid" ] || fail "/var/lib/sanjog after systemd-tmpfiles: mode/uid/gid $got, expected 750 $uid $gid"
  ok "systemd-sysusers + systemd-tmpfiles (--root): user sanjog (uid $uid), /var/lib/sanjog 0750 sanjog:sanjog"
else
  skip "systemd-sysusers/systemd-tmpfiles --root (needs root and both tools)"
fi

# ---- 2. the installed programs -----------------------------------------------
echo "== installed sanjogd and sanjogctl"
sanjogd=$root/usr/bin/sanjogd
sanjogctl=$root/usr/bin/sanjogctl
version=$("$sanjogd" --version) || fail "sanjogd --version"
ok "sanjogd --version: $version"
"$sanjogctl" --version >/dev/null || fail "sanjogctl --version"
"$sanjogd" --list-plugins >"$tmp/plugins.out" 2>"$tmp/plugins.err" || fail "sanjogd --list-plugins: $(cat "$tmp/plugins.err")"
! grep -q 'not loaded' "$tmp/plugins.err" || fail "plugins not loaded: $(cat "$tmp/plugins.err")"
listed=$(grep -cE '^(channel|crm|ecom|sms)_' "$tmp/plugins.out" || true)
[ "$listed" = "$installed_plugins" ] || fail "sanjogd --list-plugins lists $listed plugins, $installed_plugins installed"
grep -qF "(plugin directory: $root/usr/lib/sanjog/plugins)" "$tmp/plugins.out" \
  || fail "sanjogd does not load its plugins from <prefix>/lib/sanjog/plugins: $(tail -n 1 "$tmp/plugins.out")"
ok "sanjogd --list-plugins: all $listed plugins load from /usr/lib/sanjog/plugins"
# The example config's ${env:...:-default}s need no environment.
(cd "$tmp" && env -u SANJOG_ADMIN_TOKEN "$sanjogd" --check-config --config "$root/etc/sanjog/sanjog.example.json") \
  >"$tmp/check.out" 2>&1 || fail "sanjogd --check-config sanjog.example.json: $(cat "$tmp/check.out")"
ok "sanjogd --check-config /etc/sanjog/sanjog.example.json"
(cd "$tmp" && SANJOG_ADMIN_TOKEN=$token "$sanjogd" --check-config --config "$repo/deploy/container/sanjog.json") \
  >"$tmp/check.out" 2>&1 || fail "sanjogd --check-config deploy/container/sanjog.json: $(cat "$tmp/check.out")"
if (cd "$tmp" && env -u SANJOG_ADMIN_TOKEN "$sanjogd" --check-config --config "$repo/deploy/container/sanjog.json") >/dev/null 2>&1; then
  fail "deploy/container/sanjog.json is valid without SANJOG_ADMIN_TOKEN (the image must not start without it)"
fi
ok "sanjogd --check-config deploy/container/sanjog.json: valid with SANJOG_ADMIN_TOKEN, rejected without"

# ---- 3. the installed daemon, run as the unit and the image run it -----------
echo "== installed sanjogd, unprivileged, PID 1, PR_SET_MDWE"
run=$tmp/run
mkdir -p "$run/etc" "$run/state"
chmod 0755 "$tmp" "$root" "$run"   # mktemp -d is 0700: let nobody reach the binaries
printf '%s' "$token" >"$run/etc/admin-token"
cat >"$run/etc/sanjog.json" <<EOF
{
  "version": 1,
  "server": { "listen": "127.0.0.1:0" },
  "admin": { "listen": "127.0.0.1:0", "token": "\${file:$run/etc/admin-token}" },
  "storage": { "path": "$run/state/sanjog.db" },
  "instances": [],
  "routes": []
}
EOF
# PR_SET_MDWE (65) with PR_MDWE_REFUSE_EXEC_GAIN, then exec: the flag is
# inherited across fork and execve (Linux >= 6.3). With --probe: exit 2 if
# the kernel lacks it, else check that a W+X mapping is refused after exec.
cat >"$tmp/mdwe.py" <<'EOF'
import ctypes, mmap, os, sys
libc = ctypes.CDLL(None, use_errno=True)
if sys.argv[1] == "--probe-child":
    try:
        mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    except PermissionError:
        sys.exit(0 if libc.prctl(66, 0, 0, 0, 0) == 1 else 1)  # PR_GET_MDWE
    sys.exit(1)
if libc.prctl(65, 1, 0, 0, 0) != 0:
    print("prctl(PR_SET_MDWE):", os.strerror(ctypes.get_errno()), file=sys.stderr)
    sys.exit(2)
if sys.argv[1] == "--probe":
    os.execv(sys.executable, [sys.executable, sys.argv[0], "--probe-child"])
os.execvp(sys.argv[1], sys.argv[1:])
EOF
launcher=()
how=()
if $is_root; then
  if unshare --pid --fork --kill-child true 2>/dev/null; then
    launcher+=(unshare --pid --fork --kill-child --)
    how+=("PID 1 of its own PID namespace")
  else
    skip "unshare --pid (not permitted here): sanjogd runs in the host's PID namespace"
  fi
fi
set +e
python3 "$tmp/mdwe.py" --probe 2>"$tmp/mdwe.err"
mdwe=$?
set -e
case $mdwe in
  0) launcher+=(python3 "$tmp/mdwe.py"); how+=("PR_SET_MDWE") ;;
  2) skip "PR_SET_MDWE not supported ($(cat "$tmp/mdwe.err")): sanjogd runs without it" ;;
  *) fail "PR_SET_MDWE is set but a W+X mapping is still allowed after execve" ;;
esac
if $is_root; then
  chown nobody:nogroup "$run/state"
  chgrp nogroup "$run/etc/admin-token" "$run/etc/sanjog.json"
  chmod 0750 "$run/state"; chmod 0640 "$run/etc/admin-token" "$run/etc/sanjog.json"
  launcher+=(setpriv --reuid=nobody --regid=nogroup --clear-groups --no-new-privs
             --inh-caps=-all --bounding-set=-all --pdeathsig keep --)
  how=("nobody:nogroup, no capabilities, no_new_privs" "${how[@]}")
else
  skip "setpriv (needs root): sanjogd runs as $(id -un)"
fi
(
  umask 0077
  cd "$run/state"
  exec "${launcher[@]}" env -i PATH=/usr/bin:/bin "$sanjogd" \
    --config "$run/etc/sanjog.json" --ports-file "$run/state/ports.json" >"$run/sanjogd.log" 2>&1
) &
daemon_pid=$!

log_tail() { tail -n 20 "$run/sanjogd.log" >&2; }
# With unshare --fork, sanjogd is unshare's child; otherwise daemon_pid itself.
find_sanjogd() {
  local p
  if [ "${launcher[0]:-}" = unshare ]; then
    p=$(cat "/proc/$daemon_pid/task/$daemon_pid/children" 2>/dev/null) || return 1
    p=${p%% *}
  else
    p=$daemon_pid
  fi
  [ -n "$p" ] && [ "$(readlink "/proc/$p/exe" 2>/dev/null)" = "$sanjogd" ] && sanjogd_pid=$p
}
poll 10 find_sanjogd || { log_tail; fail "sanjogd did not start within 10 s"; }
ports_ready() { [ -s "$run/state/ports.json" ] || ! kill -0 "$daemon_pid" 2>/dev/null; }
poll 20 ports_ready || { log_tail; fail "sanjogd wrote no ports file within 20 s"; }
[ -s "$run/state/ports.json" ] || { log_tail; fail "sanjogd exited during start"; }
admin_port=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["admin"])' "$run/state/ports.json")
admin=http://127.0.0.1:$admin_port
status_of() { sed -n "s/^$1:[[:space:]]*//p" "/proc/$sanjogd_pid/status"; }
[ "$(status_of Uid | awk '{ print $1 }')" = "$(id -u "$($is_root && echo nobody || id -un)")" ] \
  || fail "sanjogd runs as uid $(status_of Uid)"
if $is_root; then
  [ "$(status_of NoNewPrivs)" = 1 ] || fail "sanjogd runs without no_new_privs"
  [ "$(status_of CapBnd)" = 0000000000000000 ] || fail "sanjogd has capabilities in its bounding set: $(status_of CapBnd)"
fi
joined=$(printf '%s; ' "${how[@]}")
ok "sanjogd started (${joined%; }), admin listener on port $admin_port"

ready() { [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$admin/readyz")" = 200 ]; }
poll 20 ready || { log_tail; fail "/readyz is not 200 within 20 s"; }
ok "GET /readyz: 200"
curl -fsS --max-time 5 "$admin/metrics" >"$tmp/metrics.txt" || fail "GET /metrics"
grep -q '^sanjog_build_info{' "$tmp/metrics.txt" || fail "/metrics has no sanjog_build_info"
ok "GET /metrics: $(grep '^sanjog_build_info{' "$tmp/metrics.txt")"
set +e
SANJOG_ADMIN_URL=$admin SANJOG_ADMIN_TOKEN=$token "$sanjogctl" status >"$tmp/status.out" 2>&1
rc=$?
set -e
[ "$rc" = 0 ] || { cat "$tmp/status.out" >&2; fail "sanjogctl status exited $rc"; }
if [ "${launcher[0]:-}" = unshare ]; then
  grep -q '(pid 1)' "$tmp/status.out" || fail "sanjogd is not PID 1 in its namespace: $(head -n 1 "$tmp/status.out")"
fi
ok "sanjogctl status: $(head -n 1 "$tmp/status.out")"

kill -TERM "$sanjogd_pid"
exited() { [ ! -e "/proc/$daemon_pid" ] || [ "$(awk '{ print $3 }' "/proc/$daemon_pid/stat" 2>/dev/null)" = Z ]; }
t0=$(now_ms)
poll 30 exited || { log_tail; fail "sanjogd did not exit within 30 s of SIGTERM (the unit's TimeoutStopSec)"; }
set +e
wait "$daemon_pid"
rc=$?
set -e
daemon_pid=""
[ "$rc" = 0 ] || { log_tail; fail "sanjogd exited $rc after SIGTERM, expected 0"; }
grep -q '"msg":"stopped cleanly"' "$run/sanjogd.log" || { log_tail; fail "sanjogd did not log \"stopped cleanly\""; }
ok "SIGTERM: exit 0 after $(( $(now_ms) - t0 )) ms, \"stopped cleanly\""

# ---- 4. the unit: systemd-analyze ---------------------------------------------
echo "== systemd unit (systemd-analyze)"
if command -v systemd-analyze >/dev/null; then
  # The unit names /usr/bin/sanjogd, which is not this machine's: verify a
  # copy that names the DESTDIR's.
  mkdir "$tmp/unit"
  unit=$tmp/unit/sanjogd.service
  sed "s#/usr/bin/sanjogd#$sanjogd#g" "$root/usr/lib/systemd/system/sanjogd.service" >"$unit"
  set +e
  (cd "$tmp" && systemd-analyze verify "$unit") >"$tmp/verify.out" 2>&1
  rc=$?
  set -e
  # Harmless: a dependency target the host (a minimal container) lacks.
  unexpected=$(grep -vE 'Unit [a-z-]+\.target not found' "$tmp/verify.out" || true)
  if [ "$rc" != 0 ] || [ -n "$unexpected" ]; then
    cat "$tmp/verify.out" >&2; fail "systemd-analyze verify sanjogd.service (exit $rc)"
  fi
  ok "systemd-analyze verify sanjogd.service: no warnings ($(systemd-analyze --version | head -n 1))"
  (cd "$tmp" && systemd-analyze security --offline=yes --no-pager "$unit") >"$tmp/security.out" 2>&1 \
    || { cat "$tmp/security.out" >&2; fail "systemd-analyze security --offline=yes"; }
  score=$(sed -n 's/.*Overall exposure level for sanjogd.service: \([0-9.]*\) \([A-Z]*\).*/\1 \2/p' "$tmp/security.out")
  [ -n "$score" ] || { cat "$tmp/security.out" >&2; fail "no overall exposure level in systemd-analyze security's output"; }
  # The settings with a non-zero exposure (the lines ending in a number).
  not_hardened() { awk '!/Overall/ && $NF ~ /^[0-9.]+$/ { printf "%s%s", sep, $2; sep = " " }' "$tmp/security.out"; }
  awk -v s="${score%% *}" -v m="$max_exposure" 'BEGIN { exit !(s <= m) }' \
    || fail "exposure $score is above $max_exposure (not hardened: $(not_hardened))"
  ok "systemd-analyze security --offline=yes: exposure $score (at most $max_exposure); not hardened: $(not_hardened)"
else
  skip "systemd-analyze not installed"
fi

# ---- 5. the Containerfile -----------------------------------------------------
echo "== container (scripts/check_containerfile.py; no engine)"
mkdir "$tmp/configure"
python3 scripts/check_containerfile.py --installed-root "$root" --configure-in "$tmp/configure" \
  >"$tmp/containerfile.out" 2>&1 || { cat "$tmp/containerfile.out" >&2; fail "scripts/check_containerfile.py"; }
cat "$tmp/containerfile.out"

echo "check-deploy: all checks passed in $(( ($(date +%s%N) - start_ns) / 1000000000 ))s"
