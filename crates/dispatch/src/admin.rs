//! Members added and removed at run time over the admin socket.

use std::time::Instant;

use crate::dispatcher::Dispatcher;
use crate::error::AdminError;
use crate::settings::{MemberConfig, MemberTarget};
use crate::types::{MemberId, Origin, RemoveReason, SetId};

impl Dispatcher {
    /// Adds member `cfg` to set `set` at run time (what Kamailio's `dispatcher.add` does).
    ///
    /// The URI must be an IP literal (a host name needs a config entry, whose DNS answers the
    /// dispatcher follows) and no member of the set may already be at that address and
    /// transport. The member starts in `cfg.state`, healthy, probed at once unless DISABLED,
    /// and takes calls from then on. It stays until removed, across reloads while its set
    /// stays; once the file names the same URI in that set, the file's entry takes it over
    /// (state, counters and calls kept).
    pub fn add_member(
        &mut self,
        set: SetId,
        cfg: &MemberConfig,
        now: Instant,
    ) -> Result<MemberId, AdminError> {
        if self.set(set).is_none() {
            return Err(AdminError::UnknownSet);
        }
        let MemberTarget::Static(addr) = MemberTarget::of(&cfg.uri) else {
            return Err(AdminError::NeedsDns);
        };
        let taken = self.members.values().any(|m| {
            m.set == set
                && m.target.ip().to_canonical() == addr.ip().to_canonical()
                && m.target.port() == addr.port()
                && m.transport == cfg.transport
        });
        if taken {
            return Err(AdminError::Duplicate(addr));
        }
        let uri = cfg.uri.text.clone();
        let id = self.create_member(set, Origin::Admin, uri, addr, cfg.transport);
        if let Some(m) = self.members.get_mut(&id) {
            m.weight = cfg.weight;
            m.priority = cfg.priority;
            m.max_calls = cfg.max_calls;
            m.admin = cfg.state;
            m.cfg_admin = cfg.state;
            m.next_probe = m.is_probed().then_some(now);
        }
        if let Some(s) = self.sets.iter_mut().find(|s| s.id == set) {
            s.added.push(id);
        }
        Ok(id)
    }

    /// Removes member `id` at run time. A member with calls in progress is refused unless
    /// `force`; with `force` its dialogs still reach it (they are pinned to its address) but
    /// its count is gone. Returns the calls it had. A member that comes from the file, DNS or
    /// REGISTER comes back with the next reload, answer or registration.
    pub fn remove_member_admin(&mut self, id: MemberId, force: bool) -> Result<u32, AdminError> {
        let calls = self
            .members
            .get(&id)
            .ok_or(AdminError::UnknownMember)?
            .active_calls;
        if calls > 0 && !force {
            return Err(AdminError::HasCalls(calls));
        }
        self.remove_member(id, RemoveReason::Admin);
        Ok(calls)
    }

    /// Takes the member added at run time with URI text `uri` out of `added`, as a member of
    /// the file's entry from now on.
    pub(crate) fn adopt(&mut self, added: &mut Vec<MemberId>, uri: &str) -> Option<MemberId> {
        let pos = added
            .iter()
            .position(|id| self.members.get(id).is_some_and(|m| m.uri == uri))?;
        let id = added.remove(pos);
        if let Some(m) = self.members.get_mut(&id) {
            m.origin = Origin::Static;
        }
        Some(id)
    }
}
