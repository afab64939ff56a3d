//! ICMP errors on real loopback sockets: a datagram to a closed port comes back through the
//! error queue with its destination, kind and quote, counted; a send after such an error is
//! not lost to it; and the kinds by ICMP type and code.

#![allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a test failure.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket as StdUdpSocket};
use std::time::Duration;

use tokio::time::timeout;

use super::super::{bind_udp, udp, udp_reader};
use super::*;

/// One datagram sent the driver's way (`udp::send_batch`).
async fn send_to(sock: &UdpSocket, bytes: &[u8], dst: SocketAddr) -> io::Result<()> {
    match udp::send_batch(sock, &[(bytes, dst)]).await.pop() {
        Some((_, e)) => Err(e),
        None => Ok(()),
    }
}

/// The longest any wait in these tests may take.
const WAIT: Duration = Duration::from_secs(5);

/// A request as the proxy sends it, with a branch to find in the quote.
fn request(branch: &str, padding: usize) -> Vec<u8> {
    format!(
        "INVITE sip:m@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch={branch}\r\n\
         Content-Length: {padding}\r\n\r\n{}",
        "x".repeat(padding)
    )
    .into_bytes()
}

/// An address on `ip` where nothing listens (a port bound for a moment, then freed).
fn closed_port(ip: std::net::IpAddr) -> SocketAddr {
    let s = StdUdpSocket::bind((ip, 0)).unwrap();
    s.local_addr().unwrap()
}

/// A SIP socket on `ip` as the driver binds it, with its reader feeding `rx`.
async fn watched(
    ip: std::net::IpAddr,
) -> (Arc<UdpSocket>, mpsc::Receiver<Inbound>, Arc<IcmpStats>) {
    let sock = Arc::new(bind_udp(SocketAddr::new(ip, 0)).unwrap());
    let (tx, rx) = mpsc::channel(64);
    let stats = Arc::new(IcmpStats::default());
    let local = sock.local_addr().unwrap();
    let errors = ErrorQueue::new(local, stats.clone());
    tokio::spawn(udp_reader(sock.clone(), local, tx, errors));
    (sock, rx, stats)
}

/// The next destination unreachable the reader hands over (nothing else may come first).
async fn next_unreachable(rx: &mut mpsc::Receiver<Inbound>) -> (SocketAddr, Vec<u8>) {
    let m = timeout(WAIT, rx.recv()).await.unwrap().unwrap();
    match m {
        Inbound::Unreachable { dst, quoted } => (dst, quoted),
        other => panic!("not an ICMP error: {other:?}"),
    }
}

async fn port_unreachable_comes_back(ip: std::net::IpAddr, padding: usize, quote_max: usize) {
    let (sock, mut rx, stats) = watched(ip).await;
    let dead = closed_port(ip);
    let sent = request("z9hG4bKicmp1", padding);
    send_to(&sock, &sent, dead).await.unwrap();
    let (dst, quoted) = next_unreachable(&mut rx).await;
    assert_eq!(dst, dead);
    assert!(
        !quoted.is_empty() && quoted.len() <= quote_max,
        "{}",
        quoted.len()
    );
    assert!(
        sent.starts_with(&quoted),
        "the quote is the datagram's start"
    );
    let c = stats.snapshot();
    assert_eq!((c.port_unreachable, c.host_unreachable, c.other), (1, 0, 0));
}

#[tokio::test]
async fn a_datagram_to_a_closed_port_comes_back_as_port_unreachable_with_its_destination() {
    port_unreachable_comes_back(Ipv4Addr::LOCALHOST.into(), 0, QUOTE_MAX).await;
}

#[tokio::test]
async fn over_ipv4_the_quote_of_a_large_datagram_is_cut_at_the_icmp_limit() {
    // RFC 1812 §4.3.2.3: 576 bytes in all, of which 20 + 8 (error) + 20 + 8 (headers).
    port_unreachable_comes_back(Ipv4Addr::LOCALHOST.into(), 3000, 576 - 56).await;
}

#[tokio::test]
async fn over_ipv6_too() {
    port_unreachable_comes_back(Ipv6Addr::LOCALHOST.into(), 0, QUOTE_MAX).await;
}

#[tokio::test]
async fn every_datagram_to_a_dead_port_is_reported_and_counted() {
    let ip = Ipv4Addr::LOCALHOST.into();
    let (sock, mut rx, stats) = watched(ip).await;
    let dead = closed_port(ip);
    for i in 0..20 {
        send_to(&sock, &request(&format!("z9hG4bKn{i}"), 0), dead)
            .await
            .unwrap();
        let (dst, quoted) = next_unreachable(&mut rx).await;
        assert_eq!(dst, dead);
        let want = format!("z9hG4bKn{i}\r\n");
        assert!(quoted.windows(want.len()).any(|w| w == want.as_bytes()));
    }
    assert_eq!(stats.snapshot().port_unreachable, 20);
}

#[tokio::test]
async fn a_send_after_an_icmp_error_for_another_destination_is_made() {
    let ip = Ipv4Addr::LOCALHOST.into();
    // No reader: the error stays pending on the socket, as between two reads under load.
    let sock = bind_udp(SocketAddr::new(ip, 0)).unwrap();
    let live = StdUdpSocket::bind((ip, 0)).unwrap();
    live.set_read_timeout(Some(WAIT)).unwrap();
    send_to(&sock, b"first", closed_port(ip)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    // The pending error fails the next plain send (and that datagram is not sent)...
    let plain = sock.try_send_to(b"lost", live.local_addr().unwrap());
    assert!(plain.as_ref().is_err_and(is_pending_icmp), "{plain:?}");
    // ...so the driver's send makes it again: another ICMP error is pending now.
    send_to(&sock, b"first", closed_port(ip)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    send_to(&sock, b"second", live.local_addr().unwrap())
        .await
        .unwrap();
    let mut buf = [0u8; 16];
    let (n, _) = live.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"second");
}

#[test]
fn kinds_by_origin_type_and_code() {
    let v4 = libc::SO_EE_ORIGIN_ICMP;
    let v6 = libc::SO_EE_ORIGIN_ICMP6;
    let cases = [
        (v4, 3, 3, Kind::PortUnreachable),
        (v4, 3, 0, Kind::HostUnreachable),
        (v4, 3, 1, Kind::HostUnreachable),
        (v4, 3, 7, Kind::HostUnreachable),
        (v4, 3, 13, Kind::OtherUnreachable),
        (v4, 3, 4, Kind::Other),
        (v4, 11, 0, Kind::Other),
        (v6, 1, 4, Kind::PortUnreachable),
        (v6, 1, 3, Kind::HostUnreachable),
        (v6, 1, 0, Kind::HostUnreachable),
        (v6, 1, 1, Kind::OtherUnreachable),
        (v6, 2, 0, Kind::Other),
        (v6, 3, 0, Kind::Other),
        (libc::SO_EE_ORIGIN_LOCAL, 0, 0, Kind::Other),
    ];
    for (origin, t, code, want) in cases {
        assert_eq!(
            Kind::of(origin, t, code),
            want,
            "origin {origin} type {t} code {code}"
        );
        assert_eq!(want.is_unreachable(), want != Kind::Other);
    }
}

#[tokio::test]
async fn an_error_is_seen_at_once_while_datagrams_come_and_go() {
    // tokio's recv_from clears error readiness when it finds no datagram: the reader must
    // not lose the error to it.
    let ip = Ipv4Addr::LOCALHOST.into();
    let (sock, mut rx, stats) = watched(ip).await;
    let echo = StdUdpSocket::bind((ip, 0)).unwrap();
    let echo_addr = echo.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut b = [0u8; 2048];
        while let Ok((n, from)) = echo.recv_from(&mut b) {
            let _ = echo.send_to(&b[..n], from);
        }
    });
    for i in 0..3 {
        send_to(&sock, &request(&format!("live{i}"), 0), echo_addr)
            .await
            .unwrap();
        let m = timeout(WAIT, rx.recv()).await.unwrap().unwrap();
        assert!(
            matches!(&m, Inbound::Datagrams(d) if d.iter().map(|(f, _)| f).eq([echo_addr])),
            "{m:?}"
        );
    }
    let dead = closed_port(ip);
    send_to(&sock, &request("z9hG4bKdead", 0), dead)
        .await
        .unwrap();
    let (dst, _) = next_unreachable(&mut rx).await;
    assert_eq!(dst, dead);
    assert_eq!(stats.snapshot().port_unreachable, 1);
}
