#!/usr/bin/env bash
# relay-vs-rtpengine.sh: relayed RTP packets per second per relay core at under 0.1% loss,
# ferrovox (socket backend, one worker) against rtpengine 10.5 userspace (no kernel module,
# one thread), measured in the same run with the same ng offers and the same RTP load.
#
# Each relay is pinned to RELAY_CORE (taskset), the load tool to LOAD_CORE. For each relay the
# tool sets up CALLS calls over ng (offer + answer), then steps the aggregate RTP rate up and
# bisects to the highest rate with loss under LOSS percent (WARMUP s sent but not counted,
# DURATION s measured per step), charging the relay's CPU time from /proc/<pid>/stat, and
# deletes the calls. The tool's own ceiling (its endpoints sending straight to each other on
# LOAD_CORE) is measured too, so a relay figure at that ceiling reads as a lower bound.
#
# Everything listens on and sends to 127.0.0.1 only. Every process started here is killed on
# exit. Settings come from the environment:
#   RELAYS="rtpengine ferrovox"  which relays to measure, in order
#   CALLS=100 SIZE=172 WARMUP=1 DURATION=3 LOSS=0.1 START_PPS=20000 MAX_PPS=2000000
#   MAX_STEPS=16 BURST=4 GSO=on RELAY_CORE=1 LOAD_CORE=0 CEILING=1 SKIP_BUILD=0
#   IO_URING=false (ferrovox's [dataplane] io_uring)
#   RTPENGINE=/usr/bin/rtpengine  FERROVOX=<target>/release/ferrovox
#   PLOT=FILE.svg (also copy the ramp's picture there; it is always written to the run directory)
set -euo pipefail

# A session of its own at autogroup nice -20 when run as root (see own-session.sh).
# shellcheck source=benches/own-session.sh
source "$(dirname "${BASH_SOURCE[0]}")/own-session.sh"
own_session RELAY_BENCH_INNER "$@"

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
RELAYS=${RELAYS:-"rtpengine ferrovox"}
CALLS=${CALLS:-100}
SIZE=${SIZE:-172}
WARMUP=${WARMUP:-1}
DURATION=${DURATION:-3}
LOSS=${LOSS:-0.1}
START_PPS=${START_PPS:-20000}
MAX_PPS=${MAX_PPS:-2000000}
MAX_STEPS=${MAX_STEPS:-16}
BURST=${BURST:-4}
GSO=${GSO:-on}
RELAY_CORE=${RELAY_CORE:-1}
LOAD_CORE=${LOAD_CORE:-0}
CEILING=${CEILING:-1}
SKIP_BUILD=${SKIP_BUILD:-0}
IO_URING=${IO_URING:-false}
RTPENGINE=${RTPENGINE:-/usr/bin/rtpengine}
FERROVOX=${FERROVOX:-$TARGET_DIR/release/ferrovox}
LOAD=$TARGET_DIR/release/relay-load

RTPENGINE_NG=127.0.0.1:22222
FERROVOX_NG=127.0.0.1:22223
RTPENGINE_PORTS=(30000 39999)
FERROVOX_PORTS=(40000 49999)

WORK=$(mktemp -d /tmp/relay-vs-rtpengine.XXXXXX)
STARTED=()

cleanup() {
    local pid
    for pid in "${STARTED[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${STARTED[@]}"; do
        # Bounded wait (5 s) for each, then force.
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$pid" 2>/dev/null || true
    done
    echo "logs and outputs: $WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say() { printf '%s\n' "$*" >&2; }
# shellcheck source=benches/plot.sh
source "$ROOT/benches/plot.sh"

CLK_TCK=$(getconf CLK_TCK)
# CPU seconds (user + system, all threads) of a process, from /proc/<pid>/stat fields 14 + 15
# (counted after the command name, which may hold spaces).
cpu_secs() {
    local rest
    rest=$(sed 's/^.*) //' "/proc/$1/stat") || { echo "na"; return; }
    awk -v t="$CLK_TCK" '{ printf "%.2f", ($12 + $13) / t }' <<<"$rest"
}

# Value of KEY in the RESULT line of file FILE ("na" when absent).
result_field() {
    local line
    line=$(grep '^RESULT ' "$1" | tail -n 1 || true)
    awk -v k="$2" '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); if (kv[1] == k) { print kv[2]; found = 1 } } }
        END { if (!found) print "na" }' <<<"$line"
}

load_args() {
    echo --calls "$CALLS" --size "$SIZE" --warmup "$WARMUP" --duration "$DURATION" \
        --loss "$LOSS" --start "$START_PPS" --max "$MAX_PPS" --max-steps "$MAX_STEPS" \
        --burst "$BURST" --gso "$GSO"
}

if [[ $SKIP_BUILD != 1 ]]; then
    packages=(-p benches)
    [[ " $RELAYS " == *" ferrovox "* ]] && packages+=(-p ferrovox)
    say "building: cargo build --release ${packages[*]}"
    (cd "$ROOT" && cargo build --release "${packages[@]}")
fi
[[ -x $LOAD ]] || { say "no load tool at $LOAD"; exit 1; }

# Other work on this box shares the two cores. As root, the relay under test and the load tool
# run at nice -20 (every thread; with autogroups, in a session at autogroup nice -20, see the
# top), so that work gets ~1% of their cores instead of an equal share. Both relays get the
# same treatment.
BOOST=0
[[ $(id -u) == 0 ]] && BOOST=1
boost() {
    local tid
    [[ $BOOST == 1 ]] || return 0
    for tid in /proc/"$1"/task/*; do
        renice -n -20 -p "${tid##*/}" >/dev/null 2>&1 || true
    done
}
run_load() {
    if [[ $BOOST == 1 ]]; then
        nice -n -20 taskset -c "$LOAD_CORE" "$LOAD" "$@"
    else
        taskset -c "$LOAD_CORE" "$LOAD" "$@"
    fi
}

# measure NAME NG PID: search for the relay's highest passing rate; output in $WORK/NAME.out.
measure() {
    local name=$1 ng=$2 pid=$3 wall_start cpu_start
    if ! "$LOAD" ping --ng "$ng" --wait 15 >&2; then
        say "$name does not answer ng ping on $ng"
        return 1
    fi
    # Every thread of the relay on RELAY_CORE. rtpengine starts under taskset already; ferrovox
    # cannot (its config check refuses worker cores outside its affinity mask), so it is pinned
    # once it answers, on top of its own worker/control pinning to the same core.
    taskset -a -p -c "$RELAY_CORE" "$pid" >/dev/null
    boost "$pid"
    wall_start=$(date +%s.%N)
    cpu_start=$(cpu_secs "$pid")
    # shellcheck disable=SC2046
    if ! run_load search --ng "$ng" --relay-pid "$pid" --label "$name" \
        $(load_args) | tee "$WORK/$name.out" >&2; then
        say "$name: the load tool failed"
        return 1
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
        say "$name exited during the run"
        return 1
    fi
    awk -v a="$cpu_start" -v b="$(cpu_secs "$pid")" -v w0="$wall_start" -v w1="$(date +%s.%N)" \
        'BEGIN { printf "%.2f s CPU over %.1f s wall", b - a, w1 - w0 }' >"$WORK/$name.cpu"
}

start_rtpengine() {
    taskset -c "$RELAY_CORE" "$RTPENGINE" --foreground --log-stderr --table=-1 \
        --interface=127.0.0.1 --listen-ng="$RTPENGINE_NG" \
        --port-min="${RTPENGINE_PORTS[0]}" --port-max="${RTPENGINE_PORTS[1]}" \
        --num-threads=1 --delete-delay=0 --pidfile="$WORK/rtpengine.pid" --log-level=4 \
        >"$WORK/rtpengine.log" 2>&1 &
    RELAY_PID=$!
    STARTED+=("$RELAY_PID")
}

start_ferrovox() {
    cat >"$WORK/ferrovox.toml" <<EOF
# Generated by relay-vs-rtpengine.sh: one socket-backend worker, all threads on core $RELAY_CORE.
[general]
log_level = "warn"

[ng]
listen = "$FERROVOX_NG"

[dataplane]
backend = "socket"
worker_cores = [$RELAY_CORE]
control_core = $RELAY_CORE
io_uring = $IO_URING

[media]
delete_delay_secs = 0

# The admin socket in the run directory, not the system's /run/ferrovox.
[admin]
socket = "$WORK/admin.sock"

[[interface]]
name = "external"
address = "127.0.0.1"
port_min = ${FERROVOX_PORTS[0]}
port_max = ${FERROVOX_PORTS[1]}
EOF
    "$FERROVOX" --config "$WORK/ferrovox.toml" >"$WORK/ferrovox.log" 2>&1 &
    RELAY_PID=$!
    STARTED+=("$RELAY_PID")
}

stop() {
    kill "$1" 2>/dev/null || true
    for _ in $(seq 50); do
        kill -0 "$1" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -9 "$1" 2>/dev/null || true
}

LOADAVG_START=$(cut -d' ' -f1-3 /proc/loadavg)
declare -A STATUS
RELAY_PID=

if [[ $CEILING == 1 ]]; then
    say "== load tool ceiling (no relay, endpoints send to each other, core $LOAD_CORE) =="
    # shellcheck disable=SC2046
    run_load ceiling --label load-tool $(load_args) \
        | tee "$WORK/load-tool.out" >&2 || say "ceiling measurement failed"
fi

for relay in $RELAYS; do
    say "== $relay =="
    case $relay in
        rtpengine)
            [[ -x $RTPENGINE ]] || { STATUS[$relay]="not installed ($RTPENGINE)"; continue; }
            start_rtpengine
            ng=$RTPENGINE_NG
            ;;
        ferrovox)
            [[ -x $FERROVOX ]] || { STATUS[$relay]="not built ($FERROVOX)"; continue; }
            start_ferrovox
            ng=$FERROVOX_NG
            ;;
        *)
            say "unknown relay $relay (rtpengine, ferrovox)"
            exit 2
            ;;
    esac
    if measure "$relay" "$ng" "$RELAY_PID"; then
        STATUS[$relay]=ok
    else
        STATUS[$relay]="measurement failed (log: $WORK/$relay.log)"
    fi
    stop "$RELAY_PID"
done

# ---- report ----
field() { [[ -f $WORK/$1.out ]] && result_field "$WORK/$1.out" "$2" || echo na; }
cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
cpu_mhz=$(awk -F': ' '/^cpu MHz/ { printf "%.0f", $2; exit }' /proc/cpuinfo)
rtpengine_version=$("$RTPENGINE" --version 2>&1 | awk '/Version/ { print $2 }' || true)
rev="rev $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [[ -n $(git -C "$ROOT" status --porcelain -- crates 2>/dev/null) ]]; then
    rev="$rev + uncommitted changes"
fi
if [[ $SKIP_BUILD == 1 ]]; then
    rev="binary $FERROVOX, not rebuilt (tree: $rev)"
fi
streams=$((CALLS * 2))

line() { printf '  %-28s %s\n' "$1" "$2"; }
relay_line() {
    local r=$1 rate per_core share loss limited
    if [[ ${STATUS[$r]:-} != ok ]]; then
        line "$r" "not measured: ${STATUS[$r]:-not requested}"
        return
    fi
    rate=$(field "$r" rate_pps)
    per_core=$(field "$r" per_core_pps)
    share=$(field "$r" relay_core_share)
    loss=$(field "$r" loss_pct)
    limited=$(field "$r" tool_limited)
    line "$r" "$rate pps relayed at ${loss}% loss; relay CPU $(awk -v s="$share" 'BEGIN { if (s == "na") print "na"; else printf "%.0f%%", s * 100 }') of one core -> $per_core pps per CPU-second"
    line "" "whole run: $(cat "$WORK/$r.cpu" 2>/dev/null || echo na)$([[ $limited == 1 ]] && echo '; LOWER BOUND: the load tool could not offer more')$([[ $(field "$r" limit_found) != 1 ]] && echo '; LOWER BOUND: no step failed on loss')"
}
# A relay's rate is only a lower bound when the tool could not offer more or no step failed.
lower_bound() { [[ $(field "$1" tool_limited) == 1 || $(field "$1" limit_found) != 1 ]]; }
ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { if (a == "na" || b == "na" || b + 0 == 0) print "na"; else printf "%.2f", a / b }'
}

{
    echo
    echo "================ relay throughput: ferrovox vs rtpengine ================"
    line "CPU" "$cpu_model, ${cpu_mhz} MHz, $(nproc) cores online"
    line "kernel" "$(uname -r)"
    line "load average at start" "$LOADAVG_START (other work on the box skews figures)"
    line "pinning" "relay on core $RELAY_CORE (all its threads), load tool on core $LOAD_CORE"
    line "priority" "$(if [[ $BOOST == 1 ]]; then echo "nice -20 for both ($(cat /proc/self/autogroup 2>/dev/null || echo 'no autogroup'))"; else echo "default (not root)"; fi)"
    line "calls / streams" "$CALLS calls, $streams RTP streams (both directions)"
    line "packet" "$SIZE bytes RTP (G.711 20 ms = 172), UDP over 127.0.0.1"
    line "per step" "${WARMUP} s warm-up (not counted) + ${DURATION} s measured"
    line "pass criterion" "loss < ${LOSS}% of measured packets"
    line "load tool sends" "bursts of $BURST per stream, UDP GSO $GSO"
    line "rtpengine" "${rtpengine_version:-unknown} userspace (--table=-1), --num-threads=1"
    line "ferrovox" "$rev, socket backend, 1 worker, io_uring=$IO_URING"
    if [[ $CEILING == 1 ]]; then
        line "load tool ceiling" "$(field load-tool rate_pps) pps (endpoint to endpoint, no relay)"
    fi
    echo "  ---"
    for r in $RELAYS; do relay_line "$r"; done
    if [[ ${STATUS[rtpengine]:-} == ok && ${STATUS[ferrovox]:-} == ok ]]; then
        rate_ratio=$(ratio "$(field ferrovox rate_pps)" "$(field rtpengine rate_pps)")
        core_ratio=$(ratio "$(field ferrovox per_core_pps)" "$(field rtpengine per_core_pps)")
        bound=""
        lower_bound ferrovox && bound=" (at least: ferrovox's limit was not reached)"
        echo "  ---"
        line "ratio, rate on one core" "${rate_ratio}x$bound"
        line "ratio, per CPU-second" "${core_ratio}x"
        if lower_bound rtpengine; then
            verdict="INCONCLUSIVE: rtpengine's limit was not reached (see above)"
        elif [[ $rate_ratio == na ]]; then
            verdict="INCONCLUSIVE: a rate is missing"
        elif awk -v r="$rate_ratio" 'BEGIN { exit !(r >= 1.5) }'; then
            verdict="MET"
            lower_bound ferrovox && verdict="MET (ferrovox figure is a lower bound)"
        elif lower_bound ferrovox; then
            verdict="INCONCLUSIVE: ferrovox's limit was not reached at ${rate_ratio}x"
        else
            verdict="NOT MET"
        fi
        line "target >= 1.5x rtpengine" "$verdict"
    fi
    if awk -v l="${LOADAVG_START%% *}" 'BEGIN { exit !(l > 0.5) }'; then
        echo "  WARNING: other work was running when the bench started (load ${LOADAVG_START%% *})."
        echo "  Figures are trustworthy only where the tool% column above stays near 100 (the"
        echo "  tool busy-polls; less means it was preempted) and no step notes stalls."
    fi
    echo "========================================================================="
} | tee "$WORK/summary.txt"

# The ramp as a picture: relayed against offered packets/s per relay, and the loss below.
{
    echo "system,x,y,y2"
    [[ -f $WORK/load-tool.out ]] && relay_steps "load tool alone" "$WORK/load-tool.out"
    for r in $RELAYS; do
        [[ -f $WORK/$r.out ]] && relay_steps "$r" "$WORK/$r.out"
    done
} >"$WORK/ramp.csv"
plot_ramp "$WORK/ramp.csv" "$WORK/relay-vs-rtpengine.svg" \
    "RTP relayed on one core ($CALLS calls, bursts of $BURST)" \
    "offered packets/s" "relayed packets/s" "loss %"

for r in $RELAYS; do
    [[ ${STATUS[$r]:-} == ok ]] || exit 1
done
