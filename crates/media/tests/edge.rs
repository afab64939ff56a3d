//! The engine at the edge: the source allow-list and the per-source rate limit come before
//! any parsing, and the cookie cache answers only the address that sent the original.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use dispatch::Cidr;
use media::{GuardConfig, GuardCounters, RateLimit};
use ng::bencode::OwnedValue;
use ng::{Command, RequestBuilder};
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::time::Duration;

fn addr(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

fn guarded(allow: &[&str], rate: Option<(u32, u32)>) -> Sim {
    let mut cfg = config(Duration::ZERO);
    cfg.guard = GuardConfig {
        allow: allow.iter().map(|n| Cidr::parse(n).unwrap()).collect(),
        rate: rate.map(|(per_sec, burst)| RateLimit {
            per_sec: NonZeroU32::new(per_sec).unwrap(),
            burst: NonZeroU32::new(burst).unwrap(),
        }),
    };
    Sim::new(cfg)
}

fn decode(reply: &[u8]) -> (Vec<u8>, OwnedValue) {
    let (c, body) = ng::split_cookie(reply).unwrap();
    (c.to_vec(), ng::bencode::decode(body).unwrap().to_owned())
}

fn ping(cookie: &str) -> Vec<u8> {
    RequestBuilder::new(Command::Ping).to_datagram(cookie.as_bytes())
}

#[test]
fn a_source_outside_the_allow_list_gets_nothing_and_creates_nothing() {
    let mut sim = guarded(&["127.0.0.1/32"], None);
    let outsider = addr("127.0.0.2:5060");
    let offer = offer("intruder", &sdp("192.0.2.10", 5000)).to_datagram(b"o1");
    assert!(sim.raw_from(outsider, &offer).is_empty());
    assert!(sim.raw_from(outsider, &ping("p1")).is_empty());
    assert!(sim.raw_from(outsider, b"not even ng").is_empty());
    assert_eq!(sim.engine.calls(), 0);
    assert_eq!(sim.engine.pairs_in_use(), 0);
    let c = sim.engine.counters();
    assert!(c.requests.is_empty(), "nothing was parsed: {c:?}");
    assert_eq!(c.malformed, 0, "refused before parsing");
    assert_eq!(
        c.guard,
        GuardCounters {
            allowed: 0,
            not_allowed: 3,
            rate_limited: 0
        }
    );
    // The allowed proxy sees no call, and the statistics count the refusals.
    let r = sim.ng("l", &RequestBuilder::new(Command::List));
    assert_eq!(
        r.get("calls").and_then(OwnedValue::as_list).unwrap().len(),
        0
    );
    let r = sim.ng("s", &RequestBuilder::new(Command::Statistics));
    let counts = r
        .get("totalstatistics")
        .and_then(|t| t.get("ngdatagrams"))
        .unwrap();
    assert_eq!(
        counts.get("notallowed").and_then(OwnedValue::as_int),
        Some(3)
    );
    assert_eq!(counts.get("allowed").and_then(OwnedValue::as_int), Some(2));
    assert_eq!(
        counts.get("ratelimited").and_then(OwnedValue::as_int),
        Some(0)
    );
}

#[test]
fn a_known_cookie_from_another_address_is_a_new_request() {
    let mut sim = guarded(&["127.0.0.0/8"], None);
    let (proxy, other) = (addr(PROXY), addr("127.0.0.9:5060"));
    let offer = offer("c1", &sdp("192.0.2.10", 5000)).to_datagram(b"k1");
    let first = sim.raw_from(proxy, &offer);
    assert_eq!(first.len(), 1);
    // Another address replays the cookie with another command: it gets its own answer, never
    // the cached offer reply (which holds the call's relay addresses).
    let replies = sim.raw_from(other, &ping("k1"));
    assert_eq!(replies.len(), 1);
    assert_ne!(replies[0], first[0]);
    let (cookie, v) = decode(&replies[0]);
    assert_eq!(
        (cookie.as_slice(), str_of(&v, "result")),
        (b"k1".as_slice(), "pong")
    );
    assert_eq!(sim.engine.counters().cookie_hits, 0);
    // The proxy's own repeat is still answered from the cache, byte for byte.
    assert_eq!(sim.raw_from(proxy, &offer), first);
    assert_eq!(sim.engine.counters().cookie_hits, 1);
    // The same offer datagram from another port of the proxy's host runs again (a re-offer
    // keeps the call's ports), it is not served from the cache.
    let pairs = sim.engine.pairs_in_use();
    let again = sim.raw_from(addr("127.0.0.1:5061"), &offer);
    assert_eq!(again.len(), 1);
    assert_eq!(sim.engine.counters().cookie_hits, 1);
    assert_eq!(sim.engine.counters().requests.get("offer"), Some(&2));
    assert_eq!(sim.engine.pairs_in_use(), pairs);
}

#[test]
fn a_flooding_source_is_limited_and_another_is_still_answered() {
    let mut sim = guarded(&["127.0.0.0/8"], Some((100, 20)));
    let (flood, quiet) = (addr("127.0.0.2:4000"), addr("127.0.0.3:4000"));
    let answered = (0..500)
        .filter(|i| !sim.raw_from(flood, &ping(&format!("f{i}"))).is_empty())
        .count();
    assert_eq!(answered, 20, "the burst at one instant, then nothing");
    for i in 0..10 {
        assert_eq!(sim.raw_from(quiet, &ping(&format!("q{i}"))).len(), 1);
    }
    assert_eq!(sim.engine.counters().guard.rate_limited, 480);
    // 100/s for half a second is 50 tokens, but the bucket holds 20.
    sim.advance(Duration::from_millis(500));
    let answered = (0..500)
        .filter(|i| !sim.raw_from(flood, &ping(&format!("g{i}"))).is_empty())
        .count();
    assert_eq!(answered, 20, "refilled up to the burst only");
    let c = sim.engine.counters().guard;
    assert_eq!((c.allowed, c.rate_limited), (50, 960));
}

#[test]
fn a_reload_opens_the_socket_to_a_new_proxy() {
    let mut sim = guarded(&["127.0.0.1/32"], None);
    let kamailio = addr("192.0.2.10:5060");
    assert!(sim.raw_from(kamailio, &ping("a")).is_empty());
    let mut cfg = sim.engine.guard().clone();
    cfg.allow.push(Cidr::parse("192.0.2.10/32").unwrap());
    sim.engine.reconfigure_guard(cfg);
    assert_eq!(sim.raw_from(kamailio, &ping("b")).len(), 1);
}
