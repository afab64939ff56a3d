#!/usr/bin/env bash
# Ferrovox host kit: prepares a bare-metal host for the DPDK data plane (on vfio-pci NICs, or on
# AF_XDP over NICs that keep their kernel driver), and tells what is missing.
# Installed by the package as /usr/sbin/ferrovox-host-kit.
#
#   ferrovox-host-kit check [--config FILE] [PCI...]
#       Reports hugepages, the vfio-pci module, the IOMMU, NICs bound to vfio-pci (each PCI
#       address given, else at least one), isolated worker cores and the CPU frequency governor.
#       Exit 0 when nothing is missing, 1 otherwise. Changes nothing on the host.
#       FILE (default /etc/ferrovox/ferrovox.toml, when readable) names the worker cores.
#   ferrovox-host-kit hugepages N [2M|1G]
#       Reserves N hugepages of that size (default 2M) now, and prints how to keep them at boot.
#   ferrovox-host-kit bind PCI...
#       Loads vfio-pci and binds the NICs at those PCI addresses to it with dpdk-devbind.py
#       (Debian package `dpdk`); the kernel loses those interfaces.
#   ferrovox-host-kit irq-affinity [--config FILE]
#       Prints where each NIC interrupt may run and the commands that keep them off the worker
#       cores. Changes nothing.
#   ferrovox-host-kit af-xdp IFACE ADDR PORT_MIN WORKERS [START_QUEUE]
#       For an AF_XDP port (`af_xdp = { iface = IFACE, start_queue = START_QUEUE }`) carrying
#       relay address ADDR (an [[interface]] with port_min PORT_MIN) and WORKERS workers (a
#       power of two): prints the ethtool commands that give IFACE a queue per worker and
#       send each relay port to its owner's queue. Changes nothing.
#
# HOST_KIT_SYS and HOST_KIT_PROC (default /sys and /proc) let the tests point `check` at a
# made-up tree.
set -euo pipefail

SYS="${HOST_KIT_SYS:-/sys}"
PROC="${HOST_KIT_PROC:-/proc}"
DEFAULT_CONFIG=/etc/ferrovox/ferrovox.toml
missing=0

usage() {
    sed -n '5,23p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

ok() { printf '  ok       %s\n' "$*"; }
miss() { printf '  MISSING  %s\n' "$*"; missing=$((missing + 1)); }
note() { printf '  note     %s\n' "$*"; }

# The worker cores of a config file: the numbers of its `worker_cores = [...]` line.
worker_cores() {
    local file=$1
    [ -r "$file" ] || return 0
    sed -n 's/^[[:space:]]*worker_cores[[:space:]]*=[[:space:]]*\[\(.*\)\].*/\1/p' "$file" |
        head -n 1 | tr -c '0-9\n' ' ' | xargs -n 1 2>/dev/null || true
}

# Expands a kernel CPU list ("1-3,8") into one id per line.
expand_cpus() {
    local part lo hi
    local IFS=,
    for part in $1; do
        case "$part" in
            *-*) lo=${part%-*}; hi=${part#*-}; seq "$lo" "$hi" ;;
            '') ;;
            *) echo "$part" ;;
        esac
    done
}

check_hugepages() {
    local total=0 dir n size
    for dir in "$SYS"/kernel/mm/hugepages/hugepages-*; do
        [ -r "$dir/nr_hugepages" ] || continue
        n=$(cat "$dir/nr_hugepages")
        size=${dir##*hugepages-}
        if [ "$n" -gt 0 ]; then
            ok "hugepages: $n of $size reserved ($(cat "$dir/free_hugepages") free)"
        fi
        total=$((total + n))
    done
    if [ "$total" -eq 0 ]; then
        miss "hugepages: none reserved (ferrovox-host-kit hugepages 1024)"
    fi
    if grep -qs ' hugetlbfs ' "$PROC/mounts"; then
        ok "hugetlbfs mounted ($(awk '$3 == "hugetlbfs" { print $2 }' "$PROC/mounts" | xargs))"
    else
        note "no hugetlbfs mount: fine with EAL --in-memory, else see the dpdk.conf drop-in"
    fi
}

check_vfio() {
    if [ -d "$SYS/module/vfio_pci" ]; then
        ok "vfio-pci module loaded"
    else
        miss "vfio-pci module not loaded (modprobe vfio-pci; keep it: echo vfio-pci > /etc/modules-load.d/vfio-pci.conf)"
    fi
    if [ -n "$(ls -A "$SYS/kernel/iommu_groups" 2>/dev/null)" ]; then
        ok "IOMMU on ($(find "$SYS/kernel/iommu_groups" -mindepth 1 -maxdepth 1 | wc -l) groups)"
    else
        miss "IOMMU off: enable VT-d/AMD-Vi in the firmware and boot with intel_iommu=on iommu=pt (Intel) or amd_iommu=on (AMD)"
    fi
    if [ "$(cat "$SYS/module/vfio/parameters/enable_unsafe_noiommu_mode" 2>/dev/null)" = Y ]; then
        note "vfio no-IOMMU mode is on: DMA is not confined (test hosts only)"
    fi
}

# The driver a PCI device is bound to, or "none".
pci_driver() {
    local link="$SYS/bus/pci/devices/$1/driver"
    if [ -e "$link" ]; then basename "$(readlink "$link")"; else echo none; fi
}

check_nics() {
    local dev addr bound=0 class
    if [ $# -gt 0 ]; then
        for addr in "$@"; do
            if [ ! -e "$SYS/bus/pci/devices/$addr" ]; then
                miss "NIC $addr: no such PCI device"
            elif [ "$(pci_driver "$addr")" = vfio-pci ]; then
                ok "NIC $addr bound to vfio-pci"
            else
                miss "NIC $addr bound to $(pci_driver "$addr"), not vfio-pci (ferrovox-host-kit bind $addr)"
            fi
        done
        return
    fi
    for dev in "$SYS"/bus/pci/devices/*; do
        [ -r "$dev/class" ] || continue
        class=$(cat "$dev/class")
        # PCI class 0x02: network controllers.
        case "$class" in 0x02*) ;; *) continue ;; esac
        addr=$(basename "$dev")
        if [ "$(pci_driver "$addr")" = vfio-pci ]; then
            ok "NIC $addr bound to vfio-pci"
            bound=$((bound + 1))
        else
            note "NIC $addr on driver $(pci_driver "$addr")"
        fi
    done
    if [ "$bound" -eq 0 ]; then
        miss "no NIC bound to vfio-pci (ferrovox-host-kit bind PCI; AF_XDP hosts keep the kernel driver)"
    fi
}

check_cpus() {
    local config=$1 isolated cores core governors
    isolated=$(cat "$SYS/devices/system/cpu/isolated" 2>/dev/null || true)
    cores=$(worker_cores "$config")
    if [ -z "$isolated" ]; then
        miss "no isolated CPUs: boot with isolcpus=managed_irq,domain,W nohz_full=W rcu_nocbs=W (W: the worker cores)"
    elif [ -n "$cores" ]; then
        for core in $cores; do
            if expand_cpus "$isolated" | grep -qx "$core"; then
                ok "worker core $core isolated"
            else
                miss "worker core $core (from $config) not in isolcpus=$isolated"
            fi
        done
    else
        ok "isolated CPUs: $isolated"
    fi
    governors=$(cat "$SYS"/devices/system/cpu/cpu[0-9]*/cpufreq/scaling_governor 2>/dev/null |
        sort -u | xargs || true)
    if [ -z "$governors" ]; then
        ok "no CPU frequency scaling (fixed frequency or a virtual machine)"
    elif [ "$governors" = performance ]; then
        ok "CPU governor: performance"
    else
        miss "CPU governor: $governors (want performance: cpupower frequency-set -g performance)"
    fi
}

cmd_check() {
    local config=$DEFAULT_CONFIG
    local nics=()
    while [ $# -gt 0 ]; do
        case "$1" in
            --config) [ $# -ge 2 ] || usage; config=$2; shift 2 ;;
            -*) usage ;;
            *) nics+=("$1"); shift ;;
        esac
    done
    echo "hugepages:"
    check_hugepages
    echo "vfio and IOMMU:"
    check_vfio
    echo "NICs:"
    check_nics "${nics[@]}"
    echo "CPUs:"
    check_cpus "$config"
    if [ "$missing" -gt 0 ]; then
        echo "$missing missing"
        return 1
    fi
    echo "nothing missing"
}

need_root() {
    if [ "$(id -u)" -ne 0 ]; then
        echo "$1 changes the host: run it as root" >&2
        exit 1
    fi
}

cmd_hugepages() {
    if [ $# -lt 1 ] || [ $# -gt 2 ]; then usage; fi
    local n=$1 size=${2:-2M} kb file got
    case "$n" in '' | *[!0-9]*) usage ;; esac
    case "$size" in
        2M) kb=2048 ;;
        1G) kb=1048576 ;;
        *) usage ;;
    esac
    need_root hugepages
    file="$SYS/kernel/mm/hugepages/hugepages-${kb}kB/nr_hugepages"
    if [ ! -w "$file" ]; then
        echo "this kernel has no $size hugepages ($file)" >&2
        exit 1
    fi
    echo "$n" >"$file"
    got=$(cat "$file")
    echo "$got of $n $size hugepages reserved"
    if [ "$size" = 2M ]; then
        echo "at boot: echo 'vm.nr_hugepages = $n' > /etc/sysctl.d/60-ferrovox-hugepages.conf"
    else
        echo "at boot: add 'default_hugepagesz=1G hugepagesz=1G hugepages=$n' to the kernel command line"
    fi
    if [ "$got" -lt "$n" ]; then
        echo "the kernel found memory for $got only (fragmentation): reserve at boot instead" >&2
        exit 1
    fi
}

cmd_bind() {
    [ $# -ge 1 ] || usage
    need_root bind
    if ! command -v dpdk-devbind.py >/dev/null 2>&1; then
        echo "dpdk-devbind.py is missing: apt-get install dpdk" >&2
        exit 1
    fi
    modprobe vfio-pci
    # dpdk-devbind refuses an interface that carries a route (one in use) unless --force.
    dpdk-devbind.py --bind=vfio-pci "$@"
    dpdk-devbind.py --status-dev net
}

cmd_irq_affinity() {
    local config=$DEFAULT_CONFIG cores housekeeping all irq name
    case "${1:-}" in
        --config) [ $# -ge 2 ] || usage; config=$2 ;;
        '') ;;
        *) usage ;;
    esac
    cores=$(worker_cores "$config" | xargs)
    all=$(expand_cpus "$(cat "$SYS/devices/system/cpu/online")")
    housekeeping=$(echo "$all" | grep -vxF -f <(tr ' ' '\n' <<<"$cores") | paste -sd, - || true)
    echo "worker cores (from $config): ${cores:-none found}"
    echo "housekeeping cores: ${housekeeping:-none}"
    echo "NIC interrupts (their smp_affinity_list now):"
    # /proc/interrupts lines: "IRQ: counts... chip ... name"; NIC queues are named after the
    # interface (eth0-TxRx-0, ens1f0-rx-1) or the driver (mlx5_comp0, i40e-...).
    while read -r irq name; do
        printf '  irq %-5s %-28s now on %s\n' "$irq" "$name" \
            "$(cat "$PROC/irq/$irq/smp_affinity_list" 2>/dev/null || echo '?')"
    done < <(awk -F: 'NR > 1 && $1 ~ /^ *[0-9]+$/ {
                 n = split($2, f, " "); name = f[n]
                 if (name ~ /^(eth|en|mlx|i40e|ice|ixgbe|igb|bnxt|nfp|virtio)/) print $1 + 0, name
             }' "$PROC/interrupts")
    echo "to keep them off the worker cores (as root; irqbalance would move them back unless"
    echo "IRQBALANCE_BANNED_CPULIST=${cores// /,} is set in /etc/default/irqbalance):"
    echo "  for irq in IRQS; do echo ${housekeeping:-HOUSEKEEPING} > /proc/irq/\$irq/smp_affinity_list; done"
    echo "isolcpus=managed_irq,... on the kernel command line does this for managed interrupts."
    echo "NICs bound to vfio-pci raise no interrupts on the host: DPDK workers poll them."
}

# The owner of relay port p (ranges start at the even PORT_MIN) is ((p - min) / 2) mod W; with
# W = 2^k that is a mask on bits 1..k of the port, so one ntuple rule per worker does it.
# ethtool's `m` names the bits to ignore (`ethtool -u` shows what the NIC holds), and the
# daemon's start log says whether the rules it finds place every relay port (AF_XDP port).
cmd_af_xdp() {
    if [ $# -lt 4 ] || [ $# -gt 5 ]; then usage; fi
    local iface=$1 addr=$2 min=$3 workers=$4 start=${5:-0} w value ignore
    case "$min$workers$start" in '' | *[!0-9]*) usage ;; esac
    if [ $((min % 2)) -ne 0 ] || [ "$workers" -lt 1 ] || [ $((workers & (workers - 1))) -ne 0 ]; then
        echo "PORT_MIN must be even and WORKERS a power of two" >&2
        exit 2
    fi
    echo "# $iface: one combined channel per worker from queue $start (AF_XDP needs them)"
    echo "ethtool -L $iface combined $((start + workers))"
    if [ "$start" -gt 0 ]; then
        echo "# the XDP program takes every frame of those queues: RSS keeps the host's own on 0..$((start - 1))"
        echo "ethtool -X $iface equal $start"
    fi
    if [ "$workers" -eq 1 ]; then
        echo "# one worker: every relay port is its; no steering rule needed"
        return 0
    fi
    echo "# NIC flow steering: relay port p of $addr to queue $start + ((p - $min) / 2) mod $workers"
    echo "ethtool -K $iface ntuple on"
    ignore=$(( 0xffff ^ ((workers - 1) << 1) ))
    for ((w = 0; w < workers; w++)); do
        value=$(( ((w + (min >> 1)) & (workers - 1)) << 1 ))
        printf 'ethtool -N %s flow-type udp4 dst-ip %s dst-port %d m 0x%04x action %d\n' \
            "$iface" "$addr" "$value" "$ignore" $((start + w))
    done
    echo "# a NIC that takes no partial port mask (many Intel ones) refuses these: the daemon then"
    echo "# runs on RSS with the hand-off ring (its start log says which)"
}

main() {
    [ $# -ge 1 ] || usage
    local cmd=$1
    shift
    case "$cmd" in
        check) cmd_check "$@" ;;
        hugepages) cmd_hugepages "$@" ;;
        bind) cmd_bind "$@" ;;
        irq-affinity) cmd_irq_affinity "$@" ;;
        af-xdp) cmd_af_xdp "$@" ;;
        -h | --help | help) usage ;;
        *) usage ;;
    esac
}

main "$@"
