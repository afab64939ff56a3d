#!/usr/bin/env bash
# tests/run-deb.sh, while the installed daemon runs: running.sh PID NETNS WORKDIR
# READY=1 and watchdog pings on the notify socket, the process's user and capabilities, an ng
# ping and a SIP OPTIONS answered inside the namespace, journal-style log lines.
set -euo pipefail
pid=$1 netns=$2 work=$3
fail() {
    echo "run-deb: FAILED: $*" >&2
    echo "--- notify socket:" >&2
    cat "$work/notify.log" >&2
    echo "--- daemon stderr:" >&2
    cat "$work/daemon.err" >&2
    exit 1
}

for _ in $(seq 200); do
    grep -qx 'READY=1' "$work/notify.log" && break
    kill -0 "$pid" 2>/dev/null || fail "the daemon exited before READY=1"
    sleep 0.1
done
grep -qx 'READY=1' "$work/notify.log" || fail "no READY=1 within 20 s"
grep -q '^STATUS=ready' "$work/notify.log" || fail "READY=1 without its STATUS line"
echo "READY=1 received ($(grep '^STATUS=' "$work/notify.log" | head -n 1))"

# CAP_NET_BIND_SERVICE (10) and CAP_SYS_NICE (23), and nothing else, effective and bounding.
want_caps=0000000000800400
status=/proc/$pid/status
[ "$(awk '/^Uid:/ { print $2 }' "$status")" = "$(id -u ferrovox)" ] || fail "not running as ferrovox"
[ "$(awk '/^CapEff:/ { print $2 }' "$status")" = "$want_caps" ] || fail "CapEff $(grep CapEff "$status")"
[ "$(awk '/^CapBnd:/ { print $2 }' "$status")" = "$want_caps" ] || fail "CapBnd $(grep CapBnd "$status")"
[ "$(awk '/^NoNewPrivs:/ { print $2 }' "$status")" = 1 ] || fail "NoNewPrivs is not set"
echo "process $pid: user ferrovox, CapEff=CapBnd=$want_caps (net_bind_service, sys_nice), NoNewPrivs"

ip netns exec "$netns" python3 - <<'PY' || fail "ng ping or SIP OPTIONS unanswered"
import socket

def ask(port, data):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(5)
    s.sendto(data, ("127.0.0.1", port))
    return s.recvfrom(65535)[0]

reply = ask(2223, b"c00k1e d7:command4:pinge")
assert reply == b"c00k1e d6:result4:ponge", reply
print("ng ping on 127.0.0.1:2223: pong")
options = (
    "OPTIONS sip:127.0.0.1:5060 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-deb-test;rport\r\n"
    "Max-Forwards: 70\r\n"
    "From: <sip:test@127.0.0.1>;tag=deb1\r\n"
    "To: <sip:127.0.0.1:5060>\r\n"
    "Call-ID: deb-test-options\r\n"
    "CSeq: 1 OPTIONS\r\n"
    "Content-Length: 0\r\n\r\n"
).encode()
reply = ask(5060, options)
status = reply.split(b"\r\n", 1)[0]
assert status.startswith(b"SIP/2.0 200"), reply
print("SIP OPTIONS to 127.0.0.1:5060:", status.decode())
PY

for _ in $(seq 50); do
    [ "$(grep -cx 'WATCHDOG=1' "$work/notify.log")" -ge 2 ] && break
    sleep 0.1
done
[ "$(grep -cx 'WATCHDOG=1' "$work/notify.log")" -ge 2 ] || fail "fewer than 2 WATCHDOG=1 in 5 s (WATCHDOG_USEC=1s)"
echo "watchdog: $(grep -cx 'WATCHDOG=1' "$work/notify.log") WATCHDOG=1 so far"

# Under a journal stream: "<N>" priority first, no timestamp.
grep -q '^<6> INFO ferrovox::run: ferrovox ready' "$work/daemon.err" || fail "no journal-style ready line"
if grep -v '^<[0-7]>' "$work/daemon.err" | grep -q .; then
    fail "log lines without a priority prefix"
fi
if grep -qE '^<[0-7]> ?[0-9]{4}-[0-9]{2}-[0-9]{2}' "$work/daemon.err"; then
    fail "log lines carry a timestamp"
fi
echo "logs: $(wc -l <"$work/daemon.err") lines, each with a <N> priority, none with a timestamp"
