//! Kernel-socket backend: one non-blocking UDP socket per relay port, one epoll set per worker,
//! `recvmmsg`/`sendmmsg` batching, an eventfd for command wake-ups.
//!
//! Packets stay in the receive buffers from `recvmmsg` to `sendmmsg`: forwarding copies nothing.

mod sys;

use crate::{IoCounters, IoError, PacketIo, PortHandle, PortKey, RxPacket, Wake};
use std::net::UdpSocket;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::time::Duration;
use wire::Endpoint;

/// Largest datagram received without truncation; longer ones are counted in `rx_errors`.
pub const MAX_DATAGRAM: usize = 2048;
const WAKE_TOKEN: u64 = u64::MAX;

/// Wakes a worker blocked in [`SocketIo::rx_burst`] (writes its eventfd). Cheap to clone.
#[derive(Debug, Clone)]
pub struct Waker(Option<Arc<OwnedFd>>);

impl Waker {
    /// A waker that does nothing (polling backends).
    pub fn noop() -> Self {
        Self(None)
    }
    /// Signals the worker.
    pub fn wake(&self) {
        if let Some(fd) = &self.0 {
            sys::eventfd_signal(fd.as_raw_fd());
        }
    }
}

/// Per-packet metadata of the current burst.
#[derive(Debug, Clone, Copy, Default)]
struct Meta {
    key: Option<PortKey>,
    src: Endpoint,
    len: usize,
}

/// A queued transmission.
#[derive(Debug, Clone, Copy)]
struct Tx {
    slot: usize,
    fd: RawFd,
    dst: Endpoint,
}

/// The socket backend of one worker.
#[derive(Debug)]
pub struct SocketIo {
    epoll: OwnedFd,
    event: Arc<OwnedFd>,
    burst: usize,
    /// Sockets by relay address index, then by port (allocated on first use of an address).
    sockets: Vec<Vec<Option<UdpSocket>>>,
    bufs: Vec<[u8; MAX_DATAGRAM]>,
    meta: Vec<Meta>,
    n: usize,
    tx: Vec<Tx>,
    batch: sys::Batch,
    events: Vec<libc::epoll_event>,
    counters: IoCounters,
}

impl SocketIo {
    /// A backend for `addresses` relay addresses receiving bursts of up to `burst` packets.
    pub fn new(addresses: usize, burst: usize) -> Result<Self, IoError> {
        let burst = burst.clamp(1, 1024);
        let epoll = sys::epoll_create()?;
        let event = Arc::new(sys::eventfd()?);
        sys::epoll_add(epoll.as_raw_fd(), event.as_raw_fd(), WAKE_TOKEN)?;
        Ok(Self {
            epoll,
            event,
            burst,
            sockets: (0..addresses).map(|_| Vec::new()).collect(),
            bufs: vec![[0u8; MAX_DATAGRAM]; burst],
            meta: vec![Meta::default(); burst],
            n: 0,
            tx: Vec::with_capacity(burst),
            batch: sys::Batch::new(burst),
            events: vec![libc::epoll_event { events: 0, u64: 0 }; burst],
            counters: IoCounters::default(),
        })
    }

    /// A handle that wakes this worker from another thread.
    pub fn waker(&self) -> Waker {
        Waker(Some(self.event.clone()))
    }

    fn fd_of(&self, key: PortKey) -> Option<RawFd> {
        let table = self.sockets.get(usize::from(key.addr))?;
        table
            .get(usize::from(key.port))?
            .as_ref()
            .map(|s| s.as_raw_fd())
    }

    /// Receives from one ready socket into the free slots.
    fn drain_socket(&mut self, key: PortKey) {
        let Some(fd) = self.fd_of(key) else { return };
        let free = self.burst - self.n;
        let got = self.batch.recv(fd, &mut self.bufs[self.n..self.n + free]);
        match got {
            Ok(msgs) => {
                for (i, (len, src, truncated)) in msgs.iter().enumerate() {
                    let m = &mut self.meta[self.n + i];
                    if *truncated {
                        self.counters.rx_errors += 1;
                        *m = Meta::default();
                    } else {
                        *m = Meta {
                            key: Some(key),
                            src: *src,
                            len: *len,
                        };
                    }
                }
                self.counters.rx += msgs.len() as u64;
                self.n += msgs.len();
            }
            Err(_) => self.counters.rx_errors += 1,
        }
    }
}

impl PacketIo for SocketIo {
    fn rx_burst(&mut self, timeout: Duration) -> Result<(usize, Wake), IoError> {
        self.n = 0;
        let mut wake = Wake::default();
        let ready = sys::epoll_wait(self.epoll.as_raw_fd(), &mut self.events, timeout)?;
        for e in 0..ready {
            let token = self.events[e].u64;
            if token == WAKE_TOKEN {
                sys::eventfd_drain(self.event.as_raw_fd());
                wake.commands = true;
                continue;
            }
            if self.n < self.burst {
                self.drain_socket(sys::key_of(token));
            }
        }
        Ok((self.n, wake))
    }

    fn packet(&self, i: usize) -> Option<RxPacket<'_>> {
        if i >= self.n {
            return None;
        }
        let m = self.meta.get(i)?;
        let key = m.key?;
        let payload = self.bufs.get(i)?.get(..m.len)?;
        Some(RxPacket {
            local: key,
            src: m.src,
            payload,
        })
    }

    fn forward(&mut self, i: usize, egress: PortKey, dst: Endpoint) {
        match self.fd_of(egress) {
            Some(fd) if i < self.n => self.tx.push(Tx { slot: i, fd, dst }),
            _ => self.counters.tx_dropped += 1,
        }
    }

    fn flush(&mut self) {
        let mut start = 0;
        while start < self.tx.len() {
            let fd = self.tx[start].fd;
            let mut end = start + 1;
            while end < self.tx.len() && self.tx[end].fd == fd {
                end += 1;
            }
            let group = &self.tx[start..end];
            let (sent, failed) = self.batch.send(
                fd,
                group.iter().map(|t| {
                    let len = self.meta[t.slot].len;
                    (&self.bufs[t.slot][..len], t.dst)
                }),
            );
            self.counters.tx += sent;
            self.counters.tx_dropped += failed;
            start = end;
        }
        self.tx.clear();
        self.n = 0;
    }

    fn attach(&mut self, key: PortKey, handle: PortHandle) -> Result<(), IoError> {
        let PortHandle::Socket(sock) = handle else {
            return Err(IoError::WrongHandle);
        };
        let table = self
            .sockets
            .get_mut(usize::from(key.addr))
            .ok_or(IoError::UnknownAddress(key.addr))?;
        if table.is_empty() {
            table.resize_with(usize::from(u16::MAX) + 1, || None);
        }
        sys::epoll_add(self.epoll.as_raw_fd(), sock.as_raw_fd(), sys::token_of(key))?;
        // Replacing an entry closes the old socket, which also removes it from the epoll set.
        table[usize::from(key.port)] = Some(sock);
        Ok(())
    }

    fn detach(&mut self, key: PortKey) {
        if let Some(slot) = self
            .sockets
            .get_mut(usize::from(key.addr))
            .and_then(|t| t.get_mut(usize::from(key.port)))
        {
            // Closing the last reference to the socket removes it from the epoll set.
            *slot = None;
        }
    }

    fn counters(&self) -> IoCounters {
        self.counters
    }
}

/// Pins the calling thread to one CPU.
pub fn pin_current_thread(cpu: usize) -> Result<(), IoError> {
    sys::pin(cpu)
}

/// Raises the open-file limit as far as the hard limit allows (each relay port is a socket);
/// returns the limit now in force.
pub fn raise_fd_limit() -> Result<u64, IoError> {
    sys::raise_nofile()
}
