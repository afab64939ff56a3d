//! The SIP UDP sockets' datagrams in and out, in batches. In: one reader task per socket takes
//! every datagram waiting on a wake-up with `recvmmsg` (up to [`RECV_BATCH`] per system call)
//! and hands the proxy loop all of them as one [`Datagrams`] message, instead of a system
//! call, a copy into a fresh buffer and a channel message per datagram. Out: the proxy's UDP
//! transmits of one round are grouped by socket ([`Outbox`]) and each group leaves with
//! `sendmmsg` (up to [`SEND_BATCH`] per system call) instead of a `sendto` per datagram.

use std::collections::HashMap;
use std::io;
use std::io::{IoSlice, IoSliceMut};
use std::net::SocketAddr;
use std::ops::Range;
use std::os::fd::AsRawFd;
use std::sync::Arc;

use nix::sys::socket::{
    recvmmsg, sendmmsg, ControlMessage, MsgFlags, MultiHeaders, SockaddrStorage,
};
use proxy::Transmit;
use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use super::{icmp, Inbound};

/// Receive buffer per datagram: the largest UDP payload.
const DATAGRAM_MAX: usize = 65_535;
/// Datagrams taken by one `recvmmsg`.
const RECV_BATCH: usize = 32;
/// Datagrams given to one `sendmmsg`.
const SEND_BATCH: usize = 64;
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

/// The UDP transmits of one round of the proxy loop, grouped by the socket they leave from,
/// each group in the order the proxy made them.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    groups: Vec<(Arc<UdpSocket>, Vec<Transmit>)>,
}

impl Outbox {
    /// Queues `t` on the socket bound to its source address (or, when there is none, on one
    /// of the same address family); `false` when there is no such socket.
    pub(crate) fn push(&mut self, udp: &HashMap<SocketAddr, Arc<UdpSocket>>, t: Transmit) -> bool {
        let sock = udp.get(&t.src).or_else(|| {
            udp.values()
                .find(|s| s.local_addr().is_ok_and(|a| a.is_ipv4() == t.dst.is_ipv4()))
        });
        let Some(sock) = sock else { return false };
        match self.groups.iter_mut().find(|(s, _)| Arc::ptr_eq(s, sock)) {
            Some((_, g)) => g.push(t),
            None => self.groups.push((sock.clone(), vec![t])),
        }
        true
    }

    /// Whether nothing is queued.
    pub(crate) fn is_empty(&self) -> bool {
        self.groups.iter().all(|(_, g)| g.is_empty())
    }

    /// Sends everything queued (see [`send_batch`]); returns the destinations of the
    /// datagrams that could not be sent, with the error.
    pub(crate) async fn flush(&mut self) -> Vec<(SocketAddr, io::Error)> {
        let mut failed = Vec::new();
        for (sock, group) in &mut self.groups {
            let msgs: Vec<(&[u8], SocketAddr)> =
                group.iter().map(|t| (t.bytes.as_slice(), t.dst)).collect();
            for (i, e) in send_batch(sock, &msgs).await {
                failed.push((msgs.get(i).map_or(sock_unspecified(), |m| m.1), e));
            }
            group.clear();
        }
        failed
    }
}

/// The address reported for a failure that names no datagram (never in practice).
fn sock_unspecified() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 0))
}

/// Sends `msgs` (payload, destination) from `sock` in order, [`SEND_BATCH`] per `sendmmsg`,
/// waiting for room when its buffer is full; returns the index and error of each one that
/// could not be sent. A datagram whose send fails is sent once more: an ICMP error for an
/// earlier datagram (to any destination) is also the socket's pending error, which fails the
/// next send without sending it (`icmp`); that error comes through the error queue with its
/// own destination. A failure twice in a row is this datagram's, and the rest still go.
pub(crate) async fn send_batch(
    sock: &UdpSocket,
    msgs: &[(&[u8], SocketAddr)],
) -> Vec<(usize, io::Error)> {
    let mut failed = Vec::new();
    let (mut off, mut retried) = (0, false);
    while let Some(rest) = msgs.get(off..).filter(|r| !r.is_empty()) {
        let chunk = rest.get(..SEND_BATCH).unwrap_or(rest);
        match sock.try_io(Interest::WRITABLE, || send_once(sock, chunk)) {
            Ok(n) => (off, retried) = (off + n, false),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if let Err(e) = sock.writable().await {
                    failed.extend(
                        (off..msgs.len()).map(|i| (i, io::Error::new(e.kind(), e.to_string()))),
                    );
                    return failed;
                }
            }
            Err(_) if !retried => retried = true,
            Err(e) => {
                failed.push((off, e));
                (off, retried) = (off + 1, false);
            }
        }
    }
    failed
}

/// One `sendmmsg` of `chunk` (non-blocking); how many datagrams it sent, at least one (the
/// kernel returns an error only when the first could not be sent). Its headers hold raw
/// pointers (not `Send`), so they live here, never across the caller's `await`.
fn send_once(sock: &UdpSocket, chunk: &[(&[u8], SocketAddr)]) -> io::Result<usize> {
    let mut headers = MultiHeaders::<SockaddrStorage>::preallocate(chunk.len(), None);
    let iovs: Vec<[IoSlice<'_>; 1]> = chunk.iter().map(|(b, _)| [IoSlice::new(b)]).collect();
    let addrs: Vec<Option<SockaddrStorage>> = chunk
        .iter()
        .map(|(_, d)| Some(SockaddrStorage::from(*d)))
        .collect();
    let sent = sendmmsg(
        sock.as_raw_fd(),
        &mut headers,
        &iovs,
        &addrs,
        [] as [ControlMessage<'_>; 0],
        MsgFlags::MSG_DONTWAIT,
    )
    .map_err(io::Error::from)?
    .count();
    if sent == 0 {
        return Err(io::Error::new(
            io::ErrorKind::WriteZero,
            "sendmmsg sent nothing",
        ));
    }
    Ok(sent)
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

    /// A round's transmits leave in order, each to its own destination, though an ICMP error
    /// for an earlier datagram is pending on the socket (it fails one send, which is made
    /// again) and one datagram cannot be sent at all (an IPv6 destination from an IPv4
    /// socket): that one is reported with its destination, and the rest still go.
    #[tokio::test]
    async fn a_round_leaves_whole_in_order_past_a_pending_error_and_a_refused_datagram() {
        let sock = Arc::new(super::super::bind_udp(([127, 0, 0, 1], 0).into()).unwrap());
        let local = sock.local_addr().unwrap();
        let peers = [
            StdUdpSocket::bind("127.0.0.1:0").unwrap(),
            StdUdpSocket::bind("127.0.0.1:0").unwrap(),
        ];
        let dead = StdUdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        sock.send_to(b"to nobody", dead).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        let refused: SocketAddr = "[::1]:5060".parse().unwrap();
        let udp = HashMap::from([(local, sock.clone())]);
        let mut outbox = Outbox::default();
        for i in 0..150usize {
            let dst = match i {
                100 => refused,
                _ => peers[i % 2].local_addr().unwrap(),
            };
            let t = Transmit {
                transport: proxy::Transport::Udp,
                src: local,
                dst,
                bytes: format!("datagram {i}").into_bytes(),
            };
            assert!(outbox.push(&udp, t));
        }
        let failed = outbox.flush().await;
        assert_eq!(failed.len(), 1, "{failed:?}");
        assert_eq!(failed[0].0, refused);
        assert!(outbox.is_empty());
        for (k, peer) in peers.iter().enumerate() {
            peer.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut buf = [0u8; 64];
            for i in (k..150).step_by(2).filter(|i| *i != 100) {
                let (n, from) = peer.recv_from(&mut buf).unwrap();
                assert_eq!(from, local);
                assert_eq!(&buf[..n], format!("datagram {i}").as_bytes());
            }
        }
    }
}
