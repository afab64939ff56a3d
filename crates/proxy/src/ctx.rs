//! Proxy contexts: one per forwarded request. Branch creation (RFC 3261 §16.6), failover to the
//! next member, the best final response (§16.7 item 6), CANCEL (§16.10) and Timer C (§16.8).

pub(crate) use super::branch::{
    cancel, client_failed, client_no_answer, on_branch_response, timer_c,
};
use super::request::{self, ReqInfo, BRANCH_PREFIX};
use super::timers::Timer;
use super::txn::{self, ClientRole, ClientTxn};
use super::types::{ProxyEvent, Transport};
use super::{dialog, Proxy};
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
    pub(crate) fn initial_invite(&self) -> bool {
        self.info.method.is_invite() && self.info.to_tag.is_none()
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
    if info.method == sip::Method::Bye && info.to_tag.is_some() {
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
    // Our Via goes right after the Request-Line: above every other Via, so it is the topmost
    // (only the order among Via fields matters, RFC 3261 §7.3.1). No second parse needed.
    let line_end = base.windows(2).position(|w| w == b"\r\n")? + 2;
    let via = format!(
        "Via: SIP/2.0/{} {};branch={branch}\r\n",
        transport.via_name(),
        p.our_hostport(src)
    );
    let mut bytes = Vec::with_capacity(base.len() + via.len());
    bytes.extend_from_slice(base.get(..line_end)?);
    bytes.extend_from_slice(via.as_bytes());
    bytes.extend_from_slice(base.get(line_end..)?);
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
    let invite = info.method.is_invite();
    p.client.insert(
        key.clone(),
        ClientTxn::new(
            ClientRole::Branch { ctx: id },
            invite,
            txn::Hop {
                dst,
                src,
                transport,
            },
            bytes.clone(),
            member,
            now,
            p.cfg.t1,
        ),
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
pub(crate) fn remember(c: &mut Ctx, code: u16, bytes: Vec<u8>) {
    if c.best.as_ref().is_none_or(|(b, _)| rank(code) < rank(*b)) {
        c.best = Some((code, bytes));
    }
}

/// Releases the active-call count a context holds.
pub(crate) fn release(p: &mut Proxy, id: u64) {
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
    // The base request carries the caller's Vias and tags unchanged; build from it (a copy,
    // since the response goes through `p`).
    let base = c.base.clone();
    if let Ok(req) = sip::parse(&base) {
        request::respond(p, now, &key, &req, code, reason, extra);
    }
}

/// Ends the context at once with a locally generated final response.
pub(crate) fn local_final(
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
pub(crate) fn end_if_done(p: &mut Proxy, id: u64) {
    if p.ctxs
        .get(&id)
        .is_some_and(|c| c.server_gone && c.final_sent)
    {
        p.ctxs.remove(&id);
    }
}
