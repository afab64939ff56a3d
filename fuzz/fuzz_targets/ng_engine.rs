//! The ng media engine (`media::Engine`) fed arbitrary datagrams from four source addresses
//! (two ports of one allowed host, allowed IPv6 loopback, and a host outside the allow-list),
//! with time moving between them and the workers' replies looped back: the source allow-list,
//! the per-source rate limit, the cookie cache keyed by source, and offer, answer, delete,
//! query, list and statistics. No input may panic it; nothing is ever sent to the refused
//! source; every datagram is counted by exactly one verdict; the ports in use never exceed
//! the layout.
#![no_main]

use dataplane::{AddrRange, FlowCommand, FlowEvent, IdleReason, LatchMode, PortLayout};
use libfuzzer_sys::fuzz_target;
use media::{Engine, EngineConfig, GuardConfig, Interface, RateLimit, VirtualBinder};
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Port pairs per relay address.
const PAIRS: usize = 8;

fn engine(epoch: Instant) -> Engine {
    let cfg = EngineConfig {
        interfaces: vec![
            Interface {
                name: "external".into(),
                address: [192, 0, 2, 1].into(),
                advertised: None,
            },
            Interface {
                name: "internal".into(),
                address: [10, 0, 0, 1].into(),
                advertised: Some([203, 0, 113, 1].into()),
            },
        ],
        latching: LatchMode::Heuristic,
        strict_source: false,
        offer_timeout: Duration::from_secs(5),
        final_timeout: Some(Duration::from_secs(20)),
        delete_delay: Duration::from_secs(1),
        rtp_check: None,
        max_sessions: 6,
        cookie_ttl: Duration::from_secs(3),
        guard: GuardConfig {
            allow: media::guard::loopback_networks(),
            rate: Some(RateLimit {
                per_sec: NonZeroU32::new(50).expect("non-zero"),
                burst: NonZeroU32::new(20).expect("non-zero"),
            }),
        },
        fastpath: false,
        epoch,
    };
    let range = AddrRange {
        port_min: 30000,
        port_max: 30000 + 2 * PAIRS as u16 - 1,
    };
    let layout = PortLayout::new(vec![range, range], 2).expect("layout");
    Engine::new(cfg, Arc::new(layout), Box::new(VirtualBinder), Vec::new())
}

/// Answers the engine's worker commands as workers would (queries and removals at once, an
/// idle report or a refused install when `ctl` asks for one).
fn run_workers(engine: &mut Engine, now: Instant, ctl: u8) {
    for _ in 0..64 {
        let Some((worker, cmd)) = engine.poll_command() else {
            return;
        };
        let ev = match cmd {
            FlowCommand::Install { a, .. } if ctl & 0x80 != 0 => {
                Some(FlowEvent::InstallFailed { key: a.key })
            }
            FlowCommand::Install { a, .. } if ctl & 0x40 != 0 => Some(FlowEvent::Idle {
                key: a.key,
                reason: IdleReason::NoRtp,
            }),
            FlowCommand::Install { .. } | FlowCommand::Update(_) => None,
            FlowCommand::Query { token, .. } => Some(FlowEvent::Stats { token, pair: None }),
            FlowCommand::Remove { token, .. } => Some(FlowEvent::Removed { token, pair: None }),
            FlowCommand::Timeouts { .. } | FlowCommand::Layout(_) => None,
        };
        if let Some(ev) = ev {
            engine.handle_event(now, worker, ev);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let epoch = Instant::now();
    let mut now = epoch;
    let mut engine = engine(epoch);
    let sources: [SocketAddr; 4] = [
        "127.0.0.1:5060".parse().expect("addr"),
        "127.0.0.1:5061".parse().expect("addr"),
        "[::1]:5060".parse().expect("addr"),
        "192.0.2.99:5060".parse().expect("addr"),
    ];
    let refused = sources[3];
    let mut handled = 0u64;
    // Records: a control byte (source: low two bits; time step: bits 2-5, in 100 ms; worker
    // behaviour: bits 6-7), a big-endian 16-bit length, then that many bytes of datagram.
    let mut rest = data;
    while let [ctl, hi, lo, tail @ ..] = rest {
        let n = usize::from(u16::from_be_bytes([*hi, *lo])).min(tail.len());
        let (datagram, next) = tail.split_at(n);
        rest = next;
        now += Duration::from_millis(u64::from((ctl >> 2) & 0x0f) * 100);
        engine.handle_timeout(now);
        let from = sources[usize::from(ctl & 3)];
        engine.handle_datagram(now, from, datagram);
        handled += 1;
        run_workers(&mut engine, now, *ctl);
        while let Some(t) = engine.poll_transmit() {
            assert_ne!(t.dst, refused, "a reply went to a refused source");
            assert!(sources.contains(&t.dst), "a reply to nobody: {}", t.dst);
        }
        while engine.poll_event().is_some() {}
        assert!(engine.pairs_in_use() <= 2 * PAIRS);
    }
    // Let every timer run out: calls end, deleted ports come back.
    for _ in 0..40 {
        now += Duration::from_secs(1);
        engine.handle_timeout(now);
        run_workers(&mut engine, now, 0);
        while let Some(t) = engine.poll_transmit() {
            assert_ne!(t.dst, refused, "a late reply went to a refused source");
        }
        while engine.poll_event().is_some() {}
    }
    let c = engine.counters().guard;
    assert_eq!(c.allowed + c.not_allowed + c.rate_limited, handled);
    assert_eq!(engine.calls(), 0, "the final timeout ends every call");
});
