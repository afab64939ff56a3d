//! Ferrovox dispatcher: destination sets, selection algorithms and member health (sans-IO).
//!
//! What a Kamailio `dispatcher` operator expects, as a deterministic state machine the SIP
//! proxy drives: it never does I/O, never sleeps and takes the time as an argument.
//!
//! * **Sets and routes**: [`Dispatcher::route`] picks a set for a request (source network,
//!   source set, Request-URI user prefix and host; first matching `[[route]]`, or the first
//!   set when there are no routes); [`Dispatcher::select`] picks a member of it, skipping the
//!   ones already tried so each retry goes elsewhere.
//! * **Algorithms**: round robin (exact rotation), weighted (smooth weighted round robin,
//!   exact proportions), least active calls (ties in turn), rendezvous hash over Call-ID /
//!   From / To / R-URI user (only the keys of a member that drops out move), priority tiers
//!   (in turn within the lowest tier), and RFC 2782 SRV order (lowest priority, weighted
//!   within). `max_calls` caps a member under every algorithm.
//! * **States**: ACTIVE, SUSPECT (1 to N-1 consecutive failures: still takes calls, as a
//!   Kamailio destination stays active until its threshold), DOWN (N consecutive failures;
//!   ACTIVE again after M consecutive successes), BUSY (a 503 with Retry-After, for that long,
//!   then the health state again), DISABLED (admin: no calls, no probes), DRAINING (admin: no
//!   new calls, dialogs continue, still probed so the health underneath stays known). Every
//!   transition gives one [`DispatchEvent`] and one count in
//!   [`MemberCounters::transitions_to`].
//! * **Health**: [`Dispatcher::poll_probe`] hands out OPTIONS probes, staggered over the
//!   interval, at most one in flight per member; [`Dispatcher::probe_result`] and
//!   [`Dispatcher::passive`] feed results back; [`Dispatcher::handle_timeout`] fails probes
//!   past their deadline and ends BUSY times.
//! * **Dynamic members**: [`Dispatcher::set_resolved`] takes RFC 3263 answers for host-name
//!   entries (re-resolved by the caller on TTL), [`Dispatcher::register`] lets pool members
//!   join by REGISTER; [`Dispatcher::reconfigure`] reloads without losing state.
//!
//! ```
//! use std::time::Instant;
//! use dispatch::{Dispatcher, HashKeys, Selection};
//!
//! let cfg = config::parse(r#"
//!     [[interface]]
//!     name = "pub"
//!     address = "127.0.0.1"
//!     port_min = 30000
//!     port_max = 30999
//!     [[set]]
//!     name = "pool"
//!     [[set.member]]
//!     uri = "sip:127.0.0.1:5081"
//!     [[set.member]]
//!     uri = "sip:127.0.0.1:5082"
//! "#).unwrap();
//! let now = Instant::now();
//! let mut d = Dispatcher::new(&cfg.sets, &cfg.routes, now);
//! let set = d.route("192.0.2.1".parse().unwrap(), "alice", "example.net").unwrap();
//! let Selection::Member(first) = d.select(set, &HashKeys::default(), &[], now) else { panic!() };
//! // The first member failed: the retry goes to the other one.
//! let Selection::Member(second) = d.select(set, &HashKeys::default(), &[first], now) else { panic!() };
//! assert_ne!(first, second);
//! ```
#![forbid(unsafe_code)]

mod access;
mod admin;
mod dispatcher;
mod dynamic;
mod error;
pub mod hash;
mod member;
mod probe;
mod select;
mod settings;
mod types;

pub use dispatcher::{Dispatcher, DnsSource, MemberView, MAX_PENDING_EVENTS};
pub use dynamic::{MAX_REGISTERED_PER_SET, MAX_TARGETS_PER_SOURCE};
pub use error::{AdminError, RegisterError, ResolveError};
pub use member::Member;
pub use settings::{
    AdminState, Algorithm, Cidr, CidrError, HashKey, HealthConfig, LastResort, MediaPlan,
    MemberConfig, MemberTarget, OkCode, OkCodeError, RouteConfig, SetConfig, DEFAULT_PROBE_FROM,
    MAX_ATTEMPTS, MAX_MEMBER_CALLS, MAX_SET_NAME_LEN, MAX_WEIGHT,
};
pub use types::{
    DispatchEvent, HashKeys, Health, MemberCounters, MemberId, MemberState, Origin, PassiveEvent,
    ProbeId, ProbeOutcome, ProbeRequest, Reason, Registration, RemoveReason, ResolvedTarget,
    Selection, SetId, SourceId, Transition,
};

/// Longest BUSY time a Retry-After can set, in seconds (one hour).
pub const MAX_BUSY_SECS: u32 = 3600;
