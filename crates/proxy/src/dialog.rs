//! Dialog pinning: every call this proxy routed is remembered by Call-ID with the member that
//! took it, so in-dialog requests from either side reach the right hop even when the member is
//! no longer eligible for new calls (DRAINING, DOWN). The table also holds the call's
//! active-call count on the member until BYE or expiry.

use crate::ctx::Target;
use crate::hasher::{Map, Set};
use crate::info::ReqInfo;
use dispatch::Dispatcher;
use sip::Transport;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

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
    /// The relay interfaces of an anchored call: toward the caller, toward the member.
    pub media: Option<[String; 2]>,
    /// What the proxy needs to end an anchored call itself (BYE both ways).
    pub ends: Option<Ends>,
    /// When its first INVITE was sent (kept across failover).
    pub created: Instant,
}

/// A party's next hop: its address and transport.
pub(crate) type Hop = (SocketAddr, Transport);

/// The dialog's parties as a BYE from the proxy needs them (RFC 3261 §12.2.1.1, §15).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ends {
    /// The caller's Contact URI (the INVITE's) and the callee's (the 2xx's).
    pub contact: [String; 2],
    /// The caller's From (with its tag) and the callee's To (with its tag), as written.
    pub party: [String; 2],
    /// The highest CSeq seen from the caller and from the callee.
    pub cseq: [u32; 2],
}

/// The dialog table, by Call-ID.
#[derive(Debug, Default)]
pub(crate) struct Dialogs {
    map: Map<String, Dialog>,
    /// The Call-IDs of the dialogs that changed since the last take, when tracked (HA
    /// replication); never more than the table held, since a change names a dialog.
    changed: Option<Set<String>>,
    /// The order a listing in progress walks ([`Dialogs::page`]).
    listing: Option<Listing>,
    /// When the last listing order was sorted.
    order_taken: Option<Instant>,
}

/// How long a listing's order serves its later pages. A listing that takes longer sorts again
/// from its cursor; a call that began after its order was taken shows in the next listing.
const LISTING_ORDER_LIFE: Duration = Duration::from_secs(10);

/// The least time between two listing orders: a client whose pages would each need a new
/// order (first pages between later ones, cursors before the order's) gets a pass per page,
/// as without orders, and the SIP thread sorts at most once in this time.
const LISTING_ORDER_GAP: Duration = Duration::from_secs(1);

/// The Call-IDs held when a listing asked for its second page (or later: see
/// [`Dialogs::page`]), sorted once: each later page is
/// a binary search and a slice instead of a pass over every dialog (a full listing of n calls
/// in pages of p cost n²/p; now n log n once). Gone when a page reaches the end.
#[derive(Debug)]
struct Listing {
    /// The Call-IDs after `from`, sorted.
    ids: Vec<String>,
    /// The cursor the order was taken at: it serves only cursors at or after it.
    from: String,
    taken: Instant,
}

impl Dialogs {
    /// Tracks the dialogs that change from now on ([`Dialogs::take_changed`]).
    pub(crate) fn track_changes(&mut self) {
        self.changed.get_or_insert_with(Set::default);
    }

    /// Whether changes are tracked (HA replication on).
    pub(crate) fn tracking(&self) -> bool {
        self.changed.is_some()
    }

    /// Notes that dialog `call_id` changed (when tracked).
    pub(crate) fn touch(&mut self, call_id: &str) {
        if let Some(c) = self.changed.as_mut() {
            if !c.contains(call_id) {
                c.insert(call_id.to_owned());
            }
        }
    }

    /// Up to `max` of the dialogs that changed since the last take (the rest stay noted).
    pub(crate) fn take_changed(&mut self, max: usize) -> Vec<String> {
        let Some(c) = self.changed.as_mut() else {
            return Vec::new();
        };
        let out: Vec<String> = c.iter().take(max).cloned().collect();
        for id in &out {
            c.remove(id);
        }
        out
    }

    /// Dialogs held.
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// Up to `limit` Call-IDs after `after` (all when `None`) in Call-ID order, and whether more
    /// follow (the admin socket's listing). A first page is one pass that selects the page and
    /// drops any order taken before (so every order in use was taken after the first page of
    /// each listing that walks it: none skips a call up when it began); a later page walks the
    /// order taken at the first later page (or, when that order is older than
    /// [`LISTING_ORDER_LIFE`], one taken now), skipping dialogs forgotten since.
    pub(crate) fn page(
        &mut self,
        after: Option<&str>,
        limit: usize,
        now: Instant,
    ) -> (Vec<String>, bool) {
        let Some(after) = after else {
            self.listing = None;
            return self.select_page(None, limit);
        };
        let fresh = self.listing.as_ref().is_some_and(|l| {
            l.from.as_str() <= after && now.saturating_duration_since(l.taken) < LISTING_ORDER_LIFE
        });
        if !fresh {
            // At most one sort per LISTING_ORDER_GAP: pages that alternate with first pages or
            // jump back before the order's cursor cost a pass each, never a sort each.
            if self
                .order_taken
                .is_some_and(|t| now.saturating_duration_since(t) < LISTING_ORDER_GAP)
            {
                return self.select_page(Some(after), limit);
            }
            self.take_order(after, now);
        }
        let order = &self.listing.as_ref().expect("taken above").ids;
        let from = order.partition_point(|k| k.as_str() <= after);
        let mut rest = order[from..].iter().filter(|k| self.map.contains_key(*k));
        let page: Vec<String> = rest.by_ref().take(limit).cloned().collect();
        let more = rest.next().is_some();
        if !more {
            self.listing = None;
        }
        (page, more)
    }

    /// Sorts the Call-IDs after `after` into the listing order.
    fn take_order(&mut self, after: &str, now: Instant) {
        let mut ids: Vec<String> = self
            .map
            .keys()
            .filter(|k| k.as_str() > after)
            .cloned()
            .collect();
        ids.sort_unstable();
        self.listing = Some(Listing {
            ids,
            from: after.to_owned(),
            taken: now,
        });
        self.order_taken = Some(now);
    }

    /// The first `limit` Call-IDs after `after` (all when `None`) in order: one pass that
    /// selects them, no sort of every call.
    fn select_page(&self, after: Option<&str>, limit: usize) -> (Vec<String>, bool) {
        let mut ids: Vec<&String> = self
            .map
            .keys()
            .filter(|k| after.is_none_or(|a| k.as_str() > a))
            .collect();
        let more = ids.len() > limit;
        if more {
            ids.select_nth_unstable(limit);
            ids.truncate(limit);
        }
        ids.sort_unstable();
        (ids.into_iter().cloned().collect(), more)
    }

    /// Every dialog held, by Call-ID, in no order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&String, &Dialog)> {
        self.map.iter()
    }

    /// Holds `d` as the dialog of `call_id` (an adopted call), replacing what was held.
    pub(crate) fn put(&mut self, call_id: String, d: Dialog) {
        self.touch(&call_id);
        self.map.insert(call_id, d);
    }

    /// Removes the dialog of `call_id` (an adopted call dropped).
    pub(crate) fn take(&mut self, call_id: &str) -> Option<Dialog> {
        self.map.remove(call_id)
    }

    /// The dialog of `call_id`.
    pub(crate) fn get(&self, call_id: &str) -> Option<&Dialog> {
        self.map.get(call_id)
    }

    /// A new INVITE was sent to a member at `now`: remember the early dialog (replaced on
    /// failover, keeping its creation time) until `expires`.
    pub(crate) fn early(
        &mut self,
        (now, expires): (Instant, Instant),
        info: &ReqInfo,
        member: Option<dispatch::MemberId>,
        member_hop: (SocketAddr, Transport),
        caller_hop: (SocketAddr, Transport),
        media: Option<[String; 2]>,
    ) {
        let created = self.map.get(&info.call_id).map_or(now, |d| d.created);
        self.map.insert(
            info.call_id.clone(),
            Dialog {
                caller_tag: info.from_tag.clone(),
                callee_tag: None,
                member,
                member_hop,
                caller_hop,
                confirmed: false,
                ended: false,
                counted: None,
                expires,
                media,
                ends: None,
                created,
            },
        );
    }

    /// The INVITE was answered by `member_hop`: the dialog is pinned to it and holds the
    /// active-call count of `counted` until BYE or `expires` (released at once when the early
    /// dialog is gone).
    pub(crate) fn confirm(
        &mut self,
        call_id: &str,
        callee_tag: Option<String>,
        counted: Option<dispatch::MemberId>,
        member_hop: (SocketAddr, Transport),
        expires: Instant,
        dispatcher: &mut Dispatcher,
    ) {
        match self.map.get_mut(call_id) {
            Some(d) => {
                d.callee_tag = callee_tag;
                d.confirmed = true;
                d.member_hop = member_hop;
                d.counted = counted;
                d.expires = expires;
                self.touch(call_id);
            }
            None => {
                if let Some(m) = counted {
                    dispatcher.call_ended(m);
                }
            }
        }
    }

    /// The initial INVITE failed: forget the early dialog.
    pub(crate) fn failed(&mut self, call_id: &str, dispatcher: &mut Dispatcher) {
        if self.map.get(call_id).is_some_and(|d| !d.confirmed) {
            if let Some(m) = self.map.remove(call_id).and_then(|d| d.counted) {
                dispatcher.call_ended(m);
            }
        }
    }

    /// A BYE in the dialog: the call is over; its count is released now, the entry kept
    /// until `linger` at most, for retransmissions.
    pub(crate) fn bye(&mut self, call_id: &str, linger: Instant, dispatcher: &mut Dispatcher) {
        if let Some(d) = self.map.get_mut(call_id) {
            d.ended = true;
            d.expires = d.expires.min(linger);
            if let Some(m) = d.counted.take() {
                dispatcher.call_ended(m);
            }
            self.touch(call_id);
        }
    }

    /// Forgets expired dialogs, releasing their counts (dialogs that never saw a BYE).
    /// Returns the Call-IDs of the anchored ones that never saw a BYE, whose media goes too.
    pub(crate) fn expire(&mut self, now: Instant, dispatcher: &mut Dispatcher) -> Vec<String> {
        let mut anchored = Vec::new();
        self.map.retain(|call_id, d| {
            if d.expires > now {
                return true;
            }
            if let Some(m) = d.counted {
                dispatcher.call_ended(m);
            }
            if d.media.is_some() && !d.ended {
                anchored.push(call_id.clone());
            }
            false
        });
        for id in &anchored {
            self.touch(id);
        }
        anchored
    }

    /// The next hop of an in-dialog request along a dialog held, and whether it is the pinned
    /// member (RFC 3261 §12.2.2 with pinning): from the caller (its From tag opened the
    /// dialog; the To tag is the callee's once the call was answered) to the member that took
    /// the call; from the callee (To tag the caller's, From tag the callee's once known) to
    /// where the caller's requests came from. Never to an address the request names: `None`
    /// when it belongs to no dialog held.
    pub(crate) fn target(&self, info: &ReqInfo) -> Option<(Target, bool)> {
        let (d, from_caller) = self.side(info)?;
        if from_caller {
            let (dst, t) = d.member_hop;
            return Some((Target::Fixed(dst, t, d.member), true));
        }
        let (dst, t) = d.caller_hop;
        Some((Target::Fixed(dst, t, None), false))
    }

    /// The relay interfaces of an in-dialog request's anchored call, from the requester's
    /// side: toward it first, toward the other party second.
    pub(crate) fn media_sides(&self, info: &ReqInfo) -> Option<[String; 2]> {
        let (d, from_caller) = self.side(info)?;
        let [caller, member] = d.media.clone()?;
        Some(if from_caller {
            [caller, member]
        } else {
            [member, caller]
        })
    }

    /// The dialog an in-dialog request belongs to, and whether it comes from the caller
    /// (its From tag opened the dialog; the To tag is the callee's once the call was
    /// answered) or from the callee (To tag the caller's, From tag the callee's once known).
    fn side(&self, info: &ReqInfo) -> Option<(&Dialog, bool)> {
        let d = self.map.get(&info.call_id)?;
        let to_tag = info.to_tag.as_deref()?;
        let callee_is = |tag: &str| !matches!(d.callee_tag.as_deref(), Some(t) if t != tag);
        if d.caller_tag == info.from_tag && callee_is(to_tag) {
            return Some((d, true));
        }
        if d.caller_tag == to_tag && callee_is(&info.from_tag) {
            return Some((d, false));
        }
        None
    }

    /// Keeps what ending anchored call `call_id` needs (its 2xx confirmed it).
    pub(crate) fn set_ends(&mut self, call_id: &str, ends: Ends) {
        if let Some(d) = self.map.get_mut(call_id) {
            d.ends = Some(ends);
            self.touch(call_id);
        }
    }

    /// An in-dialog request passed: the highest CSeq of its side grows.
    pub(crate) fn note_cseq(&mut self, info: &ReqInfo) {
        let Some((_, from_caller)) = self.side(info) else {
            return;
        };
        if let Some(e) = self
            .map
            .get_mut(&info.call_id)
            .and_then(|d| d.ends.as_mut())
        {
            let side = usize::from(!from_caller);
            if info.cseq > e.cseq[side] {
                e.cseq[side] = info.cseq;
                self.touch(&info.call_id);
            }
        }
    }

    /// Ends a confirmed call the relay ended (no BYE seen): its count is released, the entry
    /// kept until `linger`; returns what the BYEs need (`None` when the call is not
    /// confirmed or already ended): the parties, the caller's hop and the member's.
    pub(crate) fn end_by_us(
        &mut self,
        call_id: &str,
        linger: Instant,
        dispatcher: &mut Dispatcher,
    ) -> Option<(Ends, Hop, Hop)> {
        let d = self.map.get(call_id).filter(|d| d.confirmed && !d.ended)?;
        let out = (d.ends.clone()?, d.caller_hop, d.member_hop);
        self.bye(call_id, linger, dispatcher);
        Some(out)
    }

    /// The member that answered call `call_id` and its To tag (confirmed calls).
    pub(crate) fn member_of(&self, call_id: &str) -> Option<(dispatch::MemberId, String)> {
        let d = self.map.get(call_id).filter(|d| d.confirmed)?;
        Some((d.member?, d.callee_tag.clone()?))
    }

    /// Whether the Call-ID of initial INVITE `info` belongs to a call held that another
    /// caller (another From tag) opened.
    pub(crate) fn taken_by_other(&self, info: &ReqInfo) -> bool {
        self.map
            .get(&info.call_id)
            .is_some_and(|d| d.caller_tag != info.from_tag)
    }

    /// Whether a new dialog fits under `cap` (a Call-ID held already is replaced, not added).
    pub(crate) fn has_room(&self, call_id: &str, cap: usize) -> bool {
        self.map.len() < cap || self.map.contains_key(call_id)
    }
}

#[cfg(test)]
mod listing_tests {
    use super::*;

    fn dialog(now: Instant) -> Dialog {
        let hop = (SocketAddr::from(([127, 0, 0, 1], 5060)), Transport::Udp);
        Dialog {
            caller_tag: "t".into(),
            callee_tag: None,
            member: None,
            member_hop: hop,
            caller_hop: hop,
            confirmed: true,
            ended: false,
            counted: None,
            expires: now + Duration::from_secs(60),
            media: None,
            ends: None,
            created: now,
        }
    }

    fn table(ids: &[&str], now: Instant) -> Dialogs {
        let mut t = Dialogs::default();
        for id in ids {
            t.put((*id).into(), dialog(now));
        }
        t
    }

    /// Pages of `limit` from the start to the end.
    fn walk(t: &mut Dialogs, limit: usize, now: Instant) -> Vec<String> {
        let (mut seen, mut more) = t.page(None, limit, now);
        while more {
            let cursor = seen.last().cloned();
            let (page, m) = t.page(cursor.as_deref(), limit, now);
            assert!(page.len() <= limit && !page.is_empty());
            seen.extend(page);
            more = m;
        }
        seen
    }

    #[test]
    fn a_listing_sees_every_call_once_in_order_and_drops_its_order_at_the_end() {
        let now = Instant::now();
        let ids: Vec<String> = (0..1000)
            .map(|i| format!("{:x}-c", i * 7919 % 1000))
            .collect();
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let mut t = table(&refs, now);
        let mut want = ids.clone();
        want.sort();
        for limit in [1, 3, 500, 999, 1000, 5000] {
            assert_eq!(walk(&mut t, limit, now), want, "pages of {limit}");
            assert!(t.listing.is_none(), "the order is dropped at the end");
        }
    }

    #[test]
    fn calls_forgotten_mid_listing_are_skipped_and_new_ones_wait_for_the_next_listing() {
        let now = Instant::now();
        let mut t = table(&["a", "b", "c", "d", "e", "f"], now);
        let (p1, _) = t.page(None, 2, now);
        assert_eq!(p1, ["a", "b"]);
        let (p2, more) = t.page(Some("b"), 2, now);
        assert_eq!((p2, more), (vec!["c".to_string(), "d".into()], true));
        t.take("e");
        t.put("ee".into(), dialog(now));
        let (p3, more) = t.page(Some("d"), 2, now);
        assert_eq!(
            (p3, more),
            (vec!["f".to_string()], false),
            "e forgotten, ee new"
        );
        assert_eq!(walk(&mut t, 2, now), ["a", "b", "c", "d", "ee", "f"]);
    }

    #[test]
    fn an_order_serves_only_cursors_after_its_own_and_only_while_fresh() {
        let now = Instant::now();
        let mut t = table(&["a", "b", "c", "d"], now);
        t.page(Some("c"), 1, now); // an order of what follows "c": ["d"]
        let later = now + LISTING_ORDER_GAP;
        let (p, more) = t.page(Some("a"), 1, later);
        assert_eq!(
            (p, more),
            (vec!["b".to_string()], true),
            "an earlier cursor sorts again"
        );
        t.put("bb".into(), dialog(now));
        assert_eq!(
            t.page(Some("b"), 1, later).0,
            ["c"],
            "the order taken at a: bb not in it"
        );
        let stale = later + LISTING_ORDER_LIFE;
        assert_eq!(
            t.page(Some("b"), 1, stale).0,
            ["bb"],
            "a stale order is taken again"
        );
    }

    /// A client that makes every page need a new order (first pages between later ones,
    /// cursors jumping back) gets right pages from one pass each, and the table sorts at most
    /// once per LISTING_ORDER_GAP.
    #[test]
    fn pages_that_would_each_need_an_order_get_at_most_one_sort_per_gap() {
        let now = Instant::now();
        let ids: Vec<String> = (0..200).map(|i| format!("c{i:03}")).collect();
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let mut t = table(&refs, now);
        t.page(Some("c000"), 5, now);
        let first = t.order_taken;
        for i in 0..1000usize {
            let at = now + Duration::from_millis(i as u64 / 2);
            assert_eq!(t.page(None, 3, at).0, ["c000", "c001", "c002"]);
            let cursor = format!("c{:03}", i % 190);
            let (page, more) = t.page(Some(&cursor), 3, at);
            let want: Vec<String> = (i % 190 + 1..i % 190 + 4)
                .map(|k| format!("c{k:03}"))
                .collect();
            assert_eq!((page, more), (want, true), "after {cursor}");
        }
        assert_eq!(t.order_taken, first, "no second sort within the gap");
    }

    #[test]
    fn a_listing_begun_after_an_order_was_taken_does_not_walk_it() {
        let now = Instant::now();
        let mut t = table(&["a", "b", "c", "d"], now);
        t.page(Some("a"), 1, now); // another listing's order: b, c, d
        t.put("bb".into(), dialog(now));
        assert_eq!(t.page(None, 2, now).0, ["a", "b"], "a new listing");
        assert_eq!(
            t.page(Some("b"), 1, now).0,
            ["bb"],
            "up when it began: listed"
        );
    }
}
