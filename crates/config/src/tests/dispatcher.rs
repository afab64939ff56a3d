//! `[[set]]`, `[set.health]`, `[[set.member]]` and `[[route]]`: defaults, every key read, every
//! error with its key path.

use std::num::NonZeroU32;
use std::time::Duration;

use super::{assert_key_err, ok, with_iface};
use crate::{AdminState, Algorithm, HashKey, HealthConfig, MemberTarget, OkCode, Transport};

/// A minimal valid set, plus `extra` keys in it.
fn set(extra: &str) -> String {
    with_iface(&format!(
        "[[set]]\nname = \"pool\"\n{extra}\n[[set.member]]\nuri = \"sip:127.0.0.1:5081\"\n"
    ))
}

/// A set whose only member has `member` keys.
fn member(member: &str) -> String {
    with_iface(&format!(
        "[[set]]\nname = \"pool\"\n[[set.member]]\n{member}\n"
    ))
}

#[test]
fn set_member_and_health_defaults() {
    let cfg = ok(&set(""));
    let s = &cfg.sets[0];
    assert_eq!(s.name, "pool");
    assert_eq!(s.algorithm, Algorithm::RoundRobin);
    assert_eq!(s.hash_key, HashKey::CallId);
    assert_eq!(s.failover_codes, vec![500, 503]);
    assert!(s.fails_over_on(503) && !s.fails_over_on(486));
    assert_eq!(s.max_attempts, 3);
    assert_eq!(s.last_resort, None);
    assert_eq!(s.retry_after, Duration::from_secs(5));
    assert!(!s.register);
    assert!(s.register_networks.is_empty());
    assert_eq!(s.register_max_expires, Duration::from_secs(3600));
    let h = &s.health;
    assert_eq!(*h, HealthConfig::default());
    assert_eq!(h.interval, Duration::from_secs(10));
    assert_eq!(h.timeout, Duration::from_millis(2000));
    assert_eq!((h.down_after, h.up_after), (3, 2));
    assert_eq!(h.ok_codes, vec![OkCode::Class(2)]);
    assert_eq!(h.probe_from.text, "sip:ferrovox@localhost");
    assert_eq!(h.busy_default, None);
    assert!(h.passive);
    let m = &s.members[0];
    assert_eq!(m.uri.text, "sip:127.0.0.1:5081");
    assert_eq!(
        m.target(),
        MemberTarget::Static("127.0.0.1:5081".parse().unwrap())
    );
    assert_eq!(m.transport, Transport::Udp);
    assert_eq!((m.weight, m.priority, m.max_calls), (1, 0, None));
    assert_eq!(m.state, AdminState::Active);
    assert!(cfg.routes.is_empty());
}

#[test]
fn every_set_key_is_read() {
    let cfg = ok(&with_iface(
        r#"
        [sip]
        transports = ["udp", "tcp", "tls"]
        tls_listen = []
        tls_ca_file = "ca.pem"
        [dns]
        servers = ["127.0.0.1:53"]

        [[set]]
        name = "pool_1-a"
        algorithm = "hash"
        hash_key = "ruri_user"
        failover_codes = [408, 699, 300]
        max_attempts = 16
        last_resort = "sips:vm.example.net"
        retry_after_secs = 0
        register = true
        register_networks = ["10.0.0.0/8", "2001:db8::/32", "192.0.2.7"]
        register_max_expires_secs = 86400

        [set.health]
        interval_secs = 3600
        timeout_ms = 100
        down_after = 100
        up_after = 1
        ok_codes = ["2XX", "404", "6xx"]
        probe_from = "sip:probe@lb.example.net:5070"
        busy_default_secs = 3600
        passive = false

        [[set.member]]
        uri = "sip:fs1.example.net"
        transport = "tcp"
        weight = 1000
        priority = 65535
        max_calls = 1000000
        state = "draining"

        [[set.member]]
        uri = "sip:user@[2001:db8::2];transport=TCP;lr"
        state = "disabled"

        [[set.member]]
        uri = "sip:fs3.example.net:5080"

        [[route]]
        name = "out"
        source_networks = ["0.0.0.0/0", "::/0"]
        source_set = "pool_1-a"
        ruri_user_prefix = "+1"
        ruri_host = "Carrier.Example.Net"
        set = "pool_1-a"

        [[route]]
        name = "any"
        ruri_user_prefix = ""
        ruri_host = ""
        set = "pool_1-a"
        "#,
    ));
    let s = &cfg.sets[0];
    assert_eq!(s.algorithm, Algorithm::Hash);
    assert_eq!(s.hash_key, HashKey::RuriUser);
    assert_eq!(s.failover_codes, vec![408, 699, 300]);
    assert_eq!(s.max_attempts, 16);
    let lr = s.last_resort.as_ref().unwrap();
    assert!(lr.uri.secure);
    assert_eq!(lr.transport, Transport::Tls);
    assert_eq!(
        MemberTarget::of(&lr.uri),
        MemberTarget::Service {
            host: "vm.example.net".into()
        }
    );
    assert_eq!(s.retry_after, Duration::ZERO);
    assert!(s.register);
    assert_eq!(s.register_networks.len(), 3);
    assert_eq!(s.register_networks[2].prefix_len, 32);
    assert_eq!(s.register_max_expires, Duration::from_secs(86400));
    let h = &s.health;
    assert_eq!(h.interval, Duration::from_secs(3600));
    assert_eq!(h.timeout, Duration::from_millis(100));
    assert_eq!((h.down_after, h.up_after), (100, 1));
    assert_eq!(
        h.ok_codes,
        vec![OkCode::Class(2), OkCode::Exact(404), OkCode::Class(6)]
    );
    assert!(h.accepts(299) && h.accepts(404) && h.accepts(603) && !h.accepts(503));
    assert_eq!(h.probe_from.port, Some(5070));
    assert_eq!(h.busy_default, Some(Duration::from_secs(3600)));
    assert!(!h.passive);
    let m = &s.members;
    assert_eq!(m[0].transport, Transport::Tcp);
    assert_eq!((m[0].weight, m[0].priority), (1000, 65535));
    assert_eq!(m[0].max_calls, NonZeroU32::new(1_000_000));
    assert_eq!(m[0].state, AdminState::Draining);
    assert!(m[0].uri.needs_dns());
    assert_eq!(m[1].transport, Transport::Tcp);
    assert_eq!(m[1].uri.user.as_deref(), Some("user"));
    assert_eq!(
        m[1].target(),
        MemberTarget::Static("[2001:db8::2]:5060".parse().unwrap())
    );
    assert_eq!(m[1].state, AdminState::Disabled);
    assert_eq!(
        m[2].target(),
        MemberTarget::Address {
            host: "fs3.example.net".into(),
            port: 5080
        }
    );
    let r = &cfg.routes;
    assert_eq!(r[0].source_networks.len(), 2);
    assert_eq!(r[0].source_set.as_deref(), Some("pool_1-a"));
    assert_eq!(r[0].ruri_user_prefix.as_deref(), Some("+1"));
    assert_eq!(r[0].ruri_host.as_deref(), Some("carrier.example.net"));
    assert_eq!(
        (r[1].ruri_user_prefix.as_deref(), r[1].ruri_host.as_deref()),
        (None, None)
    );
}

#[test]
fn a_set_may_have_only_registered_members_and_sips_means_tls() {
    let cfg = ok(&with_iface(
        "[[set]]\nname = \"reg\"\nregister = true\nregister_networks = [\"127.0.0.0/8\"]\n",
    ));
    assert!(cfg.sets[0].members.is_empty());
    let tls = "[sip]\ntransports = [\"udp\", \"tls\"]\ntls_listen = []\ntls_ca_file = \"ca.pem\"\n";
    for uri in [
        "sips:127.0.0.1",
        "sips:127.0.0.1;transport=tcp",
        "sip:127.0.0.1;transport=tls",
    ] {
        let cfg = ok(&format!("{tls}{}", member(&format!("uri = \"{uri}\""))));
        assert_eq!(cfg.sets[0].members[0].transport, Transport::Tls, "{uri}");
        assert_eq!(
            cfg.sets[0].members[0].target(),
            MemberTarget::Static("127.0.0.1:5061".parse().unwrap())
        );
    }
    // "tls" must be spoken, and a TLS member verifiable.
    assert_key_err(
        &member("uri = \"sips:127.0.0.1\""),
        "set[0].member[0].transport",
        "tls is not one of sip.transports (udp, tcp)",
    );
    assert_key_err(
        &format!(
            "[sip]\ntransports = [\"tls\"]\ntls_listen = []\n{}",
            member("uri = \"sips:127.0.0.1\"")
        ),
        "set[0].member[0].transport",
        "needs sip.tls_ca_file or sip.tls_system_roots = true",
    );
}

#[test]
fn set_errors_name_their_key() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "algorithm = \"random\"",
            "set[0].algorithm",
            "unknown value `random`",
        ),
        (
            "hash_key = \"from\"",
            "set[0].hash_key",
            "unknown value `from`",
        ),
        (
            "failover_codes = [299]",
            "set[0].failover_codes[0]",
            "between 300 and 699",
        ),
        (
            "failover_codes = [503, 700]",
            "set[0].failover_codes[1]",
            "between 300 and 699",
        ),
        (
            "failover_codes = [503, 503]",
            "set[0].failover_codes[1]",
            "listed twice",
        ),
        (
            "max_attempts = 0",
            "set[0].max_attempts",
            "between 1 and 16",
        ),
        (
            "max_attempts = 17",
            "set[0].max_attempts",
            "between 1 and 16",
        ),
        (
            "last_resort = \"http://x\"",
            "set[0].last_resort",
            "must start with \"sip:\"",
        ),
        (
            "last_resort = \"sip:vm.example.net\"",
            "set[0].last_resort",
            "needs [dns] servers",
        ),
        (
            "last_resort = \"sip:192.0.2.9;transport=tls\"",
            "set[0].last_resort",
            "tls is not one of sip.transports (udp, tcp)",
        ),
        (
            "last_resort = \"sip:192.0.2.9:0\"",
            "set[0].last_resort",
            "port 0 is not allowed",
        ),
        (
            "retry_after_secs = 3601",
            "set[0].retry_after_secs",
            "between 0 and 3600",
        ),
        (
            "register = true",
            "set[0].register_networks",
            "needs at least one network",
        ),
        (
            "register_networks = [\"10.0.0.1/8\"]",
            "set[0].register_networks[0]",
            "host bits set; the network is 10.0.0.0/8",
        ),
        (
            "register_networks = [\"10.0.0.0/33\"]",
            "set[0].register_networks[0]",
            "must be 0 to 32",
        ),
        (
            "register_networks = [\"ten\"]",
            "set[0].register_networks[0]",
            "is not a network",
        ),
        (
            "register_max_expires_secs = 59",
            "set[0].register_max_expires_secs",
            "between 60 and 86400",
        ),
        ("weight = 1", "set[0].weight", "unknown field `weight`"),
    ];
    for (body, path, reason) in cases {
        assert_key_err(&set(body), path, reason);
    }
    assert_key_err(
        &with_iface("[[set]]\nalgorithm = \"srv\""),
        "set[0].name",
        "required key is missing",
    );
    assert_key_err(
        &with_iface("[[set]]\nname = \"p\""),
        "set[0].member",
        "at least one [[set.member]]",
    );
    assert_key_err(
        &with_iface("[[set]]\nname = \"a b\"\n[[set.member]]\nuri = \"sip:127.0.0.1\""),
        "set[0].name",
        "contains ' '",
    );
    assert_key_err(
        &with_iface(&format!("[[set]]\nname = \"{}\"", "n".repeat(33))),
        "set[0].name",
        "1 to 32 characters",
    );
    let dup = "[[set]]\nname = \"p\"\n[[set.member]]\nuri = \"sip:127.0.0.1\"\n";
    assert_key_err(
        &with_iface(&format!("{dup}{dup}")),
        "set[1].name",
        "already the name of set[0]",
    );
}

#[test]
fn health_errors_name_their_key() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "interval_secs = 0",
            "set[0].health.interval_secs",
            "between 1 and 3600",
        ),
        (
            "interval_secs = 1.5",
            "set[0].health.interval_secs",
            "expected an integer",
        ),
        (
            "timeout_ms = 60001",
            "set[0].health.timeout_ms",
            "between 100 and 60000",
        ),
        (
            "down_after = 0",
            "set[0].health.down_after",
            "between 1 and 100",
        ),
        (
            "up_after = 101",
            "set[0].health.up_after",
            "between 1 and 100",
        ),
        ("ok_codes = []", "set[0].health.ok_codes", "at least one"),
        (
            "ok_codes = [\"2xx\", \"1xx\"]",
            "set[0].health.ok_codes[1]",
            "\"1xx\" is not a class of final replies",
        ),
        (
            "ok_codes = [\"2xx\", \"20\"]",
            "set[0].health.ok_codes[1]",
            "neither a class",
        ),
        (
            "ok_codes = [\"199\"]",
            "set[0].health.ok_codes[0]",
            "neither a class",
        ),
        (
            "ok_codes = [\"7xx\"]",
            "set[0].health.ok_codes[0]",
            "\"7xx\" is not a class of final replies (2xx to 6xx)",
        ),
        (
            "ok_codes = [\"0200\"]",
            "set[0].health.ok_codes[0]",
            "neither a class",
        ),
        (
            "ok_codes = [200]",
            "set[0].health.ok_codes[0]",
            "expected a string",
        ),
        (
            "probe_from = \"ferrovox@localhost\"",
            "set[0].health.probe_from",
            "must start with",
        ),
        (
            "busy_default_secs = 3601",
            "set[0].health.busy_default_secs",
            "between 0 and 3600",
        ),
        (
            "passive = \"yes\"",
            "set[0].health.passive",
            "expected a boolean",
        ),
        (
            "retries = 1",
            "set[0].health.retries",
            "unknown field `retries`",
        ),
    ];
    for (body, path, reason) in cases {
        let text = with_iface(&format!(
            "[[set]]\nname = \"p\"\n[set.health]\n{body}\n[[set.member]]\nuri = \"sip:127.0.0.1\"\n"
        ));
        assert_key_err(&text, path, reason);
    }
}

#[test]
fn member_errors_name_their_key() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "weight = 1",
            "set[0].member[0].uri",
            "required key is missing",
        ),
        (
            "uri = \"tel:+15551234\"",
            "set[0].member[0].uri",
            "must start with \"sip:\" or \"sips:\"",
        ),
        (
            "uri = \"sip:\"",
            "set[0].member[0].uri",
            "the host is empty",
        ),
        (
            "uri = \"sip:127.0.0.1:99999\"",
            "set[0].member[0].uri",
            "not a port number",
        ),
        (
            "uri = \"sip:127.0.0.1:0\"",
            "set[0].member[0].uri",
            "port 0",
        ),
        (
            "uri = \"sip:@127.0.0.1\"",
            "set[0].member[0].uri",
            "empty user part",
        ),
        (
            "uri = \"sip:a b@127.0.0.1\"",
            "set[0].member[0].uri",
            "user part contains ' '",
        ),
        (
            "uri = \"sip:127.0.0.1?subject=x\"",
            "set[0].member[0].uri",
            "headers",
        ),
        (
            "uri = \"sip:127.0.0.1;=x\"",
            "set[0].member[0].uri",
            "empty uri-parameter",
        ),
        (
            "uri = \"sip:127.0.0.1;transport=tls\"",
            "set[0].member[0].uri",
            "tls is not one of sip.transports (udp, tcp)",
        ),
        (
            "uri = \"sips:127.0.0.1;transport=udp\"",
            "set[0].member[0].uri",
            "cannot use transport=udp",
        ),
        (
            "uri = \"sip:fs.example.net\"",
            "set[0].member[0].uri",
            "needs [dns] servers",
        ),
        (
            "uri = \"sip:127.0.0.1\"\ntransport = \"sctp\"",
            "set[0].member[0].transport",
            "unknown value `sctp`",
        ),
        (
            "uri = \"sip:127.0.0.1\"\ntransport = \"tls\"",
            "set[0].member[0].transport",
            "tls is not one of sip.transports",
        ),
        (
            "uri = \"sip:127.0.0.1;transport=sctp\"",
            "set[0].member[0].uri",
            "unknown SIP transport \"sctp\"",
        ),
        (
            "uri = \"sip:127.0.0.1;transport=udp\"\ntransport = \"tcp\"",
            "set[0].member[0].transport",
            "contradicts transport=udp",
        ),
        (
            "uri = \"sips:127.0.0.1\"\ntransport = \"udp\"",
            "set[0].member[0].transport",
            "sips: uri needs tls",
        ),
        (
            "uri = \"sip:127.0.0.1\"\nweight = 0",
            "set[0].member[0].weight",
            "between 1 and 1000",
        ),
        (
            "uri = \"sip:127.0.0.1\"\nweight = 1001",
            "set[0].member[0].weight",
            "between 1 and 1000",
        ),
        (
            "uri = \"sip:127.0.0.1\"\npriority = 65536",
            "set[0].member[0].priority",
            "between 0 and 65535",
        ),
        (
            "uri = \"sip:127.0.0.1\"\nmax_calls = -1",
            "set[0].member[0].max_calls",
            "between 0 and 1000000",
        ),
        (
            "uri = \"sip:127.0.0.1\"\nstate = \"down\"",
            "set[0].member[0].state",
            "unknown value `down`",
        ),
        (
            "uri = \"sip:127.0.0.1\"\nport = 5060",
            "set[0].member[0].port",
            "unknown field `port`",
        ),
    ];
    for (body, path, reason) in cases {
        assert_key_err(&member(body), path, reason);
    }
    // The second member of a set, named by its index; the same next hop twice.
    let two = with_iface(
        "[dns]\nservers = [\"127.0.0.1:53\"]\n[[set]]\nname = \"p\"\n[[set.member]]\nuri = \"sip:127.0.0.1:5060\"\n[[set.member]]\nuri = \"sip:127.0.0.1\"\n",
    );
    assert_key_err(
        &two,
        "set[0].member[1].uri",
        "same next hop as set[0].member[0]",
    );
    let no_dns = with_iface(
        "[[set]]\nname = \"p\"\n[[set.member]]\nuri = \"sip:127.0.0.1\"\n[[set.member]]\nuri = \"sip:fs2.example.net\"\n",
    );
    assert_key_err(&no_dns, "set[0].member[1].uri", "needs [dns] servers");
    // A transport the proxy does not speak.
    let udp_only = |m: &str| {
        with_iface(&format!(
            "[sip]\ntransports = [\"udp\"]\n[[set]]\nname = \"p\"\n[[set.member]]\n{m}\n"
        ))
    };
    assert_key_err(
        &udp_only("uri = \"sip:127.0.0.1\"\ntransport = \"tcp\""),
        "set[0].member[0].transport",
        "tcp is not one of sip.transports (udp)",
    );
    assert_key_err(
        &udp_only("uri = \"sip:127.0.0.1;transport=tcp\""),
        "set[0].member[0].uri",
        "tcp is not one of sip.transports",
    );
}

#[test]
fn route_errors_name_their_key() {
    let route = |body: &str| format!("{}\n[[route]]\n{body}\n", set(""));
    let cases: &[(&str, &str, &str)] = &[
        ("set = \"pool\"", "route[0].name", "required key is missing"),
        ("name = \"r\"", "route[0].set", "required key is missing"),
        (
            "name = \"r\"\nset = \"nope\"",
            "route[0].set",
            "no [[set]] is named \"nope\"",
        ),
        (
            "name = \"r\"\nset = \"pool\"\nsource_set = \"nope\"",
            "route[0].source_set",
            "no [[set]] is named",
        ),
        (
            "name = \"r\"\nset = \"pool\"\nsource_networks = [\"::1/129\"]",
            "route[0].source_networks[0]",
            "must be 0 to 128",
        ),
        (
            "name = \"r\"\nset = \"pool\"\nruri_host = \"a/b\"",
            "route[0].ruri_host",
            "contains '/'",
        ),
        (
            "name = \"r.1\"\nset = \"pool\"",
            "route[0].name",
            "contains '.'",
        ),
        (
            "name = \"r\"\nset = \"pool\"\nmethod = \"INVITE\"",
            "route[0].method",
            "unknown field `method`",
        ),
    ];
    for (body, path, reason) in cases {
        assert_key_err(&route(body), path, reason);
    }
    let two = format!(
        "{}\n[[route]]\nname = \"r\"\nset = \"pool\"\n[[route]]\nname = \"r\"\nset = \"pool\"\n",
        set("")
    );
    assert_key_err(&two, "route[1].name", "already the name of route[0]");
    // Routes without any set.
    assert_key_err(
        &with_iface("[[route]]\nname = \"r\"\nset = \"pool\""),
        "route[0].set",
        "no [[set]] is named",
    );
}

#[test]
fn set_media_is_anchored_by_default_on_known_interfaces() {
    use crate::MediaPlan;
    let two = |extra: &str| {
        format!(
            "{}\n[[interface]]\nname = \"inside\"\naddress = \"127.0.0.1\"\nport_min = 32000\nport_max = 32099\n",
            set(extra)
        )
    };
    // Callers on the first interface's name, members on the first other name.
    let anchored = |caller: &str, member: &str| MediaPlan::Anchor {
        caller: caller.into(),
        member: member.into(),
    };
    assert_eq!(ok(&two("")).sets[0].media, anchored("pub", "inside"));
    assert_eq!(ok(&set("")).sets[0].media, anchored("pub", "pub"));
    let flipped = "[set.media]\ncaller_interface = \"inside\"\nmember_interface = \"pub\"";
    assert_eq!(ok(&two(flipped)).sets[0].media, anchored("inside", "pub"));
    let off = ok(&set("[set.media]\nanchor = false"));
    assert_eq!(off.sets[0].media, MediaPlan::Off);
    assert_key_err(
        &set("[set.media]\nmember_interface = \"nope\""),
        "set[0].media.member_interface",
        "is not the name of any [[interface]]",
    );
    assert_key_err(
        &set("[set.media]\nanchors = true"),
        "set[0].media.anchors",
        "unknown field",
    );
}
