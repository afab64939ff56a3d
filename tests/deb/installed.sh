#!/usr/bin/env bash
# tests/run-deb.sh, after `apt-get install`: what the package put on the machine.
set -euo pipefail
fail() {
    echo "run-deb: FAILED: $*" >&2
    exit 1
}

for f in /usr/bin/ferrovox /usr/sbin/ferrovox-host-kit /usr/lib/systemd/system/ferrovox.service \
    /usr/share/ferrovox/systemd/dpdk.conf /usr/share/ferrovox/systemd/af-xdp.conf \
    /usr/share/ferrovox/systemd/ha.conf /usr/share/ferrovox/ha/keepalived.conf \
    /usr/share/ferrovox/ha/ferrovox-ha-notify /usr/share/ferrovox/ha/90-ferrovox-ha.conf \
    /usr/share/doc/ferrovox/RUNBOOK.md /usr/share/doc/ferrovox/examples/sip-pool.toml; do
    [ -e "$f" ] || fail "$f not installed"
done
[ -x /usr/bin/ferrovoxctl ] || fail "/usr/bin/ferrovoxctl not installed"
# The HA kit: keepalived reads the example as is, the notify script is executable and sound.
command -v keepalived >/dev/null || fail "keepalived not installed (deploy/install-deps.sh --test)"
keepalived --config-test -f /usr/share/ferrovox/ha/keepalived.conf ||
    fail "keepalived refuses /usr/share/ferrovox/ha/keepalived.conf"
[ -x /usr/share/ferrovox/ha/ferrovox-ha-notify ] || fail "ferrovox-ha-notify not executable"
sh -n /usr/share/ferrovox/ha/ferrovox-ha-notify || fail "ferrovox-ha-notify: sh syntax"
/usr/share/ferrovox/ha/ferrovox-ha-notify bogus 2>/dev/null && fail "ferrovox-ha-notify took 'bogus'"
echo "HA kit: keepalived.conf accepted, notify script sound"
/usr/bin/ferrovoxctl --version
/usr/bin/ferrovox --version

# ferrovoxctl's completions where each shell looks: bash's completes the subcommands.
bash_comp=/usr/share/bash-completion/completions/ferrovoxctl
zsh_comp=/usr/share/zsh/vendor-completions/_ferrovoxctl
fish_comp=/usr/share/fish/vendor_completions.d/ferrovoxctl.fish
for f in "$bash_comp" "$zsh_comp" "$fish_comp"; do
    [ -s "$f" ] || fail "$f not installed"
done
# The function the script registers for ferrovoxctl, called as bash calls it on
# `ferrovoxctl mem<TAB>`.
# shellcheck disable=SC2016 # expanded by the inner bash
words=$(bash -c '. "$1" || exit 1
    fn=$(complete -p ferrovoxctl | sed -n "s/.* -F \([^ ]*\) .*/\1/p")
    [ -n "$fn" ] || exit 1
    COMP_WORDS=(ferrovoxctl mem) COMP_CWORD=1 COMP_LINE="ferrovoxctl mem" COMP_POINT=15
    "$fn" ferrovoxctl mem ferrovoxctl && echo "${COMPREPLY[*]}"' _ "$bash_comp") ||
    fail "$bash_comp: no completion function registered for ferrovoxctl"
[[ " $words " == *" members "* ]] || fail "$bash_comp completes 'ferrovoxctl mem' to '$words', not members"
head -n 1 "$zsh_comp" | grep -q '^#compdef ferrovoxctl' || fail "$zsh_comp is no zsh completion"
grep -q '^complete -c ferrovoxctl' "$fish_comp" || fail "$fish_comp is no fish completion"
if command -v zsh >/dev/null; then zsh -n "$zsh_comp" || fail "$zsh_comp: zsh syntax"; fi
if command -v fish >/dev/null; then fish -n "$fish_comp" || fail "$fish_comp: fish syntax"; fi
echo "completions: bash (ferrovoxctl mem -> $words), zsh, fish"

# The Grafana dashboard, as in the tree (tests/tests/metrics.rs checks its queries).
cmp /usr/share/ferrovox/grafana/ferrovox.json deploy/grafana/ferrovox.json ||
    fail "the installed dashboard is not deploy/grafana/ferrovox.json"
python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); assert d["uid"] == "ferrovox" and d["panels"]' \
    /usr/share/ferrovox/grafana/ferrovox.json || fail "the installed dashboard is not a dashboard"

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
echo "installed: binaries, conffile root:ferrovox 640, unit enabled, drop-ins, host kit, docs, completions, dashboard"
