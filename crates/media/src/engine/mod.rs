//! The media anchoring engine: answers rtpengine ng commands, allocates relay ports, rewrites
//! SDP, programs the workers, and ends calls on timeouts. Sans-IO: datagrams, worker events and
//! time come in as arguments; datagrams to send and worker commands come out of `poll_*`.

mod adopt;
mod anchor;
mod answer;
mod inspect;
mod offer;
mod relays;
mod report;
mod teardown;
mod timers;
mod tune;
mod types;

pub use adopt::{AdoptError, AdoptedCall, AdoptedLeg, AdoptedStream};
pub use anchor::{anchor_key, anchored_call_id, ANCHOR_PREFIX};
pub use inspect::{InspectSink, MediaLeg, MediaStream, MediaView, RemoteView};
pub use tune::{SessionCap, Tunables};

pub use types::{
    AnchorError, EndReason, EngineConfig, EngineCounters, EngineEvent, Interface, PortBinder,
    SdpExchange, Transmit, VirtualBinder,
};

use crate::alloc::PortAllocator;
use crate::call::{Call, CallStats};
use crate::cookie::{Cached, CookieCache, MAX_ENTRIES};
use crate::guard::{Guard, GuardConfig, Verdict};
use dataplane::PortKey;
use dataplane::{FlowCommand, FlowEvent, IdleReason, PortLayout, SharedCounters, StreamStats};
use ng::bencode::{DictBuilder, OwnedValue};
use ng::Command;
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a `query`/`delete` waits for worker stats before replying with what it has.
const STATS_WAIT: Duration = Duration::from_secs(1);
/// The refusal text of an offer beyond `max_sessions`.
const LOAD_LIMIT: &str = "load limit: too many sessions";
/// Anchored calls ended and not yet taken by the SIP proxy, at most (the oldest go first).
const MAX_ANCHORED_ENDED: usize = 65_536;
/// How often calls are scanned for offer and final timeouts.
const SCAN_PERIOD: Duration = Duration::from_secs(1);

/// What a pending `query`/`delete` reply waits for.
#[derive(Debug)]
struct Pending {
    purpose: Purpose,
    call: Call,
    stats: CallStats,
    waiting: usize,
    due: Instant,
    now: Instant,
}

/// What the stats a [`Pending`] gathers are for.
#[derive(Debug)]
enum Purpose {
    /// An ng `query` or `delete`: the reply to `cookie` from `to`.
    Reply { cookie: Vec<u8>, to: SocketAddr },
    /// An anchored call's check for RTP from each party.
    RtpCheck,
    /// The admin socket's look at an anchored call.
    Inspect(inspect::Sink),
}

/// A deleted call still relaying until `due`.
#[derive(Debug)]
struct Zombie {
    due: Instant,
    pairs: Vec<(usize, [PortKey; 2])>,
}

/// The engine.
pub struct Engine {
    cfg: EngineConfig,
    /// The data plane's port layout (it only grows, by [`Engine::set_relays`]).
    layout: Arc<PortLayout>,
    alloc: PortAllocator,
    binder: Box<dyn PortBinder>,
    names: Vec<String>,
    calls: HashMap<Vec<u8>, Call>,
    by_key: HashMap<PortKey, Vec<u8>>,
    cookies: CookieCache,
    guard: Guard,
    commands: VecDeque<(usize, FlowCommand)>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<EngineEvent>,
    pending: HashMap<u64, Pending>,
    next_token: u64,
    zombies: VecDeque<Zombie>,
    releasing: HashMap<u64, (usize, [PortKey; 2])>,
    counters: EngineCounters,
    shared: Vec<Arc<SharedCounters>>,
    /// Commands handed to each worker's ring ([`Engine::poll_command`] less the requeued).
    handed: Vec<u64>,
    next_scan: Option<Instant>,
    /// Anchored calls the engine ended on a timeout, for the SIP proxy to end (BYE).
    anchored_ended: VecDeque<(Vec<u8>, EndReason)>,
    /// Anchored calls with a party silent at their RTP check, for the SIP proxy to count.
    anchored_silent: VecDeque<(Vec<u8>, Vec<Vec<u8>>)>,
    /// New sessions refused whatever `max_sessions` says (`params.set media.max_sessions 0`).
    drained: bool,
    /// An HA standby: anchored calls are not ended by timeouts ([`Engine::set_standby`]).
    standby: bool,
    /// Until then (after a takeover) anchored calls are not ended for want of media.
    takeover_grace: Option<Instant>,
    /// The calls' deadlines and the calls with an idle stream (what the scan looks at).
    timers: timers::Deadlines,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("calls", &self.calls.len())
            .field("pending", &self.pending.len())
            .finish()
    }
}

/// Why call `c` ends at `now`, if it does: an ng call's offer unanswered for `offer_timeout`,
/// any call older than `final_timeout`, an answered call whose every stream is idle (on hold
/// if any is held, else no RTP).
fn ending(c: &Call, now: Instant, cfg: &EngineConfig) -> Option<EndReason> {
    let age = now.saturating_duration_since(c.created);
    // An anchored call's offer waits as long as the SIP transaction does (the proxy releases
    // it when the INVITE fails or its early dialog expires).
    if c.state == crate::call::CallState::Offered
        && anchored_call_id(&c.call_id).is_none()
        && now.saturating_duration_since(c.last_signal) >= cfg.offer_timeout
    {
        return Some(EndReason::OfferTimeout);
    }
    if cfg.final_timeout.is_some_and(|f| age >= f) {
        return Some(EndReason::FinalTimeout);
    }
    if c.state == crate::call::CallState::Answered
        && c.live_pairs().next().is_some()
        && c.live_pairs().all(|p| p.idle.is_some())
    {
        // Every stream idle; an unanswered call ends by the offer timeout instead.
        let hold = c.live_pairs().any(|p| p.idle == Some(IdleReason::OnHold));
        return Some(if hold {
            EndReason::OnHold
        } else {
            EndReason::NoRtp
        });
    }
    None
}

/// `{result: error, error-reason: reason}`.
fn error_reply(reason: &str) -> OwnedValue {
    DictBuilder::new()
        .with("result", "error")
        .with("error-reason", reason)
        .build()
}

/// Logs (at debug) the flags and keys of a request that the engine does not act on.
fn log_ignored(command: &'static str, req: &ng::Request<'_>) {
    let flags: Vec<String> = req
        .unknown_flags
        .iter()
        .map(|f| String::from_utf8_lossy(f).into_owned())
        .collect();
    let keys: Vec<String> = req
        .other_keys
        .iter()
        .map(|(k, _)| String::from_utf8_lossy(k).into_owned())
        .collect();
    tracing::debug!(command, ?flags, ?keys, "ng flags and keys ignored");
}

/// A request error: the reason sent back, and its kind.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Refusal(AnchorError);

impl<T: std::fmt::Display> From<T> for Refusal {
    fn from(t: T) -> Self {
        Refusal(AnchorError::Refused(t.to_string()))
    }
}

impl Refusal {
    /// No room for the session (sessions, ports, descriptors).
    fn overloaded(reason: impl Into<String>) -> Self {
        Refusal(AnchorError::Overloaded(reason.into()))
    }

    /// An SDP that cannot be read or rewritten.
    fn bad_sdp(reason: impl Into<String>) -> Self {
        Refusal(AnchorError::BadSdp(reason.into()))
    }

    /// Any other refusal.
    fn refused(reason: impl Into<String>) -> Self {
        Refusal(AnchorError::Refused(reason.into()))
    }
}

impl Engine {
    /// An engine over `layout` (whose address order is `cfg.interfaces`' order); `shared` are the
    /// workers' published counters (for `statistics`).
    pub fn new(
        cfg: EngineConfig,
        layout: Arc<PortLayout>,
        binder: Box<dyn PortBinder>,
        shared: Vec<Arc<SharedCounters>>,
    ) -> Self {
        let mut names: Vec<String> = Vec::new();
        for i in &cfg.interfaces {
            if !names.contains(&i.name) {
                names.push(i.name.clone());
            }
        }
        let alloc = PortAllocator::new(&layout);
        let cookies = CookieCache::new(cfg.cookie_ttl, MAX_ENTRIES);
        let guard = Guard::new(cfg.guard.clone());
        Self {
            cfg,
            layout,
            alloc,
            binder,
            names,
            calls: HashMap::new(),
            by_key: HashMap::new(),
            cookies,
            guard,
            commands: VecDeque::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            pending: HashMap::new(),
            next_token: 1,
            zombies: VecDeque::new(),
            releasing: HashMap::new(),
            counters: EngineCounters::default(),
            handed: vec![0; shared.len()],
            shared,
            next_scan: None,
            anchored_ended: VecDeque::new(),
            anchored_silent: VecDeque::new(),
            drained: false,
            standby: false,
            takeover_grace: None,
            timers: timers::Deadlines::default(),
        }
    }

    /// An ng datagram from `from` at `now`. The source allow-list and rate limit come first
    /// (a refused datagram is counted and dropped, unread and unanswered), then the cookie
    /// cache of `from`, then the request.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, data: &[u8]) {
        let verdict = self.guard.check(now, from.ip());
        self.counters.guard = self.guard.counters();
        match verdict {
            Verdict::Allowed => {}
            Verdict::NotAllowed | Verdict::RateLimited => return,
        }
        let Ok((cookie, body)) = ng::split_cookie(data) else {
            // Without a cookie there is nobody to answer (rtpengine drops these too).
            self.counters.malformed += 1;
            return;
        };
        match self.cookies.get(from, cookie) {
            Some(Cached::Reply(r)) => {
                self.counters.cookie_hits += 1;
                let data = r.clone();
                self.transmits.push_back(Transmit {
                    dst: from,
                    bytes: data,
                });
            }
            Some(Cached::InProgress) => self.counters.cookie_hits += 1,
            None => self.request(now, from, cookie, body),
        }
    }

    /// Replaces the source allow-list and rate limit (a reload).
    pub fn reconfigure_guard(&mut self, cfg: GuardConfig) {
        self.guard.reconfigure(cfg);
    }

    /// The source allow-list and rate limit in force.
    pub fn guard(&self) -> &GuardConfig {
        self.guard.config()
    }

    /// A new request (not in the cookie cache) from `from`: decoded, run, answered.
    fn request(&mut self, now: Instant, from: SocketAddr, cookie: &[u8], body: &[u8]) {
        let value = match ng::bencode::decode(body) {
            Ok(v) => v,
            Err(e) => {
                self.counters.malformed += 1;
                let reason = format!("malformed bencode: {e}");
                self.fail(None, "unknown", &reason);
                return self.reply(now, cookie, from, &error_reply(&reason));
            }
        };
        let req = match ng::parse_request(&value) {
            Ok(r) => r,
            Err(e) => {
                self.counters.malformed += 1;
                let reason = e.to_string();
                self.fail(None, "unknown", &reason);
                return self.reply(now, cookie, from, &error_reply(&reason));
            }
        };
        let name = req.command.as_str();
        *self.counters.requests.entry(name).or_default() += 1;
        if !req.unknown_flags.is_empty() || !req.other_keys.is_empty() {
            log_ignored(name, &req);
        }
        let result = match req.command {
            Command::Ping => Ok(Some(DictBuilder::new().with("result", "pong").build())),
            Command::Offer => self.offer(now, &req).map(Some),
            Command::Answer => self.answer(now, &req).map(Some),
            Command::Delete => self.delete(now, cookie, from, &req),
            Command::Query => self.query(now, cookie, from, &req),
            Command::List => Ok(Some(self.list(&req))),
            Command::Statistics => Ok(Some(self.statistics())),
        };
        match result {
            Ok(Some(reply)) => self.reply(now, cookie, from, &reply),
            Ok(None) => self.cookies.put(now, from, cookie, Cached::InProgress),
            Err(Refusal(AnchorError::Overloaded(r)))
                if r == LOAD_LIMIT && req.supports_load_limit =>
            {
                let reply = DictBuilder::new()
                    .with("result", "load limit")
                    .with("message", "Too many sessions")
                    .build();
                self.reply(now, cookie, from, &reply);
            }
            Err(Refusal(reason)) => {
                let reason = reason.to_string();
                let call_id = req.call_id.map(|c| String::from_utf8_lossy(c).into_owned());
                self.fail(call_id, name, &reason);
                self.reply(now, cookie, from, &error_reply(&reason));
            }
        }
    }

    fn fail(&mut self, call_id: Option<String>, command: &'static str, reason: &str) {
        self.counters.errors += 1;
        self.events.push_back(EngineEvent::RequestFailed {
            call_id,
            command,
            reason: reason.to_string(),
        });
    }

    fn reply(&mut self, now: Instant, cookie: &[u8], to: SocketAddr, v: &OwnedValue) {
        let data = ng::frame(cookie, v);
        self.cookies
            .put(now, to, cookie, Cached::Reply(data.clone()));
        self.transmits.push_back(Transmit {
            dst: to,
            bytes: data,
        });
    }

    /// An event from worker `worker`.
    pub fn handle_event(&mut self, now: Instant, worker: usize, ev: FlowEvent) {
        match ev {
            FlowEvent::Stats { token, pair } => self.stats_arrived(now, token, pair),
            FlowEvent::Removed { token, pair: _ } => {
                if let Some((w, keys)) = self.releasing.remove(&token) {
                    for k in keys {
                        self.alloc.give_back(w, k);
                    }
                }
            }
            FlowEvent::InstallFailed { key } => {
                self.events
                    .push_back(EngineEvent::InstallFailed { worker, key });
            }
            FlowEvent::Idle { key, reason } => self.pair_idle(key, Some(reason)),
            FlowEvent::Active { key } => self.pair_idle(key, None),
        }
    }

    /// Marks the pair holding `key` idle (or active again). Calls are ended by the periodic
    /// scan in [`handle_timeout`](Self::handle_timeout), which decides every timeout in one place.
    fn pair_idle(&mut self, key: PortKey, reason: Option<IdleReason>) {
        let Some(call) = self.by_key.get(&key).and_then(|id| self.calls.get_mut(id)) else {
            return;
        };
        if reason.is_some() {
            self.timers.note_idle(&call.call_id);
        }
        for p in call.pairs.iter_mut().flatten() {
            if p.keys.contains(&key) {
                p.idle = reason;
            }
        }
    }

    /// Timers: offer/final timeouts, delete-delay expiry, cookie expiry, overdue stats.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.cookies.expire(now);
        while self.zombies.front().is_some_and(|z| z.due <= now) {
            if let Some(z) = self.zombies.pop_front() {
                for (w, keys) in z.pairs {
                    self.remove_pair(w, keys);
                }
            }
        }
        let overdue: Vec<u64> = self
            .pending
            .iter()
            .filter(|(_, p)| p.due <= now)
            .map(|(t, _)| *t)
            .collect();
        for t in overdue {
            if let Some(p) = self.pending.remove(&t) {
                self.finish_pending(now, p);
            }
        }
        if self.next_scan.is_none_or(|t| now >= t) {
            self.next_scan = Some(now + SCAN_PERIOD);
            self.scan(now);
        }
    }

    /// The once-a-second decision of which calls end: the calls with a deadline due or an
    /// idle stream, not every call held ([`timers`]).
    fn scan(&mut self, now: Instant) {
        let grace = self.standby || self.takeover_grace.is_some_and(|t| now < t);
        let mut candidates = Vec::new();
        let mut rtp_due = Vec::new();
        for (slot, key, kind) in self.timers.due(now) {
            let Some(c) = self.calls.get_mut(&key) else {
                continue;
            };
            if timers::take(&mut c.timers, kind, slot) {
                match kind {
                    timers::Kind::RtpCheck => rtp_due.push(key),
                    timers::Kind::Final | timers::Kind::Offer => candidates.push(key),
                }
            }
        }
        candidates.extend(self.timers.idle());
        let mut ended = Vec::new();
        for key in candidates {
            let Some(c) = self.calls.get_mut(&key) else {
                self.timers.not_idle(&key);
                continue;
            };
            if grace && anchored_call_id(&key).is_some() {
                // Looked at again after the grace (a deadline taken is put back).
                self.timers.sync(c, &self.cfg);
                continue;
            }
            match ending(c, now, &self.cfg) {
                Some(why) => ended.push((key, why)),
                None if c.live_pairs().all(|p| p.idle.is_none()) => self.timers.not_idle(&key),
                None => {}
            }
        }
        for (id, why) in ended {
            self.end_call(now, &id, why);
        }
        self.run_rtp_checks(now, rtp_due);
    }

    /// The next time [`handle_timeout`](Self::handle_timeout) has work.
    pub fn poll_timeout(&self) -> Option<Instant> {
        // Before the first scan (`next_scan` unset) the driver's first tick runs it.
        let mut t = self.next_scan;
        let mut min = |d: Option<Instant>| {
            if let Some(d) = d {
                t = Some(t.map_or(d, |x| x.min(d)));
            }
        };
        min(self.cookies.next_expiry());
        min(self.zombies.front().map(|z| z.due));
        min(self.pending.values().map(|p| p.due).min());
        t
    }

    /// Next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// Next command for a worker: (worker index, command).
    pub fn poll_command(&mut self) -> Option<(usize, FlowCommand)> {
        let next = self.commands.pop_front();
        if let Some(h) = next.as_ref().and_then(|(w, _)| self.handed.get_mut(*w)) {
            *h += 1;
        }
        next
    }

    /// Commands waiting for each worker: handed to its ring and not taken yet (by the count it
    /// publishes every housekeeping tick, so a reading lags by one tick at most), plus those
    /// held back here while its ring was full. A worker that falls behind shows here first.
    pub fn queue_depths(&self) -> Vec<u64> {
        let mut out: Vec<u64> = self
            .handed
            .iter()
            .zip(&self.shared)
            .map(|(h, s)| h.saturating_sub(s.read().commands))
            .collect();
        for (w, _) in &self.commands {
            if let Some(d) = out.get_mut(*w) {
                *d += 1;
            }
        }
        out
    }

    /// Puts back a command the worker's ring had no room for (it goes first next time).
    pub fn requeue_command(&mut self, worker: usize, cmd: FlowCommand) {
        if let Some(h) = self.handed.get_mut(worker) {
            *h = h.saturating_sub(1);
        }
        self.commands.push_front((worker, cmd));
    }

    /// Next event to log.
    pub fn poll_event(&mut self) -> Option<EngineEvent> {
        self.events.pop_front()
    }

    /// Control-plane counters.
    pub fn counters(&self) -> &EngineCounters {
        &self.counters
    }

    /// Calls held.
    pub fn calls(&self) -> usize {
        self.calls.len()
    }

    /// Free relay port pairs on relay address `addr` (the index of its `[[interface]]`
    /// entry: the layout's address order), all workers together.
    pub fn free_pairs(&self, addr: u16) -> usize {
        self.alloc.free_on(addr)
    }

    /// Relay port pairs in use on relay address `addr` (including those in delete-delay or
    /// being released), all workers together.
    pub fn pairs_used_on(&self, addr: u16) -> usize {
        self.alloc.used_on(addr)
    }

    /// Relay port pairs in use (including those in delete-delay or being released).
    pub fn pairs_in_use(&self) -> usize {
        self.alloc.used_total()
    }

    fn token(&mut self) -> u64 {
        self.next_token += 1;
        self.next_token
    }

    /// Ends a call without a reply (timeouts): media stops now.
    fn end_call(&mut self, _now: Instant, call_id: &[u8], why: EndReason) {
        let Some(call) = self.take_call(call_id) else {
            return;
        };
        *self.counters.ended.entry(why.name()).or_default() += 1;
        for p in call.live_pairs() {
            self.remove_pair(p.worker, p.keys);
        }
        if let Some(sip_call_id) = anchored_call_id(call_id) {
            if self.anchored_ended.len() >= MAX_ANCHORED_ENDED {
                self.anchored_ended.pop_front();
            }
            self.anchored_ended.push_back((sip_call_id.to_vec(), why));
        }
        self.events.push_back(EngineEvent::CallEnded {
            call_id: String::from_utf8_lossy(call_id).into_owned(),
            reason: why,
        });
    }

    /// The next anchored call (its SIP Call-ID) the engine ended on a timeout: its ports are
    /// gone, and the SIP proxy ends its dialog.
    pub fn poll_anchored_end(&mut self) -> Option<(Vec<u8>, EndReason)> {
        self.anchored_ended.pop_front()
    }

    /// Removes a call from the maps (its ports stay allocated until released).
    fn take_call(&mut self, call_id: &[u8]) -> Option<Call> {
        let call = self.calls.remove(call_id)?;
        self.timers.forget(&call);
        for p in call.live_pairs() {
            for k in p.keys {
                self.by_key.remove(&k);
            }
        }
        Some(call)
    }

    fn remove_pair(&mut self, worker: usize, keys: [PortKey; 2]) {
        let token = self.token();
        self.releasing.insert(token, (worker, keys));
        self.commands.push_back((
            worker,
            FlowCommand::Remove {
                token,
                key: keys[0],
            },
        ));
    }

    fn stats_arrived(&mut self, now: Instant, token: u64, pair: Option<[StreamStats; 2]>) {
        let (id, idx) = (token >> 16, (token & 0xffff) as usize);
        let Some(p) = self.pending.get_mut(&id) else {
            return;
        };
        if let Some(slot) = p.stats.pairs.get_mut(idx) {
            *slot = pair;
        }
        p.waiting = p.waiting.saturating_sub(1);
        if p.waiting == 0 {
            if let Some(p) = self.pending.remove(&id) {
                self.finish_pending(now, p);
            }
        }
    }

    /// Asks the workers for the stats of every pair of `call`; the reply goes out when all
    /// have answered (or after [`STATS_WAIT`]).
    fn gather(&mut self, now: Instant, purpose: Purpose, call: Call) {
        let id = self.token();
        let n = call.pairs.len().min(0xffff);
        let mut waiting = 0;
        for (i, p) in call.pairs.iter().take(n).enumerate() {
            if let Some(p) = p {
                self.commands.push_back((
                    p.worker,
                    FlowCommand::Query {
                        token: (id << 16) | i as u64,
                        key: p.keys[0],
                    },
                ));
                waiting += 1;
            }
        }
        let pending = Pending {
            purpose,
            stats: CallStats {
                pairs: vec![None; call.pairs.len()],
            },
            call,
            waiting,
            due: now + STATS_WAIT,
            now,
        };
        if waiting == 0 {
            self.finish_pending(now, pending);
        } else {
            self.pending.insert(id, pending);
        }
    }

    fn finish_pending(&mut self, now: Instant, p: Pending) {
        match p.purpose {
            Purpose::Reply { cookie, to } => {
                let reply = report::call_reply(
                    &p.call,
                    &p.stats,
                    (self.cfg.epoch, p.now),
                    &self.cfg.interfaces,
                );
                self.reply(now, &cookie, to, &reply);
            }
            Purpose::RtpCheck => self.rtp_checked(&p.call, &p.stats),
            Purpose::Inspect(sink) => self.inspected(now, &p.call, &p.stats, sink),
        }
    }
}
