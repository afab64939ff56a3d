//! The session table against a model: random installs, updates, queries and removes through
//! the worker's command path, checked against a map of what should be installed.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use dataplane::{FlowCommand, FlowEvent, LatchMode};
use pktio::PortKey;
use proptest::prelude::*;
use std::collections::HashMap;
use wire::Endpoint;

#[derive(Debug, Clone)]
enum Op {
    Install(u16, u16),
    Remove(u16),
    Query(u16),
    Update(u16, u16),
}

fn op() -> impl Strategy<Value = Op> {
    // Pair numbers 0..50 of the rig's range 30000..30099.
    prop_oneof![
        (0u16..50, 0u16..50).prop_map(|(a, b)| Op::Install(a, b)),
        (0u16..50).prop_map(Op::Remove),
        (0u16..50).prop_map(Op::Query),
        (0u16..50, 1000u16..2000).prop_map(|(a, p)| Op::Update(a, p)),
    ]
}

fn key(pair: u16) -> PortKey {
    PortKey {
        addr: 0,
        port: 30000 + 2 * pair,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    #[test]
    fn table_matches_model(ops in proptest::collection::vec(op(), 1..60)) {
        let mut r = Rig::new();
        // model: pair -> (sibling pair, expected endpoint)
        let mut model: HashMap<u16, (u16, Endpoint)> = HashMap::new();
        for (n, op) in ops.iter().enumerate() {
            let token = n as u64;
            match *op {
                Op::Install(a, b) => {
                    if a == b || model.contains_key(&a) || model.contains_key(&b) {
                        continue; // the control plane never installs over a live pair
                    }
                    let (ea, eb) = (Endpoint::new_v4([192, 0, 2, 1], 1000 + a), Endpoint::new_v4([192, 0, 2, 2], 1000 + b));
                    r.install(spec(key(a), ea, LatchMode::Heuristic), spec(key(b), eb, LatchMode::Heuristic));
                    model.insert(a, (b, ea));
                    model.insert(b, (a, eb));
                }
                Op::Remove(a) => {
                    r.w.command(FlowCommand::Remove { token, key: key(a) }, 0);
                    let ev = r.events();
                    match model.remove(&a) {
                        Some((b, _)) => {
                            model.remove(&b);
                            prop_assert!(matches!(&ev[..], [FlowEvent::Removed { pair: Some(_), .. }]), "{ev:?}");
                        }
                        None => prop_assert_eq!(ev, vec![FlowEvent::Removed { token, pair: None }]),
                    }
                }
                Op::Query(a) => {
                    r.w.command(FlowCommand::Query { token, key: key(a) }, 0);
                    let ev = r.events();
                    match (model.get(&a), &ev[..]) {
                        (Some((b, ea)), [FlowEvent::Stats { pair: Some([s, t]), .. }]) => {
                            prop_assert_eq!(s.key, Some(key(a)));
                            prop_assert_eq!(t.key, Some(key(*b)));
                            prop_assert_eq!(s.rtp_peer, *ea);
                        }
                        (None, [FlowEvent::Stats { pair: None, .. }]) => {}
                        other => prop_assert!(false, "query {a}: {other:?}"),
                    }
                }
                Op::Update(a, port) => {
                    let ep = Endpoint::new_v4([192, 0, 2, 9], port);
                    r.w.command(FlowCommand::Update(spec(key(a), ep, LatchMode::Heuristic)), 0);
                    if let Some(entry) = model.get_mut(&a) {
                        entry.1 = ep;
                    }
                }
            }
            prop_assert_eq!(r.w.table().installed(), model.len());
        }
    }
}
