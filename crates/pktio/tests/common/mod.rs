//! What the DPDK test files share: one `--no-huge` EAL per test process (each file is its own
//! process, with its own `--file-prefix`) and `net_ring` ports with their pools.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use pktio::dpdk::{Eal, EalConfig, EthPort, Mempool, PortSetup, RingPort};
use std::sync::{Arc, OnceLock};

/// Starts the process's EAL on first use: lcore 0, no PCI, no hugepages, 128 MiB, quiet logs.
pub fn eal(program: &str, vdevs: &[&str]) -> &'static Eal {
    static EAL: OnceLock<Eal> = OnceLock::new();
    EAL.get_or_init(|| {
        let cfg = EalConfig {
            program: program.into(),
            lcores: vec![0],
            vdevs: vdevs.iter().map(|v| v.to_string()).collect(),
            no_pci: true,
            no_huge: true,
            memory_mb: Some(128),
            file_prefix: Some(format!("fv-{program}-{}", std::process::id())),
            log_levels: vec!["lib.eal:error".into()],
            extra: vec!["--no-telemetry".into()],
            ..EalConfig::default()
        };
        Eal::start(&cfg).expect("EAL starts on --no-huge")
    })
}

/// A started `net_ring` port with `queues` queue pairs and its pool.
pub struct Rig {
    /// The rings behind the port (inject / take what it sent).
    pub ring: RingPort,
    /// The port.
    pub port: Arc<EthPort>,
    /// Its mbuf pool (1023 buffers).
    pub pool: Arc<Mempool>,
}

/// Creates and starts ring port `name` on `eal`.
pub fn rig(eal: &Eal, name: &str, queues: u16) -> Rig {
    let pool = Arc::new(Mempool::new(eal, &format!("{name}_pool"), 1023, 0, 2176, 0).unwrap());
    let ring = RingPort::create(eal, name, queues, 256, pool.clone()).unwrap();
    let setup = PortSetup {
        queues,
        rx_desc: 128,
        tx_desc: 128,
        pools: vec![pool.clone()],
        ..PortSetup::default()
    };
    let port = Arc::new(EthPort::start(eal, ring.port_id(), &setup).unwrap());
    Rig { ring, port, pool }
}
