//! Packet-buffer pools (`rte_pktmbuf_pool_create`), one per NUMA socket.

use super::{last_error, DpdkError, Eal};
use std::ffi::CString;
use std::ptr::NonNull;

/// Default data room of a packet buffer: 2048 bytes plus the headroom, as DPDK's own default.
pub const DEFAULT_DATA_ROOM: u16 = 2048 + 128;

/// A pool of packet buffers (mbufs). Freed when dropped; every port queue set up with it and
/// every mbuf taken from it must be gone by then (ports hold an `Arc` of their pools).
#[derive(Debug)]
pub struct Mempool {
    ptr: NonNull<dpdk_sys::rte_mempool>,
    name: String,
    socket: i32,
}

// SAFETY: a DPDK mempool is designed for use from any thread (lock-free ring plus per-lcore
// caches); this handle only carries its pointer.
unsafe impl Send for Mempool {}
// SAFETY: as for Send: all mempool operations are thread-safe.
unsafe impl Sync for Mempool {}

impl Mempool {
    /// A pool of `count` mbufs (`2^q - 1` is the most memory-efficient), each with `data_room`
    /// bytes (headroom included), with a per-lcore cache of `cache` mbufs, in the memory of
    /// NUMA socket `socket` (-1: any). The EAL must be running (`_eal` proves it).
    pub fn new(
        _eal: &Eal,
        name: &str,
        count: u32,
        cache: u32,
        data_room: u16,
        socket: i32,
    ) -> Result<Self, DpdkError> {
        let c = CString::new(name).map_err(|_| DpdkError::BadName(name.into()))?;
        let cache = cache.min(dpdk_sys::RTE_MEMPOOL_CACHE_MAX_SIZE);
        // SAFETY: the EAL is running; `c` is a NUL-terminated name; the result is checked.
        let p = unsafe {
            dpdk_sys::rte_pktmbuf_pool_create(c.as_ptr(), count, cache, 0, data_room, socket)
        };
        let ptr = NonNull::new(p).ok_or_else(|| DpdkError::Mempool {
            name: name.into(),
            reason: last_error(),
        })?;
        Ok(Self {
            ptr,
            name: name.into(),
            socket,
        })
    }

    /// The raw pool (for DPDK calls).
    pub fn as_ptr(&self) -> *mut dpdk_sys::rte_mempool {
        self.ptr.as_ptr()
    }

    /// The pool's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The NUMA socket asked for.
    pub fn socket(&self) -> i32 {
        self.socket
    }

    /// Mbufs currently free in the pool (caches included).
    pub fn available(&self) -> u32 {
        // SAFETY: the pool is valid for the life of self; a read-only count.
        unsafe { dpdk_sys::rte_mempool_avail_count(self.ptr.as_ptr()) }
    }
}

impl Drop for Mempool {
    fn drop(&mut self) {
        // SAFETY: the pool was created by `new` and is freed once; its users (port queues,
        // mbufs) hold an Arc of it or are gone by contract.
        unsafe { dpdk_sys::rte_mempool_free(self.ptr.as_ptr()) };
    }
}
