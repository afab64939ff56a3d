//! A small HTTP/1.1 server for `GET /metrics` (RFC 9112 message syntax, RFC 9110 semantics),
//! enough for Prometheus and `curl`, and bounded against everyone else.
//!
//! One request per connection, then `Connection: close` (RFC 9112 §9.6). The request head
//! must arrive whole within `timeout` and fit in `max_request_bytes` (a longer one gets 431,
//! a slow one is closed); the reply must be taken within `timeout`. At most
//! `max_connections` are served at once; one more gets 503 and is closed at once. Scrapes
//! are taken one at a time, and one that finished less than [`REUSE`] ago is served again,
//! so no number of clients asks the daemon for more than a few snapshots a second.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Mutex, Semaphore};
use tokio::time::Instant;

/// A scrape younger than this is served again instead of a new one.
pub const REUSE: Duration = Duration::from_millis(250);
/// After the reply, at most this much of what the client still sends is read and dropped...
const DRAIN_BYTES: usize = 256 * 1024;
/// ... for at most this long.
const DRAIN_TIME: Duration = Duration::from_secs(1);
/// The Content-Type of the text format.
const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The bounds of the server's connections (from `[metrics]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Connections served at once.
    pub max_connections: usize,
    /// The longest request head (request line and header fields).
    pub max_request_bytes: usize,
    /// How long the request head may take to arrive, and the reply to be taken.
    pub timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 16,
            max_request_bytes: 8192,
            timeout: Duration::from_secs(5),
        }
    }
}

/// What makes the exposition of one scrape.
pub trait Source: Clone + Send + Sync + 'static {
    /// The text of one scrape, or why there is none.
    fn scrape(&self) -> impl Future<Output = Result<String, String>> + Send;
}

/// The last scrape and when it was taken.
type Cache = Arc<Mutex<Option<(Instant, Arc<String>)>>>;

/// Serves `listener` until `shutdown` turns true.
pub async fn serve<S: Source>(
    listener: TcpListener,
    limits: Limits,
    source: S,
    mut shutdown: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let cache: Cache = Arc::default();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => admit(stream, &slots, limits, &source, &cache),
                Err(e) => {
                    // Out of descriptors and the like: wait a little rather than spin.
                    tracing::warn!(error = %e, "metrics: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            _ = shutdown.changed() => break,
        }
        if *shutdown.borrow() {
            break;
        }
    }
}

/// Starts serving `stream`, or refuses it when every slot is taken.
fn admit<S: Source>(
    stream: TcpStream,
    slots: &Arc<Semaphore>,
    limits: Limits,
    source: &S,
    cache: &Cache,
) {
    match slots.clone().try_acquire_owned() {
        Ok(permit) => {
            let (source, cache) = (source.clone(), cache.clone());
            tokio::spawn(async move {
                connection(stream, limits, source, cache).await;
                drop(permit);
            });
        }
        Err(_) => {
            tracing::debug!("metrics: at max_connections, connection refused");
            // One try, never a wait: the reply fits an empty socket buffer.
            let _ = stream.try_write(&reply(503, "too many connections\n", false).0);
        }
    }
}

/// What the request head asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ask {
    /// `GET /metrics` (`head`: HEAD, the same without the body).
    Metrics { head: bool },
    /// An error reply with this status.
    Error(u16),
}

/// Reads the head, answers, closes.
async fn connection<S: Source>(mut stream: TcpStream, limits: Limits, source: S, cache: Cache) {
    let deadline = Instant::now() + limits.timeout;
    let ask = match read_head(&mut stream, limits.max_request_bytes, deadline).await {
        Some(Ok(head)) => parse_head(&head),
        Some(Err(status)) => Ask::Error(status),
        None => return,
    };
    let (bytes, status) = match ask {
        Ask::Metrics { head } => match scrape(&source, &cache).await {
            Ok(text) => reply_metrics(&text, head),
            Err(e) => {
                tracing::warn!(error = %e, "metrics: scrape failed");
                reply(503, &format!("scrape failed: {e}\n"), false)
            }
        },
        Ask::Error(status) => reply(status, &format!("{}\n", reason(status)), false),
    };
    tracing::trace!(status, "metrics: reply");
    let write = async {
        stream.write_all(&bytes).await?;
        stream.shutdown().await
    };
    if tokio::time::timeout(limits.timeout, write).await.is_err() {
        tracing::debug!("metrics: client does not read its reply, closed");
        return;
    }
    // Closing with unread input would reset the connection and could take the reply with
    // it: what the client still sends is read and dropped, a bounded amount for a bounded
    // time.
    let mut sink = [0u8; 2048];
    let drain = async {
        let mut left = DRAIN_BYTES;
        while left > 0 {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(n) => left = left.saturating_sub(n),
            }
        }
    };
    let _ = tokio::time::timeout(DRAIN_TIME, drain).await;
}

/// The request head (up to the empty line), `Err(431)` when it is longer than `max`, `None`
/// when the client closed or was too slow.
async fn read_head(
    stream: &mut TcpStream,
    max: usize,
    deadline: Instant,
) -> Option<Result<Vec<u8>, u16>> {
    let mut head = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    loop {
        if let Some(end) = head_end(&head) {
            head.truncate(end);
            return Some(Ok(head));
        }
        if head.len() > max {
            return Some(Err(431));
        }
        match tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return None,
            Ok(Ok(n)) => head.extend_from_slice(chunk.get(..n).unwrap_or_default()),
            Err(_) => {
                tracing::debug!("metrics: request head not complete in time, closed");
                return None;
            }
        }
    }
}

/// Where the head ends: the first empty line (CRLF CRLF, or a bare LF LF, RFC 9112 §2.2).
fn head_end(buf: &[u8]) -> Option<usize> {
    let crlf = buf.windows(4).position(|w| w == b"\r\n\r\n");
    let lf = buf.windows(2).position(|w| w == b"\n\n");
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// What the request line asks (RFC 9112 §3: method SP request-target SP HTTP-version).
fn parse_head(head: &[u8]) -> Ask {
    let line_end = head.iter().position(|&b| b == b'\n').unwrap_or(head.len());
    let Ok(line) = std::str::from_utf8(head.get(..line_end).unwrap_or_default()) else {
        return Ask::Error(400);
    };
    let mut parts = line.trim_end_matches('\r').split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Ask::Error(400);
    };
    if !matches!(version, "HTTP/1.1" | "HTTP/1.0") {
        return Ask::Error(if version.starts_with("HTTP/") {
            505
        } else {
            400
        });
    }
    let path = target.split('?').next().unwrap_or_default();
    let head = match method {
        "GET" => false,
        "HEAD" => true,
        m if !m.is_empty() && m.bytes().all(|b| b.is_ascii_uppercase()) => return Ask::Error(405),
        _ => return Ask::Error(400),
    };
    if path == "/metrics" {
        Ask::Metrics { head }
    } else {
        Ask::Error(404)
    }
}

/// A fresh scrape, or the last one when it is younger than [`REUSE`]; one at a time.
async fn scrape<S: Source>(source: &S, cache: &Cache) -> Result<Arc<String>, String> {
    let mut last = cache.lock().await;
    if let Some((at, text)) = last.as_ref() {
        if at.elapsed() < REUSE {
            return Ok(text.clone());
        }
    }
    let text = Arc::new(source.scrape().await?);
    *last = Some((Instant::now(), text.clone()));
    Ok(text)
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Error",
    }
}

/// A whole reply with a plain-text body, and its status.
fn reply(status: u16, body: &str, head_only: bool) -> (Vec<u8>, u16) {
    let allow = if status == 405 {
        "Allow: GET, HEAD\r\n"
    } else {
        ""
    };
    let ctype = if status == 200 {
        TEXT_FORMAT
    } else {
        "text/plain; charset=utf-8"
    };
    let mut out = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n{allow}\
         Cache-Control: no-store\r\nConnection: close\r\n\r\n",
        reason(status),
        body.len()
    )
    .into_bytes();
    if !head_only {
        out.extend_from_slice(body.as_bytes());
    }
    (out, status)
}

fn reply_metrics(text: &str, head_only: bool) -> (Vec<u8>, u16) {
    reply(200, text, head_only)
}

#[cfg(test)]
#[path = "http_tests.rs"]
mod tests;
