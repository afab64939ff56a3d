//! `[sip]` and `[dns]`: defaults, every key read, every error.

use std::time::Duration;

use super::{assert_key_err, ok, with_iface, IFACE};
use crate::{Cidr, DnsConfig, HostPort, LimitsConfig, SipConfig, TcpConfig, Transport, UriHost};

#[test]
fn omitted_sip_and_dns_take_the_documented_defaults() {
    let cfg = ok(IFACE);
    let sip = &cfg.sip;
    assert_eq!(sip.listen, vec!["127.0.0.1:5060".parse().unwrap()]);
    assert_eq!(sip.transports, vec![Transport::Udp, Transport::Tcp]);
    assert_eq!(sip.advertised, None);
    assert!(sip.record_route);
    assert_eq!(sip.t1, Duration::from_millis(500));
    assert_eq!(sip.t2, Duration::from_millis(4000));
    assert_eq!(sip.t4, Duration::from_millis(5000));
    assert_eq!(sip.fr_timeout, Duration::from_millis(5000));
    assert_eq!(sip.fr_inv_timeout, Duration::from_secs(120));
    assert_eq!(sip.max_forwards, 70);
    assert_eq!(sip.max_message_bytes, 65535);
    assert_eq!(sip.dialog_expiry, Duration::from_secs(43200));
    assert_eq!(sip.user_agent.as_deref(), Some("Ferrovox"));
    assert_eq!(
        sip.tcp,
        TcpConfig {
            max_connections: 4096,
            max_connections_per_source: 64,
            buffer_bytes: 65536,
            idle_timeout: Duration::from_secs(120),
            message_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_millis(2000),
        }
    );
    assert!(
        sip.trusted.is_empty(),
        "no network is trusted unless listed"
    );
    assert_eq!(
        sip.limits,
        LimitsConfig {
            server_transactions: 262_144,
            client_transactions: 131_072,
            contexts: 262_144,
            dialogs: 131_072,
            registrations: 1024,
            retry_after: Duration::from_secs(5),
        }
    );
    assert_eq!(cfg.sip, SipConfig::default());
    assert_eq!(ok(&with_iface("[sip]")).sip, SipConfig::default());

    let dns = &cfg.dns;
    assert!(dns.servers.is_empty());
    assert_eq!(dns.timeout, Duration::from_millis(2000));
    assert_eq!(dns.attempts, 2);
    assert_eq!(dns.min_ttl, Duration::from_secs(5));
    assert_eq!(dns.max_ttl, Duration::from_secs(3600));
    assert_eq!(cfg.dns, DnsConfig::default());
    assert_eq!(ok(&with_iface("[dns]")).dns, DnsConfig::default());
    // No sets: the proxy is off.
    assert!(cfg.sets.is_empty() && cfg.routes.is_empty());
}

#[test]
fn every_sip_and_dns_key_is_read() {
    let cfg = ok(&with_iface(
        r#"
        [sip]
        listen = ["127.0.0.1:5070", "[::1]:5070"]
        transports = ["udp"]
        advertised = "LB.example.net:5080"
        record_route = false
        t1_ms = 250
        t2_ms = 250
        t4_ms = 100
        fr_timeout_ms = 180000
        fr_inv_timeout_secs = 3600
        max_forwards = 255
        max_message_bytes = 1024
        dialog_expiry_secs = 60
        user_agent = ""
        draining = true
        tcp_max_connections = 1000000
        tcp_max_connections_per_source = 1
        tcp_buffer_bytes = 1024
        tcp_idle_timeout_secs = 86400
        tcp_message_timeout_secs = 1
        tcp_connect_timeout_ms = 60000
        trusted = ["10.0.0.0/8", "2001:db8::/32", "192.0.2.7"]
        max_server_transactions = 16777216
        max_client_transactions = 1
        max_contexts = 2
        max_dialogs = 3
        max_registrations = 1000000
        overload_retry_after_secs = 3600

        [dns]
        servers = ["127.0.0.1:53", "[::1]:5353"]
        timeout_ms = 100
        attempts = 10
        min_ttl_secs = 0
        max_ttl_secs = 0
        "#,
    ));
    let sip = &cfg.sip;
    assert_eq!(sip.listen.len(), 2);
    assert_eq!(sip.transports, vec![Transport::Udp]);
    assert!(!sip.has_transport(Transport::Tcp));
    assert_eq!(
        sip.advertised,
        Some(HostPort {
            host: UriHost::Name("lb.example.net".into()),
            port: Some(5080)
        })
    );
    assert!(!sip.record_route);
    assert_eq!(
        (sip.t1, sip.t2),
        (Duration::from_millis(250), Duration::from_millis(250))
    );
    assert_eq!(sip.t4, Duration::from_millis(100));
    assert_eq!(sip.fr_timeout, Duration::from_secs(180));
    assert_eq!(sip.fr_inv_timeout, Duration::from_secs(3600));
    assert_eq!(sip.max_forwards, 255);
    assert_eq!(sip.max_message_bytes, 1024);
    assert_eq!(sip.dialog_expiry, Duration::from_secs(60));
    assert_eq!(sip.user_agent, None);
    assert!(sip.draining);
    assert_eq!(
        sip.tcp,
        TcpConfig {
            max_connections: 1_000_000,
            max_connections_per_source: 1,
            buffer_bytes: 1024,
            idle_timeout: Duration::from_secs(86400),
            message_timeout: Duration::from_secs(1),
            connect_timeout: Duration::from_secs(60),
        }
    );
    let nets: Vec<Cidr> = ["10.0.0.0/8", "2001:db8::/32", "192.0.2.7/32"]
        .iter()
        .map(|n| Cidr::parse(n).unwrap())
        .collect();
    assert_eq!(sip.trusted, nets);
    assert_eq!(
        sip.limits,
        LimitsConfig {
            server_transactions: 16_777_216,
            client_transactions: 1,
            contexts: 2,
            dialogs: 3,
            registrations: 1_000_000,
            retry_after: Duration::from_secs(3600),
        }
    );
    assert_eq!(cfg.dns.servers.len(), 2);
    assert_eq!(cfg.dns.timeout, Duration::from_millis(100));
    assert_eq!(cfg.dns.attempts, 10);
    assert_eq!(
        (cfg.dns.min_ttl, cfg.dns.max_ttl),
        (Duration::ZERO, Duration::ZERO)
    );
    // The resolver gets exactly these tunables; what [dns] does not set keeps its default.
    let options = cfg.dns.lookup_options();
    let defaults = dns::resolve::LookupOptions::default();
    assert_eq!(
        options,
        dns::resolve::LookupOptions {
            timeout: Duration::from_millis(100),
            attempts: 10,
            min_ttl: Duration::ZERO,
            max_ttl: Duration::ZERO,
            ..defaults
        }
    );
}

fn sip(body: &str) -> String {
    with_iface(&format!("[sip]\n{body}"))
}

#[test]
fn sip_errors_name_their_key() {
    let cases: &[(&str, &str, &str)] = &[
        ("listen = []", "sip.listen", "at least one address"),
        (
            "listen = [\"localhost:5060\"]",
            "sip.listen[0]",
            "is not a socket address",
        ),
        ("listen = [\"127.0.0.1:0\"]", "sip.listen[0]", "port 0"),
        (
            "listen = [\"224.0.0.1:5060\"]",
            "sip.listen[0]",
            "multicast",
        ),
        (
            "listen = [\"127.0.0.1:5060\", \"127.0.0.1:5060\"]",
            "sip.listen[1]",
            "repeats sip.listen[0]",
        ),
        (
            "listen = \"127.0.0.1:5060\"",
            "sip.listen",
            "expected a sequence",
        ),
        (
            "transports = []",
            "sip.transports",
            "at least one transport",
        ),
        (
            "transports = [\"tls\"]",
            "sip.tls_certificate",
            "required to listen on TLS (sip.tls_listen)",
        ),
        (
            "transports = [\"tls\"]\ntls_certificate = \"c.pem\"",
            "sip.tls_private_key",
            "required with sip.tls_certificate",
        ),
        (
            "transports = [\"tls\"]\ntls_listen = [\"127.0.0.1:5060\"]",
            "sip.tls_listen[0]",
            "is sip.listen[0], where TCP listens",
        ),
        (
            "transports = [\"tls\"]\ntls_listen = [\"127.0.0.1:0\"]",
            "sip.tls_listen[0]",
            "port 0",
        ),
        (
            "tls_certificate = \"\"",
            "sip.tls_certificate",
            "must name a file",
        ),
        (
            "transports = [\"udp\", \"sctp\"]",
            "sip.transports[1]",
            "unknown value `sctp`, expected `udp`, `tcp` or `tls`",
        ),
        (
            "transports = [\"UDP\"]",
            "sip.transports[0]",
            "unknown value `UDP`",
        ),
        (
            "transports = [\"udp\", \"udp\"]",
            "sip.transports[1]",
            "listed twice",
        ),
        (
            "advertised = \"bad host!\"",
            "sip.advertised",
            "not an IP address or a valid host name",
        ),
        (
            "advertised = \"lb.example.net:0\"",
            "sip.advertised",
            "port 0",
        ),
        ("advertised = \"[::1\"", "sip.advertised", "closing ']'"),
        ("t1_ms = 49", "sip.t1_ms", "between 50 and 5000"),
        ("t1_ms = 5001", "sip.t1_ms", "between 50 and 5000"),
        ("t2_ms = 60001", "sip.t2_ms", "between 50 and 60000"),
        (
            "t1_ms = 1000\nt2_ms = 999",
            "sip.t2_ms",
            "at least t1_ms (1000 ms), got 999 ms",
        ),
        ("t1_ms = 5000", "sip.t2_ms", "(the default)"),
        ("t4_ms = 99", "sip.t4_ms", "between 100 and 60000"),
        (
            "fr_timeout_ms = 99",
            "sip.fr_timeout_ms",
            "between 100 and 180000",
        ),
        (
            "fr_inv_timeout_secs = 0",
            "sip.fr_inv_timeout_secs",
            "between 1 and 3600",
        ),
        ("max_forwards = 0", "sip.max_forwards", "between 1 and 255"),
        (
            "max_forwards = 256",
            "sip.max_forwards",
            "between 1 and 255",
        ),
        (
            "max_message_bytes = 1023",
            "sip.max_message_bytes",
            "between 1024 and 1048576",
        ),
        (
            "dialog_expiry_secs = 59",
            "sip.dialog_expiry_secs",
            "between 60 and 604800",
        ),
        (
            "user_agent = \"a\\u0007b\"",
            "sip.user_agent",
            "printable ASCII",
        ),
        (
            "user_agent = \" x\"",
            "sip.user_agent",
            "start or end with a space",
        ),
        (
            "tcp_max_connections = 0",
            "sip.tcp_max_connections",
            "between 1 and 1000000",
        ),
        (
            "tcp_max_connections_per_source = 1000001",
            "sip.tcp_max_connections_per_source",
            "between 1 and 1000000",
        ),
        (
            "tcp_buffer_bytes = 16777217",
            "sip.tcp_buffer_bytes",
            "between 1024 and 16777216",
        ),
        (
            "max_message_bytes = 70000\ntcp_buffer_bytes = 65536",
            "sip.tcp_buffer_bytes",
            "at least max_message_bytes (70000), got 65536",
        ),
        (
            "max_message_bytes = 70000",
            "sip.tcp_buffer_bytes",
            "(the default)",
        ),
        (
            "tcp_idle_timeout_secs = 0",
            "sip.tcp_idle_timeout_secs",
            "between 1 and 86400",
        ),
        (
            "tcp_message_timeout_secs = 3601",
            "sip.tcp_message_timeout_secs",
            "between 1 and 3600",
        ),
        (
            "tcp_connect_timeout_ms = 99",
            "sip.tcp_connect_timeout_ms",
            "between 100 and 60000",
        ),
        (
            "trusted = [\"10.0.0.1/8\"]",
            "sip.trusted[0]",
            "has host bits set; the network is 10.0.0.0/8",
        ),
        ("trusted = [\"any\"]", "sip.trusted[0]", "is not a network"),
        (
            "trusted = [\"10.0.0.0/8\", \"192.0.2.0/24\", \"10.0.0.0/8\"]",
            "sip.trusted[2]",
            "repeats sip.trusted[0]",
        ),
        (
            "trusted = \"10.0.0.0/8\"",
            "sip.trusted",
            "expected a sequence",
        ),
        (
            "max_server_transactions = 0",
            "sip.max_server_transactions",
            "between 1 and 16777216",
        ),
        (
            "max_client_transactions = 16777217",
            "sip.max_client_transactions",
            "between 1 and 16777216",
        ),
        (
            "max_contexts = -1",
            "sip.max_contexts",
            "between 1 and 16777216",
        ),
        (
            "max_dialogs = 0",
            "sip.max_dialogs",
            "between 1 and 16777216",
        ),
        (
            "max_registrations = 1000001",
            "sip.max_registrations",
            "between 1 and 1000000",
        ),
        (
            "overload_retry_after_secs = 0",
            "sip.overload_retry_after_secs",
            "between 1 and 3600",
        ),
        ("record_route = 1", "sip.record_route", "expected a boolean"),
        ("bogus = 1", "sip.bogus", "unknown field `bogus`"),
    ];
    for (body, path, reason) in cases {
        assert_key_err(&sip(body), path, reason);
    }
    let long = "x".repeat(129);
    assert_key_err(
        &sip(&format!("user_agent = \"{long}\"")),
        "sip.user_agent",
        "at most 128",
    );
}

#[test]
fn sip_listen_may_not_collide_with_relay_ports_or_ng() {
    assert_key_err(
        &sip("listen = [\"127.0.0.1:30010\"]"),
        "sip.listen[0]",
        "inside the relay ports 30000-30999 of interface[0]",
    );
    assert_key_err(
        &sip("listen = [\"0.0.0.0:30010\"]"),
        "sip.listen[0]",
        "inside the relay ports",
    );
    assert_key_err(
        &sip("listen = [\"127.0.0.1:5060\", \"127.0.0.1:2223\"]"),
        "sip.listen[1]",
        "also the ng.listen address",
    );
    // Another address is fine.
    ok(&sip("listen = [\"127.0.0.2:30010\"]"));
}

#[test]
fn dns_errors_name_their_key() {
    let dns = |body: &str| with_iface(&format!("[dns]\n{body}"));
    let cases: &[(&str, &str, &str)] = &[
        (
            "servers = [\"ns1\"]",
            "dns.servers[0]",
            "is not a socket address",
        ),
        (
            "servers = [\"0.0.0.0:53\"]",
            "dns.servers[0]",
            "cannot be a DNS server",
        ),
        (
            "servers = [\"127.0.0.1:0\"]",
            "dns.servers[0]",
            "cannot be a DNS server",
        ),
        (
            "servers = [\"127.0.0.1:53\", \"127.0.0.1:53\"]",
            "dns.servers[1]",
            "repeats dns.servers[0]",
        ),
        ("timeout_ms = 99", "dns.timeout_ms", "between 100 and 30000"),
        ("attempts = 0", "dns.attempts", "between 1 and 10"),
        ("attempts = 11", "dns.attempts", "between 1 and 10"),
        (
            "min_ttl_secs = 86401",
            "dns.min_ttl_secs",
            "between 0 and 86400",
        ),
        (
            "max_ttl_secs = 604801",
            "dns.max_ttl_secs",
            "between 0 and 604800",
        ),
        (
            "min_ttl_secs = 100\nmax_ttl_secs = 99",
            "dns.max_ttl_secs",
            "at least min_ttl_secs (100)",
        ),
        ("resolv_conf = true", "dns.resolv_conf", "unknown field"),
    ];
    for (body, path, reason) in cases {
        assert_key_err(&dns(body), path, reason);
    }
}

#[test]
fn hostport_forms() {
    let hp = HostPort::parse("[2001:db8::1]:5060").unwrap();
    assert_eq!(hp.host, UriHost::Ip("2001:db8::1".parse().unwrap()));
    assert_eq!(hp.to_string(), "[2001:db8::1]:5060");
    assert_eq!(HostPort::parse("192.0.2.1").unwrap().port, None);
    assert_eq!(
        HostPort::parse("Example.NET.").unwrap().host,
        UriHost::Name("example.net.".into())
    );
    for bad in [
        "",
        "a..b",
        "-a.b",
        "1.2.3.999",
        "[::1]x",
        "h:65536",
        "h:+1",
        "h:",
        &"a".repeat(64),
    ] {
        assert!(HostPort::parse(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn tls_keys_are_read_and_tls_listens_on_5061_by_default() {
    let cfg = ok(&sip(
        "listen = [\"127.0.0.1:5060\", \"[::1]:5070\"]\ntransports = [\"udp\", \"tls\"]\ntls_certificate = \"chain.pem\"\ntls_private_key = \"key.pem\"",
    ));
    let tls = &cfg.sip.tls;
    assert_eq!(
        tls.listen,
        vec![
            "127.0.0.1:5061".parse().unwrap(),
            "[::1]:5061".parse().unwrap()
        ]
    );
    assert_eq!(tls.certificate.as_deref(), Some("chain.pem".as_ref()));
    assert_eq!(tls.private_key.as_deref(), Some("key.pem".as_ref()));
    assert!(
        !tls.has_roots(),
        "no authority is trusted unless configured"
    );
    let cfg = ok(&sip(
        "transports = [\"tls\"]\ntls_listen = [\"127.0.0.2:5071\"]\ntls_certificate = \"c\"\ntls_private_key = \"k\"\ntls_ca_file = \"ca.pem\"\ntls_system_roots = true",
    ));
    let tls = &cfg.sip.tls;
    assert_eq!(tls.listen, vec!["127.0.0.2:5071".parse().unwrap()]);
    assert_eq!(tls.ca_file.as_deref(), Some("ca.pem".as_ref()));
    assert!(tls.system_roots);
    // Without "tls" in transports nothing listens on TLS, whatever the keys say.
    let cfg = ok(&sip("tls_listen = [\"127.0.0.1:5061\"]"));
    assert!(cfg.sip.tls.listen.is_empty());
    // Connecting only: no certificate needed.
    let cfg = ok(&sip(
        "transports = [\"udp\", \"tls\"]\ntls_listen = []\ntls_ca_file = \"ca.pem\"",
    ));
    assert!(cfg.sip.tls.listen.is_empty() && cfg.sip.tls.certificate.is_none());
}
