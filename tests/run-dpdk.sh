#!/usr/bin/env bash
# Every DPDK test: the dpdk-sys bindings (layout checks at compile time, an EAL smoke test), the
# pktio DPDK backend on `--no-huge` EAL with net_ring/net_null vdevs (relay, bad frames, ARP/ND/ICMP
# answers, next-hop resolution, VLAN tags, wrong-queue hand-off), the [dataplane.dpdk]
# config checks, the daemon built with DPDK relaying calls between two network namespaces over
# net_af_packet ports, and over net_af_xdp ports (AF_XDP, native XDP on veth; needs the driver
# package librte-net-af-xdp23), set up over ng or anchored by its own SIP proxy
# (tests/tests/dpdk_netns.rs; needs ip, ethtool, python3), and a short run of
# the dpdk_relay benchmark (it must complete; its figures are printed).
# Each test process starts its own EAL with its own --file-prefix. Needs the system DPDK
# (deploy/install-dpdk.sh) and root (the EAL needs it even with --no-huge): without them it
# fails, unless the developer opts out explicitly with FERROVOX_TEST_SKIP=dpdk (or root), the
# convention of the whole suite (tests/README.md).
#
#   tests/run-dpdk.sh                 tests + a 1-second benchmark smoke run
#   DPDK_BENCH=0 tests/run-dpdk.sh    tests only
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

SCRIPT=run-dpdk
# shellcheck source=tests/unmet.sh
source tests/unmet.sh
pkg-config --exists libdpdk ||
    unmet dpdk "the system DPDK is not installed (pkg-config libdpdk): deploy/install-dpdk.sh"
[ "$(id -u)" = 0 ] || unmet root "not root: the DPDK EAL needs root even with --no-huge"

echo "== dpdk-sys"
cargo test -p dpdk-sys --features dpdk
echo "== pktio DPDK backend"
cargo test -p pktio --features dpdk
echo "== config"
cargo test -p config dpdk
echo "== ferrovox with the DPDK data plane (builds; clippy-clean wiring)"
cargo build -p ferrovox --features dpdk
echo "== end to end: that daemon on net_af_packet and net_af_xdp ports in network namespaces (ARP, 4 calls over ng on 1 and 2 workers, 4 calls anchored by its SIP proxy)"
target_dir="${CARGO_TARGET_DIR:-target}"
case "$target_dir" in /*) ;; *) target_dir="$PWD/$target_dir" ;; esac
FERROVOX_BIN="$target_dir/debug/ferrovox" \
    cargo test -p e2e --features dpdk --test dpdk_netns -- --test-threads=1 --nocapture

if [ "${DPDK_BENCH:-1}" != 0 ]; then
    echo "== dpdk_relay benchmark smoke run (100000 flows, 1 s per phase)"
    DPDK_RELAY_FLOWS=100000 DPDK_RELAY_SECS=1 cargo bench -p benches --features dpdk --bench dpdk_relay
fi
