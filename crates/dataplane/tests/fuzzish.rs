//! Arbitrary datagrams on installed and uninstalled ports never panic and are always either
//! forwarded or dropped with a reason.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use dataplane::LatchMode;
use proptest::prelude::*;
use wire::Endpoint;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn any_payload_is_forwarded_or_counted(
        packets in proptest::collection::vec((proptest::collection::vec(any::<u8>(), 0..300), 29998u16..30012, any::<bool>()), 1..20)
    ) {
        let mut r = Rig::standard(LatchMode::Heuristic);
        for (payload, port, from_a) in &packets {
            let src = if *from_a { A_SDP } else { Endpoint::new_v4([1, 2, 3, 4], 9) };
            r.send(src, *port, payload);
            r.advance(7);
        }
        let c = r.w.counters();
        prop_assert_eq!(c.rx, packets.len() as u64);
        prop_assert_eq!(c.forwarded + c.drops.iter().sum::<u64>(), c.rx);
    }
}
