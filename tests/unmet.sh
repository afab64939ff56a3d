# shellcheck shell=bash
# Sourced by the test scripts (run-deb.sh, run-dpdk.sh) after they set SCRIPT to their name:
# the suite's convention for a missing tool, package, privilege or corpus (tests/README.md).

# unmet NEED WHY: fail, or say SKIPPED and stop when FERROVOX_TEST_SKIP lists NEED.
unmet() {
    local list=",${FERROVOX_TEST_SKIP:-},"
    list=${list// /}
    if [[ ${list,,} == *",$1,"* ]]; then
        echo "$SCRIPT: SKIPPED (FERROVOX_TEST_SKIP names $1): $2" >&2
        exit 0
    fi
    echo "$SCRIPT: needs $1: $2" >&2
    echo "(to run without it, opt out explicitly: FERROVOX_TEST_SKIP=$1; see tests/README.md)" >&2
    exit 1
}
