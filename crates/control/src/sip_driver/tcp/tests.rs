//! The TCP transport against real loopback sockets: connections leave no trace when they end,
//! caps refuse, timeouts close, a peer that does not read is closed, and failures reach the
//! proxy as transport errors.

#![allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a test failure.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::mpsc;
use tokio::time::{sleep, timeout, Instant};

use super::limits::source_key;
use super::*;
use proxy::Transport;

const OPTIONS: &[u8] = b"OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:5;branch=z9hG4bK1\r\nContent-Length: 0\r\n\r\n";
const OK: &[u8] =
    b"SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP 127.0.0.1:5;branch=z9hG4bK1\r\nContent-Length: 0\r\n\r\n";
/// The longest any wait in these tests may take.
const WAIT: Duration = Duration::from_secs(5);

fn settings() -> TcpConfig {
    TcpConfig {
        max_connections: 100,
        max_connections_per_source: 100,
        buffer_bytes: 65536,
        idle_timeout: Duration::from_secs(60),
        message_timeout: Duration::from_secs(60),
        connect_timeout: Duration::from_secs(2),
    }
}

/// A transport listening on 127.0.0.1 with `cfg`, and the proxy's end of its inbound queue.
struct Bed {
    conns: Connections,
    limits: Arc<Limits>,
    rx: mpsc::Receiver<Inbound>,
    addr: SocketAddr,
}

async fn bed(cfg: TcpConfig) -> Bed {
    let (tx, rx) = mpsc::channel(64);
    let limits = Limits::new(cfg);
    let conns = Connections::new(tx, limits.clone());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(accept_loop(listener, conns.registrar()));
    Bed {
        conns,
        limits,
        rx,
        addr,
    }
}

impl Bed {
    fn stats(&self) -> TcpCounters {
        self.limits.stats().snapshot()
    }

    /// The next inbound item, within [`WAIT`].
    async fn next(&mut self) -> Inbound {
        timeout(WAIT, self.rx.recv()).await.unwrap().unwrap()
    }

    /// Waits until `done` holds of the counters and the map (bounded by [`WAIT`]).
    async fn until(&self, what: &str, done: impl Fn(&TcpCounters, usize) -> bool) {
        let end = Instant::now() + WAIT;
        while !done(&self.stats(), self.conns.len()) {
            assert!(
                Instant::now() < end,
                "{what}: {:?}, {} held",
                self.stats(),
                self.conns.len()
            );
            sleep(Duration::from_millis(5)).await;
        }
    }
}

/// A client connection from `ip` to `to`.
async fn dial_from(ip: Ipv4Addr, to: SocketAddr) -> TcpStream {
    let s = TcpSocket::new_v4().unwrap();
    s.bind(SocketAddr::new(IpAddr::V4(ip), 0)).unwrap();
    s.connect(to).await.unwrap()
}

/// Reads until the server closes; how long that took.
async fn closed_after(c: &mut TcpStream) -> Duration {
    let start = Instant::now();
    let mut buf = [0u8; 512];
    loop {
        match timeout(WAIT, c.read(&mut buf)).await.unwrap() {
            Ok(0) | Err(_) => return start.elapsed(),
            Ok(_) => {}
        }
    }
}

#[tokio::test]
async fn a_closed_connection_leaves_no_entry_slot_or_source() {
    let mut b = bed(settings()).await;
    let mut clients = Vec::new();
    for i in 1..=3u8 {
        let mut c = dial_from(Ipv4Addr::new(127, 0, 0, i), b.addr).await;
        c.write_all(OPTIONS).await.unwrap();
        clients.push(c);
        assert!(matches!(b.next().await, Inbound::Message { bytes, .. } if bytes == OPTIONS));
    }
    assert_eq!(b.conns.len(), 3);
    assert_eq!((b.stats().open, b.stats().accepted), (3, 3));
    assert_eq!(b.limits.sources(), 3);
    drop(clients);
    b.until("all closed", |s, held| s.open == 0 && held == 0)
        .await;
    assert_eq!(b.stats().peer_closed, 3);
    assert_eq!(b.limits.sources(), 0);
}

#[tokio::test]
async fn caps_refuse_beyond_the_source_and_total_limits() {
    let cfg = TcpConfig {
        max_connections: 3,
        max_connections_per_source: 2,
        ..settings()
    };
    let b = bed(cfg).await;
    let one = Ipv4Addr::new(127, 0, 0, 1);
    let mut kept = vec![dial_from(one, b.addr).await, dial_from(one, b.addr).await];
    b.until("two accepted", |s, _| s.accepted == 2).await;
    let mut third = dial_from(one, b.addr).await;
    closed_after(&mut third).await;
    assert_eq!(b.stats().refused_source, 1);
    kept.push(dial_from(Ipv4Addr::new(127, 0, 0, 2), b.addr).await);
    b.until("three accepted", |s, _| s.accepted == 3).await;
    let mut fourth = dial_from(Ipv4Addr::new(127, 0, 0, 3), b.addr).await;
    closed_after(&mut fourth).await;
    assert_eq!(b.stats().refused_total, 1);
    assert_eq!(b.stats().open, 3);
    // A slot freed is a slot for the next.
    drop(kept.pop());
    b.until("one closed", |s, _| s.open == 2).await;
    let _again = dial_from(Ipv4Addr::new(127, 0, 0, 3), b.addr).await;
    b.until("accepted again", |s, _| s.accepted == 4).await;
}

#[tokio::test]
async fn a_header_trickled_or_never_sent_is_closed_by_the_message_timeout() {
    let cfg = TcpConfig {
        message_timeout: Duration::from_millis(300),
        ..settings()
    };
    let mut b = bed(cfg).await;
    // Silent, and keep-alives only: no first message.
    let mut silent = TcpStream::connect(b.addr).await.unwrap();
    let mut pinging = TcpStream::connect(b.addr).await.unwrap();
    pinging.write_all(b"\r\n\r\n").await.unwrap();
    // One whole message in time, then a header that never ends.
    let mut slow = TcpStream::connect(b.addr).await.unwrap();
    slow.write_all(OPTIONS).await.unwrap();
    assert!(matches!(b.next().await, Inbound::Message { .. }));
    sleep(Duration::from_millis(400)).await;
    let start = Instant::now();
    let (mut r, mut w) = slow.split();
    let trickle = async {
        for &byte in b"OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP x\r\n" {
            if w.write_all(&[byte]).await.is_err() {
                break;
            }
            sleep(Duration::from_millis(50)).await;
        }
    };
    let closed = async {
        let mut buf = [0u8; 64];
        while matches!(r.read(&mut buf).await, Ok(n) if n > 0) {}
    };
    tokio::select! {
        () = trickle => panic!("the whole trickle (2.5 s) went through"),
        () = closed => {}
    }
    let after = start.elapsed();
    assert!(
        after >= Duration::from_millis(250) && after < Duration::from_millis(700),
        "closed {after:?} after the header began"
    );
    for c in [&mut silent, &mut pinging] {
        closed_after(c).await;
    }
    b.until("three timed out", |s, held| {
        s.message_timeout == 3 && held == 0
    })
    .await;
}

#[tokio::test]
async fn idle_connections_close_and_keepalives_count_as_traffic() {
    let cfg = TcpConfig {
        idle_timeout: Duration::from_millis(300),
        ..settings()
    };
    let mut b = bed(cfg).await;
    let mut c = TcpStream::connect(b.addr).await.unwrap();
    c.write_all(OPTIONS).await.unwrap();
    assert!(matches!(b.next().await, Inbound::Message { .. }));
    // Pings every 100 ms keep it open past the idle timeout, and each gets its pong.
    for _ in 0..8 {
        c.write_all(b"\r\n\r\n").await.unwrap();
        let mut pong = [0u8; 2];
        timeout(WAIT, c.read_exact(&mut pong))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&pong, b"\r\n");
        sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(b.stats().idle, 0);
    let after = closed_after(&mut c).await;
    assert!(
        after < Duration::from_millis(600),
        "idle close took {after:?}"
    );
    b.until("idle closed", |s, held| s.idle == 1 && held == 0)
        .await;
}

#[tokio::test]
async fn a_peer_that_does_not_read_is_closed_when_its_queue_fills() {
    let cfg = TcpConfig {
        buffer_bytes: 8192,
        ..settings()
    };
    let mut b = bed(cfg).await;
    let s = TcpSocket::new_v4().unwrap();
    s.set_recv_buffer_size(4096).unwrap();
    let mut c = s.connect(b.addr).await.unwrap();
    c.write_all(OPTIONS).await.unwrap();
    let Inbound::Message { from, local, .. } = b.next().await else {
        panic!("expected a message");
    };
    let big = [OK, &vec![b' '; 4000]].concat();
    let mut result = Ok(());
    // Bounded: the kernel's buffers hold a few MiB at most.
    for _ in 0..20_000 {
        result = b.conns.send(from, local, big.clone());
        if result.is_err() {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert_eq!(result, Err(SendError::Backlog));
    assert_eq!(b.stats().write_backlog, 1);
    b.until("backlogged closed", |s, held| s.open == 0 && held == 0)
        .await;
}

#[tokio::test]
async fn a_failed_connect_reaches_the_proxy_as_a_transport_error() {
    let mut b = bed(settings()).await;
    let gone = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dst = gone.local_addr().unwrap();
    drop(gone);
    b.conns.send(dst, b.addr, OPTIONS.to_vec()).unwrap();
    let m = b.next().await;
    assert!(
        matches!(m, Inbound::TransportError { transport: Transport::Tcp, peer } if peer == dst),
        "{m:?}"
    );
    b.until("connect failed", |s, held| {
        s.connect_failed == 1 && s.open == 0 && held == 0
    })
    .await;
}

#[tokio::test]
async fn a_member_resetting_with_a_request_pending_is_a_transport_error() {
    let mut b = bed(settings()).await;
    let member = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dst = member.local_addr().unwrap();
    b.conns.send(dst, b.addr, OPTIONS.to_vec()).unwrap();
    let (mut conn, _) = member.accept().await.unwrap();
    let mut got = vec![0u8; OPTIONS.len()];
    conn.read_exact(&mut got).await.unwrap();
    assert_eq!(got, OPTIONS);
    b.until("connected", |s, _| s.connected == 1).await;
    // The member's process dies: its socket is reset.
    socket2::SockRef::from(&conn)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(conn);
    let m = b.next().await;
    assert!(
        matches!(m, Inbound::TransportError { peer, .. } if peer == dst),
        "{m:?}"
    );
    b.until("reset counted", |s, held| {
        s.read_error + s.peer_closed == 1 && held == 0
    })
    .await;
}

#[tokio::test]
async fn a_caller_closing_after_its_response_is_no_transport_error() {
    let mut b = bed(settings()).await;
    let mut c = TcpStream::connect(b.addr).await.unwrap();
    c.write_all(OPTIONS).await.unwrap();
    let Inbound::Message { from, local, .. } = b.next().await else {
        panic!("expected a message");
    };
    b.conns.send(from, local, OK.to_vec()).unwrap();
    let mut got = vec![0u8; OK.len()];
    c.read_exact(&mut got).await.unwrap();
    drop(c);
    b.until("closed", |s, held| s.peer_closed == 1 && held == 0)
        .await;
    assert!(
        b.rx.try_recv().is_err(),
        "nothing was lost: no transport error"
    );
    // Sending there now opens a connection to the caller's port, where nothing listens:
    // the proxy hears that as a transport error.
    b.conns.send(from, local, OK.to_vec()).unwrap();
    let m = b.next().await;
    assert!(
        matches!(m, Inbound::TransportError { peer, .. } if peer == from),
        "{m:?}"
    );
}

#[tokio::test]
async fn garbage_and_oversized_messages_close_the_connection() {
    let cfg = TcpConfig {
        buffer_bytes: 2048,
        ..settings()
    };
    let b = bed(cfg).await;
    let mut bad = TcpStream::connect(b.addr).await.unwrap();
    bad.write_all(b"this is not SIP\r\n\r\n").await.unwrap();
    closed_after(&mut bad).await;
    let mut big = TcpStream::connect(b.addr).await.unwrap();
    let _ = big.write_all(&[b'x'; 4096]).await;
    closed_after(&mut big).await;
    b.until("both closed", |s, held| {
        s.framing == 1 && s.too_large == 1 && held == 0
    })
    .await;
}

#[tokio::test]
async fn an_outbound_connection_beyond_the_cap_is_not_opened() {
    let cfg = TcpConfig {
        max_connections: 1,
        ..settings()
    };
    let mut b = bed(cfg).await;
    let member = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let first = member.local_addr().unwrap();
    b.conns.send(first, b.addr, OPTIONS.to_vec()).unwrap();
    let other = SocketAddr::from(([127, 0, 0, 1], first.port().wrapping_add(1)));
    assert_eq!(
        b.conns.send(other, b.addr, OPTIONS.to_vec()),
        Err(SendError::Cap)
    );
    assert_eq!(b.stats().outbound_refused, 1);
    let _ = member.accept().await.unwrap();
    assert!(b.rx.try_recv().is_err());
}

#[test]
fn sources_are_addresses_for_ipv4_and_slash_64_for_ipv6() {
    let v4: IpAddr = "192.0.2.7".parse().unwrap();
    assert_eq!(source_key(v4), v4);
    let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
    assert_eq!(source_key(mapped), v4);
    let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
    let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
    assert_eq!(source_key(a), source_key(b));
    assert_eq!(source_key(a), "2001:db8:1:2::".parse::<IpAddr>().unwrap());
}

#[test]
fn every_reason_has_its_own_counter() {
    let all = super::limits::Reason::ALL;
    for (i, r) in all.iter().enumerate() {
        assert_eq!(*r as usize, i, "Reason::ALL is in declaration order");
    }
    let stats = TcpStats::default();
    for (i, r) in all.iter().enumerate() {
        for _ in 0..=i {
            stats.count(*r);
        }
    }
    let s = stats.snapshot();
    let got = [
        s.refused_total,
        s.refused_source,
        s.outbound_refused,
        s.connect_failed,
        s.connect_timeout,
        s.peer_closed,
        s.read_error,
        s.write_error,
        s.idle,
        s.message_timeout,
        s.too_large,
        s.framing,
        s.write_backlog,
    ];
    assert_eq!(got.to_vec(), (1..=13).collect::<Vec<u64>>());
    let labels: std::collections::HashSet<&str> = all.iter().map(|r| r.as_str()).collect();
    assert_eq!(labels.len(), all.len());
}

#[tokio::test]
async fn a_connect_that_does_not_complete_in_time_is_a_transport_error() {
    let cfg = TcpConfig {
        connect_timeout: Duration::from_millis(300),
        ..settings()
    };
    let mut b = bed(cfg).await;
    // A listener that never accepts, its queue filled: the kernel drops further SYNs.
    let s = TcpSocket::new_v4().unwrap();
    s.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let full = s.listen(1).unwrap();
    let dst = full.local_addr().unwrap();
    let mut fillers = Vec::new();
    for _ in 0..4 {
        let c = TcpSocket::new_v4().unwrap();
        if let Ok(Ok(c)) = timeout(Duration::from_millis(200), c.connect(dst)).await {
            fillers.push(c);
        }
    }
    let sent = Instant::now();
    b.conns.send(dst, b.addr, OPTIONS.to_vec()).unwrap();
    let m = b.next().await;
    assert!(
        matches!(m, Inbound::TransportError { peer, .. } if peer == dst),
        "{m:?}"
    );
    let took = sent.elapsed();
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_secs(2),
        "{took:?}"
    );
    b.until("timed out", |s, held| {
        s.connect_timeout == 1 && s.open == 0 && held == 0
    })
    .await;
}
