//! The client transaction: a request this element sent (RFC 3261 §17.1; INVITE §17.1.1 with
//! RFC 6026 §7.2, non-INVITE §17.1.2).

use super::{unreliable_only, Hop, Retransmit, Timing};
use crate::types::Transmit;
use sip::{Message, Method};
use std::time::{Duration, Instant};

/// What ends a request that has no final response yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expiry {
    /// Nothing: an INVITE that had a provisional waits for its final (the proxy's Timer C,
    /// RFC 3261 §16.8, is the user's timer, not the transaction's).
    Never,
    /// Timer B or F (the proxy sets them to its `fr_timeout`), or 64*T1 after a CANCEL
    /// (RFC 3261 §9.1): the user learns of the timeout ([`ClientEvent::Timeout`]).
    Timeout(Instant),
    /// The user keeps its own deadline (a health probe, a CANCEL, a cleanup BYE): the
    /// transaction ends then without an event.
    Silent(Instant),
    /// The request timed out or could not be sent and the user was told: retransmissions
    /// stopped, and the transaction only answers late responses (ACKs a late final, reports a
    /// late provisional or 2xx) until then, and ends without an event.
    GivenUp(Instant),
}

impl Expiry {
    fn at(self) -> Option<Instant> {
        match self {
            Expiry::Never => None,
            Expiry::Timeout(t) | Expiry::Silent(t) | Expiry::GivenUp(t) => Some(t),
        }
    }
}

/// The client transaction states. INVITE: Calling, Proceeding, Completed or Accepted,
/// Terminated (RFC 3261 §17.1.1, figure 5, with RFC 6026 §7.2). Non-INVITE: Trying, Proceeding,
/// Completed, Terminated (§17.1.2, figure 6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ClientState {
    /// INVITE sent, nothing back yet: Timer A retransmits over UDP (§17.1.1.2).
    Calling {
        /// Timer A.
        retransmit: Option<Retransmit>,
        /// Timer B (or the state after it).
        expiry: Expiry,
    },
    /// Non-INVITE sent, nothing back yet: Timer E retransmits over UDP (§17.1.2.2).
    Trying {
        /// Timer E.
        retransmit: Option<Retransmit>,
        /// Timer F (or the state after it).
        expiry: Expiry,
    },
    /// A provisional came back. INVITE: no retransmissions; non-INVITE: Timer E every T2.
    Proceeding {
        /// Timer E (non-INVITE only).
        retransmit: Option<Retransmit>,
        /// Timer F (non-INVITE), the CANCEL's 64*T1 (INVITE), or the state after them.
        expiry: Expiry,
        /// When a CANCEL for this request went out (INVITE only, RFC 3261 §9.1).
        cancelled_at: Option<Instant>,
    },
    /// A final response came back: for an INVITE a non-2xx, ACKed here (§17.1.1.3), the ACK
    /// resent on each retransmission of the final until Timer D; for a non-INVITE any final,
    /// its retransmissions absorbed until Timer K.
    Completed {
        /// The ACK (INVITE only).
        ack: Option<Vec<u8>>,
        /// Timer D or K.
        until: Instant,
    },
    /// A 2xx to an INVITE came back: its retransmissions still go to the user until Timer M
    /// (RFC 6026 §7.2).
    Accepted {
        /// Timer M.
        until: Instant,
    },
    /// Over: the user removes the transaction.
    Terminated,
}

/// What the user of a client transaction learns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClientEvent {
    /// A provisional response, to pass on (§17.1.1.2, §17.1.2.2).
    Provisional,
    /// The final response (INVITE: a non-2xx, already ACKed; non-INVITE: any), to pass on.
    Final {
        /// A provisional had come before it (the transaction was Proceeding).
        after_provisional: bool,
    },
    /// A 2xx to the INVITE (RFC 6026 §7.2), to pass on: the first one or a retransmission.
    Accepted {
        /// Not the first 2xx.
        retransmission: bool,
    },
    /// No final response in time (Timer B or F, or 64*T1 after a CANCEL).
    Timeout,
    /// The transport could not deliver the request (§17.1.4).
    TransportError,
    /// A retransmission of the request went out (Timer A or E).
    Retransmitted,
}

/// A client transaction.
#[derive(Debug)]
pub(crate) struct ClientTxn {
    method: Method,
    hop: Hop,
    timing: Timing,
    /// The request as sent: retransmitted, and the source of the CANCEL and the ACK.
    request: Vec<u8>,
    state: ClientState,
    out: Option<Vec<u8>>,
}

impl ClientTxn {
    /// A transaction for `request` (of `method`), which it sends at once over `hop`. `expiry`
    /// is Timer B or F ([`Expiry::Timeout`]) or the user's own deadline ([`Expiry::Silent`]).
    pub(crate) fn new(
        now: Instant,
        method: Method,
        hop: Hop,
        request: Vec<u8>,
        timing: Timing,
        expiry: Expiry,
    ) -> Self {
        let retransmit = Retransmit::first(now, hop, timing);
        let state = if method.is_invite() {
            ClientState::Calling { retransmit, expiry }
        } else {
            ClientState::Trying { retransmit, expiry }
        };
        ClientTxn {
            out: Some(request.clone()),
            method,
            hop,
            timing,
            request,
            state,
        }
    }

    /// The request method.
    pub(crate) fn method(&self) -> &Method {
        &self.method
    }

    /// Where the transaction sends.
    pub(crate) fn hop(&self) -> Hop {
        self.hop
    }

    /// The request as sent.
    pub(crate) fn request(&self) -> &[u8] {
        &self.request
    }

    /// The current state.
    #[cfg(test)]
    pub(crate) fn state(&self) -> &ClientState {
        &self.state
    }

    /// A provisional response came back and no final yet (the Proceeding state).
    pub(crate) fn is_proceeding(&self) -> bool {
        matches!(self.state, ClientState::Proceeding { .. })
    }

    /// A CANCEL for the request went out.
    #[cfg(test)]
    pub(crate) fn is_cancelled(&self) -> bool {
        matches!(
            self.state,
            ClientState::Proceeding {
                cancelled_at: Some(_),
                ..
            }
        )
    }

    /// Over: the user removes it.
    pub(crate) fn is_terminated(&self) -> bool {
        self.state == ClientState::Terminated
    }

    /// The next message to send.
    pub(crate) fn poll_transmit(&mut self) -> Option<Transmit> {
        let hop = self.hop;
        self.out.take().map(|b| hop.transmit(b))
    }

    /// When [`ClientTxn::on_timeout`] should next run.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        match &self.state {
            ClientState::Calling { retransmit, expiry }
            | ClientState::Trying { retransmit, expiry }
            | ClientState::Proceeding {
                retransmit, expiry, ..
            } => [retransmit.map(|r| r.at), expiry.at()]
                .into_iter()
                .flatten()
                .min(),
            ClientState::Completed { until, .. } | ClientState::Accepted { until } => Some(*until),
            ClientState::Terminated => None,
        }
    }

    /// A response to the request (matched by branch and CSeq method, RFC 3261 §17.1.3).
    pub(crate) fn on_response(
        &mut self,
        now: Instant,
        code: u16,
        msg: &Message<'_>,
    ) -> Option<ClientEvent> {
        match code {
            100..=199 => self.on_provisional(),
            200..=299 if self.method.is_invite() => self.on_2xx(now),
            _ => self.on_final(now, msg),
        }
    }

    /// Calling or Trying to Proceeding; further provisionals pass through (§17.1.1.2,
    /// §17.1.2.2).
    fn on_provisional(&mut self) -> Option<ClientEvent> {
        self.state = match std::mem::replace(&mut self.state, ClientState::Terminated) {
            // A provisional stops Timer A; the fr_timeout (Timer B) gives way to Timer C,
            // which the user runs. A given-up or silent expiry stays.
            ClientState::Calling { expiry, .. } => ClientState::Proceeding {
                retransmit: None,
                expiry: match expiry {
                    Expiry::Timeout(_) => Expiry::Never,
                    e => e,
                },
                cancelled_at: None,
            },
            // Timer E keeps its next firing; it then repeats every T2.
            ClientState::Trying { retransmit, expiry } => ClientState::Proceeding {
                retransmit,
                expiry,
                cancelled_at: None,
            },
            p @ ClientState::Proceeding { .. } => p,
            other => {
                self.state = other;
                return None;
            }
        };
        Some(ClientEvent::Provisional)
    }

    /// A 2xx to the INVITE: Accepted, Timer M (RFC 6026 §7.2); retransmissions pass too.
    fn on_2xx(&mut self, now: Instant) -> Option<ClientEvent> {
        match self.state {
            ClientState::Calling { .. } | ClientState::Proceeding { .. } => {
                self.state = ClientState::Accepted {
                    until: now + self.timing.t64(),
                };
                Some(ClientEvent::Accepted {
                    retransmission: false,
                })
            }
            ClientState::Accepted { .. } => Some(ClientEvent::Accepted {
                retransmission: true,
            }),
            _ => None,
        }
    }

    /// A final response (non-2xx to an INVITE, any to a non-INVITE): Completed. An INVITE's
    /// final is ACKed hop by hop (§17.1.1.3) and the ACK resent on its retransmissions.
    fn on_final(&mut self, now: Instant, msg: &Message<'_>) -> Option<ClientEvent> {
        let invite = self.method.is_invite();
        let after_provisional = match &self.state {
            ClientState::Calling { .. } | ClientState::Trying { .. } => false,
            ClientState::Proceeding { .. } => true,
            ClientState::Completed { ack: Some(a), .. } => {
                self.out = Some(a.clone());
                return None;
            }
            _ => return None,
        };
        let ack = if invite {
            sip::parse(&self.request)
                .ok()
                .and_then(|req| sip::build_ack(&req, msg).ok())
        } else {
            None
        };
        self.out.clone_from(&ack);
        // Timer D: at least 32 s over UDP (§17.1.1.2); Timer K: T4 (§17.1.2.2); both zero
        // over reliable transports.
        let linger = if invite {
            Duration::from_secs(32).max(self.timing.t64() / 2)
        } else {
            self.timing.t4
        };
        self.state = ClientState::Completed {
            ack,
            until: unreliable_only(now, self.hop, linger),
        };
        Some(ClientEvent::Final { after_provisional })
    }

    /// The clock reached [`ClientTxn::poll_timeout`].
    pub(crate) fn on_timeout(&mut self, now: Instant) -> Option<ClientEvent> {
        let (retransmit, expiry) = match &self.state {
            ClientState::Completed { until, .. } | ClientState::Accepted { until } => {
                if *until <= now {
                    self.state = ClientState::Terminated;
                }
                return None;
            }
            ClientState::Terminated => return None,
            ClientState::Calling { retransmit, expiry }
            | ClientState::Trying { retransmit, expiry }
            | ClientState::Proceeding {
                retransmit, expiry, ..
            } => (*retransmit, *expiry),
        };
        match expiry {
            Expiry::Timeout(t) if t <= now => return self.give_up(now, ClientEvent::Timeout),
            Expiry::Silent(t) | Expiry::GivenUp(t) if t <= now => {
                self.state = ClientState::Terminated;
                return None;
            }
            _ => {}
        }
        let r = retransmit.filter(|r| r.at <= now)?;
        self.retransmit(now, r);
        Some(ClientEvent::Retransmitted)
    }

    /// Timer A doubles without bound; Timer E doubles up to T2, and is T2 once Proceeding
    /// (§17.1.1.2, §17.1.2.2).
    fn retransmit(&mut self, now: Instant, r: Retransmit) {
        let t2 = self.timing.t2;
        let (slot, every) = match &mut self.state {
            ClientState::Calling { retransmit, .. } => (retransmit, r.every * 2),
            ClientState::Trying { retransmit, .. } => (retransmit, (r.every * 2).min(t2)),
            ClientState::Proceeding { retransmit, .. } => (retransmit, t2),
            _ => return,
        };
        *slot = Some(Retransmit::next(now, every));
        self.out = Some(self.request.clone());
    }

    /// The transport could not deliver the request (§17.1.4): the user learns of it once.
    pub(crate) fn on_transport_error(&mut self, now: Instant) -> Option<ClientEvent> {
        match self.state {
            ClientState::Calling { expiry, .. }
            | ClientState::Trying { expiry, .. }
            | ClientState::Proceeding { expiry, .. }
                if !matches!(expiry, Expiry::GivenUp(_)) =>
            {
                self.give_up(now, ClientEvent::TransportError)
            }
            _ => None,
        }
    }

    /// The request failed (`why`): retransmissions stop and the transaction stays 64*T1 to
    /// answer late responses (a late final is still ACKed).
    fn give_up(&mut self, now: Instant, why: ClientEvent) -> Option<ClientEvent> {
        let until = Expiry::GivenUp(now + self.timing.t64());
        match &mut self.state {
            ClientState::Calling { retransmit, expiry }
            | ClientState::Trying { retransmit, expiry }
            | ClientState::Proceeding {
                retransmit, expiry, ..
            } => {
                *retransmit = None;
                *expiry = until;
                Some(why)
            }
            _ => None,
        }
    }

    /// Cancels the INVITE (RFC 3261 §9.1): only once a provisional came (Proceeding), only
    /// once. Returns the CANCEL to send as a transaction of its own over the same hop. If no
    /// final follows within 64*T1, [`ClientEvent::Timeout`] (unless the request was given up
    /// already).
    pub(crate) fn cancel(&mut self, now: Instant) -> Option<Vec<u8>> {
        let give_up = now + self.timing.t64();
        let ClientState::Proceeding {
            expiry,
            cancelled_at: cancelled_at @ None,
            ..
        } = &mut self.state
        else {
            return None;
        };
        if !self.method.is_invite() {
            return None;
        }
        *cancelled_at = Some(now);
        if matches!(expiry, Expiry::Never | Expiry::Timeout(_)) {
            *expiry = Expiry::Timeout(give_up);
        }
        sip::parse(&self.request)
            .ok()
            .and_then(|r| sip::build_cancel(&r).ok())
    }
}
