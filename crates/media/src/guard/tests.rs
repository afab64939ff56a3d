use super::*;
use std::time::Duration;

fn net(text: &str) -> Cidr {
    Cidr::parse(text).unwrap()
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn rate(per_sec: u32, burst: u32) -> Option<RateLimit> {
    Some(RateLimit {
        per_sec: NonZeroU32::new(per_sec).unwrap(),
        burst: NonZeroU32::new(burst).unwrap(),
    })
}

#[test]
fn loopback_only_by_default() {
    let mut g = Guard::new(GuardConfig::loopback());
    let now = Instant::now();
    for ok in ["127.0.0.1", "127.255.0.9", "::1", "::ffff:127.0.0.1"] {
        assert_eq!(g.check(now, ip(ok)), Verdict::Allowed, "{ok}");
    }
    for refused in [
        "10.0.0.1",
        "192.0.2.1",
        "::2",
        "fe80::1",
        "0.0.0.0",
        "128.0.0.1",
    ] {
        assert_eq!(g.check(now, ip(refused)), Verdict::NotAllowed, "{refused}");
    }
    assert_eq!(
        g.counters(),
        GuardCounters {
            allowed: 4,
            not_allowed: 6,
            rate_limited: 0
        }
    );
    assert_eq!(g.sources(), 0, "no bucket without a rate limit");
}

#[test]
fn a_host_network_admits_that_host_alone() {
    let cfg = GuardConfig {
        allow: vec![net("127.0.0.1/32"), net("2001:db8::10/128")],
        rate: None,
    };
    let mut g = Guard::new(cfg);
    let now = Instant::now();
    assert_eq!(g.check(now, ip("127.0.0.1")), Verdict::Allowed);
    assert_eq!(g.check(now, ip("127.0.0.2")), Verdict::NotAllowed);
    assert_eq!(g.check(now, ip("2001:db8::10")), Verdict::Allowed);
    assert_eq!(g.check(now, ip("2001:db8::11")), Verdict::NotAllowed);
}

#[test]
fn the_rate_is_checked_only_for_allowed_sources() {
    let cfg = GuardConfig {
        allow: vec![net("127.0.0.1/32")],
        rate: rate(1, 1),
    };
    let mut g = Guard::new(cfg);
    let now = Instant::now();
    for _ in 0..10 {
        assert_eq!(g.check(now, ip("10.0.0.1")), Verdict::NotAllowed);
    }
    assert_eq!(g.sources(), 0, "refused sources hold no bucket");
    assert_eq!(g.check(now, ip("127.0.0.1")), Verdict::Allowed);
}

#[test]
fn a_burst_then_the_sustained_rate() {
    let cfg = GuardConfig {
        allow: vec![net("0.0.0.0/0")],
        rate: rate(100, 10),
    };
    let mut g = Guard::new(cfg);
    let t0 = Instant::now();
    let a = ip("192.0.2.1");
    let passed = (0..50)
        .filter(|_| g.check(t0, a) == Verdict::Allowed)
        .count();
    assert_eq!(passed, 10, "the burst, then nothing at the same instant");
    // 100/s: one token every 10 ms.
    assert_eq!(
        g.check(t0 + Duration::from_millis(5), a),
        Verdict::RateLimited
    );
    assert_eq!(g.check(t0 + Duration::from_millis(10), a), Verdict::Allowed);
    // One second of 1000 requests/s: about 100 pass.
    let mut passed = 0;
    for ms in 1..=1000u64 {
        if g.check(t0 + Duration::from_millis(10 + ms), a) == Verdict::Allowed {
            passed += 1;
        }
    }
    assert!(
        (99..=101).contains(&passed),
        "{passed} passed in 1 s at 100/s"
    );
    // A long silence refills up to the burst, not beyond.
    let later = t0 + Duration::from_secs(3600);
    let passed = (0..50)
        .filter(|_| g.check(later, a) == Verdict::Allowed)
        .count();
    assert_eq!(passed, 10);
    let c = g.counters();
    assert_eq!(c.allowed + c.rate_limited, 50 + 2 + 1000 + 50);
}

#[test]
fn one_source_over_its_rate_does_not_limit_another() {
    let cfg = GuardConfig {
        allow: vec![net("127.0.0.0/8")],
        rate: rate(10, 5),
    };
    let mut g = Guard::new(cfg);
    let now = Instant::now();
    for _ in 0..1000 {
        g.check(now, ip("127.0.0.2"));
    }
    assert_eq!(g.counters().rate_limited, 995);
    assert_eq!(g.check(now, ip("127.0.0.3")), Verdict::Allowed);
    // Every port of one address shares its bucket (the key is the IP address); an
    // IPv4-mapped IPv6 source is the IPv4 address it carries.
    assert_eq!(g.check(now, ip("::ffff:127.0.0.2")), Verdict::RateLimited);
}

#[test]
fn the_bucket_table_is_bounded_and_evicts_the_oldest() {
    let cfg = GuardConfig {
        allow: vec![net("10.0.0.0/8")],
        rate: rate(1, 1),
    };
    let mut g = Guard::with_capacity(cfg, 3);
    let now = Instant::now();
    for last in 1..=100u8 {
        g.check(now, IpAddr::from([10, 0, 0, last]));
        assert!(g.sources() <= 3);
    }
    assert_eq!(g.sources(), 3);
    // 10.0.0.100 is among the newest: its bucket is still empty.
    assert_eq!(
        g.check(now, IpAddr::from([10, 0, 0, 100])),
        Verdict::RateLimited
    );
    // 10.0.0.1 was evicted long ago: a fresh bucket.
    assert_eq!(g.check(now, IpAddr::from([10, 0, 0, 1])), Verdict::Allowed);
    assert_eq!(g.sources(), 3);
}

#[test]
fn reconfiguring_applies_the_new_list_and_rate() {
    let mut g = Guard::new(GuardConfig {
        allow: vec![net("127.0.0.1/32")],
        rate: rate(1, 1),
    });
    let now = Instant::now();
    let kamailio = ip("192.0.2.10");
    assert_eq!(g.check(now, kamailio), Verdict::NotAllowed);
    assert_eq!(g.check(now, ip("127.0.0.1")), Verdict::Allowed);
    assert_eq!(g.check(now, ip("127.0.0.1")), Verdict::RateLimited);
    g.reconfigure(GuardConfig {
        allow: vec![net("127.0.0.1/32"), net("192.0.2.10/32")],
        rate: rate(1, 2),
    });
    assert_eq!(g.check(now, kamailio), Verdict::Allowed);
    assert_eq!(
        g.check(now, ip("127.0.0.1")),
        Verdict::Allowed,
        "fresh bucket"
    );
    g.reconfigure(GuardConfig {
        allow: vec![net("127.0.0.1/32")],
        rate: None,
    });
    assert_eq!(g.check(now, kamailio), Verdict::NotAllowed);
    assert_eq!(g.sources(), 0);
}

#[test]
fn time_going_backwards_grants_nothing() {
    let mut g = Guard::new(GuardConfig {
        allow: vec![net("127.0.0.0/8")],
        rate: rate(1000, 1),
    });
    let t = Instant::now() + Duration::from_secs(10);
    let a = ip("127.0.0.1");
    assert_eq!(g.check(t, a), Verdict::Allowed);
    assert_eq!(g.check(t - Duration::from_secs(5), a), Verdict::RateLimited);
    assert_eq!(g.check(t, a), Verdict::RateLimited);
}

#[test]
fn settings_read_well_in_a_log_line() {
    let mut cfg = GuardConfig::loopback();
    assert_eq!(cfg.to_string(), "allow 127.0.0.0/8,::1/128, rate off");
    cfg.rate = rate(10_000, 20_000);
    cfg.allow.push(net("192.0.2.10/32"));
    assert_eq!(
        cfg.to_string(),
        "allow 127.0.0.0/8,::1/128,192.0.2.10/32, rate 10000/s burst 20000"
    );
}
