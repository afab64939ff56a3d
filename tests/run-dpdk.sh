#!/usr/bin/env bash
# Every DPDK test: the dpdk-sys bindings (layout checks at compile time, an EAL smoke test), the
# pktio DPDK backend on `--no-huge` EAL with net_ring/net_null vdevs (relay, bad frames, ARP/ND/ICMP
# answers, next-hop resolution, VLAN tags, wrong-queue hand-off), the [dataplane.dpdk]
# config checks, and a short run of the dpdk_relay benchmark (it must complete; its figures are printed).
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

if [ "${DPDK_BENCH:-1}" != 0 ]; then
    echo "== dpdk_relay benchmark smoke run (100000 flows, 1 s per phase)"
    DPDK_RELAY_FLOWS=100000 DPDK_RELAY_SECS=1 cargo bench -p benches --features dpdk --bench dpdk_relay
fi
