//! Member states: the N/M rule, BUSY, passive detection, admin states, events, counters,
//! and probe scheduling.

use std::time::{Duration, Instant};

use dispatch::AdminState;

use super::{dispatcher, events, ids, ok, pick, pool, probe, secs};
use dispatch::{DispatchEvent, Health, MemberState, PassiveEvent, ProbeOutcome, Reason, Selection};

fn state(d: &dispatch::Dispatcher, id: dispatch::MemberId) -> MemberState {
    d.member(id).unwrap().state()
}

fn reply(code: u16, retry_after: Option<u32>) -> ProbeOutcome {
    ProbeOutcome::Reply { code, retry_after }
}

#[test]
fn down_after_exactly_n_failures_and_up_after_exactly_m_successes() {
    let now = Instant::now();
    let mut d = dispatcher(
        &pool(1, "[set.health]\ndown_after = 4\nup_after = 3", ""),
        now,
    );
    let m = ids(&d)[0];
    events(&mut d);
    probe(&mut d, m, ProbeOutcome::Timeout, now);
    assert_eq!(state(&d, m), MemberState::Suspect);
    probe(&mut d, m, ProbeOutcome::TransportError, now);
    probe(&mut d, m, reply(404, None), now);
    // N-1 = 3 failures: still SUSPECT, and still takes calls.
    assert_eq!(state(&d, m), MemberState::Suspect);
    assert_eq!(pick(&mut d, &[], now), m);
    probe(&mut d, m, ProbeOutcome::Timeout, now);
    assert_eq!(state(&d, m), MemberState::Down);
    // M-1 = 2 successes: still DOWN.
    probe(&mut d, m, ok(), now);
    probe(&mut d, m, ok(), now);
    assert_eq!(state(&d, m), MemberState::Down);
    probe(&mut d, m, ok(), now);
    assert_eq!(state(&d, m), MemberState::Active);
    // One event per transition: ACTIVE->SUSPECT, SUSPECT->DOWN, DOWN->ACTIVE.
    let ev = events(&mut d);
    let transitions: Vec<(MemberState, MemberState)> = ev
        .iter()
        .filter_map(|e| match e {
            DispatchEvent::StateChanged { from, to, .. } => Some((*from, *to)),
            _ => None,
        })
        .collect();
    assert_eq!(
        transitions,
        [
            (MemberState::Active, MemberState::Suspect),
            (MemberState::Suspect, MemberState::Down),
            (MemberState::Down, MemberState::Active),
        ]
    );
    assert!(matches!(
        ev[1],
        DispatchEvent::StateChanged {
            reason: Reason::ProbeFailed { consecutive: 4 },
            ..
        }
    ));
    let c = d.member(m).unwrap().counters();
    assert_eq!(c.transitions(MemberState::Suspect), 1);
    assert_eq!(c.transitions(MemberState::Down), 1);
    assert_eq!(c.transitions(MemberState::Active), 1);
    assert_eq!((c.probes_sent, c.probes_ok, c.probes_failed), (7, 3, 4));
}

#[test]
fn a_success_resets_failures_and_a_failure_resets_successes() {
    let now = Instant::now();
    let mut d = dispatcher(
        &pool(1, "[set.health]\ndown_after = 2\nup_after = 2", ""),
        now,
    );
    let m = ids(&d)[0];
    // fail, ok, fail: never two in a row, never DOWN.
    for _ in 0..5 {
        probe(&mut d, m, ProbeOutcome::Timeout, now);
        assert_eq!(state(&d, m), MemberState::Suspect);
        probe(&mut d, m, ok(), now);
        assert_eq!(state(&d, m), MemberState::Active);
    }
    probe(&mut d, m, ProbeOutcome::Timeout, now);
    probe(&mut d, m, ProbeOutcome::Timeout, now);
    assert_eq!(state(&d, m), MemberState::Down);
    // ok, fail, ok: never two in a row, stays DOWN.
    for _ in 0..5 {
        probe(&mut d, m, ok(), now);
        probe(&mut d, m, ProbeOutcome::Timeout, now);
        assert_eq!(state(&d, m), MemberState::Down);
    }
}

#[test]
fn down_after_one_goes_straight_down() {
    let now = Instant::now();
    let mut d = dispatcher(
        &pool(1, "[set.health]\ndown_after = 1\nup_after = 1", ""),
        now,
    );
    let m = ids(&d)[0];
    probe(&mut d, m, ProbeOutcome::Timeout, now);
    assert_eq!(state(&d, m), MemberState::Down);
    probe(&mut d, m, ok(), now);
    assert_eq!(state(&d, m), MemberState::Active);
    assert_eq!(
        d.member(m)
            .unwrap()
            .counters()
            .transitions(MemberState::Suspect),
        0
    );
}

#[test]
fn ok_codes_decide_success_and_503_without_retry_after_is_a_failure() {
    let now = Instant::now();
    let mut d = dispatcher(
        &pool(1, "[set.health]\nok_codes = [\"2xx\", \"404\"]", ""),
        now,
    );
    let m = ids(&d)[0];
    probe(&mut d, m, reply(404, None), now);
    assert_eq!(state(&d, m), MemberState::Active);
    probe(&mut d, m, reply(503, None), now);
    assert_eq!(state(&d, m), MemberState::Suspect);
    probe(&mut d, m, reply(503, Some(0)), now);
    assert_eq!(d.member(m).unwrap().consecutive_failures(), 2);
    let mut d = dispatcher(&pool(1, "[set.health]\nok_codes = [\"503\"]", ""), now);
    let m = ids(&d)[0];
    probe(&mut d, m, reply(503, None), now);
    assert_eq!(state(&d, m), MemberState::Active);
    probe(&mut d, m, reply(200, None), now);
    assert_eq!(state(&d, m), MemberState::Suspect);
}

#[test]
fn busy_from_a_probe_lasts_retry_after_then_the_health_probes_kept() {
    let t0 = Instant::now();
    let mut d = dispatcher(&pool(2, "", ""), t0);
    let m = ids(&d);
    events(&mut d);
    probe(&mut d, m[0], reply(503, Some(30)), t0);
    assert_eq!(state(&d, m[0]), MemberState::Busy);
    assert_eq!(d.member(m[0]).unwrap().busy_until(), Some(t0 + secs(30)));
    // A BUSY member takes no call.
    for _ in 0..3 {
        assert_eq!(pick(&mut d, &[], t0), m[1]);
    }
    // Probes go on underneath and keep the health count: two failures, still BUSY.
    probe(&mut d, m[0], ProbeOutcome::Timeout, t0 + secs(10));
    assert_eq!(state(&d, m[0]), MemberState::Busy);
    assert_eq!(d.member(m[0]).unwrap().health(), Health::Suspect);
    assert!(d.poll_timeout().unwrap() <= t0 + secs(30));
    d.handle_timeout(t0 + secs(29));
    assert_eq!(state(&d, m[0]), MemberState::Busy);
    d.handle_timeout(t0 + secs(30));
    assert_eq!(state(&d, m[0]), MemberState::Suspect);
    let reasons: Vec<Reason> = events(&mut d)
        .into_iter()
        .filter_map(|e| match e {
            DispatchEvent::StateChanged { reason, .. } => Some(reason),
            _ => None,
        })
        .collect();
    assert_eq!(
        reasons,
        [Reason::Busy { duration: secs(30) }, Reason::BusyOver]
    );
}

#[test]
fn retry_after_is_capped_at_an_hour_and_a_later_busy_extends() {
    let t0 = Instant::now();
    let mut d = dispatcher(&pool(1, "", ""), t0);
    let m = ids(&d)[0];
    probe(&mut d, m, reply(503, Some(86_400)), t0);
    assert_eq!(d.member(m).unwrap().busy_until(), Some(t0 + secs(3600)));
    // A shorter BUSY does not cut the longer one short.
    probe(&mut d, m, reply(503, Some(5)), t0);
    assert_eq!(d.member(m).unwrap().busy_until(), Some(t0 + secs(3600)));
    d.passive(
        m,
        PassiveEvent::ServiceUnavailable {
            retry_after: Some(10),
        },
        t0 + secs(3595),
    );
    assert_eq!(d.member(m).unwrap().busy_until(), Some(t0 + secs(3605)));
}

#[test]
fn passive_timeouts_count_and_503_with_retry_after_is_busy() {
    let t0 = Instant::now();
    let mut d = dispatcher(&pool(2, "", ""), t0);
    let m = ids(&d);
    d.passive(m[0], PassiveEvent::InviteTimeout, t0);
    d.passive(m[0], PassiveEvent::TransportError, t0);
    assert_eq!(state(&d, m[0]), MemberState::Suspect);
    d.passive(
        m[0],
        PassiveEvent::ServiceUnavailable { retry_after: None },
        t0,
    );
    assert_eq!(state(&d, m[0]), MemberState::Down);
    assert_eq!(d.member(m[0]).unwrap().counters().passive_failures, 3);
    d.passive(
        m[1],
        PassiveEvent::ServiceUnavailable {
            retry_after: Some(8),
        },
        t0,
    );
    assert_eq!(state(&d, m[1]), MemberState::Busy);
    let set = super::first_set(&d);
    assert_eq!(
        d.select(set, &dispatch::HashKeys::default(), &[], t0),
        Selection::AllFull {
            retry_after: secs(5)
        }
    );
    // select applies the BUSY end by itself.
    assert_eq!(pick(&mut d, &[], t0 + secs(8)), m[1]);
}

#[test]
fn busy_default_applies_to_passive_503_without_retry_after_only() {
    let t0 = Instant::now();
    let mut d = dispatcher(&pool(1, "[set.health]\nbusy_default_secs = 20", ""), t0);
    let m = ids(&d)[0];
    d.passive(
        m,
        PassiveEvent::ServiceUnavailable { retry_after: None },
        t0,
    );
    assert_eq!(d.member(m).unwrap().busy_until(), Some(t0 + secs(20)));
    d.passive(
        m,
        PassiveEvent::ServiceUnavailable {
            retry_after: Some(0),
        },
        t0 + secs(1),
    );
    assert_eq!(d.member(m).unwrap().busy_until(), Some(t0 + secs(21)));
    assert_eq!(d.member(m).unwrap().consecutive_failures(), 0);
    // A probe's 503 without Retry-After is still a failure.
    probe(&mut d, m, reply(503, None), t0 + secs(2));
    assert_eq!(d.member(m).unwrap().consecutive_failures(), 1);
}

#[test]
fn passive_off_ignores_calls() {
    let t0 = Instant::now();
    let mut d = dispatcher(
        &pool(1, "[set.health]\npassive = false\ndown_after = 1", ""),
        t0,
    );
    let m = ids(&d)[0];
    assert!(d.passive(m, PassiveEvent::InviteTimeout, t0));
    assert!(d.passive(
        m,
        PassiveEvent::ServiceUnavailable {
            retry_after: Some(9)
        },
        t0
    ));
    assert_eq!(state(&d, m), MemberState::Active);
    d.reconfigure(&[], &[], t0);
    assert!(!d.passive(m, PassiveEvent::InviteTimeout, t0));
}

#[test]
fn late_duplicate_and_provisional_results_change_nothing() {
    let t0 = Instant::now();
    let mut d = dispatcher(
        &pool(1, "[set.health]\ntimeout_ms = 1000\ndown_after = 1", ""),
        t0,
    );
    let m = ids(&d)[0];
    let req = d.poll_probe(t0).unwrap();
    assert_eq!(req.probe.member, m);
    assert_eq!(req.deadline, t0 + secs(1));
    // A provisional reply leaves the probe in flight.
    assert!(!d.probe_result(req.probe, reply(100, None), t0));
    // The deadline passes: a timeout failure, counted by the dispatcher itself.
    d.handle_timeout(t0 + secs(1));
    assert_eq!(state(&d, m), MemberState::Down);
    // The 200 arriving late is ignored; so is a second copy of any result.
    assert!(!d.probe_result(req.probe, ok(), t0 + secs(2)));
    assert_eq!(state(&d, m), MemberState::Down);
    let req2 = d.poll_probe(t0 + secs(10)).unwrap();
    assert!(d.probe_result(req2.probe, ok(), t0 + secs(10)));
    assert!(!d.probe_result(req2.probe, ok(), t0 + secs(10)));
    assert_eq!(d.member(m).unwrap().consecutive_successes(), 1);
}

#[test]
fn probes_are_staggered_periodic_and_never_two_in_flight() {
    let t0 = Instant::now();
    let mut d = dispatcher(
        &pool(4, "[set.health]\ninterval_secs = 8\ntimeout_ms = 20000", ""),
        t0,
    );
    let m = ids(&d);
    // First probes at 0, 2, 4, 6 s.
    let mut seen = Vec::new();
    for s in 0..8 {
        let now = t0 + secs(s);
        while let Some(req) = d.poll_probe(now) {
            seen.push((s, req.probe.member));
            assert!(d.probe_result(req.probe, ok(), now));
        }
    }
    assert_eq!(seen, [(0, m[0]), (2, m[1]), (4, m[2]), (6, m[3])]);
    assert_eq!(d.poll_timeout(), Some(t0 + secs(8)));
    // m0's second probe at 8 s gets no answer; its third waits for the 20 s deadline.
    let r = d.poll_probe(t0 + secs(8)).unwrap();
    assert_eq!(r.probe.member, m[0]);
    for s in 9..28 {
        let now = t0 + secs(s);
        d.handle_timeout(now);
        while let Some(req) = d.poll_probe(now) {
            assert_ne!(req.probe.member, m[0], "second probe in flight at {s}");
            d.probe_result(req.probe, ok(), now);
        }
    }
    d.handle_timeout(t0 + secs(28));
    assert_eq!(d.member(m[0]).unwrap().consecutive_failures(), 1);
    assert_eq!(d.poll_probe(t0 + secs(28)).unwrap().probe.member, m[0]);
}

#[test]
fn disabled_is_not_probed_and_draining_is_probed_but_takes_no_calls() {
    let t0 = Instant::now();
    let mut d = dispatcher(&pool(3, "[set.health]\ndown_after = 1", ""), t0);
    let m = ids(&d);
    events(&mut d);
    d.set_admin_state(m[0], AdminState::Disabled, t0).unwrap();
    d.set_admin_state(m[1], AdminState::Draining, t0).unwrap();
    let ev = events(&mut d);
    assert_eq!(ev.len(), 2);
    assert!(matches!(
        ev[0],
        DispatchEvent::StateChanged {
            from: MemberState::Active,
            to: MemberState::Disabled,
            reason: Reason::Admin,
            ..
        }
    ));
    // Neither takes calls.
    for _ in 0..4 {
        assert_eq!(pick(&mut d, &[], t0), m[2]);
    }
    // Probes over a minute: the disabled member gets none, the draining one does.
    let mut probed = std::collections::BTreeSet::new();
    for s in 0..60 {
        let now = t0 + secs(s);
        while let Some(req) = d.poll_probe(now) {
            probed.insert(req.probe.member);
            d.probe_result(req.probe, ProbeOutcome::Timeout, now);
        }
    }
    assert!(!probed.contains(&m[0]));
    assert!(probed.contains(&m[1]));
    // Probing does not override the admin state; the health underneath is known.
    assert_eq!(state(&d, m[1]), MemberState::Draining);
    assert_eq!(d.member(m[1]).unwrap().health(), Health::Down);
    // Re-enabled: ACTIVE with a clean slate and a probe due at once.
    let t1 = t0 + secs(60);
    d.set_admin_state(m[0], AdminState::Active, t1).unwrap();
    assert_eq!(state(&d, m[0]), MemberState::Active);
    assert_eq!(d.poll_probe(t1).map(|r| r.probe.member), Some(m[0]));
    // Draining back to active shows the health probes found.
    d.set_admin_state(m[1], AdminState::Active, t1).unwrap();
    assert_eq!(state(&d, m[1]), MemberState::Down);
    d.reconfigure(&[], &[], t1);
    assert!(d.set_admin_state(m[0], AdminState::Active, t1).is_err());
}

#[test]
fn disabling_drops_the_probe_in_flight() {
    let t0 = Instant::now();
    let mut d = dispatcher(&pool(1, "", ""), t0);
    let m = ids(&d)[0];
    let req = d.poll_probe(t0).unwrap();
    d.set_admin_state(m, AdminState::Disabled, t0).unwrap();
    assert!(!d.probe_result(req.probe, ProbeOutcome::Timeout, t0));
    assert_eq!(d.poll_timeout(), None);
    d.handle_timeout(t0 + Duration::from_secs(100));
    assert_eq!(state(&d, m), MemberState::Disabled);
}

/// An HA standby sends no probe (it cannot send from the service address it does not hold):
/// none is handed out, no deadline is asked for, members keep their state; once resumed, the
/// probes that fell due go out at once.
#[test]
fn paused_probes_are_not_sent_nor_waited_for_and_resume_at_once() {
    let t0 = Instant::now();
    let mut d = dispatcher(&pool(2, "[set.health]\ninterval_secs = 1", ""), t0);
    d.pause_probes(true);
    assert!(d.poll_probe(t0 + secs(60)).is_none());
    assert_eq!(d.poll_timeout(), None, "no wake-up for a probe");
    d.handle_timeout(t0 + secs(60));
    for m in ids(&d) {
        assert_eq!(state(&d, m), MemberState::Active);
    }
    d.pause_probes(false);
    assert!(d.poll_timeout().is_some_and(|t| t <= t0 + secs(60)));
    let probed = std::iter::from_fn(|| d.poll_probe(t0 + secs(60))).count();
    assert_eq!(probed, 2, "both members' overdue probes at once");
}
