#!/usr/bin/env bash
# Makes sure a Rust toolchain recent enough for the lockfile is there (deploy/install-deps.sh
# runs it). Nothing happens when `cargo` on PATH or in ~/.cargo/bin is recent enough. Otherwise,
# in this order:
#
#   1. an installed rustup installs the stable toolchain;
#   2. the rustup installer (https://sh.rustup.rs) installs rustup and the stable toolchain into
#      ~/.cargo (then `. ~/.cargo/env`, or a new login shell, puts it on PATH);
#   3. where the Rust project's servers cannot be reached, Debian 12's rustc-web and cargo-web
#      (bookworm-security, kept current for the browsers; /usr/bin/cargo) when recent enough.
#
# FERROVOX_RUST=debian goes to 3 at once; FERROVOX_RUST=rustup stops after 2.
set -euo pipefail

# The highest rust-version among the locked crates (proptest 1.12 asks for 1.88).
RUST_MIN=1.88

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi

# version_ok VERSION: whether VERSION (1.NN[.P]) is at least RUST_MIN.
version_ok() {
    [ "$(printf '%s\n%s\n' "$RUST_MIN" "$1" | sort -V | head -n 1)" = "$RUST_MIN" ]
}

# The version of a cargo that works, or nothing.
cargo_version() {
    local cargo
    for cargo in "$(command -v cargo || true)" "$HOME/.cargo/bin/cargo"; do
        if [ -z "$cargo" ] || [ ! -x "$cargo" ]; then continue; fi
        "$cargo" --version 2>/dev/null | awk '{ print $2 }' && return
    done
}

have=$(cargo_version)
if [ -n "$have" ] && version_ok "${have%%-*}"; then
    echo "rust: cargo $have (at least $RUST_MIN)"
    exit 0
fi
echo "rust: ${have:+cargo $have is older than $RUST_MIN}${have:-no cargo}; installing the stable toolchain"

from_rustup() {
    if command -v rustup >/dev/null 2>&1 || [ -x "$HOME/.cargo/bin/rustup" ]; then
        PATH="$PATH:$HOME/.cargo/bin" rustup toolchain install stable --profile minimal \
            --component clippy,rustfmt && PATH="$PATH:$HOME/.cargo/bin" rustup default stable
        return
    fi
    curl --proto '=https' --tlsv1.2 -sSf --connect-timeout 10 --max-time 120 https://sh.rustup.rs |
        sh -s -- -y --profile minimal --component clippy,rustfmt --default-toolchain stable
}

from_debian() {
    local candidate
    $sudo apt-get update -qq
    candidate=$(apt-cache policy cargo-web | awk '/Candidate:/ { print $2 }')
    case "$candidate" in
        '' | '(none)')
            echo "rust: Debian has no cargo-web here (bookworm-security in the apt sources?)" >&2
            return 1 ;;
    esac
    if ! version_ok "${candidate%%+*}"; then
        echo "rust: Debian's cargo-web is $candidate, older than $RUST_MIN" >&2
        return 1
    fi
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
        rustc-web cargo-web
}

case "${FERROVOX_RUST:-}" in
    debian) from_debian ;;
    rustup) from_rustup ;;
    '') from_rustup || { echo "rust: rustup failed; trying Debian's rustc-web" >&2; from_debian; } ;;
    *) echo "FERROVOX_RUST is rustup, debian or unset" >&2; exit 2 ;;
esac
have=$(cargo_version)
if [ -z "$have" ] || ! version_ok "${have%%-*}"; then
    echo "rust: still no cargo of at least $RUST_MIN" >&2
    exit 1
fi
echo "rust: cargo $have"
