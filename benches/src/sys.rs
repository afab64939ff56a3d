//! The system calls std does not wrap: `sendmmsg`/`recvmmsg`, epoll, forced socket buffer
//! sizes, the clock tick rate and the open-file limit. All `unsafe` of the load tool is here.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// Most datagrams moved by one `sendmmsg`/`recvmmsg` call.
pub const MAX_BATCH: usize = 64;

/// Receive slot size: larger than any packet the tool sends, so an oversized datagram shows up
/// as a wrong length rather than silently truncated to the expected one.
const RECV_SLOT: usize = 2048;

/// An array of zeroed `mmsghdr`s.
fn zeroed_headers() -> [libc::mmsghdr; MAX_BATCH] {
    // SAFETY: mmsghdr is a plain C struct of integers and raw pointers; all-zero bytes are a
    // valid value for every field (null pointers, zero lengths).
    unsafe { std::mem::zeroed() }
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
        let mut iov = [libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        }; MAX_BATCH];
        let mut hdrs = zeroed_headers();
        for ((chunk, v), h) in self
            .bufs
            .chunks_exact_mut(self.packet_len)
            .zip(iov.iter_mut())
            .zip(hdrs.iter_mut())
            .take(n)
        {
            v.iov_base = chunk.as_mut_ptr().cast();
            v.iov_len = chunk.len();
            h.msg_hdr.msg_iov = v;
            h.msg_hdr.msg_iovlen = 1;
        }
        // SAFETY: the first n headers each point at one iovec in `iov`, which points at a
        // distinct packet_len-byte chunk of self.bufs; `iov`, `hdrs` and self.bufs all outlive
        // the call and are not otherwise touched during it. msg_name is null (connected socket).
        let rc = unsafe {
            libc::sendmmsg(
                fd.as_raw_fd(),
                hdrs.as_mut_ptr(),
                n as libc::c_uint,
                libc::MSG_DONTWAIT,
            )
        };
        if rc < 0 {
            let err = io::Error::last_os_error();
            return match err.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(0),
                _ => Err(err),
            };
        }
        Ok(usize::try_from(rc).unwrap_or(0))
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

/// `UDP_SEGMENT` from `linux/udp.h` (UDP GSO, Linux 4.18); libc only exports it for uClibc.
const UDP_SEGMENT: libc::c_int = 103;

/// Turns on UDP GSO for `fd` with `segment` bytes per datagram: one send of k * segment bytes
/// leaves as k datagrams, segmented by the kernel after a single pass through the stack.
pub fn set_udp_segment(fd: BorrowedFd<'_>, segment: usize) -> io::Result<()> {
    let val = libc::c_int::try_from(segment)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "segment size too large"))?;
    // SAFETY: `val` is a c_int that lives across the call and its exact size is passed.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_UDP,
            UDP_SEGMENT,
            (&val as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
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
        let mut iov = [libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        }; MAX_BATCH];
        let mut hdrs = zeroed_headers();
        for ((chunk, v), h) in self
            .bufs
            .chunks_exact_mut(RECV_SLOT)
            .zip(iov.iter_mut())
            .zip(hdrs.iter_mut())
        {
            v.iov_base = chunk.as_mut_ptr().cast();
            v.iov_len = chunk.len();
            h.msg_hdr.msg_iov = v;
            h.msg_hdr.msg_iovlen = 1;
        }
        self.count = 0;
        // SAFETY: every header points at one iovec in `iov`, each at a distinct RECV_SLOT-byte
        // chunk of self.bufs; all outlive the call. No source address or control buffer is
        // requested (null msg_name/msg_control), and the timeout pointer is null.
        let rc = unsafe {
            libc::recvmmsg(
                fd.as_raw_fd(),
                hdrs.as_mut_ptr(),
                MAX_BATCH as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if rc < 0 {
            let err = io::Error::last_os_error();
            return match err.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(0),
                // ICMP port unreachable from an earlier send is reported here on a connected
                // socket; it is not a receive failure.
                io::ErrorKind::ConnectionRefused => Ok(0),
                _ => Err(err),
            };
        }
        let n = usize::try_from(rc).unwrap_or(0).min(MAX_BATCH);
        for (len, h) in self.lens.iter_mut().zip(hdrs.iter()).take(n) {
            *len = if h.msg_hdr.msg_flags & libc::MSG_TRUNC != 0 {
                // Wider than a slot: report a length no valid packet has.
                RECV_SLOT + 1
            } else {
                h.msg_len as usize
            };
        }
        self.count = n;
        Ok(n)
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
    fd: OwnedFd,
    events: Vec<libc::epoll_event>,
    ready: usize,
}

impl Epoll {
    /// A new set reporting up to `capacity` ready descriptors per wait.
    pub fn new(capacity: usize) -> io::Result<Self> {
        // SAFETY: plain syscall with a flag argument; the result is checked before use.
        let raw = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a freshly created descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        Ok(Epoll {
            fd,
            events: vec![libc::epoll_event { events: 0, u64: 0 }; capacity.clamp(1, 4096)],
            ready: 0,
        })
    }

    /// Watches `fd` for readability, reporting it as `token`.
    pub fn add(&self, fd: BorrowedFd<'_>, token: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: token,
        };
        // SAFETY: both descriptors are open for the duration of the call and `ev` is a valid
        // epoll_event the kernel only reads.
        let rc = unsafe {
            libc::epoll_ctl(
                self.fd.as_raw_fd(),
                libc::EPOLL_CTL_ADD,
                fd.as_raw_fd(),
                &mut ev,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Waits up to `timeout_ms` (0: poll) and returns how many descriptors are ready; their
    /// tokens are then read with [`Epoll::token`].
    pub fn wait(&mut self, timeout_ms: i32) -> io::Result<usize> {
        let cap = libc::c_int::try_from(self.events.len()).unwrap_or(libc::c_int::MAX);
        // SAFETY: the kernel writes at most `cap` events into self.events, which has that many.
        let rc = unsafe {
            libc::epoll_wait(
                self.fd.as_raw_fd(),
                self.events.as_mut_ptr(),
                cap,
                timeout_ms,
            )
        };
        if rc < 0 {
            let err = io::Error::last_os_error();
            self.ready = 0;
            return match err.kind() {
                io::ErrorKind::Interrupted => Ok(0),
                _ => Err(err),
            };
        }
        self.ready = usize::try_from(rc).unwrap_or(0).min(self.events.len());
        Ok(self.ready)
    }

    /// The token of ready descriptor `i` of the last wait.
    pub fn token(&self, i: usize) -> Option<u64> {
        if i < self.ready {
            // Copy out of the (packed on x86-64) struct before use.
            self.events.get(i).map(|ev| ev.u64)
        } else {
            None
        }
    }
}

/// Sets a socket's receive and send buffers to `bytes`, past `net.core.[rw]mem_max` where the
/// process may (`SO_RCVBUFFORCE`, root), else as far as the limit allows.
pub fn set_buffers(fd: BorrowedFd<'_>, bytes: usize) -> io::Result<()> {
    let val = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    for (force, plain) in [
        (libc::SO_RCVBUFFORCE, libc::SO_RCVBUF),
        (libc::SO_SNDBUFFORCE, libc::SO_SNDBUF),
    ] {
        if setsockopt_int(fd, force, val).is_err() {
            setsockopt_int(fd, plain, val)?;
        }
    }
    Ok(())
}

fn setsockopt_int(fd: BorrowedFd<'_>, opt: libc::c_int, val: libc::c_int) -> io::Result<()> {
    // SAFETY: `val` is a c_int that lives across the call and its exact size is passed.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            opt,
            (&val as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Clock ticks per second of `/proc/<pid>/stat` times (`sysconf(_SC_CLK_TCK)`), 100 if unknown.
pub fn clock_ticks_per_sec() -> u64 {
    // SAFETY: sysconf only reads a configuration value.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(t).ok().filter(|&t| t > 0).unwrap_or(100)
}

/// Raises the soft open-file limit to the hard limit (two sockets per call add up); returns the
/// soft limit now in force.
pub fn raise_nofile_limit() -> io::Result<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid rlimit the kernel writes into.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } < 0 {
        return Err(io::Error::last_os_error());
    }
    if lim.rlim_cur < lim.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: lim.rlim_max,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: `raised` is a valid rlimit the kernel only reads.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            return Ok(raised.rlim_cur);
        }
    }
    Ok(lim.rlim_cur)
}

#[cfg(test)]
mod tests;
