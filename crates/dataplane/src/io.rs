//! The boundary between the worker loop and the packet I/O backends.
//!
//! The data plane defines what it needs from I/O ([`PacketIo`], and [`RecordMemory`] for where
//! its session records live); the `pktio` crate implements both for kernel sockets, DPDK and
//! in-memory frames. So the relay core and everything above it (the media engine, the proxy)
//! depend on this crate, never on the crate that holds the unsafe I/O code.

use crate::record::Stream;
use std::net::IpAddr;
use std::ops::DerefMut;
use std::os::fd::OwnedFd;
use std::time::Duration;
use wire::Endpoint;

/// A relay port: index of the relay address (in the configured order) and the UDP port.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PortKey {
    /// Index into the relay address list.
    pub addr: u16,
    /// UDP port.
    pub port: u16,
}

impl PortKey {
    /// A key from its parts.
    pub const fn new(addr: u16, port: u16) -> Self {
        Self { addr, port }
    }
}

/// A local relay address as the backends need it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelayAddr {
    /// The IP the relay ports bind to.
    pub ip: IpAddr,
    /// The MAC address frames leave with (frame backends).
    pub mac: [u8; 6],
}

/// An opened relay port, handed from the control plane (which opens it, so a port taken by
/// another process is skipped at allocation time) to the worker that owns it.
#[derive(Debug)]
pub enum PortHandle {
    /// A bound, non-blocking kernel UDP socket (the socket backend turns it back into one).
    Socket(OwnedFd),
    /// Backends without per-port kernel objects (memory, DPDK).
    Virtual,
}

/// One received packet as the relay sees it.
#[derive(Debug, Clone, Copy)]
pub struct RxPacket<'a> {
    /// The relay port the packet arrived on.
    pub local: PortKey,
    /// Where it came from.
    pub src: Endpoint,
    /// The UDP payload (RTP, RTCP, STUN, DTLS...).
    pub payload: &'a [u8],
}

/// A received packet as the relay decision reads it. [`RxPacket`] holds its fields; a
/// backend that keeps its burst in place reads them from the frame when asked, so what the
/// decision does not need (the source of a latched packet) is never read.
pub trait RxView {
    /// Where it came from.
    fn src(&self) -> Endpoint;
    /// The UDP payload (RTP, RTCP, STUN, DTLS...).
    fn payload(&self) -> &[u8];
}

impl RxView for RxPacket<'_> {
    #[inline(always)]
    fn src(&self) -> Endpoint {
        self.src
    }
    #[inline(always)]
    fn payload(&self) -> &[u8] {
        self.payload
    }
}

/// The per-packet decision [`PacketIo::relay_each`] runs over a burst (the worker's).
pub trait Decide {
    /// Decides packet `pkt` of the burst (`None`: the backend cannot give it), given the relay
    /// port of the packet `ahead` places later (`None` past the burst): the egress relay port
    /// and destination to forward it to, or `None` to drop it.
    fn decide<P: RxView>(
        &mut self,
        pkt: Option<&P>,
        next: Option<PortKey>,
    ) -> Option<(PortKey, Endpoint)>;
}

/// What woke a blocking receive besides packets.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Wake {
    /// The control plane signalled new commands.
    pub commands: bool,
}

/// Errors of a backend.
#[derive(Debug, thiserror::Error)]
pub enum IoError {
    /// A system call failed.
    #[error("{op}: {source}")]
    Sys {
        /// The call that failed.
        op: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// The relay address index is not configured in this backend.
    #[error("relay address index {0} is not configured")]
    UnknownAddress(u16),
    /// A port handle of the wrong kind was given to this backend.
    #[error("port handle does not belong to this backend")]
    WrongHandle,
}

/// Counters a backend keeps itself (per worker, single writer).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct IoCounters {
    /// Packets received.
    pub rx: u64,
    /// Packets handed to the kernel/NIC for transmission.
    pub tx: u64,
    /// Packets that could not be transmitted (queue full, send error).
    pub tx_dropped: u64,
    /// Frames dropped before the relay saw them (malformed, not for us); backends with frames only.
    pub rx_invalid: u64,
    /// Receive errors (truncated datagrams, socket errors).
    pub rx_errors: u64,
}

/// Burst packet I/O as the worker loop needs it.
///
/// The protocol of one iteration: [`rx_burst`](Self::rx_burst) returns `n`; packets `0..n` are
/// read with [`packet`](Self::packet); each is either forwarded with [`forward`](Self::forward) or
/// left alone (dropped); [`flush`](Self::flush) transmits the forwarded ones and releases the burst.
pub trait PacketIo {
    /// Where this backend's worker keeps its session records.
    type Memory: RecordMemory;
    /// Receives up to the backend's burst size. A blocking backend waits at most `timeout` for the
    /// first packet (or a command wake-up); a polling backend ignores it.
    fn rx_burst(&mut self, timeout: Duration) -> Result<(usize, Wake), IoError>;
    /// Packet `i` of the current burst (`None` if `i` is out of range).
    fn packet(&self, i: usize) -> Option<RxPacket<'_>>;
    /// The relay port packet `i` of the current burst arrived on (the worker looks its record
    /// up a few packets ahead). Backends that have it without building the whole packet
    /// override this.
    #[inline]
    fn key(&self, i: usize) -> Option<PortKey> {
        self.packet(i).map(|p| p.local)
    }
    /// Queues packet `i` of the burst for transmission from relay port `egress` to `dst`.
    fn forward(&mut self, i: usize, egress: PortKey, dst: Endpoint);
    /// Runs `d` on packets `0..n` of the burst in order (`None` for a packet the backend
    /// cannot give) and forwards each packet it gives an egress port and destination, as
    /// [`packet`](Self::packet) and [`forward`](Self::forward) one by one do (this default).
    /// `d` also gets the relay port of packet `i + ahead` (`None` past the burst), for
    /// the worker's look-ahead. A backend that holds its burst in place overrides it to go
    /// over the burst without those per-packet round trips, giving its own [`RxView`].
    #[inline]
    fn relay_each<D: Decide>(&mut self, n: usize, ahead: usize, d: &mut D) {
        for i in 0..n {
            let next = if i + ahead < n {
                self.key(i + ahead)
            } else {
                None
            };
            let out = d.decide(self.packet(i).as_ref(), next);
            if let Some((egress, dst)) = out {
                self.forward(i, egress, dst);
            }
        }
    }
    /// Transmits what was queued and releases the burst.
    fn flush(&mut self);
    /// Starts receiving on a relay port (the socket backend takes ownership of its socket).
    fn attach(&mut self, key: PortKey, handle: PortHandle) -> Result<(), IoError>;
    /// Stops receiving on a relay port and releases what belongs to it.
    fn detach(&mut self, key: PortKey);
    /// The backend's own counters.
    fn counters(&self) -> IoCounters;
}

/// Memory for the session table's records, and the cache hint the per-packet path gives before
/// it reads one. Huge pages and prefetch instructions need unsafe code, which lives in the I/O
/// crate; [`HeapMemory`] is the plain, safe choice.
pub trait RecordMemory {
    /// One chunk of records, every element initialised.
    type Chunk: DerefMut<Target = [Stream]> + Send + std::fmt::Debug;
    /// A chunk of `len` empty records.
    fn chunk(len: usize) -> Self::Chunk;
    /// Hints the CPU to load the first cache line of `r`.
    fn prefetch(r: &Stream);
}

/// Records on the global heap, without prefetch hints (tests, and hosts where nothing better
/// is offered).
#[derive(Debug, Clone, Copy, Default)]
pub struct HeapMemory;

impl RecordMemory for HeapMemory {
    type Chunk = Box<[Stream]>;
    fn chunk(len: usize) -> Box<[Stream]> {
        vec![Stream::EMPTY; len].into_boxed_slice()
    }
    fn prefetch(_r: &Stream) {}
}
