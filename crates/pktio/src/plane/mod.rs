//! The data plane assembled from the configuration.
//!
//! [`DataPlane::start`] lays the relay ports of the `[[interface]]`s out over the workers
//! (`dataplane::PortLayout`: the owner of a port is a pure function of its number), starts one
//! `dataplane::Worker` per `[dataplane] worker_cores` entry on the backend `[dataplane]
//! backend` names, and hands the control plane what it needs: per worker a [`WorkerLink`] (the
//! producer of its command ring, the consumer of its event ring, its waker) and its published
//! counters.
//!
//! - socket backend ([`socket`]): one thread per worker, pinned to its core, blocking in epoll
//!   over the relay sockets it owns;
//! - DPDK backend (`dpdk`, cargo feature `dpdk`): the EAL, one mbuf pool per NUMA socket, the
//!   ports with one queue pair per worker, steering, and one busy-polling worker per EAL lcore.
//!
//! Nothing falls back: a backend that cannot start is a [`PlaneError`] naming the config key
//! or the step that failed, and nothing is left running. [`DataPlane::join`] (or dropping the
//! plane) stops the workers and waits for every one of them.

#[cfg(feature = "dpdk")]
mod dpdk;
mod error;
mod nic;
mod socket;

pub use error::PlaneError;
pub use nic::{NicPort, NicStats};

use crate::socket::Waker;
use crate::PacketIo;
use config::{Backend as BackendKind, Config};
use dataplane::{
    AddrRange, FlowCommand, FlowEvent, PortLayout, SharedCounters, Worker, WorkerParams,
};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Command and event ring sizes per worker.
const RING: usize = 8192;
/// Workers' housekeeping period (idle sweep slice, counter publication).
const TICK: Duration = Duration::from_millis(20);

/// The control plane's end of one worker's rings.
#[derive(Debug)]
pub struct WorkerLink {
    /// Commands to the worker.
    pub commands: rtrb::Producer<FlowCommand>,
    /// Events from the worker.
    pub events: rtrb::Consumer<FlowEvent>,
    /// Wakes the worker when commands are queued (a no-op for busy-polling workers).
    pub waker: Waker,
}

/// How the relay ports of one DPDK port reach their owning workers, as decided at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortSteering {
    /// One queue: nothing to steer.
    Single,
    /// `rte_flow` rules send each relay port to its owner's queue.
    Flow {
        /// Rules installed.
        rules: usize,
    },
    /// Degraded: RSS spreads frames and those on a wrong queue reach their owner over the
    /// hand-off ring.
    Fallback {
        /// The RSS redirection table was spread evenly over the queues.
        reta: bool,
        /// Why no rules are used (the refused rule and the driver's reason, or the config).
        reason: String,
    },
}

/// The running backend.
#[derive(Debug)]
enum Backend {
    /// Worker threads over kernel sockets.
    Socket(socket::SocketWorkers),
    /// Worker lcores over DPDK ports.
    #[cfg(feature = "dpdk")]
    Dpdk(dpdk::DpdkWorkers),
}

/// The running data plane: the workers (threads or lcores) and what the control plane talks
/// to them through. Dropping it stops and joins the workers, as [`DataPlane::join`] does.
#[derive(Debug)]
pub struct DataPlane {
    backend: Backend,
    layout: Arc<PortLayout>,
    links: Vec<WorkerLink>,
    counters: Vec<Arc<SharedCounters>>,
    stop: Arc<AtomicBool>,
    joined: bool,
}

impl DataPlane {
    /// Starts the data plane `cfg` describes; `epoch` is the clock origin the workers share
    /// with the control plane (record times are milliseconds since it). The calling thread
    /// is pinned to `[dataplane] control_core` when one is set: it is meant to run the
    /// control plane. On error nothing keeps running.
    pub fn start(cfg: &Config, epoch: Instant) -> Result<Self, PlaneError> {
        let layout = Arc::new(layout(cfg)?);
        let stop = Arc::new(AtomicBool::new(false));
        let plan = Plan {
            cfg,
            layout: layout.clone(),
            epoch,
            stop: stop.clone(),
        };
        let mut wiring = Wiring::default();
        let started = match cfg.dataplane.backend {
            BackendKind::Socket => socket::start(&plan, &mut wiring).map(Backend::Socket),
            #[cfg(feature = "dpdk")]
            BackendKind::Dpdk => dpdk::start(&plan, &mut wiring).map(Backend::Dpdk),
            #[cfg(not(feature = "dpdk"))]
            BackendKind::Dpdk => Err(PlaneError::NoDpdk),
        };
        let backend = started.inspect_err(|_| {
            // Workers already started see the flag and return.
            stop.store(true, Ordering::Relaxed);
        })?;
        pin_control(cfg);
        Ok(Self {
            backend,
            layout,
            links: wiring.links,
            counters: wiring.counters,
            stop,
            joined: false,
        })
    }

    /// The port layout the workers run (the control plane allocates by it).
    pub fn layout(&self) -> Arc<PortLayout> {
        self.layout.clone()
    }

    /// Number of workers.
    pub fn workers(&self) -> usize {
        self.counters.len()
    }

    /// Hands over the control plane's ends of the workers' rings, worker `w` at index `w`
    /// (the first call gets them all; later calls get none).
    pub fn take_links(&mut self) -> Vec<WorkerLink> {
        std::mem::take(&mut self.links)
    }

    /// The counters each worker publishes, worker `w` at index `w`.
    pub fn counters(&self) -> &[Arc<SharedCounters>] {
        &self.counters
    }

    /// True when the media runs on the DPDK fast path (no kernel socket per relay port).
    pub fn fastpath_active(&self) -> bool {
        match &self.backend {
            Backend::Socket(_) => false,
            #[cfg(feature = "dpdk")]
            Backend::Dpdk(_) => true,
        }
    }

    /// How each DPDK port steers frames to their owners, in `[[dataplane.dpdk.port]]` order;
    /// empty for the socket backend (the owning worker holds the socket).
    pub fn steering(&self) -> Vec<PortSteering> {
        match &self.backend {
            Backend::Socket(_) => Vec::new(),
            #[cfg(feature = "dpdk")]
            Backend::Dpdk(d) => d.steering(),
        }
    }

    /// The DPDK ports, in `[[dataplane.dpdk.port]]` order, whose NIC counters can be read
    /// from any thread; empty for the socket backend.
    pub fn nic_ports(&self) -> Vec<NicPort> {
        match &self.backend {
            Backend::Socket(_) => Vec::new(),
            #[cfg(feature = "dpdk")]
            Backend::Dpdk(d) => d.nic_ports(),
        }
    }

    /// True when some port runs the degraded steering (RSS + hand-off ring).
    pub fn steering_degraded(&self) -> bool {
        self.steering()
            .iter()
            .any(|s| matches!(s, PortSteering::Fallback { .. }))
    }

    /// Tells every worker to return (they do within a housekeeping tick); [`DataPlane::join`]
    /// waits for them.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
        match &self.backend {
            Backend::Socket(s) => s.wake_all(),
            // Busy-polling lcores see the flag at their next loop.
            #[cfg(feature = "dpdk")]
            Backend::Dpdk(_) => {}
        }
    }

    /// Stops the workers and waits for every one; fails when some worker panicked.
    pub fn join(mut self) -> Result<(), PlaneError> {
        self.join_workers()
    }

    fn join_workers(&mut self) -> Result<(), PlaneError> {
        self.stop();
        self.joined = true;
        let panicked = match &mut self.backend {
            Backend::Socket(s) => s.join(),
            #[cfg(feature = "dpdk")]
            Backend::Dpdk(d) => d.join(),
        };
        if panicked.is_empty() {
            Ok(())
        } else {
            Err(PlaneError::WorkerPanicked(panicked))
        }
    }
}

impl Drop for DataPlane {
    fn drop(&mut self) {
        if !self.joined {
            if let Err(e) = self.join_workers() {
                tracing::error!(error = %e, "data plane stopped");
            }
        }
    }
}

/// The port layout of `cfg`: every `[[interface]]` range over `worker_cores.len()` workers,
/// each worker owning at least one port pair.
fn layout(cfg: &Config) -> Result<PortLayout, PlaneError> {
    let ranges = cfg
        .interfaces
        .iter()
        .map(|i| AddrRange {
            port_min: i.port_min,
            port_max: i.port_max,
        })
        .collect();
    let workers = cfg.dataplane.worker_cores.len();
    let layout = PortLayout::new(ranges, workers).map_err(PlaneError::Layout)?;
    if let Some(worker) = (0..workers).find(|&w| layout.records(w) == 0) {
        let pairs = layout.ranges().iter().map(AddrRange::pairs).max();
        return Err(PlaneError::IdleWorker {
            workers,
            pairs: pairs.unwrap_or(0),
            worker,
        });
    }
    Ok(layout)
}

/// Pins the calling (control) thread to `control_core`, when set.
fn pin_control(cfg: &Config) {
    if let Some(core) = cfg.dataplane.control_core {
        if let Err(e) = crate::socket::pin_current_thread(core as usize) {
            tracing::warn!(core, error = %e, "cannot pin the control thread");
        }
    }
}

/// What every backend's start reads.
struct Plan<'a> {
    cfg: &'a Config,
    layout: Arc<PortLayout>,
    epoch: Instant,
    stop: Arc<AtomicBool>,
}

impl Plan<'_> {
    /// Worker `id`'s settings.
    fn params(&self, id: usize) -> WorkerParams {
        WorkerParams {
            id,
            layout: self.layout.clone(),
            learning: self.cfg.media.learning,
            timeout: self.cfg.media.timeout,
            hold_timeout: self.cfg.media.hold_timeout,
            tick: TICK,
            epoch: self.epoch,
        }
    }
}

/// The control plane's ends of the rings, collected while the workers are built.
#[derive(Default)]
struct Wiring {
    links: Vec<WorkerLink>,
    counters: Vec<Arc<SharedCounters>>,
}

/// A worker's ends of its rings and its counters.
struct WorkerEnds {
    commands: rtrb::Consumer<FlowCommand>,
    events: rtrb::Producer<FlowEvent>,
    counters: Arc<SharedCounters>,
}

impl Wiring {
    /// The rings and counters of the next worker; `waker` wakes it.
    fn add(&mut self, waker: Waker) -> WorkerEnds {
        let (cmd_tx, cmd_rx) = rtrb::RingBuffer::new(RING);
        let (ev_tx, ev_rx) = rtrb::RingBuffer::new(RING);
        self.links.push(WorkerLink {
            commands: cmd_tx,
            events: ev_rx,
            waker,
        });
        let counters = Arc::new(SharedCounters::default());
        self.counters.push(counters.clone());
        WorkerEnds {
            commands: cmd_rx,
            events: ev_tx,
            counters,
        }
    }
}

impl WorkerEnds {
    /// The worker over `io`.
    fn worker<Io: PacketIo>(self, params: WorkerParams, io: Io) -> Worker<Io> {
        Worker::new(params, io, self.commands, self.events, self.counters)
    }
}
