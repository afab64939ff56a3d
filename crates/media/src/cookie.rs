//! The ng cookie cache: a repeated request (same cookie) is answered from the cache and runs
//! nothing twice; a repeat that arrives while the first is still being processed is ignored.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// State of one cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cached {
    /// The request is being processed (waiting for workers).
    InProgress,
    /// The reply that was sent.
    Reply(Vec<u8>),
}

/// Cookies seen in the last `ttl`.
#[derive(Debug)]
pub struct CookieCache {
    ttl: Duration,
    map: HashMap<Vec<u8>, Cached>,
    order: VecDeque<(Instant, Vec<u8>)>,
    max: usize,
}

impl CookieCache {
    /// A cache keeping entries for `ttl`, at most `max` entries (oldest evicted first).
    pub fn new(ttl: Duration, max: usize) -> Self {
        Self {
            ttl,
            map: HashMap::new(),
            order: VecDeque::new(),
            max: max.max(1),
        }
    }

    /// The state of `cookie`, if seen.
    pub fn get(&self, cookie: &[u8]) -> Option<&Cached> {
        self.map.get(cookie)
    }

    /// Records `cookie` as in progress or replied at `now`.
    pub fn put(&mut self, now: Instant, cookie: &[u8], v: Cached) {
        if self.map.insert(cookie.to_vec(), v).is_none() {
            self.order.push_back((now, cookie.to_vec()));
        }
        while self.order.len() > self.max {
            if let Some((_, c)) = self.order.pop_front() {
                self.map.remove(&c);
            }
        }
    }

    /// Drops entries older than the ttl.
    pub fn expire(&mut self, now: Instant) {
        while let Some((t, _)) = self.order.front() {
            if now.saturating_duration_since(*t) < self.ttl {
                break;
            }
            if let Some((_, c)) = self.order.pop_front() {
                self.map.remove(&c);
            }
        }
    }

    /// When the oldest entry expires.
    pub fn next_expiry(&self) -> Option<Instant> {
        self.order.front().map(|(t, _)| *t + self.ttl)
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}
