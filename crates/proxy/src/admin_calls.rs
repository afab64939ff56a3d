//! The calls the proxy holds, as the admin socket shows and ends them: a page of dialogs in
//! Call-ID order, one dialog with its parties, hops and relay interfaces, and `terminate`,
//! which ends an answered call with a BYE to both parties (the code the relay's media
//! timeouts use, `hangup`) and releases its media.

use crate::dialog::Dialog;
use crate::Proxy;
use sip::Transport;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Where a dialog is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialogState {
    /// INVITE forwarded, no 2xx yet.
    Early,
    /// Answered (2xx).
    Confirmed,
    /// BYE seen (or sent by the proxy); kept a little for retransmissions.
    Ended,
}

impl DialogState {
    /// `early`, `confirmed` or `ended`.
    pub fn as_str(self) -> &'static str {
        match self {
            DialogState::Early => "early",
            DialogState::Confirmed => "confirmed",
            DialogState::Ended => "ended",
        }
    }
}

/// One call as the proxy holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallView {
    /// Its Call-ID.
    pub call_id: String,
    /// Early, confirmed or ended.
    pub state: DialogState,
    /// Time since its first INVITE was forwarded.
    pub age: Duration,
    /// The member that took it (`None`: a fixed next hop such as a last resort).
    pub member: Option<dispatch::MemberId>,
    /// The caller's From tag.
    pub caller_tag: String,
    /// The callee's To tag, once answered.
    pub callee_tag: Option<String>,
    /// Where the caller's requests come from.
    pub caller_hop: (SocketAddr, Transport),
    /// Where the member is reached.
    pub member_hop: (SocketAddr, Transport),
    /// The relay interfaces of an anchored call: toward the caller, toward the member.
    pub media: Option<[String; 2]>,
    /// The caller's and the callee's Contact URIs (answered anchored calls).
    pub contacts: Option<[String; 2]>,
    /// The highest CSeq seen from the caller and from the callee (answered anchored calls).
    pub cseq: Option<[u32; 2]>,
    /// The caller's From and the callee's To as written, with their tags (answered anchored
    /// calls).
    pub parties: Option<[String; 2]>,
    /// How long the dialog is held unless it is refreshed or ended.
    pub expires_in: Duration,
}

/// Why `terminate` did not end a call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TerminateError {
    /// No dialog has this Call-ID.
    #[error("no call {0:?}")]
    NoSuchCall(String),
    /// The call is not answered yet (a CANCEL is the caller's to send).
    #[error("call {0:?} is not answered yet")]
    NotAnswered(String),
    /// The call has ended already.
    #[error("call {0:?} has ended already")]
    Ended(String),
    /// A signalling-only call: the proxy keeps no Contacts for it, so it cannot send BYE.
    #[error("call {0:?} is signalling only: the proxy keeps no Contacts to send BYE to")]
    NotKept(String),
}

fn view(call_id: &str, d: &Dialog, now: Instant) -> CallView {
    let state = match (d.confirmed, d.ended) {
        (_, true) => DialogState::Ended,
        (true, false) => DialogState::Confirmed,
        (false, false) => DialogState::Early,
    };
    CallView {
        call_id: call_id.to_owned(),
        state,
        age: now.saturating_duration_since(d.created),
        member: d.member,
        caller_tag: d.caller_tag.clone(),
        callee_tag: d.callee_tag.clone(),
        caller_hop: d.caller_hop,
        member_hop: d.member_hop,
        media: d.media.clone(),
        contacts: d.ends.as_ref().map(|e| e.contact.clone()),
        cseq: d.ends.as_ref().map(|e| e.cseq),
        parties: d.ends.as_ref().map(|e| e.party.clone()),
        expires_in: d.expires.saturating_duration_since(now),
    }
}

impl Proxy {
    /// Up to `limit` calls whose Call-ID sorts after `after` (all when `None`), in Call-ID
    /// order, and whether more follow. A first page is one pass over the dialog table; a
    /// listing's later pages walk the order it took once (see `Dialogs::page`).
    pub fn calls_page(
        &mut self,
        after: Option<&str>,
        limit: usize,
        now: Instant,
    ) -> (Vec<CallView>, bool) {
        let (ids, more) = self.dialogs.page(after, limit, now);
        let page = ids
            .iter()
            .filter_map(|k| self.dialogs.get(k).map(|d| view(k, d, now)))
            .collect();
        (page, more)
    }

    /// Notes, from now on, every call whose dialog or media changes, for [`Proxy::take_changed`]
    /// (HA replication: what a peer needs to take the call over changed).
    pub fn track_changes(&mut self) {
        self.dialogs.track_changes();
    }

    /// Up to `max` of the calls that changed since the last take (Call-IDs; the rest stay
    /// noted). A call that ended or is gone is among them once.
    pub fn take_changed(&mut self, max: usize) -> Vec<String> {
        self.dialogs.take_changed(max)
    }

    /// Notes every answered anchored call as changed (a full re-publish).
    pub fn touch_answered_anchored(&mut self) {
        let ids: Vec<String> = self
            .dialogs
            .iter()
            .filter(|(_, d)| d.confirmed && !d.ended && d.media.is_some())
            .map(|(k, _)| k.clone())
            .collect();
        for id in ids {
            self.dialogs.touch(&id);
        }
    }

    /// The call `call_id`, if held.
    pub fn call(&self, call_id: &str, now: Instant) -> Option<CallView> {
        self.dialogs.get(call_id).map(|d| view(call_id, d, now))
    }

    /// The Call-IDs of the calls in progress (not ended) that member `member` took.
    pub fn calls_of_member(&self, member: dispatch::MemberId) -> Vec<String> {
        self.dialogs
            .iter()
            .filter(|(_, d)| d.member == Some(member) && !d.ended)
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// Ends answered call `call_id` from here: a BYE to each party with
    /// `Reason: Q.850;cause=16;text="..."` (RFC 3326; cause 16, normal call clearing) and
    /// `why` as the text, and its media released (after the delete delay).
    pub fn terminate_call(
        &mut self,
        now: Instant,
        call_id: &str,
        why: &str,
    ) -> Result<(), TerminateError> {
        let d = self
            .dialogs
            .get(call_id)
            .ok_or_else(|| TerminateError::NoSuchCall(call_id.into()))?;
        if d.ended {
            return Err(TerminateError::Ended(call_id.into()));
        }
        if !d.confirmed {
            return Err(TerminateError::NotAnswered(call_id.into()));
        }
        if d.ends.is_none() {
            return Err(TerminateError::NotKept(call_id.into()));
        }
        let reason = format!(
            "Q.850;cause=16;text=\"{}\"",
            crate::anchor::warning_text(why)
        );
        if !self.hang_up(now, call_id, &reason) {
            return Err(TerminateError::NotKept(call_id.into()));
        }
        tracing::info!(
            call_id,
            reason = why,
            "call terminated by the admin: BYE to both parties"
        );
        self.release_media(now, call_id);
        Ok(())
    }
}
