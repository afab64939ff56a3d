//! The server on a loopback listener of its own: what each request gets, and the bounds.

#![allow(clippy::unwrap_used)]

use super::*;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};

/// Counts its scrapes; the text names the count.
#[derive(Clone, Default)]
struct Counting(Arc<AtomicU32>);

impl Source for Counting {
    async fn scrape(&self) -> Result<String, String> {
        let n = self.0.fetch_add(1, Ordering::Relaxed) + 1;
        Ok(format!(
            "# HELP t_total T.\n# TYPE t_total counter\nt_total {n}\n"
        ))
    }
}

/// A server with `limits` on 127.0.0.1; its address, its source and its stop switch.
async fn server(limits: Limits) -> (SocketAddr, Counting, watch::Sender<bool>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let source = Counting::default();
    let (stop, stopped) = watch::channel(false);
    tokio::spawn(serve(l, limits, source.clone(), stopped));
    (addr, source, stop)
}

/// Sends `req` and reads the whole reply (until the server closes).
async fn exchange(addr: SocketAddr, req: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(req).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out))
        .await
        .unwrap()
        .unwrap();
    String::from_utf8(out).unwrap()
}

fn status(reply: &str) -> u16 {
    reply.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0)
}

#[tokio::test]
async fn get_metrics_is_the_scrape_and_head_is_its_head() {
    let (addr, _, _stop) = server(Limits::default()).await;
    let r = exchange(addr, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert_eq!(status(&r), 200, "{r}");
    assert!(r.contains("Content-Type: text/plain; version=0.0.4"), "{r}");
    assert!(r.contains("Connection: close"), "{r}");
    let (head, body) = r.split_once("\r\n\r\n").unwrap();
    assert!(
        head.contains(&format!("Content-Length: {}", body.len())),
        "{r}"
    );
    assert!(body.starts_with("# HELP t_total"), "{r}");
    let r = exchange(addr, b"HEAD /metrics?x=1 HTTP/1.0\n\n").await;
    assert_eq!(status(&r), 200, "{r}");
    assert!(r.ends_with("\r\n\r\n"), "no body after HEAD: {r}");
}

#[tokio::test]
async fn other_requests_get_their_errors() {
    let (addr, source, _stop) = server(Limits::default()).await;
    for (req, want) in [
        (&b"GET / HTTP/1.1\r\n\r\n"[..], 404),
        (b"POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n", 405),
        (b"GET /metrics HTTP/2.0\r\n\r\n", 505),
        (b"GET /metrics\r\n\r\n", 400),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\r\n\r\n", 400),
        (b"get /metrics HTTP/1.1\r\n\r\n", 400),
    ] {
        let r = exchange(addr, req).await;
        assert_eq!(
            status(&r),
            want,
            "{:?} -> {r}",
            String::from_utf8_lossy(req)
        );
    }
    let r = exchange(addr, b"DELETE /metrics HTTP/1.1\r\n\r\n").await;
    assert!(r.contains("Allow: GET, HEAD"), "{r}");
    assert_eq!(source.0.load(Ordering::Relaxed), 0, "no error scraped");
}

#[tokio::test]
async fn a_huge_request_gets_431_without_being_read_whole() {
    let (addr, _, _stop) = server(Limits::default()).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut req = b"GET /metrics HTTP/1.1\r\nX: ".to_vec();
    req.resize(64 * 1024, b'a');
    // The server answers once it has more than its limit; the rest may meet a closed socket.
    let _ = s.write_all(&req).await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
    let r = String::from_utf8_lossy(&out);
    assert_eq!(status(&r), 431, "{r}");
}

#[tokio::test]
async fn a_slow_client_is_closed_at_the_timeout() {
    let limits = Limits {
        timeout: Duration::from_millis(300),
        ..Limits::default()
    };
    let (addr, source, _stop) = server(limits).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /metr").await.unwrap();
    let started = Instant::now();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(3), s.read_to_end(&mut out))
        .await
        .unwrap()
        .unwrap();
    assert!(out.is_empty(), "{out:?}");
    assert!(started.elapsed() >= Duration::from_millis(250));
    assert_eq!(source.0.load(Ordering::Relaxed), 0);
}

#[tokio::test]
async fn one_connection_beyond_the_cap_gets_503_and_a_freed_slot_serves_again() {
    let limits = Limits {
        max_connections: 2,
        ..Limits::default()
    };
    let (addr, _, _stop) = server(limits).await;
    let idle = [
        TcpStream::connect(addr).await.unwrap(),
        TcpStream::connect(addr).await.unwrap(),
    ];
    tokio::time::sleep(Duration::from_millis(100)).await;
    // The refusal is written on accept, before any request is read.
    let r = exchange(addr, b"").await;
    assert_eq!(status(&r), 503, "{r}");
    drop(idle);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let r = exchange(addr, b"GET /metrics HTTP/1.1\r\n\r\n").await;
    assert_eq!(status(&r), 200, "{r}");
}

#[tokio::test]
async fn scrapes_close_together_share_one_snapshot() {
    let (addr, source, _stop) = server(Limits::default()).await;
    let a = exchange(addr, b"GET /metrics HTTP/1.1\r\n\r\n").await;
    let b = exchange(addr, b"GET /metrics HTTP/1.1\r\n\r\n").await;
    assert_eq!(a, b);
    assert_eq!(source.0.load(Ordering::Relaxed), 1);
    tokio::time::sleep(REUSE + Duration::from_millis(50)).await;
    let c = exchange(addr, b"GET /metrics HTTP/1.1\r\n\r\n").await;
    assert!(c.contains("t_total 2"), "{c}");
}

#[test]
fn the_head_ends_at_the_first_empty_line() {
    assert_eq!(head_end(b"GET / HTTP/1.1\r\n\r\nrest"), Some(14));
    assert_eq!(head_end(b"GET / HTTP/1.1\n\n"), Some(14));
    assert_eq!(head_end(b"GET / HTTP/1.1\r\nHost: x\r\n"), None);
}
