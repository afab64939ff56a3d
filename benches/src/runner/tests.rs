//! Runner tests over loopback: direct calls, and calls through a small in-test ng relay.

use super::*;
use crate::calls;
use crate::ngclient::NgClient;
use crate::scope::{Ipv4Net, Scope};
use crate::search::{self, Measured, SearchConfig, Verdict};
use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

fn quick_cfg(relay_pid: Option<u32>, gso: bool) -> RunConfig {
    RunConfig {
        packet_len: crate::rtp::G711_20MS_PACKET,
        burst: 8,
        gso,
        warmup: Duration::from_millis(100),
        measure: Duration::from_millis(300),
        drain: Duration::from_millis(100),
        relay_pid,
    }
}

#[test]
fn direct_calls_lose_nothing_at_a_low_rate() {
    let calls: Vec<_> = (0..4)
        .map(|i| calls::establish_direct(i, 1 << 20, Ipv4Addr::LOCALHOST).unwrap())
        .collect();
    let mut runner = Runner::new(calls, 2, false, quick_cfg(None, true)).unwrap();
    let r = runner.step(1, 4_000).unwrap();
    // 4000 pps for 0.3 s, give or take the pass granularity.
    assert!((1_100..=1_300).contains(&r.counts.sent), "{:?}", r.counts);
    assert_eq!(r.counts.received, r.counts.sent, "{:?}", r.counts);
    assert_eq!(r.loss_pct(), 0.0);
    assert_eq!(r.counts.dead_streams, 0);
    assert_eq!(r.counts.misrouted + r.counts.foreign, 0);
    assert!(r.counts.warmup_sent > 0);
    assert!(r.relay_drops.is_none());
    assert!(r.tool_cpu.is_some());
    assert!(r.counts.latency.count() == r.counts.received);
    // Nothing was lost, so the step passes, unless the box starved the load tool of CPU
    // (tests run beside builds): then it says so rather than blame the relay.
    let verdict = search::verdict(&SearchConfig::default(), &r.probe());
    assert!(
        matches!(verdict, Verdict::Pass | Verdict::ToolLimited),
        "{verdict:?}"
    );
    // A second step is counted on its own: nothing of step one leaks in.
    let r2 = runner.step(2, 2_000).unwrap();
    assert_eq!(r2.step, r.step + 1);
    assert!((550..=650).contains(&r2.counts.sent), "{:?}", r2.counts);
    assert_eq!(r2.counts.received, r2.counts.sent);
}

#[test]
fn relay_pid_that_does_not_exist_is_a_clear_error() {
    let calls = vec![calls::establish_direct(0, 1 << 16, Ipv4Addr::LOCALHOST).unwrap()];
    let mut runner = Runner::new(calls, 1, false, quick_cfg(Some(u32::MAX - 1), false)).unwrap();
    assert!(matches!(
        runner.step(1, 100),
        Err(RunError::RelayGone { .. })
    ));
}

/// A relay in the test: answers ng offer/answer/delete/ping, and forwards each call's RTP
/// symmetrically between its two relay ports.
struct FakeRelay {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<FakeStats>>,
}

#[derive(Debug, Default)]
struct FakeStats {
    offers: u32,
    answers: u32,
    deletes: u32,
    forwarded: u64,
    saw_ice_remove: bool,
    saw_replace: bool,
}

struct Leg {
    /// Relay socket facing the offerer (A sends here) and the one facing the answerer.
    toward_a: UdpSocket,
    toward_b: UdpSocket,
    a: Option<SocketAddr>,
    b: Option<SocketAddr>,
}

impl FakeRelay {
    fn start() -> FakeRelay {
        let ng = UdpSocket::bind("127.0.0.1:0").unwrap();
        ng.set_nonblocking(true).unwrap();
        let addr = ng.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || serve(ng, &flag));
        FakeRelay {
            addr,
            stop,
            thread: Some(thread),
        }
    }

    fn finish(mut self) -> FakeStats {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap()
    }
}

fn sdp_port(sdp: &str) -> u16 {
    crate::sdp::relay_target(sdp, Ipv4Net::LOOPBACK)
        .unwrap()
        .port()
}

fn serve(ng: UdpSocket, stop: &AtomicBool) -> FakeStats {
    let mut stats = FakeStats::default();
    let mut legs: HashMap<String, Leg> = HashMap::new();
    let mut buf = vec![0u8; 65_536];
    let deadline = Instant::now() + Duration::from_secs(30);
    while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
        let mut idle = true;
        if let Ok((n, from)) = ng.recv_from(&mut buf) {
            idle = false;
            let (cookie, req) = ng::parse_datagram(&buf[..n]).unwrap();
            let text =
                |b: Option<&[u8]>| String::from_utf8(b.unwrap_or_default().to_vec()).unwrap();
            let call_id = text(req.call_id);
            let reply = match req.command {
                ng::Command::Ping => ng::pong_reply(),
                ng::Command::Offer => {
                    stats.offers += 1;
                    stats.saw_ice_remove = req.ice == ng::IceMode::Remove;
                    stats.saw_replace = req.replace.origin && req.replace.session_connection;
                    let leg = Leg {
                        toward_a: UdpSocket::bind("127.0.0.1:0").unwrap(),
                        toward_b: UdpSocket::bind("127.0.0.1:0").unwrap(),
                        a: Some(SocketAddr::from(([127, 0, 0, 1], sdp_port(&text(req.sdp))))),
                        b: None,
                    };
                    leg.toward_a.set_nonblocking(true).unwrap();
                    leg.toward_b.set_nonblocking(true).unwrap();
                    let port = leg.toward_b.local_addr().unwrap().port();
                    legs.insert(call_id, leg);
                    ng::sdp_reply(crate::sdp::endpoint_sdp(Ipv4Addr::LOCALHOST, port, 1).as_bytes())
                }
                ng::Command::Answer => {
                    stats.answers += 1;
                    let leg = legs.get_mut(&call_id).unwrap();
                    leg.b = Some(SocketAddr::from(([127, 0, 0, 1], sdp_port(&text(req.sdp)))));
                    let port = leg.toward_a.local_addr().unwrap().port();
                    ng::sdp_reply(crate::sdp::endpoint_sdp(Ipv4Addr::LOCALHOST, port, 2).as_bytes())
                }
                ng::Command::Delete => {
                    stats.deletes += 1;
                    match legs.remove(&call_id) {
                        Some(_) => ng::ok_reply(),
                        None => ng::error_reply("Unknown call-id"),
                    }
                }
                _ => ng::error_reply("unsupported"),
            };
            ng.send_to(&ng::frame(cookie, &reply), from).unwrap();
        }
        for leg in legs.values() {
            for (rx, tx, dst) in [
                (&leg.toward_a, &leg.toward_b, leg.b),
                (&leg.toward_b, &leg.toward_a, leg.a),
            ] {
                while let Ok(n) = rx.recv(&mut buf) {
                    idle = false;
                    if let Some(dst) = dst {
                        if tx.send_to(&buf[..n], dst).is_ok() {
                            stats.forwarded += 1;
                        }
                    }
                }
            }
        }
        if idle {
            std::thread::sleep(Duration::from_micros(200));
        }
    }
    stats
}

#[test]
fn calls_through_an_ng_relay_are_set_up_measured_and_deleted() {
    let relay = FakeRelay::start();
    let mut ng =
        NgClient::connect(relay.addr, Scope::default(), Duration::from_millis(500), 3).unwrap();
    ng.ping().unwrap();
    let mut calls_up = Vec::new();
    let mut ids = Vec::new();
    for i in 0..3 {
        let call = calls::establish_relayed(&mut ng, i, 1 << 20, Scope::default()).unwrap();
        assert_ne!(call.a_target, call.b_target);
        ids.push(call.ids.clone().unwrap());
        calls_up.push(call);
    }
    let mut runner = Runner::new(calls_up, 1, true, quick_cfg(None, false)).unwrap();
    let r = runner.step(1, 1_500).unwrap();
    assert!(r.counts.sent > 300, "{:?}", r.counts);
    assert_eq!(r.counts.received, r.counts.sent, "{:?}", r.counts);
    assert_eq!(r.counts.dead_streams, 0);
    assert_eq!(r.relay_drops, Some(0));
    assert!(calls::delete_all(&mut ng, &ids).is_empty());
    // Deleting again: the relay no longer knows the calls and says so.
    let again = calls::delete_all(&mut ng, &ids);
    assert_eq!(again.len(), 3);
    let stats = relay.finish();
    assert_eq!((stats.offers, stats.answers, stats.deletes), (3, 3, 6));
    assert!(stats.saw_ice_remove && stats.saw_replace);
    assert!(stats.forwarded >= r.counts.received);
}

#[test]
fn ng_timeout_is_reported() {
    // A bound socket that never answers.
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut ng = NgClient::connect(
        silent.local_addr().unwrap(),
        Scope::default(),
        Duration::from_millis(20),
        2,
    )
    .unwrap();
    let err = calls::establish_relayed(&mut ng, 0, 1 << 16, Scope::default()).unwrap_err();
    assert!(
        err.to_string().contains("no reply after 2 attempts"),
        "{err}"
    );
}
