//! The [`Dispatcher`]: sets, their members, routes, calls, admin states and events.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use sip::{SipUri, Transport};

use crate::settings::{AdminState, MemberConfig, MemberTarget, RouteConfig, SetConfig};

use crate::error::AdminError;
use crate::member::Member;
use crate::types::{
    DispatchEvent, Health, MemberId, Origin, Reason, RemoveReason, SetId, SourceId, Transition,
};

/// Most events kept for `poll_event`; older ones are dropped (and counted) beyond this.
pub const MAX_PENDING_EVENTS: usize = 65_536;

/// A config entry that yields members: a `[[set.member]]` or the set's `last_resort`.
#[derive(Debug, Clone)]
pub(crate) struct Source {
    /// Id, kept across reloads while the set name and URI text stay.
    pub(crate) id: SourceId,
    /// The entry's URI.
    pub(crate) uri: SipUri,
    /// Its transport.
    pub(crate) transport: Transport,
    /// The member entry (`None` for the last resort).
    pub(crate) cfg: Option<MemberConfig>,
    /// The members it produced, in order (one for an IP literal, DNS answers otherwise).
    pub(crate) members: Vec<MemberId>,
}

impl Source {
    /// Whether this is the set's last resort.
    pub(crate) fn is_last_resort(&self) -> bool {
        self.cfg.is_none()
    }
}

/// A set at run time.
#[derive(Debug, Clone)]
pub(crate) struct SetState {
    pub(crate) id: SetId,
    pub(crate) cfg: SetConfig,
    pub(crate) sources: Vec<Source>,
    /// Members that joined by REGISTER, in arrival order.
    pub(crate) registered: Vec<MemberId>,
    /// Members added over the admin socket, in order.
    pub(crate) added: Vec<MemberId>,
    /// Round-robin / tie-break cursor over [`SetState::order`].
    pub(crate) cursor: usize,
    /// Per-priority cursors of `algorithm = "priority"`.
    pub(crate) tier_cursors: BTreeMap<u16, usize>,
}

impl SetState {
    /// Regular members in selection order: config entries in file order (each entry's DNS
    /// answers in the order given), then registered members.
    pub(crate) fn order(&self) -> Vec<MemberId> {
        self.sources
            .iter()
            .filter(|s| !s.is_last_resort())
            .flat_map(|s| s.members.iter().copied())
            .chain(self.registered.iter().copied())
            .chain(self.added.iter().copied())
            .collect()
    }

    /// Last-resort members, in order.
    pub(crate) fn last_resorts(&self) -> impl Iterator<Item = MemberId> + '_ {
        self.sources
            .iter()
            .filter(|s| s.is_last_resort())
            .flat_map(|s| s.members.iter().copied())
    }
}

/// A member with the name of its set, for the admin socket and metrics.
#[derive(Debug, Clone, Copy)]
pub struct MemberView<'a> {
    /// Name of the member's set.
    pub set_name: &'a str,
    /// The member.
    pub member: &'a Member,
}

/// A host-name entry whose addresses the caller must look up (RFC 3263) and hand to
/// [`Dispatcher::set_resolved`], again whenever the answer's TTL runs out.
#[derive(Debug, Clone)]
pub struct DnsSource<'a> {
    /// Give this back to `set_resolved`.
    pub id: SourceId,
    /// Its set.
    pub set: SetId,
    /// The URI to resolve.
    pub uri: &'a SipUri,
    /// Its configured transport.
    pub transport: Transport,
    /// What to look up (never [`MemberTarget::Static`]).
    pub target: MemberTarget,
}

/// The sans-IO SIP dispatcher: destination sets, selection, member health, registrations.
///
/// Deterministic: the same calls with the same `now` values give the same results. Time comes
/// in as arguments; nothing here does I/O.
#[derive(Debug, Clone)]
pub struct Dispatcher {
    pub(crate) sets: Vec<SetState>,
    pub(crate) routes: Vec<RouteConfig>,
    pub(crate) members: BTreeMap<MemberId, Member>,
    next_member: u32,
    next_set: u32,
    next_source: u32,
    pub(crate) next_probe_seq: u64,
    events: VecDeque<DispatchEvent>,
    events_dropped: u64,
    /// No probe is sent (an HA standby: it cannot send from a service address it does not
    /// hold yet); members keep the state they have.
    pub(crate) probes_paused: bool,
}

/// The first probe of member `k` of `n` created together: spread evenly over one interval so
/// a set's members are not all probed in the same instant.
pub(crate) fn stagger(now: Instant, interval: Duration, k: usize, n: usize) -> Instant {
    let n = u32::try_from(n.max(1)).unwrap_or(u32::MAX);
    let k = u32::try_from(k).unwrap_or(0).min(n);
    now + interval / n * k
}

impl Dispatcher {
    /// A dispatcher for `sets` (as checked by the config crate) and `routes`. Members of
    /// IP-literal entries exist at once, ACTIVE, with their first probes spread over one
    /// interval; host-name entries wait for [`Dispatcher::set_resolved`].
    pub fn new(sets: &[SetConfig], routes: &[RouteConfig], now: Instant) -> Dispatcher {
        let mut d = Dispatcher {
            sets: Vec::new(),
            routes: Vec::new(),
            members: BTreeMap::new(),
            next_member: 0,
            next_set: 0,
            next_source: 0,
            next_probe_seq: 0,
            events: VecDeque::new(),
            events_dropped: 0,
            probes_paused: false,
        };
        d.reconfigure(sets, routes, now);
        d
    }

    /// Hot reload. A set keeps its id, cursors and members while its name stays; a member
    /// keeps its state, counters and active calls while its set and URI text stay (a DNS
    /// address while its entry stays; a registered member while its set still takes
    /// REGISTER). New entries are added, the others removed with an event. A member's admin
    /// state follows the config only where the config's `state` changed.
    pub fn reconfigure(&mut self, sets: &[SetConfig], routes: &[RouteConfig], now: Instant) {
        let mut old: Vec<SetState> = std::mem::take(&mut self.sets);
        for cfg in sets {
            let prev = old
                .iter()
                .position(|s| s.cfg.name == cfg.name)
                .map(|i| old.remove(i));
            let state = self.rebuild_set(prev, cfg, now);
            self.sets.push(state);
        }
        for gone in old {
            let ids: Vec<MemberId> = gone
                .sources
                .iter()
                .flat_map(|s| s.members.iter().copied())
                .chain(gone.registered.iter().copied())
                .chain(gone.added.iter().copied())
                .collect();
            for id in ids {
                self.remove_member(id, RemoveReason::Reconfigured);
            }
        }
        self.routes = routes.to_vec();
    }

    /// The run-time state of one set from its new config and, on reload, its old state.
    fn rebuild_set(&mut self, prev: Option<SetState>, cfg: &SetConfig, now: Instant) -> SetState {
        let (id, mut old_sources, registered, mut added, cursor, tier_cursors) = match prev {
            Some(p) => (
                p.id,
                p.sources,
                p.registered,
                p.added,
                p.cursor,
                p.tier_cursors,
            ),
            None => {
                self.next_set += 1;
                let id = SetId(self.next_set);
                (id, Vec::new(), Vec::new(), Vec::new(), 0, BTreeMap::new())
            }
        };
        let entries: Vec<(SipUri, Transport, Option<MemberConfig>)> = cfg
            .members
            .iter()
            .map(|m| (m.uri.clone(), m.transport, Some(m.clone())))
            .chain(
                cfg.last_resort
                    .iter()
                    .map(|l| (l.uri.clone(), l.transport, None)),
            )
            .collect();
        let fresh_static = entries
            .iter()
            .filter(|(uri, _, _)| !uri.needs_dns())
            .count();
        let mut k = 0;
        let mut sources = Vec::with_capacity(entries.len());
        for (uri, transport, mcfg) in entries {
            let mut source = self.source_for(&mut old_sources, uri, transport, mcfg);
            if let MemberTarget::Static(addr) = MemberTarget::of(&source.uri) {
                let first_probe = stagger(now, cfg.health.interval, k, fresh_static);
                k += 1;
                self.fit_static(&mut source, addr, (id, cfg), &mut added, first_probe, now);
            } else {
                for m in source.members.clone() {
                    self.fit_member(m, &source, cfg, None, now);
                }
            }
            sources.push(source);
        }
        for gone in old_sources {
            for m in gone.members {
                self.remove_member(m, RemoveReason::Reconfigured);
            }
        }
        let registered = self.refit_registered(registered, cfg, now);
        SetState {
            id,
            cfg: cfg.clone(),
            sources,
            registered,
            added,
            cursor,
            tier_cursors,
        }
    }

    /// The source of an entry: the old one with the same URI and role, brought up to date and
    /// taken out of `old`, or a new one.
    fn source_for(
        &mut self,
        old: &mut Vec<Source>,
        uri: SipUri,
        transport: Transport,
        cfg: Option<MemberConfig>,
    ) -> Source {
        let last_resort = cfg.is_none();
        let reused = old
            .iter()
            .position(|s| s.uri.text == uri.text && s.is_last_resort() == last_resort)
            .map(|i| old.remove(i));
        match reused {
            Some(mut s) => {
                s.uri = uri;
                s.transport = transport;
                s.cfg = cfg;
                s
            }
            None => {
                self.next_source += 1;
                Source {
                    id: SourceId(self.next_source),
                    uri,
                    transport,
                    cfg,
                    members: Vec::new(),
                }
            }
        }
    }

    /// An IP-literal entry has exactly one member: the one it had when the entry stayed, or
    /// a member added at run time that the file now names (taken over), or a new one (first
    /// probed at `first_probe`).
    fn fit_static(
        &mut self,
        source: &mut Source,
        addr: SocketAddr,
        (set, cfg): (SetId, &SetConfig),
        added: &mut Vec<MemberId>,
        first_probe: Instant,
        now: Instant,
    ) {
        let existing = source
            .members
            .first()
            .copied()
            .filter(|m| self.members.contains_key(m))
            .or_else(|| self.adopt(added, &source.uri.text));
        match existing {
            Some(m) => {
                source.members = vec![m];
                self.fit_member(m, source, cfg, None, now);
            }
            None => {
                let text = source.uri.text.clone();
                let m = self.create_member(set, Origin::Static, text, addr, source.transport);
                source.members = vec![m];
                self.fit_member(m, source, cfg, Some(first_probe), now);
            }
        }
    }

    /// The members that REGISTERed to a set: kept (on the set's new probe schedule) while it
    /// still takes registrations, removed when it no longer does.
    fn refit_registered(
        &mut self,
        registered: Vec<MemberId>,
        cfg: &SetConfig,
        now: Instant,
    ) -> Vec<MemberId> {
        if !cfg.register {
            for m in registered {
                self.remove_member(m, RemoveReason::Reconfigured);
            }
            return Vec::new();
        }
        for &m in &registered {
            if let Some(member) = self.members.get_mut(&m) {
                reschedule(member, cfg, now);
            }
        }
        registered
    }

    /// Brings member `id` in line with its entry: target (IP literal), weight, priority, cap,
    /// role, admin state, and probe schedule. `first_probe` is `Some` for a member just
    /// created (it starts in the configured admin state without an event); an existing member
    /// changes admin state only where the config's `state` changed (with an event).
    fn fit_member(
        &mut self,
        id: MemberId,
        source: &Source,
        cfg: &SetConfig,
        first_probe: Option<Instant>,
        now: Instant,
    ) {
        let Some(m) = self.members.get_mut(&id) else {
            return;
        };
        if let MemberTarget::Static(addr) = MemberTarget::of(&source.uri) {
            m.target = addr;
            m.transport = source.transport;
            m.uri.clone_from(&source.uri.text);
        }
        m.last_resort = source.is_last_resort();
        let want_admin = match &source.cfg {
            Some(mc) => {
                (m.priority, m.weight) = match m.srv {
                    Some((p, w)) => (p, u32::from(w)),
                    None => (mc.priority, mc.weight),
                };
                m.max_calls = mc.max_calls;
                mc.state
            }
            None => {
                m.max_calls = None;
                AdminState::Active
            }
        };
        match first_probe {
            Some(at) => {
                m.admin = want_admin;
                m.cfg_admin = want_admin;
                m.next_probe = m.is_probed().then_some(at);
            }
            None => {
                reschedule(m, cfg, now);
                if want_admin != m.cfg_admin {
                    m.cfg_admin = want_admin;
                    // The member exists, so this cannot fail.
                    let _ = self.set_admin_state(id, want_admin, now);
                }
            }
        }
    }

    /// A new member with the next id, registered in the member map, with an `Added` event.
    pub(crate) fn create_member(
        &mut self,
        set: SetId,
        origin: Origin,
        uri: String,
        target: SocketAddr,
        transport: Transport,
    ) -> MemberId {
        self.next_member += 1;
        let id = MemberId(self.next_member);
        let member = Member::new(id, set, origin, uri.clone(), target, transport);
        self.members.insert(id, member);
        self.push_event(DispatchEvent::Added {
            member: id,
            set,
            uri,
            origin,
        });
        id
    }

    /// Drops member `id` from the map and from its set's lists, with a `Removed` event.
    pub(crate) fn remove_member(&mut self, id: MemberId, reason: RemoveReason) {
        let Some(m) = self.members.remove(&id) else {
            return;
        };
        if let Some(set) = self.sets.iter_mut().find(|s| s.id == m.set) {
            set.registered.retain(|&r| r != id);
            set.added.retain(|&r| r != id);
            for source in &mut set.sources {
                source.members.retain(|&r| r != id);
            }
        }
        self.push_event(DispatchEvent::Removed {
            member: id,
            set: m.set,
            uri: m.uri,
            reason,
        });
    }

    /// Queues an event, dropping the oldest beyond [`MAX_PENDING_EVENTS`].
    pub(crate) fn push_event(&mut self, ev: DispatchEvent) {
        if self.events.len() >= MAX_PENDING_EVENTS {
            self.events.pop_front();
            self.events_dropped += 1;
        }
        self.events.push_back(ev);
    }

    /// Runs `f` on member `id` and, if its state changed, counts the transition, keeps it as
    /// the member's last and queues one `StateChanged` event. Returns `false` for an unknown
    /// member.
    pub(crate) fn update<F>(&mut self, id: MemberId, now: Instant, f: F) -> bool
    where
        F: FnOnce(&mut Member) -> Reason,
    {
        let Some(m) = self.members.get_mut(&id) else {
            return false;
        };
        let from = m.state();
        let reason = f(m);
        let to = m.state();
        if from != to {
            m.counters.transitions_to[to.index()] += 1;
            m.last_transition = Some(Transition {
                from,
                to,
                reason,
                at: now,
            });
            let ev = DispatchEvent::StateChanged {
                member: id,
                set: m.set,
                uri: m.uri.clone(),
                from,
                to,
                reason,
            };
            self.push_event(ev);
        }
        true
    }

    /// The next event, oldest first: one per state change, member added or removed.
    pub fn poll_event(&mut self) -> Option<DispatchEvent> {
        self.events.pop_front()
    }

    /// Events dropped because nobody polled them (beyond [`MAX_PENDING_EVENTS`]).
    pub fn events_dropped(&self) -> u64 {
        self.events_dropped
    }

    /// Sets a member's admin state (admin socket). Leaving DISABLED starts over as ACTIVE
    /// with clean failure counts and a probe due at once; entering DISABLED stops probing (a
    /// late reply to the probe in flight is ignored). DRAINING keeps probing, so the health
    /// underneath stays known.
    pub fn set_admin_state(
        &mut self,
        id: MemberId,
        state: AdminState,
        now: Instant,
    ) -> Result<(), AdminError> {
        let found = self.update(id, now, |m| {
            let was = m.admin;
            m.admin = state;
            if state == AdminState::Disabled {
                m.next_probe = None;
                m.outstanding = None;
            } else if was == AdminState::Disabled {
                m.health = Health::Active;
                m.fails = 0;
                m.oks = 0;
                m.next_probe = (!m.last_resort).then_some(now);
            }
            Reason::Admin
        });
        if found {
            Ok(())
        } else {
            Err(AdminError::UnknownMember)
        }
    }
}

/// After a reload: a probe due later than one new interval from now is pulled in.
fn reschedule(m: &mut Member, cfg: &SetConfig, now: Instant) {
    if !m.is_probed() {
        return;
    }
    let latest = now + cfg.health.interval;
    m.next_probe = Some(m.next_probe.map_or(latest, |t| t.min(latest)));
}
