# shellcheck shell=bash
# sip-media.sh: MEDIA_CALLS established calls with RTP through the proxy under test while the
# call ramp of sip-vs-kamailio.sh runs (sourced by it; uses its variables and helpers).
#
# Before the search, MEDIA_CALLS calls are set up through the proxy (benches/sip/uac-hold.xml at
# HOLD_RATE calls/s) and held for the whole search. Their SDP names the RTP tool's sockets
# (`rtp-hold`): the caller's names TOOL_CALLER_PORT, the members' (MEMBER_SDP_PORT) names
# TOOL_MEMBER_PORT. The tool reads each call's relay port from the caller's log, latches the
# member-facing port from the first packet relayed, and sends MEDIA_PPS packets per second in
# each direction of every call, counting each back by the second it was sent in. Every step
# of the search then prints the media loss over its window, and a step loses its pass when
# the loss is MEDIA_LOSS percent or more. A baseline window of MEDIA_BASELINE s with no call
# ramp comes first.

HOLD_UAC_PORT=$((BASE_PORT + 16))
TOOL_CALLER_PORT=$((MEDIA_BASE + 30))
TOOL_MEMBER_PORT=$((MEDIA_BASE + 32))
HOLD_PID=
TOOL_PID=

# media_fd_check: refuses a MEDIA_CALLS the relays cannot hold under this open-file limit: a
# held call binds four relay sockets (RTP and RTCP on each leg), and so does each call of the
# ramp while it lasts (about 3,500 at once at 6,000 calls/s with HOLD_MS=500).
media_fd_check() {
    local need=$((MEDIA_CALLS * 4 + 14000)) hard
    hard=$(ulimit -Hn)
    if [[ $hard != unlimited ]] && ((need > hard)); then
        say "MEDIA_CALLS=$MEDIA_CALLS needs about $need open files per relay (4 per held call" \
            "and 14,000 for the ramp's calls); the hard limit here is $hard: lower MEDIA_CALLS"
        exit 2
    fi
}

# media_start NAME PORT: the held calls through the proxy at PORT and their RTP; returns 1
# (with the reason said) if they cannot all be set up and latched.
media_start() {
    local name=$1 port=$2 log="$WORK/$1.held.log" i latched
    rm -f "$log"
    spawn_on "$PEER_CORE" "$SIPP" -sf "$SIPDIR/uac-hold.xml" -i 127.0.0.1 -ci 127.0.0.1 -nostdin \
        -p "$HOLD_UAC_PORT" -key sdp_port "$TOOL_CALLER_PORT" -buff_size 4194304 -s bench \
        -m "$MEDIA_CALLS" -l "$MEDIA_CALLS" -r "$HOLD_RATE" -d "$(((MAX_TOTAL + 300) * 1000))" \
        -trace_logs -log_file "$log" -trace_err -error_file "$WORK/$name.held.errors.log" \
        "127.0.0.1:$port" >"$WORK/$name.held.out" 2>&1
    HOLD_PID=$!
    STARTED+=("$HOLD_PID")
    spawn_on "$PEER_CORE" "$TARGET_DIR/release/rtp-hold" --calls "$log" --expect "$MEDIA_CALLS" \
        --relay 127.0.0.1 --caller "127.0.0.1:$TOOL_CALLER_PORT" --member "127.0.0.1:$TOOL_MEMBER_PORT" \
        --pps "$MEDIA_PPS" --wait $((MEDIA_CALLS / HOLD_RATE + 30)) --seconds $((MAX_TOTAL + 300)) \
        >"$WORK/$name.media" 2>"$WORK/$name.media.err"
    TOOL_PID=$!
    STARTED+=("$TOOL_PID")
    for i in $(seq $((MEDIA_CALLS / HOLD_RATE + 60))); do
        latched=$(awk '/^latched/ { print $2 }' "$WORK/$name.media")
        [[ -n $latched ]] && break
        alive "$TOOL_PID" || break
        sleep 1
    done
    if [[ -z $latched || $latched != "$MEDIA_CALLS" ]]; then
        say "$name: held calls: ${latched:-none} of $MEDIA_CALLS latched (tool: $(tail -n 2 "$WORK/$name.media.err" | tr '\n' ' '))"
        return 1
    fi
    local fds=0 pid
    for pid in $PROXY_PID $MEDIA_PID; do
        fds=$((fds + $(find "/proc/$pid/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)))
    done
    say "$name: $MEDIA_CALLS held calls set up and latched ($fds files open in the proxy and its" \
        "relay); RTP at $MEDIA_PPS pps per direction"
    local t0
    t0=$(date +%s.%N)
    sleep "$MEDIA_BASELINE"
    media_window "$name" "$t0" "$(date +%s.%N)" >"$WORK/$name.media.baseline"
    say "$name: media with no call ramp over ${MEDIA_BASELINE} s: $(cat "$WORK/$name.media.baseline")"
}

# media_window NAME T0 T1: "loss% sent received wrong late" of the packets sent in the whole
# seconds between T0 and T1, once the tool has printed them.
media_window() {
    local name=$1 first last i
    first=$(awk -v t="$2" 'BEGIN { printf "%d", t + 1 }')
    last=$(awk -v t="$3" 'BEGIN { printf "%d", t - 1 }')
    for i in $(seq 20); do
        awk -v l="$last" '$1 == "second" && $2 >= l { found = 1 } END { exit !found }' "$WORK/$name.media" && break
        sleep 0.5
    done
    awk -v a="$first" -v b="$last" '$1 == "second" && $2 >= a && $2 < b {
            s += $4; r += $6; w += $8; l += $10 }
        END { printf "%.3f%% sent %d received %d wrong %d late %d\n",
            s ? (s - r) / s * 100 : 100, s, r, w, l }' "$WORK/$name.media"
}

# media_stop: the tool and the held caller (the held calls go with the proxy).
media_stop() {
    [[ -z $TOOL_PID ]] || stop "$TOOL_PID"
    [[ -z $HOLD_PID ]] || stop "$HOLD_PID"
    TOOL_PID=
    HOLD_PID=
}

# ferrovox_media_sides FILE: the member side of every anchored call on its own interface
# (127.0.0.2, the same port range), so the held calls and the ramp have a range per side.
ferrovox_media_sides() {
    cat >>"$1" <<EOF

[[interface]]
name = "inside"
address = "127.0.0.2"
port_min = $RELAY_MIN
port_max = $RELAY_MAX

[set.media]
member_interface = "inside"
EOF
}
