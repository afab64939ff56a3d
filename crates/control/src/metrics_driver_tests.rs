//! The SIP and media families of a made-up snapshot: they render (every family valid, no
//! label set twice), carry the values given, and keep the label sets bounded.

#![allow(clippy::unwrap_used)]

use super::*;
use crate::metrics_media::{media_families, MediaSnapshot, PortPool};
use std::time::Duration;

fn member(set: &str, uri: &str, state: MemberState) -> MemberSample {
    let mut counters = MemberCounters {
        calls: 7,
        probes_ok: 3,
        probes_failed: 2,
        ..MemberCounters::default()
    };
    counters.transitions_to[MemberState::Down.index()] = 1;
    MemberSample {
        set: set.into(),
        uri: uri.into(),
        address: "127.0.0.1:5081".into(),
        state,
        active_calls: 2,
        max_calls: None,
        probe_rtt: Some(Duration::from_micros(1500)),
        consecutive_failures: 0,
        counters,
    }
}

fn snapshot_text() -> String {
    let mut s = SipSnapshot::default();
    s.proxy.calls_routed = 5;
    s.proxy.failovers = 1;
    s.proxy.traffic.calls_answered = 4;
    s.proxy.traffic.calls_failed[4] = 1;
    s.proxy.traffic.requests[0] = 6;
    s.proxy.traffic.responses[1] = 9;
    s.proxy.no_route = 2;
    s.tcp = Some(TcpCounters {
        open: 3,
        idle: 1,
        ..TcpCounters::default()
    });
    s.members = vec![
        member("pool", "sip:127.0.0.1:5081", MemberState::Active),
        member("pool", "sip:127.0.0.1:5081", MemberState::Active),
        member("pool", "sip:127.0.0.1:5082", MemberState::Down),
    ];
    s.members[2].address = "127.0.0.1:5082".into();
    let mut e = Exposition::new();
    sip_families(&s, &mut e);
    let mut m = MediaSnapshot {
        sessions: 3,
        free: vec![40, 50],
        workers: vec![Default::default(); 2],
        ..MediaSnapshot::default()
    };
    m.workers[0].forwarded = 100;
    m.workers[1].forwarded = 20;
    m.workers[0].busy_ns = 1_500_000_000;
    m.workers[1].drops[0] = 4;
    m.engine.ended.insert("timeout_no_rtp", 2);
    m.engine.requests.insert("offer", 8);
    m.nics.push((
        "net_af_packet0".into(),
        pktio::plane::NicStats {
            rx_packets: 11,
            rx_missed: 2,
            rx_queue_packets: vec![6, 5],
            tx_queue_packets: vec![0, 0],
            ..Default::default()
        },
    ));
    let pools = [
        PortPool {
            name: "external".into(),
            address: "127.0.0.1".parse().unwrap(),
            pairs: 50,
        },
        PortPool {
            name: "internal".into(),
            address: "127.0.0.1".parse().unwrap(),
            pairs: 50,
        },
    ];
    media_families(&pools, &m, &mut e);
    e.render().unwrap()
}

#[test]
fn every_family_renders_with_help_and_type() {
    let text = snapshot_text();
    let helps = text.lines().filter(|l| l.starts_with("# HELP ")).count();
    let types = text.lines().filter(|l| l.starts_with("# TYPE ")).count();
    assert_eq!(helps, types);
    assert!(helps > 40, "{helps} families");
    for l in text.lines().filter(|l| !l.starts_with('#')) {
        let name = l.split(['{', ' ']).next().unwrap();
        assert!(
            text.contains(&format!("# TYPE {name} ")),
            "{name} has no TYPE"
        );
    }
}

#[test]
fn values_are_the_snapshots() {
    let text = snapshot_text();
    for want in [
        "ferrovox_sip_calls_routed_total 5",
        "ferrovox_sip_failovers_total 1",
        "ferrovox_sip_calls_total{result=\"answered\"} 4",
        "ferrovox_sip_calls_total{result=\"failed_5xx\"} 1",
        "ferrovox_sip_requests_received_total{method=\"INVITE\"} 6",
        "ferrovox_sip_responses_received_total{class=\"2xx\"} 9",
        "ferrovox_sip_refused_total{reason=\"no_route\"} 2",
        "ferrovox_sip_connections_open{transport=\"tcp\"} 3",
        "ferrovox_sip_connections_closed_total{transport=\"tcp\",reason=\"idle\"} 1",
        "ferrovox_member_state{set=\"pool\",member=\"sip:127.0.0.1:5082\",address=\"127.0.0.1:5082\",state=\"down\"} 1",
        "ferrovox_member_state{set=\"pool\",member=\"sip:127.0.0.1:5082\",address=\"127.0.0.1:5082\",state=\"active\"} 0",
        "ferrovox_member_active_calls{set=\"pool\",member=\"sip:127.0.0.1:5081\",address=\"127.0.0.1:5081\"} 2",
        "ferrovox_member_probe_rtt_seconds{set=\"pool\",member=\"sip:127.0.0.1:5081\",address=\"127.0.0.1:5081\"} 0.0015",
        "ferrovox_member_probes_total{set=\"pool\",member=\"sip:127.0.0.1:5081\",address=\"127.0.0.1:5081\",result=\"failed\"} 2",
        "ferrovox_member_transitions_total{set=\"pool\",member=\"sip:127.0.0.1:5081\",address=\"127.0.0.1:5081\",to=\"down\"} 1",
        "ferrovox_media_sessions 3",
        "ferrovox_media_port_pairs{interface=\"external\",address=\"127.0.0.1\",state=\"used\"} 10",
        "ferrovox_media_port_pairs{interface=\"internal\",address=\"127.0.0.1\",state=\"free\"} 50",
        "ferrovox_media_packets_relayed_total 120",
        "ferrovox_media_drops_total{reason=\"not_owner\"} 4",
        "ferrovox_worker_drops_total{worker=\"1\",reason=\"not_owner\"} 4",
        "ferrovox_worker_forwarded_packets_total{worker=\"0\"} 100",
        "ferrovox_worker_busy_seconds_total{worker=\"0\"} 1.5",
        "ferrovox_media_sessions_ended_total{reason=\"timeout_no_rtp\"} 2",
        "ferrovox_media_sessions_ended_total{reason=\"timeout_offer\"} 0",
        "ferrovox_ng_requests_total{command=\"offer\"} 8",
        "ferrovox_nic_packets_total{port=\"net_af_packet0\",direction=\"rx\"} 11",
        "ferrovox_nic_drops_total{port=\"net_af_packet0\",reason=\"rx_missed\"} 2",
        "ferrovox_nic_queue_packets_total{port=\"net_af_packet0\",queue=\"1\",direction=\"rx\"} 5",
    ] {
        assert!(text.contains(want), "missing {want}\n{text}");
    }
    // No TLS listener: no TLS series; the repeated member appears once.
    assert!(!text.contains("transport=\"tls\""));
    let states = text
        .lines()
        .filter(|l| l.starts_with("ferrovox_member_state{") && l.contains("5081\",state"))
        .count();
    assert_eq!(states, MemberState::ALL.len());
}
