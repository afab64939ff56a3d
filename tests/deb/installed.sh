#!/usr/bin/env bash
# tests/run-deb.sh, after `apt-get install`: what the package put on the machine.
set -euo pipefail
fail() {
    echo "run-deb: FAILED: $*" >&2
    exit 1
}

for f in /usr/bin/ferrovox /usr/sbin/ferrovox-host-kit /usr/lib/systemd/system/ferrovox.service \
    /usr/share/ferrovox/systemd/dpdk.conf /usr/share/ferrovox/systemd/af-xdp.conf \
    /usr/share/doc/ferrovox/RUNBOOK.md /usr/share/doc/ferrovox/examples/sip-pool.toml; do
    [ -e "$f" ] || fail "$f not installed"
done
if [ -d crates/ferrovoxctl ]; then
    [ -x /usr/bin/ferrovoxctl ] || fail "/usr/bin/ferrovoxctl not installed"
    /usr/bin/ferrovoxctl --version
fi
/usr/bin/ferrovox --version

dpkg-query -W -f='${Conffiles}\n' ferrovox | grep -q '^ /etc/ferrovox/ferrovox.toml ' ||
    fail "/etc/ferrovox/ferrovox.toml is not a conffile"
[ "$(stat -c '%U:%G %a' /etc/ferrovox/ferrovox.toml)" = "root:ferrovox 640" ] ||
    fail "/etc/ferrovox/ferrovox.toml is $(stat -c '%U:%G %a' /etc/ferrovox/ferrovox.toml), want root:ferrovox 640"
head -n 1 /etc/ferrovox/ferrovox.toml | grep -q 'installed by the ferrovox package' ||
    fail "the packaged config lacks its installed-place header"
# The packaged config is what deploy/build-deb.sh derived: config/ferrovox.toml from its first
# section comment on.
cmp /etc/ferrovox/ferrovox.toml target/deb-assets/ferrovox.toml ||
    fail "the installed config is not the one deploy/build-deb.sh derived"
grep -q '^\[\[interface\]\]' /etc/ferrovox/ferrovox.toml || fail "the packaged config lost its body"

IFS=: read -r _ _ uid gid _ home shell < <(getent passwd ferrovox) || fail "no ferrovox user"
[ "$uid" -lt 1000 ] || fail "ferrovox is not a system user (uid $uid)"
[ "$(getent group ferrovox | cut -d: -f3)" = "$gid" ] || fail "ferrovox's group is not ferrovox"
if [ "$home" != /nonexistent ] || [ "$shell" != /usr/sbin/nologin ]; then
    fail "ferrovox has home $home and shell $shell"
fi
echo "user ferrovox: uid $uid gid $gid, home $home, shell $shell"

# The config as the daemon's user reads it.
setpriv --reuid=ferrovox --regid=ferrovox --init-groups -- \
    /usr/bin/ferrovox check-config /etc/ferrovox/ferrovox.toml
# Enabled for multi-user.target (deb-systemd-helper makes the link without a running systemd).
[ -L /etc/systemd/system/multi-user.target.wants/ferrovox.service ] ||
    fail "the unit is not enabled"
echo "installed: binaries, conffile root:ferrovox 640, unit enabled, drop-ins, host kit, docs"
