#!/usr/bin/env bash
# Installs what Ferrovox needs on Debian 12, from Debian's own packages.
#
#   deploy/install-deps.sh            build dependencies (enough to build and run the appliance)
#   deploy/install-deps.sh --test     + the real peers the test suite drives: sipp, Kamailio, tcpdump,
#                                       and DPDK 22.11 with its virtual PMDs (deploy/install-dpdk.sh)
#   deploy/install-deps.sh --bench    + rtpengine (the comparison benchmark)
#   deploy/install-deps.sh --deb      + cargo-deb, to build the Debian package (deploy/build-deb.sh;
#                                       --test includes it)
#
# Runs as root (sudo is not needed, nor used) or as a user with sudo. When no cargo of at least
# the lockfile's Rust version is on PATH or in ~/.cargo/bin, it installs the stable toolchain
# with rustup (an installed rustup, else the rustup installer over HTTPS); a host that cannot
# reach the Rust project's servers gets Debian 12's own recent toolchain instead, rustc-web and
# cargo-web (bookworm-security; Debian's plain `cargo` 0.66 is too old for the lockfile).
# FERROVOX_RUST=debian takes Debian's straight away, FERROVOX_RUST=rustup never falls back.
#
# Packaged daemons (kamailio, rtpengine) are installed but never started or enabled: the tests
# and benchmarks start their own instances on loopback, and a packaged rtpengine would take the
# ng port 127.0.0.1:2223 that config/ferrovox.toml uses.
set -euo pipefail

want_test=0
want_bench=0
want_deb=0
for a in "$@"; do
    case "$a" in
        --test) want_test=1 ;;
        --bench) want_test=1; want_bench=1 ;;
        --deb) want_deb=1 ;;
        *) echo "usage: $0 [--test] [--bench] [--deb]" >&2; exit 2 ;;
    esac
done

sudo=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "run $0 as root (sudo is not installed)" >&2; exit 1; }
    sudo="sudo"
fi

pkgs=(build-essential pkg-config)
if [ "$want_test" = 1 ]; then pkgs+=(sip-tester kamailio tcpdump iproute2 python3); fi
# Kamailio's tls module: the TLS peer of the SIP-over-TLS test (edge_tls).
if [ "$want_test" = 1 ]; then pkgs+=(kamailio-tls-modules); fi
# A real SIP UA with audio from a file (anchored_edges).
if [ "$want_test" = 1 ]; then pkgs+=(baresip-core); fi
# A terminal to drive ferrovoxctl top in (admin_calls).
if [ "$want_test" = 1 ]; then pkgs+=(tmux); fi
# Redis, the store of replicated call state (the HA replication tests start their own).
if [ "$want_test" = 1 ]; then pkgs+=(redis-server); fi
# keepalived moves the service address between the two nodes of the HA failover test (VRRP in
# the test's own network namespaces; the packaged service is never started).
if [ "$want_test" = 1 ]; then pkgs+=(keepalived); fi
# rtpengine-ng-client, Debian's ng client (bencode and --json), drives the relay in ng_clients.
if [ "$want_test" = 1 ]; then pkgs+=(rtpengine-utils); fi
if [ "$want_bench" = 1 ]; then pkgs+=(rtpengine-daemon); fi
# ethtool: relay-scrape.sh BACKEND=dpdk turns transmit checksum offload off on its veth end.
if [ "$want_bench" = 1 ]; then pkgs+=(ethtool); fi
# promtool (from Debian's prometheus; the server itself is never started) checks the
# daemon's /metrics exposition in the metrics test.
if [ "$want_test" = 1 ]; then pkgs+=(prometheus); fi
# The deployment kit's test (tests/run-deb.sh): shellcheck, systemd-analyze, the package's
# adduser, dpkg-dev for cargo-deb's dependency scan; curl and certificates for rustup.
if [ "$want_test" = 1 ]; then pkgs+=(shellcheck systemd adduser); want_deb=1; fi
if [ "$want_deb" = 1 ]; then pkgs+=(dpkg-dev); fi
pkgs+=(curl ca-certificates)

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
    for svc in kamailio rtpengine-daemon prometheus redis-server keepalived; do
        $sudo systemctl disable --now "$svc" >/dev/null 2>&1 || true
    done
fi

if [ "$want_test" = 1 ]; then
    "$(dirname "${BASH_SOURCE[0]}")/install-dpdk.sh"
fi

"$(dirname "${BASH_SOURCE[0]}")/install-rust.sh"
export PATH="$PATH:$HOME/.cargo/bin"
if [ "$want_deb" = 1 ]; then
    # cargo-deb builds the Debian package (deploy/build-deb.sh, tests/run-deb.sh).
    cargo_deb=3.8.0
    if [ "$(cargo deb --version 2>/dev/null)" != "cargo-deb $cargo_deb" ]; then
        cargo install --locked "cargo-deb@$cargo_deb"
    fi
fi
echo "dependencies ok: ${pkgs[*]}"
