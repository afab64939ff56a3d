#!/usr/bin/env bash
# The whole Ferrovox test suite: unit, property, scenario and end-to-end tests (the real daemon
# against Kamailio and sipp on loopback), plus a short smoke run of every fuzz target.
#
#   tests/run-all.sh            everything
#   FUZZ_SECONDS=0 tests/run-all.sh   skip the fuzz smoke run
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

echo "== build"
cargo build --workspace --all-targets
target_dir="${CARGO_TARGET_DIR:-target}"
case "$target_dir" in /*) ;; *) target_dir="$PWD/$target_dir" ;; esac
export FERROVOX_BIN="$target_dir/debug/ferrovox"

echo "== tests"
cargo test --workspace --no-fail-fast

# (config/examples/ name cores this box may not have; the config crate's tests parse them.)
echo "== check-config on the shipped config, and a broken one"
"$FERROVOX_BIN" check-config config/ferrovox.toml
bad=$(mktemp)
printf '[media]\ntimeout_secs = 0\n' >"$bad"
if "$FERROVOX_BIN" check-config "$bad" 2>/dev/null; then
    echo "check-config accepted a broken config" >&2
    exit 1
fi
rm -f "$bad"

echo "== DPDK data plane"
tests/run-dpdk.sh

echo "== Debian package, systemd unit, host kit (deploy/)"
tests/run-deb.sh

secs="${FUZZ_SECONDS:-15}"
if [ "$secs" != 0 ]; then
    echo "== fuzz smoke (${secs}s per target)"
    fuzz/smoke.sh "$secs"
fi
echo "== all tests passed"
