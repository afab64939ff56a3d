//! `[dataplane]`: packet I/O backend, worker cores, burst size; `[dataplane.dpdk]` in [`dpdk`].

use serde::Deserialize;

use crate::check::{choice, int_in, opt_int_in};
use crate::error::{key, ConfigError};

pub mod dpdk;
#[cfg(test)]
mod tests;

/// Most worker cores one daemon runs (`dataplane.worker_cores` length).
pub const MAX_WORKERS: usize = 256;

/// Largest rx/tx burst (`dataplane.burst`).
pub const MAX_BURST: usize = 512;

/// Which packet I/O the workers use (`dataplane.backend`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// Kernel UDP sockets; runs anywhere, no root needed (the default).
    #[default]
    Socket,
    /// DPDK poll-mode drivers. The config accepts it; a daemon built without DPDK refuses to
    /// start with it rather than fall back to sockets.
    Dpdk,
}

impl Backend {
    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Socket => "socket",
            Backend::Dpdk => "dpdk",
        }
    }
}

/// The `[dataplane]` section. Every key is optional.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataplaneConfig {
    /// `backend`: socket | dpdk; default `socket`.
    pub backend: Backend,
    /// `worker_cores`: CPU ids, one pinned relay worker on each; 1..=256 entries, no id twice.
    /// Default `[0]`. Whether the ids exist is checked by [`crate::validate_host`].
    pub worker_cores: Vec<u32>,
    /// `control_core`: CPU id the control thread is pinned to; `None` (key absent, the default)
    /// leaves it unpinned. It may equal a worker core on small boxes.
    pub control_core: Option<u32>,
    /// `burst`: packets per rx/tx burst, 1..=512; default 32.
    pub burst: usize,
    /// `io_uring`: the socket backend batches each burst's receives and sends across sockets
    /// with io_uring where the kernel allows it (it falls back by itself otherwise); false
    /// keeps to `recvmmsg`/`sendmmsg`. Default false: on the kernels measured so far the
    /// per-socket `recvmmsg`/`sendmmsg` path relays more packets per core (benches/README.md).
    pub io_uring: bool,
    /// `[dataplane.dpdk]`: EAL options and ports. Checked whenever present; a daemon started
    /// with `backend = "dpdk"` and no such section refuses to start (naming this key).
    pub dpdk: Option<dpdk::DpdkConfig>,
}

impl Default for DataplaneConfig {
    fn default() -> Self {
        DataplaneConfig {
            backend: Backend::Socket,
            worker_cores: vec![0],
            control_core: None,
            burst: 32,
            io_uring: false,
            dpdk: None,
        }
    }
}

/// `[dataplane]` as written, before checks.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a [dataplane] table")]
pub(crate) struct RawDataplane {
    backend: Option<String>,
    worker_cores: Option<Vec<i64>>,
    control_core: Option<i64>,
    burst: Option<i64>,
    io_uring: Option<bool>,
    dpdk: Option<dpdk::RawDpdk>,
}

/// Largest CPU id the config accepts (ids are `u32`).
const MAX_CPU_ID: i64 = u32::MAX as i64;

impl RawDataplane {
    /// Checks every key and fills in the defaults.
    pub(crate) fn build(self) -> Result<DataplaneConfig, ConfigError> {
        let d = DataplaneConfig::default();
        let worker_cores = match self.worker_cores {
            Some(ids) => worker_cores(&ids)?,
            None => d.worker_cores,
        };
        let control_core = match self.control_core {
            Some(id) => Some(int_in("dataplane.control_core", id, 0, MAX_CPU_ID)?),
            None => d.control_core,
        };
        let backend = choice("dataplane.backend", self.backend.as_deref(), d.backend)?;
        let xdp_queues = self.dpdk.as_ref().map(dpdk::DpdkConfig::raw_af_xdp_queues);
        let mut dpdk = self.dpdk.map(dpdk::RawDpdk::build).transpose()?;
        if let (Some(d), Some(q)) = (dpdk.as_mut(), xdp_queues) {
            d.fit_af_xdp_queues(&q, worker_cores.len())?;
        }
        Ok(DataplaneConfig {
            backend,
            worker_cores,
            control_core,
            burst: opt_int_in("dataplane.burst", self.burst, 1, MAX_BURST as i64, d.burst)?,
            io_uring: self.io_uring.unwrap_or(d.io_uring),
            dpdk,
        })
    }
}

/// `worker_cores`: 1..=256 non-negative ids, each at most once.
fn worker_cores(ids: &[i64]) -> Result<Vec<u32>, ConfigError> {
    const PATH: &str = "dataplane.worker_cores";
    if ids.is_empty() || ids.len() > MAX_WORKERS {
        return Err(key(
            PATH,
            format!(
                "must list between 1 and {MAX_WORKERS} CPU ids, got {}",
                ids.len()
            ),
        ));
    }
    let mut out: Vec<u32> = Vec::with_capacity(ids.len());
    for (i, &id) in ids.iter().enumerate() {
        let path = format!("{PATH}[{i}]");
        let id: u32 = int_in(&path, id, 0, MAX_CPU_ID)?;
        if let Some(first) = out.iter().position(|&seen| seen == id) {
            return Err(key(
                path,
                format!("CPU {id} is already listed at {PATH}[{first}]; one worker per core"),
            ));
        }
        out.push(id);
    }
    Ok(out)
}
