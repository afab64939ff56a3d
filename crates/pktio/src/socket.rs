//! Kernel-socket backend: one non-blocking UDP socket per relay port, one epoll set per worker,
//! an eventfd for command wake-ups. The receives of a burst and its sends are each batched into
//! one io_uring submission across all the sockets involved, where the kernel offers io_uring;
//! otherwise `recvmmsg`/`sendmmsg` batch per socket.
//!
//! Packets stay in the receive buffers from receive to send: forwarding copies nothing.

mod sys;
mod uring;

use crate::{IoCounters, IoError, PacketIo, PortHandle, PortKey, RxPacket, Wake};
use std::net::UdpSocket;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::time::Duration;
use wire::Endpoint;

/// Largest datagram received without truncation; longer ones are counted in `rx_errors`.
pub const MAX_DATAGRAM: usize = 2048;
const WAKE_TOKEN: u64 = u64::MAX;
/// At most this many receives are queued for one ready socket in one burst (io_uring path).
const PER_SOCKET: usize = 8;

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

/// Per-slot metadata of the current burst.
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
    /// Sockets by relay address index, then by port (allocated on first use of an address;
    /// an address added by a reload gets its place on its first attach).
    sockets: Vec<Vec<Option<UdpSocket>>>,
    bufs: Vec<[u8; MAX_DATAGRAM]>,
    meta: Vec<Meta>,
    /// Packet `i` of the burst is in slot `order[i]`.
    order: Vec<usize>,
    /// First slot the next `recvmmsg` may fill.
    next_slot: usize,
    tx: Vec<Tx>,
    batch: sys::Batch,
    uring: Option<uring::Uring>,
    ready: Vec<PortKey>,
    reqs: Vec<(RawFd, usize)>,
    results: Vec<uring::RecvResult>,
    events: Vec<libc::epoll_event>,
    counters: IoCounters,
}

impl SocketIo {
    /// A backend for `addresses` relay addresses receiving bursts of up to `burst` packets,
    /// batching with io_uring when `io_uring` is true and the kernel allows it.
    pub fn new(addresses: usize, burst: usize, io_uring: bool) -> Result<Self, IoError> {
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
            order: Vec::with_capacity(burst),
            next_slot: 0,
            tx: Vec::with_capacity(burst),
            batch: sys::Batch::new(burst),
            uring: if io_uring {
                uring::Uring::new(burst)
            } else {
                None
            },
            ready: Vec::with_capacity(burst),
            reqs: Vec::with_capacity(burst),
            results: Vec::with_capacity(burst),
            events: vec![libc::epoll_event { events: 0, u64: 0 }; burst],
            counters: IoCounters::default(),
        })
    }

    /// True when receives and sends are batched with io_uring.
    pub fn uses_io_uring(&self) -> bool {
        self.uring.is_some()
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

    /// `recvmmsg` from one ready socket into the free slots from `next_slot` on.
    fn drain_socket(&mut self, key: PortKey) {
        let Some(fd) = self.fd_of(key) else { return };
        let start = self.next_slot;
        let got = self.batch.recv(fd, &mut self.bufs[start..self.burst]);
        match got {
            Ok(msgs) => {
                for (i, (len, src, truncated)) in msgs.iter().enumerate() {
                    self.counters.rx += 1;
                    if *truncated {
                        // The slot is used up but holds no packet.
                        self.counters.rx_errors += 1;
                        continue;
                    }
                    self.meta[start + i] = Meta {
                        key: Some(key),
                        src: *src,
                        len: *len,
                    };
                    self.order.push(start + i);
                }
                self.next_slot += msgs.len();
            }
            Err(_) => self.counters.rx_errors += 1,
        }
    }

    /// One io_uring submission receiving from every ready socket. False if io_uring failed
    /// (it is then switched off for good and the caller falls back).
    fn recv_uring(&mut self) -> bool {
        let Some(u) = self.uring.as_mut() else {
            return false;
        };
        let per = (self.burst / self.ready.len().max(1)).clamp(1, PER_SOCKET);
        self.reqs.clear();
        'fill: for &key in &self.ready {
            let Some(fd) = self
                .sockets
                .get(usize::from(key.addr))
                .and_then(|t| t.get(usize::from(key.port)))
                .and_then(Option::as_ref)
                .map(AsRawFd::as_raw_fd)
            else {
                continue;
            };
            for _ in 0..per {
                let slot = self.reqs.len();
                if slot == self.burst {
                    break 'fill;
                }
                self.meta[slot] = Meta {
                    key: Some(key),
                    src: Endpoint::UNSET,
                    len: 0,
                };
                self.reqs.push((fd, slot));
            }
        }
        if u.recv(&self.reqs, &mut self.bufs, &mut self.results)
            .is_err()
        {
            self.uring = None;
            return false;
        }
        for &(slot, res) in &self.results {
            match res {
                Ok((_, _, true)) => {
                    self.counters.rx += 1;
                    self.counters.rx_errors += 1;
                }
                Ok((len, src, false)) => {
                    self.counters.rx += 1;
                    self.meta[slot].src = src;
                    self.meta[slot].len = len;
                    self.order.push(slot);
                }
                Err(e) if e == libc::EAGAIN => {}
                Err(_) => self.counters.rx_errors += 1,
            }
        }
        true
    }
}

impl PacketIo for SocketIo {
    type Memory = crate::HugePages;

    fn rx_burst(&mut self, timeout: Duration) -> Result<(usize, Wake), IoError> {
        self.order.clear();
        self.ready.clear();
        let mut wake = Wake::default();
        let ready = sys::epoll_wait(self.epoll.as_raw_fd(), &mut self.events, timeout)?;
        for e in 0..ready {
            let token = self.events[e].u64;
            if token == WAKE_TOKEN {
                sys::eventfd_drain(self.event.as_raw_fd());
                wake.commands = true;
            } else {
                self.ready.push(sys::key_of(token));
            }
        }
        if !self.ready.is_empty() && !self.recv_uring() {
            self.next_slot = 0;
            for k in 0..self.ready.len() {
                if self.next_slot >= self.burst {
                    break;
                }
                let key = self.ready[k];
                self.drain_socket(key);
            }
        }
        Ok((self.order.len(), wake))
    }

    fn packet(&self, i: usize) -> Option<RxPacket<'_>> {
        let slot = *self.order.get(i)?;
        let m = self.meta.get(slot)?;
        let key = m.key?;
        let payload = self.bufs.get(slot)?.get(..m.len)?;
        Some(RxPacket {
            local: key,
            src: m.src,
            payload,
        })
    }

    fn forward(&mut self, i: usize, egress: PortKey, dst: Endpoint) {
        match (self.order.get(i), self.fd_of(egress)) {
            (Some(&slot), Some(fd)) => self.tx.push(Tx { slot, fd, dst }),
            _ => self.counters.tx_dropped += 1,
        }
    }

    fn flush(&mut self) {
        if !self.tx.is_empty() {
            if let Some(u) = self.uring.as_mut() {
                let (meta, bufs) = (&self.meta, &self.bufs);
                let msgs = self
                    .tx
                    .iter()
                    .map(|t| (t.fd, &bufs[t.slot][..meta[t.slot].len], t.dst));
                match u.send(msgs) {
                    Ok((sent, failed)) => {
                        self.counters.tx += sent;
                        self.counters.tx_dropped += failed;
                        self.tx.clear();
                    }
                    // Not sent: switch io_uring off and send them below.
                    Err(_) => self.uring = None,
                }
            }
        }
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
        self.order.clear();
    }

    fn attach(&mut self, key: PortKey, handle: PortHandle) -> Result<(), IoError> {
        let PortHandle::Socket(sock) = handle else {
            return Err(IoError::WrongHandle);
        };
        let sock = std::net::UdpSocket::from(sock);
        let addr = usize::from(key.addr);
        // A relay address a reload added (the layout grew): its table starts here.
        if addr >= self.sockets.len() {
            self.sockets.resize_with(addr + 1, Vec::new);
        }
        let table = self
            .sockets
            .get_mut(addr)
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
