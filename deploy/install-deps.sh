#!/usr/bin/env bash
# Installs what Ferrovox needs on Debian 12, from Debian's own packages.
#
#   deploy/install-deps.sh            build dependencies (enough to build and run the appliance)
#   deploy/install-deps.sh --test     + the real peers the test suite drives: sipp, Kamailio, tcpdump,
#                                       and DPDK 22.11 with its virtual PMDs (deploy/install-dpdk.sh)
#   deploy/install-deps.sh --bench    + rtpengine (the comparison benchmark)
#
# Packaged daemons (kamailio, rtpengine) are installed but never started or enabled: the tests
# and benchmarks start their own instances on loopback, and a packaged rtpengine would take the
# ng port 127.0.0.1:2223 that config/ferrovox.toml uses.
set -euo pipefail

want_test=0
want_bench=0
for a in "$@"; do
    case "$a" in
        --test) want_test=1 ;;
        --bench) want_test=1; want_bench=1 ;;
        *) echo "usage: $0 [--test] [--bench]" >&2; exit 2 ;;
    esac
done

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi

pkgs=(build-essential pkg-config)
if [ "$want_test" = 1 ]; then pkgs+=(sip-tester kamailio tcpdump iproute2 python3); fi
# Kamailio's tls module: the TLS peer of the SIP-over-TLS test (edge_tls).
if [ "$want_test" = 1 ]; then pkgs+=(kamailio-tls-modules); fi
if [ "$want_bench" = 1 ]; then pkgs+=(rtpengine-daemon); fi

missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    # policy-rc.d 101 tells Debian's maintainer scripts not to start services.
    policy=/usr/sbin/policy-rc.d
    had_policy=0
    [ -e "$policy" ] && had_policy=1
    if [ "$had_policy" = 0 ]; then
        printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
        $sudo chmod 755 "$policy"
    fi
    trap '[ "$had_policy" = 0 ] && $sudo rm -f "$policy"' EXIT
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    for svc in kamailio rtpengine-daemon; do
        $sudo systemctl disable --now "$svc" >/dev/null 2>&1 || true
    done
fi

if [ "$want_test" = 1 ]; then
    "$(dirname "${BASH_SOURCE[0]}")/install-dpdk.sh"
fi

if ! command -v cargo >/dev/null 2>&1; then
    echo "Rust is missing: install the stable toolchain with rustup (https://rustup.rs), then rerun." >&2
    exit 1
fi
echo "dependencies ok: ${pkgs[*]}"
