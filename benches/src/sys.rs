//! The system calls std does not wrap: `sendmmsg`/`recvmmsg`, epoll, forced socket buffer
//! sizes, UDP GSO, the clock tick rate and the open-file limit, through the safe wrappers of
//! the `nix` crate (the load tool has no `unsafe` code of its own).

use nix::errno::Errno;
use nix::sys::epoll::{self, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use nix::sys::resource::{getrlimit, setrlimit, Resource};
use nix::sys::socket::{
    recvmmsg, sendmmsg, setsockopt, sockopt, ControlMessage, MsgFlags, MultiHeaders, SockaddrLike,
    SockaddrStorage,
};
use nix::unistd::{sysconf, SysconfVar};
use std::cell::Cell;
use std::io::{self, IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, BorrowedFd};
use std::thread::LocalKey;

/// Most datagrams moved by one `sendmmsg`/`recvmmsg` call.
pub const MAX_BATCH: usize = 64;

/// Receive slot size: larger than any packet the tool sends, so an oversized datagram shows up
/// as a wrong length rather than silently truncated to the expected one.
const RECV_SLOT: usize = 2048;

/// No destination address for any message of a batch: the sockets are connected. The unit
/// address type has length 0, so the kernel neither reads nor writes a `msg_name`.
const NO_ADDRS: [Option<()>; MAX_BATCH] = [None; MAX_BATCH];

/// No control messages on a `sendmmsg`.
const NO_CMSGS: [ControlMessage<'static>; 0] = [];

/// Message headers of one batch, allocated once per thread and reused by every call there.
///
/// `MultiHeaders` holds raw pointers and so cannot move between threads, while the engines
/// that own the batches do; each thread therefore keeps its own headers. Receive headers carry
/// room for a source address although the tool never reads it: the kernel writes the address
/// length back into each header, and a reused header must then have that much room behind its
/// address pointer. `SockaddrStorage` is the largest address any socket reports, so this holds
/// whatever descriptor [`RecvBatch::recv`] is given (a unit address would make the second
/// receive fail with `EFAULT`).
type Headers<S> = Cell<Option<MultiHeaders<S>>>;

thread_local! {
    static SEND_HEADERS: Headers<()> = const { Cell::new(None) };
    static RECV_HEADERS: Headers<SockaddrStorage> = const { Cell::new(None) };
}

/// Runs `f` with this thread's headers from `key` (allocated on first use; a fresh set if the
/// thread's storage is already gone).
fn with_headers<S, R>(
    key: &'static LocalKey<Headers<S>>,
    f: impl FnOnce(&mut MultiHeaders<S>) -> R,
) -> R
where
    S: Copy + SockaddrLike + 'static,
{
    let fresh = || MultiHeaders::preallocate(MAX_BATCH, None);
    let mut hdrs = key
        .try_with(Cell::take)
        .ok()
        .flatten()
        .unwrap_or_else(fresh);
    let result = f(&mut hdrs);
    // If the storage is gone the headers are simply dropped.
    let _ = key.try_with(|c| c.set(Some(hdrs)));
    result
}

/// The outcome of a non-blocking batch call: a full or empty queue and an interrupted call are
/// "nothing moved", everything else is an error.
fn nothing_on_retry(err: Errno) -> io::Result<usize> {
    match err {
        Errno::EAGAIN | Errno::EINTR => Ok(0),
        e => Err(e.into()),
    }
}

/// Fixed-size packets prepared in place and sent with one `sendmmsg` on a connected socket.
#[derive(Debug)]
pub struct SendBatch {
    bufs: Vec<u8>,
    packet_len: usize,
}

impl SendBatch {
    /// Room for [`MAX_BATCH`] packets of `packet_len` bytes.
    pub fn new(packet_len: usize) -> Self {
        SendBatch {
            bufs: vec![0; packet_len * MAX_BATCH],
            packet_len,
        }
    }

    /// The buffer of packet `i`, to be filled before [`SendBatch::send`].
    pub fn packet_mut(&mut self, i: usize) -> Option<&mut [u8]> {
        let start = i.checked_mul(self.packet_len)?;
        self.bufs
            .get_mut(start..start.checked_add(self.packet_len)?)
    }

    /// Sends packets `0..n` (n capped at [`MAX_BATCH`]) on the connected socket `fd` without
    /// blocking. Returns how many the kernel took (0 when its buffer is full).
    pub fn send(&mut self, fd: BorrowedFd<'_>, n: usize) -> io::Result<usize> {
        let n = n.min(MAX_BATCH);
        if n == 0 || self.packet_len == 0 {
            return Ok(0);
        }
        let mut iov = [[IoSlice::new(&[])]; MAX_BATCH];
        let chunks = self.bufs.chunks_exact(self.packet_len);
        for (v, chunk) in iov.iter_mut().zip(chunks).take(n) {
            *v = [IoSlice::new(chunk)];
        }
        let slices = iov.get(..n).unwrap_or_default();
        let sent = with_headers(&SEND_HEADERS, |hdrs| {
            sendmmsg(
                fd.as_raw_fd(),
                hdrs,
                slices,
                NO_ADDRS,
                NO_CMSGS,
                MsgFlags::MSG_DONTWAIT,
            )
            // The results iterate over the messages the kernel took.
            .map(Iterator::count)
        });
        match sent {
            Ok(k) => Ok(k.min(n)),
            Err(e) => nothing_on_retry(e),
        }
    }

    /// Sends packets `0..n` (n capped at [`MAX_BATCH`]) as one UDP GSO send on the connected
    /// socket `sock`, which must have [`set_udp_segment`] set to this batch's packet length.
    /// Returns n, or 0 when the kernel's buffer is full (GSO sends are all or nothing).
    pub fn send_segmented(&self, sock: &std::net::UdpSocket, n: usize) -> io::Result<usize> {
        let n = n.min(MAX_BATCH);
        let Some(bytes) = self.bufs.get(..n * self.packet_len) else {
            return Ok(0);
        };
        match sock.send(bytes) {
            Ok(_) => Ok(n),
            Err(e)
                if e.kind() == io::ErrorKind::WouldBlock
                    || e.kind() == io::ErrorKind::Interrupted =>
            {
                Ok(0)
            }
            Err(e) => Err(e),
        }
    }
}

/// Turns on UDP GSO (`UDP_SEGMENT`, Linux 4.18) for `fd` with `segment` bytes per datagram: one
/// send of k * segment bytes leaves as k datagrams, segmented by the kernel after a single pass
/// through the stack.
pub fn set_udp_segment(fd: BorrowedFd<'_>, segment: usize) -> io::Result<()> {
    let val = i32::try_from(segment)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "segment size too large"))?;
    setsockopt(&fd, sockopt::UdpGsoSegment, &val)?;
    Ok(())
}

/// Receive slots for one `recvmmsg` call.
#[derive(Debug)]
pub struct RecvBatch {
    bufs: Vec<u8>,
    lens: [usize; MAX_BATCH],
    count: usize,
}

impl Default for RecvBatch {
    fn default() -> Self {
        Self::new()
    }
}

impl RecvBatch {
    /// [`MAX_BATCH`] empty slots.
    pub fn new() -> Self {
        RecvBatch {
            bufs: vec![0; RECV_SLOT * MAX_BATCH],
            lens: [0; MAX_BATCH],
            count: 0,
        }
    }

    /// Reads up to [`MAX_BATCH`] waiting datagrams from `fd` without blocking; returns how many.
    pub fn recv(&mut self, fd: BorrowedFd<'_>) -> io::Result<usize> {
        self.count = 0;
        let bufs = &mut self.bufs;
        let lens = &mut self.lens;
        let got = with_headers(&RECV_HEADERS, |hdrs| {
            let mut chunks = bufs.chunks_exact_mut(RECV_SLOT);
            let mut iov: [[IoSliceMut<'_>; 1]; MAX_BATCH] =
                std::array::from_fn(|_| [IoSliceMut::new(chunks.next().unwrap_or_default())]);
            let msgs = recvmmsg(
                fd.as_raw_fd(),
                hdrs,
                iov.iter_mut(),
                MsgFlags::MSG_DONTWAIT,
                None,
            )?;
            let mut n = 0;
            for (len, msg) in lens.iter_mut().zip(msgs) {
                *len = if msg.flags.contains(MsgFlags::MSG_TRUNC) {
                    // Wider than a slot: report a length no valid packet has.
                    RECV_SLOT + 1
                } else {
                    msg.bytes
                };
                n += 1;
            }
            Ok(n)
        });
        match got {
            Ok(n) => {
                self.count = n;
                Ok(n)
            }
            // ICMP port unreachable from an earlier send is reported here on a connected
            // socket; it is not a receive failure.
            Err(Errno::ECONNREFUSED) => Ok(0),
            Err(e) => nothing_on_retry(e),
        }
    }

    /// Length of datagram `i` of the last receive (RECV_SLOT + 1 if it was truncated).
    pub fn len(&self, i: usize) -> Option<usize> {
        if i < self.count {
            self.lens.get(i).copied()
        } else {
            None
        }
    }

    /// Whether the last receive returned nothing.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The bytes of datagram `i` of the last receive (at most one slot).
    pub fn packet(&self, i: usize) -> Option<&[u8]> {
        let len = self.len(i)?.min(RECV_SLOT);
        let start = i.checked_mul(RECV_SLOT)?;
        self.bufs.get(start..start + len)
    }
}

/// A level-triggered epoll set whose events carry a `u64` token.
#[derive(Debug)]
pub struct Epoll {
    ep: epoll::Epoll,
    events: Vec<EpollEvent>,
    ready: usize,
}

impl Epoll {
    /// A new set reporting up to `capacity` ready descriptors per wait.
    pub fn new(capacity: usize) -> io::Result<Self> {
        Ok(Epoll {
            ep: epoll::Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?,
            events: vec![EpollEvent::empty(); capacity.clamp(1, 4096)],
            ready: 0,
        })
    }

    /// Watches `fd` for readability, reporting it as `token`.
    pub fn add(&self, fd: BorrowedFd<'_>, token: u64) -> io::Result<()> {
        self.ep
            .add(fd, EpollEvent::new(EpollFlags::EPOLLIN, token))?;
        Ok(())
    }

    /// Waits up to `timeout_ms` (0: poll, negative: no limit) and returns how many descriptors
    /// are ready; their tokens are then read with [`Epoll::token`].
    pub fn wait(&mut self, timeout_ms: i32) -> io::Result<usize> {
        self.ready = 0;
        let timeout = EpollTimeout::try_from(timeout_ms).unwrap_or(EpollTimeout::NONE);
        match self.ep.wait(&mut self.events, timeout) {
            Ok(n) => {
                self.ready = n.min(self.events.len());
                Ok(self.ready)
            }
            Err(Errno::EINTR) => Ok(0),
            Err(e) => Err(e.into()),
        }
    }

    /// The token of ready descriptor `i` of the last wait.
    pub fn token(&self, i: usize) -> Option<u64> {
        if i < self.ready {
            self.events.get(i).map(EpollEvent::data)
        } else {
            None
        }
    }
}

/// Sets a socket's receive and send buffers to `bytes`, past `net.core.[rw]mem_max` where the
/// process may (`SO_RCVBUFFORCE`, root), else as far as the limit allows.
pub fn set_buffers(fd: BorrowedFd<'_>, bytes: usize) -> io::Result<()> {
    // The kernel takes an int; larger requests are capped rather than wrapped.
    let val = bytes.min(i32::MAX as usize);
    if setsockopt(&fd, sockopt::RcvBufForce, &val).is_err() {
        setsockopt(&fd, sockopt::RcvBuf, &val)?;
    }
    if setsockopt(&fd, sockopt::SndBufForce, &val).is_err() {
        setsockopt(&fd, sockopt::SndBuf, &val)?;
    }
    Ok(())
}

/// Clock ticks per second of `/proc/<pid>/stat` times (`sysconf(_SC_CLK_TCK)`), 100 if unknown.
pub fn clock_ticks_per_sec() -> u64 {
    sysconf(SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .and_then(|t| u64::try_from(t).ok())
        .filter(|&t| t > 0)
        .unwrap_or(100)
}

/// Raises the soft open-file limit to the hard limit (two sockets per call add up); returns the
/// soft limit now in force.
pub fn raise_nofile_limit() -> io::Result<u64> {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    if soft < hard && setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_ok() {
        return Ok(hard);
    }
    Ok(soft)
}

#[cfg(test)]
mod tests;
