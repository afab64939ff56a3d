//! The DPDK data plane assembled from a config: a `--no-huge` EAL with a `net_ring` and a
//! `net_null` vdev, two workers on EAL lcores, steering as the config asks, stop and join;
//! and DPDK configs refused before the EAL starts.
//!
//! One EAL per process: only one test of this file starts a plane. It needs root (the EAL's
//! runtime directory, lcore pinning) and fails, never skips, without it.
#![cfg(feature = "dpdk")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use dataplane::{FlowCommand, FlowEvent, PortKey};
use pktio::plane::{DataPlane, PlaneError, PortSteering, WorkerLink};
use std::time::{Duration, Instant};

/// `[[interface]]`s and `[dataplane]` head shared by the configs below.
const INTERFACES: &str = "\n[[interface]]\nname = \"external\"\naddress = \"10.0.0.1\"\n\
                          port_min = 30000\nport_max = 30099\n\
                          \n[[interface]]\nname = \"internal\"\naddress = \"10.1.0.1\"\n\
                          port_min = 40000\nport_max = 40099\n";

/// Two workers on cores 0 and 1; `ports` are the `[[dataplane.dpdk.port]]` tables.
fn config(prefix: &str, ports: &str) -> config::Config {
    let text = format!(
        "[dataplane]\nbackend = \"dpdk\"\nworker_cores = [0, 1]\n\n\
         [dataplane.dpdk]\nvdevs = [\"net_ring0\", \"net_null0\"]\nno_huge = true\n\
         memory_mb = 256\nmbufs = 4095\nrx_desc = 256\ntx_desc = 256\n\
         file_prefix = \"{prefix}\"\nsteering = \"auto\"\n\
         eal_args = [\"--no-telemetry\", \"--log-level=lib.eal:error\"]\n\
         {ports}{INTERFACES}"
    );
    config::parse(&text).unwrap()
}

const TWO_PORTS: &str = "\n[[dataplane.dpdk.port]]\ndevice = \"net_ring0\"\n\
                         interfaces = [\"external\"]\nnext_hop_mac = \"02:00:00:00:00:20\"\n\
                         \n[[dataplane.dpdk.port]]\ndevice = \"net_null0\"\n\
                         interfaces = [\"internal\"]\nnext_hop_mac = \"02:00:00:00:00:21\"\n";

/// Fails the test (never skips it) when this process cannot start an EAL.
fn need_root() {
    // The effective user id: the second field of the `Uid:` line (proc(5)).
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let euid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|v| v.split_whitespace().nth(1))
        .map(str::to_owned);
    assert_eq!(
        euid.as_deref(),
        Some("0"),
        "plane_dpdk: the DPDK data plane test needs root (the EAL's runtime directory and \
         lcore pinning): run `cargo test -p pktio --features dpdk` as root"
    );
}

/// Queries a port no flow uses; the worker's answer proves its loop runs.
fn answers(link: &mut WorkerLink, w: usize, key: PortKey) {
    let token = 100 + w as u64;
    link.commands
        .push(FlowCommand::Query { token, key })
        .unwrap();
    link.waker.wake();
    let until = Instant::now() + Duration::from_secs(5);
    while Instant::now() < until {
        match link.events.pop() {
            Ok(FlowEvent::Stats { token: t, pair }) if t == token => {
                assert_eq!(pair, None, "worker {w}: nothing is installed");
                return;
            }
            Ok(other) => panic!("worker {w}: unexpected event {other:?}"),
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
    panic!("worker {w} did not answer within 5 s: its lcore is not running");
}

#[test]
fn dpdk_plane_starts_its_workers_reports_steering_and_joins() {
    need_root();
    let prefix = format!("fv-plane-{}", std::process::id());
    let cfg = config(&prefix, TWO_PORTS);
    let mut plane = DataPlane::start(&cfg, Instant::now()).unwrap();
    assert!(plane.fastpath_active(), "the DPDK backend is the fast path");
    assert_eq!(plane.workers(), 2);
    // Neither vdev takes rte_flow rules: `steering = "auto"` runs RSS + hand-off, reported.
    let steering = plane.steering();
    assert_eq!(steering.len(), 2, "{steering:?}");
    for (i, s) in steering.iter().enumerate() {
        match s {
            PortSteering::Fallback { reason, reta } => {
                assert!(!reason.is_empty(), "port {i}: no reason given");
                eprintln!("plane_dpdk: port {i}: fallback (reta {reta}): {reason}");
            }
            other => panic!("port {i}: expected the fallback, got {other:?}"),
        }
    }
    assert!(plane.steering_degraded());
    let layout = plane.layout();
    let mut links = plane.take_links();
    assert_eq!(links.len(), 2);
    for (w, link) in links.iter_mut().enumerate() {
        let key = layout.owned_rtp_ports(w, 0).next().unwrap();
        answers(link, w, key);
    }
    nic_counters_are_read(&plane);
    let t = Instant::now();
    plane.join().unwrap();
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "join took {:?}",
        t.elapsed()
    );
    let _ = std::fs::remove_dir_all(std::path::Path::new("/var/run/dpdk").join(&prefix));
}

/// The ports' NIC counters, read from this thread while the workers poll: net_null makes a
/// frame for every receive slot, so its counters move (one queue per worker).
fn nic_counters_are_read(plane: &DataPlane) {
    let nics = plane.nic_ports();
    let names: Vec<&str> = nics.iter().map(|n| n.name()).collect();
    assert_eq!(names, ["net_ring0", "net_null0"]);
    let first = nics[1].stats();
    assert_eq!(first.rx_queue_packets.len(), 2, "{first:?}");
    std::thread::sleep(Duration::from_millis(100));
    let later = nics[1].stats();
    assert!(
        later.rx_packets > first.rx_packets,
        "{first:?} then {later:?}"
    );
    assert!(later.rx_queue_packets.iter().sum::<u64>() > 0, "{later:?}");
}

/// Refused before the EAL starts (so this test may run beside the one above).
#[test]
fn dpdk_configs_that_cannot_be_placed_are_refused_before_the_eal() {
    let no_section = format!("[dataplane]\nbackend = \"dpdk\"\n{INTERFACES}");
    let cfg = config::parse(&no_section).unwrap();
    let err = DataPlane::start(&cfg, Instant::now()).unwrap_err();
    assert!(matches!(err, PlaneError::NoDpdkSection), "{err:?}");
    assert!(err.to_string().contains("[dataplane.dpdk]"), "{err}");

    let one_port = "\n[[dataplane.dpdk.port]]\ndevice = \"net_ring0\"\n\
                    interfaces = [\"external\"]\n";
    let err = DataPlane::start(&config("fv-unused", one_port), Instant::now()).unwrap_err();
    match &err {
        PlaneError::UnplacedInterface { index: 1, name, .. } => assert_eq!(name, "internal"),
        other => panic!("expected UnplacedInterface, got {other:?}"),
    }

    let unknown = "\n[[dataplane.dpdk.port]]\ndevice = \"net_ring0\"\n\
                   interfaces = [\"external\", \"internal\", \"carrier\"]\n";
    let err = DataPlane::start(&config("fv-unused", unknown), Instant::now()).unwrap_err();
    assert!(
        matches!(&err, PlaneError::UnknownInterface { port: 0, entry: 2, name } if name == "carrier"),
        "{err:?}"
    );
}
