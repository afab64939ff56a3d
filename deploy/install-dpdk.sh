#!/usr/bin/env bash
# Installs the system DPDK that the `dpdk` feature builds against, from Debian 12's packages:
# libdpdk-dev (DPDK 22.11 LTS headers and pkg-config file; it pulls in the runtime libraries and
# poll-mode drivers, among them librte-net-ring23, librte-net-null23, librte-net-af-packet23,
# librte-net-tap23 and librte-mempool-ring23 that the tests use), DPDK's AF_XDP driver
# librte-net-af-xdp23 with the libxdp and libbpf it loads its XDP program with (the deployment on
# NICs that stay with their kernel driver, and its end-to-end test on a veth pair), plus libclang
# for bindgen and iproute2, ethtool and python3 for the network-namespace tests.
#
#   deploy/install-dpdk.sh
set -euo pipefail

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi

pkgs=(libdpdk-dev librte-net-ring23 librte-net-null23 librte-net-af-packet23 librte-net-tap23
      librte-net-af-xdp23 libxdp1 libbpf1 librte-mempool-ring23 libclang-dev clang pkg-config
      iproute2 ethtool python3)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    $sudo apt-get update
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends "${missing[@]}"
fi
echo "DPDK $(pkg-config --modversion libdpdk) ready (pmds: $(pkg-config --variable=pmdsdir libdpdk 2>/dev/null || echo default))"
