# shellcheck shell=bash disable=SC2034,SC2153 # globals of the calling script, and for it
# Sourced by the SIP benches (sip-vs-kamailio.sh, sip-flood.sh): process handling, pinning,
# /proc readings, the sipp members, the readiness probe and starting Kamailio or Ferrovox.
#
# The calling script sets, before it calls any of these functions:
#   WORK        the run directory (logs, rendered configs, sipp statistics)
#   STARTED     an array of the pids started here (the exit trap stops them)
#   SIPP SIPDIR PEER_CORE PROXY_CORE PROBE_PORT UAS1_PORT UAS2_PORT MEDIA_BASE
#   KAMAILIO KAMAILIO_PORT CHILDREN SHM_MB PING_INTERVAL FERROVOX FERROVOX_PORT
# and installs `trap sip_cleanup EXIT`.

say() { printf '%s\n' "$*" >&2; }

# Whether a process started here still runs (an exited child stays a zombie until reaped).
alive() {
    local state
    state=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
    [[ $state != Z* ]]
}
# stop PID: SIGTERM, at most 5 s for it to exit, then SIGKILL; reaps it.
stop() {
    kill "$1" 2>/dev/null || true
    for _ in $(seq 50); do
        alive "$1" || break
        sleep 0.1
    done
    if alive "$1"; then kill -9 "$1" 2>/dev/null || true; fi
    wait "$1" 2>/dev/null || true
    # Reaped: its pid may be reused, so the exit trap must not signal it any more.
    local keep=() pid
    for pid in "${STARTED[@]}"; do [[ $pid == "$1" ]] || keep+=("$pid"); done
    STARTED=("${keep[@]}")
}
# The exit trap: stops everything started here.
sip_cleanup() {
    local pid
    for pid in "${STARTED[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${STARTED[@]}"; do
        stop "$pid"
    done
    echo "logs and outputs: $WORK" >&2
}

# sip_check_tools NAME: sipp, taskset and the two cores exist (exits otherwise).
sip_check_tools() {
    [[ -x $SIPP ]] || { say "$1: sipp not found at $SIPP: apt-get install sip-tester"; exit 1; }
    command -v taskset >/dev/null || { say "$1: taskset not found: apt-get install util-linux"; exit 1; }
    if ((PROXY_CORE >= $(nproc) || PEER_CORE >= $(nproc))); then
        say "$1: PROXY_CORE=$PROXY_CORE / PEER_CORE=$PEER_CORE: this box has $(nproc) cores"
        exit 2
    fi
}
# sip_check_ports NAME LO HI [LO HI]...: no UDP socket of this box is bound to a port in any
# of the ranges (exits otherwise).
sip_check_ports() {
    local name=$1 ranges busy
    shift
    ranges="$*"
    busy=$(ss -Hlun 2>/dev/null | awk -v r="$ranges" \
        '{ n = split($4, a, ":"); p = a[n] + 0; k = split(r, b, " ");
           for (i = 1; i < k; i += 2) if (p >= b[i] && p <= b[i + 1]) { print p; break } }' | sort -u | tr '\n' ' ')
    [[ -z $busy ]] || { say "$name: ports in use on this box: $busy(choose another BASE_PORT)"; exit 1; }
}

BOOST=0
NICE=()
if [[ $(id -u) == 0 ]]; then
    BOOST=1
    NICE=(nice -n -20)
fi
# on_core CORE CMD...: runs CMD pinned to CORE, at nice -20 when root.
on_core() {
    local core=$1
    shift
    "${NICE[@]}" taskset -c "$core" "$@"
}
# spawn_on CORE CMD...: the same in the background; nice and taskset exec the command, so
# $! afterwards is the command's own pid (the one to signal and to charge CPU time to).
spawn_on() {
    local core=$1
    shift
    "${NICE[@]}" taskset -c "$core" "$@" &
}
# pin_tree PID CORE: every process and thread of PID and its children on CORE.
pin_tree() {
    local pid
    for pid in $(proc_tree "$1"); do taskset -a -p -c "$2" "$pid" >/dev/null 2>&1 || true; done
}

CLK_TCK=$(getconf CLK_TCK)
# CPU seconds (user + system, all threads) of the given processes, from /proc/<pid>/stat.
cpu_secs() {
    local pid rest total=0
    for pid in "$@"; do
        rest=$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null) || continue
        total=$(awk -v t="$total" '{ print t + $12 + $13 }' <<<"$rest")
    done
    awk -v t="$total" -v h="$CLK_TCK" 'BEGIN { printf "%.2f", t / h }'
}
# A process and its direct children (Kamailio's workers), one pid per line.
proc_tree() {
    echo "$1"
    ps -o pid= --ppid "$1" 2>/dev/null | tr -d ' ' || true
}
# "RSS PSS" in kB, summed over the given processes (/proc/<pid>/smaps_rollup). PSS counts a
# page shared by N processes (Kamailio's shared memory) as 1/N in each, so its sum is the
# memory the processes hold together; the RSS sum counts shared pages once per process.
mem_kb() {
    local pid
    for pid in "$@"; do cat "/proc/$pid/smaps_rollup" 2>/dev/null || true; done |
        awk '$1 == "Rss:" { r += $2 } $1 == "Pss:" { p += $2 } END { printf "%d %d\n", r, p }'
}
# Datagrams dropped so far on full receive queues of the UDP sockets bound to the given
# ports on 127.0.0.1 (last column of /proc/net/udp).
udp_drops() {
    local ports
    ports=$(printf '%04X ' "$@")
    awk -v ports="$ports" 'NR > 1 { split($2, a, ":"); if (a[1] == "0100007F" && index(ports, a[2] " ")) d += $NF }
        END { print d + 0 }' /proc/net/udp
}

# Value of column NAME in the last line of sipp's statistics FILE ("na" when absent).
stat_field() {
    [[ -s $1 ]] || { echo na; return; }
    awk -F';' -v k="$2" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == k) c = i; next }
        NF > 1 { last = $c } END { print (c && last != "") ? last : "na" }' "$1"
}

# ---- peers ----
MEMBER_PIDS=()
# The port the members' SDP names: their own media port, unless MEMBER_SDP_PORT is set (the RTP
# tool's member socket of sip-vs-kamailio.sh's MEDIA_CALLS).
start_member() {
    local port=$1 mp=$2 name=$3
    spawn_on "$PEER_CORE" "$SIPP" -sf "$SIPDIR/uas.xml" -i 127.0.0.1 -ci 127.0.0.1 -nostdin -aa \
        -p "$port" -mi 127.0.0.1 -mp "$mp" -key sdp_port "${MEMBER_SDP_PORT:-$mp}" -buff_size 4194304 \
        -trace_stat -stf "$WORK/$name.stats.csv" -fd 1 -trace_err -error_file "$WORK/$name.errors.log" \
        >"$WORK/$name.out" 2>&1
    MEMBER_PIDS+=($!)
    STARTED+=($!)
}
# The two sipp members (benches/sip/uas.xml) on PEER_CORE; exits if one does not start.
start_members() {
    MEMBER_PIDS=()
    start_member "$UAS1_PORT" "$((MEDIA_BASE + 10))" member1
    start_member "$UAS2_PORT" "$((MEDIA_BASE + 20))" member2
    sleep 0.5
    local pid
    for pid in "${MEMBER_PIDS[@]}"; do
        alive "$pid" || { say "a sipp member exited at start (see $WORK/member*.out)"; exit 1; }
    done
}
stop_members() {
    local pid
    for pid in "${MEMBER_PIDS[@]}"; do stop "$pid"; done
    MEMBER_PIDS=()
}

# ready PORT: the proxy on PORT answers OPTIONS with 200 within 15 s.
ready() {
    local i
    for i in $(seq 15); do
        if "$SIPP" -sf "$SIPDIR/options.xml" -i 127.0.0.1 -ci 127.0.0.1 -nostdin -p "$PROBE_PORT" \
            -m 1 -timeout 1s -timeout_error "127.0.0.1:$1" >"$WORK/ready.out" 2>&1; then
            return 0
        fi
        sleep 0.5
    done
    return 1
}

# ---- proxies ----
PROXY_PID=
# kamailio_start TEMPLATE SED_SCRIPT [KAMAILIO_ARGS...]: renders TEMPLATE (the placeholders
# @@MPATH@@ @@SIP_PORT@@ @@CHILDREN@@ @@DISPATCHER_LIST@@ @@PING_INTERVAL@@, then SED_SCRIPT
# for the template's own) and starts Kamailio with it on PROXY_CORE, in the foreground with
# its workers, logging to $WORK/kamailio.log.
kamailio_start() {
    local template=$1 extra=$2 modules=${KAMAILIO_MODULES:-}
    shift 2
    if [[ -z $modules ]]; then
        modules=$("$KAMAILIO" -h 2>&1 | sed -n 's/.*-L path.*(default: \(.*\))/\1/p' | head -n 1)
    fi
    if [[ ! -f $modules/dispatcher.so ]]; then
        say "Kamailio's dispatcher module is not in '$modules' (Debian: package kamailio; or set KAMAILIO_MODULES)"
        return 1
    fi
    mkdir -p "$WORK/kamailio"
    sed -e "s|@@UAS1_PORT@@|$UAS1_PORT|g" -e "s|@@UAS2_PORT@@|$UAS2_PORT|g" \
        "$SIPDIR/dispatcher.list" >"$WORK/kamailio/dispatcher.list"
    local render=(-e "s|@@MPATH@@|$modules|g" -e "s|@@SIP_PORT@@|$KAMAILIO_PORT|g"
        -e "s|@@CHILDREN@@|$CHILDREN|g" -e "s|@@DISPATCHER_LIST@@|$WORK/kamailio/dispatcher.list|g"
        -e "s|@@PING_INTERVAL@@|$PING_INTERVAL|g")
    [[ -z $extra ]] || render+=(-e "$extra")
    sed "${render[@]}" "$template" >"$WORK/kamailio/kamailio.cfg"
    if grep -q '@@' "$WORK/kamailio/kamailio.cfg"; then
        say "kamailio.cfg: a placeholder was left unrendered"
        return 1
    fi
    # Foreground (-DD) with its workers, logging to stderr; its own pid file, runtime
    # directory (-Y) and working directory (-w): nothing of the system service is used.
    spawn_on "$PROXY_CORE" "$KAMAILIO" -DD -E -m "$SHM_MB" -M 16 -f "$WORK/kamailio/kamailio.cfg" \
        -P "$WORK/kamailio/kamailio.pid" -Y "$WORK/kamailio" -w "$WORK/kamailio" "$@" \
        >"$WORK/kamailio.log" 2>&1
    PROXY_PID=$!
    STARTED+=("$PROXY_PID")
    PROXY_PORT=$KAMAILIO_PORT
}

# ferrovox_start CONFIG [NAME]: starts the daemon with the rendered CONFIG on PROXY_CORE,
# logging to $WORK/NAME.log (NAME: ferrovox).
ferrovox_start() {
    if [[ ! -x $FERROVOX ]]; then
        say "ferrovox: no binary at $FERROVOX"
        return 1
    fi
    # A relative [admin] socket goes under RUNTIME_DIRECTORY: the run directory here.
    RUNTIME_DIRECTORY=$WORK spawn_on "$PROXY_CORE" "$FERROVOX" --config "$1" >"$WORK/${2:-ferrovox}.log" 2>&1
    PROXY_PID=$!
    STARTED+=("$PROXY_PID")
    PROXY_PORT=$FERROVOX_PORT
}

# ferrovox_signalling_only CONFIG: gives every [[set]] of CONFIG "[set.media] anchor = false"
# (before its first [[set.member]]) when this build knows the key, so that Ferrovox relays
# signalling only, as the Kamailio configs here do (no rtpengine); a build without the key
# anchors no media anyway.
ferrovox_signalling_only() {
    local file=$1
    awk '/^\[\[set\]\]/ { pending = 1 }
        /^\[\[set\.member\]\]/ && pending { print "[set.media]\nanchor = false\n"; pending = 0 }
        { print }' "$file" >"$file.media"
    if "$FERROVOX" check-config "$file.media" >"$WORK/ferrovox.check" 2>&1; then
        mv "$file.media" "$file"
    else
        rm -f "$file.media"
    fi
}

# proxy_start_failure NAME: why the proxy just started is not serving (empty when it is).
proxy_start_failure() {
    local proxy=$1 why
    if ! alive "$PROXY_PID"; then
        tail -n 5 "$WORK/$proxy.log" >&2 || true
        if [[ $proxy == ferrovox* ]]; then
            why="the daemon exited at start, saying: $(tail -n 1 "$WORK/$proxy.log" 2>/dev/null | cut -c1-160)"
            # shellcheck disable=SC2016 # the backquotes are literal
            if grep -q 'unknown field `\(sip\|set\)`' "$WORK/ferrovox.log" 2>/dev/null; then
                why="$why -- this build has no SIP proxy yet (it refuses the [sip] and [[set]] sections)"
            fi
        else
            why="exited at start (log: $WORK/$proxy.log)"
        fi
    elif ! ready "$PROXY_PORT"; then
        why="no 200 to OPTIONS on 127.0.0.1:$PROXY_PORT within 15 s (log: $WORK/$proxy.log)"
        [[ $proxy == ferrovox ]] && why="$why; a build without the SIP proxy does not answer OPTIONS"
    fi
    echo "${why:-}"
}

# Versions and the CPU, for the reports.
kamailio_version() { "$KAMAILIO" -v 2>/dev/null | awk '/^version:/ { print $2, $3; exit }' || true; }
sipp_version() { "$SIPP" -v 2>/dev/null | awk '/SIPp v/ { print $2; exit }' || true; }
cpu_model() { awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo; }
cpu_mhz() { awk -F': ' '/^cpu MHz/ { printf "%.0f", $2; exit }' /proc/cpuinfo; }
