//! Kamailio proxies sipp calls through the relay under test (`E2E_RELAY`, default ferrovox),
//! driving it with `rtpengine_offer` / `rtpengine_answer` / `rtpengine_delete` over ng.

use e2e::need;
use e2e::testbed::needs;
use e2e::{run, Plan, Scenario};

/// Runs `plan` and fails with the run's error and logs; `None` when a need of the run is
/// missing and opted out (`FERROVOX_TEST_SKIP`).
fn pass(plan: &Plan) -> Option<e2e::Outcome> {
    if !need::met("kamailio_call", &needs()) {
        return None;
    }
    let out = run(plan).unwrap_or_else(|e| panic!("{e}"));
    eprintln!("{}", out.summary());
    Some(out)
}

/// One call with audio both ways: completes, media crosses the relay on all four hops from
/// and to exactly the endpoints the SDPs announced, unchanged; after the BYE the relay holds
/// no session and its ports are free.
#[test]
fn one_call_relays_rtp_both_ways_and_is_deleted_after_bye() {
    let Some(out) = pass(&Plan::single(Scenario::Basic)) else {
        return;
    };
    assert_eq!(out.report.calls.len(), 1);
    for hops in out.report.hops.values() {
        assert!(hops.uac_to_relay > 0 && hops.relay_to_uac > 0, "{hops:?}");
    }
}

/// 183 Session Progress with SDP, then 200: `rtpengine_answer` on both, and media crosses the
/// relay both ways before the 200 arrives.
#[test]
fn early_media_on_183_then_200() {
    let Some(out) = pass(&Plan::single(Scenario::EarlyMedia)) else {
        return;
    };
    assert_eq!(out.report.calls.len(), 1);
}

/// CANCEL before the answer: 487 to the caller, and the session the offer created is deleted
/// and its ports freed.
#[test]
fn cancel_before_answer_frees_the_session() {
    let Some(out) = pass(&Plan::single(Scenario::Cancel)) else {
        return;
    };
    assert_eq!(out.report.calls.len(), 1);
}
