//! [`DpdkIo`]: the [`PacketIo`] of one worker, polling its queue pair on every DPDK port.
//!
//! Per burst: receive mbufs from each port's queue `queue` in turn, check and parse each frame
//! in place with [`wire::frame::parse_udp`] (prefetching a few frames ahead), keep the UDP
//! frames addressed to a relay address of that port and drop the rest by reason; the relay then
//! reads [`PacketIo::packet`] and calls [`PacketIo::forward`], which rewrites the frame in place
//! ([`wire::frame::rewrite_udp`], incremental checksums); [`PacketIo::flush`] transmits per
//! egress port and frees everything else in bulk. No allocation, lock or system call per packet.

use super::drops::{L2Stats, RxDrop, RxDrops};
use super::handoff::Handoff;
use super::port::EthPort;
use crate::l2::{NeighConfig, NeighPeer, NeighTable};
use crate::{IoCounters, IoError, PacketIo, PortHandle, PortKey, RelayAddr, RxPacket, Wake};
use std::sync::Arc;
use std::time::Duration;
use wire::frame::{self, FrameError, UdpFrame};
use wire::Endpoint;

// rte_mbuf_core.h receive flags (bindgen gives them as u32; ol_flags is u64).
const RX_IP_CKSUM_MASK: u64 = (1 << 4) | (1 << 7);
const RX_IP_CKSUM_BAD: u64 = 1 << 4;
const RX_L4_CKSUM_MASK: u64 = (1 << 3) | (1 << 8);
const RX_L4_CKSUM_BAD: u64 = 1 << 3;
const RX_L4_CKSUM_GOOD: u64 = 1 << 8;

/// Frames ahead of the one being parsed whose first data line is prefetched.
const PREFETCH_AHEAD: usize = 4;

/// One port as a worker sees it.
#[derive(Debug, Clone)]
pub struct DpdkLink {
    /// The started port (kept alive by every worker using it).
    pub port: Arc<EthPort>,
    /// A fixed MAC every relayed frame leaves toward (a router); `None`: the next hop is
    /// resolved with ARP / neighbour discovery (the destination itself when on the subnet of
    /// the egress relay address, else the gateway).
    pub next_hop_mac: Option<[u8; 6]>,
    /// IPv4 router for destinations off the `prefix_v4` subnet.
    pub gateway_v4: Option<[u8; 4]>,
    /// IPv6 router for destinations off the `prefix_v6` prefix.
    pub gateway_v6: Option<[u8; 16]>,
    /// On-link IPv4 subnet length of the port's relay addresses.
    pub prefix_v4: u8,
    /// On-link IPv6 prefix length of the port's relay addresses.
    pub prefix_v6: u8,
    /// 802.1Q VLAN id the port's frames carry (`None`: untagged).
    pub vlan: Option<u16>,
}

impl DpdkLink {
    /// A link on `port` resolving next hops itself on a /24 (IPv4) and /64 (IPv6), untagged,
    /// with no gateway.
    pub fn new(port: Arc<EthPort>) -> Self {
        Self {
            port,
            next_hop_mac: None,
            gateway_v4: None,
            gateway_v6: None,
            prefix_v4: 24,
            prefix_v6: 64,
            vlan: None,
        }
    }

    /// The same link sending every frame to `mac` (no resolution).
    pub fn with_next_hop_mac(mut self, mac: [u8; 6]) -> Self {
        self.next_hop_mac = Some(mac);
        self
    }
}

/// Settings of one worker's backend.
#[derive(Debug)]
pub struct DpdkIoConfig {
    /// The ports; this worker polls queue [`queue`](Self::queue) on each.
    pub links: Vec<DpdkLink>,
    /// The worker's queue pair (its index).
    pub queue: u16,
    /// The relay addresses, by index (the `addr` of [`PortKey`]); `mac` is the source MAC of
    /// frames leaving from them (normally their port's MAC).
    pub addrs: Vec<RelayAddr>,
    /// For each relay address, the index in [`links`](Self::links) of the port it lives on.
    pub addr_link: Vec<usize>,
    /// Frames per receive burst (per port), 1..=512.
    pub burst: usize,
    /// Verify UDP checksums in software when the NIC has not (RFC 768: a receiver that checks
    /// must discard on failure). Off skips the check for NICs without the offload.
    pub verify_udp_checksum: bool,
    /// Neighbour table size and timers.
    pub neigh: NeighConfig,
    /// This worker's ends of the neighbour mesh (several workers), or `None` (one worker).
    pub neigh_peer: Option<NeighPeer>,
    /// Announce the relay addresses at the first receive (gratuitous ARP, RFC 5227 §3;
    /// unsolicited neighbour advertisement, RFC 4861 §7.2.6). One worker does it.
    pub announce: bool,
    /// Wrong-queue hand-off to the owning worker (several workers), or `None`.
    pub handoff: Option<Handoff>,
}

impl Default for DpdkIoConfig {
    fn default() -> Self {
        Self {
            links: Vec::new(),
            queue: 0,
            addrs: Vec::new(),
            addr_link: Vec::new(),
            burst: 32,
            verify_udp_checksum: true,
            neigh: NeighConfig::default(),
            neigh_peer: None,
            announce: false,
            handoff: None,
        }
    }
}

/// Neighbour entries per worker.
const NEIGH_ENTRIES: usize = 1024;

/// A received frame kept for the relay.
#[derive(Debug, Clone, Copy)]
struct Slot {
    mbuf: *mut dpdk_sys::rte_mbuf,
    data: *mut u8,
    len: usize,
    key: PortKey,
    frame: UdpFrame,
    forwarded: bool,
}

/// The DPDK backend of one worker.
#[derive(Debug)]
pub struct DpdkIo {
    links: Vec<DpdkLink>,
    /// Port ids, by link index.
    port_ids: Vec<u16>,
    /// UDP checksum verified by the NIC, by link index.
    nic_l4: Vec<bool>,
    queue: u16,
    addrs: Vec<RelayAddr>,
    addr_eps: Vec<Endpoint>,
    addr_link: Vec<usize>,
    /// (address bytes in Endpoint form, index) sorted for binary search.
    lookup: Vec<([u8; 16], u16)>,
    burst: usize,
    verify_udp: bool,
    /// Raw receive array.
    rx: Vec<*mut dpdk_sys::rte_mbuf>,
    /// The kept frames of this burst.
    slots: Vec<Slot>,
    /// Per link: frames to transmit.
    tx: Vec<Vec<*mut dpdk_sys::rte_mbuf>>,
    /// Frames to free at the end of the burst.
    free: Vec<*mut dpdk_sys::rte_mbuf>,
    drops: RxDrops,
    counters: IoCounters,
    /// Layer 2/3 state: see `local.rs`.
    pub(super) l2: L2Stats,
    pub(super) neigh: NeighTable,
    pub(super) peer: Option<NeighPeer>,
    pub(super) announce: bool,
    /// TSC ticks per millisecond, and the millisecond clock read at the last receive.
    tsc_per_ms: u64,
    pub(super) now_ms: u32,
    handoff: Option<Handoff>,
    /// Per worker: frames to hand off at the end of the receive.
    ho_out: Vec<Vec<*mut dpdk_sys::rte_mbuf>>,
}

// SAFETY: every mbuf pointer held is owned exclusively by this value (received, not yet sent or
// freed); the queues it polls are this worker's alone. Moving it to another thread moves that
// exclusive ownership along; DPDK allows mbufs and queues to be used from any thread, one at a
// time.
unsafe impl Send for DpdkIo {}

impl DpdkIo {
    /// The backend of the worker owning queue `cfg.queue` of every port of `cfg.links`.
    ///
    /// The caller must give each worker its own queue (DPDK queues are not thread-safe).
    pub fn new(cfg: DpdkIoConfig) -> Result<Self, IoError> {
        for (i, &l) in cfg.addr_link.iter().enumerate() {
            if l >= cfg.links.len() {
                return Err(IoError::UnknownAddress(
                    u16::try_from(i).unwrap_or(u16::MAX),
                ));
            }
        }
        if cfg.addr_link.len() != cfg.addrs.len() {
            return Err(IoError::UnknownAddress(
                u16::try_from(cfg.addr_link.len()).unwrap_or(u16::MAX),
            ));
        }
        let burst = cfg.burst.clamp(1, 512);
        let mut lookup: Vec<([u8; 16], u16)> = cfg
            .addrs
            .iter()
            .enumerate()
            .map(|(i, a)| {
                (
                    Endpoint::from_socket_addr((a.ip, 0).into()).ip,
                    u16::try_from(i).unwrap_or(u16::MAX),
                )
            })
            .collect();
        lookup.sort_unstable();
        let addr_eps = cfg
            .addrs
            .iter()
            .map(|a| Endpoint::from_socket_addr((a.ip, 0).into()))
            .collect();
        let nlinks = cfg.links.len();
        let workers = cfg.handoff.as_ref().map_or(0, |h| h.outboxes.len());
        Ok(Self {
            port_ids: cfg.links.iter().map(|l| l.port.id()).collect(),
            nic_l4: cfg
                .links
                .iter()
                .map(|l| l.port.offloads().rx_udp_checksum)
                .collect(),
            links: cfg.links,
            queue: cfg.queue,
            addrs: cfg.addrs,
            addr_eps,
            addr_link: cfg.addr_link,
            lookup,
            burst,
            verify_udp: cfg.verify_udp_checksum,
            rx: vec![std::ptr::null_mut(); burst],
            slots: Vec::with_capacity(burst * nlinks.max(1)),
            tx: (0..nlinks)
                .map(|_| Vec::with_capacity(burst * nlinks))
                .collect(),
            free: Vec::with_capacity(burst * nlinks.max(1)),
            drops: RxDrops::default(),
            counters: IoCounters::default(),
            l2: L2Stats::default(),
            neigh: NeighTable::new(NEIGH_ENTRIES, cfg.neigh),
            peer: cfg.neigh_peer,
            announce: cfg.announce,
            tsc_per_ms: (super::tsc_hz() / 1000).max(1),
            now_ms: 0,
            handoff: cfg.handoff,
            ho_out: (0..workers)
                .map(|_| Vec::with_capacity(burst * nlinks))
                .collect(),
        })
    }

    /// Layer 2/3 counters (ARP/ND/ICMP answers, resolution, hand-off).
    pub fn l2_stats(&self) -> L2Stats {
        let mut s = self.l2;
        s.notes_lost = self.peer.as_ref().map_or(0, NeighPeer::lost);
        s
    }

    /// The MAC this worker knows for next hop `ip` on link `link` now.
    pub fn neighbour(&self, link: usize, ip: std::net::IpAddr) -> Option<[u8; 6]> {
        let ip = Endpoint::from_socket_addr((ip, 0).into()).ip;
        self.neigh.peek(u16::try_from(link).ok()?, &ip, self.now_ms)
    }

    /// Receive drops by reason.
    pub fn drops(&self) -> &RxDrops {
        &self.drops
    }

    /// The worker's queue index.
    pub fn queue(&self) -> u16 {
        self.queue
    }

    /// The ports.
    pub fn links(&self) -> &[DpdkLink] {
        &self.links
    }

    #[inline]
    fn addr_index(&self, ip: &[u8; 16]) -> Option<u16> {
        self.lookup
            .binary_search_by(|(a, _)| a.cmp(ip))
            .ok()
            .and_then(|i| self.lookup.get(i))
            .map(|(_, idx)| *idx)
    }

    /// Checks and parses received frame `m` from link `link`; keeps it, answers it (ARP, ND,
    /// echo), hands it to its owner (when `steer`) or queues it for freeing.
    #[inline]
    fn classify(&mut self, link: usize, m: *mut dpdk_sys::rte_mbuf, steer: bool) {
        // SAFETY: `m` was just returned by rx_burst or the hand-off inbox: a valid mbuf we
        // own. Its first segment holds `data_len` bytes from buf_addr + data_off.
        let (data, len, nb_segs, ol) = unsafe {
            let mb = &*m;
            (
                mb.buf_addr.cast::<u8>().add(usize::from(mb.data_off)),
                usize::from(mb.data_len),
                mb.nb_segs,
                mb.ol_flags,
            )
        };
        let verdict = if nb_segs != 1 {
            Err(RxDrop::MultiSegment)
        } else if ol & RX_IP_CKSUM_MASK == RX_IP_CKSUM_BAD {
            Err(RxDrop::IpChecksum)
        } else if ol & RX_L4_CKSUM_MASK == RX_L4_CKSUM_BAD {
            Err(RxDrop::UdpChecksum)
        } else {
            // SAFETY: `len` initialised bytes at `data`, owned by us until flush; no other
            // reference to them exists during this call.
            let bytes = unsafe { std::slice::from_raw_parts(data, len) };
            self.parse(link, bytes, ol)
        };
        match verdict {
            Ok((key, frame)) => {
                if steer {
                    if let Some(h) = &self.handoff {
                        if let Some(w) = (h.owner)(key).filter(|&w| w != h.me) {
                            if let (Some(out), Some(&port)) =
                                (self.ho_out.get_mut(w), self.port_ids.get(link))
                            {
                                // SAFETY: we own `m`; the owner finds the link by this field
                                // (not every driver fills it in).
                                unsafe { (*m).port = port };
                                out.push(m);
                                return;
                            }
                        }
                    }
                }
                self.slots.push(Slot {
                    mbuf: m,
                    data,
                    len,
                    key,
                    frame,
                    forwarded: false,
                });
            }
            Err(r @ RxDrop::Frame(FrameError::NotIp | FrameError::NotUdp)) => {
                // SAFETY: as above; `&mut` access is exclusive (nothing else refers to the
                // bytes of this mbuf now).
                let bytes = unsafe { std::slice::from_raw_parts_mut(data, len) };
                if !self.local(link, m, bytes) {
                    self.drop_frame(m, r);
                }
            }
            Err(r) => self.drop_frame(m, r),
        }
    }

    /// Counts a receive drop and queues the frame for freeing.
    #[inline]
    pub(super) fn drop_frame(&mut self, m: *mut dpdk_sys::rte_mbuf, r: RxDrop) {
        self.drops.count(r);
        self.counters.rx_invalid += 1;
        self.free.push(m);
    }

    /// Queues `m` for transmission on link `link` (frames this backend answers or builds).
    #[inline]
    pub(super) fn send_local(&mut self, link: usize, m: *mut dpdk_sys::rte_mbuf) {
        match self.tx.get_mut(link) {
            Some(t) => t.push(m),
            None => self.free.push(m),
        }
    }

    /// Queues `m` for freeing at the end of the burst.
    #[inline]
    pub(super) fn free_later(&mut self, m: *mut dpdk_sys::rte_mbuf) {
        self.free.push(m);
    }

    /// The link and relay-address tables, for `local.rs`.
    pub(super) fn addr_tables(&self) -> (&[RelayAddr], &[Endpoint], &[usize], &[DpdkLink]) {
        (&self.addrs, &self.addr_eps, &self.addr_link, &self.links)
    }

    /// The relay address index of `ip` (Endpoint form) if it lives on `link`.
    #[inline]
    pub(super) fn local_addr(&self, link: usize, ip: &[u8; 16]) -> Option<usize> {
        let a = usize::from(self.addr_index(ip)?);
        (self.addr_link.get(a) == Some(&link)).then_some(a)
    }

    /// Hands the frames collected for other workers to their inboxes.
    fn hand_off(&mut self) {
        let Some(h) = &self.handoff else { return };
        for (w, out) in self.ho_out.iter_mut().enumerate() {
            if out.is_empty() {
                continue;
            }
            let sent = h.outboxes.get(w).map_or(0, |o| o.enqueue(out));
            self.l2.handed_off += sent as u64;
            self.l2.handoff_dropped += (out.len() - sent) as u64;
            self.free.extend_from_slice(&out[sent..]);
            out.clear();
        }
    }

    /// Takes the frames other workers handed to this one.
    fn take_handed(&mut self) {
        let Some(h) = &mut self.handoff else { return };
        let n = h.inbox.dequeue(&mut self.rx);
        self.l2.handoff_received += n as u64;
        for j in 0..n {
            let m = self.rx[j];
            // SAFETY: a valid mbuf handed over by another worker (now ours); `port` is the
            // input port the driver recorded.
            let port = unsafe { (*m).port };
            match self.port_ids.iter().position(|&p| p == port) {
                Some(link) => self.classify(link, m, false),
                None => self.drop_frame(m, RxDrop::UnknownAddress),
            }
        }
    }

    #[inline]
    fn parse(&self, link: usize, bytes: &[u8], ol: u64) -> Result<(PortKey, UdpFrame), RxDrop> {
        let f = frame::parse_udp(bytes).map_err(RxDrop::Frame)?;
        if self.links.get(link).and_then(|l| l.vlan) != f.vlan {
            return Err(RxDrop::WrongVlan);
        }
        let addr = self
            .addr_index(&f.dst.ip)
            .filter(|&a| self.addr_link.get(usize::from(a)) == Some(&link))
            .ok_or(RxDrop::UnknownAddress)?;
        let nic_checked = self.nic_l4.get(link).copied().unwrap_or(false)
            && ol & RX_L4_CKSUM_MASK == RX_L4_CKSUM_GOOD;
        if self.verify_udp && !nic_checked && !frame::verify_udp_checksum(bytes, &f) {
            return Err(RxDrop::UdpChecksum);
        }
        Ok((
            PortKey {
                addr,
                port: f.dst.port,
            },
            f,
        ))
    }

    /// Frees what the previous burst still holds (a burst left without `flush`).
    pub(super) fn release(&mut self) {
        // Forwarded frames sit in the TX lists; the others only in the slots.
        for s in &self.slots {
            if !s.forwarded {
                self.free.push(s.mbuf);
            }
        }
        self.slots.clear();
        for t in &mut self.tx {
            self.free.append(t);
        }
        free_bulk(&mut self.free);
    }
}

/// Moves the 802.1Q tag of a kept frame to `want`: rewrites the VLAN id, inserts a tag into
/// the headroom, or strips it; false (frame untouched) when there is no headroom.
fn retag(s: &mut Slot, want: Option<u16>) -> bool {
    const TAG: usize = wire::frame::VLAN_TAG_LEN;
    let m = s.mbuf;
    match (s.frame.vlan, want) {
        (Some(_), Some(vid)) => {
            // SAFETY: a tagged frame has its TCI at bytes 14..16 (parse checked the length);
            // the slot owns the mbuf.
            let b = unsafe { std::slice::from_raw_parts_mut(s.data, s.len) };
            if let Some(tci) = b.get_mut(14..16) {
                let pcp = tci[0] & 0xf0;
                let [hi, lo] = (vid & 0x0fff).to_be_bytes();
                tci.copy_from_slice(&[pcp | hi, lo]);
            }
        }
        (None, Some(vid)) => {
            // SAFETY: the slot owns `m`, a single-segment mbuf; data_off >= TAG means TAG bytes
            // of headroom are ours to use; the 12 MAC bytes move down with a copy that
            // allows overlap.
            unsafe {
                let mb = &mut *m;
                if usize::from(mb.data_off) < TAG {
                    return false;
                }
                let new = s.data.sub(TAG);
                std::ptr::copy(s.data, new, 12);
                let [t0, t1] = wire::frame::ETHERTYPE_VLAN.to_be_bytes();
                let [v0, v1] = (vid & 0x0fff).to_be_bytes();
                std::ptr::copy_nonoverlapping([t0, t1, v0, v1].as_ptr(), new.add(12), TAG);
                mb.data_off -= TAG as u16;
                mb.data_len += TAG as u16;
                mb.pkt_len += TAG as u32;
                s.data = new;
            }
            s.len += TAG;
            shift(&mut s.frame, TAG as isize);
        }
        (Some(_), None) => {
            // SAFETY: as above; a tagged frame has at least 18 bytes, so the 12 MAC bytes move
            // up by TAG inside the frame.
            unsafe {
                let mb = &mut *m;
                let new = s.data.add(TAG);
                std::ptr::copy(s.data, new, 12);
                mb.data_off += TAG as u16;
                mb.data_len -= TAG as u16;
                mb.pkt_len -= TAG as u32;
                s.data = new;
            }
            s.len -= TAG;
            shift(&mut s.frame, -(TAG as isize));
        }
        (None, None) => {}
    }
    s.frame.vlan = want;
    true
}

/// Moves a parsed frame's offsets by `d` bytes (a tag inserted or removed before them).
fn shift(f: &mut UdpFrame, d: isize) {
    f.l3 = f.l3.wrapping_add_signed(d);
    f.l4 = f.l4.wrapping_add_signed(d);
    f.payload = f.payload.wrapping_add_signed(d);
}

/// Frees every mbuf of `v` and empties it.
#[inline]
fn free_bulk(v: &mut Vec<*mut dpdk_sys::rte_mbuf>) {
    if v.is_empty() {
        return;
    }
    let n = u32::try_from(v.len()).unwrap_or(u32::MAX);
    // SAFETY: every entry is a valid mbuf owned by this backend, listed once; they are freed
    // once and forgotten at once.
    unsafe { dpdk_sys::rte_pktmbuf_free_bulk(v.as_mut_ptr(), n) };
    v.clear();
}

/// Hints the CPU to fetch the first data line of mbuf `m`.
#[inline(always)]
fn prefetch_data(m: *mut dpdk_sys::rte_mbuf) {
    // SAFETY: `m` is a valid received mbuf; reading its header is allowed (the header line was
    // written by the driver); the prefetch itself never faults.
    unsafe {
        let mb = &*m;
        let p = mb.buf_addr.cast::<u8>().add(usize::from(mb.data_off));
        crate::prefetch::prefetch_first_line(&*p);
    }
}

impl PacketIo for DpdkIo {
    fn rx_burst(&mut self, _timeout: Duration) -> Result<(usize, Wake), IoError> {
        if !self.slots.is_empty() || self.tx.iter().any(|t| !t.is_empty()) {
            self.release();
        }
        self.now_ms = (super::rdtsc() / self.tsc_per_ms) as u32;
        self.take_notes();
        if std::mem::take(&mut self.announce) {
            self.announce_all();
        }
        for link in 0..self.port_ids.len() {
            let port = self.port_ids[link];
            let room = u16::try_from(self.burst).unwrap_or(u16::MAX);
            // SAFETY: `rx` has `burst` slots; the driver writes at most `room` (= burst) owned
            // mbufs there. This worker alone polls queue `self.queue` of the port (contract of
            // `new`), which stays started while the `Arc<EthPort>` in `links` lives.
            let n = usize::from(unsafe {
                dpdk_sys::fv_rx_burst(port, self.queue, self.rx.as_mut_ptr(), room)
            });
            self.counters.rx += n as u64;
            for j in 0..n.min(PREFETCH_AHEAD) {
                prefetch_data(self.rx[j]);
            }
            for j in 0..n {
                if j + PREFETCH_AHEAD < n {
                    prefetch_data(self.rx[j + PREFETCH_AHEAD]);
                }
                let m = self.rx[j];
                self.classify(link, m, true);
            }
        }
        if self.handoff.is_some() {
            self.hand_off();
            self.take_handed();
        }
        Ok((self.slots.len(), Wake::default()))
    }

    #[inline]
    fn packet(&self, i: usize) -> Option<RxPacket<'_>> {
        let s = self.slots.get(i)?;
        // SAFETY: the slot's mbuf is owned by this backend until flush; `len` bytes at `data`
        // are its initialised first segment; the borrow of `self` keeps `forward` (the only
        // writer) from running while the slice lives.
        let bytes = unsafe { std::slice::from_raw_parts(s.data, s.len) };
        Some(RxPacket {
            local: s.key,
            src: s.frame.src,
            payload: s.frame.payload_bytes(bytes),
        })
    }

    #[inline]
    fn forward(&mut self, i: usize, egress: PortKey, dst: Endpoint) {
        let ai = usize::from(egress.addr);
        let (Some(s), Some(&link)) = (self.slots.get(i), self.addr_link.get(ai)) else {
            self.counters.tx_dropped += 1;
            return;
        };
        if s.forwarded {
            return;
        }
        let Some(dst_mac) = self.next_hop(link, ai, &dst.ip) else {
            self.counters.tx_dropped += 1;
            return;
        };
        let (Some(s), Some(addr), Some(l), Some(tx), Some(src)) = (
            self.slots.get_mut(i),
            self.addrs.get(ai),
            self.links.get(link),
            self.tx.get_mut(link),
            self.addr_eps.get(ai),
        ) else {
            self.counters.tx_dropped += 1;
            return;
        };
        if s.frame.vlan != l.vlan && !retag(s, l.vlan) {
            self.counters.tx_dropped += 1;
            return;
        }
        let src = Endpoint {
            port: egress.port,
            ..*src
        };
        // SAFETY: as in `packet`; `&mut self` makes this the only access to the bytes.
        let bytes = unsafe { std::slice::from_raw_parts_mut(s.data, s.len) };
        match frame::rewrite_udp(bytes, &s.frame, addr.mac, dst_mac, &src, &dst) {
            Ok(()) => {
                s.forwarded = true;
                tx.push(s.mbuf);
            }
            Err(_) => self.counters.tx_dropped += 1,
        }
    }

    fn flush(&mut self) {
        for s in &self.slots {
            if !s.forwarded {
                self.free.push(s.mbuf);
            }
        }
        self.slots.clear();
        for (link, tx) in self.tx.iter_mut().enumerate() {
            if tx.is_empty() {
                continue;
            }
            let port = self.port_ids[link];
            let mut off = 0;
            // A full TX ring takes part of a burst: retry a bounded number of times, then
            // drop the rest (counted) rather than stall the worker.
            for _ in 0..4 {
                let left = u16::try_from(tx.len() - off).unwrap_or(u16::MAX);
                if left == 0 {
                    break;
                }
                // SAFETY: entries off.. are owned mbufs; the driver takes ownership of the
                // first `sent`; this worker alone uses TX queue `self.queue` of the port.
                let sent = usize::from(unsafe {
                    dpdk_sys::fv_tx_burst(port, self.queue, tx.as_mut_ptr().add(off), left)
                });
                off += sent;
                if sent == 0 {
                    break;
                }
            }
            self.counters.tx += off as u64;
            self.counters.tx_dropped += (tx.len() - off) as u64;
            self.free.extend_from_slice(&tx[off..]);
            tx.clear();
        }
        free_bulk(&mut self.free);
    }

    fn attach(&mut self, _key: PortKey, handle: PortHandle) -> Result<(), IoError> {
        match handle {
            PortHandle::Virtual => Ok(()),
            PortHandle::Socket(_) => Err(IoError::WrongHandle),
        }
    }

    fn detach(&mut self, _key: PortKey) {}

    fn counters(&self) -> IoCounters {
        self.counters
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
    fn checksum_flag_masks_match_dpdk() {
        assert_eq!(
            RX_IP_CKSUM_MASK,
            u64::from(dpdk_sys::RTE_MBUF_F_RX_IP_CKSUM_MASK)
        );
        assert_eq!(
            RX_IP_CKSUM_BAD,
            u64::from(dpdk_sys::RTE_MBUF_F_RX_IP_CKSUM_BAD)
        );
        assert_eq!(
            RX_L4_CKSUM_MASK,
            u64::from(dpdk_sys::RTE_MBUF_F_RX_L4_CKSUM_MASK)
        );
        assert_eq!(
            RX_L4_CKSUM_BAD,
            u64::from(dpdk_sys::RTE_MBUF_F_RX_L4_CKSUM_BAD)
        );
        assert_eq!(
            RX_L4_CKSUM_GOOD,
            u64::from(dpdk_sys::RTE_MBUF_F_RX_L4_CKSUM_GOOD)
        );
    }
}
