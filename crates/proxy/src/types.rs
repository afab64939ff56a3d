//! The proxy's public types: settings, what it sends, what it reports.

use sip::Transport;
use std::net::SocketAddr;
use std::time::Duration;

/// A message to send. For TCP the driver uses the connection it has to `dst` (the one a
/// request came in on, RFC 3261 §18.2.2) or opens one; for TLS likewise, writing nothing
/// before the handshake is done and never sending it in the clear (RFC 3261 §26.2.2): a
/// connection that cannot be made is a transport error
/// ([`crate::Proxy::handle_transport_error`]), so the branch fails over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Transport.
    pub transport: Transport,
    /// The local listen address to send from.
    pub src: SocketAddr,
    /// Destination.
    pub dst: SocketAddr,
    /// The whole SIP message.
    pub bytes: Vec<u8>,
}

/// Proxy settings (from `[sip]`).
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    /// Listen addresses (first of a family is used to send to that family).
    pub listen: Vec<SocketAddr>,
    /// `[sip] tls_listen`: where SIP over TLS is accepted; named in the Record-Route of
    /// the side of a call that uses TLS.
    pub tls_listen: Vec<SocketAddr>,
    /// Host (and optional port) written into Via and Record-Route instead of the listen
    /// address.
    pub advertised: Option<config::HostPort>,
    /// Transports offered.
    pub transports: Vec<Transport>,
    /// Insert Record-Route on dialog-creating requests.
    pub record_route: bool,
    /// RFC 3261 T1.
    pub t1: Duration,
    /// RFC 3261 T2.
    pub t2: Duration,
    /// RFC 3261 T4.
    pub t4: Duration,
    /// No provisional within this: the branch has timed out (failover).
    pub fr_timeout: Duration,
    /// After a provisional, a final is awaited this long (Timer C, RFC 3261 §16.8).
    pub fr_inv_timeout: Duration,
    /// Max-Forwards put on requests that had none.
    pub max_forwards: u8,
    /// Larger messages are dropped and counted.
    pub max_message_bytes: usize,
    /// A confirmed dialog without BYE is forgotten after this.
    pub dialog_expiry: Duration,
    /// Server / User-Agent value for locally generated messages (empty: none).
    pub user_agent: String,
    /// DNS servers and lookup options for members named by host name.
    pub dns: super::DnsSettings,
    /// Answer OPTIONS to this element with 503 (see [`super::Proxy::set_draining`]).
    pub draining: bool,
    /// `[sip] trusted`: networks never rate-limited nor banned by the flood guard, whose
    /// requests may route by a pre-loaded Route (RFC 3261 §16.4) and, in dialogs the proxy
    /// does not hold, by their Route set or Request-URI. Everyone else is routed by
    /// `[[route]]` and the dialogs held only.
    pub trusted: Vec<dispatch::Cidr>,
    /// `[sip] max_*`: the caps on the proxy's tables.
    pub limits: config::LimitsConfig,
    /// `[sip.flood]`: per-source rate limit and bans ([`crate::FloodGuard`]).
    pub flood: config::FloodConfig,
}

impl ProxyConfig {
    /// Settings from the daemon configuration (`[sip]` and `[dns]`).
    pub fn from_config(cfg: &config::Config) -> Self {
        let c = &cfg.sip;
        ProxyConfig {
            dns: super::DnsSettings::from_config(&cfg.dns),
            listen: c.listen.clone(),
            tls_listen: c.tls.listen.clone(),
            advertised: c.advertised.clone(),
            transports: c.transports.clone(),
            record_route: c.record_route,
            t1: c.t1,
            t2: c.t2,
            t4: c.t4,
            fr_timeout: c.fr_timeout,
            fr_inv_timeout: c.fr_inv_timeout,
            max_forwards: c.max_forwards,
            max_message_bytes: c.max_message_bytes as usize,
            dialog_expiry: c.dialog_expiry,
            user_agent: c.user_agent.clone().unwrap_or_default(),
            draining: c.draining,
            trusted: c.trusted.clone(),
            limits: c.limits,
            flood: c.flood,
        }
    }

    /// 64*T1: Timers B, F, H, J, L, M (RFC 3261 §17, RFC 6026).
    pub fn t64(&self) -> Duration {
        self.t1 * 64
    }
}

/// Something worth a log line or a metric, in the order it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProxyEvent {
    /// A member changed health or admin state.
    Member(dispatch::DispatchEvent),
    /// A new call was sent to a member.
    CallRouted {
        /// Call-ID.
        call_id: String,
        /// The member's URI.
        member: String,
        /// 1 for the first try, 2.. after failovers.
        attempt: u32,
    },
    /// A branch failed and the next member will be tried.
    Failover {
        /// Call-ID.
        call_id: String,
        /// The member that failed.
        member: String,
        /// What happened.
        reason: FailReason,
    },
    /// The flood guard banned a source, or a ban ended.
    Flood(crate::FloodEvent),
    /// A call was refused or failed upstream with this code.
    CallFailed {
        /// Call-ID.
        call_id: String,
        /// Final code sent upstream.
        code: u16,
    },
}

/// Why a branch failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailReason {
    /// No provisional response within `fr_timeout`.
    Timeout,
    /// The transport could not deliver the request.
    Transport,
    /// A final response whose code is in the set's failover codes.
    Code(u16),
}

impl std::fmt::Display for FailReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FailReason::Timeout => f.write_str("timeout"),
            FailReason::Transport => f.write_str("transport error"),
            FailReason::Code(c) => write!(f, "{c}"),
        }
    }
}

/// Proxy counters (monotonic; one writer).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ProxyCounters {
    /// Requests received (parsed).
    pub requests: u64,
    /// Responses received (parsed).
    pub responses: u64,
    /// Messages dropped unparsed (no response possible).
    pub dropped_malformed: u64,
    /// Messages over `max_message_bytes`, dropped.
    pub dropped_oversized: u64,
    /// Requests answered 400 (malformed but answerable).
    pub bad_requests: u64,
    /// Requests answered 483.
    pub too_many_hops: u64,
    /// Requests answered 482.
    pub loops: u64,
    /// Request retransmissions absorbed by a server transaction.
    pub retransmissions_absorbed: u64,
    /// Requests retransmitted by a client transaction (UDP).
    pub retransmissions_sent: u64,
    /// New calls sent to a member (first attempts).
    pub calls_routed: u64,
    /// Failovers to another member.
    pub failovers: u64,
    /// Requests matching no route (404).
    pub no_route: u64,
    /// Calls refused because every member was full or busy (503 + Retry-After).
    pub all_busy: u64,
    /// Calls refused because no member was available.
    pub no_member: u64,
    /// Responses matching no client transaction, dropped (never relayed by their Vias).
    pub stray_responses: u64,
    /// Responses matching a client transaction but arriving from another address or
    /// transport than the request went to, dropped.
    pub responses_wrong_source: u64,
    /// Initial requests with a pre-loaded Route beyond this element from a source not in
    /// `trusted`, answered 403.
    pub route_refused: u64,
    /// In-dialog requests (To tag) that match no dialog held (or not its tags), answered
    /// 481.
    pub dialog_refused: u64,
    /// ACKs matching no transaction and no dialog held, dropped.
    pub ack_unmatched: u64,
    /// REGISTERs refused (403: a set that does not take them, a source or Contact outside
    /// `register_networks`).
    pub register_refused: u64,
    /// Initial INVITEs refused (400) because their Call-ID belongs to a call held with
    /// another caller's From tag: taking it over would move that call's pinning and media.
    pub call_id_in_use: u64,
    /// Requests refused at a table cap (503 with Retry-After), by table.
    pub over_capacity: CapCounters,
    /// In-dialog requests forwarded to the pinned member.
    pub pinned: u64,
    /// CANCELs matching no transaction (481).
    pub cancel_unmatched: u64,
    /// OPTIONS probes sent.
    pub probes_sent: u64,
    /// Late 2xx from an abandoned branch, ended with ACK + BYE.
    pub late_answers_ended: u64,
    /// Media anchoring: what happened to the SDP of anchored calls.
    pub media: MediaCounters,
    /// Requests by method, responses by class, calls by how they ended.
    pub traffic: crate::TrafficCounters,
}

/// What the proxy did with the SDP of anchored calls.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MediaCounters {
    /// SDP offers rewritten (requests and responses).
    pub offers: u64,
    /// SDP answers rewritten.
    pub answers: u64,
    /// Requests refused with 503: no relay port or session left.
    pub refused_overload: u64,
    /// Requests refused with 488: an SDP the relay cannot rewrite (or a body it cannot read).
    pub refused_sdp: u64,
    /// Responses whose SDP could not be rewritten: forwarded without it.
    pub sdp_removed: u64,
    /// Media sessions released (BYE, failure, expiry).
    pub released: u64,
    /// Anchored calls the relay ended (BYE to both parties), by reason: no RTP,
    pub timeout_no_rtp: u64,
    /// on hold longer than the hold timeout,
    pub timeout_on_hold: u64,
    /// longer than the final timeout.
    pub timeout_final: u64,
    /// Answered calls whose member had sent no RTP at the relay's RTP check.
    pub member_no_rtp: u64,
}

/// Requests refused because a table was full, by table (see `[sip] max_*`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CapCounters {
    /// No room for a server transaction: a stateless 503.
    pub server_transactions: u64,
    /// No room for a branch's client transaction.
    pub client_transactions: u64,
    /// No room for a response context.
    pub contexts: u64,
    /// No room for a new call's dialog.
    pub dialogs: u64,
    /// No room for a new registration.
    pub registrations: u64,
}

/// Why the proxy refused or dropped a message: the name of its counter, as logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    StrayResponse,
    WrongSource,
    Route,
    Dialog,
    Ack,
    Register,
    CallIdInUse,
    Cap(Table),
}

/// A capped table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Table {
    Server,
    Client,
    Contexts,
    Dialogs,
    Registrations,
}

impl Refusal {
    /// The counter's name, as the debug log line gives it.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Refusal::StrayResponse => "stray_responses",
            Refusal::WrongSource => "responses_wrong_source",
            Refusal::Route => "route_refused",
            Refusal::Dialog => "dialog_refused",
            Refusal::Ack => "ack_unmatched",
            Refusal::Register => "register_refused",
            Refusal::CallIdInUse => "call_id_in_use",
            Refusal::Cap(Table::Server) => "over_capacity.server_transactions",
            Refusal::Cap(Table::Client) => "over_capacity.client_transactions",
            Refusal::Cap(Table::Contexts) => "over_capacity.contexts",
            Refusal::Cap(Table::Dialogs) => "over_capacity.dialogs",
            Refusal::Cap(Table::Registrations) => "over_capacity.registrations",
        }
    }
}

impl ProxyCounters {
    /// Counts one refusal.
    pub(crate) fn refused(&mut self, r: Refusal) {
        let c = match r {
            Refusal::StrayResponse => &mut self.stray_responses,
            Refusal::WrongSource => &mut self.responses_wrong_source,
            Refusal::Route => &mut self.route_refused,
            Refusal::Dialog => &mut self.dialog_refused,
            Refusal::Ack => &mut self.ack_unmatched,
            Refusal::Register => &mut self.register_refused,
            Refusal::CallIdInUse => &mut self.call_id_in_use,
            Refusal::Cap(Table::Server) => &mut self.over_capacity.server_transactions,
            Refusal::Cap(Table::Client) => &mut self.over_capacity.client_transactions,
            Refusal::Cap(Table::Contexts) => &mut self.over_capacity.contexts,
            Refusal::Cap(Table::Dialogs) => &mut self.over_capacity.dialogs,
            Refusal::Cap(Table::Registrations) => &mut self.over_capacity.registrations,
        };
        *c += 1;
    }
}
