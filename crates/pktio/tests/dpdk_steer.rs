//! Steering over `net_ring` ports on a `--no-huge` EAL: `net_ring` has no `rte_flow`, so
//! `steering = "flow"` must stop the start with a clear error, `auto` must take the RSS +
//! hand-off fallback and say why, and with the fallback every frame on a wrong queue must still
//! reach the worker owning its port (the layout's owner function), counted.
#![cfg(feature = "dpdk")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::Rig;

use pktio::dpdk::steer::{owner_rules, SteerRule};
use pktio::dpdk::{
    handoff_rings, steer_port, DpdkError, DpdkIo, DpdkIoConfig, DpdkLink, Eal, Handoff, SteerMode,
    Steered,
};
use pktio::{PacketIo, PortKey, RelayAddr};
use std::sync::Arc;
use std::time::Duration;
use wire::Endpoint;

const RELAY_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x10];
const PEER_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x30];
const RELAY_IP: [u8; 4] = [10, 0, 0, 1];
const PEER_IP: [u8; 4] = [10, 0, 0, 7];
/// First port of the relay range (not a multiple of 4: the rules' offset matters).
const PORT_MIN: u16 = 30002;

fn eal() -> &'static Eal {
    common::eal("pktio-steer", &[])
}

fn rig(name: &str, queues: u16) -> Rig {
    common::rig(eal(), name, queues)
}

fn rules(workers: u16) -> Vec<SteerRule> {
    owner_rules(RELAY_IP.into(), PORT_MIN, workers).expect("power of two")
}

/// The data-plane layout's owner of a relay port: pair number modulo the workers.
fn owner(port: u16, workers: u16) -> usize {
    usize::from((port - PORT_MIN) / 2 % workers)
}

#[test]
fn net_ring_refuses_flow_rules_flow_mode_fails_auto_falls_back() {
    let r = rig("st_modes", 2);
    let e = steer_port(&r.port, Some(&rules(2)), SteerMode::Flow).unwrap_err();
    assert!(matches!(e, DpdkError::Steering { .. }), "{e:?}");
    let text = e.to_string();
    assert!(
        text.contains("net_ring") && text.contains("flow rule"),
        "names the driver and the rule: {text}"
    );
    assert!(
        text.contains("steering = \"auto\""),
        "says how to run degraded: {text}"
    );

    let auto = steer_port(&r.port, Some(&rules(2)), SteerMode::Auto).unwrap();
    assert!(auto.degraded());
    match &auto {
        Steered::Fallback { reta, reason } => {
            assert!(!reta, "net_ring has no RSS redirection table");
            assert!(reason.contains("flow rule"), "{reason}");
            assert!(
                reason.contains("queue 0"),
                "the first rule is the refused one: {reason}"
            );
        }
        other => panic!("expected the fallback, got {other:?}"),
    }

    let rss = steer_port(&r.port, Some(&rules(2)), SteerMode::Rss).unwrap();
    match rss {
        Steered::Fallback { reason, .. } => assert!(reason.contains("rss"), "{reason}"),
        other => panic!("expected the fallback, got {other:?}"),
    }
    let odd = steer_port(&r.port, None, SteerMode::Auto).unwrap();
    match odd {
        Steered::Fallback { reason, .. } => assert!(reason.contains("power-of-two"), "{reason}"),
        other => panic!("expected the fallback, got {other:?}"),
    }

    let one = rig("st_single", 1);
    assert!(matches!(
        steer_port(&one.port, Some(&[]), SteerMode::Flow).unwrap(),
        Steered::Single
    ));
}

#[test]
fn with_the_fallback_every_frame_reaches_its_owner() {
    const WORKERS: u16 = 2;
    let mut r = rig("st_ho", WORKERS);
    let base = r.pool.available();
    let steered = steer_port(&r.port, Some(&rules(WORKERS)), SteerMode::Auto).unwrap();
    assert!(steered.degraded());
    let (inboxes, outboxes) = handoff_rings(eal(), "st_ho", usize::from(WORKERS), 256).unwrap();
    let owner_fn: pktio::dpdk::OwnerFn = Arc::new(|k: PortKey| Some(owner(k.port, WORKERS)));
    let mut ios: Vec<DpdkIo> = inboxes
        .into_iter()
        .enumerate()
        .map(|(w, inbox)| {
            DpdkIo::new(DpdkIoConfig {
                links: vec![DpdkLink::new(r.port.clone()).with_next_hop_mac(PEER_MAC)],
                queue: w as u16,
                addrs: vec![RelayAddr {
                    ip: RELAY_IP.into(),
                    mac: RELAY_MAC,
                }],
                addr_link: vec![0],
                handoff: Some(Handoff {
                    me: w,
                    inbox,
                    outboxes: outboxes.clone(),
                    owner: owner_fn.clone(),
                }),
                ..DpdkIoConfig::default()
            })
            .unwrap()
        })
        .collect();
    // RSS puts a port on either queue: ports alternate owners (0, 1, 0, 1...) and go to the
    // queues in pairs (0, 0, 1, 1...), so half of each queue's frames are the other worker's.
    let peer = Endpoint::new_v4(PEER_IP, 4000);
    let ports: Vec<u16> = (0..32).map(|i| PORT_MIN + 2 * i).collect();
    for (i, &p) in ports.iter().enumerate() {
        let mut f = Vec::new();
        wire::frame::build_udp(
            &mut f,
            PEER_MAC,
            RELAY_MAC,
            &peer,
            &Endpoint::new_v4(RELAY_IP, p),
            b"rtp",
        );
        assert!(r.ring.inject(((i / 2) % 2) as u16, &f));
    }
    let mut seen: Vec<Vec<u16>> = vec![Vec::new(); usize::from(WORKERS)];
    // Two rounds: the first receives and hands off, the second takes what was handed over.
    for _ in 0..2 {
        for (w, io) in ios.iter_mut().enumerate() {
            let (n, _) = io.rx_burst(Duration::ZERO).unwrap();
            for i in 0..n {
                seen[w].push(io.packet(i).unwrap().local.port);
            }
            io.flush();
        }
    }
    for (w, ports_seen) in seen.iter().enumerate() {
        assert_eq!(ports_seen.len(), 16, "worker {w} relays its 16 ports");
        for &p in ports_seen {
            assert_eq!(owner(p, WORKERS), w, "port {p} on worker {w}");
        }
    }
    let handed: u64 = ios.iter().map(|io| io.l2_stats().handed_off).sum();
    let received: u64 = ios.iter().map(|io| io.l2_stats().handoff_received).sum();
    assert_eq!(
        (handed, received),
        (16, 16),
        "half the frames changed worker"
    );
    drop(ios);
    drop(steered);
    assert_eq!(r.pool.available(), base, "no mbuf leaked");
}
