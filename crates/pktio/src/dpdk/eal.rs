//! The EAL: started once per process from an [`EalConfig`]; closures run on its lcores.

use super::{last_error, strerror, DpdkError};
use std::ffi::{c_char, c_int, c_void, CString};
use std::sync::atomic::{AtomicBool, Ordering};

/// Set once `rte_eal_init` has been called in this process (it may be called only once, even
/// after a failure or `rte_eal_cleanup`).
static STARTED: AtomicBool = AtomicBool::new(false);

/// How to start the EAL. [`EalConfig::args`] turns it into the EAL command line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EalConfig {
    /// `argv[0]` (shows in DPDK's logs).
    pub program: String,
    /// `-l`: the lcores (CPU ids) the EAL runs threads on; the first is the main lcore unless
    /// [`main_lcore`](Self::main_lcore) says otherwise. Empty: the EAL's default (all CPUs).
    pub lcores: Vec<u32>,
    /// `--main-lcore`.
    pub main_lcore: Option<u32>,
    /// `-a`: PCI devices (`0000:3b:00.0`, with optional `,key=value` driver arguments) to use;
    /// the others are left alone. Empty and no vdevs: `--no-pci` is not implied.
    pub allow: Vec<String>,
    /// `--vdev`: virtual devices (`net_ring0`, `net_af_packet0,iface=veth0`, `net_tap0,...`).
    pub vdevs: Vec<String>,
    /// `--no-pci`: skip the PCI bus entirely (vdev-only setups, tests).
    pub no_pci: bool,
    /// `--no-huge`: ordinary pages instead of hugepages (tests and small setups; no physical
    /// addresses, so only vdevs and IOMMU-backed NICs work).
    pub no_huge: bool,
    /// `-m`: memory to reserve, MiB.
    pub memory_mb: Option<u32>,
    /// `--file-prefix`: runtime-file prefix, different for every DPDK process on a host.
    pub file_prefix: Option<String>,
    /// `--in-memory`: no shared runtime files at all (implies a private process).
    pub in_memory: bool,
    /// `--log-level` values (`lib.eal:error`, `7`...).
    pub log_levels: Vec<String>,
    /// Further EAL arguments, appended as given.
    pub extra: Vec<String>,
}

impl EalConfig {
    /// The EAL command line, `argv[0]` first.
    pub fn args(&self) -> Vec<String> {
        let mut a = vec![if self.program.is_empty() {
            "ferrovox".to_owned()
        } else {
            self.program.clone()
        }];
        if !self.lcores.is_empty() {
            let list: Vec<String> = self.lcores.iter().map(u32::to_string).collect();
            a.push("-l".into());
            a.push(list.join(","));
        }
        if let Some(m) = self.main_lcore {
            a.push("--main-lcore".into());
            a.push(m.to_string());
        }
        for d in &self.allow {
            a.push("-a".into());
            a.push(d.clone());
        }
        for v in &self.vdevs {
            a.push("--vdev".into());
            a.push(v.clone());
        }
        if self.no_pci {
            a.push("--no-pci".into());
        }
        if self.no_huge {
            a.push("--no-huge".into());
        }
        if let Some(m) = self.memory_mb {
            a.push("-m".into());
            a.push(m.to_string());
        }
        if let Some(p) = &self.file_prefix {
            a.push("--file-prefix".into());
            a.push(p.clone());
        }
        if self.in_memory {
            a.push("--in-memory".into());
        }
        for l in &self.log_levels {
            a.push("--log-level".into());
            a.push(l.clone());
        }
        a.extend(self.extra.iter().cloned());
        a
    }
}

/// The running EAL of this process (at most one value ever exists).
#[derive(Debug)]
pub struct Eal {
    /// The arguments it was started with (DPDK may keep pointers into argv: they live here).
    _argv: Vec<CString>,
    args: String,
}

impl Eal {
    /// Starts the EAL. Fails if it was already started (or attempted) in this process, or if
    /// `rte_eal_init` fails; nothing falls back silently.
    pub fn start(cfg: &EalConfig) -> Result<Self, DpdkError> {
        let args = cfg.args();
        let joined = args.join(" ");
        let argv: Vec<CString> = args
            .iter()
            .map(|a| CString::new(a.as_str()).map_err(|_| DpdkError::BadName(a.clone())))
            .collect::<Result<_, _>>()?;
        if STARTED.swap(true, Ordering::SeqCst) {
            return Err(DpdkError::EalAlreadyStarted);
        }
        let mut ptrs: Vec<*mut c_char> = argv.iter().map(|a| a.as_ptr().cast_mut()).collect();
        let argc = c_int::try_from(ptrs.len()).unwrap_or(c_int::MAX);
        // SAFETY: `ptrs` holds `argc` pointers to NUL-terminated strings owned by `argv`, which
        // the returned Eal keeps alive for the life of the process; rte_eal_init may permute the
        // pointer array (ours, not reused) but does not write the strings. STARTED guarantees one
        // call per process.
        let rc = unsafe { dpdk_sys::rte_eal_init(argc, ptrs.as_mut_ptr()) };
        if rc < 0 {
            return Err(DpdkError::EalInit {
                args: joined,
                reason: last_error(),
            });
        }
        Ok(Self {
            _argv: argv,
            args: joined,
        })
    }

    /// The EAL arguments in use.
    pub fn args(&self) -> &str {
        &self.args
    }

    /// The main lcore (the thread that called [`Eal::start`]).
    pub fn main_lcore(&self) -> u32 {
        // SAFETY: a getter, valid once the EAL is started (self proves it).
        unsafe { dpdk_sys::rte_get_main_lcore() }
    }

    /// The worker lcores (every enabled lcore but the main one), ascending.
    pub fn worker_lcores(&self) -> Vec<u32> {
        let mut out = Vec::new();
        // RTE_MAX_LCORE is returned when there are no more.
        let max = dpdk_sys::RTE_MAX_LCORE;
        // SAFETY: a getter over the EAL's lcore table, valid once the EAL is started.
        let mut l = unsafe { dpdk_sys::rte_get_next_lcore(u32::MAX, 1, 0) };
        while l < max {
            out.push(l);
            // SAFETY: as above.
            l = unsafe { dpdk_sys::rte_get_next_lcore(l, 1, 0) };
        }
        out
    }

    /// The NUMA socket of `lcore`.
    pub fn lcore_socket(&self, lcore: u32) -> u32 {
        // SAFETY: a getter; an out-of-range lcore yields an invalid socket id, not UB.
        unsafe { dpdk_sys::rte_lcore_to_socket_id(lcore) }
    }

    /// The lcore id of the calling thread, if it is an EAL thread.
    pub fn current_lcore() -> Option<u32> {
        // SAFETY: reads a thread-local; no preconditions.
        let id = unsafe { dpdk_sys::fv_lcore_id() };
        (id < dpdk_sys::RTE_MAX_LCORE).then_some(id)
    }

    /// Runs `f` on worker lcore `lcore` (pinned to its CPU by the EAL). The lcore runs one
    /// function at a time; [`LcoreJoin::join`] waits for it.
    pub fn launch<F>(&self, lcore: u32, f: F) -> Result<LcoreJoin, DpdkError>
    where
        F: FnOnce() + Send + 'static,
    {
        let boxed: Box<Box<dyn FnOnce() + Send>> = Box::new(Box::new(f));
        let arg = Box::into_raw(boxed).cast::<c_void>();
        // SAFETY: `trampoline` takes back ownership of `arg` exactly once when DPDK runs it; if
        // the launch fails DPDK never calls it, and ownership is taken back below.
        let rc = unsafe { dpdk_sys::rte_eal_remote_launch(Some(trampoline), arg, lcore) };
        if rc != 0 {
            // SAFETY: the launch failed, so `arg` was not handed to the lcore; this is its only
            // owner.
            drop(unsafe { Box::from_raw(arg.cast::<Box<dyn FnOnce() + Send>>()) });
            return Err(DpdkError::Launch {
                lcore,
                reason: strerror(rc),
            });
        }
        Ok(LcoreJoin { lcore })
    }
}

/// Runs the boxed closure handed to `rte_eal_remote_launch`.
unsafe extern "C" fn trampoline(arg: *mut c_void) -> c_int {
    // SAFETY: `arg` is the Box::into_raw of `Eal::launch`, passed to exactly one launch.
    let f = unsafe { Box::from_raw(arg.cast::<Box<dyn FnOnce() + Send>>()) };
    // A panic must not unwind into C.
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(()) => 0,
        Err(_) => -1,
    }
}

/// A function running on an lcore.
#[derive(Debug)]
#[must_use = "join the lcore to wait for its function"]
pub struct LcoreJoin {
    lcore: u32,
}

impl LcoreJoin {
    /// The lcore.
    pub fn lcore(&self) -> u32 {
        self.lcore
    }

    /// Waits for the function to return; true if it returned normally (false if it panicked).
    pub fn join(self) -> bool {
        // SAFETY: waits on an lcore this process launched on; no memory is shared through it.
        unsafe { dpdk_sys::rte_eal_wait_lcore(self.lcore) == 0 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args_follow_the_config() {
        let cfg = EalConfig {
            program: "fv".into(),
            lcores: vec![0, 1],
            allow: vec!["0000:3b:00.0".into()],
            vdevs: vec!["net_ring0".into()],
            no_pci: false,
            no_huge: true,
            memory_mb: Some(256),
            file_prefix: Some("fv1".into()),
            log_levels: vec!["lib.eal:error".into()],
            extra: vec!["--no-telemetry".into()],
            ..EalConfig::default()
        };
        assert_eq!(
            cfg.args().join(" "),
            "fv -l 0,1 -a 0000:3b:00.0 --vdev net_ring0 --no-huge -m 256 --file-prefix fv1 \
             --log-level lib.eal:error --no-telemetry"
        );
        assert_eq!(EalConfig::default().args(), vec!["ferrovox".to_owned()]);
    }
}
