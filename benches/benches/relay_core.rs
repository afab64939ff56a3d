//! Relay decision + header rewrite per packet on the memory backend, from 1,000 to 1,000,000
//! installed flows, and data-plane memory per call.
//!
//! A flow is one direction of one call's RTP: one relay port pair (RTP + RTCP) with its record.
//! A call has two flows (its two legs), so 1,000,000 flows are 500,000 calls, spread over as many
//! relay addresses as the port space needs (32,256 pairs per address). Packets are 200-byte RTP
//! packets in Ethernet/IPv4/UDP frames, sent to the flows in a random order so that every
//! packet's records are as cold as the table size makes them. Each packet is parsed, looked up,
//! latched, counted (RTP stats), and its frame rewritten in place (MACs, addresses, ports,
//! checksums) for the other leg. For comparison the same run measures a baseline loop that
//! receives and rewrites every frame toward a fixed destination without any lookup.
//!
//! Run: `cargo bench -p benches --bench relay_core` (add `-- --quick` for a short run).
#![forbid(unsafe_code)]

use dataplane::{AddrRange, PortLayout, SharedCounters, Worker, WorkerParams};
use pktio::memory::{FlowTuple, MemoryIo};
use pktio::{PacketIo, RelayAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wire::Endpoint;

use benches::flows::{install_calls, relay_ip, PAIRS_PER_ADDR, PORT_MAX, PORT_MIN};

const BURST: usize = 32;

struct Setup {
    worker: Worker<MemoryIo>,
    flows: Vec<FlowTuple>,
    calls: usize,
    install_ns: f64,
}

fn rtp_template() -> Vec<u8> {
    let mut rtp = vec![0x80, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1];
    rtp.resize(200, 0xd5);
    let mut frame = Vec::new();
    wire::frame::build_udp(
        &mut frame,
        [2, 0, 0, 0, 0, 1],
        [2, 0, 0, 0, 0, 2],
        &Endpoint::new_v4([172, 16, 0, 1], 4000),
        &Endpoint::new_v4([10, 1, 0, 0], 1024),
        &rtp,
    );
    frame[40..42].copy_from_slice(&[0, 0]); // IPv4 UDP checksum "none" (RFC 768)
    frame
}

fn setup(flows: usize) -> Setup {
    let calls = flows / 2;
    let addrs = (flows as u32).div_ceil(PAIRS_PER_ADDR) as usize;
    let ranges = (0..addrs)
        .map(|_| AddrRange {
            port_min: PORT_MIN,
            port_max: PORT_MAX,
        })
        .collect();
    let layout = Arc::new(PortLayout::new(ranges, 1).expect("layout"));
    let relay: Vec<RelayAddr> = (0..addrs)
        .map(|i| RelayAddr {
            ip: relay_ip(i).into(),
            mac: [2, 0, 0, 0, 1, i as u8],
        })
        .collect();
    let io = MemoryIo::new(relay, [2, 0, 0, 0, 0, 1], BURST);
    let (_cmd_tx, cmd_rx) = rtrb::RingBuffer::new(16);
    let (ev_tx, _ev_rx) = rtrb::RingBuffer::new(16);
    let params = WorkerParams {
        id: 0,
        layout: layout.clone(),
        learning: Duration::from_secs(3),
        timeout: Duration::from_secs(60),
        hold_timeout: Duration::from_secs(3600),
        tick: Duration::from_millis(20),
        epoch: Instant::now(),
    };
    let mut worker = Worker::new(
        params,
        io,
        cmd_rx,
        ev_tx,
        Arc::new(SharedCounters::default()),
    );
    let t0 = Instant::now();
    let shuffle = std::env::var("RELAY_CORE_ORDER").map_or(true, |v| v != "sequential");
    let tuples = install_calls(&mut worker, calls, shuffle);
    let install_ns = t0.elapsed().as_nanos() as f64 / calls.max(1) as f64;
    Setup {
        worker,
        flows: tuples,
        calls,
        install_ns,
    }
}

/// Runs `packets` packets through the worker; returns ns per packet.
fn run(w: &mut Worker<MemoryIo>, flows: &[FlowTuple], packets: u64) -> f64 {
    w.io().replay_flows(rtp_template(), flows.to_vec(), packets);
    let t0 = Instant::now();
    let mut clock = 1_000_000_000u64;
    while w.io().pending() > 0 {
        clock += 1_000;
        let now = clock;
        w.iterate(|| now);
    }
    t0.elapsed().as_nanos() as f64 / packets as f64
}

/// The receive side alone: the same frames generated and parsed, then dropped.
fn rx_only(io: &mut MemoryIo, packets: u64) -> f64 {
    let t0 = Instant::now();
    let mut seen = 0u64;
    while io.pending() > 0 {
        let (n, _) = io
            .rx_burst(Duration::ZERO)
            .unwrap_or((0, Default::default()));
        for i in 0..n {
            seen += io.packet(i).map_or(0, |p| u64::from(p.local.port));
        }
        io.flush();
    }
    std::hint::black_box(seen);
    t0.elapsed().as_nanos() as f64 / packets as f64
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let only: Option<usize> = std::env::var("RELAY_CORE_FLOWS")
        .ok()
        .and_then(|v| v.parse().ok());
    let fixed_packets: Option<u64> = std::env::var("RELAY_CORE_PACKETS")
        .ok()
        .and_then(|v| v.parse().ok());
    let all: &[usize] = if quick {
        &[1_000, 100_000]
    } else {
        &[1_000, 10_000, 100_000, 1_000_000]
    };
    let sizes: Vec<usize> = only.map_or_else(|| all.to_vec(), |f| vec![f]);
    let order = if std::env::var("RELAY_CORE_ORDER").is_ok_and(|v| v == "sequential") {
        "sequential"
    } else {
        "random"
    };
    println!("relay_core: relay decision + in-place rewrite per packet, memory backend, one core");
    println!(
        "conditions: {} | 200-byte RTP in IPv4/UDP frames | burst {BURST} | {order} flow order | best of 3 runs",
        cpu_model()
    );
    println!(
        "{:>10} {:>6} {:>12} {:>12} {:>16} {:>8} {:>11}",
        "flows", "addrs", "loop ns/pkt", "rx ns/pkt", "relay+rewrite ns", "B/call", "install ns"
    );
    for &flows in &sizes {
        let mut s = setup(flows);
        let packets = fixed_packets.unwrap_or(if quick {
            2_000_000
        } else {
            (flows as u64 * 3).clamp(10_000_000, 20_000_000)
        });
        // Warm-up pass: latches every flow and faults in every page.
        run(&mut s.worker, &s.flows, flows as u64);
        // The machine is shared: each figure is the best of three runs.
        let relay = (0..3)
            .map(|_| run(&mut s.worker, &s.flows, packets))
            .fold(f64::MAX, f64::min);
        let fwd = s.worker.counters().forwarded;
        assert!(
            fwd >= 3 * packets,
            "every packet must be relayed (forwarded {fwd} of {})",
            3 * packets
        );
        let relay_addrs: Vec<RelayAddr> = (0..(flows as u32).div_ceil(PAIRS_PER_ADDR) as usize)
            .map(|i| RelayAddr {
                ip: relay_ip(i).into(),
                mac: [2, 0, 0, 0, 1, i as u8],
            })
            .collect();
        let mut io = MemoryIo::new(relay_addrs, [2, 0, 0, 0, 0, 1], BURST);
        let rx = (0..3)
            .map(|_| {
                io.replay_flows(rtp_template(), s.flows.clone(), packets);
                rx_only(&mut io, packets)
            })
            .fold(f64::MAX, f64::min);
        let per_call = s.worker.table().bytes_allocated() as f64 / s.calls as f64;
        let addrs = (flows as u32).div_ceil(PAIRS_PER_ADDR);
        println!(
            "{flows:>10} {addrs:>6} {relay:>12.1} {rx:>12.1} {:>16.1} {per_call:>8.0} {:>11.0}",
            relay - rx,
            s.install_ns
        );
    }
    println!("loop: the worker's whole loop per packet (frame generation + parse, relay decision, stats, in-place rewrite, tx);");
    println!("rx: frame generation + parse alone; relay+rewrite = loop - rx: what the relay core adds per packet;");
    println!("B/call: session-table memory per installed call (both legs, RTP + RTCP), allocated in 6 MiB chunks (three 2 MiB huge pages).");
}
