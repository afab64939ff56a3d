//! The DPDK poll-mode backend (feature `dpdk`).
//!
//! - [`eal`]: the Environment Abstraction Layer, started once per process from an [`EalConfig`]
//!   (cores, allow-listed PCI devices or vdevs, hugepages or `--no-huge`, file prefix), and
//!   closures launched on its lcores;
//! - [`pool`]: packet-buffer pools ([`Mempool`]), one per NUMA socket;
//! - [`port`]: an Ethernet port ([`EthPort`]): one RX and one TX queue per worker, RSS when there
//!   are several, checksum offloads where the NIC has them, link state and statistics;
//! - [`mbuf`]: [`Mbuf`], one owned packet buffer, and [`MbufVec`], a list of them freed in bulk;
//! - [`io`]: [`DpdkIo`], the [`crate::PacketIo`] of one worker on one queue pair ([`config`]:
//!   its settings): burst receive and classification of mbufs (`rx`), parse and rewrite in
//!   place with `wire`, burst transmit and bulk free (`tx`);
//! - [`drops`]: receive drops by reason;
//! - [`ring`]: `rte_ring`s and `net_ring` ports built from them, with a frame generator and an
//!   mbuf burst for tests, benchmarks and io-forward loops;
//! - [`steer`]: `rte_flow` rules sending each relay port to its owner's queue, with the RSS +
//!   hand-off fallback ([`handoff`]);
//! - [`xdp`]: what the kernel says about a `net_af_xdp` port (zero-copy or copy, native or
//!   generic XDP, ntuple rules placing each relay port on its owner's queue).
//!
//! Every `unsafe` block here says why it is sound; the rest of the workspace sees safe types only.
#![allow(unsafe_code)]

mod addr_index;
pub mod config;
pub mod drops;
pub mod eal;
pub mod handoff;
mod host;
pub mod io;
mod local;
pub mod mbuf;
pub mod pool;
pub mod port;
pub mod ring;
mod rx;
pub mod steer;
mod tx;
pub mod xdp;

pub use config::{DpdkIoConfig, DpdkLink};
pub use drops::{L2Stats, RxDrop, RxDrops};
pub use eal::{Eal, EalConfig, LcoreJoin};
pub use handoff::{handoff_rings, Handoff, HandoffInbox, HandoffOutbox, OwnerFn};
pub use io::DpdkIo;
pub use mbuf::{Mbuf, MbufVec, RxFlags};
pub use pool::Mempool;
pub use port::{EthPort, LinkState, Offloads, PortSetup, PortStats};
pub use ring::{MbufBurst, Ring, RingIn, RingOut, RingPort};
pub use steer::{steer_port, FlowRules, SteerMode, SteerRule, Steered};

use std::ffi::CStr;

/// Errors of the DPDK backend. Each names what failed and DPDK's reason.
#[derive(Debug, thiserror::Error)]
pub enum DpdkError {
    /// `rte_eal_init` failed (no hugepages, device busy, bad argument...).
    #[error("EAL start failed ({args}): {reason}")]
    EalInit {
        /// The EAL arguments used.
        args: String,
        /// `rte_strerror(rte_errno)`.
        reason: String,
    },
    /// The EAL is already running in this process (it starts once per process).
    #[error("the EAL is already started in this process")]
    EalAlreadyStarted,
    /// An operation needs the EAL, which is not started.
    #[error("the EAL is not started")]
    EalNotStarted,
    /// A name handed to DPDK contains a NUL byte.
    #[error("name contains a NUL byte: {0:?}")]
    BadName(String),
    /// No Ethernet port by that name (device not probed, not allow-listed, driver missing).
    #[error("no DPDK port named {0:?} (not probed: check the PCI allow list / vdev arguments)")]
    NoSuchPort(String),
    /// A DPDK call on a port failed.
    #[error("port {port}: {op}: {reason}")]
    Port {
        /// The port id.
        port: u16,
        /// The call that failed.
        op: &'static str,
        /// DPDK's reason.
        reason: String,
    },
    /// The port cannot give the queues asked for.
    #[error("port {port}: {want} queue pairs asked, the device offers {max}")]
    TooManyQueues {
        /// The port id.
        port: u16,
        /// Queue pairs asked for.
        want: u16,
        /// What the device offers.
        max: u16,
    },
    /// Creating a mempool failed (out of DPDK memory, name taken).
    #[error("mempool {name}: {reason}")]
    Mempool {
        /// The pool name.
        name: String,
        /// DPDK's reason.
        reason: String,
    },
    /// Creating or finding an `rte_ring` failed.
    #[error("ring {name}: {reason}")]
    Ring {
        /// The ring name.
        name: String,
        /// DPDK's reason.
        reason: String,
    },
    /// The driver refused a steering rule (`rte_flow`).
    #[error("port {port}: flow rule {rule}: {reason}")]
    Flow {
        /// The port id.
        port: u16,
        /// The rule, as text.
        rule: String,
        /// The driver's reason.
        reason: String,
    },
    /// Steering by flow rules is required (`steering = "flow"`) and the port cannot do it.
    #[error(
        "port {port} ({driver}): steering = \"flow\" needs rte_flow rules, which failed: {reason}; \
         set [dataplane.dpdk] steering = \"auto\" or \"rss\" to run with RSS and the hand-off ring instead"
    )]
    Steering {
        /// The port id.
        port: u16,
        /// The port's driver.
        driver: String,
        /// Why.
        reason: String,
    },
    /// Launching a function on an lcore failed (not an EAL worker lcore, or busy).
    #[error("cannot launch on lcore {lcore}: {reason}")]
    Launch {
        /// The lcore id.
        lcore: u32,
        /// DPDK's reason.
        reason: String,
    },
}

/// DPDK's text for error number `e` (positive errno or an `rte_errno` value).
pub(crate) fn strerror(e: i32) -> String {
    let e = e.abs();
    // SAFETY: rte_strerror returns a pointer to a static or thread-local NUL-terminated string
    // (never NULL), valid until the next call on this thread; it is copied at once.
    unsafe { CStr::from_ptr(dpdk_sys::rte_strerror(e)) }
        .to_string_lossy()
        .into_owned()
}

/// The calling thread's `rte_errno`.
pub(crate) fn last_errno() -> i32 {
    // SAFETY: reads the calling thread's rte_errno; no preconditions.
    unsafe { dpdk_sys::fv_errno() }
}

/// The calling thread's `rte_errno` as text.
pub(crate) fn last_error() -> String {
    // SAFETY: reads the calling thread's rte_errno; no preconditions.
    strerror(unsafe { dpdk_sys::fv_errno() })
}

/// The TSC frequency in Hz (0 before the EAL is started).
pub fn tsc_hz() -> u64 {
    // SAFETY: a plain getter with no preconditions (returns 0 before EAL init).
    unsafe { dpdk_sys::rte_get_tsc_hz() }
}

/// The time stamp counter now.
#[inline]
pub fn rdtsc() -> u64 {
    // SAFETY: reads the TSC; no preconditions.
    unsafe { dpdk_sys::fv_rdtsc() }
}
