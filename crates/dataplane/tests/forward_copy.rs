//! The copy of the other leg's destination each record carries (`Stream::fwd`, what makes
//! relaying RTP touch one record line) against the other leg's own record: after random
//! packets, SDP updates and clock steps, every record's copy equals the other leg's
//! destination, and every RTP packet relayed went to it.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use dataplane::record::{flag, Stream};
use dataplane::{FlowCommand, LatchMode};
use proptest::prelude::*;
use wire::Endpoint;

#[derive(Debug, Clone)]
enum Op {
    /// Leg (false: A), source choice, RTCP port, RTCP payload.
    Send(bool, u8, bool, bool),
    /// Leg, SDP address choice, mux, strict, handover, latching mode.
    Update(bool, u8, bool, bool, bool, u8),
    Advance(u16),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (any::<bool>(), 0u8..4, any::<bool>(), any::<bool>())
            .prop_map(|(l, s, p, c)| Op::Send(l, s, p, c)),
        1 => (any::<bool>(), 0u8..3, any::<bool>(), any::<bool>(), any::<bool>(), 0u8..3)
            .prop_map(|(l, e, m, s, h, mode)| Op::Update(l, e, m, s, h, mode)),
        1 => (0u16..5000).prop_map(Op::Advance),
    ]
}

/// The SDP address of a leg, its IP with another port, a foreign source, or a second foreign
/// source.
fn source(leg: bool, choice: u8) -> Endpoint {
    let sdp = if leg { B_SDP } else { A_SDP };
    match choice {
        0 => sdp,
        1 => Endpoint {
            port: sdp.port + 40,
            ..sdp
        },
        2 => FOREIGN,
        _ => Endpoint::new_v4([203, 0, 113, 99], 9000),
    }
}

fn records(r: &Rig) -> (Stream, Stream) {
    // One worker, range 30000..: PA is slot 0, PB slot 1.
    let t = r.w.table();
    (*t.get(0).unwrap(), *t.get(1).unwrap())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn fwd_is_the_other_legs_destination(ops in proptest::collection::vec(op(), 1..40)) {
        let mut r = Rig::standard(LatchMode::Heuristic);
        for op in ops {
            match op {
                Op::Send(leg, choice, rtcp_port, rtcp_payload) => {
                    let base = if leg { PB.port } else { PA.port };
                    let port = base + u16::from(rtcp_port);
                    let payload = if rtcp_payload { rtcp_rr(7) } else { rtp(1, 160, 7) };
                    let sent = r.send(source(leg, choice), port, &payload);
                    let (a, b) = records(&r);
                    let to = if leg { a } else { b };
                    if !rtcp_payload && !rtcp_port {
                        for (_, dst, _) in &sent {
                            prop_assert_eq!(*dst, to.rtp_dst());
                        }
                    }
                }
                Op::Update(leg, e, mux, strict, handover, mode) => {
                    let key = if leg { PB } else { PA };
                    let expect = match e {
                        0 => Endpoint::UNSET,
                        1 => if leg { B_SDP } else { A_SDP },
                        _ => Endpoint::new_v4([192, 0, 2, 77], 4444),
                    };
                    let latch = [LatchMode::Off, LatchMode::Immediate, LatchMode::Heuristic][usize::from(mode)];
                    let mut s = spec(key, expect, latch);
                    (s.mux, s.strict, s.handover) = (mux, strict, handover);
                    let now = r.now_ms as u32;
                    r.w.command(FlowCommand::Update(s), now);
                }
                Op::Advance(ms) => r.advance(u64::from(ms)),
            }
            let (a, b) = records(&r);
            prop_assert_eq!(a.fwd, b.rtp_dst());
            prop_assert_eq!(b.fwd, a.rtp_dst());
            prop_assert_eq!(a.has(flag::SIBLING_MUX), b.has(flag::MUX));
            prop_assert_eq!(b.has(flag::SIBLING_MUX), a.has(flag::MUX));
        }
    }
}
