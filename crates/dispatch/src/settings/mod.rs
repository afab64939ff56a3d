//! The dispatcher's settings: destination sets, their members, health checks and routes.
//!
//! These are the dispatcher's own types; the `config` crate reads `[[set]]` and `[[route]]`
//! into them (checking every key and naming it in its errors), so the daemon hands them over
//! as they are. Values here are assumed checked: ranges are documented, not enforced.

mod health;
mod route;

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use serde::Deserialize;
use sip::{SipUri, Transport, UriHost};

pub use health::{HealthConfig, OkCode, OkCodeError, DEFAULT_PROBE_FROM};
pub use route::{Cidr, CidrError, RouteConfig};

/// Longest set or route name (they appear in metrics labels and admin commands).
pub const MAX_SET_NAME_LEN: usize = 32;

/// Most `max_attempts` per call.
pub const MAX_ATTEMPTS: u8 = 16;

/// Most calls a member may be capped at (`max_calls`).
pub const MAX_MEMBER_CALLS: u32 = 1_000_000;

/// Largest member `weight`.
pub const MAX_WEIGHT: u32 = 1000;

/// How a set picks the member for a new call (`algorithm`; the serde names are the config
/// spelling).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Algorithm {
    /// Each eligible member in turn (the default).
    #[default]
    RoundRobin,
    /// Smooth weighted round robin by `weight`.
    Weighted,
    /// The member with the fewest active calls; ties taken in turn.
    LeastCalls,
    /// Rendezvous (highest random weight) hashing of `hash_key`: a key sticks to a member,
    /// and only the keys of a member that drops out move.
    Hash,
    /// The lowest `priority` value with an eligible member; members of that priority in turn.
    Priority,
    /// RFC 2782 order: lowest priority first, by weight within a priority.
    Srv,
}

impl Algorithm {
    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::RoundRobin => "round_robin",
            Algorithm::Weighted => "weighted",
            Algorithm::LeastCalls => "least_calls",
            Algorithm::Hash => "hash",
            Algorithm::Priority => "priority",
            Algorithm::Srv => "srv",
        }
    }
}

/// What `algorithm = "hash"` hashes (`hash_key`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HashKey {
    /// The Call-ID (the default): a call's retries and forks land on one member.
    #[default]
    CallId,
    /// The From URI's user part: a caller sticks to a member.
    FromUser,
    /// The To URI's user part.
    ToUser,
    /// The Request-URI's user part: a dialled number sticks to a member.
    RuriUser,
}

impl HashKey {
    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            HashKey::CallId => "call_id",
            HashKey::FromUser => "from_user",
            HashKey::ToUser => "to_user",
            HashKey::RuriUser => "ruri_user",
        }
    }
}

/// An operator's say on whether a member takes calls (`state`; also set at run time).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AdminState {
    /// Takes new calls when healthy (the default).
    #[default]
    Active,
    /// Takes nothing new and is not probed: out of service.
    Disabled,
    /// Takes no new calls; its dialogs continue and it is still probed.
    Draining,
}

impl AdminState {
    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            AdminState::Active => "active",
            AdminState::Disabled => "disabled",
            AdminState::Draining => "draining",
        }
    }
}

/// How the dispatcher finds the address(es) behind a member or last-resort URI (RFC 3263 §4).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MemberTarget {
    /// An IP literal: one fixed address; the port is the URI's, else 5060 (5061 for `sips:`),
    /// RFC 3263 §4.2.
    Static(SocketAddr),
    /// A host name with an explicit port: A/AAAA lookups only (RFC 3263 §4.2).
    Address {
        /// Host name to look up.
        host: String,
        /// The URI's port.
        port: u16,
    },
    /// A host name without a port: NAPTR, then SRV, then A/AAAA (RFC 3263 §4.1, §4.2).
    Service {
        /// Host name to look up.
        host: String,
    },
}

impl MemberTarget {
    /// Where `uri` is found (RFC 3263 §4.1, §4.2).
    pub fn of(uri: &SipUri) -> MemberTarget {
        match (&uri.host, uri.port) {
            (UriHost::Ip(ip), port) => {
                MemberTarget::Static(SocketAddr::new(*ip, port.unwrap_or(uri.default_port())))
            }
            (UriHost::Name(host), Some(port)) => MemberTarget::Address {
                host: host.clone(),
                port,
            },
            (UriHost::Name(host), None) => MemberTarget::Service { host: host.clone() },
        }
    }
}

/// One static member of a set (`[[set.member]]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberConfig {
    /// `uri`: `sip:`/`sips:` URI of the member. An IP literal is one fixed address (port
    /// default 5060, 5061 for `sips:`); a host name with a port is looked up with A/AAAA; a
    /// host name without a port with NAPTR/SRV (RFC 3263 §4).
    pub uri: SipUri,
    /// `transport`: the `transport` key, else the URI's `transport=` parameter, else udp
    /// (tcp for `sips:`).
    pub transport: Transport,
    /// `weight` (1..=[`MAX_WEIGHT`], default 1): share of calls under `weighted`, and within a
    /// priority under `srv` for members not found through SRV.
    pub weight: u32,
    /// `priority` (default 0): lower first, under `priority` and `srv`.
    pub priority: u16,
    /// `max_calls` (`None`: no cap; at most [`MAX_MEMBER_CALLS`]): a member with this many
    /// active calls takes no new one, whatever the algorithm.
    pub max_calls: Option<NonZeroU32>,
    /// `state` (default active): the admin state the member starts in.
    pub state: AdminState,
}

impl MemberConfig {
    /// Where the member is found.
    pub fn target(&self) -> MemberTarget {
        MemberTarget::of(&self.uri)
    }
}

/// The next hop a set tries when no member is left (`last_resort`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastResort {
    /// Its URI (same rules as a member's).
    pub uri: SipUri,
    /// Its transport: the URI's `transport=` parameter, else udp (tcp for `sips:`).
    pub transport: Transport,
}

/// A destination set (`[[set]]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetConfig {
    /// `name` (unique): letters, digits, '_' and '-', 1 to [`MAX_SET_NAME_LEN`].
    pub name: String,
    /// `algorithm` (default round_robin).
    pub algorithm: Algorithm,
    /// `hash_key` (default call_id): used by `algorithm = "hash"`.
    pub hash_key: HashKey,
    /// `failover_codes` (default `[500, 503]`, each 300..=699): final replies from a member
    /// that make the proxy try the next one.
    pub failover_codes: Vec<u16>,
    /// `max_attempts` (1..=[`MAX_ATTEMPTS`], default 3): members tried per call at most (the
    /// last resort not counted).
    pub max_attempts: u8,
    /// `last_resort` (optional): tried when every member failed or none is available.
    pub last_resort: Option<LastResort>,
    /// `retry_after_secs` (default 5): Retry-After on the proxy's own 503 when every member is
    /// full, busy or down; zero means no Retry-After header.
    pub retry_after: Duration,
    /// `register` (default false): members may join by REGISTER with the set name as the To
    /// user.
    pub register: bool,
    /// `register_networks`: source networks allowed to REGISTER into the set (at least one
    /// when `register` is true).
    pub register_networks: Vec<Cidr>,
    /// `register_max_expires_secs` (default 3600): longest registration granted; longer
    /// requests are shortened to it.
    pub register_max_expires: Duration,
    /// `[set.health]`: probing and passive detection.
    pub health: HealthConfig,
    /// `[[set.member]]`: the static members, in file order. May be empty only with
    /// `register = true`.
    pub members: Vec<MemberConfig>,
    /// `[set.media]`: whether the media of the calls routed to the set is anchored on this
    /// element, and on which relay interfaces.
    pub media: MediaPlan,
}

/// How the media of a set's calls flows (`[set.media]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaPlan {
    /// Signalling only: SDP passes untouched and media flows end to end.
    Off,
    /// Anchored (the default): every SDP offer and answer of the call is rewritten so that
    /// RTP flows through relay ports of this element, on the named `[[interface]]`s.
    Anchor {
        /// The interface toward the party that sent the INVITE (`caller_interface`).
        caller: String,
        /// The interface toward the set's members (`member_interface`).
        member: String,
    },
}

impl SetConfig {
    /// Whether a final reply `code` from a member makes the proxy try the next member.
    pub fn fails_over_on(&self, code: u16) -> bool {
        self.failover_codes.contains(&code)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
