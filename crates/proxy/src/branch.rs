//! Branch outcomes: what a branch's client transaction reports (responses, timeouts,
//! transport errors) and what the context makes of it (failover, RFC 3261 §16.7), Timer C
//! (§16.8), and CANCEL in both directions (§9, §16.10).

use crate::ctx::{Ctx, Target};
use crate::info::{Arrival, ReqInfo};
use crate::slab::{ClientId, CtxId};
use crate::tables::Role;
use crate::txn::{ClientEvent, ClientTxn, Expiry};
use crate::types::{FailReason, ProxyEvent};
use crate::Proxy;
use sip::{Message, Method};
use std::time::Instant;

/// A response with our Via removed, as it goes upstream (RFC 3261 §16.7 item 3), with its
/// body replaced by `body` when anchoring rewrote it (an empty one takes its Content-Type
/// with it).
fn upstream(msg: &Message<'_>, body: Option<&[u8]>) -> Option<Vec<u8>> {
    let mut ed = sip::Editor::new(msg);
    ed.remove_top_via().ok()?;
    if let Some(b) = body {
        ed.set_body(b).ok()?;
        if b.is_empty() {
            ed.remove_headers("Content-Type");
        }
    }
    ed.finish().ok()
}

impl Proxy {
    /// What a response did on the client transaction of a branch (live or given up).
    pub(crate) fn on_branch_response(
        &mut self,
        now: Instant,
        id: ClientId,
        event: ClientEvent,
        msg: &Message<'_>,
        code: u16,
    ) {
        let Some(c) = self.txns.client_mut(id) else {
            return;
        };
        if let (
            Role::Branch { ctx, .. },
            ClientEvent::Final { .. } | ClientEvent::Accepted { .. },
        ) = (c.role, event)
        {
            // A final response: Timer C has done its work (§16.8).
            c.role = Role::Branch { ctx, timer_c: None };
        }
        match (c.role, event) {
            // A branch given up earlier: a late provisional is CANCELled (§9.1), a late 2xx
            // ends the call it opened (ACK + BYE).
            (Role::Abandoned, ClientEvent::Provisional) => self.cancel_branch(now, id),
            (
                Role::Abandoned,
                ClientEvent::Accepted {
                    retransmission: false,
                },
            ) => {
                self.counters.late_answers_ended += 1;
                self.end_late_answer(now, id, msg);
            }
            (Role::Branch { ctx, .. }, ClientEvent::Provisional) => {
                self.branch_provisional(now, id, ctx, msg, code)
            }
            (Role::Branch { ctx, .. }, ClientEvent::Accepted { .. }) => {
                self.branch_2xx(now, id, ctx, msg, code)
            }
            (Role::Branch { ctx, .. }, ClientEvent::Final { .. }) if code < 300 => {
                self.branch_2xx(now, id, ctx, msg, code)
            }
            (Role::Branch { ctx, .. }, ClientEvent::Final { .. }) => {
                self.branch_final(now, id, ctx, msg, code)
            }
            _ => {}
        }
    }

    /// A provisional on a live branch: Timer C runs (RFC 3261 §16.6 item 11) from the first
    /// one and restarts with each but 100 (§16.7 item 2); a CANCEL that waited for it goes
    /// (§9.1); all but 100 go upstream (§16.7 item 5).
    fn branch_provisional(
        &mut self,
        now: Instant,
        id: ClientId,
        ctx: CtxId,
        msg: &Message<'_>,
        code: u16,
    ) {
        let fr_inv = self.cfg.fr_inv_timeout;
        if let Some(c) = self.txns.client_mut(id) {
            if let Role::Branch { ctx, timer_c } = c.role {
                if c.txn.method().is_invite() && (code > 100 || timer_c.is_none()) {
                    let timer_c = Some(now + fr_inv);
                    c.role = Role::Branch { ctx, timer_c };
                }
            }
        }
        if self.ctxs.get(ctx).is_some_and(Ctx::is_cancelled) {
            self.cancel_branch(now, id);
        }
        self.flush_client(id);
        if code == 100 {
            return;
        }
        let Some(c) = self.ctxs.get(ctx) else {
            return;
        };
        if !c.is_live(id) {
            return;
        }
        let server = c.server;
        let body = self.anchor_response(now, ctx, msg);
        if let Some(fwd) = upstream(msg, body.as_deref()) {
            if let Some(c) = self.ctxs.get_mut(ctx) {
                c.relayed_provisional();
            }
            self.send_response(now, server, code, fwd);
        }
    }

    /// A 2xx on a branch: forwarded at once (RFC 3261 §16.7 item 4), retransmissions too;
    /// the first one to an initial INVITE confirms the dialog with the member that answered.
    fn branch_2xx(&mut self, now: Instant, id: ClientId, ctx: CtxId, msg: &Message<'_>, code: u16) {
        let Some(hop) = self.txns.client(id).map(|c| c.txn.hop()) else {
            return;
        };
        let body = self.anchor_response(now, ctx, msg);
        let Some(fwd) = upstream(msg, body.as_deref()) else {
            return;
        };
        let Some(c) = self.ctxs.get_mut(ctx) else {
            return;
        };
        let server = c.server;
        let first = c.answered();
        let confirm = (c.initial_invite() && first).then(|| c.info.call_id.clone());
        let counted = c.counted.take();
        self.send_response(now, server, code, fwd);
        match confirm {
            Some(call_id) => {
                self.counters.traffic.calls_answered += 1;
                let to_tag = msg.to().ok().and_then(|t| t.tag().map(str::to_string));
                let expires = now + self.cfg.dialog_expiry;
                let member_hop = (hop.peer, hop.transport);
                self.dialogs.confirm(
                    &call_id,
                    to_tag,
                    counted,
                    member_hop,
                    expires,
                    &mut self.dispatcher,
                );
                self.keep_ends(ctx, msg);
            }
            None => {
                if let Some(m) = counted {
                    self.dispatcher.call_ended(m);
                }
            }
        }
    }

    /// A final non-2xx on a branch (already ACKed hop by hop, RFC 3261 §17.1.1.3): kept if it
    /// is the best so far; the next member is tried when the set fails over on the code,
    /// never after a provisional other than 100 reached the caller (it heard ringing) nor
    /// after the caller's CANCEL.
    fn branch_final(
        &mut self,
        now: Instant,
        id: ClientId,
        ctx: CtxId,
        msg: &Message<'_>,
        code: u16,
    ) {
        let member = self.txns.client(id).and_then(|c| c.member);
        if let (Some(m), 503) = (member, code) {
            let retry_after = msg.retry_after().ok().flatten().map(|r| r.seconds);
            let ev = dispatch::PassiveEvent::ServiceUnavailable { retry_after };
            self.dispatcher.passive(m, ev, now);
        }
        let Some(c) = self.ctxs.get_mut(ctx) else {
            return;
        };
        if !c.is_live(id) {
            return;
        }
        let Some(fwd) = upstream(msg, None) else {
            return;
        };
        c.remember(code, fwd);
        let failover_code = match &c.target {
            Target::Set { set, .. } => self
                .dispatcher
                .set_config(*set)
                .is_some_and(|s| s.fails_over_on(code)),
            Target::Fixed(..) => false,
        };
        let failover = failover_code && c.may_fail_over();
        self.release(ctx);
        if failover {
            self.fail_over(now, ctx, member, FailReason::Code(code));
        } else {
            self.finish(now, ctx);
        }
    }

    /// A client transaction failed without a final response (Timer B/F, the CANCEL's 64*T1,
    /// or a transport error). `tell` says whether a branch's member hears of it (a transport
    /// error is told once per member, [`Proxy::handle_transport_error`]); a probe in flight
    /// always ends with its transport error. Returns whether the member's health heard of it.
    pub(crate) fn client_failed(
        &mut self,
        now: Instant,
        id: ClientId,
        reason: FailReason,
        tell: bool,
    ) -> bool {
        let Some(role) = self.txns.client(id).map(|c| c.role) else {
            return false;
        };
        match role {
            Role::Probe { probe } => {
                self.txns.remove_client(id);
                // A probe's timeout is the dispatcher's own deadline; only transport errors
                // are reported from here, and always: the probe in flight ends with them.
                if reason == FailReason::Transport {
                    let outcome = dispatch::ProbeOutcome::TransportError;
                    return self.dispatcher.probe_result(probe, outcome, now);
                }
                false
            }
            Role::Cancel | Role::Cleanup => {
                self.txns.remove_client(id);
                false
            }
            Role::Abandoned => false,
            Role::Branch { ctx, .. } => self.branch_failed(now, id, ctx, reason, tell),
        }
    }

    /// A live branch failed: it is given up (kept for late responses: a late provisional
    /// gets a CANCEL, a late 2xx ACK + BYE), the member is told of it when `tell` (a timed
    /// out INVITE, a transport error; returns whether it was), and the context fails over
    /// when nothing was heard from the branch, or ends.
    fn branch_failed(
        &mut self,
        now: Instant,
        id: ClientId,
        ctx: CtxId,
        reason: FailReason,
        tell: bool,
    ) -> bool {
        let Some(c) = self.txns.client_mut(id) else {
            return false;
        };
        c.role = Role::Abandoned;
        let had_provisional = c.txn.is_proceeding();
        let (member, invite) = (c.member, c.txn.method().is_invite());
        if had_provisional && invite {
            self.cancel_branch(now, id);
        }
        // Only a new call's INVITE timing out says something of the member's health; an
        // in-dialog request (a re-INVITE to a UA that dropped the call) does not.
        let new_call = self.ctxs.get(ctx).is_some_and(Ctx::initial_invite);
        let told = match member {
            Some(m) if tell && (new_call || reason == FailReason::Transport) => {
                let ev = match reason {
                    FailReason::Transport => dispatch::PassiveEvent::TransportError,
                    _ => dispatch::PassiveEvent::InviteTimeout,
                };
                self.dispatcher.passive(m, ev, now);
                true
            }
            _ => false,
        };
        let Some(c) = self.ctxs.get_mut(ctx) else {
            return told;
        };
        if !c.is_live(id) {
            return told;
        }
        if reason == FailReason::Transport {
            c.unreachable();
        } else {
            c.timed_out();
        }
        let failover = c.may_fail_over();
        self.release(ctx);
        if failover {
            self.fail_over(now, ctx, member, reason);
        } else {
            self.finish(now, ctx);
        }
        told
    }

    /// Tells of a failover from `member` and tries the next one.
    fn fail_over(
        &mut self,
        now: Instant,
        ctx: CtxId,
        member: Option<dispatch::MemberId>,
        reason: FailReason,
    ) {
        let uri = member
            .and_then(|m| self.dispatcher.member(m))
            .map(|m| m.uri().to_string());
        if let (Some(member), Some(c)) = (uri, self.ctxs.get(ctx)) {
            self.events.push_back(ProxyEvent::Failover {
                call_id: c.info.call_id.clone(),
                member,
                reason,
            });
        }
        self.next_branch(now, ctx);
    }

    /// Timer C (RFC 3261 §16.8) of branch `id` fired: a provisional came but no final, so the
    /// branch is CANCELled; the 487 that follows goes upstream as 408.
    pub(crate) fn timer_c(&mut self, now: Instant, id: ClientId, ctx: CtxId) {
        if !self.txns.client(id).is_some_and(|c| c.txn.is_proceeding()) {
            return;
        }
        if let Some(c) = self.ctxs.get_mut(ctx) {
            c.timer_c();
        }
        self.cancel_branch(now, id);
    }

    /// CANCELs branch `id` (RFC 3261 §9.1) with a transaction of its own, if it has had a
    /// provisional and was not CANCELled yet.
    pub(crate) fn cancel_branch(&mut self, now: Instant, id: ClientId) {
        let timing = self.timing();
        let Some(c) = self.txns.client_mut(id) else {
            return;
        };
        let cancel = c.txn.cancel(now);
        let (hop, branch) = (c.txn.hop(), c.branch().to_string());
        self.flush_client(id);
        let Some(cancel) = cancel else {
            return;
        };
        let expiry = Expiry::Silent(now + timing.t64());
        let txn = ClientTxn::new(now, Method::Cancel, hop, cancel, timing, expiry);
        let cid = self.txns.add_client(branch, txn, Role::Cancel, None);
        self.flush_client(cid);
    }

    /// A CANCEL from upstream (RFC 3261 §16.10, §9.2): answered 200 when it matches an INVITE
    /// transaction (481 otherwise); the INVITE's context is cancelled: no new branch, and the
    /// live branch is CANCELled now or, before any provisional, as soon as one comes.
    pub(crate) fn on_cancel(
        &mut self,
        now: Instant,
        arrival: Arrival,
        msg: &Message<'_>,
        info: &ReqInfo,
        key: String,
    ) {
        if let Some(id) = self.txns.server_by_key(&key) {
            return self.retransmission(now, id);
        }
        let id = self.new_server(arrival, info, key);
        let invite = self
            .txns
            .server_by_key(&info.server_key_as(&Method::Invite));
        let Some(invite) = invite else {
            self.counters.cancel_unmatched += 1;
            let reason = "Call/Transaction Does Not Exist";
            return self.respond(now, id, msg, 481, reason, &[]);
        };
        self.respond(now, id, msg, 200, "OK", &[]);
        let Some(ctx) = self.txns.server(invite).and_then(|s| s.ctx) else {
            return;
        };
        let Some(c) = self.ctxs.get_mut(ctx) else {
            return;
        };
        if !c.cancel() {
            return;
        }
        if let Some(branch) = c.branch {
            self.cancel_branch(now, branch);
        }
    }
}
