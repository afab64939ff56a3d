//! One member: where it is, its states, calls and counters; and the N/M health rule.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use sip::Transport;

use crate::settings::{AdminState, HealthConfig};
use crate::types::{
    Health, MemberCounters, MemberId, MemberState, Origin, ProbeOutcome, Reason, SetId, SourceId,
    Transition,
};

/// A member of a set, as the admin socket and metrics see it.
#[derive(Debug, Clone)]
pub struct Member {
    pub(crate) id: MemberId,
    pub(crate) set: SetId,
    pub(crate) origin: Origin,
    pub(crate) uri: String,
    pub(crate) target: SocketAddr,
    pub(crate) transport: Transport,
    pub(crate) weight: u32,
    pub(crate) priority: u16,
    pub(crate) max_calls: Option<NonZeroU32>,
    pub(crate) last_resort: bool,
    pub(crate) admin: AdminState,
    /// The admin state the config last asked for: a reload changes `admin` only when this
    /// changes, so a state set over the admin socket survives unrelated reloads.
    pub(crate) cfg_admin: AdminState,
    pub(crate) health: Health,
    pub(crate) fails: u32,
    pub(crate) oks: u32,
    pub(crate) busy_until: Option<Instant>,
    pub(crate) active_calls: u32,
    /// Calls other nodes of the cluster hold on it, as they last published them (HA with
    /// shared limits; 0 otherwise): they count toward `max_calls` and least-calls.
    pub(crate) peer_calls: u32,
    pub(crate) counters: MemberCounters,
    /// When the next probe is due (`None`: not probed).
    pub(crate) next_probe: Option<Instant>,
    /// The probe in flight: sequence number and deadline.
    pub(crate) outstanding: Option<(u64, Instant)>,
    /// Smooth weighted round robin running weight.
    pub(crate) swrr: i64,
    /// Per-member seed of rendezvous hashing, from its identity.
    pub(crate) hash_seed: u64,
    /// SRV priority and weight when DNS gave them (they override the config's).
    pub(crate) srv: Option<(u16, u16)>,
    /// The last state change.
    pub(crate) last_transition: Option<Transition>,
    /// When the probe in flight was sent.
    pub(crate) probe_sent: Option<Instant>,
    /// Round-trip time of the last probe answered.
    pub(crate) last_rtt: Option<Duration>,
}

impl Member {
    /// Its id.
    pub fn id(&self) -> MemberId {
        self.id
    }
    /// Its set.
    pub fn set(&self) -> SetId {
        self.set
    }
    /// Where it came from.
    pub fn origin(&self) -> Origin {
        self.origin
    }
    /// Its URI: the config text, `sip:addr` for a DNS-found address, or the Contact.
    pub fn uri(&self) -> &str {
        &self.uri
    }
    /// Where requests to it go.
    pub fn target(&self) -> SocketAddr {
        self.target
    }
    /// Over which transport.
    pub fn transport(&self) -> Transport {
        self.transport
    }
    /// Weight used by `weighted` and `srv` (SRV weight when found through SRV).
    pub fn weight(&self) -> u32 {
        self.weight
    }
    /// Priority used by `priority` and `srv` (SRV priority when found through SRV).
    pub fn priority(&self) -> u16 {
        self.priority
    }
    /// Cap on active calls, if any.
    pub fn max_calls(&self) -> Option<NonZeroU32> {
        self.max_calls
    }
    /// Whether it is the set's last resort rather than a regular member.
    pub fn is_last_resort(&self) -> bool {
        self.last_resort
    }
    /// The admin state.
    pub fn admin_state(&self) -> AdminState {
        self.admin
    }
    /// Health by probes and passive detection (kept up to date under DRAINING too).
    pub fn health(&self) -> Health {
        self.health
    }
    /// Until when it is BUSY, if it is.
    pub fn busy_until(&self) -> Option<Instant> {
        self.busy_until
    }
    /// Calls in progress.
    pub fn active_calls(&self) -> u32 {
        self.active_calls
    }
    /// Calls other nodes hold on it, as last published (HA with shared limits).
    pub fn peer_calls(&self) -> u32 {
        self.peer_calls
    }
    /// Calls in progress cluster-wide: this node's and its peers'.
    pub(crate) fn load(&self) -> u32 {
        self.active_calls.saturating_add(self.peer_calls)
    }
    /// Its counters.
    pub fn counters(&self) -> &MemberCounters {
        &self.counters
    }
    /// Consecutive failures so far.
    pub fn consecutive_failures(&self) -> u32 {
        self.fails
    }
    /// Consecutive successes so far.
    pub fn consecutive_successes(&self) -> u32 {
        self.oks
    }
    /// Its last state change (`None`: none since it was created).
    pub fn last_transition(&self) -> Option<&Transition> {
        self.last_transition.as_ref()
    }
    /// Round-trip time of the last probe that got a final reply.
    pub fn probe_rtt(&self) -> Option<Duration> {
        self.last_rtt
    }

    /// The state an operator sees: DISABLED and DRAINING first, then BUSY, then health.
    pub fn state(&self) -> MemberState {
        match self.admin {
            AdminState::Disabled => MemberState::Disabled,
            AdminState::Draining => MemberState::Draining,
            AdminState::Active if self.busy_until.is_some() => MemberState::Busy,
            AdminState::Active => match self.health {
                Health::Active => MemberState::Active,
                Health::Suspect => MemberState::Suspect,
                Health::Down => MemberState::Down,
            },
        }
    }

    /// Whether it is at its `max_calls` (cluster-wide, with its peers' calls).
    pub fn is_full(&self) -> bool {
        self.max_calls.is_some_and(|max| self.load() >= max.get())
    }

    /// Whether it could take a call but for being full or BUSY.
    pub(crate) fn is_up(&self) -> bool {
        self.admin == AdminState::Active && self.health != Health::Down
    }

    /// Whether it may take a new call now.
    pub(crate) fn is_eligible(&self) -> bool {
        self.is_up() && self.busy_until.is_none() && !self.is_full()
    }

    /// Whether it is probed at all.
    pub(crate) fn is_probed(&self) -> bool {
        !self.last_resort && self.admin != AdminState::Disabled
    }

    /// The URI of a DNS-found address: `sip:` or `sips:` with the address and, unless the
    /// transport is the scheme's own (udp for `sip:`, tls for `sips:`), the transport parameter.
    pub(crate) fn uri_for(addr: SocketAddr, transport: Transport, secure: bool) -> String {
        match (secure, transport) {
            (false, Transport::Udp) => format!("sip:{addr}"),
            (true, Transport::Tls) => format!("sips:{addr}"),
            (false, t) => format!("sip:{addr};transport={t}"),
            (true, t) => format!("sips:{addr};transport={t}"),
        }
    }

    /// Counts one success (RFC-free N/M rule of the design): a success resets the failure
    /// count; SUSPECT is ACTIVE again at once; DOWN needs `up_after` in a row.
    pub(crate) fn record_success(&mut self, health: &HealthConfig) -> Reason {
        self.fails = 0;
        self.oks = self.oks.saturating_add(1);
        match self.health {
            Health::Active => {}
            Health::Suspect => self.health = Health::Active,
            Health::Down if self.oks >= health.up_after => self.health = Health::Active,
            Health::Down => {}
        }
        Reason::ProbeSucceeded {
            consecutive: self.oks,
        }
    }

    /// Counts one failure: the success count resets; `down_after` in a row make it DOWN,
    /// fewer make an ACTIVE member SUSPECT. Returns the consecutive failures.
    pub(crate) fn record_failure(&mut self, health: &HealthConfig) -> u32 {
        self.oks = 0;
        self.fails = self.fails.saturating_add(1);
        if self.fails >= health.down_after {
            self.health = Health::Down;
        } else if self.health == Health::Active {
            self.health = Health::Suspect;
        }
        self.fails
    }

    /// Applies a final probe outcome; provisional replies must be filtered out before.
    /// Returns the reason to report if the state changed.
    pub(crate) fn apply_probe(
        &mut self,
        outcome: ProbeOutcome,
        health: &HealthConfig,
        now: Instant,
    ) -> Reason {
        match outcome {
            ProbeOutcome::Reply {
                code: 503,
                retry_after: Some(secs),
            } if secs > 0 => {
                self.counters.probes_busy += 1;
                self.make_busy(secs, now)
            }
            ProbeOutcome::Reply { code, .. } if health.accepts(code) => {
                self.counters.probes_ok += 1;
                self.record_success(health)
            }
            ProbeOutcome::Reply { .. } | ProbeOutcome::Timeout | ProbeOutcome::TransportError => {
                self.counters.probes_failed += 1;
                Reason::ProbeFailed {
                    consecutive: self.record_failure(health),
                }
            }
        }
    }

    /// BUSY for `secs` seconds (capped at [`crate::MAX_BUSY_SECS`]) from `now`; an earlier end
    /// already set is pushed out, a later one kept. Health counts are untouched.
    pub(crate) fn make_busy(&mut self, secs: u32, now: Instant) -> Reason {
        let duration = std::time::Duration::from_secs(u64::from(secs.min(crate::MAX_BUSY_SECS)));
        let until = now + duration;
        self.busy_until = Some(self.busy_until.map_or(until, |u| u.max(until)));
        Reason::Busy { duration }
    }

    /// A member ready to be filled in: ACTIVE, no calls, nothing scheduled.
    pub(crate) fn new(
        id: MemberId,
        set: SetId,
        origin: Origin,
        uri: String,
        target: SocketAddr,
        transport: Transport,
    ) -> Member {
        let hash_seed = crate::hash::fnv1a(uri.as_bytes());
        Member {
            id,
            set,
            origin,
            uri,
            target,
            transport,
            weight: 1,
            priority: 0,
            max_calls: None,
            last_resort: false,
            admin: AdminState::Active,
            cfg_admin: AdminState::Active,
            health: Health::Active,
            fails: 0,
            oks: 0,
            busy_until: None,
            active_calls: 0,
            peer_calls: 0,
            counters: MemberCounters::default(),
            next_probe: None,
            outstanding: None,
            swrr: 0,
            hash_seed,
            srv: None,
            last_transition: None,
            probe_sent: None,
            last_rtt: None,
        }
    }

    /// The DNS entry it came from, if any.
    pub fn source(&self) -> Option<SourceId> {
        match self.origin {
            Origin::Dns(s) => Some(s),
            _ => None,
        }
    }
}
