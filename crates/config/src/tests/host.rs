//! `validate_host`: the CPU ids a config names must exist.

use super::{ok, with_iface};
use crate::{validate_host, ConfigError, HostFacts};

/// `validate_host` on `text` with `cpus` CPUs.
fn check(text: &str, cpus: usize) -> Result<(), ConfigError> {
    validate_host(&ok(text), &HostFacts { cpus })
}

/// The error must be a `Host` error at `path` whose message contains `reason` on one line.
#[track_caller]
fn assert_host_err(result: Result<(), ConfigError>, path: &str, reason: &str) {
    let e = match result {
        Ok(()) => panic!("expected a host error at {path}"),
        Err(e) => e,
    };
    assert!(
        matches!(&e, ConfigError::Host { path: p, .. } if p == path),
        "expected a Host error at {path}, got {e:?}"
    );
    let shown = e.to_string();
    assert!(shown.starts_with(path), "{shown}");
    assert!(shown.contains(reason), "{shown}");
    assert!(!shown.contains('\n'), "{shown}");
}

#[test]
fn cores_that_exist_pass() {
    let text = with_iface("[dataplane]\nworker_cores = [1, 2, 3]\ncontrol_core = 0");
    assert_eq!(check(&text, 4), Ok(()));
    // The default (worker on CPU 0, control unpinned) fits a one-CPU box.
    assert_eq!(check(&with_iface(""), 1), Ok(()));
    // The control core may share a worker core.
    let text = with_iface("[dataplane]\nworker_cores = [0]\ncontrol_core = 0");
    assert_eq!(check(&text, 1), Ok(()));
}

#[test]
fn a_worker_core_beyond_the_host_is_named() {
    let text = with_iface("[dataplane]\nworker_cores = [1, 2, 3, 4]");
    assert_host_err(
        check(&text, 4),
        "dataplane.worker_cores[3]",
        "CPU 4 does not exist on this host (it has 4 CPUs, ids 0 to 3)",
    );
    assert_host_err(
        check(&with_iface("[dataplane]\nworker_cores = [4294967295]"), 2),
        "dataplane.worker_cores[0]",
        "CPU 4294967295 does not exist",
    );
}

#[test]
fn a_control_core_beyond_the_host_is_named() {
    let text = with_iface("[dataplane]\ncontrol_core = 1");
    assert_host_err(
        check(&text, 1),
        "dataplane.control_core",
        "CPU 1 does not exist on this host (it has 1 CPU, id 0)",
    );
}

#[test]
fn a_host_with_no_cpus_fits_nothing() {
    assert_host_err(
        check(&with_iface(""), 0),
        "dataplane.worker_cores[0]",
        "it has no CPUs",
    );
}
