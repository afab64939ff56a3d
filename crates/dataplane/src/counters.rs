//! Per-worker counters: plain integers on the packet path, published to atomics (single writer,
//! plain stores) for readers on other threads.

use std::sync::atomic::{AtomicU64, Ordering};

/// Why a packet was not relayed. Every drop has exactly one reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum DropReason {
    /// The port is outside every relay range or belongs to another worker.
    NotOwner = 0,
    /// No session is installed on the port.
    UnknownPort,
    /// Neither RTP, RTCP, STUN, DTLS nor ZRTP (RFC 7983 demultiplexing).
    NotMedia,
    /// Looked like RTP but its header does not fit the packet (RFC 3550 §5.1).
    MalformedRtp,
    /// Looked like RTCP but is not a valid compound packet (RFC 3550 A.2).
    MalformedRtcp,
    /// From a source other than the latched one, with strict source checking.
    StrictSource,
    /// The other leg's address is not known yet.
    NoDestination,
    /// The frame was not an Ethernet/IP/UDP frame for a relay address (frame backends).
    InvalidFrame,
}

impl DropReason {
    /// Number of reasons.
    pub const COUNT: usize = 8;
    /// All reasons, in counter order.
    pub const ALL: [DropReason; Self::COUNT] = [
        DropReason::NotOwner,
        DropReason::UnknownPort,
        DropReason::NotMedia,
        DropReason::MalformedRtp,
        DropReason::MalformedRtcp,
        DropReason::StrictSource,
        DropReason::NoDestination,
        DropReason::InvalidFrame,
    ];
    /// Stable snake_case name (metrics label, ng statistics key).
    pub fn name(self) -> &'static str {
        match self {
            DropReason::NotOwner => "not_owner",
            DropReason::UnknownPort => "unknown_port",
            DropReason::NotMedia => "not_media",
            DropReason::MalformedRtp => "malformed_rtp",
            DropReason::MalformedRtcp => "malformed_rtcp",
            DropReason::StrictSource => "strict_source",
            DropReason::NoDestination => "no_destination",
            DropReason::InvalidFrame => "invalid_frame",
        }
    }
}

/// A worker's own counters (written only by the worker).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorkerCounters {
    /// Packets received.
    pub rx: u64,
    /// Packets forwarded.
    pub forwarded: u64,
    /// Packets sent by the backend.
    pub tx: u64,
    /// Packets the backend failed to send.
    pub tx_failed: u64,
    /// Drops by reason.
    pub drops: [u64; DropReason::COUNT],
    /// Receive errors (truncated datagrams, socket errors).
    pub rx_errors: u64,
    /// Commands processed.
    pub commands: u64,
    /// Events lost because the event ring was full.
    pub events_lost: u64,
    /// Installed streams.
    pub streams: u64,
    /// Nanoseconds of the worker's clock spent on polls that brought packets: from such a
    /// poll's receive to the next receive (relaying, transmitting, commands, housekeeping).
    /// A busy-polling worker's thread uses its whole core; this is how much of it is work.
    pub busy_ns: u64,
}

impl WorkerCounters {
    /// Counts one drop.
    #[inline]
    pub fn drop(&mut self, r: DropReason) {
        self.drops[r as usize] += 1;
    }
    /// Drops of one reason.
    pub fn drops_of(&self, r: DropReason) -> u64 {
        self.drops[r as usize]
    }
    /// Sum over workers.
    pub fn add(&mut self, o: &WorkerCounters) {
        self.rx += o.rx;
        self.forwarded += o.forwarded;
        self.tx += o.tx;
        self.tx_failed += o.tx_failed;
        for (a, b) in self.drops.iter_mut().zip(o.drops.iter()) {
            *a += b;
        }
        self.rx_errors += o.rx_errors;
        self.commands += o.commands;
        self.events_lost += o.events_lost;
        self.streams += o.streams;
        self.busy_ns += o.busy_ns;
    }
}

const FIELDS: usize = 9 + DropReason::COUNT;

/// Counters published by one worker for readers elsewhere; one cache-line-aligned block per
/// worker so workers never share a written line.
#[derive(Debug, Default)]
#[repr(align(128))]
pub struct SharedCounters {
    vals: [AtomicU64; FIELDS],
}

impl SharedCounters {
    /// Publishes `c` (called by the owning worker only: plain stores, no read-modify-write).
    pub fn publish(&self, c: &WorkerCounters) {
        let fixed = [
            c.rx,
            c.forwarded,
            c.tx,
            c.tx_failed,
            c.rx_errors,
            c.commands,
            c.events_lost,
            c.streams,
            c.busy_ns,
        ];
        for (slot, v) in self.vals.iter().zip(fixed.iter().chain(c.drops.iter())) {
            slot.store(*v, Ordering::Relaxed);
        }
    }
    /// Reads the last published values.
    pub fn read(&self) -> WorkerCounters {
        let v: Vec<u64> = self
            .vals
            .iter()
            .map(|a| a.load(Ordering::Relaxed))
            .collect();
        let mut c = WorkerCounters {
            rx: v[0],
            forwarded: v[1],
            tx: v[2],
            tx_failed: v[3],
            rx_errors: v[4],
            commands: v[5],
            events_lost: v[6],
            streams: v[7],
            busy_ns: v[8],
            drops: [0; DropReason::COUNT],
        };
        c.drops.copy_from_slice(&v[9..]);
        c
    }
}
