//! Identifiers, states and the values that cross the dispatcher's API.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use sip::Transport;

/// A member of a set. Ids are never reused, so a stale id names nothing rather than another
/// member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MemberId(pub(crate) u32);

impl MemberId {
    /// The raw number (for logs and the admin socket).
    pub fn get(self) -> u32 {
        self.0
    }
}

impl fmt::Display for MemberId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "m{}", self.0)
    }
}

/// A destination set. A set keeps its id across reloads as long as its name stays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SetId(pub(crate) u32);

impl SetId {
    /// The raw number.
    pub fn get(self) -> u32 {
        self.0
    }
}

/// A host-name member entry (or last resort) of the config whose addresses come from DNS;
/// kept across reloads as long as its set and URI text stay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SourceId(pub(crate) u32);

/// One probe sent: its answer is matched by this, so a late answer to an older probe is
/// never taken for the current one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProbeId {
    /// The probed member.
    pub member: MemberId,
    /// Sequence number of the probe, unique per dispatcher.
    pub seq: u64,
}

/// A member's health as seen by probes and passive detection, whatever the admin state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Health {
    /// No failure since the last success.
    Active,
    /// At least one, but fewer than `down_after`, consecutive failures. Still takes calls,
    /// like a Kamailio destination that stays active until its failure threshold.
    Suspect,
    /// `down_after` consecutive failures; back to Active after `up_after` consecutive
    /// successes.
    Down,
}

/// The state an operator sees: the admin state first, then BUSY, then health.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MemberState {
    /// Healthy, takes calls.
    Active,
    /// Recent failures below the threshold; takes calls.
    Suspect,
    /// Failed `down_after` times in a row; takes no calls, still probed.
    Down,
    /// Said 503 with Retry-After; takes no calls until that passes.
    Busy,
    /// Admin: out of service, takes nothing, not probed.
    Disabled,
    /// Admin: no new calls; dialogs continue; still probed.
    Draining,
}

impl MemberState {
    /// Every state, in counter index order.
    pub const ALL: [MemberState; 6] = [
        MemberState::Active,
        MemberState::Suspect,
        MemberState::Down,
        MemberState::Busy,
        MemberState::Disabled,
        MemberState::Draining,
    ];

    /// Lowercase name, for logs and metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            MemberState::Active => "active",
            MemberState::Suspect => "suspect",
            MemberState::Down => "down",
            MemberState::Busy => "busy",
            MemberState::Disabled => "disabled",
            MemberState::Draining => "draining",
        }
    }

    /// Index into [`MemberCounters::transitions_to`].
    pub fn index(self) -> usize {
        match self {
            MemberState::Active => 0,
            MemberState::Suspect => 1,
            MemberState::Down => 2,
            MemberState::Busy => 3,
            MemberState::Disabled => 4,
            MemberState::Draining => 5,
        }
    }
}

/// Where a member came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A `[[set.member]]` with an IP literal.
    Static,
    /// One address found by DNS for a host-name `[[set.member]]` or last resort.
    Dns(SourceId),
    /// Joined by REGISTER; removed at `expires_at` unless refreshed.
    Registered {
        /// When the registration lapses.
        expires_at: Instant,
    },
    /// Added at run time over the admin socket ([`crate::Dispatcher::add_member`]); stays
    /// until removed, across reloads while its set stays.
    Admin,
}

/// A member's last state change, for the admin socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    /// State before.
    pub from: MemberState,
    /// State after.
    pub to: MemberState,
    /// Why.
    pub reason: Reason,
    /// When.
    pub at: Instant,
}

/// Per-member counters; monotonic for the member's lifetime (a reload keeps them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MemberCounters {
    /// Times `select` picked the member.
    pub selected: u64,
    /// Calls started on it.
    pub calls: u64,
    /// Probes sent.
    pub probes_sent: u64,
    /// Probes answered with an accepted code.
    pub probes_ok: u64,
    /// Probes failed (timeout, transport error, code not accepted).
    pub probes_failed: u64,
    /// Probes answered 503 with Retry-After.
    pub probes_busy: u64,
    /// Passive failures counted (INVITE timeouts, transport errors, 503s without BUSY).
    pub passive_failures: u64,
    /// Passive 503s that made it BUSY.
    pub passive_busy: u64,
    /// Calls it answered that had brought no RTP from it at the relay's RTP check.
    pub calls_without_rtp: u64,
    /// Transitions into each state, indexed by [`MemberState::index`].
    pub transitions_to: [u64; 6],
}

impl MemberCounters {
    /// Transitions into `state`.
    pub fn transitions(&self, state: MemberState) -> u64 {
        self.transitions_to[state.index()]
    }
}

/// The keys `algorithm = "hash"` may hash, taken from the request. An empty key falls back to
/// the Call-ID so a request without, say, a From user is still spread.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HashKeys<'a> {
    /// The Call-ID.
    pub call_id: &'a str,
    /// The From URI's user part.
    pub from_user: &'a str,
    /// The To URI's user part.
    pub to_user: &'a str,
    /// The Request-URI's user part.
    pub ruri_user: &'a str,
}

/// What `select` found for a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selection {
    /// Send the call here.
    Member(MemberId),
    /// Every member not yet tried that is up is full (`max_calls`) or BUSY: answer 503 with
    /// this Retry-After (zero: no header).
    AllFull {
        /// The set's `retry_after_secs`.
        retry_after: Duration,
    },
    /// No member is up (all DOWN, DISABLED, DRAINING or already tried), or the set is
    /// unknown: answer 503 with this Retry-After (zero: no header).
    NoneAvailable {
        /// The set's `retry_after_secs` (zero for an unknown set).
        retry_after: Duration,
    },
    /// `max_attempts` members were tried and no last resort is left: the proxy answers with
    /// the best final reply it collected (RFC 3261 §16.7 step 6).
    Exhausted,
}

/// The result of one probe, as the transaction layer saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeOutcome {
    /// A reply. Provisional codes (below 200) are ignored: the probe stays outstanding.
    Reply {
        /// Status code.
        code: u16,
        /// Retry-After in seconds, if the reply carried one.
        retry_after: Option<u32>,
    },
    /// No final reply in time (always a failure).
    Timeout,
    /// The request could not be sent or the connection failed (a failure).
    TransportError,
}

/// What a call told about a member (passive detection, `health.passive`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PassiveEvent {
    /// An INVITE branch timed out without any provisional reply: a failure.
    InviteTimeout,
    /// Sending to the member failed: a failure.
    TransportError,
    /// The member answered 503: BUSY for Retry-After seconds (capped at 3600); without a
    /// usable Retry-After, BUSY for `busy_default_secs` if set, else a failure.
    ServiceUnavailable {
        /// Retry-After in seconds, if present.
        retry_after: Option<u32>,
    },
}

/// An OPTIONS probe to send now (RFC 3261 §11).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeRequest {
    /// Give this back to `probe_result`.
    pub probe: ProbeId,
    /// Where to send it.
    pub target: SocketAddr,
    /// Over which transport.
    pub transport: Transport,
    /// The Request-URI: the member's URI.
    pub request_uri: String,
    /// The From URI (`health.probe_from`).
    pub from: String,
    /// Without a final reply by then the probe has failed; the dispatcher counts that itself
    /// in `handle_timeout`.
    pub deadline: Instant,
}

/// Why a member's state changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Probe failures; `consecutive` failures so far.
    ProbeFailed {
        /// Consecutive failures including this one.
        consecutive: u32,
    },
    /// Probe successes; `consecutive` successes so far.
    ProbeSucceeded {
        /// Consecutive successes including this one.
        consecutive: u32,
    },
    /// A failure seen on a call.
    PassiveFailure {
        /// Consecutive failures including this one.
        consecutive: u32,
    },
    /// A call it answered brought no RTP from it (`no_rtp_suspect`).
    NoRtp {
        /// Consecutive failures including this one.
        consecutive: u32,
    },
    /// A 503 with Retry-After (probe or call).
    Busy {
        /// How long it stays BUSY.
        duration: Duration,
    },
    /// The BUSY time passed.
    BusyOver,
    /// An admin state change (admin socket or reload).
    Admin,
}

/// Why a member went away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoveReason {
    /// The reloaded config no longer has it.
    Reconfigured,
    /// DNS no longer returns its address.
    Unresolved,
    /// Its registration lapsed.
    Expired,
    /// It unregistered (REGISTER with expires 0).
    Unregistered,
    /// An operator removed it over the admin socket.
    Admin,
}

/// Something that happened to a member; one per state transition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DispatchEvent {
    /// The member's state changed.
    StateChanged {
        /// The member.
        member: MemberId,
        /// Its set.
        set: SetId,
        /// Its URI.
        uri: String,
        /// State before.
        from: MemberState,
        /// State after.
        to: MemberState,
        /// Why.
        reason: Reason,
    },
    /// A member appeared (start, reload, DNS answer, REGISTER).
    Added {
        /// The member.
        member: MemberId,
        /// Its set.
        set: SetId,
        /// Its URI.
        uri: String,
        /// Where it came from.
        origin: Origin,
    },
    /// A member went away; its id names nothing from now on.
    Removed {
        /// The member.
        member: MemberId,
        /// Its set.
        set: SetId,
        /// Its URI.
        uri: String,
        /// Why.
        reason: RemoveReason,
    },
}

/// One address DNS found for a host-name member (from the caller's RFC 3263 lookup).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResolvedTarget {
    /// Address and port.
    pub addr: SocketAddr,
    /// Transport.
    pub transport: Transport,
    /// SRV priority and weight (RFC 2782) when found through SRV; `None` keeps the member
    /// entry's configured priority and weight.
    pub srv: Option<(u16, u16)>,
}

/// A REGISTER asking to join a set (RFC 3261 §10.3, reduced to what a pool member needs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Registration<'a> {
    /// Source address of the REGISTER (checked against `register_networks`).
    pub source: IpAddr,
    /// Where calls to the member go (its Contact, resolved by the caller).
    pub contact: SocketAddr,
    /// The Contact URI text, used as the member's URI.
    pub uri: &'a str,
    /// Transport of the Contact.
    pub transport: Transport,
    /// Requested expiry; zero unregisters (RFC 3261 §10.2.2).
    pub expires: Duration,
}
