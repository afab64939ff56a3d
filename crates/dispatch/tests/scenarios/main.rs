//! Scenario tests of the dispatcher, over sets written in the config's TOML; shared helpers
//! live here.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod admin;
mod algorithms;
mod dynamic;
mod health;
mod props;
mod reload;
mod routing;

use std::time::{Duration, Instant};

use dispatch::{
    DispatchEvent, Dispatcher, HashKeys, MemberId, ProbeOutcome, RouteConfig, Selection, SetConfig,
    SetId,
};

/// A relay interface, which every config needs.
const IFACE: &str = r#"
[[interface]]
name = "pub"
address = "127.0.0.1"
port_min = 30000
port_max = 30999
"#;

/// The sets and routes of a config text (plus an interface).
pub(crate) fn sets(text: &str) -> (Vec<SetConfig>, Vec<RouteConfig>) {
    match config::parse(&format!("{IFACE}\n{text}")) {
        Ok(cfg) => (cfg.sets, cfg.routes),
        Err(e) => panic!("bad test config: {e}\n{text}"),
    }
}

/// A dispatcher over `text` at `now`.
pub(crate) fn dispatcher(text: &str, now: Instant) -> Dispatcher {
    let (s, r) = sets(text);
    Dispatcher::new(&s, &r, now)
}

/// A set of `n` members on 127.0.0.1:5081.. with extra set keys and member keys.
pub(crate) fn pool(n: u16, set_keys: &str, member_keys: &str) -> String {
    let mut out = format!("[[set]]\nname = \"pool\"\n{set_keys}\n");
    for i in 0..n {
        out.push_str(&format!(
            "[[set.member]]\nuri = \"sip:127.0.0.1:{}\"\n{member_keys}\n",
            5081 + i
        ));
    }
    out
}

/// The first set.
pub(crate) fn first_set(d: &Dispatcher) -> SetId {
    d.set_ids().next().unwrap()
}

/// The member picked, which must exist.
#[track_caller]
pub(crate) fn pick(d: &mut Dispatcher, tried: &[MemberId], now: Instant) -> MemberId {
    let set = first_set(d);
    match d.select(set, &HashKeys::default(), tried, now) {
        Selection::Member(id) => id,
        other => panic!("expected a member, got {other:?}"),
    }
}

/// The port of member `id`'s target.
pub(crate) fn port(d: &Dispatcher, id: MemberId) -> u16 {
    d.member(id).unwrap().target().port()
}

/// The members of the first set in order.
pub(crate) fn ids(d: &Dispatcher) -> Vec<MemberId> {
    d.members_of(first_set(d))
}

/// Every pending event.
pub(crate) fn events(d: &mut Dispatcher) -> Vec<DispatchEvent> {
    std::iter::from_fn(|| d.poll_event()).collect()
}

/// Probes `id` at `now` regardless of its schedule and feeds back `outcome`.
#[track_caller]
pub(crate) fn probe(d: &mut Dispatcher, id: MemberId, outcome: ProbeOutcome, now: Instant) {
    let req = d.probe_now(id, now).expect("member exists");
    assert!(d.probe_result(req.probe, outcome, now));
}

/// A 200 reply.
pub(crate) fn ok() -> ProbeOutcome {
    ProbeOutcome::Reply {
        code: 200,
        retry_after: None,
    }
}

/// Seconds as a duration.
pub(crate) fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}
