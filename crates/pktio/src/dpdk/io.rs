//! [`DpdkIo`]: the [`PacketIo`] of one worker, polling its queue pair on every DPDK port.
//!
//! Per burst: receive mbufs from each port's queue `queue` in turn, check and parse each frame
//! in place with [`wire::frame::parse_udp`] (prefetching a few frames ahead), keep the UDP
//! frames addressed to a relay address of that port and drop the rest by reason; the relay then
//! reads [`PacketIo::packet`] and calls [`PacketIo::forward`], which rewrites the frame in place
//! ([`wire::frame::rewrite_udp`], incremental checksums); [`PacketIo::flush`] transmits per
//! egress port and frees everything else in bulk. No allocation, lock or system call per packet.

use super::drops::{RxDrop, RxDrops};
use super::port::EthPort;
use crate::{IoCounters, IoError, PacketIo, PortHandle, PortKey, RelayAddr, RxPacket, Wake};
use std::sync::Arc;
use std::time::Duration;
use wire::frame::{self, UdpFrame};
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
    /// The MAC frames leave toward: the next hop (router) of the relay addresses on this port.
    pub next_hop_mac: [u8; 6],
}

/// Settings of one worker's backend.
#[derive(Debug, Clone)]
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
        })
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

    /// Checks and parses received frame `m` from link `link`; keeps it or queues it for freeing.
    #[inline]
    fn classify(&mut self, link: usize, m: *mut dpdk_sys::rte_mbuf) {
        // SAFETY: `m` was just returned by rx_burst: a valid mbuf we own. Its first segment
        // holds `data_len` bytes from buf_addr + data_off.
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
            Ok((key, frame)) => self.slots.push(Slot {
                mbuf: m,
                data,
                len,
                key,
                frame,
                forwarded: false,
            }),
            Err(r) => {
                self.drops.count(r);
                self.counters.rx_invalid += 1;
                self.free.push(m);
            }
        }
    }

    #[inline]
    fn parse(&self, link: usize, bytes: &[u8], ol: u64) -> Result<(PortKey, UdpFrame), RxDrop> {
        let f = frame::parse_udp(bytes).map_err(RxDrop::Frame)?;
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
    fn release(&mut self) {
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
                self.classify(link, m);
            }
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
        let (Some(s), Some(addr), Some(&link)) = (
            self.slots.get_mut(i),
            self.addrs.get(ai),
            self.addr_link.get(ai),
        ) else {
            self.counters.tx_dropped += 1;
            return;
        };
        if s.forwarded {
            return;
        }
        let (Some(l), Some(tx), Some(src)) = (
            self.links.get(link),
            self.tx.get_mut(link),
            self.addr_eps.get(ai),
        ) else {
            self.counters.tx_dropped += 1;
            return;
        };
        let src = Endpoint {
            port: egress.port,
            ..*src
        };
        // SAFETY: as in `packet`; `&mut self` makes this the only access to the bytes.
        let bytes = unsafe { std::slice::from_raw_parts_mut(s.data, s.len) };
        match frame::rewrite_udp(bytes, &s.frame, addr.mac, l.next_hop_mac, &src, &dst) {
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
