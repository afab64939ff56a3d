//! The proxy's timers: one ordered set, entries cancelled lazily (a fired timer whose
//! transaction is gone or whose generation moved on does nothing).

use std::collections::BTreeMap;
use std::time::Instant;

/// What a timer is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Timer {
    /// Retransmit a client transaction's request (Timer A or E, RFC 3261 §17.1).
    ClientRetransmit { key: String, gen: u32 },
    /// The branch got no provisional in time (fr_timeout; Timer B/F cap).
    ClientNoAnswer { key: String },
    /// Timer C (RFC 3261 §16.8): a provisional came but no final.
    ClientTimerC { key: String, gen: u32 },
    /// The client transaction ends (Timer D, K or M; F after CANCEL).
    ClientEnd { key: String },
    /// Retransmit a server transaction's final response (Timer G, §17.2.1).
    ServerRetransmit { key: String, gen: u32 },
    /// The server transaction ends (Timer H, I, J or L).
    ServerEnd { key: String },
    /// Dialog expiry sweep.
    Housekeeping,
}

/// Pending timers in time order.
#[derive(Debug, Default)]
pub(crate) struct Timers {
    seq: u64,
    set: BTreeMap<(Instant, u64), Timer>,
}

impl Timers {
    /// Arms `t` for `at`.
    pub(crate) fn arm(&mut self, at: Instant, t: Timer) {
        self.seq += 1;
        self.set.insert((at, self.seq), t);
    }

    /// The earliest deadline.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.set.keys().next().map(|(t, _)| *t)
    }

    /// Takes the next timer due at or before `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<Timer> {
        let key = *self.set.keys().next()?;
        if key.0 > now {
            return None;
        }
        self.set.remove(&key)
    }
}
