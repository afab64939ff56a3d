//! Property tests of the codec: random messages survive encode/parse, and no input, however
//! malformed, makes the parser, the encoder or the zone responder panic.

use std::net::{Ipv4Addr, Ipv6Addr};

use dns::wire::{Header, Naptr, Question, Rcode, Soa, Srv};
use dns::zone::Zone;
use dns::{encode_message, parse_message, Message, Name, RData, Record, RecordType};
use proptest::prelude::*;

fn name() -> impl Strategy<Value = Name> {
    prop::collection::vec(prop::collection::vec(any::<u8>(), 1..12), 0..5).prop_map(|labels| {
        Name::from_labels(labels.iter().map(Vec::as_slice)).expect("short labels")
    })
}

fn char_string() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..20)
}

fn rdata() -> impl Strategy<Value = RData> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(|b| RData::A(Ipv4Addr::from(b))),
        any::<[u8; 16]>().prop_map(|b| RData::Aaaa(Ipv6Addr::from(b))),
        name().prop_map(RData::Cname),
        (name(), name(), any::<[u32; 5]>()).prop_map(|(mname, rname, v)| RData::Soa(Soa {
            mname,
            rname,
            serial: v[0],
            refresh: v[1],
            retry: v[2],
            expire: v[3],
            minimum: v[4],
        })),
        (any::<[u16; 3]>(), name()).prop_map(|(v, target)| RData::Srv(Srv {
            priority: v[0],
            weight: v[1],
            port: v[2],
            target,
        })),
        (
            any::<[u16; 2]>(),
            char_string(),
            char_string(),
            char_string(),
            name()
        )
            .prop_map(
                |(v, flags, services, regexp, replacement)| RData::Naptr(Naptr {
                    order: v[0],
                    preference: v[1],
                    flags,
                    services,
                    regexp,
                    replacement,
                })
            ),
        (
            prop::sample::select(vec![2u16, 15, 16, 41, 99, 65280]),
            prop::collection::vec(any::<u8>(), 0..40)
        )
            .prop_map(|(t, data)| RData::Other {
                rtype: RecordType(t),
                data
            }),
    ]
}

fn record() -> impl Strategy<Value = Record> {
    (name(), any::<u16>(), any::<u32>(), rdata()).prop_map(|(name, class, ttl, data)| Record {
        name,
        class,
        ttl,
        data,
    })
}

fn header() -> impl Strategy<Value = Header> {
    (any::<u16>(), any::<[bool; 6]>(), 0u8..16, 0u8..8, 0u8..16).prop_map(
        |(id, f, opcode, z, rcode)| Header {
            id,
            response: f[0],
            opcode,
            authoritative: f[1],
            truncated: f[2],
            recursion_desired: f[3],
            recursion_available: f[4] && f[5],
            z,
            rcode: Rcode(rcode),
        },
    )
}

fn message() -> impl Strategy<Value = Message> {
    let question = (name(), any::<u16>(), any::<u16>()).prop_map(|(name, t, c)| Question {
        name,
        qtype: RecordType(t),
        qclass: c,
    });
    (
        header(),
        prop::collection::vec(question, 0..3),
        prop::collection::vec(record(), 0..6),
        prop::collection::vec(record(), 0..3),
        prop::collection::vec(record(), 0..6),
    )
        .prop_map(
            |(header, questions, answers, authority, additionals)| Message {
                header,
                questions,
                answers,
                authority,
                additionals,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn encode_parse_round_trip(msg in message()) {
        let bytes = encode_message(&msg).expect("generated messages are within limits");
        let parsed = parse_message(&bytes).expect("an encoded message parses");
        prop_assert_eq!(&parsed, &msg);
        // Names keep their exact octets (case included), so re-encoding is byte-identical.
        prop_assert_eq!(encode_message(&parsed).expect("re-encode"), bytes);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        if let Ok(msg) = parse_message(&bytes) {
            let again = encode_message(&msg).expect("a parsed message re-encodes");
            prop_assert_eq!(parse_message(&again).expect("and re-parses"), msg);
        }
        let _ = Zone::new().answer(&bytes);
    }

    #[test]
    fn damaged_messages_never_panic(msg in message(), flips in prop::collection::vec((any::<usize>(), any::<u8>()), 1..8)) {
        let mut bytes = encode_message(&msg).expect("encode");
        for (at, val) in flips {
            let i = at % bytes.len();
            bytes[i] = val;
        }
        if let Ok(parsed) = parse_message(&bytes) {
            let again = encode_message(&parsed).expect("re-encode");
            prop_assert_eq!(parse_message(&again).expect("re-parse"), parsed);
        }
        let cut = bytes.len() / 2;
        let _ = parse_message(&bytes[..cut]);
    }
}
