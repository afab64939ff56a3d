//! Property test: random probe outcomes against a plain model of the N/M rule.

use std::time::Instant;

use proptest::prelude::*;

use super::{dispatcher, ids, pool, probe};
use dispatch::{Health, MemberState, ProbeOutcome};

/// The rule as stated: DOWN after N consecutive failures, ACTIVE after M consecutive
/// successes while DOWN, SUSPECT in between, a success clears the failure run and vice versa.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Model {
    health: Health,
    fails: u32,
    oks: u32,
}

impl Model {
    fn step(&mut self, success: bool, n: u32, m: u32) {
        if success {
            self.fails = 0;
            self.oks += 1;
            if self.health == Health::Suspect || (self.health == Health::Down && self.oks >= m) {
                self.health = Health::Active;
            }
        } else {
            self.oks = 0;
            self.fails += 1;
            if self.fails >= n {
                self.health = Health::Down;
            } else if self.health == Health::Active {
                self.health = Health::Suspect;
            }
        }
    }
}

fn outcome(kind: u8) -> (ProbeOutcome, bool) {
    match kind % 5 {
        0 => (ProbeOutcome::Timeout, false),
        1 => (ProbeOutcome::TransportError, false),
        2 => (
            ProbeOutcome::Reply {
                code: 500,
                retry_after: None,
            },
            false,
        ),
        3 => (
            ProbeOutcome::Reply {
                code: 204,
                retry_after: None,
            },
            true,
        ),
        _ => (
            ProbeOutcome::Reply {
                code: 200,
                retry_after: None,
            },
            true,
        ),
    }
}

proptest! {
    #[test]
    fn probe_outcomes_follow_the_n_m_model(
        n in 1u32..6,
        m in 1u32..6,
        seq in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let now = Instant::now();
        let mut d = dispatcher(
            &pool(1, &format!("[set.health]\ndown_after = {n}\nup_after = {m}"), ""),
            now,
        );
        let id = ids(&d)[0];
        let mut model = Model { health: Health::Active, fails: 0, oks: 0 };
        let mut transitions = 0u64;
        for kind in seq {
            let (o, success) = outcome(kind);
            let before = model.health;
            model.step(success, n, m);
            if model.health != before {
                transitions += 1;
            }
            probe(&mut d, id, o, now);
            let member = d.member(id).unwrap();
            prop_assert_eq!(member.health(), model.health);
            prop_assert_eq!(member.consecutive_failures(), model.fails);
        }
        let member = d.member(id).unwrap();
        let counted: u64 = MemberState::ALL.iter().map(|s| member.counters().transitions(*s)).sum();
        prop_assert_eq!(counted, transitions);
        let mut events = 0u64;
        while let Some(e) = d.poll_event() {
            if matches!(e, dispatch::DispatchEvent::StateChanged { .. }) {
                events += 1;
            }
        }
        prop_assert_eq!(events, transitions);
    }
}
