//! ng over TCP (`[ng] listen_tcp`), as rtpengine's `listen-tcp-ng`: `<cookie> <body>`
//! messages one after another on a connection, replies written back the same way
//! ([`ng::StreamFramer`] finds where each message ends).
//!
//! Each connection is a task on the ng runtime that frames what it reads and hands whole
//! messages to the ng driver ([`TcpRequest`]), which passes them through the same engine
//! (source allow-list, per-source rate limit, cookie cache) as datagrams. Bounds, each
//! counted when it closes or refuses a connection ([`TcpCounters`]):
//!
//! - a source outside `[ng] allow` is closed at accept, before a byte is read;
//! - connections in all and per source address (`tcp_max_connections*`);
//! - message size (`tcp_max_message_bytes`): a longer message, or a framing error (a stream
//!   cannot be resynchronised), closes the connection;
//! - time: no byte for `tcp_idle_timeout_secs`, a message begun and not whole, or a reply
//!   not taken by the client, within `tcp_message_timeout_secs`, closes it;
//! - replies queued for a connection are bounded in bytes; a client that lets them pile up
//!   unread is closed.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use config::NgTcpConfig;
use ng::StreamFramer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch, Notify};
use tokio::time::Instant;

use crate::SharedEngine;

/// Replies queued for one connection, at most, in messages.
const REPLY_QUEUE: usize = 64;
/// Whole messages waiting for the driver, from all connections.
const INBOUND_QUEUE: usize = 256;
/// Bytes read from a socket at a time.
const READ_CHUNK: usize = 16 * 1024;

/// A whole message read from a connection.
#[derive(Debug)]
pub struct TcpRequest {
    /// The peer.
    pub peer: SocketAddr,
    /// The message: cookie, space, body.
    pub bytes: Vec<u8>,
    /// Where its reply goes.
    pub conn: ConnTx,
}

/// The driver's handle on a connection: replies are queued without waiting.
#[derive(Debug, Clone)]
pub struct ConnTx {
    tx: mpsc::Sender<Vec<u8>>,
    queued: Arc<AtomicUsize>,
    max_queued: usize,
    overflow: Arc<Notify>,
}

impl ConnTx {
    /// Queues `reply`; false (and the connection is closed) when the client has let more
    /// than its bound queue up unread; false when the connection is gone.
    pub fn send(&self, reply: Vec<u8>) -> bool {
        let len = reply.len();
        if self.queued.fetch_add(len, Ordering::Relaxed) + len > self.max_queued {
            self.queued.fetch_sub(len, Ordering::Relaxed);
            self.overflow.notify_one();
            return false;
        }
        match self.tx.try_send(reply) {
            Ok(()) => true,
            Err(e) => {
                self.queued.fetch_sub(len, Ordering::Relaxed);
                if matches!(e, mpsc::error::TrySendError::Full(_)) {
                    self.overflow.notify_one();
                }
                false
            }
        }
    }
}

#[cfg(test)]
impl ConnTx {
    /// A handle and the receiving end of its queue (bounded to `max_queued` bytes).
    pub(crate) fn test_pair(max_queued: usize) -> (ConnTx, mpsc::Receiver<Vec<u8>>) {
        let (tx, rx) = mpsc::channel(REPLY_QUEUE);
        let conn = ConnTx {
            tx,
            queued: Arc::default(),
            max_queued,
            overflow: Arc::default(),
        };
        (conn, rx)
    }
}

/// Why connections were refused or closed, since start.
#[derive(Debug, Default)]
pub struct TcpCounters {
    /// Connections accepted.
    pub accepted: AtomicU64,
    /// Refused at accept: source outside `[ng] allow`.
    pub not_allowed: AtomicU64,
    /// Refused at accept: `tcp_max_connections` or the per-source bound reached.
    pub over_limit: AtomicU64,
    /// Closed: a framing error or a message over `tcp_max_message_bytes`.
    pub malformed: AtomicU64,
    /// Closed: idle, a message not whole in time, or a reply not taken in time.
    pub timed_out: AtomicU64,
    /// Closed: replies piled up unread.
    pub overflow: AtomicU64,
}

/// Open connections, in all and per source address.
#[derive(Debug, Default)]
struct Census {
    total: u32,
    per_source: HashMap<IpAddr, u32>,
}

/// One connection's place in the [`Census`], given back when it ends.
struct Slot {
    census: Arc<Mutex<Census>>,
    ip: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut c = self.census.lock().unwrap_or_else(PoisonError::into_inner);
        c.total = c.total.saturating_sub(1);
        if let Some(n) = c.per_source.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                c.per_source.remove(&self.ip);
            }
        }
    }
}

/// The TCP side of the ng driver: its listener, running.
#[derive(Debug)]
pub struct NgTcp {
    /// Whole messages from every connection.
    pub requests: mpsc::Receiver<TcpRequest>,
    /// The counters.
    pub counters: Arc<TcpCounters>,
}

/// Starts accepting on `listener` (on the current runtime) until `shutdown` turns true.
pub fn start(
    listener: TcpListener,
    limits: NgTcpConfig,
    engine: SharedEngine,
    shutdown: watch::Receiver<bool>,
) -> NgTcp {
    let (tx, requests) = mpsc::channel(INBOUND_QUEUE);
    let counters = Arc::new(TcpCounters::default());
    let accept = Acceptor {
        limits,
        engine,
        inbound: tx,
        counters: counters.clone(),
        census: Arc::default(),
        shutdown,
    };
    tokio::spawn(accept.run(listener));
    NgTcp { requests, counters }
}

/// The accept loop's state.
struct Acceptor {
    limits: NgTcpConfig,
    engine: SharedEngine,
    inbound: mpsc::Sender<TcpRequest>,
    counters: Arc<TcpCounters>,
    census: Arc<Mutex<Census>>,
    shutdown: watch::Receiver<bool>,
}

impl Acceptor {
    async fn run(mut self, listener: TcpListener) {
        loop {
            tokio::select! {
                r = listener.accept() => match r {
                    Ok((stream, peer)) => self.accepted(stream, peer),
                    Err(e) => {
                        // Out of descriptors and the like: wait a little rather than spin.
                        tracing::warn!(error = %e, "ng TCP accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
                _ = self.shutdown.changed() => return,
            }
        }
    }

    /// Admits or refuses a new connection.
    fn accepted(&mut self, stream: TcpStream, peer: SocketAddr) {
        let ip = peer.ip().to_canonical();
        // The same allow-list as datagrams, read under the engine's lock (briefly).
        let allowed = self
            .engine
            .lock()
            .guard()
            .allow
            .iter()
            .any(|n| n.contains(ip));
        if !allowed {
            self.counters.not_allowed.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(%peer, "ng TCP connection refused: source not allowed");
            return;
        }
        let Some(slot) = self.take_slot(ip) else {
            self.counters.over_limit.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(%peer, "ng TCP connection refused: too many connections");
            return;
        };
        self.counters.accepted.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(%peer, "ng TCP connection accepted");
        let conn = Connection {
            peer,
            limits: self.limits,
            inbound: self.inbound.clone(),
            counters: self.counters.clone(),
        };
        tokio::spawn(conn.run(stream, slot, self.shutdown.clone()));
    }

    fn take_slot(&self, ip: IpAddr) -> Option<Slot> {
        let mut c = self.census.lock().unwrap_or_else(PoisonError::into_inner);
        let from_ip = c.per_source.get(&ip).copied().unwrap_or(0);
        if c.total >= self.limits.max_connections
            || from_ip >= self.limits.max_connections_per_source
        {
            return None;
        }
        c.total += 1;
        c.per_source.insert(ip, from_ip + 1);
        Some(Slot {
            census: self.census.clone(),
            ip,
        })
    }
}

/// Why a connection ended.
#[derive(Debug)]
enum End {
    Closed,
    Shutdown,
    Io(std::io::Error),
    Malformed(ng::StreamError),
    Idle,
    SlowMessage,
    SlowReader,
    Overflow,
}

impl std::fmt::Display for End {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            End::Closed => f.write_str("closed by the client"),
            End::Shutdown => f.write_str("shutdown"),
            End::Io(e) => write!(f, "I/O error: {e}"),
            End::Malformed(e) => write!(f, "unframeable stream: {e}"),
            End::Idle => f.write_str("idle"),
            End::SlowMessage => f.write_str("message not whole in time"),
            End::SlowReader => f.write_str("reply not taken in time"),
            End::Overflow => f.write_str("replies piled up unread"),
        }
    }
}

/// One connection's task.
struct Connection {
    peer: SocketAddr,
    limits: NgTcpConfig,
    inbound: mpsc::Sender<TcpRequest>,
    counters: Arc<TcpCounters>,
}

impl Connection {
    async fn run(self, stream: TcpStream, _slot: Slot, shutdown: watch::Receiver<bool>) {
        let end = self.serve(stream, shutdown).await;
        let counter = match &end {
            End::Malformed(_) => Some(&self.counters.malformed),
            End::Idle | End::SlowMessage | End::SlowReader => Some(&self.counters.timed_out),
            End::Overflow => Some(&self.counters.overflow),
            End::Closed | End::Shutdown | End::Io(_) => None,
        };
        if let Some(c) = counter {
            c.fetch_add(1, Ordering::Relaxed);
        }
        tracing::debug!(peer = %self.peer, reason = %end, "ng TCP connection closed");
    }

    /// Reads messages and writes replies until the connection ends.
    async fn serve(&self, stream: TcpStream, mut shutdown: watch::Receiver<bool>) -> End {
        let max_message = self.limits.max_message_bytes as usize;
        let (tx, mut replies) = mpsc::channel::<Vec<u8>>(REPLY_QUEUE);
        let conn = ConnTx {
            tx,
            queued: Arc::default(),
            max_queued: max_message.saturating_mul(4),
            overflow: Arc::default(),
        };
        let (mut rd, mut wr) = stream.into_split();
        let mut framer = StreamFramer::new(max_message);
        let mut buf = vec![0u8; READ_CHUNK];
        let mut idle_at = Instant::now() + self.limits.idle_timeout;
        let mut message_due: Option<Instant> = None;
        loop {
            let due = message_due.map_or(idle_at, |m| m.min(idle_at));
            tokio::select! {
                r = rd.read(&mut buf) => {
                    let n = match r {
                        Ok(0) => return End::Closed,
                        Ok(n) => n,
                        Err(e) => return End::Io(e),
                    };
                    let now = Instant::now();
                    idle_at = now + self.limits.idle_timeout;
                    framer.push(buf.get(..n).unwrap_or_default());
                    if let Err(end) = self.deliver(&mut framer, &conn).await {
                        return end;
                    }
                    message_due = match framer.pending() {
                        0 => None,
                        _ => Some(message_due.unwrap_or(now + self.limits.message_timeout)),
                    };
                }
                Some(reply) = replies.recv() => {
                    conn.queued.fetch_sub(reply.len(), Ordering::Relaxed);
                    let write = wr.write_all(&reply);
                    match tokio::time::timeout(self.limits.message_timeout, write).await {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => return End::Io(e),
                        Err(_) => return End::SlowReader,
                    }
                }
                _ = conn.overflow.notified() => return End::Overflow,
                _ = tokio::time::sleep_until(due) => {
                    return if message_due.is_some_and(|m| m <= idle_at) {
                        End::SlowMessage
                    } else {
                        End::Idle
                    };
                }
                _ = shutdown.changed() => return End::Shutdown,
            }
        }
    }

    /// Hands every whole message in `framer` to the driver.
    async fn deliver(&self, framer: &mut StreamFramer, conn: &ConnTx) -> Result<(), End> {
        loop {
            match framer.next_message() {
                Ok(Some(bytes)) => {
                    let req = TcpRequest {
                        peer: self.peer,
                        bytes,
                        conn: conn.clone(),
                    };
                    if self.inbound.send(req).await.is_err() {
                        return Err(End::Shutdown);
                    }
                }
                Ok(None) => return Ok(()),
                Err(e) => return Err(End::Malformed(e)),
            }
        }
    }
}

#[cfg(test)]
#[path = "ng_tcp_tests.rs"]
mod tests;
