//! The transmit side of [`DpdkIo`]: `forward` rewrites a kept frame in place (retagging it for
//! the egress link's VLAN when needed) and moves its [`Mbuf`] from the slot to the egress
//! link's queue; `flush` transmits each queue in bursts and frees everything else in bulk.

use super::io::{DpdkIo, Slot};
use super::mbuf::{Mbuf, MbufVec};
use crate::PortKey;
use wire::frame::{self, UdpFrame};
use wire::Endpoint;

/// Transmit calls per queue and flush: a full TX ring takes part of a burst, so the rest is
/// offered again a bounded number of times, then dropped (counted) rather than stall the
/// worker.
const TX_TRIES: usize = 4;

impl DpdkIo {
    /// Rewrites kept frame `i` to leave relay port `egress` toward `dst` and queues it on the
    /// egress link; counts a drop when it cannot (unknown address, next hop not resolved, no
    /// headroom for a VLAN tag, a frame the rewrite refuses).
    #[inline]
    pub(super) fn forward_slot(&mut self, i: usize, egress: PortKey, dst: Endpoint) {
        let ai = usize::from(egress.addr);
        let (Some(s), Some(&e)) = (self.rx.slots.get_mut(i), self.addrs.egress.get(ai)) else {
            self.stats.io.tx_dropped += 1;
            return;
        };
        // Forwarded already: a transmit queue has it.
        let Some(mut m) = s.mbuf.take() else { return };
        let dst_mac = match e.next_hop_mac {
            Some(mac) => mac,
            None => match self.next_hop(e.link, ai, &dst.ip) {
                Some(mac) => mac,
                None => return self.refuse(i, m),
            },
        };
        let (Some(s), Some(tx)) = (self.rx.slots.get_mut(i), self.tx.link.get_mut(e.link)) else {
            return self.refuse(i, m);
        };
        if s.frame.vlan != e.vlan && !retag(s, &mut m, e.vlan) {
            return self.refuse(i, m);
        }
        let src = Endpoint {
            ip: e.ip,
            port: egress.port,
        };
        // SAFETY: `len` initialised bytes at `data` belong to `m`, held here; `&mut self` makes
        // this the only access to them.
        let bytes = unsafe { std::slice::from_raw_parts_mut(s.data, s.len) };
        match frame::rewrite_udp(bytes, &s.frame, e.mac, dst_mac, &src, &dst) {
            Ok(()) => tx.push(m),
            Err(_) => self.refuse(i, m),
        }
    }

    /// Puts frame `m` back in slot `i` (not forwarded: freed at the flush) and counts the
    /// transmit drop.
    #[cold]
    fn refuse(&mut self, i: usize, m: Mbuf) {
        self.stats.io.tx_dropped += 1;
        match self.rx.slots.get_mut(i) {
            Some(s) => s.mbuf = Some(m),
            None => self.tx.free.push(m),
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

/// Moves the 802.1Q tag of kept frame `s` (whose mbuf is `m`) to `want`: rewrites the VLAN id,
/// inserts a tag into the headroom, or strips it; false (frame untouched) when there is no
/// headroom.
fn retag(s: &mut Slot, m: &mut Mbuf, want: Option<u16>) -> bool {
    const TAG: usize = wire::frame::VLAN_TAG_LEN;
    match (s.frame.vlan, want) {
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
            s.len += TAG;
            shift(&mut s.frame, TAG as isize);
        }
        (Some(_), None) => {
            // A tagged frame has at least 18 bytes (parse checked the length).
            let b = m.data_mut();
            b.copy_within(0..12, TAG);
            m.move_start(TAG as i16);
            s.data = m.data_ptr();
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
