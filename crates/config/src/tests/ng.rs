//! `[ng]` source allow-list and rate limit: defaults, every way to set them, every refusal.

use std::num::NonZeroU32;

use dispatch::Cidr;

use super::{assert_key_err, ok, with_iface, IFACE};
use crate::{NgConfig, DEFAULT_NG_RATE};

fn nets(list: &[&str]) -> Vec<Cidr> {
    list.iter()
        .map(|n| Cidr::parse(n).expect("a network"))
        .collect()
}

fn ng(body: &str) -> NgConfig {
    ok(&with_iface(&format!("[ng]\n{body}"))).ng
}

#[test]
fn loopback_only_and_a_generous_rate_by_default() {
    let cfg = ok(IFACE).ng;
    assert_eq!(cfg.allow, nets(&["127.0.0.0/8", "::1/128"]));
    let rate = cfg.rate.expect("a rate limit by default");
    assert_eq!(rate.per_sec.get(), DEFAULT_NG_RATE);
    assert_eq!(rate.per_sec.get(), 10_000);
    assert_eq!(rate.burst.get(), 20_000);
    // The engine gets exactly these.
    let guard = cfg.guard();
    assert_eq!((guard.allow, guard.rate), (cfg.allow.clone(), cfg.rate));
}

#[test]
fn a_kamailio_host_is_let_in_by_listing_it() {
    let cfg = ng(r#"allow = ["127.0.0.0/8", "192.0.2.10/32", "2001:db8::/64", "198.51.100.7"]"#);
    assert_eq!(
        cfg.allow,
        nets(&[
            "127.0.0.0/8",
            "192.0.2.10/32",
            "2001:db8::/64",
            "198.51.100.7/32"
        ])
    );
    let guard = cfg.guard();
    assert!(guard
        .allow
        .iter()
        .any(|n| n.contains([192, 0, 2, 10].into())));
    assert!(!guard
        .allow
        .iter()
        .any(|n| n.contains([192, 0, 2, 11].into())));
}

#[test]
fn rate_and_burst() {
    let r = ng("rate = 500").rate.expect("a limit");
    assert_eq!(
        (r.per_sec.get(), r.burst.get()),
        (500, 1000),
        "burst twice the rate"
    );
    let r = ng("rate = 500\nburst = 1").rate.expect("a limit");
    assert_eq!(
        (r.per_sec, r.burst),
        (NonZeroU32::new(500).unwrap(), NonZeroU32::MIN)
    );
    let r = ng("burst = 50").rate.expect("a limit");
    assert_eq!((r.per_sec.get(), r.burst.get()), (DEFAULT_NG_RATE, 50));
    let r = ng("rate = 1000000\nburst = 1000000").rate.expect("a limit");
    assert_eq!((r.per_sec.get(), r.burst.get()), (1_000_000, 1_000_000));
    assert_eq!(ng("rate = 0").rate, None, "0 turns the limit off");
}

#[test]
fn refusals_name_the_key() {
    let section = |body: &str| with_iface(&format!("[ng]\n{body}"));
    assert_key_err(
        &section("allow = []"),
        "ng.allow",
        "an empty list would refuse every proxy",
    );
    assert_key_err(
        &section(r#"allow = ["127.0.0.1/32", "kamailio.example"]"#),
        "ng.allow[1]",
        "is not a network",
    );
    assert_key_err(
        &section(r#"allow = ["10.0.0.1/8"]"#),
        "ng.allow[0]",
        "host bits set",
    );
    assert_key_err(
        &section(r#"allow = ["::1/129"]"#),
        "ng.allow[0]",
        "prefix length",
    );
    assert_key_err(
        &section(r#"allow = "127.0.0.1/32""#),
        "ng.allow",
        "invalid type: string",
    );
    for bad in [-1, 1_000_001] {
        assert_key_err(
            &section(&format!("rate = {bad}")),
            "ng.rate",
            &format!("must be between 0 and 1000000, got {bad}"),
        );
    }
    for bad in [0, 1_000_001] {
        assert_key_err(
            &section(&format!("burst = {bad}")),
            "ng.burst",
            &format!("must be between 1 and 1000000, got {bad}"),
        );
    }
    assert_key_err(
        &section("rate = 0\nburst = 10"),
        "ng.burst",
        "ng.rate = 0 turns the rate limit off",
    );
}

#[test]
fn ng_over_tcp_is_off_by_default_and_bounded_when_on() {
    let cfg = ok(IFACE).ng;
    assert_eq!(cfg.tcp, crate::NgTcpConfig::default());
    assert_eq!(cfg.tcp.listen, None);
    let on = ng(
        "listen_tcp = \"127.0.0.1:2223\"\ntcp_max_connections = 10\n\
                 tcp_max_connections_per_source = 2\ntcp_max_message_bytes = 4096\n\
                 tcp_idle_timeout_secs = 60\ntcp_message_timeout_secs = 2",
    );
    let t = on.tcp;
    assert_eq!(t.listen, Some("127.0.0.1:2223".parse().expect("address")));
    assert_eq!(
        (
            t.max_connections,
            t.max_connections_per_source,
            t.max_message_bytes
        ),
        (10, 2, 4096)
    );
    assert_eq!(t.idle_timeout, std::time::Duration::from_secs(60));
    assert_eq!(t.message_timeout, std::time::Duration::from_secs(2));
}

#[test]
fn ng_tcp_refusals_name_the_key() {
    let section = |body: &str| with_iface(&format!("[ng]\n{body}"));
    assert_key_err(
        &section("listen_tcp = \"127.0.0.1:0\""),
        "ng.listen_tcp",
        "port 0",
    );
    assert_key_err(
        &section("listen_tcp = \"localhost:2223\""),
        "ng.listen_tcp",
        "is not a socket address",
    );
    for (k, bad, range) in [
        ("tcp_max_connections", 0, "1 and 100000"),
        ("tcp_max_connections_per_source", 100_001, "1 and 100000"),
        ("tcp_max_message_bytes", 1023, "1024 and 1048576"),
        ("tcp_idle_timeout_secs", 0, "1 and 86400"),
        ("tcp_message_timeout_secs", 3601, "1 and 3600"),
    ] {
        assert_key_err(
            &section(&format!("{k} = {bad}")),
            &format!("ng.{k}"),
            &format!("must be between {range}, got {bad}"),
        );
    }
}
