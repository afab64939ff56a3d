//! Checks of a parsed config against the host it is about to run on.

use crate::error::{host, ConfigError};
use crate::Config;

/// What the daemon knows of the host when it checks a config before starting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostFacts {
    /// Number of CPUs; valid CPU ids are `0..cpus`.
    pub cpus: usize,
}

/// Checks that every CPU the config names exists on the host: each of
/// `dataplane.worker_cores` and `dataplane.control_core` must be below `host.cpus`.
///
/// The first misfit is returned as [`ConfigError::Host`] naming the key.
pub fn validate_host(cfg: &Config, host_facts: &HostFacts) -> Result<(), ConfigError> {
    let cpus = host_facts.cpus;
    for (i, &id) in cfg.dataplane.worker_cores.iter().enumerate() {
        check_cpu(&format!("dataplane.worker_cores[{i}]"), id, cpus)?;
    }
    if let Some(id) = cfg.dataplane.control_core {
        check_cpu("dataplane.control_core", id, cpus)?;
    }
    Ok(())
}

/// CPU `id` exists when it is below the host's CPU count.
fn check_cpu(path: &str, id: u32, cpus: usize) -> Result<(), ConfigError> {
    // A u32 id that does not fit usize cannot exist either.
    let exists = usize::try_from(id).is_ok_and(|id| id < cpus);
    if exists {
        return Ok(());
    }
    let have = match cpus {
        0 => "no CPUs".to_owned(),
        1 => "1 CPU, id 0".to_owned(),
        n => format!("{n} CPUs, ids 0 to {}", n - 1),
    };
    Err(host(
        path,
        format!("CPU {id} does not exist on this host (it has {have})"),
    ))
}
