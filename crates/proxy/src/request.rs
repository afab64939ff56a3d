//! The request path: server transactions (RFC 3261 §17.2), request validation (§16.3), route
//! preprocessing (§16.4) and the choice between local handling, a dialog's pinned hop and the
//! dispatcher.

use super::ctx::{self, Target};
use super::timers::Timer;
use super::txn::{self, ServerState};
use super::types::Transport;
use super::{dialog, local, util, Proxy};
use sip::{Message, Method};
use std::net::SocketAddr;
use std::time::Instant;

/// What the request path reads from a request, owned.
#[derive(Debug, Clone)]
pub(crate) struct ReqInfo {
    pub method: Method,
    pub ruri: String,
    pub call_id: String,
    pub cseq: u32,
    pub from_tag: String,
    pub from_user: String,
    pub to_tag: Option<String>,
    pub to_user: String,
    pub branch: Option<String>,
    pub sent_by: String,
    pub top_via: String,
}

impl ReqInfo {
    /// Reads the fields every request must carry (RFC 3261 §8.1.1, §16.3 item 1).
    pub(crate) fn read(msg: &Message<'_>) -> Result<Self, sip::SipError> {
        let via = msg.top_via()?;
        let from = msg.from()?;
        let to = msg.to()?;
        let cseq = msg.cseq()?;
        let method = msg.request_method().ok_or(sip::SipError::BadCSeq)?;
        if Method::parse(&cseq.method) != method {
            return Err(sip::SipError::BadCSeq);
        }
        let user = |n: &sip::NameAddr| {
            n.parsed_uri()
                .ok()
                .and_then(|u| u.user.map(str::to_string))
                .unwrap_or_default()
        };
        Ok(ReqInfo {
            method,
            ruri: msg.request_uri().unwrap_or_default().to_string(),
            call_id: msg.call_id()?.into_owned(),
            cseq: cseq.number,
            from_tag: from.tag().unwrap_or_default().to_string(),
            from_user: user(&from),
            to_tag: to.tag().map(str::to_string),
            to_user: user(&to),
            branch: via.branch().map(str::to_string),
            sent_by: match via.port {
                Some(p) => format!("{}:{p}", via.host.to_ascii_lowercase()),
                None => via.host.to_ascii_lowercase(),
            },
            top_via: via.to_string(),
        })
    }

    /// The server transaction key of this request.
    pub(crate) fn server_key(&self) -> String {
        txn::server_key(
            self.branch.as_deref(),
            &self.sent_by,
            &self.method,
            &self.call_id,
            self.cseq,
            &self.from_tag,
            &self.top_via,
        )
    }
}

/// Where responses to a request go (RFC 3261 §18.2.2 for UDP, RFC 3581 §4): the source IP,
/// and the source port when the top Via asked with `rport`, else the sent-by port (5060 when
/// absent). Over TCP the source address (the connection) is used by the caller.
pub(crate) fn reply_target(msg: &Message<'_>, from: SocketAddr) -> Option<SocketAddr> {
    let via = msg.top_via().ok()?;
    let port = match via.rport() {
        Ok(Some(_)) => from.port(),
        _ => via.port.unwrap_or(5060),
    };
    Some(SocketAddr::new(from.ip(), port))
}

/// Entry point for every parsed request.
pub(super) fn handle(
    p: &mut Proxy,
    now: Instant,
    transport: Transport,
    local: SocketAddr,
    from: SocketAddr,
    msg: &Message<'_>,
) {
    let info = match ReqInfo::read(msg).and_then(|i| msg.check_proxy_headers().map(|()| i)) {
        Ok(i) => i,
        Err(e) => {
            if msg.request_method() != Some(Method::Ack) && msg.top_via().is_ok() {
                p.counters.bad_requests += 1;
                let reason = format!("Bad Request ({e})");
                let resp = sip::response_for(msg, 400, &reason, Some(&p.ids.token()));
                let dst = reply_dst(transport, msg, from);
                p.send(transport, local, dst, resp);
            } else {
                p.counters.dropped_malformed += 1;
            }
            return;
        }
    };
    let key = info.server_key();
    match info.method {
        Method::Ack => return ack(p, now, transport, local, from, msg, &info, &key),
        Method::Cancel => return ctx::cancel(p, now, transport, local, from, msg, &info),
        _ => {}
    }
    if let Some(st) = p.server.get(&key) {
        // RFC 3261 §17.2.1/§17.2.2: a retransmission; resend the last response, if any.
        p.counters.retransmissions_absorbed += 1;
        if let Some(r) = st.last_response.clone() {
            let (t, l, d) = (st.transport, st.local, st.reply_to);
            p.send(t, l, d, r);
        }
        return;
    }
    let reply_to = reply_dst(transport, msg, from);
    let tag = p.ids.token();
    let invite = info.method.is_invite();
    p.server.insert(
        key.clone(),
        super::txn::ServerTxn::new(invite, reply_to, local, transport, p.cfg.t1, tag),
    );
    if invite {
        // RFC 3261 §16.2: a stateful proxy answers an INVITE with 100 at once.
        respond(p, now, &key, msg, 100, "Trying", &[]);
    }
    if let Some((code, reason)) = validate(p, msg, &info) {
        match code {
            483 => p.counters.too_many_hops += 1,
            482 => p.counters.loops += 1,
            _ => {}
        }
        respond(p, now, &key, msg, code, reason, &[]);
        return;
    }
    // RFC 3261 §16.4: route information preprocessing.
    let mut ruri = info.ruri.clone();
    let routes = msg.routes().unwrap_or_default();
    let mut pop_top = false;
    let mut strict_last = false;
    if p.is_us(&ruri) {
        if let Some(last) = routes.last() {
            // The previous hop was a strict router: the last Route value is the real target.
            ruri = last.uri.clone();
            strict_last = true;
        }
    }
    if let Some(top) = routes.first() {
        if p.is_us(&top.uri) && !(strict_last && routes.len() == 1) {
            pop_top = true;
        }
    }
    let remaining_route = routes
        .iter()
        .skip(usize::from(pop_top))
        .take(
            routes
                .len()
                .saturating_sub(usize::from(pop_top) + usize::from(strict_last)),
        )
        .map(|r| r.uri.clone())
        .next();
    if remaining_route.is_none() && p.is_us(&ruri) && local::is_local(&info) {
        local::handle(p, now, &key, msg, &info, from);
        return;
    }
    let base = match base_request(
        p,
        msg,
        from,
        transport,
        pop_top,
        strict_last.then_some(ruri.as_str()),
        &info,
    ) {
        Ok(b) => b,
        Err(e) => {
            let reason = format!("Bad Request ({e})");
            respond(p, now, &key, msg, 400, &reason, &[]);
            return;
        }
    };
    let target = if info.to_tag.is_some() {
        match dialog::in_dialog_target(p, &info, remaining_route.as_deref(), &ruri) {
            Some(t) => t,
            None => {
                // RFC 3261 §12.2.2: an in-dialog request for no dialog we can route.
                respond(
                    p,
                    now,
                    &key,
                    msg,
                    481,
                    "Call/Transaction Does Not Exist",
                    &[],
                );
                return;
            }
        }
    } else if let Some(next) = remaining_route.as_deref().and_then(util::uri_target) {
        // A pre-loaded Route beyond us is followed as is.
        Target::Fixed(next.0, next.1, None)
    } else {
        let ruri_user = sip::parse_uri(&ruri)
            .ok()
            .and_then(|u| u.user.map(str::to_string))
            .unwrap_or_default();
        let ruri_host = sip::parse_uri(&ruri)
            .map(|u| u.host.to_string())
            .unwrap_or_default();
        match p.dispatcher.route(from.ip(), &ruri_user, &ruri_host) {
            Some(set) => Target::Set {
                set,
                keys: ctx::OwnedKeys {
                    call_id: info.call_id.clone(),
                    from_user: info.from_user.clone(),
                    to_user: info.to_user.clone(),
                    ruri_user,
                },
            },
            None => {
                p.counters.no_route += 1;
                respond(p, now, &key, msg, 404, "No Route", &[]);
                return;
            }
        }
    };
    ctx::start(p, now, &key, &info, base, target);
}

/// Where responses to this request go.
fn reply_dst(transport: Transport, msg: &Message<'_>, from: SocketAddr) -> SocketAddr {
    match transport {
        Transport::Tcp => from,
        Transport::Udp => reply_target(msg, from).unwrap_or(from),
    }
}

/// RFC 3261 §16.3 items 2–5. Returns the error response to send, if any.
fn validate(p: &Proxy, msg: &Message<'_>, info: &ReqInfo) -> Option<(u16, &'static str)> {
    // Item 2: URI scheme.
    match sip::parse_uri(&info.ruri) {
        Ok(u) if matches!(u.scheme, sip::Scheme::Sip | sip::Scheme::Sips) => {}
        _ => return Some((416, "Unsupported URI Scheme")),
    }
    // Item 3: Max-Forwards (OPTIONS to this element is answered by it, §16.3 item 3).
    if msg.max_forwards().ok().flatten() == Some(0)
        && !(info.method == Method::Options && p.is_us(&info.ruri))
    {
        return Some((483, "Too Many Hops"));
    }
    // Item 4: loop detection (§16.6 item 8): one of our Vias carries the same loop hash.
    let hash = loop_hash(info);
    let ours = msg.vias().unwrap_or_default().into_iter().any(|v| {
        v.branch()
            .and_then(|b| b.strip_prefix(BRANCH_PREFIX))
            .and_then(|b| b.get(..8))
            .is_some_and(|h| h == format!("{hash:08x}"))
    });
    if ours {
        return Some((482, "Loop Detected"));
    }
    // Item 5: Proxy-Require names extensions this proxy does not support.
    if msg.header("Proxy-Require").is_some() {
        return Some((420, "Bad Extension"));
    }
    None
}

/// The prefix of every branch this element generates.
pub(crate) const BRANCH_PREFIX: &str = "z9hG4bKfvx";

/// The loop-detection hash of a request (RFC 3261 §16.6 item 8, without the top Via so that a
/// request coming back unchanged is recognised).
pub(crate) fn loop_hash(info: &ReqInfo) -> u32 {
    util::loop_hash(&[
        &info.ruri,
        &info.from_tag,
        info.to_tag.as_deref().unwrap_or_default(),
        &info.call_id,
        &info.cseq.to_string(),
    ])
}

/// The request as every branch forwards it, before the branch's own Via (RFC 3261 §16.6):
/// `received`/`rport` on the sender's Via (§18.2.1, RFC 3581), our Route popped (§16.4),
/// Request-URI fixed after a strict router, Max-Forwards decremented, Record-Route added on
/// dialog-creating requests.
fn base_request(
    p: &Proxy,
    msg: &Message<'_>,
    from: SocketAddr,
    transport: Transport,
    pop_top: bool,
    strict_ruri: Option<&str>,
    info: &ReqInfo,
) -> Result<Vec<u8>, sip::SipError> {
    let mut ed = sip::Editor::new(msg);
    let via = msg.top_via()?;
    let ip = from.ip().to_string();
    let received = (util::ip_literal(&via.host) != Some(from.ip())).then_some(ip.as_str());
    let rport = matches!(via.rport(), Ok(Some(_))).then_some(from.port());
    if received.is_some() || rport.is_some() {
        ed.set_top_via_source(received, rport)?;
    }
    if pop_top {
        ed.remove_top_route()?;
    }
    if let Some(uri) = strict_ruri {
        ed.set_request_uri(uri);
        remove_last_route(&mut ed, msg)?;
    }
    match msg.max_forwards()? {
        Some(_) => {
            ed.decrement_max_forwards()?;
        }
        None => {
            ed.append_header("Max-Forwards", &p.cfg.max_forwards.to_string());
        }
    }
    let creates_dialog = info.to_tag.is_none() && info.method.creates_dialog();
    if p.cfg.record_route && creates_dialog {
        let local = p.local_for(from);
        let mut rr = format!("<sip:{};lr", p.our_hostport(local));
        if transport == Transport::Tcp {
            rr.push_str(";transport=tcp");
        }
        rr.push('>');
        ed.insert_record_route(&rr);
    }
    ed.finish()
}

/// Removes the last Route value (strict-router repair, RFC 3261 §16.4).
fn remove_last_route(ed: &mut sip::Editor<'_, '_>, msg: &Message<'_>) -> Result<(), sip::SipError> {
    let routes = msg.routes()?;
    // Rebuild the Route set without its last value: drop every Route field and add one back.
    ed.remove_headers("Route");
    let keep: Vec<String> = routes
        .iter()
        .take(routes.len().saturating_sub(1))
        .map(|r| format!("<{}>", r.uri))
        .collect();
    if !keep.is_empty() {
        ed.append_header("Route", &keep.join(", "));
    }
    Ok(())
}

/// Handles an ACK: for a non-2xx final it belongs to our server transaction (RFC 3261
/// §17.2.1); otherwise it acknowledges a 2xx end to end and is routed like any in-dialog
/// request, statelessly (§16.7 item 4 counterpart, RFC 3261 §13.2.2.4).
#[allow(clippy::too_many_arguments)]
fn ack(
    p: &mut Proxy,
    now: Instant,
    transport: Transport,
    local: SocketAddr,
    from: SocketAddr,
    msg: &Message<'_>,
    info: &ReqInfo,
    key: &str,
) {
    if let Some(st) = p.server.get_mut(key) {
        match st.state {
            ServerState::Completed => {
                st.state = ServerState::Confirmed;
                st.gen += 1;
                let wait = if st.transport.unreliable() {
                    p.cfg.t4
                } else {
                    std::time::Duration::ZERO
                };
                p.timers.arm(
                    now + wait,
                    Timer::ServerEnd {
                        key: key.to_string(),
                    },
                );
                return;
            }
            ServerState::Confirmed => {
                p.counters.retransmissions_absorbed += 1;
                return;
            }
            ServerState::Proceeding | ServerState::Accepted => {}
        }
    }
    let routes = msg.routes().unwrap_or_default();
    let pop = routes.first().is_some_and(|r| p.is_us(&r.uri));
    let remaining = routes.get(usize::from(pop)).map(|r| r.uri.clone());
    let Some(Target::Fixed(dst, t, _)) =
        dialog::in_dialog_target(p, info, remaining.as_deref(), &info.ruri)
    else {
        p.counters.dropped_malformed += 1;
        return;
    };
    let Ok(base) = base_request(p, msg, from, transport, pop, None, info) else {
        p.counters.dropped_malformed += 1;
        return;
    };
    let src = p.local_for(dst);
    let _ = local;
    if let Some((_, bytes)) = ctx::with_via(p, &base, src, t, info) {
        p.send(t, src, dst, bytes);
    }
}

/// Sends a locally generated response on server transaction `key` (RFC 3261 §17.2).
pub(crate) fn respond(
    p: &mut Proxy,
    now: Instant,
    key: &str,
    req: &Message<'_>,
    code: u16,
    reason: &str,
    extra: &[(&str, &str)],
) {
    let Some(st) = p.server.get(key) else {
        return;
    };
    let tag = (code > 100).then(|| st.local_tag.clone());
    let mut fields: Vec<(&str, &str)> = extra.to_vec();
    let ua = p.cfg.user_agent.clone();
    if !ua.is_empty() {
        fields.push(("Server", &ua));
    }
    let bytes = sip::response_with(req, code, reason, tag.as_deref(), &fields);
    send_response(p, now, key, code, bytes);
}

/// Sends a response (ours or forwarded) on server transaction `key` and moves its state.
pub(crate) fn send_response(p: &mut Proxy, now: Instant, key: &str, code: u16, bytes: Vec<u8>) {
    let t64 = p.cfg.t64();
    let t1 = p.cfg.t1;
    let Some(st) = p.server.get_mut(key) else {
        return;
    };
    let (t, l, d) = (st.transport, st.local, st.reply_to);
    if code >= 200 && st.state == ServerState::Proceeding {
        if st.invite && code < 300 {
            // RFC 6026 §8.5: Accepted; Timer L ends it.
            st.state = ServerState::Accepted;
            p.timers.arm(
                now + t64,
                Timer::ServerEnd {
                    key: key.to_string(),
                },
            );
        } else if st.invite {
            st.state = ServerState::Completed;
            if t.unreliable() {
                st.gen += 1;
                st.retransmit_every = t1;
                p.timers.arm(
                    now + t1,
                    Timer::ServerRetransmit {
                        key: key.to_string(),
                        gen: st.gen,
                    },
                );
            }
            // Timer H.
            p.timers.arm(
                now + t64,
                Timer::ServerEnd {
                    key: key.to_string(),
                },
            );
        } else {
            st.state = ServerState::Completed;
            // Timer J (0 for reliable transports).
            let j = if t.unreliable() {
                t64
            } else {
                std::time::Duration::ZERO
            };
            p.timers.arm(
                now + j,
                Timer::ServerEnd {
                    key: key.to_string(),
                },
            );
        }
    }
    if st.state != ServerState::Accepted || code < 300 {
        st.last_response = Some(bytes.clone());
    }
    p.send(t, l, d, bytes);
}

/// Timer G: retransmit the final response until the ACK (RFC 3261 §17.2.1).
pub(super) fn retransmit_server(p: &mut Proxy, now: Instant, key: &str, gen: u32) {
    let t2 = p.cfg.t2;
    let Some(st) = p.server.get_mut(key) else {
        return;
    };
    if st.gen != gen || st.state != ServerState::Completed {
        return;
    }
    st.retransmit_every = (st.retransmit_every * 2).min(t2);
    let next = now + st.retransmit_every;
    let (t, l, d) = (st.transport, st.local, st.reply_to);
    let bytes = st.last_response.clone();
    p.timers.arm(
        next,
        Timer::ServerRetransmit {
            key: key.to_string(),
            gen,
        },
    );
    if let Some(b) = bytes {
        p.counters.retransmissions_sent += 1;
        p.send(t, l, d, b);
    }
}

/// Timers H, I, J, L: the server transaction ends; its context goes with it once done.
pub(super) fn server_end(p: &mut Proxy, key: &str) {
    if let Some(st) = p.server.remove(key) {
        if let Some(c) = st.ctx {
            if p.ctxs.get(&c).is_some_and(|c| c.final_sent) {
                p.ctxs.remove(&c);
            } else if let Some(c) = p.ctxs.get_mut(&c) {
                c.server_gone = true;
            }
        }
    }
}
