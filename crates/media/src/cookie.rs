//! The ng cookie cache: a repeated request (same cookie from the same source address) is
//! answered from the cache and runs nothing twice; a repeat that arrives while the first is
//! still being processed is ignored.
//!
//! Entries are keyed by the source address *and* the cookie, as rtpengine's
//! retransmission cache is meant: a cached reply only ever goes back to the address that sent
//! the original request. The same cookie from another address is a new request, so knowing
//! (or guessing) a cookie never reveals someone else's reply.
//!
//! The cache is bounded by entries and by the bytes of the replies it holds; the oldest
//! entries go first.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Default bound on entries.
pub const MAX_ENTRIES: usize = 65_536;
/// Default bound on the bytes of cached replies (64 MiB).
pub const MAX_BYTES: usize = 64 << 20;

/// State of one cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cached {
    /// The request is being processed (waiting for workers).
    InProgress,
    /// The reply that was sent.
    Reply(Vec<u8>),
}

impl Cached {
    /// Reply bytes held.
    fn bytes(&self) -> usize {
        match self {
            Cached::InProgress => 0,
            Cached::Reply(r) => r.len(),
        }
    }
}

/// Who asked, and with which cookie.
type Key = (SocketAddr, Vec<u8>);

/// Requests seen in the last `ttl`, per (source address, cookie).
#[derive(Debug)]
pub struct CookieCache {
    ttl: Duration,
    map: HashMap<Key, Cached>,
    order: VecDeque<(Instant, Key)>,
    max: usize,
    max_bytes: usize,
    bytes: usize,
}

impl CookieCache {
    /// A cache keeping entries for `ttl`, at most `max` entries and [`MAX_BYTES`] of replies
    /// (oldest evicted first).
    pub fn new(ttl: Duration, max: usize) -> Self {
        Self::with_bounds(ttl, max, MAX_BYTES)
    }

    /// A cache keeping entries for `ttl`, at most `max` entries (at least one) and `max_bytes`
    /// of replies; a single reply larger than `max_bytes` is not kept at all.
    pub fn with_bounds(ttl: Duration, max: usize, max_bytes: usize) -> Self {
        Self {
            ttl,
            map: HashMap::new(),
            order: VecDeque::new(),
            max: max.max(1),
            max_bytes,
            bytes: 0,
        }
    }

    /// The state of `cookie` as sent by `from`, if seen.
    pub fn get(&self, from: SocketAddr, cookie: &[u8]) -> Option<&Cached> {
        // The tuple key needs an owned cookie; lookups are rarer than the parse they save.
        self.map.get(&(from, cookie.to_vec()))
    }

    /// Records `from`'s `cookie` as in progress or replied at `now`.
    pub fn put(&mut self, now: Instant, from: SocketAddr, cookie: &[u8], v: Cached) {
        let size = v.bytes();
        if size > self.max_bytes {
            // Too big to keep: forget the cookie rather than hold a stale in-progress mark.
            if let Some(old) = self.map.remove(&(from, cookie.to_vec())) {
                self.bytes -= old.bytes();
            }
            return;
        }
        let key = (from, cookie.to_vec());
        match self.map.insert(key.clone(), v) {
            Some(old) => self.bytes -= old.bytes(),
            None => self.order.push_back((now, key)),
        }
        self.bytes += size;
        while self.map.len() > self.max || self.bytes > self.max_bytes {
            if !self.evict_oldest() {
                break;
            }
        }
    }

    /// Drops the oldest entry; false when there is none.
    fn evict_oldest(&mut self) -> bool {
        let Some((_, key)) = self.order.pop_front() else {
            return false;
        };
        if let Some(old) = self.map.remove(&key) {
            self.bytes -= old.bytes();
        }
        true
    }

    /// Drops entries older than the ttl.
    pub fn expire(&mut self, now: Instant) {
        while let Some((t, _)) = self.order.front() {
            if now.saturating_duration_since(*t) < self.ttl {
                break;
            }
            self.evict_oldest();
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

    /// Bytes of cached replies held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a test failure.
mod tests {
    use super::*;

    fn addr(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    fn reply(n: usize) -> Cached {
        Cached::Reply(vec![b'x'; n])
    }

    #[test]
    fn a_reply_is_found_only_by_the_address_that_asked() {
        let mut c = CookieCache::new(Duration::from_secs(30), 10);
        let (a, b) = (addr("127.0.0.1:5000"), addr("127.0.0.2:5000"));
        let now = Instant::now();
        c.put(now, a, b"k1", reply(3));
        assert_eq!(c.get(a, b"k1"), Some(&reply(3)));
        assert_eq!(c.get(b, b"k1"), None, "another host");
        assert_eq!(c.get(addr("127.0.0.1:5001"), b"k1"), None, "another port");
        // The same cookie from b is its own entry.
        c.put(now, b, b"k1", Cached::InProgress);
        assert_eq!(c.get(b, b"k1"), Some(&Cached::InProgress));
        assert_eq!(c.get(a, b"k1"), Some(&reply(3)));
        assert_eq!(c.len(), 2);
    }

    #[test]
    fn entries_are_bounded_oldest_first() {
        let mut c = CookieCache::new(Duration::from_secs(30), 3);
        let a = addr("127.0.0.1:5000");
        let now = Instant::now();
        for i in 0..10u8 {
            c.put(now, a, &[i], reply(1));
            assert!(c.len() <= 3);
        }
        assert_eq!(c.len(), 3);
        assert_eq!(c.get(a, &[6]), None);
        assert!(c.get(a, &[7]).is_some() && c.get(a, &[9]).is_some());
        assert_eq!(c.bytes(), 3);
    }

    #[test]
    fn bytes_are_bounded_oldest_first() {
        let mut c = CookieCache::with_bounds(Duration::from_secs(30), 100, 1000);
        let a = addr("[::1]:5000");
        let now = Instant::now();
        for i in 0..10u8 {
            c.put(now, a, &[i], reply(300));
            assert!(c.bytes() <= 1000, "{} bytes", c.bytes());
        }
        assert_eq!(c.len(), 3);
        assert_eq!(c.bytes(), 900);
        // A reply bigger than the whole bound is not kept, and clears its in-progress mark.
        c.put(now, a, b"big", Cached::InProgress);
        c.put(now, a, b"big", reply(1001));
        assert_eq!(c.get(a, b"big"), None);
        assert_eq!(c.bytes(), 900);
    }

    #[test]
    fn in_progress_then_reply_is_one_entry_and_expires_on_time() {
        let ttl = Duration::from_secs(30);
        let mut c = CookieCache::new(ttl, 10);
        let a = addr("127.0.0.1:5000");
        let t0 = Instant::now();
        c.put(t0, a, b"q", Cached::InProgress);
        c.put(t0 + Duration::from_secs(1), a, b"q", reply(10));
        assert_eq!((c.len(), c.bytes()), (1, 10));
        assert_eq!(c.next_expiry(), Some(t0 + ttl));
        c.expire(t0 + ttl - Duration::from_millis(1));
        assert_eq!(c.len(), 1);
        c.expire(t0 + ttl);
        assert!(c.is_empty());
        assert_eq!(c.bytes(), 0);
        assert_eq!(c.next_expiry(), None);
    }
}
