//! Read access and the call-path queries: members, sets, routes, active calls.

use std::net::{IpAddr, SocketAddr};

use crate::dispatcher::{Dispatcher, MemberView, SetState};
use crate::member::Member;
use crate::settings::{RouteConfig, SetConfig};
use crate::types::{MemberId, MemberState, SetId};

impl Dispatcher {
    /// A member by id.
    pub fn member(&self, id: MemberId) -> Option<&Member> {
        self.members.get(&id)
    }

    /// The id of the set named `name` (REGISTER uses the To user as the set name).
    pub fn set_id(&self, name: &str) -> Option<SetId> {
        self.sets.iter().find(|s| s.cfg.name == name).map(|s| s.id)
    }

    /// The config of set `id`.
    pub fn set_config(&self, id: SetId) -> Option<&SetConfig> {
        self.set(id).map(|s| &s.cfg)
    }

    /// The sets' ids, in config order.
    pub fn set_ids(&self) -> impl Iterator<Item = SetId> + '_ {
        self.sets.iter().map(|s| s.id)
    }

    /// The members of set `id` in selection order, then its last resort(s).
    pub fn members_of(&self, id: SetId) -> Vec<MemberId> {
        match self.set(id) {
            Some(s) => {
                let mut v = s.order();
                v.extend(s.last_resorts());
                v
            }
            None => Vec::new(),
        }
    }

    pub(crate) fn set(&self, id: SetId) -> Option<&SetState> {
        self.sets.iter().find(|s| s.id == id)
    }

    /// Every member with its set name, by id, for the admin socket and metrics.
    pub fn snapshot(&self) -> impl Iterator<Item = MemberView<'_>> + '_ {
        self.members.values().map(move |m| MemberView {
            set_name: self.set(m.set).map_or("", |s| s.cfg.name.as_str()),
            member: m,
        })
    }

    /// A call started on member `id`. Returns `false` for an unknown member.
    pub fn call_started(&mut self, id: MemberId) -> bool {
        match self.members.get_mut(&id) {
            Some(m) => {
                m.active_calls = m.active_calls.saturating_add(1);
                m.counters.calls += 1;
                true
            }
            None => false,
        }
    }

    /// A call another node set up on member `id` is held here (HA): it counts toward the
    /// member's active calls (least-calls, `max_calls`) but not as a call this node routed.
    /// Returns `false` for an unknown member.
    pub fn call_adopted(&mut self, id: MemberId) -> bool {
        match self.members.get_mut(&id) {
            Some(m) => {
                m.active_calls = m.active_calls.saturating_add(1);
                true
            }
            None => false,
        }
    }

    /// The calls the cluster's other nodes hold, by member (set name, URI), as they last
    /// published them (HA with shared limits): each member's count is replaced, members not
    /// named have none. Returns how many members were matched.
    pub fn set_peer_calls(
        &mut self,
        peers: &std::collections::HashMap<(String, String), u32>,
    ) -> usize {
        let names: Vec<(MemberId, String)> = self
            .members
            .values()
            .map(|m| {
                (
                    m.id,
                    self.set(m.set)
                        .map_or_else(String::new, |s| s.cfg.name.clone()),
                )
            })
            .collect();
        let mut matched = 0;
        for (id, set) in names {
            if let Some(m) = self.members.get_mut(&id) {
                m.peer_calls = peers.get(&(set, m.uri.clone())).copied().unwrap_or(0);
                matched += usize::from(m.peer_calls > 0);
            }
        }
        matched
    }

    /// A call on member `id` ended. Never goes below zero; `false` for an unknown member (one
    /// removed while the call ran).
    pub fn call_ended(&mut self, id: MemberId) -> bool {
        match self.members.get_mut(&id) {
            Some(m) => {
                m.active_calls = m.active_calls.saturating_sub(1);
                true
            }
            None => false,
        }
    }

    /// Whether `addr` (address and port) is a member of set `id` (last resort excluded).
    pub fn is_member(&self, id: SetId, addr: SocketAddr) -> bool {
        self.regular_members(id)
            .any(|m| canonical(m.target) == canonical(addr))
    }

    /// Whether `ip` is the address of a member of set `id`, any port (last resort excluded).
    /// Used by routes' `source_set`: a member's requests often come from another port than
    /// the one it listens on (TCP, or a separate outbound socket).
    pub fn is_member_ip(&self, id: SetId, ip: IpAddr) -> bool {
        self.regular_members(id)
            .any(|m| m.target.ip().to_canonical() == ip.to_canonical())
    }

    fn regular_members(&self, id: SetId) -> impl Iterator<Item = &Member> + '_ {
        self.members
            .values()
            .filter(move |m| m.set == id && !m.last_resort)
    }

    /// The set for a new request: the first `[[route]]` whose every condition holds (source
    /// network, source set, Request-URI user prefix, Request-URI host ignoring case), or the
    /// first set when there are no routes; `None` when nothing matches (the proxy answers
    /// 404 or 403, its choice) or there are no sets.
    pub fn route(&self, src: IpAddr, ruri_user: &str, ruri_host: &str) -> Option<SetId> {
        if self.routes.is_empty() {
            return self.sets.first().map(|s| s.id);
        }
        self.routes
            .iter()
            .find(|r| self.route_matches(r, src, ruri_user, ruri_host))
            .and_then(|r| self.set_id(&r.set))
    }

    fn route_matches(&self, r: &RouteConfig, src: IpAddr, user: &str, host: &str) -> bool {
        let net_ok =
            r.source_networks.is_empty() || r.source_networks.iter().any(|n| n.contains(src));
        let set_ok = match &r.source_set {
            None => true,
            Some(name) => self.set_id(name).is_some_and(|s| self.is_member_ip(s, src)),
        };
        let user_ok = r
            .ruri_user_prefix
            .as_deref()
            .map_or(true, |p| user.starts_with(p));
        let host_ok = r
            .ruri_host
            .as_deref()
            .map_or(true, |h| h.eq_ignore_ascii_case(host));
        net_ok && set_ok && user_ok && host_ok
    }

    /// Registered members' and DNS members' counts of state transitions are kept per member;
    /// this sums transitions into `state` over every member (for a quick metric).
    pub fn transitions_total(&self, state: MemberState) -> u64 {
        self.members
            .values()
            .map(|m| m.counters.transitions(state))
            .sum()
    }
}

/// IPv4-mapped IPv6 socket addresses compare as their IPv4 form.
fn canonical(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(addr.ip().to_canonical(), addr.port())
}
