# Sourced by the comparison benches (relay-vs-rtpengine.sh, sip-vs-kamailio.sh).
#
# With autogroup scheduling (sched_autogroup_enabled=1) CPU time is shared between sessions
# first and nice only ranks threads within a session, so nice -20 alone does not keep other
# work off the pinned cores. `own_session VAR "$@"` re-runs the calling script, as root, in a
# session of its own and raises that session's autogroup to nice -20 (it goes away with the
# session); VAR marks the inner run. Without root or setsid the script runs as it is.
own_session() {
    local var=$1
    shift
    if [[ -z ${!var:-} && $(id -u) == 0 && -w /proc/self/autogroup ]] &&
        command -v setsid >/dev/null; then
        export "$var"=1
        setsid "$BASH" "$0" "$@" &
        local inner=$!
        # shellcheck disable=SC2064 # the pid is fixed now
        trap "kill -TERM -- -$inner 2>/dev/null || kill -TERM $inner 2>/dev/null || true" INT TERM
        local rc=0
        wait "$inner" || rc=$?
        # A trapped signal ends the first wait early: wait for the cleanup to finish.
        while kill -0 "$inner" 2>/dev/null; do wait "$inner" || rc=$?; done
        exit "$rc"
    fi
    if [[ -n ${!var:-} ]]; then
        echo -20 >/proc/self/autogroup 2>/dev/null || true
    fi
}
