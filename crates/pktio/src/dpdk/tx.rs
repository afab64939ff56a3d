//! The transmit side of [`DpdkIo`]: `forward` rewrites a kept frame in place (retagging it for
//! the egress link's VLAN when needed) and moves its [`Mbuf`] from the slot to the egress
//! link's queue; `flush` transmits each queue in bursts and frees everything else in bulk.

use super::io::{DpdkIo, Egress, Slot};
use super::mbuf::{Mbuf, MbufVec};
use crate::PortKey;
use wire::frame;
use wire::Endpoint;

/// Transmit calls per queue and flush: a full TX ring takes part of a burst, so the rest is
/// offered again a bounded number of times, then dropped (counted) rather than stall the
/// worker.
const TX_TRIES: usize = 4;

impl DpdkIo {
    /// Rewrites kept frame `i` to leave relay port `egress` toward `dst` and queues it on the
    /// egress link; counts a drop when it cannot (unknown address, next hop not resolved, no
    /// headroom for a VLAN tag, a frame the rewrite refuses).
    #[inline(always)]
    pub(super) fn forward_slot(&mut self, i: usize, egress: PortKey, dst: Endpoint) {
        let ai = usize::from(egress.addr);
        let Some(e) = self.addrs.egress.get(ai) else {
            self.stats.io.tx_dropped += 1;
            return;
        };
        let Some(dst_mac) = e.next_hop_mac else {
            return self.forward_resolved(i, ai, egress, dst);
        };
        let (Some(s), Some(tx)) = (self.rx.slots.get_mut(i), self.tx.link.get_mut(e.link)) else {
            self.stats.io.tx_dropped += 1;
            return;
        };
        if !put(s, tx, e, dst_mac, egress.port, &dst) {
            self.stats.io.tx_dropped += 1;
        }
    }

    /// [`Self::forward_slot`] toward a next hop resolved by ARP / neighbour discovery.
    #[inline(never)]
    fn forward_resolved(&mut self, i: usize, ai: usize, egress: PortKey, dst: Endpoint) {
        let Some(link) = self.addrs.egress.get(ai).map(|e| e.link) else {
            return;
        };
        // Forwarded already (a transmit queue has it): nothing to resolve.
        if self.rx.slots.get(i).is_none_or(|s| s.mbuf.is_none()) {
            return;
        }
        let Some(dst_mac) = self.next_hop(link, ai, &dst.ip) else {
            self.stats.io.tx_dropped += 1;
            return;
        };
        let (Some(e), Some(s), Some(tx)) = (
            self.addrs.egress.get(ai),
            self.rx.slots.get_mut(i),
            self.tx.link.get_mut(link),
        ) else {
            self.stats.io.tx_dropped += 1;
            return;
        };
        if !put(s, tx, e, dst_mac, egress.port, &dst) {
            self.stats.io.tx_dropped += 1;
        }
    }

    /// Transmits every link's queue and frees the burst's other frames.
    pub(super) fn transmit(&mut self) {
        self.free_slots();
        let queue = self.ports.queue;
        for (tx, &port) in self.tx.link.iter_mut().zip(&self.ports.ids) {
            if tx.is_empty() {
                continue;
            }
            let total = tx.len();
            // SAFETY: this worker alone uses TX queue `queue` of the port (contract of `new`),
            // which stays started while the link holds its `Arc<EthPort>`.
            let sent = unsafe { tx_burst(port, queue, TX_TRIES, tx, &mut self.tx.free) };
            self.stats.io.tx += sent as u64;
            self.stats.io.tx_dropped += (total - sent) as u64;
        }
        self.tx.free.free_all();
    }

    /// Moves the frames of the burst's slots that were not forwarded to the free list.
    fn free_slots(&mut self) {
        for s in self.rx.slots.drain(..) {
            if let Some(m) = s.mbuf {
                self.tx.free.push(m);
            }
        }
    }

    /// Frees what the previous burst still holds (a burst left without `flush`).
    pub(super) fn release(&mut self) {
        self.free_slots();
        for t in &mut self.tx.link {
            self.tx.free.append(t);
        }
        self.tx.free.free_all();
    }

    /// Queues `m` for transmission on link `link` (frames this backend answers or builds).
    #[inline]
    pub(super) fn send_local(&mut self, link: usize, m: Mbuf) {
        match self.tx.link.get_mut(link) {
            Some(t) => t.push(m),
            None => self.tx.free.push(m),
        }
    }

    /// Queues `m` for freeing at the end of the burst.
    #[inline]
    pub(super) fn free_later(&mut self, m: Mbuf) {
        self.tx.free.push(m);
    }
}

/// Transmits the frames of `q` on TX queue `queue` of `port`, offering what the queue did not
/// take up to `tries` times; moves what is left to `rest` and returns how many were sent.
///
/// # Safety
///
/// The port is started and the caller alone uses that queue (DPDK queues are not thread-safe).
pub(super) unsafe fn tx_burst(
    port: u16,
    queue: u16,
    tries: usize,
    q: &mut MbufVec,
    rest: &mut MbufVec,
) -> usize {
    let burst = |raw: &mut [*mut dpdk_sys::rte_mbuf]| {
        let n = u16::try_from(raw.len()).unwrap_or(u16::MAX);
        // SAFETY: `raw` holds `n` or more owned mbufs; the driver takes ownership of the first
        // `sent` (at most `n`); the queue is the caller's alone (this function's contract).
        usize::from(unsafe { dpdk_sys::fv_tx_burst(port, queue, raw.as_mut_ptr(), n) })
    };
    // SAFETY: `burst` returns how many leading mbufs the driver took.
    unsafe { q.hand_over(tries, rest, burst) }
}

/// Rewrites kept frame `s` to leave from relay address `e`, port `port`, toward `dst` (next
/// hop `dst_mac`) and moves its mbuf to transmit queue `tx`. True when queued or forwarded
/// already; false (a drop, the slot keeps the frame until the flush) when the tag cannot be
/// moved or the rewrite refuses.
#[inline(always)]
fn put(
    s: &mut Slot,
    tx: &mut MbufVec,
    e: &Egress,
    dst_mac: [u8; 6],
    port: u16,
    dst: &Endpoint,
) -> bool {
    // Forwarded already (a transmit queue has it).
    let Some(mut m) = s.mbuf.take() else {
        return true;
    };
    let done =
        (s.vlan == e.vlan || retag(s, &mut m, e.vlan)) && rewrite(s, e, dst_mac, port, dst).is_ok();
    if done {
        tx.push(m);
    } else {
        s.mbuf = Some(m);
    }
    done
}

/// Rewrites kept frame `s` in place ([`frame::rewrite_udp`]) over its headers split without
/// checking again: the receive checks made sure they are there.
#[inline(always)]
fn rewrite(
    s: &mut Slot,
    e: &Egress,
    dst_mac: [u8; 6],
    port: u16,
    dst: &Endpoint,
) -> Result<(), frame::FrameError> {
    let (l3, l4) = (usize::from(s.l3), s.l4());
    // SAFETY: the frame at `data` holds its Ethernet header (12 MAC bytes first), the IP
    // header at `l3` (20 bytes for IPv4 without options, 40 for IPv6) and the UDP header at
    // `l4` (the invariant of `Slot`, checked on receipt and kept by `retag`). The three ranges
    // are disjoint (12 <= l3, l3 + IP header = l4); byte arrays need no alignment. The slot's
    // mbuf is owned by this backend and `&mut Slot` is the only access to its bytes now.
    unsafe {
        let eth = &mut *s.data.cast::<[u8; 12]>();
        let udp = &mut *s.data.add(l4).cast::<[u8; frame::UDP_HEADER_LEN]>();
        if s.v6 {
            let ip = &mut *s.data.add(l3).cast::<[u8; frame::IPV6_HEADER_LEN]>();
            let src = Endpoint { ip: e.ip, port };
            frame::rewrite_udp_v6(eth, ip, udp, e.mac, dst_mac, &src, dst)
        } else {
            // The family check of `rewrite_udp_v4` on addresses already in IPv4 form.
            let (Some(src), Some(to)) = (e.ip4, dst.v4()) else {
                return Err(frame::FrameError::FamilyMismatch);
            };
            let ip = &mut *s.data.add(l3).cast::<[u8; frame::IPV4_HEADER_LEN]>();
            let (from, to) = ((src, port), (to, dst.port));
            frame::rewrite_udp_v4_addrs(eth, ip, udp, e.mac, dst_mac, from, to);
            Ok(())
        }
    }
}

/// Moves the 802.1Q tag of kept frame `s` (whose mbuf is `m`) to `want`: rewrites the VLAN id,
/// inserts a tag into the headroom, or strips it; false (frame untouched) when there is no
/// headroom.
fn retag(s: &mut Slot, m: &mut Mbuf, want: Option<u16>) -> bool {
    const TAG: usize = wire::frame::VLAN_TAG_LEN;
    match (s.vlan, want) {
        (Some(_), Some(vid)) => {
            if let Some(tci) = m.data_mut().get_mut(14..16) {
                let pcp = tci[0] & 0xf0;
                let [hi, lo] = (vid & 0x0fff).to_be_bytes();
                tci.copy_from_slice(&[pcp | hi, lo]);
            }
        }
        (None, Some(vid)) => {
            if !m.move_start(-(TAG as i16)) {
                return false;
            }
            let b = m.data_mut();
            b.copy_within(TAG..TAG + 12, 0);
            let [t0, t1] = wire::frame::ETHERTYPE_VLAN.to_be_bytes();
            let [v0, v1] = (vid & 0x0fff).to_be_bytes();
            b[12..12 + TAG].copy_from_slice(&[t0, t1, v0, v1]);
            s.data = m.data_ptr();
            s.l3 += TAG as u8;
        }
        (Some(_), None) => {
            // A tagged frame has at least 18 bytes (parse checked the length).
            let b = m.data_mut();
            b.copy_within(0..12, TAG);
            m.move_start(TAG as i16);
            s.data = m.data_ptr();
            s.l3 -= TAG as u8;
        }
        (None, None) => {}
    }
    s.vlan = want;
    true
}
