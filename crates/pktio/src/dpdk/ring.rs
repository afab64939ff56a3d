//! `rte_ring`s, `net_ring` ports built from them, and [`MbufBurst`], an owned burst of mbufs for
//! tests, benchmarks and io-forward loops.
//!
//! A [`RingPort`] is an Ethernet port whose queue `q` receives what is enqueued on
//! `rx_ring(q)` and transmits onto `tx_ring(q)`: a test or a traffic generator plays the wire.

use super::{last_error, DpdkError, Eal, Mempool};
use std::ffi::{c_void, CString};
use std::ptr::NonNull;
use std::sync::Arc;

/// A single-producer/single-consumer `rte_ring` of mbuf pointers. Never freed: a ring handed
/// to a `net_ring` port must outlive the port, which DPDK keeps until the process ends.
#[derive(Debug)]
pub struct Ring {
    ptr: NonNull<dpdk_sys::rte_ring>,
    name: String,
}

// SAFETY: an rte_ring is shared memory designed for use across threads; with the SP/SC flags
// one thread may enqueue while another dequeues. A free-standing `Ring` enqueues and dequeues
// through `&mut self` only (one user). The rings of a `RingPort` are wrapped so that the user
// gets only the side the port does not use ([`RingIn`]: enqueue, [`RingOut`]: dequeue).
unsafe impl Send for Ring {}
// SAFETY: see Send; shared references only read the count.
unsafe impl Sync for Ring {}

impl Ring {
    /// Creates a ring of `size` slots (a power of two; it holds `size - 1`) on NUMA `socket`.
    pub fn new(eal: &Eal, name: &str, size: u32, socket: i32) -> Result<Self, DpdkError> {
        Self::with_flags(
            eal,
            name,
            size,
            socket,
            dpdk_sys::RING_F_SP_ENQ | dpdk_sys::RING_F_SC_DEQ,
        )
    }

    /// Creates a ring with DPDK ring `flags` (`RING_F_*`).
    pub(crate) fn with_flags(
        _eal: &Eal,
        name: &str,
        size: u32,
        socket: i32,
        flags: u32,
    ) -> Result<Self, DpdkError> {
        let c = CString::new(name).map_err(|_| DpdkError::BadName(name.into()))?;
        // SAFETY: the EAL is running; `c` is NUL-terminated; the result is checked.
        let p = unsafe { dpdk_sys::rte_ring_create(c.as_ptr(), size, socket, flags) };
        let ptr = NonNull::new(p).ok_or_else(|| DpdkError::Ring {
            name: name.into(),
            reason: last_error(),
        })?;
        Ok(Self {
            ptr,
            name: name.into(),
        })
    }

    /// The ring's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Entries in the ring now.
    pub fn count(&self) -> u32 {
        // SAFETY: a valid ring; a read of its indexes.
        unsafe { dpdk_sys::fv_ring_count(self.ptr.as_ptr()) }
    }

    /// Moves as many mbufs of `b` as fit onto the ring (from the front); returns how many.
    /// Those left in `b` are still owned by it.
    pub fn enqueue(&mut self, b: &mut MbufBurst) -> usize {
        let n = u32::try_from(b.len).unwrap_or(u32::MAX);
        // SAFETY: the first `b.len` entries are valid mbufs owned by `b`; the ring takes
        // ownership of the first `sent` of them, which are then removed from `b`.
        let sent = unsafe {
            dpdk_sys::fv_ring_enqueue_burst(
                self.ptr.as_ptr(),
                b.bufs.as_ptr().cast::<*mut c_void>(),
                n,
            )
        } as usize;
        b.consume_front(sent);
        sent
    }

    /// Moves up to the free room of `b` mbufs from the ring into `b`; returns how many.
    pub fn dequeue(&mut self, b: &mut MbufBurst) -> usize {
        let room = b.bufs.len() - b.len;
        let room = u32::try_from(room).unwrap_or(u32::MAX);
        // SAFETY: the slots from `b.len` on are free room in `b`'s array; the ring hands over
        // ownership of the mbufs it writes there (only mbufs are ever enqueued on our rings).
        let got = unsafe {
            dpdk_sys::fv_ring_dequeue_burst(
                self.ptr.as_ptr(),
                b.bufs.as_mut_ptr().add(b.len).cast::<*mut c_void>(),
                room,
            )
        } as usize;
        b.len += got;
        got
    }

    /// The raw ring.
    pub(crate) fn as_ptr(&self) -> *mut dpdk_sys::rte_ring {
        self.ptr.as_ptr()
    }
}

/// The producer side of the ring a `net_ring` queue receives from.
#[derive(Debug)]
pub struct RingIn(Ring);

impl RingIn {
    /// See [`Ring::enqueue`].
    pub fn enqueue(&mut self, b: &mut MbufBurst) -> usize {
        self.0.enqueue(b)
    }

    /// Entries waiting for the port.
    pub fn count(&self) -> u32 {
        self.0.count()
    }
}

/// The consumer side of the ring a `net_ring` queue transmits onto.
#[derive(Debug)]
pub struct RingOut(Ring);

impl RingOut {
    /// See [`Ring::dequeue`].
    pub fn dequeue(&mut self, b: &mut MbufBurst) -> usize {
        self.0.dequeue(b)
    }

    /// Entries the port has sent and nobody has taken yet.
    pub fn count(&self) -> u32 {
        self.0.count()
    }
}

/// A `net_ring` Ethernet port over one pair of rings per queue.
#[derive(Debug)]
pub struct RingPort {
    id: u16,
    rx: Vec<RingIn>,
    tx: Vec<RingOut>,
    pool: Arc<Mempool>,
}

impl RingPort {
    /// Creates port `name` with `queues` queue pairs over rings of `ring_size` slots; frames
    /// injected by [`RingPort::inject`] are built in mbufs of `pool`.
    pub fn create(
        eal: &Eal,
        name: &str,
        queues: u16,
        ring_size: u32,
        pool: Arc<Mempool>,
    ) -> Result<Self, DpdkError> {
        let q = queues.max(1);
        let mut rx = Vec::new();
        let mut tx = Vec::new();
        for i in 0..q {
            rx.push(Ring::new(eal, &format!("{name}_rx{i}"), ring_size, 0)?);
            tx.push(Ring::new(eal, &format!("{name}_tx{i}"), ring_size, 0)?);
        }
        let mut rxp: Vec<*mut dpdk_sys::rte_ring> = rx.iter().map(|r| r.ptr.as_ptr()).collect();
        let mut txp: Vec<*mut dpdk_sys::rte_ring> = tx.iter().map(|r| r.ptr.as_ptr()).collect();
        let (rx, tx) = (
            rx.into_iter().map(RingIn).collect(),
            tx.into_iter().map(RingOut).collect(),
        );
        let c = CString::new(name).map_err(|_| DpdkError::BadName(name.into()))?;
        // SAFETY: both arrays hold `q` valid rings that are never freed (see `Ring`); numa 0.
        let id = unsafe {
            dpdk_sys::rte_eth_from_rings(
                c.as_ptr(),
                rxp.as_mut_ptr(),
                u32::from(q),
                txp.as_mut_ptr(),
                u32::from(q),
                0,
            )
        };
        let id = u16::try_from(id).map_err(|_| DpdkError::Ring {
            name: name.into(),
            reason: format!("rte_eth_from_rings: {}", last_error()),
        })?;
        Ok(Self { id, rx, tx, pool })
    }

    /// The port id (start it with [`super::EthPort::start`]).
    pub fn port_id(&self) -> u16 {
        self.id
    }

    /// The ring queue `q` receives from (the test or generator enqueues here).
    pub fn rx_ring(&mut self, q: u16) -> Option<&mut RingIn> {
        self.rx.get_mut(usize::from(q))
    }

    /// The ring queue `q` transmits onto (the test or generator dequeues here).
    pub fn tx_ring(&mut self, q: u16) -> Option<&mut RingOut> {
        self.tx.get_mut(usize::from(q))
    }

    /// Copies `frame` into a fresh mbuf and queues it for reception on queue `q`; false if no
    /// mbuf, the frame does not fit one, or the ring is full.
    pub fn inject(&mut self, q: u16, frame: &[u8]) -> bool {
        let mut b = MbufBurst::new(1);
        if b.alloc(&self.pool, 1, frame.len()) != 1 {
            return false;
        }
        if let Some(d) = b.data_mut(0) {
            d.copy_from_slice(frame);
        }
        match self.rx.get_mut(usize::from(q)) {
            Some(r) => r.enqueue(&mut b) == 1,
            None => false,
        }
    }

    /// Takes every frame queue `q` has transmitted so far, as bytes.
    pub fn take_sent(&mut self, q: u16) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let Some(r) = self.tx.get_mut(usize::from(q)) else {
            return out;
        };
        let mut b = MbufBurst::new(64);
        while r.dequeue(&mut b) > 0 {
            out.extend((0..b.len()).filter_map(|i| b.data(i).map(<[u8]>::to_vec)));
            b.free_all();
        }
        out
    }
}

/// An owned burst of up to `capacity` mbufs; frees what it still holds when dropped.
#[derive(Debug)]
pub struct MbufBurst {
    bufs: Vec<*mut dpdk_sys::rte_mbuf>,
    len: usize,
}

// SAFETY: the burst owns its mbufs exclusively; mbufs may be used and freed from any thread
// (the mempool is thread-safe).
unsafe impl Send for MbufBurst {}

impl MbufBurst {
    /// An empty burst with room for `capacity` mbufs (at least 1).
    pub fn new(capacity: usize) -> Self {
        Self {
            bufs: vec![std::ptr::null_mut(); capacity.max(1)],
            len: 0,
        }
    }

    /// Mbufs held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Room left.
    pub fn room(&self) -> usize {
        self.bufs.len() - self.len
    }

    /// Allocates up to `n` mbufs (bounded by the room) from `pool`, each holding `frame_len`
    /// bytes (contents undefined until written); returns how many were added (0 if the pool
    /// cannot give them all, or `frame_len` does not fit an mbuf).
    pub fn alloc(&mut self, pool: &Mempool, n: usize, frame_len: usize) -> usize {
        let n = n.min(self.room());
        let Ok(len16) = u16::try_from(frame_len) else {
            return 0;
        };
        if n == 0 {
            return 0;
        }
        let start = self.len;
        let count = u32::try_from(n).unwrap_or(u32::MAX);
        // SAFETY: the array has `n` free slots from `start`; the call fills all or none.
        let rc = unsafe {
            dpdk_sys::fv_pktmbuf_alloc_bulk(pool.as_ptr(), self.bufs.as_mut_ptr().add(start), count)
        };
        if rc != 0 {
            return 0;
        }
        self.len += n;
        for i in start..self.len {
            let m = self.bufs[i];
            // SAFETY: `m` is a freshly allocated, reset, single-segment mbuf owned by us.
            let tail = unsafe { dpdk_sys::fv_pktmbuf_append(m, len16) };
            if tail.is_null() {
                // Does not fit: give back everything allocated by this call.
                self.truncate_to(start);
                return 0;
            }
        }
        n
    }

    fn truncate_to(&mut self, keep: usize) {
        if keep < self.len {
            let count = u32::try_from(self.len - keep).unwrap_or(u32::MAX);
            // SAFETY: entries keep..len are valid mbufs owned by this burst; freed once and
            // forgotten at once.
            unsafe { dpdk_sys::rte_pktmbuf_free_bulk(self.bufs.as_mut_ptr().add(keep), count) };
            self.len = keep;
        }
    }

    /// Frees every mbuf held.
    pub fn free_all(&mut self) {
        self.truncate_to(0);
    }

    /// Drops the first `n` entries from the burst (their ownership went elsewhere).
    fn consume_front(&mut self, n: usize) {
        let n = n.min(self.len);
        self.bufs.copy_within(n..self.len, 0);
        self.len -= n;
    }

    /// Moves up to `n` mbufs from the front of this burst to the back of `to` (bounded by its
    /// room); returns how many moved.
    pub fn move_front(&mut self, to: &mut MbufBurst, n: usize) -> usize {
        let n = n.min(self.len).min(to.room());
        to.bufs[to.len..to.len + n].copy_from_slice(&self.bufs[..n]);
        to.len += n;
        self.consume_front(n);
        n
    }

    /// Receives up to the room from queue `q` of port `port`; returns how many arrived.
    pub fn rx(&mut self, port: u16, q: u16) -> usize {
        let room = u16::try_from(self.room()).unwrap_or(u16::MAX);
        // SAFETY: the slots from `len` on are free; the driver writes at most `room` owned mbufs
        // there. The caller polls a queue of a started port it alone uses (DPDK's rule for
        // lock-free queues); an invalid port or queue returns 0.
        let got =
            unsafe { dpdk_sys::fv_rx_burst(port, q, self.bufs.as_mut_ptr().add(self.len), room) }
                as usize;
        self.len += got;
        got
    }

    /// Transmits everything held on queue `q` of `port`; frees what the queue did not take.
    /// Returns (sent, dropped).
    pub fn tx(&mut self, port: u16, q: u16) -> (usize, usize) {
        let n = u16::try_from(self.len).unwrap_or(u16::MAX);
        // SAFETY: the first `n` entries are owned mbufs; the driver takes ownership of the
        // first `sent`; the caller alone uses this TX queue.
        let sent = unsafe { dpdk_sys::fv_tx_burst(port, q, self.bufs.as_mut_ptr(), n) } as usize;
        self.consume_front(sent);
        let dropped = self.len;
        self.free_all();
        (sent, dropped)
    }

    /// The frame bytes of mbuf `i` (first segment).
    pub fn data(&self, i: usize) -> Option<&[u8]> {
        if i >= self.len {
            return None;
        }
        let m = self.bufs[i];
        // SAFETY: `m` is a valid mbuf owned by this burst; its first segment holds `data_len`
        // initialised bytes from the data pointer, borrowed for as long as `self` is.
        unsafe {
            let len = usize::from((*m).data_len);
            let p = dpdk_sys::fv_pktmbuf_mtod(m).cast::<u8>();
            Some(std::slice::from_raw_parts(p, len))
        }
    }

    /// The frame bytes of mbuf `i` (first segment), writable.
    pub fn data_mut(&mut self, i: usize) -> Option<&mut [u8]> {
        if i >= self.len {
            return None;
        }
        let m = self.bufs[i];
        // SAFETY: as in `data`, and `&mut self` makes the access exclusive. A fresh mbuf's
        // appended bytes hold whatever the buffer held before (a previous packet, or the
        // zero-filled pages the pool was mapped from): stale, but initialised.
        unsafe {
            let len = usize::from((*m).data_len);
            let p = dpdk_sys::fv_pktmbuf_mtod(m).cast::<u8>();
            Some(std::slice::from_raw_parts_mut(p, len))
        }
    }
}

impl Drop for MbufBurst {
    fn drop(&mut self) {
        self.free_all();
    }
}
