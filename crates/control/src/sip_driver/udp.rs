//! The receive side of the SIP UDP sockets: one reader task per socket takes every datagram
//! waiting on a wake-up with `recvmmsg` (up to [`RECV_BATCH`] per system call) and hands the
//! proxy loop all of them as one [`Datagrams`] message, instead of a system call, a copy into
//! a fresh buffer and a channel message per datagram.

use std::io;
use std::io::IoSliceMut;
use std::net::SocketAddr;
use std::ops::Range;
use std::os::fd::AsRawFd;
use std::sync::Arc;

use nix::sys::socket::{recvmmsg, MsgFlags, MultiHeaders, SockaddrStorage};
use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use super::{icmp, Inbound};

/// Receive buffer per datagram: the largest UDP payload.
const DATAGRAM_MAX: usize = 65_535;
/// Datagrams taken by one `recvmmsg`.
const RECV_BATCH: usize = 32;
/// Datagrams a reader takes in a row (whole batches) before it looks at its socket's error
/// queue again, so the errors get their turn under a flood.
const READ_MAX: usize = 64;

/// Datagrams read from one UDP socket on one wake-up, back to back in one buffer.
#[derive(Debug)]
pub(crate) struct Datagrams {
    /// The socket's local address.
    pub(crate) local: SocketAddr,
    /// The payloads, one after the other.
    bytes: Vec<u8>,
    /// Each datagram's source and its place in `bytes`, in the order received.
    items: Vec<(SocketAddr, Range<usize>)>,
}

impl Datagrams {
    fn new(local: SocketAddr) -> Self {
        Datagrams {
            local,
            bytes: Vec::new(),
            items: Vec::new(),
        }
    }

    /// How many datagrams there are.
    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether there is none.
    pub(crate) fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Each datagram's source and payload, in the order received.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (SocketAddr, &[u8])> {
        self.items
            .iter()
            .map(|(from, r)| (*from, self.bytes.get(r.clone()).unwrap_or_default()))
    }
}

/// The buffers one reader receives into.
struct RecvBuffers {
    bufs: Vec<Vec<u8>>,
}

impl RecvBuffers {
    fn new() -> Self {
        RecvBuffers {
            bufs: (0..RECV_BATCH).map(|_| vec![0u8; DATAGRAM_MAX]).collect(),
        }
    }

    /// One `recvmmsg` on `sock` (non-blocking): appends what it got to `out` and returns how
    /// many datagrams that was (`WouldBlock` when there was none).
    fn recv(&mut self, sock: &UdpSocket, out: &mut Datagrams) -> io::Result<usize> {
        let mut got = [(0usize, None::<SocketAddr>); RECV_BATCH];
        let n = self.recv_into(sock, &mut got)?;
        out.bytes
            .reserve(got.iter().take(n).map(|(len, _)| len).sum());
        for ((len, from), buf) in got.iter().take(n).zip(&self.bufs) {
            // A datagram without a source address cannot be answered: nothing to do with it.
            let Some(from) = *from else { continue };
            let start = out.bytes.len();
            out.bytes
                .extend_from_slice(buf.get(..*len).unwrap_or_default());
            out.items.push((from, start..out.bytes.len()));
        }
        Ok(n)
    }

    /// The `recvmmsg` itself: each datagram's length and source into `got`, in order.
    fn recv_into(
        &mut self,
        sock: &UdpSocket,
        got: &mut [(usize, Option<SocketAddr>); RECV_BATCH],
    ) -> io::Result<usize> {
        let mut iovs: Vec<[IoSliceMut<'_>; 1]> =
            self.bufs.iter_mut().map(|b| [IoSliceMut::new(b)]).collect();
        let mut headers = MultiHeaders::<SockaddrStorage>::preallocate(iovs.len(), None);
        let results = recvmmsg(
            sock.as_raw_fd(),
            &mut headers,
            iovs.iter_mut(),
            MsgFlags::MSG_DONTWAIT,
            None,
        )
        .map_err(io::Error::from)?;
        let mut n = 0;
        for (slot, m) in got.iter_mut().zip(results) {
            *slot = (m.bytes, m.address.and_then(|a| socket_addr(&a)));
            n += 1;
        }
        Ok(n)
    }
}

/// The socket address of an IPv4 or IPv6 source.
fn socket_addr(a: &SockaddrStorage) -> Option<SocketAddr> {
    a.as_sockaddr_in()
        .map(|v4| SocketAddr::V4((*v4).into()))
        .or_else(|| a.as_sockaddr_in6().map(|v6| SocketAddr::V6((*v6).into())))
}

/// Reads one SIP UDP socket for as long as the proxy loop runs: its datagrams and, on the
/// same wake-ups, the ICMP errors its sends met (`icmp`: one task must do both).
pub(crate) async fn udp_reader(
    sock: Arc<UdpSocket>,
    local: SocketAddr,
    tx: mpsc::Sender<Inbound>,
    mut errors: icmp::ErrorQueue,
) {
    let mut bufs = RecvBuffers::new();
    loop {
        let ready = match sock.ready(Interest::READABLE | Interest::ERROR).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(listen = %local, error = %e, "SIP UDP socket no longer readable");
                return;
            }
        };
        if ready.is_error() && !errors.drain(&sock, &tx).await {
            return;
        }
        let batch = read_datagrams(&sock, local, &mut bufs);
        if !batch.is_empty() && tx.send(Inbound::Datagrams(batch)).await.is_err() {
            return;
        }
    }
}

/// The datagrams waiting on `sock`, [`READ_MAX`] at most (whole `recvmmsg` batches).
fn read_datagrams(sock: &UdpSocket, local: SocketAddr, bufs: &mut RecvBuffers) -> Datagrams {
    let mut out = Datagrams::new(local);
    let mut calls = 0;
    while out.len() < READ_MAX && calls < READ_MAX {
        calls += 1;
        // try_io: a WouldBlock clears the socket's readiness, so the task sleeps until more.
        match sock.try_io(Interest::READABLE, || bufs.recv(sock, &mut out)) {
            Ok(n) if n < RECV_BATCH => break,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            // An ICMP error for an earlier send is also returned here once, naming no
            // peer: the error queue has it, with its destination.
            Err(e) if icmp::is_pending_icmp(&e) => {}
            Err(e) => tracing::debug!(error = %e, "SIP UDP receive error"),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a test failure.

    use super::*;
    use std::net::UdpSocket as StdUdpSocket;
    use std::time::Duration;

    /// A burst queued before the reader runs reaches the proxy loop whole, in order, each
    /// datagram with its own source (two senders, one datagram near the UDP maximum), in a
    /// few batches rather than a message per datagram.
    #[tokio::test]
    async fn a_burst_arrives_whole_in_order_with_its_sources_in_a_few_batches() {
        let sock = Arc::new(super::super::bind_udp(([127, 0, 0, 1], 0).into()).unwrap());
        let local = sock.local_addr().unwrap();
        let senders = [
            StdUdpSocket::bind("127.0.0.1:0").unwrap(),
            StdUdpSocket::bind("127.0.0.1:0").unwrap(),
        ];
        let mut sent = Vec::new();
        for i in 0..150usize {
            let s = &senders[i % 2];
            let payload = if i == 77 {
                vec![b'x'; 65_000]
            } else {
                format!("datagram {i}").into_bytes()
            };
            s.send_to(&payload, local).unwrap();
            sent.push((s.local_addr().unwrap(), payload));
        }
        let (tx, mut rx) = mpsc::channel(64);
        let errors = icmp::ErrorQueue::new(local, Arc::default());
        tokio::spawn(udp_reader(sock.clone(), local, tx, errors));
        let (mut got, mut messages) = (Vec::new(), 0);
        while got.len() < sent.len() {
            let m = tokio::time::timeout(Duration::from_secs(5), rx.recv())
                .await
                .unwrap()
                .unwrap();
            let Inbound::Datagrams(d) = m else {
                panic!("not datagrams: {m:?}");
            };
            assert_eq!(d.local, local);
            got.extend(d.iter().map(|(from, b)| (from, b.to_vec())));
            messages += 1;
        }
        assert!(
            got == sent,
            "every datagram once, in order, with its source"
        );
        assert!(
            messages <= 8,
            "{messages} channel messages for 150 datagrams"
        );
    }
}
