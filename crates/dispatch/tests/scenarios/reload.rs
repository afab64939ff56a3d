//! Hot reload keeps what stays, adds what is new, removes the rest.

use std::time::Instant;

use dispatch::AdminState;

use super::{events, ids, pick, pool, port, probe, sets};
use dispatch::{DispatchEvent, Dispatcher, MemberState, ProbeOutcome, RemoveReason};

#[test]
fn reload_keeps_state_counters_and_calls_of_members_that_stay() {
    let t0 = Instant::now();
    let (s, r) = sets(&pool(3, "", ""));
    let mut d = Dispatcher::new(&s, &r, t0);
    let set = d.set_ids().next().unwrap();
    let m = ids(&d);
    d.call_started(m[0]);
    probe(&mut d, m[1], ProbeOutcome::Timeout, t0);
    d.set_admin_state(m[2], AdminState::Draining, t0).unwrap();
    events(&mut d);
    // New config: 5081 and 5082 stay (5082 with a new weight), 5083 goes, 5084 comes.
    let text = r#"
        [[set]]
        name = "pool"
        algorithm = "weighted"
        [[set.member]]
        uri = "sip:127.0.0.1:5084"
        [[set.member]]
        uri = "sip:127.0.0.1:5081"
        [[set.member]]
        uri = "sip:127.0.0.1:5082"
        weight = 9
    "#;
    let (s2, r2) = sets(text);
    d.reconfigure(&s2, &r2, t0);
    assert_eq!(d.set_ids().next(), Some(set));
    let m2 = ids(&d);
    assert_eq!(m2.len(), 3);
    assert_eq!(m2[1], m[0]);
    assert_eq!(m2[2], m[1]);
    assert_eq!(d.member(m[0]).unwrap().active_calls(), 1);
    assert_eq!(d.member(m[1]).unwrap().state(), MemberState::Suspect);
    assert_eq!(d.member(m[1]).unwrap().weight(), 9);
    assert!(d.member(m[2]).is_none());
    let ev = events(&mut d);
    assert!(ev.iter().any(|e| matches!(e, DispatchEvent::Removed { member, reason: RemoveReason::Reconfigured, .. } if *member == m[2])));
    assert!(ev
        .iter()
        .any(|e| matches!(e, DispatchEvent::Added { member, .. } if *member == m2[0])));
    // The ended call of a removed member is harmless.
    assert!(!d.call_ended(m[2]));
    let next = pick(&mut d, &[], t0);
    assert_eq!(port(&d, next), 5082);
}

#[test]
fn admin_state_survives_reloads_unless_the_config_changes_it() {
    let t0 = Instant::now();
    let (s, r) = sets(&pool(2, "", ""));
    let mut d = Dispatcher::new(&s, &r, t0);
    let m = ids(&d);
    d.set_admin_state(m[0], AdminState::Draining, t0).unwrap();
    // Same config again: the admin's DRAINING stays.
    d.reconfigure(&s, &r, t0);
    assert_eq!(d.member(m[0]).unwrap().admin_state(), AdminState::Draining);
    // The config now says disabled for the second member: applied with an event.
    events(&mut d);
    let (s2, r2) = sets(&pool(2, "", "state = \"disabled\""));
    d.reconfigure(&s2, &r2, t0);
    assert_eq!(d.member(m[1]).unwrap().admin_state(), AdminState::Disabled);
    assert_eq!(d.member(m[0]).unwrap().admin_state(), AdminState::Disabled);
    assert_eq!(events(&mut d).len(), 2);
}

#[test]
fn a_member_configured_disabled_starts_so_without_events_or_probes() {
    let t0 = Instant::now();
    let (s, r) = sets(&pool(1, "", "state = \"disabled\""));
    let mut d = Dispatcher::new(&s, &r, t0);
    let m = ids(&d)[0];
    assert_eq!(d.member(m).unwrap().state(), MemberState::Disabled);
    assert!(d.poll_probe(t0).is_none());
    let ev = events(&mut d);
    assert!(matches!(ev[..], [DispatchEvent::Added { .. }]));
}

#[test]
fn removing_a_set_removes_its_members_and_renaming_makes_a_new_one() {
    let t0 = Instant::now();
    let (s, r) = sets(&pool(2, "", ""));
    let mut d = Dispatcher::new(&s, &r, t0);
    let old_set = d.set_ids().next().unwrap();
    let text = "[[set]]\nname = \"other\"\n[[set.member]]\nuri = \"sip:127.0.0.1:5081\"\n";
    let (s2, r2) = sets(text);
    d.reconfigure(&s2, &r2, t0);
    let new_set = d.set_ids().next().unwrap();
    assert_ne!(old_set, new_set);
    assert_eq!(d.snapshot().count(), 1);
    assert!(d.set_config(old_set).is_none());
    d.reconfigure(&[], &[], t0);
    assert_eq!(d.snapshot().count(), 0);
    assert_eq!(d.set_ids().count(), 0);
}
