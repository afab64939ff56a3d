//! SIP over TCP (RFC 3261 §18.3): one reader and one writer task per connection, messages
//! framed by Content-Length. Responses to a request go back on the connection it came in on
//! (§18.2.2); requests to a member reuse an open connection to it or open one.

use super::Inbound;
use proxy::Transport;
use std::collections::HashMap;
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

/// Largest amount of unframed bytes held for one connection.
const MAX_BUFFER: usize = 256 * 1024;

/// A new connection's writer, handed from an accept task to the proxy loop.
type Registration = (SocketAddr, mpsc::UnboundedSender<Vec<u8>>);

/// The open connections, by peer address, as the proxy loop sees them.
#[derive(Debug)]
pub(crate) struct Connections {
    writers: HashMap<SocketAddr, mpsc::UnboundedSender<Vec<u8>>>,
    inbound: mpsc::Sender<Inbound>,
    reg_tx: mpsc::UnboundedSender<Registration>,
    reg_rx: mpsc::UnboundedReceiver<Registration>,
}

/// Lets accept tasks register connections with the proxy loop.
#[derive(Debug, Clone)]
pub(crate) struct Registrar {
    reg: mpsc::UnboundedSender<Registration>,
    inbound: mpsc::Sender<Inbound>,
}

impl Connections {
    pub(crate) fn new(inbound: mpsc::Sender<Inbound>) -> Self {
        let (reg_tx, reg_rx) = mpsc::unbounded_channel();
        Connections {
            writers: HashMap::new(),
            inbound,
            reg_tx,
            reg_rx,
        }
    }

    pub(crate) fn registrar(&self) -> Registrar {
        Registrar {
            reg: self.reg_tx.clone(),
            inbound: self.inbound.clone(),
        }
    }

    /// Takes in the connections accepted since the last call.
    pub(crate) fn accept_new(&mut self) {
        while let Ok((peer, w)) = self.reg_rx.try_recv() {
            self.writers.insert(peer, w);
        }
    }

    /// Sends `bytes` to `dst`, opening a connection from `src`'s address family if needed.
    pub(crate) fn send(&mut self, dst: SocketAddr, _src: SocketAddr, bytes: Vec<u8>) {
        self.accept_new();
        let bytes = match self.writers.get(&dst) {
            Some(w) => match w.send(bytes) {
                Ok(()) => return,
                // The connection is gone: open a new one for this message.
                Err(e) => e.0,
            },
            None => bytes,
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let _ = tx.send(bytes);
        self.writers.insert(dst, tx);
        tokio::spawn(connect(dst, rx, self.inbound.clone()));
    }
}

/// Accepts connections on a listener until the listener fails.
pub(crate) async fn accept_loop(listener: tokio::net::TcpListener, reg: Registrar) {
    let Ok(local) = listener.local_addr() else {
        return;
    };
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                let (r, w) = stream.into_split();
                let (tx, rx) = mpsc::unbounded_channel();
                if reg.reg.send((peer, tx)).is_err() {
                    return;
                }
                tokio::spawn(writer(w, rx));
                tokio::spawn(reader(r, local, peer, reg.inbound.clone()));
            }
            Err(e) => {
                tracing::warn!(error = %e, "SIP TCP accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}

async fn connect(
    dst: SocketAddr,
    rx: mpsc::UnboundedReceiver<Vec<u8>>,
    inbound: mpsc::Sender<Inbound>,
) {
    let stream = match tokio::time::timeout(
        std::time::Duration::from_secs(5),
        TcpStream::connect(dst),
    )
    .await
    {
        Ok(Ok(s)) => s,
        _ => {
            let _ = inbound
                .send(Inbound::TransportError {
                    transport: Transport::Tcp,
                    peer: dst,
                })
                .await;
            return;
        }
    };
    let _ = stream.set_nodelay(true);
    let Ok(local) = stream.local_addr() else {
        return;
    };
    let (r, w) = stream.into_split();
    tokio::spawn(writer(w, rx));
    reader(r, local, dst, inbound).await;
}

async fn writer(mut w: OwnedWriteHalf, mut rx: mpsc::UnboundedReceiver<Vec<u8>>) {
    while let Some(b) = rx.recv().await {
        if w.write_all(&b).await.is_err() {
            return;
        }
    }
}

/// Reads a connection and hands each framed message to the proxy loop. A framing error
/// closes the connection (RFC 3261 §18.3).
async fn reader(
    mut r: OwnedReadHalf,
    local: SocketAddr,
    peer: SocketAddr,
    inbound: mpsc::Sender<Inbound>,
) {
    let mut buf = Vec::with_capacity(8192);
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        let n = match r.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
        loop {
            let ka = sip::keepalive_len(&buf);
            if ka == buf.len() {
                buf.clear();
                break;
            }
            match sip::frame_stream(&buf) {
                Ok(Some(len)) => {
                    let bytes: Vec<u8> = buf.drain(..len).collect();
                    let m = Inbound::Message {
                        transport: Transport::Tcp,
                        local,
                        from: peer,
                        bytes,
                    };
                    if inbound.send(m).await.is_err() {
                        return;
                    }
                }
                Ok(None) if buf.len() <= MAX_BUFFER => break,
                _ => {
                    tracing::debug!(peer = %peer, "SIP TCP framing error; closing");
                    return;
                }
            }
        }
    }
}
