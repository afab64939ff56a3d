//! The server transaction: a request this element received (RFC 3261 §17.2; INVITE §17.2.1
//! with RFC 6026 §7.1, non-INVITE §17.2.2).

use super::{unreliable_only, Hop, Retransmit, Timing};
use crate::types::Transmit;
use std::time::Instant;

/// The server transaction states. INVITE: Proceeding, Completed then Confirmed, or Accepted,
/// Terminated (RFC 3261 §17.2.1, figure 7, with RFC 6026 §7.1). Non-INVITE: Trying,
/// Proceeding, Completed, Terminated (§17.2.2, figure 8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ServerState {
    /// Non-INVITE received, nothing sent yet: retransmissions are absorbed silently.
    Trying,
    /// INVITE received (the proxy answers 100 at once, §16.2), or a provisional sent: request
    /// retransmissions get the last provisional again.
    Proceeding,
    /// A final went out: an INVITE's non-2xx, retransmitted over UDP (Timer G) until the ACK
    /// or Timer H; a non-INVITE's final, resent on request retransmissions until Timer J.
    Completed {
        /// Timer G (INVITE over UDP only).
        retransmit: Option<Retransmit>,
        /// Timer H or J.
        until: Instant,
    },
    /// The ACK for the INVITE's non-2xx came; its retransmissions are absorbed until Timer I.
    Confirmed {
        /// Timer I.
        until: Instant,
    },
    /// A 2xx to the INVITE went out (RFC 6026 §7.1): the 2xx retransmissions that come through
    /// the proxy are sent on until Timer L.
    Accepted {
        /// Timer L.
        until: Instant,
    },
    /// Over: the user removes the transaction.
    Terminated,
}

/// What the user of a server transaction learns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ServerEvent {
    /// A retransmission of the request (or of the ACK in Confirmed) was absorbed; the last
    /// response, if any, went again.
    Absorbed,
    /// The ACK of the INVITE's non-2xx final came: Completed to Confirmed, Timer G stopped.
    Confirmed,
    /// Timer G sent the final response again.
    Retransmitted,
    /// Timer H fired: the ACK never came (§17.2.1). The transaction is over.
    NoAck,
}

/// A server transaction.
#[derive(Debug)]
pub(crate) struct ServerTxn {
    invite: bool,
    hop: Hop,
    timing: Timing,
    state: ServerState,
    /// The last response sent: resent on request retransmissions and by Timer G.
    last: Option<Vec<u8>>,
    out: Option<Vec<u8>>,
}

impl ServerTxn {
    /// A transaction for a request just received; responses go over `hop` (its peer is where
    /// responses are sent, RFC 3261 §18.2.2, RFC 3581 §4).
    pub(crate) fn new(invite: bool, hop: Hop, timing: Timing) -> Self {
        ServerTxn {
            invite,
            hop,
            timing,
            state: if invite {
                ServerState::Proceeding
            } else {
                ServerState::Trying
            },
            last: None,
            out: None,
        }
    }

    /// Where responses go.
    pub(crate) fn hop(&self) -> Hop {
        self.hop
    }

    /// The current state.
    #[cfg(test)]
    pub(crate) fn state(&self) -> ServerState {
        self.state
    }

    /// Over: the user removes it.
    pub(crate) fn is_terminated(&self) -> bool {
        self.state == ServerState::Terminated
    }

    /// The next message to send.
    pub(crate) fn poll_transmit(&mut self) -> Option<Transmit> {
        let hop = self.hop;
        self.out.take().map(|b| hop.transmit(b))
    }

    /// When [`ServerTxn::on_timeout`] should next run.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            ServerState::Completed { retransmit, until } => {
                Some(retransmit.map_or(until, |r| r.at.min(until)))
            }
            ServerState::Confirmed { until } | ServerState::Accepted { until } => Some(until),
            ServerState::Trying | ServerState::Proceeding | ServerState::Terminated => None,
        }
    }

    /// A retransmission of the request (§17.2.1, §17.2.2): the last response goes again, if
    /// there is one.
    pub(crate) fn on_request(&mut self, _now: Instant) -> Option<ServerEvent> {
        if self.state == ServerState::Terminated {
            return None;
        }
        self.out.clone_from(&self.last);
        Some(ServerEvent::Absorbed)
    }

    /// An ACK matched to this transaction (§17.2.1). `None`: the ACK is not this
    /// transaction's (an ACK for a 2xx is end to end, RFC 3261 §13.2.2.4, and the user routes
    /// it).
    pub(crate) fn on_ack(&mut self, now: Instant) -> Option<ServerEvent> {
        match self.state {
            ServerState::Completed { .. } if self.invite => {
                // Timer I: T4 over UDP, zero over reliable transports.
                self.state = ServerState::Confirmed {
                    until: unreliable_only(now, self.hop, self.timing.t4),
                };
                Some(ServerEvent::Confirmed)
            }
            ServerState::Confirmed { .. } => Some(ServerEvent::Absorbed),
            _ => None,
        }
    }

    /// The user sends a response (its own or one it forwards). A final moves the state on
    /// from Trying or Proceeding; every response is sent, and kept for retransmissions except
    /// a non-2xx after a 2xx.
    pub(crate) fn respond(&mut self, now: Instant, code: u16, bytes: Vec<u8>) {
        let t64 = self.timing.t64();
        match self.state {
            ServerState::Trying | ServerState::Proceeding if code >= 200 => {
                self.state = if self.invite && code < 300 {
                    // RFC 6026 §7.1: Accepted; Timer L.
                    ServerState::Accepted { until: now + t64 }
                } else if self.invite {
                    // Timer G over UDP, Timer H.
                    ServerState::Completed {
                        retransmit: Retransmit::first(now, self.hop, self.timing),
                        until: now + t64,
                    }
                } else {
                    // Timer J: 64*T1 over UDP, zero over reliable transports.
                    ServerState::Completed {
                        retransmit: None,
                        until: unreliable_only(now, self.hop, t64),
                    }
                };
            }
            ServerState::Trying => self.state = ServerState::Proceeding,
            ServerState::Terminated => return,
            _ => {}
        }
        if !matches!(self.state, ServerState::Accepted { .. }) || code < 300 {
            self.last = Some(bytes.clone());
        }
        self.out = Some(bytes);
    }

    /// The clock reached [`ServerTxn::poll_timeout`].
    pub(crate) fn on_timeout(&mut self, now: Instant) -> Option<ServerEvent> {
        match self.state {
            ServerState::Completed { until, .. } if until <= now => {
                // Timer H (INVITE: no ACK came) or J.
                self.state = ServerState::Terminated;
                self.invite.then_some(ServerEvent::NoAck)
            }
            ServerState::Confirmed { until } | ServerState::Accepted { until } if until <= now => {
                // Timers I and L.
                self.state = ServerState::Terminated;
                None
            }
            ServerState::Completed {
                retransmit: Some(r),
                until,
            } if r.at <= now => {
                // Timer G doubles up to T2 (§17.2.1).
                self.state = ServerState::Completed {
                    retransmit: Some(Retransmit::next(now, (r.every * 2).min(self.timing.t2))),
                    until,
                };
                self.out.clone_from(&self.last);
                self.out.as_ref().map(|_| ServerEvent::Retransmitted)
            }
            _ => None,
        }
    }
}
