//! The system calls of the socket backend. Every `unsafe` block of the backend is in this file.
#![allow(unsafe_code)]

use crate::{IoError, PortKey};
use std::mem::{size_of, zeroed};
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::time::Duration;
use wire::Endpoint;

fn last_err(op: &'static str) -> IoError {
    IoError::Sys {
        op,
        source: std::io::Error::last_os_error(),
    }
}

pub(super) fn token_of(key: PortKey) -> u64 {
    (u64::from(key.addr) << 16) | u64::from(key.port)
}

pub(super) fn key_of(token: u64) -> PortKey {
    // Truncations are intended: the token was built by `token_of` from two u16 values.
    PortKey {
        addr: (token >> 16) as u16,
        port: token as u16,
    }
}

pub(super) fn epoll_create() -> Result<OwnedFd, IoError> {
    // SAFETY: plain system call without pointers; the result is checked before use.
    let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    if fd < 0 {
        return Err(last_err("epoll_create1"));
    }
    // SAFETY: `fd` is a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

pub(super) fn eventfd() -> Result<OwnedFd, IoError> {
    // SAFETY: plain system call without pointers; the result is checked before use.
    let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
    if fd < 0 {
        return Err(last_err("eventfd"));
    }
    // SAFETY: `fd` is a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

pub(super) fn eventfd_signal(fd: RawFd) {
    let one: u64 = 1;
    // SAFETY: writes 8 bytes from a live local; a failure (counter saturated) means the worker
    // is already signalled, so it is ignored.
    unsafe { libc::write(fd, (&one as *const u64).cast(), 8) };
}

pub(super) fn eventfd_drain(fd: RawFd) {
    let mut v: u64 = 0;
    // SAFETY: reads at most 8 bytes into a live local; EAGAIN (nothing pending) is fine.
    unsafe { libc::read(fd, (&mut v as *mut u64).cast(), 8) };
}

pub(super) fn epoll_add(epoll: RawFd, fd: RawFd, token: u64) -> Result<(), IoError> {
    let mut ev = libc::epoll_event {
        events: libc::EPOLLIN as u32,
        u64: token,
    };
    // SAFETY: `ev` is a live local the kernel copies; both descriptors are open.
    let r = unsafe { libc::epoll_ctl(epoll, libc::EPOLL_CTL_ADD, fd, &mut ev) };
    if r < 0 {
        return Err(last_err("epoll_ctl"));
    }
    Ok(())
}

pub(super) fn epoll_wait(
    epoll: RawFd,
    events: &mut [libc::epoll_event],
    timeout: Duration,
) -> Result<usize, IoError> {
    let ms = if timeout.is_zero() {
        0
    } else {
        timeout.as_millis().clamp(1, 60_000) as i32
    };
    let max = events.len().min(i32::MAX as usize) as i32;
    // SAFETY: the kernel writes at most `max` entries into `events`, which has that many.
    let n = unsafe { libc::epoll_wait(epoll, events.as_mut_ptr(), max, ms) };
    if n < 0 {
        let e = std::io::Error::last_os_error();
        if e.kind() == std::io::ErrorKind::Interrupted {
            return Ok(0);
        }
        return Err(IoError::Sys {
            op: "epoll_wait",
            source: e,
        });
    }
    Ok(n as usize)
}

pub(super) fn pin(cpu: usize) -> Result<(), IoError> {
    // SAFETY: cpu_set_t is plain data; zeroed is its empty set.
    let mut set: libc::cpu_set_t = unsafe { zeroed() };
    if cpu >= libc::CPU_SETSIZE as usize {
        return Err(IoError::Sys {
            op: "sched_setaffinity",
            source: std::io::ErrorKind::InvalidInput.into(),
        });
    }
    // SAFETY: `cpu` is below CPU_SETSIZE, checked above.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: passes a live, initialised set of the size given.
    let r = unsafe { libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set) };
    if r < 0 {
        return Err(last_err("sched_setaffinity"));
    }
    Ok(())
}

pub(super) fn endpoint_of(ss: &libc::sockaddr_storage) -> Endpoint {
    match i32::from(ss.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in, which it is large enough for.
            let sin =
                unsafe { &*(ss as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            Endpoint::new_v4(
                sin.sin_addr.s_addr.to_ne_bytes(),
                u16::from_be(sin.sin_port),
            )
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6, which it is large enough for.
            let sin6 =
                unsafe { &*(ss as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            Endpoint::new_v6(sin6.sin6_addr.s6_addr, u16::from_be(sin6.sin6_port))
        }
        _ => Endpoint::default(),
    }
}

/// Writes `ep` as a socket address; returns its length.
pub(super) fn sockaddr_of(ep: &Endpoint, ss: &mut libc::sockaddr_storage) -> libc::socklen_t {
    if let Some(v4) = ep.v4() {
        // SAFETY: sockaddr_storage is large enough for and aligned for a sockaddr_in.
        let sin = unsafe { &mut *(ss as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
        sin.sin_family = libc::AF_INET as libc::sa_family_t;
        sin.sin_port = ep.port.to_be();
        sin.sin_addr = libc::in_addr {
            s_addr: u32::from_ne_bytes(v4),
        };
        size_of::<libc::sockaddr_in>() as libc::socklen_t
    } else {
        // SAFETY: sockaddr_storage is large enough for and aligned for a sockaddr_in6.
        let sin6 =
            unsafe { &mut *(ss as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
        sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
        sin6.sin6_port = ep.port.to_be();
        sin6.sin6_flowinfo = 0;
        sin6.sin6_addr = libc::in6_addr { s6_addr: ep.ip };
        sin6.sin6_scope_id = 0;
        size_of::<libc::sockaddr_in6>() as libc::socklen_t
    }
}

/// Preallocated `recvmmsg`/`sendmmsg` vectors for one burst.
pub(super) struct Batch {
    hdrs: Vec<libc::mmsghdr>,
    iovs: Vec<libc::iovec>,
    names: Vec<libc::sockaddr_storage>,
    got: Vec<(usize, Endpoint, bool)>,
}

impl std::fmt::Debug for Batch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batch")
            .field("capacity", &self.hdrs.len())
            .finish()
    }
}

// SAFETY: the raw pointers inside the headers are only scratch space rewritten before every
// system call; no pointer is dereferenced outside of `recv`/`send`, which own the borrows.
unsafe impl Send for Batch {}

impl Batch {
    pub(super) fn new(n: usize) -> Self {
        // SAFETY: mmsghdr, iovec and sockaddr_storage are plain C data; all-zero is valid for them.
        let (hdr, iov, name) = unsafe { (zeroed(), zeroed(), zeroed()) };
        Self {
            hdrs: vec![hdr; n],
            iovs: vec![iov; n],
            names: vec![name; n],
            got: Vec::with_capacity(n),
        }
    }

    /// `recvmmsg` into `bufs`; returns (length, source, truncated) per datagram.
    pub(super) fn recv(
        &mut self,
        fd: RawFd,
        bufs: &mut [[u8; super::MAX_DATAGRAM]],
    ) -> Result<&[(usize, Endpoint, bool)], IoError> {
        let k = bufs.len().min(self.hdrs.len());
        for (i, buf) in bufs.iter_mut().take(k).enumerate() {
            self.iovs[i] = libc::iovec {
                iov_base: buf.as_mut_ptr().cast(),
                iov_len: buf.len(),
            };
            let h = &mut self.hdrs[i].msg_hdr;
            h.msg_name = (&mut self.names[i] as *mut libc::sockaddr_storage).cast();
            h.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            h.msg_iov = &mut self.iovs[i];
            h.msg_iovlen = 1;
            h.msg_control = std::ptr::null_mut();
            h.msg_controllen = 0;
            h.msg_flags = 0;
        }
        self.got.clear();
        // SAFETY: the first `k` headers point at live buffers (`bufs`, `iovs`, `names`) that stay
        // borrowed for the duration of the call; the kernel writes within the lengths given.
        let r = unsafe {
            libc::recvmmsg(
                fd,
                self.hdrs.as_mut_ptr(),
                k as u32,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if r < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::WouldBlock {
                return Ok(&self.got);
            }
            return Err(IoError::Sys {
                op: "recvmmsg",
                source: e,
            });
        }
        for i in 0..r as usize {
            let h = &self.hdrs[i];
            let truncated = h.msg_hdr.msg_flags & libc::MSG_TRUNC != 0;
            self.got
                .push((h.msg_len as usize, endpoint_of(&self.names[i]), truncated));
        }
        Ok(&self.got)
    }

    /// `sendmmsg` of `msgs` on `fd`; returns (sent, failed). A message the kernel refuses is
    /// counted and skipped; the rest are still sent.
    pub(super) fn send<'a>(
        &mut self,
        fd: RawFd,
        msgs: impl Iterator<Item = (&'a [u8], Endpoint)>,
    ) -> (u64, u64) {
        let mut k = 0;
        for (payload, dst) in msgs.take(self.hdrs.len()) {
            let len = sockaddr_of(&dst, &mut self.names[k]);
            // The kernel only reads from iov_base on send; the cast to *mut is required by the type.
            self.iovs[k] = libc::iovec {
                iov_base: payload.as_ptr() as *mut _,
                iov_len: payload.len(),
            };
            let h = &mut self.hdrs[k].msg_hdr;
            h.msg_name = (&mut self.names[k] as *mut libc::sockaddr_storage).cast();
            h.msg_namelen = len;
            h.msg_iov = &mut self.iovs[k];
            h.msg_iovlen = 1;
            h.msg_control = std::ptr::null_mut();
            h.msg_controllen = 0;
            h.msg_flags = 0;
            k += 1;
        }
        let (mut off, mut sent, mut failed) = (0usize, 0u64, 0u64);
        while off < k {
            // SAFETY: headers `off..k` point at live payloads borrowed by `msgs` ('a outlives this
            // call) and at `names`/`iovs` entries written above.
            let r = unsafe {
                libc::sendmmsg(
                    fd,
                    self.hdrs[off..].as_mut_ptr(),
                    (k - off) as u32,
                    libc::MSG_DONTWAIT,
                )
            };
            if r <= 0 {
                failed += 1;
                off += 1;
            } else {
                sent += r as u64;
                off += r as usize;
            }
        }
        (sent, failed)
    }
}

/// Raises the soft open-file limit to the hard limit; returns the new soft limit.
pub(super) fn raise_nofile() -> Result<u64, IoError> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: writes into a live local of the right type.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } < 0 {
        return Err(last_err("getrlimit"));
    }
    if lim.rlim_cur < lim.rlim_max {
        lim.rlim_cur = lim.rlim_max;
        // SAFETY: reads a live, initialised local.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } < 0 {
            return Err(last_err("setrlimit"));
        }
    }
    Ok(lim.rlim_cur)
}
