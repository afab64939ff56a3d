//! Flood protection at the SIP edge, Kamailio's `pike` + `ratelimit` built in (`[sip.flood]`).
//!
//! [`FloodGuard::check`] runs first thing in [`crate::Proxy::handle_message`], before a byte
//! of the message is read, so a refused message costs a hash lookup and creates no state
//! beyond its source's entry here:
//!
//! - **Sources.** An IPv4 address, or an IPv6 network of `ipv6_prefix` bits (an attacker
//!   owns a whole /64). IPv4-mapped IPv6 addresses count as the IPv4 address they carry.
//! - **Token buckets.** Every message from a source takes a token; `rate` tokens a second
//!   come back, at most `burst` are held. A message that finds the bucket empty is dropped
//!   unanswered and counted (`limited`), as pike drops: a 503 would cost a response per
//!   flooded message and reflect traffic toward a forged source, and a real client
//!   retransmits (RFC 3261 §17.1.1.2) once the burst has passed.
//! - **Bans.** A source whose messages keep being refused (refusals less than a second apart)
//!   for `ban_after` is banned for `ban`: everything it sends is dropped (`banned`), and
//!   nothing is sent to it ([`FloodGuard::is_banned`], checked on every transmit). The ban
//!   ends when its time is up (counted `bans_expired`, with an event).
//! - **Exemptions.** Pool members (the address of any member of any set, whatever the port)
//!   and `trusted` networks are never limited nor banned, nor refused what the proxy sends
//!   them, also inside a banned IPv6 network. They are asked only when a message would be
//!   refused, so the path of a source within its rate never looks at them.
//! - **Bounded.** At most `max_sources` entries. To make room the oldest entry goes, unless
//!   it was seen again since it was queued, or is over its rate or banned: then it goes to
//!   the back (a second chance, at most [`EVICT_SCAN`] per insertion). A flood of spoofed
//!   addresses, each seen once, evicts itself, not the real flooder nor the active callers.
//!   Bans wait in a heap by their end, bounded the same way.

use crate::hasher::Map;
use crate::types::ProxyEvent;
use config::FloodConfig;
use dispatch::{Cidr, Dispatcher};
use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashSet, VecDeque};
use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::time::{Duration, Instant};

/// Refusals further apart than this end a source's spell over its rate.
pub const OVER_GAP: Duration = Duration::from_secs(1);
/// The member addresses are looked up again from the dispatcher at most this often.
pub const MEMBERS_REFRESH: Duration = Duration::from_secs(1);
/// Entries worth keeping (seen again, over their rate, banned) that one insertion may pass
/// over before it evicts regardless.
pub const EVICT_SCAN: usize = 8;

/// One token in `credit` units (a billionth of a token each: refills are exact integers).
const TOKEN: u64 = 1_000_000_000;

/// The guard's decision on one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Within its rate, exempt, or the guard is off: handle it.
    Pass,
    /// Over its rate: drop it unanswered.
    Limited,
    /// Its source is banned: drop it unanswered.
    Banned,
}

/// What the guard has done since start (monotonic), and what it holds now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FloodCounters {
    /// Messages dropped because their source was over its rate.
    pub limited: u64,
    /// Messages dropped because their source was banned.
    pub banned: u64,
    /// Bans started.
    pub bans_started: u64,
    /// Bans that ran their time.
    pub bans_expired: u64,
    /// Bans ended early: the source was evicted, or the guard was turned off or re-keyed by
    /// a reload.
    pub bans_lifted: u64,
    /// Entries forgotten to make room for new sources.
    pub evicted: u64,
    /// Messages the proxy would have sent to a banned source, not sent.
    pub not_sent: u64,
    /// Sources tracked now.
    pub tracked: u64,
    /// Sources banned now.
    pub banned_now: u64,
}

impl fmt::Display for FloodCounters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "limited {}, banned {}, bans started {}, expired {}, lifted {}, evicted {}, \
             not sent {}, tracked {}, banned now {}",
            self.limited,
            self.banned,
            self.bans_started,
            self.bans_expired,
            self.bans_lifted,
            self.evicted,
            self.not_sent,
            self.tracked,
            self.banned_now
        )
    }
}

/// A ban starting or ending, for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FloodEvent {
    /// `source` is banned for `ban`.
    Banned {
        /// The source (an IPv4 address as /32, or an IPv6 network).
        source: Cidr,
        /// How long.
        ban: Duration,
        /// How long it had been over its rate.
        over_for: Duration,
        /// Its messages let through, and refused, since it was first tracked.
        passed: u64,
        /// Its messages refused so far.
        refused: u64,
        /// The guard's counters, this ban included.
        counters: FloodCounters,
    },
    /// `source`'s ban ran its time.
    BanExpired {
        /// The source.
        source: Cidr,
        /// Its messages dropped during the ban.
        dropped: u64,
        /// The guard's counters.
        counters: FloodCounters,
    },
}

impl fmt::Display for FloodEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FloodEvent::Banned {
                source,
                ban,
                over_for,
                passed,
                refused,
                counters,
            } => write!(
                f,
                "source {source} banned for {} s after {:.1} s over its rate ({passed} \
                 messages passed, {refused} refused); {counters}",
                ban.as_secs(),
                over_for.as_secs_f64()
            ),
            FloodEvent::BanExpired {
                source,
                dropped,
                counters,
            } => write!(
                f,
                "ban of source {source} expired ({dropped} messages dropped while banned); {counters}"
            ),
        }
    }
}

/// One source's state. Times are nanoseconds since the guard's epoch, plus one, so that 0
/// can mean "none".
#[derive(Debug, Clone, Copy)]
struct Entry {
    /// Tokens held, in billionths of a token.
    credit: u64,
    /// When `credit` was last brought up to date.
    at: u64,
    /// Since when its messages have been refused (0: not over its rate).
    over_since: u64,
    /// Its latest refusal.
    last_refused: u64,
    /// When its ban ends (0: not banned).
    banned_until: u64,
    /// Messages let through since it was first tracked.
    passed: u64,
    /// Messages refused since it was first tracked (limited or banned).
    refused: u64,
    /// Messages dropped during its current or latest ban.
    dropped_banned: u64,
    /// Its latest message.
    seen: u64,
}

impl Entry {
    /// Over its rate lately, or banned: worth a second chance at eviction.
    fn is_hot(&self, now: u64) -> bool {
        self.banned_until > now
            || (self.over_since != 0 && now.saturating_sub(self.last_refused) < gap())
    }
}

/// [`OVER_GAP`] in nanoseconds.
fn gap() -> u64 {
    nanos(OVER_GAP)
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// A ban's end, ordered by time (then by source, so that the order agrees with `Eq`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct BanEnd {
    end: u64,
    source: Cidr,
}

impl Ord for BanEnd {
    fn cmp(&self, other: &Self) -> Ordering {
        let bits = |c: &Cidr| match c.addr {
            IpAddr::V4(a) => (0u8, u128::from(u32::from(a)), c.prefix_len),
            IpAddr::V6(a) => (1u8, u128::from(a), c.prefix_len),
        };
        (self.end, bits(&self.source)).cmp(&(other.end, bits(&other.source)))
    }
}

impl PartialOrd for BanEnd {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Who is exempt: `trusted` networks and the pool members' addresses (cached).
#[derive(Debug, Default)]
struct Exempt {
    trusted: Vec<Cidr>,
    members: HashSet<IpAddr>,
    /// When `members` was last read from the dispatcher (None: never).
    read_at: Option<Instant>,
}

impl Exempt {
    /// Whether `ip` is trusted or a member's address, read from `dispatcher` now.
    fn contains_now(&self, ip: IpAddr, dispatcher: &Dispatcher) -> bool {
        self.trusted.iter().any(|n| n.contains(ip))
            || dispatcher
                .snapshot()
                .any(|m| m.member.target().ip().to_canonical() == ip)
    }

    /// Whether `ip` is trusted or a member's address; the members are read again from
    /// `dispatcher` when the copy is older than [`MEMBERS_REFRESH`].
    fn contains(&mut self, now: Instant, ip: IpAddr, dispatcher: &Dispatcher) -> bool {
        if self.trusted.iter().any(|n| n.contains(ip)) {
            return true;
        }
        let stale = self
            .read_at
            .is_none_or(|t| now.saturating_duration_since(t) >= MEMBERS_REFRESH);
        if stale {
            self.members.clear();
            self.members.extend(
                dispatcher
                    .snapshot()
                    .map(|m| m.member.target().ip().to_canonical()),
            );
            self.read_at = Some(now);
        }
        self.members.contains(&ip)
    }
}

/// The per-source limiter and ban list. Sans-IO: time comes in as arguments.
#[derive(Debug)]
pub struct FloodGuard {
    cfg: FloodConfig,
    epoch: Instant,
    table: Map<Cidr, Entry>,
    /// Every key of `table` once, with when it was queued, oldest first (eviction order).
    order: VecDeque<(Cidr, u64)>,
    /// Bans, the one that ends first on top.
    bans: BinaryHeap<Reverse<BanEnd>>,
    exempt: Exempt,
    counters: FloodCounters,
}

impl FloodGuard {
    /// A guard applying `cfg`, never limiting `trusted` networks; `now` is its epoch.
    pub fn new(cfg: FloodConfig, trusted: Vec<Cidr>, now: Instant) -> Self {
        FloodGuard {
            cfg,
            epoch: now,
            table: Map::default(),
            order: VecDeque::new(),
            bans: BinaryHeap::new(),
            exempt: Exempt {
                trusted,
                ..Exempt::default()
            },
            counters: FloodCounters::default(),
        }
    }

    /// Applies new settings (a reload). Buckets and bans stay, unless the guard is turned
    /// off or IPv6 sources are keyed by another prefix: then every source starts afresh
    /// (its bans counted as lifted). The member addresses are read again at the next need.
    pub fn reconfigure(&mut self, cfg: FloodConfig, trusted: Vec<Cidr>) {
        if !cfg.enabled || cfg.ipv6_prefix != self.cfg.ipv6_prefix {
            self.counters.bans_lifted += self.counters.banned_now;
            self.counters.banned_now = 0;
            self.table.clear();
            self.order.clear();
            self.bans.clear();
        }
        self.cfg = cfg;
        self.exempt.trusted = trusted;
        self.exempt.read_at = None;
    }

    /// The settings in force.
    pub fn config(&self) -> &FloodConfig {
        &self.cfg
    }

    /// The source `ip` counts as: itself for IPv4, its `ipv6_prefix` network for IPv6.
    pub fn source_of(&self, ip: IpAddr) -> Cidr {
        match ip.to_canonical() {
            IpAddr::V4(a) => Cidr {
                addr: IpAddr::V4(a),
                prefix_len: 32,
            },
            IpAddr::V6(a) => {
                let len = self.cfg.ipv6_prefix.min(128);
                let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
                Cidr {
                    addr: IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask)),
                    prefix_len: len,
                }
            }
        }
    }

    /// Decides on one message from `ip` at `now` and counts it. Ban starts and ends go to
    /// `events`. `dispatcher` names the pool members (exempt).
    pub fn check(
        &mut self,
        now: Instant,
        ip: IpAddr,
        dispatcher: &Dispatcher,
        events: &mut VecDeque<ProxyEvent>,
    ) -> Verdict {
        if !self.cfg.enabled {
            return Verdict::Pass;
        }
        let t = self.nanos_at(now);
        self.expire_at(t, events);
        let key = self.source_of(ip);
        let ip = ip.to_canonical();
        if !self.table.contains_key(&key) {
            self.make_room(t);
            self.order.push_back((key, t));
        }
        let full = u64::from(self.cfg.burst.get()) * TOKEN;
        let e = self.table.entry(key).or_insert(Entry {
            credit: full,
            at: t,
            over_since: 0,
            last_refused: 0,
            banned_until: 0,
            passed: 0,
            refused: 0,
            dropped_banned: 0,
            seen: t,
        });
        e.seen = t;
        if e.banned_until > t {
            // An exempt address inside a banned IPv6 network is still let through.
            if self.exempt.contains(now, ip, dispatcher) {
                return Verdict::Pass;
            }
            e.refused += 1;
            e.dropped_banned += 1;
            self.counters.banned += 1;
            return Verdict::Banned;
        }
        if take_token(e, t, u64::from(self.cfg.rate.get()), full)
            || self.exempt.contains(now, ip, dispatcher)
        {
            e.passed += 1;
            return Verdict::Pass;
        }
        e.refused += 1;
        self.counters.limited += 1;
        if e.over_since == 0 || t.saturating_sub(e.last_refused) >= gap() {
            e.over_since = t;
        }
        e.last_refused = t;
        let over_for = t.saturating_sub(e.over_since);
        if !self.cfg.ban.is_zero() && over_for >= nanos(self.cfg.ban_after) {
            self.ban(key, t, over_for, events);
        }
        Verdict::Limited
    }

    /// Starts `key`'s ban at `t`, after `over_for` nanoseconds over its rate.
    fn ban(&mut self, key: Cidr, t: u64, over_for: u64, events: &mut VecDeque<ProxyEvent>) {
        let until = t.saturating_add(nanos(self.cfg.ban));
        let Some(e) = self.table.get_mut(&key) else {
            return;
        };
        e.banned_until = until;
        e.over_since = 0;
        e.dropped_banned = 0;
        let (passed, refused) = (e.passed, e.refused);
        self.counters.bans_started += 1;
        self.counters.banned_now += 1;
        // Bounded like the table: the ban that ends first makes room (lifted).
        while self.bans.len() >= self.max_sources() {
            if let Some(Reverse(old)) = self.bans.pop() {
                self.end_ban(old.source, old.end, false, events);
            }
        }
        self.bans.push(Reverse(BanEnd {
            end: until,
            source: key,
        }));
        events.push_back(ProxyEvent::Flood(FloodEvent::Banned {
            source: key,
            ban: self.cfg.ban,
            over_for: Duration::from_nanos(over_for),
            passed,
            refused,
            counters: self.counters(),
        }));
    }

    /// Ends the bans whose time is up at `now` (also done on every [`FloodGuard::check`]).
    pub fn expire(&mut self, now: Instant, events: &mut VecDeque<ProxyEvent>) {
        let t = self.nanos_at(now);
        self.expire_at(t, events);
    }

    fn expire_at(&mut self, t: u64, events: &mut VecDeque<ProxyEvent>) {
        while let Some(Reverse(first)) = self.bans.peek().copied() {
            if first.end > t {
                break;
            }
            self.bans.pop();
            self.end_ban(first.source, first.end, true, events);
        }
    }

    /// Ends `key`'s ban if it is still the one that ends at `end` (it may have been lifted
    /// or the entry evicted since): `expired` when its time is up, lifted otherwise.
    fn end_ban(&mut self, key: Cidr, end: u64, expired: bool, events: &mut VecDeque<ProxyEvent>) {
        let Some(e) = self.table.get_mut(&key) else {
            return;
        };
        if e.banned_until != end {
            return;
        }
        e.banned_until = 0;
        let dropped = e.dropped_banned;
        self.counters.banned_now = self.counters.banned_now.saturating_sub(1);
        if !expired {
            self.counters.bans_lifted += 1;
            return;
        }
        self.counters.bans_expired += 1;
        events.push_back(ProxyEvent::Flood(FloodEvent::BanExpired {
            source: key,
            dropped,
            counters: self.counters(),
        }));
    }

    /// Evicts entries, oldest first, until one more fits. An entry seen since it was queued,
    /// over its rate or banned goes to the back instead, at most [`EVICT_SCAN`] times per
    /// call.
    fn make_room(&mut self, t: u64) {
        let mut passed_over = 0;
        while self.table.len() >= self.max_sources() {
            let Some((key, queued)) = self.order.pop_front() else {
                break;
            };
            let keep = self
                .table
                .get(&key)
                .is_some_and(|e| e.seen > queued || e.is_hot(t));
            if keep && passed_over < EVICT_SCAN {
                self.order.push_back((key, t));
                passed_over += 1;
                continue;
            }
            if let Some(e) = self.table.remove(&key) {
                self.counters.evicted += 1;
                if e.banned_until > t {
                    self.counters.banned_now = self.counters.banned_now.saturating_sub(1);
                    self.counters.bans_lifted += 1;
                }
            }
        }
    }

    /// Whether `ip` is banned now (until the ban's end is noticed, at the next message or
    /// [`FloodGuard::expire`]) and not exempt. Counts a message not sent when it is: the
    /// caller drops it.
    pub fn refuse_transmit(&mut self, ip: IpAddr, dispatcher: &Dispatcher) -> bool {
        let banned = self.is_banned(ip, dispatcher);
        if banned {
            self.counters.not_sent += 1;
        }
        banned
    }

    /// Whether `ip` is banned and not exempt (see [`FloodGuard::refuse_transmit`]). Costs a
    /// hash lookup while no source is banned; the exemptions are read afresh only for a
    /// banned address.
    pub fn is_banned(&self, ip: IpAddr, dispatcher: &Dispatcher) -> bool {
        self.counters.banned_now > 0
            && self
                .table
                .get(&self.source_of(ip))
                .is_some_and(|e| e.banned_until != 0)
            && !self.exempt.contains_now(ip.to_canonical(), dispatcher)
    }

    /// The counters, with the number of sources tracked now.
    pub fn counters(&self) -> FloodCounters {
        FloodCounters {
            tracked: self.table.len() as u64,
            ..self.counters
        }
    }

    fn max_sources(&self) -> usize {
        usize::try_from(self.cfg.max_sources)
            .unwrap_or(usize::MAX)
            .max(1)
    }

    /// `now` in the guard's time: nanoseconds since its epoch, plus one.
    fn nanos_at(&self, now: Instant) -> u64 {
        nanos(now.saturating_duration_since(self.epoch)).saturating_add(1)
    }
}

/// Refills `e` for the time since `e.at` at `rate` tokens a second (at most `full`), then
/// takes one token; false when there is none.
fn take_token(e: &mut Entry, t: u64, rate: u64, full: u64) -> bool {
    // `rate` tokens a second is `rate` credit units a nanosecond.
    let refill = t.saturating_sub(e.at).saturating_mul(rate);
    e.credit = e.credit.saturating_add(refill).min(full);
    e.at = e.at.max(t);
    if e.credit >= TOKEN {
        e.credit -= TOKEN;
        true
    } else {
        false
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a test failure.
mod tests;

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a test failure.
mod scenario;
