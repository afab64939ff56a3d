//! Safe at the edge: what a caller may make the proxy do. Pre-loaded Routes, made-up To tags
//! and addresses in Request-URIs never steer it off its `[[route]]`s and the dialogs it
//! holds; responses count only from where their request went; every table has a cap.

use super::*;
use dispatch::MemberState;

/// Where the attacks point: nothing lives there, and nothing may be sent there.
const SINK: &str = "127.0.0.40";

/// Datagrams (any transport, any port) the proxy sent toward [`SINK`].
fn sink_hits(bed: &Bed) -> usize {
    let sink: std::net::IpAddr = SINK.parse().unwrap();
    bed.sim
        .net
        .log
        .iter()
        .filter(|(_, d)| d.to.ip() == sink)
        .count()
}

/// `text` with `keys` added to its `[sip]` section.
fn with_sip(text: &str, keys: &str) -> String {
    text.replacen("[sip]\n", &format!("[sip]\n{keys}\n"), 1)
}

/// One member per answer, round robin, and the caller's network trusted.
pub(crate) fn trusted_caller_bed(answers: Vec<Answer>) -> Bed {
    let members: Vec<String> = (0..answers.len())
        .map(|i| format!("uri = \"sip:{}\"", member_addr(i)))
        .collect();
    let refs: Vec<&str> = members.iter().map(String::as_str).collect();
    let text = config_text("algorithm = \"round_robin\"", &refs);
    Bed::from_config(&with_sip(&text, "trusted = [\"127.0.0.10/32\"]"), answers)
}

/// The caller's INVITE for `call_id` with `headers` (whole lines) before Max-Forwards.
fn invite_with(call_id: &str, headers: &str) -> Vec<u8> {
    String::from_utf8(invite(call_id))
        .unwrap()
        .replacen(
            "Max-Forwards: 70\r\n",
            &format!("{headers}Max-Forwards: 70\r\n"),
            1,
        )
        .into_bytes()
}

/// A request with a To tag from the caller, to `ruri`, with `headers` before Max-Forwards.
fn tagged(method: &str, call_id: &str, to_tag: &str, ruri: &str, headers: &str) -> Vec<u8> {
    format!(
        "{method} {ruri} SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.10:5060;branch=z9hG4bK-{method}-{call_id};rport\r\n\
         {headers}Max-Forwards: 70\r\n\
         From: <sip:caller@127.0.0.10>;tag=ctag-{call_id}\r\n\
         To: <sip:1000@127.0.0.1>;tag={to_tag}\r\n\
         Call-ID: {call_id}\r\nCSeq: 2 {method}\r\nContent-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

/// Sends `bytes` to the proxy from `from`.
fn send_from(bed: &mut Bed, from: SocketAddr, bytes: Vec<u8>) {
    let now = bed.sim.now();
    bed.sim
        .net
        .send(now, Datagram::udp(from, addr(PROXY), bytes));
}

#[test]
fn a_preloaded_route_to_another_host_is_refused_with_403_and_nothing_goes_there() {
    let mut bed = Bed::new("round_robin", vec![Answer::Ok]);
    let routes = [
        format!("Route: <sip:{SINK}:5060;lr>\r\n"),
        format!("Route: <sip:127.0.0.1:5060;lr>, <sip:{SINK};transport=tcp;lr>\r\n"),
        format!("Route: <sip:{SINK}:5080;transport=tcp;lr>\r\n"),
    ];
    for (i, r) in routes.iter().enumerate() {
        let call = format!("pre{i}");
        bed.call_with(&call, invite_with(&call, r));
        bed.run_ms(20);
        assert_eq!(bed.caller().codes(&call, "INVITE"), vec![100, 403], "{r}");
    }
    assert_eq!(sink_hits(&bed), 0);
    assert_eq!(bed.member(0).count("INVITE"), 0);
    assert_eq!(bed.proxy().counters().route_refused, 3);
}

#[test]
fn a_route_naming_us_is_removed_and_the_call_goes_by_the_routes() {
    let mut bed = Bed::new("round_robin", vec![Answer::Ok]);
    bed.call_with(
        "ours",
        invite_with("ours", "Route: <sip:127.0.0.1:5060;lr>\r\n"),
    );
    bed.run_ms(20);
    assert_eq!(bed.caller().codes("ours", "INVITE"), vec![100, 180, 200]);
    let fwd = bed.member(0).first("INVITE");
    assert!(!fwd.contains("\r\nRoute:"), "{fwd}");
    assert_eq!(bed.proxy().counters().route_refused, 0);
}

#[test]
fn a_trusted_source_may_route_by_its_preloaded_route() {
    let mut bed = trusted_caller_bed(vec![Answer::Ok, Answer::Ok]);
    let route = format!("Route: <sip:{}:5060;lr>\r\n", member_addr(1).ip());
    for i in 0..3 {
        let call = format!("tr{i}");
        bed.call_with(&call, invite_with(&call, &route));
        bed.run_ms(20);
        assert_eq!(bed.caller().finals(&call), vec![200]);
    }
    assert_eq!(
        bed.member(1).count("INVITE"),
        3,
        "every call followed its Route"
    );
    assert_eq!(bed.member(0).count("INVITE"), 0);
}

/// `config/examples/sip-pool.toml` in small: calls from outside go to `pool` (member 0),
/// calls from a pool member to `carriers` (member 1).
fn pool_and_carriers() -> Bed {
    let text = format!(
        "[[interface]]\nname = \"external\"\naddress = \"127.0.0.1\"\nport_min = 30000\nport_max = 30999\n\
         [sip]\nlisten = [\"127.0.0.1:5060\"]\ntransports = [\"udp\"]\n\
         [[set]]\nname = \"pool\"\n[[set.member]]\nuri = \"sip:{pool}\"\n\
         [[set]]\nname = \"carriers\"\n[[set.member]]\nuri = \"sip:{carrier}\"\n\
         [[route]]\nname = \"outbound\"\nsource_set = \"pool\"\nset = \"carriers\"\n\
         [[route]]\nname = \"inbound\"\nsource_networks = [\"0.0.0.0/0\"]\nset = \"pool\"\n",
        pool = member_addr(0),
        carrier = member_addr(1),
    );
    Bed::from_config(&text, vec![Answer::Ok, Answer::Ok])
}

#[test]
fn the_outbound_set_cannot_be_reached_from_outside() {
    let mut bed = pool_and_carriers();
    let carrier = member_addr(1);
    // The reviewer's two relay attempts: a pre-loaded Route to the carrier, a made-up To tag.
    let route = format!("Route: <sip:{carrier};lr>\r\n");
    bed.call_with("r1", invite_with("r1", &route));
    let ruri = format!("sip:1000@{carrier}");
    bed.call_with("r2", tagged("INVITE", "r2", "made-up", &ruri, ""));
    let ruri = format!("sip:1000@{}:5060;transport=tcp", carrier.ip());
    bed.send(tagged(
        "BYE",
        "r3",
        "made-up",
        &ruri,
        "Route: <sip:127.0.0.1;lr>\r\n",
    ));
    bed.run_ms(20);
    assert_eq!(bed.caller().codes("r1", "INVITE"), vec![100, 403]);
    assert_eq!(bed.caller().codes("r2", "INVITE"), vec![100, 481]);
    assert_eq!(bed.caller().codes("r3", "BYE"), vec![481]);
    assert_eq!(
        bed.member(1).count("INVITE") + bed.member(1).count("BYE"),
        0
    );
    let c = bed.proxy().counters();
    assert_eq!((c.route_refused, c.dialog_refused), (1, 2));
    // The legitimate paths: from outside to the pool, from the pool to the carriers.
    bed.call("in");
    let out = String::from_utf8(invite("out")).unwrap().replace(
        "127.0.0.10:5060;branch",
        &format!("{};branch", member_addr(0)),
    );
    send_from(&mut bed, member_addr(0), out.into_bytes());
    bed.run_ms(20);
    assert_eq!(bed.caller().finals("in"), vec![200]);
    assert_eq!(bed.taker("in"), Some(0));
    assert_eq!(bed.member(1).invites, vec!["out".to_string()]);
}

#[test]
fn a_made_up_to_tag_is_481_whatever_the_uri_names() {
    let mut bed = Bed::new("round_robin", vec![Answer::Ok]);
    let uris = [
        format!("sip:x@{SINK}"),
        format!("sip:x@{SINK}:5070;transport=tcp"),
        format!("sips:x@{SINK}"),
    ];
    for (i, u) in uris.iter().enumerate() {
        let call = format!("tag{i}");
        bed.send(tagged("BYE", &call, "guess", u, ""));
        let route = format!("Route: <sip:127.0.0.1:5060;lr>, <sip:{SINK};lr>\r\n");
        bed.send(tagged("INFO", &call, "guess", u, &route));
        bed.run_ms(20);
        assert_eq!(bed.caller().codes(&call, "BYE"), vec![481], "{u}");
        assert_eq!(bed.caller().codes(&call, "INFO"), vec![481], "{u}");
    }
    // An ACK has no answer: dropped and counted.
    bed.send(tagged("ACK", "tag9", "guess", &uris[1], ""));
    bed.run_ms(20);
    assert_eq!(sink_hits(&bed), 0);
    let member = bed.member(0);
    assert_eq!(
        member.count("BYE") + member.count("INFO") + member.count("ACK"),
        0
    );
    let c = bed.proxy().counters();
    assert_eq!((c.dialog_refused, c.ack_unmatched), (6, 1));
}

#[test]
fn in_dialog_requests_go_to_the_other_party_not_where_the_uri_says() {
    let mut bed = Bed::new("round_robin", vec![Answer::Ok]);
    bed.call("dlg");
    bed.run_ms(20);
    let tag = format!("m{}", member_addr(0).ip());
    let ours = "Route: <sip:127.0.0.1:5060;lr>\r\n";
    // The caller's re-INVITE names the sink over TCP: it goes to the member.
    let ruri = format!("sip:fs@{SINK}:5070;transport=tcp");
    bed.send(tagged("INVITE", "dlg", &tag, &ruri, ours));
    bed.run_ms(20);
    assert_eq!(bed.member(0).count("INVITE"), 2);
    assert_eq!(bed.caller().codes("dlg", "INVITE").last(), Some(&200));
    // The right Call-ID with a wrong tag is no party of the call.
    bed.send(tagged("BYE", "dlg", "not-the-member", &ruri, ours));
    bed.run_ms(20);
    assert_eq!(bed.caller().codes("dlg", "BYE"), vec![481]);
    // The member's BYE names the sink: it goes to the caller, where the call came from.
    let bye = format!(
        "BYE sip:caller@{SINK}:5090;transport=tcp SIP/2.0\r\n\
         Via: SIP/2.0/UDP {m};branch=z9hG4bK-mbye\r\n{ours}Max-Forwards: 70\r\n\
         From: <sip:1000@127.0.0.1>;tag={tag}\r\nTo: <sip:caller@127.0.0.10>;tag=ctag-dlg\r\n\
         Call-ID: dlg\r\nCSeq: 10 BYE\r\nContent-Length: 0\r\n\r\n",
        m = member_addr(0)
    );
    send_from(&mut bed, member_addr(0), bye.into_bytes());
    bed.run_ms(20);
    assert!(bed.caller().requests.iter().any(|r| r.starts_with("BYE ")));
    assert_eq!(sink_hits(&bed), 0);
    assert_eq!(bed.proxy().counters().dialog_refused, 1);
}

/// The forwarded `method` request member `i` got first, parsed back into a response
/// `code` it could send, with `extra` fields.
fn answer_to(bed: &Bed, i: usize, method: &str, code: u16, extra: &[(&str, &str)]) -> Vec<u8> {
    let req = bed.member(i).first(method);
    let req = sip::parse(req.as_bytes()).unwrap();
    sip::response_with(&req, code, "Forged", Some("forged"), extra)
}

#[test]
fn a_response_from_elsewhere_than_the_request_went_is_dropped() {
    let mut bed = Bed::new("round_robin", vec![Answer::Silent]);
    bed.call("f1");
    bed.run_ms(10);
    let busy = answer_to(&bed, 0, "INVITE", 503, &[("Retry-After", "3600")]);
    let ok = answer_to(&bed, 0, "INVITE", 200, &[]);
    // Another host, the member's host on another port, the member's address over TCP.
    send_from(&mut bed, addr("127.0.0.66:5060"), busy.clone());
    send_from(&mut bed, addr("127.0.0.20:5999"), ok.clone());
    let now = bed.sim.now();
    bed.proxy_mut()
        .handle_message(now, Transport::Tcp, addr(PROXY), member_addr(0), &busy);
    bed.run_ms(10);
    assert_eq!(bed.state(0), MemberState::Active);
    assert_eq!(bed.caller().codes("f1", "INVITE"), vec![100]);
    assert_eq!(bed.proxy().counters().responses_wrong_source, 3);
    // From the member itself the same 503 counts.
    send_from(&mut bed, member_addr(0), busy);
    bed.run_ms(10);
    assert_eq!(bed.state(0), MemberState::Busy);
    assert_eq!(bed.caller().finals("f1"), vec![500]);
}

#[test]
fn a_probe_answer_from_elsewhere_is_dropped() {
    let mut bed = Bed::new("round_robin", vec![Answer::Ok]);
    bed.member_mut(0).options = None;
    bed.run_ms(500);
    assert_eq!(bed.member(0).distinct("OPTIONS"), 1, "one probe went out");
    let busy = answer_to(&bed, 0, "OPTIONS", 503, &[("Retry-After", "3600")]);
    send_from(&mut bed, addr("127.0.0.66:5060"), busy.clone());
    bed.run_ms(10);
    assert_eq!(bed.state(0), MemberState::Active);
    assert_eq!(bed.proxy().counters().responses_wrong_source, 1);
    send_from(&mut bed, member_addr(0), busy);
    bed.run_ms(10);
    assert_eq!(bed.state(0), MemberState::Busy);
}

#[test]
fn unknown_responses_and_guessed_branches_are_dropped_not_relayed_by_their_vias() {
    let mut bed = Bed::new("round_robin", vec![Answer::Silent]);
    bed.call("g1");
    bed.run_ms(10);
    let stray = |branch: &str, code: u16, method: &str| {
        format!(
            "SIP/2.0 {code} OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch={branch}\r\n\
             Via: SIP/2.0/UDP {SINK}:5060;branch=z9hG4bKsink\r\n\
             From: <sip:a@{SINK}>;tag=a\r\nTo: <sip:b@127.0.0.1>;tag=b\r\n\
             Call-ID: g1\r\nCSeq: 1 {method}\r\nContent-Length: 0\r\n\r\n"
        )
        .into_bytes()
    };
    // An unknown 2xx to an INVITE with a branch of our form (stateless relaying of old).
    send_from(
        &mut bed,
        member_addr(0),
        stray("z9hG4bKfvx0000000000000000000001", 200, "INVITE"),
    );
    // Guessed branches from the member's own address.
    for i in 0..100u64 {
        let branch = format!("z9hG4bKfvx{:08x}{:016x}", i, i.wrapping_mul(0x9e37_79b9));
        send_from(&mut bed, member_addr(0), stray(&branch, 503, "INVITE"));
    }
    bed.run_ms(10);
    assert_eq!(sink_hits(&bed), 0);
    assert_eq!(bed.caller().codes("g1", "INVITE"), vec![100]);
    assert_eq!(bed.state(0), MemberState::Active);
    assert_eq!(bed.proxy().counters().stray_responses, 101);
}

#[test]
fn tags_and_branches_come_from_the_generator() {
    // The same seed repeats a run; another seed gives other identifiers.
    let run = |seed: u64| {
        let cfg = config::parse(&config_text("", &["uri = \"sip:127.0.0.20:5060\""])).unwrap();
        let now = Instant::now();
        let rng = Box::new(crate::deterministic_rng(seed));
        let mut p = Proxy::new(
            ProxyConfig::from_config(&cfg),
            &cfg.sets,
            &cfg.routes,
            now,
            rng,
        );
        p.handle_message(
            now,
            Transport::Udp,
            addr(PROXY),
            addr(CALLER),
            &invite("id1"),
        );
        let options = "OPTIONS sip:127.0.0.1:5060 SIP/2.0\r\n\
                       Via: SIP/2.0/UDP 127.0.0.10:5060;branch=z9hG4bK-o1\r\nMax-Forwards: 70\r\n\
                       From: <sip:a@127.0.0.10>;tag=a\r\nTo: <sip:127.0.0.1>\r\n\
                       Call-ID: o1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
        p.handle_message(
            now,
            Transport::Udp,
            addr(PROXY),
            addr(CALLER),
            options.as_bytes(),
        );
        let mut ids = Vec::new();
        while let Some(t) = p.poll_transmit() {
            let text = String::from_utf8(t.bytes).unwrap();
            let branch = text
                .split("branch=z9hG4bKfvx")
                .nth(1)
                .map(|b| b[8..24].to_string());
            let tag = text.split(";tag=").nth(2).map(|t| t[..16].to_string());
            ids.extend(branch.into_iter().chain(tag));
        }
        ids
    };
    let a = run(1);
    assert_eq!(
        a.len(),
        2,
        "the branch to the member, the tag of the 200 to OPTIONS: {a:?}"
    );
    assert_eq!(a, run(1));
    let b = run(2);
    assert!(a.iter().all(|x| !b.contains(x)), "{a:?} {b:?}");
}

#[test]
fn at_the_server_transaction_cap_a_new_request_gets_a_stateless_503() {
    let text = with_sip(
        &config_text("", &["uri = \"sip:127.0.0.20:5060\""]),
        "max_server_transactions = 2\noverload_retry_after_secs = 7",
    );
    let mut bed = Bed::from_config(&text, vec![Answer::Ok]);
    for call in ["c1", "c2", "c3"] {
        bed.call(call);
        bed.run_ms(10);
    }
    assert_eq!(bed.caller().finals("c1"), vec![200]);
    assert_eq!(bed.caller().finals("c2"), vec![200]);
    assert_eq!(bed.caller().codes("c3", "INVITE"), vec![503]);
    let refusal = bed.caller().response("c3", 503).unwrap();
    assert!(refusal.contains("Retry-After: 7\r\n"), "{refusal}");
    // Nothing was kept for it; its retransmission is refused again, its ACK dropped.
    assert_eq!(bed.proxy().sizes().0, 2);
    bed.call("c3");
    bed.run_ms(10);
    assert_eq!(bed.caller().codes("c3", "INVITE"), vec![503, 503]);
    assert_eq!(bed.proxy().counters().over_capacity.server_transactions, 2);
    // The held ones keep working: a retransmitted INVITE is absorbed.
    bed.send(invite("c1"));
    bed.run_ms(10);
    assert_eq!(bed.proxy().counters().retransmissions_absorbed, 1);
    // Once the transactions are over (64*T1), calls go through again.
    bed.run_ms(40_000);
    bed.call("c4");
    bed.run_ms(10);
    assert_eq!(bed.caller().finals("c4"), vec![200]);
}

#[test]
fn at_the_dialog_and_context_caps_a_new_call_gets_503_and_held_calls_go_on() {
    let text = with_sip(
        &config_text("", &["uri = \"sip:127.0.0.20:5060\""]),
        "max_dialogs = 1",
    );
    let mut bed = Bed::from_config(&text, vec![Answer::Ok]);
    bed.call("d1");
    bed.call("d2");
    bed.run_ms(10);
    assert_eq!(bed.caller().finals("d1"), vec![200]);
    assert_eq!(bed.caller().codes("d2", "INVITE"), vec![100, 503]);
    assert!(bed
        .caller()
        .response("d2", 503)
        .unwrap()
        .contains("Retry-After: 5\r\n"));
    assert_eq!(bed.proxy().counters().over_capacity.dialogs, 1);
    // The held call ends normally; its dialog lingers 64*T1, then a new call fits.
    let tag = format!("m{}", member_addr(0).ip());
    bed.send(in_dialog("BYE", "d1", 2, &tag, member_addr(0)));
    bed.run_ms(10);
    assert_eq!(bed.caller().codes("d1", "BYE"), vec![200]);
    bed.run_ms(40_000);
    bed.call("d3");
    bed.run_ms(10);
    assert_eq!(bed.caller().finals("d3"), vec![200]);

    let text = with_sip(
        &config_text("", &["uri = \"sip:127.0.0.20:5060\""]),
        "max_contexts = 1",
    );
    let mut bed = Bed::from_config(&text, vec![Answer::Ring]);
    bed.call("x1");
    bed.call("x2");
    bed.run_ms(10);
    assert_eq!(bed.caller().codes("x1", "INVITE"), vec![100, 180]);
    assert_eq!(bed.caller().codes("x2", "INVITE"), vec![100, 503]);
    assert_eq!(bed.proxy().counters().over_capacity.contexts, 1);
    assert_eq!(bed.member(0).distinct("INVITE"), 1);
}

#[test]
fn at_the_client_transaction_cap_a_branch_is_not_sent_and_the_caller_gets_503() {
    let members = ["uri = \"sip:127.0.0.20:5060\""];
    let set = "[set.health]\ninterval_secs = 3600";
    let text = with_sip(&config_text(set, &members), "max_client_transactions = 1");
    let mut bed = Bed::from_config(&text, vec![Answer::Ring]);
    // The first probe goes at once and is over after Timer K; the next is an hour away.
    bed.run_ms(6000);
    assert_eq!(bed.member(0).distinct("OPTIONS"), 1);
    assert_eq!(bed.proxy().sizes().1, 0, "no probe in flight");
    bed.call("k1");
    bed.call("k2");
    bed.run_ms(10);
    assert_eq!(bed.caller().codes("k1", "INVITE"), vec![100, 180]);
    assert_eq!(bed.caller().codes("k2", "INVITE"), vec![100, 503]);
    assert_eq!(bed.proxy().counters().over_capacity.client_transactions, 1);
    assert_eq!(bed.member(0).distinct("INVITE"), 1);
}

/// A REGISTER of Contact `contact` from `from` into the set `pool`.
fn register(from: SocketAddr, contact: &str, expires: u32, n: u32) -> Vec<u8> {
    format!(
        "REGISTER sip:127.0.0.1:5060 SIP/2.0\r\n\
         Via: SIP/2.0/UDP {from};branch=z9hG4bK-reg{n}\r\nMax-Forwards: 70\r\n\
         From: <sip:pool@127.0.0.1>;tag=r{n}\r\nTo: <sip:pool@127.0.0.1>\r\n\
         Call-ID: reg{n}\r\nCSeq: {n} REGISTER\r\n\
         Contact: <sip:fs@{contact}>;expires={expires}\r\nContent-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

#[test]
fn registrations_are_capped_and_their_contact_must_be_in_register_networks() {
    let set = "register = true\nregister_networks = [\"127.0.0.0/24\"]";
    let text = with_sip(
        &config_text(set, &["uri = \"sip:127.0.0.20:5060\""]),
        "max_registrations = 1",
    );
    let mut bed = Bed::from_config(&text, vec![Answer::Ok]);
    let (a, b) = (addr("127.0.0.30:5060"), addr("127.0.0.31:5060"));
    let codes = |bed: &Bed, n: u32| bed.caller().codes(&format!("reg{n}"), "REGISTER");
    // The caller's node takes every answer: the REGISTERs are sent from its address.
    let caller = addr(CALLER);
    let mut n = 0;
    let mut reg = |bed: &mut Bed, contact: SocketAddr, expires: u32| {
        n += 1;
        send_from(
            bed,
            caller,
            register(caller, &contact.to_string(), expires, n),
        );
        bed.run_ms(10);
        n
    };
    let first = reg(&mut bed, a, 600);
    let refresh = reg(&mut bed, a, 600);
    let second = reg(&mut bed, b, 600);
    assert_eq!(codes(&bed, first), vec![200]);
    assert_eq!(codes(&bed, refresh), vec![200]);
    assert_eq!(codes(&bed, second), vec![503]);
    let gone = reg(&mut bed, a, 0);
    let again = reg(&mut bed, b, 600);
    assert_eq!(codes(&bed, gone), vec![200]);
    assert_eq!(codes(&bed, again), vec![200]);
    // A Contact outside register_networks would send calls anywhere.
    let outside = reg(&mut bed, addr("192.0.2.9:5060"), 600);
    assert_eq!(codes(&bed, outside), vec![403]);
    let c = bed.proxy().counters();
    assert_eq!((c.over_capacity.registrations, c.register_refused), (1, 1));
}
