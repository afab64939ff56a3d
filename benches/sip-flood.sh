#!/usr/bin/env bash
# sip-flood.sh: a legitimate caller's calls under an INVITE flood from one source, through
# Ferrovox with its [sip.flood] guard and through Kamailio 5.6 with pike + htable bans +
# ratelimit (benches/kamailio/flood.cfg), in the same run, on the same cores, with the same
# sipp members, caller and flood.
#
# For each proxy in turn (Kamailio first), two phases:
#   capacity  the proxy without its guard; the flooder (benches/sip-flood.py) sends INVITEs
#             from FLOODER as fast as it can for CAPACITY_SECS; the INVITEs the proxy
#             forwards to the sink over the last second are its capacity.
#   flood     the proxy with its guard (FLOOD_GUARD=true); the sipp caller (sip/uac.xml,
#             from CALLER) places CALL_RATE calls/s for CALL_SECS through the two sipp
#             members; FLOOD_DELAY s in, the flooder sends FLOOD_RATE INVITEs/s for
#             FLOOD_SECS (default: FACTOR times the higher of the two capacities, so at
#             least FACTOR times each proxy's own).
# The flood's INVITEs (Request-URI user "flood") are routed to a sink of the flooder's,
# which counts them and never answers them. Printed for each proxy: the capacity, the flood
# sent, the caller's success ratio, the proxy's CPU (over the flood and over the phase) and
# memory (idle and peak RSS and PSS, all its processes), receive-queue drops on its socket,
# and whether and when the flooder was banned, what it sent and heard after the ban.
#
# Everything is on loopback (127.0.0.1 for the proxies and members, FLOODER and CALLER
# on 127.0.0.0/8), on ports from BASE_PORT. Every loop is bounded in count and time; every
# process started here is killed on exit. Settings (environment):
#   ONLY=kamailio|ferrovox  FLOOD_GUARD=true|false (the flood phase; false: both unguarded)
#   FLOOD_RATE=<INVITEs/s>  FACTOR=10 FLOOD_SECS=8 FLOOD_MAX=5000000 FLOOD_DELAY=2
#   CAPACITY_SECS=2 CAPACITY=1 (0: no capacity phase; FLOOD_RATE is then required)
#   CALL_RATE=50 CALL_SECS=14 HOLD_MS=500 FLOODER=127.0.0.2 CALLER=127.0.0.3
#   GUARD_RATE=200 GUARD_BURST=400 BAN_AFTER_SECS=2 BAN_SECS=300 (Ferrovox [sip.flood];
#   Kamailio's pike gets 2 * GUARD_RATE requests per 2 s unit, htable autoexpire BAN_SECS)
#   RL_INVITES=1500 (Kamailio's ratelimit ceiling on INVITEs/s)
#   PROXY_CORE=1 PEER_CORE=0 FLOOD_CORE=PEER_CORE BASE_PORT=26060 PING_INTERVAL=10
#   CHILDREN=4 SHM_MB=512 SKIP_BUILD=0 KAMAILIO SIPP FERROVOX PYTHON=python3
set -euo pipefail

# shellcheck source=benches/own-session.sh
source "$(dirname "${BASH_SOURCE[0]}")/own-session.sh"
own_session SIP_FLOOD_INNER "$@"

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SIPDIR=$ROOT/benches/sip
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
PROXIES=${ONLY:-"kamailio ferrovox"}
FLOOD_GUARD=${FLOOD_GUARD:-true}
FLOOD_RATE=${FLOOD_RATE:-}
FACTOR=${FACTOR:-10}
FLOOD_SECS=${FLOOD_SECS:-8}
FLOOD_MAX=${FLOOD_MAX:-5000000}
FLOOD_DELAY=${FLOOD_DELAY:-2}
CAPACITY_SECS=${CAPACITY_SECS:-2}
CAPACITY=${CAPACITY:-1}
CALL_RATE=${CALL_RATE:-50}
CALL_SECS=${CALL_SECS:-14}
HOLD_MS=${HOLD_MS:-500}
FLOODER=${FLOODER:-127.0.0.2}
CALLER=${CALLER:-127.0.0.3}
GUARD_RATE=${GUARD_RATE:-200}
GUARD_BURST=${GUARD_BURST:-400}
BAN_AFTER_SECS=${BAN_AFTER_SECS:-2}
BAN_SECS=${BAN_SECS:-300}
RL_INVITES=${RL_INVITES:-1500}
PROXY_CORE=${PROXY_CORE:-1}
PEER_CORE=${PEER_CORE:-0}
FLOOD_CORE=${FLOOD_CORE:-$PEER_CORE}
BASE_PORT=${BASE_PORT:-26060}
PING_INTERVAL=${PING_INTERVAL:-10}
CHILDREN=${CHILDREN:-4}
SHM_MB=${SHM_MB:-512}
SKIP_BUILD=${SKIP_BUILD:-0}
KAMAILIO=${KAMAILIO:-/usr/sbin/kamailio}
SIPP=${SIPP:-/usr/bin/sipp}
FERROVOX=${FERROVOX:-$TARGET_DIR/release/ferrovox}
PYTHON=${PYTHON:-python3}

KAMAILIO_PORT=$BASE_PORT
UAC_PORT=$((BASE_PORT + 2))
UAS1_PORT=$((BASE_PORT + 4))
UAS2_PORT=$((BASE_PORT + 6))
NG_PORT=$((BASE_PORT + 8))
FERROVOX_PORT=$((BASE_PORT + 10))
PROBE_PORT=$((BASE_PORT + 12))
SINK_PORT=$((BASE_PORT + 14))
MEDIA_BASE=$((BASE_PORT + 100))
RELAY_MIN=$(((BASE_PORT + 1000) / 2 * 2))
RELAY_MAX=$((RELAY_MIN + 999))

for v in FACTOR FLOOD_SECS FLOOD_MAX FLOOD_DELAY CAPACITY_SECS CALL_RATE CALL_SECS HOLD_MS \
    GUARD_RATE GUARD_BURST BAN_AFTER_SECS BAN_SECS RL_INVITES PROXY_CORE PEER_CORE FLOOD_CORE \
    BASE_PORT PING_INTERVAL CHILDREN SHM_MB; do
    [[ ${!v} =~ ^[0-9]+$ ]] || { echo "sip-flood: $v must be a whole number, not '${!v}'" >&2; exit 2; }
done
[[ -z $FLOOD_RATE || $FLOOD_RATE =~ ^[0-9]+$ ]] || { echo "sip-flood: FLOOD_RATE must be a whole number" >&2; exit 2; }
[[ $CAPACITY == 1 || -n $FLOOD_RATE ]] || { echo "sip-flood: CAPACITY=0 needs FLOOD_RATE" >&2; exit 2; }
[[ $FLOOD_GUARD == true || $FLOOD_GUARD == false ]] || { echo "sip-flood: FLOOD_GUARD=true|false" >&2; exit 2; }
((FLOOD_SECS >= 1 && FLOOD_SECS <= 60 && CALL_SECS <= 120 && CAPACITY_SECS >= 1 && CAPACITY_SECS <= 10)) ||
    { echo "sip-flood: FLOOD_SECS 1..60, CALL_SECS up to 120, CAPACITY_SECS 1..10" >&2; exit 2; }
for p in $PROXIES; do
    [[ $p == kamailio || $p == ferrovox ]] || { echo "sip-flood: ONLY=$p: use kamailio or ferrovox" >&2; exit 2; }
done
for a in "$FLOODER" "$CALLER"; do
    [[ $a =~ ^127\.[0-9]+\.[0-9]+\.[0-9]+$ && $a != 127.0.0.1 ]] ||
        { echo "sip-flood: FLOODER and CALLER must be on 127.0.0.0/8 and not 127.0.0.1 (the members' address)" >&2; exit 2; }
done

WORK=$(mktemp -d /tmp/sip-flood.XXXXXX)
STARTED=()
# shellcheck source=benches/sip-common.sh
source "$ROOT/benches/sip-common.sh"
trap sip_cleanup EXIT
trap 'exit 130' INT TERM

sip_check_tools sip-flood
command -v "$PYTHON" >/dev/null || { say "sip-flood: $PYTHON not found (apt-get install python3)"; exit 1; }
sip_check_ports sip-flood "$BASE_PORT" "$((BASE_PORT + 14))" "$MEDIA_BASE" "$((MEDIA_BASE + 40))"

declare -A STATUS CAP
if [[ " $PROXIES " == *" ferrovox "* && $SKIP_BUILD != 1 ]]; then
    say "building: cargo build --release -p ferrovox"
    if ! (cd "$ROOT" && cargo build --release -p ferrovox) >"$WORK/build.log" 2>&1; then
        STATUS[ferrovox]="not built: cargo build --release -p ferrovox failed (log: $WORK/build.log)"
        say "${STATUS[ferrovox]}"
    fi
fi

# ---- the proxies, guarded or not ----
start_kamailio() {
    local guard=$1 args=()
    [[ $guard == true ]] && args=(-A WITH_GUARD)
    kamailio_start "$ROOT/benches/kamailio/flood.cfg" \
        "s|@@SINK_PORT@@|$SINK_PORT|g; s|@@PIKE_DENSITY@@|$((2 * GUARD_RATE))|g; s|@@BAN_SECS@@|$BAN_SECS|g; s|@@RL_INVITES@@|$RL_INVITES|g" \
        "${args[@]}"
}
# Ferrovox: benches/sip/ferrovox.toml's proxy with the shipped table caps, plus the sink's
# set and the routes, and [sip.flood]; signalling only, as Kamailio here.
start_ferrovox() {
    [[ -x $FERROVOX ]] || { say "ferrovox: no binary at $FERROVOX"; return 1; }
    ferrovox_config "$1" >"$WORK/ferrovox.toml"
    ferrovox_signalling_only "$WORK/ferrovox.toml"
    # The ban is logged at info by the SIP driver; everything else at warn.
    RUST_LOG="warn,control::sip_driver=info" ferrovox_start "$WORK/ferrovox.toml"
}
# ferrovox_config GUARD: the config.
ferrovox_config() {
    local guard=$1
    cat <<EOF
[general]
log_level = "warn"

[ng]
listen = "127.0.0.1:$NG_PORT"

[dataplane]
backend = "socket"
worker_cores = [$PROXY_CORE]
control_core = $PROXY_CORE

# The admin socket in the run directory (ferrovox_start sets RUNTIME_DIRECTORY).
[admin]
socket = "admin.sock"

[[interface]]
name = "external"
address = "127.0.0.1"
port_min = $RELAY_MIN
port_max = $RELAY_MAX

[sip]
listen = ["127.0.0.1:$FERROVOX_PORT"]
transports = ["udp"]
record_route = true
fr_timeout_ms = 5000
fr_inv_timeout_secs = 120
user_agent = ""

[sip.flood]
enabled = $guard
rate = $GUARD_RATE
burst = $GUARD_BURST
ban_after_secs = $BAN_AFTER_SECS
ban_secs = $BAN_SECS

[[set]]
name = "bench"
algorithm = "round_robin"
failover_codes = [500, 503]
max_attempts = 2

[set.health]
interval_secs = $PING_INTERVAL
timeout_ms = 2000
down_after = 3
up_after = 2
ok_codes = ["2xx"]
probe_from = "sip:ferrovox@127.0.0.1"
passive = false

[[set.member]]
uri = "sip:127.0.0.1:$UAS1_PORT"
transport = "udp"

[[set.member]]
uri = "sip:127.0.0.1:$UAS2_PORT"
transport = "udp"

[[set]]
name = "sink"

[set.health]
interval_secs = 3600
passive = false

[[set.member]]
uri = "sip:127.0.0.1:$SINK_PORT"
transport = "udp"

[[route]]
name = "flood"
ruri_user_prefix = "flood"
set = "sink"

[[route]]
name = "calls"
set = "bench"
EOF
}
ban_needle() {
    if [[ $1 == ferrovox ]]; then echo "SIP flood protection: source $FLOODER/32 banned"; else echo "flood guard: source $FLOODER banned"; fi
}

# up PROXY GUARD: members and the proxy started and answering; UP_WHY says why not.
up() {
    local proxy=$1
    UP_WHY=
    start_members
    if ! "start_$proxy" "$2"; then
        UP_WHY="could not be started"
        return
    fi
    sleep 0.5
    UP_WHY=$(proxy_start_failure "$proxy")
    [[ -n $UP_WHY ]] || pin_tree "$PROXY_PID" "$PROXY_CORE"
}
down() {
    [[ -z $PROXY_PID ]] || stop "$PROXY_PID"
    PROXY_PID=
    stop_members
}

# flooder NAME RATE SECS DELAY LINGER NEEDLE: benches/sip-flood.py in the background on
# FLOOD_CORE at nice 19 (the sipp peers on the same core come first); its report goes to
# $WORK/NAME.flood. Sets FLOODER_PID.
flooder() {
    local name=$1 rate=$2 secs=$3 delay=$4 linger=$5 needle=$6
    rm -f "$WORK/$name.flood-ready"
    nice -n 19 taskset -c "$FLOOD_CORE" "$PYTHON" "$ROOT/benches/sip-flood.py" --source "$FLOODER" \
        --proxy "127.0.0.1:$PROXY_PORT" --sink "127.0.0.1:$SINK_PORT" --rate "$rate" --secs "$secs" \
        --count "$FLOOD_MAX" --delay "$delay" --linger "$linger" --log "$WORK/$name.proxy.log" \
        --needle "$needle" --ready "$WORK/$name.flood-ready" >"$WORK/$name.flood" 2>"$WORK/$name.flood.err" &
    FLOODER_PID=$!
    STARTED+=("$FLOODER_PID")
    for _ in $(seq 50); do
        [[ -e $WORK/$name.flood-ready ]] && return 0
        alive "$FLOODER_PID" || break
        sleep 0.1
    done
    say "the flooder did not start (see $WORK/$name.flood.err)"
    return 1
}
# The value of KEY in the flooder's report FILE ("na" when absent).
flood_field() { tr ' ' '\n' <"$1" 2>/dev/null | awk -F= -v k="$2" '$1 == k { print $2; found = 1 } END { if (!found) print "na" }'; }

# sample PIDS...: "epoch cpu_secs rss_kb pss_kb" of the given processes, one line.
sample() {
    local files=() p
    for p in "$@"; do files+=("/proc/$p/stat"); done
    printf '%s %s %s\n' "$(date +%s.%N)" \
        "$(cat "${files[@]}" 2>/dev/null | sed 's/^.*) //' | awk -v h="$CLK_TCK" '{ t += $12 + $13 } END { printf "%.2f", t / h }')" \
        "$(mem_kb "$@")"
}
# sampler FILE PIDS...: a sample every 0.5 s (at most for the phase's length and a minute)
# into FILE, at the proxy's priority so that the flood does not starve it; sets SAMPLER_PID.
sampler() {
    local file=$1 n=$(((FLOOD_DELAY + FLOOD_SECS + CALL_SECS + 60) * 2))
    shift
    (
        for _ in $(seq "$n"); do
            sample "$@"
            sleep 0.5
        done
    ) >"$file" 2>/dev/null &
    SAMPLER_PID=$!
    STARTED+=("$SAMPLER_PID")
    if [[ $BOOST == 1 ]]; then renice -n -20 -p "$SAMPLER_PID" >/dev/null 2>&1 || true; fi
}
# window_cpu SAMPLES T0 T1: CPU share of one core over [T0, T1], from the samples inside it.
window_cpu() {
    awk -v t0="$2" -v t1="$3" '$1 >= t0 && $1 <= t1 { if (!a) { a = $1; ca = $2 } b = $1; cb = $2 }
        END { if (b > a) printf "%.0f%%", (cb - ca) / (b - a) * 100; else print "na" }' "$1"
}
peak_mem() { awk '{ if ($3 > r) r = $3; if ($4 > p) p = $4 } END { printf "%.0f/%.0f", r / 1024, p / 1024 }' "$1"; }

# ---- capacity: the proxy without its guard, flooded as fast as the flooder can ----
capacity() {
    local proxy=$1
    up "$proxy" false
    if [[ -n $UP_WHY ]]; then
        STATUS[$proxy]=$UP_WHY
        down
        return
    fi
    ln -sf "$WORK/$proxy.log" "$WORK/$proxy-capacity.proxy.log"
    local d0 cpu0 t0
    d0=$(udp_drops "$PROXY_PORT")
    mapfile -t pids < <(proc_tree "$PROXY_PID")
    cpu0=$(cpu_secs "${pids[@]}")
    t0=$(date +%s.%N)
    if flooder "$proxy-capacity" 0 "$CAPACITY_SECS" 0 1 "no ban line"; then
        wait "$FLOODER_PID" || true
        CAP[$proxy]=$(flood_field "$WORK/$proxy-capacity.flood" forwarded_rate_last_window)
        say "$proxy unguarded: $(head -n 1 "$WORK/$proxy-capacity.flood"); proxy CPU" \
            "$(awk -v a="$cpu0" -v b="$(cpu_secs "${pids[@]}")" -v t0="$t0" -v t1="$(date +%s.%N)" \
                'BEGIN { printf "%.0f%%", (b - a) / (t1 - t0) * 100 }'), socket drops $(($(udp_drops "$PROXY_PORT") - d0))"
        mem_kb "${pids[@]}" >"$WORK/$proxy.capacity-mem"
    fi
    alive "$PROXY_PID" || STATUS[$proxy]="exited under the unguarded flood (log: $WORK/$proxy.log)"
    cp "$WORK/$proxy.log" "$WORK/$proxy-capacity.log" 2>/dev/null || true
    down
}

# ---- the flood with the caller ----
flood() {
    local proxy=$1 rate=$2
    up "$proxy" "$FLOOD_GUARD"
    if [[ -n $UP_WHY ]]; then
        STATUS[$proxy]=$UP_WHY
        down
        return
    fi
    ln -sf "$WORK/$proxy.log" "$WORK/$proxy-flood.proxy.log"
    mapfile -t pids < <(proc_tree "$PROXY_PID")
    sleep 0.5
    local idle d0 sd0 calls t0 t1 rc=0
    idle=$(mem_kb "${pids[@]}")
    d0=$(udp_drops "$PROXY_PORT")
    sd0=$(udp_drops "$UAC_PORT" "$UAS1_PORT" "$UAS2_PORT")
    calls=$((CALL_RATE * CALL_SECS))
    sampler "$WORK/$proxy.samples" "${pids[@]}"
    t0=$(date +%s.%N)
    flooder "$proxy-flood" "$rate" "$FLOOD_SECS" "$FLOOD_DELAY" 2 "$(ban_needle "$proxy")" || { STATUS[$proxy]="flooder failed"; down; return; }
    # The caller: CALL_RATE calls/s from CALLER; a call waits at most Timer B (32 s) for
    # its final response, so the whole run ends within CALL_SECS + 40 s.
    on_core "$PEER_CORE" "$SIPP" -sf "$SIPDIR/uac.xml" -i "$CALLER" -ci "$CALLER" -nostdin \
        -p "$UAC_PORT" -mi "$CALLER" -mp "$MEDIA_BASE" -buff_size 4194304 -s bench \
        -m "$calls" -r "$CALL_RATE" -rp 1000 -l "$((CALL_RATE * 40))" -d "$HOLD_MS" -pause_msg_ign \
        -timeout "$((CALL_SECS + 40))s" -timeout_error \
        -trace_stat -stf "$WORK/$proxy.caller.csv" -fd 1 -trace_err -error_file "$WORK/$proxy.caller.errors.log" \
        "127.0.0.1:$PROXY_PORT" >"$WORK/$proxy.caller.out" 2>&1 || rc=$?
    wait "$FLOODER_PID" || true
    t1=$(date +%s.%N)
    stop "$SAMPLER_PID"
    local f=$WORK/$proxy-flood.flood ok failed retrans fs fe
    ok=$(stat_field "$WORK/$proxy.caller.csv" 'SuccessfulCall(C)')
    failed=$(stat_field "$WORK/$proxy.caller.csv" 'FailedCall(C)')
    retrans=$(stat_field "$WORK/$proxy.caller.csv" 'Retransmissions(C)')
    fs=$(flood_field "$f" start_epoch)
    fe=$(flood_field "$f" end_epoch)
    {
        echo "calls=$calls ok=$ok failed=$failed retrans=$retrans sipp_exit=$rc"
        echo "ratio=$(awk -v o="$ok" -v c="$calls" 'BEGIN { if (o == "na") print "na"; else printf "%.2f%%", o / c * 100 }')"
        echo "cpu_flood=$(window_cpu "$WORK/$proxy.samples" "$fs" "$fe") cpu_phase=$(window_cpu "$WORK/$proxy.samples" "$t0" "$t1")"
        echo "mem_idle=$(awk '{ printf "%.0f/%.0f", $1 / 1024, $2 / 1024 }' <<<"$idle") mem_peak=$(peak_mem "$WORK/$proxy.samples")"
        echo "drops=$(($(udp_drops "$PROXY_PORT") - d0))/$(($(udp_drops "$UAC_PORT" "$UAS1_PORT" "$UAS2_PORT") - sd0))"
    } >"$WORK/$proxy.result"
    if alive "$PROXY_PID"; then STATUS[$proxy]=ok; else STATUS[$proxy]="exited during the flood (log: $WORK/$proxy.log)"; fi
    say "$proxy: $(tr '\n' ' ' <"$WORK/$proxy.result")"
    say "$proxy flooder: $(head -n 1 "$f")"
    cp "$WORK/$proxy.log" "$WORK/$proxy-flood.log" 2>/dev/null || true
    down
}

LOADAVG_START=$(cut -d' ' -f1-3 /proc/loadavg)
if [[ $CAPACITY == 1 ]]; then
    for proxy in $PROXIES; do
        [[ -z ${STATUS[$proxy]:-} ]] || continue
        say "== $proxy without its guard on core $PROXY_CORE: capacity =="
        capacity "$proxy"
    done
fi
if [[ -z $FLOOD_RATE ]]; then
    highest=0
    for proxy in $PROXIES; do
        c=${CAP[$proxy]:-na}
        [[ $c =~ ^[0-9]+$ ]] && ((c > highest)) && highest=$c
    done
    ((highest > 0)) || { say "sip-flood: no capacity measured, and no FLOOD_RATE"; exit 1; }
    FLOOD_RATE=$((highest * FACTOR))
fi
for proxy in $PROXIES; do
    [[ -z ${STATUS[$proxy]:-} ]] || continue
    say "== $proxy with guard=$FLOOD_GUARD on core $PROXY_CORE: $FLOOD_RATE INVITEs/s from $FLOODER for $FLOOD_SECS s, $CALL_RATE calls/s from $CALLER =="
    flood "$proxy" "$FLOOD_RATE"
done

# ---- report ----
res() { tr ' ' '\n' <"$WORK/$1.result" 2>/dev/null | awk -F= -v k="$2" '$1 == k { print $2; f = 1 } END { if (!f) print "na" }'; }
fl() { flood_field "$WORK/$1-flood.flood" "$2"; }
row() { printf '  %-30s' "$1"; shift; for v in "$@"; do printf ' %-24s' "$v"; done; printf '\n'; }
rev="rev $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
[[ -n $(git -C "$ROOT" status --porcelain -- crates 2>/dev/null) ]] && rev="$rev + uncommitted changes"
[[ $SKIP_BUILD == 1 ]] && rev="binary $FERROVOX, not rebuilt (tree: $rev)"
{
    echo
    if [[ $FLOOD_GUARD == true ]]; then guards="on"; else guards="OFF in the flood phase (ferrovox enabled = false, kamailio without WITH_GUARD); when on"; fi
    echo "================ SIP flood from one source: ferrovox vs kamailio ================"
    printf '  %-30s %s\n' "CPU" "$(cpu_model), $(cpu_mhz) MHz, $(nproc) cores online" \
        "kernel" "$(uname -r)" \
        "load average at start" "$LOADAVG_START" \
        "pinning" "proxy on core $PROXY_CORE; sipp caller + 2 members on $PEER_CORE; flooder on $FLOOD_CORE at nice 19" \
        "priority" "$(if [[ $BOOST == 1 ]]; then echo "nice -20 for proxy and sipp (own autogroup)"; else echo "default (not root)"; fi)" \
        "caller" "$CALL_RATE calls/s x $CALL_SECS s from $CALLER (INVITE..BYE, ${HOLD_MS} ms hold)" \
        "flood" "$FLOOD_RATE INVITEs/s for $FLOOD_SECS s (at most $FLOOD_MAX) from $FLOODER, ${FLOOD_DELAY} s after the caller starts, to a sink that never answers" \
        "guards" "$guards: ferrovox [sip.flood] rate $GUARD_RATE burst $GUARD_BURST ban after ${BAN_AFTER_SECS} s for ${BAN_SECS} s; kamailio pike $((2 * GUARD_RATE))/2 s + htable ban ${BAN_SECS} s + ratelimit INVITE ${RL_INVITES}/s" \
        "kamailio" "$(kamailio_version), $CHILDREN UDP workers, ${SHM_MB} MB shm" \
        "ferrovox" "$rev" \
        "sipp" "$(sipp_version)"
    echo "  ---"
    # shellcheck disable=SC2086 # one column per proxy
    row "" $PROXIES
    vals() { local k=$1 f=$2 p out=(); for p in $PROXIES; do out+=("$("$f" "$p" "$k")"); done; printf '%s\n' "${out[@]}"; }
    cap() { echo "${CAP[$1]:-na}/s"; }
    mapfile -t v < <(for p in $PROXIES; do cap "$p"; done); row "capacity (unguarded, fwd/s)" "${v[@]}"
    mapfile -t v < <(for p in $PROXIES; do echo "$(fl "$p" sent) at $(fl "$p" rate)/s"; done); row "flood sent" "${v[@]}"
    mapfile -t v < <(for p in $PROXIES; do awk -v r="$(fl "$p" rate)" -v c="${CAP[$p]:-na}" 'BEGIN { if (c + 0 > 0 && r != "na") printf "%.1fx\n", r / c; else print "na" }'; done); row "flood / own capacity" "${v[@]}"
    mapfile -t v < <(for p in $PROXIES; do echo "$(res "$p" ok)/$(res "$p" calls) = $(res "$p" ratio)"; done); row "legitimate calls completed" "${v[@]}"
    mapfile -t v < <(for p in $PROXIES; do echo "$(res "$p" failed) failed, $(res "$p" retrans) retrans"; done); row "" "${v[@]}"
    mapfile -t v < <(vals cpu_flood res); row "proxy CPU during the flood" "${v[@]}"
    mapfile -t v < <(vals cpu_phase res); row "proxy CPU, whole phase" "${v[@]}"
    mapfile -t v < <(vals mem_idle res); row "memory idle RSS/PSS (MiB)" "${v[@]}"
    mapfile -t v < <(vals mem_peak res); row "memory peak RSS/PSS (MiB)" "${v[@]}"
    mapfile -t v < <(vals drops res); row "socket drops proxy/peers" "${v[@]}"
    mapfile -t v < <(for p in $PROXIES; do b=$(fl "$p" banned_after); [[ $b == none || $b == na ]] && echo "NO" || echo "yes, after $b s"; done); row "flooder banned" "${v[@]}"
    mapfile -t v < <(vals forwarded fl); row "flood INVITEs forwarded" "${v[@]}"
    mapfile -t v < <(vals sent_after_ban fl); row "sent after the ban" "${v[@]}"
    mapfile -t v < <(for p in $PROXIES; do echo "$(fl "$p" forwarded_after_ban)/$(fl "$p" replied_after_ban)"; done); row "after ban: forwarded/replies" "${v[@]}"
    mapfile -t v < <(vals replied fl); row "flood INVITEs answered" "${v[@]}"
    for p in $PROXIES; do
        l=$(sed -n 's/^ban_line=//p' "$WORK/$p-flood.flood" 2>/dev/null | cut -c1-300)
        [[ -z $l ]] || printf '  %s ban logged: %s\n' "$p" "$l"
    done
    for p in $PROXIES; do [[ ${STATUS[$p]:-} == ok ]] || printf '  %s: not measured: %s\n' "$p" "${STATUS[$p]:-not requested}"; done
    if awk -v l="${LOADAVG_START%% *}" 'BEGIN { exit !(l > 0.5) }'; then
        echo "  WARNING: other work was running when the bench started (load ${LOADAVG_START%% *})."
    fi
    echo "================================================================================="
} | tee "$WORK/summary.txt"

for p in $PROXIES; do
    [[ ${STATUS[$p]:-} == ok ]] || exit 1
done
