//! io_uring batching for the socket backend: all the receives of a burst in one system call,
//! and all its sends in another, whatever the number of sockets involved (`recvmmsg` and
//! `sendmmsg` batch only within one socket, and with many calls a burst spans many sockets).
//! Every `unsafe` block of this file hands the kernel pointers into buffers that stay alive
//! and unmoved until the matching completions have been reaped in the same call.
#![allow(unsafe_code)]

use super::sys::{endpoint_of, sockaddr_of};
use super::MAX_DATAGRAM;
use io_uring::{opcode, types, IoUring};
use std::mem::{size_of, zeroed};
use std::os::fd::RawFd;
use wire::Endpoint;

/// One message's scratch: header, vector, address.
struct Slot {
    hdr: libc::msghdr,
    iov: libc::iovec,
    name: libc::sockaddr_storage,
}

/// The ring and its per-message scratch (allocated once; never resized, so pointers into it
/// stay valid).
pub(super) struct Uring {
    ring: IoUring,
    rx: Box<[Slot]>,
    tx: Box<[Slot]>,
}

// SAFETY: the raw pointers in the slots are scratch rewritten before every submission and only
// used by the kernel within `recv`/`send`, which own the borrows for that time.
unsafe impl Send for Uring {}

impl std::fmt::Debug for Uring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Uring")
            .field("slots", &self.rx.len())
            .finish()
    }
}

fn slots(n: usize) -> Box<[Slot]> {
    // SAFETY: msghdr, iovec and sockaddr_storage are plain C data; all-zero is valid for them.
    (0..n)
        .map(|_| unsafe {
            Slot {
                hdr: zeroed(),
                iov: zeroed(),
                name: zeroed(),
            }
        })
        .collect()
}

/// Result of one receive: (slot, length, source, truncated) or the slot's negative errno.
pub(super) type RecvResult = (usize, Result<(usize, Endpoint, bool), i32>);

impl Uring {
    /// A ring for bursts of up to `burst` messages each way; None where io_uring is not
    /// available (old kernel, seccomp policy), and the caller falls back to mmsg calls.
    pub(super) fn new(burst: usize) -> Option<Self> {
        let entries = (2 * burst).next_power_of_two().max(8) as u32;
        let ring = IoUring::new(entries).ok()?;
        Some(Self {
            ring,
            rx: slots(burst),
            tx: slots(burst),
        })
    }

    /// Receives one datagram per request `(fd, slot)` into `bufs[slot]`; results go to `out`.
    pub(super) fn recv(
        &mut self,
        reqs: &[(RawFd, usize)],
        bufs: &mut [[u8; MAX_DATAGRAM]],
        out: &mut Vec<RecvResult>,
    ) -> std::io::Result<()> {
        out.clear();
        let mut queued = 0;
        for &(fd, slot) in reqs {
            let (Some(s), Some(buf)) = (self.rx.get_mut(slot), bufs.get_mut(slot)) else {
                continue;
            };
            s.iov = libc::iovec {
                iov_base: buf.as_mut_ptr().cast(),
                iov_len: buf.len(),
            };
            s.hdr.msg_name = (&mut s.name as *mut libc::sockaddr_storage).cast();
            s.hdr.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            s.hdr.msg_iov = &mut s.iov;
            s.hdr.msg_iovlen = 1;
            s.hdr.msg_control = std::ptr::null_mut();
            s.hdr.msg_controllen = 0;
            s.hdr.msg_flags = 0;
            let e = opcode::RecvMsg::new(types::Fd(fd), &mut s.hdr)
                .flags(libc::MSG_DONTWAIT as u32)
                .build()
                .user_data(slot as u64);
            // SAFETY: the entry points at `s.hdr` (and through it at `s.iov`, `s.name` and
            // `bufs[slot]`), all of which outlive this call, which waits for every completion.
            if unsafe { self.ring.submission().push(&e) }.is_err() {
                break;
            }
            queued += 1;
        }
        self.ring.submit_and_wait(queued)?;
        for cqe in self.ring.completion() {
            let slot = cqe.user_data() as usize;
            let r = cqe.result();
            let res = match self.rx.get(slot) {
                Some(s) if r >= 0 => Ok((
                    r as usize,
                    endpoint_of(&s.name),
                    s.hdr.msg_flags & libc::MSG_TRUNC != 0,
                )),
                _ => Err(-r),
            };
            out.push((slot, res));
        }
        Ok(())
    }

    /// Sends `msgs` (fd, payload, destination); returns (sent, failed).
    pub(super) fn send<'a>(
        &mut self,
        msgs: impl Iterator<Item = (RawFd, &'a [u8], Endpoint)>,
    ) -> std::io::Result<(u64, u64)> {
        let mut queued = 0;
        for (k, (fd, payload, dst)) in msgs.enumerate() {
            let Some(s) = self.tx.get_mut(k) else { break };
            let len = sockaddr_of(&dst, &mut s.name);
            // The kernel only reads from iov_base on send; the cast to *mut is required by the type.
            s.iov = libc::iovec {
                iov_base: payload.as_ptr() as *mut _,
                iov_len: payload.len(),
            };
            s.hdr.msg_name = (&mut s.name as *mut libc::sockaddr_storage).cast();
            s.hdr.msg_namelen = len;
            s.hdr.msg_iov = &mut s.iov;
            s.hdr.msg_iovlen = 1;
            s.hdr.msg_control = std::ptr::null_mut();
            s.hdr.msg_controllen = 0;
            s.hdr.msg_flags = 0;
            let e = opcode::SendMsg::new(types::Fd(fd), &s.hdr)
                .flags(libc::MSG_DONTWAIT as u32)
                .build()
                .user_data(k as u64);
            // SAFETY: the entry points at `s.hdr`, `s.iov`, `s.name` and the payload (borrowed
            // for 'a), all alive until the completions are reaped below in this call.
            if unsafe { self.ring.submission().push(&e) }.is_err() {
                break;
            }
            queued += 1;
        }
        if queued == 0 {
            return Ok((0, 0));
        }
        self.ring.submit_and_wait(queued)?;
        let (mut sent, mut failed) = (0, 0);
        for cqe in self.ring.completion() {
            if cqe.result() >= 0 {
                sent += 1;
            } else {
                failed += 1;
            }
        }
        Ok((sent, failed))
    }
}
