//! Responder tests: answers, additionals, negative answers, error codes, truncation.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::*;
use crate::wire::build_query;

fn zone() -> Zone {
    Zone::new()
        .soa("example.test", 300, 60)
        .and_then(|z| {
            z.sip_naptr(
                "example.test",
                10,
                10,
                "SIP+D2U",
                "_sip._udp.example.test",
                600,
            )
        })
        .and_then(|z| {
            z.srv(
                "_sip._udp.example.test",
                10,
                1,
                5060,
                "fs1.example.test",
                300,
            )
        })
        .and_then(|z| z.a("fs1.example.test", Ipv4Addr::new(127, 0, 0, 11), 300))
        .and_then(|z| z.aaaa("fs1.example.test", Ipv6Addr::LOCALHOST, 300))
        .and_then(|z| z.cname("www.example.test", "fs1.example.test", 30))
        .expect("valid zone")
}

fn ask(z: &Zone, name: &str, qtype: RecordType) -> Message {
    let q = build_query(0x4242, name, qtype).expect("query");
    let bytes = z.answer(&q).expect("an answer");
    let m = parse_message(&bytes).expect("the answer parses");
    assert_eq!(m.header.id, 0x4242);
    assert!(m.header.response && m.header.recursion_desired);
    m
}

#[test]
fn naptr_answer_carries_srv_and_addresses() {
    let m = ask(&zone(), "EXAMPLE.test", RecordType::NAPTR);
    assert_eq!(m.header.rcode, Rcode::NOERROR);
    assert!(m.header.authoritative);
    assert_eq!(m.answers.len(), 1);
    let types: Vec<RecordType> = m.additionals.iter().map(Record::rtype).collect();
    assert_eq!(types, [RecordType::SRV, RecordType::A, RecordType::AAAA]);
}

#[test]
fn cname_is_followed_inside_the_zone() {
    let m = ask(&zone(), "www.example.test", RecordType::A);
    let types: Vec<RecordType> = m.answers.iter().map(Record::rtype).collect();
    assert_eq!(types, [RecordType::CNAME, RecordType::A]);
    let m = ask(&zone(), "www.example.test", RecordType::CNAME);
    assert_eq!(m.answers.len(), 1);
    assert!(m.authority.is_empty());
}

#[test]
fn negative_answers_carry_the_soa() {
    let nx = ask(&zone(), "nope.example.test", RecordType::A);
    assert_eq!(nx.header.rcode, Rcode::NXDOMAIN);
    assert_eq!(nx.authority.len(), 1);
    assert_eq!(nx.authority[0].rtype(), RecordType::SOA);
    // The name exists (it owns an A), but no TXT: NODATA.
    let nodata = ask(&zone(), "fs1.example.test", RecordType(16));
    assert_eq!(
        (
            nodata.header.rcode,
            nodata.answers.len(),
            nodata.authority.len()
        ),
        (Rcode::NOERROR, 0, 1)
    );
    // An empty non-terminal exists too (RFC 8020 §2).
    let ent = ask(&zone(), "_udp.example.test", RecordType::SRV);
    assert_eq!(ent.header.rcode, Rcode::NOERROR);
}

#[test]
fn out_of_zone_and_other_class_refused() {
    let m = ask(&zone(), "example.org", RecordType::A);
    assert_eq!(m.header.rcode, Rcode::REFUSED);
    let mut q = parse_message(&build_query(1, "example.test", RecordType::A).expect("query"))
        .expect("parse");
    q.questions[0].qclass = 3;
    let m = zone().respond(&q);
    assert_eq!(m.header.rcode, Rcode::REFUSED);
}

#[test]
fn garbage_gets_formerr_or_nothing() {
    let z = zone();
    assert_eq!(z.answer(b""), None);
    assert_eq!(
        z.answer(b"\x12\x34\x01\x00\x00\x01"),
        None,
        "no whole header: no answer"
    );
    // A readable header followed by junk: FORMERR with the same ID.
    let bytes = z
        .answer(b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\xff\xff")
        .expect("FORMERR");
    let m = parse_message(&bytes).expect("parse");
    assert_eq!(
        (m.header.id, m.header.rcode, m.questions.len()),
        (0x1234, Rcode::FORMERR, 0)
    );
    // Two questions: FORMERR. A response: ignored. An opcode other than QUERY: NOTIMP.
    let mut two =
        parse_message(&build_query(5, "example.test", RecordType::A).expect("q")).expect("parse");
    two.questions.push(two.questions[0].clone());
    let m = parse_message(
        &z.answer(&encode_message(&two).expect("enc"))
            .expect("answer"),
    )
    .expect("parse");
    assert_eq!(m.header.rcode, Rcode::FORMERR);
    let mut resp = two.clone();
    resp.header.response = true;
    assert_eq!(z.answer(&encode_message(&resp).expect("enc")), None);
    let mut notify =
        parse_message(&build_query(6, "example.test", RecordType::SOA).expect("q")).expect("parse");
    notify.header.opcode = 4;
    let m = parse_message(
        &z.answer(&encode_message(&notify).expect("enc"))
            .expect("answer"),
    )
    .expect("parse");
    assert_eq!(m.header.rcode, Rcode::NOTIMP);
}

#[test]
fn udp_limit_drops_additionals_then_sets_tc() {
    let mut z = zone();
    for i in 0..10u8 {
        z = z
            .a(
                &format!("fs{i}.example.test"),
                Ipv4Addr::new(127, 0, 1, i),
                60,
            )
            .expect("a");
        z = z
            .srv(
                "_sip._tcp.example.test",
                1,
                1,
                5060,
                &format!("fs{i}.example.test"),
                60,
            )
            .expect("srv");
    }
    let q = build_query(1, "_sip._tcp.example.test", RecordType::SRV).expect("query");
    let full = parse_message(&z.answer_tcp(&q).expect("tcp")).expect("parse");
    // fs1 already had an A and an AAAA: 12 addresses for the 10 targets.
    assert_eq!(
        (
            full.answers.len(),
            full.additionals.len(),
            full.header.truncated
        ),
        (10, 12, false)
    );
    // 10 SRV fit in 512 octets; their 12 address records do not: dropped without TC (RFC 2181 §9).
    let udp = z.answer(&q).expect("udp");
    assert!(udp.len() <= MAX_UDP_LEN);
    let m = parse_message(&udp).expect("parse");
    assert_eq!(
        (m.answers.len(), m.additionals.len(), m.header.truncated),
        (10, 0, false)
    );
    // Too small for the answers themselves: TC, answer section empty.
    let tiny = z.answer_with_limit(&q, 100).expect("tiny");
    let m = parse_message(&tiny).expect("parse");
    assert_eq!((m.answers.len(), m.header.truncated), (0, true));
    assert_eq!(m.questions.len(), 1);
}
