//! The ng driver with a TCP listener on loopback: messages framed on the stream in both
//! encodings, and each bound closing a connection.
#![allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a test failure.

use super::*;
use crate::ng_driver::{run, tests::engine};
use tokio::task::JoinHandle;

/// Short bounds so the timeouts show within a test.
fn limits() -> NgTcpConfig {
    NgTcpConfig {
        listen: None,
        max_connections: 4,
        max_connections_per_source: 2,
        max_message_bytes: 2048,
        idle_timeout: Duration::from_secs(5),
        message_timeout: Duration::from_millis(300),
    }
}

struct Driver {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: JoinHandle<std::io::Result<()>>,
}

async fn driver(allow: &str) -> Driver {
    let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = tcp.local_addr().unwrap();
    let (_reload, reload_rx) = mpsc::channel(1);
    let (stop, stopped) = watch::channel(false);
    let shared = SharedEngine::new(engine(allow));
    let task = tokio::spawn(run(
        shared,
        udp,
        Vec::new(),
        reload_rx,
        stopped,
        Some((tcp, limits())),
    ));
    Driver { addr, stop, task }
}

/// Reads until `want` bytes arrived or the peer closed; what was read.
async fn read_n(s: &mut TcpStream, want: usize) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while got.len() < want {
        let n = tokio::time::timeout(Duration::from_secs(2), s.read(&mut buf))
            .await
            .expect("a reply in time")
            .unwrap();
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    got
}

/// True when the daemon closes `s` within `limit` (reading and discarding what comes).
async fn closed_within(s: &mut TcpStream, limit: Duration) -> bool {
    let mut buf = [0u8; 4096];
    let end = Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(end, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => {}
            Err(_) => return false,
        }
    }
}

#[tokio::test]
async fn pipelined_bencode_and_json_messages_get_replies_in_their_encoding() {
    let d = driver("127.0.0.1/32").await;
    let mut s = TcpStream::connect(d.addr).await.unwrap();
    // Two messages in one write, a third cut in two.
    s.write_all(b"a1 d7:command4:pingeb2 {\"command\": \"ping\"}c3 d7:comm")
        .await
        .unwrap();
    let want = b"a1 d6:result4:pongeb2 {\"result\":\"pong\"}".len();
    let got = read_n(&mut s, want).await;
    assert_eq!(got, b"a1 d6:result4:pongeb2 {\"result\":\"pong\"}");
    s.write_all(b"and4:pinge").await.unwrap();
    assert_eq!(read_n(&mut s, 19).await, b"c3 d6:result4:ponge");
    // A repeated cookie is answered from the cache, on a new connection too.
    let mut again = TcpStream::connect(d.addr).await.unwrap();
    again.write_all(b"a1 d7:command4:pinge").await.unwrap();
    assert_eq!(read_n(&mut again, 19).await, b"a1 d6:result4:ponge");
    // Malformed JSON gets a JSON error naming the problem; the connection stays.
    s.write_all(b"d4 {\"command\":\"ping\",\"n\":1.5}")
        .await
        .unwrap();
    let err = read_n(&mut s, 20).await;
    let text = String::from_utf8(err).unwrap();
    assert!(
        text.starts_with("d4 {\"result\":\"error\",\"error-reason\":\"invalid JSON: number"),
        "{text}"
    );
    d.stop.send(true).unwrap();
    assert!(tokio::time::timeout(Duration::from_secs(2), d.task)
        .await
        .is_ok());
}

#[tokio::test]
async fn each_bound_closes_the_connection() {
    let d = driver("127.0.0.1/32").await;
    // A message over tcp_max_message_bytes.
    let mut big = TcpStream::connect(d.addr).await.unwrap();
    big.write_all(b"h d3:sdp99999:").await.unwrap();
    assert!(closed_within(&mut big, Duration::from_secs(1)).await);
    // A stream that cannot be framed.
    let mut junk = TcpStream::connect(d.addr).await.unwrap();
    junk.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
    assert!(closed_within(&mut junk, Duration::from_secs(1)).await);
    // A message begun and not finished within the message timeout (300 ms).
    let mut slow = TcpStream::connect(d.addr).await.unwrap();
    slow.write_all(b"s d7:comm").await.unwrap();
    assert!(!closed_within(&mut slow, Duration::from_millis(100)).await);
    assert!(closed_within(&mut slow, Duration::from_secs(1)).await);
    // Two connections per source: the third is closed at once.
    let _one = TcpStream::connect(d.addr).await.unwrap();
    let mut two = TcpStream::connect(d.addr).await.unwrap();
    two.write_all(b"p d7:command4:pinge").await.unwrap();
    assert_eq!(read_n(&mut two, 18).await, b"p d6:result4:ponge");
    let mut three = TcpStream::connect(d.addr).await.unwrap();
    assert!(closed_within(&mut three, Duration::from_secs(1)).await);
    d.stop.send(true).unwrap();
}

#[tokio::test]
async fn a_source_outside_the_allow_list_is_closed_before_a_byte_is_read() {
    let d = driver("127.0.0.2/32").await;
    let mut s = TcpStream::connect(d.addr).await.unwrap();
    // The write may or may not reach the socket before it is closed; no reply ever comes.
    let _ = s.write_all(b"x d7:command4:pinge").await;
    assert!(closed_within(&mut s, Duration::from_secs(1)).await);
    d.stop.send(true).unwrap();
}
