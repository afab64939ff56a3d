//! The receive side of [`DpdkIo`]: burst receive on every port, then the classification of
//! each frame: relayed UDP is kept in a [`Slot`] for the relay, frames of another worker's
//! relay port are handed to it, ARP / neighbour discovery / echo go to `local.rs`, what the
//! host wants to its exception interface (`host.rs`), and the rest is dropped by reason.

use super::drops::RxDrop;
use super::io::{ms_of_tsc, DpdkIo, LinkRx, Shape, Slot};
use super::mbuf::{Mbuf, RxFlags};
use crate::PortKey;
use wire::frame::{self, FrameError};

impl DpdkIo {
    /// One receive: releases what the last burst left, reads the clock and the other workers'
    /// neighbour notes, polls every port, exchanges hand-off and exception frames. Returns the
    /// frames kept for the relay.
    pub(super) fn receive(&mut self) -> usize {
        if !self.rx.slots.is_empty() || self.tx.link.iter().any(|t| !t.is_empty()) {
            self.release();
        }
        self.neigh.now_ms = ms_of_tsc(super::rdtsc(), self.neigh.ms_per_tsc_q64);
        self.take_notes();
        if std::mem::take(&mut self.neigh.announce) {
            self.announce_all();
        }
        for link in 0..self.ports.ids.len() {
            self.receive_link(link);
        }
        if self.handoff.is_some() {
            self.hand_off();
            self.take_handed();
        }
        self.exchange_host();
        self.rx.slots.len()
    }

    /// Receives a burst from this worker's queue of link `link` and classifies it.
    #[inline]
    fn receive_link(&mut self, link: usize) {
        let port = self.ports.ids[link];
        let room = u16::try_from(self.rx.size).unwrap_or(u16::MAX);
        // SAFETY: `raw` has `size` entries; the driver writes at most `room` (= size) owned
        // mbufs there. This worker alone polls queue `queue` of the port (contract of `new`),
        // which stays started while the `Arc<EthPort>` in `links` lives.
        let n = usize::from(unsafe {
            dpdk_sys::fv_rx_burst(port, self.ports.queue, self.rx.raw.as_mut_ptr(), room)
        });
        self.stats.io.rx += n as u64;
        self.prefetch_burst(n);
        for j in 0..n {
            // SAFETY: entry `j < n` was just written by the driver: a valid mbuf that is now
            // ours, taken here once.
            let m = unsafe { Mbuf::from_raw(self.rx.raw[j]) };
            self.classify(link, m, true);
        }
    }

    /// Checks and parses received frame `m` from link `link`; keeps it, answers it (ARP, ND,
    /// echo), hands it to its owner (when `steer`) or queues it for freeing.
    #[inline]
    fn classify(&mut self, link: usize, m: Mbuf, steer: bool) {
        let (data, len) = (m.data_ptr(), m.data_len());
        let off = (data as usize).wrapping_sub(m.as_ptr() as usize);
        if off < usize::from(u16::MAX) {
            self.rx.data_guess = off;
        }
        // The fast path only says yes; the checks give the reason of any refusal.
        match self.fast_check(link, &m, data, len) {
            Some((key, shape)) => self.take(link, m, data, key, shape, steer),
            None => self.classify_checked(link, m, data, len, steer),
        }
    }

    /// Keeps relay frame `m` (its data at `data`) for relay port `key`, or hands it to the
    /// worker owning that port (when `steer`).
    #[inline(always)]
    fn take(&mut self, link: usize, m: Mbuf, data: *mut u8, key: PortKey, f: Shape, steer: bool) {
        if steer {
            if let Some(w) = self.steered_away(key) {
                return self.hand_to(w, link, m);
            }
        }
        self.keep(Slot::new(m, data, key, f));
    }

    /// [`Self::classify`] of a frame the fast path did not take, by the full checks.
    #[inline(never)]
    fn classify_checked(&mut self, link: usize, m: Mbuf, data: *mut u8, len: usize, steer: bool) {
        match self.check(link, &m, data, len) {
            Ok((key, shape)) => self.take(link, m, data, key, shape, steer),
            Err(r @ RxDrop::Frame(FrameError::NotIp | FrameError::NotUdp)) => {
                if let Some(m) = self.local(link, m) {
                    self.host_or_drop(link, m, r);
                }
            }
            // Valid frames the fast path does not relay: the host's (SIP over UDP, fragments
            // of large SIP messages...) when not for a relay address.
            Err(
                r @ (RxDrop::UnknownAddress
                | RxDrop::Frame(
                    FrameError::Fragment | FrameError::IpOptions | FrameError::Ipv6ExtHeader,
                )),
            ) => self.host_or_drop(link, m, r),
            Err(r) => self.drop_frame(m, r),
        }
    }

    /// The receive checks of [`Self::check`] for the common shape (untagged Ethernet, IPv4
    /// without options, UDP, on an untagged link) by the fixed-header fast path
    /// ([`frame::parse_udp4_fixed`]): `Some` only for a frame every check keeps, `None` for
    /// anything else (then [`Self::check`] decides, and names the reason of a drop).
    #[inline(always)]
    fn fast_check(
        &self,
        link: usize,
        m: &Mbuf,
        data: *mut u8,
        len: usize,
    ) -> Option<(PortKey, Shape)> {
        let flags = m.rx_flags();
        if m.segments() != 1 || flags.ip_checksum_bad() || flags.l4_checksum_bad() {
            return None;
        }
        let lr = self.ports.rx.get(link).filter(|lr| lr.vlan.is_none())?;
        // SAFETY: `m`'s first segment holds `len` initialised bytes at `data`, owned by `m`,
        // which outlives the borrow (it is only read here).
        let bytes = unsafe { std::slice::from_raw_parts(data, len) };
        // The NIC's IPv4 header checksum verdict stands for the software check (offload).
        let x = frame::parse_udp4_fixed(bytes, flags.ip_checksum_good())?;
        let addr = self.addrs.on_link_v4(link, x.dst)?;
        if self.verify_udp(lr, flags)
            && frame::udp4_fixed_checksum_present(bytes)
            && !frame::verify_udp4_fixed_checksum(bytes, &x)
        {
            return None;
        }
        let key = PortKey {
            addr,
            port: x.dst_port,
        };
        Some((key, Shape::v4(x.payload_len)))
    }

    /// The checks of a received frame (`len` bytes at `data`, its first segment): one segment,
    /// the NIC's checksum verdicts, then the frame itself ([`Self::parse`]).
    #[inline]
    fn check(
        &self,
        link: usize,
        m: &Mbuf,
        data: *mut u8,
        len: usize,
    ) -> Result<(PortKey, Shape), RxDrop> {
        let flags = m.rx_flags();
        if m.segments() != 1 {
            Err(RxDrop::MultiSegment)
        } else if flags.ip_checksum_bad() {
            Err(RxDrop::IpChecksum)
        } else if flags.l4_checksum_bad() {
            Err(RxDrop::UdpChecksum)
        } else {
            // SAFETY: `m`'s first segment holds `len` initialised bytes at `data`, owned by `m`,
            // which outlives the borrow (it is only read here).
            let bytes = unsafe { std::slice::from_raw_parts(data, len) };
            self.parse(link, bytes, flags)
        }
    }

    /// Parses a UDP frame for a relay address of link `link` (on the link's VLAN) and checks
    /// its UDP checksum unless the NIC did ([`frame::parse_udp_offload`], every shape).
    fn parse(&self, link: usize, bytes: &[u8], flags: RxFlags) -> Result<(PortKey, Shape), RxDrop> {
        // The NIC's IPv4 header checksum verdict stands for the software check (offload).
        let f = frame::parse_udp_offload(bytes, flags.ip_checksum_good()).map_err(RxDrop::Frame)?;
        let Some(lr) = self.ports.rx.get(link) else {
            return Err(RxDrop::UnknownAddress);
        };
        if lr.vlan != f.vlan {
            return Err(RxDrop::WrongVlan);
        }
        let addr = (self.addrs.on_link(link, &f.dst.ip)).ok_or(RxDrop::UnknownAddress)?;
        if self.verify_udp(lr, flags)
            && frame::udp_checksum_present(bytes, &f)
            && !frame::verify_udp_checksum(bytes, &f)
        {
            return Err(RxDrop::UdpChecksum);
        }
        let key = PortKey {
            addr,
            port: f.dst.port,
        };
        Ok((key, Shape::of(&f)))
    }

    /// The UDP checksum of a frame from link `lr` is verified in software: asked for, and the
    /// NIC has not verified it.
    #[inline(always)]
    fn verify_udp(&self, lr: &LinkRx, flags: RxFlags) -> bool {
        self.rx.verify_udp && !(lr.nic_l4 && flags.l4_checksum_good())
    }

    /// Keeps frame `s` for the relay: written in place while the burst's slot array has room
    /// (it is sized for a full burst from every link), pushed otherwise.
    #[inline(always)]
    fn keep(&mut self, s: Slot) {
        let slots = &mut self.rx.slots;
        let len = slots.len();
        if len < slots.capacity() {
            // SAFETY: entry `len` is within the capacity and not initialised; it is written
            // once, then counted by `set_len` (nothing can panic in between).
            unsafe {
                slots.as_mut_ptr().add(len).write(s);
                slots.set_len(len + 1);
            }
        } else {
            slots.push(s);
        }
    }

    /// The other worker owning relay port `key`, when there is hand-off and it is not this
    /// worker.
    #[inline]
    fn steered_away(&self, key: PortKey) -> Option<usize> {
        let h = self.handoff.as_ref()?;
        (h.owner)(key).filter(|&w| w != h.me && w < self.tx.handoff.len())
    }

    /// Queues relay frame `m` from link `link` for worker `w`'s inbox.
    fn hand_to(&mut self, w: usize, link: usize, mut m: Mbuf) {
        match (self.tx.handoff.get_mut(w), self.ports.ids.get(link)) {
            (Some(out), Some(&port)) => {
                // The owner finds the link by this field (not every driver fills it in).
                m.set_port(port);
                out.push(m);
            }
            _ => self.drop_frame(m, RxDrop::UnknownAddress),
        }
    }

    /// Counts a receive drop and queues the frame for freeing.
    #[inline]
    pub(super) fn drop_frame(&mut self, m: Mbuf, r: RxDrop) {
        self.stats.drops.count(r);
        self.stats.io.rx_invalid += 1;
        self.tx.free.push(m);
    }

    /// Hands the frames collected for other workers to their inboxes.
    fn hand_off(&mut self) {
        let Some(h) = &self.handoff else { return };
        for (w, out) in self.tx.handoff.iter_mut().enumerate() {
            if out.is_empty() {
                continue;
            }
            let total = out.len();
            let enqueue = |raw: &mut [*mut dpdk_sys::rte_mbuf]| {
                h.outboxes.get(w).map_or(0, |o| o.enqueue(raw))
            };
            // SAFETY: `enqueue` returns how many leading mbufs the ring took (their ownership
            // passed to the owning worker), no more than it was given.
            let sent = unsafe { out.hand_over(1, &mut self.tx.free, enqueue) };
            self.stats.l2.handed_off += sent as u64;
            self.stats.l2.handoff_dropped += (total - sent) as u64;
        }
    }

    /// Takes the frames other workers handed to this one.
    fn take_handed(&mut self) {
        let Some(h) = &mut self.handoff else { return };
        let n = h.inbox.dequeue(&mut self.rx.raw);
        self.stats.l2.handoff_received += n as u64;
        self.prefetch_burst(n);
        for j in 0..n {
            // SAFETY: entry `j < n` was just dequeued: a valid mbuf another worker handed
            // over, now ours, taken here once.
            let m = unsafe { Mbuf::from_raw(self.rx.raw[j]) };
            // `port` is the input port the driver (or the handing worker) recorded.
            match self.ports.ids.iter().position(|&p| p == m.port()) {
                Some(link) => self.classify(link, m, false),
                None => self.drop_frame(m, RxDrop::UnknownAddress),
            }
        }
    }

    /// Prefetches the headers of received mbufs `0..n` and, at the guessed offset, their first
    /// data line for writing (it is parsed, then rewritten in place): every miss of the burst
    /// is in flight at once instead of one after the other, and a data line last written by
    /// another core (or the NIC) arrives writable in one transfer.
    #[inline(always)]
    fn prefetch_burst(&self, n: usize) {
        for &m in self.rx.raw.iter().take(n) {
            let p = m.cast_const().cast::<u8>();
            crate::prefetch::prefetch_ptr(p);
            crate::prefetch::prefetch_write_ptr(p.wrapping_add(self.rx.data_guess));
        }
    }
}
