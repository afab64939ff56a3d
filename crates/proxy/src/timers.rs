//! The proxy's clock queue: when each transaction next needs [`crate::Proxy::handle_timeout`].
//!
//! Transactions keep their own timers (`poll_timeout`); this queue only orders them. An entry
//! is not cancelled when its transaction's deadline moves: a popped entry whose transaction
//! is gone or not yet due is skipped (see `tables`).

use crate::slab::{ClientId, ServerId};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

/// What a queue entry wakes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Wake {
    /// A server transaction.
    Server(ServerId),
    /// A client transaction (and the proxy's Timer C of a branch).
    Client(ClientId),
    /// The dialog expiry sweep.
    Housekeeping,
}

/// Pending wake-ups in time order.
#[derive(Debug, Default)]
pub(crate) struct Timers {
    heap: BinaryHeap<Reverse<(Instant, Wake)>>,
}

impl Timers {
    /// Wakes `w` at `at`.
    pub(crate) fn arm(&mut self, at: Instant, w: Wake) {
        self.heap.push(Reverse((at, w)));
    }

    /// The earliest wake-up.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((t, _))| *t)
    }

    /// Takes the next entry due at or before `now`, with its time.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<(Instant, Wake)> {
        if self.next()? > now {
            return None;
        }
        self.heap.pop().map(|Reverse(e)| e)
    }
}
