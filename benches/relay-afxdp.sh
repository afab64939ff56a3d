#!/usr/bin/env bash
# relay-afxdp.sh: relayed RTP packets per second on one relay core at under 0.1% loss, through
# three relays in one run, with the same ng calls and the same RTP load:
#   rtpengine       rtpengine 10.5 userspace (no kernel module, one thread), kernel sockets
#   ferrovox        Ferrovox, socket backend, one worker
#   ferrovox-afxdp  Ferrovox, DPDK backend over net_af_xdp (AF_XDP, native XDP on a veth), one
#                   busy-polling worker
#
# The relays run in a namespace of their own (fvb-relay), the load tool (relay-load) in
# another (fvb-load); two veth pairs join them:
#   media  10.99.0.2 (tool) <-> 10.99.0.1 (relay)   RTP; for ferrovox-afxdp the relay end has
#          no kernel address: the DPDK daemon opens it with AF_XDP and owns 10.99.0.1 itself
#   ctl    10.98.0.2 (tool) <-> 10.98.0.1 (relay)   ng (kernel sockets for every relay)
# Every relay is pinned to RELAY_CORE (all its threads; the DPDK worker and the control lcore
# too), the tool to LOAD_CORE. For each relay the tool sets up CALLS calls over ng, steps the
# aggregate RTP rate up and bisects to the highest rate with loss under LOSS percent, charging
# the relay's CPU time from /proc/<pid>/stat, and deletes the calls. A busy-polling DPDK
# worker uses all of its core whatever the load, so its packets per CPU-second equal its rate.
#
# Needs root (namespaces, DPDK), relay-load and ferrovox built with DPDK (release), rtpengine,
# iproute2 and ethtool. The namespaces and every process started here go away on exit.
# Settings come from the environment:
#   RELAYS="rtpengine ferrovox ferrovox-afxdp"
#   CALLS=100 SIZE=172 WARMUP=1 DURATION=3 LOSS=0.1 START_PPS=20000 MAX_PPS=2000000
#   MAX_STEPS=16 BURST=1 GSO=off RELAY_CORE=1 LOAD_CORE=0 SKIP_BUILD=0
#   CEILING=1 (also measure the tool's own ceiling: its endpoints send to each other)
#   PROFILE=PPS (after each search, `perf record` the relay core for PROFILE_SECS=4 s while
#     the tool offers PPS; the top symbols go to the report: where a relay's core goes)
#   RTPENGINE=/usr/bin/rtpengine  FERROVOX=<target>/release/ferrovox
#   RELAY_LOAD=<target>/release/relay-load
#   AFXDP_BUSY_BUDGET=0 (the af_xdp port's busy_budget; empty: the driver's default, 64)
#   BUSY_SECS=5 (after each Ferrovox search, a fixed-rate run at the rate found, this long,
#     reading the worker's busy time from /metrics 2 s in and at its end: the share of its
#     core that was work, and packets per busy core-second; 0: not measured)
#
#   BURST=1 benches/relay-afxdp.sh      smooth streams: one packet per socket per wake-up
set -euo pipefail

# shellcheck source=benches/own-session.sh
source "$(dirname "${BASH_SOURCE[0]}")/own-session.sh"
own_session RELAY_AFXDP_INNER "$@"

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
RELAYS=${RELAYS:-"rtpengine ferrovox ferrovox-afxdp"}
BURST=${BURST:-1}
GSO=${GSO:-off}
PROFILE=${PROFILE:-}
PROFILE_SECS=${PROFILE_SECS:-4}
AFXDP_BUSY_BUDGET=${AFXDP_BUSY_BUDGET-0}
BUSY_SECS=${BUSY_SECS:-5}
METRICS=127.0.0.1:9479
WORK=$(mktemp -d /tmp/relay-afxdp.XXXXXX)
# shellcheck source=benches/relay-common.sh
source "$ROOT/benches/relay-common.sh"

NS_LOAD=fvb-load
NS_RELAY=fvb-relay
MEDIA_TOOL=10.99.0.2
MEDIA_RELAY=10.99.0.1
CTL_TOOL=10.98.0.2
CTL_RELAY=10.98.0.1
RELAY_IF=fvb-media-r
PORTS=(30000 39999)

[[ $(id -u) == 0 ]] || { say "relay-afxdp.sh needs root (namespaces, DPDK)"; exit 1; }
for tool in ip ethtool taskset curl; do
    command -v "$tool" >/dev/null || { say "needs $tool (deploy/install-dpdk.sh)"; exit 1; }
done

cleanup() {
    stop_started
    ip netns del "$NS_LOAD" 2>/dev/null || true
    ip netns del "$NS_RELAY" 2>/dev/null || true
    echo "logs and outputs: $WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The two namespaces and veth pairs; the relay's media end gets its address only for the
# kernel-socket relays (with_media_address).
topology() {
    ip netns del "$NS_LOAD" 2>/dev/null || true
    ip netns del "$NS_RELAY" 2>/dev/null || true
    ip netns add "$NS_LOAD"
    ip netns add "$NS_RELAY"
    ip -n "$NS_LOAD" link add fvb-media-t type veth peer name "$RELAY_IF" netns "$NS_RELAY"
    ip -n "$NS_LOAD" link add fvb-ctl-t type veth peer name fvb-ctl-r netns "$NS_RELAY"
    ip -n "$NS_LOAD" addr add "$MEDIA_TOOL/24" dev fvb-media-t
    ip -n "$NS_LOAD" addr add "$CTL_TOOL/24" dev fvb-ctl-t
    ip -n "$NS_RELAY" addr add "$CTL_RELAY/24" dev fvb-ctl-r
    for ns in "$NS_LOAD" "$NS_RELAY"; do ip -n "$ns" link set lo up; done
    ip -n "$NS_LOAD" link set fvb-media-t up
    ip -n "$NS_LOAD" link set fvb-ctl-t up
    ip -n "$NS_RELAY" link set "$RELAY_IF" up
    ip -n "$NS_RELAY" link set fvb-ctl-r up
    # The ng replies go back to the tool's media address over the control link.
    ip -n "$NS_RELAY" route add "$MEDIA_TOOL/32" via "$CTL_TOOL" dev fvb-ctl-r
    # Full checksums on the wire: the DPDK relay checks UDP checksums in software.
    ip netns exec "$NS_LOAD" ethtool -K fvb-media-t tx off >/dev/null
}
with_media_address() {
    ip -n "$NS_RELAY" addr flush dev "$RELAY_IF"
    [[ $1 == on ]] && ip -n "$NS_RELAY" addr add "$MEDIA_RELAY/24" dev "$RELAY_IF"
    ip -n "$NS_LOAD" neigh flush dev fvb-media-t
    # The route above must survive the flush (it is on the control link).
    return 0
}

# p50 or p99 (microseconds) of the best step's round trip, from the tool's summary.
latency() {
    local l
    l=$(grep '^round-trip through the relay:' "$1" 2>/dev/null | tail -n 1 || true)
    [[ -n $l ]] || { echo na; return; }
    sed -E "s/.*$2 ([0-9]+) us.*/\\1/" <<<"$l"
}
LOAD_EXTRA=(--local "$MEDIA_TOOL" --relay-net 10.0.0.0/8)
run_load() {
    ip netns exec "$NS_LOAD" nice -n -20 taskset -c "$LOAD_CORE" "$LOAD" "$@"
}
# ng runs over the control link: ping from the tool's control address.
ping_args() { echo --wait 20 --local "$CTL_TOOL" --relay-net 10.0.0.0/8; }

# profile NAME NG: the relay core's profile at PROFILE pps (every process and the kernel's
# softirq work on it), top symbols in $WORK/NAME.profile.
profile() {
    local name=$1 ng=$2 load
    [[ -n $PROFILE ]] || return 0
    command -v perf >/dev/null || { say "PROFILE needs perf (linux-perf)"; return 1; }
    # shellcheck disable=SC2046
    run_load run --ng "$ng" --rate "$PROFILE" --label "$name-profile" $(load_args) \
        --duration $((PROFILE_SECS + 2)) >"$WORK/$name.profile-load.out" 2>&1 &
    load=$!
    sleep 2
    perf record -q -C "$RELAY_CORE" -o "$WORK/$name.perf.data" -- sleep "$PROFILE_SECS" \
        >/dev/null 2>&1 || say "$name: perf record failed"
    wait "$load" || true
    perf report -q -i "$WORK/$name.perf.data" --no-children --sort pid,dso,sym \
        --percent-limit 1.5 --stdio 2>/dev/null | sed '/^$/d' | head -n 25 >"$WORK/$name.profile"
}

# busy_secs FILE: the workers' busy seconds (summed), from /metrics in the relay's namespace
# (the scrape is kept in FILE).
busy_secs() {
    ip netns exec "$NS_RELAY" curl -sf --max-time 3 "http://$METRICS/metrics" >"$1" || return 0
    awk '$1 ~ /^ferrovox_worker_busy_seconds_total/ { s += $2; n++ } END { if (n) printf "%.6f", s }' "$1"
}

# busy NAME NG: a fixed-rate run at the rate NAME's search found, for BUSY_SECS; the share of
# the worker's core that was work over it and the rate relayed go to $WORK/NAME.busy
# ("share rate").
busy() {
    local name=$1 ng=$2 rate b0 b1 t0 t1
    [[ $BUSY_SECS != 0 ]] || return 0
    rate=$(field "$name" rate_pps)
    [[ $rate != na && $rate != 0 ]] || return 0
    # shellcheck disable=SC2046
    run_load run --ng "$ng" --rate "$rate" --label "$name-busy" $(load_args) \
        --warmup 1 --duration "$BUSY_SECS" >"$WORK/$name.busy-load.out" 2>&1 &
    local load=$!
    sleep 2
    b0=$(busy_secs "$WORK/$name.scrape0") t0=$(date +%s.%N)
    sleep "$((BUSY_SECS - 1))"
    b1=$(busy_secs "$WORK/$name.scrape1") t1=$(date +%s.%N)
    wait "$load" || true
    # What was relayed in the run's window (the step's own verdict does not matter here: a
    # tool that fell short of the rate still measured what it sent).
    rate=$(awk '$1 == "STEP" { for (i = 2; i <= NF; i++) { split($i, kv, "="); if (kv[1] == "relayed_pps") r = kv[2] } } END { print r + 0 }' \
        "$WORK/$name.busy-load.out")
    if [[ $rate == 0 ]]; then
        say "$name: the fixed-rate run for the busy time relayed nothing ($WORK/$name.busy-load.out)"
        return 1
    fi
    [[ -n $b0 && -n $b1 ]] || { say "$name: no worker busy time in /metrics"; return 1; }
    awk -v b0="$b0" -v b1="$b1" -v t0="$t0" -v t1="$t1" -v r="$rate" \
        'BEGIN { printf "%.4f %s\n", (b1 - b0) / (t1 - t0), r }' >"$WORK/$name.busy"
}

start_rtpengine() {
    with_media_address on
    ip netns exec "$NS_RELAY" taskset -c "$RELAY_CORE" "$RTPENGINE" --foreground --log-stderr \
        --table=-1 --interface="$MEDIA_RELAY" --listen-ng="$CTL_RELAY:22222" \
        --port-min="${PORTS[0]}" --port-max="${PORTS[1]}" --num-threads=1 --delete-delay=0 \
        --pidfile="$WORK/rtpengine.pid" --log-level=4 >"$WORK/rtpengine.log" 2>&1 &
    RELAY_PID=$!
    STARTED+=("$RELAY_PID")
    NG=$CTL_RELAY:22222
}

# ferrovox_config NAME BACKEND_LINES: a one-worker config on RELAY_CORE with ng on the
# control link.
ferrovox_config() {
    cat >"$WORK/$1.toml" <<EOF
# Generated by relay-afxdp.sh: one worker, every thread on core $RELAY_CORE.
[general]
log_level = "info"

[ng]
listen = "$CTL_RELAY:22223"
allow = ["10.0.0.0/8", "127.0.0.0/8"]

[dataplane]
worker_cores = [$RELAY_CORE]
control_core = $RELAY_CORE
$2

[media]
delete_delay_secs = 0

[admin]
socket = "$WORK/$1.sock"

[metrics]
listen = "$METRICS"

[[interface]]
name = "external"
address = "$MEDIA_RELAY"
port_min = ${PORTS[0]}
port_max = ${PORTS[1]}
EOF
}
start_ferrovox() {
    local name=$1 backend
    if [[ $name == ferrovox-afxdp ]]; then
        with_media_address off
        backend="backend = \"dpdk\"

[dataplane.dpdk]
no_huge = true
memory_mb = 512
file_prefix = \"fvb-afxdp\"

[[dataplane.dpdk.port]]
af_xdp = { iface = \"$RELAY_IF\"${AFXDP_BUSY_BUDGET:+, busy_budget = $AFXDP_BUSY_BUDGET} }
interfaces = [\"external\"]"
    else
        with_media_address on
        backend='backend = "socket"'
    fi
    ferrovox_config "$name" "$backend"
    ip netns exec "$NS_RELAY" "$FERROVOX" --config "$WORK/$name.toml" >"$WORK/$name.log" 2>&1 &
    RELAY_PID=$!
    STARTED+=("$RELAY_PID")
    NG=$CTL_RELAY:22223
}

if [[ $SKIP_BUILD != 1 ]]; then
    say "building: cargo build --release -p benches -p ferrovox --features ferrovox/dpdk"
    (cd "$ROOT" && cargo build --release -p benches -p ferrovox --features ferrovox/dpdk)
fi
[[ -x $LOAD ]] || { say "no load tool at $LOAD"; exit 1; }

topology
LOADAVG_START=$(cut -d' ' -f1-3 /proc/loadavg)
declare -A STATUS
measure_ceiling
for relay in $RELAYS; do
    say "== $relay =="
    case $relay in
        rtpengine)
            [[ -x $RTPENGINE ]] || { STATUS[$relay]="not installed ($RTPENGINE)"; continue; }
            start_rtpengine ;;
        ferrovox | ferrovox-afxdp)
            [[ -x $FERROVOX ]] || { STATUS[$relay]="not built ($FERROVOX)"; continue; }
            start_ferrovox "$relay" ;;
        *) say "unknown relay $relay (rtpengine, ferrovox, ferrovox-afxdp)"; exit 2 ;;
    esac
    if measure "$relay" "$NG" "$RELAY_PID"; then
        STATUS[$relay]=ok
        [[ $relay == rtpengine ]] || busy "$relay" "$NG" || true
        profile "$relay" "$NG" || true
    else
        STATUS[$relay]="measurement failed (log: $WORK/$relay.log)"
    fi
    stop "$RELAY_PID"
done

# ---- report ----
# ratiox A B: the ratio with its unit.
ratiox() { local r; r=$(ratio "$1" "$2"); [[ $r == na ]] && echo na || echo "${r}x"; }
line() { printf '  %-30s %s\n' "$1" "$2"; }
relay_line() {
    local r=$1 note=""
    if [[ ${STATUS[$r]:-} != ok ]]; then
        line "$r" "not measured: ${STATUS[$r]:-not requested}"
        return
    fi
    [[ $(field "$r" tool_limited) == 1 ]] && note="; the load tool could not offer some rates"
    [[ $(field "$r" limit_found) != 1 ]] && note="$note; LOWER BOUND: no step failed on loss"
    line "$r" "$(field "$r" rate_pps) pps at $(field "$r" loss_pct)% loss; $(field "$r" per_core_pps) pps per CPU-second (relay CPU $(field "$r" relay_core_share) of a core); round trip p50 $(latency "$WORK/$r.out" p50) us, p99 $(latency "$WORK/$r.out" p99) us$note"
    line "" "whole run: $(cat "$WORK/$r.cpu" 2>/dev/null || echo na)"
    if [[ -s $WORK/$r.busy ]]; then
        line "" "worker busy $(awk '{ printf "%.1f%% of its core at %s pps: %.0f pps per busy core-second", $1 * 100, $2, ($1 > 0 ? $2 / $1 : 0) }' "$WORK/$r.busy") (from ferrovox_worker_busy_seconds_total over $((BUSY_SECS - 1)) s mid-run)"
    fi
    if [[ -s $WORK/$r.profile ]]; then
        line "" "relay core at $PROFILE pps (perf, top symbols: pid:thread, object, symbol):"
        sed 's/^/      /' "$WORK/$r.profile"
    fi
}
# per_busy NAME: the relay's packets per busy core-second ("na" when not measured).
per_busy() {
    [[ -s $WORK/$1.busy ]] || { echo na; return; }
    awk '{ if ($1 > 0) printf "%.0f", $2 / $1; else print "na" }' "$WORK/$1.busy"
}
# A figure is only a lower bound when no step above it failed on loss (some steps may still
# have been tool-limited).
lower_bound() { [[ $(field "$1" limit_found) != 1 ]]; }
xsk=$(grep -ho 'xsk_mode="[a-z-]*" xdp_attach=[a-z]*' "$WORK/ferrovox-afxdp.log" 2>/dev/null | head -n 1 || true)
{
    echo
    echo "============ relay throughput on one core: AF_XDP vs kernel sockets ============"
    line "CPU" "$(cpu_description)"
    line "kernel" "$(uname -r)"
    line "load average at start" "$LOADAVG_START"
    line "pinning" "relay on core $RELAY_CORE (all threads), load tool on core $LOAD_CORE, nice -20"
    line "calls / packet" "$CALLS calls ($((CALLS * 2)) streams), $SIZE-byte RTP over a veth pair between namespaces"
    line "load tool sends" "bursts of $BURST per stream, UDP GSO $GSO; pass: loss < ${LOSS}%"
    line "ferrovox" "$(ferrovox_rev)"
    line "AF_XDP socket" "${xsk:-na}, busy_budget ${AFXDP_BUSY_BUDGET:-default}"
    [[ $CEILING == 1 ]] && line "load tool ceiling" "$(field load-tool rate_pps) pps (endpoint to endpoint, no relay)"
    echo "  ---"
    for r in $RELAYS; do relay_line "$r"; done
    echo "  ---"
    line "ferrovox / rtpengine" "rate $(ratiox "$(field ferrovox rate_pps)" "$(field rtpengine rate_pps)"), per CPU-second $(ratiox "$(field ferrovox per_core_pps)" "$(field rtpengine per_core_pps)")"
    line "afxdp / ferrovox sockets" "rate $(ratiox "$(field ferrovox-afxdp rate_pps)" "$(field ferrovox rate_pps)"), per CPU-second $(ratiox "$(field ferrovox-afxdp per_core_pps)" "$(field ferrovox per_core_pps)") (target >= 3x)"
    per_core=$(ratiox "$(field ferrovox-afxdp per_core_pps)" "$(field ferrovox per_core_pps)")
    if [[ $per_core == na ]]; then
        verdict="INCONCLUSIVE: a figure is missing"
    elif awk -v r="${per_core%x}" 'BEGIN { exit !(r >= 3) }'; then
        verdict="MET"
        lower_bound ferrovox && verdict="MET (the socket figure is a lower bound: check its steps)"
    elif lower_bound ferrovox-afxdp; then
        verdict="INCONCLUSIVE at $per_core: AF_XDP's limit was not reached (the load tool's was)"
    else
        verdict="NOT MET ($per_core)"
    fi
    line "AF_XDP >= 3x sockets per core" "$verdict"
    line "afxdp / sockets per busy core-second" "$(ratiox "$(per_busy ferrovox-afxdp)" "$(per_busy ferrovox)") (each worker's own busy time: what its core could relay if the load tool could offer more)"
    line "afxdp per busy core-second / sockets per CPU-second" "$(ratiox "$(per_busy ferrovox-afxdp)" "$(field ferrovox per_core_pps)") (the socket relay's whole CPU time: its waits and wake-ups too)"
    line "afxdp / rtpengine" "rate $(ratiox "$(field ferrovox-afxdp rate_pps)" "$(field rtpengine rate_pps)"), per CPU-second $(ratiox "$(field ferrovox-afxdp per_core_pps)" "$(field rtpengine per_core_pps)")"
    echo "================================================================================="
} | tee "$WORK/summary.txt"

for r in $RELAYS; do
    [[ ${STATUS[$r]:-} == ok ]] || exit 1
done
