//! Transactions, CANCEL, timers and bad input (RFC 3261 §16.3, §16.10, §17).

use super::*;

#[test]
fn a_retransmitted_invite_is_absorbed_and_gets_the_last_response_again() {
    let mut bed = Bed::new("round_robin", vec![Answer::Ring]);
    bed.call("rx");
    bed.run_ms(20);
    bed.send(invite("rx"));
    bed.send(invite("rx"));
    bed.run_ms(20);
    assert_eq!(bed.member(0).count("INVITE"), 1);
    assert_eq!(bed.proxy().counters().retransmissions_absorbed, 2);
    // 100, 180, then the 180 again for each retransmission.
    assert_eq!(bed.caller().codes("rx", "INVITE"), vec![100, 180, 180, 180]);
}

#[test]
fn cancel_after_ringing_cancels_the_branch_and_the_caller_gets_487() {
    let mut bed = Bed::new("round_robin", vec![Answer::Ring, Answer::Ok]);
    bed.call("c1");
    bed.run_ms(20);
    bed.send(cancel("c1"));
    bed.run_ms(20);
    assert_eq!(bed.caller().codes("c1", "CANCEL"), vec![200]);
    assert_eq!(bed.member(0).count("CANCEL"), 1);
    assert_eq!(bed.caller().finals("c1"), vec![487]);
    // No failover after the caller's CANCEL, and the count is released.
    assert_eq!(bed.member(1).count("INVITE"), 0);
    assert_eq!(bed.active(0), 0);
    assert_eq!(bed.member(0).count("ACK"), 1);
}

#[test]
fn cancel_before_any_provisional_waits_for_one() {
    let mut bed = Bed::new("round_robin", vec![Answer::Silent, Answer::Ok]);
    bed.call("c2");
    bed.run_ms(5);
    bed.send(cancel("c2"));
    bed.run_ms(20);
    // RFC 3261 §9.1: no CANCEL before a provisional.
    assert_eq!(bed.member(0).count("CANCEL"), 0);
    assert_eq!(bed.caller().codes("c2", "CANCEL"), vec![200]);
    // The member never answers: after fr_timeout the caller gets 487, no failover.
    bed.run_ms(3_000);
    assert_eq!(bed.caller().finals("c2"), vec![487]);
    assert_eq!(bed.member(1).count("INVITE"), 0);
}

#[test]
fn cancel_for_no_transaction_is_481() {
    let mut bed = Bed::new("round_robin", vec![Answer::Ok]);
    bed.send(cancel("nothing"));
    bed.run_ms(10);
    assert_eq!(bed.caller().codes("nothing", "CANCEL"), vec![481]);
}

#[test]
fn timer_c_cancels_a_ringing_branch_and_the_caller_gets_408() {
    let mut bed = Bed::new("round_robin", vec![Answer::Ring]);
    bed.call("tc");
    // fr_inv_timeout is 30 s in the test config.
    bed.run_ms(29_000);
    assert_eq!(bed.member(0).count("CANCEL"), 0);
    bed.run_ms(2_000);
    assert_eq!(bed.member(0).count("CANCEL"), 1);
    assert_eq!(bed.caller().finals("tc"), vec![408]);
}

#[test]
fn the_proxy_retransmits_over_udp_and_stops_on_a_provisional() {
    let mut bed = Bed::new("round_robin", vec![Answer::Silent]);
    bed.call("ra");
    bed.run_ms(1_600);
    // Timer A: 0, T1, 3*T1.
    assert_eq!(bed.member(0).count("INVITE"), 3);
    assert_eq!(bed.proxy().counters().retransmissions_sent, 2);
}

#[test]
fn max_forwards_zero_is_483_and_a_loop_is_482() {
    let mut bed = Bed::new("round_robin", vec![Answer::Ok]);
    let inv = String::from_utf8(invite("mf"))
        .unwrap()
        .replace("Max-Forwards: 70", "Max-Forwards: 0");
    bed.send(inv.into_bytes());
    bed.run_ms(10);
    assert_eq!(bed.caller().finals("mf"), vec![483]);
    // A request that already passed through us unchanged comes back: a loop.
    bed.call("lp");
    bed.run_ms(10);
    let forwarded = bed.member(0).first("INVITE");
    let now = bed.sim.now();
    bed.sim.net.send(
        now,
        Datagram::udp(member_addr(0), addr(PROXY), forwarded.into_bytes()),
    );
    bed.run_ms(10);
    assert_eq!(bed.proxy().counters().loops, 1);
    assert_eq!(bed.member(0).count("INVITE"), 1);
}

#[test]
fn options_to_the_proxy_is_answered_200_or_503_while_draining() {
    let mut bed = Bed::new("round_robin", vec![Answer::Ok]);
    let opt = |n: u32| {
        format!(
            "OPTIONS sip:127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.10:5060;branch=z9hG4bK-o{n}\r\n\
             Max-Forwards: 70\r\nFrom: <sip:mon@127.0.0.10>;tag=o\r\nTo: <sip:127.0.0.1>\r\n\
             Call-ID: opt{n}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
        )
        .into_bytes()
    };
    bed.send(opt(1));
    bed.run_ms(10);
    assert_eq!(bed.caller().codes("opt1", "OPTIONS"), vec![200]);
    bed.proxy_mut().set_draining(true);
    bed.send(opt(2));
    bed.run_ms(10);
    assert_eq!(bed.caller().codes("opt2", "OPTIONS"), vec![503]);
    assert!(bed.member(0).count("OPTIONS") > 0);
    assert!(!bed.member(0).got.iter().any(|g| g.contains("Call-ID: opt")));
}

#[test]
fn bad_input_gets_400_or_a_counted_drop_never_a_panic() {
    let mut bed = Bed::new("round_robin", vec![Answer::Ok]);
    // A request with a broken CSeq: answerable, 400.
    let bad = String::from_utf8(invite("bad"))
        .unwrap()
        .replace("CSeq: 1 INVITE", "CSeq: x INVITE");
    bed.send(bad.into_bytes());
    // Truncated, garbage, oversized, empty.
    let inv = invite("trunc");
    bed.send(inv[..40].to_vec());
    bed.send(b"\x00\x01garbage".to_vec());
    bed.send(vec![b'A'; 70_000]);
    bed.send(Vec::new());
    bed.run_ms(10);
    assert_eq!(bed.caller().finals("bad"), vec![400]);
    let c = bed.proxy().counters();
    assert_eq!(c.bad_requests, 1);
    assert_eq!(c.dropped_malformed, 2);
    assert_eq!(c.dropped_oversized, 1);
    assert_eq!(bed.member(0).count("INVITE"), 0);
    // Still works.
    bed.call("after");
    bed.run_ms(10);
    assert_eq!(bed.caller().finals("after"), vec![200]);
}

#[test]
fn the_torture_corpus_never_panics_the_proxy() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../sip/testdata");
    let mut bed = Bed::new("round_robin", vec![Answer::Ok]);
    let mut n = 0;
    for d in [dir.clone(), dir.join("rfc5118")] {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "dat") {
                bed.send(std::fs::read(&path).unwrap());
                n += 1;
            }
        }
    }
    assert!(n >= 60, "corpus at {}: {n}", dir.display());
    bed.run_ms(40_000);
    let (server, client, ctxs, _) = bed.proxy().sizes();
    // Everything ends but a health probe that may be in flight.
    assert_eq!((server, ctxs), (0, 0), "everything ends");
    assert!(client <= bed.members, "{client} client transactions left");
}

#[test]
fn a_cancel_crossing_the_answer_has_no_effect() {
    let mut bed = Bed::new("round_robin", vec![Answer::Ok]);
    bed.call("x");
    bed.run_ms(20);
    assert_eq!(bed.caller().finals("x"), vec![200]);
    bed.send(cancel("x"));
    bed.run_ms(20);
    // RFC 3261 §9.2: the CANCEL is answered, but the answered INVITE stands.
    assert_eq!(bed.caller().codes("x", "CANCEL"), vec![200]);
    assert_eq!(bed.member(0).count("CANCEL"), 0);
    assert_eq!(bed.caller().finals("x"), vec![200]);
    assert_eq!(bed.active(0), 1);
}

#[test]
fn a_retransmitted_2xx_is_passed_on_to_the_caller() {
    let mut bed = Bed::new("round_robin", vec![Answer::Ok]);
    bed.call("r2");
    bed.run_ms(20);
    // The member did not get an ACK yet and retransmits its 200 (RFC 3261 §13.3.1.4).
    let inv = bed.member(0).first("INVITE");
    let inv = sip::parse(inv.as_bytes()).unwrap();
    let tag = format!("m{}", member_addr(0).ip());
    let ok = sip::response_with(
        &inv,
        200,
        "OK",
        Some(&tag),
        &[("Contact", "<sip:fs@127.0.0.20:5060>")],
    );
    let now = bed.sim.now();
    bed.sim
        .net
        .send(now, Datagram::udp(member_addr(0), addr(PROXY), ok));
    bed.run_ms(20);
    // RFC 6026 §7.2: the proxy forwards the retransmission upstream.
    assert_eq!(bed.caller().finals("r2"), vec![200, 200]);
}
