//! The ng engine end to end with a real worker: offers, answers, relayed media, deletes,
//! repeats, exhaustion, timeouts and bad requests.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use media::engine::EndReason;
use media::EngineEvent;
use ng::bencode::OwnedValue;
use ng::{Command, RequestBuilder};
use std::time::Duration;
use wire::Endpoint;

const A: Endpoint = Endpoint::new_v4([192, 0, 2, 10], 5000);
const B: Endpoint = Endpoint::new_v4([198, 51, 100, 20], 6000);

/// Offers and answers a call; returns the relay endpoints announced to B and to A.
fn call(sim: &mut Sim, id: &str) -> (Endpoint, Endpoint) {
    let r = sim.ng(
        &format!("{id}-o"),
        &offer(id, &sdp("192.0.2.10", 5000))
            .raw_flag("replace-origin")
            .direction("external", "internal"),
    );
    assert_eq!(str_of(&r, "result"), "ok", "{r:?}");
    let to_b = str_of(&r, "sdp").to_string();
    assert!(
        !to_b.contains("a=candidate"),
        "ICE candidates are removed: {to_b}"
    );
    assert!(
        to_b.contains("o=alice 2890844526 2890844526 IN IP4 10.0.0.2\r\n"),
        "origin replaced: {to_b}"
    );
    let r = sim.ng(&format!("{id}-a"), &answer(id, &sdp("198.51.100.20", 6000)));
    assert_eq!(str_of(&r, "result"), "ok", "{r:?}");
    (media_of(&to_b), media_of(str_of(&r, "sdp")))
}

#[test]
fn offer_answer_media_both_ways_and_delete_with_stats() {
    let mut sim = Sim::new(config(Duration::ZERO));
    let (to_b, to_a) = call(&mut sim, "c1");
    assert_eq!(
        to_b.v4(),
        Some(INT),
        "B's side is on the internal interface"
    );
    assert_eq!(
        to_a.v4(),
        Some(EXT),
        "A's side is on the external interface"
    );
    assert_eq!(
        sim.media(A, to_a, &rtp(1)),
        vec![(to_b, B)],
        "A -> B from the port announced to B"
    );
    assert_eq!(
        sim.media(B, to_b, &rtp(1)),
        vec![(to_a, A)],
        "B -> A from the port announced to A"
    );
    sim.media(A, to_a, &rtp(2));
    let r = sim.ng("c1-d", &delete("c1"));
    assert_eq!(str_of(&r, "result"), "ok");
    let rtp_totals = r.get("totals").and_then(|t| t.get("RTP")).unwrap();
    assert_eq!(
        rtp_totals.get("packets").and_then(OwnedValue::as_int),
        Some(3)
    );
    assert_eq!(sim.engine.calls(), 0);
    assert_eq!(
        sim.engine.pairs_in_use(),
        0,
        "ports freed at once with no delete-delay"
    );
    assert!(
        sim.media(A, to_a, &rtp(3)).is_empty(),
        "no relaying after delete"
    );
    let r = sim.ng("c1-q", &RequestBuilder::new(Command::Query).call_id("c1"));
    assert_eq!(str_of(&r, "result"), "error");
}

#[test]
fn a_repeated_cookie_is_answered_from_the_cache_and_allocates_nothing() {
    let mut sim = Sim::new(config(Duration::ZERO));
    let req = offer("c2", &sdp("192.0.2.10", 5000));
    let first = sim.raw(&req.to_datagram(b"same"));
    let pairs = sim.engine.pairs_in_use();
    let again = sim.raw(&req.to_datagram(b"same"));
    assert_eq!(first, again, "byte-identical reply");
    assert_eq!(sim.engine.pairs_in_use(), pairs, "nothing allocated twice");
    assert_eq!(sim.engine.counters().cookie_hits, 1);
    // A re-offer with a new cookie (re-INVITE) keeps the same relay ports.
    let r = sim.ng("new", &req);
    assert_eq!(media_of(str_of(&r, "sdp")).port, {
        let (_, b) = ng::split_cookie(&first[0]).unwrap();
        let v = ng::bencode::decode(b).unwrap().to_owned();
        media_of(str_of(&v, "sdp")).port
    });
    assert_eq!(sim.engine.pairs_in_use(), pairs);
}

#[test]
fn port_exhaustion_is_an_explicit_error_and_ports_return_after_delete_delay() {
    let mut sim = Sim::new(config(Duration::from_secs(2)));
    // Without direction both legs use "external": 5 pairs there hold 2 calls.
    for id in ["x1", "x2"] {
        let r = sim.ng(id, &offer(id, &sdp("192.0.2.10", 5000)));
        assert_eq!(str_of(&r, "result"), "ok");
    }
    let r = sim.ng("x3", &offer("x3", &sdp("192.0.2.10", 5000)));
    assert_eq!(str_of(&r, "result"), "error");
    assert!(
        str_of(&r, "error-reason").contains("Ran out of ports"),
        "{r:?}"
    );
    assert_eq!(sim.engine.counters().port_exhausted, 1);
    assert_eq!(str_of(&sim.ng("x1-d", &delete("x1")), "result"), "ok");
    let r = sim.ng("x3b", &offer("x3", &sdp("192.0.2.10", 5000)));
    assert_eq!(
        str_of(&r, "result"),
        "error",
        "ports stay busy during the delete-delay"
    );
    sim.advance(Duration::from_millis(2_500));
    let r = sim.ng("x3c", &offer("x3", &sdp("192.0.2.10", 5000)));
    assert_eq!(
        str_of(&r, "result"),
        "ok",
        "ports come back after the delete-delay: {r:?}"
    );
}

#[test]
fn media_keeps_flowing_during_the_delete_delay() {
    let mut sim = Sim::new(config(Duration::from_secs(30)));
    let (_, to_a) = call(&mut sim, "dd");
    sim.ng("dd-d", &delete("dd"));
    sim.advance(Duration::from_secs(10));
    assert_eq!(sim.media(A, to_a, &rtp(1)).len(), 1);
    sim.advance(Duration::from_secs(21));
    assert!(sim.media(A, to_a, &rtp(2)).is_empty());
    assert_eq!(sim.engine.pairs_in_use(), 0);
}

fn ended(sim: &Sim) -> Vec<EndReason> {
    sim.log
        .iter()
        .filter_map(|e| match e {
            EngineEvent::CallEnded { reason, .. } => Some(*reason),
            _ => None,
        })
        .collect()
}

#[test]
fn timeouts_end_calls_with_their_reason() {
    // Offer without answer.
    let mut sim = Sim::new(config(Duration::ZERO));
    sim.ng("o", &offer("t1", &sdp("192.0.2.10", 5000)));
    sim.advance(Duration::from_secs(59));
    assert!(ended(&sim).is_empty());
    sim.advance(Duration::from_secs(2));
    assert_eq!(ended(&sim), vec![EndReason::OfferTimeout]);
    assert_eq!(sim.engine.pairs_in_use(), 0);

    // No RTP on an answered call.
    let mut sim = Sim::new(config(Duration::ZERO));
    let (_, to_a) = call(&mut sim, "t2");
    sim.media(A, to_a, &rtp(1));
    sim.advance(Duration::from_secs(59));
    assert!(ended(&sim).is_empty());
    sim.advance(Duration::from_secs(3));
    assert_eq!(ended(&sim), vec![EndReason::NoRtp]);
    assert_eq!(sim.engine.calls(), 0);

    // On hold: the hold timeout applies.
    let mut sim = Sim::new(config(Duration::ZERO));
    call(&mut sim, "t3");
    let hold = sdp("192.0.2.10", 5000).replace("a=sendrecv", "a=sendonly");
    sim.ng("t3-h", &offer("t3", &hold));
    sim.ng(
        "t3-ha",
        &answer(
            "t3",
            &sdp("198.51.100.20", 6000).replace("a=sendrecv", "a=recvonly"),
        ),
    );
    sim.advance(Duration::from_secs(120));
    assert!(
        ended(&sim).is_empty(),
        "a held call outlives the media timeout"
    );
    sim.advance(Duration::from_secs(3_500));
    assert_eq!(ended(&sim), vec![EndReason::OnHold]);

    // The final cap.
    let mut sim = Sim::new(config(Duration::ZERO));
    let (_, to_a) = call(&mut sim, "t4");
    for i in 0..150u16 {
        sim.media(A, to_a, &rtp(i));
        sim.advance(Duration::from_secs(50));
    }
    assert_eq!(ended(&sim), vec![EndReason::FinalTimeout]);
}

#[test]
fn bad_requests_get_an_error_reason_and_change_nothing() {
    let mut sim = Sim::new(config(Duration::ZERO));
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("bencode", b"k1 d7:command5:offe".to_vec()),
        ("not a dict", b"k2 i42e".to_vec()),
        ("unknown command", b"k3 d7:command10:frobnicatee".to_vec()),
        (
            "no sdp",
            RequestBuilder::new(Command::Offer)
                .call_id("b")
                .from_tag("f")
                .to_datagram(b"k4"),
        ),
        (
            "bad sdp",
            offer("b", "v=0\r\nm=audio nope RTP/AVP 0\r\n").to_datagram(b"k5"),
        ),
        (
            "hostname sdp",
            offer(
                "b",
                &sdp("192.0.2.10", 5000).replace("c=IN IP4 192.0.2.10", "c=IN IP4 host.example"),
            )
            .to_datagram(b"k6"),
        ),
        (
            "unknown call",
            answer("nosuch", &sdp("198.51.100.20", 6000)).to_datagram(b"k7"),
        ),
        (
            "ice force",
            offer("b", &sdp("192.0.2.10", 5000))
                .raw_flag("ICE=force")
                .to_datagram(b"k8"),
        ),
        (
            "unknown interface",
            offer("b", &sdp("192.0.2.10", 5000))
                .direction("nope", "internal")
                .to_datagram(b"k9"),
        ),
        ("delete unknown", delete("nosuch").to_datagram(b"k10")),
    ];
    for (what, d) in cases {
        let replies = sim.raw(&d);
        assert_eq!(replies.len(), 1, "{what}: one reply");
        let (_, body) = ng::split_cookie(&replies[0]).unwrap();
        let v = ng::bencode::decode(body).unwrap().to_owned();
        assert_eq!(str_of(&v, "result"), "error", "{what}");
        assert!(!str_of(&v, "error-reason").is_empty(), "{what}");
    }
    assert_eq!(sim.engine.calls(), 0);
    assert_eq!(sim.engine.pairs_in_use(), 0);
    assert!(
        sim.raw(b"no-cookie-here").is_empty(),
        "nothing to answer without a cookie"
    );
    assert!(sim.raw(&[0xff; 3]).is_empty());
    let r = sim.ng("p", &RequestBuilder::new(Command::Ping));
    assert_eq!(str_of(&r, "result"), "pong");
}

#[test]
fn list_and_statistics_report_what_is_there() {
    let mut sim = Sim::new(config(Duration::ZERO));
    call(&mut sim, "s1");
    let r = sim.ng("l", &RequestBuilder::new(Command::List));
    assert_eq!(
        r.get("calls")
            .and_then(OwnedValue::as_list)
            .map(<[OwnedValue]>::len),
        Some(1)
    );
    let r = sim.ng("s", &RequestBuilder::new(Command::Statistics));
    let cur = r.get("currentstatistics").unwrap();
    assert_eq!(cur.get("sessionsown").and_then(OwnedValue::as_int), Some(1));
}

#[test]
fn ipv6_offer_answer_and_media() {
    let mut sim = Sim::new(config(Duration::ZERO));
    let v6 = |ip: &str, port: u16| {
        format!("v=0\r\no=- 1 1 IN IP6 {ip}\r\ns=-\r\nc=IN IP6 {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP 0\r\n")
    };
    let r = sim.ng("v6o", &offer("v6", &v6("2001:db8::a", 5000)));
    assert_eq!(str_of(&r, "result"), "ok", "{r:?}");
    let to_b_sdp = str_of(&r, "sdp").to_string();
    assert!(to_b_sdp.contains("c=IN IP6 fd00::1\r\n"), "{to_b_sdp}");
    let r = sim.ng("v6a", &answer("v6", &v6("2001:db8::b", 6000)));
    let to_a = media_of(str_of(&r, "sdp"));
    let to_b = media_of(&to_b_sdp);
    let a = Endpoint::from_socket_addr("[2001:db8::a]:5000".parse().unwrap());
    let b = Endpoint::from_socket_addr("[2001:db8::b]:6000".parse().unwrap());
    assert_eq!(sim.media(a, to_a, &rtp(1)), vec![(to_b, b)]);
    assert_eq!(sim.media(b, to_b, &rtp(1)), vec![(to_a, a)]);
    // An IPv4 offer toward an IPv6 answerer (address-family) gets an IPv6 SDP.
    let r = sim.ng(
        "mixo",
        &offer("mix", &sdp("192.0.2.10", 5000)).raw_flag("address-family=IP6"),
    );
    assert!(str_of(&r, "sdp").contains("c=IN IP6 fd00::1\r\n"), "{r:?}");
}

#[test]
fn queue_depth_counts_commands_not_taken_by_the_worker() {
    let mut sim = Sim::new(config(Duration::ZERO));
    assert_eq!(sim.engine.queue_depths(), vec![0]);
    let req = offer("qd", &sdp("192.0.2.10", 5000)).direction("external", "internal");
    let proxy: std::net::SocketAddr = common::PROXY.parse().unwrap();
    sim.engine
        .handle_datagram(std::time::Instant::now(), proxy, &req.to_datagram(b"qd-o"));
    // The offer's commands wait in the engine for the driver to hand them over.
    let queued = sim.engine.queue_depths()[0];
    assert!(queued > 0);
    // Handed over (on the ring), not taken yet: still waiting.
    let (w, cmd) = sim.engine.poll_command().unwrap();
    assert_eq!(sim.engine.queue_depths()[0], queued);
    // A full ring gives it back: still waiting, counted once.
    sim.engine.requeue_command(w, cmd);
    assert_eq!(sim.engine.queue_depths()[0], queued);
}
