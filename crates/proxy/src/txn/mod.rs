//! SIP transactions (RFC 3261 §17, with RFC 6026's Accepted states) as owned state machines,
//! sans-IO in the style of quinn-proto: each one is fed what happened (`on_*(now, ..)`, which
//! returns what its user needs to know), queues what it sends ([`ClientTxn::poll_transmit`],
//! [`ServerTxn::poll_transmit`]) and says when it next needs the clock
//! ([`ClientTxn::poll_timeout`], [`ServerTxn::poll_timeout`]). The retransmission timers
//! (A, E, G) and the timers that end a transaction (B, D, F, H, I, J, K, L, M) live inside.
//!
//! A transaction knows nothing of the proxy: the proxy (the transaction user, "TU") keeps the
//! tables, matches messages to transactions (RFC 3261 §17.1.3, §17.2.3) and acts on events.

mod client;
mod server;

#[cfg(test)]
mod client_tests;
#[cfg(test)]
mod server_tests;
#[cfg(test)]
mod testing;

pub(crate) use client::{ClientEvent, ClientTxn, Expiry};
pub(crate) use server::{ServerEvent, ServerTxn};

use crate::types::Transmit;
use sip::Transport;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// The RFC 3261 timer base values (§17.1.1.1, table 4 of Appendix A).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Timing {
    /// T1: the round-trip estimate; first retransmission interval.
    pub t1: Duration,
    /// T2: the longest retransmission interval for non-INVITE requests and INVITE responses.
    pub t2: Duration,
    /// T4: the longest time a message stays in the network.
    pub t4: Duration,
}

impl Timing {
    /// 64*T1: Timers B, F, H, J, L and M.
    pub(crate) fn t64(self) -> Duration {
        self.t1 * 64
    }
}

/// Where a transaction sends: the transport, the local address it sends from and the peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Hop {
    /// Transport.
    pub transport: Transport,
    /// The local address messages leave from.
    pub local: SocketAddr,
    /// The other end: the next hop of a client transaction, the reply target of a server one.
    pub peer: SocketAddr,
}

impl Hop {
    /// `bytes`, to be sent over this hop.
    pub(crate) fn transmit(self, bytes: Vec<u8>) -> Transmit {
        Transmit {
            transport: self.transport,
            src: self.local,
            dst: self.peer,
            bytes,
        }
    }
}

/// A running retransmission timer (A, E or G): when it fires next and its current interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Retransmit {
    /// When the next retransmission goes out.
    pub at: Instant,
    /// The interval that led to `at`; the next one is derived from it.
    pub every: Duration,
}

impl Retransmit {
    /// The first retransmission, T1 after `now`; none over a reliable transport (RFC 3261
    /// §17.1.1.2, §17.1.2.2, §17.2.1).
    pub(crate) fn first(now: Instant, hop: Hop, timing: Timing) -> Option<Retransmit> {
        (!hop.transport.is_reliable()).then_some(Retransmit {
            at: now + timing.t1,
            every: timing.t1,
        })
    }

    /// The timer after a retransmission at `now` that waits `every`.
    pub(crate) fn next(now: Instant, every: Duration) -> Retransmit {
        Retransmit {
            at: now + every,
            every,
        }
    }
}

/// `now + d` when the transport is unreliable, else `now` (the timers of RFC 3261 §17 that are
/// zero over reliable transports: D, I, J, K).
fn unreliable_only(now: Instant, hop: Hop, d: Duration) -> Instant {
    if !hop.transport.is_reliable() {
        now + d
    } else {
        now
    }
}
