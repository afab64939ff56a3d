//! End to end over real sockets on 127.0.0.1: a `Lookup` driven by a small blocking loop,
//! against a `Zone` served from a thread, with a silent first server to force a retry.
//! Bounded: every socket wait is short and the whole test gives up after 10 s.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use dns::resolve::{Lookup, LookupOptions, LookupSpec, Protocol, Resolved, Transport};
use dns::zone::Zone;

const LIMIT: Duration = Duration::from_secs(10);

/// Serves `zone` on a loopback UDP socket until `stop` is set (or the limit passes).
fn spawn_server(zone: Zone, stop: Arc<AtomicBool>) -> (SocketAddr, thread::JoinHandle<u32>) {
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind server");
    sock.set_read_timeout(Some(Duration::from_millis(20)))
        .expect("timeout");
    let addr = sock.local_addr().expect("addr");
    let handle = thread::spawn(move || {
        let started = Instant::now();
        let mut answered = 0;
        let mut buf = [0u8; 1500];
        while !stop.load(Ordering::Relaxed) && started.elapsed() < LIMIT {
            let Ok((n, from)) = sock.recv_from(&mut buf) else {
                continue;
            };
            if let Some(reply) = zone.answer(&buf[..n]) {
                sock.send_to(&reply, from).expect("send reply");
                answered += 1;
            }
        }
        answered
    });
    (addr, handle)
}

/// Drives `lookup` over a UDP socket until it finishes.
fn drive(mut lookup: Lookup) -> Lookup {
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind client");
    let started = Instant::now();
    let mut buf = [0u8; 1500];
    while !lookup.is_done() {
        assert!(started.elapsed() < LIMIT, "lookup did not finish in time");
        while let Some(t) = lookup.poll_transmit() {
            assert_eq!(t.protocol, Protocol::Udp, "no answer here needs TCP");
            sock.send_to(&t.bytes, t.dst).expect("send query");
        }
        let Some(deadline) = lookup.poll_timeout() else {
            break;
        };
        let wait = deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1));
        sock.set_read_timeout(Some(wait.min(Duration::from_millis(50))))
            .expect("timeout");
        match sock.recv_from(&mut buf) {
            Ok((n, from)) => lookup.handle_response(from, &buf[..n], Instant::now()),
            Err(_) => {
                let now = Instant::now();
                if now >= deadline {
                    lookup.handle_timeout(now);
                }
            }
        }
    }
    lookup
}

#[test]
fn lookup_over_loopback_udp_with_a_silent_first_server() {
    let zone = Zone::new()
        .soa("ferrovox.test", 60, 30)
        .and_then(|z| {
            z.sip_naptr(
                "ferrovox.test",
                10,
                10,
                "SIP+D2U",
                "_sip._udp.ferrovox.test",
                300,
            )
        })
        .and_then(|z| {
            z.srv(
                "_sip._udp.ferrovox.test",
                10,
                70,
                5080,
                "fs1.ferrovox.test",
                300,
            )
        })
        .and_then(|z| {
            z.srv(
                "_sip._udp.ferrovox.test",
                20,
                0,
                5090,
                "fs2.ferrovox.test",
                300,
            )
        })
        .and_then(|z| z.a("fs1.ferrovox.test", Ipv4Addr::new(127, 0, 0, 11), 120))
        .and_then(|z| z.a("fs2.ferrovox.test", Ipv4Addr::new(127, 0, 0, 12), 120))
        .expect("valid zone");
    let stop = Arc::new(AtomicBool::new(false));
    let (server, handle) = spawn_server(zone, Arc::clone(&stop));
    // Bound but never read: queries to it go unanswered.
    let silent = UdpSocket::bind("127.0.0.1:0").expect("bind silent");
    let silent_addr = silent.local_addr().expect("addr");

    let opts = LookupOptions {
        timeout: Duration::from_millis(200),
        ipv6: false,
        ..LookupOptions::default()
    };
    let start = Instant::now();
    let lookup = Lookup::new(
        &LookupSpec::host("ferrovox.test"),
        &[silent_addr, server],
        opts,
        start,
        [0x5e; 32],
    );
    let lookup = drive(lookup);
    let nx = drive(Lookup::new(
        &LookupSpec::host("missing.ferrovox.test"),
        &[server],
        opts,
        start,
        [0xee; 32],
    ));
    stop.store(true, Ordering::Relaxed);
    let answered = handle.join().expect("server thread");

    let Some(Ok(Resolved {
        targets,
        expires_at,
    })) = lookup.result()
    else {
        panic!("lookup failed: {:?}", lookup.result());
    };
    let got: Vec<(SocketAddr, Transport, u16, u16)> = targets
        .iter()
        .map(|t| (t.addr, t.transport, t.priority, t.weight))
        .collect();
    assert_eq!(
        got,
        [
            (
                "127.0.0.11:5080".parse().expect("addr"),
                Transport::Udp,
                10,
                70
            ),
            (
                "127.0.0.12:5090".parse().expect("addr"),
                Transport::Udp,
                20,
                0
            ),
        ]
    );
    assert!(*expires_at >= start + Duration::from_secs(120));
    let stats = lookup.stats();
    assert_eq!(
        (stats.queries_sent, stats.timeouts),
        (2, 1),
        "one try lost to the silent server"
    );
    assert_eq!(answered, 2, "the NAPTR query and the NXDOMAIN query");
    let Some(Err(e)) = nx.result() else {
        panic!("expected NXDOMAIN: {:?}", nx.result())
    };
    assert_eq!(e.kind, dns::resolve::ResolveErrorKind::NxDomain);
}
