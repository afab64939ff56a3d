//! The key schema's record: what is written reads back the same, and what Redis hands back is
//! hostile input: every malformed or out-of-bounds record is refused, none panics.
#![allow(clippy::unwrap_used)]

use ha::record::{DecodeError, MAX_RECORD, MAX_STREAMS};
use ha::{CallRecord, Dialog, Leg, Member, Stamp, Stream};
use proptest::prelude::*;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

fn leg(port: u16, remote: Option<SocketAddr>) -> Leg {
    Leg {
        tag: Some("1928301774".into()),
        interface: "external".into(),
        port,
        advertised: IpAddr::V4(Ipv4Addr::new(203, 0, 113, 10)),
        remote,
        rtcp_port: remote.map_or(0, |r| r.port() + 1),
        hold: false,
        clock_rate: 8000,
        mux: false,
    }
}

fn sample() -> CallRecord {
    let caller: SocketAddr = "198.51.100.7:40000".parse().unwrap();
    CallRecord {
        v: 1,
        stamp: Stamp {
            epoch: 4,
            node: "fv-a".into(),
            seq: 3,
        },
        call_id: "a84b4c76e66710@pc33.example".into(),
        updated_ms: 1_796_000_000_000,
        expires_ms: 1_796_000_060_000,
        dialog: Dialog {
            tags: ["1928301774".into(), "as-83a1".into()],
            targets: [
                "sip:alice@198.51.100.7:5060".into(),
                "sip:fs1@10.0.0.11:5080;transport=udp".into(),
            ],
            hops: [
                ("198.51.100.7:5060".parse().unwrap(), "udp".into()),
                ("10.0.0.11:5080".parse().unwrap(), "tcp".into()),
            ],
            cseq: [2, 1],
            parties: [
                "\"Alice Ö\" <sip:alice@example.com>;tag=1928301774".into(),
                "<sip:pool@example.net>;tag=as-83a1".into(),
            ],
        },
        member: Member {
            set: "pool".into(),
            uri: "sip:10.0.0.11:5080".into(),
        },
        media: vec![Stream {
            index: 0,
            worker: 0,
            legs: [leg(30000, Some(caller)), leg(30002, None)],
        }],
    }
}

#[test]
fn a_record_reads_back_as_written() {
    let r = sample();
    assert_eq!(CallRecord::decode(r.encode().as_bytes()), Ok(r));
}

fn refused(mut change: impl FnMut(&mut CallRecord)) -> DecodeError {
    let mut r = sample();
    change(&mut r);
    CallRecord::decode(r.encode().as_bytes()).unwrap_err()
}

#[test]
fn out_of_bounds_fields_are_refused() {
    let e = refused(|r| r.call_id = "x\r\nVia: evil".into());
    assert!(
        matches!(
            e,
            DecodeError::Field {
                field: "call_id",
                ..
            }
        ),
        "{e}"
    );
    let e = refused(|r| r.call_id = "c".repeat(300));
    assert!(
        matches!(
            e,
            DecodeError::Field {
                field: "call_id",
                ..
            }
        ),
        "{e}"
    );
    // A party header that would end the header and add one of its own (a BYE carries it).
    let e = refused(|r| r.dialog.parties[1] = "<sip:x@y>;tag=1\r\nRoute: <sip:evil>".into());
    assert!(
        matches!(
            e,
            DecodeError::Field {
                field: "dialog.parties",
                ..
            }
        ),
        "{e}"
    );
    let e = refused(|r| r.media[0].legs[1].port = 0);
    assert!(
        matches!(
            e,
            DecodeError::Field {
                field: "media.legs.port",
                ..
            }
        ),
        "{e}"
    );
    let e = refused(|r| r.media = vec![r.media[0].clone(); MAX_STREAMS + 1]);
    assert!(
        matches!(e, DecodeError::Field { field: "media", .. }),
        "{e}"
    );
    let e = refused(|r| r.expires_ms = r.updated_ms - 1);
    assert!(
        matches!(
            e,
            DecodeError::Field {
                field: "expires_ms",
                ..
            }
        ),
        "{e}"
    );
    let e = refused(|r| r.member.set = String::new());
    assert!(
        matches!(
            e,
            DecodeError::Field {
                field: "member.set",
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn another_version_an_unknown_field_or_a_huge_record_is_refused() {
    let two = sample().encode().replacen("\"v\":1", "\"v\":2", 1);
    assert_eq!(
        CallRecord::decode(two.as_bytes()),
        Err(DecodeError::Version(2))
    );
    let extra = sample().encode().replacen("{", "{\"owner\":\"me\",", 1);
    assert!(matches!(
        CallRecord::decode(extra.as_bytes()),
        Err(DecodeError::Shape(_))
    ));
    let huge = format!("{{\"v\":1,\"pad\":\"{}\"}}", "x".repeat(MAX_RECORD));
    assert_eq!(
        CallRecord::decode(huge.as_bytes()),
        Err(DecodeError::TooLarge(huge.len()))
    );
    let port = sample().encode().replacen("30002", "70000", 1);
    assert!(matches!(
        CallRecord::decode(port.as_bytes()),
        Err(DecodeError::Shape(_))
    ));
    let sctp = sample().encode().replacen("\"tcp\"", "\"sctp\"", 1);
    assert!(matches!(
        CallRecord::decode(sctp.as_bytes()),
        Err(DecodeError::Field {
            field: "dialog.hops",
            ..
        })
    ));
}

fn arb_addr() -> impl Strategy<Value = SocketAddr> {
    prop_oneof![
        (any::<[u8; 4]>(), 1u16..).prop_map(|(a, p)| SocketAddr::from((Ipv4Addr::from(a), p))),
        (any::<[u8; 16]>(), 1u16..).prop_map(|(a, p)| SocketAddr::from((Ipv6Addr::from(a), p))),
    ]
}

fn arb_leg() -> impl Strategy<Value = Leg> {
    (
        (proptest::option::of("[!-~]{1,32}"), "[a-z][a-z0-9_-]{0,15}"),
        (1u16.., arb_addr(), proptest::option::of(arb_addr())),
        (any::<u16>(), any::<bool>(), any::<u32>(), any::<bool>()),
    )
        .prop_map(
            |((tag, interface), (port, adv, remote), (rtcp_port, hold, clock_rate, mux))| Leg {
                tag,
                interface,
                port,
                advertised: adv.ip(),
                remote,
                rtcp_port,
                hold,
                clock_rate,
                mux,
            },
        )
}

fn arb_record() -> impl Strategy<Value = CallRecord> {
    let token = "[!-~]{1,64}";
    let uri = "sip:[!-~]{1,100}";
    let transport = prop_oneof![Just("udp"), Just("tcp"), Just("tls")].prop_map(String::from);
    (
        (any::<u64>(), token, any::<u64>(), token),
        (0u64..1 << 50, 0u64..1 << 40),
        (
            [token, "[!-~]{0,32}"],
            [uri, uri],
            ["[ -~]{1,80}", "[^\\p{Cc}]{1,80}"],
        ),
        (
            any::<[u32; 2]>(),
            token,
            uri,
            [(arb_addr(), transport.clone()), (arb_addr(), transport)],
        ),
        proptest::collection::vec((any::<[u16; 2]>(), arb_leg(), arb_leg()), 0..4),
    )
        .prop_map(
            |((epoch, node, seq, call_id), (t, ttl), d, m, media)| CallRecord {
                v: 1,
                stamp: Stamp { epoch, node, seq },
                call_id,
                updated_ms: t,
                expires_ms: t + ttl,
                dialog: Dialog {
                    tags: d.0,
                    targets: d.1,
                    hops: m.3,
                    cseq: m.0,
                    parties: d.2,
                },
                member: Member { set: m.1, uri: m.2 },
                media: media
                    .into_iter()
                    .map(|([index, worker], a, b)| Stream {
                        index,
                        worker,
                        legs: [a, b],
                    })
                    .collect(),
            },
        )
}

proptest! {
    #[test]
    fn every_valid_record_round_trips(r in arb_record()) {
        prop_assert_eq!(CallRecord::decode(r.encode().as_bytes()), Ok(r));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = CallRecord::decode(&bytes);
    }

    #[test]
    fn a_mutated_record_is_either_refused_or_valid(r in arb_record(), at in any::<usize>(), b in any::<u8>()) {
        let mut bytes = r.encode().into_bytes();
        let i = at % bytes.len();
        bytes[i] = b;
        if let Ok(back) = CallRecord::decode(&bytes) {
            prop_assert_eq!(back.check(), Ok(()));
        }
    }
}
