//! The ng socket's edge: which sources may talk to the engine at all (an allow-list of
//! networks, loopback only by default, as rtpengine binds ng to loopback), and how fast each
//! one may (a token bucket per source IP address). [`Guard::check`] runs on every datagram
//! before a byte of it is parsed; a datagram it refuses is dropped without a reply.
//!
//! Buckets are per IP address, not per port: a Kamailio sends from one port per worker
//! process, and they all share its budget. The table of buckets is bounded
//! ([`MAX_SOURCES`]); when it is full the oldest bucket goes (that source starts again with a
//! full burst, which only ever lets more through).

use dispatch::Cidr;
use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Instant;

/// The most sources with a bucket at once.
pub const MAX_SOURCES: usize = 4096;

/// A per-source request rate: `per_sec` requests per second on average, up to `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Sustained requests per second per source address.
    pub per_sec: NonZeroU32,
    /// Requests a source may send at once after being quiet (the bucket's size).
    pub burst: NonZeroU32,
}

/// What the guard lets through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuardConfig {
    /// Source networks whose datagrams are accepted; every other source is dropped.
    pub allow: Vec<Cidr>,
    /// Per-source rate limit; `None` turns it off.
    pub rate: Option<RateLimit>,
}

impl GuardConfig {
    /// Loopback only (`127.0.0.0/8` and `::1/128`), no rate limit.
    pub fn loopback() -> Self {
        GuardConfig {
            allow: loopback_networks(),
            rate: None,
        }
    }
}

impl std::fmt::Display for GuardConfig {
    /// `allow 127.0.0.0/8,::1/128, rate 10000/s burst 20000` (or `rate off`), for log lines.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("allow ")?;
        for (i, net) in self.allow.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{net}")?;
        }
        match self.rate {
            Some(r) => write!(f, ", rate {}/s burst {}", r.per_sec, r.burst),
            None => f.write_str(", rate off"),
        }
    }
}

/// `127.0.0.0/8` and `::1/128`.
pub fn loopback_networks() -> Vec<Cidr> {
    vec![
        Cidr {
            addr: IpAddr::from([127, 0, 0, 0]),
            prefix_len: 8,
        },
        Cidr {
            addr: IpAddr::from(std::net::Ipv6Addr::LOCALHOST),
            prefix_len: 128,
        },
    ]
}

/// The guard's decision on one datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Pass it to the engine.
    Allowed,
    /// The source is outside the allow-list.
    NotAllowed,
    /// The source is over its rate.
    RateLimited,
}

/// Datagrams by verdict.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GuardCounters {
    /// Passed to the engine.
    pub allowed: u64,
    /// Dropped: source outside `allow`.
    pub not_allowed: u64,
    /// Dropped: source over its rate.
    pub rate_limited: u64,
}

/// One token in a bucket's `credit` units (a billionth of a token each, so that refills
/// are exact integers).
const TOKEN: u64 = 1_000_000_000;

/// One source's token bucket.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    /// Tokens held, in billionths of a token.
    credit: u64,
    /// When `credit` was last brought up to date.
    at: Instant,
}

/// The allow-list and the rate limiter, with their counters.
#[derive(Debug)]
pub struct Guard {
    cfg: GuardConfig,
    buckets: HashMap<IpAddr, Bucket>,
    /// Bucket owners, oldest first (eviction order).
    order: VecDeque<IpAddr>,
    max_sources: usize,
    counters: GuardCounters,
}

impl Guard {
    /// A guard applying `cfg`, holding at most [`MAX_SOURCES`] buckets.
    pub fn new(cfg: GuardConfig) -> Self {
        Self::with_capacity(cfg, MAX_SOURCES)
    }

    /// A guard holding at most `max_sources` buckets (at least one).
    pub fn with_capacity(cfg: GuardConfig, max_sources: usize) -> Self {
        Guard {
            cfg,
            buckets: HashMap::new(),
            order: VecDeque::new(),
            max_sources: max_sources.max(1),
            counters: GuardCounters::default(),
        }
    }

    /// Replaces the settings (a reload). Buckets start afresh when the rate changed.
    pub fn reconfigure(&mut self, cfg: GuardConfig) {
        if cfg.rate != self.cfg.rate {
            self.buckets.clear();
            self.order.clear();
        }
        self.cfg = cfg;
    }

    /// The settings in force.
    pub fn config(&self) -> &GuardConfig {
        &self.cfg
    }

    /// Decides on one datagram from `source` at `now`, and counts it.
    pub fn check(&mut self, now: Instant, source: IpAddr) -> Verdict {
        let source = source.to_canonical();
        if !self.cfg.allow.iter().any(|net| net.contains(source)) {
            self.counters.not_allowed += 1;
            Verdict::NotAllowed
        } else if !self.take_token(now, source) {
            self.counters.rate_limited += 1;
            Verdict::RateLimited
        } else {
            self.counters.allowed += 1;
            Verdict::Allowed
        }
    }

    /// Takes one token from `source`'s bucket (refilled for the time since it was last
    /// used); false when it is empty. Always true without a rate limit.
    fn take_token(&mut self, now: Instant, source: IpAddr) -> bool {
        let Some(rate) = self.cfg.rate else {
            return true;
        };
        let full = u64::from(rate.burst.get()) * TOKEN;
        if !self.buckets.contains_key(&source) {
            self.make_room();
            self.order.push_back(source);
        }
        let bucket = self.buckets.entry(source).or_insert(Bucket {
            credit: full,
            at: now,
        });
        // Exact integer refill: `per_sec` tokens per second is `per_sec` credit per nanosecond.
        let elapsed = now.saturating_duration_since(bucket.at).as_nanos();
        let refill = elapsed.saturating_mul(u128::from(rate.per_sec.get()));
        let credit = u128::from(bucket.credit).saturating_add(refill);
        bucket.credit = u64::try_from(credit).unwrap_or(u64::MAX).min(full);
        bucket.at = now.max(bucket.at);
        if bucket.credit >= TOKEN {
            bucket.credit -= TOKEN;
            true
        } else {
            false
        }
    }

    /// Evicts the oldest buckets until one more fits.
    fn make_room(&mut self) {
        while self.buckets.len() >= self.max_sources {
            match self.order.pop_front() {
                Some(old) => {
                    self.buckets.remove(&old);
                }
                None => break,
            }
        }
    }

    /// Sources holding a bucket.
    pub fn sources(&self) -> usize {
        self.buckets.len()
    }

    /// Datagrams by verdict so far.
    pub fn counters(&self) -> GuardCounters {
        self.counters
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a test failure.
mod tests;
