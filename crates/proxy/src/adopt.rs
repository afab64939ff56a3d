//! HA: dialogs of calls another node set up, held so that this node carries them on when it
//! takes over (an in-dialog request reaches the member that took the call, RFC 3261 §12.2.2
//! with pinning; a media timeout or `terminate` sends BYE with the dialog's parties, §15), and
//! dropped without a word when their owner ends them or another node owns them.

use crate::dialog::{Dialog, Ends};
use crate::Proxy;
use sip::Transport;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// A replicated call's dialog as the proxy needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdoptedDialog {
    /// The Call-ID.
    pub call_id: String,
    /// The caller's From tag and the member's To tag.
    pub tags: [String; 2],
    /// The caller's and the member's Contact URIs.
    pub contacts: [String; 2],
    /// The caller's From and the member's To, as written (with their tags).
    pub parties: [String; 2],
    /// The caller's hop and the member's.
    pub hops: [(SocketAddr, Transport); 2],
    /// The highest CSeq seen from the caller and from the member.
    pub cseq: [u32; 2],
    /// The member's set and URI (`None` when no member of that set and URI is configured
    /// here: the call still goes to its hop, uncounted).
    pub member: (String, String),
    /// The relay interfaces toward the caller and toward the member (`None`: not anchored).
    pub media: Option<[String; 2]>,
    /// How long the dialog is held unless it changes or ends.
    pub expires_in: Duration,
}

impl Proxy {
    /// Holds dialog `d` confirmed, pinned to its member, counted on it (or updates the copy
    /// held). Returns false when the Call-ID is held by a call of another caller (refused).
    pub fn adopt(&mut self, now: Instant, d: AdoptedDialog) -> bool {
        let member = self
            .dispatcher
            .snapshot()
            .find(|m| m.set_name == d.member.0 && m.member.uri() == d.member.1)
            .map(|m| m.member.id());
        let held = self.dialogs.get(&d.call_id).cloned();
        if held.as_ref().is_some_and(|h| h.caller_tag != d.tags[0]) {
            return false;
        }
        let counted = match held.as_ref().and_then(|h| h.counted) {
            Some(c) => Some(c),
            None => member.filter(|&m| self.dispatcher.call_adopted(m)),
        };
        let dialog = Dialog {
            caller_tag: d.tags[0].clone(),
            callee_tag: Some(d.tags[1].clone()),
            member,
            member_hop: d.hops[1],
            caller_hop: d.hops[0],
            confirmed: true,
            ended: false,
            counted,
            expires: now + d.expires_in,
            media: d.media,
            ends: Some(Ends {
                contact: d.contacts,
                party: d.parties,
                cseq: d.cseq,
            }),
            created: held.map_or(now, |h| h.created),
        };
        self.dialogs.put(d.call_id, dialog);
        self.arm_housekeeping(now);
        true
    }

    /// Forgets dialog `call_id` at once, sending nothing (its owner ended it, or another node
    /// owns it now); its member's count is released. Returns whether it was held.
    pub fn unadopt(&mut self, call_id: &str) -> bool {
        match self.dialogs.take(call_id) {
            Some(d) => {
                if let Some(m) = d.counted {
                    self.dispatcher.call_ended(m);
                }
                true
            }
            None => false,
        }
    }
}
