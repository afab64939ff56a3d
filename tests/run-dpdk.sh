#!/usr/bin/env bash
# Every DPDK test: the dpdk-sys bindings (layout checks at compile time, an EAL smoke test), the
# pktio DPDK backend on `--no-huge` EAL with net_ring/net_null vdevs (relay, bad frames, ARP/ND/ICMP
# answers, next-hop resolution, VLAN tags, wrong-queue hand-off), the [dataplane.dpdk]
# config checks, the daemon built with DPDK relaying calls between two network namespaces over
# net_af_packet ports (tests/tests/dpdk_netns.rs; needs ip, ethtool, python3), and a short run of
# the dpdk_relay benchmark (it must complete; its figures are printed).
# Each test process starts its own EAL with its own --file-prefix. Needs the system DPDK
# (deploy/install-dpdk.sh) and root (the EAL needs it even with --no-huge).
#
#   tests/run-dpdk.sh                 tests + a 1-second benchmark smoke run
#   DPDK_BENCH=0 tests/run-dpdk.sh    tests only
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if ! pkg-config --exists libdpdk; then
    echo "run-dpdk: DPDK not installed (deploy/install-dpdk.sh); skipping the DPDK tests" >&2
    exit 0
fi

echo "== dpdk-sys"
cargo test -p dpdk-sys --features dpdk
echo "== pktio DPDK backend"
cargo test -p pktio --features dpdk
echo "== config"
cargo test -p config dpdk
echo "== ferrovox with the DPDK data plane (builds; clippy-clean wiring)"
cargo build -p ferrovox --features dpdk
echo "== end to end: that daemon on net_af_packet ports in network namespaces (ARP, 4 calls, 1 and 2 workers)"
target_dir="${CARGO_TARGET_DIR:-target}"
case "$target_dir" in /*) ;; *) target_dir="$PWD/$target_dir" ;; esac
# Required: a reason to skip (not root, no `ip netns`, a daemon without DPDK) fails the run.
E2E_DPDK_NETNS_REQUIRED=1 FERROVOX_BIN="$target_dir/debug/ferrovox" \
    cargo test -p e2e --test dpdk_netns -- --test-threads=1 --nocapture

if [ "${DPDK_BENCH:-1}" != 0 ]; then
    echo "== dpdk_relay benchmark smoke run (100000 flows, 1 s per phase)"
    DPDK_RELAY_FLOWS=100000 DPDK_RELAY_SECS=1 cargo bench -p benches --features dpdk --bench dpdk_relay
fi
