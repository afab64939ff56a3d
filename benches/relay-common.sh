# shellcheck shell=bash
# relay-common.sh: what the relay throughput benches (relay-vs-rtpengine.sh, relay-afxdp.sh)
# share: the load settings, the relay's CPU time, the load tool's RESULT lines, the search of
# one relay's highest passing rate and the report's helpers. Sourced after the caller has set
# ROOT, TARGET_DIR, WORK and the defaults it differs in (BURST, GSO); the caller defines
# run_load (how the load tool runs: pinned, maybe in a namespace) and ping_args (what `ping`
# needs besides --ng).

CALLS=${CALLS:-100}
SIZE=${SIZE:-172}
WARMUP=${WARMUP:-1}
DURATION=${DURATION:-3}
LOSS=${LOSS:-0.1}
START_PPS=${START_PPS:-20000}
MAX_PPS=${MAX_PPS:-2000000}
MAX_STEPS=${MAX_STEPS:-16}
RELAY_CORE=${RELAY_CORE:-1}
LOAD_CORE=${LOAD_CORE:-0}
CEILING=${CEILING:-1}
SKIP_BUILD=${SKIP_BUILD:-0}
RTPENGINE=${RTPENGINE:-/usr/bin/rtpengine}
FERROVOX=${FERROVOX:-$TARGET_DIR/release/ferrovox}
# shellcheck disable=SC2034 # the callers run it
LOAD=${RELAY_LOAD:-$TARGET_DIR/release/relay-load}
# Extra arguments of every load-tool step (addresses in a namespace run).
LOAD_EXTRA=()
STARTED=()

say() { printf '%s\n' "$*" >&2; }

# As root, the bench's own shell (and what it starts) at the priority of the pinned relay and
# load tool: at nice 0 next to them at -20 it gets about 1% of a core, and each command it runs
# while they poll (a scrape, `sleep`, `date`, a CPU-time read) comes seconds late.
if [[ $(id -u) == 0 ]]; then renice -n -20 -p $$ >/dev/null; fi

# stop PID: TERM, a bounded wait (5 s), then KILL.
stop() {
    kill "$1" 2>/dev/null || true
    for _ in $(seq 50); do
        kill -0 "$1" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -9 "$1" 2>/dev/null || true
}
# Stops every process the bench started (for its exit trap).
stop_started() {
    local pid
    for pid in "${STARTED[@]}"; do stop "$pid"; done
}

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
# field NAME KEY: KEY of the RESULT line of relay NAME's output ("na" when absent).
field() { [[ -f $WORK/$1.out ]] && result_field "$WORK/$1.out" "$2" || echo na; }
# ratio A B: A / B to two places ("na" when either is missing or B is zero).
ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { if (a == "na" || b == "na" || b + 0 == 0) print "na"; else printf "%.2f", a / b }'
}

load_args() {
    echo --calls "$CALLS" --size "$SIZE" --warmup "$WARMUP" --duration "$DURATION" \
        --loss "$LOSS" --start "$START_PPS" --max "$MAX_PPS" --max-steps "$MAX_STEPS" \
        --burst "$BURST" --gso "$GSO" "${LOAD_EXTRA[@]}"
}

# Every thread of process PID at nice -20 (as root; other work on the box then gets ~1% of
# the pinned cores instead of an equal share).
boost() {
    local tid
    [[ $(id -u) == 0 ]] || return 0
    for tid in /proc/"$1"/task/*; do
        renice -n -20 -p "${tid##*/}" >/dev/null 2>&1 || true
    done
}

# measure NAME NG PID: search for the relay's highest passing rate; output in $WORK/NAME.out,
# the relay's CPU over the search in $WORK/NAME.cpu.
measure() {
    local name=$1 ng=$2 pid=$3 wall_start cpu_start
    # shellcheck disable=SC2046
    if ! run_load ping --ng "$ng" $(ping_args) >&2; then
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
    kill -0 "$pid" 2>/dev/null || { say "$name exited during the run"; return 1; }
    awk -v a="$cpu_start" -v b="$(cpu_secs "$pid")" -v w0="$wall_start" -v w1="$(date +%s.%N)" \
        'BEGIN { printf "%.2f s CPU over %.1f s wall", b - a, w1 - w0 }' >"$WORK/$name.cpu"
}

# The load tool's ceiling (its endpoints send to each other, no relay) when CEILING=1.
measure_ceiling() {
    [[ $CEILING == 1 ]] || return 0
    say "== load tool ceiling (no relay, endpoints send to each other, core $LOAD_CORE) =="
    # shellcheck disable=SC2046
    run_load ceiling --label load-tool $(load_args) | tee "$WORK/load-tool.out" >&2 ||
        say "ceiling measurement failed"
}

# The CPU line of a report: model, clock and cores online.
cpu_description() {
    echo "$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), $(awk -F': ' '/^cpu MHz/ { printf "%.0f", $2; exit }' /proc/cpuinfo) MHz, $(nproc) cores online"
}
# The tree a report's Ferrovox came from.
ferrovox_rev() {
    local rev
    rev="rev $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
    [[ -z $(git -C "$ROOT" status --porcelain -- crates 2>/dev/null) ]] || rev="$rev + uncommitted changes"
    [[ $SKIP_BUILD != 1 ]] || rev="binary $FERROVOX, not rebuilt (tree: $rev)"
    echo "$rev"
}
