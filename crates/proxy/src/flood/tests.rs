//! The flood guard on its own: buckets, the ban rule, expiry, exemptions, the bound.

use super::*;
use std::num::NonZeroU32;

/// A dispatcher whose one set has members on 127.0.0.20 and 2001:db8::20.
fn dispatcher(now: Instant) -> Dispatcher {
    let cfg = config::parse(
        r#"
        [[interface]]
        name = "x"
        address = "127.0.0.1"
        port_min = 30000
        port_max = 30099
        [[set]]
        name = "pool"
        [[set.member]]
        uri = "sip:127.0.0.20:5060"
        [[set.member]]
        uri = "sip:[2001:db8::20]:5080"
        "#,
    )
    .unwrap();
    Dispatcher::new(&cfg.sets, &cfg.routes, now)
}

fn cfg(rate: u32, burst: u32) -> FloodConfig {
    FloodConfig {
        rate: NonZeroU32::new(rate).unwrap(),
        burst: NonZeroU32::new(burst).unwrap(),
        ..FloodConfig::default()
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// The guard, its dispatcher, the events it produced, and a clock.
struct Bed {
    guard: FloodGuard,
    dispatcher: Dispatcher,
    events: VecDeque<ProxyEvent>,
    now: Instant,
}

impl Bed {
    fn new(cfg: FloodConfig) -> Bed {
        Bed::trusting(cfg, Vec::new())
    }

    fn trusting(cfg: FloodConfig, trusted: Vec<Cidr>) -> Bed {
        let now = Instant::now();
        Bed {
            guard: FloodGuard::new(cfg, trusted, now),
            dispatcher: dispatcher(now),
            events: VecDeque::new(),
            now,
        }
    }

    fn check(&mut self, from: &str) -> Verdict {
        self.guard
            .check(self.now, ip(from), &self.dispatcher, &mut self.events)
    }

    /// `n` messages from `from`, one every `every`; the verdicts counted.
    fn send(&mut self, from: &str, n: u32, every: Duration) -> [u32; 3] {
        let mut counts = [0; 3];
        for _ in 0..n {
            let i = match self.check(from) {
                Verdict::Pass => 0,
                Verdict::Limited => 1,
                Verdict::Banned => 2,
            };
            counts[i] += 1;
            self.now += every;
        }
        counts
    }

    fn bans(&self) -> Vec<&FloodEvent> {
        self.events
            .iter()
            .filter_map(|e| match e {
                ProxyEvent::Flood(f) => Some(f),
                _ => None,
            })
            .collect()
    }
}

const MS: Duration = Duration::from_millis(1);

#[test]
fn a_source_at_its_rate_is_never_refused() {
    let mut b = Bed::new(cfg(200, 400));
    // 200/s for 20 s, and then a burst of 400 after a second's rest.
    assert_eq!(b.send("192.0.2.1", 4000, 5 * MS), [4000, 0, 0]);
    b.now += Duration::from_secs(2);
    assert_eq!(b.send("192.0.2.1", 400, Duration::ZERO), [400, 0, 0]);
    assert_eq!(b.guard.counters().limited, 0);
    assert_eq!(b.guard.counters().tracked, 1);
}

#[test]
fn the_burst_then_exactly_the_rate() {
    let mut b = Bed::new(cfg(200, 400));
    assert_eq!(b.send("192.0.2.1", 401, Duration::ZERO), [400, 1, 0]);
    // One token every 5 ms.
    b.now += 4 * MS;
    assert_eq!(b.check("192.0.2.1"), Verdict::Limited);
    b.now += MS;
    assert_eq!(b.check("192.0.2.1"), Verdict::Pass);
    assert_eq!(b.check("192.0.2.1"), Verdict::Limited);
    // Another source has its own bucket.
    assert_eq!(b.send("192.0.2.2", 400, Duration::ZERO), [400, 0, 0]);
    assert_eq!(b.guard.counters().limited, 3);
}

#[test]
fn a_source_over_its_rate_for_ban_after_is_banned_then_the_ban_expires() {
    let mut b = Bed::new(cfg(200, 400));
    // 2,000 messages a second: the burst goes in 200 ms, then one in ten passes.
    let sent = b.send("192.0.2.66", 2000 * 3, Duration::from_micros(500));
    let c = b.guard.counters();
    assert_eq!(c.bans_started, 1);
    assert_eq!(c.banned_now, 1);
    // The burst and what came back meanwhile last until 400 + 200 t = 2000 t (222 ms);
    // banned 2 s later, at 2.222 s, after 400 + 2.222 s x 200/s passed.
    assert_eq!(sent[0], 844, "{sent:?}");
    assert_eq!(sent[2] as u64, c.banned);
    assert_eq!(sent[1] as u64, c.limited);
    let ev = b.bans();
    let [FloodEvent::Banned {
        source,
        ban,
        over_for,
        passed,
        refused,
        counters,
    }] = ev.as_slice()
    else {
        panic!("one ban event: {ev:?}")
    };
    assert_eq!(source.to_string(), "192.0.2.66/32");
    assert_eq!(*ban, Duration::from_secs(300));
    assert!(*over_for >= Duration::from_secs(2) && *over_for < Duration::from_secs(2) + MS);
    assert_eq!((*passed, *refused), (844, counters.limited));
    assert_eq!(counters.bans_started, 1);
    assert!(b.guard.is_banned(ip("192.0.2.66"), &b.dispatcher));
    assert!(!b.guard.is_banned(ip("192.0.2.67"), &b.dispatcher));
    // Banned until 300 s after the ban (at 302.2 s), even when it stops sending (at 3 s).
    b.now += Duration::from_secs(299);
    assert_eq!(b.check("192.0.2.66"), Verdict::Banned);
    b.guard.expire(b.now, &mut b.events);
    assert_eq!(b.guard.counters().banned_now, 1);
    b.now += Duration::from_millis(300);
    b.guard.expire(b.now, &mut b.events);
    assert_eq!(b.guard.counters().bans_expired, 1);
    assert_eq!(b.guard.counters().banned_now, 0);
    assert!(matches!(
        b.bans().last(),
        Some(FloodEvent::BanExpired { dropped, .. }) if *dropped == sent[2] as u64 + 1
    ));
    // Back with a full bucket.
    assert_eq!(b.send("192.0.2.66", 400, Duration::ZERO), [400, 0, 0]);
    assert!(!b.guard.is_banned(ip("192.0.2.66"), &b.dispatcher));
}

#[test]
fn spells_over_the_rate_shorter_than_ban_after_or_broken_by_a_second_do_not_ban() {
    let mut b = Bed::new(cfg(200, 400));
    for _ in 0..20 {
        // 1.5 s at ten times the rate, then 1 s of silence: each spell starts afresh.
        b.send("192.0.2.7", 3000, Duration::from_micros(500));
        b.now += Duration::from_secs(1);
    }
    let c = b.guard.counters();
    assert!(c.limited > 20_000, "{c:?}");
    assert_eq!(c.bans_started, 0);
}

#[test]
fn ban_secs_zero_limits_but_never_bans() {
    let mut b = Bed::new(FloodConfig {
        ban: Duration::ZERO,
        ..cfg(200, 400)
    });
    let sent = b.send("192.0.2.8", 20_000, Duration::from_micros(500));
    assert_eq!(sent[2], 0);
    assert_eq!(b.guard.counters().bans_started, 0);
    // 400 + 200/s until the last message, at 9.9995 s.
    assert_eq!(sent[0], 400 + 1999);
}

#[test]
fn an_ipv6_source_is_its_slash_64_and_ipv4_mapped_is_ipv4() {
    let mut b = Bed::new(cfg(10, 10));
    assert_eq!(b.send("2001:db8:1:2::1", 6, Duration::ZERO), [6, 0, 0]);
    // Same /64, another address: the same bucket.
    assert_eq!(b.send("2001:db8:1:2:ffff::9", 6, Duration::ZERO), [4, 2, 0]);
    // The next /64 is another source.
    assert_eq!(b.send("2001:db8:1:3::1", 10, Duration::ZERO), [10, 0, 0]);
    assert_eq!(
        b.guard.source_of(ip("2001:db8:1:2:ffff::9")).to_string(),
        "2001:db8:1:2::/64"
    );
    assert_eq!(b.send("192.0.2.9", 10, Duration::ZERO), [10, 0, 0]);
    assert_eq!(b.send("::ffff:192.0.2.9", 1, Duration::ZERO), [0, 1, 0]);
    assert_eq!(b.guard.counters().tracked, 3);
}

#[test]
fn a_longer_ipv6_prefix_splits_sources() {
    let mut b = Bed::new(FloodConfig {
        ipv6_prefix: 128,
        ..cfg(10, 10)
    });
    assert_eq!(b.send("2001:db8::1", 10, Duration::ZERO), [10, 0, 0]);
    assert_eq!(b.send("2001:db8::2", 10, Duration::ZERO), [10, 0, 0]);
}

#[test]
fn members_and_trusted_networks_are_never_limited_nor_banned() {
    let trusted = vec![Cidr::parse("198.51.100.0/24").unwrap()];
    let mut b = Bed::trusting(cfg(10, 10), trusted);
    // 10,000 messages a second for 10 s from each.
    for src in [
        "127.0.0.20",
        "2001:db8::20",
        "198.51.100.7",
        "::ffff:127.0.0.20",
    ] {
        let sent = b.send(src, 100_000, Duration::from_micros(100));
        assert_eq!(sent, [100_000, 0, 0], "{src}");
    }
    let c = b.guard.counters();
    assert_eq!((c.limited, c.banned, c.bans_started), (0, 0, 0));
    // A neighbour of the IPv6 member in its /64 is not the member: it is banned, and the
    // member still gets through, both ways.
    let sent = b.send("2001:db8::21", 100_000, Duration::from_micros(100));
    assert!(sent[1] > 0 && sent[2] > 0, "{sent:?}");
    assert!(b.guard.is_banned(ip("2001:db8::21"), &b.dispatcher));
    assert!(!b.guard.is_banned(ip("2001:db8::20"), &b.dispatcher));
    assert_eq!(b.send("2001:db8::20", 1000, Duration::ZERO), [1000, 0, 0]);
    // Nor is 198.51.101.1.
    assert!(b.send("198.51.101.1", 1000, Duration::ZERO)[1] > 0);
}

#[test]
fn a_banned_source_that_becomes_trusted_is_let_in() {
    let mut b = Bed::new(cfg(10, 10));
    b.send("203.0.113.5", 40_000, Duration::from_micros(100));
    assert!(b.guard.is_banned(ip("203.0.113.5"), &b.dispatcher));
    let trusted = vec![Cidr::parse("203.0.113.0/24").unwrap()];
    b.guard.reconfigure(cfg(10, 10), trusted);
    assert_eq!(b.send("203.0.113.5", 1000, Duration::ZERO), [1000, 0, 0]);
    assert!(!b.guard.is_banned(ip("203.0.113.5"), &b.dispatcher));
}

#[test]
fn spoofed_sources_stay_within_the_cap_and_do_not_evict_the_real_flooder() {
    let mut b = Bed::new(FloodConfig {
        max_sources: 64,
        ..cfg(200, 400)
    });
    // The real flooder at 2,000/s, interleaved with 20 spoofed addresses per message.
    let mut spoofed = 0u32;
    for _ in 0..6000 {
        b.check("192.0.2.66");
        for _ in 0..20 {
            spoofed += 1;
            let [x, y] = [(spoofed >> 8) as u8, spoofed as u8];
            b.check(&format!("10.1.{x}.{y}"));
        }
        b.now += Duration::from_micros(500);
        assert!(b.guard.counters().tracked <= 64);
    }
    let c = b.guard.counters();
    assert_eq!(c.bans_started, 1, "{c:?}");
    assert!(b.guard.is_banned(ip("192.0.2.66"), &b.dispatcher));
    assert!(c.evicted >= u64::from(spoofed) - 64, "{c:?}");
    assert_eq!(c.tracked, 64);
}

#[test]
fn banned_sources_beyond_the_cap_push_out_the_oldest_ban() {
    let mut b = Bed::new(FloodConfig {
        max_sources: 64,
        ..cfg(1, 1)
    });
    // 100 sources, each over its rate for 2 s (one message every 100 ms, rate 1/s).
    for _ in 0..22 {
        for i in 0..100u32 {
            b.check(&format!("10.9.0.{i}"));
        }
        b.now += Duration::from_millis(100);
    }
    let c = b.guard.counters();
    assert!(c.tracked <= 64 && c.banned_now <= 64, "{c:?}");
    assert_eq!(c.bans_started, c.banned_now + c.bans_lifted, "{c:?}");
    assert!(b.guard.bans.len() <= 64);
}

#[test]
fn off_lets_everything_through_and_holds_nothing() {
    let mut b = Bed::new(FloodConfig {
        enabled: false,
        ..cfg(1, 1)
    });
    assert_eq!(b.send("192.0.2.1", 10_000, Duration::ZERO), [10_000, 0, 0]);
    assert_eq!(b.guard.counters(), FloodCounters::default());
}

#[test]
fn turning_it_off_lifts_the_bans_and_a_new_prefix_rekeys() {
    let mut b = Bed::new(cfg(10, 10));
    b.send("192.0.2.66", 40_000, Duration::from_micros(100));
    assert_eq!(b.guard.counters().banned_now, 1);
    let off = FloodConfig {
        enabled: false,
        ..cfg(10, 10)
    };
    b.guard.reconfigure(off, Vec::new());
    let c = b.guard.counters();
    assert_eq!((c.banned_now, c.bans_lifted, c.tracked), (0, 1, 0));
    b.guard.reconfigure(cfg(10, 10), Vec::new());
    assert_eq!(b.check("192.0.2.66"), Verdict::Pass);
    // Another IPv6 prefix length forgets every source.
    b.guard.reconfigure(
        FloodConfig {
            ipv6_prefix: 48,
            ..cfg(10, 10)
        },
        Vec::new(),
    );
    assert_eq!(b.guard.counters().tracked, 0);
}

#[test]
fn nothing_is_sent_to_a_banned_source_and_that_is_counted() {
    let mut b = Bed::new(cfg(10, 10));
    assert!(!b.guard.refuse_transmit(ip("192.0.2.66"), &b.dispatcher));
    b.send("192.0.2.66", 40_000, Duration::from_micros(100));
    assert!(b.guard.refuse_transmit(ip("192.0.2.66"), &b.dispatcher));
    assert!(!b.guard.refuse_transmit(ip("192.0.2.65"), &b.dispatcher));
    assert_eq!(b.guard.counters().not_sent, 1);
}

#[test]
fn the_ban_line_says_who_how_long_and_the_counters() {
    let mut b = Bed::new(cfg(10, 10));
    b.send("192.0.2.66", 40_000, Duration::from_micros(100));
    let line = b.bans()[0].to_string();
    assert!(
        line.starts_with(
            "source 192.0.2.66/32 banned for 300 s after 2.0 s over its rate (30 messages passed"
        ),
        "{line}"
    );
    assert!(line.contains("bans started 1"), "{line}");
}

#[test]
fn time_going_backwards_is_harmless() {
    let mut b = Bed::new(cfg(10, 10));
    b.now += Duration::from_secs(5);
    b.send("192.0.2.1", 20, Duration::ZERO);
    b.now -= Duration::from_secs(5);
    assert_eq!(b.check("192.0.2.1"), Verdict::Limited);
    b.now -= Duration::from_secs(1);
    b.guard.expire(b.now, &mut b.events);
}
