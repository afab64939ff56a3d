//! `[sip.flood]`: defaults, every key, every refusal naming its key.

use std::time::Duration;

use super::{assert_key_err, ok, with_iface, IFACE};
use crate::{FloodConfig, DEFAULT_FLOOD_RATE, DEFAULT_FLOOD_SOURCES};

fn flood(body: &str) -> FloodConfig {
    ok(&with_iface(&format!("[sip.flood]\n{body}"))).sip.flood
}

#[test]
fn on_by_default_with_limits_a_real_caller_never_meets() {
    let f = ok(IFACE).sip.flood;
    assert!(f.enabled);
    assert_eq!(f.rate.get(), DEFAULT_FLOOD_RATE);
    assert_eq!(f.rate.get(), 200);
    assert_eq!(f.burst.get(), 400);
    assert_eq!(f.ban_after, Duration::from_secs(2));
    assert_eq!(f.ban, Duration::from_secs(300));
    assert_eq!(f.ipv6_prefix, 64);
    assert_eq!(f.max_sources, DEFAULT_FLOOD_SOURCES);
    // An empty table is the defaults too.
    assert_eq!(flood(""), f);
    assert_eq!(f, FloodConfig::default());
}

#[test]
fn every_key_is_read() {
    let f = flood(
        "enabled = false\nrate = 50\nburst = 70\nban_after_secs = 5\nban_secs = 60\n\
         ipv6_prefix = 56\nmax_sources = 1000",
    );
    assert!(!f.enabled);
    assert_eq!((f.rate.get(), f.burst.get()), (50, 70));
    assert_eq!(f.ban_after, Duration::from_secs(5));
    assert_eq!(f.ban, Duration::from_secs(60));
    assert_eq!(f.ipv6_prefix, 56);
    assert_eq!(f.max_sources, 1000);
}

#[test]
fn the_burst_follows_the_rate_unless_given() {
    let f = flood("rate = 1000");
    assert_eq!((f.rate.get(), f.burst.get()), (1000, 2000));
    let f = flood("rate = 1000000");
    assert_eq!(f.burst.get(), 1_000_000, "capped at the largest burst");
    let f = flood("burst = 5");
    assert_eq!((f.rate.get(), f.burst.get()), (200, 5));
}

#[test]
fn zero_ban_secs_means_limit_only() {
    assert_eq!(flood("ban_secs = 0").ban, Duration::ZERO);
}

#[test]
fn the_dotted_form_in_sip_is_the_same_table() {
    let cfg = ok(&with_iface("[sip]\nflood.rate = 10\nflood.enabled = true"));
    assert_eq!(cfg.sip.flood.rate.get(), 10);
}

#[test]
fn out_of_range_values_are_refused_naming_the_key() {
    for (body, path, reason) in [
        ("rate = 0", "sip.flood.rate", "between 1 and 1000000, got 0"),
        ("rate = 1000001", "sip.flood.rate", "between 1 and 1000000"),
        (
            "burst = 0",
            "sip.flood.burst",
            "between 1 and 1000000, got 0",
        ),
        (
            "ban_after_secs = 0",
            "sip.flood.ban_after_secs",
            "between 1 and 3600",
        ),
        ("ban_secs = -1", "sip.flood.ban_secs", "between 0 and 86400"),
        (
            "ban_secs = 86401",
            "sip.flood.ban_secs",
            "between 0 and 86400",
        ),
        (
            "ipv6_prefix = 31",
            "sip.flood.ipv6_prefix",
            "between 32 and 128",
        ),
        (
            "ipv6_prefix = 129",
            "sip.flood.ipv6_prefix",
            "between 32 and 128",
        ),
        (
            "max_sources = 63",
            "sip.flood.max_sources",
            "between 64 and 4194304",
        ),
    ] {
        assert_key_err(&with_iface(&format!("[sip.flood]\n{body}")), path, reason);
    }
}

#[test]
fn unknown_keys_and_wrong_types_are_refused() {
    assert_key_err(
        &with_iface("[sip.flood]\nrate_per_sec = 5"),
        "sip.flood.rate_per_sec",
        "unknown field `rate_per_sec`, expected one of `enabled`, `rate`, `burst`",
    );
    assert_key_err(
        &with_iface("[sip.flood]\nenabled = \"yes\""),
        "sip.flood.enabled",
        "a boolean",
    );
}
