//! What the admin socket does to members: add, remove (refused with calls unless forced),
//! the last transition and the probe round-trip time it shows.

use std::time::{Duration, Instant};

use config::{SipUri, Transport};
use dispatch::{
    AdminError, AdminState, MemberConfig, MemberState, Origin, ProbeOutcome, Reason, Selection,
};

use crate::{dispatcher, first_set, ids, pick, pool, probe, secs, sets};

fn entry(uri: &str) -> MemberConfig {
    MemberConfig {
        uri: SipUri::parse(uri).unwrap(),
        transport: Transport::Udp,
        weight: 1,
        priority: 0,
        max_calls: None,
        state: AdminState::Active,
    }
}

#[test]
fn an_added_member_takes_calls_and_is_refused_twice_or_by_host_name() {
    let now = Instant::now();
    let mut d = dispatcher(&pool(1, "algorithm = \"round_robin\"", ""), now);
    let set = first_set(&d);
    let id = d
        .add_member(set, &entry("sip:127.0.0.1:5090"), now)
        .unwrap();
    assert_eq!(d.member(id).unwrap().origin(), Origin::Admin);
    assert_eq!(ids(&d).len(), 2);
    let picked: Vec<_> = (0..4).map(|_| pick(&mut d, &[], now)).collect();
    assert_eq!(picked.iter().filter(|&&p| p == id).count(), 2);
    let again = d.add_member(set, &entry("sip:127.0.0.1:5090"), now);
    assert!(matches!(again, Err(AdminError::Duplicate(_))));
    let named = d.add_member(set, &entry("sip:fs.example.net"), now);
    assert_eq!(named, Err(AdminError::NeedsDns));
}

#[test]
fn removal_waits_for_calls_unless_forced() {
    let now = Instant::now();
    let mut d = dispatcher(&pool(2, "", ""), now);
    let m = ids(&d)[0];
    assert!(d.call_started(m));
    assert_eq!(
        d.remove_member_admin(m, false),
        Err(AdminError::HasCalls(1))
    );
    assert_eq!(d.remove_member_admin(m, true), Ok(1));
    assert!(d.member(m).is_none());
    assert_eq!(
        d.remove_member_admin(m, true),
        Err(AdminError::UnknownMember)
    );
    assert!(!d.call_ended(m));
}

#[test]
fn an_added_member_survives_a_reload_and_the_file_takes_it_over() {
    let now = Instant::now();
    let text = pool(1, "", "");
    let mut d = dispatcher(&text, now);
    let set = first_set(&d);
    let added = d
        .add_member(set, &entry("sip:127.0.0.1:5090"), now)
        .unwrap();
    assert!(d.call_started(added));
    let (s, r) = sets(&text);
    d.reconfigure(&s, &r, now);
    assert!(d.member(added).is_some(), "kept across a reload");
    let more = format!("{text}\n[[set.member]]\nuri = \"sip:127.0.0.1:5090\"\n");
    let (s, r) = sets(&more);
    d.reconfigure(&s, &r, now);
    let m = d.member(added).expect("the same member, now the file's");
    assert_eq!(m.origin(), Origin::Static);
    assert_eq!(m.active_calls(), 1);
    assert_eq!(ids(&d).len(), 2);
}

#[test]
fn draining_is_the_last_transition_and_takes_no_new_call() {
    let now = Instant::now();
    let mut d = dispatcher(&pool(1, "", ""), now);
    let m = ids(&d)[0];
    assert!(d.member(m).unwrap().last_transition().is_none());
    let later = now + secs(3);
    d.set_admin_state(m, AdminState::Draining, later).unwrap();
    let t = *d.member(m).unwrap().last_transition().unwrap();
    assert_eq!(
        (t.from, t.to, t.reason),
        (MemberState::Active, MemberState::Draining, Reason::Admin)
    );
    assert_eq!(t.at, later);
    let sel = d.select(first_set(&d), &Default::default(), &[], later);
    assert!(matches!(sel, Selection::NoneAvailable { .. }), "{sel:?}");
}

#[test]
fn the_probe_round_trip_time_is_kept_for_replies_only() {
    let now = Instant::now();
    let mut d = dispatcher(&pool(1, "", ""), now);
    let m = ids(&d)[0];
    assert_eq!(d.member(m).unwrap().probe_rtt(), None);
    let req = d.probe_now(m, now).unwrap();
    let ok = ProbeOutcome::Reply {
        code: 200,
        retry_after: None,
    };
    assert!(d.probe_result(req.probe, ok, now + Duration::from_millis(12)));
    assert_eq!(
        d.member(m).unwrap().probe_rtt(),
        Some(Duration::from_millis(12))
    );
    probe(&mut d, m, ProbeOutcome::Timeout, now + secs(1));
    assert_eq!(
        d.member(m).unwrap().probe_rtt(),
        Some(Duration::from_millis(12))
    );
}
