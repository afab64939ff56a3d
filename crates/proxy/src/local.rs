//! Requests this element answers or originates itself: OPTIONS sent to it, REGISTER from pool
//! members joining a set, the dispatcher's OPTIONS probes, and the ACK + BYE that end a call a
//! given-up branch answered late.

use super::request::{self, ReqInfo, BRANCH_PREFIX};
use super::timers::Timer;
use super::txn::{self, ClientRole, ClientTxn};
use super::types::Transport;
use super::{util, Proxy};
use sip::{Message, Method};
use std::net::SocketAddr;
use std::time::Instant;

/// Methods this element answers when the Request-URI names it.
pub(crate) fn is_local(info: &ReqInfo) -> bool {
    matches!(info.method, Method::Options | Method::Register)
}

const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, INFO, REFER, PRACK, MESSAGE, NOTIFY, SUBSCRIBE, REGISTER";

/// Answers a request addressed to this element.
pub(crate) fn handle(
    p: &mut Proxy,
    now: Instant,
    key: &str,
    msg: &Message<'_>,
    info: &ReqInfo,
    from: SocketAddr,
) {
    match info.method {
        Method::Options if p.draining => {
            request::respond(
                p,
                now,
                key,
                msg,
                503,
                "Service Unavailable",
                &[("Retry-After", "60")],
            );
        }
        Method::Options => {
            request::respond(
                p,
                now,
                key,
                msg,
                200,
                "OK",
                &[("Allow", ALLOW), ("Accept", "application/sdp")],
            );
        }
        _ => register(p, now, key, msg, info, from),
    }
}

/// REGISTER from a pool member joining the set named by its To user (a set with
/// `register = true`, from an allowed network). The Contact's address becomes the member's
/// target while the registration is fresh (RFC 3261 §10.3, simplified to one binding).
fn register(
    p: &mut Proxy,
    now: Instant,
    key: &str,
    msg: &Message<'_>,
    info: &ReqInfo,
    from: SocketAddr,
) {
    let Some(set) = p.dispatcher.set_id(&info.to_user) else {
        request::respond(p, now, key, msg, 404, "Not Found", &[]);
        return;
    };
    let contact = match msg.contacts() {
        Ok(Some(sip::Contacts::List(list))) => list.into_iter().next(),
        _ => None,
    };
    let Some(contact) = contact else {
        request::respond(p, now, key, msg, 400, "Bad Request (no Contact)", &[]);
        return;
    };
    let expires = contact
        .expires()
        .ok()
        .flatten()
        .or_else(|| msg.expires().ok().flatten())
        .unwrap_or(3600);
    let target = util::uri_target(&contact.uri).map(|(a, t)| {
        let t = match t {
            Transport::Udp => config::Transport::Udp,
            Transport::Tcp => config::Transport::Tcp,
        };
        (a, t)
    });
    let Some((addr, transport)) = target else {
        request::respond(
            p,
            now,
            key,
            msg,
            400,
            "Bad Request (Contact is not an IP address)",
            &[],
        );
        return;
    };
    let req = dispatch::Registration {
        source: from.ip(),
        contact: addr,
        uri: &contact.uri,
        transport,
        expires: std::time::Duration::from_secs(u64::from(expires)),
    };
    match p.dispatcher.register(set, req, now) {
        Ok(granted) => {
            let c = format!("<{}>;expires={}", contact.uri, granted.as_secs());
            request::respond(p, now, key, msg, 200, "OK", &[("Contact", &c)]);
        }
        Err(e) => {
            let reason = format!("Forbidden ({e})");
            request::respond(p, now, key, msg, 403, &reason, &[]);
        }
    }
}

/// Sends every OPTIONS probe the dispatcher has due.
pub(crate) fn send_probes(p: &mut Proxy, now: Instant) {
    while let Some(probe) = p.dispatcher.poll_probe(now) {
        let transport = Transport::from(probe.transport);
        let dst = probe.target;
        let src = p.local_for(dst);
        let branch = format!("{BRANCH_PREFIX}00000000{}", p.ids.token());
        let tag = p.ids.token();
        let call_id = format!("{}@ferrovox", p.ids.token());
        let mut req = format!(
            "OPTIONS {uri} SIP/2.0\r\nVia: SIP/2.0/{t} {hp};branch={branch}\r\nMax-Forwards: 70\r\n\
             From: <{from}>;tag={tag}\r\nTo: <{uri}>\r\nCall-ID: {call_id}\r\nCSeq: 1 OPTIONS\r\n",
            uri = probe.request_uri,
            t = transport.via_name(),
            hp = p.our_hostport(src),
            from = probe.from,
        );
        if !p.cfg.user_agent.is_empty() {
            req.push_str(&format!("User-Agent: {}\r\n", p.cfg.user_agent));
        }
        req.push_str("Content-Length: 0\r\n\r\n");
        let key = txn::client_key(&branch, &Method::Options);
        p.client.insert(
            key.clone(),
            ClientTxn::new(
                ClientRole::Probe { probe: probe.probe },
                false,
                txn::Hop {
                    dst,
                    src,
                    transport,
                },
                req.clone().into_bytes(),
                Some(probe.probe.member),
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
        // The dispatcher counts the timeout at its deadline (a local timeout is always a
        // failure); the transaction goes then too.
        p.timers.arm(probe.deadline, Timer::ClientEnd { key });
        p.counters.probes_sent += 1;
        p.send(transport, src, dst, req.into_bytes());
    }
}

/// A branch this element gave up on answered 2xx after all: the caller's call went elsewhere,
/// so this one is acknowledged and ended at once (ACK, then BYE to the answering member).
pub(crate) fn end_late_answer(p: &mut Proxy, now: Instant, key: &str, resp: &Message<'_>) {
    let Some(t) = p.client.get(key) else {
        return;
    };
    let (tr, src, dst) = (t.transport, t.src, t.dst);
    let Ok(req) = sip::parse(&t.request) else {
        return;
    };
    let (Ok(cseq), Ok(call_id), Ok(from), Ok(to)) = (
        req.cseq(),
        resp.call_id(),
        req.header("From").ok_or(()),
        resp.header("To").ok_or(()),
    ) else {
        return;
    };
    let target = resp
        .contacts()
        .ok()
        .flatten()
        .and_then(|c| match c {
            sip::Contacts::List(l) => l.into_iter().next().map(|n| n.uri),
            sip::Contacts::Star => None,
        })
        .or_else(|| req.request_uri().map(str::to_string))
        .unwrap_or_default();
    let from_v = String::from_utf8_lossy(from.value).into_owned();
    let to_v = String::from_utf8_lossy(to.value).into_owned();
    let hp = p.our_hostport(src);
    for (method, num) in [
        (Method::Ack, cseq.number),
        (Method::Bye, cseq.number.saturating_add(1)),
    ] {
        let branch = format!("{BRANCH_PREFIX}00000000{}", p.ids.token());
        let msg = format!(
            "{method} {target} SIP/2.0\r\nVia: SIP/2.0/{t} {hp};branch={branch}\r\nMax-Forwards: 70\r\n\
             From: {from_v}\r\nTo: {to_v}\r\nCall-ID: {call_id}\r\nCSeq: {num} {method}\r\nContent-Length: 0\r\n\r\n",
            t = tr.via_name(),
        )
        .into_bytes();
        if method == Method::Bye {
            let bkey = txn::client_key(&branch, &method);
            p.client.insert(
                bkey.clone(),
                ClientTxn::new(
                    ClientRole::Cleanup,
                    false,
                    txn::Hop {
                        dst,
                        src,
                        transport: tr,
                    },
                    msg.clone(),
                    None,
                    now,
                    p.cfg.t1,
                ),
            );
            if tr.unreliable() {
                p.timers.arm(
                    now + p.cfg.t1,
                    Timer::ClientRetransmit {
                        key: bkey.clone(),
                        gen: 0,
                    },
                );
            }
            p.timers
                .arm(now + p.cfg.t64(), Timer::ClientEnd { key: bkey });
        }
        p.send(tr, src, dst, msg);
    }
}
