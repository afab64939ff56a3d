//! Mbuf ownership in types: [`Mbuf`] owns one `rte_mbuf` (freed when dropped, given up with
//! [`Mbuf::into_raw`]), [`MbufVec`] a list of them freed in bulk, [`RxFlags`] the receive
//! offload flags the driver set on one.
//!
//! DPDK's burst calls take and give arrays of `*mut rte_mbuf`. `Mbuf` has the layout of that
//! pointer, so a list of owners is handed to a burst call as it is, without copying, and the
//! entries the driver took are forgotten by count ([`MbufVec::hand_over`]).

use super::Mempool;
use dpdk_sys::rte_mbuf;
use std::ptr::NonNull;

/// One packet buffer owned by this process: valid, single owner. Dropping it frees it
/// (`rte_pktmbuf_free`); the fast path frees in bulk through [`MbufVec`] instead.
#[derive(Debug)]
#[repr(transparent)]
pub struct Mbuf(NonNull<rte_mbuf>);

// SAFETY: an `Mbuf` is the only handle to its buffer; DPDK lets an mbuf be used and freed from
// any thread (its pool is thread-safe), one at a time, which the single owner guarantees.
unsafe impl Send for Mbuf {}

impl Mbuf {
    /// Takes ownership of `m`, an mbuf a driver or ring has just handed over.
    ///
    /// # Safety
    ///
    /// `m` is a valid, non-null mbuf that nothing else owns or will free.
    #[inline(always)]
    pub unsafe fn from_raw(m: *mut rte_mbuf) -> Self {
        // SAFETY: non-null by the caller's contract.
        Self(unsafe { NonNull::new_unchecked(m) })
    }

    /// Gives up ownership: the caller (a transmit or enqueue call) now owns the mbuf.
    #[inline(always)]
    pub fn into_raw(self) -> *mut rte_mbuf {
        let m = self.0.as_ptr();
        std::mem::forget(self);
        m
    }

    /// A fresh single-segment mbuf of `pool`, empty; `None` when the pool has none.
    pub fn alloc(pool: &Mempool) -> Option<Self> {
        // SAFETY: a valid pool (borrowed for the call); a non-null result is a new mbuf that
        // nobody else owns.
        let m = unsafe { dpdk_sys::fv_pktmbuf_alloc(pool.as_ptr()) };
        NonNull::new(m).map(Self)
    }

    /// The raw pointer, still owned by `self` (for prefetching and address arithmetic).
    #[inline(always)]
    pub fn as_ptr(&self) -> *mut rte_mbuf {
        self.0.as_ptr()
    }

    /// The mbuf header.
    #[inline(always)]
    pub fn header(&self) -> &rte_mbuf {
        // SAFETY: a valid mbuf, owned by `self`, borrowed for as long as `self` is.
        unsafe { self.0.as_ref() }
    }

    #[inline(always)]
    fn header_mut(&mut self) -> &mut rte_mbuf {
        // SAFETY: as in `header`; `&mut self` makes the access exclusive.
        unsafe { self.0.as_mut() }
    }

    /// The first data byte of the first segment.
    #[inline(always)]
    pub fn data_ptr(&self) -> *mut u8 {
        let h = self.header();
        // SAFETY: `data_off` lies inside the buffer at `buf_addr` (an mbuf invariant).
        unsafe { h.buf_addr.cast::<u8>().add(usize::from(h.data_off)) }
    }

    /// Bytes of data in the first segment.
    #[inline(always)]
    pub fn data_len(&self) -> usize {
        usize::from(self.header().data_len)
    }

    /// The frame bytes of the first segment.
    pub fn data(&self) -> &[u8] {
        // SAFETY: the first segment holds `data_len` initialised bytes from `data_ptr`,
        // owned by `self` and borrowed for as long as it is.
        unsafe { std::slice::from_raw_parts(self.data_ptr(), self.data_len()) }
    }

    /// The frame bytes of the first segment, writable.
    pub fn data_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `data`; `&mut self` makes the access exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.data_ptr(), self.data_len()) }
    }

    /// Segments in the chain (1 for every frame the relay handles).
    #[inline(always)]
    pub fn segments(&self) -> u16 {
        self.header().nb_segs
    }

    /// The receive offload flags.
    #[inline(always)]
    pub fn rx_flags(&self) -> RxFlags {
        RxFlags(self.header().ol_flags)
    }

    /// The input port the driver recorded.
    #[inline]
    pub fn port(&self) -> u16 {
        self.header().port
    }

    /// Records `port` as the input port (not every driver fills it in).
    #[inline]
    pub fn set_port(&mut self, port: u16) {
        self.header_mut().port = port;
    }

    /// Grows the data of an empty single-segment mbuf (a fresh one) to `len` bytes and
    /// returns them (stale contents: a previous frame's bytes); `None` when they do not fit.
    pub fn append(&mut self, len: u16) -> Option<&mut [u8]> {
        // SAFETY: an owned mbuf; append grows the last segment within its buffer or returns
        // NULL and changes nothing.
        let p = unsafe { dpdk_sys::fv_pktmbuf_append(self.as_ptr(), len) };
        if p.is_null() {
            return None;
        }
        // SAFETY: `len` bytes of the buffer at `p` now belong to the data, initialised memory
        // of the pool, and are borrowed with `self`.
        Some(unsafe { std::slice::from_raw_parts_mut(p.cast::<u8>(), usize::from(len)) })
    }

    /// Shortens a single-segment frame to `len` bytes (no-op when it is not longer).
    pub fn truncate(&mut self, len: u16) {
        let h = self.header_mut();
        if len < h.data_len && h.nb_segs == 1 {
            h.data_len = len;
            h.pkt_len = u32::from(len);
        }
    }

    /// Moves the start of a single-segment frame by `d` bytes (negative: into the headroom),
    /// keeping its end; false (nothing changed) when the headroom or the frame is too short.
    pub fn move_start(&mut self, d: i16) -> bool {
        let h = self.header_mut();
        let (Some(off), Some(len)) = (
            h.data_off.checked_add_signed(d),
            h.data_len.checked_add_signed(-d),
        ) else {
            return false;
        };
        h.data_off = off;
        h.data_len = len;
        h.pkt_len = h.pkt_len.wrapping_add_signed(-i32::from(d));
        true
    }
}

impl Drop for Mbuf {
    fn drop(&mut self) {
        // SAFETY: owned, valid, freed once (the owner is going away).
        unsafe { dpdk_sys::fv_pktmbuf_free(self.0.as_ptr()) };
    }
}

/// A list of owned mbufs, freed in one bulk call ([`MbufVec::free_all`], or when dropped).
#[derive(Debug, Default)]
pub struct MbufVec(Vec<Mbuf>);

impl MbufVec {
    /// An empty list with room for `n` mbufs.
    pub fn with_capacity(n: usize) -> Self {
        Self(Vec::with_capacity(n))
    }

    /// Mbufs held.
    #[inline(always)]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when empty.
    #[inline(always)]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Adds `m` at the end.
    #[inline(always)]
    pub fn push(&mut self, m: Mbuf) {
        self.0.push(m);
    }

    /// Moves every mbuf of `other` to the end of this list.
    #[inline]
    pub fn append(&mut self, other: &mut MbufVec) {
        self.0.append(&mut other.0);
    }

    /// Frees every mbuf held (one `rte_pktmbuf_free_bulk`).
    #[inline]
    pub fn free_all(&mut self) {
        if self.0.is_empty() {
            return;
        }
        let n = u32::try_from(self.0.len()).unwrap_or(u32::MAX);
        // SAFETY: `Mbuf` is a transparent owned `*mut rte_mbuf`, so the list is an array of
        // `n` valid mbufs owned here, each listed once. They are freed once, then forgotten
        // (length 0) without running their own drop.
        unsafe {
            dpdk_sys::rte_pktmbuf_free_bulk(self.0.as_mut_ptr().cast::<*mut rte_mbuf>(), n);
            self.0.set_len(0);
        }
    }

    /// Hands the list to `take` (a burst transmit or enqueue), up to `tries` times while it
    /// takes some; moves what it left to `rest` and returns how many it took. The list is empty
    /// afterwards.
    ///
    /// # Safety
    ///
    /// `take` receives the remaining mbufs as raw pointers and returns `k`, not more than it
    /// was given, having taken ownership of the first `k` of them and of no other.
    #[inline]
    pub unsafe fn hand_over(
        &mut self,
        tries: usize,
        rest: &mut MbufVec,
        mut take: impl FnMut(&mut [*mut rte_mbuf]) -> usize,
    ) -> usize {
        let mut off = 0;
        for _ in 0..tries {
            let left = self.0.len() - off;
            if left == 0 {
                break;
            }
            // SAFETY: entries `off..` are owned `Mbuf`s, laid out as `*mut rte_mbuf`; the slice
            // borrows them for the call only.
            let raw = unsafe {
                std::slice::from_raw_parts_mut(
                    self.0.as_mut_ptr().add(off).cast::<*mut rte_mbuf>(),
                    left,
                )
            };
            let took = take(raw).min(left);
            off += took;
            if took == 0 {
                break;
            }
        }
        rest.0.extend(self.0.drain(off..));
        // SAFETY: the first `off` entries belong to the callee now (the caller's contract):
        // forgotten, not dropped.
        unsafe { self.0.set_len(0) };
        off
    }
}

impl Drop for MbufVec {
    fn drop(&mut self) {
        self.free_all();
    }
}

/// The receive offload flags of a frame (`ol_flags` as the driver set them; DPDK's
/// `RTE_MBUF_F_RX_*`). A checksum field is two bits: unknown, bad, good, or none (not checked,
/// valid on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RxFlags(pub u64);

impl RxFlags {
    /// The NIC found the IPv4 header checksum wrong.
    #[inline(always)]
    pub fn ip_checksum_bad(self) -> bool {
        self.0 & dpdk_sys::RTE_MBUF_F_RX_IP_CKSUM_MASK == dpdk_sys::RTE_MBUF_F_RX_IP_CKSUM_BAD
    }

    /// The NIC verified the IPv4 header checksum.
    #[inline(always)]
    pub fn ip_checksum_good(self) -> bool {
        self.0 & dpdk_sys::RTE_MBUF_F_RX_IP_CKSUM_MASK == dpdk_sys::RTE_MBUF_F_RX_IP_CKSUM_GOOD
    }

    /// The NIC found the L4 (UDP) checksum wrong.
    #[inline(always)]
    pub fn l4_checksum_bad(self) -> bool {
        self.0 & dpdk_sys::RTE_MBUF_F_RX_L4_CKSUM_MASK == dpdk_sys::RTE_MBUF_F_RX_L4_CKSUM_BAD
    }

    /// The NIC verified the L4 (UDP) checksum.
    #[inline(always)]
    pub fn l4_checksum_good(self) -> bool {
        self.0 & dpdk_sys::RTE_MBUF_F_RX_L4_CKSUM_MASK == dpdk_sys::RTE_MBUF_F_RX_L4_CKSUM_GOOD
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dpdk_sys::*;

    #[test]
    fn checksum_states_read_as_dpdk_defines_them() {
        let none = RxFlags(0);
        assert!(!none.ip_checksum_bad() && !none.l4_checksum_bad() && !none.l4_checksum_good());
        let bad = RxFlags(RTE_MBUF_F_RX_IP_CKSUM_BAD | RTE_MBUF_F_RX_L4_CKSUM_BAD);
        assert!(bad.ip_checksum_bad() && bad.l4_checksum_bad() && !bad.l4_checksum_good());
        let good = RxFlags(RTE_MBUF_F_RX_IP_CKSUM_GOOD | RTE_MBUF_F_RX_L4_CKSUM_GOOD);
        assert!(!good.ip_checksum_bad() && !good.l4_checksum_bad() && good.l4_checksum_good());
        assert!(good.ip_checksum_good() && !bad.ip_checksum_good() && !none.ip_checksum_good());
        // "None" sets both bits of the field: neither bad nor verified.
        let unchecked = RxFlags(RTE_MBUF_F_RX_IP_CKSUM_NONE | RTE_MBUF_F_RX_L4_CKSUM_NONE);
        assert!(!unchecked.ip_checksum_bad() && !unchecked.ip_checksum_good());
        assert!(!unchecked.l4_checksum_bad() && !unchecked.l4_checksum_good());
        // Other flags do not change the checksum reading.
        let vlan =
            RxFlags(RTE_MBUF_F_RX_VLAN | RTE_MBUF_F_RX_VLAN_STRIPPED | RTE_MBUF_F_RX_L4_CKSUM_GOOD);
        assert!(vlan.l4_checksum_good() && !vlan.ip_checksum_bad());
    }

    #[test]
    fn an_owner_is_one_pointer() {
        assert_eq!(
            std::mem::size_of::<Mbuf>(),
            std::mem::size_of::<*mut rte_mbuf>()
        );
        assert_eq!(
            std::mem::size_of::<Option<Mbuf>>(),
            std::mem::size_of::<*mut rte_mbuf>()
        );
        assert_eq!(
            std::mem::align_of::<Mbuf>(),
            std::mem::align_of::<*mut rte_mbuf>()
        );
    }
}
