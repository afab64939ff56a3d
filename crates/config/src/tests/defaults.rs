//! Defaults of every optional key, and a document that sets every key.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::num::NonZeroU32;
use std::time::Duration;

use super::{ok, IFACE};
use crate::{
    Backend, DataplaneConfig, GeneralConfig, Interface, LatchMode, LogFormat, LogLevel,
    MediaConfig, NgConfig,
};

#[test]
fn omitted_sections_take_every_documented_default() {
    let cfg = ok(IFACE);

    assert_eq!(cfg.general.log_level, LogLevel::Info);
    assert_eq!(cfg.general.log_format, LogFormat::Text);

    assert_eq!(
        cfg.ng.listen,
        SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 2223)
    );
    assert_eq!(cfg.ng.cookie_cache, Duration::from_secs(30));

    assert_eq!(cfg.dataplane.backend, Backend::Socket);
    assert_eq!(cfg.dataplane.worker_cores, vec![0]);
    assert_eq!(cfg.dataplane.control_core, None);
    assert_eq!(cfg.dataplane.burst, 32);

    assert_eq!(cfg.media.latching, LatchMode::Heuristic);
    assert_eq!(cfg.media.learning, Duration::from_secs(3));
    assert!(!cfg.media.strict_source);
    assert_eq!(cfg.media.timeout, Duration::from_secs(60));
    assert_eq!(cfg.media.hold_timeout, Duration::from_secs(3600));
    assert_eq!(cfg.media.offer_timeout, Duration::from_secs(60));
    assert_eq!(cfg.media.final_timeout, None);
    assert_eq!(cfg.media.delete_delay, Duration::from_secs(30));
    assert_eq!(cfg.media.max_sessions, None);

    assert_eq!(
        cfg.interfaces,
        vec![Interface {
            name: "pub".into(),
            address: IpAddr::V4(Ipv4Addr::LOCALHOST),
            advertised: None,
            port_min: 30000,
            port_max: 30999,
        }]
    );
}

#[test]
fn default_impls_equal_what_an_omitted_section_parses_to() {
    let cfg = ok(IFACE);
    assert_eq!(cfg.general, GeneralConfig::default());
    assert_eq!(cfg.ng, NgConfig::default());
    assert_eq!(cfg.dataplane, DataplaneConfig::default());
    assert_eq!(cfg.media, MediaConfig::default());
}

#[test]
fn empty_sections_take_the_defaults_too() {
    let cfg = ok(&format!("[general]\n[ng]\n[dataplane]\n[media]\n{IFACE}"));
    assert_eq!(cfg.general, GeneralConfig::default());
    assert_eq!(cfg.ng, NgConfig::default());
    assert_eq!(cfg.dataplane, DataplaneConfig::default());
    assert_eq!(cfg.media, MediaConfig::default());
}

#[test]
fn every_key_set_away_from_its_default_is_read() {
    let cfg = ok(r#"
        [general]
        log_level = "debug"
        log_format = "json"

        [ng]
        listen = "[::1]:22222"
        cookie_cache_secs = 3600
        allow = ["::1/128", "192.0.2.0/24"]
        rate = 300
        burst = 7

        [dataplane]
        backend = "dpdk"
        worker_cores = [2, 3, 5]
        control_core = 1
        burst = 512

        [media]
        latching = "immediate"
        learning_secs = 0
        strict_source = true
        timeout_secs = 86400
        hold_timeout_secs = 1
        offer_timeout_secs = 5
        final_timeout_secs = 7200
        delete_delay_secs = 0
        max_sessions = 4000

        [[interface]]
        name = "external"
        address = "192.0.2.10"
        advertised = "203.0.113.7"
        port_min = 1024
        port_max = 65535

        [[interface]]
        name = "external"
        address = "2001:db8::10"
        port_min = 40000
        port_max = 40001
    "#);
    assert_eq!(cfg.general.log_level, LogLevel::Debug);
    assert_eq!(cfg.general.log_format, LogFormat::Json);
    assert_eq!(
        cfg.ng.listen,
        SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 22222)
    );
    assert_eq!(cfg.ng.cookie_cache, Duration::from_secs(3600));
    let allowed: Vec<String> = cfg.ng.allow.iter().map(|n| n.to_string()).collect();
    assert_eq!(allowed, ["::1/128", "192.0.2.0/24"]);
    let rate = cfg.ng.rate.unwrap();
    assert_eq!((rate.per_sec.get(), rate.burst.get()), (300, 7));
    assert_eq!(cfg.dataplane.backend, Backend::Dpdk);
    assert_eq!(cfg.dataplane.worker_cores, vec![2, 3, 5]);
    assert_eq!(cfg.dataplane.control_core, Some(1));
    assert_eq!(cfg.dataplane.burst, 512);
    assert_eq!(cfg.media.latching, LatchMode::Immediate);
    assert_eq!(cfg.media.learning, Duration::ZERO);
    assert!(cfg.media.strict_source);
    assert_eq!(cfg.media.timeout, Duration::from_secs(86400));
    assert_eq!(cfg.media.hold_timeout, Duration::from_secs(1));
    assert_eq!(cfg.media.offer_timeout, Duration::from_secs(5));
    assert_eq!(cfg.media.final_timeout, Some(Duration::from_secs(7200)));
    assert_eq!(cfg.media.delete_delay, Duration::ZERO);
    assert_eq!(cfg.media.max_sessions, NonZeroU32::new(4000));

    let ext: Vec<_> = cfg.interfaces_named("external").collect();
    assert_eq!(ext.len(), 2);
    assert_eq!(
        ext[0].sdp_address(),
        "203.0.113.7".parse::<IpAddr>().unwrap()
    );
    assert_eq!(ext[0].port_pairs(), 32256);
    assert_eq!(ext[1].address, "2001:db8::10".parse::<IpAddr>().unwrap());
    assert_eq!(ext[1].sdp_address(), ext[1].address);
    assert_eq!(ext[1].ports(), 40000..=40001);
    assert_eq!(ext[1].port_pairs(), 1);
    assert_eq!(cfg.interfaces_named("internal").count(), 0);
}

#[test]
fn every_choice_spelling_is_accepted_and_round_trips_through_as_str() {
    for level in [
        LogLevel::Trace,
        LogLevel::Debug,
        LogLevel::Info,
        LogLevel::Warn,
        LogLevel::Error,
    ] {
        let cfg = ok(&super::with_iface(&format!(
            "[general]\nlog_level = \"{}\"",
            level.as_str()
        )));
        assert_eq!(cfg.general.log_level, level);
    }
    for format in [LogFormat::Text, LogFormat::Json] {
        let cfg = ok(&super::with_iface(&format!(
            "[general]\nlog_format = \"{}\"",
            format.as_str()
        )));
        assert_eq!(cfg.general.log_format, format);
    }
    for backend in [Backend::Socket, Backend::Dpdk] {
        let cfg = ok(&super::with_iface(&format!(
            "[dataplane]\nbackend = \"{}\"",
            backend.as_str()
        )));
        assert_eq!(cfg.dataplane.backend, backend);
    }
    for (text, latching) in [
        ("off", LatchMode::Off),
        ("immediate", LatchMode::Immediate),
        ("heuristic", LatchMode::Heuristic),
    ] {
        let cfg = ok(&super::with_iface(&format!(
            "[media]\nlatching = \"{text}\""
        )));
        assert_eq!(cfg.media.latching, latching);
    }
}

#[test]
fn from_str_is_parse() {
    let cfg: crate::Config = IFACE.parse().unwrap();
    assert_eq!(cfg, ok(IFACE));
}

#[test]
fn shared_names_and_shared_addresses_with_disjoint_ports_are_fine() {
    let cfg = ok(r#"
        [[interface]]
        name = "a"
        address = "127.0.0.1"
        port_min = 30000
        port_max = 30999
        [[interface]]
        name = "b"
        address = "127.0.0.1"
        port_min = 31000
        port_max = 31999
        [[interface]]
        name = "a"
        address = "127.0.0.2"
        port_min = 30000
        port_max = 30999
        [[interface]]
        name = "a"
        address = "::1"
        port_min = 30000
        port_max = 30999
    "#);
    assert_eq!(cfg.interfaces.len(), 4);
    assert_eq!(cfg.interfaces_named("a").count(), 3);
}

#[test]
fn ng_on_a_port_outside_the_relay_ranges_is_fine() {
    let cfg = ok(&super::with_iface("[ng]\nlisten = \"0.0.0.0:2223\""));
    assert_eq!(cfg.ng.listen.port(), 2223);
    // Same port number as a relay port, but on another address.
    let cfg = ok(&super::with_iface("[ng]\nlisten = \"127.0.0.2:30000\""));
    assert_eq!(cfg.ng.listen.port(), 30000);
    // 0.0.0.0 does not take IPv6 packets, so an IPv6-only range does not clash.
    let cfg = ok(r#"
        [ng]
        listen = "0.0.0.0:30000"
        [[interface]]
        name = "v6"
        address = "::1"
        port_min = 30000
        port_max = 30999
    "#);
    assert_eq!(cfg.ng.listen.port(), 30000);
}

#[test]
fn interface_helpers_do_not_panic_on_hand_built_entries() {
    let backwards = Interface {
        name: "x".into(),
        address: IpAddr::V4(Ipv4Addr::LOCALHOST),
        advertised: None,
        port_min: 40001,
        port_max: 40000,
    };
    assert_eq!(backwards.port_pairs(), 0);
    assert!(backwards.ports().is_empty());
    let full = Interface {
        port_min: 0,
        port_max: u16::MAX,
        ..backwards
    };
    assert_eq!(full.port_pairs(), 32768);
}
