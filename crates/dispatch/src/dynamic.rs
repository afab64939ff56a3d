//! Members that come and go at run time: DNS answers for host-name entries, and REGISTER.

use std::time::{Duration, Instant};

use crate::dispatcher::{Dispatcher, DnsSource, Source};
use crate::error::{RegisterError, ResolveError};
use crate::member::Member;
use crate::settings::{AdminState, MemberTarget};
use crate::types::{MemberId, Origin, Registration, RemoveReason, ResolvedTarget, SetId, SourceId};

/// Most addresses one DNS entry may yield; further answers are ignored.
pub const MAX_TARGETS_PER_SOURCE: usize = 64;

/// Most members one set takes by REGISTER.
pub const MAX_REGISTERED_PER_SET: usize = 1024;

impl Dispatcher {
    /// The host-name entries (members and last resorts) whose addresses the caller looks up
    /// (RFC 3263 §4) and hands to [`Dispatcher::set_resolved`], in config order.
    pub fn dns_sources(&self) -> impl Iterator<Item = DnsSource<'_>> + '_ {
        self.sets.iter().flat_map(|set| {
            set.sources.iter().filter_map(move |s| {
                let target = MemberTarget::of(&s.uri);
                (!matches!(target, MemberTarget::Static(_))).then_some(DnsSource {
                    id: s.id,
                    set: set.id,
                    uri: &s.uri,
                    transport: s.transport,
                    target,
                })
            })
        })
    }

    /// The current DNS answer for entry `source`: addresses that stay keep their member (state,
    /// counters, calls), new ones become members (ACTIVE, probed at once), the others are
    /// removed. An empty answer (NXDOMAIN, no records) removes them all; the caller decides
    /// whether a failed lookup keeps the previous answer instead (it simply does not call).
    /// Duplicate addresses and those beyond [`MAX_TARGETS_PER_SOURCE`] are ignored.
    pub fn set_resolved(
        &mut self,
        source: SourceId,
        targets: &[ResolvedTarget],
        now: Instant,
    ) -> Result<(), ResolveError> {
        let (si, pos) = self
            .sets
            .iter()
            .enumerate()
            .find_map(|(si, s)| {
                s.sources
                    .iter()
                    .position(|x| x.id == source)
                    .map(|p| (si, p))
            })
            .ok_or(ResolveError::UnknownSource)?;
        let set_id = self.sets[si].id;
        let src = self.sets[si].sources[pos].clone();
        let wanted = distinct_targets(targets);
        let mut kept: Vec<MemberId> = Vec::with_capacity(wanted.len());
        for t in &wanted {
            let existing = src.members.iter().copied().find(|id| {
                self.members
                    .get(id)
                    .is_some_and(|m| m.target == t.addr && m.transport == t.transport)
            });
            let id = match existing {
                Some(id) => id,
                None => {
                    let uri = Member::uri_for(t.addr, t.transport, src.uri.secure);
                    let id =
                        self.create_member(set_id, Origin::Dns(source), uri, t.addr, t.transport);
                    if let Some(m) = self.members.get_mut(&id) {
                        m.next_probe = Some(now);
                    }
                    id
                }
            };
            if let Some(m) = self.members.get_mut(&id) {
                fit_resolved(m, &src, t);
            }
            kept.push(id);
        }
        for id in &src.members {
            if !kept.contains(id) {
                self.remove_member(*id, RemoveReason::Unresolved);
            }
        }
        if let Some(s) = self.sets.get_mut(si).and_then(|s| s.sources.get_mut(pos)) {
            s.members = kept;
        }
        Ok(())
    }

    /// A REGISTER into set `set` (RFC 3261 §10.3, for pool members joining by themselves).
    ///
    /// The set must take registrations and the source must be inside `register_networks`.
    /// Expires 0 removes the member (RFC 3261 §10.2.2) and grants zero. Otherwise the expiry
    /// is shortened to `register_max_expires` if longer (§10.3 step 7: the registrar may
    /// shorten it) and returned for the 200's Contact `expires`. A contact already registered
    /// (same address and transport) is refreshed; one that is a static member of the set is
    /// accepted without adding a second member; a new one becomes a member, ACTIVE, probed at
    /// once. It is removed with an `Expired` event when the time runs out unrefreshed.
    pub fn register(
        &mut self,
        set: SetId,
        reg: Registration<'_>,
        now: Instant,
    ) -> Result<Duration, RegisterError> {
        let si = self
            .sets
            .iter()
            .position(|s| s.id == set)
            .ok_or(RegisterError::UnknownSet)?;
        let cfg = &self.sets[si].cfg;
        if !cfg.register {
            return Err(RegisterError::NotAllowed(cfg.name.clone()));
        }
        if !cfg.register_networks.iter().any(|n| n.contains(reg.source)) {
            return Err(RegisterError::SourceNotAllowed(reg.source));
        }
        let granted = reg.expires.min(cfg.register_max_expires);
        let existing = self.sets[si].registered.iter().copied().find(|id| {
            self.members
                .get(id)
                .is_some_and(|m| m.target == reg.contact && m.transport == reg.transport)
        });
        if granted.is_zero() {
            if let Some(id) = existing {
                self.remove_member(id, RemoveReason::Unregistered);
            }
            return Ok(Duration::ZERO);
        }
        let expires_at = now + granted;
        if let Some(id) = existing {
            if let Some(m) = self.members.get_mut(&id) {
                m.origin = Origin::Registered { expires_at };
                if m.uri != reg.uri {
                    reg.uri.clone_into(&mut m.uri);
                    m.hash_seed = crate::hash::fnv1a(m.uri.as_bytes());
                }
            }
            return Ok(granted);
        }
        let is_static = self.sets[si].sources.iter().any(|s| {
            s.members.iter().any(|id| {
                self.members
                    .get(id)
                    .is_some_and(|m| m.target == reg.contact && m.transport == reg.transport)
            })
        });
        if is_static {
            return Ok(granted);
        }
        if self.sets[si].registered.len() >= MAX_REGISTERED_PER_SET {
            return Err(RegisterError::SetFull(cfg.name.clone()));
        }
        let id = self.create_member(
            set,
            Origin::Registered { expires_at },
            reg.uri.to_owned(),
            reg.contact,
            reg.transport,
        );
        if let Some(m) = self.members.get_mut(&id) {
            m.next_probe = Some(now);
        }
        self.sets[si].registered.push(id);
        Ok(granted)
    }
}

/// The targets of a DNS answer without duplicates (same address and transport), at most
/// [`MAX_TARGETS_PER_SOURCE`], in the answer's order.
fn distinct_targets(targets: &[ResolvedTarget]) -> Vec<ResolvedTarget> {
    let mut wanted: Vec<ResolvedTarget> = Vec::new();
    for t in targets {
        if wanted.len() >= MAX_TARGETS_PER_SOURCE {
            break;
        }
        if !wanted
            .iter()
            .any(|w| w.addr == t.addr && w.transport == t.transport)
        {
            wanted.push(*t);
        }
    }
    wanted
}

/// Brings member `m`, found by DNS for entry `src` as target `t`, in line with them: SRV
/// priority and weight (else the entry's), its cap, and, for a member not probed yet, the
/// entry's configured admin state (without an event).
fn fit_resolved(m: &mut Member, src: &Source, t: &ResolvedTarget) {
    m.srv = t.srv;
    m.last_resort = src.is_last_resort();
    match (&src.cfg, t.srv) {
        (_, Some((p, w))) => {
            m.priority = p;
            m.weight = u32::from(w);
        }
        (Some(mc), None) => {
            m.priority = mc.priority;
            m.weight = mc.weight;
        }
        (None, None) => {}
    }
    if let Some(mc) = &src.cfg {
        m.max_calls = mc.max_calls;
    }
    if m.counters.probes_sent == 0 && m.outstanding.is_none() {
        let state = src.cfg.as_ref().map_or(AdminState::Active, |c| c.state);
        m.admin = state;
        m.cfg_admin = state;
        if !m.is_probed() {
            m.next_probe = None;
        }
    }
}
