//! The media side of a scrape: the engine's counters and port pools (read under its lock,
//! copies only: no session is visited, so the cost does not grow with the sessions held) and
//! the workers' published counters (plain loads of their atomics: the workers never see a
//! scrape), as metric families.

use std::net::IpAddr;
use std::sync::Arc;

use dataplane::{DropReason, PortLayout, SharedCounters, WorkerCounters};
use media::EngineCounters;
use metrics::{num, Exposition};
use pktio::plane::{NicPort, NicStats};

use crate::SharedEngine;

/// A counter family read from a value: its name, its HELP text, and how to read it.
pub(crate) type Counter<T> = (&'static str, &'static str, Read<T>);

/// How a value is read from a snapshot.
pub(crate) type Read<T> = fn(&T) -> u64;

/// The relay ports of one `[[interface]]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortPool {
    /// The interface's name.
    pub name: String,
    /// Its relay address.
    pub address: IpAddr,
    /// Relay port pairs it has, all workers together.
    pub pairs: usize,
}

/// What a scrape reads on the media side.
#[derive(Debug, Clone)]
pub struct MediaView {
    engine: SharedEngine,
    workers: Vec<Arc<SharedCounters>>,
    pools: Vec<PortPool>,
    /// The relay addresses (layout indices) of each pool: one per `[[interface]]` entry, more
    /// where a reload grew its range.
    relays: Vec<Vec<u16>>,
    nics: Vec<NicPort>,
}

/// The media side at one instant.
#[derive(Debug, Clone, Default)]
pub struct MediaSnapshot {
    /// The engine's counters.
    pub engine: EngineCounters,
    /// Sessions (calls) held.
    pub sessions: usize,
    /// Port pairs free, per pool (in [`MediaView`]'s pool order).
    pub free: Vec<usize>,
    /// Port pairs in use, per pool (when empty: the pool's pairs less the free ones).
    pub used: Vec<usize>,
    /// Each worker's last published counters.
    pub workers: Vec<WorkerCounters>,
    /// Flow commands waiting for each worker (`media::Engine::queue_depths`).
    pub queued: Vec<u64>,
    /// Each DPDK port's name and driver statistics (none with the socket backend).
    pub nics: Vec<(String, NicStats)>,
}

impl MediaView {
    /// The view of `engine`, `workers` (worker `w` at index `w`) and the DPDK ports `nics`;
    /// `interfaces` are the relay addresses (name, address) in the order of `layout`'s; those
    /// with the same name and address (a range a reload grew) make one pool.
    pub fn new(
        engine: SharedEngine,
        workers: Vec<Arc<SharedCounters>>,
        nics: Vec<NicPort>,
        interfaces: &[(String, IpAddr)],
        layout: &PortLayout,
    ) -> MediaView {
        let mut pools: Vec<PortPool> = Vec::new();
        let mut relays: Vec<Vec<u16>> = Vec::new();
        for (a, (name, address)) in interfaces.iter().enumerate() {
            let a = u16::try_from(a).unwrap_or(u16::MAX);
            let pairs: usize = (0..layout.workers())
                .map(|w| layout.owned_rtp_ports(w, a).count())
                .sum();
            match pools
                .iter()
                .position(|p| &p.name == name && p.address == *address)
            {
                Some(p) => {
                    pools[p].pairs += pairs;
                    relays[p].push(a);
                }
                None => {
                    pools.push(PortPool {
                        name: name.clone(),
                        address: *address,
                        pairs,
                    });
                    relays.push(vec![a]);
                }
            }
        }
        MediaView {
            engine,
            workers,
            pools,
            relays,
            nics,
        }
    }

    /// The port pools.
    pub fn pools(&self) -> &[PortPool] {
        &self.pools
    }

    /// Reads the engine (its lock held for the copies only) and the workers.
    pub fn snapshot(&self) -> MediaSnapshot {
        let (engine, sessions, free, used, queued) = {
            let e = self.engine.lock();
            let sum = |f: &dyn Fn(u16) -> usize| -> Vec<usize> {
                self.relays
                    .iter()
                    .map(|r| r.iter().map(|&a| f(a)).sum())
                    .collect()
            };
            let free = sum(&|a| e.free_pairs(a));
            let used = sum(&|a| e.pairs_used_on(a));
            (
                e.counters().clone(),
                e.calls(),
                free,
                used,
                e.queue_depths(),
            )
        };
        MediaSnapshot {
            engine,
            sessions,
            free,
            used,
            workers: self.workers.iter().map(|w| w.read()).collect(),
            queued,
            nics: self
                .nics
                .iter()
                .map(|n| (n.name().to_owned(), n.stats()))
                .collect(),
        }
    }
}

/// Every media family of `s`, the pools being `pools`.
pub fn media_families(pools: &[PortPool], s: &MediaSnapshot, e: &mut Exposition) {
    e.gauge(
        "ferrovox_media_sessions",
        "Media sessions (calls) held now, anchored and ng.",
    )
    .value(num(s.sessions as u64));
    let mut f = e.gauge(
        "ferrovox_media_port_pairs",
        "Relay port pairs (RTP and RTCP) per interface, used and free (used counts pairs \
         still in delete-delay).",
    );
    for (i, (p, free)) in pools.iter().zip(&s.free).enumerate() {
        let address = p.address.to_string();
        let used = (s.used.get(i).copied()).unwrap_or_else(|| p.pairs.saturating_sub(*free));
        for (state, n) in [("used", used), ("free", *free)] {
            f.sample(
                &[
                    ("interface", &p.name),
                    ("address", &address),
                    ("state", state),
                ],
                num(n as u64),
            );
        }
    }
    engine_families(&s.engine, e);
    worker_families(&s.workers, e);
    let mut f = e.gauge(
        "ferrovox_worker_queued_commands",
        "Flow commands from the control plane the worker has not taken yet.",
    );
    for (w, q) in s.queued.iter().enumerate() {
        f.sample(&[("worker", &w.to_string())], num(*q));
    }
    nic_families(&s.nics, e);
}

/// The engine's control-plane counters.
fn engine_families(c: &EngineCounters, e: &mut Exposition) {
    e.counter(
        "ferrovox_media_sessions_created_total",
        "Media sessions created.",
    )
    .value(num(c.created));
    let mut ended: Vec<(&str, u64)> = vec![("deleted", c.deleted)];
    for r in [
        media::EndReason::NoRtp,
        media::EndReason::OnHold,
        media::EndReason::OfferTimeout,
        media::EndReason::FinalTimeout,
    ] {
        ended.push((r.name(), c.ended.get(r.name()).copied().unwrap_or(0)));
    }
    e.counter_by(
        "ferrovox_media_sessions_ended_total",
        "Media sessions ended, by reason: deleted (BYE, failure, ng delete) or a timeout.",
        "reason",
        &ended,
    );
    let mut commands: Vec<(&str, u64)> = c.requests.iter().map(|(k, v)| (*k, *v)).collect();
    commands.sort_unstable();
    e.counter_by(
        "ferrovox_ng_requests_total",
        "ng requests handled, by command.",
        "command",
        &commands,
    );
    e.counter_by(
        "ferrovox_ng_datagrams_total",
        "ng messages by the source check: passed, source outside allow, over its rate.",
        "verdict",
        &[
            ("allowed", c.guard.allowed),
            ("not_allowed", c.guard.not_allowed),
            ("rate_limited", c.guard.rate_limited),
        ],
    );
    e.counter_by(
        "ferrovox_ng_errors_total",
        "ng requests answered with an error, repeated cookies answered from the cache, and \
         messages that were no ng request at all.",
        "kind",
        &[
            ("error_reply", c.errors),
            ("cookie_hit", c.cookie_hits),
            ("malformed", c.malformed),
        ],
    );
    e.counter_by(
        "ferrovox_media_refused_total",
        "Offers refused for lack of a free port pair, and relay ports skipped because they \
         could not be bound.",
        "reason",
        &[
            ("port_exhausted", c.port_exhausted),
            ("bind_failed", c.bind_failures),
        ],
    );
    e.counter_by(
        "ferrovox_media_anchor_total",
        "SDP of calls the SIP proxy anchors, handled by the engine: offers, answers, refused, \
         and calls with a silent party at the RTP check.",
        "kind",
        &[
            ("offer", c.anchor_offers),
            ("answer", c.anchor_answers),
            ("refused", c.anchor_refused),
            ("silent", c.anchor_silent),
        ],
    );
}

/// Per worker, and summed over the workers.
fn worker_families(workers: &[WorkerCounters], e: &mut Exposition) {
    let mut total = WorkerCounters::default();
    for w in workers {
        total.add(w);
    }
    e.counter(
        "ferrovox_media_packets_relayed_total",
        "Media packets relayed, all workers together.",
    )
    .value(num(total.forwarded));
    let reasons: Vec<(&str, u64)> = DropReason::ALL
        .iter()
        .map(|r| (r.name(), total.drops_of(*r)))
        .collect();
    e.counter_by(
        "ferrovox_media_drops_total",
        "Media packets dropped, all workers together, by reason.",
        "reason",
        &reasons,
    );
    let names: Vec<String> = (0..workers.len()).map(|w| w.to_string()).collect();
    let per: [Counter<WorkerCounters>; 7] = [
        (
            "ferrovox_worker_rx_packets_total",
            "Packets received by the worker.",
            |c| c.rx,
        ),
        (
            "ferrovox_worker_forwarded_packets_total",
            "Packets the worker relayed.",
            |c| c.forwarded,
        ),
        (
            "ferrovox_worker_tx_packets_total",
            "Packets the worker's backend sent.",
            |c| c.tx,
        ),
        (
            "ferrovox_worker_tx_failed_total",
            "Packets the worker's backend failed to send.",
            |c| c.tx_failed,
        ),
        (
            "ferrovox_worker_rx_errors_total",
            "Receive errors on the worker (truncated datagrams, socket errors).",
            |c| c.rx_errors,
        ),
        (
            "ferrovox_worker_commands_total",
            "Flow commands the worker processed.",
            |c| c.commands,
        ),
        (
            "ferrovox_worker_events_lost_total",
            "Worker events lost because the event ring was full.",
            |c| c.events_lost,
        ),
    ];
    for (name, help, value) in per {
        let mut f = e.counter(name, help);
        for (w, c) in names.iter().zip(workers) {
            f.sample(&[("worker", w)], num(value(c)));
        }
    }
    worker_state_families(workers, &names, e);
}

/// Per worker: its busy time, the streams it holds and its drops by reason.
fn worker_state_families(workers: &[WorkerCounters], names: &[String], e: &mut Exposition) {
    let mut f = e.counter(
        "ferrovox_worker_busy_seconds_total",
        "Time the worker spent on polls that brought packets (relaying, sending, commands, \
         housekeeping), from its own clock: a busy-polling (DPDK) worker's thread uses its whole \
         core, this is how much of it was work.",
    );
    for (w, c) in names.iter().zip(workers) {
        f.sample(&[("worker", w)], c.busy_ns as f64 / 1e9);
    }
    let mut f = e.gauge(
        "ferrovox_worker_streams",
        "Streams installed on the worker now.",
    );
    for (w, c) in names.iter().zip(workers) {
        f.sample(&[("worker", w)], num(c.streams));
    }
    let mut f = e.counter(
        "ferrovox_worker_drops_total",
        "Packets the worker dropped, by reason.",
    );
    for (w, c) in names.iter().zip(workers) {
        for r in DropReason::ALL {
            f.sample(&[("worker", w), ("reason", r.name())], num(c.drops_of(r)));
        }
    }
}

/// The DPDK ports' driver statistics.
fn nic_families(nics: &[(String, NicStats)], e: &mut Exposition) {
    let both: [(&str, &str, Read<NicStats>, Read<NicStats>); 2] = [
        (
            "ferrovox_nic_packets_total",
            "Packets the DPDK port received (rx) and sent (tx).",
            |s| s.rx_packets,
            |s| s.tx_packets,
        ),
        (
            "ferrovox_nic_bytes_total",
            "Bytes the DPDK port received (rx) and sent (tx).",
            |s| s.rx_bytes,
            |s| s.tx_bytes,
        ),
    ];
    for (name, help, rx, tx) in both {
        let mut f = e.counter(name, help);
        for (port, s) in nics {
            f.sample(&[("port", port), ("direction", "rx")], num(rx(s)));
            f.sample(&[("port", port), ("direction", "tx")], num(tx(s)));
        }
    }
    let mut f = e.counter(
        "ferrovox_nic_drops_total",
        "Packets the DPDK port lost, by reason: an RX queue full (rx_missed, imissed), no mbuf \
         for a receive (rx_no_mbuf), bad frames received (rx_errors), failed sends (tx_errors).",
    );
    for (port, s) in nics {
        for (r, n) in [
            ("rx_missed", s.rx_missed),
            ("rx_no_mbuf", s.rx_no_mbuf),
            ("rx_errors", s.rx_errors),
            ("tx_errors", s.tx_errors),
        ] {
            f.sample(&[("port", port), ("reason", r)], num(n));
        }
    }
    let mut f = e.counter(
        "ferrovox_nic_queue_packets_total",
        "Packets per DPDK queue (queue q is worker q's), received (rx) and sent (tx).",
    );
    for (port, s) in nics {
        for (dir, list) in [("rx", &s.rx_queue_packets), ("tx", &s.tx_queue_packets)] {
            for (q, n) in list.iter().enumerate() {
                let q = q.to_string();
                f.sample(
                    &[("port", port), ("queue", &q), ("direction", dir)],
                    num(*n),
                );
            }
        }
    }
}
