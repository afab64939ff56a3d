//! Relay decisions end to end on the memory backend: frames in, rewritten frames out.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use dataplane::{DropReason, FlowCommand, FlowEvent, IdleReason, LatchMode};
use wire::Endpoint;

#[test]
fn symmetric_forwarding_both_ways_for_rtp_and_rtcp() {
    let mut r = Rig::standard(LatchMode::Heuristic);
    let out = r.send(A_SDP, PA.port, &rtp(1, 0, 0xa));
    assert_eq!(
        out,
        vec![(relay_ep(PB.port), B_SDP, rtp(1, 0, 0xa))],
        "A -> B leaves from the port B sends to"
    );
    let out = r.send(B_SDP, PB.port, &rtp(7, 0, 0xb));
    assert_eq!(
        out,
        vec![(relay_ep(PA.port), A_SDP, rtp(7, 0, 0xb))],
        "B -> A leaves from the port A sends to"
    );
    let a_rtcp = Endpoint {
        port: A_SDP.port + 1,
        ..A_SDP
    };
    let b_rtcp = Endpoint {
        port: B_SDP.port + 1,
        ..B_SDP
    };
    let out = r.send(a_rtcp, PA.port + 1, &rtcp_rr(0xa));
    assert_eq!(
        out,
        vec![(relay_ep(PB.port + 1), b_rtcp, rtcp_rr(0xa))],
        "RTCP on port+1 both ends"
    );
    assert_eq!(r.w.counters().forwarded, 3);
}

#[test]
fn rtcp_mux_toward_a_muxing_leg_uses_its_rtp_port() {
    let mut r = Rig::new();
    let mut b = spec(PB, B_SDP, LatchMode::Heuristic);
    b.mux = true;
    r.install(spec(PA, A_SDP, LatchMode::Heuristic), b);
    let a_rtcp = Endpoint {
        port: A_SDP.port + 1,
        ..A_SDP
    };
    let out = r.send(a_rtcp, PA.port + 1, &rtcp_rr(0xa));
    assert_eq!(out, vec![(relay_ep(PB.port), B_SDP, rtcp_rr(0xa))]);
    // B sends RTCP multiplexed on its RTP port: demultiplexed to A's RTCP port (RFC 5761 §4).
    let out = r.send(B_SDP, PB.port, &rtcp_rr(0xb));
    assert_eq!(out, vec![(relay_ep(PA.port + 1), a_rtcp, rtcp_rr(0xb))]);
}

#[test]
fn heuristic_foreign_source_first_does_not_capture_the_stream() {
    let mut r = Rig::standard(LatchMode::Heuristic);
    // A foreign source hits A's relay port before A does.
    r.send(FOREIGN, PA.port, &rtp(100, 0, 0xbad));
    // Media toward A still goes to A's SDP address, not to the foreign source.
    let out = r.send(B_SDP, PB.port, &rtp(1, 0, 0xb));
    assert_eq!(out[0].1, A_SDP);
    // The real endpoint then latches exactly.
    r.advance(20);
    r.send(A_SDP, PA.port, &rtp(1, 0, 0xa));
    r.advance(5_000);
    r.send(FOREIGN, PA.port, &rtp(101, 0, 0xbad));
    let out = r.send(B_SDP, PB.port, &rtp(2, 160, 0xb));
    assert_eq!(
        out[0].1, A_SDP,
        "still A after the window, the foreign packets notwithstanding"
    );
}

#[test]
fn strict_source_drops_and_counts_foreign_packets_after_latching() {
    let mut r = Rig::new();
    let mut a = spec(PA, A_SDP, LatchMode::Heuristic);
    a.strict = true;
    r.install(a, spec(PB, B_SDP, LatchMode::Heuristic));
    assert_eq!(r.send(A_SDP, PA.port, &rtp(1, 0, 0xa)).len(), 1);
    let out = r.send(FOREIGN, PA.port, &rtp(2, 160, 0xa));
    assert!(
        out.is_empty(),
        "RTP Inject from a foreign source is dropped"
    );
    assert_eq!(r.w.counters().drops_of(DropReason::StrictSource), 1);
    assert_eq!(r.send(A_SDP, PA.port, &rtp(3, 320, 0xa)).len(), 1);
}

#[test]
fn without_strict_source_foreign_packets_pass_but_do_not_relatch() {
    let mut r = Rig::standard(LatchMode::Immediate);
    r.send(A_SDP, PA.port, &rtp(1, 0, 0xa));
    assert_eq!(r.send(FOREIGN, PA.port, &rtp(2, 160, 0xa)).len(), 1);
    let out = r.send(B_SDP, PB.port, &rtp(1, 0, 0xb));
    assert_eq!(out[0].1, A_SDP);
}

#[test]
fn heuristic_prefers_same_ip_but_only_after_the_window() {
    let mut r = Rig::standard(LatchMode::Heuristic);
    let nat = Endpoint {
        port: 5500,
        ..A_SDP
    };
    r.send(nat, PA.port, &rtp(1, 0, 0xa));
    assert_eq!(
        r.send(B_SDP, PB.port, &rtp(1, 0, 0xb))[0].1,
        A_SDP,
        "same IP, other port: a candidate only"
    );
    r.advance(1_000);
    r.send(FOREIGN, PA.port, &rtp(2, 160, 0xa));
    r.advance(2_001);
    r.send(FOREIGN, PA.port, &rtp(3, 320, 0xa));
    assert_eq!(
        r.send(B_SDP, PB.port, &rtp(2, 160, 0xb))[0].1,
        nat,
        "after the window the same-IP candidate wins"
    );

    // Another call whose A leg only ever hears from a completely different source.
    let mut r = Rig::standard(LatchMode::Heuristic);
    let a_nat = Endpoint::new_v4([100, 64, 0, 9], 40_000);
    r.send(a_nat, PA.port, &rtp(1, 0, 0xa));
    assert_eq!(
        r.send(B_SDP, PB.port, &rtp(1, 0, 0xb))[0].1,
        A_SDP,
        "inside the window: SDP address"
    );
    r.advance(3_001);
    r.send(a_nat, PA.port, &rtp(2, 160, 0xa));
    assert_eq!(
        r.send(B_SDP, PB.port, &rtp(2, 160, 0xb))[0].1,
        a_nat,
        "after the window: the source seen"
    );
}

#[test]
fn an_exact_match_inside_the_window_beats_a_same_ip_candidate() {
    let mut r = Rig::standard(LatchMode::Heuristic);
    r.send(
        Endpoint {
            port: 5500,
            ..A_SDP
        },
        PA.port,
        &rtp(1, 0, 0xa),
    );
    r.advance(500);
    r.send(A_SDP, PA.port, &rtp(2, 160, 0xa));
    r.advance(5_000);
    r.send(
        Endpoint {
            port: 5500,
            ..A_SDP
        },
        PA.port,
        &rtp(3, 320, 0xa),
    );
    assert_eq!(r.send(B_SDP, PB.port, &rtp(1, 0, 0xb))[0].1, A_SDP);
}

#[test]
fn latching_off_always_uses_the_sdp_address() {
    let mut r = Rig::standard(LatchMode::Off);
    r.send(FOREIGN, PA.port, &rtp(1, 0, 0xa));
    r.advance(10_000);
    r.send(FOREIGN, PA.port, &rtp(2, 160, 0xa));
    assert_eq!(r.send(B_SDP, PB.port, &rtp(1, 0, 0xb))[0].1, A_SDP);
}

#[test]
fn unknown_leg_address_is_learned_from_early_media() {
    let mut r = Rig::new();
    r.install(
        spec(PA, A_SDP, LatchMode::Heuristic),
        spec(PB, Endpoint::UNSET, LatchMode::Heuristic),
    );
    // Before the answer, A's media has nowhere to go.
    assert!(r.send(A_SDP, PA.port, &rtp(1, 0, 0xa)).is_empty());
    assert_eq!(r.w.counters().drops_of(DropReason::NoDestination), 1);
    // B sends early media: it reaches A and teaches the relay where B is.
    let out = r.send(B_SDP, PB.port, &rtp(1, 0, 0xb));
    assert_eq!(out[0].1, A_SDP);
    assert_eq!(r.send(A_SDP, PA.port, &rtp(2, 160, 0xa))[0].1, B_SDP);
    // The answer then names the same address: nothing changes.
    r.w.command(
        FlowCommand::Update(spec(PB, B_SDP, LatchMode::Heuristic)),
        r.now_ms as u32,
    );
    assert_eq!(r.send(A_SDP, PA.port, &rtp(3, 320, 0xa))[0].1, B_SDP);
}

#[test]
fn reinvite_to_a_new_address_redirects_at_once() {
    let mut r = Rig::standard(LatchMode::Heuristic);
    r.send(A_SDP, PA.port, &rtp(1, 0, 0xa));
    let moved = Endpoint::new_v4([192, 0, 2, 77], 7000);
    r.w.command(
        FlowCommand::Update(spec(PA, moved, LatchMode::Heuristic)),
        r.now_ms as u32,
    );
    assert_eq!(
        r.send(B_SDP, PB.port, &rtp(1, 0, 0xb))[0].1,
        moved,
        "the next packet goes to the new address"
    );
}

#[test]
fn stats_count_loss_ssrc_changes_and_jitter() {
    let mut r = Rig::standard(LatchMode::Heuristic);
    let mut ts = 0u32;
    for seq in 1..=10u16 {
        if seq != 5 {
            r.send(A_SDP, PA.port, &rtp(seq, ts, 0xa));
        }
        ts += 160;
        // Arrivals alternate 15 and 25 ms apart for 20 ms of media: jitter builds up.
        r.advance(if seq % 2 == 0 { 15 } else { 25 });
    }
    r.w.command(FlowCommand::Query { token: 9, key: PA }, r.now_ms as u32);
    let ev = r.events();
    let FlowEvent::Stats {
        token: 9,
        pair: Some([a, b]),
    } = &ev[0]
    else {
        panic!("stats event: {ev:?}")
    };
    assert_eq!(a.rtp_packets, 9);
    assert_eq!(a.rtp_bytes, 9 * 172);
    assert_eq!(a.lost, 1);
    assert_eq!(a.ssrc, 0xa);
    assert!(
        a.jitter > 0 && a.jitter < 80,
        "jitter {} in 8 kHz units",
        a.jitter
    );
    assert!(a.latched);
    assert_eq!(b.rtp_packets, 0);
    r.send(A_SDP, PA.port, &rtp(500, ts, 0xc));
    r.w.command(FlowCommand::Query { token: 10, key: PB }, r.now_ms as u32);
    let ev = r.events();
    let FlowEvent::Stats {
        pair: Some([_, a]), ..
    } = &ev[0]
    else {
        panic!("stats")
    };
    assert_eq!(
        a.ssrc_changes, 1,
        "queried from B's side, A's stream comes second"
    );
}

#[test]
fn bad_packets_are_dropped_and_counted_by_reason() {
    let mut r = Rig::standard(LatchMode::Heuristic);
    assert!(r.send(A_SDP, PA.port, &[0x80, 0, 1]).is_empty());
    assert!(r.send(A_SDP, PA.port, &[0xff; 40]).is_empty());
    assert!(r
        .send(
            A_SDP,
            PA.port,
            &[0x8f, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0]
        )
        .is_empty());
    let mut ext = rtp(1, 0, 0xa);
    ext[0] |= 0x10; // extension bit with a length far beyond the packet
    ext[12..16].copy_from_slice(&[0xbe, 0xde, 0xff, 0xff]);
    assert!(r.send(A_SDP, PA.port, &ext).is_empty());
    assert!(r.send(A_SDP, PA.port + 1, &[0x80, 201, 0]).is_empty());
    assert!(r.send(A_SDP, 30010, &rtp(1, 0, 0xa)).is_empty());
    assert!(r.send(A_SDP, 29000, &rtp(1, 0, 0xa)).is_empty());
    assert!(r.send(A_SDP, PA.port, &[]).is_empty());
    let c = r.w.counters();
    assert_eq!(c.drops_of(DropReason::MalformedRtp), 3, "{c:?}");
    assert_eq!(c.drops_of(DropReason::NotMedia), 2, "{c:?}");
    assert_eq!(c.drops_of(DropReason::MalformedRtcp), 1);
    assert_eq!(c.drops_of(DropReason::UnknownPort), 1);
    assert_eq!(c.drops_of(DropReason::NotOwner), 1);
    assert_eq!(c.forwarded, 0);
    // DTLS and STUN pass through untouched, each on its component.
    let dtls = [22u8, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    assert_eq!(r.send(A_SDP, PA.port, &dtls)[0].2, dtls.to_vec());
    let a_rtcp = Endpoint {
        port: A_SDP.port + 1,
        ..A_SDP
    };
    let out = r.send(a_rtcp, PA.port + 1, &dtls);
    assert_eq!(
        out[0].0,
        relay_ep(PB.port + 1),
        "DTLS on the RTCP port leaves from the RTCP port"
    );
    assert_eq!(
        out[0].1,
        Endpoint {
            port: B_SDP.port + 1,
            ..B_SDP
        }
    );
}

#[test]
fn idle_pairs_are_reported_with_the_right_timeout_and_reason() {
    let mut r = Rig::standard(LatchMode::Heuristic);
    r.send(A_SDP, PA.port, &rtp(1, 0, 0xa));
    r.advance(59_000);
    r.w.housekeeping(r.now_ms as u32);
    assert!(r.events().is_empty(), "not idle before 60 s");
    r.advance(1_500);
    r.w.housekeeping(r.now_ms as u32);
    assert_eq!(
        r.events(),
        vec![FlowEvent::Idle {
            key: PA,
            reason: IdleReason::NoRtp
        }]
    );
    r.w.housekeeping(r.now_ms as u32);
    assert!(r.events().is_empty(), "reported once");
    r.send(B_SDP, PB.port, &rtp(1, 0, 0xb));
    r.w.housekeeping(r.now_ms as u32);
    assert_eq!(r.events(), vec![FlowEvent::Active { key: PA }]);

    let mut held = Rig::new();
    let mut a = spec(PA, A_SDP, LatchMode::Heuristic);
    a.hold = true;
    held.install(a, spec(PB, B_SDP, LatchMode::Heuristic));
    held.advance(61_000);
    held.w.housekeeping(held.now_ms as u32);
    assert!(held.events().is_empty(), "on hold the hold timeout applies");
    held.advance(3_600_000);
    held.w.housekeeping(held.now_ms as u32);
    assert_eq!(
        held.events(),
        vec![FlowEvent::Idle {
            key: PA,
            reason: IdleReason::OnHold
        }]
    );
}

#[test]
fn remove_reports_final_stats_and_frees_the_ports() {
    let mut r = Rig::standard(LatchMode::Heuristic);
    r.send(A_SDP, PA.port, &rtp(1, 0, 0xa));
    r.send(B_SDP, PB.port, &rtp(1, 0, 0xb));
    r.w.command(FlowCommand::Remove { token: 3, key: PB }, r.now_ms as u32);
    let ev = r.events();
    let FlowEvent::Removed {
        token: 3,
        pair: Some([b, a]),
    } = &ev[0]
    else {
        panic!("removed: {ev:?}")
    };
    assert_eq!((a.rtp_packets, b.rtp_packets), (1, 1));
    assert_eq!(r.w.table().installed(), 0);
    assert!(r.send(A_SDP, PA.port, &rtp(2, 160, 0xa)).is_empty());
    assert_eq!(r.w.counters().drops_of(DropReason::UnknownPort), 1);
    r.w.command(FlowCommand::Remove { token: 4, key: PB }, r.now_ms as u32);
    assert_eq!(
        r.events(),
        vec![FlowEvent::Removed {
            token: 4,
            pair: None
        }]
    );
}

#[test]
fn an_install_outside_the_worker_fails_cleanly() {
    let mut r = Rig::new();
    r.install(
        spec(
            PortKey {
                addr: 3,
                port: 30000,
            },
            A_SDP,
            LatchMode::Heuristic,
        ),
        spec(PB, B_SDP, LatchMode::Heuristic),
    );
    assert!(matches!(r.events()[..], [FlowEvent::InstallFailed { .. }]));
    assert_eq!(r.w.table().installed(), 0);
}

use pktio::PortKey;

#[test]
fn new_timeouts_by_command_judge_the_pairs_already_installed() {
    let mut r = Rig::standard(LatchMode::Heuristic);
    r.send(A_SDP, PA.port, &rtp(1, 0, 0xa));
    let timeouts = FlowCommand::Timeouts {
        timeout: std::time::Duration::from_secs(5),
        hold_timeout: std::time::Duration::from_secs(50),
    };
    r.w.command(timeouts, r.now_ms as u32);
    r.advance(4_000);
    r.w.housekeeping(r.now_ms as u32);
    assert!(r.events().is_empty(), "not idle before the new 5 s");
    r.advance(1_500);
    r.w.housekeeping(r.now_ms as u32);
    assert_eq!(
        r.events(),
        vec![FlowEvent::Idle {
            key: PA,
            reason: IdleReason::NoRtp
        }]
    );
}

#[test]
fn busy_time_is_the_time_from_a_poll_that_brought_packets_to_the_next_poll() {
    let mut r = Rig::standard(LatchMode::Heuristic);
    r.poll();
    r.advance(40);
    assert_eq!(r.poll(), 0);
    assert_eq!(r.w.counters().busy_ns, 0, "empty polls are not work");
    assert_eq!(r.send(A_SDP, PA.port, &rtp(1, 0, 0xa)).len(), 1);
    r.advance(3);
    assert_eq!(r.poll(), 0);
    r.advance(50);
    r.poll();
    assert_eq!(
        r.w.counters().busy_ns,
        3_000_000,
        "3 ms after the busy poll, not the 50 after"
    );
}
