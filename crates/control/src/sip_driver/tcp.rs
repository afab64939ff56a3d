//! SIP over TCP (RFC 3261 §18.3): one task per connection, messages framed by
//! Content-Length. Responses to a request go back on the connection it came in on (§18.2.2);
//! requests to a next hop reuse an open connection to it or open one.
//!
//! Bounded at the edge: connections in all and per source address are capped (beyond a cap a
//! connection is accepted and closed at once), each connection buffers at most
//! `tcp_buffer_bytes` each way, idle connections and messages that do not arrive in time are
//! closed, and a connection that ends leaves nothing behind: its task closes the socket,
//! frees its slot and takes its entry out of the map the proxy loop sends through. A
//! connection that fails with a request on it, or cannot be opened, reaches the proxy as a
//! transport error for its peer (RFC 3261 §17.1.4), so the branch fails over at once.
//!
//! SIP over TLS is the same machinery with a TLS handshake between connect (or accept) and
//! the first byte of SIP (`super::tls`): its own [`Connections`], caps and counters, the same
//! settings. An accepted connection must finish its handshake within the message timeout;
//! an outbound one, connect and handshake, within the connect timeout. What the proxy queues
//! meanwhile waits in the connection's bounded queue and is written only through the TLS
//! session; a failed handshake is a transport error for the branch.

mod conn;
mod limits;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use config::TcpConfig;
use proxy::Transport;
use rustls_pki_types::ServerName;
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::mpsc;

use super::tls::TlsContext;

use self::conn::{Link, Outbox, PushError};
pub(crate) use self::limits::Limits;
use self::limits::{Reason, Slot};
pub use self::limits::{TcpCounters, TcpStats};
use super::Inbound;

/// Pause after a failed `accept` (out of descriptors, mostly) before the next try.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);
/// At most one warning per this long about failing `accept`s; the rest are counted.
const ACCEPT_WARN_EVERY: Duration = Duration::from_secs(60);
/// Descriptors kept for everything but SIP TCP connections (sockets, files, the data plane's
/// own) when checking the open-file limit against `tcp_max_connections`.
const OTHER_DESCRIPTORS: u64 = 256;

/// Why a message could not be handed to a connection; the proxy hears it as a transport
/// error for the destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SendError {
    /// The connection to the destination has just ended.
    #[error("the connection is gone")]
    Closed,
    /// The destination left `tcp_buffer_bytes` unread: its connection was closed.
    #[error("the peer does not read: connection closed")]
    Backlog,
    /// `tcp_max_connections` is reached: no connection may be opened.
    #[error("connection cap reached")]
    Cap,
}

/// An open connection as the proxy loop sees it.
#[derive(Debug)]
struct Entry {
    id: u64,
    outbox: Outbox,
}

/// The open connections by peer address, shared by the proxy loop (which sends through
/// them) and the connection tasks (which add and remove themselves).
#[derive(Debug)]
pub(crate) struct Registry {
    map: Mutex<HashMap<SocketAddr, Entry>>,
    limits: Arc<Limits>,
    next_id: AtomicU64,
    inbound: mpsc::Sender<Inbound>,
    /// [`Transport::Tcp`], or [`Transport::Tls`] with `tls` set.
    pub(crate) transport: Transport,
    /// The TLS settings, for SIP over TLS.
    tls: Option<Arc<TlsContext>>,
}

impl Registry {
    fn lock(&self) -> MutexGuard<'_, HashMap<SocketAddr, Entry>> {
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds a connection to `peer` and returns its [`Link`]; a connection already held for
    /// `peer` is replaced (its task ends).
    fn insert(
        self: &Arc<Self>,
        peer: SocketAddr,
        local: SocketAddr,
        accepted: bool,
        outbox: Outbox,
    ) -> Link {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.lock().insert(peer, Entry { id, outbox });
        Link {
            id,
            peer,
            local,
            accepted,
            cfg: self.limits.config(),
            inbound: self.inbound.clone(),
            registry: self.clone(),
        }
    }

    /// Takes connection `id` out of the map (a newer one to the same peer stays).
    pub(crate) fn remove(&self, peer: SocketAddr, id: u64) {
        let mut map = self.lock();
        if map.get(&peer).is_some_and(|e| e.id == id) {
            map.remove(&peer);
        }
    }

    /// The counters.
    pub(crate) fn stats(&self) -> &TcpStats {
        self.limits.stats()
    }
}

/// The proxy loop's handle on the TCP connections.
#[derive(Debug)]
pub(crate) struct Connections {
    registry: Arc<Registry>,
}

impl Connections {
    /// No connections yet; framed messages and transport errors go to `inbound`.
    pub(crate) fn new(inbound: mpsc::Sender<Inbound>, limits: Arc<Limits>) -> Self {
        Self::with_transport(inbound, limits, None)
    }

    /// No TLS connections yet, with the TLS settings `tls`.
    pub(crate) fn new_tls(
        inbound: mpsc::Sender<Inbound>,
        limits: Arc<Limits>,
        tls: Arc<TlsContext>,
    ) -> Self {
        Self::with_transport(inbound, limits, Some(tls))
    }

    fn with_transport(
        inbound: mpsc::Sender<Inbound>,
        limits: Arc<Limits>,
        tls: Option<Arc<TlsContext>>,
    ) -> Self {
        let transport = if tls.is_some() {
            Transport::Tls
        } else {
            Transport::Tcp
        };
        Connections {
            registry: Arc::new(Registry {
                map: Mutex::new(HashMap::new()),
                limits,
                next_id: AtomicU64::new(1),
                inbound,
                transport,
                tls,
            }),
        }
    }

    /// Whether a connection to `dst` is held now.
    pub(crate) fn has(&self, dst: SocketAddr) -> bool {
        self.registry.lock().contains_key(&dst)
    }

    /// What an accept loop needs to add connections.
    pub(crate) fn registrar(&self) -> Arc<Registry> {
        self.registry.clone()
    }

    /// Applies reloaded settings to the connections made from now on.
    pub(crate) fn reconfigure(&self, cfg: TcpConfig) {
        self.registry.limits.reconfigure(cfg);
    }

    /// Connections held now.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.registry.lock().len()
    }

    /// Sends `bytes` to `dst` on its open connection, or opens one (from `src`'s address
    /// when it names one). An error means the message is lost: a transport error for `dst`.
    pub(crate) fn send(
        &mut self,
        dst: SocketAddr,
        src: SocketAddr,
        bytes: Vec<u8>,
    ) -> Result<(), SendError> {
        self.send_named(dst, src, bytes, None)
    }

    /// [`Connections::send`]; a TLS connection opened for it must prove `name` (else the
    /// address of `dst`).
    pub(crate) fn send_named(
        &mut self,
        dst: SocketAddr,
        src: SocketAddr,
        bytes: Vec<u8>,
        name: Option<ServerName<'static>>,
    ) -> Result<(), SendError> {
        let reg = &self.registry;
        {
            let mut map = reg.lock();
            if let Some(e) = map.get(&dst) {
                let pushed = e.outbox.push(bytes);
                if pushed.is_err() {
                    // Dropping the outbox ends the connection's task: a peer that does not
                    // read is closed, a dead connection's entry goes.
                    map.remove(&dst);
                }
                return match pushed {
                    Ok(()) => Ok(()),
                    Err(PushError::Full) => {
                        reg.stats().count(Reason::WriteBacklog);
                        tracing::debug!(peer = %dst, reason = Reason::WriteBacklog.as_str(), "SIP TCP connection closed");
                        Err(SendError::Backlog)
                    }
                    Err(PushError::Closed) => Err(SendError::Closed),
                };
            }
        }
        self.open(dst, src, bytes, name)
    }

    /// Opens a connection to `dst` with `bytes` queued on it.
    fn open(
        &mut self,
        dst: SocketAddr,
        src: SocketAddr,
        bytes: Vec<u8>,
        name: Option<ServerName<'static>>,
    ) -> Result<(), SendError> {
        let reg = &self.registry;
        let slot = reg.limits.admit_outbound().map_err(|r| {
            reg.stats().count(r);
            tracing::debug!(peer = %dst, reason = r.as_str(), "SIP TCP connection not opened");
            SendError::Cap
        })?;
        let (outbox, inbox) = conn::queue(reg.limits.config().buffer_bytes as usize);
        outbox.push(bytes).map_err(|_| SendError::Backlog)?;
        let link = reg.insert(dst, src, false, outbox);
        let name = name.unwrap_or(ServerName::IpAddress(dst.ip().into()));
        tokio::spawn(connect(link, slot, inbox, src, name));
        Ok(())
    }
}

impl Drop for Connections {
    /// The proxy loop is gone: every connection's task ends with its outbox.
    fn drop(&mut self) {
        self.registry.lock().clear();
    }
}

/// Raises the open-file limit toward what `cfg` may hold open, and warns when it stays
/// below: `accept` would then fail (counted) before the cap is reached.
pub(crate) fn check_descriptors(cfg: &TcpConfig) {
    let want = u64::from(cfg.max_connections) + OTHER_DESCRIPTORS;
    match pktio::socket::raise_fd_limit() {
        Ok(limit) if limit < want => tracing::warn!(
            limit,
            tcp_max_connections = cfg.max_connections,
            "the open-file limit is below sip.tcp_max_connections plus {OTHER_DESCRIPTORS}; raise it (ulimit -n, LimitNOFILE)"
        ),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "cannot read the open-file limit"),
    }
}

/// Accepts connections on `listener` for as long as the runtime runs.
pub(crate) async fn accept_loop(listener: tokio::net::TcpListener, reg: Arc<Registry>) {
    let Ok(local) = listener.local_addr() else {
        return;
    };
    let mut warned: Option<Instant> = None;
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => admit(&reg, stream, peer, local),
            Err(e) => {
                reg.stats().count_accept_error();
                if warned.is_none_or(|t| t.elapsed() >= ACCEPT_WARN_EVERY) {
                    tracing::warn!(listen = %local, error = %e, "SIP TCP accept failed (further failures are counted)");
                    warned = Some(Instant::now());
                }
                tokio::time::sleep(ACCEPT_BACKOFF).await;
            }
        }
    }
}

/// Takes in an accepted connection, or closes it at once when a cap is reached.
fn admit(reg: &Arc<Registry>, stream: TcpStream, peer: SocketAddr, local: SocketAddr) {
    let slot = match reg.limits.admit_accepted(peer) {
        Ok(slot) => slot,
        Err(r) => {
            reg.stats().count(r);
            tracing::debug!(peer = %peer, reason = r.as_str(), "SIP TCP connection refused");
            // A reset rather than a FIN: nothing of it stays in the kernel either.
            let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
            return;
        }
    };
    let _ = stream.set_nodelay(true);
    if let Some(tls) = &reg.tls {
        tokio::spawn(handshake_accepted(
            reg.clone(),
            tls.clone(),
            slot,
            stream,
            peer,
            local,
        ));
        return;
    }
    reg.stats().count_accepted();
    let (outbox, inbox) = conn::queue(reg.limits.config().buffer_bytes as usize);
    let link = reg.insert(peer, local, true, outbox);
    tokio::spawn(conn::serve(link, slot, stream, inbox));
}

/// The TLS handshake of an accepted connection, within the message timeout (the first
/// message is late otherwise); then the connection is served like any other.
async fn handshake_accepted(
    reg: Arc<Registry>,
    tls: Arc<TlsContext>,
    slot: Slot,
    stream: TcpStream,
    peer: SocketAddr,
    local: SocketAddr,
) {
    let Some(acceptor) = tls.acceptor() else {
        return;
    };
    let cfg = reg.limits.config();
    let done = tokio::time::timeout(cfg.message_timeout, acceptor.accept(stream)).await;
    let reason = match done {
        Ok(Ok(stream)) => {
            reg.stats().count_accepted();
            let (outbox, inbox) = conn::queue(cfg.buffer_bytes as usize);
            let link = reg.insert(peer, local, true, outbox);
            return conn::serve(link, slot, stream, inbox).await;
        }
        Ok(Err(e)) => {
            tracing::debug!(peer = %peer, error = %e, "SIP TLS handshake failed");
            Reason::Handshake
        }
        Err(_) => Reason::MessageTimeout,
    };
    reg.stats().count(reason);
    drop(slot);
}

/// Opens the connection of `link` (and, for TLS, makes the handshake proving `name`) within
/// the connect timeout, then serves it. Nothing queued is written before that.
async fn connect(
    mut link: Link,
    slot: Slot,
    inbox: conn::Inbox,
    src: SocketAddr,
    name: ServerName<'static>,
) {
    let deadline = tokio::time::Instant::now() + link.cfg.connect_timeout;
    let dialled = tokio::time::timeout_at(deadline, dial(link.peer, src)).await;
    let stream = match dialled {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            tracing::debug!(peer = %link.peer, error = %e, "SIP TCP connect failed");
            drop(slot);
            return conn::finish(&link, Some(Reason::ConnectFailed), true).await;
        }
        Err(_) => {
            drop(slot);
            return conn::finish(&link, Some(Reason::ConnectTimeout), true).await;
        }
    };
    let _ = stream.set_nodelay(true);
    if let Ok(local) = stream.local_addr() {
        link.local = local;
    }
    let Some(tls) = link.registry.tls.clone() else {
        link.registry.stats().count_connected();
        return conn::serve(link, slot, stream, inbox).await;
    };
    let shake = tokio::time::timeout_at(deadline, tls.connector().connect(name.clone(), stream));
    let reason = match shake.await {
        Ok(Ok(stream)) => {
            link.registry.stats().count_connected();
            return conn::serve(link, slot, stream, inbox).await;
        }
        Ok(Err(e)) => {
            tracing::info!(peer = %link.peer, name = ?name, error = %e, "SIP TLS handshake with a next hop failed");
            Reason::Handshake
        }
        Err(_) => Reason::ConnectTimeout,
    };
    drop(slot);
    conn::finish(&link, Some(reason), true).await;
}

/// A connection to `dst`, from `src`'s address when it names one of the same family.
async fn dial(dst: SocketAddr, src: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = if dst.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    if !src.ip().is_unspecified() && src.is_ipv4() == dst.is_ipv4() {
        socket.bind(SocketAddr::new(src.ip(), 0))?;
    }
    socket.connect(dst).await
}
