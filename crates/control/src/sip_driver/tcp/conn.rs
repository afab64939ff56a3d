//! One SIP-over-TCP connection: a single task owns the stream, frames what it reads (RFC 3261
//! §18.3), answers keep-alive pings (RFC 5626 §3.5.1), writes what the proxy queued for it,
//! and enforces the idle and message timeouts. When it ends, for whatever reason, the socket
//! is closed, its slot under the caps released and the proxy loop told. The stream is a TCP
//! socket or a TLS session over one (`super::super::tls`): the same task serves both.

use std::collections::VecDeque;
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use config::TcpConfig;
use sip::{Frame, SipError, StreamFramer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::limits::{Reason, Slot};
use super::Registry;
use crate::sip_driver::Inbound;

/// A connection's byte stream: plain TCP, or TLS over TCP.
pub(crate) trait SipStream: AsyncRead + AsyncWrite + Unpin + Send {
    /// The TCP socket underneath (for its options).
    fn socket(&self) -> &TcpStream;
}

impl SipStream for TcpStream {
    fn socket(&self) -> &TcpStream {
        self
    }
}

impl SipStream for tokio_rustls::server::TlsStream<TcpStream> {
    fn socket(&self) -> &TcpStream {
        self.get_ref().0
    }
}

impl SipStream for tokio_rustls::client::TlsStream<TcpStream> {
    fn socket(&self) -> &TcpStream {
        self.get_ref().0
    }
}

/// Room made in the input buffer before each read: what one read may bring at most.
const READ_CHUNK: usize = 8 * 1024;
/// An input buffer left empty with more capacity than this is freed, so an idle connection
/// holds no memory for the large message it once received.
const KEEP_CAPACITY: usize = 4 * READ_CHUNK;
/// The answer to a double-CRLF ping (RFC 5626 §3.5.1).
const PONG: &[u8] = b"\r\n";

/// Why [`Outbox::push`] did not queue a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PushError {
    /// The connection already holds `tcp_buffer_bytes` of unwritten output.
    Full,
    /// The connection is gone.
    Closed,
}

/// The proxy loop's end of a connection's output queue, bounded in bytes: what is queued and
/// not yet written to the socket never exceeds the budget.
#[derive(Debug)]
pub(crate) struct Outbox {
    tx: mpsc::UnboundedSender<Vec<u8>>,
    queued: Arc<AtomicUsize>,
    budget: usize,
}

/// The connection task's end of the output queue.
#[derive(Debug)]
pub(crate) struct Inbox {
    rx: mpsc::UnboundedReceiver<Vec<u8>>,
    queued: Arc<AtomicUsize>,
}

/// An output queue holding at most `budget` unwritten bytes.
pub(crate) fn queue(budget: usize) -> (Outbox, Inbox) {
    let (tx, rx) = mpsc::unbounded_channel();
    let queued = Arc::new(AtomicUsize::new(0));
    let out = Outbox {
        tx,
        queued: queued.clone(),
        budget,
    };
    (out, Inbox { rx, queued })
}

impl Outbox {
    /// Queues `bytes` for the socket, unless that would exceed the budget.
    pub(crate) fn push(&self, bytes: Vec<u8>) -> Result<(), PushError> {
        if self.tx.is_closed() {
            return Err(PushError::Closed);
        }
        let len = bytes.len();
        if self.queued.load(Ordering::Relaxed).saturating_add(len) > self.budget {
            return Err(PushError::Full);
        }
        self.queued.fetch_add(len, Ordering::Relaxed);
        self.tx.send(bytes).map_err(|_| PushError::Closed)
    }
}

/// Who a connection is and what it answers to.
#[derive(Debug, Clone)]
pub(crate) struct Link {
    /// The connection's id, unique in the proxy's life.
    pub id: u64,
    /// The far end.
    pub peer: SocketAddr,
    /// Our end.
    pub local: SocketAddr,
    /// Accepted (must bring a first message in time) rather than opened by us.
    pub accepted: bool,
    /// The settings when it was made.
    pub cfg: TcpConfig,
    /// Messages and transport errors for the proxy.
    pub inbound: mpsc::Sender<Inbound>,
    /// The map the connection leaves when it ends, and the counters.
    pub registry: Arc<Registry>,
}

/// How a connection ended, and whether anything the proxy sent on it may have been lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// Closed for this reason.
    Closed(Reason),
    /// The proxy loop dropped its end (it closed the connection itself, or stopped).
    Dropped,
}

impl End {
    /// The reason for the counters and the log, if the task should count it.
    fn reason(self) -> Option<Reason> {
        match self {
            End::Closed(r) => Some(r),
            End::Dropped => None,
        }
    }
}

/// Runs the connection on `stream` until it ends, then closes it and tells the proxy.
pub(crate) async fn serve<S: SipStream>(link: Link, slot: Slot, mut stream: S, inbox: Inbox) {
    let mut conn = Conn::new(&link, inbox);
    let end = conn.run(&link, &mut stream).await;
    let abortive = matches!(
        end,
        End::Dropped
            | End::Closed(
                Reason::MessageTimeout | Reason::TooLarge | Reason::Framing | Reason::WriteBacklog
            )
    );
    if abortive {
        // A peer that misbehaves (or does not read) gets a reset: what is queued for it is
        // discarded, and no FIN exchange or TIME_WAIT is kept for it.
        let _ = socket2::SockRef::from(stream.socket()).set_linger(Some(Duration::ZERO));
    }
    drop(stream);
    drop(slot);
    finish(&link, end.reason(), conn.sent_request).await;
}

/// Counts and logs how a connection (or an attempt at one) ended, takes it out of the proxy
/// loop's map and, when a request the proxy sent on it may be lost, reports a transport error
/// for its peer so the transaction fails over at once (RFC 3261 §17.1.4).
pub(crate) async fn finish(link: &Link, reason: Option<Reason>, sent_request: bool) {
    if let Some(r) = reason {
        link.registry.stats().count(r);
        match link.registry.transport {
            proxy::Transport::Tls => {
                tracing::debug!(peer = %link.peer, id = link.id, reason = r.as_str(), "SIP TLS connection closed")
            }
            _ => {
                tracing::debug!(peer = %link.peer, id = link.id, reason = r.as_str(), "SIP TCP connection closed")
            }
        }
    }
    link.registry.remove(link.peer, link.id);
    let lossy = !matches!(reason, None | Some(Reason::Idle));
    if sent_request && lossy {
        let m = Inbound::TransportError {
            transport: link.registry.transport,
            peer: link.peer,
        };
        let _ = link.inbound.send(m).await;
    }
}

/// Writes some of `bytes`, or, with none left to write, flushes what the stream holds (a
/// TLS session keeps the end of a record when the socket was full). Returns the bytes
/// written (0 for a flush).
async fn write_or_flush<W: AsyncWrite + Unpin>(wr: &mut W, bytes: &[u8]) -> std::io::Result<usize> {
    if bytes.is_empty() {
        wr.flush().await.map(|()| 0)
    } else {
        wr.write(bytes).await
    }
}

/// The unwritten part of the front output buffer.
fn front(out: &VecDeque<Vec<u8>>, written: usize) -> &[u8] {
    out.front()
        .and_then(|b| b.get(written..))
        .unwrap_or_default()
}

/// A connection's state between reads and writes.
struct Conn {
    inbox: Inbox,
    /// Unconsumed input; the framer has looked at its front.
    buf: Vec<u8>,
    framer: StreamFramer,
    /// Output taken from the inbox (plus pongs), front first; `written` bytes of the front
    /// are on the socket already.
    out: VecDeque<Vec<u8>>,
    written: usize,
    /// A whole message has come in (the first-message timeout is over).
    framed_any: bool,
    /// The proxy sent a request here: its loss fails a client transaction.
    sent_request: bool,
    /// Bytes were written since the last flush (a TLS session may hold the last record).
    unflushed: bool,
    idle_at: Instant,
    /// When the message being received (or, on a new accepted connection, the first one)
    /// must be whole.
    message_by: Option<Instant>,
    budget: usize,
}

impl Conn {
    fn new(link: &Link, inbox: Inbox) -> Conn {
        let now = Instant::now();
        let budget = link.cfg.buffer_bytes as usize;
        Conn {
            inbox,
            buf: Vec::new(),
            framer: StreamFramer::new(budget),
            out: VecDeque::new(),
            written: 0,
            framed_any: false,
            sent_request: false,
            unflushed: false,
            idle_at: now + link.cfg.idle_timeout,
            message_by: link.accepted.then(|| now + link.cfg.message_timeout),
            budget,
        }
    }

    /// Reads, writes and waits until the connection ends.
    async fn run<S: SipStream>(&mut self, link: &Link, stream: &mut S) -> End {
        let (mut rd, mut wr) = tokio::io::split(stream);
        loop {
            self.buf.reserve(READ_CHUNK);
            let deadline = match self.message_by {
                Some(m) if m < self.idle_at => m,
                _ => self.idle_at,
            };
            let step = tokio::select! {
                r = rd.read_buf(&mut self.buf) => match r {
                    Ok(0) => Err(End::Closed(Reason::PeerClosed)),
                    Ok(_) => self.on_read(link).await,
                    Err(e) if e.kind() == ErrorKind::Interrupted => Ok(()),
                    Err(_) => Err(End::Closed(Reason::ReadError)),
                },
                r = write_or_flush(&mut wr, front(&self.out, self.written)), if !self.out.is_empty() || self.unflushed => match r {
                    Ok(n) if n > 0 => {
                        self.on_written(link, n);
                        Ok(())
                    }
                    Ok(_) if self.out.is_empty() => {
                        self.unflushed = false;
                        Ok(())
                    }
                    _ => Err(End::Closed(Reason::WriteError)),
                },
                m = self.inbox.rx.recv() => match m {
                    Some(bytes) => {
                        self.take(bytes);
                        Ok(())
                    }
                    None => Err(End::Dropped),
                },
                () = tokio::time::sleep_until(deadline) => Err(self.timed_out()),
            };
            if let Err(end) = step {
                return end;
            }
        }
    }

    /// `n` more bytes are on the socket.
    fn on_written(&mut self, link: &Link, n: usize) {
        self.idle_at = Instant::now() + link.cfg.idle_timeout;
        self.unflushed = true;
        self.inbox.queued.fetch_sub(n, Ordering::Relaxed);
        self.written += n;
        if self.out.front().is_some_and(|b| self.written >= b.len()) {
            self.out.pop_front();
            self.written = 0;
        }
    }

    /// A message from the proxy, counted in the budget already.
    fn take(&mut self, bytes: Vec<u8>) {
        // Responses start with the SIP-Version (RFC 3261 §7.2); anything else is a request,
        // whose loss a client transaction must hear of.
        if !bytes.starts_with(b"SIP/") {
            self.sent_request = true;
        }
        self.out.push_back(bytes);
    }

    /// Which deadline passed.
    fn timed_out(&self) -> End {
        match self.message_by {
            Some(m) if m <= Instant::now() => End::Closed(Reason::MessageTimeout),
            _ => End::Closed(Reason::Idle),
        }
    }

    /// Takes in what was just read into the input buffer: frames every whole message and
    /// hands it to the proxy.
    async fn on_read(&mut self, link: &Link) -> Result<(), End> {
        let now = Instant::now();
        self.idle_at = now + link.cfg.idle_timeout;
        let mut start = 0;
        let mut framed = false;
        loop {
            let rest = self.buf.get(start..).unwrap_or_default();
            let frame = match self.framer.next_frame(rest) {
                Ok(f) => f,
                Err(SipError::TooLarge) => return Err(End::Closed(Reason::TooLarge)),
                Err(_) => return Err(End::Closed(Reason::Framing)),
            };
            let msg = match frame {
                Frame::Incomplete => break,
                Frame::Message(len) => rest.get(..len).map(<[u8]>::to_vec),
                Frame::Ping => {
                    self.pong()?;
                    None
                }
                Frame::Pong => None,
            };
            start += frame.len();
            if let Some(bytes) = msg {
                framed = true;
                self.deliver(link, bytes).await?;
            }
        }
        // One move of the remainder per read, not one per message.
        self.buf.drain(..start);
        if self.buf.is_empty() && self.buf.capacity() > KEEP_CAPACITY {
            self.buf = Vec::new();
        }
        self.framed_any |= framed;
        self.arm_message_timer(link, now, framed);
        Ok(())
    }

    /// Starts the message timer when a message has begun, stops it when none is pending. A
    /// new accepted connection keeps its first-message deadline until a message is whole.
    fn arm_message_timer(&mut self, link: &Link, now: Instant, framed: bool) {
        if framed {
            self.message_by = None;
        }
        if self.framer.in_message() {
            if self.message_by.is_none() {
                self.message_by = Some(now + link.cfg.message_timeout);
            }
        } else if self.framed_any || !link.accepted {
            self.message_by = None;
        }
    }

    /// Queues a pong, within the output budget.
    fn pong(&mut self) -> Result<(), End> {
        let queued = self.inbox.queued.load(Ordering::Relaxed);
        if queued + PONG.len() > self.budget {
            return Err(End::Closed(Reason::WriteBacklog));
        }
        self.inbox.queued.fetch_add(PONG.len(), Ordering::Relaxed);
        self.out.push_back(PONG.to_vec());
        Ok(())
    }

    /// Hands one framed message to the proxy loop (waiting while its queue is full).
    async fn deliver(&self, link: &Link, bytes: Vec<u8>) -> Result<(), End> {
        let m = Inbound::Message {
            transport: link.registry.transport,
            local: link.local,
            from: link.peer,
            bytes,
        };
        link.inbound.send(m).await.map_err(|_| End::Dropped)
    }
}
