//! ICMP errors on the SIP UDP sockets, seen at once (Linux `IP_RECVERR` / `IPV6_RECVERR`).
//!
//! A request to a member whose process died comes back as ICMP port unreachable; one to a
//! host that is gone, as host unreachable. RFC 1122 §4.1.3.3 asks UDP to pass such errors to
//! the application, but an unconnected Linux UDP socket drops them unless `IP_RECVERR` is set
//! (ip(7)). With it, each error is queued on the socket's error queue with the original
//! destination (`msg_name`), the ICMP type and code (`sock_extended_err`) and as much of the
//! datagram as the error quoted. The requests keep leaving from the listen socket (same
//! source address and port, as members and firewalls expect): no connected per-member
//! socket is needed.
//!
//! The queue makes the socket report `EPOLLERR`, which tokio shows as error readiness. The
//! socket's reader (`udp_reader` in the driver) waits for datagrams and errors together and
//! drains the queue ([`ErrorQueue::drain`], `recvmsg(MSG_ERRQUEUE)`) whenever error
//! readiness is set: every error is counted by kind and each destination unreachable goes to
//! the proxy loop ([`Inbound::Unreachable`]), where the proxy takes it only when it quotes a
//! request in flight to that destination ([`proxy::Proxy::handle_unreachable`]). It must be
//! one task: tokio's `recv_from` also waits on error readiness and clears it when it finds no
//! datagram, so a second task waiting on the error queue alone misses errors; the reader
//! uses `try_recv_from`, which leaves error readiness to the drain.
//!
//! A side effect of `IP_RECVERR`: the error also becomes the socket's pending error, which
//! the next send or receive on the socket returns whatever its own destination, and such a
//! send is not made. The driver's sends (`udp::send_batch`) make a failed datagram once more,
//! so another destination's error is never taken for this one's and no datagram is lost to it.

use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::libc;
use nix::sys::socket::{self, sockopt, ControlMessageOwned, MsgFlags, SockaddrStorage};
use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use super::Inbound;

/// Bytes of the quoted datagram kept: ICMPv4 quotes at most 576 bytes in all (RFC 1812
/// §4.3.2.3), ICMPv6 up to the minimum MTU of 1280 (RFC 4443 §2.4 (c)).
const QUOTE_MAX: usize = 1280;
/// Debug lines about single ICMP errors per second, at most; the rest are summed up.
const LOG_PER_SECOND: u32 = 20;
/// Pause after the error queue could not be read (neither an error nor empty), so a
/// persistent failure does not spin.
const READ_FAILURE_PAUSE: Duration = Duration::from_secs(1);

/// ICMP type and codes (RFC 792, RFC 1122 §3.2.2.1, RFC 1812 §5.2.7.1).
const ICMP_DEST_UNREACH: u8 = 3;
const ICMP_NET_UNREACH: u8 = 0;
const ICMP_HOST_UNREACH: u8 = 1;
const ICMP_PORT_UNREACH: u8 = 3;
const ICMP_FRAG_NEEDED: u8 = 4;
const ICMP_NET_UNKNOWN: u8 = 6;
const ICMP_HOST_UNKNOWN: u8 = 7;
const ICMP_NET_UNREACH_TOS: u8 = 11;
const ICMP_HOST_UNREACH_TOS: u8 = 12;
/// ICMPv6 type and codes (RFC 4443 §3.1).
const ICMP6_DST_UNREACH: u8 = 1;
const ICMP6_NO_ROUTE: u8 = 0;
const ICMP6_ADDR_UNREACH: u8 = 3;
const ICMP6_PORT_UNREACH: u8 = 4;

/// What an error on the queue says about its destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Port unreachable: the host is there, nothing listens on the port (a dead process).
    PortUnreachable,
    /// Host or network unreachable (ICMPv6: address unreachable, no route).
    HostUnreachable,
    /// Another destination unreachable (administratively prohibited, protocol
    /// unreachable...): the destination cannot be reached either.
    OtherUnreachable,
    /// Not about reachability: fragmentation needed / packet too big (path MTU), time
    /// exceeded, parameter problem, a local error.
    Other,
}

impl Kind {
    /// The kind of an error by its origin (`SO_EE_ORIGIN_*`), ICMP type and code.
    pub(crate) fn of(origin: u8, icmp_type: u8, code: u8) -> Kind {
        match (origin, icmp_type, code) {
            (libc::SO_EE_ORIGIN_ICMP, ICMP_DEST_UNREACH, ICMP_PORT_UNREACH) => {
                Kind::PortUnreachable
            }
            (libc::SO_EE_ORIGIN_ICMP, ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED) => Kind::Other,
            (
                libc::SO_EE_ORIGIN_ICMP,
                ICMP_DEST_UNREACH,
                ICMP_NET_UNREACH
                | ICMP_HOST_UNREACH
                | ICMP_NET_UNKNOWN
                | ICMP_HOST_UNKNOWN
                | ICMP_NET_UNREACH_TOS
                | ICMP_HOST_UNREACH_TOS,
            ) => Kind::HostUnreachable,
            (libc::SO_EE_ORIGIN_ICMP, ICMP_DEST_UNREACH, _) => Kind::OtherUnreachable,
            (libc::SO_EE_ORIGIN_ICMP6, ICMP6_DST_UNREACH, ICMP6_PORT_UNREACH) => {
                Kind::PortUnreachable
            }
            (libc::SO_EE_ORIGIN_ICMP6, ICMP6_DST_UNREACH, ICMP6_NO_ROUTE | ICMP6_ADDR_UNREACH) => {
                Kind::HostUnreachable
            }
            (libc::SO_EE_ORIGIN_ICMP6, ICMP6_DST_UNREACH, _) => Kind::OtherUnreachable,
            _ => Kind::Other,
        }
    }

    /// Whether the destination cannot be reached (what the proxy is told of).
    pub(crate) fn is_unreachable(self) -> bool {
        self != Kind::Other
    }

    fn as_str(self) -> &'static str {
        match self {
            Kind::PortUnreachable => "port unreachable",
            Kind::HostUnreachable => "host unreachable",
            Kind::OtherUnreachable => "destination unreachable",
            Kind::Other => "other",
        }
    }
}

/// A snapshot of the ICMP error counters of the SIP UDP sockets (monotonic).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IcmpCounters {
    /// Port unreachable (ICMP and ICMPv6): nothing listened at the destination.
    pub port_unreachable: u64,
    /// Host or network unreachable (ICMPv6: address unreachable, no route).
    pub host_unreachable: u64,
    /// Every other error read: other destination-unreachable codes (administratively
    /// prohibited...), packet too big, time exceeded, local errors.
    pub other: u64,
    /// Destination-unreachable errors the proxy took as transport errors (they quoted a
    /// request in flight to that destination).
    pub taken: u64,
    /// Destination-unreachable errors the proxy did not take (they quoted nothing in flight:
    /// a response, an ACK, a forgery).
    pub ignored: u64,
}

/// The live ICMP error counters, shared by the error readers and the proxy loop.
#[derive(Debug, Default)]
pub struct IcmpStats {
    port_unreachable: AtomicU64,
    host_unreachable: AtomicU64,
    other: AtomicU64,
    taken: AtomicU64,
    ignored: AtomicU64,
}

impl IcmpStats {
    /// Counts one error read from a queue.
    pub(crate) fn count(&self, kind: Kind) {
        let c = match kind {
            Kind::PortUnreachable => &self.port_unreachable,
            Kind::HostUnreachable => &self.host_unreachable,
            Kind::OtherUnreachable | Kind::Other => &self.other,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts what the proxy made of a destination unreachable.
    pub(crate) fn count_verdict(&self, taken: bool) {
        let c = if taken { &self.taken } else { &self.ignored };
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// The counters now.
    pub fn snapshot(&self) -> IcmpCounters {
        let r = |c: &AtomicU64| c.load(Ordering::Relaxed);
        IcmpCounters {
            port_unreachable: r(&self.port_unreachable),
            host_unreachable: r(&self.host_unreachable),
            other: r(&self.other),
            taken: r(&self.taken),
            ignored: r(&self.ignored),
        }
    }
}

/// Asks the kernel to queue ICMP errors on a SIP UDP socket bound (or to be bound) to
/// `addr`; an IPv6 socket gets both options, for the IPv4-mapped traffic of a dual-stack
/// socket.
pub(crate) fn enable<F: std::os::fd::AsFd>(sock: &F, addr: SocketAddr) -> io::Result<()> {
    if addr.is_ipv6() {
        socket::setsockopt(sock, sockopt::Ipv6RecvErr, &true)?;
        // A socket restricted to IPv6 may refuse it; nothing is lost then.
        let _ = socket::setsockopt(sock, sockopt::Ipv4RecvErr, &true);
        Ok(())
    } else {
        Ok(socket::setsockopt(sock, sockopt::Ipv4RecvErr, &true)?)
    }
}

/// Whether a receive error is an ICMP error for an earlier send, returned as the socket's
/// pending error (the error queue reader reports it, with its destination).
pub(crate) fn is_pending_icmp(e: &io::Error) -> bool {
    use nix::errno::Errno;
    let icmp = [
        Errno::ECONNREFUSED,
        Errno::EHOSTUNREACH,
        Errno::ENETUNREACH,
        Errno::EHOSTDOWN,
        Errno::ENONET,
        Errno::ENOPROTOOPT,
        Errno::EACCES,
        Errno::EMSGSIZE,
        Errno::EPROTO,
    ];
    e.raw_os_error()
        .is_some_and(|n| icmp.contains(&Errno::from_raw(n)))
}

/// One error read from a socket's error queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct QueuedError {
    /// What it says.
    pub kind: Kind,
    /// The destination of the datagram it answers.
    pub dst: SocketAddr,
    /// Who sent the error (a router, the destination host, this host), when given.
    pub offender: Option<std::net::IpAddr>,
    /// The ICMP type and code, for the logs.
    pub icmp: (u8, u8),
    /// Bytes of the datagram quoted, at the start of the read buffer.
    pub quoted: usize,
}

/// Reads one error from the error queue of `sock` into `buf` (the quoted datagram).
/// `Ok(None)`: an entry that names no destination or carries no extended error.
pub(crate) fn read_error(sock: &UdpSocket, buf: &mut [u8]) -> io::Result<Option<QueuedError>> {
    let mut iov = [io::IoSliceMut::new(buf)];
    let mut cmsg = nix::cmsg_space!(libc::sock_extended_err, libc::sockaddr_in6);
    let flags = MsgFlags::MSG_ERRQUEUE | MsgFlags::MSG_DONTWAIT;
    let msg =
        socket::recvmsg::<SockaddrStorage>(sock.as_raw_fd(), &mut iov, Some(&mut cmsg), flags)?;
    let Some(dst) = msg.address.as_ref().and_then(socket_addr) else {
        return Ok(None);
    };
    let mut found = None;
    for c in msg.cmsgs()? {
        found = match c {
            ControlMessageOwned::Ipv4RecvErr(e, off) => {
                let offender =
                    off.map(|a| std::net::Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr)).into());
                Some((e, offender))
            }
            ControlMessageOwned::Ipv6RecvErr(e, off) => {
                let offender = off.map(|a| {
                    let ip = std::net::Ipv6Addr::from(a.sin6_addr.s6_addr);
                    ip.to_canonical()
                });
                Some((e, offender))
            }
            _ => continue,
        };
    }
    Ok(found.map(|(e, offender)| QueuedError {
        kind: Kind::of(e.ee_origin, e.ee_type, e.ee_code),
        dst,
        offender,
        icmp: (e.ee_type, e.ee_code),
        quoted: msg.bytes,
    }))
}

/// A socket address from what `recvmsg` filled in.
fn socket_addr(a: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = a.as_sockaddr_in() {
        return Some(SocketAddr::V4((*v4).into()));
    }
    a.as_sockaddr_in6().map(|v6| SocketAddr::V6((*v6).into()))
}

/// Debug lines for single errors, at most [`LOG_PER_SECOND`] a second.
#[derive(Debug)]
struct LogBudget {
    window: Instant,
    used: u32,
    skipped: u64,
}

impl LogBudget {
    fn new() -> LogBudget {
        LogBudget {
            window: Instant::now(),
            used: 0,
            skipped: 0,
        }
    }

    fn log(&mut self, local: SocketAddr, e: &QueuedError) {
        let now = Instant::now();
        if now.duration_since(self.window) >= Duration::from_secs(1) {
            if self.skipped > 0 {
                tracing::debug!(listen = %local, skipped = self.skipped, "ICMP errors not logged one by one");
            }
            *self = LogBudget {
                window: now,
                used: 0,
                skipped: 0,
            };
        }
        if self.used >= LOG_PER_SECOND {
            self.skipped += 1;
            return;
        }
        self.used += 1;
        tracing::debug!(
            listen = %local,
            dst = %e.dst,
            offender = ?e.offender,
            icmp_type = e.icmp.0,
            icmp_code = e.icmp.1,
            kind = e.kind.as_str(),
            "ICMP error for a SIP datagram"
        );
    }
}

/// The error queue of one SIP UDP socket, as its reader drains it.
#[derive(Debug)]
pub(crate) struct ErrorQueue {
    local: SocketAddr,
    stats: Arc<IcmpStats>,
    log: LogBudget,
    quote: Vec<u8>,
}

impl ErrorQueue {
    /// The queue of the socket listening on `local`, counting into `stats`.
    pub(crate) fn new(local: SocketAddr, stats: Arc<IcmpStats>) -> ErrorQueue {
        ErrorQueue {
            local,
            stats,
            log: LogBudget::new(),
            quote: vec![0u8; QUOTE_MAX],
        }
    }

    /// Reads every error queued on `sock` (until the queue is empty, which clears its error
    /// readiness): counts each and hands each destination unreachable, with its quote, to
    /// the proxy loop. Returns false when the loop is gone.
    pub(crate) async fn drain(&mut self, sock: &UdpSocket, tx: &mpsc::Sender<Inbound>) -> bool {
        loop {
            let e = match sock.try_io(Interest::ERROR, || read_error(sock, &mut self.quote)) {
                Ok(Some(e)) => e,
                Ok(None) => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
                Err(e) => {
                    let local = self.local;
                    tracing::warn!(listen = %local, error = %e, "SIP UDP error queue unreadable");
                    tokio::time::sleep(READ_FAILURE_PAUSE).await;
                    return true;
                }
            };
            self.stats.count(e.kind);
            self.log.log(self.local, &e);
            if !e.kind.is_unreachable() {
                continue;
            }
            let quoted = self.quote.get(..e.quoted).unwrap_or_default().to_vec();
            let m = Inbound::Unreachable { dst: e.dst, quoted };
            if tx.send(m).await.is_err() {
                return false;
            }
        }
    }
}

#[cfg(test)]
mod tests;
