//! DNS transport for the proxy's member lookups: one UDP socket per address family in use,
//! and a short-lived TCP connection for answers that came back truncated (RFC 7766 §5,
//! length-prefixed messages per RFC 1035 §4.2.2).

use super::Inbound;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::mpsc;

/// Largest DNS message read.
const DNS_MAX: usize = 65_535;
/// A TCP query gives up after this.
const TCP_LIMIT: Duration = Duration::from_secs(5);

/// The DNS client sockets.
#[derive(Debug, Default)]
pub(crate) struct DnsClient {
    v4: Option<Arc<UdpSocket>>,
    v6: Option<Arc<UdpSocket>>,
}

impl DnsClient {
    /// Sends one query: over UDP from the socket of the server's family (bound on first use),
    /// over TCP in a task of its own.
    pub(crate) async fn send(
        &mut self,
        t: dns::resolve::Transmit,
        inbound: &mpsc::Sender<Inbound>,
    ) {
        match t.protocol {
            dns::resolve::Protocol::Udp => {
                let slot = if t.destination.is_ipv4() {
                    &mut self.v4
                } else {
                    &mut self.v6
                };
                if slot.is_none() {
                    let any: SocketAddr = if t.destination.is_ipv4() {
                        SocketAddr::from(([0, 0, 0, 0], 0))
                    } else {
                        SocketAddr::from(([0u16; 8], 0))
                    };
                    match UdpSocket::bind(any).await {
                        Ok(s) => {
                            let s = Arc::new(s);
                            tokio::spawn(reader(s.clone(), inbound.clone()));
                            *slot = Some(s);
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "cannot open the DNS client socket");
                            return;
                        }
                    }
                }
                if let Some(s) = slot {
                    if let Err(e) = s.send_to(&t.payload, t.destination).await {
                        tracing::debug!(server = %t.destination, error = %e, "DNS query not sent");
                    }
                }
            }
            dns::resolve::Protocol::Tcp => {
                tokio::spawn(tcp_query(t.destination, t.payload, inbound.clone()));
            }
        }
    }
}

async fn reader(sock: Arc<UdpSocket>, inbound: mpsc::Sender<Inbound>) {
    let mut buf = vec![0u8; DNS_MAX];
    loop {
        match sock.recv_from(&mut buf).await {
            Ok((n, from)) => {
                let bytes = buf.get(..n).unwrap_or_default().to_vec();
                if inbound.send(Inbound::Dns { from, bytes }).await.is_err() {
                    return;
                }
            }
            Err(e) => tracing::debug!(error = %e, "DNS receive error"),
        }
    }
}

async fn tcp_query(server: SocketAddr, payload: Vec<u8>, inbound: mpsc::Sender<Inbound>) {
    let exchange = async {
        let mut s = TcpStream::connect(server).await?;
        let len = u16::try_from(payload.len()).map_err(|_| std::io::ErrorKind::InvalidInput)?;
        s.write_all(&len.to_be_bytes()).await?;
        s.write_all(&payload).await?;
        let mut l = [0u8; 2];
        s.read_exact(&mut l).await?;
        let mut resp = vec![0u8; usize::from(u16::from_be_bytes(l))];
        s.read_exact(&mut resp).await?;
        Ok::<_, std::io::Error>(resp)
    };
    match tokio::time::timeout(TCP_LIMIT, exchange).await {
        Ok(Ok(bytes)) => {
            let _ = inbound
                .send(Inbound::Dns {
                    from: server,
                    bytes,
                })
                .await;
        }
        Ok(Err(e)) => tracing::debug!(server = %server, error = %e, "DNS over TCP failed"),
        Err(_) => tracing::debug!(server = %server, "DNS over TCP timed out"),
    }
}
