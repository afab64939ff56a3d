//! DNS-found members and members that join by REGISTER.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use dispatch::MemberTarget;
use sip::Transport;

use super::{dispatcher, events, first_set, ids, pick, port, secs};
use dispatch::{
    DispatchEvent, Origin, RegisterError, Registration, RemoveReason, ResolvedTarget, SourceId,
};

const DNS_SET: &str = r#"
[dns]
servers = ["127.0.0.1:53"]
[[set]]
name = "pool"
algorithm = "srv"
[[set.member]]
uri = "sip:fs.example.net"
[[set.member]]
uri = "sip:127.0.0.1:5081"
priority = 5
"#;

fn target(port: u16, srv: Option<(u16, u16)>) -> ResolvedTarget {
    ResolvedTarget {
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        transport: Transport::Udp,
        srv,
    }
}

fn source(d: &dispatch::Dispatcher) -> SourceId {
    let sources: Vec<_> = d.dns_sources().collect();
    assert_eq!(sources.len(), 1);
    assert_eq!(
        sources[0].target,
        MemberTarget::Service {
            host: "fs.example.net".into()
        }
    );
    sources[0].id
}

#[test]
fn dns_answers_add_keep_and_remove_members() {
    let t0 = Instant::now();
    let mut d = dispatcher(DNS_SET, t0);
    // Before any answer only the static member exists.
    assert_eq!(ids(&d).len(), 1);
    let src = source(&d);
    d.set_resolved(
        src,
        &[target(5090, Some((1, 3))), target(5091, Some((1, 1)))],
        t0,
    )
    .unwrap();
    let m = ids(&d);
    assert_eq!(m.len(), 3);
    assert_eq!(d.member(m[0]).unwrap().uri(), "sip:127.0.0.1:5090");
    assert_eq!(d.member(m[0]).unwrap().origin(), Origin::Dns(src));
    // SRV priorities beat the static member's priority 5; SRV weights 3:1 within.
    let mut count = [0u32; 2];
    for _ in 0..40 {
        let id = pick(&mut d, &[], t0);
        match port(&d, id) {
            5090 => count[0] += 1,
            5091 => count[1] += 1,
            other => panic!("picked {other}"),
        }
    }
    assert_eq!(count, [30, 10]);
    // New members are probed at once.
    let probed: Vec<u16> = std::iter::from_fn(|| d.poll_probe(t0))
        .map(|r| r.target.port())
        .collect();
    assert!(probed.contains(&5090) && probed.contains(&5091));
    // A new answer: 5090 stays (same member, calls kept), 5091 goes, 5092 comes.
    d.call_started(m[0]);
    events(&mut d);
    d.set_resolved(
        src,
        &[target(5092, Some((1, 1))), target(5090, Some((1, 3)))],
        t0,
    )
    .unwrap();
    assert_eq!(d.member(m[0]).unwrap().active_calls(), 1);
    assert!(d.member(m[1]).is_none());
    let ev = events(&mut d);
    assert!(ev.iter().any(|e| matches!(e, DispatchEvent::Removed { member, reason: RemoveReason::Unresolved, .. } if *member == m[1])));
    assert!(ev.iter().any(|e| matches!(e, DispatchEvent::Added { .. })));
    // An empty answer removes them all; the static member remains.
    d.set_resolved(src, &[], t0).unwrap();
    assert_eq!(ids(&d).len(), 1);
    // An entry a reload removed names nothing any more.
    d.reconfigure(&[], &[], t0);
    assert!(d.set_resolved(src, &[], t0).is_err());
}

#[test]
fn weight_zero_srv_targets_only_when_nothing_else_is_left() {
    let t0 = Instant::now();
    let mut d = dispatcher(DNS_SET, t0);
    let src = source(&d);
    d.set_resolved(
        src,
        &[target(5090, Some((1, 0))), target(5091, Some((1, 2)))],
        t0,
    )
    .unwrap();
    let m = ids(&d);
    for _ in 0..10 {
        assert_eq!(pick(&mut d, &[], t0), m[1]);
    }
    assert_eq!(pick(&mut d, &[m[1]], t0), m[0]);
}

#[test]
fn a_target_without_srv_keeps_the_entry_priority_and_weight() {
    let t0 = Instant::now();
    let text = r#"
        [dns]
        servers = ["127.0.0.1:53"]
        [[set]]
        name = "pool"
        [[set.member]]
        uri = "sip:fs.example.net:5070;transport=tcp"
        weight = 7
        priority = 3
    "#;
    let mut d = dispatcher(text, t0);
    let s: Vec<_> = d.dns_sources().collect();
    assert_eq!(s[0].transport, Transport::Tcp);
    assert_eq!(
        s[0].target,
        MemberTarget::Address {
            host: "fs.example.net".into(),
            port: 5070
        }
    );
    let src = s[0].id;
    let t = ResolvedTarget {
        addr: "[::1]:5070".parse().unwrap(),
        transport: Transport::Tcp,
        srv: None,
    };
    d.set_resolved(src, &[t, t], t0).unwrap();
    let m = ids(&d);
    assert_eq!(m.len(), 1);
    let mem = d.member(m[0]).unwrap();
    assert_eq!((mem.weight(), mem.priority()), (7, 3));
    assert_eq!(mem.uri(), "sip:[::1]:5070;transport=tcp");
}

const REG_SET: &str = r#"
[[set]]
name = "fs"
register = true
register_networks = ["10.0.0.0/8", "127.0.0.0/8"]
register_max_expires_secs = 600
[[set.member]]
uri = "sip:127.0.0.1:5081"
"#;

fn reg(source: &str, contact: &str, expires: u64) -> Registration<'static> {
    let contact: SocketAddr = contact.parse().unwrap();
    Registration {
        source: source.parse::<IpAddr>().unwrap(),
        contact,
        uri: "sip:fs@10.1.1.1:5060",
        transport: Transport::Udp,
        expires: Duration::from_secs(expires),
    }
}

#[test]
fn register_joins_refreshes_expires_and_unregisters() {
    let t0 = Instant::now();
    let mut d = dispatcher(REG_SET, t0);
    let set = d.set_id("fs").unwrap();
    events(&mut d);
    // Longer than the maximum: shortened.
    assert_eq!(
        d.register(set, reg("10.1.1.1", "10.1.1.1:5060", 3600), t0),
        Ok(secs(600))
    );
    let m = ids(&d);
    assert_eq!(m.len(), 2);
    assert!(d.is_member(set, "10.1.1.1:5060".parse().unwrap()));
    assert!(matches!(events(&mut d)[..], [DispatchEvent::Added { .. }]));
    // Probed at once, and takes calls.
    assert_eq!(d.poll_probe(t0).map(|r| r.probe.member), Some(m[0]));
    assert_eq!(d.poll_probe(t0).map(|r| r.probe.member), Some(m[1]));
    // Refresh at 500 s: a new 600 s from then; still there at 1000 s.
    assert_eq!(
        d.register(set, reg("10.1.1.1", "10.1.1.1:5060", 600), t0 + secs(500)),
        Ok(secs(600))
    );
    assert_eq!(ids(&d).len(), 2);
    d.handle_timeout(t0 + secs(1000));
    assert_eq!(ids(&d).len(), 2);
    assert!(d.poll_timeout().unwrap() <= t0 + secs(1100));
    // Expiry removes it with an event.
    d.handle_timeout(t0 + secs(1100));
    assert_eq!(ids(&d).len(), 1);
    assert!(events(&mut d).iter().any(|e| matches!(
        e,
        DispatchEvent::Removed {
            reason: RemoveReason::Expired,
            ..
        }
    )));
    // Join again, then leave with expires 0.
    d.register(set, reg("10.1.1.1", "10.1.1.1:5060", 60), t0 + secs(1200))
        .unwrap();
    assert_eq!(ids(&d).len(), 2);
    assert_eq!(
        d.register(set, reg("10.1.1.1", "10.1.1.1:5060", 0), t0 + secs(1201)),
        Ok(secs(0))
    );
    assert_eq!(ids(&d).len(), 1);
}

#[test]
fn register_is_refused_outside_networks_and_sets_without_register() {
    let t0 = Instant::now();
    let mut d = dispatcher(REG_SET, t0);
    let set = d.set_id("fs").unwrap();
    assert_eq!(
        d.register(set, reg("192.0.2.1", "10.1.1.1:5060", 60), t0),
        Err(RegisterError::SourceNotAllowed(
            "192.0.2.1".parse().unwrap()
        ))
    );
    let mut d2 = dispatcher(&super::pool(1, "", ""), t0);
    let set2 = first_set(&d2);
    assert_eq!(
        d2.register(set2, reg("127.0.0.1", "127.0.0.1:5090", 60), t0),
        Err(RegisterError::NotAllowed("pool".into()))
    );
    d2.reconfigure(&[], &[], t0);
    assert_eq!(
        d2.register(set2, reg("10.1.1.1", "10.1.1.1:5060", 60), t0),
        Err(RegisterError::UnknownSet)
    );
    // A static member registering is accepted without a second member.
    assert_eq!(
        d.register(set, reg("127.0.0.1", "127.0.0.1:5081", 60), t0),
        Ok(secs(60))
    );
    assert_eq!(ids(&d).len(), 1);
}

#[test]
fn register_stops_at_the_per_set_limit() {
    let t0 = Instant::now();
    let mut d = dispatcher(REG_SET, t0);
    let set = d.set_id("fs").unwrap();
    for i in 0..dispatch::MAX_REGISTERED_PER_SET {
        let contact = SocketAddr::from(([10, 2, (i / 250) as u8, (i % 250) as u8], 5060));
        let r = Registration {
            contact,
            ..reg("10.0.0.1", "10.1.1.1:5060", 60)
        };
        d.register(set, r, t0).unwrap();
    }
    assert_eq!(
        d.register(set, reg("10.0.0.1", "10.9.9.9:5060", 60), t0),
        Err(RegisterError::SetFull("fs".into()))
    );
}

#[test]
fn dns_found_members_are_named_by_scheme_and_transport() {
    let t0 = Instant::now();
    // A sips: member needs TLS among the transports and an authority to verify it.
    let text = "[sip]\ntransports = [\"udp\", \"tcp\", \"tls\"]\ntls_listen = []\n\
                tls_system_roots = true\n\
                [dns]\nservers = [\"127.0.0.1:53\"]\n[[set]]\nname = \"pool\"\n\
                [[set.member]]\nuri = \"sip:fs.example.net\"\n\
                [[set.member]]\nuri = \"sips:tls.example.net\"\n";
    let mut d = dispatcher(text, t0);
    let sources: Vec<(SourceId, bool)> = d.dns_sources().map(|s| (s.id, s.uri.secure)).collect();
    assert_eq!(sources.len(), 2);
    let at = |port: u16, transport: Transport| ResolvedTarget {
        addr: SocketAddr::from(([192, 0, 2, 1], port)),
        transport,
        srv: None,
    };
    for (id, secure) in sources {
        let targets = if secure {
            vec![at(5061, Transport::Tls), at(5062, Transport::Tcp)]
        } else {
            vec![
                at(5060, Transport::Udp),
                at(5070, Transport::Tcp),
                at(5071, Transport::Tls),
            ]
        };
        d.set_resolved(id, &targets, t0).unwrap();
    }
    let uris: Vec<String> = ids(&d)
        .into_iter()
        .map(|m| d.member(m).unwrap().uri().to_owned())
        .collect();
    assert_eq!(
        uris,
        [
            "sip:192.0.2.1:5060",
            "sip:192.0.2.1:5070;transport=tcp",
            "sip:192.0.2.1:5071;transport=tls",
            "sips:192.0.2.1:5061",
            "sips:192.0.2.1:5062;transport=tcp",
        ]
    );
}
