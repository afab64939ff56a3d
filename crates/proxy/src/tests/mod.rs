//! Deterministic scenario tests of the proxy on `testkit`: a simulated clock, an in-memory
//! network, scripted members and a scripted caller.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod admin_calls;
mod adopt;
mod anchor;
mod dns_members;
mod edge;
mod failover;
mod health;
mod routing;
mod tls;
mod transactions;
mod unreachable;

use super::{Proxy, ProxyConfig, Transport};
use sip::Method;
use std::any::Any;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use testkit::{Datagram, Node, Sim};

/// The proxy's address in every scenario.
pub(crate) const PROXY: &str = "127.0.0.1:5060";
/// The proxy's DNS client address in the simulation.
pub(crate) const PROXY_DNS: &str = "127.0.0.1:53000";
/// The caller's address.
pub(crate) const CALLER: &str = "127.0.0.10:5060";

pub(crate) fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// The member at index `i` (127.0.0.2x:5060).
pub(crate) fn member_addr(i: usize) -> SocketAddr {
    addr(&format!("127.0.0.{}:5060", 20 + i))
}

/// The proxy as a simulation node.
pub(crate) struct ProxyNode {
    pub proxy: Proxy,
    /// Destinations of TLS transmits, refused as the driver refuses them.
    pub tls_refused: Vec<SocketAddr>,
}

impl Node for ProxyNode {
    fn owns(&self, a: SocketAddr) -> bool {
        a == addr(PROXY) || a == addr(PROXY_DNS)
    }
    fn receive(&mut self, now: Instant, d: Datagram) {
        if d.to == addr(PROXY_DNS) {
            self.proxy.handle_dns_response(now, d.from, &d.bytes);
        } else {
            self.proxy
                .handle_message(now, Transport::Udp, d.to, d.from, &d.bytes);
        }
    }
    fn poll_transmit(&mut self, now: Instant) -> Option<Datagram> {
        if let Some(q) = self.proxy.poll_dns_transmit() {
            return Some(Datagram::udp(addr(PROXY_DNS), q.dst, q.bytes));
        }
        // As the driver does: TLS is not spoken, so a TLS transmit is a transport error.
        while let Some(t) = self.proxy.poll_transmit() {
            if t.transport != Transport::Tls {
                return Some(Datagram {
                    transport: t.transport,
                    from: t.src,
                    to: t.dst,
                    bytes: t.bytes,
                });
            }
            self.tls_refused.push(t.dst);
            self.proxy
                .handle_transport_error(now, Transport::Tls, t.dst);
        }
        None
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.proxy.poll_timeout()
    }
    fn handle_timeout(&mut self, now: Instant) {
        self.proxy.handle_timeout(now);
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// How a scripted member answers an INVITE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Answer {
    /// 180 then 200.
    Ok,
    /// This final code at once, with an optional Retry-After.
    Reject(u16, Option<u32>),
    /// Nothing at all.
    Silent,
    /// 180 and nothing more (a CANCEL gets 200 + 487).
    Ring,
    /// 180 then this final code.
    RingThen(u16),
    /// 100 Trying then this final code.
    TryingThen(u16),
    /// 183 Session Progress (carrying the member's SDP when it has one) and nothing more.
    Progress,
    /// 183 with the member's SDP, then 200 with this other SDP (a new address).
    ProgressThenOk(String),
}

/// A scripted pool member (a FreeSWITCH stand-in).
pub(crate) struct Member {
    pub addr: SocketAddr,
    pub answer: Answer,
    /// Reply to OPTIONS: a code and optional Retry-After; `None` stays silent.
    pub options: Option<(u16, Option<u32>)>,
    /// Every request received, as text.
    pub got: Vec<String>,
    /// INVITEs received, by Call-ID (with retransmissions).
    pub invites: Vec<String>,
    out: VecDeque<Datagram>,
    /// Pending INVITEs (text) waiting for a CANCEL, by Call-ID.
    ringing: Vec<(String, Vec<u8>)>,
    /// The SDP its 183s and 200s to INVITE carry (none by default).
    pub sdp: Option<String>,
}

impl Member {
    pub(crate) fn new(i: usize, answer: Answer) -> Self {
        Member {
            addr: member_addr(i),
            answer,
            options: Some((200, None)),
            got: Vec::new(),
            invites: Vec::new(),
            out: VecDeque::new(),
            ringing: Vec::new(),
            sdp: None,
        }
    }

    /// Distinct Call-IDs of `method` requests received (retransmissions counted once).
    pub(crate) fn distinct(&self, method: &str) -> usize {
        let mut ids: Vec<&str> = self
            .got
            .iter()
            .filter(|g| g.starts_with(&format!("{method} ")))
            .filter_map(|g| g.lines().find(|l| l.starts_with("Call-ID:")))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids.len()
    }

    /// The first `method` request received, as text.
    pub(crate) fn first(&self, method: &str) -> String {
        self.got
            .iter()
            .find(|g| g.starts_with(&format!("{method} ")))
            .cloned()
            .unwrap_or_default()
    }

    /// Requests of `method` received.
    pub(crate) fn count(&self, method: &str) -> usize {
        self.got
            .iter()
            .filter(|g| g.starts_with(&format!("{method} ")))
            .count()
    }

    fn reply(&mut self, to: SocketAddr, bytes: Vec<u8>) {
        self.out.push_back(Datagram::udp(self.addr, to, bytes));
    }

    fn respond(&mut self, to: SocketAddr, req: &sip::Message<'_>, code: u16, ra: Option<u32>) {
        let contact = format!("<sip:fs@{}>", self.addr);
        let ra = ra.map(|r| r.to_string());
        // RFC 3261 §12.1.1: a UAS copies Record-Route into dialog-creating responses.
        let rr: Vec<String> = req
            .headers_named("Record-Route")
            .map(|h| String::from_utf8_lossy(h.value).into_owned())
            .collect();
        let mut extra = vec![("Contact", contact.as_str())];
        for r in &rr {
            extra.push(("Record-Route", r));
        }
        if let Some(r) = &ra {
            extra.push(("Retry-After", r));
        }
        let tag = format!("m{}", self.addr.ip());
        let mut b = sip::response_with(req, code, "X", Some(&tag), &extra);
        let invite = req.request_method() == Some(Method::Invite);
        if let (Some(sdp), 183 | 200, true) = (&self.sdp, code, invite) {
            b = with_sdp(&b, sdp);
        }
        self.reply(to, b);
    }
}

impl Node for Member {
    fn owns(&self, a: SocketAddr) -> bool {
        a == self.addr
    }
    fn receive(&mut self, _now: Instant, d: Datagram) {
        let Ok(msg) = sip::parse(&d.bytes) else {
            return;
        };
        let Some(method) = msg.request_method() else {
            return;
        };
        self.got.push(d.text());
        let Ok(call_id) = msg.call_id().map(|c| c.into_owned()) else {
            return;
        };
        match method {
            Method::Invite => {
                self.invites.push(call_id.clone());
                match self.answer.clone() {
                    Answer::Ok => {
                        self.respond(d.from, &msg, 180, None);
                        self.respond(d.from, &msg, 200, None);
                    }
                    Answer::Reject(code, ra) => self.respond(d.from, &msg, code, ra),
                    Answer::Silent => {}
                    Answer::Ring => {
                        self.respond(d.from, &msg, 180, None);
                        self.ringing.push((call_id, d.bytes.clone()));
                    }
                    Answer::RingThen(code) => {
                        self.respond(d.from, &msg, 180, None);
                        self.respond(d.from, &msg, code, None);
                    }
                    Answer::TryingThen(code) => {
                        self.respond(d.from, &msg, 100, None);
                        self.respond(d.from, &msg, code, None);
                    }
                    Answer::Progress => self.respond(d.from, &msg, 183, None),
                    Answer::ProgressThenOk(sdp) => {
                        self.respond(d.from, &msg, 183, None);
                        let first = self.sdp.replace(sdp);
                        self.respond(d.from, &msg, 200, None);
                        self.sdp = first;
                    }
                }
            }
            Method::Cancel => {
                self.respond(d.from, &msg, 200, None);
                if let Some(i) = self.ringing.iter().position(|(c, _)| *c == call_id) {
                    let (_, inv) = self.ringing.remove(i);
                    let inv = sip::parse(&inv).unwrap();
                    let b = sip::response_with(&inv, 487, "Request Terminated", Some("mx"), &[]);
                    self.reply(d.from, b);
                }
            }
            Method::Options => {
                if let Some((code, ra)) = self.options {
                    self.respond(d.from, &msg, code, ra);
                }
            }
            Method::Ack => {}
            _ => self.respond(d.from, &msg, 200, None),
        }
    }
    fn poll_transmit(&mut self, _now: Instant) -> Option<Datagram> {
        self.out.pop_front()
    }
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
    fn handle_timeout(&mut self, _now: Instant) {}
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// The scripted caller: records responses and ACKs every final non-2xx (RFC 3261 §17.1.1.3).
#[derive(Default)]
pub(crate) struct Caller {
    /// Responses received (status, Call-ID, CSeq method, text).
    pub responses: Vec<(u16, String, String, String)>,
    /// Requests received (from the member side), as text.
    pub requests: Vec<String>,
    /// INVITEs sent, by Call-ID, for building ACKs.
    pub sent: Vec<(String, Vec<u8>)>,
    out: VecDeque<Datagram>,
}

impl Caller {
    /// Final status codes received for `call_id`'s INVITE, in order.
    pub(crate) fn finals(&self, call_id: &str) -> Vec<u16> {
        self.responses
            .iter()
            .filter(|r| r.1 == call_id && r.2 == "INVITE" && r.0 >= 200)
            .map(|r| r.0)
            .collect()
    }

    /// Every status received for `call_id` and `method`.
    pub(crate) fn codes(&self, call_id: &str, method: &str) -> Vec<u16> {
        self.responses
            .iter()
            .filter(|r| r.1 == call_id && r.2 == method)
            .map(|r| r.0)
            .collect()
    }

    /// The first response text with this code for `call_id`.
    pub(crate) fn response(&self, call_id: &str, code: u16) -> Option<&str> {
        self.responses
            .iter()
            .find(|r| r.1 == call_id && r.0 == code)
            .map(|r| r.3.as_str())
    }
}

impl Node for Caller {
    fn owns(&self, a: SocketAddr) -> bool {
        a == addr(CALLER)
    }
    fn receive(&mut self, _now: Instant, d: Datagram) {
        let Ok(msg) = sip::parse(&d.bytes) else {
            return;
        };
        let Some(code) = msg.status() else {
            self.requests.push(d.text());
            if msg.request_method() != Some(Method::Ack) {
                let b = sip::response_for(&msg, 200, "OK", Some("caller"));
                self.out.push_back(Datagram::udp(addr(CALLER), d.from, b));
            }
            return;
        };
        let Ok(call_id) = msg.call_id().map(|c| c.into_owned()) else {
            return;
        };
        // The method as written, even where the CSeq number is broken.
        let method = msg
            .header("CSeq")
            .and_then(|h| std::str::from_utf8(h.value).ok())
            .and_then(|v| v.split_whitespace().last())
            .unwrap_or_default()
            .to_string();
        if method == "INVITE" && code >= 300 {
            if let Some((_, inv)) = self.sent.iter().find(|(c, _)| *c == call_id) {
                let inv = sip::parse(inv).unwrap();
                let ack = sip::build_ack(&inv, &msg).unwrap();
                self.out
                    .push_back(Datagram::udp(addr(CALLER), addr(PROXY), ack));
            }
        }
        self.responses.push((code, call_id, method, d.text()));
    }
    fn poll_transmit(&mut self, _now: Instant) -> Option<Datagram> {
        self.out.pop_front()
    }
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
    fn handle_timeout(&mut self, _now: Instant) {}
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// `msg` with `sdp` as its body (Content-Type application/sdp).
pub(crate) fn with_sdp(msg: &[u8], sdp: &str) -> Vec<u8> {
    let m = sip::parse(msg).unwrap();
    sip::Editor::new(&m)
        .remove_headers("Content-Type")
        .append_header("Content-Type", "application/sdp")
        .set_body(sdp.as_bytes())
        .unwrap()
        .finish()
        .unwrap()
}

/// An INVITE from the caller through the proxy to extension 1000.
pub(crate) fn invite(call_id: &str) -> Vec<u8> {
    let body = "v=0\r\no=- 1 1 IN IP4 127.0.0.10\r\ns=-\r\nc=IN IP4 127.0.0.10\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n";
    format!(
        "INVITE sip:1000@127.0.0.1:5060 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.10:5060;branch=z9hG4bK-{call_id};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:caller@127.0.0.10>;tag=ctag-{call_id}\r\n\
         To: <sip:1000@127.0.0.1>\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:caller@127.0.0.10:5060>\r\n\
         Content-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// An in-dialog request from the caller (after a 2xx with `to_tag`), via the proxy's
/// Record-Route.
pub(crate) fn in_dialog(
    method: &str,
    call_id: &str,
    cseq: u32,
    to_tag: &str,
    target: SocketAddr,
) -> Vec<u8> {
    format!(
        "{method} sip:fs@{target} SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.10:5060;branch=z9hG4bK-{method}{cseq}-{call_id}\r\n\
         Route: <sip:127.0.0.1:5060;lr>\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:caller@127.0.0.10>;tag=ctag-{call_id}\r\n\
         To: <sip:1000@127.0.0.1>;tag={to_tag}\r\n\
         Call-ID: {call_id}\r\n\
         CSeq: {cseq} {method}\r\n\
         Content-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

/// A CANCEL for [`invite`]`(call_id)`.
pub(crate) fn cancel(call_id: &str) -> Vec<u8> {
    let inv = invite(call_id);
    let inv = sip::parse(&inv).unwrap();
    sip::build_cancel(&inv).unwrap()
}

/// A simulation with the proxy (node 0), the caller (node 1) and members (nodes 2..).
pub(crate) struct Bed {
    pub sim: Sim,
    pub members: usize,
}

/// The test config: `set` is the `[[set]]` body (algorithm, health...) and `members` the
/// member entries; probing every 10 s unless the set body says otherwise.
pub(crate) fn config_text(set: &str, members: &[&str]) -> String {
    let mut t = String::from(
        "[[interface]]\nname = \"external\"\naddress = \"127.0.0.1\"\nport_min = 30000\nport_max = 30999\n\
         [sip]\nlisten = [\"127.0.0.1:5060\"]\ntransports = [\"udp\"]\nfr_timeout_ms = 2000\nfr_inv_timeout_secs = 30\n\
         [[set]]\nname = \"pool\"\n",
    );
    t.push_str(set);
    t.push('\n');
    for m in members {
        t.push_str("[[set.member]]\n");
        t.push_str(m);
        t.push('\n');
    }
    t
}

impl Bed {
    /// A bed from config text and the members' behaviours (member i at [`member_addr`]`(i)`).
    pub(crate) fn from_config(text: &str, answers: Vec<Answer>) -> Bed {
        let cfg = config::parse(text).expect("test config");
        let mut sim = Sim::new(Duration::from_millis(1));
        let now = sim.now();
        let proxy = Proxy::new(
            ProxyConfig::from_config(&cfg),
            &cfg.sets,
            &cfg.routes,
            now,
            Box::new(crate::deterministic_rng(7)),
        );
        sim.add(Box::new(ProxyNode {
            proxy,
            tls_refused: Vec::new(),
        }));
        sim.add(Box::new(Caller::default()));
        let members = answers.len();
        for (i, a) in answers.into_iter().enumerate() {
            sim.add(Box::new(Member::new(i, a)));
        }
        Bed { sim, members }
    }

    /// `n` members answering as given, `algorithm` for the set, default health.
    pub(crate) fn new(algorithm: &str, answers: Vec<Answer>) -> Bed {
        let members: Vec<String> = (0..answers.len())
            .map(|i| format!("uri = \"sip:{}\"", member_addr(i)))
            .collect();
        let refs: Vec<&str> = members.iter().map(String::as_str).collect();
        let set = format!("algorithm = \"{algorithm}\"");
        Bed::from_config(&config_text(&set, &refs), answers)
    }

    pub(crate) fn proxy(&self) -> &Proxy {
        &self.sim.node::<ProxyNode>(0).unwrap().proxy
    }
    pub(crate) fn proxy_mut(&mut self) -> &mut Proxy {
        &mut self.sim.node_mut::<ProxyNode>(0).unwrap().proxy
    }
    pub(crate) fn caller(&self) -> &Caller {
        self.sim.node::<Caller>(1).unwrap()
    }
    pub(crate) fn member(&self, i: usize) -> &Member {
        self.sim.node::<Member>(2 + i).unwrap()
    }
    pub(crate) fn member_mut(&mut self, i: usize) -> &mut Member {
        self.sim.node_mut::<Member>(2 + i).unwrap()
    }

    /// Sends bytes from the caller to the proxy.
    pub(crate) fn send(&mut self, bytes: Vec<u8>) {
        let now = self.sim.now();
        self.sim
            .net
            .send(now, Datagram::udp(addr(CALLER), addr(PROXY), bytes));
    }

    /// Sends an INVITE for `call_id` and remembers it for the caller's ACKs.
    pub(crate) fn call(&mut self, call_id: &str) {
        self.call_with(call_id, invite(call_id));
    }

    /// Sends `inv`, an INVITE for `call_id`, and remembers it for the caller's ACKs.
    pub(crate) fn call_with(&mut self, call_id: &str, inv: Vec<u8>) {
        self.sim
            .node_mut::<Caller>(1)
            .unwrap()
            .sent
            .push((call_id.to_string(), inv.clone()));
        self.send(inv);
    }

    /// Runs for `ms` simulated milliseconds.
    pub(crate) fn run_ms(&mut self, ms: u64) {
        self.sim.run_for(Duration::from_millis(ms));
    }

    /// The member index that received `call_id`'s INVITE first.
    pub(crate) fn taker(&self, call_id: &str) -> Option<usize> {
        (0..self.members).find(|&i| self.member(i).invites.iter().any(|c| c == call_id))
    }

    /// The state of member `i` as the dispatcher reports it.
    pub(crate) fn state(&self, i: usize) -> dispatch::MemberState {
        let target = member_addr(i);
        self.proxy()
            .dispatcher()
            .snapshot()
            .find(|v| v.member.target() == target)
            .map(|v| v.member.state())
            .expect("member")
    }

    /// Active calls of member `i`.
    pub(crate) fn active(&self, i: usize) -> u32 {
        let target = member_addr(i);
        self.proxy()
            .dispatcher()
            .snapshot()
            .find(|v| v.member.target() == target)
            .map(|v| v.member.active_calls())
            .expect("member")
    }
}
