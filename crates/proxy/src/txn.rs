//! Transaction state (RFC 3261 §17) and the keys that match messages to it.

use super::types::Transport;
use sip::Method;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// The RFC 3261 branch magic cookie (§8.1.1.7).
pub(crate) const MAGIC: &str = "z9hG4bK";

/// Server transaction key (RFC 3261 §17.2.3): branch + sent-by + method, with ACK matching
/// the INVITE transaction. Requests without the magic cookie (RFC 2543) are keyed by
/// Call-ID, CSeq number, From tag and the whole top Via (§17.2.3, last paragraphs, simplified).
pub(crate) fn server_key(
    branch: Option<&str>,
    sent_by: &str,
    method: &Method,
    call_id: &str,
    cseq: u32,
    from_tag: &str,
    top_via: &str,
) -> String {
    // The ACK for a non-2xx final belongs to the INVITE's transaction (RFC 3261 §17.2.3).
    let method = match method {
        Method::Ack => Method::Invite.as_str(),
        m => m.as_str(),
    };
    match branch {
        Some(b) if b.starts_with(MAGIC) => format!("b|{b}|{sent_by}|{method}"),
        _ => format!("c|{call_id}|{cseq}|{from_tag}|{top_via}|{method}"),
    }
}

/// Client transaction key (RFC 3261 §17.1.3): our branch + CSeq method.
pub(crate) fn client_key(branch: &str, method: &Method) -> String {
    format!("{branch}|{method}")
}

/// Server transaction states (INVITE: §17.2.1 with RFC 6026 Accepted; non-INVITE: §17.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ServerState {
    /// Request received, no final response yet.
    Proceeding,
    /// Final non-2xx sent (INVITE: waiting for ACK) or final sent (non-INVITE).
    Completed,
    /// ACK received for a non-2xx final (INVITE only).
    Confirmed,
    /// 2xx forwarded (INVITE; RFC 6026 §7.1).
    Accepted,
}

/// A server transaction: a request this element received.
#[derive(Debug)]
pub(crate) struct ServerTxn {
    /// INVITE or not.
    pub invite: bool,
    /// State.
    pub state: ServerState,
    /// Where responses go (RFC 3261 §18.2.2 / RFC 3581 §4).
    pub reply_to: SocketAddr,
    /// The local address the request arrived on.
    pub local: SocketAddr,
    /// Transport the request arrived on.
    pub transport: Transport,
    /// The last response sent (resent on request retransmissions).
    pub last_response: Option<Vec<u8>>,
    /// Generation for the Timer G chain.
    pub gen: u32,
    /// Current Timer G interval.
    pub retransmit_every: Duration,
    /// The proxy context this transaction feeds (requests that were forwarded).
    pub ctx: Option<u64>,
    /// To tag used on locally generated responses.
    pub local_tag: String,
}

/// Client transaction states (INVITE: §17.1.1 with RFC 6026 Accepted; non-INVITE: §17.1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClientState {
    /// Sent, nothing back yet.
    Calling,
    /// A provisional came back.
    Proceeding,
    /// A final non-2xx came back (absorbing its retransmissions).
    Completed,
    /// A 2xx came back (INVITE; 2xx retransmissions still forwarded).
    Accepted,
}

/// What a client transaction is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClientRole {
    /// A branch of a proxied request.
    Branch {
        /// Proxy context id.
        ctx: u64,
    },
    /// A CANCEL this element sent for a branch.
    Cancel,
    /// An OPTIONS health probe of a member.
    Probe {
        /// The probe, as the dispatcher numbered it.
        probe: dispatch::ProbeId,
    },
    /// A BYE ending a late-answered abandoned branch.
    Cleanup,
}

/// A client transaction: a request this element sent.
#[derive(Debug)]
pub(crate) struct ClientTxn {
    /// INVITE or not.
    pub invite: bool,
    /// State.
    pub state: ClientState,
    /// What it is for.
    pub role: ClientRole,
    /// Destination.
    pub dst: SocketAddr,
    /// Local address used.
    pub src: SocketAddr,
    /// Transport.
    pub transport: Transport,
    /// The request as sent (retransmitted, and the source of CANCEL and ACK).
    pub request: Vec<u8>,
    /// The ACK sent for a non-2xx final (resent on final retransmissions).
    pub ack: Option<Vec<u8>>,
    /// Generation for the retransmission chain; bumped to stop it.
    pub gen: u32,
    /// Current retransmission interval.
    pub retransmit_every: Duration,
    /// When the transaction started.
    pub started: Instant,
    /// A CANCEL should go out as soon as a provisional arrives (RFC 3261 §9.1).
    pub cancel_pending: bool,
    /// A CANCEL was sent.
    pub cancelled: bool,
    /// The branch was given up (timeout or transport error) and is no longer the context's.
    pub abandoned: bool,
    /// The member the branch went to, if it is one.
    pub member: Option<dispatch::MemberId>,
    /// After a CANCEL: when to stop waiting for the final response.
    pub give_up_at: Option<Instant>,
}

impl ServerTxn {
    /// A server transaction in the Proceeding state for a request from `reply_to`.
    pub(crate) fn new(
        invite: bool,
        reply_to: SocketAddr,
        local: SocketAddr,
        transport: Transport,
        t1: Duration,
        local_tag: String,
    ) -> Self {
        ServerTxn {
            invite,
            state: ServerState::Proceeding,
            reply_to,
            local,
            transport,
            last_response: None,
            gen: 0,
            retransmit_every: t1,
            ctx: None,
            local_tag,
        }
    }
}

/// Where and how a client transaction sends.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Hop {
    /// Destination.
    pub dst: SocketAddr,
    /// Local address used.
    pub src: SocketAddr,
    /// Transport.
    pub transport: Transport,
}

impl ClientTxn {
    /// A client transaction in the Calling state for `request`, sent now over `hop`.
    pub(crate) fn new(
        role: ClientRole,
        invite: bool,
        hop: Hop,
        request: Vec<u8>,
        member: Option<dispatch::MemberId>,
        now: Instant,
        t1: Duration,
    ) -> Self {
        ClientTxn {
            invite,
            state: ClientState::Calling,
            role,
            dst: hop.dst,
            src: hop.src,
            transport: hop.transport,
            request,
            ack: None,
            gen: 0,
            retransmit_every: t1,
            started: now,
            cancel_pending: false,
            cancelled: false,
            abandoned: false,
            member,
            give_up_at: None,
        }
    }
}
