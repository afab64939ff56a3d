# shellcheck shell=bash
# Sourced by sip-vs-kamailio.sh for LIST_EVERY > 0: does a full call listing over the admin
# socket stall the SIP proxy? Two steps at the fixed rate LIST_RATE on the same daemon: one
# plain, one while `ferrovoxctl calls list --json` pages through every call each LIST_EVERY
# seconds (on the peers' core below sipp's priority, so that the peers are not starved; the
# daemon answers on its own core).

# lister: one full listing every LIST_EVERY s until killed, a line each:
# "unix-time seconds-taken calls-listed exit-code calls-not-ended" (ended calls stay listed
# until the proxy forgets their dialogs).
lister() {
    local t0 t1 rc n live
    while :; do
        t0=$(date +%s.%N)
        rc=0
        "$FERROVOXCTL" --socket "$WORK/admin.sock" calls list --json --timeout 30 \
            >"$WORK/list.json" 2>"$WORK/list.err" || rc=$?
        t1=$(date +%s.%N)
        # Counted with grep, not a JSON parser: the pretty-printed answer has a key a line,
        # and this stays cheap next to sipp on the peers' core.
        n=$(grep -c '^    "call_id": ' "$WORK/list.json" || true)
        live=$((n - $(grep -c '^    "state": "ended"' "$WORK/list.json" || true)))
        echo "$t0 $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }') $n $rc $live"
        sleep "$(awk -v a="$t0" -v n="$(date +%s.%N)" -v e="$LIST_EVERY" \
            'BEGIN { d = e - (n - a); print (d > 0 ? d : 0) }')"
    done
}

# list_compare NAME PORT: the plain step, then the step under listing.
list_compare() {
    local name=$1 port=$2 pid
    say "== $name: $LIST_RATE cps, no listing =="
    step "$name" "$port" "$LIST_RATE" || true
    sleep "$SETTLE"
    say "== $name: $LIST_RATE cps, a full call listing every $LIST_EVERY s =="
    # exec: $! is the lister's shell itself, the one to stop.
    (exec taskset -c "$PEER_CORE" bash -c \
        "$(declare -f lister); WORK=$WORK FERROVOXCTL=$FERROVOXCTL LIST_EVERY=$LIST_EVERY lister" \
        >"$WORK/listings.txt") &
    pid=$!
    STARTED+=("$pid")
    step "$name-listed" "$port" "$LIST_RATE" || true
    stop "$pid"
}

list_line() { printf '  %-26s %s\n' "$1" "$2"; }

# list_report: both steps, the listings' times and sizes.
list_report() {
    local n median max most failed live
    live=$(awk '$4 == 0 && $5 != "na" && $5 > m { m = $5 } END { print m + 0 }' "$WORK/listings.txt")
    failed=$(awk '$4 != 0 || $3 == "na"' "$WORK/listings.txt" | wc -l)
    read -r n median max most < <(awk '$4 == 0 && $3 != "na" { print $2, $3 }' "$WORK/listings.txt" |
        sort -n | awk '{ v[NR] = $1; if ($2 > m) m = $2 }
            END { if (!NR) { print 0, "na", "na", 0; exit }
                  printf "%d %.3f %.3f %d\n", NR, (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2), v[NR], m }')
    {
        echo
        echo "================ SIP calls/s with and without full call listings ================"
        list_line "CPU" "$(cpu_model), $(nproc) cores online"
        list_line "load average at start" "$LOADAVG_START (other work on the box skews figures)"
        list_line "ferrovox" "rev $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown), proxy on core $PROXY_CORE, media $MEDIA"
        list_line "call" "INVITE 100 180 200 ACK, ${HOLD_MS} ms hold, BYE 200; $LIST_RATE cps x ${DURATION} s a step"
        list_line "steps" "(rate, ok, failed, elapsed against the allowed time, proxy CPU)"
        sed 's/^/    /' "$WORK/ferrovox.steps" "$WORK/ferrovox-listed.steps" 2>/dev/null || true
        list_line "listings" "$n complete, $failed failed, one every ${LIST_EVERY} s"
        list_line "full listing time" "median ${median} s, max ${max} s (ferrovoxctl, every page, JSON)"
        list_line "most calls listed" "$most in one listing; most in progress (not ended): $live"
        echo "================================================================================="
    } | tee "$WORK/summary.txt"
}
