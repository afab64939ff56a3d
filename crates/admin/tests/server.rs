//! The server's limits on a socket in a temporary directory, with a backend of its own: order
//! of pipelined replies, the line cap, the connection cap, the idle and write timeouts.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use admin::method::Call;
use admin::{Backend, ErrorCode, ErrorObject, Limits};
use serde_json::{json, Value};
use tokio::sync::watch;

/// Answers `version` with a 64 KiB string (to fill a client's buffer fast) and `uptime` with
/// a number; the rest is not for it.
#[derive(Debug, Clone)]
struct Fake;

impl Backend for Fake {
    async fn call(&self, call: Call) -> Result<Value, ErrorObject> {
        match call {
            Call::Version => Ok(json!("v".repeat(65_536))),
            Call::Uptime => Ok(json!(1)),
            _ => Err(ErrorObject::new(ErrorCode::Unavailable, "not here")),
        }
    }
}

/// A server on a thread of its own; stopped when dropped.
struct Server {
    path: PathBuf,
    stop: watch::Sender<bool>,
    thread: Option<std::thread::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl Server {
    fn start(limits: Limits) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("admin.sock");
        let listener = admin::socket::bind(&path, 0o600, None).unwrap();
        let (stop, shutdown) = watch::channel(false);
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let l = tokio::net::UnixListener::from_std(listener).unwrap();
                admin::serve(l, limits, Fake, shutdown).await;
            });
        });
        Server {
            path,
            stop,
            thread: Some(thread),
            _dir: dir,
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn limits() -> Limits {
    Limits {
        max_connections: 2,
        max_line_bytes: 100,
        idle_timeout: Duration::from_millis(400),
        write_timeout: Duration::from_millis(400),
    }
}

fn connect(path: &Path) -> BufReader<UnixStream> {
    let s = UnixStream::connect(path).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    BufReader::new(s)
}

fn reply(c: &mut BufReader<UnixStream>) -> Value {
    let mut line = String::new();
    assert!(c.read_line(&mut line).unwrap() > 0, "closed");
    serde_json::from_str(&line).unwrap()
}

/// Whether the server closes `c` within `limit` (what it still sends is read and dropped).
fn closed_within(c: &mut BufReader<UnixStream>, limit: Duration) -> bool {
    c.get_mut().set_read_timeout(Some(limit)).unwrap();
    let mut sink = Vec::new();
    c.read_to_end(&mut sink).is_ok()
}

#[test]
fn pipelined_requests_are_answered_in_order_and_errors_keep_the_connection() {
    let s = Server::start(limits());
    let mut c = connect(&s.path);
    let batch = b"{\"id\":1,\"method\":\"uptime\"}\n\n{\"id\":2,\"method\":\"reload\"}\r\nnope\n{\"id\":3,\"method\":\"uptime\"}\n";
    c.get_mut().write_all(batch).unwrap();
    assert_eq!(reply(&mut c)["id"], 1);
    let r = reply(&mut c);
    assert_eq!(
        (r["id"].as_u64(), r["error"]["code"].as_i64()),
        (Some(2), Some(1003))
    );
    assert_eq!(reply(&mut c)["error"]["code"], -32700);
    assert_eq!(reply(&mut c)["result"], 1);
}

#[test]
fn a_line_over_the_cap_is_refused_and_its_connection_closed() {
    let s = Server::start(limits());
    let mut c = connect(&s.path);
    // 101 bytes could still be 100 and a CR; 102 cannot.
    c.get_mut().write_all(&[b'x'; 102]).unwrap();
    let r = reply(&mut c);
    assert_eq!(
        (r["id"].clone(), r["error"]["code"].as_i64()),
        (Value::Null, Some(-32600))
    );
    assert!(closed_within(&mut c, Duration::from_secs(2)));
    let mut ok = connect(&s.path);
    ok.get_mut().write_all(&[b' '; 99]).unwrap();
    ok.get_mut()
        .write_all(b"\n{\"id\":9,\"method\":\"uptime\"}\n")
        .unwrap();
    assert_eq!(reply(&mut ok)["id"], 9, "a line at the cap is fine");
}

#[test]
fn connections_beyond_the_cap_are_told_and_closed_and_a_freed_slot_serves_again() {
    let s = Server::start(limits());
    let mut a = connect(&s.path);
    let mut b = connect(&s.path);
    a.get_mut()
        .write_all(b"{\"id\":1,\"method\":\"uptime\"}\n")
        .unwrap();
    b.get_mut()
        .write_all(b"{\"id\":1,\"method\":\"uptime\"}\n")
        .unwrap();
    assert_eq!(reply(&mut a)["result"], 1);
    assert_eq!(reply(&mut b)["result"], 1);
    let mut third = connect(&s.path);
    assert_eq!(reply(&mut third)["error"]["code"], 1005);
    assert!(closed_within(&mut third, Duration::from_secs(2)));
    drop(a);
    let served = (0..50).any(|_| {
        std::thread::sleep(Duration::from_millis(20));
        let mut c = connect(&s.path);
        c.get_mut()
            .write_all(b"{\"id\":5,\"method\":\"uptime\"}\n")
            .unwrap();
        reply(&mut c).get("result").is_some()
    });
    assert!(served);
}

#[test]
fn silent_slow_and_non_reading_clients_are_closed() {
    let s = Server::start(limits());
    let started = Instant::now();
    let mut silent = connect(&s.path);
    assert!(closed_within(&mut silent, Duration::from_secs(3)));
    assert!(started.elapsed() >= Duration::from_millis(350));
    // Half a line, then nothing: the idle timeout counts from the last whole request.
    let mut slow = connect(&s.path);
    slow.get_mut().write_all(b"{\"id\":1,").unwrap();
    assert!(closed_within(&mut slow, Duration::from_secs(3)));
    // Requests for 64 KiB replies, never read: closed once a reply waits past the timeout.
    let mut deaf = UnixStream::connect(&s.path).unwrap();
    deaf.set_write_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let line = b"{\"id\":1,\"method\":\"version\"}\n".repeat(40);
    let start = Instant::now();
    let broke = (0..200).any(|_| deaf.write_all(&line).is_err());
    assert!(broke, "the server never closed a client that does not read");
    assert!(start.elapsed() < Duration::from_secs(5));
}
