//! Forwarding: a context per forwarded request, its branches one after another (RFC 3261
//! §16.6, failover to the next member of the set), and its final response upstream (§16.7
//! items 6–10). What happens on a branch is `branch`'s.

use crate::ctx::{Ctx, Target, Verdict};
use crate::info::{ReqInfo, BRANCH_PREFIX};
use crate::slab::{CtxId, ServerId};
use crate::tables::Role;
use crate::txn::{ClientTxn, Expiry, Hop};
use crate::types::{ProxyEvent, Refusal, Table};
use crate::{util, Proxy};
use sip::Transport;
use std::borrow::Cow;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

impl Proxy {
    /// Starts a context for the request of server transaction `server`, to be forwarded to
    /// `target` with its SDP `anchored` (or not), and sends its first branch.
    pub(crate) fn start_ctx(
        &mut self,
        now: Instant,
        server: ServerId,
        info: ReqInfo,
        base: Vec<u8>,
        target: Target,
        anchored: Option<crate::anchor::Anchored>,
    ) {
        let caller = self
            .txns
            .server(server)
            .map(|s| (s.txn.hop().peer, s.txn.hop().transport))
            .unwrap_or((SocketAddr::from(([0, 0, 0, 0], 0)), Transport::Udp));
        if info.method == sip::Method::Bye && info.to_tag.is_some() {
            let linger = now + self.cfg.t64();
            self.dialogs
                .bye(&info.call_id, linger, &mut self.dispatcher);
        }
        let mut ctx = Ctx::new(server, info, base, target, caller);
        ctx.anchored = anchored;
        let id = self.ctxs.insert(ctx);
        if let Some(s) = self.txns.server_mut(server) {
            s.ctx = Some(id);
        }
        self.next_branch(now, id);
    }

    /// Sends the next branch of context `id`, or ends it with the best response.
    pub(crate) fn next_branch(&mut self, now: Instant, id: CtxId) {
        let Some(c) = self.ctxs.get(id) else {
            return;
        };
        if c.is_cancelled() || c.is_done() {
            return self.finish(now, id);
        }
        let (set, ruri_user) = match &c.target {
            Target::Fixed(dst, t, m) => {
                if c.attempts > 0 {
                    return self.finish(now, id);
                }
                let (dst, t, m) = (*dst, *t, *m);
                return self.send_branch(now, id, dst, t, m);
            }
            Target::Set { set, ruri_user } => (*set, ruri_user),
        };
        let hk = dispatch::HashKeys {
            call_id: &c.info.call_id,
            from_user: &c.info.from_user,
            to_user: &c.info.to_user,
            ruri_user,
        };
        let first = c.attempts == 0;
        match self.dispatcher.select(set, &hk, &c.tried, now) {
            dispatch::Selection::Member(m) => self.branch_to_member(now, id, m),
            dispatch::Selection::AllFull { retry_after } if first => {
                self.counters.all_busy += 1;
                self.refuse(now, id, retry_after);
            }
            dispatch::Selection::NoneAvailable { retry_after } if first => {
                self.counters.no_member += 1;
                self.refuse(now, id, retry_after);
            }
            _ => self.finish(now, id),
        }
    }

    /// Sends context `id`'s next branch to member `m`; a call counts on the member from now.
    fn branch_to_member(&mut self, now: Instant, id: CtxId, m: dispatch::MemberId) {
        let Some((dst, t)) = self
            .dispatcher
            .member(m)
            .map(|mm| (mm.target(), mm.transport()))
        else {
            return self.finish(now, id);
        };
        let Some(c) = self.ctxs.get_mut(id) else {
            return;
        };
        c.tried.push(m);
        let attempt = c.attempts + 1;
        if c.initial_invite() {
            c.counted = Some(m);
            self.dispatcher.call_started(m);
            if attempt == 1 {
                self.counters.calls_routed += 1;
            } else {
                self.counters.failovers += 1;
            }
            let member = self
                .dispatcher
                .member(m)
                .map(|mm| mm.uri().to_string())
                .unwrap_or_default();
            self.events.push_back(ProxyEvent::CallRouted {
                call_id: c.info.call_id.clone(),
                member,
                attempt,
            });
        }
        self.send_branch(now, id, dst, t, Some(m));
    }

    /// No member can take the call: 503, with Retry-After when the set has one (RFC 3261
    /// §21.5.4), at once rather than after a timeout.
    fn refuse(&mut self, now: Instant, id: CtxId, retry_after: Duration) {
        let ra = retry_after.as_secs().to_string();
        let extra: &[(&str, &str)] = if retry_after.is_zero() {
            &[]
        } else {
            &[("Retry-After", &ra)]
        };
        self.local_final(now, id, 503, "Service Unavailable", extra);
    }

    /// Creates the client transaction of a branch and sends it (RFC 3261 §16.6 items 8–10):
    /// a fresh branch carrying the loop hash, Timer B/F at `fr_timeout`.
    fn send_branch(
        &mut self,
        now: Instant,
        id: CtxId,
        dst: SocketAddr,
        transport: Transport,
        member: Option<dispatch::MemberId>,
    ) {
        if self.txns.sizes().1 >= util::cap(self.cfg.limits.client_transactions) {
            return self.no_client_room(now, id);
        }
        let src = self.local_for(dst);
        let sent_by = self.sent_by(transport, src);
        let timing = self.timing();
        let token = self.ids.token();
        // A call that changes transport here is record-routed on both sides (RFC 5658 §3.2):
        // the base names the caller's side, this branch adds the member's on top.
        let other_side = self.ctxs.get(id).is_some_and(|c| {
            self.cfg.record_route && c.initial_invite() && c.caller.1 != transport
        });
        let second_rr = other_side.then(|| self.record_route_value(transport, dst));
        let Some(c) = self.ctxs.get_mut(id) else {
            return;
        };
        let branch = branch_id(c.info.loop_hash(), &token);
        let with_rr = match &second_rr {
            Some(rr) => util::insert_header(&c.base, "Record-Route", rr).map(Cow::Owned),
            None => Some(Cow::Borrowed(&c.base[..])),
        };
        let Some(bytes) = with_rr.and_then(|b| util::insert_via(&b, transport, &sent_by, &branch))
        else {
            return self.finish(now, id);
        };
        let hop = Hop {
            transport,
            local: src,
            peer: dst,
        };
        let expiry = Expiry::Timeout(now + self.cfg.fr_timeout);
        let txn = ClientTxn::new(now, c.info.method.clone(), hop, bytes, timing, expiry);
        let role = Role::Branch {
            ctx: id,
            timer_c: None,
        };
        let cid = self.txns.add_client(branch, txn, role, member);
        c.attempts += 1;
        c.branch = Some(cid);
        if c.initial_invite() {
            let expires = now + self.cfg.fr_timeout + self.cfg.fr_inv_timeout + self.cfg.t64();
            let media = c.anchored.as_ref().map(|a| a.sides.clone());
            self.dialogs.early(
                (now, expires),
                &c.info,
                member,
                (dst, transport),
                c.caller,
                media,
            );
        }
        self.flush_client(cid);
    }

    /// No room for the branch's client transaction (`max_client_transactions`): the context
    /// ends with 503 and Retry-After, counted.
    fn no_client_room(&mut self, now: Instant, id: CtxId) {
        let Some(c) = self.ctxs.get(id) else {
            return;
        };
        let (from, call_id) = (c.caller.0, c.info.call_id.clone());
        self.refused(Refusal::Cap(Table::Client), from, &call_id);
        let ra = self.cfg.limits.retry_after.as_secs().to_string();
        self.local_final(now, id, 503, "Service Unavailable", &[("Retry-After", &ra)]);
    }

    /// Adds this element's Via (with a fresh branch carrying the loop hash, RFC 3261 §16.6
    /// item 8) to `base`. Returns the branch and the bytes.
    pub(crate) fn with_via(
        &mut self,
        base: &[u8],
        src: SocketAddr,
        transport: Transport,
        info: &ReqInfo,
    ) -> Option<(String, Vec<u8>)> {
        let branch = branch_id(info.loop_hash(), &self.ids.token());
        let bytes = util::insert_via(base, transport, &self.sent_by(transport, src), &branch)?;
        Some((branch, bytes))
    }

    /// Releases the active-call count a context holds.
    pub(crate) fn release(&mut self, id: CtxId) {
        if let Some(m) = self.ctxs.get_mut(id).and_then(|c| c.counted.take()) {
            self.dispatcher.call_ended(m);
        }
    }

    /// Sends the context's final response upstream (RFC 3261 §16.7 items 6–10): the best
    /// one, or one of ours (see [`Ctx::conclude`]).
    pub(crate) fn finish(&mut self, now: Instant, id: CtxId) {
        let Some(c) = self.ctxs.get_mut(id) else {
            return;
        };
        let server = c.server;
        let Some(verdict) = c.conclude() else {
            return;
        };
        self.release(id);
        let code = match verdict {
            Verdict::Forward(code, bytes) => {
                self.send_response(now, server, code, bytes);
                code
            }
            Verdict::Local(code, reason) => {
                self.local_response(now, id, code, reason, &[]);
                code
            }
        };
        self.call_failed(now, id, code);
        self.end_if_done(id);
    }

    /// Ends the context at once with a locally generated final response.
    pub(crate) fn local_final(
        &mut self,
        now: Instant,
        id: CtxId,
        code: u16,
        reason: &str,
        extra: &[(&str, &str)],
    ) {
        if !self.ctxs.get_mut(id).is_some_and(Ctx::conclude_locally) {
            return;
        }
        self.release(id);
        self.local_response(now, id, code, reason, extra);
        self.call_failed(now, id, code);
        self.end_if_done(id);
    }

    /// A call (an initial INVITE) ended upstream with `code`: its early dialog goes.
    fn call_failed(&mut self, now: Instant, id: CtxId, code: u16) {
        let Some(c) = self.ctxs.get(id).filter(|c| c.initial_invite()) else {
            return;
        };
        let call_id = c.info.call_id.clone();
        self.counters.traffic.call_failed(code);
        if c.anchored.is_some() {
            self.release_media(now, &call_id);
        }
        self.dialogs.failed(&call_id, &mut self.dispatcher);
        self.events
            .push_back(ProxyEvent::CallFailed { call_id, code });
    }

    /// A locally generated response on the context's server transaction, built from the base
    /// request (it carries the caller's Vias and tags unchanged).
    fn local_response(
        &mut self,
        now: Instant,
        id: CtxId,
        code: u16,
        reason: &str,
        extra: &[(&str, &str)],
    ) {
        let Some(c) = self.ctxs.get_mut(id) else {
            return;
        };
        let server = c.server;
        let base = std::mem::take(&mut c.base);
        if let Ok(req) = sip::parse(&base) {
            self.respond(now, server, &req, code, reason, extra);
        }
        if let Some(c) = self.ctxs.get_mut(id) {
            c.base = base;
        }
    }

    /// Drops a finished context whose server transaction is already gone.
    pub(crate) fn end_if_done(&mut self, id: CtxId) {
        let done = self
            .ctxs
            .get(id)
            .is_some_and(|c| c.is_done() && self.txns.server(c.server).is_none());
        if done {
            self.ctxs.remove(id);
        }
    }
}

/// A branch of ours: the prefix, the loop hash in 8 hex digits and a fresh token (RFC 3261
/// §16.6 item 8).
fn branch_id(loop_hash: u32, token: &str) -> String {
    let mut b = String::with_capacity(BRANCH_PREFIX.len() + 8 + token.len());
    b.push_str(BRANCH_PREFIX);
    util::push_hex(&mut b, u64::from(loop_hash), 8);
    b.push_str(token);
    b
}
