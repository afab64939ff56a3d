#!/usr/bin/env bash
# Builds the Debian package of Ferrovox with cargo-deb (`deploy/install-deps.sh --test` installs
# it) and prints the path of the .deb:
#
#   deploy/build-deb.sh                  target/debian/ferrovox_VERSION-1_ARCH.deb
#   deploy/build-deb.sh --fast           the same, with lighter compression (tests)
#
# The packaged /etc/ferrovox/ferrovox.toml is config/ferrovox.toml with a header for its
# installed place, and ferrovoxctl's shell completions (bash, zsh, fish) are what the built
# ferrovoxctl prints: both are made here into target/deb-assets/, which the asset list in
# crates/ferrovox/Cargo.toml names. `cargo deb -p ferrovox` builds the daemon only, so
# ferrovoxctl is built here first. Further arguments go to `cargo deb`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if ! cargo deb --version >/dev/null 2>&1; then
    echo "cargo-deb is missing: run deploy/install-deps.sh --test" >&2
    exit 1
fi

assets=target/deb-assets
mkdir -p "$assets"
# Everything from the first section comment on is kept as is; the lines before it (how to run
# the file from a checkout) are replaced.
awk '
    BEGIN {
        print "# Ferrovox configuration, installed by the ferrovox package (a conffile: an upgrade"
        print "# keeps your edits and puts its own version beside them as ferrovox.toml.dpkg-dist)."
        print "#"
        print "# As shipped it runs on loopback (127.0.0.1) with the kernel-socket data plane. After an edit:"
        print "#"
        print "#   ferrovox check-config /etc/ferrovox/ferrovox.toml   # validate"
        print "#   systemctl reload ferrovox                          # apply what applies live (SIGHUP)"
        print "#"
        print "# /usr/share/doc/ferrovox/RUNBOOK.md: members, logs, upgrades without dropping calls;"
        print "# /usr/share/doc/ferrovox/examples/: every key of every section."
        print "#"
    }
    /^# Every section below/ { body = 1 }
    body { print }
    END { if (!body) exit 3 }
' config/ferrovox.toml >"$assets/ferrovox.toml.new" || {
    echo "config/ferrovox.toml: its header changed (no '# Every section below' line): update $0" >&2
    exit 1
}
mv "$assets/ferrovox.toml.new" "$assets/ferrovox.toml"

# ferrovoxctl, a package of its own in the workspace, in the profile cargo deb packages from.
cargo build --release -p ferrovoxctl >&2
mkdir -p "$assets/completions"
for shell in bash zsh fish; do
    "${CARGO_TARGET_DIR:-target}/release/ferrovoxctl" completions "$shell" \
        >"$assets/completions/ferrovoxctl.$shell.new"
    [ -s "$assets/completions/ferrovoxctl.$shell.new" ] || {
        echo "ferrovoxctl completions $shell printed nothing" >&2
        exit 1
    }
    mv "$assets/completions/ferrovoxctl.$shell.new" "$assets/completions/ferrovoxctl.$shell"
done

fast=()
if [ "${1:-}" = --fast ]; then fast=(--fast); shift; fi
# cargo deb prints the path of the package it wrote on its last line.
cargo deb -p ferrovox "${fast[@]}" "$@" | tail -n 1
