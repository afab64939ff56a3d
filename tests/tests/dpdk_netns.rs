//! The DPDK data plane end to end, in network namespaces the test creates and removes.
//!
//! A caller namespace (10.77.1.2/24) and a member namespace (10.77.2.2/24) are each joined to
//! the root namespace by a veth pair. The root ends have no address: the real daemon, built
//! with the `dpdk` feature and started with `[dataplane] backend = "dpdk"` on `--no-huge`,
//! opens them as `net_af_packet` ports and owns 10.77.1.1 (`external`) and 10.77.2.1
//! (`internal`) itself: it answers ARP for them and resolves the hosts' MACs with its own ARP
//! requests (no static neighbour entry exists anywhere). Its ng socket stays on 127.0.0.1.
//!
//! Four calls are anchored with ng offer/answer; RTP endpoints inside the namespaces send
//! numbered packets both ways and check every packet that comes back (source, SSRC, payload,
//! count). The per-worker counters of ng `statistics` must show every packet received and
//! relayed by the worker that owns the call's ports, with nothing dropped; with two workers
//! the ports use two queue pairs (`qpairs=2`), so frames landing on the other worker's queue
//! are handed to their owner, and the daemon's exit log must account for each hand-off.
//!
//! Needs root, `ip netns`, and a ferrovox binary (`FERROVOX_BIN`, else the workspace's
//! `target/debug/ferrovox`) built with `--features dpdk`; without one of them it fails with
//! what is missing, unless the developer opts out explicitly with `FERROVOX_TEST_SKIP=netns`
//! or `FERROVOX_TEST_SKIP=dpdk` (tests/README.md). Built only with this crate's `dpdk`
//! feature: `tests/run-dpdk.sh` builds the DPDK daemon, then runs this with it. Also needs
//! `ip` (iproute2), `ethtool` and `python3`.

#![allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a test failure.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::Path;
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

use dataplane::{AddrRange, PortLayout};
use e2e::daemon::{int_at, str_at};
use e2e::need::{self, Need};
use e2e::netns::dpdk::{
    announced_v4, worker_stats, worker_stop_lines, DpdkRelay, DpdkRelayConfig, Started, WorkerStats,
};
use e2e::netns::endpoint::{write_endpoint_script, Endpoint, Flow, FlowReport, Pace};
use e2e::netns::Side;
use e2e::ng::NgClient;
use e2e::ports::PortBlock;
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

/// One run: how many workers, and a letter that keeps its names apart from other runs.
struct Scenario {
    tag: char,
    workers: usize,
}

#[test]
fn dpdk_af_packet_relays_four_calls_both_ways_on_one_worker() {
    run(&Scenario {
        tag: 'a',
        workers: 1,
    });
}

#[test]
fn dpdk_af_packet_two_workers_relay_each_packet_on_its_owner() {
    run(&Scenario {
        tag: 'b',
        workers: 2,
    });
}

const TEST: &str = "dpdk_netns";

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

/// Offer from the caller (external) toward the member (internal), answer, and wait until
/// the worker has applied both.
fn anchor(ng: &NgClient, i: u16, block: &PortBlock, layout: &PortLayout) -> Call {
    let id = format!("netns-{i}@e2e");
    let (from_tag, to_tag) = (format!("{id}-caller"), format!("{id}-member"));
    let caller_port = HOST_PORT + 2 * i;
    let member_port = HOST_PORT + 1000 + 2 * i;
    let offer = ng
        .request(
            &RequestBuilder::new(Ng::Offer)
                .call_id(id.as_str())
                .from_tag(from_tag.as_str())
                .direction("external", "internal")
                .sdp(sdp(CALLER_HOST, caller_port, u32::from(i) + 1)),
        )
        .unwrap_or_else(|e| panic!("offer {id}: {e}"));
    let relay_for_member = announced_v4(&offer, "offer").unwrap();
    let answer = ng
        .request(
            &RequestBuilder::new(Ng::Answer)
                .call_id(id.as_str())
                .from_tag(from_tag.as_str())
                .to_tag(to_tag.as_str())
                .sdp(sdp(MEMBER_HOST, member_port, u32::from(i) + 100)),
        )
        .unwrap_or_else(|e| panic!("answer {id}: {e}"));
    let relay_for_caller = announced_v4(&answer, "answer").unwrap();
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
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let block = PortBlock::take().unwrap();
    let topo = Topology::create(s.tag);
    let dir = tempfile::Builder::new()
        .prefix("e2e-dpdk-netns-")
        .tempdir()
        .unwrap();
    let run_dir = dir.path().to_owned();
    let script = write_endpoint_script(&run_dir).unwrap();
    let config = DpdkRelayConfig::between(
        &topo.caller,
        &topo.member,
        PREFIX_LEN,
        s.workers,
        block.ng(),
        &format!("fv-e2e-{}{}", std::process::id() % 100_000, s.tag),
        (block.relay_external(), block.relay_internal()),
    );
    let relay = match DpdkRelay::start(dir, &config, START_LIMIT).unwrap() {
        Started::Running(r) => r,
        Started::NoDpdk(line) => {
            let why = format!(
                "the ferrovox binary has no DPDK support ({line}): build it with \
                 `cargo build -p ferrovox --features dpdk` (the system DPDK: \
                 deploy/install-dpdk.sh), or set FERROVOX_BIN"
            );
            need::unmet(TEST, Need::Dpdk, &why);
            return;
        }
    };

    // The fast path runs, with the workers asked for.
    assert!(
        relay.log().contains("DPDK fast path active"),
        "no fast-path line in the log"
    );
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

    // Four concurrent calls through the normal control path.
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
        .map(|i| anchor(relay.ng(), i, &block, &layout))
        .collect();
    let per_worker: Vec<usize> = (0..s.workers)
        .map(|w| calls.iter().filter(|c| c.owner == w).count())
        .collect();
    eprintln!(
        "dpdk_netns[{} worker(s)]: calls per owning worker {per_worker:?}",
        s.workers
    );
    assert!(
        per_worker.iter().all(|&n| n > 0),
        "the control plane placed calls on every worker: {per_worker:?}"
    );

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
    check_exit(r);
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
