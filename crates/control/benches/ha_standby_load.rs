//! What a standby costs: `CALLS` anchored calls (100,000 by default) written to a redis-server
//! of the bench's own by the replication driver, as an active node writes them; then a
//! standby (the follower and the call path's HA half over a real proxy and media engine) loads
//! them all: every record read, decoded, and held as a dialog in the proxy and a session on
//! the same relay ports in the engine.
//!
//! Prints the active's write rate, the standby's load time and calls per second, and its
//! memory per held call: the growth of the process's resident set over the load divided by
//! the calls (an upper bound: what the load allocated and freed stays in the allocator). The
//! engine's worker commands are drained as the workers would take them; the workers' own
//! session tables are not in the figure (they are sized by the port layout at start, on every
//! node alike, whatever it holds).
//!
//! `cargo bench -p control --bench ha_standby_load` (`CALLS=N` to change the count). Needs
//! redis-server (`deploy/install-deps.sh --test`); fails without it.
#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use control::ha_driver::{self, Change};
use control::ha_follow::{self, Followed};
use control::ha_publish::Publisher;
use control::SharedEngine;
use ha::{CallRecord, Dialog, Leg, Member, ReplicaConfig, Stamp, Stream};
use testkit::redis::{free_port, RedisServer};

/// Relay addresses (127.0.1.1..) and the RTP ports each gives: enough for 2 per call.
const ADDRS: usize = 8;
const PORT_MIN: u16 = 2000;
const PAIRS_PER_ADDR: usize = 31_000;

fn main() {
    let calls: usize = std::env::var("CALLS")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(100_000)
        .min(ADDRS * PAIRS_PER_ADDR / 2);
    // A bench has no opt-out: without redis-server it fails.
    let redis = RedisServer::start("ha_standby_load", free_port()).unwrap_or_else(|| {
        panic!("ha_standby_load needs redis-server: deploy/install-deps.sh --test")
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let write = write_calls(&redis.url(), calls).await;
        let (load, bytes) = load_standby(&redis.url(), calls).await;
        report(calls, write, load, bytes);
    });
}

/// The active's side: `calls` records through the replication driver; the time it took.
async fn write_calls(url: &str, calls: usize) -> Duration {
    let cfg = ReplicaConfig {
        url: url.into(),
        timeout: Duration::from_secs(10),
        queue: 1 << 20,
        max_pending: 1 << 20,
        ..ReplicaConfig::new("active".into())
    };
    let (rep, task) = ha_driver::start(cfg).unwrap();
    tokio::spawn(task);
    rep.activate(0);
    let started = Instant::now();
    for i in 0..calls {
        rep.publish(Change::Put(Box::new(record(i))));
    }
    let c = rep.counters().clone();
    while c.written.load(Ordering::Relaxed) < calls as u64 {
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "writes stalled"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    started.elapsed()
}

/// The standby's side: loads everything; the load's time and the resident-set growth.
async fn load_standby(url: &str, calls: usize) -> (Duration, u64) {
    let text = config_text(url);
    let cfg = config::parse(&text).unwrap();
    let ha_cfg = cfg.ha.clone().unwrap();
    let before = rss_bytes();
    let now = Instant::now();
    let mut proxy = proxy::Proxy::new(
        proxy::ProxyConfig::from_config(&cfg),
        &cfg.sets,
        &cfg.routes,
        now,
        Box::new(proxy::deterministic_rng(7)),
    );
    let engine = SharedEngine::new(engine_of(&cfg));
    let (rep, task) = ha_driver::start(ha_cfg.clone()).unwrap();
    tokio::spawn(task);
    let standby = Arc::new(AtomicBool::new(true));
    let (rx, counters, follower) =
        ha_follow::start(&ha_cfg, standby.clone(), rep.counters().clone()).unwrap();
    let started = Instant::now();
    tokio::spawn(follower);
    let parts = (rx, counters, standby);
    let mut p = Publisher::new(rep, engine.clone(), &mut proxy, &ha_cfg, parts);
    let mut rx = p.take_follow().unwrap();
    let mut commands = 0usize;
    while let Some(f) = rx.recv().await {
        let done = matches!(f, Followed::Loaded { .. });
        p.apply(&mut proxy, f);
        commands += drain(&engine);
        if done {
            break;
        }
    }
    let took = started.elapsed();
    let held = (proxy.sizes().3, engine.lock().calls());
    assert_eq!(held, (calls, calls), "dialogs and sessions held");
    assert!(commands >= calls, "every session installed");
    (took, rss_bytes().saturating_sub(before))
}

/// Takes the engine's worker commands as the workers would.
fn drain(engine: &SharedEngine) -> usize {
    let mut e = engine.lock();
    std::iter::from_fn(|| e.poll_command()).count()
}

fn report(calls: usize, write: Duration, load: Duration, bytes: u64) {
    let rate = |d: Duration| calls as f64 / d.as_secs_f64();
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_default();
    println!("HA standby load, {calls} anchored calls (one stream each), redis-server on loopback, {cpu}");
    println!(
        "  active writes: {:.2} s ({:.0} calls/s, fenced scripts in pipelines of 256)",
        write.as_secs_f64(),
        rate(write)
    );
    println!(
        "  standby load:  {:.2} s ({:.0} calls/s: SCAN, HMGET, decode, dialog + session held)",
        load.as_secs_f64(),
        rate(load)
    );
    println!(
        "  standby memory: {} bytes per held call (resident-set growth over the load / calls)",
        bytes / calls.max(1) as u64
    );
}

/// The process's resident set, in bytes (`/proc/self/statm`, 4 KiB pages).
fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

/// The standby's configuration: [`ADDRS`] relay addresses of one interface, one member.
fn config_text(url: &str) -> String {
    let mut t = String::new();
    for a in 0..ADDRS {
        let max = PORT_MIN as usize + 2 * PAIRS_PER_ADDR - 1;
        t.push_str(&format!(
            "[[interface]]\nname = \"edge\"\naddress = \"127.0.1.{}\"\nport_min = {PORT_MIN}\nport_max = {max}\n",
            a + 1
        ));
    }
    t.push_str(
        "[sip]\nlisten = [\"127.0.0.1:5060\"]\ntransports = [\"udp\"]\nmax_dialogs = 1048576\n\
         [[set]]\nname = \"pool\"\n[set.media]\ncaller_interface = \"edge\"\nmember_interface = \"edge\"\n\
         [[set.member]]\nuri = \"sip:127.0.0.1:5080\"\n",
    );
    t.push_str(&format!(
        "[ha]\nenabled = true\nnode = \"standby\"\nstart = \"standby\"\nredis = \"{url}\"\n\
         timeout_ms = 10000\n"
    ));
    t
}

fn engine_of(cfg: &config::Config) -> media::Engine {
    let ranges = cfg
        .interfaces
        .iter()
        .map(|i| dataplane::AddrRange {
            port_min: i.port_min,
            port_max: i.port_max,
        })
        .collect();
    let layout = Arc::new(dataplane::PortLayout::new(ranges, 1).unwrap());
    media::Engine::new(
        cfg.media_engine(Instant::now(), true),
        layout,
        Box::new(media::VirtualBinder),
        Vec::new(),
    )
}

/// Call `i` as an active node writes it: its two legs on the `2i`-th and `2i+1`-th RTP ports
/// of the relay addresses in turn.
fn record(i: usize) -> CallRecord {
    let leg = |n: usize, tag: &str, remote: u16| {
        let addr = IpAddr::from(Ipv4Addr::new(127, 0, 1, (n / PAIRS_PER_ADDR) as u8 + 1));
        Leg {
            tag: Some(tag.to_owned()),
            interface: "edge".into(),
            port: PORT_MIN + 2 * (n % PAIRS_PER_ADDR) as u16,
            advertised: addr,
            remote: Some(SocketAddr::from(([192, 0, 2, 10], remote))),
            rtcp_port: remote + 1,
            hold: false,
            clock_rate: 8000,
            mux: false,
        }
    };
    let (from, to) = (format!("c{i}"), format!("m{i}"));
    let caller = SocketAddr::from(([192, 0, 2, 10], 5060));
    let member = SocketAddr::from((Ipv4Addr::LOCALHOST, 5080));
    CallRecord {
        v: ha::record::VERSION,
        stamp: Stamp {
            epoch: 0,
            node: String::new(),
            seq: 0,
        },
        call_id: format!("{i:08}-a84b4c76e66710@pc33.example.com"),
        updated_ms: ha_driver::now_ms(),
        expires_ms: ha_driver::now_ms() + 3_600_000,
        dialog: Dialog {
            tags: [from.clone(), to.clone()],
            targets: [
                "sip:alice@192.0.2.10:5060".into(),
                "sip:fs@127.0.0.1:5080".into(),
            ],
            hops: [(caller, "udp".into()), (member, "udp".into())],
            cseq: [1, 1],
            parties: [
                format!("\"Alice\" <sip:alice@example.com>;tag={from}"),
                format!("<sip:1000@example.net>;tag={to}"),
            ],
        },
        member: Member {
            set: "pool".into(),
            uri: "sip:127.0.0.1:5080".into(),
        },
        media: vec![Stream {
            index: 0,
            worker: 0,
            legs: [
                leg(2 * i, &from, 4000 + (i % 20_000) as u16 * 2),
                leg(2 * i + 1, &to, 40_000),
            ],
        }],
    }
}
