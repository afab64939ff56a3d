//! [`DpdkIo`]: the [`PacketIo`] of one worker, polling its queue pair on every DPDK port.
//!
//! Per burst: receive mbufs from each port's queue `queue` in turn, check and parse each frame
//! in place with [`wire::frame::parse_udp`] (prefetching a few frames ahead), keep the UDP
//! frames addressed to a relay address of that port and drop the rest by reason (`rx.rs`); the
//! relay then reads [`PacketIo::packet`] and calls [`PacketIo::forward`], which rewrites the
//! frame in place ([`wire::frame::rewrite_udp`], incremental checksums); [`PacketIo::flush`]
//! transmits per egress port and frees everything else in bulk (`tx.rs`). No allocation, lock
//! or system call per packet.
//!
//! Every mbuf the backend holds has one owner: a slot of the burst until it is forwarded,
//! then a transmit queue, or the free list; all of them are [`Mbuf`]s, freed in bulk.

use super::addr_index::AddrIndex;
use super::config::{DpdkIoConfig, DpdkLink};
use super::drops::{L2Stats, RxDrops};
use super::handoff::Handoff;
use super::mbuf::{Mbuf, MbufVec};
use crate::l2::{NeighPeer, NeighTable};
use crate::{IoCounters, IoError, PacketIo, PortHandle, PortKey, RelayAddr, RxPacket, Wake};
use dataplane::io::{Decide, RxView};
use std::time::Duration;
use wire::frame::UdpFrame;
use wire::Endpoint;

/// Where a received frame's data starts, from the mbuf's own address, until a frame shows
/// otherwise: the mbuf header, then the default headroom (buffers of a pool made by
/// `rte_pktmbuf_pool_create` without private area).
const DATA_GUESS: usize =
    std::mem::size_of::<dpdk_sys::rte_mbuf>() + dpdk_sys::RTE_PKTMBUF_HEADROOM as usize;

/// Neighbour entries per worker.
const NEIGH_ENTRIES: usize = 1024;

/// The ports this worker polls (fixed after [`DpdkIo::new`]), by link index.
#[derive(Debug)]
pub(super) struct Ports {
    /// The links as configured (they keep the ports, and so their pools, alive).
    pub(super) links: Vec<DpdkLink>,
    /// Port ids.
    pub(super) ids: Vec<u16>,
    /// Receive-side facts.
    pub(super) rx: Vec<LinkRx>,
    /// The exception interface's port id.
    pub(super) exception: Vec<Option<u16>>,
    /// The worker's queue index on every port.
    pub(super) queue: u16,
}

/// What the receive path needs about a link.
#[derive(Debug, Clone, Copy)]
pub(super) struct LinkRx {
    /// The link's VLAN tag.
    pub(super) vlan: Option<u16>,
    /// The NIC verifies UDP checksums on this port.
    pub(super) nic_l4: bool,
}

/// The relay addresses (fixed after [`DpdkIo::new`]), by address index.
#[derive(Debug)]
pub(super) struct Addrs {
    /// As configured.
    pub(super) relay: Vec<RelayAddr>,
    /// In Endpoint form.
    pub(super) eps: Vec<Endpoint>,
    /// The link each lives on.
    pub(super) link: Vec<usize>,
    /// What `forward` needs about each.
    pub(super) egress: Vec<Egress>,
    /// Address -> (index, link), by direct index.
    lookup: AddrIndex,
}

/// What `forward` needs about a relay address, in one place (one bounds check per packet).
#[derive(Debug, Clone, Copy)]
pub(super) struct Egress {
    /// The link (index in `links`) the address lives on.
    pub(super) link: usize,
    /// Source MAC of frames leaving from it.
    pub(super) mac: [u8; 6],
    /// The address (Endpoint form).
    pub(super) ip: [u8; 16],
    /// The address if it is IPv4 (the rewrite of an IPv4 frame takes it in that form).
    pub(super) ip4: Option<[u8; 4]>,
    /// The link's VLAN tag.
    pub(super) vlan: Option<u16>,
    /// The link's fixed next-hop MAC, if configured (no resolution then).
    pub(super) next_hop_mac: Option<[u8; 6]>,
}

/// The receive side of the current burst.
#[derive(Debug)]
pub(super) struct RxBurst {
    /// Frames per receive call, 1..=512.
    pub(super) size: usize,
    /// The array the driver (or the hand-off inbox) fills: entries `0..n` are owned mbufs
    /// between the receive call and the loop that wraps each in an [`Mbuf`]; stale otherwise.
    pub(super) raw: Vec<*mut dpdk_sys::rte_mbuf>,
    /// The kept frames of this burst.
    pub(super) slots: Vec<Slot>,
    /// Offset of the frame data from the mbuf address in the last frame received: the data
    /// lines of a burst are prefetched at this guess before the headers giving the real
    /// address have arrived (a wrong guess costs a useless prefetch, never a fault).
    pub(super) data_guess: usize,
    /// Verify UDP checksums in software when the NIC has not.
    pub(super) verify_udp: bool,
}

// SAFETY: the raw entries are owned mbufs only between a receive call and the loop that takes
// them (both inside one `&mut` method); slot pointers point into the slot's own mbuf (or one a
// transmit queue of the same backend owns until the burst ends). DPDK lets mbufs be used from
// any thread, one at a time, which the single owner guarantees.
unsafe impl Send for RxBurst {}

/// A received frame kept for the relay: the mbuf and where its headers are (the frame itself
/// is read and rewritten in place, not copied). Invariant, checked on receipt
/// ([`wire::frame::parse_udp`]): the frame at `data` holds its Ethernet header, tag, IP and
/// UDP headers and `payload_len` bytes of payload.
#[derive(Debug)]
pub(super) struct Slot {
    /// The frame until it is forwarded (then a transmit queue owns it until the flush).
    pub(super) mbuf: Option<Mbuf>,
    /// Its first data byte, valid until the flush.
    pub(super) data: *mut u8,
    /// The relay port it arrived on.
    pub(super) key: PortKey,
    /// UDP payload length.
    pub(super) payload_len: u16,
    /// Offset of the IP header: 14, or 18 behind an 802.1Q tag.
    pub(super) l3: u8,
    /// IPv6 (else IPv4 without options).
    pub(super) v6: bool,
    /// The 802.1Q VLAN id, if tagged.
    pub(super) vlan: Option<u16>,
}

/// Where a kept frame's headers are: what the slot keeps of the receive checks (8 bytes, no
/// parse result moved around).
#[derive(Debug, Clone, Copy)]
pub(super) struct Shape {
    /// UDP payload length.
    pub(super) payload_len: u16,
    /// Offset of the IP header: 14, or 18 behind an 802.1Q tag.
    pub(super) l3: u8,
    /// IPv6 (else IPv4 without options).
    pub(super) v6: bool,
    /// The 802.1Q VLAN id, if tagged.
    pub(super) vlan: Option<u16>,
}

impl Shape {
    /// The common shape (untagged Ethernet, IPv4 without options, UDP) with `payload_len`
    /// payload bytes.
    #[inline(always)]
    pub(super) fn v4(payload_len: u16) -> Self {
        Self {
            payload_len,
            l3: wire::frame::ETH_HEADER_LEN as u8,
            v6: false,
            vlan: None,
        }
    }

    /// The shape of a frame the general parse accepted.
    #[inline]
    pub(super) fn of(f: &UdpFrame) -> Self {
        // The IP header sits at 14 or 18 and a UDP payload fits 16 bits (parse checked both).
        Self {
            payload_len: f.payload_len as u16,
            l3: f.l3 as u8,
            v6: f.v6,
            vlan: f.vlan,
        }
    }
}

impl RxView for Slot {
    /// The source address and port, read from the frame's headers.
    #[inline(always)]
    fn src(&self) -> Endpoint {
        Slot::src(self)
    }

    /// The UDP payload.
    #[inline(always)]
    fn payload(&self) -> &[u8] {
        Slot::payload(self)
    }
}

impl Slot {
    /// A kept frame from its checks.
    #[inline(always)]
    pub(super) fn new(mbuf: Mbuf, data: *mut u8, key: PortKey, f: Shape) -> Self {
        Self {
            mbuf: Some(mbuf),
            data,
            key,
            payload_len: f.payload_len,
            l3: f.l3,
            v6: f.v6,
            vlan: f.vlan,
        }
    }

    /// Offset of the UDP header.
    #[inline(always)]
    pub(super) fn l4(&self) -> usize {
        usize::from(self.l3) + if self.v6 { 40 } else { 20 }
    }

    /// The UDP payload.
    #[inline(always)]
    fn payload(&self) -> &[u8] {
        // SAFETY: the frame holds its headers and `payload_len` payload bytes from `l4 + 8`
        // (the invariant of `Slot`), owned by this backend until the flush; the borrow of the
        // slot keeps `forward` (the only writer) from running while the slice lives.
        unsafe {
            std::slice::from_raw_parts(self.data.add(self.l4() + 8), usize::from(self.payload_len))
        }
    }

    /// The source address and port, read from the frame's headers.
    #[inline(always)]
    fn src(&self) -> Endpoint {
        let (l3, l4) = (usize::from(self.l3), self.l4());
        // SAFETY: the IP and UDP headers are in the frame (the invariant of `Slot`): the
        // source address at IP offset 12 (IPv4, 4 bytes) or 8 (IPv6, 16 bytes), the source
        // port at the start of the UDP header; byte arrays need no alignment.
        unsafe {
            let port = u16::from_be_bytes(self.data.add(l4).cast::<[u8; 2]>().read());
            if self.v6 {
                Endpoint::new_v6(self.data.add(l3 + 8).cast::<[u8; 16]>().read(), port)
            } else {
                Endpoint::new_v4(self.data.add(l3 + 12).cast::<[u8; 4]>().read(), port)
            }
        }
    }
}

/// Frames on their way out of the worker, each list freed or sent in bulk.
#[derive(Debug)]
pub(super) struct TxQueues {
    /// Per link: frames to transmit.
    pub(super) link: Vec<MbufVec>,
    /// Per link: frames for the host, passed on at the end of the receive.
    pub(super) host: Vec<MbufVec>,
    /// Per worker: frames to hand off at the end of the receive.
    pub(super) handoff: Vec<MbufVec>,
    /// Frames to free at the end of the burst.
    pub(super) free: MbufVec,
}

/// The backend's counters (single writer).
#[derive(Debug, Default)]
pub(super) struct Stats {
    /// Receive drops by reason.
    pub(super) drops: RxDrops,
    /// What the relay reads.
    pub(super) io: IoCounters,
    /// Layer 2/3 work: see `local.rs`.
    pub(super) l2: L2Stats,
}

/// Layer 2/3 state: see `local.rs`.
#[derive(Debug)]
pub(super) struct Neighbours {
    /// This worker's table.
    pub(super) table: NeighTable,
    /// This worker's ends of the mesh with the other workers.
    pub(super) peer: Option<NeighPeer>,
    /// Announce the relay addresses at the next receive.
    pub(super) announce: bool,
    /// The millisecond clock read at the last receive.
    pub(super) now_ms: u32,
    /// 2^64 / (TSC ticks per millisecond): ms = tsc * this >> 64 (no division per burst).
    pub(super) ms_per_tsc_q64: u64,
}

/// The DPDK backend of one worker.
#[derive(Debug)]
pub struct DpdkIo {
    pub(super) rx: RxBurst,
    pub(super) tx: TxQueues,
    pub(super) stats: Stats,
    pub(super) neigh: Neighbours,
    pub(super) handoff: Option<Handoff>,
    pub(super) addrs: Addrs,
    /// Last: dropped after every mbuf (the ports hold the pools).
    pub(super) ports: Ports,
}

impl DpdkIo {
    /// The backend of the worker owning queue `cfg.queue` of every port of `cfg.links`.
    ///
    /// The caller must give each worker its own queue (DPDK queues are not thread-safe).
    pub fn new(cfg: DpdkIoConfig) -> Result<Self, IoError> {
        let addrs = Addrs::new(&cfg)?;
        let (burst, nlinks) = (cfg.burst.clamp(1, 512), cfg.links.len());
        let workers = cfg.handoff.as_ref().map_or(0, |h| h.outboxes.len());
        let lists = |n: usize, cap: usize| (0..n).map(|_| MbufVec::with_capacity(cap)).collect();
        Ok(Self {
            rx: RxBurst {
                size: burst,
                raw: vec![std::ptr::null_mut(); burst],
                slots: Vec::with_capacity(burst * nlinks.max(1)),
                data_guess: DATA_GUESS,
                verify_udp: cfg.verify_udp_checksum,
            },
            tx: TxQueues {
                link: lists(nlinks, burst * nlinks),
                host: lists(nlinks, burst),
                handoff: lists(workers, burst * nlinks),
                free: MbufVec::with_capacity(burst * nlinks.max(1)),
            },
            stats: Stats::default(),
            neigh: Neighbours {
                table: NeighTable::new(NEIGH_ENTRIES, cfg.neigh),
                peer: cfg.neigh_peer,
                announce: cfg.announce,
                now_ms: 0,
                ms_per_tsc_q64: ms_per_tsc_q64(super::tsc_hz()),
            },
            handoff: cfg.handoff,
            addrs,
            ports: Ports::new(cfg.links, cfg.queue),
        })
    }

    /// Layer 2/3 counters (ARP/ND/ICMP answers, resolution, hand-off).
    pub fn l2_stats(&self) -> L2Stats {
        let mut s = self.stats.l2;
        s.notes_lost = self.neigh.peer.as_ref().map_or(0, NeighPeer::lost);
        s
    }

    /// The MAC this worker knows for next hop `ip` on link `link` now.
    pub fn neighbour(&self, link: usize, ip: std::net::IpAddr) -> Option<[u8; 6]> {
        let ip = Endpoint::from_socket_addr((ip, 0).into()).ip;
        let link = u16::try_from(link).ok()?;
        self.neigh.table.peek(link, &ip, self.neigh.now_ms)
    }

    /// Receive drops by reason.
    pub fn drops(&self) -> &RxDrops {
        &self.stats.drops
    }

    /// The worker's queue index.
    pub fn queue(&self) -> u16 {
        self.ports.queue
    }

    /// The ports.
    pub fn links(&self) -> &[DpdkLink] {
        &self.ports.links
    }
}

impl Ports {
    fn new(links: Vec<DpdkLink>, queue: u16) -> Self {
        Self {
            ids: links.iter().map(|l| l.port.id()).collect(),
            rx: links
                .iter()
                .map(|l| LinkRx {
                    vlan: l.vlan,
                    nic_l4: l.port.offloads().rx_udp_checksum,
                })
                .collect(),
            exception: links
                .iter()
                .map(|l| l.exception.as_ref().map(|e| e.id()))
                .collect(),
            links,
            queue,
        }
    }
}

impl Addrs {
    /// The address tables of `cfg`; an address on a link that does not exist (or without a
    /// link) is refused.
    fn new(cfg: &DpdkIoConfig) -> Result<Self, IoError> {
        let index = |i: usize| u16::try_from(i).unwrap_or(u16::MAX);
        if let Some(i) = cfg.addr_link.iter().position(|&l| l >= cfg.links.len()) {
            return Err(IoError::UnknownAddress(index(i)));
        }
        if cfg.addr_link.len() != cfg.addrs.len() {
            return Err(IoError::UnknownAddress(index(cfg.addr_link.len())));
        }
        let eps: Vec<Endpoint> = cfg
            .addrs
            .iter()
            .map(|a| Endpoint::from_socket_addr((a.ip, 0).into()))
            .collect();
        let ips: Vec<[u8; 16]> = eps.iter().map(|e| e.ip).collect();
        let lookup = AddrIndex::new(&ips, &cfg.addr_link);
        let egress = (cfg.addrs.iter().zip(&eps).zip(&cfg.addr_link))
            .filter_map(|((a, e), &link)| {
                let l = cfg.links.get(link)?;
                Some(Egress {
                    link,
                    mac: a.mac,
                    ip: e.ip,
                    ip4: e.v4(),
                    vlan: l.vlan,
                    next_hop_mac: l.next_hop_mac,
                })
            })
            .collect();
        Ok(Self {
            relay: cfg.addrs.clone(),
            eps,
            link: cfg.addr_link.clone(),
            egress,
            lookup,
        })
    }

    /// The index of relay address `ip` (Endpoint form) if it lives on `link`.
    #[inline]
    pub(super) fn on_link(&self, link: usize, ip: &[u8; 16]) -> Option<u16> {
        self.lookup.on_link(link, ip)
    }

    /// The index of IPv4 relay address `ip` if it lives on `link`.
    #[inline(always)]
    pub(super) fn on_link_v4(&self, link: usize, ip: [u8; 4]) -> Option<u16> {
        self.lookup.on_link_v4(link, ip)
    }
}

/// 2^64 / (TSC ticks per millisecond), for [`ms_of_tsc`]; `hz` below 1000 counts as 1000.
fn ms_per_tsc_q64(hz: u64) -> u64 {
    let per_ms = (hz / 1000).max(1);
    u64::try_from((1u128 << 64) / u128::from(per_ms)).unwrap_or(u64::MAX)
}

/// Milliseconds of TSC value `tsc` (wrapping at 2^32 ms, as the neighbour timers expect).
#[inline(always)]
pub(super) fn ms_of_tsc(tsc: u64, q64: u64) -> u32 {
    ((u128::from(tsc) * u128::from(q64)) >> 64) as u32
}

impl PacketIo for DpdkIo {
    type Memory = crate::HugePages;

    fn rx_burst(&mut self, _timeout: Duration) -> Result<(usize, Wake), IoError> {
        Ok((self.receive(), Wake::default()))
    }

    #[inline]
    fn packet(&self, i: usize) -> Option<RxPacket<'_>> {
        let s = self.rx.slots.get(i)?;
        Some(RxPacket {
            local: s.key,
            src: s.src(),
            payload: s.payload(),
        })
    }

    #[inline]
    fn key(&self, i: usize) -> Option<PortKey> {
        self.rx.slots.get(i).map(|s| s.key)
    }

    #[inline]
    fn forward(&mut self, i: usize, egress: PortKey, dst: Endpoint) {
        self.forward_slot(i, egress, dst);
    }

    /// Goes over the slots in place: the decision reads the packet's payload (and, when it
    /// needs it, its source) from the frame of the slot at hand, a forward rewrites that frame.
    #[inline]
    fn relay_each<D: Decide>(&mut self, n: usize, ahead: usize, d: &mut D) {
        let n = n.min(self.rx.slots.len());
        for i in 0..n {
            let next = (self.rx.slots.get(i + ahead)).map(|s| s.key);
            let Some(s) = self.rx.slots.get(i) else { break };
            if let Some((egress, dst)) = d.decide(Some(s), next) {
                self.forward_slot(i, egress, dst);
            }
        }
    }

    fn flush(&mut self) {
        self.transmit();
    }

    fn attach(&mut self, _key: PortKey, handle: PortHandle) -> Result<(), IoError> {
        match handle {
            PortHandle::Virtual => Ok(()),
            PortHandle::Socket(_) => Err(IoError::WrongHandle),
        }
    }

    fn detach(&mut self, _key: PortKey) {}

    fn counters(&self) -> IoCounters {
        self.stats.io
    }
}

impl Drop for DpdkIo {
    fn drop(&mut self) {
        self.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tsc_to_ms_without_division() {
        for hz in [
            1_000_000_000u64,
            2_000_000_000,
            2_899_999_000,
            3_700_000_000,
        ] {
            let q = ms_per_tsc_q64(hz);
            let per_ms = hz / 1000;
            for t in [
                0u64,
                1,
                per_ms - 1,
                per_ms,
                10 * per_ms + 7,
                86_400_000 * per_ms + 3,
            ] {
                let want = (t / per_ms) as u32;
                let got = ms_of_tsc(t, q);
                assert!(
                    got == want || got + 1 == want,
                    "hz {hz} tsc {t}: {got} vs {want}"
                );
            }
        }
        // An unknown TSC rate (0 before the EAL runs) counts ticks as milliseconds.
        assert!(matches!(ms_of_tsc(5000, ms_per_tsc_q64(0)), 4999 | 5000));
    }
}
