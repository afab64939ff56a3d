//! DNS transport for the proxy's member lookups: each UDP query from a socket of its own on a
//! port the kernel picks at random (RFC 5452 §9.2: an off-path forger must guess the port as
//! well as the ID), closed once its answer came or after [`UDP_WAIT`]; and a short-lived TCP
//! connection for answers that came back truncated (RFC 7766 §5, length-prefixed messages per
//! RFC 1035 §4.2.2).

use super::Inbound;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::mpsc;

/// Largest DNS message read.
const DNS_MAX: usize = 65_535;
/// A TCP query gives up after this.
const TCP_LIMIT: Duration = Duration::from_secs(5);
/// A UDP query's socket waits this long for its answer at most: the longest per-try timeout
/// `[dns] timeout_ms` allows (a later answer would be ignored by the lookup anyway).
const UDP_WAIT: Duration = Duration::from_secs(30);
/// UDP queries waiting at once, at most; beyond it a query is not sent (the lookup retries or
/// times out). Lookups are few (one per host-name member and TTL), so this is never reached
/// unless DNS servers stop answering.
const MAX_UDP_QUERIES: usize = 256;

/// The DNS client: the number of UDP queries waiting for their answer.
#[derive(Debug, Default)]
pub(crate) struct DnsClient {
    waiting: Arc<AtomicUsize>,
}

impl DnsClient {
    /// Sends one query: over UDP from a fresh socket on a random port, over TCP in a task of
    /// its own.
    pub(crate) async fn send(
        &mut self,
        t: dns::resolve::Transmit,
        inbound: &mpsc::Sender<Inbound>,
    ) {
        match t.protocol {
            dns::resolve::Protocol::Udp => self.send_udp(t, inbound).await,
            dns::resolve::Protocol::Tcp => {
                tokio::spawn(tcp_query(t.dst, t.bytes, inbound.clone()));
            }
        }
    }

    async fn send_udp(&mut self, t: dns::resolve::Transmit, inbound: &mpsc::Sender<Inbound>) {
        if self.waiting.load(Ordering::Relaxed) >= MAX_UDP_QUERIES {
            tracing::debug!(server = %t.dst, "DNS query not sent: too many waiting");
            return;
        }
        // Port 0: the kernel picks a random free ephemeral port for each socket.
        let any: SocketAddr = if t.dst.is_ipv4() {
            SocketAddr::from(([0, 0, 0, 0], 0))
        } else {
            SocketAddr::from(([0u16; 8], 0))
        };
        let sock = match UdpSocket::bind(any).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "cannot open a DNS client socket");
                return;
            }
        };
        if let Err(e) = sock.send_to(&t.bytes, t.dst).await {
            tracing::debug!(server = %t.dst, error = %e, "DNS query not sent");
            return;
        }
        let id = t.bytes.get(..2).map(|b| [b[0], b[1]]).unwrap_or_default();
        self.waiting.fetch_add(1, Ordering::Relaxed);
        let waiting = self.waiting.clone();
        let inbound = inbound.clone();
        tokio::spawn(async move {
            let answer = tokio::time::timeout(UDP_WAIT, answer(&sock, t.dst, id)).await;
            if let Ok(Some(bytes)) = answer {
                let from = t.dst;
                let _ = inbound.send(Inbound::Dns { from, bytes }).await;
            }
            waiting.fetch_sub(1, Ordering::Relaxed);
        });
    }
}

/// The first datagram on `sock` from `server` that carries the query's `id` (RFC 5452 §9.1:
/// address, port and ID must match); others are ignored, so a forgery cannot end the wait.
async fn answer(sock: &UdpSocket, server: SocketAddr, id: [u8; 2]) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; DNS_MAX];
    loop {
        match sock.recv_from(&mut buf).await {
            Ok((n, from)) if from == server && buf.get(..2) == Some(&id[..]) => {
                return Some(buf.get(..n)?.to_vec());
            }
            Ok((_, from)) => tracing::debug!(from = %from, "DNS datagram ignored"),
            Err(e) => {
                tracing::debug!(server = %server, error = %e, "DNS receive error");
                return None;
            }
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// A DNS server on loopback that answers each query with its own bytes (an echo keeps
    /// the ID) and records the source port of each.
    async fn echo_server() -> (SocketAddr, mpsc::Receiver<SocketAddr>) {
        let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = s.local_addr().unwrap();
        let (tx, rx) = mpsc::channel(64);
        tokio::spawn(async move {
            let mut buf = [0u8; 512];
            while let Ok((n, from)) = s.recv_from(&mut buf).await {
                let _ = tx.send(from).await;
                // A forgery first (wrong ID), then the answer.
                let mut forged = buf[..n].to_vec();
                forged[0] ^= 0xff;
                let _ = s.send_to(&forged, from).await;
                let _ = s.send_to(&buf[..n], from).await;
            }
        });
        (addr, rx)
    }

    fn query(server: SocketAddr, id: u16) -> dns::resolve::Transmit {
        let mut payload = id.to_be_bytes().to_vec();
        payload.extend_from_slice(&[1, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
        dns::resolve::Transmit {
            dst: server,
            protocol: dns::resolve::Protocol::Udp,
            bytes: payload,
        }
    }

    #[tokio::test]
    async fn each_query_leaves_from_a_port_of_its_own_and_only_its_answer_comes_back() {
        let (server, mut ports) = echo_server().await;
        let (tx, mut rx) = mpsc::channel(64);
        let mut client = DnsClient::default();
        let mut seen = Vec::new();
        for id in 0..20u16 {
            client.send(query(server, 0x1000 + id), &tx).await;
            seen.push(ports.recv().await.unwrap().port());
            let Some(Inbound::Dns { from, bytes }) = rx.recv().await else {
                panic!("no answer");
            };
            assert_eq!(from, server);
            assert_eq!(
                bytes[..2],
                (0x1000 + id).to_be_bytes(),
                "the forgery was ignored"
            );
        }
        seen.sort_unstable();
        seen.dedup();
        assert!(seen.len() >= 19, "source ports repeat: {seen:?}");
        // Each socket closed with its answer.
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(client.waiting.load(Ordering::Relaxed), 0);
    }
}
