//! The socket data plane assembled from a config: two workers on 127.0.0.1, a flow installed
//! on each through its link, RTP relayed both ways on loopback, stop and join; and configs
//! that cannot be built, each refused with its typed error before anything starts.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use dataplane::{FlowCommand, FlowEvent, LatchMode, PortKey, StreamSpec, StreamStats};
use pktio::plane::{DataPlane, PlaneError, WorkerLink};
use pktio::PortHandle;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::time::{Duration, Instant};
use wire::Endpoint;

const LO: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
/// Relay port pairs of the test's range: two per worker.
const PAIRS: u16 = 4;

/// A config with `workers` socket workers and one interface on `address`, ports from `base`.
fn config(workers: usize, address: &str, base: u16, pairs: u16) -> config::Config {
    let cores: Vec<String> = (0..workers).map(|c| c.to_string()).collect();
    let text = format!(
        "[dataplane]\nworker_cores = [{}]\n\n\
         [[interface]]\nname = \"external\"\naddress = \"{address}\"\n\
         port_min = {base}\nport_max = {}\n",
        cores.join(", "),
        base + 2 * pairs - 1
    );
    config::parse(&text).unwrap()
}

/// A block of `PAIRS` relay port pairs on 127.0.0.1 that are all free, with every port bound
/// (above the kernel's default ephemeral range, away from the end-to-end tests' blocks).
fn free_block() -> (u16, HashMap<u16, PortHandle>) {
    for base in (61_000u16..65_000).step_by(usize::from(2 * PAIRS)) {
        let bound: Result<HashMap<_, _>, _> = (base..base + 2 * PAIRS)
            .map(|p| pktio::bind_socket(LO, p).map(|h| (p, h)))
            .collect();
        if let Ok(handles) = bound {
            return (base, handles);
        }
    }
    panic!("plane_socket: no free block of {PAIRS} port pairs on 127.0.0.1 in 61000..65000");
}

/// A peer socket on loopback with a read timeout.
fn peer() -> UdpSocket {
    let s = UdpSocket::bind((LO, 0)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    s
}

fn spec(key: PortKey, peer: &UdpSocket) -> StreamSpec {
    let at = peer.local_addr().unwrap();
    StreamSpec {
        key,
        expect: Endpoint::from_socket_addr(at),
        expect_rtcp_port: at.port().wrapping_add(1),
        mux: false,
        hold: false,
        clock_rate: 8000,
        latch: LatchMode::Heuristic,
        strict: false,
        handover: false,
    }
}

/// An RTP packet (RFC 3550 §5.1: version 2, PCMU) with 160 bytes of payload.
fn rtp(seq: u16, ssrc: u32) -> Vec<u8> {
    let mut p = vec![0x80, 0x00];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend(std::iter::repeat_n(0xd5, 160));
    p
}

/// Sends `cmd` to the worker and wakes it.
fn send(link: &mut WorkerLink, cmd: FlowCommand) {
    link.commands.push(cmd).expect("command ring has room");
    link.waker.wake();
}

/// Queries the pair of `key` and waits for the worker's answer.
fn query(link: &mut WorkerLink, token: u64, key: PortKey) -> Option<[StreamStats; 2]> {
    send(link, FlowCommand::Query { token, key });
    let until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < until {
        match link.events.pop() {
            Ok(FlowEvent::Stats { token: t, pair }) if t == token => return pair,
            Ok(FlowEvent::InstallFailed { key }) => panic!("install of {key:?} refused"),
            Ok(_) => {}
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
    panic!("worker did not answer query {token} within 2 s");
}

/// `from` sends one RTP packet to relay port `to`; `at` must get it, unchanged, from relay
/// port `via`.
fn relayed(from: &UdpSocket, to: PortKey, at: &UdpSocket, via: PortKey, seq: u16) {
    let pkt = rtp(seq, 0x1000 + u32::from(seq));
    from.send_to(&pkt, (LO, to.port)).unwrap();
    let mut buf = [0u8; 512];
    let (n, src) = at.recv_from(&mut buf).expect("relayed packet within 2 s");
    assert_eq!(&buf[..n], &pkt[..], "payload relayed unchanged");
    assert_eq!(
        src,
        (LO, via.port).into(),
        "leaves from the other leg's port"
    );
}

/// Installs a pair on worker `w` (its first two owned pairs), relays one packet each way,
/// and checks the worker counted them.
fn relay_on(
    plane: &DataPlane,
    link: &mut WorkerLink,
    w: usize,
    ports: &mut HashMap<u16, PortHandle>,
) {
    let layout = plane.layout();
    let keys: Vec<PortKey> = layout.owned_rtp_ports(w, 0).take(2).collect();
    let (ka, kb) = (keys[0], keys[1]);
    let (a, b) = (peer(), peer());
    let mut take = |p: u16| ports.remove(&p).expect("port of the block");
    let handles = [
        take(ka.port),
        take(ka.port + 1),
        take(kb.port),
        take(kb.port + 1),
    ];
    let (sa, sb) = (spec(ka, &a), spec(kb, &b));
    send(
        link,
        FlowCommand::Install {
            a: sa,
            b: sb,
            handles,
        },
    );
    assert!(query(link, 1, ka).is_some(), "worker {w}: pair installed");
    relayed(&a, ka, &b, kb, 1);
    relayed(&b, kb, &a, ka, 2);
    let pair = query(link, 2, ka).expect("still installed");
    let received: Vec<u64> = pair.iter().map(|s| s.rtp_packets).collect();
    assert_eq!(
        received,
        [1, 1],
        "worker {w}: one RTP packet in on each leg"
    );
}

#[test]
fn two_socket_workers_relay_their_flows_and_join() {
    let (base, mut ports) = free_block();
    let cfg = config(2, "127.0.0.1", base, PAIRS);
    let mut plane = DataPlane::start(&cfg, Instant::now()).unwrap();
    assert_eq!(plane.workers(), 2);
    assert!(
        !plane.fastpath_active(),
        "the socket backend is no fast path"
    );
    assert!(plane.steering().is_empty() && !plane.steering_degraded());
    let layout = plane.layout();
    for w in 0..2 {
        let key = layout.owned_rtp_ports(w, 0).next().unwrap();
        assert_eq!(layout.owner(key), Some(w));
    }
    let mut links = plane.take_links();
    assert_eq!(links.len(), 2);
    assert!(plane.take_links().is_empty(), "links are handed out once");
    for (w, link) in links.iter_mut().enumerate() {
        relay_on(&plane, link, w, &mut ports);
    }
    let counters = plane.counters().to_vec();
    let t = Instant::now();
    plane.join().unwrap();
    assert!(
        t.elapsed() < Duration::from_secs(1),
        "join took {:?}",
        t.elapsed()
    );
    for (w, c) in counters.iter().enumerate() {
        let c = c.read();
        assert_eq!((c.rx, c.forwarded), (2, 2), "worker {w}: {c:?}");
    }
}

#[test]
fn more_workers_than_port_pairs_is_refused() {
    let cfg = config(3, "127.0.0.1", 30_000, 2);
    match DataPlane::start(&cfg, Instant::now()) {
        Err(PlaneError::IdleWorker {
            workers: 3,
            pairs: 2,
            worker: 2,
        }) => {}
        other => panic!("expected IdleWorker, got {other:?}"),
    }
}

#[test]
fn an_address_not_on_this_host_is_refused() {
    // 192.0.2.0/24 is TEST-NET-1 (RFC 5737): never a local address; nothing is sent to it.
    let cfg = config(1, "192.0.2.1", 30_000, 2);
    let err = DataPlane::start(&cfg, Instant::now()).unwrap_err();
    match &err {
        PlaneError::Address {
            index: 0,
            address,
            error,
        } => {
            assert_eq!(*address, IpAddr::from([192, 0, 2, 1]));
            assert_eq!(error.kind(), std::io::ErrorKind::AddrNotAvailable);
        }
        other => panic!("expected Address, got {other:?}"),
    }
    assert!(err.to_string().starts_with("interface[0].address"), "{err}");
}

#[cfg(not(feature = "dpdk"))]
#[test]
fn the_dpdk_backend_in_a_build_without_dpdk_is_refused() {
    let text = "[dataplane]\nbackend = \"dpdk\"\n\n[[interface]]\nname = \"external\"\n\
                address = \"127.0.0.1\"\nport_min = 30000\nport_max = 30003\n";
    let cfg = config::parse(text).unwrap();
    let err = DataPlane::start(&cfg, Instant::now()).unwrap_err();
    assert!(matches!(err, PlaneError::NoDpdk), "{err:?}");
    assert!(err.to_string().contains("has no DPDK support"), "{err}");
}
