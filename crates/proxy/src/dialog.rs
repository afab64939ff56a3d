//! Dialog pinning: every call this proxy routed is remembered by Call-ID with the member that
//! took it, so in-dialog requests from either side reach the right hop even when the member is
//! no longer eligible for new calls (DRAINING, DOWN). The table also holds the call's
//! active-call count on the member until BYE or expiry.

use super::ctx::Target;
use super::request::ReqInfo;
use super::types::Transport;
use super::{util, Proxy};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Instant;

/// One routed call.
#[derive(Debug, Clone)]
pub(crate) struct Dialog {
    /// The caller's From tag.
    pub caller_tag: String,
    /// The member's To tag, once answered.
    pub callee_tag: Option<String>,
    /// The member that took the call (None: a fixed next hop such as the last resort).
    pub member: Option<dispatch::MemberId>,
    /// The member's address and transport.
    pub member_hop: (SocketAddr, Transport),
    /// Where the caller's requests came from.
    pub caller_hop: (SocketAddr, Transport),
    /// Answered (2xx).
    pub confirmed: bool,
    /// BYE seen.
    pub ended: bool,
    /// The member whose active-call count this dialog holds.
    pub counted: Option<dispatch::MemberId>,
    /// When the entry is forgotten.
    pub expires: Instant,
}

/// The dialog table, by Call-ID.
#[derive(Debug, Default)]
pub(crate) struct Dialogs {
    map: HashMap<String, Dialog>,
}

impl Dialogs {
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }
}

/// A new INVITE was sent to a member: remember the early dialog (replaced on failover).
pub(crate) fn early(
    p: &mut Proxy,
    now: Instant,
    info: &ReqInfo,
    member: Option<dispatch::MemberId>,
    dst: SocketAddr,
    transport: Transport,
    caller: (SocketAddr, Transport),
) {
    let expires = now + p.cfg.fr_timeout + p.cfg.fr_inv_timeout + p.cfg.t64();
    p.dialogs.map.insert(
        info.call_id.clone(),
        Dialog {
            caller_tag: info.from_tag.clone(),
            callee_tag: None,
            member,
            member_hop: (dst, transport),
            caller_hop: caller,
            confirmed: false,
            ended: false,
            counted: None,
            expires,
        },
    );
}

/// The INVITE was answered: the dialog is pinned to the member that answered and holds its
/// active-call count until BYE or expiry.
pub(crate) fn confirm(
    p: &mut Proxy,
    now: Instant,
    info: &ReqInfo,
    callee_tag: Option<String>,
    counted: Option<dispatch::MemberId>,
    dst: SocketAddr,
    transport: Transport,
) {
    let expiry = p.cfg.dialog_expiry;
    match p.dialogs.map.get_mut(&info.call_id) {
        Some(d) => {
            d.callee_tag = callee_tag;
            d.confirmed = true;
            d.member_hop = (dst, transport);
            d.counted = counted;
            d.expires = now + expiry;
        }
        None => {
            if let Some(m) = counted {
                p.dispatcher.call_ended(m);
            }
        }
    }
}

/// The initial INVITE failed: forget the early dialog.
pub(crate) fn failed(p: &mut Proxy, call_id: &str) {
    if p.dialogs.map.get(call_id).is_some_and(|d| !d.confirmed) {
        if let Some(m) = p.dialogs.map.remove(call_id).and_then(|d| d.counted) {
            p.dispatcher.call_ended(m);
        }
    }
}

/// A BYE in the dialog: the call is over; its count is released now, the entry kept a
/// little for retransmissions.
pub(crate) fn bye(p: &mut Proxy, now: Instant, info: &ReqInfo) {
    let linger = now + p.cfg.t64();
    if let Some(d) = p.dialogs.map.get_mut(&info.call_id) {
        d.ended = true;
        d.expires = d.expires.min(linger);
        if let Some(m) = d.counted.take() {
            p.dispatcher.call_ended(m);
        }
    }
}

/// Forgets expired dialogs, releasing their counts (dialogs that never saw a BYE).
pub(crate) fn expire(p: &mut Proxy, now: Instant) {
    let gone: Vec<String> = p
        .dialogs
        .map
        .iter()
        .filter(|(_, d)| d.expires <= now)
        .map(|(k, _)| k.clone())
        .collect();
    for k in gone {
        if let Some(m) = p.dialogs.map.remove(&k).and_then(|d| d.counted) {
            p.dispatcher.call_ended(m);
        }
    }
}

/// The next hop of an in-dialog request (RFC 3261 §16.4–16.5 with pinning): from the caller
/// (its From tag opened the dialog) to the member that took the call; from the member toward
/// the caller by the remaining Route or Request-URI, or where the caller's requests came from.
pub(crate) fn in_dialog_target(
    p: &mut Proxy,
    info: &ReqInfo,
    remaining_route: Option<&str>,
    ruri: &str,
) -> Option<Target> {
    let by_uri = remaining_route.or(Some(ruri)).and_then(util::uri_target);
    match p.dialogs.map.get(&info.call_id) {
        Some(d) if d.caller_tag == info.from_tag => {
            p.counters.pinned += 1;
            let (dst, t) = d.member_hop;
            Some(Target::Fixed(dst, t, d.member))
        }
        Some(d) => {
            let (dst, t) = by_uri.unwrap_or(d.caller_hop);
            Some(Target::Fixed(dst, t, None))
        }
        None => by_uri.map(|(dst, t)| Target::Fixed(dst, t, None)),
    }
}
