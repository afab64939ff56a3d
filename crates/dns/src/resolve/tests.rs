//! RFC 3263 location tests, driven without sockets: each transmit is answered by a closure
//! (usually a [`Zone`]) and time only moves when the lookup asks for a timeout.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use super::*;
use crate::wire::{encode_message, parse_message, Message, RecordType};
use crate::zone::Zone;
use crate::Name;

const S1: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 53)), 53);
const S2: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 54)), 53);

fn ip4(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(192, 0, 2, last))
}

fn sa(last: u8, port: u16) -> SocketAddr {
    SocketAddr::new(ip4(last), port)
}

/// One query as seen on the "wire".
#[derive(Debug, Clone, PartialEq)]
struct Sent {
    to: SocketAddr,
    protocol: Protocol,
    qtype: RecordType,
    name: String,
}

/// Runs a lookup to completion; `respond` gets each query and returns the datagrams to feed
/// back, as (source, bytes). Returns the queries sent and the time at the end.
fn run<F>(lookup: &mut Lookup, start: Instant, mut respond: F) -> (Vec<Sent>, Instant)
where
    F: FnMut(&Transmit, &Message) -> Vec<(SocketAddr, Vec<u8>)>,
{
    let mut now = start;
    let mut sent = Vec::new();
    for _ in 0..1000 {
        while let Some(t) = lookup.poll_transmit() {
            let q = parse_message(&t.bytes).expect("lookup sends valid queries");
            assert!(q.header.recursion_desired && !q.header.response);
            let question = &q.questions[0];
            sent.push(Sent {
                to: t.dst,
                protocol: t.protocol,
                qtype: question.qtype,
                name: question.name.to_string(),
            });
            for (from, bytes) in respond(&t, &q) {
                lookup.handle_response(from, &bytes, now);
            }
        }
        if lookup.is_done() {
            return (sent, now);
        }
        now = lookup
            .poll_timeout()
            .expect("an unfinished lookup waits for something");
        lookup.handle_timeout(now);
    }
    panic!("lookup did not finish");
}

/// A responder serving `zone` from whichever server was asked, UDP and TCP.
fn serve(zone: &Zone) -> impl FnMut(&Transmit, &Message) -> Vec<(SocketAddr, Vec<u8>)> + '_ {
    move |t, _| {
        let reply = match t.protocol {
            Protocol::Udp => zone.answer(&t.bytes),
            Protocol::Tcp => zone.answer_tcp(&t.bytes),
        };
        reply.map(|r| (t.dst, r)).into_iter().collect()
    }
}

/// A responder serving `zone` with `edit` applied to each response message.
fn serve_edited<'a>(
    zone: &'a Zone,
    mut edit: impl FnMut(&mut Message) + 'a,
) -> impl FnMut(&Transmit, &Message) -> Vec<(SocketAddr, Vec<u8>)> + 'a {
    move |t, q| {
        let mut resp = zone.respond(q);
        edit(&mut resp);
        vec![(t.dst, encode_message(&resp).expect("encode"))]
    }
}

fn opts() -> LookupOptions {
    LookupOptions {
        ipv6: false,
        ..LookupOptions::default()
    }
}

fn lookup(spec: LookupSpec, now: Instant) -> Lookup {
    Lookup::new(&spec, &[S1], opts(), now, [42; 32])
}

fn resolved(l: &Lookup) -> &Resolved {
    match l.result() {
        Some(Ok(r)) => r,
        other => panic!("expected targets, got {other:?}"),
    }
}

fn failed(l: &Lookup) -> ResolveError {
    match l.result() {
        Some(Err(e)) => *e,
        other => panic!("expected an error, got {other:?}"),
    }
}

fn target(addr: SocketAddr, transport: Transport, priority: u16, weight: u16) -> Target {
    Target {
        addr,
        transport,
        priority,
        weight,
    }
}

fn qtypes(sent: &[Sent]) -> Vec<(RecordType, &str)> {
    sent.iter().map(|s| (s.qtype, s.name.as_str())).collect()
}

/// example.test with NAPTR -> SRV -> A for UDP and TCP, and an A record at the apex.
fn full_zone() -> Zone {
    Zone::new()
        .soa("example.test", 300, 30)
        .and_then(|z| {
            z.sip_naptr(
                "example.test",
                50,
                10,
                "SIP+D2U",
                "_sip._udp.example.test",
                600,
            )
        })
        .and_then(|z| {
            z.sip_naptr(
                "example.test",
                90,
                10,
                "SIP+D2T",
                "_sip._tcp.example.test",
                600,
            )
        })
        .and_then(|z| {
            z.srv(
                "_sip._udp.example.test",
                10,
                60,
                5060,
                "fs1.example.test",
                300,
            )
        })
        .and_then(|z| {
            z.srv(
                "_sip._udp.example.test",
                10,
                40,
                5062,
                "fs2.example.test",
                200,
            )
        })
        .and_then(|z| {
            z.srv(
                "_sip._tcp.example.test",
                10,
                0,
                5060,
                "fs1.example.test",
                300,
            )
        })
        .and_then(|z| z.a("fs1.example.test", Ipv4Addr::new(192, 0, 2, 1), 120))
        .and_then(|z| z.a("fs2.example.test", Ipv4Addr::new(192, 0, 2, 2), 240))
        .and_then(|z| z.a("example.test", Ipv4Addr::new(192, 0, 2, 100), 60))
        .expect("valid zone")
}

#[test]
fn numeric_host_needs_no_query() {
    let now = Instant::now();
    let mut l = lookup(LookupSpec::host("192.0.2.7"), now);
    assert!(l.poll_transmit().is_none() && l.poll_timeout().is_none());
    let r = resolved(&l);
    assert_eq!(r.targets, [target(sa(7, 5060), Transport::Udp, 0, 0)]);
    assert_eq!(r.expires_at, now + opts().max_ttl);

    let spec = LookupSpec {
        host: "[::1]".into(),
        port: Some(5070),
        transport: Some(Transport::Tcp),
        secure: false,
    };
    let l = lookup(spec, now);
    let addr = SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 5070);
    assert_eq!(resolved(&l).targets, [target(addr, Transport::Tcp, 0, 0)]);

    // RFC 3263 §4.1/§4.2: a SIPS URI defaults to TLS and 5061.
    let spec = LookupSpec {
        secure: true,
        ..LookupSpec::host("192.0.2.8")
    };
    assert_eq!(
        resolved(&lookup(spec, now)).targets,
        [target(sa(8, 5061), Transport::Tls, 0, 0)]
    );
}

#[test]
fn explicit_port_skips_naptr_and_srv() {
    let zone = full_zone();
    let now = Instant::now();
    let spec = LookupSpec {
        port: Some(5080),
        ..LookupSpec::host("example.test")
    };
    let mut l = Lookup::new(&spec, &[S1], LookupOptions::default(), now, [1; 32]);
    let (sent, _) = run(&mut l, now, serve(&zone));
    assert_eq!(
        qtypes(&sent),
        [
            (RecordType::A, "example.test"),
            (RecordType::AAAA, "example.test")
        ]
    );
    assert_eq!(
        resolved(&l).targets,
        [target(sa(100, 5080), Transport::Udp, 0, 0)]
    );
}

#[test]
fn naptr_then_srv_from_additionals() {
    let zone = full_zone();
    let now = Instant::now();
    let mut l = lookup(LookupSpec::host("example.test"), now);
    let (sent, _) = run(&mut l, now, serve(&zone));
    // The NAPTR answer carried the SRV records and their addresses: one query in all.
    assert_eq!(qtypes(&sent), [(RecordType::NAPTR, "example.test")]);
    let r = resolved(&l);
    assert_eq!(
        r.targets,
        [
            target(sa(1, 5060), Transport::Udp, 10, 60),
            target(sa(2, 5062), Transport::Udp, 10, 40)
        ]
    );
    // Least TTL used: SRV fs2 (200) vs A fs1 (120), NAPTR 600 -> 120 s.
    assert_eq!(r.expires_at, now + Duration::from_secs(120));
}

#[test]
fn srv_targets_asked_when_not_in_additionals() {
    let zone = full_zone();
    let now = Instant::now();
    let mut l = lookup(LookupSpec::host("example.test"), now);
    let (sent, _) = run(&mut l, now, serve_edited(&zone, |m| m.additionals.clear()));
    assert_eq!(
        qtypes(&sent),
        [
            (RecordType::NAPTR, "example.test"),
            (RecordType::SRV, "_sip._udp.example.test"),
            (RecordType::A, "fs1.example.test"),
            (RecordType::A, "fs2.example.test"),
        ]
    );
    assert_eq!(resolved(&l).targets.len(), 2);
}

#[test]
fn naptr_order_then_preference_and_unsupported_services_skipped() {
    let naptr =
        |flags: &[u8], services: &[u8], regexp: &[u8], replacement: &str| crate::wire::Naptr {
            order: 10,
            preference: 5,
            flags: flags.to_vec(),
            services: services.to_vec(),
            regexp: regexp.to_vec(),
            replacement: Name::parse(replacement).expect("name"),
        };
    let zone = Zone::new()
        // Best by ORDER/PREFERENCE but not usable: SCTP, an "a" flag, a regexp, an "u" flag.
        .naptr(
            "example.test",
            60,
            naptr(b"s", b"SIP+D2S", b"", "_sip._sctp.example.test"),
        )
        .and_then(|z| {
            z.naptr(
                "example.test",
                60,
                naptr(b"a", b"SIP+D2U", b"", "fs9.example.test"),
            )
        })
        .and_then(|z| {
            z.naptr(
                "example.test",
                60,
                naptr(b"s", b"SIP+D2U", b"!^.*$!x!", "_sip._udp.example.test"),
            )
        })
        .and_then(|z| {
            z.naptr(
                "example.test",
                60,
                naptr(b"u", b"E2U+sip", b"!^.*$!sip:x@y!", "."),
            )
        })
        // Usable, listed worst first: order 30, then order 20 pref 9, then order 20 pref 1.
        .and_then(|z| {
            z.sip_naptr(
                "example.test",
                30,
                1,
                "SIP+D2U",
                "_sip._udp.example.test",
                60,
            )
        })
        .and_then(|z| {
            z.sip_naptr(
                "example.test",
                20,
                9,
                "sip+d2t",
                "_sip._tcp.example.test",
                60,
            )
        })
        .and_then(|z| {
            z.sip_naptr(
                "example.test",
                20,
                1,
                "SIPS+D2T",
                "_sips._tcp.example.test",
                60,
            )
        })
        .and_then(|z| z.srv("_sip._udp.example.test", 1, 1, 5060, "fs1.example.test", 60))
        .and_then(|z| z.srv("_sip._tcp.example.test", 1, 1, 5060, "fs1.example.test", 60))
        .and_then(|z| z.a("fs1.example.test", Ipv4Addr::new(192, 0, 2, 1), 60))
        .expect("zone");
    let now = Instant::now();
    let mut l = lookup(LookupSpec::host("example.test"), now);
    let (sent, _) = run(&mut l, now, serve_edited(&zone, |m| m.additionals.clear()));
    // _sips._tcp (best) has no SRV, so the next by preference, _sip._tcp, is used.
    assert_eq!(
        qtypes(&sent),
        [
            (RecordType::NAPTR, "example.test"),
            (RecordType::SRV, "_sips._tcp.example.test"),
            (RecordType::SRV, "_sip._tcp.example.test"),
            (RecordType::A, "fs1.example.test"),
        ]
    );
    assert_eq!(
        resolved(&l).targets,
        [target(sa(1, 5060), Transport::Tcp, 1, 1)]
    );

    // A SIPS URI keeps only SIPS+D2T (RFC 3263 §4.1): its SRV is missing, so no target.
    let spec = LookupSpec {
        secure: true,
        ..LookupSpec::host("example.test")
    };
    let mut l = lookup(spec, now);
    let (sent, _) = run(&mut l, now, serve(&zone));
    assert_eq!(
        qtypes(&sent)[1..],
        [(RecordType::SRV, "_sips._tcp.example.test")]
    );
    assert_eq!(failed(&l).kind, ResolveErrorKind::NoRecords);
}

#[test]
fn no_naptr_falls_back_to_srv_udp_then_tcp() {
    let zone = Zone::new()
        .srv("_sip._tcp.example.test", 5, 7, 5070, "fs1.example.test", 60)
        .and_then(|z| z.a("fs1.example.test", Ipv4Addr::new(192, 0, 2, 1), 60))
        .expect("zone");
    let now = Instant::now();
    let mut l = lookup(LookupSpec::host("example.test"), now);
    let (sent, _) = run(&mut l, now, serve(&zone));
    assert_eq!(
        qtypes(&sent),
        [
            (RecordType::NAPTR, "example.test"),
            (RecordType::SRV, "_sip._udp.example.test"),
            (RecordType::SRV, "_sip._tcp.example.test"),
        ]
    );
    assert_eq!(
        resolved(&l).targets,
        [target(sa(1, 5070), Transport::Tcp, 5, 7)]
    );
}

#[test]
fn no_srv_falls_back_to_host_addresses_on_default_port() {
    let zone = Zone::new()
        .a("example.test", Ipv4Addr::new(192, 0, 2, 9), 60)
        .expect("zone");
    let now = Instant::now();
    let mut l = lookup(LookupSpec::host("example.test"), now);
    let (sent, _) = run(&mut l, now, serve(&zone));
    assert_eq!(sent.len(), 4, "NAPTR, two SRV, A: {sent:?}");
    assert_eq!(
        resolved(&l).targets,
        [target(sa(9, 5060), Transport::Udp, 0, 0)]
    );

    let spec = LookupSpec {
        secure: true,
        ..LookupSpec::host("example.test")
    };
    let mut l = lookup(spec, now);
    let (sent, _) = run(&mut l, now, serve(&zone));
    assert_eq!(
        qtypes(&sent)[1],
        (RecordType::SRV, "_sips._tcp.example.test")
    );
    assert_eq!(
        resolved(&l).targets,
        [target(sa(9, 5061), Transport::Tls, 0, 0)]
    );
}

#[test]
fn transport_param_asks_that_srv_only() {
    let zone = full_zone();
    let now = Instant::now();
    let spec = LookupSpec {
        transport: Some(Transport::Tcp),
        ..LookupSpec::host("example.test")
    };
    let mut l = lookup(spec, now);
    let (sent, _) = run(&mut l, now, serve(&zone));
    assert_eq!(qtypes(&sent), [(RecordType::SRV, "_sip._tcp.example.test")]);
    assert_eq!(
        resolved(&l).targets,
        [target(sa(1, 5060), Transport::Tcp, 10, 0)]
    );
}

#[test]
fn srv_priority_order_and_weight_zero_kept() {
    let zone = Zone::new()
        .srv(
            "_sip._udp.example.test",
            20,
            0,
            5060,
            "fs3.example.test",
            60,
        )
        .and_then(|z| {
            z.srv(
                "_sip._udp.example.test",
                10,
                0,
                5060,
                "fs1.example.test",
                60,
            )
        })
        .and_then(|z| {
            z.srv(
                "_sip._udp.example.test",
                10,
                5,
                5060,
                "fs2.example.test",
                60,
            )
        })
        .and_then(|z| z.a("fs1.example.test", Ipv4Addr::new(192, 0, 2, 1), 60))
        .and_then(|z| z.a("fs2.example.test", Ipv4Addr::new(192, 0, 2, 2), 60))
        .and_then(|z| z.a("fs3.example.test", Ipv4Addr::new(192, 0, 2, 3), 60))
        .expect("zone");
    let now = Instant::now();
    let mut l = lookup(LookupSpec::host("example.test"), now);
    run(&mut l, now, serve(&zone));
    assert_eq!(
        resolved(&l).targets,
        [
            target(sa(1, 5060), Transport::Udp, 10, 0),
            target(sa(2, 5060), Transport::Udp, 10, 5),
            target(sa(3, 5060), Transport::Udp, 20, 0),
        ]
    );
}

#[test]
fn srv_dot_target_means_not_offered() {
    // RFC 2782: a lone "." target: the service is decidedly not available; no A fallback.
    let zone = Zone::new()
        .srv("_sip._udp.example.test", 0, 0, 0, ".", 60)
        .and_then(|z| z.a("example.test", Ipv4Addr::new(192, 0, 2, 9), 60))
        .expect("zone");
    let now = Instant::now();
    let mut l = lookup(LookupSpec::host("example.test"), now);
    let (sent, _) = run(&mut l, now, serve(&zone));
    assert!(sent.iter().all(|s| s.qtype != RecordType::A), "{sent:?}");
    assert_eq!(failed(&l).kind, ResolveErrorKind::NoRecords);
}

#[test]
fn cname_chain_followed_within_and_across_responses() {
    let zone = Zone::new()
        .cname("sip.example.test", "alias.example.test", 30)
        .and_then(|z| z.cname("alias.example.test", "real.example.test", 50))
        .and_then(|z| z.a("real.example.test", Ipv4Addr::new(192, 0, 2, 5), 90))
        .expect("zone");
    let now = Instant::now();
    let spec = LookupSpec {
        port: Some(5060),
        ..LookupSpec::host("sip.example.test")
    };
    let mut l = lookup(spec.clone(), now);
    let (sent, _) = run(&mut l, now, serve(&zone));
    assert_eq!(sent.len(), 1, "the whole chain came in one answer");
    let r = resolved(&l);
    assert_eq!(r.targets, [target(sa(5, 5060), Transport::Udp, 0, 0)]);
    assert_eq!(
        r.expires_at,
        now + Duration::from_secs(30),
        "the CNAME TTL counts"
    );

    // A server that returns only the first link: the lookup asks again for the target.
    let mut l = lookup(spec, now);
    let (sent, _) = run(&mut l, now, serve_edited(&zone, |m| m.answers.truncate(1)));
    assert_eq!(
        qtypes(&sent),
        [
            (RecordType::A, "sip.example.test"),
            (RecordType::A, "alias.example.test"),
            (RecordType::A, "real.example.test")
        ]
    );
    assert_eq!(
        resolved(&l).targets,
        [target(sa(5, 5060), Transport::Udp, 0, 0)]
    );
}

#[test]
fn cname_loop_and_long_chain_are_errors() {
    let zone = Zone::new()
        .cname("a.example.test", "b.example.test", 30)
        .and_then(|z| z.cname("b.example.test", "a.example.test", 30))
        .expect("zone");
    let now = Instant::now();
    let spec = LookupSpec {
        port: Some(5060),
        ..LookupSpec::host("a.example.test")
    };
    let mut l = lookup(spec, now);
    run(&mut l, now, serve(&zone));
    assert_eq!(failed(&l).kind, ResolveErrorKind::CnameLoop);

    let mut zone = Zone::new();
    for i in 0..12 {
        zone = zone
            .cname(
                &format!("c{i}.example.test"),
                &format!("c{}.example.test", i + 1),
                30,
            )
            .expect("zone");
    }
    let spec = LookupSpec {
        port: Some(5060),
        ..LookupSpec::host("c0.example.test")
    };
    let mut l = lookup(spec, now);
    let (sent, _) = run(&mut l, now, serve(&zone));
    assert_eq!(failed(&l).kind, ResolveErrorKind::CnameChainTooLong);
    assert!(sent.len() <= 2, "bounded: {sent:?}");
}

#[test]
fn ttl_clamped_to_bounds() {
    let now = Instant::now();
    let spec = LookupSpec {
        port: Some(5060),
        ..LookupSpec::host("fs.example.test")
    };
    let bounds = LookupOptions {
        min_ttl: Duration::from_secs(10),
        max_ttl: Duration::from_secs(100),
        ..opts()
    };
    for (ttl, want) in [(1, 10), (50, 50), (86_400, 100)] {
        let zone = Zone::new()
            .a("fs.example.test", Ipv4Addr::new(192, 0, 2, 1), ttl)
            .expect("zone");
        let mut l = Lookup::new(&spec, &[S1], bounds, now, [3; 32]);
        run(&mut l, now, serve(&zone));
        assert_eq!(
            resolved(&l).expires_at,
            now + Duration::from_secs(want),
            "ttl {ttl}"
        );
    }
}

#[test]
fn nxdomain_uses_negative_ttl_from_soa() {
    let zone = Zone::new().soa("example.test", 300, 45).expect("zone");
    let now = Instant::now();
    let mut l = lookup(LookupSpec::host("nope.example.test"), now);
    let (sent, end) = run(&mut l, now, serve(&zone));
    assert_eq!(
        sent.len(),
        1,
        "RFC 8020: no SRV queries below a name that does not exist"
    );
    let e = failed(&l);
    assert_eq!(e.kind, ResolveErrorKind::NxDomain);
    assert_eq!(e.retry_at, end + Duration::from_secs(45));

    // No data at all for an existing name: NoRecords after the whole RFC 3263 walk.
    let zone = Zone::new()
        .soa("example.test", 20, 45)
        .and_then(|z| z.srv("_x._udp.example.test", 0, 0, 1, "fs.example.test", 60))
        .expect("zone");
    let spec = LookupSpec {
        port: Some(5060),
        ..LookupSpec::host("example.test")
    };
    let mut l = lookup(spec, now);
    run(&mut l, now, serve(&zone));
    let e = failed(&l);
    assert_eq!(e.kind, ResolveErrorKind::NoRecords);
    assert_eq!(
        e.retry_at,
        now + Duration::from_secs(20),
        "min(SOA TTL, MINIMUM)"
    );
}

#[test]
fn retries_to_second_server_after_timeout() {
    let zone = full_zone();
    let now = Instant::now();
    let spec = LookupSpec {
        port: Some(5060),
        ..LookupSpec::host("example.test")
    };
    let mut l = Lookup::new(&spec, &[S1, S2], opts(), now, [9; 32]);
    let mut answer = serve(&zone);
    let (sent, end) = run(&mut l, now, |t, q| {
        if t.dst == S1 {
            Vec::new()
        } else {
            answer(t, q)
        }
    });
    assert_eq!(sent.iter().map(|s| s.to).collect::<Vec<_>>(), [S1, S2]);
    assert_eq!(
        end,
        now + opts().timeout,
        "the retry went out when the first try timed out"
    );
    assert_eq!(
        resolved(&l).targets,
        [target(sa(100, 5060), Transport::Udp, 0, 0)]
    );
    assert_eq!(l.stats().timeouts, 1);
}

#[test]
fn all_servers_silent_is_a_timeout_after_every_try() {
    let now = Instant::now();
    let spec = LookupSpec {
        port: Some(5060),
        ..LookupSpec::host("example.test")
    };
    let o = LookupOptions {
        attempts: 3,
        ..opts()
    };
    let mut l = Lookup::new(&spec, &[S1, S2], o, now, [9; 32]);
    let (sent, end) = run(&mut l, now, |_, _| Vec::new());
    assert_eq!(
        sent.iter().map(|s| s.to).collect::<Vec<_>>(),
        [S1, S2, S1, S2, S1, S2]
    );
    assert_eq!(end, now + o.timeout * 6);
    let e = failed(&l);
    assert_eq!(e.kind, ResolveErrorKind::Timeout);
    assert_eq!(e.retry_at, end + o.min_ttl);
}

#[test]
fn server_failure_moves_to_next_server() {
    let zone = full_zone();
    let now = Instant::now();
    let spec = LookupSpec {
        port: Some(5060),
        ..LookupSpec::host("example.test")
    };
    let mut l = Lookup::new(&spec, &[S1, S2], opts(), now, [9; 32]);
    let mut answer = serve(&zone);
    let (sent, end) = run(&mut l, now, |t, q| {
        if t.dst == S1 {
            let mut resp = zone.respond(q);
            resp.answers.clear();
            resp.header.rcode = crate::wire::Rcode::SERVFAIL;
            vec![(S1, encode_message(&resp).expect("encode"))]
        } else {
            answer(t, q)
        }
    });
    assert_eq!(sent.len(), 2);
    assert_eq!(end, now, "no waiting for a timeout");
    assert_eq!(resolved(&l).targets.len(), 1);
    assert_eq!(l.stats().server_errors, 1);
}

#[test]
fn mismatched_responses_ignored_and_counted() {
    let zone = full_zone();
    let now = Instant::now();
    let spec = LookupSpec {
        port: Some(5060),
        ..LookupSpec::host("example.test")
    };
    let mut l = lookup(spec, now);
    run(&mut l, now, |t, q| {
        let good = zone.respond(q);
        let mut wrong_id = good.clone();
        wrong_id.header.id ^= 1;
        let mut wrong_question = good.clone();
        wrong_question.questions[0].name = Name::parse("evil.test").expect("name");
        let mut not_response = good.clone();
        not_response.header.response = false;
        let enc = |m: &Message| encode_message(m).expect("encode");
        vec![
            (t.dst, enc(&wrong_id)),
            (S2, enc(&good)),
            (t.dst, enc(&wrong_question)),
            (t.dst, enc(&not_response)),
            (t.dst, b"\x00\x01garbage".to_vec()),
            (t.dst, enc(&good)),
        ]
    });
    assert_eq!(
        resolved(&l).targets,
        [target(sa(100, 5060), Transport::Udp, 0, 0)]
    );
    let st = l.stats();
    assert_eq!((st.mismatched, st.malformed), (4, 1));
}

#[test]
fn truncated_udp_answer_repeated_over_tcp() {
    let mut zone = Zone::new();
    for i in 0..40u8 {
        zone = zone
            .a("big.example.test", Ipv4Addr::new(192, 0, 2, i), 60)
            .expect("zone");
    }
    let now = Instant::now();
    let spec = LookupSpec {
        port: Some(5060),
        ..LookupSpec::host("big.example.test")
    };
    let mut l = lookup(spec, now);
    let (sent, _) = run(&mut l, now, serve(&zone));
    let protocols: Vec<Protocol> = sent.iter().map(|s| s.protocol).collect();
    assert_eq!(protocols, [Protocol::Udp, Protocol::Tcp]);
    assert_eq!(resolved(&l).targets.len(), 40);
    assert_eq!(l.stats().truncated, 1);
}

#[test]
fn invalid_input_fails_at_once() {
    let now = Instant::now();
    let spec = LookupSpec {
        transport: Some(Transport::Udp),
        secure: true,
        ..LookupSpec::host("example.test")
    };
    assert_eq!(
        failed(&lookup(spec, now)).kind,
        ResolveErrorKind::SecureOverUdp
    );
    assert_eq!(
        failed(&lookup(LookupSpec::host("a..b"), now)).kind,
        ResolveErrorKind::InvalidHost
    );
    assert_eq!(
        failed(&lookup(LookupSpec::host(""), now)).kind,
        ResolveErrorKind::InvalidHost
    );
    let l = Lookup::new(&LookupSpec::host("example.test"), &[], opts(), now, [0; 32]);
    assert_eq!(failed(&l).kind, ResolveErrorKind::NoServers);
    assert_eq!(failed(&l).retry_at, now + opts().min_ttl);
}

#[test]
fn query_budget_bounds_work() {
    // Ten SRV targets, none in the additional section, and a budget of four queries.
    let mut zone = Zone::new();
    for i in 0..10u8 {
        let host = format!("fs{i}.example.test");
        zone = zone
            .srv("_sip._udp.example.test", 1, 1, 5060, &host, 60)
            .and_then(|z| z.a(&host, Ipv4Addr::new(192, 0, 2, i), 60))
            .expect("zone");
    }
    let now = Instant::now();
    let o = LookupOptions {
        max_queries: 4,
        ..opts()
    };
    let mut l = Lookup::new(&LookupSpec::host("example.test"), &[S1], o, now, [5; 32]);
    let (sent, _) = run(&mut l, now, serve_edited(&zone, |m| m.additionals.clear()));
    assert_eq!(sent.len(), 4, "NAPTR, SRV, and two A queries");
    assert_eq!(resolved(&l).targets.len(), 2);
}

#[test]
fn ids_differ_per_query_and_follow_the_seed() {
    let now = Instant::now();
    let spec = LookupSpec {
        port: Some(5060),
        ..LookupSpec::host("example.test")
    };
    let ids = |seed| {
        let mut l = Lookup::new(&spec, &[S1], LookupOptions::default(), now, [seed; 32]);
        let a = parse_message(&l.poll_transmit().expect("A").bytes)
            .expect("parse")
            .header
            .id;
        let b = parse_message(&l.poll_transmit().expect("AAAA").bytes)
            .expect("parse")
            .header
            .id;
        (a, b)
    };
    assert_eq!(ids(7), ids(7));
    assert_ne!(ids(7), ids(8));
    assert_ne!(ids(7).0, ids(7).1);
}

#[test]
fn additional_records_not_required_to_match_case() {
    let zone = full_zone();
    let now = Instant::now();
    let mut l = lookup(LookupSpec::host("EXAMPLE.test"), now);
    let (sent, _) = run(
        &mut l,
        now,
        serve_edited(&zone, |m| {
            for rr in &mut m.additionals {
                rr.name = Name::parse(&rr.name.to_string().to_uppercase()).expect("name");
            }
        }),
    );
    assert_eq!(sent.len(), 1);
    assert_eq!(resolved(&l).targets.len(), 2);
}
