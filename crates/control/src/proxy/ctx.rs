//! Proxy contexts: one per forwarded request. Branch creation (RFC 3261 §16.6), failover to the
//! next member, the best final response (§16.7 item 6), CANCEL (§16.10) and Timer C (§16.8).

use super::request::{self, ReqInfo, BRANCH_PREFIX};
use super::timers::Timer;
use super::txn::{self, ClientRole, ClientState, ClientTxn};
use super::types::{FailReason, ProxyEvent, Transport};
use super::{dialog, Proxy};
use sip::Message;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// The routing keys of a request, owned (for the hash algorithm).
#[derive(Debug, Clone)]
pub(crate) struct OwnedKeys {
    pub call_id: String,
    pub from_user: String,
    pub to_user: String,
    pub ruri_user: String,
}

/// Where a context sends its branches.
#[derive(Debug, Clone)]
pub(crate) enum Target {
    /// A destination set: members chosen by the dispatcher, failover on failure.
    Set {
        set: dispatch::SetId,
        keys: OwnedKeys,
    },
    /// One next hop (in-dialog or pre-routed requests): no failover.
    Fixed(SocketAddr, Transport, Option<dispatch::MemberId>),
}

/// A forwarded request's context (RFC 3261 §16: the response context).
#[derive(Debug)]
pub(crate) struct Ctx {
    pub server_key: String,
    pub base: Vec<u8>,
    pub info: ReqInfo,
    pub target: Target,
    pub tried: Vec<dispatch::MemberId>,
    pub attempts: u32,
    /// Client key of the live branch.
    pub branch: Option<String>,
    pub cancelled: bool,
    pub final_sent: bool,
    pub server_gone: bool,
    /// Best final response so far: code and bytes ready to send upstream.
    pub best: Option<(u16, Vec<u8>)>,
    pub saw_timeout: bool,
    pub timer_c_fired: bool,
    /// The member whose active-call count this call holds.
    pub counted: Option<dispatch::MemberId>,
    /// A provisional other than 100 was forwarded upstream.
    pub provisional: bool,
    /// Where the request came from (the caller side of a new dialog).
    pub caller: (SocketAddr, Transport),
}

impl Ctx {
    fn initial_invite(&self) -> bool {
        self.info.method == "INVITE" && self.info.to_tag.is_none()
    }
}

/// Starts a context for a request that is to be forwarded.
pub(crate) fn start(
    p: &mut Proxy,
    now: Instant,
    server_key: &str,
    info: &ReqInfo,
    base: Vec<u8>,
    target: Target,
) {
    let id = p.next_ctx;
    p.next_ctx += 1;
    let caller = p
        .server
        .get(server_key)
        .map(|s| (s.reply_to, s.transport))
        .unwrap_or((SocketAddr::from(([0, 0, 0, 0], 0)), Transport::Udp));
    if let Some(st) = p.server.get_mut(server_key) {
        st.ctx = Some(id);
    }
    if info.method == "BYE" && info.to_tag.is_some() {
        dialog::bye(p, now, info);
    }
    p.ctxs.insert(
        id,
        Ctx {
            server_key: server_key.to_string(),
            base,
            info: info.clone(),
            target,
            tried: Vec::new(),
            attempts: 0,
            branch: None,
            cancelled: false,
            final_sent: false,
            server_gone: false,
            best: None,
            saw_timeout: false,
            timer_c_fired: false,
            counted: None,
            provisional: false,
            caller,
        },
    );
    next_branch(p, now, id);
}

/// Adds this element's Via (with a fresh branch carrying the loop hash, RFC 3261 §16.6 item 8)
/// to `base`. Returns the branch and the bytes.
pub(crate) fn with_via(
    p: &mut Proxy,
    base: &[u8],
    src: SocketAddr,
    transport: Transport,
    info: &ReqInfo,
) -> Option<(String, Vec<u8>)> {
    let branch = format!(
        "{BRANCH_PREFIX}{:08x}{}",
        request::loop_hash(info),
        p.ids.token()
    );
    let msg = sip::parse(base).ok()?;
    let via = format!(
        "SIP/2.0/{} {};branch={branch}",
        transport.via_name(),
        p.our_hostport(src)
    );
    let bytes = sip::Editor::new(&msg).insert_via(&via).finish().ok()?;
    Some((branch, bytes))
}

/// Sends the next branch of context `id`, or ends it with the best response.
pub(crate) fn next_branch(p: &mut Proxy, now: Instant, id: u64) {
    let Some(c) = p.ctxs.get(&id) else {
        return;
    };
    if c.cancelled || c.final_sent {
        return finish(p, now, id);
    }
    let (set, keys) = match &c.target {
        Target::Fixed(dst, t, m) => {
            if c.attempts > 0 {
                return finish(p, now, id);
            }
            let (dst, t, m) = (*dst, *t, *m);
            return send_branch(p, now, id, dst, t, m);
        }
        Target::Set { set, keys } => (*set, keys.clone()),
    };
    let tried = c.tried.clone();
    let hk = dispatch::HashKeys {
        call_id: &keys.call_id,
        from_user: &keys.from_user,
        to_user: &keys.to_user,
        ruri_user: &keys.ruri_user,
    };
    let first = c.attempts == 0;
    match p.dispatcher.select(set, &hk, &tried, now) {
        dispatch::Selection::Member(m) => {
            let Some((dst, t, uri)) = p.dispatcher.member(m).map(|mm| {
                (
                    mm.target(),
                    Transport::from(mm.transport()),
                    mm.uri().to_string(),
                )
            }) else {
                return finish(p, now, id);
            };
            let Some(c) = p.ctxs.get_mut(&id) else {
                return;
            };
            c.tried.push(m);
            let attempt = c.attempts + 1;
            if c.initial_invite() {
                c.counted = Some(m);
                p.dispatcher.call_started(m);
                if attempt == 1 {
                    p.counters.calls_routed += 1;
                } else {
                    p.counters.failovers += 1;
                }
                p.events.push_back(ProxyEvent::CallRouted {
                    call_id: c.info.call_id.clone(),
                    member: uri,
                    attempt,
                });
            }
            send_branch(p, now, id, dst, t, Some(m));
        }
        dispatch::Selection::AllFull { retry_after } if first => {
            p.counters.all_busy += 1;
            refuse(p, now, id, retry_after);
        }
        dispatch::Selection::NoneAvailable { retry_after } if first => {
            p.counters.no_member += 1;
            refuse(p, now, id, retry_after);
        }
        _ => finish(p, now, id),
    }
}

/// No member can take the call: 503, with Retry-After when the set has one (RFC 3261
/// §21.5.4), at once rather than after a timeout.
fn refuse(p: &mut Proxy, now: Instant, id: u64, retry_after: Duration) {
    let ra = retry_after.as_secs().to_string();
    let extra: &[(&str, &str)] = if retry_after.is_zero() {
        &[]
    } else {
        &[("Retry-After", &ra)]
    };
    local_final(p, now, id, 503, "Service Unavailable", extra);
}

/// Creates the client transaction of a branch and sends it (RFC 3261 §16.6 items 8–10).
fn send_branch(
    p: &mut Proxy,
    now: Instant,
    id: u64,
    dst: SocketAddr,
    transport: Transport,
    member: Option<dispatch::MemberId>,
) {
    let Some(c) = p.ctxs.get(&id) else {
        return;
    };
    let (base, info) = (c.base.clone(), c.info.clone());
    let src = p.local_for(dst);
    let Some((branch, bytes)) = with_via(p, &base, src, transport, &info) else {
        return finish(p, now, id);
    };
    let key = txn::client_key(&branch, &info.method);
    let invite = info.method == "INVITE";
    p.client.insert(
        key.clone(),
        ClientTxn {
            invite,
            state: ClientState::Calling,
            role: ClientRole::Branch { ctx: id },
            dst,
            src,
            transport,
            request: bytes.clone(),
            ack: None,
            gen: 0,
            retransmit_every: p.cfg.t1,
            started: now,
            cancel_pending: false,
            cancelled: false,
            abandoned: false,
            member,
            give_up_at: None,
        },
    );
    if transport.unreliable() {
        p.timers.arm(
            now + p.cfg.t1,
            Timer::ClientRetransmit {
                key: key.clone(),
                gen: 0,
            },
        );
    }
    p.timers.arm(
        now + p.cfg.fr_timeout,
        Timer::ClientNoAnswer { key: key.clone() },
    );
    if let Some(c) = p.ctxs.get_mut(&id) {
        c.attempts += 1;
        c.branch = Some(key);
        if c.initial_invite() {
            let caller = c.caller;
            dialog::early(p, now, &info, member, dst, transport, caller);
        }
    }
    p.send(transport, src, dst, bytes);
}

/// Ranks a final response for §16.7 item 6: 6xx first, then the lowest class.
fn rank(code: u16) -> u16 {
    if code >= 600 {
        0
    } else {
        code / 100
    }
}

/// Records a final response in the context if it beats the best so far.
fn remember(c: &mut Ctx, code: u16, bytes: Vec<u8>) {
    if c.best.as_ref().is_none_or(|(b, _)| rank(code) < rank(*b)) {
        c.best = Some((code, bytes));
    }
}

/// Releases the active-call count a context holds.
fn release(p: &mut Proxy, id: u64) {
    if let Some(m) = p.ctxs.get_mut(&id).and_then(|c| c.counted.take()) {
        p.dispatcher.call_ended(m);
    }
}

/// Sends the context's final response upstream (RFC 3261 §16.7 items 6–10).
pub(crate) fn finish(p: &mut Proxy, now: Instant, id: u64) {
    let Some(c) = p.ctxs.get_mut(&id) else {
        return;
    };
    if c.final_sent {
        return;
    }
    c.final_sent = true;
    let initial = c.initial_invite();
    let key = c.server_key.clone();
    let best = c.best.take();
    let (cancelled, timeout, timer_c) = (c.cancelled, c.saw_timeout, c.timer_c_fired);
    let call_id = c.info.call_id.clone();
    release(p, id);
    let code = match best {
        // §16.7 item 6: a 503 is not passed on; the caller would take it as this proxy's state.
        Some((503, _)) => {
            local_code(p, now, id, 500, "Server Internal Error");
            500
        }
        Some((487, _)) if timer_c && !cancelled => {
            local_code(p, now, id, 408, "Request Timeout");
            408
        }
        Some((code, bytes)) => {
            request::send_response(p, now, &key, code, bytes);
            code
        }
        None if cancelled => {
            local_code(p, now, id, 487, "Request Terminated");
            487
        }
        None if timeout => {
            local_code(p, now, id, 408, "Request Timeout");
            408
        }
        None => {
            local_code(p, now, id, 503, "Service Unavailable");
            503
        }
    };
    if initial {
        dialog::failed(p, &call_id);
        p.events.push_back(ProxyEvent::CallFailed { call_id, code });
    }
    end_if_done(p, id);
}

/// A locally generated final response on the context's server transaction.
fn local_code(p: &mut Proxy, now: Instant, id: u64, code: u16, reason: &str) {
    local_response(p, now, id, code, reason, &[]);
}

fn local_response(
    p: &mut Proxy,
    now: Instant,
    id: u64,
    code: u16,
    reason: &str,
    extra: &[(&str, &str)],
) {
    let Some(c) = p.ctxs.get(&id) else {
        return;
    };
    let key = c.server_key.clone();
    let Ok(req) = sip::parse(&c.base) else {
        return;
    };
    // The base request carries the caller's Vias and tags unchanged; build from it.
    let req_bytes = req.as_bytes().to_vec();
    drop(req);
    if let Ok(req) = sip::parse(&req_bytes) {
        request::respond(p, now, &key, &req, code, reason, extra);
    }
}

/// Ends the context at once with a locally generated final response.
fn local_final(
    p: &mut Proxy,
    now: Instant,
    id: u64,
    code: u16,
    reason: &str,
    extra: &[(&str, &str)],
) {
    let Some(c) = p.ctxs.get_mut(&id) else {
        return;
    };
    c.final_sent = true;
    let initial = c.initial_invite();
    let call_id = c.info.call_id.clone();
    release(p, id);
    local_response(p, now, id, code, reason, extra);
    if initial {
        dialog::failed(p, &call_id);
        p.events.push_back(ProxyEvent::CallFailed { call_id, code });
    }
    end_if_done(p, id);
}

/// Drops a finished context whose server transaction is already gone.
fn end_if_done(p: &mut Proxy, id: u64) {
    if p.ctxs
        .get(&id)
        .is_some_and(|c| c.server_gone && c.final_sent)
    {
        p.ctxs.remove(&id);
    }
}

/// A response on a branch's client transaction.
pub(crate) fn on_branch_response(
    p: &mut Proxy,
    now: Instant,
    key: &str,
    msg: &Message<'_>,
    code: u16,
) {
    let Some(t) = p.client.get_mut(key) else {
        return;
    };
    let ClientRole::Branch { ctx: id } = t.role else {
        return;
    };
    if code < 200 {
        if t.state == ClientState::Calling {
            t.state = ClientState::Proceeding;
            if t.invite {
                // RFC 3261 §17.1.1.2: a provisional stops Timer A.
                t.gen += 1;
            }
        }
        if t.invite && code > 100 {
            // Timer C restarts with every provisional (RFC 3261 §16.7 item 2).
            t.gen += 1;
            let gen = t.gen;
            p.timers.arm(
                now + p.cfg.fr_inv_timeout,
                Timer::ClientTimerC {
                    key: key.to_string(),
                    gen,
                },
            );
        }
        let t = match p.client.get_mut(key) {
            Some(t) => t,
            None => return,
        };
        if t.abandoned || t.cancel_pending {
            // RFC 3261 §9.1: the CANCEL waited for this provisional.
            t.cancel_pending = false;
            if !t.cancelled {
                send_cancel(p, now, key);
            }
            if p.client.get(key).is_some_and(|t| t.abandoned) {
                return;
            }
        }
        if code == 100 {
            return;
        }
        let Some(c) = p.ctxs.get_mut(&id) else {
            return;
        };
        if c.final_sent || c.branch.as_deref() != Some(key) {
            return;
        }
        c.provisional = true;
        let skey = c.server_key.clone();
        if let Ok(fwd) = sip::Editor::new(msg)
            .remove_top_via()
            .and_then(|e| e.finish())
        {
            request::send_response(p, now, &skey, code, fwd);
        }
        return;
    }
    if code < 300 {
        return on_2xx(p, now, key, id, msg, code);
    }
    // A final non-2xx: ACK it hop by hop (RFC 3261 §17.1.1.3) and absorb its retransmissions.
    if t.state == ClientState::Completed {
        if let Some(a) = t.ack.clone() {
            let (tr, s, d) = (t.transport, t.src, t.dst);
            p.send(tr, s, d, a);
        }
        return;
    }
    let had_provisional = t.state == ClientState::Proceeding;
    t.state = ClientState::Completed;
    t.gen += 1;
    let (tr, s, d, invite, member, abandoned) =
        (t.transport, t.src, t.dst, t.invite, t.member, t.abandoned);
    if invite {
        let ack = sip::parse(&t.request)
            .ok()
            .and_then(|req| sip::build_ack(&req, msg).ok());
        if let Some(a) = ack {
            t.ack = Some(a.clone());
            p.send(tr, s, d, a);
        }
    }
    // Timer D (32 s over UDP) or K (T4), zero over TCP.
    let linger = match (tr.unreliable(), invite) {
        (false, _) => Duration::ZERO,
        (true, true) => Duration::from_secs(32).max(p.cfg.t64() / 2),
        (true, false) => p.cfg.t4,
    };
    p.timers.arm(
        now + linger,
        Timer::ClientEnd {
            key: key.to_string(),
        },
    );
    if abandoned {
        return;
    }
    if let (Some(m), 503) = (member, code) {
        let retry_after = msg.retry_after().ok().flatten().map(|r| r.seconds);
        p.dispatcher.passive(
            m,
            dispatch::PassiveEvent::ServiceUnavailable { retry_after },
            now,
        );
    }
    let Some(c) = p.ctxs.get_mut(&id) else {
        return;
    };
    if c.branch.as_deref() != Some(key) || c.final_sent {
        return;
    }
    let Ok(fwd) = sip::Editor::new(msg)
        .remove_top_via()
        .and_then(|e| e.finish())
    else {
        return;
    };
    remember(c, code, fwd);
    let failover_code = match &c.target {
        Target::Set { set, .. } => p
            .dispatcher
            .set_config(*set)
            .is_some_and(|s| s.fails_over_on(code)),
        Target::Fixed(..) => false,
    };
    // Never after a provisional (the caller heard ringing), never after the caller's CANCEL.
    let failover = failover_code && !had_provisional && !c.cancelled;
    let call_id = c.info.call_id.clone();
    release(p, id);
    if failover {
        if let Some(uri) = member
            .and_then(|m| p.dispatcher.member(m))
            .map(|m| m.uri().to_string())
        {
            p.events.push_back(ProxyEvent::Failover {
                call_id,
                member: uri,
                reason: FailReason::Code(code),
            });
        }
        next_branch(p, now, id);
    } else {
        finish(p, now, id);
    }
}

/// A 2xx on a branch: forwarded at once (RFC 3261 §16.7 item 4), also when it repeats.
fn on_2xx(p: &mut Proxy, now: Instant, key: &str, id: u64, msg: &Message<'_>, code: u16) {
    let Some(t) = p.client.get_mut(key) else {
        return;
    };
    if t.abandoned {
        // A branch given up earlier answered after all: end that call (ACK + BYE).
        let first = t.state != ClientState::Accepted;
        t.state = ClientState::Accepted;
        if first {
            p.counters.late_answers_ended += 1;
            super::local::end_late_answer(p, now, key, msg);
        }
        return;
    }
    let first = t.state != ClientState::Accepted;
    if first {
        t.state = ClientState::Accepted;
        t.gen += 1;
        // RFC 6026 §7.2: Timer M keeps the transaction to pass on 2xx retransmissions.
        p.timers.arm(
            now + p.cfg.t64(),
            Timer::ClientEnd {
                key: key.to_string(),
            },
        );
    }
    let (dst, tr) = (t.dst, t.transport);
    let Ok(fwd) = sip::Editor::new(msg)
        .remove_top_via()
        .and_then(|e| e.finish())
    else {
        return;
    };
    let Some(c) = p.ctxs.get_mut(&id) else {
        return;
    };
    let skey = c.server_key.clone();
    let initial = c.initial_invite();
    let was_final = c.final_sent;
    c.final_sent = true;
    let counted = c.counted.take();
    let info = c.info.clone();
    request::send_response(p, now, &skey, code, fwd);
    if initial && !was_final {
        let to_tag = msg.to().ok().and_then(|t| t.tag().map(str::to_string));
        dialog::confirm(p, now, &info, to_tag, counted, dst, tr);
    } else if let Some(m) = counted {
        p.dispatcher.call_ended(m);
    }
}

/// fr_timeout: the branch got no provisional in time (or, for non-INVITE, no final).
pub(crate) fn client_no_answer(p: &mut Proxy, now: Instant, key: &str) {
    let Some(t) = p.client.get(key) else {
        return;
    };
    let given_up = t.give_up_at.is_some_and(|g| g <= now);
    let waiting = t.state == ClientState::Calling
        || (t.state == ClientState::Proceeding && (!t.invite || given_up));
    if waiting {
        client_failed(p, now, key, FailReason::Timeout);
    }
}

/// A client transaction failed without a final response (timeout or transport error).
pub(crate) fn client_failed(p: &mut Proxy, now: Instant, key: &str, reason: FailReason) {
    let t64 = p.cfg.t64();
    let Some(t) = p.client.get_mut(key) else {
        return;
    };
    t.gen += 1;
    match t.role {
        ClientRole::Probe { probe } => {
            p.client.remove(key);
            // A probe's timeout is the dispatcher's own deadline; only transport errors are
            // reported from here.
            if reason == FailReason::Transport {
                p.dispatcher
                    .probe_result(probe, dispatch::ProbeOutcome::TransportError, now);
            }
        }
        ClientRole::Cancel | ClientRole::Cleanup => {
            p.client.remove(key);
        }
        ClientRole::Branch { ctx: id } => {
            if t.abandoned {
                return;
            }
            t.abandoned = true;
            let had_provisional = t.state == ClientState::Proceeding;
            let (member, invite) = (t.member, t.invite);
            if had_provisional && invite && !t.cancelled {
                send_cancel(p, now, key);
            }
            // Kept for late responses: a late provisional gets a CANCEL, a late 2xx ACK + BYE.
            p.timers.arm(
                now + t64,
                Timer::ClientEnd {
                    key: key.to_string(),
                },
            );
            if let Some(m) = member {
                if invite || reason == FailReason::Transport {
                    let ev = match reason {
                        FailReason::Transport => dispatch::PassiveEvent::TransportError,
                        _ => dispatch::PassiveEvent::InviteTimeout,
                    };
                    p.dispatcher.passive(m, ev, now);
                }
            }
            let Some(c) = p.ctxs.get_mut(&id) else {
                return;
            };
            if c.branch.as_deref() != Some(key) || c.final_sent {
                return;
            }
            c.saw_timeout = true;
            let failover =
                !had_provisional && !c.cancelled && matches!(c.target, Target::Set { .. });
            let call_id = c.info.call_id.clone();
            release(p, id);
            if failover {
                if let Some(uri) = member
                    .and_then(|m| p.dispatcher.member(m))
                    .map(|m| m.uri().to_string())
                {
                    p.events.push_back(ProxyEvent::Failover {
                        call_id,
                        member: uri,
                        reason,
                    });
                }
                next_branch(p, now, id);
            } else {
                finish(p, now, id);
            }
        }
    }
}

/// Timer C (RFC 3261 §16.8): a provisional came but no final; CANCEL the branch. The 487 that
/// follows is sent upstream as 408.
pub(crate) fn timer_c(p: &mut Proxy, now: Instant, key: &str, gen: u32) {
    let Some(t) = p.client.get(key) else {
        return;
    };
    if t.gen != gen || t.state != ClientState::Proceeding {
        return;
    }
    let ClientRole::Branch { ctx: id } = t.role else {
        return;
    };
    if let Some(c) = p.ctxs.get_mut(&id) {
        c.timer_c_fired = true;
    }
    if !t.cancelled {
        send_cancel(p, now, key);
    }
}

/// Sends a CANCEL for branch `key` (RFC 3261 §9.1) as its own client transaction.
pub(crate) fn send_cancel(p: &mut Proxy, now: Instant, key: &str) {
    let Some(t) = p.client.get_mut(key) else {
        return;
    };
    t.cancelled = true;
    // RFC 3261 §16.8: if even the CANCEL brings no final response, give up after 64*T1.
    let give_up = now + p.cfg.t64();
    t.give_up_at = Some(give_up);
    p.timers.arm(
        give_up,
        Timer::ClientNoAnswer {
            key: key.to_string(),
        },
    );
    let Some(t) = p.client.get(key) else {
        return;
    };
    let Some(cancel) = sip::parse(&t.request)
        .ok()
        .and_then(|r| sip::build_cancel(&r).ok())
    else {
        return;
    };
    let (tr, s, d, started) = (t.transport, t.src, t.dst, t.started);
    let branch = key.split('|').next().unwrap_or_default().to_string();
    let ckey = txn::client_key(&branch, "CANCEL");
    p.client.insert(
        ckey.clone(),
        ClientTxn {
            invite: false,
            state: ClientState::Calling,
            role: ClientRole::Cancel,
            dst: d,
            src: s,
            transport: tr,
            request: cancel.clone(),
            ack: None,
            gen: 0,
            retransmit_every: p.cfg.t1,
            started,
            cancel_pending: false,
            cancelled: false,
            abandoned: false,
            member: None,
            give_up_at: None,
        },
    );
    if tr.unreliable() {
        p.timers.arm(
            now + p.cfg.t1,
            Timer::ClientRetransmit {
                key: ckey.clone(),
                gen: 0,
            },
        );
    }
    p.timers
        .arm(now + p.cfg.t64(), Timer::ClientEnd { key: ckey });
    p.send(tr, s, d, cancel);
}

/// A CANCEL from upstream (RFC 3261 §16.10, §9.2).
pub(crate) fn cancel(
    p: &mut Proxy,
    now: Instant,
    transport: Transport,
    local: SocketAddr,
    from: SocketAddr,
    msg: &Message<'_>,
    info: &ReqInfo,
) {
    let ckey = info.server_key();
    if let Some(st) = p.server.get(&ckey) {
        p.counters.retransmissions_absorbed += 1;
        if let Some(r) = st.last_response.clone() {
            let (t, l, d) = (st.transport, st.local, st.reply_to);
            p.send(t, l, d, r);
        }
        return;
    }
    let reply_to = match transport {
        Transport::Tcp => from,
        Transport::Udp => request::reply_target(msg, from).unwrap_or(from),
    };
    p.server.insert(
        ckey.clone(),
        super::txn::ServerTxn {
            invite: false,
            state: super::txn::ServerState::Proceeding,
            reply_to,
            local,
            transport,
            last_response: None,
            gen: 0,
            retransmit_every: p.cfg.t1,
            ctx: None,
            local_tag: p.ids.token(),
        },
    );
    let mut invite_info = info.clone();
    invite_info.method = "INVITE".to_string();
    let ikey = invite_info.server_key();
    let ctx_id = p.server.get(&ikey).and_then(|s| s.ctx);
    let Some(id) = p.server.get(&ikey).map(|s| s.ctx) else {
        p.counters.cancel_unmatched += 1;
        request::respond(
            p,
            now,
            &ckey,
            msg,
            481,
            "Call/Transaction Does Not Exist",
            &[],
        );
        return;
    };
    request::respond(p, now, &ckey, msg, 200, "OK", &[]);
    let Some(id) = id.or(ctx_id) else {
        return;
    };
    let Some(c) = p.ctxs.get_mut(&id) else {
        return;
    };
    if c.final_sent {
        return;
    }
    c.cancelled = true;
    let Some(bkey) = c.branch.clone() else {
        return;
    };
    match p.client.get_mut(&bkey) {
        Some(t) if t.state == ClientState::Proceeding && !t.cancelled => send_cancel(p, now, &bkey),
        Some(t) if t.state == ClientState::Calling => t.cancel_pending = true,
        _ => {}
    }
}
