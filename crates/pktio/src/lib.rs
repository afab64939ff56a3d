//! Packet I/O for the Ferrovox data plane.
//!
//! A worker drives one [`PacketIo`] backend (the trait is the `dataplane` crate's) in a loop: receive a burst, decide per packet (the
//! `dataplane` crate), queue forwards, flush. Backends:
//! - [`socket`]: kernel UDP sockets, one per relay port, epoll + `recvmmsg`/`sendmmsg` (the default);
//! - `dpdk` (feature `dpdk`): DPDK poll-mode drivers, frames parsed and rewritten in place in
//!   the mbufs, one queue pair per worker on every port;
//! - [`memory`]: Ethernet frames in memory, rewritten in place exactly as a NIC backend would
//!   (tests and benchmarks).
//!
//! [`plane::DataPlane`] assembles the workers of either backend from the configuration.
//!
//! All `unsafe` code of the workspace lives here (and in the DPDK bindings); each block says why it
//! is sound.

#[cfg(feature = "dpdk")]
pub mod dpdk;
pub mod l2;
pub mod mem;
pub mod memory;
pub mod plane;
mod port;
mod prefetch;
pub mod socket;

pub use dataplane::io::{
    IoCounters, IoError, PacketIo, PortHandle, PortKey, RelayAddr, RxPacket, Wake,
};
pub use mem::HugePages;
pub use port::bind_socket;
pub use prefetch::{prefetch, prefetch_first_line, prefetch_write};
