//! Ferrovox alone: its SIP proxy routes sipp calls to a sipp member and anchors their media on
//! its own relay in-process (no Kamailio, no ng). The capture proves that each side sends
//! and receives RTP only through the relay ports its SDP named (external toward the caller,
//! internal toward the member), unchanged; after the BYE (or the CANCEL) the relay holds no
//! session and every relay port is free.

use e2e::need;
use e2e::{run, Plan, Scenario};

/// Runs `plan` and fails with the run's error and logs; `None` when a need of the run is
/// missing and opted out (`FERROVOX_TEST_SKIP`).
fn pass(plan: &Plan) -> Option<e2e::Outcome> {
    if !need::met("anchored_call", &plan.needs()) {
        return None;
    }
    let out = run(plan).unwrap_or_else(|e| panic!("{e}"));
    eprintln!("{}", out.summary());
    Some(out)
}

/// Each side was told one relay endpoint in every SDP of its call (the ports are reused).
/// (`run` already checked that RTP crossed the relay on all four hops.)
fn one_relay_endpoint_each_way(out: &e2e::Outcome) {
    for (id, c) in &out.report.calls {
        assert_eq!(
            c.uas_offer.len(),
            1,
            "call {id}: UAS told {:?}",
            c.uas_offer
        );
        assert_eq!(
            c.uac_answer.len(),
            1,
            "call {id}: UAC told {:?}",
            c.uac_answer
        );
    }
}

/// INVITE with SDP, 180, 200 with SDP, ACK, audio both ways, BYE.
#[test]
fn an_anchored_call_relays_rtp_both_ways_and_is_released_after_bye() {
    let Some(out) = pass(&Plan::anchored(Scenario::Basic)) else {
        return;
    };
    assert_eq!(out.report.calls.len(), 1);
}

/// 183 Session Progress with SDP (media both ways before the answer), then 200.
#[test]
fn anchored_early_media_on_183_then_200() {
    let Some(out) = pass(&Plan::anchored(Scenario::EarlyMedia)) else {
        return;
    };
    assert_eq!(out.report.calls.len(), 1);
}

/// CANCEL while ringing: 487 to the caller; the session the INVITE opened is released.
#[test]
fn anchored_cancel_while_ringing_releases_the_session() {
    let Some(out) = pass(&Plan::anchored(Scenario::Cancel)) else {
        return;
    };
    assert_eq!(out.report.calls.len(), 1);
}

/// Hold and unhold re-INVITEs from the caller while audio streams: each side is told the same
/// relay endpoint in every SDP (the relay ports are reused), and media keeps crossing it.
#[test]
fn anchored_hold_and_unhold_reuse_the_relay_ports() {
    let Some(out) = pass(&Plan::anchored(Scenario::Hold)) else {
        return;
    };
    assert_eq!(out.report.calls.len(), 1);
    one_relay_endpoint_each_way(&out);
}

/// A late offer: the INVITE carries no SDP, the member's 200 offers (the caller is told the
/// outside relay endpoint) and the caller's ACK answers (the member is told the inside one);
/// media crosses the relay both ways.
#[test]
fn an_anchored_late_offer_is_answered_in_the_ack() {
    let Some(out) = pass(&Plan::anchored(Scenario::LateOffer)) else {
        return;
    };
    assert_eq!(out.report.calls.len(), 1);
}

/// An UPDATE with a new SDP version from the caller during the call (RFC 3311): it reaches
/// the member rewritten to the same relay endpoint, the member's answer reaches the caller
/// rewritten to the same outside endpoint, and media keeps crossing the relay.
#[test]
fn an_anchored_update_keeps_the_relay_endpoints() {
    let Some(out) = pass(&Plan::anchored(Scenario::Update)) else {
        return;
    };
    assert_eq!(out.report.calls.len(), 1);
    one_relay_endpoint_each_way(&out);
}
