//! The engine's public types: its settings, how it opens ports, what it emits.

use crate::guard::{GuardConfig, GuardCounters};
use dataplane::LatchMode;
use dataplane::{PortHandle, PortKey};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// One relay address as the engine needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    /// Logical name (the ng `direction` values).
    pub name: String,
    /// Local address the ports bind to.
    pub address: IpAddr,
    /// Address written into SDP (1:1 NAT), if not the local one.
    pub advertised: Option<IpAddr>,
}

/// Engine settings.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Relay addresses, in layout order.
    pub interfaces: Vec<Interface>,
    /// Default latching.
    pub latching: LatchMode,
    /// Default strict source.
    pub strict_source: bool,
    /// Offer without answer.
    pub offer_timeout: Duration,
    /// Cap on call length (None = off).
    pub final_timeout: Option<Duration>,
    /// Relaying continues this long after `delete` before the ports are released.
    pub delete_delay: Duration,
    /// Maximum concurrent calls (0 = unlimited).
    pub max_sessions: usize,
    /// How long replies are kept for repeated cookies.
    pub cookie_ttl: Duration,
    /// Which sources may send ng requests, and how fast (checked before parsing).
    pub guard: GuardConfig,
    /// The clock origin shared with the workers: reported times (`created`, `last signal`)
    /// count from it.
    pub epoch: std::time::Instant,
    /// The workers run on the DPDK fast path (ng `statistics` reports `"fastpath": 1`).
    pub fastpath: bool,
    /// How long after its answer an anchored call's streams are checked for RTP from each
    /// party ([`Engine::poll_anchored_silent`](crate::Engine::poll_anchored_silent)); `None`:
    /// never.
    pub rtp_check: Option<Duration>,
}

/// Opens relay ports (the socket backend binds a UDP socket: `pktio::SocketBinder`; frame
/// backends need nothing: [`VirtualBinder`]).
pub trait PortBinder: Send {
    /// Opens `ip:port` for relay address `addr`.
    fn bind(&mut self, addr: u16, ip: IpAddr, port: u16) -> std::io::Result<PortHandle>;
}

/// Needs no kernel objects (memory and DPDK backends).
#[derive(Debug, Default)]
pub struct VirtualBinder;

impl PortBinder for VirtualBinder {
    fn bind(&mut self, _addr: u16, _ip: IpAddr, _port: u16) -> std::io::Result<PortHandle> {
        Ok(PortHandle::Virtual)
    }
}

/// An ng reply to send, from the ng socket (the same shape as the proxy's and the DNS
/// client's `Transmit`: destination `dst`, payload `bytes`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Destination.
    pub dst: SocketAddr,
    /// Payload.
    pub bytes: Vec<u8>,
}

/// Why a call ended without a `delete`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EndReason {
    /// No media for the timeout.
    NoRtp,
    /// No media for the hold timeout.
    OnHold,
    /// Offer never answered.
    OfferTimeout,
    /// Final call length cap.
    FinalTimeout,
}

impl EndReason {
    /// Stable name.
    pub fn name(self) -> &'static str {
        match self {
            EndReason::NoRtp => "timeout_no_rtp",
            EndReason::OnHold => "timeout_on_hold",
            EndReason::OfferTimeout => "timeout_offer",
            EndReason::FinalTimeout => "timeout_final",
        }
    }
}

/// Something the driver should log or act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineEvent {
    /// A call was ended by a timeout.
    CallEnded {
        /// Call-ID.
        call_id: String,
        /// Why.
        reason: EndReason,
    },
    /// A request failed.
    RequestFailed {
        /// Call-ID, if the request had one.
        call_id: Option<String>,
        /// The command.
        command: &'static str,
        /// The error-reason sent back.
        reason: String,
    },
    /// A worker refused an install (a bug or a backend failure).
    InstallFailed {
        /// Worker.
        worker: usize,
        /// Port.
        key: PortKey,
    },
}

/// Engine counters (control plane).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EngineCounters {
    /// Requests by command name.
    pub requests: HashMap<&'static str, u64>,
    /// Requests answered with an error.
    pub errors: u64,
    /// Repeated cookies answered from the cache.
    pub cookie_hits: u64,
    /// Datagrams that were not ng requests at all.
    pub malformed: u64,
    /// Offers refused because no port pair was free.
    pub port_exhausted: u64,
    /// Relay ports skipped because binding failed.
    pub bind_failures: u64,
    /// Calls ended by reason.
    pub ended: HashMap<&'static str, u64>,
    /// Calls deleted by request.
    pub deleted: u64,
    /// Calls created.
    pub created: u64,
    /// ng datagrams by the verdict of the source allow-list and rate limit.
    pub guard: GuardCounters,
    /// Offers of calls the SIP proxy anchors (in-process, not ng).
    pub anchor_offers: u64,
    /// Answers of calls the SIP proxy anchors.
    pub anchor_answers: u64,
    /// Anchored offers and answers refused.
    pub anchor_refused: u64,
    /// Anchored calls with a party that had sent no RTP at the RTP check.
    pub anchor_silent: u64,
}

/// Why the engine refused an offer or answer, by what the SIP side does about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnchorError {
    /// No room for the session: `max_sessions`, no free relay port, no descriptor (a SIP
    /// proxy answers 503 with Retry-After).
    #[error("{0}")]
    Overloaded(String),
    /// The SDP cannot be read or rewritten (a SIP proxy answers 488 with a Warning).
    #[error("{0}")]
    BadSdp(String),
    /// Anything else: an unknown call or tag, no relay address of the SDP's family.
    #[error("{0}")]
    Refused(String),
}

/// One SDP offer or answer of a call that the SIP proxy anchors on this relay (in-process:
/// no ng message is built or parsed).
#[derive(Debug, Clone, Copy)]
pub struct SdpExchange<'a> {
    /// The SIP Call-ID.
    pub call_id: &'a [u8],
    /// The tag of the party that made the offer (for an answer: of the offerer still).
    pub offerer_tag: &'a [u8],
    /// The tag of the other party, once known.
    pub answerer_tag: Option<&'a [u8]>,
    /// The SDP body.
    pub sdp: &'a [u8],
    /// Relay interface names: on the offerer's side, on the answerer's side. Used when the
    /// call is new; later offers keep the legs' interfaces.
    pub interfaces: [&'a str; 2],
}
