//! The Ferrovox data plane: what a worker core does with every media packet.
//!
//! - [`layout`]: which worker owns a relay port, and where its record sits (pure arithmetic);
//! - [`table`]: the per-worker session table of [`record::Stream`] records (dense, direct-indexed);
//! - [`relay`]: the per-packet decision (latching, source checks, stats, destination);
//! - [`command`]: control -> worker [`command::FlowCommand`]s and worker -> control
//!   [`command::FlowEvent`]s, carried over bounded single-producer/single-consumer rings;
//! - [`io`]: the [`io::PacketIo`] trait the backends (crate `pktio`) implement, relay port keys
//!   and handles;
//! - [`worker`]: the loop that drives a [`io::PacketIo`] backend.
//!
//! The per-packet path allocates nothing, takes no lock, and never panics on input: every packet
//! is either forwarded or dropped with a [`counters::DropReason`].
#![forbid(unsafe_code)]

pub mod command;
pub mod counters;
pub mod io;
pub mod layout;
pub mod record;
pub mod relay;
pub mod rtpstats;
pub mod table;
pub mod worker;

pub use command::{FlowCommand, FlowEvent, IdleReason, LatchMode, StreamSpec, StreamStats};
pub use counters::{DropReason, SharedCounters, WorkerCounters};
pub use io::{
    Decide, HeapMemory, IoCounters, IoError, PacketIo, PortHandle, PortKey, RecordMemory,
    RelayAddr, RxPacket, RxView, Wake,
};
pub use layout::{AddrRange, LayoutError, PortLayout};
pub use worker::{Worker, WorkerParams};
