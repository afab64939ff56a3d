//! Builder round trips and property tests.

use std::net::IpAddr;

use proptest::prelude::*;

use super::*;

#[test]
fn builder_output_parses_back() {
    let b = RequestBuilder::new(Command::Offer)
        .call_id("cid@example.org")
        .from_tag("ft")
        .to_tag("tt")
        .via_branch("z9hG4bK1")
        .sdp(SDP)
        .flag(Flag::TrustAddress)
        .flag(Flag::StrictSource)
        .raw_flag("ICE=force-relay")
        .replace(Replace {
            origin: true,
            sdp_version: true,
            ..Replace::default()
        })
        .direction("priv", "pub")
        .ice(IceMode::Remove)
        .rtcp_mux(RtcpMux {
            demux: true,
            ..RtcpMux::default()
        })
        .received_from(ip("2001:db8::7"))
        .media_address(ip("192.0.2.8"))
        .address_family(AddressFamily::Ip4)
        .transport_protocol("RTP/SAVP")
        .delete_delay(10)
        .label("caller")
        .supports_load_limit()
        .extra("x-trace", "on");
    let datagram = b.to_datagram(b"7_1_1");
    let (cookie, req) = crate::parse_datagram(&datagram).expect("valid");
    assert_eq!(cookie, b"7_1_1");
    assert_eq!(req.call_id, Some(&b"cid@example.org"[..]));
    assert_eq!(req.to_tag, Some(&b"tt"[..]));
    assert_eq!(req.via_branch, Some(&b"z9hG4bK1"[..]));
    assert!(req.has_flag(Flag::TrustAddress) && req.has_flag(Flag::StrictSource));
    assert_eq!(
        req.ice,
        IceMode::ForceRelay,
        "the raw flag token overrides the key"
    );
    assert!(req.replace.origin && req.replace.sdp_version);
    assert_eq!(req.direction, vec![&b"priv"[..], &b"pub"[..]]);
    assert!(req.rtcp_mux.demux);
    assert_eq!(req.received_from, Some(ip("2001:db8::7")));
    assert_eq!(req.media_address, Some(ip("192.0.2.8")));
    assert_eq!(req.address_family, Some(AddressFamily::Ip4));
    assert_eq!(req.transport_protocol, Some(&b"RTP/SAVP"[..]));
    assert_eq!(req.delete_delay, Some(10));
    assert_eq!(req.label, Some(&b"caller"[..]));
    assert!(req.supports_load_limit);
    assert_eq!(req.other_keys, vec![(&b"x-trace"[..], Value::Bytes(b"on"))]);
    assert_eq!(b.build(), build_request(&b));
}

fn arb_name() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(prop_oneof![b'a'..=b'z', b'0'..=b'9', Just(b'.')], 1..12)
}

fn arb_ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(IpAddr::from),
        any::<[u16; 8]>().prop_map(IpAddr::from),
    ]
}

prop_compose! {
    fn arb_builder()(
        cmd in prop_oneof![Just(Command::Offer), Just(Command::Answer)],
        call_id in arb_name(),
        from_tag in arb_name(),
        to_tag in arb_name(),
        flag_bits in proptest::collection::vec(any::<bool>(), Flag::ALL.len()),
        replace in any::<[bool; 8]>(),
        mux in any::<[bool; 5]>(),
        direction in proptest::collection::vec(arb_name(), 0..=2),
        ice in proptest::option::of(prop_oneof![
            Just(IceMode::Default), Just(IceMode::Remove), Just(IceMode::Force),
            Just(IceMode::ForceRelay), Just(IceMode::Optional)
        ]),
        received_from in proptest::option::of(arb_ip()),
        media_address in proptest::option::of(arb_ip()),
        delete_delay in proptest::option::of(any::<u32>()),
        label in proptest::option::of(arb_name()),
    ) -> RequestBuilder {
        let mut b = RequestBuilder::new(cmd)
            .call_id(call_id)
            .from_tag(from_tag)
            .to_tag(to_tag)
            .sdp(SDP);
        b.flags = Flag::ALL
            .iter()
            .zip(flag_bits)
            .filter_map(|(f, on)| on.then_some(*f))
            .collect();
        let [origin, origin_full, session_connection, session_name, sdp_version, username,
             zero_address, force_increment_sdp_version] = replace;
        b.replace = Replace {
            origin, origin_full, session_connection, session_name, sdp_version, username,
            zero_address, force_increment_sdp_version,
        };
        let [offer, require, demux, accept, reject] = mux;
        b.rtcp_mux = RtcpMux { offer, require, demux, accept, reject };
        b.direction = direction;
        b.ice = ice;
        b.received_from = received_from;
        b.media_address = media_address;
        b.delete_delay = delete_delay;
        b.label = label;
        b
    }
}

proptest! {
    #[test]
    fn build_then_parse_round_trips(b in arb_builder()) {
        let bytes = build_request(&b).to_bytes();
        let v = decode(&bytes).expect("valid");
        let req = parse_request(&v).expect("builder output must parse");
        prop_assert_eq!(req.command, b.command);
        prop_assert_eq!(req.call_id, b.call_id.as_deref());
        prop_assert_eq!(req.from_tag, b.from_tag.as_deref());
        prop_assert_eq!(req.to_tag, b.to_tag.as_deref());
        prop_assert_eq!(req.flags, b.flags);
        prop_assert_eq!(req.replace, b.replace);
        prop_assert_eq!(req.rtcp_mux, b.rtcp_mux);
        let direction: Vec<&[u8]> = b.direction.iter().map(Vec::as_slice).collect();
        prop_assert_eq!(req.direction, direction);
        prop_assert_eq!(req.ice, b.ice.unwrap_or_default());
        prop_assert_eq!(req.received_from, b.received_from);
        prop_assert_eq!(req.media_address, b.media_address);
        prop_assert_eq!(req.delete_delay, b.delete_delay);
        prop_assert_eq!(req.label, b.label.as_deref());
        prop_assert!(req.unknown_flags.is_empty());
        prop_assert!(req.unknown_values.is_empty());
    }

    #[test]
    fn parse_request_never_panics(
        entries in proptest::collection::vec(
            (
                prop_oneof![
                    Just(b"command".to_vec()), Just(b"flags".to_vec()),
                    Just(b"rtpp-flags".to_vec()), Just(b"received-from".to_vec()),
                    Just(b"codec".to_vec()), Just(b"direction".to_vec()),
                    Just(b"delete-delay".to_vec()), Just(b"media-address".to_vec()),
                    Just(b"ICE".to_vec()), Just(b"replace".to_vec()),
                    Just(b"call-id".to_vec()), arb_name(),
                ],
                prop_oneof![
                    any::<i64>().prop_map(OwnedValue::Int),
                    "[ a-zA-Z0-9=\\[\\]./:,-]{0,40}".prop_map(OwnedValue::from),
                    proptest::collection::vec(
                        "[ a-zA-Z0-9=\\[\\]./:,-]{0,12}".prop_map(OwnedValue::from),
                        0..4
                    ).prop_map(OwnedValue::List),
                    Just(DictBuilder::new().with("strip", "PCMA").build()),
                ],
            ),
            0..10,
        ),
        command in prop_oneof![
            Just("offer"), Just("answer"), Just("delete"), Just("ping"), Just("query")
        ],
    ) {
        let mut dict = OwnedValue::Dict(entries);
        let _ = dict.insert("command", command);
        let bytes = dict.to_bytes();
        let v = decode(&bytes).expect("valid");
        // Must return, never panic; errors are fine.
        let _ = parse_request(&v);
    }
}
