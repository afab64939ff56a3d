//! HA: a call another node set up, held by a standby on the same relay ports: its media is
//! relayed as soon as it arrives, no timeout ends it while the engine is a standby, the ports
//! it holds are not handed to another call, and dropping it frees them.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use media::call::Remote;
use media::{AdoptError, AdoptedCall, AdoptedLeg, AdoptedStream};
use std::net::IpAddr;
use std::time::Duration;
use wire::Endpoint;

const CALLER: Endpoint = Endpoint::new_v4([192, 0, 2, 10], 5000);
const MEMBER: Endpoint = Endpoint::new_v4([198, 51, 100, 20], 6000);

fn leg(interface: &str, ip: [u8; 4], port: u16, remote: Endpoint) -> AdoptedLeg {
    AdoptedLeg {
        interface: interface.into(),
        port,
        advertised: IpAddr::from(ip),
        remote: Remote {
            rtp: remote,
            rtcp_port: remote.port + 1,
            hold: false,
            clock_rate: 8000,
        },
        mux: false,
    }
}

fn record(ext_port: u16) -> AdoptedCall {
    AdoptedCall {
        call_id: b"held@test".to_vec(),
        tags: [Some(b"caller".to_vec()), Some(b"member".to_vec())],
        streams: vec![AdoptedStream {
            index: 0,
            worker: 0,
            legs: [
                leg("external", EXT, ext_port, CALLER),
                leg("internal", INT, 40002, MEMBER),
            ],
        }],
    }
}

#[test]
fn an_adopted_call_relays_on_its_ports_and_outlives_the_standby() {
    let mut sim = Sim::new(config(Duration::ZERO));
    sim.engine.set_standby(sim.at(), true);
    let free = sim.engine.free_pairs(0);
    sim.engine.adopt(sim.at(), &record(30004)).unwrap();
    sim.pump();
    assert_eq!(sim.engine.free_pairs(0), free - 1, "port 30004 taken");
    // The same record again (a replayed change) changes nothing.
    sim.engine.adopt(sim.at(), &record(30004)).unwrap();
    sim.pump();
    assert_eq!(
        (sim.engine.calls(), sim.engine.free_pairs(0)),
        (1, free - 1)
    );

    // Media through the relay ports the active told the parties.
    let ext = Endpoint::new_v4(EXT, 30004);
    let int = Endpoint::new_v4(INT, 40002);
    assert_eq!(sim.media(CALLER, ext, &rtp(1)), vec![(int, MEMBER)]);
    assert_eq!(sim.media(MEMBER, int, &rtp(1)), vec![(ext, CALLER)]);

    // No timeout ends it while a standby, however long nothing arrives.
    sim.advance(Duration::from_secs(600));
    assert_eq!(sim.engine.calls(), 1, "held through the standby's silence");

    // A port held by another call is refused, naming it.
    let mut other = record(30004);
    other.call_id = b"other@test".to_vec();
    let e = sim.engine.adopt(sim.at(), &other).unwrap_err();
    assert_eq!(e, AdoptError::InUse(30004));
    // A relay address this node does not have is refused.
    let mut foreign = record(30006);
    foreign.call_id = b"foreign@test".to_vec();
    foreign.streams[0].legs[0].advertised = IpAddr::from([203, 0, 113, 1]);
    assert!(matches!(
        sim.engine.adopt(sim.at(), &foreign),
        Err(AdoptError::NoAddress(..))
    ));

    // Promoted: a grace for the media to come back, then a call whose media never did ends
    // by the media timeout (the workers found it idle long ago).
    sim.engine.set_standby(sim.at(), false);
    sim.advance(Duration::from_secs(5));
    assert_eq!(sim.engine.calls(), 1, "not at once after the takeover");
    sim.advance(Duration::from_secs(30));
    assert_eq!(sim.engine.calls(), 0, "a silent call ends after the grace");
}

#[test]
fn an_unadopted_call_frees_its_ports_and_moved_streams_take_new_ones() {
    let mut sim = Sim::new(config(Duration::ZERO));
    sim.engine.set_standby(sim.at(), true);
    let free = sim.engine.free_pairs(0);
    sim.engine.adopt(sim.at(), &record(30004)).unwrap();
    sim.pump();
    // The active moved the stream to other ports: the old ones go back.
    let mut moved = record(30008);
    moved.streams[0].legs[1].port = 40006;
    sim.engine.adopt(sim.at(), &moved).unwrap();
    sim.pump();
    assert_eq!(sim.engine.free_pairs(0), free - 1);
    let ext = Endpoint::new_v4(EXT, 30008);
    let int = Endpoint::new_v4(INT, 40006);
    assert_eq!(sim.media(CALLER, ext, &rtp(1)), vec![(int, MEMBER)]);
    assert!(sim
        .media(CALLER, Endpoint::new_v4(EXT, 30004), &rtp(2))
        .is_empty());
    assert!(sim.engine.unadopt(b"held@test"));
    sim.pump();
    assert_eq!((sim.engine.calls(), sim.engine.free_pairs(0)), (0, free));
    assert!(
        sim.media(CALLER, ext, &rtp(3)).is_empty(),
        "nothing relayed"
    );
    assert!(!sim.engine.unadopt(b"held@test"), "once");
}
