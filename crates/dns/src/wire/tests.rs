//! Codec tests: exact bytes, compression, every malformed-input rule.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::*;

fn name(s: &str) -> Name {
    Name::parse(s).expect("valid test name")
}

/// A 12-octet header with the given flags and counts.
fn header(id: u16, flags: u16, counts: [u16; 4]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&id.to_be_bytes());
    v.extend_from_slice(&flags.to_be_bytes());
    for c in counts {
        v.extend_from_slice(&c.to_be_bytes());
    }
    v
}

fn sample_response() -> Message {
    let naptr = Naptr {
        order: 10,
        preference: 20,
        flags: b"S".to_vec(),
        services: b"SIP+D2U".to_vec(),
        regexp: Vec::new(),
        replacement: name("_sip._udp.example.com"),
    };
    let soa = Soa {
        mname: name("ns.example.com"),
        rname: name("hostmaster.example.com"),
        serial: 7,
        refresh: 1,
        retry: 2,
        expire: 3,
        minimum: 4,
    };
    Message {
        header: Header {
            id: 0xbeef,
            response: true,
            authoritative: true,
            recursion_desired: true,
            rcode: Rcode::NOERROR,
            ..Header::default()
        },
        questions: vec![Question {
            name: name("example.com"),
            qtype: RecordType::NAPTR,
            qclass: CLASS_IN,
        }],
        answers: vec![
            Record::new(name("example.com"), 60, RData::Naptr(naptr)),
            Record::new(
                name("alias.example.com"),
                30,
                RData::Cname(name("host.example.com")),
            ),
        ],
        authority: vec![Record::new(name("example.com"), 300, RData::Soa(soa))],
        additionals: vec![
            Record::new(
                name("_sip._udp.example.com"),
                60,
                RData::Srv(Srv {
                    priority: 1,
                    weight: 0,
                    port: 5060,
                    target: name("host.example.com"),
                }),
            ),
            Record::new(
                name("host.example.com"),
                60,
                RData::A(Ipv4Addr::new(192, 0, 2, 1)),
            ),
            Record::new(
                name("HOST.example.com"),
                60,
                RData::Aaaa(Ipv6Addr::LOCALHOST),
            ),
            Record::new(
                name("example.com"),
                60,
                RData::Other {
                    rtype: RecordType(16),
                    data: b"\x02hi".to_vec(),
                },
            ),
        ],
    }
}

#[test]
fn build_query_exact_bytes() {
    let q = build_query(0x1234, "Example.COM", RecordType::SRV).expect("query");
    let mut want = header(0x1234, 0x0100, [1, 0, 0, 0]);
    want.extend_from_slice(b"\x07Example\x03COM\x00\x00\x21\x00\x01");
    assert_eq!(q, want, "RD set, one question, name case kept");
    assert_eq!(
        build_query(1, "a..b", RecordType::A),
        Err(DnsError::EmptyLabel)
    );
}

#[test]
fn response_round_trips_and_compresses() {
    let msg = sample_response();
    let bytes = encode_message(&msg).expect("encode");
    assert_eq!(parse_message(&bytes).expect("parse"), msg);
    // "example.com" is spelled out in the question and in the two names that must not be
    // compressed (NAPTR replacement, SRV target); the eleven other names point.
    let occurrences = bytes.windows(8).filter(|w| w == b"\x07example").count();
    assert_eq!(occurrences, 3, "owner, CNAME and SOA names are compressed");
    // The SRV target and NAPTR replacement are written whole (RFC 2782, RFC 3597 §4).
    let srv_at = bytes
        .windows(6)
        .position(|w| w == [0, 1, 0, 0, 0x13, 0xc4])
        .expect("SRV rdata");
    assert_eq!(&bytes[srv_at + 6..srv_at + 12], b"\x04host\x07");
}

#[test]
fn flags_and_rcode_decode() {
    let mut b = header(
        9,
        0x8000 | (2 << 11) | 0x0400 | 0x0200 | 0x0100 | 0x0080 | (0x5 << 4) | 3,
        [0; 4],
    );
    let m = parse_message(&b).expect("header only");
    let h = m.header;
    assert!(
        h.response
            && h.authoritative
            && h.truncated
            && h.recursion_desired
            && h.recursion_available
    );
    assert_eq!((h.opcode, h.z, h.rcode), (2, 5, Rcode::NXDOMAIN));
    assert_eq!(encode_message(&m).expect("encode"), b);
    b.truncate(11);
    assert_eq!(parse_message(&b), Err(DnsError::UnexpectedEnd));
}

#[test]
fn decodes_compressed_srv_target() {
    // Question example.com/SRV; answer owner -> pointer 12; SRV target "sip" + pointer 12.
    let mut b = header(1, 0x8000, [1, 1, 0, 0]);
    b.extend_from_slice(b"\x07example\x03com\x00\x00\x21\x00\x01");
    b.extend_from_slice(&[
        0xc0, 12, 0, 33, 0, 1, 0, 0, 0, 60, 0, 12, 0, 5, 0, 0, 0x13, 0xc4,
    ]);
    b.extend_from_slice(&[3, b's', b'i', b'p', 0xc0, 12]);
    let m = parse_message(&b).expect("parse");
    let RData::Srv(srv) = &m.answers[0].data else {
        panic!("not SRV: {:?}", m.answers[0])
    };
    assert_eq!(srv.target, name("sip.example.com"));
    assert_eq!(m.answers[0].name, name("example.com"));
}

#[test]
fn pointer_to_itself_is_a_loop() {
    let mut b = header(1, 0x8000, [1, 0, 0, 0]);
    b.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
    assert_eq!(parse_message(&b), Err(DnsError::PointerLoop));
}

#[test]
fn two_pointer_cycle_is_a_loop() {
    // Offset 12: label "a" then pointer to 17; offset 17: label "b" then pointer back to 12.
    let mut b = header(1, 0x8000, [1, 0, 0, 0]);
    b.extend_from_slice(&[1, b'a', 0xc0, 17, 0, 1, b'b', 0xc0, 12]);
    assert_eq!(parse_message(&b), Err(DnsError::PointerLoop));
    // The same cycle entered from a later name: 12 -> label, pointer back into its own label.
    let mut c = header(1, 0x8000, [1, 0, 0, 0]);
    c.extend_from_slice(&[1, b'x', 0xc0, 12]);
    assert_eq!(parse_message(&c), Err(DnsError::PointerLoop));
}

#[test]
fn forward_and_out_of_range_pointers() {
    let mut fwd = header(1, 0x8000, [1, 0, 0, 0]);
    fwd.extend_from_slice(&[0xc0, 14, 0, 0, 1, 0, 1]);
    assert_eq!(parse_message(&fwd), Err(DnsError::PointerLoop));
    let mut far = header(1, 0x8000, [1, 0, 0, 0]);
    far.extend_from_slice(&[0xff, 0xff, 0, 1, 0, 1]);
    assert_eq!(parse_message(&far), Err(DnsError::PointerOutOfRange));
    let mut cut = header(1, 0x8000, [1, 0, 0, 0]);
    cut.push(0xc0);
    assert_eq!(parse_message(&cut), Err(DnsError::UnexpectedEnd));
}

#[test]
fn reserved_label_types_rejected() {
    for lead in [0x41u8, 0x80] {
        let mut b = header(1, 0x8000, [1, 0, 0, 0]);
        b.extend_from_slice(&[lead, 0, 0, 1, 0, 1]);
        assert_eq!(parse_message(&b), Err(DnsError::BadLabelType(lead)));
    }
}

#[test]
fn name_length_limits_on_decode() {
    // 127 labels "a" = 254 octets + root = 255: the longest legal name.
    let mut ok = header(1, 0x8000, [1, 0, 0, 0]);
    ok.extend(std::iter::repeat_n([1u8, b'a'], 127).flatten());
    ok.extend_from_slice(&[0, 0, 1, 0, 1]);
    let m = parse_message(&ok).expect("255-octet name");
    assert_eq!(m.questions[0].name.as_wire().len(), 255);
    // One more octet of label: 256.
    let mut long = header(1, 0x8000, [1, 0, 0, 0]);
    long.extend(std::iter::repeat_n([1u8, b'a'], 126).flatten());
    long.extend_from_slice(&[2, b'a', b'a', 0, 0, 1, 0, 1]);
    assert_eq!(parse_message(&long), Err(DnsError::NameTooLong));
    // Built up through pointers: each name adds labels in front of the previous one.
    let mut via_ptr = header(1, 0x8000, [3, 0, 0, 0]);
    via_ptr.extend(std::iter::repeat_n([1u8, b'a'], 100).flatten());
    via_ptr.extend_from_slice(&[0, 0, 1, 0, 1]);
    let second = via_ptr.len();
    via_ptr.extend(std::iter::repeat_n([1u8, b'b'], 100).flatten());
    via_ptr.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
    via_ptr.extend(std::iter::repeat_n([1u8, b'c'], 100).flatten());
    via_ptr.extend_from_slice(&[0xc0 | (second >> 8) as u8, second as u8, 0, 1, 0, 1]);
    assert_eq!(parse_message(&via_ptr), Err(DnsError::NameTooLong));
}

#[test]
fn short_message_without_tc_is_an_error_at_every_cut() {
    let bytes = encode_message(&sample_response()).expect("encode");
    for cut in 0..bytes.len() {
        assert!(parse_message(&bytes[..cut]).is_err(), "cut at {cut} parsed");
    }
}

#[test]
fn short_message_with_tc_keeps_whole_records() {
    let mut msg = sample_response();
    msg.header.truncated = true;
    let bytes = encode_message(&msg).expect("encode");
    let mut last_total = 0;
    for cut in HEADER_LEN..=bytes.len() {
        let m = parse_message(&bytes[..cut]).expect("TC message parses at any cut");
        assert!(m.header.truncated);
        let total = m.questions.len() + m.answers.len() + m.authority.len() + m.additionals.len();
        assert!(total >= last_total, "records only grow as the cut moves on");
        last_total = total;
        for rr in m.answers.iter().chain(&m.authority).chain(&m.additionals) {
            let all = msg
                .answers
                .iter()
                .chain(&msg.authority)
                .chain(&msg.additionals);
            assert!(
                all.clone().any(|o| o == rr),
                "a kept record is whole: {rr:?}"
            );
        }
    }
    assert_eq!(last_total, 1 + 2 + 1 + 4);
}

#[test]
fn rdata_length_must_match_type() {
    let mut b = header(1, 0x8000, [0, 1, 0, 0]);
    b.extend_from_slice(&[0, 0, 1, 0, 1, 0, 0, 0, 1, 0, 5, 1, 2, 3, 4, 5]);
    assert_eq!(
        parse_message(&b),
        Err(DnsError::BadRdataLength { rtype: 1 })
    );
    // A CNAME whose name runs past its RDLENGTH.
    let mut c = header(1, 0x8000, [0, 1, 0, 0]);
    c.extend_from_slice(&[0, 0, 5, 0, 1, 0, 0, 0, 1, 0, 2, 1, b'x', 0]);
    assert_eq!(
        parse_message(&c),
        Err(DnsError::BadRdataLength { rtype: 5 })
    );
    // RDLENGTH beyond the message end.
    let mut d = header(1, 0x8000, [0, 1, 0, 0]);
    d.extend_from_slice(&[0, 0, 1, 0, 1, 0, 0, 0, 1, 0, 4, 1, 2]);
    assert_eq!(parse_message(&d), Err(DnsError::UnexpectedEnd));
}

#[test]
fn encode_limits() {
    let mut msg = sample_response();
    if let RData::Naptr(n) = &mut msg.answers[0].data {
        n.regexp = vec![b'x'; 256];
    }
    assert_eq!(encode_message(&msg), Err(DnsError::StringTooLong));
    let mut big = Message::default();
    big.additionals.push(Record::new(
        Name::root(),
        0,
        RData::Other {
            rtype: RecordType(99),
            data: vec![0; 65536],
        },
    ));
    assert_eq!(encode_message(&big), Err(DnsError::RdataTooLong));
}

#[test]
fn name_text_form() {
    let n = name(r"a\.b.c\\d.\001x.example.");
    let labels: Vec<&[u8]> = n.labels().collect();
    assert_eq!(labels, [&b"a.b"[..], b"c\\d", b"\x01x", b"example"]);
    assert_eq!(n.to_string(), r"a\.b.c\\d.\001x.example");
    assert_eq!(Name::parse(&n.to_string()), Ok(n));
    assert_eq!(
        name("ExAmple.COM"),
        name("example.com."),
        "RFC 4343: case-insensitive"
    );
    assert_eq!(Name::root().to_string(), ".");
    assert!(name("").is_root() && name(".").is_root());
    assert_eq!(Name::parse(".a"), Err(DnsError::EmptyLabel));
    assert_eq!(Name::parse("a.."), Err(DnsError::EmptyLabel));
    assert_eq!(Name::parse(r"a\25"), Err(DnsError::BadEscape));
    assert_eq!(Name::parse(r"a\256"), Err(DnsError::BadEscape));
    assert_eq!(Name::parse(r"a\"), Err(DnsError::BadEscape));
    assert_eq!(Name::parse(&"x".repeat(64)), Err(DnsError::LabelTooLong));
    assert!(Name::parse(&"x".repeat(63)).is_ok());
    let long = vec!["abcdefg"; 32].join(".");
    assert_eq!(Name::parse(&long), Err(DnsError::NameTooLong));
    assert!(name("sip.example.com").is_subdomain_of(&name("EXAMPLE.com")));
    assert!(!name("example.com").is_subdomain_of(&name("sip.example.com")));
    assert!(!name("badexample.com").is_subdomain_of(&name("example.com")));
}
