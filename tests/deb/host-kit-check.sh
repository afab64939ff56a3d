#!/usr/bin/env bash
# tests/run-deb.sh: `deploy/host-kit.sh check` against a made-up /sys and /proc under DIR.
# A host with everything gives exit 0; each part taken away gives exit 1 and names it; the tree
# is byte for byte the same after every run (check changes nothing).
set -euo pipefail
root=$1
kit=deploy/host-kit.sh
fail() {
    echo "run-deb: FAILED: host kit: $*" >&2
    exit 1
}

sys=$root/tree/sys proc=$root/tree/proc away=$root/away
mkdir -p "$away"
mkdir -p "$sys/kernel/mm/hugepages/hugepages-2048kB" "$sys/module/vfio_pci" \
    "$sys/kernel/iommu_groups/0/devices" "$sys/bus/pci/drivers/vfio-pci" "$sys/bus/pci/drivers/ixgbe" \
    "$sys/bus/pci/devices/0000:3b:00.0" "$sys/bus/pci/devices/0000:3b:00.1" \
    "$sys/devices/system/cpu/cpu0/cpufreq" "$sys/devices/system/cpu/cpu1/cpufreq" "$proc"
echo 1024 >"$sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"
echo 1000 >"$sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages"
echo "hugetlbfs /dev/hugepages hugetlbfs rw,relatime,pagesize=2M 0 0" >"$proc/mounts"
echo 0x020000 >"$sys/bus/pci/devices/0000:3b:00.0/class"
echo 0x020000 >"$sys/bus/pci/devices/0000:3b:00.1/class"
ln -s ../../drivers/vfio-pci "$sys/bus/pci/devices/0000:3b:00.0/driver"
ln -s ../../drivers/ixgbe "$sys/bus/pci/devices/0000:3b:00.1/driver"
echo 2-3 >"$sys/devices/system/cpu/isolated"
echo performance >"$sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"
echo performance >"$sys/devices/system/cpu/cpu1/cpufreq/scaling_governor"
printf '[dataplane]\nworker_cores = [2, 3]\n' >"$root/ferrovox.toml"

tree_sum() { (cd "$root/tree" && find . -printf '%p %l %s\n' -type f -exec sha256sum {} + | sort); }
before=$(tree_sum)

# check_case WANT_STATUS WANT_LINE ARGS...: runs check, compares the status and looks for a line.
check_case() {
    local want=$1 line=$2 out status=0
    shift 2
    out=$(HOST_KIT_SYS="$sys" HOST_KIT_PROC="$proc" "$kit" check --config "$root/ferrovox.toml" "$@") ||
        status=$?
    [ "$status" = "$want" ] || { echo "$out"; fail "exit $status, want $want ($line)"; }
    grep -qF -- "$line" <<<"$out" || { echo "$out"; fail "no line '$line'"; }
    [ "$(tree_sum)" = "$before" ] || fail "check changed the tree"
}

check_case 0 "nothing missing"
check_case 0 "ok       NIC 0000:3b:00.0 bound to vfio-pci" 0000:3b:00.0
check_case 1 "MISSING  NIC 0000:3b:00.1 bound to ixgbe, not vfio-pci" 0000:3b:00.1
check_case 1 "MISSING  NIC 0000:99:00.0: no such PCI device" 0000:99:00.0

# break PATH: moves PATH away, runs one case, puts it back.
break_case() {
    local path=$1
    shift
    mv "$path" "$away/moved"
    before=$(tree_sum)
    check_case 1 "$@"
    mv "$away/moved" "$path"
    before=$(tree_sum)
}
echo 0 >"$sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"
before=$(tree_sum)
check_case 1 "MISSING  hugepages: none reserved"
echo 1024 >"$sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"
before=$(tree_sum)
break_case "$sys/module/vfio_pci" "MISSING  vfio-pci module not loaded"
break_case "$sys/kernel/iommu_groups/0" "MISSING  IOMMU off"
break_case "$sys/bus/pci/devices/0000:3b:00.0/driver" "MISSING  no NIC bound to vfio-pci"
echo 3 >"$sys/devices/system/cpu/isolated"
before=$(tree_sum)
check_case 1 "MISSING  worker core 2 (from $root/ferrovox.toml) not in isolcpus=3"
echo "" >"$sys/devices/system/cpu/isolated"
before=$(tree_sum)
check_case 1 "MISSING  no isolated CPUs"
echo 2-3 >"$sys/devices/system/cpu/isolated"
echo powersave >"$sys/devices/system/cpu/cpu1/cpufreq/scaling_governor"
before=$(tree_sum)
check_case 1 "MISSING  CPU governor: performance powersave"
echo "host kit check: all present gives 0; hugepages, vfio-pci, IOMMU, NIC binding, isolcpus, governor each give 1; nothing written"

# On this machine: it reports, exits 0 or 1, and writes nothing to /sys.
status=0
"$kit" check >/dev/null || status=$?
[ "$status" -le 1 ] || fail "check on this host exited $status"
