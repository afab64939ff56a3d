//! Packet I/O for the Ferrovox data plane.
//!
//! A worker drives one [`PacketIo`] backend in a loop: receive a burst, decide per packet (the
//! `dataplane` crate), queue forwards, flush. Backends:
//! - [`socket`]: kernel UDP sockets, one per relay port, epoll + `recvmmsg`/`sendmmsg` (the default);
//! - `dpdk` (feature `dpdk`): DPDK poll-mode drivers, frames parsed and rewritten in place in
//!   the mbufs, one queue pair per worker on every port;
//! - [`memory`]: Ethernet frames in memory, rewritten in place exactly as a NIC backend would
//!   (tests and benchmarks).
//!
//! All `unsafe` code of the workspace lives here (and in the DPDK bindings); each block says why it
//! is sound.

#[cfg(feature = "dpdk")]
pub mod dpdk;
pub mod l2;
pub mod mem;
pub mod memory;
mod port;
mod prefetch;
pub mod socket;

pub use port::{PortHandle, PortKey, RelayAddr};
pub use prefetch::{prefetch, prefetch_first_line, prefetch_write};
use std::time::Duration;
use wire::Endpoint;

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
    /// Receives up to the backend's burst size. A blocking backend waits at most `timeout` for the
    /// first packet (or a command wake-up); a polling backend ignores it.
    fn rx_burst(&mut self, timeout: Duration) -> Result<(usize, Wake), IoError>;
    /// Packet `i` of the current burst (`None` if `i` is out of range).
    fn packet(&self, i: usize) -> Option<RxPacket<'_>>;
    /// Queues packet `i` of the burst for transmission from relay port `egress` to `dst`.
    fn forward(&mut self, i: usize, egress: PortKey, dst: Endpoint);
    /// Transmits what was queued and releases the burst.
    fn flush(&mut self);
    /// Starts receiving on a relay port (the socket backend takes ownership of its socket).
    fn attach(&mut self, key: PortKey, handle: PortHandle) -> Result<(), IoError>;
    /// Stops receiving on a relay port and releases what belongs to it.
    fn detach(&mut self, key: PortKey);
    /// The backend's own counters.
    fn counters(&self) -> IoCounters;
}
