//! Failover to the next member (DESIGN.md; RFC 3261 §16.7).

use super::*;

fn bed3(a: Answer, b: Answer, c: Answer) -> Bed {
    Bed::new("round_robin", vec![a, b, c])
}

#[test]
fn a_503_fails_over_to_the_next_member_and_the_caller_sees_only_the_answer() {
    let mut bed = bed3(Answer::Reject(503, None), Answer::Ok, Answer::Ok);
    bed.call("f1");
    bed.run_ms(50);
    // Round robin starts somewhere; find a call that hit member 0 first.
    let mut i = 1;
    while bed.member(0).count("INVITE") == 0 {
        bed.call(&format!("f1-{i}"));
        bed.run_ms(50);
        i += 1;
    }
    let call = bed.member(0).invites[0].clone();
    assert_eq!(bed.caller().finals(&call), vec![200]);
    assert_eq!(bed.taker(&call), Some(0));
    assert!((1..3).any(|m| bed.member(m).invites.contains(&call)));
    // The 503 was ACKed hop by hop, and never reached the caller.
    assert_eq!(bed.member(0).count("ACK"), 1);
    assert!(!bed.caller().codes(&call, "INVITE").contains(&503));
    assert!(bed.proxy().counters().failovers >= 1);
}

#[test]
fn busy_here_and_not_found_are_relayed_not_retried() {
    for code in [486u16, 404, 603] {
        let mut bed = bed3(
            Answer::Reject(code, None),
            Answer::Reject(code, None),
            Answer::Reject(code, None),
        );
        bed.call("r");
        bed.run_ms(50);
        assert_eq!(bed.caller().finals("r"), vec![code]);
        let total: usize = (0..3).map(|m| bed.member(m).count("INVITE")).sum();
        assert_eq!(total, 1, "{code} must not be retried");
        let m = bed.taker("r").unwrap();
        assert_eq!(bed.member(m).count("ACK"), 1);
        assert_eq!(bed.active(m), 0);
        // The caller's ACK stopped the proxy's retransmission of the final response.
        bed.run_ms(10_000);
        assert_eq!(bed.caller().finals("r"), vec![code]);
    }
}

#[test]
fn every_member_answering_503_gives_500_upstream() {
    let mut bed = bed3(
        Answer::Reject(503, None),
        Answer::Reject(503, None),
        Answer::Reject(503, None),
    );
    bed.call("all503");
    bed.run_ms(100);
    assert_eq!(bed.caller().finals("all503"), vec![500]);
    for m in 0..3 {
        assert_eq!(bed.member(m).count("INVITE"), 1);
        assert_eq!(bed.active(m), 0);
    }
}

#[test]
fn a_timeout_without_provisional_fails_over_and_counts_a_passive_failure() {
    let mut bed = bed3(Answer::Silent, Answer::Silent, Answer::Ok);
    bed.call("t1");
    // fr_timeout is 2 s: the first two members time out, the third answers.
    bed.run_ms(4_500);
    let c = bed.caller();
    assert_eq!(c.finals("t1"), vec![200]);
    assert_eq!(bed.member(2).count("INVITE"), 1);
    // The silent ones got UDP retransmissions (Timer A: 0, 500, 1500 ms) before the timeout.
    assert_eq!(bed.member(0).count("INVITE"), 3);
    assert_eq!(bed.state(0), dispatch::MemberState::Suspect);
    assert_eq!(bed.active(0), 0);
    assert_eq!(bed.active(2), 1);
}

#[test]
fn no_failover_after_a_provisional() {
    let mut bed = bed3(
        Answer::RingThen(503),
        Answer::RingThen(503),
        Answer::RingThen(503),
    );
    bed.call("p");
    bed.run_ms(100);
    let total: usize = (0..3).map(|m| bed.member(m).count("INVITE")).sum();
    assert_eq!(total, 1);
    // §16.7 item 6: the 503 is not passed on as such.
    assert_eq!(bed.caller().finals("p"), vec![500]);
    assert_eq!(bed.caller().codes("p", "INVITE")[..2], [100, 180]);
}

/// A 100 Trying is hop by hop (§16.7 item 2): the caller heard nothing of the member, so a
/// 503 after it still fails over.
#[test]
fn a_100_trying_does_not_stop_failover() {
    let mut bed = bed3(Answer::TryingThen(503), Answer::TryingThen(503), Answer::Ok);
    for i in 0..3 {
        bed.call(&format!("t{i}"));
        bed.run_ms(100);
    }
    for i in 0..3 {
        assert_eq!(
            bed.caller().finals(&format!("t{i}")),
            vec![200],
            "call t{i}"
        );
    }
    assert!(bed.proxy().counters().failovers >= 2);
}

#[test]
fn all_members_silent_gives_408_after_max_attempts() {
    let mut bed = bed3(Answer::Silent, Answer::Silent, Answer::Silent);
    bed.call("s");
    bed.run_ms(10_000);
    assert_eq!(bed.caller().finals("s"), vec![408]);
    for m in 0..3 {
        assert!(bed.member(m).count("INVITE") >= 1);
    }
}

#[test]
fn max_attempts_caps_the_members_tried() {
    let text = config_text(
        "max_attempts = 2",
        &[
            "uri = \"sip:127.0.0.20:5060\"",
            "uri = \"sip:127.0.0.21:5060\"",
            "uri = \"sip:127.0.0.22:5060\"",
        ],
    );
    let mut bed = Bed::from_config(
        &text,
        vec![
            Answer::Reject(500, None),
            Answer::Reject(500, None),
            Answer::Reject(500, None),
        ],
    );
    bed.call("cap");
    bed.run_ms(100);
    let total: usize = (0..3).map(|m| bed.member(m).count("INVITE")).sum();
    assert_eq!(total, 2);
    assert_eq!(bed.caller().finals("cap"), vec![500]);
}

#[test]
fn last_resort_takes_the_call_when_every_member_failed() {
    let text = config_text(
        "max_attempts = 2\nlast_resort = \"sip:127.0.0.22:5060\"",
        &[
            "uri = \"sip:127.0.0.20:5060\"",
            "uri = \"sip:127.0.0.21:5060\"",
        ],
    );
    let mut bed = Bed::from_config(
        &text,
        vec![
            Answer::Reject(503, None),
            Answer::Reject(503, None),
            Answer::Ok,
        ],
    );
    bed.call("lr");
    bed.run_ms(100);
    assert_eq!(bed.caller().finals("lr"), vec![200]);
    assert_eq!(bed.member(2).count("INVITE"), 1);
}

#[test]
fn members_full_by_max_calls_get_an_immediate_503_with_retry_after() {
    let text = config_text(
        "algorithm = \"least_calls\"\nretry_after_secs = 7",
        &[
            "uri = \"sip:127.0.0.20:5060\"\nmax_calls = 1",
            "uri = \"sip:127.0.0.21:5060\"\nmax_calls = 1",
        ],
    );
    let mut bed = Bed::from_config(&text, vec![Answer::Ok, Answer::Ok]);
    bed.call("a");
    bed.call("b");
    bed.run_ms(20);
    assert_eq!(bed.active(0), 1);
    assert_eq!(bed.active(1), 1);
    let t0 = bed.sim.now();
    bed.call("c");
    bed.run_ms(5);
    assert_eq!(bed.caller().finals("c"), vec![503]);
    let r = bed.caller().response("c", 503).unwrap();
    assert!(r.contains("Retry-After: 7"), "{r}");
    assert!(bed.sim.now() - t0 < Duration::from_millis(10));
    assert_eq!(bed.proxy().counters().all_busy, 1);
    // Ending a call frees a slot.
    let m = bed.taker("a").unwrap();
    let tag = format!("m{}", member_addr(m).ip());
    bed.send(in_dialog("BYE", "a", 2, &tag, member_addr(m)));
    bed.run_ms(20);
    bed.call("d");
    bed.run_ms(20);
    assert_eq!(bed.caller().finals("d"), vec![200]);
    assert_eq!(bed.taker("d"), Some(m));
}

#[test]
fn a_503_with_retry_after_makes_the_member_busy_for_that_time() {
    let mut bed = Bed::new(
        "round_robin",
        vec![Answer::Reject(503, Some(30)), Answer::Ok],
    );
    for i in 0..4 {
        bed.call(&format!("b{i}"));
        bed.run_ms(20);
    }
    assert_eq!(bed.state(0), dispatch::MemberState::Busy);
    assert_eq!(bed.member(0).count("INVITE"), 1);
    assert!((0..4).all(|i| bed.caller().finals(&format!("b{i}")) == vec![200]));
    // Still busy at 25 s (probes answer 200 but BUSY holds); free after 30 s.
    bed.member_mut(0).answer = Answer::Ok;
    bed.run_ms(25_000);
    assert_eq!(bed.state(0), dispatch::MemberState::Busy);
    bed.run_ms(6_000);
    assert_ne!(bed.state(0), dispatch::MemberState::Busy);
    for i in 4..8 {
        bed.call(&format!("b{i}"));
        bed.run_ms(20);
    }
    assert!(bed.member(0).count("INVITE") >= 2);
}

#[test]
fn a_late_answer_from_a_given_up_branch_is_acked_and_ended() {
    let mut bed = Bed::new("round_robin", vec![Answer::Silent, Answer::Ok]);
    bed.call("late");
    bed.run_ms(2_500);
    let first = bed.taker("late").unwrap();
    assert_eq!(first, 0, "round robin starts at member 0");
    assert_eq!(bed.caller().finals("late"), vec![200]);
    // Member 0 answers the INVITE it got long ago.
    let inv = bed.member(0).first("INVITE");
    let inv = sip::parse(inv.as_bytes()).unwrap();
    let ok = sip::response_with(
        &inv,
        200,
        "OK",
        Some("late0"),
        &[("Contact", "<sip:fs@127.0.0.20:5060>")],
    );
    let now = bed.sim.now();
    bed.sim
        .net
        .send(now, Datagram::udp(member_addr(0), addr(PROXY), ok));
    bed.run_ms(50);
    assert_eq!(bed.member(0).count("ACK"), 1, "{:#?}", bed.member(0).got);
    assert_eq!(bed.member(0).count("BYE"), 1);
    assert_eq!(bed.caller().finals("late"), vec![200]);
    assert_eq!(bed.proxy().counters().late_answers_ended, 1);
}
