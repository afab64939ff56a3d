//! The selection algorithms, failover order, caps and the empty cases.

use std::collections::BTreeMap;
use std::time::Instant;

use dispatch::AdminState;

use super::{dispatcher, first_set, ids, pick, pool, port, probe, secs};
use dispatch::{HashKeys, MemberId, ProbeOutcome, Selection};

/// Ports of `n` successive picks with nothing tried.
fn ports(d: &mut dispatch::Dispatcher, n: usize, now: Instant) -> Vec<u16> {
    (0..n)
        .map(|_| {
            let id = pick(d, &[], now);
            port(d, id)
        })
        .collect()
}

#[test]
fn round_robin_rotates_exactly_and_skips_a_down_member() {
    let now = Instant::now();
    let mut d = dispatcher(&pool(3, "", ""), now);
    assert_eq!(
        ports(&mut d, 7, now),
        [5081, 5082, 5083, 5081, 5082, 5083, 5081]
    );
    let m = ids(&d);
    // Three failures take the second member DOWN (down_after = 3 by default).
    for _ in 0..3 {
        probe(&mut d, m[1], ProbeOutcome::Timeout, now);
    }
    assert_eq!(ports(&mut d, 4, now), [5083, 5081, 5083, 5081]);
}

#[test]
fn failover_with_tried_gives_a_different_member_each_time_then_none() {
    let now = Instant::now();
    for algo in [
        "round_robin",
        "weighted",
        "least_calls",
        "hash",
        "priority",
        "srv",
    ] {
        let mut d = dispatcher(
            &pool(3, &format!("algorithm = \"{algo}\"\nmax_attempts = 16"), ""),
            now,
        );
        let mut tried: Vec<MemberId> = Vec::new();
        for _ in 0..3 {
            let id = pick(&mut d, &tried, now);
            assert!(!tried.contains(&id), "{algo}: {id} picked twice");
            tried.push(id);
        }
        let set = first_set(&d);
        assert_eq!(
            d.select(set, &HashKeys::default(), &tried, now),
            Selection::NoneAvailable {
                retry_after: secs(5)
            },
            "{algo}"
        );
    }
}

#[test]
fn weighted_gives_exact_smooth_proportions() {
    let now = Instant::now();
    let text = r#"
        [[set]]
        name = "w"
        algorithm = "weighted"
        [[set.member]]
        uri = "sip:127.0.0.1:5081"
        weight = 5
        [[set.member]]
        uri = "sip:127.0.0.1:5082"
        weight = 1
        [[set.member]]
        uri = "sip:127.0.0.1:5083"
        weight = 1
    "#;
    let mut d = dispatcher(text, now);
    // nginx's smooth weighted round robin: { a a b a c a a } for weights 5, 1, 1.
    assert_eq!(
        ports(&mut d, 7, now),
        [5081, 5081, 5082, 5081, 5083, 5081, 5081]
    );
    // Exact proportions over every whole cycle.
    let mut count: BTreeMap<u16, u32> = BTreeMap::new();
    for p in ports(&mut d, 700, now) {
        *count.entry(p).or_default() += 1;
    }
    assert_eq!(count.values().copied().collect::<Vec<_>>(), [500, 100, 100]);
}

#[test]
fn least_calls_takes_the_fewest_and_rotates_ties() {
    let now = Instant::now();
    let mut d = dispatcher(&pool(3, "algorithm = \"least_calls\"", ""), now);
    let m = ids(&d);
    // All at zero: ties taken in turn.
    assert_eq!(ports(&mut d, 3, now), [5081, 5082, 5083]);
    d.call_started(m[0]);
    d.call_started(m[0]);
    d.call_started(m[2]);
    assert_eq!(pick(&mut d, &[], now), m[1]);
    d.call_started(m[1]);
    // m1 and m2 tie at one call: in turn, starting after the last pick.
    let a = pick(&mut d, &[], now);
    let b = pick(&mut d, &[], now);
    assert_eq!(
        [a, b]
            .iter()
            .copied()
            .collect::<std::collections::BTreeSet<_>>(),
        [m[1], m[2]].into_iter().collect()
    );
    // Calls ending make m0 the least loaded.
    d.call_ended(m[0]);
    d.call_ended(m[0]);
    assert_eq!(pick(&mut d, &[], now), m[0]);
}

#[test]
fn active_calls_never_underflow_and_unknown_members_are_ignored() {
    let now = Instant::now();
    let mut d = dispatcher(&pool(1, "", ""), now);
    let m = ids(&d)[0];
    assert!(d.call_ended(m));
    assert_eq!(d.member(m).unwrap().active_calls(), 0);
    assert!(d.call_started(m));
    assert!(d.call_started(m));
    assert!(d.call_ended(m));
    assert_eq!(d.member(m).unwrap().active_calls(), 1);
    assert_eq!(d.member(m).unwrap().counters().calls, 2);
    // Removed while the call ran: its id names nothing any more.
    d.reconfigure(&[], &[], now);
    assert!(!d.call_started(m));
    assert!(!d.call_ended(m));
}

/// The member each of `keys` hashes to, by port.
fn hash_map(d: &mut dispatch::Dispatcher, keys: &[String], now: Instant) -> Vec<u16> {
    let set = first_set(d);
    keys.iter()
        .map(|k| {
            let keys = HashKeys {
                call_id: k,
                ..HashKeys::default()
            };
            match d.select(set, &keys, &[], now) {
                Selection::Member(id) => port(d, id),
                other => panic!("{other:?}"),
            }
        })
        .collect()
}

#[test]
fn hash_is_sticky_balanced_and_moves_only_the_lost_members_keys() {
    let now = Instant::now();
    let k = 5;
    let mut d = dispatcher(&pool(k, "algorithm = \"hash\"", ""), now);
    let keys: Vec<String> = (0..10_000).map(|i| format!("call-{i}@host")).collect();
    let before = hash_map(&mut d, &keys, now);
    // Sticky: the same answer again.
    assert_eq!(hash_map(&mut d, &keys, now), before);
    // Balanced: each of 5 members gets 2000 +- 10%.
    let mut count: BTreeMap<u16, usize> = BTreeMap::new();
    for p in &before {
        *count.entry(*p).or_default() += 1;
    }
    for (p, c) in &count {
        assert!((1800..=2200).contains(c), "member {p} got {c} of 10000");
    }
    // Member 5083 goes DOWN: exactly its keys move, every other key stays.
    let lost = ids(&d)[2];
    d.set_admin_state(lost, AdminState::Disabled, now).unwrap();
    let after = hash_map(&mut d, &keys, now);
    let mut moved = 0;
    for (b, a) in before.iter().zip(&after) {
        if *b == 5083 {
            assert_ne!(*a, 5083);
            moved += 1;
        } else {
            assert_eq!(a, b, "a key of a healthy member moved");
        }
    }
    // About 1/K of the keys moved.
    assert!((1800..=2200).contains(&moved), "{moved} keys moved");
    // The lost member's keys spread over the others.
    let mut spread: BTreeMap<u16, usize> = BTreeMap::new();
    for (b, a) in before.iter().zip(&after) {
        if *b == 5083 {
            *spread.entry(*a).or_default() += 1;
        }
    }
    assert_eq!(spread.len(), 4);
    // Back up: every key returns to where it was.
    d.set_admin_state(lost, AdminState::Active, now).unwrap();
    assert_eq!(hash_map(&mut d, &keys, now), before);
}

#[test]
fn hash_uses_the_configured_key_and_falls_back_to_the_call_id() {
    let now = Instant::now();
    let mut d = dispatcher(
        &pool(4, "algorithm = \"hash\"\nhash_key = \"from_user\"", ""),
        now,
    );
    let set = first_set(&d);
    let pick_for = |d: &mut dispatch::Dispatcher, call_id: &str, from: &str| match d.select(
        set,
        &HashKeys {
            call_id,
            from_user: from,
            to_user: "x",
            ruri_user: "y",
        },
        &[],
        now,
    ) {
        Selection::Member(id) => id,
        other => panic!("{other:?}"),
    };
    // Same From user, different Call-IDs: one member.
    let a = pick_for(&mut d, "c1", "alice");
    for i in 0..50 {
        assert_eq!(pick_for(&mut d, &format!("c{i}"), "alice"), a);
    }
    // Without a From user the Call-ID decides: several members get used.
    let spread: std::collections::BTreeSet<MemberId> = (0..50)
        .map(|i| pick_for(&mut d, &format!("c{i}"), ""))
        .collect();
    assert!(spread.len() > 1);
}

#[test]
fn priority_uses_the_lowest_tier_in_turn_and_falls_to_the_next() {
    let now = Instant::now();
    let text = r#"
        [[set]]
        name = "p"
        algorithm = "priority"
        [[set.member]]
        uri = "sip:127.0.0.1:5081"
        priority = 10
        [[set.member]]
        uri = "sip:127.0.0.1:5082"
        priority = 0
        [[set.member]]
        uri = "sip:127.0.0.1:5083"
        priority = 0
    "#;
    let mut d = dispatcher(text, now);
    assert_eq!(ports(&mut d, 4, now), [5082, 5083, 5082, 5083]);
    let m = ids(&d);
    d.set_admin_state(m[1], AdminState::Draining, now).unwrap();
    assert_eq!(ports(&mut d, 2, now), [5083, 5083]);
    d.set_admin_state(m[2], AdminState::Disabled, now).unwrap();
    assert_eq!(ports(&mut d, 2, now), [5081, 5081]);
}

#[test]
fn srv_takes_the_lowest_priority_and_weights_within_it() {
    let now = Instant::now();
    let text = r#"
        [[set]]
        name = "s"
        algorithm = "srv"
        [[set.member]]
        uri = "sip:127.0.0.1:5081"
        priority = 1
        weight = 3
        [[set.member]]
        uri = "sip:127.0.0.1:5082"
        priority = 1
        weight = 1
        [[set.member]]
        uri = "sip:127.0.0.1:5083"
        priority = 2
        weight = 100
    "#;
    let mut d = dispatcher(text, now);
    let mut count: BTreeMap<u16, u32> = BTreeMap::new();
    for p in ports(&mut d, 400, now) {
        *count.entry(p).or_default() += 1;
    }
    assert_eq!(count.get(&5081), Some(&300));
    assert_eq!(count.get(&5082), Some(&100));
    assert_eq!(count.get(&5083), None);
    // Failover inside the tier first, then to the next priority.
    let m = ids(&d);
    let first = pick(&mut d, &[], now);
    let second = pick(&mut d, &[first], now);
    assert_ne!(first, second);
    assert_ne!(second, m[2]);
    assert_eq!(pick(&mut d, &[m[0], m[1]], now), m[2]);
}

#[test]
fn max_calls_caps_every_algorithm_and_all_full_gives_retry_after() {
    let now = Instant::now();
    for algo in [
        "round_robin",
        "weighted",
        "least_calls",
        "hash",
        "priority",
        "srv",
    ] {
        let mut d = dispatcher(
            &pool(
                2,
                &format!("algorithm = \"{algo}\"\nretry_after_secs = 17"),
                "max_calls = 2",
            ),
            now,
        );
        for _ in 0..4 {
            let id = pick(&mut d, &[], now);
            d.call_started(id);
        }
        for id in ids(&d) {
            assert_eq!(d.member(id).unwrap().active_calls(), 2, "{algo}");
            assert!(d.member(id).unwrap().is_full());
        }
        let set = first_set(&d);
        assert_eq!(
            d.select(set, &HashKeys::default(), &[], now),
            Selection::AllFull {
                retry_after: secs(17)
            },
            "{algo}"
        );
        // One call ends: that member takes the next.
        let m0 = ids(&d)[0];
        d.call_ended(m0);
        assert_eq!(pick(&mut d, &[], now), m0, "{algo}");
    }
}

/// HA with shared limits: the calls other nodes hold on a member count toward its
/// `max_calls` and toward least-calls; a member no peer names has none.
#[test]
fn peer_calls_count_toward_max_calls_and_least_calls() {
    let now = Instant::now();
    let mut d = dispatcher(
        &pool(2, "algorithm = \"least_calls\"", "max_calls = 3"),
        now,
    );
    let m = ids(&d);
    let uri = |d: &dispatch::Dispatcher, id| d.member(id).unwrap().uri().to_owned();
    let mut peers = std::collections::HashMap::new();
    peers.insert(("pool".to_owned(), uri(&d, m[0])), 3);
    peers.insert(("pool".to_owned(), uri(&d, m[1])), 1);
    peers.insert(("other".to_owned(), uri(&d, m[1])), 50);
    assert_eq!(d.set_peer_calls(&peers), 2);
    assert!(d.member(m[0]).unwrap().is_full(), "full with the peers' 3");
    assert_eq!(d.member(m[0]).unwrap().active_calls(), 0, "none here");
    // Only m[1] is eligible; it takes 2 more here, and is then full cluster-wide.
    for _ in 0..2 {
        let id = pick(&mut d, &[], now);
        assert_eq!(id, m[1]);
        d.call_started(id);
    }
    let set = first_set(&d);
    assert!(matches!(
        d.select(set, &HashKeys::default(), &[], now),
        Selection::AllFull { .. }
    ));
    // The peers' calls end (their key expired): least-calls prefers the emptier m[0].
    assert_eq!(d.set_peer_calls(&Default::default()), 0);
    assert_eq!(pick(&mut d, &[], now), m[0]);
}

#[test]
fn max_attempts_then_last_resort_then_exhausted() {
    let now = Instant::now();
    let mut d = dispatcher(
        &pool(
            3,
            "max_attempts = 2\nlast_resort = \"sip:127.0.0.1:5099\"",
            "",
        ),
        now,
    );
    let set = first_set(&d);
    let a = pick(&mut d, &[], now);
    let b = pick(&mut d, &[a], now);
    // Two members tried: the third is not, the last resort is.
    let lr = pick(&mut d, &[a, b], now);
    assert_eq!(port(&d, lr), 5099);
    assert!(d.member(lr).unwrap().is_last_resort());
    assert_eq!(
        d.select(set, &HashKeys::default(), &[a, b, lr], now),
        Selection::Exhausted
    );
    // Last resorts are not probed and not in the set's regular rotation.
    assert!(!d.is_probed(lr));
    for _ in 0..6 {
        assert_ne!(pick(&mut d, &[], now), lr);
    }
}

#[test]
fn last_resort_when_no_member_is_available() {
    let now = Instant::now();
    let mut d = dispatcher(&pool(2, "last_resort = \"sip:127.0.0.1:5099\"", ""), now);
    for id in ids(&d).into_iter().take(2) {
        d.set_admin_state(id, AdminState::Disabled, now).unwrap();
    }
    let lr = pick(&mut d, &[], now);
    assert_eq!(port(&d, lr), 5099);
    let set = first_set(&d);
    assert_eq!(
        d.select(set, &HashKeys::default(), &[lr], now),
        Selection::NoneAvailable {
            retry_after: secs(5)
        }
    );
}

#[test]
fn unknown_set_is_none_available_with_no_retry_after() {
    let now = Instant::now();
    let mut d = dispatcher(&pool(1, "", ""), now);
    let gone = first_set(&d);
    d.reconfigure(&[], &[], now);
    assert_eq!(
        d.select(gone, &HashKeys::default(), &[], now),
        Selection::NoneAvailable {
            retry_after: secs(0)
        }
    );
}

#[test]
fn selected_counter_counts_picks() {
    let now = Instant::now();
    let mut d = dispatcher(&pool(2, "", ""), now);
    for _ in 0..5 {
        pick(&mut d, &[], now);
    }
    let total: u64 = d.snapshot().map(|v| v.member.counters().selected).sum();
    assert_eq!(total, 5);
    assert!(d.snapshot().all(|v| v.set_name == "pool"));
}
