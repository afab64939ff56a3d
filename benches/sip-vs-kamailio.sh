#!/usr/bin/env bash
# sip-vs-kamailio.sh: SIP calls per second through one proxy core with no failed call,
# Kamailio 5.6 (tm, rr, sl, maxfwd, textops, siputils, dispatcher round robin with OPTIONS
# probing) against Ferrovox with the equivalent config, measured in the same run with the
# same sipp scenarios on the same cores.
#
# Each proxy runs on PROXY_CORE (taskset, every process and thread). The sipp peers (one
# caller, two members answering calls and OPTIONS probes) run on PEER_CORE. A step places
# RATE * DURATION calls at RATE calls per second (INVITE, 100, 180, 200, ACK, HOLD_MS of
# hold, BYE, 200; the ACK and BYE follow the Record-Route set); it passes when every call
# succeeds, none fails, and the step ends within DURATION + HOLD_MS + SLACK seconds. The rate
# doubles from START_RATE until a step fails, then bisects to within PRECISION percent, in at
# most STEPS steps per proxy. The peers' own ceiling (the caller straight to one member, no
# proxy) is measured the same way, so a proxy figure at that ceiling reads as a lower bound.
#
# Everything listens on and sends to 127.0.0.1 only, on ports from BASE_PORT up (clear of
# config/ferrovox.toml's 5060, 2223 and 30000-31999). Kamailio runs with its own config,
# runtime and working directory under the run directory, never as the packaged service.
# Every process started here is killed on exit. Settings come from the environment:
#   ONLY=kamailio|ferrovox    measure one proxy only (default: both, Kamailio first); a list
#     such as ONLY="ferrovox ferrovox_ha" measures those in that order. ferrovox_ha: Ferrovox
#     with [ha] replication on, to a redis-server the bench starts on PEER_CORE (its CPU is
#     printed apart); the report then gives what replication costs in calls/s
#   DURATION=10 HOLD_MS=500 START_RATE=250 MAX_RATE=20000 STEPS=8 PRECISION=5 SLACK=3
#   SETTLE=2 MAX_TOTAL=600 (seconds: no new step starts after this)
#   PROXY_CORE=1 PEER_CORE=0 CEILING=1 BASE_PORT=25060 (61000 with MEDIA_CALLS) PING_INTERVAL=10
#   CHILDREN=4 SHM_MB=512 (Kamailio UDP workers, shared memory)
#   FLOOD_GUARD=true|false (Ferrovox's [sip.flood] guard; the caller is exempt either way)
#   MEDIA=signalling|anchor (anchor: every call's media anchored too: Kamailio drives
#     rtpengine over ng with rtpengine_offer/answer/delete, rtpengine pinned to the proxy
#     core with it; Ferrovox anchors in-process; both delete at once, no delete delay)
#   RTPENGINE=/usr/bin/rtpengine RELAY_MIN=2000 RELAY_MAX=21999 (MEDIA=anchor relay ports)
#   MEDIA_CALLS=0 (with MEDIA=anchor: that many calls set up and held through the proxy before
#     its search, with RTP both ways for the whole search; every step prints the media loss
#     in its window and fails at MEDIA_LOSS=0.1 percent or more; benches/sip-media.sh)
#     MEDIA_PPS=5 (packets/s per direction of each held call) MEDIA_BASELINE=5 (seconds of
#     media alone first) HOLD_RATE=500 (calls/s setting the held calls up); RELAY_MAX 31999
#   SKIP_BUILD=0 KAMAILIO=/usr/sbin/kamailio KAMAILIO_MODULES=<from kamailio -h>
#   SIPP=/usr/bin/sipp FERROVOX=<target>/release/ferrovox
#   LIST_EVERY=0 (seconds; with ONLY=ferrovox: no search, two steps at LIST_RATE=1000 cps,
#     the second while `ferrovoxctl calls list --json` pages through every call each
#     LIST_EVERY s against the daemon's admin socket; prints both steps and the listing times)
#   FERROVOXCTL=<target>/release/ferrovoxctl
#   PLOT=FILE.svg (also copy the ramp's picture there; it is always written to the run directory)
set -euo pipefail

# A session of its own at autogroup nice -20 when run as root (see own-session.sh).
# shellcheck source=benches/own-session.sh
source "$(dirname "${BASH_SOURCE[0]}")/own-session.sh"
own_session SIP_BENCH_INNER "$@"

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SIPDIR=$ROOT/benches/sip
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
ONLY=${ONLY:-}
PROXIES=${ONLY:-"kamailio ferrovox"}
DURATION=${DURATION:-10}
HOLD_MS=${HOLD_MS:-500}
START_RATE=${START_RATE:-250}
MAX_RATE=${MAX_RATE:-20000}
STEPS=${STEPS:-8}
PRECISION=${PRECISION:-5}
SLACK=${SLACK:-3}
SETTLE=${SETTLE:-2}
MAX_TOTAL=${MAX_TOTAL:-600}
PROXY_CORE=${PROXY_CORE:-1}
PEER_CORE=${PEER_CORE:-0}
CEILING=${CEILING:-1}
# With MEDIA_CALLS the relay ports take 2000-31999: the bench's own ports go above the
# kernel's ephemeral range.
BASE_PORT=${BASE_PORT:-$(((${MEDIA_CALLS:-0} > 0) ? 61000 : 25060))}
PING_INTERVAL=${PING_INTERVAL:-10}
CHILDREN=${CHILDREN:-4}
SHM_MB=${SHM_MB:-512}
FLOOD_GUARD=${FLOOD_GUARD:-true}
MEDIA=${MEDIA:-signalling}
RTPENGINE=${RTPENGINE:-/usr/bin/rtpengine}
SKIP_BUILD=${SKIP_BUILD:-0}
KAMAILIO=${KAMAILIO:-/usr/sbin/kamailio}
SIPP=${SIPP:-/usr/bin/sipp}
FERROVOX=${FERROVOX:-$TARGET_DIR/release/ferrovox}
LIST_EVERY=${LIST_EVERY:-0}
LIST_RATE=${LIST_RATE:-1000}
FERROVOXCTL=${FERROVOXCTL:-$TARGET_DIR/release/ferrovoxctl}
MEDIA_CALLS=${MEDIA_CALLS:-0}
MEDIA_PPS=${MEDIA_PPS:-5}
MEDIA_LOSS=${MEDIA_LOSS:-0.1}
MEDIA_BASELINE=${MEDIA_BASELINE:-5}
HOLD_RATE=${HOLD_RATE:-500}

# Port layout (all UDP on 127.0.0.1).
KAMAILIO_PORT=$BASE_PORT
UAC_PORT=$((BASE_PORT + 2))
UAS1_PORT=$((BASE_PORT + 4))
UAS2_PORT=$((BASE_PORT + 6))
NG_PORT=$((BASE_PORT + 8))
FERROVOX_PORT=$((BASE_PORT + 10))
PROBE_PORT=$((BASE_PORT + 12))
MEDIA_BASE=$((BASE_PORT + 100))             # sipp -mp: caller, member 1, member 2
RTPENGINE_NG=$((BASE_PORT + 14))
REDIS_PORT=$((BASE_PORT + 18))
if [[ $MEDIA == anchor ]]; then
    # Anchored calls hold 4 relay ports each (2 legs, RTP + RTCP) until their BYE: room for
    # 5,000 at once, for each relay.
    # With MEDIA_CALLS, 7,500 calls: the held ones and the ramp's. Ferrovox puts the member
    # side on 127.0.0.2 (sip-media.sh), so it holds this many per side.
    RELAY_MIN=${RELAY_MIN:-2000}
    RELAY_MAX=${RELAY_MAX:-$(((MEDIA_CALLS > 0) ? 31999 : 21999))}
else
    RELAY_MIN=$(((BASE_PORT + 1000) / 2 * 2))   # Ferrovox relay ports: even ..
    RELAY_MAX=$((RELAY_MIN + 999))              # .. odd
fi
[[ $MEDIA == signalling || $MEDIA == anchor ]] || { echo "sip-vs-kamailio: MEDIA=$MEDIA: use signalling or anchor" >&2; exit 2; }

for v in DURATION HOLD_MS START_RATE MAX_RATE STEPS PRECISION SLACK SETTLE MAX_TOTAL \
    PROXY_CORE PEER_CORE BASE_PORT PING_INTERVAL CHILDREN SHM_MB LIST_EVERY LIST_RATE \
    MEDIA_CALLS MEDIA_PPS MEDIA_BASELINE HOLD_RATE; do
    [[ ${!v} =~ ^[0-9]+$ ]] || { echo "sip-vs-kamailio: $v must be a whole number, not '${!v}'" >&2; exit 2; }
done
for p in $PROXIES; do
    [[ $p == kamailio || $p == ferrovox || $p == ferrovox_ha ]] ||
        { echo "sip-vs-kamailio: ONLY=$p: use kamailio, ferrovox or ferrovox_ha" >&2; exit 2; }
done
if ((LIST_EVERY > 0)); then
    [[ $PROXIES == ferrovox ]] || { echo "sip-vs-kamailio: LIST_EVERY needs ONLY=ferrovox" >&2; exit 2; }
    [[ -x $FERROVOXCTL ]] || { echo "sip-vs-kamailio: LIST_EVERY needs ferrovoxctl at $FERROVOXCTL" >&2; exit 2; }
fi
if ((MEDIA_CALLS > 0)); then
    [[ $MEDIA == anchor ]] || { echo "sip-vs-kamailio: MEDIA_CALLS needs MEDIA=anchor" >&2; exit 2; }
    ((LIST_EVERY == 0 && HOLD_RATE > 0 && MEDIA_PPS > 0)) ||
        { echo "sip-vs-kamailio: MEDIA_CALLS needs HOLD_RATE and MEDIA_PPS above 0 and no LIST_EVERY" >&2; exit 2; }
fi
((RELAY_MAX < 32768)) || { echo "sip-vs-kamailio: BASE_PORT too high (ports must stay below 32768)" >&2; exit 2; }

WORK=$(mktemp -d /tmp/sip-vs-kamailio.XXXXXX)
STARTED=()
BENCH_START=$(date +%s)

# shellcheck source=benches/sip-common.sh
source "$ROOT/benches/sip-common.sh"
trap sip_cleanup EXIT
# shellcheck source=benches/sip-media.sh
source "$ROOT/benches/sip-media.sh"
# shellcheck source=benches/plot.sh
source "$ROOT/benches/plot.sh"
if ((MEDIA_CALLS > 0)); then
    media_fd_check
    MEMBER_SDP_PORT=$TOOL_MEMBER_PORT
fi
trap 'exit 130' INT TERM

# ---- tools ----
sip_check_tools sip-vs-kamailio
sip_check_ports sip-vs-kamailio "$BASE_PORT" "$((BASE_PORT + 18))" "$MEDIA_BASE" "$((MEDIA_BASE + 40))"

declare -A STATUS
if [[ " $PROXIES " == *" ferrovox "* && $SKIP_BUILD != 1 ]]; then
    say "building: cargo build --release -p ferrovox -p benches"
    if ! (cd "$ROOT" && cargo build --release -p ferrovox -p benches) >"$WORK/build.log" 2>&1; then
        STATUS[ferrovox]="not built: cargo build --release -p ferrovox failed (log: $WORK/build.log)"
        say "${STATUS[ferrovox]}"
    fi
fi

# ---- proxies ----
MEDIA_PID=
# The proxy's processes and, for Kamailio with MEDIA=anchor, rtpengine's.
proxy_pids() {
    proc_tree "$PROXY_PID"
    [[ -z $MEDIA_PID ]] || proc_tree "$MEDIA_PID"
}
start_kamailio() {
    if [[ $MEDIA != anchor ]]; then
        kamailio_start "$SIPDIR/kamailio.cfg" ""
        return
    fi
    [[ -x $RTPENGINE ]] || { say "MEDIA=anchor needs rtpengine at $RTPENGINE (Debian: rtpengine-daemon)"; return 1; }
    # rtpengine in userspace (no kernel module), on the proxy core with Kamailio.
    spawn_on "$PROXY_CORE" "$RTPENGINE" --foreground --log-stderr --table=-1 --interface=127.0.0.1 \
        --listen-ng="127.0.0.1:$RTPENGINE_NG" --port-min="$RELAY_MIN" --port-max="$RELAY_MAX" \
        --delete-delay=0 --pidfile="$WORK/rtpengine.pid" --log-level=4 >"$WORK/rtpengine.log" 2>&1
    MEDIA_PID=$!
    STARTED+=("$MEDIA_PID")
    sleep 0.5
    kamailio_start "$SIPDIR/kamailio.cfg" "s|@@NG_SOCK@@|udp:127.0.0.1:$RTPENGINE_NG|g" -A WITH_RTPENGINE
}
# ferrovox_config: renders $WORK/ferrovox.toml (the template with this run's ports and media).
ferrovox_config() {
    [[ -x $FERROVOX ]] || { say "ferrovox: no binary at $FERROVOX"; return 1; }
    sed -e "s|@@CORE@@|$PROXY_CORE|g" -e "s|@@NG_PORT@@|$NG_PORT|g" -e "s|@@SIP_PORT@@|$FERROVOX_PORT|g" \
        -e "s|@@RELAY_MIN@@|$RELAY_MIN|g" -e "s|@@RELAY_MAX@@|$RELAY_MAX|g" \
        -e "s|@@UAS1_PORT@@|$UAS1_PORT|g" -e "s|@@UAS2_PORT@@|$UAS2_PORT|g" \
        -e "s|@@PING_INTERVAL@@|$PING_INTERVAL|g" -e "s|@@FLOOD_GUARD@@|$FLOOD_GUARD|g" \
        "$SIPDIR/ferrovox.toml" >"$WORK/ferrovox.toml"
    if [[ $MEDIA == anchor ]]; then
        # Anchored (the default), ports released at the BYE as rtpengine's --delete-delay=0.
        printf '\n[media]\ndelete_delay_secs = 0\n' >>"$WORK/ferrovox.toml"
        ((MEDIA_CALLS == 0)) || ferrovox_media_sides "$WORK/ferrovox.toml"
    else
        ferrovox_signalling_only "$WORK/ferrovox.toml"
    fi
}
start_ferrovox() {
    ferrovox_config && ferrovox_start "$WORK/ferrovox.toml"
}
# Ferrovox replicating every anchored call to a redis-server of the bench's own (on PEER_CORE,
# like the peers: Redis runs elsewhere in a deployment).
REDIS_PID=
start_ferrovox_ha() {
    command -v redis-server >/dev/null || { say "ferrovox_ha needs redis-server (deploy/install-deps.sh --test)"; return 1; }
    spawn_on "$PEER_CORE" redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save "" \
        --appendonly no >"$WORK/redis.log" 2>&1
    REDIS_PID=$!
    STARTED+=("$REDIS_PID")
    ferrovox_config || return 1
    cp "$WORK/ferrovox.toml" "$WORK/ferrovox_ha.toml"
    printf '\n[ha]\nenabled = true\nnode = "bench"\nstart = "active"\nredis = "redis://127.0.0.1:%s/0"\n' \
        "$REDIS_PORT" >>"$WORK/ferrovox_ha.toml"
    ferrovox_start "$WORK/ferrovox_ha.toml" ferrovox_ha
}

# ---- one step and the search ----
# step NAME TARGET_PORT RATE: places RATE * DURATION calls; prints one line; returns 0 on pass.
step() {
    local name=$1 port=$2 rate=$3 calls limit allowed t0 t1 rc=0 elapsed ok failed retrans pass
    local pids=() cpu0=na cpu1=na m0 m1
    calls=$((rate * DURATION))
    limit=$((rate * (HOLD_MS / 1000 + 2) * 2))
    allowed=$(awk -v d="$DURATION" -v h="$HOLD_MS" -v s="$SLACK" 'BEGIN { printf "%.1f", d + h / 1000 + s }')
    local stats="$WORK/$name.rate$rate.csv"
    rm -f "$stats"
    if [[ $name != ceiling ]]; then
        # The proxy and, for Kamailio with MEDIA=anchor, its rtpengine.
        mapfile -t pids < <(proxy_pids)
        cpu0=$(cpu_secs "${pids[@]}")
    fi
    m0=$(cpu_secs "${MEMBER_PIDS[@]}")
    local pd0 sd0 pd1 sd1
    pd0=$(udp_drops "$port")
    sd0=$(udp_drops "$UAC_PORT" "$UAS1_PORT" "$UAS2_PORT")
    t0=$(date +%s.%N)
    # -pause_msg_ign: a 180 that arrives after the 200 (a proxy with several workers may
    # forward them out of order, which UDP allows) is dropped, as a UA's transaction layer
    # drops it (RFC 3261 17.1.1.2), instead of failing the call.
    local TIMEFORMAT='%U %S'
    { time on_core "$PEER_CORE" "$SIPP" -sf "$SIPDIR/uac.xml" -i 127.0.0.1 -ci 127.0.0.1 -nostdin \
        -p "$UAC_PORT" -mi 127.0.0.1 -mp "$MEDIA_BASE" -buff_size 4194304 -s bench \
        -m "$calls" -r "$rate" -rp 1000 -l "$limit" -d "$HOLD_MS" -pause_msg_ign \
        -timeout "$(awk -v a="$allowed" 'BEGIN { printf "%d", a + 2.999 }')s" -timeout_error \
        -trace_stat -stf "$stats" -fd 1 -trace_err -error_file "$WORK/$name.rate$rate.errors.log" \
        "127.0.0.1:$port" >"$WORK/$name.rate$rate.out" 2>&1 || rc=$?; } 2>"$WORK/$name.rate$rate.time"
    t1=$(date +%s.%N)
    pd1=$(udp_drops "$port")
    sd1=$(udp_drops "$UAC_PORT" "$UAS1_PORT" "$UAS2_PORT")
    m1=$(cpu_secs "${MEMBER_PIDS[@]}")
    if [[ $name != ceiling ]]; then
        cpu1=$(cpu_secs "${pids[@]}")
    fi
    elapsed=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
    ok=$(stat_field "$stats" 'SuccessfulCall(C)')
    failed=$(stat_field "$stats" 'FailedCall(C)')
    retrans=$(stat_field "$stats" 'Retransmissions(C)')
    local proxy_cpu peer_busy
    proxy_cpu=$(awk -v a="$cpu0" -v b="$cpu1" -v e="$elapsed" \
        'BEGIN { if (a == "na" || b == "na") print "-"; else printf "%.0f%%", (b - a) / e * 100 }')
    # The peers' CPU: the caller (user + system from `time`) and the two members.
    peer_busy=$(awk -v a="$m0" -v b="$m1" -v e="$elapsed" -v t="$(tail -n 1 "$WORK/$name.rate$rate.time")" \
        'BEGIN { split(t, u, " "); printf "%.0f%%", (b - a + u[1] + u[2]) / e * 100 }')
    pass=1
    [[ $rc == 0 && $ok == "$calls" && $failed == 0 ]] || pass=0
    awk -v e="$elapsed" -v a="$allowed" 'BEGIN { exit !(e <= a) }' || pass=0
    local drops="$((pd1 - pd0))/$((sd1 - sd0))"
    [[ $name == ceiling ]] && drops="-/$((sd1 - sd0))"
    local media="" loss=""
    if ((MEDIA_CALLS > 0)) && [[ $name != ceiling ]]; then
        media=$(media_window "$name" "$t0" "$t1")
        loss=${media%%\%*}
        awk -v l="$loss" -v m="$MEDIA_LOSS" 'BEGIN { exit !(l < m) }' || pass=0
        media=" media loss $media"
    fi
    printf '%-8s %6d cps %7d calls %6s s (max %s) ok %-7s failed %-6s retrans %-7s drops %-9s proxy CPU %-5s peers CPU %-5s%s %s\n' \
        "$name" "$rate" "$calls" "$elapsed" "$allowed" "$ok" "$failed" "$retrans" "$drops" "$proxy_cpu" "$peer_busy" \
        "$media" "$([[ $pass == 1 ]] && echo PASS || echo "FAIL (sipp exit $rc)")" | tee -a "$WORK/$name.steps" >&2
    if [[ $pass == 1 ]]; then
        echo "$rate $proxy_cpu $peer_busy $retrans $drops" >"$WORK/$name.best"
        [[ -z $media ]] || echo "$rate${media}" >"$WORK/$name.best.media"
    else
        [[ -z $media ]] || echo "$rate${media}" >"$WORK/$name.fail.media"
    fi
    [[ $pass == 1 ]]
}

# search NAME PORT: highest passing rate into $WORK/NAME.best; lowest failing into NAME.fail.
search() {
    local name=$1 port=$2 rate=$START_RATE lo=0 hi=0 n=0
    rm -f "$WORK/$name.best" "$WORK/$name.fail"
    while ((n < STEPS)); do
        if (($(date +%s) - BENCH_START > MAX_TOTAL)); then
            say "$name: MAX_TOTAL=${MAX_TOTAL}s reached, search stopped"
            echo "time" >"$WORK/$name.cut"
            break
        fi
        if [[ $name != ceiling ]] && ! alive "$PROXY_PID"; then
            say "$name exited during the run (log: $WORK/$name.log)"
            return 1
        fi
        n=$((n + 1))
        if step "$name" "$port" "$rate"; then
            lo=$rate
        else
            hi=$rate
            echo "$rate" >"$WORK/$name.fail"
        fi
        sleep "$SETTLE"
        if ((hi == 0)); then
            ((lo >= MAX_RATE)) && break
            rate=$((lo * 2 > MAX_RATE ? MAX_RATE : lo * 2))
        elif ((lo == 0)); then
            rate=$((hi / 2))
            ((rate >= 1)) || break
        else
            (((hi - lo) * 100 <= PRECISION * lo)) && break
            rate=$(((lo + hi) / 2))
            ((rate > lo && rate < hi)) || break
        fi
    done
    return 0
}

# shellcheck source=benches/sip-list.sh
source "$ROOT/benches/sip-list.sh"

LOADAVG_START=$(cut -d' ' -f1-3 /proc/loadavg)

if [[ $CEILING == 1 ]]; then
    say "== peers' ceiling: caller straight to one member, no proxy, all on core $PEER_CORE =="
    start_members
    search ceiling "$UAS1_PORT" || true
    stop_members
fi

for proxy in $PROXIES; do
    [[ -z ${STATUS[$proxy]:-} ]] || continue
    say "== $proxy on core $PROXY_CORE =="
    start_members
    if ! "start_$proxy"; then
        STATUS[$proxy]="${STATUS[$proxy]:-could not be started}"
        [[ $proxy == ferrovox ]] && STATUS[$proxy]="not built or not found at $FERROVOX (cargo build --release -p ferrovox)"
        stop_members
        continue
    fi
    sleep 0.5
    why=$(proxy_start_failure "$proxy")
    if [[ -n $why ]]; then
        STATUS[$proxy]=$why
    else
        # Every process and thread on the proxy core (Kamailio's workers inherit it already).
        pin_tree "$PROXY_PID" "$PROXY_CORE"
        [[ -z $MEDIA_PID ]] || pin_tree "$MEDIA_PID" "$PROXY_CORE"
        w0=$(date +%s.%N)
        mapfile -t run_pids < <(proxy_pids)
        c0=$(cpu_secs "${run_pids[@]}")
        if ((MEDIA_CALLS > 0)) && ! media_start "$proxy" "$PROXY_PORT"; then
            STATUS[$proxy]="its $MEDIA_CALLS held calls could not be set up (logs: $WORK/$proxy.held.*)"
        elif ((LIST_EVERY > 0)); then
            list_compare "$proxy" "$PROXY_PORT"
            list_report
            exit 0
        elif search "$proxy" "$PROXY_PORT"; then
            STATUS[$proxy]=ok
            mapfile -t run_pids < <(proxy_pids)
            awk -v a="$c0" -v b="$(cpu_secs "${run_pids[@]}")" -v w0="$w0" -v w1="$(date +%s.%N)" \
                'BEGIN { printf "%.1f s CPU over %.1f s wall", b - a, w1 - w0 }' >"$WORK/$proxy.cpu"
        else
            STATUS[$proxy]="exited during the run (log: $WORK/$proxy.log)"
        fi
    fi
    [[ ${STATUS[$proxy]} == ok ]] || say "$proxy: ${STATUS[$proxy]}"
    media_stop
    stop "$PROXY_PID"
    if [[ -n $REDIS_PID ]]; then
        redis_cpu=$(cpu_secs "$REDIS_PID")
        stop "$REDIS_PID"
        REDIS_PID=
    fi
    [[ -z $MEDIA_PID ]] || stop "$MEDIA_PID"
    MEDIA_PID=
    stop_members
done

# ---- report ----
best() { [[ -f $WORK/$1.best ]] && awk -v f="$2" '{ print $f }' "$WORK/$1.best" || echo na; }
cpu_model=$(cpu_model)
cpu_mhz=$(cpu_mhz)
kamailio_version=$(kamailio_version)
sipp_version=$(sipp_version)
rev="rev $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
[[ -n $(git -C "$ROOT" status --porcelain -- crates 2>/dev/null) ]] && rev="$rev + uncommitted changes"
[[ $SKIP_BUILD == 1 ]] && rev="binary $FERROVOX, not rebuilt (tree: $rev)"

line() { printf '  %-26s %s\n' "$1" "$2"; }
# A figure is a lower bound when no step failed (the limit was not reached) or the search
# was cut by MAX_TOTAL.
bound_note() {
    local notes=()
    [[ -f $WORK/$1.fail ]] || notes+=("no step failed up to $(best "$1" 1) cps")
    [[ -f $WORK/$1.cut ]] && notes+=("search cut by MAX_TOTAL")
    ((${#notes[@]} == 0)) || printf '; LOWER BOUND: %s' "$(IFS=,; echo "${notes[*]}")"
}
at_ceiling() {
    local c p
    c=$(best ceiling 1)
    p=$(best "$1" 1)
    [[ $c != na && $p != na ]] && awk -v c="$c" -v p="$p" 'BEGIN { exit !(p >= 0.9 * c) }'
}
proxy_line() {
    local p=$1 label=$1
    [[ $p == kamailio && $MEDIA == anchor ]] && label="kamailio+rtpengine"
    [[ $p == ferrovox_ha ]] && label="ferrovox+ha"
    if [[ ${STATUS[$p]:-} != ok ]]; then
        line "$p" "not measured: ${STATUS[$p]:-not requested}"
        return
    fi
    if [[ ! -f $WORK/$p.best ]]; then
        line "$p" "no clean step at all (lowest failing rate $(cat "$WORK/$p.fail" 2>/dev/null || echo na) cps)"
        return
    fi
    local failed_at=""
    [[ -f $WORK/$p.fail ]] && failed_at=" (lowest failing step: $(cat "$WORK/$p.fail") cps)"
    line "$label" "$(best "$p" 1) calls/s with no failed call$failed_at$(bound_note "$p")"
    line "" "at that rate: proxy CPU $(best "$p" 2) of one core, sipp peers $(best "$p" 3) of theirs, $(best "$p" 4) retransmissions, $(best "$p" 5) datagrams dropped (proxy/peers)"
    line "" "CPU per call at that rate: $(awk -v c="$(best "$p" 2)" -v r="$(best "$p" 1)" 'BEGIN { sub("%", "", c); if (r + 0 == 0) print "na"; else printf "%.0f us", c / 100 / r * 1e6 }')"
    line "" "whole run: $(cat "$WORK/$p.cpu" 2>/dev/null || echo na)$(at_ceiling "$p" && echo '; AT THE PEERS CEILING: the proxy figure is a lower bound')"
    if ((MEDIA_CALLS > 0)); then
        line "" "media, no call ramp: loss $(cat "$WORK/$p.media.baseline" 2>/dev/null || echo na)"
        line "" "media at the best clean rate: $(cat "$WORK/$p.best.media" 2>/dev/null || echo na)"
        line "" "media at the lowest failing step: $(cat "$WORK/$p.fail.media" 2>/dev/null || echo na)"
    fi
}

{
    echo
    echo "================ SIP calls/s on one proxy core: ferrovox vs kamailio ================"
    line "CPU" "$cpu_model, ${cpu_mhz} MHz, $(nproc) cores online"
    line "kernel" "$(uname -r)"
    line "load average at start" "$LOADAVG_START (other work on the box skews figures)"
    line "pinning" "proxy on core $PROXY_CORE (all processes/threads); sipp caller + 2 members on core $PEER_CORE"
    line "priority" "$(if [[ $BOOST == 1 ]]; then echo "nice -20 for all ($(cat /proc/self/autogroup 2>/dev/null || echo 'no autogroup'))"; else echo "default (not root)"; fi)"
    line "call" "INVITE(SDP) 100 180 200(SDP) ACK, ${HOLD_MS} ms hold, BYE 200; UDP on 127.0.0.1; record-routed"
    line "dispatching" "2 members, round robin, OPTIONS probe every ${PING_INTERVAL} s"
    if [[ $MEDIA == anchor ]]; then
        line "media" "anchored: kamailio + rtpengine userspace over ng (rtpengine's CPU counted with the proxy's), ferrovox in-process; delete delay 0"
        if ((MEDIA_CALLS > 0)); then
            line "held calls" "$MEDIA_CALLS set up first and held through the search, RTP (172 B) at $MEDIA_PPS pps per direction each ($((MEDIA_CALLS * 2 * MEDIA_PPS)) pps through the relay), rtp-hold on core $PEER_CORE; a step fails at ${MEDIA_LOSS}% media loss"
            line "" "ferrovox: caller side on 127.0.0.1, member side on 127.0.0.2, ports $RELAY_MIN-$RELAY_MAX each; rtpengine: 127.0.0.1, the same range"
        else
            line "" "no RTP sent"
        fi
    else
        line "media" "signalling only (SDP untouched)"
    fi
    line "per step" "rate x ${DURATION} s of calls; pass: all successful, none failed, done within ${DURATION} s + hold + ${SLACK} s"
    line "search" "from $START_RATE cps doubling, then bisecting to ${PRECISION}%; at most $STEPS steps per proxy"
    [[ " $PROXIES " == *" kamailio "* ]] &&
        line "kamailio" "${kamailio_version:-unknown}, $CHILDREN UDP workers, ${SHM_MB} MB shm; tm rr sl maxfwd textops siputils dispatcher(alg 4)"
    [[ " $PROXIES " == *" ferrovox "* ]] && line "ferrovox" "$rev"
    line "sipp" "${sipp_version:-unknown}"
    if [[ $CEILING == 1 ]]; then
        line "peers' ceiling" "$(best ceiling 1) calls/s (caller straight to one member)$(bound_note ceiling)"
    fi
    echo "  ---"
    for p in $PROXIES; do proxy_line "$p"; done
    if [[ ${STATUS[kamailio]:-} == ok && ${STATUS[ferrovox]:-} == ok ]]; then
        ratio=$(awk -v a="$(best ferrovox 1)" -v b="$(best kamailio 1)" \
            'BEGIN { if (a == "na" || b == "na" || b + 0 == 0) print "na"; else printf "%.2f", a / b }')
        echo "  ---"
        line "ratio ferrovox/kamailio" "${ratio}x (highest clean call rate on one core)"
    fi
    if [[ ${STATUS[ferrovox]:-} == ok && ${STATUS[ferrovox_ha]:-} == ok ]]; then
        echo "  ---"
        line "replication cost" "$(awk -v a="$(best ferrovox 1)" -v b="$(best ferrovox_ha 1)" \
            'BEGIN { if (a + 0 == 0 || b == "na") print "na"; else printf "%.1f%% fewer calls/s with [ha] on (%s against %s)", (a - b) / a * 100, b, a }')"
        line "" "redis-server (on core $PEER_CORE): ${redis_cpu:-na} s CPU over ferrovox_ha's run"
    fi
    if awk -v l="${LOADAVG_START%% *}" 'BEGIN { exit !(l > 0.5) }'; then
        echo "  WARNING: other work was running when the bench started (load ${LOADAVG_START%% *})."
    fi
    echo "====================================================================================="
} | tee "$WORK/summary.txt"

# The ramp as a picture: completed against offered calls/s per system, and below the failed
# calls (or, with MEDIA_CALLS, the media loss) of each step.
{
    echo "system,x,y,y2"
    for p in ceiling $PROXIES; do
        [[ -f $WORK/$p.steps ]] || continue
        label=$p
        [[ $p == kamailio && $MEDIA == anchor ]] && label="kamailio+rtpengine"
        [[ $p == ceiling ]] && label="peers' ceiling (no proxy)"
        [[ $p == ferrovox_ha ]] && label="ferrovox+ha"
        awk -v l="$label" -v d="$DURATION" -v media="$MEDIA_CALLS" '{
            loss = 0
            for (i = 1; i < NF; i++) if ($i == "loss") { loss = $(i + 1); sub("%", "", loss) }
            bad = media > 0 ? loss : ($4 - $11) / $4 * 100
            printf "%s,%s,%.1f,%.3f\n", l, $2, $11 / d, bad }' "$WORK/$p.steps"
    done
} >"$WORK/ramp.csv"
plot_ramp "$WORK/ramp.csv" "$WORK/sip-vs-kamailio.svg" \
    "SIP calls/s on one proxy core ($MEDIA$( ((MEDIA_CALLS > 0)) && echo ", $MEDIA_CALLS held calls at $MEDIA_PPS pps"))" \
    "offered calls/s" "completed calls/s" \
    "$( ((MEDIA_CALLS > 0)) && echo "media loss %" || echo "failed calls %")"

for p in $PROXIES; do
    [[ ${STATUS[$p]:-} == ok ]] || exit 1
done
