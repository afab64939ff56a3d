//! The request path: server transactions (RFC 3261 §17.2), request validation (§16.3), route
//! preprocessing (§16.4) and the choice between local handling, a dialog's pinned hop and the
//! dispatcher. Forwarding itself is `forward`'s.

use crate::anchor::Anchoring;
use crate::ctx::Target;
use crate::info::{Arrival, ReqInfo, BRANCH_PREFIX};
use crate::slab::ServerId;
use crate::txn::{Hop, ServerEvent, ServerTxn};
use crate::types::{Refusal, Table};
use crate::util::{self, cap};
use crate::Proxy;
use sip::Transport;
use sip::{Message, Method};
use std::net::SocketAddr;
use std::time::Instant;

/// The outcome of route information preprocessing (RFC 3261 §16.4).
#[derive(Debug)]
struct Routing {
    /// The Request-URI to forward to (the last Route value after a strict router).
    ruri: String,
    /// Our own Route value is on top and is removed.
    pop_top: bool,
    /// The previous hop was a strict router: the last Route value replaces the Request-URI.
    strict: bool,
    /// The first Route value left after ours.
    remaining: Option<String>,
}

/// What [`Proxy::base_request`] changes beyond the RFC 3261 §16.6 basics.
#[derive(Debug)]
struct Edits<'a> {
    /// Our own Route value is on top and is removed.
    pop_top: bool,
    /// The Request-URI after a strict router.
    strict_ruri: Option<&'a str>,
    /// The body, when anchoring rewrote its SDP.
    body: Option<&'a [u8]>,
}

impl Proxy {
    /// Entry point for every parsed request.
    pub(crate) fn on_request(
        &mut self,
        now: Instant,
        transport: Transport,
        local: SocketAddr,
        from: SocketAddr,
        msg: &Message<'_>,
    ) {
        let arrival = Arrival {
            transport,
            local,
            from,
        };
        // ReqInfo::read parses the top Via, Call-ID, CSeq, From and To; the check covers the
        // rest of what sip::Message::check_proxy_headers would, so no field is parsed twice.
        let info = match ReqInfo::read(msg).and_then(|i| msg.check_fields_after_reads().map(|()| i))
        {
            Ok(i) => i,
            Err(e) => return self.unreadable(arrival, msg, &e),
        };
        let key = info.server_key();
        if info.method == Method::Ack {
            return self.on_ack(now, arrival, msg, &info, &key);
        }
        if let Some(id) = self.txns.server_by_key(&key) {
            return self.retransmission(now, id);
        }
        if self.txns.sizes().0 >= cap(self.cfg.limits.server_transactions) {
            return self.overloaded(arrival, msg, &info);
        }
        if info.method == Method::Cancel {
            return self.on_cancel(now, arrival, msg, &info, key);
        }
        let id = self.new_server(arrival, &info, key);
        if info.method.is_invite() {
            // RFC 3261 §16.2: a stateful proxy answers an INVITE with 100 at once.
            self.respond(now, id, msg, 100, "Trying", &[]);
        }
        if let Some((code, reason)) = self.validate(msg, &info) {
            match code {
                483 => self.counters.too_many_hops += 1,
                482 => self.counters.loops += 1,
                _ => {}
            }
            return self.respond(now, id, msg, code, reason, &[]);
        }
        self.route(now, id, arrival, msg, info);
    }

    /// A request whose mandatory headers do not read: 400 when it can be answered (not an
    /// ACK, a readable Via), else a counted drop.
    fn unreadable(&mut self, arrival: Arrival, msg: &Message<'_>, e: &sip::SipError) {
        if msg.request_method() != Some(Method::Ack) && msg.top_via().is_ok() {
            self.counters.bad_requests += 1;
            let reason = format!("Bad Request ({e})");
            let resp = sip::response_for(msg, 400, &reason, Some(&self.ids.token()));
            let dst = arrival.reply_to(msg);
            self.send(arrival.transport, arrival.local, dst, resp);
        } else {
            self.counters.dropped_malformed += 1;
        }
    }

    /// No room for another server transaction (`max_server_transactions`): a stateless 503
    /// with Retry-After (RFC 3261 §21.5.4), counted; nothing is kept, so a retransmission
    /// gets the same answer and the ACK of the 503 is dropped.
    fn overloaded(&mut self, arrival: Arrival, msg: &Message<'_>, info: &ReqInfo) {
        self.refused(Refusal::Cap(Table::Server), arrival.from, &info.call_id);
        let ra = self.cfg.limits.retry_after.as_secs().to_string();
        let mut fields = vec![("Retry-After", ra.as_str())];
        if !self.cfg.user_agent.is_empty() {
            fields.push(("Server", &self.cfg.user_agent));
        }
        let tag = self.ids.token();
        let resp = sip::response_with(msg, 503, "Service Unavailable", Some(&tag), &fields);
        self.send(
            arrival.transport,
            arrival.local,
            arrival.reply_to(msg),
            resp,
        );
    }

    /// The answer when the table `t` is full: 503 with Retry-After on the request's server
    /// transaction, counted.
    fn full(&mut self, now: Instant, id: ServerId, arrival: Arrival, msg: &Message<'_>, t: Table) {
        let call_id = msg.call_id().unwrap_or_default();
        self.refused(Refusal::Cap(t), arrival.from, &call_id);
        self.unavailable(now, id, msg);
    }

    /// 503 with the configured Retry-After (RFC 3261 §21.5.4) on server transaction `id`: this
    /// element is out of room for the request.
    pub(crate) fn unavailable(&mut self, now: Instant, id: ServerId, msg: &Message<'_>) {
        let ra = self.cfg.limits.retry_after.as_secs().to_string();
        self.respond(
            now,
            id,
            msg,
            503,
            "Service Unavailable",
            &[("Retry-After", &ra)],
        );
    }

    /// RFC 3261 §17.2.1/§17.2.2: a retransmission; the last response goes again, if any.
    pub(crate) fn retransmission(&mut self, now: Instant, id: ServerId) {
        let event = self.txns.server_mut(id).and_then(|s| s.txn.on_request(now));
        if event == Some(ServerEvent::Absorbed) {
            self.counters.retransmissions_absorbed += 1;
        }
        self.flush_server(id);
    }

    /// A server transaction for a new request, keyed by `key`.
    pub(crate) fn new_server(&mut self, arrival: Arrival, info: &ReqInfo, key: String) -> ServerId {
        let hop = Hop {
            transport: arrival.transport,
            local: arrival.local,
            peer: info.reply_to(arrival),
        };
        let txn = ServerTxn::new(info.method.is_invite(), hop, self.timing());
        let tag = self.ids.token();
        self.txns.add_server(key, txn, tag)
    }

    /// A request that passed validation: answered here, pinned along its dialog, or routed to
    /// a destination set (its fields move into the context).
    fn route(
        &mut self,
        now: Instant,
        id: ServerId,
        arrival: Arrival,
        msg: &Message<'_>,
        owned: ReqInfo,
    ) {
        let info = &owned;
        let routing = self.preprocess(msg, info);
        if routing.remaining.is_none() && self.is_us(&routing.ruri) && is_local(info) {
            return self.answer_local(now, id, msg, info, arrival.from);
        }
        if info.initial_invite() && self.dialogs.taken_by_other(info) {
            // A Call-ID is the key of the call's pinning and media session (RFC 3261 §8.1.1.4
            // makes it unique per call): a second caller presenting it would take them over.
            self.refused(Refusal::CallIdInUse, arrival.from, &info.call_id);
            return self.respond(now, id, msg, 400, "Bad Request (Call-ID in use)", &[]);
        }
        let Some(target) = self.target(now, id, arrival, msg, info, &routing) else {
            return;
        };
        if let Some(t) = self.no_room(info) {
            return self.full(now, id, arrival, msg, t);
        }
        let (body, anchored) = match self.anchor_request(now, id, msg, info, &target) {
            Anchoring::Keep(a) => (None, a),
            Anchoring::Rewritten(body, a) => (Some(body), Some(a)),
            Anchoring::Refused => return,
        };
        let strict_ruri = routing.strict.then_some(routing.ruri.as_str());
        let edits = Edits {
            pop_top: routing.pop_top,
            strict_ruri,
            body: body.as_deref(),
        };
        match self.base_request(msg, arrival, &edits, info) {
            Ok(base) => self.start_ctx(now, id, owned, base, target, anchored),
            Err(e) => {
                if body.is_some() {
                    self.release_media(now, &info.call_id);
                }
                let reason = format!("Bad Request ({e})");
                self.respond(now, id, msg, 400, &reason, &[]);
            }
        }
    }

    /// The table a forwarded request would not fit in: a context for every one, a dialog for
    /// a new call (client transactions are checked per branch).
    fn no_room(&self, info: &ReqInfo) -> Option<Table> {
        let limits = &self.cfg.limits;
        if self.ctxs.len() >= cap(limits.contexts) {
            return Some(Table::Contexts);
        }
        let dialogs = cap(limits.dialogs);
        (info.initial_invite() && !self.dialogs.has_room(&info.call_id, dialogs))
            .then_some(Table::Dialogs)
    }

    /// Where a request goes: along a dialog held (RFC 3261 §12.2.2), or to a destination set
    /// matched by a `[[route]]`; a pre-loaded Route beyond us only from a trusted source.
    /// `None` once it was answered instead.
    fn target(
        &mut self,
        now: Instant,
        id: ServerId,
        arrival: Arrival,
        msg: &Message<'_>,
        info: &ReqInfo,
        routing: &Routing,
    ) -> Option<Target> {
        if info.to_tag.is_some() {
            return self.dialog_target(now, id, arrival, msg, info, routing);
        }
        if let Some(route) = routing.remaining.as_deref() {
            // RFC 3261 §16.4 follows a pre-loaded Route; from anyone but a trusted source
            // that would make this proxy an open relay (to the carriers of an outbound set).
            if !self.is_trusted(arrival.from.ip()) {
                self.refused(Refusal::Route, arrival.from, &info.call_id);
                self.respond(now, id, msg, 403, "Forbidden (Route not allowed)", &[]);
                return None;
            }
            if let Some((dst, t)) = util::uri_target(route) {
                return Some(Target::Fixed(dst, t, None));
            }
        }
        let uri = sip::parse_uri(&routing.ruri).ok();
        let ruri_user = uri.as_ref().and_then(|u| u.user).unwrap_or_default();
        let ruri_host = uri.as_ref().map(|u| u.host).unwrap_or_default();
        let Some(set) = self
            .dispatcher
            .route(arrival.from.ip(), ruri_user, ruri_host)
        else {
            self.counters.no_route += 1;
            self.respond(now, id, msg, 404, "No Route", &[]);
            return None;
        };
        Some(Target::Set {
            set,
            ruri_user: ruri_user.to_string(),
        })
    }

    /// Where an in-dialog request goes: to the other party of a dialog held; from a trusted
    /// source also by its Route set or Request-URI (RFC 3261 §16.4–16.5). Anything else is
    /// answered 481 (§12.2.2), never sent where the request says.
    fn dialog_target(
        &mut self,
        now: Instant,
        id: ServerId,
        arrival: Arrival,
        msg: &Message<'_>,
        info: &ReqInfo,
        routing: &Routing,
    ) -> Option<Target> {
        if let Some((t, pinned)) = self.dialogs.target(info) {
            self.dialogs.note_cseq(info);
            self.counters.pinned += u64::from(pinned);
            return Some(t);
        }
        if self.is_trusted(arrival.from.ip()) {
            let uri = routing.remaining.as_deref().unwrap_or(&routing.ruri);
            if let Some((dst, t)) = util::uri_target(uri) {
                return Some(Target::Fixed(dst, t, None));
            }
        }
        self.refused(Refusal::Dialog, arrival.from, &info.call_id);
        self.respond(now, id, msg, 481, "Call/Transaction Does Not Exist", &[]);
        None
    }

    /// RFC 3261 §16.4: route information preprocessing.
    fn preprocess(&self, msg: &Message<'_>, info: &ReqInfo) -> Routing {
        let mut ruri = info.ruri.clone();
        let routes = msg.routes().unwrap_or_default();
        let mut strict = false;
        // A Request-URI that is a value we record-route (ours, no user part) means the
        // previous hop was a strict router; a request addressed to a user at our address
        // (the usual INVITE to a load balancer) is not one.
        if self.is_us(&ruri) && !has_user(&ruri) {
            if let Some(last) = routes.last() {
                // The previous hop was a strict router: the last Route value is the target.
                ruri = last.uri.to_string();
                strict = true;
            }
        }
        let pop_top = routes
            .first()
            .is_some_and(|top| self.is_us(&top.uri) && !(strict && routes.len() == 1));
        // Both of a double Record-Route go (RFC 5658 §3.3), unless after a strict router.
        let popped = match (pop_top, strict) {
            (true, false) => self.own_routes(&routes),
            (pop, _) => usize::from(pop),
        };
        let kept = routes.len().saturating_sub(popped + usize::from(strict));
        let remaining = routes
            .iter()
            .skip(popped)
            .take(kept)
            .map(|r| r.uri.to_string())
            .next();
        Routing {
            ruri,
            pop_top,
            strict,
            remaining,
        }
    }

    /// RFC 3261 §16.3 items 2–5. Returns the error response to send, if any.
    fn validate(&self, msg: &Message<'_>, info: &ReqInfo) -> Option<(u16, &'static str)> {
        // Item 2: URI scheme.
        match sip::parse_uri(&info.ruri) {
            Ok(u) if matches!(u.scheme, sip::Scheme::Sip | sip::Scheme::Sips) => {}
            _ => return Some((416, "Unsupported URI Scheme")),
        }
        // Item 3: Max-Forwards (OPTIONS to this element is answered by it, §16.3 item 3).
        if msg.max_forwards().ok().flatten() == Some(0)
            && !(info.method == Method::Options && self.is_us(&info.ruri))
        {
            return Some((483, "Too Many Hops"));
        }
        // Item 4: loop detection (§16.6 item 8): one of our Vias carries the same loop hash.
        let hash = util::hex8(info.loop_hash());
        let ours = msg.vias().unwrap_or_default().into_iter().any(|v| {
            v.branch()
                .and_then(|b| b.strip_prefix(BRANCH_PREFIX))
                .and_then(|b| b.get(..8))
                .is_some_and(|h| h.as_bytes() == hash)
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

    /// The request as every branch forwards it, before the branch's own Via (RFC 3261
    /// §16.6): `received`/`rport` on the sender's Via (§18.2.1, RFC 3581), our Route popped
    /// (§16.4), Request-URI fixed after a strict router, Max-Forwards decremented,
    /// Record-Route added on an initial INVITE.
    fn base_request(
        &self,
        msg: &Message<'_>,
        arrival: Arrival,
        edits: &Edits<'_>,
        info: &ReqInfo,
    ) -> Result<Vec<u8>, sip::SipError> {
        let (pop_top, strict_ruri) = (edits.pop_top, edits.strict_ruri);
        let from = arrival.from;
        let mut ed = sip::Editor::new(msg);
        let ip = (info.via_ip != Some(from.ip())).then(|| from.ip().to_string());
        let received = ip.as_deref();
        let rport = info.via_rport.then_some(from.port());
        if received.is_some() || rport.is_some() {
            ed.set_top_via_source(received, rport)?;
        }
        if let Some(uri) = strict_ruri {
            ed.set_request_uri(uri);
            strip_routes(&mut ed, msg, pop_top)?;
        } else if pop_top && self.own_routes(&msg.routes()?) == 2 {
            pop_routes(&mut ed, msg, 2)?;
        } else if pop_top {
            ed.remove_top_route()?;
        }
        if let Some(body) = edits.body {
            ed.set_body(body)?;
        }
        match msg.max_forwards()? {
            Some(_) => {
                ed.decrement_max_forwards()?;
            }
            None => {
                ed.append_header("Max-Forwards", &self.cfg.max_forwards.to_string());
            }
        }
        // Only a call's dialog is held (and its in-dialog requests routed by it), so only an
        // initial INVITE keeps this element on the path (RFC 3261 §16.6 item 4 leaves it to
        // the proxy): the other dialogs (SUBSCRIBE, REFER) run end to end.
        // The value names the side the request came from; a branch that leaves on another
        // transport adds the other side's on top (RFC 5658 double Record-Route, `forward`).
        if self.cfg.record_route && info.initial_invite() {
            ed.insert_record_route(&self.record_route_value(arrival.transport, from));
        }
        ed.finish()
    }

    /// Handles an ACK: for a non-2xx final it belongs to our server transaction (RFC 3261
    /// §17.2.1); otherwise it acknowledges a 2xx end to end and is routed like any in-dialog
    /// request, statelessly (RFC 3261 §13.2.2.4, §16.7 item 4 counterpart).
    fn on_ack(
        &mut self,
        now: Instant,
        arrival: Arrival,
        msg: &Message<'_>,
        info: &ReqInfo,
        key: &str,
    ) {
        if let Some(id) = self.txns.server_by_key(key) {
            let event = self.txns.server_mut(id).and_then(|s| s.txn.on_ack(now));
            match event {
                Some(ServerEvent::Confirmed) => return self.flush_server(id),
                Some(_) => {
                    self.counters.retransmissions_absorbed += 1;
                    return;
                }
                None => {}
            }
        }
        let routes = msg.routes().unwrap_or_default();
        let pop = routes.first().is_some_and(|r| self.is_us(&r.uri));
        let next = match self.dialogs.target(info) {
            Some((Target::Fixed(dst, t, _), pinned)) => {
                self.counters.pinned += u64::from(pinned);
                Some((dst, t))
            }
            Some(_) => None,
            // A trusted source's ACK for a dialog not held follows its Route or Request-URI.
            None if self.is_trusted(arrival.from.ip()) => util::uri_target(
                routes
                    .get(usize::from(pop))
                    .map_or(info.ruri.as_str(), |r| &r.uri),
            ),
            None => None,
        };
        let Some((dst, t)) = next else {
            return self.refused(Refusal::Ack, arrival.from, &info.call_id);
        };
        let body = match self.anchor_ack(now, msg, info) {
            Ok(body) => body,
            Err(e) => {
                self.counters.media.refused_sdp += 1;
                tracing::info!(call_id = %info.call_id, error = %e, "ACK dropped: its SDP was refused by the media relay");
                return;
            }
        };
        let edits = Edits {
            pop_top: pop,
            strict_ruri: None,
            body: body.as_deref(),
        };
        let Ok(base) = self.base_request(msg, arrival, &edits, info) else {
            self.counters.dropped_malformed += 1;
            return;
        };
        let src = self.local_for(dst);
        if let Some((_, bytes)) = self.with_via(&base, src, t, info) {
            self.send(t, src, dst, bytes);
        }
    }

    /// Sends a locally generated response on server transaction `id` (RFC 3261 §17.2).
    pub(crate) fn respond(
        &mut self,
        now: Instant,
        id: ServerId,
        req: &Message<'_>,
        code: u16,
        reason: &str,
        extra: &[(&str, &str)],
    ) {
        let Some(s) = self.txns.server(id) else {
            return;
        };
        let tag = (code > 100).then_some(s.local_tag.as_str());
        let mut fields: Vec<(&str, &str)> = extra.to_vec();
        if !self.cfg.user_agent.is_empty() {
            fields.push(("Server", &self.cfg.user_agent));
        }
        let bytes = sip::response_with(req, code, reason, tag, &fields);
        self.send_response(now, id, code, bytes);
    }

    /// Sends a response (ours or forwarded) on server transaction `id`.
    pub(crate) fn send_response(&mut self, now: Instant, id: ServerId, code: u16, bytes: Vec<u8>) {
        if let Some(s) = self.txns.server_mut(id) {
            s.txn.respond(now, code, bytes);
        }
        self.flush_server(id);
    }
}

/// Whether a SIP URI has a user part.
fn has_user(uri: &str) -> bool {
    sip::parse_uri(uri).is_ok_and(|u| u.user.is_some())
}

/// Methods this element answers when the Request-URI names it.
fn is_local(info: &ReqInfo) -> bool {
    matches!(info.method, Method::Options | Method::Register)
}

/// Removes the first `n` Route values (this element's two, after a double Record-Route,
/// RFC 5658 §3.3): the Route set is rebuilt without them.
fn pop_routes(
    ed: &mut sip::Editor<'_, '_>,
    msg: &Message<'_>,
    n: usize,
) -> Result<(), sip::SipError> {
    let routes = msg.routes()?;
    ed.remove_headers("Route");
    let keep: Vec<String> = routes
        .iter()
        .skip(n)
        .map(|r| format!("<{}>", r.uri))
        .collect();
    if !keep.is_empty() {
        ed.append_header("Route", &keep.join(", "));
    }
    Ok(())
}

/// Removes the last Route value (strict-router repair, RFC 3261 §16.4), and the first one
/// too when it names this element (`pop_top`).
fn strip_routes(
    ed: &mut sip::Editor<'_, '_>,
    msg: &Message<'_>,
    pop_top: bool,
) -> Result<(), sip::SipError> {
    let routes = msg.routes()?;
    // Rebuild the Route set without those values: drop every Route field and add one back.
    ed.remove_headers("Route");
    let keep: Vec<String> = routes
        .iter()
        .take(routes.len().saturating_sub(1))
        .skip(usize::from(pop_top))
        .map(|r| format!("<{}>", r.uri))
        .collect();
    if !keep.is_empty() {
        ed.append_header("Route", &keep.join(", "));
    }
    Ok(())
}
