//! Branch outcomes: responses on a branch's client transaction, its timeouts and transport
//! errors (failover, RFC 3261 §16.7), Timer C (§16.8), and CANCEL in both directions (§9,
//! §16.10).

use super::ctx::{finish, next_branch, release, remember, Target};
use super::request::{self, ReqInfo};
use super::timers::Timer;
use super::txn::{self, ClientRole, ClientState, ClientTxn};
use super::types::{FailReason, ProxyEvent, Transport};
use super::{dialog, Proxy};
use sip::{Message, Method};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

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
    let ckey = txn::client_key(&branch, &Method::Cancel);
    p.client.insert(
        ckey.clone(),
        ClientTxn::new(
            ClientRole::Cancel,
            false,
            txn::Hop {
                dst: d,
                src: s,
                transport: tr,
            },
            cancel.clone(),
            None,
            started,
            p.cfg.t1,
        ),
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
        super::txn::ServerTxn::new(false, reply_to, local, transport, p.cfg.t1, p.ids.token()),
    );
    let mut invite_info = info.clone();
    invite_info.method = Method::Invite;
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
