//! Routing of new calls and pinning of dialogs.

use super::*;

#[test]
fn round_robin_is_exact_and_each_call_gets_100_trying_and_record_route() {
    let mut bed = Bed::new("round_robin", vec![Answer::Ok, Answer::Ok, Answer::Ok]);
    for i in 0..30 {
        bed.call(&format!("rr{i}"));
        bed.run_ms(20);
    }
    for m in 0..3 {
        assert_eq!(bed.member(m).count("INVITE"), 10, "member {m}");
    }
    // Rotation: call i went to member i % 3 (in some fixed order).
    let first = bed.taker("rr0").unwrap();
    for i in 0..30 {
        assert_eq!(bed.taker(&format!("rr{i}")), Some((first + i) % 3));
    }
    let c = bed.caller();
    assert_eq!(c.codes("rr5", "INVITE"), vec![100, 180, 200]);
    let ok = c.response("rr5", 200).unwrap();
    assert!(ok.contains("Record-Route: <sip:127.0.0.1:5060;lr>"), "{ok}");
    // Our Via is gone from the response; the caller's is there with received/rport filled.
    assert!(!ok.contains("z9hG4bKfvx"), "{ok}");
    let inv = &bed.member(0).first("INVITE");
    assert!(
        inv.starts_with("INVITE sip:1000@127.0.0.1:5060 SIP/2.0"),
        "{inv}"
    );
    assert!(
        inv.contains("Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKfvx"),
        "{inv}"
    );
    assert!(inv.contains(";rport=5060"), "{inv}");
    assert!(inv.contains("Max-Forwards: 69"), "{inv}");
    assert_eq!(bed.proxy().counters().calls_routed, 30);
}

#[test]
fn bye_and_reinvite_reach_the_member_that_answered_from_either_side() {
    let mut bed = Bed::new("round_robin", vec![Answer::Ok, Answer::Ok, Answer::Ok]);
    for i in 0..3 {
        bed.call(&format!("d{i}"));
        bed.run_ms(20);
    }
    let m = bed.taker("d1").unwrap();
    let tag = format!("m{}", member_addr(m).ip());
    assert_eq!(bed.active(m), 1);
    bed.send(in_dialog("ACK", "d1", 1, &tag, member_addr(m)));
    bed.send(in_dialog("INVITE", "d1", 2, &tag, member_addr(m)));
    bed.run_ms(20);
    assert_eq!(bed.member(m).count("ACK"), 1);
    assert_eq!(bed.member(m).count("INVITE"), 2);
    for other in (0..3).filter(|&o| o != m) {
        assert_eq!(bed.member(other).count("INVITE"), 1);
        assert_eq!(bed.member(other).count("ACK"), 0);
    }
    // The member hangs up: its BYE reaches the caller, and the call count drops.
    let bye = format!(
        "BYE sip:caller@127.0.0.10:5060 SIP/2.0\r\n\
         Via: SIP/2.0/UDP {ma};branch=z9hG4bK-mbye\r\n\
         Route: <sip:127.0.0.1:5060;lr>\r\nMax-Forwards: 70\r\n\
         From: <sip:1000@127.0.0.1>;tag={tag}\r\nTo: <sip:caller@127.0.0.10>;tag=ctag-d1\r\n\
         Call-ID: d1\r\nCSeq: 10 BYE\r\nContent-Length: 0\r\n\r\n",
        ma = member_addr(m)
    );
    let now = bed.sim.now();
    bed.sim.net.send(
        now,
        Datagram::udp(member_addr(m), addr(PROXY), bye.into_bytes()),
    );
    bed.run_ms(20);
    assert!(bed.caller().requests.iter().any(|r| r.starts_with("BYE ")));
    assert_eq!(bed.active(m), 0);
    // The other two calls end from the caller side.
    for i in [0, 2] {
        let call = format!("d{i}");
        let mi = bed.taker(&call).unwrap();
        let tag = format!("m{}", member_addr(mi).ip());
        bed.send(in_dialog("BYE", &call, 3, &tag, member_addr(mi)));
        bed.run_ms(20);
        assert_eq!(bed.member(mi).count("BYE"), 1);
        assert_eq!(bed.caller().codes(&call, "BYE"), vec![200]);
        assert_eq!(bed.active(mi), 0);
    }
}

#[test]
fn weighted_is_exact_over_a_cycle() {
    let text = config_text(
        "algorithm = \"weighted\"",
        &[
            "uri = \"sip:127.0.0.20:5060\"\nweight = 1",
            "uri = \"sip:127.0.0.21:5060\"\nweight = 2",
            "uri = \"sip:127.0.0.22:5060\"\nweight = 7",
        ],
    );
    let mut bed = Bed::from_config(&text, vec![Answer::Ok, Answer::Ok, Answer::Ok]);
    for i in 0..100 {
        bed.call(&format!("w{i}"));
        bed.run_ms(5);
    }
    let counts: Vec<usize> = (0..3).map(|m| bed.member(m).count("INVITE")).collect();
    assert_eq!(counts, vec![10, 20, 70]);
}

#[test]
fn hash_on_call_id_sends_retries_of_a_key_to_one_member() {
    let text = config_text(
        "algorithm = \"hash\"\nhash_key = \"call_id\"",
        &[
            "uri = \"sip:127.0.0.20:5060\"",
            "uri = \"sip:127.0.0.21:5060\"",
            "uri = \"sip:127.0.0.22:5060\"",
        ],
    );
    let mut a = Bed::from_config(&text, vec![Answer::Ok, Answer::Ok, Answer::Ok]);
    let mut b = Bed::from_config(&text, vec![Answer::Ok, Answer::Ok, Answer::Ok]);
    for i in 0..30 {
        a.call(&format!("h{i}"));
        a.run_ms(5);
    }
    for i in (0..30).rev() {
        b.call(&format!("h{i}"));
        b.run_ms(5);
    }
    for i in 0..30 {
        let c = format!("h{i}");
        assert_eq!(a.taker(&c), b.taker(&c), "{c}");
    }
    assert!((0..3).all(|m| a.member(m).count("INVITE") > 0));
}

#[test]
fn no_matching_route_is_404() {
    let text = config_text("", &["uri = \"sip:127.0.0.20:5060\""])
        + "[[route]]\nname = \"only-10\"\nsource_networks = [\"10.0.0.0/8\"]\nset = \"pool\"\n";
    let mut bed = Bed::from_config(&text, vec![Answer::Ok]);
    bed.call("nr");
    bed.run_ms(20);
    assert_eq!(bed.caller().finals("nr"), vec![404]);
    assert_eq!(bed.member(0).count("INVITE"), 0);
    assert_eq!(bed.proxy().counters().no_route, 1);
}

#[test]
fn a_sips_next_hop_is_a_transport_error_and_nothing_goes_in_the_clear() {
    let mut bed = super::edge::trusted_caller_bed(vec![Answer::Ok]);
    // A trusted caller's pre-loaded Route beyond us to a sips: URI: TLS only (RFC 3261
    // §26.2.2).
    let inv = String::from_utf8(invite("tls1"))
        .unwrap()
        .replacen("sip:1000@127.0.0.1:5060", "sip:1000@example.com", 1)
        .replacen(
            "Max-Forwards: 70\r\n",
            "Route: <sip:127.0.0.1:5060;lr>, <sips:127.0.0.30:5061;lr>\r\nMax-Forwards: 70\r\n",
            1,
        );
    bed.call_with("tls1", inv.into_bytes());
    bed.run_ms(50);
    let refused = &bed.sim.node::<ProxyNode>(0).unwrap().tls_refused;
    assert_eq!(refused, &vec![addr("127.0.0.30:5061")]);
    // The one next hop could not be reached: as a 503 (RFC 3261 §16.9), which goes upstream
    // as 500 (§16.7 item 6); the pool hears nothing.
    assert_eq!(bed.caller().codes("tls1", "INVITE"), vec![100, 500]);
    assert_eq!(bed.member(0).count("INVITE"), 0);
    let (server, client, ctxs, _) = bed.proxy().sizes();
    assert_eq!(
        (server, ctxs),
        (1, 1),
        "kept until the caller's ACK or Timer H"
    );
    assert!(client <= 2, "the given-up branch (and maybe a probe)");
}

#[test]
fn a_strict_router_before_us_is_repaired_with_our_route_on_top() {
    // RFC 3261 §16.4: the Request-URI names us (the previous hop was a strict router), so the
    // last Route value becomes the Request-URI; our own Route value on top goes too. The
    // Route left after ours is followed: the caller is trusted.
    let mut bed = super::edge::trusted_caller_bed(vec![Answer::Ok]);
    let inv = String::from_utf8(invite("strict"))
        .unwrap()
        .replacen("INVITE sip:1000@127.0.0.1:5060", "INVITE sip:127.0.0.1:5060", 1)
        .replacen(
            "Max-Forwards: 70\r\n",
            "Route: <sip:127.0.0.1:5060;lr>, <sip:127.0.0.20:5060;lr>, <sip:2000@127.0.0.20:5060>\r\n\
             Max-Forwards: 70\r\n",
            1,
        );
    bed.call_with("strict", inv.into_bytes());
    bed.run_ms(50);
    assert_eq!(bed.caller().codes("strict", "INVITE"), vec![100, 180, 200]);
    let fwd = bed.member(0).first("INVITE");
    assert!(
        fwd.starts_with("INVITE sip:2000@127.0.0.20:5060 SIP/2.0\r\n"),
        "{fwd}"
    );
    let routes: Vec<&str> = fwd.lines().filter(|l| l.starts_with("Route:")).collect();
    assert_eq!(routes, ["Route: <sip:127.0.0.20:5060;lr>"]);
}
