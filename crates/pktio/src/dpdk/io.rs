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

/// Where a received frame's data starts, from the mbuf's own address, until a frame shows
/// otherwise: the mbuf header, then the default headroom (buffers of a pool made by
/// `rte_pktmbuf_pool_create` without private area).
const DATA_GUESS: usize =
    std::mem::size_of::<dpdk_sys::rte_mbuf>() + dpdk_sys::RTE_PKTMBUF_HEADROOM as usize;

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
    /// The exception interface (a started `net_tap` / `virtio_user` port with a queue per
    /// worker): frames arriving here for the host (not relay media, not answered by the
    /// backend) go to it, and frames from it leave through this port, both unchanged.
    /// `None`: such frames are dropped (counted).
    pub exception: Option<Arc<EthPort>>,
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
            exception: None,
        }
    }

    /// The same link sending every frame to `mac` (no resolution).
    pub fn with_next_hop_mac(mut self, mac: [u8; 6]) -> Self {
        self.next_hop_mac = Some(mac);
        self
    }

    /// The same link with `port` as its exception interface.
    pub fn with_exception(mut self, port: Arc<EthPort>) -> Self {
        self.exception = Some(port);
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

/// What `forward` needs about a relay address, in one place (one bounds check per packet).
#[derive(Debug, Clone, Copy)]
struct Egress {
    /// The link (index in `links`) the address lives on.
    link: usize,
    /// Source MAC of frames leaving from it.
    mac: [u8; 6],
    /// The address (Endpoint form).
    ip: [u8; 16],
    /// The link's VLAN tag.
    vlan: Option<u16>,
    /// The link's fixed next-hop MAC, if configured (no resolution then).
    next_hop_mac: Option<[u8; 6]>,
}

/// What the receive path needs about a link.
#[derive(Debug, Clone, Copy)]
struct LinkRx {
    /// The link's VLAN tag.
    vlan: Option<u16>,
    /// The NIC verifies UDP checksums on this port.
    nic_l4: bool,
}

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
    /// Receive-side facts, by link index.
    link_rx: Vec<LinkRx>,
    /// Transmit-side facts, by relay address index.
    egress: Vec<Egress>,
    pub(super) queue: u16,
    addrs: Vec<RelayAddr>,
    addr_eps: Vec<Endpoint>,
    addr_link: Vec<usize>,
    /// (address in Endpoint form as one big-endian number, index) sorted for binary search.
    lookup: Vec<(u128, u16)>,
    pub(super) burst: usize,
    verify_udp: bool,
    /// Raw receive array.
    pub(super) rx: Vec<*mut dpdk_sys::rte_mbuf>,
    /// The kept frames of this burst.
    slots: Vec<Slot>,
    /// Per link: frames to transmit.
    tx: Vec<Vec<*mut dpdk_sys::rte_mbuf>>,
    /// Frames to free at the end of the burst.
    pub(super) free: Vec<*mut dpdk_sys::rte_mbuf>,
    drops: RxDrops,
    counters: IoCounters,
    /// Layer 2/3 state: see `local.rs`.
    pub(super) l2: L2Stats,
    pub(super) neigh: NeighTable,
    pub(super) peer: Option<NeighPeer>,
    pub(super) announce: bool,
    /// 2^64 / (TSC ticks per millisecond): ms = tsc * this >> 64 (no division per burst);
    /// and the millisecond clock read at the last receive.
    ms_per_tsc_q64: u64,
    pub(super) now_ms: u32,
    handoff: Option<Handoff>,
    /// Per worker: frames to hand off at the end of the receive.
    ho_out: Vec<Vec<*mut dpdk_sys::rte_mbuf>>,
    /// Per link: the exception interface's port id.
    pub(super) exc_ids: Vec<Option<u16>>,
    /// Per link: frames for the host, passed on at the end of the receive.
    pub(super) host_out: Vec<Vec<*mut dpdk_sys::rte_mbuf>>,
    /// Offset of the frame data from the mbuf address in the last frame received: the data
    /// lines of a burst are prefetched at this guess before the headers giving the real
    /// address have arrived (a wrong guess costs a useless prefetch, never a fault).
    data_guess: usize,
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
        let mut lookup: Vec<(u128, u16)> = cfg
            .addrs
            .iter()
            .enumerate()
            .map(|(i, a)| {
                (
                    u128::from_be_bytes(Endpoint::from_socket_addr((a.ip, 0).into()).ip),
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
        let cfg_exc = cfg
            .links
            .iter()
            .map(|l| l.exception.as_ref().map(|e| e.id()))
            .collect();
        let workers = cfg.handoff.as_ref().map_or(0, |h| h.outboxes.len());
        Ok(Self {
            port_ids: cfg.links.iter().map(|l| l.port.id()).collect(),
            link_rx: cfg
                .links
                .iter()
                .map(|l| LinkRx {
                    vlan: l.vlan,
                    nic_l4: l.port.offloads().rx_udp_checksum,
                })
                .collect(),
            egress: cfg
                .addrs
                .iter()
                .zip(&cfg.addr_link)
                .filter_map(|(a, &link)| {
                    let l = cfg.links.get(link)?;
                    Some(Egress {
                        link,
                        mac: a.mac,
                        ip: Endpoint::from_socket_addr((a.ip, 0).into()).ip,
                        vlan: l.vlan,
                        next_hop_mac: l.next_hop_mac,
                    })
                })
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
            ms_per_tsc_q64: ms_per_tsc_q64(super::tsc_hz()),
            now_ms: 0,
            handoff: cfg.handoff,
            ho_out: (0..workers)
                .map(|_| Vec::with_capacity(burst * nlinks))
                .collect(),
            data_guess: DATA_GUESS,
            exc_ids: cfg_exc,
            host_out: (0..nlinks).map(|_| Vec::with_capacity(burst)).collect(),
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
        let ip = u128::from_be_bytes(*ip);
        self.lookup
            .binary_search_by(|(a, _)| a.cmp(&ip))
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
        let off = (data as usize).wrapping_sub(m as usize);
        if off < usize::from(u16::MAX) {
            self.data_guess = off;
        }
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
                    self.host_or_drop(link, m, r, bytes);
                }
            }
            // Valid frames the fast path does not relay: the host's (SIP over UDP, fragments
            // of large SIP messages...) when not for a relay address.
            Err(
                r @ (RxDrop::UnknownAddress
                | RxDrop::Frame(
                    FrameError::Fragment | FrameError::IpOptions | FrameError::Ipv6ExtHeader,
                )),
            ) => {
                // SAFETY: as above (read-only view).
                let bytes = unsafe { std::slice::from_raw_parts(data, len) };
                self.host_or_drop(link, m, r, bytes);
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
        self.prefetch_burst(n);
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
        let Some(lr) = self.link_rx.get(link) else {
            return Err(RxDrop::UnknownAddress);
        };
        if lr.vlan != f.vlan {
            return Err(RxDrop::WrongVlan);
        }
        let addr = self
            .addr_index(&f.dst.ip)
            .filter(|&a| self.addr_link.get(usize::from(a)) == Some(&link))
            .ok_or(RxDrop::UnknownAddress)?;
        let nic_checked = lr.nic_l4 && ol & RX_L4_CKSUM_MASK == RX_L4_CKSUM_GOOD;
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

    /// Prefetches the headers of received mbufs `0..n` and, at the guessed offset, their first
    /// data line for writing (it is parsed, then rewritten in place): every miss of the burst
    /// is in flight at once instead of one after the other, and a data line last written by
    /// another core (or the NIC) arrives writable in one transfer.
    #[inline(always)]
    fn prefetch_burst(&self, n: usize) {
        for &m in self.rx.iter().take(n) {
            let p = m.cast_const().cast::<u8>();
            crate::prefetch::prefetch_ptr(p);
            crate::prefetch::prefetch_write_ptr(p.wrapping_add(self.data_guess));
        }
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

/// 2^64 / (TSC ticks per millisecond), for [`ms_of_tsc`]; `hz` below 1000 counts as 1000.
fn ms_per_tsc_q64(hz: u64) -> u64 {
    let per_ms = (hz / 1000).max(1);
    u64::try_from((1u128 << 64) / u128::from(per_ms)).unwrap_or(u64::MAX)
}

/// Milliseconds of TSC value `tsc` (wrapping at 2^32 ms, as the neighbour timers expect).
#[inline(always)]
fn ms_of_tsc(tsc: u64, q64: u64) -> u32 {
    ((u128::from(tsc) * u128::from(q64)) >> 64) as u32
}

impl PacketIo for DpdkIo {
    type Memory = crate::HugePages;

    fn rx_burst(&mut self, _timeout: Duration) -> Result<(usize, Wake), IoError> {
        if !self.slots.is_empty() || self.tx.iter().any(|t| !t.is_empty()) {
            self.release();
        }
        self.now_ms = ms_of_tsc(super::rdtsc(), self.ms_per_tsc_q64);
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
            self.prefetch_burst(n);
            for j in 0..n {
                let m = self.rx[j];
                self.classify(link, m, true);
            }
        }
        if self.handoff.is_some() {
            self.hand_off();
            self.take_handed();
        }
        self.exchange_host();
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
        let (Some(s), Some(&e)) = (self.slots.get(i), self.egress.get(ai)) else {
            self.counters.tx_dropped += 1;
            return;
        };
        if s.forwarded {
            return;
        }
        let dst_mac = match e.next_hop_mac {
            Some(mac) => mac,
            None => match self.next_hop(e.link, ai, &dst.ip) {
                Some(mac) => mac,
                None => {
                    self.counters.tx_dropped += 1;
                    return;
                }
            },
        };
        let (Some(s), Some(tx)) = (self.slots.get_mut(i), self.tx.get_mut(e.link)) else {
            self.counters.tx_dropped += 1;
            return;
        };
        if s.frame.vlan != e.vlan && !retag(s, e.vlan) {
            self.counters.tx_dropped += 1;
            return;
        }
        let src = Endpoint {
            ip: e.ip,
            port: egress.port,
        };
        // SAFETY: as in `packet`; `&mut self` makes this the only access to the bytes.
        let bytes = unsafe { std::slice::from_raw_parts_mut(s.data, s.len) };
        match frame::rewrite_udp(bytes, &s.frame, e.mac, dst_mac, &src, &dst) {
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
