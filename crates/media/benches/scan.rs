//! The engine's once-a-second timeout decision with many calls held: `CALLS` answered
//! anchored calls (100,000 by default; one stream each, as a standby holds them), then the
//! engine's timer run at each of 30 one-second steps, timed. The engine lock is held for as
//! long as this takes, and a SIP call's anchoring waits through it.
//!
//! `cargo bench -p media --bench scan` (`CALLS=N`). Prints the median and the longest run.
#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dataplane::{AddrRange, LatchMode, PortLayout};
use media::call::Remote;
use media::{
    AdoptedCall, AdoptedLeg, AdoptedStream, Engine, EngineConfig, GuardConfig, Interface,
    VirtualBinder,
};
use wire::Endpoint;

const ADDRS: u8 = 8;
const PORT_MIN: u16 = 2000;
const PAIRS: usize = 31_000;

fn main() {
    let calls: usize = std::env::var("CALLS")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(100_000)
        .min(usize::from(ADDRS) * PAIRS / 2);
    let epoch = Instant::now();
    let mut engine = engine(epoch);
    for i in 0..calls {
        engine.adopt(epoch, &call(i)).unwrap();
    }
    while engine.poll_command().is_some() {}
    assert_eq!(engine.calls(), calls);
    let mut runs: Vec<Duration> = (1..=30)
        .map(|s| {
            let t = Instant::now();
            engine.handle_timeout(epoch + Duration::from_secs(s));
            t.elapsed()
        })
        .collect();
    runs.sort();
    println!(
        "engine timeout run with {calls} answered calls held: median {:.1} µs, longest {:.1} µs (30 runs, one a simulated second)",
        runs[runs.len() / 2].as_secs_f64() * 1e6,
        runs[runs.len() - 1].as_secs_f64() * 1e6
    );
}

fn engine(epoch: Instant) -> Engine {
    let addr = |a: u8| IpAddr::from(Ipv4Addr::new(127, 0, 1, a + 1));
    let cfg = EngineConfig {
        interfaces: (0..ADDRS)
            .map(|a| Interface {
                name: "edge".into(),
                address: addr(a),
                advertised: None,
            })
            .collect(),
        latching: LatchMode::Heuristic,
        strict_source: false,
        offer_timeout: Duration::from_secs(60),
        final_timeout: Some(Duration::from_secs(7200)),
        delete_delay: Duration::ZERO,
        rtp_check: None,
        max_sessions: 0,
        cookie_ttl: Duration::from_secs(30),
        guard: GuardConfig::loopback(),
        fastpath: true,
        epoch,
    };
    let max = PORT_MIN + (2 * PAIRS - 1) as u16;
    let ranges = (0..ADDRS)
        .map(|_| AddrRange {
            port_min: PORT_MIN,
            port_max: max,
        })
        .collect();
    let layout = Arc::new(PortLayout::new(ranges, 1).unwrap());
    Engine::new(cfg, layout, Box::new(VirtualBinder), Vec::new())
}

/// Call `i` on the `2i`-th and `2i+1`-th RTP ports of the relay addresses in turn.
fn call(i: usize) -> AdoptedCall {
    let leg = |n: usize| AdoptedLeg {
        interface: "edge".into(),
        port: PORT_MIN + 2 * (n % PAIRS) as u16,
        advertised: IpAddr::from(Ipv4Addr::new(127, 0, 1, (n / PAIRS) as u8 + 1)),
        remote: Remote {
            rtp: Endpoint::new_v4([192, 0, 2, 10], 4000),
            rtcp_port: 4001,
            hold: false,
            clock_rate: 8000,
        },
        mux: false,
    };
    AdoptedCall {
        call_id: format!("{i:08}@bench").into_bytes(),
        tags: [Some(b"a".to_vec()), Some(b"b".to_vec())],
        streams: vec![AdoptedStream {
            index: 0,
            worker: 0,
            legs: [leg(2 * i), leg(2 * i + 1)],
        }],
    }
}
