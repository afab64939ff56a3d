//! Requests this element answers or originates itself: OPTIONS sent to it, REGISTER from pool
//! members joining a set, the dispatcher's OPTIONS probes, and the ACK + BYE that end a call a
//! given-up branch answered late.

use crate::info::{ReqInfo, BRANCH_PREFIX};
use crate::slab::{ClientId, ServerId};
use crate::tables::Role;
use crate::txn::{ClientTxn, Expiry, Hop};
use crate::types::{Refusal, Table};
use crate::{util, Proxy};
use sip::Transport;
use sip::{Message, Method};
use std::net::SocketAddr;
use std::time::Instant;

const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, INFO, REFER, PRACK, MESSAGE, NOTIFY, SUBSCRIBE, REGISTER";

impl Proxy {
    /// Answers a request addressed to this element (OPTIONS or REGISTER).
    pub(crate) fn answer_local(
        &mut self,
        now: Instant,
        id: ServerId,
        msg: &Message<'_>,
        info: &ReqInfo,
        from: SocketAddr,
    ) {
        match info.method {
            Method::Options if self.draining => {
                let extra = [("Retry-After", "60")];
                self.respond(now, id, msg, 503, "Service Unavailable", &extra);
            }
            Method::Options => {
                let extra = [("Allow", ALLOW), ("Accept", "application/sdp")];
                self.respond(now, id, msg, 200, "OK", &extra);
            }
            _ => self.register(now, id, msg, info, from),
        }
    }

    /// REGISTER from a pool member joining the set named by its To user (a set with
    /// `register = true`, from an allowed network). The Contact's address becomes the
    /// member's target while the registration is fresh (RFC 3261 §10.3, simplified to one
    /// binding).
    fn register(
        &mut self,
        now: Instant,
        id: ServerId,
        msg: &Message<'_>,
        info: &ReqInfo,
        from: SocketAddr,
    ) {
        let Some(set) = self.dispatcher.set_id(&info.to_user) else {
            return self.respond(now, id, msg, 404, "Not Found", &[]);
        };
        let contact = match msg.contacts() {
            Ok(Some(sip::Contacts::List(list))) => list.into_iter().next(),
            _ => None,
        };
        let Some(contact) = contact else {
            return self.respond(now, id, msg, 400, "Bad Request (no Contact)", &[]);
        };
        let expires = contact
            .expires()
            .ok()
            .flatten()
            .or_else(|| msg.expires().ok().flatten())
            .unwrap_or(3600);
        let Some((addr, transport)) = util::uri_target(&contact.uri) else {
            let reason = "Bad Request (Contact is not an IP address)";
            return self.respond(now, id, msg, 400, reason, &[]);
        };
        // Calls will go to the Contact: it must be in the set's REGISTER networks too, or a
        // host allowed to register could point the pool at any address.
        let contact_ok = self
            .dispatcher
            .set_config(set)
            .is_some_and(|c| c.register_networks.iter().any(|n| n.contains(addr.ip())));
        if !contact_ok {
            self.refused(Refusal::Register, from, &info.call_id);
            let reason = "Forbidden (Contact outside register_networks)";
            return self.respond(now, id, msg, 403, reason, &[]);
        }
        if expires > 0 && !self.registration_room(set, addr, transport) {
            self.refused(Refusal::Cap(Table::Registrations), from, &info.call_id);
            let ra = self.cfg.limits.retry_after.as_secs().to_string();
            let extra = [("Retry-After", ra.as_str())];
            return self.respond(now, id, msg, 503, "Service Unavailable", &extra);
        }
        let req = dispatch::Registration {
            source: from.ip(),
            contact: addr,
            uri: &contact.uri,
            transport,
            expires: std::time::Duration::from_secs(u64::from(expires)),
        };
        match self.dispatcher.register(set, req, now) {
            Ok(granted) => {
                let c = format!("<{}>;expires={}", contact.uri, granted.as_secs());
                self.respond(now, id, msg, 200, "OK", &[("Contact", &c)]);
            }
            Err(e) => {
                self.refused(Refusal::Register, from, &info.call_id);
                let reason = format!("Forbidden ({e})");
                self.respond(now, id, msg, 403, &reason, &[]);
            }
        }
    }

    /// Whether a registration of `contact` into `set` fits under `max_registrations`: a
    /// refresh of one held always does.
    fn registration_room(&self, set: dispatch::SetId, contact: SocketAddr, t: Transport) -> bool {
        let mut held = 0usize;
        for v in self.dispatcher.snapshot() {
            let m = v.member;
            if !matches!(m.origin(), dispatch::Origin::Registered { .. }) {
                continue;
            }
            if m.set() == set && m.target() == contact && m.transport() == t {
                return true;
            }
            held += 1;
        }
        held < util::cap(self.cfg.limits.registrations)
    }

    /// Sends every OPTIONS probe the dispatcher has due, each as a client transaction that
    /// ends at the probe's deadline (the dispatcher counts the timeout then: a local timeout
    /// is always a failure).
    pub(crate) fn send_probes(&mut self, now: Instant) {
        while let Some(probe) = self.dispatcher.poll_probe(now) {
            let transport = probe.transport;
            let dst = probe.target;
            let src = self.local_for(dst);
            let branch = format!("{BRANCH_PREFIX}00000000{}", self.ids.token());
            let tag = self.ids.token();
            let call_id = format!("{}@ferrovox", self.ids.token());
            let mut req = format!(
                "OPTIONS {uri} SIP/2.0\r\nVia: SIP/2.0/{t} {hp};branch={branch}\r\nMax-Forwards: 70\r\n\
                 From: <{from}>;tag={tag}\r\nTo: <{uri}>\r\nCall-ID: {call_id}\r\nCSeq: 1 OPTIONS\r\n",
                uri = probe.request_uri,
                t = transport.via_token(),
                hp = self.sent_by(transport, src),
                from = probe.from,
            );
            if !self.cfg.user_agent.is_empty() {
                req.push_str(&format!("User-Agent: {}\r\n", self.cfg.user_agent));
            }
            req.push_str("Content-Length: 0\r\n\r\n");
            let hop = Hop {
                transport,
                local: src,
                peer: dst,
            };
            let expiry = Expiry::Silent(probe.deadline);
            let txn = ClientTxn::new(
                now,
                Method::Options,
                hop,
                req.into_bytes(),
                self.timing(),
                expiry,
            );
            let role = Role::Probe { probe: probe.probe };
            let id = self
                .txns
                .add_client(branch, txn, role, Some(probe.probe.member));
            self.counters.probes_sent += 1;
            self.flush_client(id);
        }
    }

    /// A branch this element gave up on answered 2xx after all: the caller's call went
    /// elsewhere, so this one is acknowledged and ended at once (ACK, then BYE to the
    /// answering member, RFC 3261 §13.2.2.4, §15).
    pub(crate) fn end_late_answer(&mut self, now: Instant, id: ClientId, resp: &Message<'_>) {
        let Some(c) = self.txns.client(id) else {
            return;
        };
        let hop = c.txn.hop();
        let Some(ends) = LateAnswer::read(c.txn.request(), resp) else {
            return;
        };
        let sent_by = self.sent_by(hop.transport, hop.local);
        for (method, cseq) in [
            (Method::Ack, ends.cseq),
            (Method::Bye, ends.cseq.saturating_add(1)),
        ] {
            let branch = format!("{BRANCH_PREFIX}00000000{}", self.ids.token());
            let msg = ends.request(&method, cseq, hop.transport, &sent_by, &branch);
            if method == Method::Ack {
                self.send(hop.transport, hop.local, hop.peer, msg);
                continue;
            }
            let expiry = Expiry::Silent(now + self.cfg.t64());
            let txn = ClientTxn::new(now, method, hop, msg, self.timing(), expiry);
            let bye = self.txns.add_client(branch, txn, Role::Cleanup, None);
            self.flush_client(bye);
        }
    }
}

/// What the ACK and BYE ending a late-answered branch are built from.
struct LateAnswer {
    target: String,
    from: String,
    to: String,
    call_id: String,
    cseq: u32,
}

impl LateAnswer {
    /// From the INVITE we sent and its 2xx: the dialog's Request-URI (the 2xx's Contact),
    /// the From of the request, the To (with tag) of the response.
    fn read(request: &[u8], resp: &Message<'_>) -> Option<LateAnswer> {
        let req = sip::parse(request).ok()?;
        let cseq = req.cseq().ok()?.number;
        let call_id = resp.call_id().ok()?.into_owned();
        let from = String::from_utf8_lossy(req.header("From")?.value).into_owned();
        let to = String::from_utf8_lossy(resp.header("To")?.value).into_owned();
        let target = resp
            .contacts()
            .ok()
            .flatten()
            .and_then(|c| match c {
                sip::Contacts::List(l) => l.into_iter().next().map(|n| n.uri.into_owned()),
                sip::Contacts::Star => None,
            })
            .or_else(|| req.request_uri().map(str::to_string))
            .unwrap_or_default();
        Some(LateAnswer {
            target,
            from,
            to,
            call_id,
            cseq,
        })
    }

    /// The ACK or BYE of the dialog.
    fn request(
        &self,
        method: &Method,
        cseq: u32,
        transport: Transport,
        sent_by: &str,
        branch: &str,
    ) -> Vec<u8> {
        format!(
            "{method} {target} SIP/2.0\r\nVia: SIP/2.0/{t} {sent_by};branch={branch}\r\nMax-Forwards: 70\r\n\
             From: {from}\r\nTo: {to}\r\nCall-ID: {call_id}\r\nCSeq: {cseq} {method}\r\nContent-Length: 0\r\n\r\n",
            target = self.target,
            t = transport.via_token(),
            from = self.from,
            to = self.to,
            call_id = self.call_id,
        )
        .into_bytes()
    }
}
