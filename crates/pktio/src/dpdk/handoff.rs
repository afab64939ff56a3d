//! Wrong-queue hand-off: a frame that reaches a worker whose queue does not own its relay port
//! (no flow rule, RSS spreading, a NIC without steering) is passed to the owning worker over
//! that worker's inbox, a multi-producer/single-consumer `rte_ring` of mbuf pointers, and
//! counted on both sides.

use super::{DpdkError, Eal, Ring};
use crate::PortKey;
use std::ffi::c_void;
use std::sync::Arc;

/// Who owns a relay port: the data-plane layout's owner function (`None`: no owner, the frame
/// stays where it is and the relay drops it by its own rules).
pub type OwnerFn = Arc<dyn Fn(PortKey) -> Option<usize> + Send + Sync>;

/// A worker's inbox (only that worker dequeues).
#[derive(Debug)]
pub struct HandoffInbox(Arc<Ring>);

/// A handle to enqueue onto some worker's inbox (any worker may hold one).
#[derive(Debug, Clone)]
pub struct HandoffOutbox(Arc<Ring>);

/// Everything one worker needs for hand-off.
pub struct Handoff {
    /// This worker's index.
    pub me: usize,
    /// This worker's inbox.
    pub inbox: HandoffInbox,
    /// Every worker's inbox, by worker index (this worker's own is never used).
    pub outboxes: Vec<HandoffOutbox>,
    /// The owner of a relay port.
    pub owner: OwnerFn,
}

impl std::fmt::Debug for Handoff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handoff")
            .field("me", &self.me)
            .field("outboxes", &self.outboxes.len())
            .finish_non_exhaustive()
    }
}

/// One inbox per worker (rings of `size` slots, a power of two) and the outboxes onto them.
pub fn handoff_rings(
    eal: &Eal,
    prefix: &str,
    workers: usize,
    size: u32,
) -> Result<(Vec<HandoffInbox>, Vec<HandoffOutbox>), DpdkError> {
    let mut inboxes = Vec::with_capacity(workers);
    let mut outboxes = Vec::with_capacity(workers);
    for w in 0..workers {
        // Multi-producer enqueue (any worker), single-consumer dequeue (the owner).
        let r = Arc::new(Ring::with_flags(
            eal,
            &format!("{prefix}_ho{w}"),
            size,
            -1,
            dpdk_sys::RING_F_SC_DEQ,
        )?);
        outboxes.push(HandoffOutbox(r.clone()));
        inboxes.push(HandoffInbox(r));
    }
    Ok((inboxes, outboxes))
}

impl HandoffOutbox {
    /// Enqueues the mbufs of `v` (owned by the caller); returns how many the ring took (their
    /// ownership passed to the ring). The rest are still the caller's.
    pub(crate) fn enqueue(&self, v: &[*mut dpdk_sys::rte_mbuf]) -> usize {
        let n = u32::try_from(v.len()).unwrap_or(u32::MAX);
        // SAFETY: the ring is multi-producer (created by `handoff_rings`), so concurrent
        // enqueues from several workers are allowed; the entries are valid mbufs the caller
        // owns, and ownership of the first `sent` passes to the ring's consumer.
        unsafe {
            dpdk_sys::fv_ring_enqueue_burst(self.0.as_ptr(), v.as_ptr().cast::<*mut c_void>(), n)
                as usize
        }
    }
}

impl HandoffInbox {
    /// Dequeues up to `out.len()` mbufs into `out`; returns how many (now owned by the caller).
    pub(crate) fn dequeue(&mut self, out: &mut [*mut dpdk_sys::rte_mbuf]) -> usize {
        let n = u32::try_from(out.len()).unwrap_or(u32::MAX);
        // SAFETY: `&mut self` and the inbox not being Clone make this the ring's only
        // consumer; `out` has room for `n` pointers; only mbufs are enqueued on it.
        unsafe {
            dpdk_sys::fv_ring_dequeue_burst(
                self.0.as_ptr(),
                out.as_mut_ptr().cast::<*mut c_void>(),
                n,
            ) as usize
        }
    }

    /// Frames waiting.
    pub fn count(&self) -> u32 {
        self.0.count()
    }
}
