#!/usr/bin/env bash
# Smoke-fuzz the Ferrovox parsers: run each cargo-fuzz target for SECONDS (default 20) on the
# machine's stable toolchain and fail if any target finds a crash.
#
#   fuzz/smoke.sh [SECONDS] [TARGET...]     targets: rtp_rtcp wire_frame sdp ng ng_json sip sip_stream proxy dns
#                                           ng_engine config l2_responder admin ha_record
#                                           (default: all)
#
# Environment: FUZZ_SANITIZER (default none: the fuzzed crates forbid unsafe code, and without
# a sanitizer the run needs no nightly runtime), FUZZ_TARGET_DIR (default fuzz/target).
# Seeds come from fuzz/seeds/<target>/ plus the binary seeds written below; the corpus grows
# in a temporary directory that is removed afterwards. Crash inputs are kept in
# fuzz/artifacts/<target>/.
set -euo pipefail

secs="${1:-20}"
if [[ $# -gt 0 ]]; then shift; fi
if ! [[ "$secs" =~ ^[0-9]+$ ]] || [[ "$secs" -lt 1 ]]; then
    echo "usage: $0 [SECONDS] [TARGET...]" >&2
    exit 2
fi
all=(rtp_rtcp wire_frame sdp ng ng_json sip sip_stream proxy dns ng_engine config l2_responder admin ha_record)
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then targets=("${all[@]}"); fi

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

# cargo-fuzz passes nightly-only flags to rustc; RUSTC_BOOTSTRAP lets stable accept them.
export RUSTC_BOOTSTRAP=1
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

# One feature set for the whole run, so the targets share one build.
features=()
for t in "${targets[@]}"; do
    case "$t" in
        rtp_rtcp|wire_frame) ;;
        sdp|ng|sip|proxy|dns|ng_engine|config|l2_responder|admin|ha_record) features+=("$t") ;;
        sip_stream) features+=(sip) ;;
        ng_json) features+=(ng) ;;
        *) echo "unknown target: $t (known: ${all[*]})" >&2; exit 2 ;;
    esac
done
feature_args=(--no-default-features)
if [[ ${#features[@]} -gt 0 ]]; then
    feature_args+=(--features "$(IFS=,; echo "${features[*]}")")
fi
common=(--sanitizer "${FUZZ_SANITIZER:-none}" --debug-assertions
        --target-dir "${FUZZ_TARGET_DIR:-$here/target}" "${feature_args[@]}")

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# Write bytes given as hex.
hex() { printf '%b' "$(printf '%s' "$1" | sed 's/../\\x&/g')" > "$2"; }

# Binary seeds (hand-made: valid headers and checksums).
seed_binary() {
    local t="$1" dir="$2"
    case "$t" in
        rtp_rtcp)
            hex 80000001000000a012345678d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5 "$dir/rtp"
            hex 81c9000712345678deadbeef0a00000500010010000000201111222200008000 "$dir/rtcp_rr"
            hex 000100002112a442000000000000000000000000 "$dir/stun"
            hex 16fefd0000000000000000000d010000 "$dir/dtls"
            ;;
        wire_frame)
            hex 02000000000202000000000108004500003c0000400040113cae7f0000017f00000275309c400028ac8180000001000000a012345678d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5d5 "$dir/v4_rtp"
            hex 0200000000020200000000018100006486dd600000000028114020010db800000000000000000000000120010db8000000000000000000000002138d138f0028378981c9000712345678deadbeef0a00000500010010000000201111222200008000 "$dir/v6_vlan_rtcp"
            hex ffffffffffff020000000002080600010800060400010200000000027f0000020000000000007f000001000000000000000000000000000000000000 "$dir/arp"
            ;;
        dns)
            hex 123401000001000000000000076578616d706c6504746573740000230001 "$dir/query"
            hex 123485800001000100000002076578616d706c6504746573740000230001c00c002300010000003c0027000a000a0173075349502b44325500045f736970045f756470076578616d706c65047465737400045f736970045f756470076578616d706c65047465737400002100010000003c00170001000113c4026673076578616d706c65047465737400026673076578616d706c65047465737400000100010000003c00047f000001 "$dir/naptr_response"
            ;;
    esac
}

failed=()
for t in "${targets[@]}"; do
    corpus="$work/$t"
    mkdir -p "$corpus"
    if [[ -d "$here/seeds/$t" ]]; then cp "$here/seeds/$t"/* "$corpus"/ 2>/dev/null || true; fi
    seed_binary "$t" "$corpus"
    echo "== fuzzing $t for ${secs}s"
    if cargo fuzz run "${common[@]}" "$t" "$corpus" -- \
        -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        > "$work/$t.log" 2>&1; then
        grep -E '^(stat::number_of_executed_units|stat::new_units_added|Done )' "$work/$t.log" || true
        echo "-- $t: ok"
    else
        tail -n 40 "$work/$t.log"
        echo "-- $t: FAILED (crash input under fuzz/artifacts/$t/)"
        failed+=("$t")
    fi
done

if [[ ${#failed[@]} -gt 0 ]]; then
    echo "fuzz smoke failed: ${failed[*]}"
    exit 1
fi
echo "fuzz smoke passed: ${targets[*]}"
