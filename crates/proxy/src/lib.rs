//! The stateful SIP proxy (RFC 3261 §16, transactions per §17), sans-IO.
//!
//! Driven quinn-proto style: [`Proxy::handle_message`] with each received message,
//! [`Proxy::handle_timeout`] when [`Proxy::poll_timeout`] is due, [`Proxy::handle_transport_error`]
//! when a send failed; the driver sends what [`Proxy::poll_transmit`] yields and logs
//! [`Proxy::poll_event`]. Time and randomness (a generator: the daemon's is seeded from the
//! OS, a test's from a constant, see [`deterministic_rng`]) come in as arguments, so every
//! scenario is deterministic.
//!
//! # At the edge
//!
//! The proxy relays only what it may: a request without a To tag goes where a `[[route]]`
//! sends it (a pre-loaded Route is followed only from a `trusted` source, or removed when it
//! names this element, RFC 3261 §16.4; 403 otherwise); a request with a To tag goes only
//! along a dialog the proxy holds, to the other party of that dialog (481 otherwise). A
//! response is taken only from the address and transport its request went to, and one that
//! matches no client transaction is dropped, never relayed by its Vias. Every table has a
//! cap (503 with Retry-After beyond it). Each refusal is counted in [`ProxyCounters`] and
//! logged at debug level with the counter's name.
//!
//! # Architecture
//!
//! [`Proxy`] (this file) owns every table and does the routing; the modules below it are of
//! two kinds. The *leaves* know nothing of `Proxy` and are tested on their own:
//!
//! | module | what it is |
//! |---|---|
//! | `txn` | the transaction state machines: `ClientTxn` and `ServerTxn`, one `State` enum each (RFC 3261 §17, RFC 6026), fed with `on_*(now, ..)`, drained with `poll_transmit`/`poll_timeout`; Timers A, B, D–M inside |
//! | `ctx` | a proxy context (one per forwarded request): its `Phase` (Trying, TimerC, Cancelled, Done), the best outcome so far and the §16.7 verdict |
//! | `tables` | the transaction records (state machine + what it is for: branch, CANCEL, probe...) in slabs, and the wire-key → id maps consulted once per message |
//! | `slab`, `timers` | `Copy` ids with generation checks (`ServerId`, `ClientId`, `CtxId`); the wake-up queue |
//! | `dialog` | Call-ID → member pinning, the call's active-call count and its relay interfaces |
//! | `flood` | the per-source rate limit and ban list, checked before a message is read |
//! | `info` | what is read from a request once (`ReqInfo`, the §17.2.3 key, the loop hash) |
//! | `resolver` | DNS (RFC 3263) for members named by host name, feeding the dispatcher |
//! | `types`, `util` | public types; small helpers (ids, next hops from URIs and Vias) |
//!
//! The *paths* are `impl Proxy` blocks, one per step of a message's way through:
//!
//! ```text
//! handle_message ─┬─ request ──┬─ local     (OPTIONS/REGISTER to us)
//!                 │            ├─ branch    (CANCEL from upstream: on_cancel)
//!                 │            └─ forward   (start_ctx → next_branch → send_branch)
//!                 └─ response ──── branch   (on_branch_response → forward::finish / next_branch)
//! handle_timeout ── txn timers ─── branch   (client_failed, timer_c) ; probes: local
//! ```
//!
//! `anchor` (a path too) runs the SDP of anchored calls through the media relay on the way
//! (`MediaAnchor`): requests in `request`, responses in `branch`.
//! `request` answers or routes a request (server transaction, §16.3 validation, §16.4 route
//! preprocessing, dialog pinning or the dispatcher) and hands it to `forward`, which runs
//! the context: one branch (client transaction) at a time, failover to the next member,
//! the final response upstream. `response` matches a response to its client transaction;
//! what the transaction reports goes to `branch`, which decides for the context (forward a
//! provisional, confirm the dialog on 2xx, fail over or finish) and handles CANCEL both ways
//! and Timer C. `local` answers requests addressed to this element and originates the
//! dispatcher's OPTIONS probes and the ACK + BYE that end a late-answered given-up branch.
//! The paths import the leaves, never each other; every transaction and context change goes
//! through `flush_server`/`flush_client` here, which send what the machine queued and queue
//! its next wake-up.

#![forbid(unsafe_code)]

mod admin;
mod admin_calls;
mod adopt;
mod anchor;
mod branch;
mod ctx;
mod dialog;
mod flood;
mod forward;
mod hangup;
mod hasher;
mod info;
mod local;
mod request;
mod resolver;
mod response;
mod slab;
mod tables;
mod timers;
mod traffic;
mod txn;
mod types;
mod util;

#[cfg(test)]
mod tests;

pub use admin_calls::{CallView, DialogState, TerminateError};
pub use adopt::AdoptedDialog;
pub use anchor::MediaAnchor;
pub use flood::{FloodCounters, FloodEvent, FloodGuard, Verdict as FloodVerdict};
pub use resolver::DnsSettings;
pub use sip::Transport;
pub use traffic::{TrafficCounters, CLASSES, METHODS};
pub use types::{
    CapCounters, FailReason, MediaCounters, ProxyConfig, ProxyCounters, ProxyEvent, Transmit,
};

use ctx::Ctx;
use dialog::Dialogs;
use resolver::Resolver;
use slab::{ClientId, CtxId, ServerId, Slab};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tables::{Role, Transactions};
use timers::{Timers, Wake};
use txn::{ClientEvent, ServerEvent, Timing};
use types::Refusal;
use util::Ids;

/// A generator from a fixed seed (ChaCha12), for tests, benches and fuzzing, whose runs must
/// repeat. A running proxy gets one seeded from the OS instead, or its tags and branches
/// could be predicted.
pub fn deterministic_rng(seed: u64) -> rand::rngs::StdRng {
    rand::SeedableRng::seed_from_u64(seed)
}

/// How often the dialog table is swept for expired entries.
const HOUSEKEEPING: Duration = Duration::from_secs(1);

/// The proxy core.
#[derive(Debug)]
pub struct Proxy {
    cfg: ProxyConfig,
    dispatcher: dispatch::Dispatcher,
    txns: Transactions,
    ctxs: Slab<CtxId, Ctx>,
    dialogs: Dialogs,
    timers: Timers,
    ids: Ids,
    out: VecDeque<Transmit>,
    events: VecDeque<ProxyEvent>,
    counters: ProxyCounters,
    draining: bool,
    housekeeping_armed: bool,
    resolver: Resolver,
    flood: FloodGuard,
    media: Option<Box<dyn anchor::MediaAnchor>>,
}

impl Proxy {
    /// A proxy with the given settings, destination sets and routes. `rng` makes its
    /// branches, tags, Call-IDs and DNS query ids: a cryptographically secure generator
    /// seeded from the OS in a running proxy ([`deterministic_rng`] in tests).
    pub fn new(
        cfg: ProxyConfig,
        sets: &[config::SetConfig],
        routes: &[config::RouteConfig],
        now: Instant,
        rng: Box<dyn rand::CryptoRng + Send>,
    ) -> Self {
        let dns = cfg.dns.clone();
        let draining = cfg.draining;
        Proxy {
            resolver: Resolver::new(dns),
            dispatcher: dispatch::Dispatcher::new(sets, routes, now),
            flood: FloodGuard::new(cfg.flood, cfg.trusted.clone(), now),
            cfg,
            txns: Transactions::default(),
            ctxs: Slab::default(),
            dialogs: Dialogs::default(),
            timers: Timers::default(),
            ids: Ids::new(rng),
            out: VecDeque::new(),
            events: VecDeque::new(),
            counters: ProxyCounters::default(),
            draining,
            housekeeping_armed: false,
            media: None,
        }
    }

    /// Applies a new configuration: members that remain keep their counters, health state
    /// and calls; dialogs in progress continue.
    pub fn reconfigure(
        &mut self,
        cfg: ProxyConfig,
        sets: &[config::SetConfig],
        routes: &[config::RouteConfig],
        now: Instant,
    ) {
        self.dispatcher.reconfigure(sets, routes, now);
        self.resolver.set_settings(cfg.dns.clone());
        self.draining = cfg.draining;
        self.flood.reconfigure(cfg.flood, cfg.trusted.clone());
        self.cfg = cfg;
        self.resolver.tick(&mut self.dispatcher, &mut self.ids, now);
    }

    /// Handles one received SIP message (a UDP datagram or a message framed from a TCP stream).
    pub fn handle_message(
        &mut self,
        now: Instant,
        transport: Transport,
        local: SocketAddr,
        from: SocketAddr,
        bytes: &[u8],
    ) {
        // Before anything is read: a source over its rate or banned gets nothing.
        let verdict = self
            .flood
            .check(now, from.ip(), &self.dispatcher, &mut self.events);
        if verdict != FloodVerdict::Pass {
            return;
        }
        self.arm_housekeeping(now);
        if bytes.len() > self.cfg.max_message_bytes {
            self.counters.dropped_oversized += 1;
            return;
        }
        // RFC 5626 §3.5.1 keep-alives: a bare CRLF (or CRLFCRLF) is not a message.
        if sip::keepalive_len(bytes) == bytes.len() {
            return;
        }
        let msg = match sip::parse(bytes) {
            Ok(m) => m,
            Err(e) => return self.malformed(transport, local, from, bytes, &e),
        };
        if let Some(m) = msg.method() {
            self.counters.traffic.request(m);
        }
        if let Some(code) = msg.status() {
            self.counters.traffic.response(code);
        }
        if msg.is_request() {
            self.counters.requests += 1;
            self.on_request(now, transport, local, from, &msg);
        } else {
            self.counters.responses += 1;
            self.on_response(now, transport, from, &msg);
        }
    }

    /// A message that did not parse: 400 when the request line was valid and the headers a
    /// response needs are readable (RFC 3261 §8.2, §16.3), else a counted drop.
    fn malformed(
        &mut self,
        transport: Transport,
        local: SocketAddr,
        from: SocketAddr,
        bytes: &[u8],
        e: &sip::SipError,
    ) {
        if e.is_request_parsed() {
            if let Ok(head) = sip::parse_head(bytes) {
                if head.request_method() != Some(sip::Method::Ack) && head.top_via().is_ok() {
                    self.counters.bad_requests += 1;
                    let reason = format!("Bad Request ({})", e.cause());
                    let resp = sip::response_for(&head, 400, &reason, Some(&self.ids.token()));
                    let dst = info::reply_target(&head, from).unwrap_or(from);
                    self.send(transport, local, dst, resp);
                    return;
                }
            }
        }
        self.counters.dropped_malformed += 1;
    }

    /// The driver could not deliver to `dst` (a TCP connect refused or a reset, a failed
    /// send, an ICMP error that [`Proxy::handle_unreachable`] accepted): every branch and
    /// probe waiting on it fails now (RFC 3261 §8.1.3.1, §16.7), and the member there hears of
    /// it once, as one failure, however many transactions failed: its probe in flight fails
    /// (a probe failure, whatever `health.passive` says), else one passive failure is counted.
    pub fn handle_transport_error(&mut self, now: Instant, transport: Transport, dst: SocketAddr) {
        let mut ids = self.txns.clients_to(transport, dst);
        // Probes first: a member's probe in flight is what counts its failure.
        ids.sort_by_key(|&id| {
            let probe = |c: &tables::Client| matches!(c.role, Role::Probe { .. });
            !self.txns.client(id).is_some_and(probe)
        });
        let mut told = Vec::new();
        for id in ids {
            let member = self.txns.client(id).and_then(|c| c.member);
            let event = self
                .txns
                .client_mut(id)
                .and_then(|c| c.txn.on_transport_error(now));
            if event == Some(ClientEvent::TransportError) {
                let tell = member.is_some_and(|m| !told.contains(&m));
                if self.client_failed(now, id, FailReason::Transport, tell) {
                    told.extend(member);
                }
            }
            self.flush_client(id);
        }
    }

    /// An ICMP error (destination unreachable) came back for a datagram sent to `dst`,
    /// quoting its start (`quoted`: what the error carried of it, 520 bytes or so over IPv4).
    /// It is taken as a transport error for `dst` ([`Proxy::handle_transport_error`]) only
    /// when the quote holds the branch of a client transaction this element holds toward
    /// `dst`: a proof that it answers a request this element sent, which a forger off the
    /// path cannot give (the branches are unpredictable), so forged ICMP cannot fail calls
    /// over nor take a member down. Returns whether it was taken. An error quoting none (a
    /// response, a 2xx ACK, or a Via pushed past the quote by a long request line) changes
    /// nothing: the transaction timers still run. The check costs a few hash lookups, however
    /// many transactions are held.
    pub fn handle_unreachable(
        &mut self,
        now: Instant,
        transport: Transport,
        dst: SocketAddr,
        quoted: &[u8],
    ) -> bool {
        // The quoted request's method (its first token) picks the table, as a CSeq would.
        let method = quoted
            .split(|&c| c == b' ')
            .next()
            .and_then(|m| std::str::from_utf8(m).ok())
            .map(sip::Method::parse);
        let ours = method.is_some_and(|method| {
            quoted_branches(quoted).any(|branch| {
                let id = self.txns.client_for(branch, &method);
                id.and_then(|id| self.txns.client(id)).is_some_and(|c| {
                    let hop = c.txn.hop();
                    hop.peer == dst && hop.transport == transport
                })
            })
        });
        if ours {
            self.handle_transport_error(now, transport, dst);
        }
        ours
    }

    /// Fires every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some((at, wake)) = self.timers.pop_due(now) {
            match wake {
                Wake::Server(id) => self.server_timeout(now, id, at),
                Wake::Client(id) => self.client_timeout(now, id, at),
                Wake::Housekeeping => {
                    self.housekeeping_armed = false;
                    for call_id in self.dialogs.expire(now, &mut self.dispatcher) {
                        self.release_media(now, &call_id);
                    }
                    self.collect_media_ends(now);
                    self.collect_silent_members(now);
                    self.flood.expire(now, &mut self.events);
                    self.arm_housekeeping(now);
                }
            }
        }
        self.dispatcher.handle_timeout(now);
        self.resolver.tick(&mut self.dispatcher, &mut self.ids, now);
        self.send_probes(now);
        self.collect_dispatch_events();
    }

    /// When [`Proxy::handle_timeout`] should next run.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.timers.next(),
            self.dispatcher.poll_timeout(),
            self.resolver.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// The next message to send. Nothing goes to a banned source.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        let mut t = self.out.pop_front()?;
        while self.flood.refuse_transmit(t.dst.ip(), &self.dispatcher) {
            t = self.out.pop_front()?;
        }
        Some(t)
    }

    /// The next DNS query to send (for members named by host name).
    pub fn poll_dns_transmit(&mut self) -> Option<dns::resolve::Transmit> {
        self.resolver.out.pop_front()
    }

    /// A DNS response arrived from `from`.
    pub fn handle_dns_response(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) {
        self.resolver
            .response(&mut self.dispatcher, now, from, bytes);
        self.send_probes(now);
    }

    /// DNS lookups that failed.
    pub fn dns_failures(&self) -> u64 {
        self.resolver.failures
    }

    /// The next event to log.
    pub fn poll_event(&mut self) -> Option<ProxyEvent> {
        self.collect_dispatch_events();
        self.events.pop_front()
    }

    /// The proxy's counters.
    pub fn counters(&self) -> &ProxyCounters {
        &self.counters
    }

    /// The flood guard (its counters and settings).
    pub fn flood(&self) -> &FloodGuard {
        &self.flood
    }

    /// The dispatcher (members, states, counters).
    pub fn dispatcher(&self) -> &dispatch::Dispatcher {
        &self.dispatcher
    }

    /// The dispatcher, for admin actions (member state changes, DNS results).
    pub fn dispatcher_mut(&mut self) -> &mut dispatch::Dispatcher {
        &mut self.dispatcher
    }

    /// Draining: OPTIONS sent to this element are answered 503 (a front load balancer or DNS
    /// health check takes it out of rotation); calls in progress continue.
    pub fn set_draining(&mut self, draining: bool) {
        self.draining = draining;
    }

    /// Transactions, proxy contexts and dialogs held (for tests and metrics).
    pub fn sizes(&self) -> (usize, usize, usize, usize) {
        let (server, client) = self.txns.sizes();
        (server, client, self.ctxs.len(), self.dialogs.len())
    }

    /// Counts a refusal and logs it at debug level, one line naming the counter (never at
    /// info: a flood must not flood the log).
    fn refused(&mut self, r: Refusal, from: SocketAddr, call_id: &str) {
        self.counters.refused(r);
        tracing::debug!(reason = %r.as_str(), from = %from, call_id, "SIP message refused");
    }

    /// Whether `ip` is in a `trusted` network.
    fn is_trusted(&self, ip: std::net::IpAddr) -> bool {
        self.cfg.trusted.iter().any(|n| n.contains(ip))
    }

    fn collect_dispatch_events(&mut self) {
        while let Some(e) = self.dispatcher.poll_event() {
            self.events.push_back(ProxyEvent::Member(e));
        }
    }

    fn arm_housekeeping(&mut self, now: Instant) {
        if !self.housekeeping_armed {
            self.housekeeping_armed = true;
            self.timers.arm(now + HOUSEKEEPING, Wake::Housekeeping);
        }
    }

    /// The RFC 3261 timer values for new transactions.
    fn timing(&self) -> Timing {
        Timing {
            t1: self.cfg.t1,
            t2: self.cfg.t2,
            t4: self.cfg.t4,
        }
    }

    /// A server transaction's wake-up came due.
    fn server_timeout(&mut self, now: Instant, id: ServerId, at: Instant) {
        if self.txns.server_due(id, at, now) {
            let event = self.txns.server_mut(id).and_then(|s| s.txn.on_timeout(now));
            if event == Some(ServerEvent::Retransmitted) {
                self.counters.retransmissions_sent += 1;
            }
        }
        self.flush_server(id);
    }

    /// A client transaction's wake-up came due: the proxy's Timer C of a branch, then the
    /// transaction's own timers.
    fn client_timeout(&mut self, now: Instant, id: ClientId, at: Instant) {
        if self.txns.client_due(id, at, now) {
            if let Some(c) = self.txns.client_mut(id) {
                if let Role::Branch {
                    ctx,
                    timer_c: Some(t),
                } = c.role
                {
                    if t <= now {
                        c.role = Role::Branch { ctx, timer_c: None };
                        self.timer_c(now, id, ctx);
                    }
                }
            }
            match self.txns.client_mut(id).and_then(|c| c.txn.on_timeout(now)) {
                Some(ClientEvent::Retransmitted) => self.counters.retransmissions_sent += 1,
                Some(ClientEvent::Timeout) => {
                    self.client_failed(now, id, FailReason::Timeout, true);
                }
                _ => {}
            }
        }
        self.flush_client(id);
    }

    /// Sends what server transaction `id` queued; removes it when it is over, and with it
    /// its context once that is done.
    fn flush_server(&mut self, id: ServerId) {
        if !self.txns.flush_server(id, &mut self.out, &mut self.timers) {
            return;
        }
        let ctx = self.txns.remove_server(id).and_then(|s| s.ctx);
        if let Some(c) = ctx {
            if self.ctxs.get(c).is_some_and(Ctx::is_done) {
                self.ctxs.remove(c);
            }
        }
    }

    /// Sends what client transaction `id` queued; removes it when it is over.
    fn flush_client(&mut self, id: ClientId) {
        if self.txns.flush_client(id, &mut self.out, &mut self.timers) {
            self.txns.remove_client(id);
        }
    }

    /// Queues a message.
    fn send(&mut self, transport: Transport, src: SocketAddr, dst: SocketAddr, bytes: Vec<u8>) {
        self.out.push_back(Transmit {
            transport,
            src,
            dst,
            bytes,
        });
    }

    /// The listen address to send to `dst` from: the first of the same family, else the first.
    fn local_for(&self, dst: SocketAddr) -> SocketAddr {
        self.cfg
            .listen
            .iter()
            .find(|l| l.is_ipv4() == dst.is_ipv4())
            .or(self.cfg.listen.first())
            .copied()
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 5060)))
    }

    /// The sent-by / Record-Route host:port for messages leaving from `local`.
    fn our_hostport(&self, local: SocketAddr) -> String {
        let mut s = String::with_capacity(32);
        self.push_our_hostport(&mut s, local);
        s
    }

    /// Appends [`Proxy::our_hostport`] to `out`.
    fn push_our_hostport(&self, out: &mut String, local: SocketAddr) {
        match &self.cfg.advertised {
            Some(a) => {
                use std::fmt::Write;
                // Writing into a String cannot fail.
                let _ = write!(out, "{}:{}", a.host, a.port.unwrap_or(local.port()));
            }
            None => util::push_hostport(out, local),
        }
    }

    /// This element's Record-Route value for the side of a call at `peer`, reached over
    /// `transport` (RFC 3261 §16.6 item 4): the listen address of that side (a `tls_listen`
    /// one for TLS), with `;transport=` unless UDP.
    fn record_route_value(&self, transport: Transport, peer: SocketAddr) -> String {
        let local = self.listen_for(transport, self.local_for(peer));
        let mut rr = String::with_capacity(48);
        rr.push_str("<sip:");
        self.push_our_hostport(&mut rr, local);
        rr.push_str(";lr");
        if transport != Transport::Udp {
            rr.push_str(";transport=");
            rr.push_str(transport.as_str());
        }
        rr.push('>');
        rr
    }

    /// The listen address that stands for `local` on `transport`: for TLS, the `tls_listen`
    /// address of its family (where a new connection must go, RFC 3261 §18.2.2), else `local`.
    fn listen_for(&self, transport: Transport, local: SocketAddr) -> SocketAddr {
        let tls = self.cfg.tls_listen.iter();
        match tls.clone().find(|l| l.is_ipv4() == local.is_ipv4()) {
            Some(l) if transport == Transport::Tls => *l,
            _ => local,
        }
    }

    /// The Via sent-by of a request leaving from `local` over `transport`.
    fn sent_by(&self, transport: Transport, local: SocketAddr) -> String {
        self.our_hostport(self.listen_for(transport, local))
    }

    /// How many of the top Route values name this element: two after a double
    /// Record-Route (RFC 5658 §3.3), one, or none.
    fn own_routes(&self, routes: &[sip::NameAddr]) -> usize {
        routes
            .iter()
            .take(2)
            .take_while(|r| self.is_us(&r.uri))
            .count()
    }

    /// True when `uri` names this element (RFC 3261 §16.4): its host is a listen address or
    /// the advertised host, and its port one of ours (5060 when absent).
    fn is_us(&self, uri: &str) -> bool {
        let Ok(u) = sip::parse_uri(uri) else {
            return false;
        };
        let port = u.port.unwrap_or(5060);
        if let Some(ip) = util::ip_literal(u.host) {
            if self
                .cfg
                .listen
                .iter()
                .chain(&self.cfg.tls_listen)
                .any(|l| l.ip() == ip && l.port() == port)
            {
                return true;
            }
        }
        let Some(adv) = &self.cfg.advertised else {
            return false;
        };
        let host_ours = match &adv.host {
            config::UriHost::Ip(ip) => util::ip_literal(u.host) == Some(*ip),
            config::UriHost::Name(n) => n.eq_ignore_ascii_case(u.host),
        };
        let port_ours = match adv.port {
            Some(p) => p == port,
            None => (self.cfg.listen.iter())
                .chain(&self.cfg.tls_listen)
                .any(|l| l.port() == port),
        };
        host_ours && port_ours
    }
}

/// The `branch` values in `bytes`, a datagram's start as an ICMP error quoted it: each
/// `branch=` (any case) followed by a whole token (RFC 3261 §25.1, §20.42); a value cut by
/// the end of the quote is not one.
fn quoted_branches(bytes: &[u8]) -> impl Iterator<Item = &str> {
    const KEY: &[u8] = b"branch=";
    let token = |c: &u8| c.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(c);
    let mut rest = bytes;
    std::iter::from_fn(move || loop {
        let at = rest
            .windows(KEY.len())
            .position(|w| w.eq_ignore_ascii_case(KEY))?;
        let tail = rest.get(at + KEY.len()..).unwrap_or_default();
        let end = tail.iter().position(|c| !token(c))?;
        rest = tail.get(end..).unwrap_or_default();
        match tail.get(..end).map(std::str::from_utf8) {
            Some(Ok(b)) if !b.is_empty() => return Some(b),
            _ => continue,
        }
    })
}
