#!/usr/bin/env bash
# relay-scrape.sh: what a Prometheus scrape of /metrics costs a busy relay holding many sessions.
# In one daemon run, two fixed-rate steps of `relay-load run` (fresh busy calls each):
#   step "off": no scraping;
#   step "on":  a timed HTTP GET of /metrics every SCRAPE_EVERY s (1), curl on LOAD_CORE at the
#               tool's priority, as a remote scraper costs the relay nothing but the answer.
# Each step sends WARMUP s + DURATION s of RTP on CALLS calls at RATE pps and prints the loss;
# IDLE more calls are held through both steps by `relay-load hold` (ng offer + answer each, no
# socket of the tool behind them, nothing sent on them). The scrape latencies are taken only
# while the daemon reports all IDLE + CALLS sessions held (ferrovox_media_sessions in the
# scraped body) and printed as median and max, with both steps' loss and the drops the
# daemon itself counted (ferrovox_media_drops_total, ferrovox_nic_drops_total).
#
# BACKEND=socket (default): one socket-backend worker, every thread on RELAY_CORE, everything
#   on 127.0.0.1. Every relay port is a socket (4 per call, idle or busy) and both processes
#   raise their open-file limit to the hard limit only, so CALLS + IDLE is bounded by
#   (hard limit - 256) / 4; one address's range RELAY_PORTS holds range / 4 calls.
# BACKEND=dpdk: Ferrovox built with `--features dpdk`, one DPDK worker on RELAY_CORE
#   busy-polling a `net_af_packet` port (`--no-huge`), the control thread (ng, /metrics) on
#   CONTROL_CORE. The daemon runs in a network namespace of its own and the tool in a peer
#   one, joined by two veth pairs the script creates and removes: the media link (the DPDK
#   port on the relay's side, owning the relay addresses 10.77.0.1..N, which it answers ARP
#   for; the tool's endpoints on 10.77.0.100) and the control link (kernel addresses
#   10.77.1.1 and 10.77.1.2: ng). /metrics listens on 127.0.0.1 inside the relay's namespace
#   and curl runs there. No socket per relay port: the sessions are bounded by ports only,
#   so the relay gets as many addresses as IDLE + CALLS need (two port pairs per call).
#
# Every process started here is killed and every namespace removed on exit. Settings from the
# environment (defaults: socket / dpdk):
#   BACKEND=socket CALLS=4800/2000 IDLE=0/98000 RATE=150000/40000 SIZE=172 BURST=4 GSO=on
#   WARMUP=2 DURATION=10 RELAY_CORE=1 LOAD_CORE=0 CONTROL_CORE=(dpdk) LOAD_CORE SCRAPE_EVERY=1
#   RELAY_PORTS="6000 31999"/"1024 65535" SKIP_BUILD=0 FERROVOX=<target>/release/ferrovox
set -euo pipefail

# shellcheck source=benches/own-session.sh
source "$(dirname "${BASH_SOURCE[0]}")/own-session.sh"
own_session RELAY_SCRAPE_INNER "$@"

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
BACKEND=${BACKEND:-socket}
case $BACKEND in
socket) defaults=(4800 0 150000 "6000 31999") ;;
dpdk) defaults=(2000 98000 40000 "1024 65535") ;;
*) echo "BACKEND is socket or dpdk, not $BACKEND" >&2; exit 1 ;;
esac
CALLS=${CALLS:-${defaults[0]}}
IDLE=${IDLE:-${defaults[1]}}
RATE=${RATE:-${defaults[2]}}
SIZE=${SIZE:-172}
BURST=${BURST:-4}
GSO=${GSO:-on}
WARMUP=${WARMUP:-2}
DURATION=${DURATION:-10}
RELAY_CORE=${RELAY_CORE:-1}
LOAD_CORE=${LOAD_CORE:-0}
CONTROL_CORE=${CONTROL_CORE:-$LOAD_CORE}
SCRAPE_EVERY=${SCRAPE_EVERY:-1}
read -r PORT_MIN PORT_MAX <<<"${RELAY_PORTS:-${defaults[3]}}"
SKIP_BUILD=${SKIP_BUILD:-0}
FERROVOX=${FERROVOX:-$TARGET_DIR/release/ferrovox}
LOAD=$TARGET_DIR/release/relay-load
SESSIONS=$((CALLS + IDLE))
PAIRS_PER_ADDR=$(((PORT_MAX + 1 - PORT_MIN) / 2))
# Two port pairs per call (one per leg); one more address than that, for the ports each step's
# busy calls return.
ADDRS=$(((2 * SESSIONS + PAIRS_PER_ADDR - 1) / PAIRS_PER_ADDR + 1))

say() { printf '%s\n' "$*" >&2; }
need() { command -v "$1" >/dev/null || { say "$1 is needed (apt install $2)"; exit 1; }; }
need curl curl
if [[ $BACKEND == socket ]]; then
    NG=127.0.0.1:5990
    METRICS=127.0.0.1:5991
    if ((SESSIONS * 4 + 256 > $(ulimit -Hn))); then
        say "CALLS + IDLE = $SESSIONS needs $((SESSIONS * 4 + 256)) descriptors in the relay; the hard limit is $(ulimit -Hn)"
        exit 1
    fi
    if ((2 * SESSIONS > PAIRS_PER_ADDR)); then
        say "CALLS + IDLE = $SESSIONS needs $((2 * SESSIONS)) port pairs; RELAY_PORTS has $PAIRS_PER_ADDR"
        exit 1
    fi
else
    [[ $(id -u) == 0 ]] || { say "BACKEND=dpdk needs root (namespaces, veth pairs, DPDK)"; exit 1; }
    need ip iproute2
    need ethtool ethtool
    ((ADDRS <= 99)) || { say "CALLS + IDLE = $SESSIONS needs $ADDRS relay addresses (at most 99)"; exit 1; }
    NG=10.77.1.1:5990
    METRICS=127.0.0.1:5991
fi
if [[ $SKIP_BUILD != 1 ]]; then
    (cd "$ROOT" && cargo build --release -p benches)
    if [[ $BACKEND == dpdk ]]; then
        (cd "$ROOT" && cargo build --release -p ferrovox --features dpdk)
    else
        (cd "$ROOT" && cargo build --release -p ferrovox)
    fi
fi

WORK=$(mktemp -d /tmp/relay-scrape.XXXXXX)
TAG=fvs$$
RELAY_NS=$TAG-relay
LOAD_NS=$TAG-load
RELAY_PID=
SCRAPER_PID=
HOLD_PID=
cleanup() {
    local pid
    exec 7>&- 2>/dev/null || true
    for pid in $SCRAPER_PID $HOLD_PID $RELAY_PID; do
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
    done
    if [[ $BACKEND == dpdk ]]; then
        ip netns del "$RELAY_NS" 2>/dev/null || true
        ip netns del "$LOAD_NS" 2>/dev/null || true
        rm -rf "/var/run/dpdk/$TAG"
    fi
    echo "logs and outputs: $WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Prefixes that run a command in the relay's / the tool's network namespace (none on sockets).
IN_RELAY=()
IN_LOAD=()
if [[ $BACKEND == dpdk ]]; then
    IN_RELAY=(ip netns exec "$RELAY_NS")
    IN_LOAD=(ip netns exec "$LOAD_NS")
fi
# relay-load's addressing options.
SCOPE=(--ng "$NG")
[[ $BACKEND == dpdk ]] && SCOPE+=(--local 10.77.0.100 --relay-net 10.77.0.0/16)

# Every thread of PID at nice -20 (as root; the session is at autogroup nice -20 too).
boost() {
    local tid
    [[ $(id -u) == 0 ]] || return 0
    for tid in /proc/"$1"/task/*; do renice -n -20 -p "${tid##*/}" >/dev/null 2>&1 || true; done
}
prio() { if [[ $(id -u) == 0 ]]; then nice -n -20 "$@"; else "$@"; fi; }

# The two namespaces and veth pairs of BACKEND=dpdk. The relay's media end has no kernel
# address, no IPv6 and no forwarding (DPDK owns it); the tool's media end computes full
# checksums (a veth offloads them, and `net_af_packet` would see partial ones).
make_namespaces() {
    local ns end
    for ns in "$RELAY_NS" "$LOAD_NS"; do
        ip netns add "$ns"
        ip -n "$ns" link set lo up
        ip netns exec "$ns" sh -c 'echo 1 >/proc/sys/net/ipv6/conf/all/disable_ipv6
            echo 1 >/proc/sys/net/ipv6/conf/default/disable_ipv6'
    done
    ip link add "${TAG}m0" netns "$RELAY_NS" type veth peer name "${TAG}m1" netns "$LOAD_NS"
    ip link add "${TAG}c0" netns "$RELAY_NS" type veth peer name "${TAG}c1" netns "$LOAD_NS"
    for end in m0 m1; do
        ip netns exec "$([[ $end == m0 ]] && echo "$RELAY_NS" || echo "$LOAD_NS")" \
            sh -c "echo 1 >/proc/sys/net/ipv6/conf/${TAG}$end/disable_ipv6"
    done
    ip netns exec "$RELAY_NS" sh -c "echo 0 >/proc/sys/net/ipv4/conf/${TAG}m0/forwarding"
    ip netns exec "$LOAD_NS" ethtool -K "${TAG}m1" tx off >/dev/null
    ip -n "$LOAD_NS" addr add 10.77.0.100/24 dev "${TAG}m1"
    ip -n "$RELAY_NS" addr add 10.77.1.1/24 dev "${TAG}c0"
    ip -n "$LOAD_NS" addr add 10.77.1.2/24 dev "${TAG}c1"
    for end in m0 c0; do ip -n "$RELAY_NS" link set "${TAG}$end" up; done
    for end in m1 c1; do ip -n "$LOAD_NS" link set "${TAG}$end" up; done
}

# The backend's part of the config.
backend_config() {
    if [[ $BACKEND == socket ]]; then
        cat <<EOF
[ng]
listen = "$NG"
rate = 0

[dataplane]
backend = "socket"
worker_cores = [$RELAY_CORE]
control_core = $RELAY_CORE
EOF
        return
    fi
    cat <<EOF
[ng]
listen = "$NG"
allow = ["10.77.1.0/24"]
rate = 0
cookie_cache_secs = 5

[dataplane]
backend = "dpdk"
worker_cores = [$RELAY_CORE]
control_core = $CONTROL_CORE

[dataplane.dpdk]
vdevs = ["net_af_packet0,iface=${TAG}m0,framecnt=4096"]
no_huge = true
memory_mb = 512
mbufs = 16383
rx_desc = 1024
tx_desc = 1024
file_prefix = "$TAG"

[[dataplane.dpdk.port]]
device = "net_af_packet0"
interfaces = ["external"]
prefix_len = 24
EOF
}

start_ferrovox() {
    local i address n=1
    [[ $BACKEND == dpdk ]] && n=$ADDRS
    {
        echo "# Generated by relay-scrape.sh: $BACKEND backend, one worker on core $RELAY_CORE."
        printf '[general]\nlog_level = "warn"\n\n'
        backend_config
        # No RTP ever flows on an idle call: its timeout must outlast the run.
        printf '\n[media]\ndelete_delay_secs = 0\ntimeout_secs = 3600\noffer_timeout_secs = 600\n'
        printf '\n[metrics]\nlisten = "%s"\n\n[admin]\nsocket = "%s"\n' "$METRICS" "$WORK/admin.sock"
        for ((i = 1; i <= n; i++)); do
            address=127.0.0.1
            [[ $BACKEND == dpdk ]] && address=10.77.0.$i
            printf '\n[[interface]]\nname = "external"\naddress = "%s"\nport_min = %s\nport_max = %s\n' \
                "$address" "$PORT_MIN" "$PORT_MAX"
        done
    } >"$WORK/ferrovox.toml"
    "${IN_RELAY[@]}" "$FERROVOX" --config "$WORK/ferrovox.toml" >"$WORK/ferrovox.log" 2>&1 &
    RELAY_PID=$!
}

# One scrape a second until killed: "unix-time seconds-taken sessions-held http-code bytes" a
# line. The body goes through a pipe, never to a file: on a busy disk, curl writing it was
# seen blocked in the kernel for most of a second, which is the disk's time, not the relay's.
scraper() {
    local t line
    while :; do
        t=$(date +%s.%N)
        line=$("${IN_RELAY[@]}" curl -s --max-time 5 -w '\nCURL %{http_code} %{time_total}\n' \
            "http://$METRICS/metrics" | awk '
                $1 == "ferrovox_media_sessions" { s = $2 }
                $1 == "CURL" { c = $2; x = $3; next }
                { b += length($0) + 1 }
                END { printf "%s %s %s %d\n", x == "" ? "na" : x, s == "" ? "na" : s, c == "" ? "000" : c, b }')
        echo "$t $line"
        sleep "$(awk -v t="$t" -v n="$(date +%s.%N)" -v e="$SCRAPE_EVERY" \
            'BEGIN { d = e - (n - t); print (d > 0 ? d : 0) }')"
    done
}

# The packets the daemon counted as dropped (relay and NIC), from one scrape.
daemon_drops() {
    "${IN_RELAY[@]}" curl -s --max-time 5 "http://$METRICS/metrics" |
        awk '$1 ~ /^ferrovox_(media_drops_total|nic_drops_total)[{ ]/ { n += $2 } END { printf "%d\n", n }'
}

# Holds IDLE idle calls until fd 7 closes; returns once the daemon holds them.
hold_idle() {
    local _
    mkfifo "$WORK/hold.fifo"
    # nice, taskset and ip exec the next: $! is relay-load's pid.
    prio taskset -c "$LOAD_CORE" "${IN_LOAD[@]}" "$LOAD" hold "${SCOPE[@]}" \
        --idle-calls "$IDLE" --ng-timeout 2000 <"$WORK/hold.fifo" >"$WORK/hold.out" 2>&1 &
    HOLD_PID=$!
    exec 7>"$WORK/hold.fifo"
    for _ in $(seq 1200); do
        grep -q '^HELD ' "$WORK/hold.out" && { cat "$WORK/hold.out" >&2; return 0; }
        kill -0 "$HOLD_PID" 2>/dev/null || break
        sleep 0.25
    done
    cat "$WORK/hold.out" >&2
    say "the idle calls were not set up"
    exit 1
}

# Closes fd 7: the holder deletes its calls and exits.
release_idle() {
    exec 7>&-
    wait "$HOLD_PID" 2>/dev/null || true
    HOLD_PID=
    tail -n 2 "$WORK/hold.out" >&2
}

# step NAME: one fixed-rate step with fresh calls; the tool's output in $WORK/NAME.out, the
# daemon's drop count before and after in $WORK/NAME.drops.
step() {
    daemon_drops >"$WORK/$1.drops"
    prio taskset -c "$LOAD_CORE" "${IN_LOAD[@]}" "$LOAD" run "${SCOPE[@]}" \
        --rate "$RATE" --calls "$CALLS" --size "$SIZE" --burst "$BURST" --gso "$GSO" \
        --warmup "$WARMUP" --duration "$DURATION" --relay-pid "$RELAY_PID" --label "scrape-$1" \
        --ng-timeout 2000 | tee "$WORK/$1.out" >&2
    daemon_drops >>"$WORK/$1.drops"
}

# step_value NAME KEY: KEY of the step's STEP line.
step_value() { grep '^STEP ' "$WORK/$1.out" | tr ' ' '\n' | awk -F= -v k="$2" '$1 == k { print $2 }'; }
drops_in() { awk 'NR == 1 { a = $1 } NR == 2 { print $1 - a }' "$WORK/$1.drops"; }

LOADAVG_START=$(cut -d' ' -f1-3 /proc/loadavg)
[[ $BACKEND == dpdk ]] && make_namespaces
start_ferrovox
"${IN_LOAD[@]}" "$LOAD" ping "${SCOPE[@]}" --wait 30 >&2 || {
    tail -n 5 "$WORK/ferrovox.log" >&2
    say "ferrovox does not answer ng"
    exit 1
}
# The socket backend's threads all go to the relay core; DPDK's EAL pins the worker lcore and
# the control thread itself.
[[ $BACKEND == socket ]] && taskset -a -p -c "$RELAY_CORE" "$RELAY_PID" >/dev/null
boost "$RELAY_PID"
if ((IDLE > 0)); then
    say "== holding $IDLE idle calls =="
    hold_idle
fi

say "== step off: $CALLS busy calls ($SESSIONS sessions), $RATE pps, no scraping =="
step off
say "== step on: the same with a scrape every $SCRAPE_EVERY s =="
# The scraper's subshell on the tool's core at its priority; the curls it starts inherit both.
scraper >"$WORK/scrapes.txt" &
SCRAPER_PID=$!
taskset -p -c "$LOAD_CORE" "$SCRAPER_PID" >/dev/null
boost "$SCRAPER_PID"
step on
kill "$SCRAPER_PID" 2>/dev/null || true
wait "$SCRAPER_PID" 2>/dev/null || true
SCRAPER_PID=
kill -0 "$RELAY_PID" || { say "ferrovox exited during the run"; exit 1; }
RSS=$(awk '/^VmRSS/ { printf "%.0f MiB", $2 / 1024 }' "/proc/$RELAY_PID/status")
((IDLE > 0)) && release_idle

# Scrapes taken while every session was held (not during set-up or tear-down).
awk -v n="$SESSIONS" '$3 == n && $4 == 200 { print $2 * 1000 }' "$WORK/scrapes.txt" | sort -n \
    >"$WORK/held.ms"
held=$(wc -l <"$WORK/held.ms")
failed=$(awk '$4 != 200' "$WORK/scrapes.txt" | wc -l)
median=$(awk '{ v[NR] = $1 } END { if (NR) printf "%.1f", (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2); else print "na" }' "$WORK/held.ms")
max=$(tail -n 1 "$WORK/held.ms")
p99=$(awk '{ v[NR] = $1 } END { if (NR) printf "%.1f", v[int(NR * 0.99) + (NR * 0.99 > int(NR * 0.99))]; else print "na" }' "$WORK/held.ms")
body_kb=$(awk '$4 == 200 { b = $5 } END { printf "%d", b / 1024 }' "$WORK/scrapes.txt")
if [[ $BACKEND == dpdk ]]; then
    layout="DPDK backend (net_af_packet on a veth pair, --no-huge), 1 worker on core $RELAY_CORE, control on core $CONTROL_CORE, $ADDRS relay addresses"
else
    layout="socket backend, 1 worker and every thread on core $RELAY_CORE"
fi
share() { awk -v s="$(step_value "$1" "$2")" 'BEGIN { if (s == "na" || s == "") print "na"; else printf "%.1f%%", s * 100 }'; }
{
    echo
    echo "================ /metrics scrape under relay load ================"
    printf '  %-26s %s\n' "CPU" "$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo), $(nproc) cores"
    printf '  %-26s %s\n' "load average at start" "$LOADAVG_START"
    printf '  %-26s %s\n' "ferrovox" "rev $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown), $layout"
    printf '  %-26s %s\n' "sessions held" "$SESSIONS: $IDLE idle + $CALLS busy ($((CALLS * 2)) streams); relay RSS $RSS"
    printf '  %-26s %s\n' "traffic" "$RATE pps on the busy calls, ${SIZE}-byte RTP, bursts of $BURST"
    printf '  %-26s %s\n' "per step" "${WARMUP} s warm-up + ${DURATION} s measured"
    for s in off on; do
        printf '  %-26s %s\n' "loss, $([[ $s == off ]] && echo "no scraping" || echo "scrape every $SCRAPE_EVERY s")" \
            "$(step_value $s loss_pct)% of $(step_value $s sent) (relay process $(share $s relay_core_share) of a core, tool $(share $s tool_core_share), $(step_value $s skipped) skipped by the tool; daemon-counted drops $(drops_in $s))"
    done
    printf '  %-26s %s\n' "scrapes, all held" "$held (failed: $failed), body ${body_kb} KiB"
    printf '  %-26s %s\n' "scrape time (curl total)" "median ${median} ms, p99 ${p99} ms, max ${max:-na} ms"
    # MET: every scrape under 50 ms and the step with scraping lost no more than the one
    # without. A baseline step that itself lost 0.1% or more (the relay starved by other work
    # on its core, a stream that never flowed) proves nothing about the scrape: INCONCLUSIVE.
    verdict=$(awk -v m="${max:-na}" -v on="$(step_value on loss_pct)" \
        -v off="$(step_value off loss_pct)" -v dead="$(step_value off dead_streams)" 'BEGIN {
            if (off == "" || off >= 0.1 || dead > 0) print "INCONCLUSIVE (the step without scraping lost " off "%)"
            else if (m != "na" && m < 50 && on <= off) print "MET"
            else print "NOT MET" }')
    printf '  %-26s %s\n' "target" "every scrape < 50 ms, no loss added by scraping: $verdict"
    echo "=================================================================="
} | tee "$WORK/summary.txt"
[[ $held -gt 0 ]] || { say "no scrape saw all $SESSIONS sessions held"; exit 1; }
