//! The exception path over `net_ring` + `net_tap`: frames for the host that the relay does not
//! take (ARP for the host's address, UDP to it) reach the kernel through the tap, and the
//! kernel's answers leave through the `net_ring` port; relay media does not go to the host.
//!
//! Needs root (the EAL, `/dev/net/tun`, a network namespace): without it the test fails
//! saying what is missing, unless the developer opts out explicitly by naming the need in
//! `FERROVOX_TEST_SKIP` (`root`, `dpdk` or `netns`; tests/README.md). The tap interface is
//! moved into a namespace the test creates and removes, so the kernel traffic stays inside it.
#![cfg(feature = "dpdk")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use pktio::dpdk::{
    DpdkIo, DpdkIoConfig, DpdkLink, Eal, EalConfig, EthPort, Mempool, PortSetup, RingPort,
};
use pktio::{PacketIo, RelayAddr};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wire::frame;
use wire::Endpoint;

const RELAY_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x10];
const PEER_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x30];
const RELAY_IP: [u8; 4] = [10, 77, 0, 9];
const HOST_IP: [u8; 4] = [10, 77, 0, 1];
const PEER_IP: [u8; 4] = [10, 77, 0, 2];

/// Runs `ip` with `args`; panics with its output when it fails.
fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("runs ip");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A network namespace removed on drop (also when the test fails).
struct Netns(String);

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// What this host lacks to run the test, if anything: the `FERROVOX_TEST_SKIP` name of the
/// need, and what is missing.
fn unmet_need() -> Option<(&'static str, &'static str)> {
    // The effective user id: the second field of the `Uid:` line (proc(5)).
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let euid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|v| v.split_whitespace().nth(1));
    if euid != Some("0") {
        return Some((
            "root",
            "not root: the EAL, the tap and the namespace need root",
        ));
    }
    if !std::path::Path::new("/dev/net/tun").exists() {
        return Some(("dpdk", "no /dev/net/tun for net_tap: load the tun module"));
    }
    if Command::new("ip").arg("-V").output().is_err() {
        return Some(("netns", "no ip command: apt-get install iproute2"));
    }
    None
}

/// `true` when the test can run. Else it fails naming the need, unless it is opted out
/// (`testkit::need`): then it says SKIPPED and the test returns.
fn can_run(test: &str) -> bool {
    match unmet_need() {
        None => true,
        Some((need, why)) => testkit::need::unmet(test, need, why),
    }
}

/// Polls `io` (receive, flush) until the ring port transmitted a frame `want` accepts, for at
/// most two seconds; returns it.
fn wait_for(io: &mut DpdkIo, ring: &mut RingPort, want: impl Fn(&[u8]) -> bool) -> Vec<u8> {
    let end = Instant::now() + Duration::from_secs(2);
    while Instant::now() < end {
        io.rx_burst(Duration::ZERO).unwrap();
        io.flush();
        if let Some(f) = ring.take_sent(0).into_iter().find(|f| want(f)) {
            return f;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    panic!("no such frame from the host within 2 s");
}

#[test]
fn host_frames_go_through_the_tap_and_answers_come_back() {
    if !can_run("dpdk_exception") {
        return;
    }
    let pid = std::process::id();
    let tap = format!("fvx{}", pid % 1_000_000);
    let eal = Eal::start(&EalConfig {
        program: "pktio-dpdk-exception-test".into(),
        lcores: vec![0],
        no_pci: true,
        no_huge: true,
        memory_mb: Some(128),
        file_prefix: Some(format!("fv-pktio-exc-{pid}")),
        vdevs: vec![format!("net_tap_fvx,iface={tap}")],
        log_levels: vec!["lib.eal:error".into(), "pmd.net.tap:critical".into()],
        extra: vec!["--no-telemetry".into()],
        ..EalConfig::default()
    })
    .expect("EAL starts with a net_tap vdev");
    let pool = Arc::new(Mempool::new(&eal, "exc_pool", 1023, 0, 2176, 0).unwrap());
    let mut ring = RingPort::create(&eal, "exc_ring", 1, 256, pool.clone()).unwrap();
    let setup = PortSetup {
        queues: 1,
        rx_desc: 128,
        tx_desc: 128,
        pools: vec![pool.clone()],
        ..PortSetup::default()
    };
    let port = Arc::new(EthPort::start(&eal, ring.port_id(), &setup).unwrap());
    let tap_id = EthPort::lookup(&eal, "net_tap_fvx").unwrap();
    let tap_port = Arc::new(EthPort::start(&eal, tap_id, &setup).unwrap());
    assert_eq!(tap_port.driver(), "net_tap");

    // The tap's kernel side, in a namespace of its own with the host address.
    let ns = Netns(format!("fvx-{pid}"));
    ip(&["netns", "add", &ns.0]);
    ip(&["link", "set", &tap, "netns", &ns.0]);
    let host = format!(
        "{}.{}.{}.{}/24",
        HOST_IP[0], HOST_IP[1], HOST_IP[2], HOST_IP[3]
    );
    ip(&["-n", &ns.0, "addr", "add", &host, "dev", &tap]);
    ip(&["-n", &ns.0, "link", "set", &tap, "up"]);

    let base = pool.available();
    let mut io = DpdkIo::new(DpdkIoConfig {
        links: vec![DpdkLink::new(port.clone())
            .with_next_hop_mac(PEER_MAC)
            .with_exception(tap_port.clone())],
        queue: 0,
        addrs: vec![RelayAddr {
            ip: RELAY_IP.into(),
            mac: RELAY_MAC,
        }],
        addr_link: vec![0],
        ..DpdkIoConfig::default()
    })
    .unwrap();

    // ARP for the host's address: not a relay address, so the host answers it.
    let mut req = Vec::new();
    wire::arp::build_request(&mut req, None, PEER_MAC, PEER_IP, HOST_IP);
    assert!(ring.inject(0, &req));
    let reply = wait_for(&mut io, &mut ring, |f| {
        frame::ethertype(f).map(|(e, _)| e) == Some(frame::ETHERTYPE_ARP)
            && f.get(20..22) == Some(&[0, 2][..])
    });
    assert_eq!(&reply[0..6], &PEER_MAC, "the host answers the asker");
    assert_eq!(&reply[28..32], &HOST_IP, "sender: the host's address");

    // UDP to the host's address (SIP, nobody listening): the host answers with ICMP port
    // unreachable (RFC 1122 §3.2.2.1), which leaves through the DPDK port.
    let mut sip = Vec::new();
    frame::build_udp(
        &mut sip,
        PEER_MAC,
        reply[6..12].try_into().unwrap(),
        &Endpoint::new_v4(PEER_IP, 5060),
        &Endpoint::new_v4(HOST_IP, 5060),
        b"OPTIONS sip:host SIP/2.0\r\n\r\n",
    );
    assert!(ring.inject(0, &sip));
    let icmp = wait_for(&mut io, &mut ring, |f| {
        frame::ethertype(f).map(|(e, _)| e) == Some(frame::ETHERTYPE_IPV4)
            && f.get(23) == Some(&1)
            && f.get(34) == Some(&3)
    });
    assert_eq!(&icmp[26..30], &HOST_IP);
    assert_eq!(&icmp[30..34], &PEER_IP);

    // Relay media (UDP to the relay address) stays with the relay.
    let before = io.l2_stats().to_host;
    let mut rtp = Vec::new();
    frame::build_udp(
        &mut rtp,
        PEER_MAC,
        RELAY_MAC,
        &Endpoint::new_v4(PEER_IP, 4000),
        &Endpoint::new_v4(RELAY_IP, 30000),
        &[0x80, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1],
    );
    assert!(ring.inject(0, &rtp));
    let (n, _) = io.rx_burst(Duration::ZERO).unwrap();
    assert_eq!(n, 1, "the relay gets its frame");
    io.flush();
    let s = io.l2_stats();
    assert_eq!(s.to_host, before, "media is not passed to the host");
    assert!(s.to_host >= 2, "ARP and SIP went to the host: {s:?}");
    assert!(s.from_host >= 2, "the answers came back: {s:?}");
    assert_eq!(s.host_dropped, 0);

    drop(io);
    drop(ns);
    assert_eq!(pool.available(), base, "no mbuf leaked");
}
