//! A reload adds relay addresses: `FlowCommand::Layout` gives a running worker a larger
//! layout, pairs on the new address install from then on, and the pairs already installed
//! keep relaying from their slots.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use dataplane::{AddrRange, FlowCommand, FlowEvent, LatchMode, PortLayout};
use pktio::PortKey;
use std::sync::Arc;
use wire::Endpoint;

const FIRST: AddrRange = AddrRange {
    port_min: 30000,
    port_max: 30099,
};
const ADDED: AddrRange = AddrRange {
    port_min: 40000,
    port_max: 40019,
};

fn on_added(port: u16) -> PortKey {
    PortKey { addr: 1, port }
}

fn install_on_added(r: &mut Rig) {
    let peer = Endpoint::new_v4([192, 0, 2, 77], 9000);
    r.install(
        spec(on_added(40000), peer, LatchMode::Heuristic),
        spec(on_added(40002), peer, LatchMode::Heuristic),
    );
}

#[test]
fn a_grown_layout_takes_installs_on_the_new_address_and_keeps_the_old_pairs() {
    let mut r = Rig::standard(LatchMode::Heuristic);
    let slots = r.w.table().slots();
    install_on_added(&mut r);
    assert!(
        matches!(r.events()[..], [FlowEvent::InstallFailed { .. }]),
        "the running layout has no address 1"
    );
    let grown = PortLayout::new(vec![FIRST, ADDED], 1).unwrap();
    r.w.command(FlowCommand::Layout(Arc::new(grown)), r.now_ms as u32);
    assert_eq!(r.w.table().slots(), slots + 10);
    install_on_added(&mut r);
    assert!(r.events().is_empty(), "installed on the added address");
    assert_eq!(r.w.table().installed(), 4);
    // The pair installed before the new layout still relays A to B.
    let out = r.send(A_SDP, PA.port, &rtp(1, 0, 0xa));
    assert_eq!(out, vec![(relay_ep(PB.port), B_SDP, rtp(1, 0, 0xa))]);
}

#[test]
fn a_layout_that_moves_running_addresses_is_ignored() {
    let mut r = Rig::standard(LatchMode::Heuristic);
    let slots = r.w.table().slots();
    let moved = AddrRange {
        port_min: 30100,
        port_max: 30199,
    };
    let other = PortLayout::new(vec![moved, ADDED], 1).unwrap();
    r.w.command(FlowCommand::Layout(Arc::new(other)), r.now_ms as u32);
    let two_workers = PortLayout::new(vec![FIRST, ADDED], 2).unwrap();
    r.w.command(FlowCommand::Layout(Arc::new(two_workers)), r.now_ms as u32);
    assert_eq!(r.w.table().slots(), slots);
    install_on_added(&mut r);
    assert!(matches!(r.events()[..], [FlowEvent::InstallFailed { .. }]));
    let out = r.send(A_SDP, PA.port, &rtp(1, 0, 0xa));
    assert_eq!(out.len(), 1);
}
