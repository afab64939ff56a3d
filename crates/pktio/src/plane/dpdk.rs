//! The DPDK data plane (`[dataplane] backend = "dpdk"`, cargo feature `dpdk`): the EAL from
//! `[dataplane.dpdk]`, one mbuf pool per NUMA socket, the ports with one queue pair per worker,
//! steering, and one busy-polling `dataplane::Worker` per EAL worker lcore over
//! [`DpdkIo`].
//!
//! Lcores: lcore 0 is the main lcore, pinned to `control_core` (the thread that runs the
//! control plane); lcore `w + 1` runs worker `w` on `worker_cores[w]`. Frames that land on
//! another worker's queue are handed to their owner over its inbox ring (counted); what one
//! worker learns about neighbours (ARP, ND) reaches the others over rings too.

use super::{Plan, PlaneError, PortSteering, Wiring};
use crate::dpdk::steer::owner_rules;
use crate::dpdk::xdp;
use crate::dpdk::{
    handoff_rings, steer_port, DpdkError, DpdkIo, DpdkIoConfig, DpdkLink, Eal, EalConfig, EthPort,
    Handoff, LcoreJoin, Mempool, OwnerFn, PortSetup, SteerMode, Steered,
};
use crate::l2::{NeighConfig, NeighMesh, NeighPeer};
use crate::socket::Waker;
use crate::RelayAddr;
use config::dpdk::{DpdkConfig, Steering};
use config::Config;
use std::net::IpAddr;
use std::sync::Arc;

/// Slots of each worker's hand-off inbox.
const HANDOFF_SLOTS: u32 = 4096;
/// Neighbour notes in flight between two workers.
const NOTES: usize = 1024;
/// Per-lcore mbuf cache of the pools.
const POOL_CACHE: u32 = 256;

/// The running DPDK workers and what they run on. Fields drop in order: the lcores are
/// joined first, then the flow rules go, then the ports close (when the last user lets go).
#[derive(Debug)]
pub(super) struct DpdkWorkers {
    joins: Vec<(usize, LcoreJoin)>,
    steering: Vec<Steered>,
    ports: Vec<Arc<EthPort>>,
    eal: Eal,
}

impl DpdkWorkers {
    /// Each port's steering.
    pub(super) fn steering(&self) -> Vec<PortSteering> {
        self.steering
            .iter()
            .map(|s| match s {
                Steered::Single => PortSteering::Single,
                Steered::Flow(f) => PortSteering::Flow { rules: f.len() },
                Steered::Fallback { reta, reason } => PortSteering::Fallback {
                    reta: *reta,
                    reason: reason.clone(),
                },
            })
            .collect()
    }

    /// A counter handle on each port.
    pub(super) fn nic_ports(&self) -> Vec<super::NicPort> {
        self.ports
            .iter()
            .map(|p| super::NicPort::new(p.clone()))
            .collect()
    }

    /// Waits for every worker lcore to return (after the stop flag was set); returns the
    /// workers that panicked.
    pub(super) fn join(&mut self) -> Vec<usize> {
        std::mem::take(&mut self.joins)
            .into_iter()
            .filter_map(|(w, j)| {
                let lcore = j.lcore();
                let ok = j.join();
                if !ok {
                    tracing::error!(worker = w, lcore, "DPDK worker ended with a panic");
                }
                (!ok).then_some(w)
            })
            .collect()
    }
}

/// A DPDK call's error, with the step it was.
fn dpdk(what: impl Into<String>) -> impl FnOnce(DpdkError) -> PlaneError {
    let what = what.into();
    move |error| PlaneError::Dpdk { what, error }
}

/// Starts the EAL, the ports and one worker per worker core. Any failure is an error naming
/// what failed: nothing falls back to sockets.
pub(super) fn start(plan: &Plan, wiring: &mut Wiring) -> Result<DpdkWorkers, PlaneError> {
    let cfg = plan.cfg;
    let d = cfg
        .dataplane
        .dpdk
        .as_ref()
        .ok_or(PlaneError::NoDpdkSection)?;
    let addr_port = address_ports(cfg, d)?;
    let workers = cfg.dataplane.worker_cores.len();
    let queues = u16::try_from(workers).map_err(|_| PlaneError::TooManyQueues(workers))?;
    let eal = start_eal(cfg, d)?;
    let lcores = eal.worker_lcores();
    if lcores.len() != workers {
        return Err(PlaneError::LcoreCount {
            workers,
            lcores: lcores.len(),
        });
    }
    let setup = PortSetup {
        queues,
        rx_desc: d.rx_desc,
        tx_desc: d.tx_desc,
        pools: queue_pools(&eal, d, &lcores)?,
        promiscuous: false,
        mtu: None,
        rx_checksum_offload: true,
    };
    let ports = start_ports(&eal, plan, d, &addr_port, &setup)?;
    let io = IoPlan {
        links: dpdk_links(d, &ports),
        addrs: relay_addrs(cfg, &addr_port, &ports.ports),
        addr_link: addr_port,
        handoff: handoffs(&eal, plan, workers)?,
        mesh: NeighMesh::build(workers, NOTES),
    };
    let mut plane = DpdkWorkers {
        joins: Vec::with_capacity(workers),
        steering: ports.steering,
        ports: ports.ports,
        eal,
    };
    launch(&mut plane, plan, d, wiring, &lcores, io)?;
    tracing::info!(
        fastpath_active = true,
        steering_degraded = plane.steering.iter().any(Steered::degraded),
        workers,
        ports = plane.ports.len(),
        "DPDK fast path active"
    );
    Ok(plane)
}

/// Starts the EAL as `[dataplane.dpdk]` says, with the lcore map of the worker cores.
fn start_eal(cfg: &Config, d: &DpdkConfig) -> Result<Eal, PlaneError> {
    let mut extra = vec!["--lcores".to_owned(), lcore_map(&cfg.dataplane)];
    extra.extend(d.eal_args.iter().cloned());
    let eal_cfg = EalConfig {
        program: "ferrovox".into(),
        main_lcore: Some(0),
        allow: d.allow.clone(),
        vdevs: d.eal_vdevs(),
        no_pci: d.allow.is_empty() && !d.eal_vdevs().is_empty(),
        no_huge: d.no_huge,
        memory_mb: d.memory_mb,
        file_prefix: Some(d.file_prefix.clone()),
        extra,
        ..EalConfig::default()
    };
    let eal = Eal::start(&eal_cfg).map_err(dpdk("dataplane.dpdk: cannot start the DPDK EAL"))?;
    tracing::info!(args = eal.args(), "DPDK EAL started");
    Ok(eal)
}

/// The CPU list of the host (`/sys/devices/system/cpu/online`, e.g. `0-7`), for an unpinned
/// main lcore.
fn online_cpus() -> String {
    std::fs::read_to_string("/sys/devices/system/cpu/online")
        .map(|s| s.trim().to_owned())
        .ok()
        .filter(|s| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_digit() || c == '-' || c == ',')
        })
        .unwrap_or_else(|| "0".to_owned())
}

/// The `--lcores` map: lcore 0 on the control core (or any CPU), lcore w+1 on worker w's core.
fn lcore_map(cfg: &config::DataplaneConfig) -> String {
    let main = cfg
        .control_core
        .map_or_else(|| format!("0@({})", online_cpus()), |c| format!("0@{c}"));
    let workers = cfg
        .worker_cores
        .iter()
        .enumerate()
        .map(|(w, c)| format!("{}@{c}", w + 1));
    std::iter::once(main)
        .chain(workers)
        .collect::<Vec<_>>()
        .join(",")
}

/// For every `[[interface]]` (relay address index), the index of the DPDK port it lives on.
fn address_ports(cfg: &Config, d: &DpdkConfig) -> Result<Vec<usize>, PlaneError> {
    for (port, p) in d.ports.iter().enumerate() {
        for (entry, name) in p.interfaces.iter().enumerate() {
            if cfg.interfaces_named(name).next().is_none() {
                return Err(PlaneError::UnknownInterface {
                    port,
                    entry,
                    name: name.clone(),
                });
            }
        }
    }
    let place = |(index, iface): (usize, &config::Interface)| {
        let on: Vec<usize> = d
            .ports
            .iter()
            .enumerate()
            .filter(|(_, p)| p.interfaces.contains(&iface.name))
            .map(|(i, _)| i)
            .collect();
        match on.as_slice() {
            [one] => Ok(*one),
            [] => Err(PlaneError::UnplacedInterface {
                index,
                name: iface.name.clone(),
                address: iface.address,
            }),
            _ => Err(PlaneError::InterfaceOnSeveralPorts {
                index,
                name: iface.name.clone(),
                ports: on,
            }),
        }
    };
    cfg.interfaces.iter().enumerate().map(place).collect()
}

/// One pool per NUMA socket of the worker lcores; for each worker (queue), its socket's pool.
fn queue_pools(eal: &Eal, d: &DpdkConfig, lcores: &[u32]) -> Result<Vec<Arc<Mempool>>, PlaneError> {
    let mut pools: Vec<(u32, Arc<Mempool>)> = Vec::new();
    let mut queue_pool = Vec::with_capacity(lcores.len());
    for &l in lcores {
        let socket = eal.lcore_socket(l);
        if let Some((_, p)) = pools.iter().find(|(s, _)| *s == socket) {
            queue_pool.push(p.clone());
            continue;
        }
        let pool = Mempool::new(
            eal,
            &format!("fv_pool_s{socket}"),
            d.mbufs,
            POOL_CACHE,
            crate::dpdk::pool::DEFAULT_DATA_ROOM,
            i32::try_from(socket).unwrap_or(-1),
        )
        .map_err(dpdk(format!(
            "dataplane.dpdk.mbufs: pool for NUMA socket {socket}"
        )))?;
        let pool = Arc::new(pool);
        pools.push((socket, pool.clone()));
        queue_pool.push(pool);
    }
    Ok(queue_pool)
}

/// The started ports, in `[[dataplane.dpdk.port]]` order, with their steering and exception
/// interfaces.
struct Ports {
    ports: Vec<Arc<EthPort>>,
    steering: Vec<Steered>,
    exceptions: Vec<Option<Arc<EthPort>>>,
}

/// Starts every `[[dataplane.dpdk.port]]`, steers it, and starts its exception interface.
fn start_ports(
    eal: &Eal,
    plan: &Plan,
    d: &DpdkConfig,
    addr_port: &[usize],
    setup: &PortSetup,
) -> Result<Ports, PlaneError> {
    let mut out = Ports {
        ports: Vec::with_capacity(d.ports.len()),
        steering: Vec::with_capacity(d.ports.len()),
        exceptions: Vec::with_capacity(d.ports.len()),
    };
    for (i, p) in d.ports.iter().enumerate() {
        let what = match &p.af_xdp {
            Some(x) => format!(
                "dataplane.dpdk.port[{i}].af_xdp: net_af_xdp did not open {} (its reason is in \
                 the EAL's log above; the interface needs `ethtool -l` combined channels for \
                 queues {}..{}, the driver package librte-net-af-xdp23, and CAP_NET_ADMIN, \
                 CAP_BPF, CAP_NET_RAW)",
                x.iface,
                x.start_queue,
                x.start_queue + u32::from(x.queues)
            ),
            None => format!("dataplane.dpdk.port[{i}].device"),
        };
        let id = EthPort::lookup(eal, &p.device).map_err(dpdk(what))?;
        let setup = PortSetup {
            promiscuous: p.promiscuous,
            ..setup.clone()
        };
        let xsk_before = p.af_xdp.as_ref().map(|_| xdp::xsk_fds());
        let port = EthPort::start(eal, id, &setup)
            .map_err(dpdk(format!("dataplane.dpdk.port[{i}] ({})", p.device)))?;
        let port = Arc::new(port);
        log_port(i, &port);
        if let (Some(x), Some(before)) = (&p.af_xdp, xsk_before) {
            log_af_xdp(i, x, &before, plan, addr_port);
        }
        out.steering.push(steer(plan, d, addr_port, i, &port)?);
        out.exceptions.push(match &p.exception {
            Some(name) => Some(exception_port(eal, i, name, &setup)?),
            None => None,
        });
        out.ports.push(port);
    }
    Ok(out)
}

/// Logs a started port: device, driver, MAC, queues, offloads, link.
fn log_port(i: usize, port: &EthPort) {
    let o = port.offloads();
    let m = port.mac();
    tracing::info!(
        port = i,
        device = port.name(),
        driver = port.driver(),
        mac = %format!("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", m[0], m[1], m[2], m[3], m[4], m[5]),
        queues = port.queues(),
        rss = o.rss,
        rx_ipv4_checksum = o.rx_ipv4_checksum,
        rx_udp_checksum = o.rx_udp_checksum,
        link_up = port.link().up,
        "DPDK port started"
    );
}

/// Logs what the kernel made of AF_XDP port `i`: its XDP sockets (those opened since
/// `before`) in zero-copy or copy mode, the XDP attach mode, and whether the interface's
/// ntuple rules put each IPv4 relay port of the port's addresses on its owner's queue.
fn log_af_xdp(
    i: usize,
    x: &config::dpdk::AfXdp,
    before: &std::collections::BTreeSet<i32>,
    plan: &Plan,
    addr_port: &[usize],
) {
    let socks: Vec<bool> = xdp::xsk_fds()
        .difference(before)
        .filter_map(|&fd| xdp::xsk_zero_copy(fd))
        .collect();
    let zc = socks.iter().filter(|z| **z).count();
    let mode = match (zc, socks.len()) {
        (_, 0) => "unknown (no XDP socket found)",
        (z, n) if z == n => "zero-copy",
        (0, _) => "copy",
        _ => "mixed",
    };
    let attach = xdp::xdp_attach(&x.iface).map_or_else(|e| e.to_string(), |a| a.as_str().into());
    let ports = plan
        .cfg
        .interfaces
        .iter()
        .enumerate()
        .filter(|(a, _)| addr_port.get(*a) == Some(&i))
        .filter_map(|(a, iface)| match iface.address {
            IpAddr::V4(v4) => Some((a, v4)),
            IpAddr::V6(_) => None,
        })
        .flat_map(|(a, v4)| {
            let r = plan.layout.ranges().get(a).map(|r| r.port_min..=r.port_max);
            r.into_iter().flatten().map(move |p| (a, v4, p))
        })
        .filter_map(|(a, v4, p)| {
            let key = crate::PortKey {
                addr: u16::try_from(a).ok()?,
                port: p,
            };
            Some((v4, p, plan.layout.owner(key)?))
        });
    let placement = match xdp::placement(&x.iface, x.start_queue, x.queues, ports) {
        xdp::QueuePlacement::Single { no_ntuple: None } => {
            "one queue: no steering needed".to_owned()
        }
        xdp::QueuePlacement::Single { no_ntuple: Some(why) } => format!(
            "one queue: no steering needed; neither would place relay ports here: no ntuple \
             flow steering ({why}), and RSS hashes flows without regard to owners"
        ),
        xdp::QueuePlacement::Ntuple { total: 0, .. } => {
            "no IPv4 relay address on the port: ntuple placement not checked".to_owned()
        }
        xdp::QueuePlacement::Ntuple { placed, total, first_misplaced: None } => format!(
            "NIC flow steering (ntuple rules) puts all {placed} of {total} relay ports on their owner's queue"
        ),
        xdp::QueuePlacement::Ntuple { placed, total, first_misplaced: Some((a, p)) } => format!(
            "NIC flow steering places {placed} of {total} relay ports (not {a}:{p}); the rest \
             arrive by RSS and are handed to their owner"
        ),
        xdp::QueuePlacement::Rss { reason } => format!(
            "neither flow steering nor RSS places relay ports ({reason}): RSS hashes flows \
             over the queues and the hand-off ring brings each frame to its owner"
        ),
    };
    tracing::info!(
        port = i,
        iface = %x.iface,
        start_queue = x.start_queue,
        queues = x.queues,
        xsk_mode = mode,
        xdp_attach = %attach,
        steering = %placement,
        "AF_XDP port"
    );
}

/// Sets up steering on port `i` (started with one queue per worker) as `steering` says: flow
/// rules sending each relay port of the port's addresses to its owner's queue, or RSS with the
/// hand-off ring (logged as degraded).
fn steer(
    plan: &Plan,
    d: &DpdkConfig,
    addr_port: &[usize],
    i: usize,
    port: &Arc<EthPort>,
) -> Result<Steered, PlaneError> {
    let workers = port.queues();
    let mut rules = Some(Vec::new());
    for (a, iface) in plan.cfg.interfaces.iter().enumerate() {
        if addr_port.get(a) != Some(&i) {
            continue;
        }
        let min = plan.layout.ranges().get(a).map_or(0, |r| r.port_min);
        match (owner_rules(iface.address, min, workers), rules.as_mut()) {
            (Some(r), Some(all)) => all.extend(r),
            _ => rules = None,
        }
    }
    let mode = match d.steering {
        Steering::Flow => SteerMode::Flow,
        Steering::Auto => SteerMode::Auto,
        Steering::Rss => SteerMode::Rss,
    };
    let s = steer_port(port, rules.as_deref(), mode).map_err(dpdk(format!(
        "dataplane.dpdk.port[{i}] ({}): steering",
        port.name()
    )))?;
    match &s {
        Steered::Single => {}
        Steered::Flow(f) => tracing::info!(
            port = i,
            rules = f.len(),
            "steering: rte_flow rules send each relay port to its owner's queue"
        ),
        Steered::Fallback { reta, reason } => tracing::warn!(
            port = i,
            steering = d.steering.as_str(),
            reta,
            reason = %reason,
            "steering degraded: RSS spreads frames and those on a wrong queue go to their owner over the hand-off ring"
        ),
    }
    Ok(s)
}

/// Starts the exception interface `name` of port `i` (a `net_tap` / `virtio_user` vdev) with
/// the port's queues and pools.
fn exception_port(
    eal: &Eal,
    i: usize,
    name: &str,
    setup: &PortSetup,
) -> Result<Arc<EthPort>, PlaneError> {
    let id = EthPort::lookup(eal, name).map_err(dpdk(format!(
        "dataplane.dpdk.port[{i}].exception: add the vdev to dataplane.dpdk.vdevs"
    )))?;
    let setup = PortSetup {
        promiscuous: false,
        ..setup.clone()
    };
    let port = EthPort::start(eal, id, &setup)
        .map_err(dpdk(format!("dataplane.dpdk.port[{i}].exception ({name})")))?;
    tracing::info!(
        port = i,
        exception = name,
        driver = port.driver(),
        "DPDK exception path: frames for the host go to this interface"
    );
    Ok(Arc::new(port))
}

/// The relay addresses with the MAC of the port each lives on.
fn relay_addrs(cfg: &Config, addr_port: &[usize], ports: &[Arc<EthPort>]) -> Vec<RelayAddr> {
    cfg.interfaces
        .iter()
        .zip(addr_port)
        .map(|(iface, &p)| RelayAddr {
            ip: iface.address,
            mac: ports.get(p).map_or([0; 6], |port| port.mac()),
        })
        .collect()
}

fn v4(ip: Option<IpAddr>) -> Option<[u8; 4]> {
    match ip {
        Some(IpAddr::V4(a)) => Some(a.octets()),
        _ => None,
    }
}

fn v6(ip: Option<IpAddr>) -> Option<[u8; 16]> {
    match ip {
        Some(IpAddr::V6(a)) => Some(a.octets()),
        _ => None,
    }
}

/// Each port's layer 2/3 settings, as every worker's backend sees them.
fn dpdk_links(d: &DpdkConfig, ports: &Ports) -> Vec<DpdkLink> {
    d.ports
        .iter()
        .zip(&ports.ports)
        .zip(&ports.exceptions)
        .map(|((p, port), exception)| DpdkLink {
            port: port.clone(),
            exception: exception.clone(),
            next_hop_mac: p.next_hop_mac,
            gateway_v4: v4(p.gateway),
            gateway_v6: v6(p.gateway_v6),
            prefix_v4: p.prefix_len,
            prefix_v6: p.prefix_len_v6,
            vlan: p.vlan,
        })
        .collect()
}

/// Each worker's hand-off ends (several workers), or one `None` (one worker).
fn handoffs(eal: &Eal, plan: &Plan, workers: usize) -> Result<Vec<Option<Handoff>>, PlaneError> {
    if workers <= 1 {
        return Ok(vec![None]);
    }
    let (inboxes, outboxes) =
        handoff_rings(eal, "fv", workers, HANDOFF_SLOTS).map_err(dpdk("DPDK hand-off rings"))?;
    let layout = plan.layout.clone();
    let owner: OwnerFn = Arc::new(move |k| layout.owner(k));
    Ok(inboxes
        .into_iter()
        .enumerate()
        .map(|(me, inbox)| {
            Some(Handoff {
                me,
                inbox,
                outboxes: outboxes.clone(),
                owner: owner.clone(),
            })
        })
        .collect())
}

/// What the workers' backends are built from.
struct IoPlan {
    links: Vec<DpdkLink>,
    addrs: Vec<RelayAddr>,
    addr_link: Vec<usize>,
    handoff: Vec<Option<Handoff>>,
    mesh: Vec<NeighPeer>,
}

/// Builds each worker's backend and launches the worker on its lcore.
fn launch(
    plane: &mut DpdkWorkers,
    plan: &Plan,
    d: &DpdkConfig,
    wiring: &mut Wiring,
    lcores: &[u32],
    io: IoPlan,
) -> Result<(), PlaneError> {
    let cfg = &plan.cfg.dataplane;
    let several = lcores.len() > 1;
    let mut handoff = io.handoff.into_iter();
    let mut mesh = io.mesh.into_iter();
    for (w, &lcore) in lcores.iter().enumerate() {
        let backend = DpdkIo::new(DpdkIoConfig {
            links: io.links.clone(),
            queue: u16::try_from(w).unwrap_or(u16::MAX),
            addrs: io.addrs.clone(),
            addr_link: io.addr_link.clone(),
            burst: cfg.burst,
            verify_udp_checksum: d.verify_udp_checksum,
            neigh: NeighConfig::default(),
            neigh_peer: if several { mesh.next() } else { None },
            announce: w == 0,
            handoff: handoff.next().flatten(),
        })
        .map_err(|error| PlaneError::WorkerIo { worker: w, error })?;
        let mut worker = wiring.add(Waker::noop()).worker(plan.params(w), backend);
        let stop = plan.stop.clone();
        let core = cfg.worker_cores.get(w).copied().unwrap_or(0);
        let join = plane
            .eal
            .launch(lcore, move || {
                tracing::info!(
                    worker = w,
                    lcore,
                    core,
                    "DPDK worker started (busy-polling)"
                );
                worker.run(&stop);
                log_stopped(w, worker.io());
            })
            .map_err(dpdk(format!(
                "cannot start DPDK worker {w} on lcore {lcore}"
            )))?;
        plane.joins.push((w, join));
    }
    Ok(())
}

/// Logs what worker `w`'s backend did besides relaying (layer 2/3 answers, neighbour
/// resolution, wrong-queue hand-offs) and its receive drops by reason, once it has stopped.
fn log_stopped(w: usize, io: &DpdkIo) {
    let l2 = io.l2_stats();
    let drops = io
        .drops()
        .nonzero()
        .map(|(r, n)| format!("{}:{n}", r.as_str()))
        .collect::<Vec<_>>()
        .join(",");
    tracing::info!(
        worker = w,
        arp_replies = l2.arp_replies,
        nd_replies = l2.nd_replies,
        echo_replies = l2.echo_replies,
        neighbour_packets = l2.neighbour_packets,
        requests_sent = l2.requests_sent,
        announcements = l2.announcements,
        learned = l2.learned,
        unresolved = l2.unresolved,
        no_route = l2.no_route,
        no_mbuf = l2.no_mbuf,
        handed_off = l2.handed_off,
        handoff_received = l2.handoff_received,
        handoff_dropped = l2.handoff_dropped,
        to_host = l2.to_host,
        from_host = l2.from_host,
        host_dropped = l2.host_dropped,
        notes_lost = l2.notes_lost,
        rx_drops = %drops,
        "DPDK worker stopped"
    );
}
