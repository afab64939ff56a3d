//! The DPDK data plane end to end, in network namespaces the test creates and removes.
//!
//! A caller namespace (10.77.1.2/24) and a member namespace (10.77.2.2/24) are each joined to
//! the root namespace by a veth pair. The root ends have no address: the real daemon, built
//! with the `dpdk` feature and started with `[dataplane] backend = "dpdk"` on `--no-huge`,
//! opens them as `net_af_packet` ports and owns 10.77.1.1 (`external`) and 10.77.2.1
//! (`internal`) itself: it answers ARP for them and resolves the hosts' MACs with its own ARP
//! requests (no static neighbour entry exists anywhere). Its ng socket stays on 127.0.0.1.
//!
//! Four calls are anchored with ng offer/answer, as an outside SIP proxy would drive them, or
//! by the daemon's own SIP proxy (on 127.0.0.1, a kernel socket in the root namespace): the
//! test is then the caller, sending each INVITE with the caller namespace's endpoint in its
//! SDP, and the one member of an anchored `[[set]]`, answering with the member namespace's
//! endpoint; each side must be told the relay address of its own side, and after the media a
//! BYE releases the call (ng `query` of `sip <Call-ID>`, the key anchored calls are kept
//! under, then finds nothing). RTP endpoints inside the namespaces send numbered packets both
//! ways and check every packet that comes back (source, SSRC, payload, count). The
//! per-worker counters of ng `statistics` must show every packet received and relayed by the
//! worker that owns the call's ports, with nothing dropped; with two workers
//! the ports use two queue pairs (`qpairs=2`), so frames landing on the other worker's queue
//! are handed to their owner, and the daemon's exit log must account for each hand-off.
//!
//! The same calls run over `net_af_xdp` too (AF_XDP with native XDP on the veth root ends,
//! one worker: a veth offers the driver one queue): the ports are `af_xdp = { iface }`
//! entries, and the start log must say native XDP and the socket's mode for each. A DPDK
//! without the AF_XDP driver (`librte-net-af-xdp23`) fails those cases naming the package.
//!
//! Needs root, `ip netns`, and a ferrovox binary (`FERROVOX_BIN`, else the workspace's
//! `target/debug/ferrovox`) built with `--features dpdk`; without one of them it fails with
//! what is missing, unless the developer opts out explicitly with `FERROVOX_TEST_SKIP=netns`
//! or `FERROVOX_TEST_SKIP=dpdk` (tests/README.md). Built only with this crate's `dpdk`
//! feature: `tests/run-dpdk.sh` builds the DPDK daemon, then runs this with it. Also needs
//! `ip` (iproute2), `ethtool` and `python3`.

#![allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a test failure.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::path::Path;
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use dataplane::{AddrRange, PortLayout};
use e2e::daemon::{int_at, str_at};
use e2e::need::{self, Need};
use e2e::netns::dpdk::{
    announced_v4, worker_stats, worker_stop_lines, AnchoredSip, DpdkRelay, DpdkRelayConfig,
    PortDriver, Started, WorkerStats,
};
use e2e::netns::endpoint::{write_endpoint_script, Endpoint, Flow, FlowReport, Pace};
use e2e::netns::Side;
use e2e::ng::{CallState, NgClient};
use e2e::ports::{PortBlock, LOOPBACK};
use e2e::sip::audio_endpoints;
use ng::{Command as Ng, RequestBuilder};
use pktio::PortKey;

/// Concurrent calls.
const CALLS: u16 = 4;
/// Packets each side sends on each call in the measured phase.
const PACKETS: u32 = 200;
/// Time between two packets of one call and direction.
const INTERVAL: Duration = Duration::from_millis(5);
/// Packets the caller sends per call, 100 ms apart, before the measured phase (neighbour
/// resolution; the first ones are dropped, counted, while the relay's ARP request is out).
const WARMUP: u32 = 20;
/// How long the daemon may take to start (EAL, ports, workers) and answer ng `ping`.
const START_LIMIT: Duration = Duration::from_secs(20);
/// How long counters may take to show in `statistics` (workers publish every 20 ms).
const PUBLISH: Duration = Duration::from_secs(3);

const PREFIX_LEN: u8 = 24;
const CALLER_HOST: Ipv4Addr = Ipv4Addr::new(10, 77, 1, 2);
const CALLER_RELAY: Ipv4Addr = Ipv4Addr::new(10, 77, 1, 1);
const MEMBER_HOST: Ipv4Addr = Ipv4Addr::new(10, 77, 2, 2);
const MEMBER_RELAY: Ipv4Addr = Ipv4Addr::new(10, 77, 2, 1);
/// First media port of the endpoints inside the namespaces (caller; member +1000).
const HOST_PORT: u16 = 20000;

/// The daemon's workers busy-poll their cores: one scenario at a time.
static SERIAL: Mutex<()> = Mutex::new(());

/// One run: how many workers, how its calls are anchored, and a letter that keeps its names
/// apart from other runs.
struct Scenario {
    tag: char,
    workers: usize,
    signalling: Signalling,
    driver: PortDriver,
}

/// Who sets the calls up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Signalling {
    /// ng offer and answer from the test.
    Ng,
    /// The daemon's SIP proxy, between the test as the caller and as the member.
    Sip,
}

#[test]
fn dpdk_af_packet_relays_four_calls_both_ways_on_one_worker() {
    run(&Scenario {
        tag: 'a',
        workers: 1,
        signalling: Signalling::Ng,
        driver: PortDriver::AfPacket,
    });
}

#[test]
fn dpdk_af_packet_two_workers_relay_each_packet_on_its_owner() {
    run(&Scenario {
        tag: 'b',
        workers: 2,
        signalling: Signalling::Ng,
        driver: PortDriver::AfPacket,
    });
}

#[test]
fn dpdk_af_packet_relays_calls_the_sip_proxy_anchored() {
    run(&Scenario {
        tag: 'c',
        workers: 1,
        signalling: Signalling::Sip,
        driver: PortDriver::AfPacket,
    });
}

#[test]
fn dpdk_af_xdp_relays_four_calls_both_ways_on_one_worker() {
    run(&Scenario {
        tag: 'd',
        workers: 1,
        signalling: Signalling::Ng,
        driver: PortDriver::AfXdp,
    });
}

#[test]
fn dpdk_af_xdp_relays_calls_the_sip_proxy_anchored() {
    run(&Scenario {
        tag: 'e',
        workers: 1,
        signalling: Signalling::Sip,
        driver: PortDriver::AfXdp,
    });
}

const TEST: &str = "dpdk_netns";

/// Why DPDK's AF_XDP driver cannot be loaded (`None`: its library is in one of the EAL's
/// plugin directories, `LIBDIR/dpdk/pmds-*`).
fn af_xdp_driver_missing() -> Option<String> {
    let out = std::process::Command::new("pkg-config")
        .args(["--variable=libdir", "libdpdk"])
        .output();
    let libdir = match out {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).trim().to_owned(),
        _ => return Some("pkg-config libdpdk fails (deploy/install-dpdk.sh)".into()),
    };
    let plugins = Path::new(&libdir).join("dpdk");
    let found = std::fs::read_dir(&plugins)
        .into_iter()
        .flatten()
        .flatten()
        .any(|d| {
            d.file_name().to_string_lossy().starts_with("pmds-")
                && d.path().join("librte_net_af_xdp.so").exists()
        });
    (!found).then(|| {
        format!(
            "DPDK's AF_XDP driver is missing (no librte_net_af_xdp.so under {}/pmds-*): \
             apt-get install librte-net-af-xdp23 (deploy/install-dpdk.sh)",
            plugins.display()
        )
    })
}

/// The namespaces, the veth pairs and everything in them; removed on drop.
struct Topology {
    caller: Side,
    member: Side,
}

impl Topology {
    fn create(tag: char) -> Topology {
        let id = std::process::id() % 100_000;
        let caller = Side::create(
            &format!("fv-e2e-{id}{tag}-caller"),
            &format!("fvc{id}{tag}"),
            &format!("fvc{id}{tag}p"),
            CALLER_HOST,
            CALLER_RELAY,
            PREFIX_LEN,
        )
        .unwrap_or_else(|e| panic!("caller namespace: {e}"));
        let member = Side::create(
            &format!("fv-e2e-{id}{tag}-member"),
            &format!("fvm{id}{tag}"),
            &format!("fvm{id}{tag}p"),
            MEMBER_HOST,
            MEMBER_RELAY,
            PREFIX_LEN,
        )
        .unwrap_or_else(|e| panic!("member namespace: {e}"));
        Topology { caller, member }
    }
}

/// One anchored call: the endpoints' ports and where each sends.
#[derive(Debug, Clone)]
struct Call {
    id: String,
    caller_port: u16,
    member_port: u16,
    relay_for_caller: SocketAddrV4,
    relay_for_member: SocketAddrV4,
    owner: usize,
    ssrc_caller: u32,
    ssrc_member: u32,
}

/// An audio-only SDP (RFC 4566) for PCMU at `ip:port`.
fn sdp(ip: Ipv4Addr, port: u16, session: u32) -> String {
    format!(
        "v=0\r\no=- {session} 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n"
    )
}

/// How the calls are set up.
enum Anchoring {
    /// ng `offer` and `answer` from the test.
    Ng,
    /// INVITE, 180, 200 and ACK through the daemon's SIP proxy.
    Sip(SipPeers),
}

/// What one call's set-up told each side: the relay endpoint to send to, and the relay's
/// key of the call.
struct Told {
    key: String,
    relay_for_caller: SocketAddrV4,
    relay_for_member: SocketAddrV4,
}

/// Offer from the caller (external) toward the member (internal) and the answer, over ng or
/// through the SIP proxy; then the relay holds the call, both legs on one worker.
fn anchor(
    how: &mut Anchoring,
    ng: &NgClient,
    i: u16,
    block: &PortBlock,
    layout: &PortLayout,
) -> Call {
    let caller_port = HOST_PORT + 2 * i;
    let member_port = HOST_PORT + 1000 + 2 * i;
    let offer = sdp(CALLER_HOST, caller_port, u32::from(i) + 1);
    let answer = sdp(MEMBER_HOST, member_port, u32::from(i) + 100);
    let told = match how {
        Anchoring::Ng => ng_offer_answer(ng, i, offer, answer),
        Anchoring::Sip(peers) => peers.call(i, &offer, &answer),
    };
    let Told {
        key: id,
        relay_for_caller,
        relay_for_member,
    } = told;
    assert_eq!(*relay_for_caller.ip(), CALLER_RELAY, "{id}: caller side");
    assert_eq!(*relay_for_member.ip(), MEMBER_RELAY, "{id}: member side");
    assert!(block.relay_external().contains(&relay_for_caller.port()));
    assert!(block.relay_internal().contains(&relay_for_member.port()));
    let query = ng
        .request(&RequestBuilder::new(Ng::Query).call_id(id.as_str()))
        .unwrap();
    assert_eq!(str_at(&query, &["result"]), Some("ok"), "{query:?}");
    let owner_of = |addr: u16, port: u16| {
        layout
            .owner(PortKey { addr, port })
            .unwrap_or_else(|| panic!("{id}: port {port} is outside the layout"))
    };
    let owner = owner_of(0, relay_for_caller.port());
    assert_eq!(
        owner,
        owner_of(1, relay_for_member.port()),
        "{id}: both legs' ports belong to one worker"
    );
    Call {
        ssrc_caller: 0xca11_0000 + u32::from(i),
        ssrc_member: 0x3e3b_0000 + u32::from(i),
        id,
        caller_port,
        member_port,
        relay_for_caller,
        relay_for_member,
        owner,
    }
}

/// ng `offer` from the caller's tag, `answer` from the member's: the SDPs they return.
fn ng_offer_answer(ng: &NgClient, i: u16, offer: String, answer: String) -> Told {
    let id = format!("netns-{i}@e2e");
    let (from_tag, to_tag) = (format!("{id}-caller"), format!("{id}-member"));
    let reply = ng
        .request(
            &RequestBuilder::new(Ng::Offer)
                .call_id(id.as_str())
                .from_tag(from_tag.as_str())
                .direction("external", "internal")
                .sdp(offer),
        )
        .unwrap_or_else(|e| panic!("offer {id}: {e}"));
    let relay_for_member = announced_v4(&reply, "offer").unwrap();
    let reply = ng
        .request(
            &RequestBuilder::new(Ng::Answer)
                .call_id(id.as_str())
                .from_tag(from_tag.as_str())
                .to_tag(to_tag.as_str())
                .sdp(answer),
        )
        .unwrap_or_else(|e| panic!("answer {id}: {e}"));
    Told {
        relay_for_caller: announced_v4(&reply, "answer").unwrap(),
        relay_for_member,
        key: id,
    }
}

/// The per-worker counters now.
fn stats(relay: &DpdkRelay) -> Vec<WorkerStats> {
    relay
        .statistics()
        .and_then(|st| worker_stats(&st))
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Per-worker counters once they stop moving (two reads 100 ms apart agree), bounded.
fn settled_stats(relay: &DpdkRelay) -> Vec<WorkerStats> {
    let start = Instant::now();
    let mut last = stats(relay);
    loop {
        thread::sleep(Duration::from_millis(100));
        let now = stats(relay);
        if now == last || start.elapsed() > PUBLISH {
            return now;
        }
        last = now;
    }
}

/// Runs one endpoint per side at the same moment; their flow reports (caller, member).
fn exchange(
    topo: &Topology,
    dir: &Path,
    script: &Path,
    calls: &[Call],
    phase: &str,
    caller_pace: Pace,
    member_pace: Pace,
) -> (Vec<FlowReport>, Vec<FlowReport>) {
    let go = dir.join(format!("go-{phase}"));
    let caller_flows: Vec<Flow> = calls
        .iter()
        .map(|c| Flow {
            local_port: c.caller_port,
            relay: c.relay_for_caller,
            tx_ssrc: c.ssrc_caller,
            rx_ssrc: c.ssrc_member,
        })
        .collect();
    let member_flows: Vec<Flow> = calls
        .iter()
        .map(|c| Flow {
            local_port: c.member_port,
            relay: c.relay_for_member,
            tx_ssrc: c.ssrc_member,
            rx_ssrc: c.ssrc_caller,
        })
        .collect();
    let mut caller = Endpoint::spawn(
        &topo.caller,
        script,
        &caller_flows,
        &caller_pace,
        &go,
        &dir.join(format!("caller-{phase}.log")),
    )
    .unwrap();
    let mut member = Endpoint::spawn(
        &topo.member,
        script,
        &member_flows,
        &member_pace,
        &go,
        &dir.join(format!("member-{phase}.log")),
    )
    .unwrap();
    caller.wait_ready(Duration::from_secs(10)).unwrap();
    member.wait_ready(Duration::from_secs(10)).unwrap();
    std::fs::write(&go, b"go").unwrap();
    let wait = caller_pace.limit.max(member_pace.limit) + Duration::from_secs(5);
    let c = caller
        .finish(wait)
        .unwrap_or_else(|e| panic!("{phase}: {e}"));
    let m = member
        .finish(wait)
        .unwrap_or_else(|e| panic!("{phase}: {e}"));
    (c, m)
}

fn field(m: &BTreeMap<String, String>, k: &str) -> u64 {
    m.get(k)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {k} in {m:?}"))
}

/// What the relay and the hosts know, for a failure message: the totals of ng
/// `statistics`, the hosts' neighbour tables, and the workers' stop lines (the daemon is
/// stopped for them).
fn diagnose(relay: &mut DpdkRelay, topo: &Topology) -> String {
    let mut out = String::new();
    match relay.statistics() {
        Ok(st) => out.push_str(&format!("statistics: {st:?}\n")),
        Err(e) => out.push_str(&format!("statistics: {e}\n")),
    }
    for side in [&topo.caller, &topo.member] {
        let n = side.ns().exec(&["ip", "neigh", "show"]);
        out.push_str(&format!("{} neighbours: {n:?}\n", side.ns().name()));
    }
    let _ = relay.terminate(Duration::from_secs(10));
    for line in relay
        .log()
        .lines()
        .filter(|l| l.contains("DPDK worker stopped"))
    {
        out.push_str(line);
        out.push('\n');
    }
    out
}

fn run(s: &Scenario) {
    if !need::met(TEST, &[Need::Netns]) {
        return;
    }
    let cpus = thread::available_parallelism().map_or(1, |n| n.get());
    if cpus < s.workers {
        let why = format!(
            "{} DPDK workers need {} CPUs, this host has {cpus}",
            s.workers, s.workers
        );
        need::unmet(TEST, Need::Dpdk, &why);
        return;
    }
    if s.driver == PortDriver::AfXdp {
        if let Some(why) = af_xdp_driver_missing() {
            need::unmet(TEST, Need::Dpdk, &why);
            return;
        }
    }
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let block = PortBlock::take().unwrap();
    let topo = Topology::create(s.tag);
    let dir = tempfile::Builder::new()
        .prefix("e2e-dpdk-netns-")
        .tempdir()
        .unwrap();
    let run_dir = dir.path().to_owned();
    let script = write_endpoint_script(&run_dir).unwrap();
    let mut config = DpdkRelayConfig::between(
        &topo.caller,
        &topo.member,
        PREFIX_LEN,
        s.workers,
        block.ng(),
        &format!("fv-e2e-{}{}", std::process::id() % 100_000, s.tag),
        (block.relay_external(), block.relay_internal()),
    )
    .with_driver(s.driver);
    let mut how = match s.signalling {
        Signalling::Ng => Anchoring::Ng,
        Signalling::Sip => {
            let peers = SipPeers::bind(&block);
            config = config.with_sip(peers.config());
            Anchoring::Sip(peers)
        }
    };
    let Some(relay) = start_relay(s, dir, &config, &topo) else {
        return;
    };
    let (calls, per_worker) = place_calls(s, &mut how, &relay, &block);
    let mut r = Run {
        workers: s.workers,
        topo,
        relay,
        calls,
        per_worker,
        dir: run_dir,
        script,
    };
    warm_up(&mut r);
    measure(&r);
    if let Anchoring::Sip(peers) = &mut how {
        peers.hang_up(r.relay.ng());
    }
    check_exit(r);
}

/// Starts the daemon and checks it runs the fast path with the workers asked for, and that
/// no neighbour entry exists yet; `None` when the binary has no DPDK and that is opted out.
fn start_relay(
    s: &Scenario,
    dir: tempfile::TempDir,
    config: &DpdkRelayConfig,
    topo: &Topology,
) -> Option<DpdkRelay> {
    let relay = match DpdkRelay::start(dir, config, START_LIMIT).unwrap() {
        Started::Running(r) => r,
        Started::NoDpdk(line) => {
            let why = format!(
                "the ferrovox binary has no DPDK support ({line}): build it with \
                 `cargo build -p ferrovox --features dpdk` (the system DPDK: \
                 deploy/install-dpdk.sh), or set FERROVOX_BIN"
            );
            need::unmet(TEST, Need::Dpdk, &why);
            return None;
        }
    };
    assert!(
        relay.log().contains("DPDK fast path active"),
        "no fast-path line in the log"
    );
    if s.driver == PortDriver::AfXdp {
        check_af_xdp_ports(&relay.log());
    }
    for line in relay.log().lines().filter(|l| l.contains("steering")) {
        eprintln!(
            "dpdk_netns[{} worker(s)]: daemon: {}",
            s.workers,
            line.trim()
        );
    }
    let st = relay.statistics().unwrap();
    assert_eq!(int_at(&st, &["fastpath"]), Some(1), "{st:?}");
    assert_eq!(worker_stats(&st).unwrap().len(), s.workers, "{st:?}");
    // Nothing static: every neighbour entry below comes from ARP on the wire.
    for side in [&topo.caller, &topo.member] {
        assert_eq!(side.permanent_neighbours().unwrap(), "");
        assert_eq!(side.neighbour(side.relay).unwrap(), None);
    }
    Some(relay)
}

/// Both ports run on `net_af_xdp` with native XDP on the veth root ends and the start log
/// says so, with the socket mode and the steering for each (one queue; a veth could not
/// steer anyway).
fn check_af_xdp_ports(log: &str) {
    let lines: Vec<&str> = log.lines().filter(|l| l.contains("AF_XDP port")).collect();
    for l in &lines {
        eprintln!("dpdk_netns[af_xdp]: daemon: {}", l.trim());
    }
    assert_eq!(lines.len(), 2, "one AF_XDP line per port:\n{log}");
    for l in &lines {
        assert!(l.contains("xdp_attach=native"), "native XDP on veth: {l}");
        assert!(
            l.contains("xsk_mode=\"copy\"") || l.contains("xsk_mode=\"zero-copy\""),
            "{l}"
        );
        assert!(l.contains("one queue: no steering needed"), "{l}");
        // A veth has neither ntuple rules nor RSS that could place relay ports.
        assert!(l.contains("no ntuple flow steering"), "{l}");
    }
    assert_eq!(
        log.matches("driver=\"net_af_xdp\"").count(),
        2,
        "both ports on net_af_xdp:\n{log}"
    );
}

/// The concurrent calls through the control path `how`, and how many each worker owns
/// (every worker owns some).
fn place_calls(
    s: &Scenario,
    how: &mut Anchoring,
    relay: &DpdkRelay,
    block: &PortBlock,
) -> (Vec<Call>, Vec<usize>) {
    let ranges = vec![
        AddrRange {
            port_min: *block.relay_external().start(),
            port_max: *block.relay_external().end(),
        },
        AddrRange {
            port_min: *block.relay_internal().start(),
            port_max: *block.relay_internal().end(),
        },
    ];
    let layout = PortLayout::new(ranges, s.workers).unwrap();
    let calls: Vec<Call> = (0..CALLS)
        .map(|i| anchor(how, relay.ng(), i, block, &layout))
        .collect();
    let per_worker: Vec<usize> = (0..s.workers)
        .map(|w| calls.iter().filter(|c| c.owner == w).count())
        .collect();
    eprintln!(
        "dpdk_netns[{} worker(s), {:?}]: calls per owning worker {per_worker:?}",
        s.workers, s.signalling
    );
    assert!(
        per_worker.iter().all(|&n| n > 0),
        "the control plane placed calls on every worker: {per_worker:?}"
    );
    (calls, per_worker)
}

/// What the phases of one run share.
struct Run {
    workers: usize,
    /// Dropped after the relay (fields drop in order): the daemon goes before its ports.
    relay: DpdkRelay,
    topo: Topology,
    calls: Vec<Call>,
    /// Calls owned by each worker.
    per_worker: Vec<usize>,
    dir: std::path::PathBuf,
    script: std::path::PathBuf,
}

/// Only the caller sends. The member host has never sent anything, so its packets arrive
/// only once the relay has resolved 10.77.2.2 with its own ARP request; both hosts then
/// hold the relay ports' MACs for the relay addresses, learned from ARP.
fn warm_up(ctx: &mut Run) {
    let idle = Pace {
        count: 0,
        expect: 0,
        interval: INTERVAL,
        linger: Duration::from_millis(WARMUP as u64 * 100 + 800),
        limit: Duration::from_secs(15),
    };
    let warm = Pace {
        count: WARMUP,
        expect: 0,
        interval: Duration::from_millis(100),
        linger: Duration::from_millis(300),
        limit: Duration::from_secs(15),
    };
    let (_, member) = exchange(
        &ctx.topo,
        &ctx.dir,
        &ctx.script,
        &ctx.calls,
        "warmup",
        warm,
        idle,
    );
    eprintln!(
        "dpdk_netns[{} worker(s)]: warm-up: the member got {:?} of {WARMUP} packets per call",
        ctx.workers,
        member.iter().map(|m| m.good).collect::<Vec<_>>()
    );
    for (c, m) in ctx.calls.iter().zip(&member) {
        if m.good == 0 || m.bad_source + m.bad_ssrc + m.bad_payload != 0 {
            panic!(
                "{}: warm-up caller -> member: {m:?}\n{}",
                c.id,
                diagnose(&mut ctx.relay, &ctx.topo)
            );
        }
    }
    for side in [&ctx.topo.caller, &ctx.topo.member] {
        let mac = side.veth().root_mac().unwrap();
        let (lladdr, state) = side.neighbour(side.relay).unwrap().unwrap_or_else(|| {
            panic!(
                "{}: no neighbour entry for {}",
                side.ns().name(),
                side.relay
            )
        });
        assert_eq!(
            lladdr, mac,
            "{} resolved to the relay port's MAC",
            side.relay
        );
        assert_ne!(state, "PERMANENT");
        assert_eq!(side.permanent_neighbours().unwrap(), "");
    }
}

/// Both ways on every call at once: every packet arrives intact, and each worker's counters
/// grow by exactly the packets of the calls it owns, with no drop.
fn measure(ctx: &Run) {
    let before = settled_stats(&ctx.relay);
    let pace = Pace {
        count: PACKETS,
        expect: PACKETS,
        interval: INTERVAL,
        linger: Duration::from_secs(3),
        limit: Duration::from_secs(20),
    };
    let started = Instant::now();
    let (caller, member) = exchange(
        &ctx.topo,
        &ctx.dir,
        &ctx.script,
        &ctx.calls,
        "media",
        pace,
        pace,
    );
    let took = started.elapsed();
    for (c, (a, b)) in ctx.calls.iter().zip(caller.iter().zip(&member)) {
        for (who, f) in [("caller", a), ("member", b)] {
            assert_eq!(
                (
                    f.sent,
                    f.received,
                    f.good,
                    f.bad_source,
                    f.bad_ssrc,
                    f.bad_payload
                ),
                (PACKETS, PACKETS, PACKETS, 0, 0, 0),
                "{}: {who} endpoint (sent, received, good, bad source, bad SSRC, bad payload)",
                c.id
            );
        }
    }
    let want = |w: usize| i64::from(PACKETS) * 2 * ctx.per_worker[w] as i64;
    let total = |v: &[WorkerStats]| v.iter().map(|w| w.received).sum::<i64>();
    let goal = total(&before) + (0..ctx.workers).map(want).sum::<i64>();
    let start = Instant::now();
    while total(&stats(&ctx.relay)) < goal && start.elapsed() < PUBLISH {
        thread::sleep(Duration::from_millis(50));
    }
    let after = settled_stats(&ctx.relay);
    for w in 0..ctx.workers {
        let (b, a) = (&before[w], &after[w]);
        let delta = (a.received - b.received, a.relayed - b.relayed);
        eprintln!(
            "dpdk_netns[{} worker(s)]: worker {w}: owns {} calls, received {} relayed {} sent {} \
             (expected {} each)",
            ctx.workers,
            ctx.per_worker[w],
            delta.0,
            delta.1,
            a.sent - b.sent,
            want(w)
        );
        assert_eq!(
            delta,
            (want(w), want(w)),
            "worker {w} received and relayed exactly the packets of the calls it owns"
        );
        assert!(
            a.sent - b.sent >= want(w),
            "worker {w} sent every relayed frame"
        );
        assert_eq!(
            a.send_failures, b.send_failures,
            "worker {w}: send failures"
        );
        assert_eq!(
            a.drops, b.drops,
            "worker {w}: no drop of any reason during the measured phase"
        );
    }
    let pps = f64::from(PACKETS) * 2.0 * f64::from(CALLS) / took.as_secs_f64();
    eprintln!(
        "dpdk_netns[{} worker(s)]: {} calls x {PACKETS} packets each way relayed and checked \
         in {took:?} ({pps:.0} packets/s offered)",
        ctx.workers, CALLS
    );
}

/// A clean exit on SIGTERM, and what each worker did besides relaying: the relay answered
/// the caller's ARP and resolved the member itself; every hand-off arrived.
fn check_exit(mut ctx: Run) {
    let status = ctx.relay.terminate(Duration::from_secs(10)).unwrap();
    assert!(status.success(), "ferrovox exit status {status}");
    let log = ctx.relay.log();
    let stopped = worker_stop_lines(&log);
    assert_eq!(
        stopped.len(),
        ctx.workers,
        "one stop line per worker:\n{log}"
    );
    let sum = |k: &str| stopped.iter().map(|m| field(m, k)).sum::<u64>();
    eprintln!(
        "dpdk_netns[{} worker(s)]: arp_replies {} requests_sent {} learned {} unresolved {} \
         handed_off {} handoff_received {}",
        ctx.workers,
        sum("arp_replies"),
        sum("requests_sent"),
        sum("learned"),
        sum("unresolved"),
        sum("handed_off"),
        sum("handoff_received")
    );
    assert!(
        sum("arp_replies") >= 1,
        "the relay answered the caller's ARP"
    );
    assert!(
        sum("requests_sent") >= 1,
        "the relay resolved the member itself"
    );
    assert!(sum("learned") >= 2, "both hosts' MACs were learned");
    assert_eq!(sum("no_route"), 0);
    assert_eq!(sum("handoff_dropped"), 0);
    assert_eq!(sum("notes_lost"), 0);
    assert_eq!(sum("handed_off"), sum("handoff_received"));
    if ctx.workers == 1 {
        assert_eq!(sum("handed_off"), 0);
    }
}

/// How long one SIP message may take to arrive.
const SIP_WAIT: Duration = Duration::from_secs(5);

/// The test's two SIP user agents, UDP on 127.0.0.1 (kernel sockets in the root namespace):
/// the caller, which sends to the daemon's SIP proxy, and the one member of the proxy's
/// anchored set. Their SDPs name the endpoints inside the namespaces, whose media crosses the
/// DPDK ports.
struct SipPeers {
    caller: UdpSocket,
    member: UdpSocket,
    proxy: SocketAddr,
    /// The dialogs set up so far, in call order.
    dialogs: Vec<Dialog>,
}

/// A confirmed dialog as the caller holds it (RFC 3261 §12.1.2).
struct Dialog {
    /// The call's number (its branches are made of it).
    n: u16,
    call_id: String,
    /// The From header value, with the caller's tag.
    from: String,
    /// The To header value of the 200, with the member's tag.
    to: String,
    /// The member's Contact URI: the Request-URI of requests within the dialog.
    target: String,
    /// The 200's Record-Route values, reversed: the Route of requests within the dialog.
    route: Vec<String>,
}

impl SipPeers {
    /// The caller and the member on the block's UAC and UAS ports, toward the proxy on its
    /// SIP port.
    fn bind(block: &PortBlock) -> SipPeers {
        let bind = |port: u16| {
            UdpSocket::bind((LOOPBACK, port))
                .unwrap_or_else(|e| panic!("bind {LOOPBACK}:{port}: {e}"))
        };
        SipPeers {
            caller: bind(block.uac_sip()),
            member: bind(block.uas_sip()),
            proxy: SocketAddr::from((LOOPBACK, block.proxy_sip())),
            dialogs: Vec::new(),
        }
    }

    /// The daemon's SIP side for these peers.
    fn config(&self) -> AnchoredSip {
        AnchoredSip {
            proxy_port: self.proxy.port(),
            member_port: local(&self.member).port(),
        }
    }

    /// Call `n`: the caller's INVITE with `offer` reaches the member with the SDP naming the
    /// relay's internal side; the member's 180 and its 200 with `answer` reach the caller with
    /// the external side; the caller's ACK follows the Record-Route to the member.
    fn call(&mut self, n: u16, offer: &str, answer: &str) -> Told {
        let call_id = format!("netns-{n}@e2e");
        let caller = local(&self.caller);
        let invite = format!(
            "INVITE sip:pool-{n}@{proxy} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {caller};branch=z9hG4bK-netns-{n}-invite\r\n\
             Max-Forwards: 70\r\nFrom: <sip:caller@{ip}>;tag=caller-{n}\r\n\
             To: <sip:pool-{n}@{ip}>\r\nCall-ID: {call_id}\r\nCSeq: 1 INVITE\r\n\
             Contact: <sip:caller@{caller}>\r\nContent-Type: application/sdp\r\n\
             Content-Length: {len}\r\n\r\n{offer}",
            proxy = self.proxy,
            ip = caller.ip(),
            len = offer.len(),
        );
        send(&self.caller, &invite, self.proxy);
        let inv = self.member_receives("INVITE", &call_id);
        assert_eq!(
            inv.one("max-forwards"),
            "69",
            "{call_id}: RFC 3261 §16.6 step 3"
        );
        let relay_for_member = only_audio(&inv, "the INVITE the member got");
        let contact = format!("<sip:member@{}>", local(&self.member));
        let us = Some((contact.as_str(), format!("member-{n}")));
        self.member_answers(&inv, "180 Ringing", us.clone(), None);
        self.member_answers(&inv, "200 OK", us, Some(answer));
        let (ok, provisional) = self.caller_receives(200, "INVITE", &call_id);
        assert!(
            provisional.contains(&180),
            "{call_id}: the caller got the 180 (it got {provisional:?})"
        );
        let relay_for_caller = only_audio(&ok, "the 200 the caller got");
        let mut route = ok.all("record-route");
        route.reverse();
        assert!(
            !route.is_empty(),
            "{call_id}: the proxy record-routes:\n{}",
            ok.text
        );
        let dialog = Dialog {
            n,
            from: ok.one("from").to_owned(),
            to: ok.one("to").to_owned(),
            target: uri_of(ok.one("contact")).to_owned(),
            route,
            call_id,
        };
        self.send_in_dialog(&dialog, 1, "ACK");
        let ack = self.member_receives("ACK", &dialog.call_id);
        assert_eq!(ack.body, "", "{}: the ACK carries no SDP", dialog.call_id);
        let key = format!("sip {}", dialog.call_id);
        self.dialogs.push(dialog);
        Told {
            key,
            relay_for_caller,
            relay_for_member,
        }
    }

    /// A BYE from the caller on every call: the member gets it and answers, the caller gets
    /// the 200, and the relay no longer knows the call (`delete_delay_secs = 0`).
    fn hang_up(&mut self, ng: &NgClient) {
        for d in std::mem::take(&mut self.dialogs) {
            let key = format!("sip {}", d.call_id);
            assert_eq!(
                ng.query(&key).unwrap(),
                CallState::Present,
                "{key} before the BYE"
            );
            self.send_in_dialog(&d, 2, "BYE");
            let bye = self.member_receives("BYE", &d.call_id);
            assert_eq!(uri_of(bye.start.split(' ').nth(1).unwrap_or("")), d.target);
            self.member_answers(&bye, "200 OK", None, None);
            self.caller_receives(200, "BYE", &d.call_id);
            let start = Instant::now();
            let mut state = ng.query(&key).unwrap();
            while state == CallState::Present && start.elapsed() < PUBLISH {
                thread::sleep(Duration::from_millis(50));
                state = ng.query(&key).unwrap();
            }
            assert!(
                matches!(state, CallState::Unknown(_)),
                "{key}: the relay still holds the call after the BYE"
            );
        }
        let left = ng.list(100).unwrap();
        assert!(left.is_empty(), "calls left after the BYEs: {left:?}");
        eprintln!("dpdk_netns[SIP]: {CALLS} calls ended by BYE; the relay holds none");
    }

    /// A request of the caller within `d` (RFC 3261 §12.2.1.1): to the member's Contact, along
    /// the route set, to the first route's address (a loose router, `;lr`).
    fn send_in_dialog(&self, d: &Dialog, cseq: u32, method: &str) {
        let first = d.route.first().map_or(d.target.as_str(), |r| uri_of(r));
        assert!(
            first.contains(";lr"),
            "{}: a loose route: {first}",
            d.call_id
        );
        let caller = local(&self.caller);
        let request = format!(
            "{method} {target} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {caller};branch=z9hG4bK-netns-{n}-{lower}\r\n\
             Max-Forwards: 70\r\nRoute: {route}\r\nFrom: {from}\r\nTo: {to}\r\n\
             Call-ID: {call_id}\r\nCSeq: {cseq} {method}\r\nContent-Length: 0\r\n\r\n",
            target = d.target,
            n = d.n,
            lower = method.to_ascii_lowercase(),
            route = d.route.join(", "),
            from = d.from,
            to = d.to,
            call_id = d.call_id,
        );
        send(&self.caller, &request, uri_addr(first));
    }

    /// The next request `method` of `call_id` the member receives; OPTIONS probes on the way
    /// are answered 200, anything else fails the test.
    fn member_receives(&self, method: &str, call_id: &str) -> Msg {
        let deadline = Instant::now() + SIP_WAIT;
        loop {
            let m = receive(&self.member, deadline, &format!("{method} of {call_id}"));
            match m.method() {
                Some("OPTIONS") => self.member_answers(&m, "200 OK", None, None),
                Some(got) if got == method && m.one("call-id") == call_id => return m,
                _ => panic!(
                    "the member waited for {method} of {call_id}, got:\n{}",
                    m.text
                ),
            }
        }
    }

    /// The member's response to `request` (RFC 3261 §8.2.6.2): its Via, From, To, Call-ID and
    /// CSeq copied, a To tag added; with `dialog` (Contact, tag), its Record-Route too
    /// (§12.1.1); with `sdp`, that body. Sent where the top Via says (§18.2.2).
    fn member_answers(
        &self,
        request: &Msg,
        status: &str,
        dialog: Option<(&str, String)>,
        sdp: Option<&str>,
    ) {
        let mut out = format!("SIP/2.0 {status}\r\n");
        let mut copy = |name: &str| {
            for (k, v) in request.headers.iter().filter(|(k, _)| k == name) {
                out.push_str(&format!("{}: {v}\r\n", display(k)));
            }
        };
        copy("via");
        if dialog.is_some() {
            copy("record-route");
        }
        copy("from");
        let to = request.one("to");
        match &dialog {
            Some((_, tag)) if !to.contains(";tag=") => {
                out.push_str(&format!("To: {to};tag={tag}\r\n"))
            }
            _ => out.push_str(&format!("To: {to}\r\n")),
        }
        out.push_str(&format!(
            "Call-ID: {}\r\nCSeq: {}\r\n",
            request.one("call-id"),
            request.one("cseq")
        ));
        if let Some((contact, _)) = &dialog {
            out.push_str(&format!("Contact: {contact}\r\n"));
        }
        let body = sdp.unwrap_or("");
        if sdp.is_some() {
            out.push_str("Content-Type: application/sdp\r\n");
        }
        out.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
        send(&self.member, &out, via_destination(request.one("via")));
    }

    /// The caller's final response `code` to its `method` of `call_id`, and the provisional
    /// ones before it; any other response fails the test.
    fn caller_receives(&self, code: u16, method: &str, call_id: &str) -> (Msg, Vec<u16>) {
        let deadline = Instant::now() + SIP_WAIT;
        let mut provisional = Vec::new();
        loop {
            let m = receive(
                &self.caller,
                deadline,
                &format!("{code} to {method} of {call_id}"),
            );
            let ours = m.one("call-id") == call_id
                && m.one("cseq").split_whitespace().nth(1) == Some(method);
            match m.status() {
                Some(c) if ours && c < 200 => provisional.push(c),
                Some(c) if ours && c == code => return (m, provisional),
                _ => panic!(
                    "the caller waited for {code} to {method} of {call_id}, got:\n{}",
                    m.text
                ),
            }
        }
    }
}

/// One SIP message as the peers read it: start line, headers (names in lower case and long
/// form, values trimmed, in order) and body.
struct Msg {
    text: String,
    start: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Msg {
    /// Parses a datagram; a message that is not well-formed SIP fails the test, and so does
    /// a Content-Length other than the body's (the proxy rewrote the SDP and must say so).
    fn parse(datagram: &[u8]) -> Msg {
        let text = String::from_utf8_lossy(datagram).into_owned();
        let (head, body) = text
            .split_once("\r\n\r\n")
            .unwrap_or_else(|| panic!("no empty line ending the header:\n{text}"));
        let mut lines = head.split("\r\n");
        let start = lines.next().unwrap_or("").to_owned();
        let mut headers: Vec<(String, String)> = Vec::new();
        for line in lines {
            match (line.starts_with([' ', '\t']), headers.last_mut()) {
                // A folded line continues the header before it (RFC 3261 §7.3.1).
                (true, Some((_, v))) => {
                    v.push(' ');
                    v.push_str(line.trim());
                }
                _ => {
                    let (k, v) = line
                        .split_once(':')
                        .unwrap_or_else(|| panic!("not a header line {line:?} in:\n{text}"));
                    headers.push((long_name(k.trim()), v.trim().to_owned()));
                }
            }
        }
        let m = Msg {
            start,
            body: body.to_owned(),
            headers,
            text: text.clone(),
        };
        let len: usize = m.one("content-length").parse().unwrap_or(usize::MAX);
        assert_eq!(len, m.body.len(), "Content-Length of:\n{text}");
        m
    }

    /// The value of header `name`, which must be there.
    fn one(&self, name: &str) -> &str {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("no {name} in:\n{}", self.text))
    }

    /// Every value of header `name`, comma-separated lists split (RFC 3261 §7.3.1).
    fn all(&self, name: &str) -> Vec<String> {
        self.headers
            .iter()
            .filter(|(k, _)| k == name)
            .flat_map(|(_, v)| split_list(v))
            .collect()
    }

    /// A request's method.
    fn method(&self) -> Option<&str> {
        (!self.start.starts_with("SIP/2.0 ")).then(|| self.start.split(' ').next().unwrap_or(""))
    }

    /// A response's status code.
    fn status(&self) -> Option<u16> {
        self.start.strip_prefix("SIP/2.0 ")?.get(..3)?.parse().ok()
    }
}

/// The long form of a header name, in lower case (RFC 3261 §7.3.3 compact forms).
fn long_name(name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    let long = match lower.as_str() {
        "v" => "via",
        "f" => "from",
        "t" => "to",
        "i" => "call-id",
        "m" => "contact",
        "l" => "content-length",
        "c" => "content-type",
        other => other,
    };
    long.to_owned()
}

/// A header name as written in the messages the member sends.
fn display(name: &str) -> &str {
    match name {
        "via" => "Via",
        "record-route" => "Record-Route",
        "from" => "From",
        _ => name,
    }
}

/// The values of a comma-separated header (commas inside `<>` or quotes belong to a value).
fn split_list(value: &str) -> Vec<String> {
    let (mut out, mut cur) = (Vec::new(), String::new());
    let (mut angle, mut quoted) = (false, false);
    for c in value.chars() {
        match c {
            '<' if !quoted => angle = true,
            '>' if !quoted => angle = false,
            '"' => quoted = !quoted,
            ',' if !angle && !quoted => {
                out.push(cur.trim().to_owned());
                cur.clear();
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    out.push(cur.trim().to_owned());
    out
}

/// The URI of a name-addr (`"x" <sip:...>;params` gives `sip:...`), or the addr-spec itself.
fn uri_of(value: &str) -> &str {
    match (value.find('<'), value.find('>')) {
        (Some(a), Some(b)) if a < b => &value[a + 1..b],
        _ => value,
    }
}

/// The IPv4 socket address of a `sip:` URI with an IP literal host (port 5060 if absent).
fn uri_addr(uri: &str) -> SocketAddr {
    let rest = uri
        .strip_prefix("sip:")
        .unwrap_or_else(|| panic!("not a sip: URI: {uri}"));
    let hostport = rest.rsplit('@').next().unwrap_or(rest);
    let hostport = hostport.split([';', '?']).next().unwrap_or(hostport);
    host_port(hostport).unwrap_or_else(|| panic!("no IPv4 host in {uri}"))
}

/// `a.b.c.d[:port]`, port 5060 if absent (RFC 3261 §19.1.2).
fn host_port(s: &str) -> Option<SocketAddr> {
    let (host, port) = match s.split_once(':') {
        Some((h, p)) => (h, p.parse().ok()?),
        None => (s, 5060),
    };
    Some(SocketAddr::from((host.parse::<Ipv4Addr>().ok()?, port)))
}

/// Where a response goes over UDP (RFC 3261 §18.2.2, RFC 3581 §4): the top Via's sent-by,
/// its `received` host and `rport` port when it has them.
fn via_destination(via: &str) -> SocketAddr {
    let top = split_list(via).into_iter().next().unwrap_or_default();
    let mut parts = top.split(';');
    let sent_by = parts.next().and_then(|p| p.split_whitespace().nth(1));
    let mut to = sent_by
        .and_then(host_port)
        .unwrap_or_else(|| panic!("no IPv4 sent-by in Via {top}"));
    for param in parts {
        match param.trim().split_once('=') {
            Some(("received", ip)) => to.set_ip(ip.parse().unwrap_or_else(|_| panic!("{top}"))),
            Some(("rport", p)) => to.set_port(p.parse().unwrap_or_else(|_| panic!("{top}"))),
            _ => {}
        }
    }
    to
}

/// The one audio endpoint (IPv4) of a message's SDP.
fn only_audio(m: &Msg, what: &str) -> SocketAddrV4 {
    assert_eq!(
        m.one("content-type"),
        "application/sdp",
        "{what}:\n{}",
        m.text
    );
    match audio_endpoints(&m.body).as_slice() {
        [SocketAddr::V4(a)] => *a,
        other => panic!(
            "{what}: one IPv4 audio endpoint expected, found {other:?}:\n{}",
            m.text
        ),
    }
}

fn local(socket: &UdpSocket) -> SocketAddr {
    socket.local_addr().unwrap()
}

fn send(socket: &UdpSocket, message: &str, to: SocketAddr) {
    socket
        .send_to(message.as_bytes(), to)
        .unwrap_or_else(|e| panic!("send to {to}: {e}"));
}

/// The next message on `socket` before `deadline`; none fails the test, naming `what`.
fn receive(socket: &UdpSocket, deadline: Instant, what: &str) -> Msg {
    let left = deadline.saturating_duration_since(Instant::now());
    socket
        .set_read_timeout(Some(left.max(Duration::from_millis(1))))
        .unwrap();
    let mut buf = vec![0u8; 65_535];
    match socket.recv(&mut buf) {
        Ok(n) => Msg::parse(&buf[..n]),
        Err(e) => panic!("no {what} within {SIP_WAIT:?}: {e}"),
    }
}
