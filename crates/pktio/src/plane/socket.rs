//! The socket backend's workers: one thread per `[dataplane] worker_cores` entry, pinned to
//! its core, each blocking in epoll over the relay sockets of the ports it owns (the control
//! plane binds a port's socket and hands it to the owner in its `FlowCommand::Install`).

use super::{Plan, PlaneError, Wiring};
use crate::socket::{pin_current_thread, raise_fd_limit, SocketIo, Waker};
use dataplane::Worker;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::AtomicBool;
use std::thread::JoinHandle;

/// The running worker threads.
#[derive(Debug)]
pub(super) struct SocketWorkers {
    /// Worker index and thread, until joined.
    threads: Vec<(usize, JoinHandle<()>)>,
    /// Each worker's waker (to cut its wait short at stop).
    wakers: Vec<Waker>,
}

impl SocketWorkers {
    /// Wakes every worker from its epoll wait.
    pub(super) fn wake_all(&self) {
        for w in &self.wakers {
            w.wake();
        }
    }

    /// Waits for every thread (after the stop flag was set); returns the workers that
    /// panicked.
    pub(super) fn join(&mut self) -> Vec<usize> {
        std::mem::take(&mut self.threads)
            .into_iter()
            .filter_map(|(id, t)| t.join().is_err().then_some(id))
            .collect()
    }
}

/// Checks that every relay address can be bound here, raises the open-file limit, and starts
/// one worker thread per worker core.
pub(super) fn start(plan: &Plan, wiring: &mut Wiring) -> Result<SocketWorkers, PlaneError> {
    check_addresses(plan.cfg)?;
    log_fd_limit();
    let d = &plan.cfg.dataplane;
    let mut out = SocketWorkers {
        threads: Vec::with_capacity(d.worker_cores.len()),
        wakers: Vec::with_capacity(d.worker_cores.len()),
    };
    for (id, &core) in d.worker_cores.iter().enumerate() {
        let io = SocketIo::new(plan.cfg.interfaces.len(), d.burst, d.io_uring)
            .map_err(|error| PlaneError::WorkerIo { worker: id, error })?;
        tracing::info!(worker = id, io_uring = io.uses_io_uring(), "socket backend");
        out.wakers.push(io.waker());
        let worker = wiring.add(io.waker()).worker(plan.params(id), io);
        let stop = plan.stop.clone();
        let thread = std::thread::Builder::new()
            .name(format!("fv-worker-{id}"))
            .spawn(move || run(worker, id, core, &stop))
            .map_err(|error| PlaneError::Thread { worker: id, error })?;
        out.threads.push((id, thread));
    }
    Ok(out)
}

/// A worker thread: pins itself to `core` and relays until `stop`.
fn run(mut worker: Worker<SocketIo>, id: usize, core: u32, stop: &AtomicBool) {
    if let Err(e) = pin_current_thread(core as usize) {
        tracing::warn!(worker = id, core, error = %e, "cannot pin worker");
    }
    tracing::info!(worker = id, core, "worker started");
    worker.run(stop);
}

/// Every `[[interface]]` address must be one this host can bind (a relay port is a socket on
/// it): binds an ephemeral UDP port on each and lets it go.
fn check_addresses(cfg: &config::Config) -> Result<(), PlaneError> {
    for (index, iface) in cfg.interfaces.iter().enumerate() {
        UdpSocket::bind(SocketAddr::new(iface.address, 0)).map_err(|error| {
            PlaneError::Address {
                index,
                address: iface.address,
                error,
            }
        })?;
    }
    Ok(())
}

/// Raises the open-file limit (one socket per relay port) and logs what it is.
fn log_fd_limit() {
    match raise_fd_limit() {
        // Four sockets per call (RTP and RTCP on each leg) plus a few for the process.
        Ok(n) => tracing::info!(
            open_files = n,
            calls = n.saturating_sub(64) / 4,
            "open-file limit"
        ),
        Err(e) => tracing::warn!(error = %e, "cannot raise the open-file limit"),
    }
}
