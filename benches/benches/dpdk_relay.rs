//! Relay throughput and added latency on DPDK `net_ring` ports, against a plain io-forward loop
//! on the same setup.
//!
//! Setup: EAL on two lcores with `--no-huge`; one `net_ring` port whose receive ring a traffic
//! generator on the main lcore fills and whose transmit ring it drains (the generator plays the
//! wire). The worker lcore runs either
//! - io-forward: receive a burst, transmit it unchanged (DPDK testpmd's `io` mode), or
//! - relay: the Ferrovox worker (`dataplane::Worker` over `pktio::dpdk::DpdkIo`) with 1,000,000
//!   installed flows (500,000 calls): parse, session lookup, latching, RTP stats, in-place
//!   rewrite.
//!
//! Packets are G.711-sized: 12-byte RTP header + 160 bytes of audio (a 172-byte UDP payload,
//! 214-byte frame), IPv4 with UDP checksum 0 ("none", RFC 768), sent to the flows in a random
//! order. The generator recycles every returned mbuf (re-addressed to the next flow), so it
//! allocates nothing in the loop. Nothing is lost on rings (a full ring pushes back on the
//! generator), so the saturated rate is the zero-loss rate; latency is then measured with the
//! generator paced at 80% of it, from a TSC stamp in the payload to the frame's return.
//!
//! Where the worker's time goes, robust to a shared machine (the throughput is not: a
//! preempted lcore or a busy generator shows as fewer Mpps): the median TSC cycles per packet of
//! the worker's polls that carried packets, in both saturated phases; then, with generator and
//! relay taking turns on the main lcore (frames in that core's cache), the same for the relay
//! and for the backend alone (receive, parse, rewrite toward a fixed destination, transmit).
//!
//! Run: `cargo bench -p benches --features dpdk --bench dpdk_relay` (root, or a user allowed to
//! run DPDK; `-- --quick` for short phases). Env: `DPDK_RELAY_FLOWS` (default 1000000),
//! `DPDK_RELAY_SECS` (seconds per phase, default 5), `DPDK_RELAY_LCORES` (default `0,1`).
#![forbid(unsafe_code)]

use dataplane::{AddrRange, PortLayout, SharedCounters, Worker, WorkerParams};
use pktio::dpdk::{
    DpdkIo, DpdkIoConfig, DpdkLink, Eal, EalConfig, EthPort, MbufBurst, Mempool, PortSetup,
    RingPort,
};
use pktio::{PacketIo, PortKey, RelayAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};
use wire::Endpoint;

const BURST: usize = 32;
/// Frames in flight between generator and relay (bounded by the pool).
const IN_FLIGHT: usize = 2048;
const POOL: u32 = 8191;
const RING: u32 = 4096;
/// RTP header + 160 bytes of G.711 (20 ms at 8 kHz).
const RTP_PAYLOAD: usize = 172;
/// Where the generator's TSC stamp sits: after Ethernet, IPv4, UDP and the RTP header.
const STAMP_AT: usize = 14 + 20 + 8 + 12;
/// Latency samples kept at most.
const MAX_SAMPLES: usize = 4_000_000;

use benches::flows::{
    install_calls, relay_ip, FlowTuple as Flow, PAIRS_PER_ADDR, PORT_MAX, PORT_MIN,
};

fn template() -> Vec<u8> {
    let mut rtp = vec![0x80, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1];
    rtp.resize(RTP_PAYLOAD, 0xd5);
    let mut f = Vec::new();
    wire::frame::build_udp(
        &mut f,
        [2, 0, 0, 0, 0, 1],
        [2, 0, 0, 0, 0, 2],
        &Endpoint::new_v4([172, 16, 0, 1], 4000),
        &Endpoint::new_v4([10, 1, 0, 0], 1024),
        &rtp,
    );
    f[40..42].copy_from_slice(&[0, 0]);
    f
}

/// Addresses an IPv4/UDP frame to `flow` and fixes the IPv4 header checksum (RFC 791 §3.1).
fn patch(f: &mut [u8], (sip, sport, dip, dport): Flow) {
    if f.len() < STAMP_AT + 8 {
        return;
    }
    f[26..30].copy_from_slice(&sip);
    f[30..34].copy_from_slice(&dip);
    f[34..36].copy_from_slice(&sport.to_be_bytes());
    f[36..38].copy_from_slice(&dport.to_be_bytes());
    f[40..42].copy_from_slice(&[0, 0]);
    f[22] = 64;
    f[24..26].copy_from_slice(&[0, 0]);
    let c = wire::checksum::checksum(&f[14..34]);
    f[24..26].copy_from_slice(&c.to_be_bytes());
}

fn worker_with_flows(
    flows: usize,
    io: DpdkIo,
    layout: Arc<PortLayout>,
    epoch: Instant,
) -> (Worker<DpdkIo>, Vec<Flow>) {
    let (_cmd_tx, cmd_rx) = rtrb::RingBuffer::new(16);
    let (ev_tx, _ev_rx) = rtrb::RingBuffer::new(16);
    let params = WorkerParams {
        id: 0,
        layout,
        learning: Duration::from_secs(3),
        timeout: Duration::from_secs(3600),
        hold_timeout: Duration::from_secs(3600),
        tick: Duration::from_millis(20),
        epoch,
    };
    let mut w = Worker::new(
        params,
        io,
        cmd_rx,
        ev_tx,
        Arc::new(SharedCounters::default()),
    );
    let tuples = install_calls(&mut w, flows / 2, true);
    (w, tuples)
}

/// The generator on the main lcore.
struct Gen {
    ring: RingPort,
    ready: MbufBurst,
    out: MbufBurst,
    flows: Vec<Flow>,
    next: usize,
}

struct Pumped {
    returned: u64,
    secs: f64,
    latencies: Vec<u64>,
}

impl Gen {
    /// Sends and takes back frames for `secs` seconds after `warmup` seconds; `pace`: packets
    /// per second (None: as fast as the frames come back). With `pace`, every returned frame's
    /// latency (TSC cycles) is recorded, up to a bound.
    fn pump(&mut self, warmup: f64, secs: f64, pace: Option<f64>) -> Pumped {
        let hz = pktio::dpdk::tsc_hz() as f64;
        let t0 = pktio::dpdk::rdtsc();
        let warm_end = t0 + (warmup * hz) as u64;
        let end = warm_end + (secs * hz) as u64;
        let (mut sent, mut returned) = (0u64, 0u64);
        let mut measured_from = None;
        let mut latencies = Vec::with_capacity(if pace.is_some() { MAX_SAMPLES } else { 0 });
        loop {
            let now = pktio::dpdk::rdtsc();
            if now >= end {
                break;
            }
            if measured_from.is_none() && now >= warm_end {
                measured_from = Some((now, returned));
            }
            let before = self.ready.len();
            let got = match self.ring.tx_ring(0) {
                Some(r) => r.dequeue(&mut self.ready),
                None => 0,
            };
            if got > 0 {
                returned += got as u64;
                if pace.is_some() && measured_from.is_some() {
                    let room = MAX_SAMPLES - latencies.len().min(MAX_SAMPLES);
                    for i in (before..before + got).take(room) {
                        if let Some(d) = self.ready.data(i) {
                            let mut b = [0u8; 8];
                            b.copy_from_slice(&d[STAMP_AT..STAMP_AT + 8]);
                            latencies.push(now.saturating_sub(u64::from_le_bytes(b)));
                        }
                    }
                }
            }
            let allowed = match pace {
                None => BURST,
                Some(pps) => {
                    let due = ((now - t0) as f64 / hz * pps) as u64;
                    due.saturating_sub(sent).min(BURST as u64) as usize
                }
            };
            if self.out.is_empty() && allowed > 0 {
                let k = self.ready.move_front(&mut self.out, allowed);
                self.prefetch_out(k);
                let stamp = pktio::dpdk::rdtsc().to_le_bytes();
                for i in 0..k {
                    let flow = self.flows[self.next];
                    self.next = if self.next + 1 == self.flows.len() {
                        0
                    } else {
                        self.next + 1
                    };
                    if let Some(d) = self.out.data_mut(i) {
                        patch(d, flow);
                        d[STAMP_AT..STAMP_AT + 8].copy_from_slice(&stamp);
                    }
                }
            }
            if !self.out.is_empty() {
                if let Some(r) = self.ring.rx_ring(0) {
                    sent += r.enqueue(&mut self.out) as u64;
                }
            }
        }
        let stop = pktio::dpdk::rdtsc();
        let (from, base) = measured_from.unwrap_or((warm_end, 0));
        Pumped {
            returned: returned - base,
            secs: (stop - from) as f64 / hz,
            latencies,
        }
    }

    /// Asks for the header lines of the first `k` outgoing frames, writable, before they are
    /// re-addressed: the relay wrote them last (on its core), and a NIC would not pay these
    /// transfers on the generator's side.
    fn prefetch_out(&self, k: usize) {
        for i in 0..k {
            if let Some(d) = self.out.data(i).and_then(|d| d.first()) {
                pktio::prefetch_write(d);
            }
        }
    }

    /// Fills the relay's receive ring with one burst of frames (as `pump` does), or fewer when
    /// fewer are back.
    fn offer_burst(&mut self) -> usize {
        let k = self.ready.move_front(&mut self.out, BURST);
        self.prefetch_out(k);
        for i in 0..k {
            let flow = self.flows[self.next];
            self.next = if self.next + 1 == self.flows.len() {
                0
            } else {
                self.next + 1
            };
            if let Some(d) = self.out.data_mut(i) {
                patch(d, flow);
            }
        }
        self.ring.rx_ring(0).map_or(0, |r| r.enqueue(&mut self.out))
    }

    /// Takes back what the relay transmitted.
    fn take_back(&mut self) -> usize {
        self.ring
            .tx_ring(0)
            .map_or(0, |r| r.dequeue(&mut self.ready))
    }

    /// Takes back every frame still in flight (after the worker has stopped).
    fn drain(&mut self) {
        for _ in 0..1000 {
            let got = self
                .ring
                .tx_ring(0)
                .map_or(0, |r| r.dequeue(&mut self.ready));
            if got == 0 && self.ring.rx_ring(0).map_or(0, |r| r.count()) == 0 {
                break;
            }
        }
    }
}

/// Cycles-per-packet histogram buckets (one cycle each; the last takes everything above).
const HIST: usize = 8192;

/// Where a worker lcore's time went: the polls that returned packets, timed with the TSC. The
/// median per-packet cost of those polls is robust to the lcore being preempted now and then
/// (the machine may be shared), unlike the throughput.
#[derive(Debug, Clone)]
struct LoopStats {
    busy_cycles: u64,
    packets: u64,
    bursts: u64,
    empty: u64,
    /// Bursts by cycles per packet.
    hist: Vec<u64>,
}

impl Default for LoopStats {
    fn default() -> Self {
        Self {
            busy_cycles: 0,
            packets: 0,
            bursts: 0,
            empty: 0,
            hist: vec![0; HIST],
        }
    }
}

impl LoopStats {
    /// Counts a poll that started at TSC `t0` and carried `n` packets (none: an empty poll).
    fn poll(&mut self, t0: u64, n: usize) {
        if n > 0 {
            self.busy(t0, n);
        } else {
            self.empty += 1;
        }
    }

    /// Counts a poll that started at TSC `t0` and carried `n` packets.
    fn busy(&mut self, t0: u64, n: usize) {
        let c = pktio::dpdk::rdtsc().saturating_sub(t0);
        self.busy_cycles += c;
        self.packets += n as u64;
        self.bursts += 1;
        let per = (c / n.max(1) as u64).min(HIST as u64 - 1) as usize;
        if let Some(h) = self.hist.get_mut(per) {
            *h += 1;
        }
    }

    /// Mean cycles per packet over the polls that carried packets (preemptions included).
    fn mean_cycles(&self) -> f64 {
        self.busy_cycles as f64 / self.packets.max(1) as f64
    }

    /// Median cycles per packet over those polls.
    fn median_cycles(&self) -> f64 {
        let half = self.bursts.div_ceil(2);
        let mut seen = 0;
        for (c, &k) in self.hist.iter().enumerate() {
            seen += k;
            if seen >= half && k > 0 {
                return c as f64;
            }
        }
        f64::NAN
    }

    fn mean_burst(&self) -> f64 {
        self.packets as f64 / self.bursts.max(1) as f64
    }

    /// One line for the report.
    fn line(&self, hz: f64) -> String {
        format!(
            "median {:.0} cyc/pkt ({:.1} ns), mean {:.0}, mean burst {:.1}, {} empty polls",
            self.median_cycles(),
            self.median_cycles() / hz * 1e9,
            self.mean_cycles(),
            self.mean_burst(),
            self.empty
        )
    }
}

/// DPDK testpmd's `macswap` forward: receive a burst, swap each frame's destination and source
/// MAC addresses (the first data line is read and written, as the relay must), transmit it.
/// Returns the frames received.
#[inline(never)]
fn macswap_burst(b: &mut MbufBurst, port: u16) -> usize {
    let got = b.rx(port, 0);
    for i in 0..got {
        if let Some(d) = b.data_mut(i).and_then(|d| d.first_chunk_mut::<12>()) {
            let mut mac = [0u8; 6];
            mac.copy_from_slice(&d[..6]);
            d.copy_within(6..12, 0);
            d[6..12].copy_from_slice(&mac);
        }
    }
    if got > 0 {
        b.tx(port, 0);
    }
    got
}

/// One relay poll on the main lcore at worker time `now_ns`, for the profile (a function of
/// its own so callgrind can collect exactly it).
#[inline(never)]
fn relay_poll(w: &mut Worker<DpdkIo>, now_ns: u64) -> usize {
    w.iterate(|| now_ns)
}

/// Set in the environment of the bench run under callgrind by `--profile`.
const PROFILE_CHILD: &str = "DPDK_RELAY_PROFILE_CHILD";
/// Bursts of each loop the profile counts.
const PROFILE_BURSTS: usize = 2000;

/// Under callgrind (collecting only [`relay_poll`] and [`macswap_burst`]): every flow latched
/// first (not collected), then the relay and macswap loops on this lcore, generator taking
/// turns; prints the packets each loop carried.
fn profiled_loops(
    mut worker: Worker<DpdkIo>,
    gen: &mut Gen,
    port: u16,
    flows: usize,
    epoch: Instant,
) -> anyhow::Result<()> {
    for _ in 0..flows.div_ceil(BURST) + 8 {
        gen.offer_burst();
        worker.iterate(|| epoch.elapsed().as_nanos() as u64);
        gen.take_back();
    }
    // The worker's clock runs at the native pace (a burst every 32 x 100 ns), not at the
    // slowed-down pace under callgrind, so housekeeping weighs what it weighs natively.
    let (mut relayed, mut swapped) = (0usize, 0usize);
    let mut now_ns = epoch.elapsed().as_nanos() as u64;
    for _ in 0..PROFILE_BURSTS {
        gen.offer_burst();
        now_ns += (BURST * 100) as u64;
        relayed += relay_poll(&mut worker, now_ns);
        gen.take_back();
    }
    let mut b = MbufBurst::new(BURST);
    for _ in 0..PROFILE_BURSTS {
        gen.offer_burst();
        swapped += macswap_burst(&mut b, port);
        gen.take_back();
    }
    gen.drain();
    let c = worker.counters();
    println!(
        "profile: relay {relayed} macswap {swapped} forwarded {} flows {flows}",
        c.forwarded
    );
    Ok(())
}

/// `--profile`: runs this bench under callgrind and prints instructions per packet of the
/// relay loop and of macswap, and the relay's most costly functions (inclusive).
fn profile() -> anyhow::Result<()> {
    let exe = std::env::current_exe()?;
    let out = std::env::temp_dir().join(format!("dpdk_relay.callgrind.{}", std::process::id()));
    let run = std::process::Command::new("valgrind")
        .args(["--tool=callgrind", "--toggle-collect=*relay_poll*"])
        .arg("--toggle-collect=*macswap_burst*")
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg(&exe)
        .args(std::env::args().skip(1).filter(|a| a != "--profile"))
        .env(PROFILE_CHILD, "1")
        .output()
        .map_err(|e| anyhow::anyhow!("--profile needs valgrind (Debian package valgrind): {e}"))?;
    let stdout = String::from_utf8_lossy(&run.stdout);
    let line = stdout.lines().find(|l| l.starts_with("profile: "));
    let Some(line) = line.filter(|_| run.status.success()) else {
        anyhow::bail!(
            "the profiled run failed: {}\n{stdout}",
            String::from_utf8_lossy(&run.stderr)
        );
    };
    let num = |k: &str| -> f64 {
        let mut w = line.split_whitespace();
        w.position(|x| x == k)
            .and_then(|_| w.next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(f64::NAN)
    };
    let ann = std::process::Command::new("callgrind_annotate")
        .args(["--inclusive=yes", "--threshold=100"])
        .arg(&out)
        .output()?;
    let ann = String::from_utf8_lossy(&ann.stdout);
    let ir = |f: &str| -> f64 {
        ann.lines()
            .find(|l| l.contains(f))
            .and_then(|l| l.split_whitespace().next())
            .and_then(|v| v.replace(',', "").parse().ok())
            .unwrap_or(f64::NAN)
    };
    let (model, _) = cpu();
    println!("dpdk_relay --profile: callgrind, generator and loop taking turns on one lcore, {PROFILE_BURSTS} bursts each | {model}");
    println!("{line}");
    let (relay, swap) = (ir("relay_poll"), ir("macswap_burst"));
    println!(
        "instructions per packet: relay {:.0} (target <= 400), macswap {:.0}",
        relay / num("relay"),
        swap / num("macswap")
    );
    println!("relay, inclusive instructions per packet of its most costly functions:");
    let relay_pkts = num("relay");
    // The functions below the collected one (the callers above it carry the uncollected rest).
    let below = ann
        .lines()
        .skip_while(|l| !l.contains("relay_poll"))
        .skip(1);
    for l in below.filter(|l| l.contains(" [")).take(25) {
        let Some(v) = l.split_whitespace().next() else {
            continue;
        };
        let Ok(v) = v.replace(',', "").parse::<f64>() else {
            continue;
        };
        let name = l.split_once(")  ").map_or(l, |(_, n)| n);
        let name = name.split_once(" [").map_or(name, |(n, _)| n).trim();
        println!("  {:>7.1}  {name}", v / relay_pkts);
    }
    let _ = std::fs::remove_file(&out);
    Ok(())
}

fn cpu() -> (String, String) {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |k: &str| {
        info.lines()
            .find(|l| l.starts_with(k))
            .and_then(|l| l.split(':').nth(1))
            .map_or_else(|| "unknown".to_string(), |v| v.trim().to_string())
    };
    (field("model name"), field("cpu MHz"))
}

fn pct(sorted: &[u64], p: f64, hz: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)] as f64 / hz * 1e6
}

/// What a run measures, from the environment.
struct Settings {
    flows: usize,
    secs: f64,
    lcores: Vec<u32>,
}

impl Settings {
    /// `DPDK_RELAY_FLOWS`, `DPDK_RELAY_SECS`, `DPDK_RELAY_LCORES` (defaults per mode).
    fn from_env(child: bool, quick: bool) -> Self {
        let flows: usize = std::env::var("DPDK_RELAY_FLOWS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(if child { 10_000 } else { 1_000_000 })
            .max(2);
        let secs: f64 = std::env::var("DPDK_RELAY_SECS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(if quick { 2.0 } else { 5.0 });
        let lcores: Vec<u32> = std::env::var("DPDK_RELAY_LCORES")
            .unwrap_or_else(|_| "0,1".into())
            .split(',')
            .filter_map(|s| s.trim().parse().ok())
            .collect();
        Settings {
            flows,
            secs,
            lcores,
        }
    }
}

/// The ring port and the generator with its frames.
struct Bench {
    port_id: u16,
    gen: Gen,
    epoch: Instant,
    addrs: usize,
    frame_len: usize,
    install_s: f64,
}

/// The ring port, its mempool, the generator's frames and a worker holding `flows` flows.
fn set_up(eal: &Eal, flows: usize) -> anyhow::Result<(Bench, Worker<DpdkIo>)> {
    let pool = Arc::new(Mempool::new(eal, "bench_pool", POOL, 256, 2176, 0)?);
    let ring = RingPort::create(eal, "bench_ring", 1, RING, pool.clone())?;
    let port = Arc::new(EthPort::start(
        eal,
        ring.port_id(),
        &PortSetup {
            pools: vec![pool.clone()],
            ..PortSetup::default()
        },
    )?);
    let mut ready = MbufBurst::new(IN_FLIGHT + BURST);
    let tmpl = template();
    if ready.alloc(&pool, IN_FLIGHT, tmpl.len()) != IN_FLIGHT {
        anyhow::bail!("cannot allocate {IN_FLIGHT} mbufs");
    }
    for i in 0..IN_FLIGHT {
        if let Some(d) = ready.data_mut(i) {
            d.copy_from_slice(&tmpl);
        }
    }
    let addrs = (flows as u32).div_ceil(PAIRS_PER_ADDR) as usize;
    let ranges = (0..addrs)
        .map(|_| AddrRange {
            port_min: PORT_MIN,
            port_max: PORT_MAX,
        })
        .collect();
    let layout = Arc::new(PortLayout::new(ranges, 1)?);
    let relay: Vec<RelayAddr> = (0..addrs)
        .map(|i| RelayAddr {
            ip: relay_ip(i).into(),
            mac: port.mac(),
        })
        .collect();
    let io = DpdkIo::new(DpdkIoConfig {
        links: vec![DpdkLink::new(port.clone()).with_next_hop_mac([2, 0, 0, 0, 0, 1])],
        queue: 0,
        addr_link: vec![0; relay.len()],
        addrs: relay,
        burst: BURST,
        verify_udp_checksum: true,
        ..DpdkIoConfig::default()
    })?;
    let t_install = Instant::now();
    let epoch = Instant::now();
    let (worker, tuples) = worker_with_flows(flows, io, layout, epoch);
    let bench = Bench {
        port_id: port.id(),
        gen: Gen {
            ring,
            ready,
            out: MbufBurst::new(BURST),
            flows: tuples,
            next: 0,
        },
        epoch,
        addrs,
        frame_len: tmpl.len(),
        install_s: t_install.elapsed().as_secs_f64(),
    };
    Ok((bench, worker))
}

/// io-forward (`swap` false: the ceiling) or macswap (the yardstick: it touches every frame)
/// on `lcore` for `secs`, saturated: Mpps and the loop's cycles.
fn forward_phase(
    eal: &Eal,
    lcore: u32,
    b: &mut Bench,
    secs: f64,
    swap: bool,
) -> anyhow::Result<(f64, LoopStats)> {
    let stop = Arc::new(AtomicBool::new(false));
    let s2 = stop.clone();
    let port_id = b.port_id;
    let (ftx, frx) = mpsc::channel();
    let job = eal.launch(lcore, move || {
        let mut burst = MbufBurst::new(BURST);
        let mut st = LoopStats::default();
        while !s2.load(Ordering::Relaxed) {
            let t0 = pktio::dpdk::rdtsc();
            let got = if swap {
                macswap_burst(&mut burst, port_id)
            } else {
                let got = burst.rx(port_id, 0);
                if got > 0 {
                    burst.tx(port_id, 0);
                }
                got
            };
            st.poll(t0, got);
        }
        let _ = ftx.send(st);
    })?;
    let p = b.gen.pump(1.0, secs, None);
    stop.store(true, Ordering::Relaxed);
    let _ = job.join();
    b.gen.drain();
    Ok((p.returned as f64 / p.secs / 1e6, frx.recv()?))
}

/// The relay worker on `lcore` (the loop of `Worker::run`, same clock, timing the bursts that
/// carried packets) while the generator pumps for `secs` after `warm` seconds, saturated
/// (`pace` None) or paced: the worker back, what was pumped and the loop's cycles.
fn relay_phase(
    eal: &Eal,
    lcore: u32,
    worker: Worker<DpdkIo>,
    b: &mut Bench,
    (warm, secs, pace): (f64, f64, Option<f64>),
) -> anyhow::Result<(Worker<DpdkIo>, Pumped, LoopStats)> {
    let stop = Arc::new(AtomicBool::new(false));
    let s2 = stop.clone();
    let epoch = b.epoch;
    let (tx, rx) = mpsc::channel();
    let job = eal.launch(lcore, move || {
        let mut w = worker;
        let mut st = LoopStats::default();
        while !s2.load(Ordering::Relaxed) {
            let t0 = pktio::dpdk::rdtsc();
            let n = w.iterate(|| epoch.elapsed().as_nanos() as u64);
            st.poll(t0, n);
        }
        let _ = tx.send((w, st));
    })?;
    let p = b.gen.pump(warm, secs, pace);
    stop.store(true, Ordering::Relaxed);
    let _ = job.join();
    let (w, st) = rx.recv()?;
    b.gen.drain();
    Ok((w, p, st))
}

/// Diagnostics with generator and relay taking turns on this lcore for up to 2 s each, so the
/// frames are in this core's cache: the whole relay, then the backend alone (receive, rewrite
/// every frame toward one fixed destination, transmit; no session lookup). The two loops are
/// written out: behind one helper taking the poll as a closure, the relay's loop measured 143
/// cycles per packet instead of 107 in back-to-back runs.
fn same_lcore(worker: &mut Worker<DpdkIo>, b: &mut Bench, secs: f64) -> (LoopStats, LoopStats) {
    let mut same = LoopStats::default();
    let epoch = b.epoch;
    let t_end = Instant::now() + Duration::from_secs_f64(secs.min(2.0));
    while Instant::now() < t_end {
        for _ in 0..1000 {
            b.gen.offer_burst();
            let t0 = pktio::dpdk::rdtsc();
            let n = worker.iterate(|| epoch.elapsed().as_nanos() as u64);
            same.poll(t0, n);
            b.gen.take_back();
        }
    }
    b.gen.drain();
    let mut io_only = LoopStats::default();
    let fixed = Endpoint::new_v4([172, 16, 0, 9], 4000);
    let t_end = Instant::now() + Duration::from_secs_f64(secs.min(2.0));
    while Instant::now() < t_end {
        for _ in 0..1000 {
            b.gen.offer_burst();
            let io = worker.io();
            let t0 = pktio::dpdk::rdtsc();
            let n = io.rx_burst(Duration::ZERO).map_or(0, |(n, _)| n);
            for i in 0..n {
                io.forward(i, PortKey::new(0, PORT_MIN), fixed);
            }
            io.flush();
            io_only.poll(t0, n);
            b.gen.take_back();
        }
    }
    b.gen.drain();
    (same, io_only)
}

fn main() -> anyhow::Result<()> {
    let quick = std::env::args().any(|a| a == "--quick");
    let child = std::env::var_os(PROFILE_CHILD).is_some();
    if std::env::args().any(|a| a == "--profile") && !child {
        return profile();
    }
    let set = Settings::from_env(child, quick);
    let eal = Eal::start(&EalConfig {
        program: "dpdk_relay".into(),
        lcores: set.lcores.clone(),
        no_pci: true,
        no_huge: true,
        memory_mb: Some(512),
        file_prefix: Some(format!("fv-bench-{}", std::process::id())),
        log_levels: vec!["lib.eal:error".into()],
        extra: vec!["--no-telemetry".into()],
        ..EalConfig::default()
    })?;
    let Some(&lcore) = eal.worker_lcores().first() else {
        anyhow::bail!("need two lcores (DPDK_RELAY_LCORES), got {}", eal.args());
    };
    let (mut b, worker) = set_up(&eal, set.flows)?;
    if child {
        return profiled_loops(worker, &mut b.gen, b.port_id, set.flows, b.epoch);
    }
    let hz = pktio::dpdk::tsc_hz() as f64;
    print_conditions(&set, &b, hz);
    let secs = set.secs;
    // Phase 1: io-forward (the ceiling), then macswap (the yardstick).
    let fwd = forward_phase(&eal, lcore, &mut b, secs, false)?;
    let swap = forward_phase(&eal, lcore, &mut b, secs, true)?;
    // Phase 2 and 3: the relay worker, saturated (every flow latched first, one packet each,
    // as part of the warm-up), then paced at 80%.
    let warm = (set.flows as f64 / 2e6).max(1.0);
    let (worker, p, relay_loop) = relay_phase(&eal, lcore, worker, &mut b, (warm, secs, None))?;
    let relay_mpps = p.returned as f64 / p.secs / 1e6;
    let saturated_forwarded = worker.counters().forwarded;
    let rate = relay_mpps * 0.8 * 1e6;
    let (mut worker, mut paced, _) =
        relay_phase(&eal, lcore, worker, &mut b, (1.0, secs, Some(rate)))?;
    paced.latencies.sort_unstable();
    let c = worker.counters();
    let drops = worker.io().drops().total();
    print_rates(fwd, swap, (relay_mpps, &relay_loop), hz);
    println!(
        "latency at 80% of the zero-loss rate ({:.3} Mpps offered, {} samples, generator -> relay -> generator): p50 {:.2} us  p99 {:.2} us  p99.99 {:.2} us",
        rate / 1e6,
        paced.latencies.len(),
        pct(&paced.latencies, 0.50, hz),
        pct(&paced.latencies, 0.99, hz),
        pct(&paced.latencies, 0.9999, hz)
    );
    let (same, io_only) = same_lcore(&mut worker, &mut b, secs);
    println!(
        "  relay, generator on the same lcore (frames in cache): {}",
        same.line(hz)
    );
    println!(
        "  backend only (rx, parse, rewrite, tx; same lcore):   {}",
        io_only.line(hz)
    );
    println!(
        "relay counters: rx {} forwarded {} tx_failed {} rx_drops {} (saturated phase forwarded {})",
        c.rx, c.forwarded, c.tx_failed, drops, saturated_forwarded
    );
    println!("the saturated rate is the zero-loss rate: rings push back on the generator instead of dropping; tx_failed counts the relay's own losses.");
    Ok(())
}

/// The run's first lines: what it measures and on what.
fn print_conditions(set: &Settings, b: &Bench, hz: f64) {
    let (model, mhz) = cpu();
    println!("dpdk_relay: relay vs io-forward on net_ring, one worker lcore, generator on another");
    println!(
        "conditions: {model} | cpu MHz {mhz} | TSC {:.0} MHz | {} flows ({} calls, {} relay addrs) | {RTP_PAYLOAD}-byte RTP payload, {}-byte frames | burst {BURST} | {IN_FLIGHT} in flight | --no-huge | {} s per phase | install {:.1} s",
        hz / 1e6,
        set.flows,
        set.flows / 2,
        b.addrs,
        b.frame_len,
        set.secs,
        b.install_s
    );
}

/// The three saturated rates, the relay's shares of them and the worker's cycles per packet.
fn print_rates(
    (fwd_mpps, fwd_loop): (f64, LoopStats),
    (swap_mpps, swap_loop): (f64, LoopStats),
    (relay_mpps, relay_loop): (f64, &LoopStats),
    hz: f64,
) {
    println!("{:<28} {:>10}", "mode", "Mpps");
    println!("{:<28} {:>10.3}", "io-forward (rx -> tx)", fwd_mpps);
    println!("{:<28} {:>10.3}", "macswap (rx, swap MACs, tx)", swap_mpps);
    println!("{:<28} {:>10.3}", "relay (1 worker)", relay_mpps);
    println!(
        "relay / io-forward: {:.1}% of the rate (the ceiling)",
        100.0 * relay_mpps / fwd_mpps
    );
    println!(
        "relay / macswap: {:.1}% of the rate, {:.1}% by median worker cycles per packet (target >= 60%)",
        100.0 * relay_mpps / swap_mpps,
        100.0 * swap_loop.median_cycles() / relay_loop.median_cycles()
    );
    println!(
        "worker lcore, saturated phases (TSC cycles per packet of the polls that carried packets):"
    );
    println!("  io-forward: {}", fwd_loop.line(hz));
    println!("  macswap:    {}", swap_loop.line(hz));
    println!("  relay:      {}", relay_loop.line(hz));
}
