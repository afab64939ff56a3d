//! The DPDK data plane (`[dataplane] backend = "dpdk"`, cargo feature `dpdk`): the EAL from
//! `[dataplane.dpdk]`, one mbuf pool per NUMA socket, the ports with one queue pair per worker,
//! and one busy-polling `dataplane::Worker` per EAL worker lcore over `pktio::dpdk::DpdkIo`.
//!
//! Lcores: lcore 0 is the main lcore, pinned to `control_core` (the thread that runs the
//! control plane); lcore `w + 1` runs worker `w` on `worker_cores[w]`. Frames that land on
//! another worker's queue are handed to their owner over its inbox ring (counted); what one
//! worker learns about neighbours (ARP, ND) reaches the others over rings too.

use anyhow::{bail, Context};
use config::dpdk::Steering;
use control::ng_driver::WorkerLink;
use dataplane::{PortLayout, SharedCounters, Worker, WorkerParams};
use pktio::dpdk::steer::owner_rules;
use pktio::dpdk::{
    handoff_rings, steer_port, DpdkIo, DpdkIoConfig, DpdkLink, Eal, EalConfig, EthPort, Handoff,
    LcoreJoin, Mempool, OwnerFn, PortSetup, SteerMode, Steered,
};
use pktio::l2::{NeighConfig, NeighMesh};
use pktio::RelayAddr;
use std::net::IpAddr;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// Command and event ring sizes per worker.
const RING: usize = 8192;
/// Slots of each worker's hand-off inbox.
const HANDOFF_SLOTS: u32 = 4096;
/// Neighbour notes in flight between two workers.
const NOTES: usize = 1024;
/// Per-lcore mbuf cache of the pools.
const POOL_CACHE: u32 = 256;

/// The running DPDK data plane.
pub struct DpdkPlane {
    /// The control plane's ends of the workers' rings (no wakers: the workers busy-poll).
    pub links: Vec<WorkerLink>,
    /// The workers' published counters.
    pub shared: Vec<Arc<SharedCounters>>,
    joins: Vec<LcoreJoin>,
    /// The ports' steering (flow rules are removed when this goes).
    _steering: Vec<Steered>,
    /// Kept until the workers are joined (the ports close when the last user lets go).
    _ports: Vec<Arc<EthPort>>,
    _eal: Eal,
}

impl DpdkPlane {
    /// True when some port runs the steering fallback (RSS + hand-off ring) instead of flow
    /// rules: the fast path works, with one more ring pass for frames on a wrong queue.
    pub fn steering_degraded(&self) -> bool {
        self._steering.iter().any(Steered::degraded)
    }

    /// Waits for every worker lcore to return (after `stop` was set).
    pub fn join(self) {
        for j in self.joins {
            let lcore = j.lcore();
            if !j.join() {
                tracing::error!(lcore, "DPDK worker ended with a panic");
            }
        }
    }
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
fn address_ports(cfg: &config::Config, d: &config::dpdk::DpdkConfig) -> anyhow::Result<Vec<usize>> {
    for (i, p) in d.ports.iter().enumerate() {
        for (j, name) in p.interfaces.iter().enumerate() {
            if cfg.interfaces_named(name).next().is_none() {
                bail!(
                    "dataplane.dpdk.port[{i}].interfaces[{j}]: no [[interface]] is named {name:?}"
                );
            }
        }
    }
    cfg.interfaces
        .iter()
        .enumerate()
        .map(|(a, iface)| {
            let on: Vec<usize> = d
                .ports
                .iter()
                .enumerate()
                .filter(|(_, p)| p.interfaces.contains(&iface.name))
                .map(|(i, _)| i)
                .collect();
            match on.as_slice() {
                [one] => Ok(*one),
                [] => bail!(
                    "interface[{a}] ({} {}): on no [[dataplane.dpdk.port]]; list {:?} in one port's interfaces",
                    iface.name,
                    iface.address,
                    iface.name
                ),
                _ => bail!(
                    "interface[{a}] ({}): listed on several [[dataplane.dpdk.port]] entries {on:?}",
                    iface.name
                ),
            }
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

/// Sets up steering on port `i` (started with one queue per worker) as `steering` says: flow
/// rules sending each relay port of the port's addresses to its owner's queue, or RSS with the
/// hand-off ring (logged as degraded).
fn steer(
    layout: &PortLayout,
    cfg: &config::Config,
    d: &config::dpdk::DpdkConfig,
    addr_port: &[usize],
    i: usize,
    port: &Arc<EthPort>,
    workers: usize,
) -> anyhow::Result<Steered> {
    let w = u16::try_from(workers).context("too many workers for DPDK queues")?;
    let mut rules = Some(Vec::new());
    for (a, iface) in cfg.interfaces.iter().enumerate() {
        if addr_port.get(a) != Some(&i) {
            continue;
        }
        let min = layout.ranges().get(a).map_or(0, |r| r.port_min);
        match (owner_rules(iface.address, min, w), rules.as_mut()) {
            (Some(r), Some(all)) => all.extend(r),
            _ => rules = None,
        }
    }
    let mode = match d.steering {
        Steering::Flow => SteerMode::Flow,
        Steering::Auto => SteerMode::Auto,
        Steering::Rss => SteerMode::Rss,
    };
    let s = steer_port(port, rules.as_deref(), mode)
        .with_context(|| format!("dataplane.dpdk.port[{i}] ({}): steering", port.name()))?;
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
) -> anyhow::Result<Arc<EthPort>> {
    let id = EthPort::lookup(eal, name).with_context(|| {
        format!("dataplane.dpdk.port[{i}].exception: add the vdev to dataplane.dpdk.vdevs")
    })?;
    let port = EthPort::start(
        eal,
        id,
        &PortSetup {
            promiscuous: false,
            ..setup.clone()
        },
    )
    .with_context(|| format!("dataplane.dpdk.port[{i}].exception ({name})"))?;
    tracing::info!(
        port = i,
        exception = name,
        driver = port.driver(),
        "DPDK exception path: frames for the host go to this interface"
    );
    Ok(Arc::new(port))
}

/// Starts the EAL, the ports and one worker per worker core; `params(w)` gives worker `w`'s
/// settings. Any failure is an error naming what failed: nothing falls back to sockets.
pub fn start(
    cfg: &config::Config,
    layout: Arc<PortLayout>,
    params: impl Fn(usize) -> WorkerParams,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<DpdkPlane> {
    let Some(d) = cfg.dataplane.dpdk.as_ref() else {
        bail!(
            "dataplane.backend = \"dpdk\" needs a [dataplane.dpdk] section \
             (EAL options and at least one [[dataplane.dpdk.port]])"
        );
    };
    let addr_port = address_ports(cfg, d)?;
    let workers = cfg.dataplane.worker_cores.len();
    let mut extra = vec!["--lcores".to_owned(), lcore_map(&cfg.dataplane)];
    extra.extend(d.eal_args.iter().cloned());
    let eal_cfg = EalConfig {
        program: "ferrovox".into(),
        main_lcore: Some(0),
        allow: d.allow.clone(),
        vdevs: d.vdevs.clone(),
        no_pci: d.allow.is_empty() && !d.vdevs.is_empty(),
        no_huge: d.no_huge,
        memory_mb: d.memory_mb,
        file_prefix: Some(d.file_prefix.clone()),
        extra,
        ..EalConfig::default()
    };
    let eal = Eal::start(&eal_cfg).context("dataplane.dpdk: cannot start the DPDK EAL")?;
    tracing::info!(args = eal.args(), "DPDK EAL started");
    let lcores = eal.worker_lcores();
    if lcores.len() != workers {
        bail!(
            "dataplane.worker_cores: {workers} workers but the EAL has {} worker lcores",
            lcores.len()
        );
    }
    // One pool per NUMA socket of the workers; each queue fills from its worker's.
    let mut pools: Vec<(u32, Arc<Mempool>)> = Vec::new();
    let mut queue_pool = Vec::with_capacity(workers);
    for &l in &lcores {
        let socket = eal.lcore_socket(l);
        let pool = match pools.iter().find(|(s, _)| *s == socket) {
            Some((_, p)) => p.clone(),
            None => {
                let p = Arc::new(
                    Mempool::new(
                        &eal,
                        &format!("fv_pool_s{socket}"),
                        d.mbufs,
                        POOL_CACHE,
                        pktio::dpdk::pool::DEFAULT_DATA_ROOM,
                        i32::try_from(socket).unwrap_or(-1),
                    )
                    .with_context(|| {
                        format!("dataplane.dpdk.mbufs: pool for NUMA socket {socket}")
                    })?,
                );
                pools.push((socket, p.clone()));
                p
            }
        };
        queue_pool.push(pool);
    }
    let queues = u16::try_from(workers).context("too many workers for DPDK queues")?;
    let mut ports = Vec::with_capacity(d.ports.len());
    let mut steering = Vec::with_capacity(d.ports.len());
    let mut exceptions: Vec<Option<Arc<EthPort>>> = Vec::with_capacity(d.ports.len());
    for (i, p) in d.ports.iter().enumerate() {
        let id = EthPort::lookup(&eal, &p.device)
            .with_context(|| format!("dataplane.dpdk.port[{i}].device"))?;
        let setup = PortSetup {
            queues,
            rx_desc: d.rx_desc,
            tx_desc: d.tx_desc,
            pools: queue_pool.clone(),
            promiscuous: p.promiscuous,
            mtu: None,
            rx_checksum_offload: true,
        };
        let port = Arc::new(
            EthPort::start(&eal, id, &setup)
                .with_context(|| format!("dataplane.dpdk.port[{i}] ({})", p.device))?,
        );
        let o = port.offloads();
        let mac = port.mac();
        tracing::info!(
            port = i,
            device = port.name(),
            driver = port.driver(),
            mac = %format!("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]),
            queues,
            rss = o.rss,
            rx_ipv4_checksum = o.rx_ipv4_checksum,
            rx_udp_checksum = o.rx_udp_checksum,
            link_up = port.link().up,
            "DPDK port started"
        );
        steering.push(steer(&layout, cfg, d, &addr_port, i, &port, workers)?);
        exceptions.push(match &p.exception {
            Some(name) => Some(exception_port(&eal, i, name, &setup)?),
            None => None,
        });
        ports.push(port);
    }
    let addrs: Vec<RelayAddr> = cfg
        .interfaces
        .iter()
        .zip(&addr_port)
        .map(|(iface, &p)| RelayAddr {
            ip: iface.address,
            mac: ports.get(p).map_or([0; 6], |port| port.mac()),
        })
        .collect();
    let links: Vec<DpdkLink> = d
        .ports
        .iter()
        .zip(&ports)
        .zip(&exceptions)
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
        .collect();
    let mut handoff = if workers > 1 {
        let (inboxes, outboxes) =
            handoff_rings(&eal, "fv", workers, HANDOFF_SLOTS).context("DPDK hand-off rings")?;
        let l = layout.clone();
        let owner: OwnerFn = Arc::new(move |k| l.owner(k));
        inboxes
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
            .collect()
    } else {
        vec![None]
    };
    let mut mesh = NeighMesh::build(workers, NOTES).into_iter();
    let mut plane = DpdkPlane {
        links: Vec::with_capacity(workers),
        shared: Vec::with_capacity(workers),
        joins: Vec::with_capacity(workers),
        _steering: steering,
        _ports: ports,
        _eal: eal,
    };
    for (w, &lcore) in lcores.iter().enumerate() {
        let io = DpdkIo::new(DpdkIoConfig {
            links: links.clone(),
            queue: u16::try_from(w).unwrap_or(u16::MAX),
            addrs: addrs.clone(),
            addr_link: addr_port.clone(),
            burst: cfg.dataplane.burst,
            verify_udp_checksum: d.verify_udp_checksum,
            neigh: NeighConfig::default(),
            neigh_peer: if workers > 1 { mesh.next() } else { None },
            announce: w == 0,
            handoff: handoff.get_mut(w).and_then(Option::take),
        })
        .with_context(|| format!("DPDK backend of worker {w}"))?;
        let (cmd_tx, cmd_rx) = rtrb::RingBuffer::new(RING);
        let (ev_tx, ev_rx) = rtrb::RingBuffer::new(RING);
        plane.links.push(WorkerLink {
            commands: cmd_tx,
            events: ev_rx,
            waker: pktio::socket::Waker::noop(),
        });
        let counters = Arc::new(SharedCounters::default());
        plane.shared.push(counters.clone());
        let mut worker = Worker::new(params(w), io, cmd_rx, ev_tx, counters);
        let stop = stop.clone();
        let core = cfg.dataplane.worker_cores.get(w).copied().unwrap_or(0);
        let join = plane
            ._eal
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
            .with_context(|| format!("cannot start DPDK worker {w} on lcore {lcore}"))?;
        plane.joins.push(join);
    }
    tracing::info!(
        fastpath_active = true,
        steering_degraded = plane.steering_degraded(),
        workers,
        ports = plane._ports.len(),
        "DPDK fast path active"
    );
    Ok(plane)
}
