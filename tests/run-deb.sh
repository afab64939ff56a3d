#!/usr/bin/env bash
# The deployment kit end to end, as root on a Debian 12 machine without the ferrovox package:
#
# 1. the shell scripts of deploy/ pass shellcheck, and `ferrovox-host-kit check` reports a
#    made-up host tree right (all present: exit 0; each part missing: exit 1 naming it) and
#    changes nothing in it;
# 2. deploy/build-deb.sh builds the package (a release build in the workspace's target dir);
#    `apt-get install ./ferrovox_*.deb` installs it: the binaries, the conffile, the ferrovox
#    system user, ferrovoxctl's shell completions, the Grafana dashboard, the unit, which
#    `systemd-analyze verify` accepts alone and with each drop-in;
# 3. the installed daemon runs with the installed config as the unit runs it (user ferrovox, only
#    the unit's capabilities, no new privileges, its open-file limit, stderr as a journal stream)
#    in a network namespace of its own: READY=1 reaches NOTIFY_SOCKET, the watchdog pings, it
#    answers an ng ping and a SIP OPTIONS, logs without timestamps with journal priorities, and
#    on SIGTERM sends STOPPING=1 and exits 0;
# 4. `apt-get purge` removes it and the machine is as it was (user, group, files, unit links).
#
# Needs root, apt, cargo-deb, systemd-analyze, shellcheck, python3, ip, setpriv
# (deploy/install-deps.sh --test). A missing need fails the run, unless FERROVOX_TEST_SKIP names
# it (tests/README.md).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

SCRIPT=run-deb
# shellcheck source=tests/unmet.sh
source tests/unmet.sh
fail() {
    echo "run-deb: FAILED: $*" >&2
    exit 1
}
[ "$(id -u)" = 0 ] || unmet root "not root: the test installs and purges a package"
for tool in shellcheck systemd-analyze python3 ip setpriv apt-get dpkg-deb; do
    command -v "$tool" >/dev/null 2>&1 || unmet "$tool" "$tool not found: deploy/install-deps.sh --test"
done
cargo deb --version >/dev/null 2>&1 || unmet cargo-deb "cargo-deb not found: deploy/install-deps.sh --test"
if dpkg-query -W -f='${Status}' ferrovox 2>/dev/null | grep -q installed; then
    fail "the ferrovox package is installed on this machine; the test would purge it"
fi
if getent passwd ferrovox >/dev/null || getent group ferrovox >/dev/null; then
    fail "a ferrovox user or group exists; the package's purge would remove it"
fi

work=$(mktemp -d)
chmod 755 "$work"
netns="ferrovox-deb-$$"
daemon=""
listener=""
cleanup() {
    set +e
    [ -n "$daemon" ] && kill -KILL "$daemon" 2>/dev/null
    [ -n "$listener" ] && kill "$listener" 2>/dev/null
    ip netns del "$netns" 2>/dev/null
    if dpkg-query -W -f='${Status}' ferrovox 2>/dev/null | grep -q installed; then
        DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq -o DPkg::Lock::Timeout=300 ferrovox >/dev/null 2>&1
    fi
    rm -rf "$work"
}
trap cleanup EXIT

echo "== deploy scripts: shellcheck"
shellcheck -x deploy/*.sh deploy/debian/postinst deploy/debian/postrm tests/run-deb.sh

echo "== host kit: check on a made-up host"
tests/deb/host-kit-check.sh "$work/host"

# What the package may touch, to compare after the purge.
snapshot() {
    getent passwd ferrovox || true
    getent group ferrovox || true
    # (find fails on the paths that do not exist: those are part of the answer.)
    { find /etc/ferrovox /usr/share/ferrovox /usr/share/doc/ferrovox /etc/systemd/system \
        /var/lib/systemd/deb-systemd-helper-enabled /var/lib/systemd/deb-systemd-helper-masked \
        /usr/lib/systemd/system/ferrovox.service /usr/bin/ferrovox /usr/bin/ferrovoxctl \
        /usr/sbin/ferrovox-host-kit /usr/share/bash-completion/completions/ferrovoxctl \
        /usr/share/zsh/vendor-completions/_ferrovoxctl \
        /usr/share/fish/vendor_completions.d/ferrovoxctl.fish 2>/dev/null || true; } | sort
}
snapshot >"$work/before"

echo "== build the package"
start=$SECONDS
deb=$(deploy/build-deb.sh --fast)
[ -f "$deb" ] || fail "deploy/build-deb.sh printed no package path (got: $deb)"
echo "$deb ($(du -h "$deb" | cut -f1), built in $((SECONDS - start)) s)"
dpkg-deb --info "$deb" | sed -n '/Package:/,$p'

echo "== apt-get install ./$(basename "$deb")"
cp "$deb" "$work/"
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=300 \
    "$work/$(basename "$deb")" >"$work/apt.log" 2>&1 || { cat "$work/apt.log"; fail "apt-get install"; }
tests/deb/installed.sh

echo "== systemd-analyze verify"
unit=/usr/lib/systemd/system/ferrovox.service
# verify prints what it finds wrong (and exits 0 for some of it): any output fails.
verify() {
    local out
    out=$(systemd-analyze verify "$1" 2>&1) || { echo "$out"; fail "systemd-analyze verify $1"; }
    [ -z "$out" ] || { echo "$out"; fail "systemd-analyze verify $1 complained"; }
}
verify "$unit"
echo "$unit: ok"
# The hardening, scored offline (0 = locked down, 10 = none): the unit must stay below 3.
exposure=$(systemd-analyze security --offline=true --threshold=30 "$unit" 2>&1 | tail -n 1) ||
    { echo "$exposure"; fail "systemd-analyze security: the unit's exposure rose above 3.0"; }
echo "${exposure#→ }"
for dropin in dpdk af-xdp ha; do
    mkdir -p "$work/units/$dropin/ferrovox.service.d"
    cp "$unit" "$work/units/$dropin/"
    cp "/usr/share/ferrovox/systemd/$dropin.conf" "$work/units/$dropin/ferrovox.service.d/"
    [ "$dropin" = af-xdp ] && cp /usr/share/ferrovox/systemd/dpdk.conf "$work/units/$dropin/ferrovox.service.d/"
    verify "$work/units/$dropin/ferrovox.service"
    echo "$unit + $dropin.conf: ok"
done

echo "== the installed daemon, run as the unit runs it"
ip netns add "$netns"
ip -n "$netns" link set lo up
python3 tests/deb/notify_listener.py "$work/notify.sock" >"$work/notify.log" &
listener=$!
for _ in $(seq 50); do [ -S "$work/notify.sock" ] && break; sleep 0.1; done
[ -S "$work/notify.sock" ] || fail "the notify listener did not bind"
: >"$work/daemon.err"
journal_stream=$(stat -c '%d:%i' "$work/daemon.err")
# The unit: User=ferrovox, AmbientCapabilities/CapabilityBoundingSet=CAP_NET_BIND_SERVICE
# CAP_SYS_NICE, NoNewPrivileges=yes, LimitNOFILE=1048576, RuntimeDirectory=ferrovox (made here
# as systemd makes /run/ferrovox, but in the test's directory), working directory /, a clean
# environment.
install -d -o ferrovox -g ferrovox -m 0755 "$work/run"
# LimitNOFILE sets the soft and the hard limit; a test host (a container) may cap the hard one.
nofile=$(ulimit -Hn)
if [ "$nofile" = unlimited ] || [ "$nofile" -gt 1048576 ]; then nofile=1048576; fi
cd /
ip netns exec "$netns" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin RUNTIME_DIRECTORY="$work/run" \
    NOTIFY_SOCKET="$work/notify.sock" WATCHDOG_USEC=1000000 JOURNAL_STREAM="$journal_stream" \
    prlimit --nofile="$nofile:$nofile" -- \
    setpriv --reuid=ferrovox --regid=ferrovox --init-groups \
    --inh-caps=-all,+net_bind_service,+sys_nice --ambient-caps=-all,+net_bind_service,+sys_nice \
    --bounding-set=-all,+net_bind_service,+sys_nice --no-new-privs -- \
    /usr/bin/ferrovox run --config /etc/ferrovox/ferrovox.toml 2>>"$work/daemon.err" &
daemon=$!
cd "$OLDPWD"
tests/deb/running.sh "$daemon" "$netns" "$work"
kill -TERM "$daemon"
status=0
wait "$daemon" || status=$?
daemon=""
[ "$status" = 0 ] || { cat "$work/daemon.err"; fail "the daemon exited with $status after SIGTERM"; }
wait "$listener" || true
listener=""
grep -qx 'STOPPING=1' "$work/notify.log" || { cat "$work/notify.log"; fail "no STOPPING=1"; }
echo "SIGTERM: STOPPING=1 sent, exit 0"
grep -q '^<6> INFO ferrovox::run: ferrovox stopped' "$work/daemon.err" ||
    { cat "$work/daemon.err"; fail "no 'ferrovox stopped' journal line"; }

echo "== apt-get purge ferrovox"
DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq -o DPkg::Lock::Timeout=300 ferrovox >"$work/apt.log" 2>&1 ||
    { cat "$work/apt.log"; fail "apt-get purge"; }
snapshot >"$work/after"
diff -u "$work/before" "$work/after" || fail "the purge left the machine changed (diff above)"
echo "purged: no user, group, file or unit link left"
echo "== package tests passed"
