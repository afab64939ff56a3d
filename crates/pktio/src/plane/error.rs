//! Why a data plane did not start (or did not stop cleanly).

use crate::IoError;
use dataplane::LayoutError;
use std::net::IpAddr;

/// Errors of [`super::DataPlane`]. Each names the config key or the step that failed; the
/// underlying reason is part of the message.
#[derive(Debug, thiserror::Error)]
pub enum PlaneError {
    /// The `[[interface]]` port ranges cannot be laid out over the workers.
    #[error("[[interface]] port ranges: {0}")]
    Layout(LayoutError),
    /// More workers than port pairs: some worker would own no relay port.
    #[error(
        "dataplane.worker_cores: {workers} workers, but the largest [[interface]] port range \
         holds {pairs} port pairs: worker {worker} would own no relay port"
    )]
    IdleWorker {
        /// Workers configured.
        workers: usize,
        /// Port pairs of the largest range.
        pairs: u32,
        /// The first worker without a port.
        worker: usize,
    },
    /// A relay address of the socket backend cannot be bound on this host.
    #[error("interface[{index}].address: cannot bind a relay port on {address}: {error}")]
    Address {
        /// The `[[interface]]` entry.
        index: usize,
        /// Its address.
        address: IpAddr,
        /// The bind error.
        error: std::io::Error,
    },
    /// `backend = "dpdk"` in a build without the `dpdk` feature.
    #[error(
        "dataplane.backend = \"dpdk\": this build has no DPDK support (build ferrovox with the \
         `dpdk` cargo feature: cargo build -p ferrovox --features dpdk); or use backend = \"socket\""
    )]
    NoDpdk,
    /// A worker's packet I/O backend could not be set up (sockets: epoll, eventfd, io_uring;
    /// DPDK: the queues and rings of its ports).
    #[error("worker {worker}: packet I/O backend: {error}")]
    WorkerIo {
        /// The worker.
        worker: usize,
        /// What failed.
        error: IoError,
    },
    /// A worker thread could not be started.
    #[error("cannot start the thread of worker {worker}: {error}")]
    Thread {
        /// The worker.
        worker: usize,
        /// The spawn error.
        error: std::io::Error,
    },
    /// `backend = "dpdk"` without a `[dataplane.dpdk]` section.
    #[error(
        "dataplane.backend = \"dpdk\" needs a [dataplane.dpdk] section (EAL options and at \
         least one [[dataplane.dpdk.port]])"
    )]
    NoDpdkSection,
    /// A `[[dataplane.dpdk.port]]` lists an interface name no `[[interface]]` has.
    #[error("dataplane.dpdk.port[{port}].interfaces[{entry}]: no [[interface]] is named {name:?}")]
    UnknownInterface {
        /// The port entry.
        port: usize,
        /// The position in its `interfaces`.
        entry: usize,
        /// The name.
        name: String,
    },
    /// An `[[interface]]` is on no `[[dataplane.dpdk.port]]`.
    #[error(
        "interface[{index}] ({name} {address}): on no [[dataplane.dpdk.port]]; list {name:?} \
         in one port's interfaces"
    )]
    UnplacedInterface {
        /// The `[[interface]]` entry.
        index: usize,
        /// Its name.
        name: String,
        /// Its address.
        address: IpAddr,
    },
    /// An `[[interface]]` is on several `[[dataplane.dpdk.port]]`s.
    #[error(
        "interface[{index}] ({name}): listed on several [[dataplane.dpdk.port]] entries {ports:?}"
    )]
    InterfaceOnSeveralPorts {
        /// The `[[interface]]` entry.
        index: usize,
        /// Its name.
        name: String,
        /// The port entries listing it.
        ports: Vec<usize>,
    },
    /// More workers than a DPDK port has queue ids.
    #[error("dataplane.worker_cores: {0} workers are more than a DPDK port has queues")]
    TooManyQueues(usize),
    /// The EAL did not give one worker lcore per worker core.
    #[error("dataplane.worker_cores: {workers} workers but the EAL has {lcores} worker lcores")]
    LcoreCount {
        /// Workers configured.
        workers: usize,
        /// Worker lcores the EAL has.
        lcores: usize,
    },
    /// A DPDK step failed; `what` names it (and the config key it follows).
    #[cfg(feature = "dpdk")]
    #[error("{what}: {error}")]
    Dpdk {
        /// The step.
        what: String,
        /// DPDK's error.
        error: crate::dpdk::DpdkError,
    },
    /// Workers (by index) ended with a panic instead of returning.
    #[error("data-plane worker(s) {0:?} ended with a panic")]
    WorkerPanicked(Vec<usize>),
}
