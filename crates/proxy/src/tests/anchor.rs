//! Media anchoring in the SIP path (crate docs of `anchor`): the proxy runs each SDP offer and
//! answer of calls routed to an anchored set through a real media engine (no workers: the
//! flows it would install are not run here; the daemon's e2e test `anchored_call` relays
//! real RTP).

use super::*;
use crate::MediaAnchor;
use media::{AnchorError, Engine, EngineConfig, Interface, SdpExchange, VirtualBinder};
use std::sync::{Arc, Mutex};

/// The relay interfaces: external (callers) on 10.0.0.1, internal (members) on 10.0.0.2.
const EXTERNAL: &str = "10.0.0.1";
const INTERNAL: &str = "10.0.0.2";

/// The engine, shared between the proxy and the test (which inspects it).
#[derive(Debug, Clone)]
pub(super) struct Shared(Arc<Mutex<Engine>>);

impl MediaAnchor for Shared {
    fn offer(&mut self, now: Instant, x: &SdpExchange<'_>) -> Result<Vec<u8>, AnchorError> {
        self.0.lock().unwrap().anchor_offer(now, x)
    }
    fn answer(&mut self, now: Instant, x: &SdpExchange<'_>) -> Result<Vec<u8>, AnchorError> {
        self.0.lock().unwrap().anchor_answer(now, x)
    }
    fn delete(&mut self, now: Instant, call_id: &[u8]) -> bool {
        self.0.lock().unwrap().anchor_delete(now, call_id)
    }
    fn poll_ended(&mut self) -> Option<(Vec<u8>, media::EndReason)> {
        self.0.lock().unwrap().poll_anchored_end()
    }
    fn poll_silent(&mut self) -> Option<(Vec<u8>, Vec<Vec<u8>>)> {
        self.0.lock().unwrap().poll_anchored_silent()
    }
}

/// An engine with `pairs` port pairs on each interface.
fn engine(pairs: u16) -> Shared {
    engine_on(&[("external", EXTERNAL), ("internal", INTERNAL)], pairs)
}

/// An engine over relay addresses `ifaces` (name, address), `pairs` port pairs on each.
fn engine_on(ifaces: &[(&str, &str)], pairs: u16) -> Shared {
    engine_checking(ifaces, pairs, None)
}

/// As [`engine_on`], checking answered calls for RTP after `rtp_check`.
fn engine_checking(ifaces: &[(&str, &str)], pairs: u16, rtp_check: Option<Duration>) -> Shared {
    let iface = |(name, ip): &(&str, &str)| Interface {
        name: (*name).into(),
        address: ip.parse().unwrap(),
        advertised: None,
    };
    let cfg = EngineConfig {
        interfaces: ifaces.iter().map(iface).collect(),
        latching: dataplane::LatchMode::Heuristic,
        strict_source: false,
        offer_timeout: Duration::from_secs(60),
        final_timeout: None,
        delete_delay: Duration::ZERO,
        rtp_check,
        max_sessions: 0,
        cookie_ttl: Duration::from_secs(30),
        guard: media::GuardConfig::loopback(),
        fastpath: false,
        epoch: Instant::now(),
    };
    let range = |min: u16| dataplane::AddrRange {
        port_min: min,
        port_max: min + 2 * pairs - 1,
    };
    let ranges = (0..ifaces.len())
        .map(|i| range(30000 + 1000 * i as u16))
        .collect();
    let layout = Arc::new(dataplane::PortLayout::new(ranges, 1).unwrap());
    Shared(Arc::new(Mutex::new(Engine::new(
        cfg,
        layout,
        Box::new(VirtualBinder),
        Vec::new(),
    ))))
}

/// Two members answering as given (their 200s carry SDP), round robin, anchored on
/// external/internal, and the engine.
pub(super) fn bed(answers: Vec<Answer>, pairs: u16) -> (Bed, Shared) {
    bed_with(answers, "", engine(pairs))
}

/// Members answering as given (with SDP), anchored on external/internal through `engine`;
/// `health` is added to `[set.health]`.
fn bed_with(answers: Vec<Answer>, health: &str, engine: Shared) -> (Bed, Shared) {
    let text = format!(
        "[[interface]]\nname = \"external\"\naddress = \"127.0.0.1\"\nport_min = 30000\nport_max = 30999\n\
         [[interface]]\nname = \"internal\"\naddress = \"127.0.0.1\"\nport_min = 31000\nport_max = 31999\n\
         [sip]\nlisten = [\"127.0.0.1:5060\"]\ntransports = [\"udp\"]\nfr_timeout_ms = 2000\n\
         [[set]]\nname = \"pool\"\n[set.media]\ncaller_interface = \"external\"\nmember_interface = \"internal\"\n\
         [set.health]\ninterval_secs = 3600\n{health}\n{}",
        (0..answers.len())
            .map(|i| format!("[[set.member]]\nuri = \"sip:{}\"\n", member_addr(i)))
            .collect::<String>()
    );
    let mut bed = Bed::from_config(&text, answers);
    for i in 0..bed.members {
        bed.member_mut(i).sdp = Some(member_sdp(i));
    }
    bed.proxy_mut().set_media_anchor(Box::new(engine.clone()));
    (bed, engine)
}

/// The SDP member `i` answers with.
fn member_sdp(i: usize) -> String {
    let ip = member_addr(i).ip();
    format!("v=0\r\no=fs 7 7 IN IP4 {ip}\r\ns=fs\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio 50000 RTP/AVP 0\r\na=ptime:20\r\n")
}

/// The connection address and audio port an SDP body in `text` names.
pub(super) fn media_of(text: &str) -> (String, u16) {
    let c = text
        .lines()
        .find_map(|l| l.strip_prefix("c=IN IP4 "))
        .unwrap_or_default()
        .to_string();
    let port = text
        .lines()
        .find_map(|l| l.strip_prefix("m=audio "))
        .and_then(|l| l.split(' ').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    (c, port)
}

impl Shared {
    /// The engine, locked (a test that sets state up in it).
    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, Engine> {
        self.0.lock().unwrap()
    }
}

pub(super) fn calls(e: &Shared) -> usize {
    e.0.lock().unwrap().calls()
}

#[test]
fn an_anchored_call_gets_relay_addresses_both_ways_and_bye_releases_it() {
    let (mut bed, engine) = bed(vec![Answer::Ok], 10);
    bed.call("a1");
    bed.run_ms(100);
    let inv = bed.member(0).first("INVITE");
    let (ip, port) = media_of(&inv);
    assert_eq!(
        ip, INTERNAL,
        "the member is offered the inside relay address:\n{inv}"
    );
    assert!((31000..31020).contains(&port), "{port}");
    // Every SDP line the relay does not own stays as the caller wrote it.
    assert!(inv.contains("m=audio") && inv.contains("RTP/AVP 0") && inv.contains("s=-"));
    let ok = bed.caller().response("a1", 200).unwrap().to_string();
    let (ip, port) = media_of(&ok);
    assert_eq!(
        ip, EXTERNAL,
        "the caller is answered with the outside address:\n{ok}"
    );
    assert!((30000..30020).contains(&port), "{port}");
    assert!(ok.contains("a=ptime:20") && ok.contains("s=fs"), "{ok}");
    assert_eq!(calls(&engine), 1);
    let c = bed.proxy().counters().media;
    assert_eq!((c.offers, c.answers), (1, 1));
    bed.send(in_dialog("BYE", "a1", 2, "m127.0.0.20", member_addr(0)));
    bed.run_ms(100);
    assert_eq!(bed.member(0).count("BYE"), 1);
    assert_eq!(calls(&engine), 0, "BYE released the media session");
    assert_eq!(bed.proxy().counters().media.released, 1);
}

#[test]
fn failover_offers_the_second_member_the_same_relay_address() {
    let (mut bed, engine) = bed(vec![Answer::Reject(503, None), Answer::Ok], 10);
    // Round robin may start at either member: place calls until one hits member 0 first.
    let mut n = 0;
    while bed.member(0).count("INVITE") == 0 {
        bed.call(&format!("f{n}"));
        bed.run_ms(100);
        n += 1;
    }
    let call = bed.member(0).invites[0].clone();
    let first = media_of(&bed.member(0).first("INVITE"));
    let second = bed
        .member(1)
        .got
        .iter()
        .find(|g| g.starts_with("INVITE ") && g.contains(&format!("Call-ID: {call}")))
        .map(|g| media_of(g))
        .expect("the call failed over to member 1");
    assert_eq!(
        first, second,
        "both members are offered the same relay address"
    );
    assert_eq!(bed.caller().finals(&call), vec![200]);
    assert_eq!(
        calls(&engine),
        n,
        "one session per call, none left by the failover"
    );
}

#[test]
fn a_call_that_fails_releases_its_session() {
    let (mut bed, engine) = bed(vec![Answer::Reject(486, None)], 10);
    bed.call("busy");
    bed.run_ms(100);
    assert_eq!(bed.caller().finals("busy"), vec![486]);
    assert_eq!(calls(&engine), 0);
}

#[test]
fn no_relay_port_left_answers_503_before_anything_is_forwarded() {
    let (mut bed, _engine) = bed(vec![Answer::Ring], 1);
    bed.call("p1");
    bed.run_ms(100);
    bed.call("p2");
    bed.run_ms(100);
    assert_eq!(
        bed.member(0).distinct("INVITE"),
        1,
        "the second call never left"
    );
    let resp = bed
        .caller()
        .response("p2", 503)
        .expect("503 for the second call");
    assert!(resp.contains("Retry-After:"), "{resp}");
    assert_eq!(bed.proxy().counters().media.refused_overload, 1);
}

#[test]
fn an_sdp_the_relay_cannot_read_is_refused_with_488_and_never_forwarded() {
    let (mut bed, engine) = bed(vec![Answer::Ok], 10);
    let inv = String::from_utf8(invite("bad")).unwrap();
    let broken = inv.replace("m=audio 40000 RTP/AVP 0", "m=audio forty RTP/AVP 0");
    bed.call_with("bad", broken.into_bytes());
    bed.run_ms(100);
    assert_eq!(bed.member(0).count("INVITE"), 0);
    let resp = bed.caller().response("bad", 488).expect("488");
    assert!(resp.contains("Warning: 305 ferrovox"), "{resp}");
    assert_eq!(calls(&engine), 0);
    // A body that is not application/sdp is not forwarded on an anchored call either.
    let other = String::from_utf8(invite("mp"))
        .unwrap()
        .replace("application/sdp", "multipart/mixed;boundary=x");
    bed.call_with("mp", other.into_bytes());
    bed.run_ms(100);
    assert_eq!(bed.member(0).count("INVITE"), 0);
    assert!(bed.caller().response("mp", 488).is_some());
}

#[test]
fn a_reinvite_to_hold_reuses_the_relay_ports() {
    let (mut bed, engine) = bed(vec![Answer::Ok], 10);
    bed.call("h1");
    bed.run_ms(100);
    let before = media_of(&bed.member(0).first("INVITE"));
    let hold = "v=0\r\no=- 1 2 IN IP4 127.0.0.10\r\ns=-\r\nc=IN IP4 127.0.0.10\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\na=sendonly\r\n";
    let reinvite = in_dialog("INVITE", "h1", 2, "m127.0.0.20", member_addr(0));
    let reinvite = with_sdp(&reinvite, hold);
    bed.send(reinvite);
    bed.run_ms(100);
    let got: Vec<&String> = bed
        .member(0)
        .got
        .iter()
        .filter(|g| g.starts_with("INVITE "))
        .collect();
    assert_eq!(got.len(), 2, "the re-INVITE reached the member");
    assert_eq!(media_of(got[1]), before, "same relay address and port");
    assert!(
        got[1].contains("a=sendonly"),
        "the direction passes: {}",
        got[1]
    );
    assert_eq!(calls(&engine), 1);
}

#[test]
fn a_late_offer_in_the_2xx_is_answered_in_the_ack() {
    let (mut bed, engine) = bed(vec![Answer::Ok], 10);
    let inv = invite("late");
    let m = sip::parse(&inv).unwrap();
    let bare = sip::Editor::new(&m)
        .remove_headers("Content-Type")
        .set_body(b"")
        .unwrap()
        .finish()
        .unwrap();
    bed.call_with("late", bare);
    bed.run_ms(100);
    // The member's 200 carries the offer: the caller sees the outside relay address.
    let ok = bed.caller().response("late", 200).unwrap().to_string();
    assert_eq!(media_of(&ok).0, EXTERNAL, "{ok}");
    // The caller's ACK carries the answer: the member sees the inside relay address.
    let answer = "v=0\r\no=- 1 1 IN IP4 127.0.0.10\r\ns=-\r\nc=IN IP4 127.0.0.10\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n";
    let ack = with_sdp(
        &in_dialog("ACK", "late", 1, "m127.0.0.20", member_addr(0)),
        answer,
    );
    bed.send(ack);
    bed.run_ms(100);
    let acked = bed.member(0).first("ACK");
    assert_eq!(media_of(&acked).0, INTERNAL, "{acked}");
    let c = bed.proxy().counters().media;
    assert_eq!((c.offers, c.answers), (1, 1));
    assert_eq!(calls(&engine), 1);
}

#[test]
fn an_invite_with_the_call_id_of_another_callers_call_cannot_take_it_over() {
    let (mut bed, engine) = bed(vec![Answer::Ok], 10);
    bed.call("victim");
    bed.run_ms(100);
    let relay = media_of(&bed.member(0).first("INVITE"));
    // Another caller (another From tag) re-uses the Call-ID, pointing the media elsewhere.
    let attack = String::from_utf8(invite("victim"))
        .unwrap()
        .replace("tag=ctag-victim", "tag=attacker")
        .replace("branch=z9hG4bK-victim", "branch=z9hG4bK-attack")
        .replace("c=IN IP4 127.0.0.10", "c=IN IP4 127.0.0.66");
    bed.send(attack.into_bytes());
    bed.run_ms(100);
    assert_eq!(
        bed.member(0).count("INVITE"),
        1,
        "the attack never reached the member"
    );
    let refused = bed
        .caller()
        .responses
        .iter()
        .any(|r| r.0 == 400 && r.3.contains("tag=attacker"));
    assert!(refused, "{:?}", bed.caller().responses);
    assert_eq!(bed.proxy().counters().call_id_in_use, 1);
    assert_eq!(calls(&engine), 1);
    // The victim's call is untouched: its BYE still reaches the member and frees the relay.
    bed.send(in_dialog("BYE", "victim", 2, "m127.0.0.20", member_addr(0)));
    bed.run_ms(100);
    assert_eq!(bed.member(0).count("BYE"), 1);
    assert_eq!(calls(&engine), 0);
    assert_eq!(relay.0, INTERNAL);
}

#[test]
fn a_call_the_relay_ends_for_lack_of_rtp_gets_a_bye_with_a_reason_on_both_sides() {
    let (mut bed, engine) = bed(vec![Answer::Ok], 10);
    bed.call("quiet");
    bed.run_ms(100);
    // The caller ACKs the 2xx and the call is up; then its worker reports no RTP.
    let ok = bed.caller().response("quiet", 200).unwrap().to_string();
    bed.send(in_dialog("ACK", "quiet", 1, "m127.0.0.20", member_addr(0)));
    bed.run_ms(50);
    let (_, port) = media_of(&ok);
    {
        let mut e = engine.0.lock().unwrap();
        let key = dataplane::PortKey { addr: 0, port };
        let idle = dataplane::FlowEvent::Idle {
            key,
            reason: dataplane::IdleReason::NoRtp,
        };
        e.handle_event(bed.sim.now(), 0, idle);
        e.handle_timeout(bed.sim.now());
    }
    assert_eq!(calls(&engine), 0, "the relay ended the call");
    bed.run_ms(1500);
    let bye = bed.member(0).first("BYE");
    assert!(
        bye.contains("Reason: Q.850;cause=102;text=\"timeout_no_rtp\""),
        "{bye}"
    );
    assert!(
        bye.contains("tag=ctag-quiet") && bye.contains("tag=m127.0.0.20"),
        "{bye}"
    );
    assert!(
        bye.starts_with("BYE sip:fs@127.0.0.20"),
        "to the member's Contact: {bye}"
    );
    let to_caller = bed
        .caller()
        .requests
        .iter()
        .find(|r| r.starts_with("BYE "))
        .expect("a BYE to the caller");
    assert!(
        to_caller.starts_with("BYE sip:caller@127.0.0.10:5060"),
        "{to_caller}"
    );
    assert!(
        to_caller.contains("From: <sip:1000@127.0.0.1>;tag=m127.0.0.20"),
        "{to_caller}"
    );
    assert_eq!(bed.proxy().counters().media.timeout_no_rtp, 1);
    // The dialog is over: its count on the member is released.
    assert_eq!(
        bed.proxy().sizes().3,
        1,
        "kept for retransmissions until it lingers out"
    );
}

#[test]
fn a_caller_on_ipv6_reaches_an_ipv4_member_through_the_relay() {
    // External has an IPv6 address too; internal (the pool's side) only IPv4.
    let ifaces = [
        ("external", EXTERNAL),
        ("external", "fd00::1"),
        ("internal", INTERNAL),
    ];
    let (mut bed, engine) = bed_with(vec![Answer::Ok], "", engine_on(&ifaces, 10));
    let sdp = "v=0\r\no=- 1 1 IN IP6 fd00::10\r\ns=-\r\nc=IN IP6 fd00::10\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n";
    bed.call_with("v6", with_sdp(&invite("v6"), sdp));
    bed.run_ms(100);
    let to_member = bed.member(0).first("INVITE");
    assert!(
        to_member.contains(&format!("c=IN IP4 {INTERNAL}")),
        "{to_member}"
    );
    let ok = bed.caller().response("v6", 200).unwrap().to_string();
    assert!(
        ok.contains("c=IN IP6 fd00::1"),
        "the caller keeps IPv6: {ok}"
    );
    assert_eq!(calls(&engine), 1);
}

#[test]
fn a_member_whose_answered_call_brings_no_rtp_is_counted_and_made_suspect() {
    let ifaces = [("external", EXTERNAL), ("internal", INTERNAL)];
    let engine = engine_checking(&ifaces, 10, Some(Duration::from_secs(5)));
    let health = "down_after = 3\nno_rtp_suspect = true";
    let (mut bed, engine) = bed_with(vec![Answer::Ok], health, engine);
    bed.call("mute");
    bed.run_ms(100);
    bed.send(in_dialog("ACK", "mute", 1, "m127.0.0.20", member_addr(0)));
    bed.run_ms(6000);
    {
        // The check is due: the worker reports RTP from the caller (leg 0), none from the member.
        let mut e = engine.0.lock().unwrap();
        let now = bed.sim.now();
        e.handle_timeout(now);
        let mut queries = 0;
        while let Some((w, cmd)) = e.poll_command() {
            if let dataplane::FlowCommand::Query { token, .. } = cmd {
                let heard = dataplane::StreamStats {
                    rtp_packets: 250,
                    ..Default::default()
                };
                let pair = Some([heard, dataplane::StreamStats::default()]);
                e.handle_event(now, w, dataplane::FlowEvent::Stats { token, pair });
                queries += 1;
            }
        }
        assert_eq!(queries, 1, "one stream pair queried");
    }
    bed.run_ms(1500);
    assert_eq!(bed.proxy().counters().media.member_no_rtp, 1);
    let view = bed.proxy().dispatcher().snapshot().next().unwrap();
    assert_eq!(view.member.counters().calls_without_rtp, 1);
    assert_eq!(bed.state(0), dispatch::MemberState::Suspect);
}

#[test]
fn a_prack_answers_the_offer_of_a_reliable_183() {
    let (mut bed, engine) = bed(vec![Answer::Progress], 10);
    // A late-offer INVITE: the member's 183 offers (RFC 3262), the caller's PRACK answers.
    let inv = invite("rel");
    let m = sip::parse(&inv).unwrap();
    let bare = sip::Editor::new(&m)
        .remove_headers("Content-Type")
        .set_body(b"")
        .unwrap()
        .finish()
        .unwrap();
    bed.call_with("rel", bare);
    bed.run_ms(100);
    let progress = bed.caller().response("rel", 183).unwrap().to_string();
    assert_eq!(media_of(&progress).0, EXTERNAL, "{progress}");
    let answer = "v=0\r\no=- 1 1 IN IP4 127.0.0.10\r\ns=-\r\nc=IN IP4 127.0.0.10\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n";
    let prack = with_sdp(
        &in_dialog("PRACK", "rel", 2, "m127.0.0.20", member_addr(0)),
        answer,
    );
    bed.send(prack);
    bed.run_ms(100);
    let got = bed.member(0).first("PRACK");
    assert_eq!(
        media_of(&got).0,
        INTERNAL,
        "the member sees the inside relay address: {got}"
    );
    assert_eq!(bed.caller().codes("rel", "PRACK"), vec![200]);
    let c = bed.proxy().counters().media;
    assert_eq!((c.offers, c.answers), (1, 1));
    assert_eq!(calls(&engine), 1);
}

#[test]
fn early_media_then_a_200_with_another_address_keeps_the_callers_relay_endpoint() {
    let moved = "v=0\r\no=fs 7 8 IN IP4 127.0.0.99\r\ns=fs\r\nc=IN IP4 127.0.0.99\r\nt=0 0\r\nm=audio 52000 RTP/AVP 0\r\n";
    let (mut bed, engine) = bed(vec![Answer::ProgressThenOk(moved.into())], 10);
    bed.call("em");
    bed.run_ms(100);
    let early = media_of(bed.caller().response("em", 183).unwrap());
    let ok = bed.caller().response("em", 200).unwrap().to_string();
    assert_eq!(early.0, EXTERNAL);
    assert_eq!(
        media_of(&ok),
        early,
        "the 200's new address is the relay's business: {ok}"
    );
    // The connection and port are the relay's; the origin line is the member's, byte for byte.
    assert!(
        !ok.contains("c=IN IP4 127.0.0.99") && ok.contains("o=fs 7 8 IN IP4 127.0.0.99"),
        "{ok}"
    );
    let c = bed.proxy().counters().media;
    assert_eq!(
        (c.offers, c.answers),
        (1, 2),
        "the 183 and the 200 each answered"
    );
    assert_eq!(calls(&engine), 1);
}

#[test]
fn t38_after_audio_and_srtp_pass_through_the_relay_untouched_but_for_addresses() {
    let (mut bed, engine) = bed(vec![Answer::Ok], 10);
    // SRTP (RTP/SAVP with SDES keys, RFC 4568): the profile and the keys pass as they are.
    let srtp = "v=0\r\no=- 1 1 IN IP4 127.0.0.10\r\ns=-\r\nc=IN IP4 127.0.0.10\r\nt=0 0\r\n\
                m=audio 40000 RTP/SAVP 0\r\n\
                a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz\r\n";
    bed.call_with("fax", with_sdp(&invite("fax"), srtp));
    bed.run_ms(100);
    let inv = bed.member(0).first("INVITE");
    assert_eq!(media_of(&inv).0, INTERNAL, "{inv}");
    assert!(
        inv.contains("RTP/SAVP 0")
            && inv.contains("inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz"),
        "{inv}"
    );
    // A re-INVITE to T.38 (RFC 3362): audio set to port 0, an image m-line added.
    let t38 = "v=0\r\no=- 1 2 IN IP4 127.0.0.10\r\ns=-\r\nc=IN IP4 127.0.0.10\r\nt=0 0\r\n\
               m=audio 0 RTP/SAVP 0\r\n\
               m=image 40002 udptl t38\r\na=T38FaxVersion:0\r\na=T38FaxRateManagement:transferredTCF\r\n";
    let reinvite = with_sdp(
        &in_dialog("INVITE", "fax", 2, "m127.0.0.20", member_addr(0)),
        t38,
    );
    bed.send(reinvite);
    bed.run_ms(100);
    let got = bed
        .member(0)
        .got
        .iter()
        .filter(|g| g.starts_with("INVITE "))
        .nth(1)
        .cloned()
        .expect("the re-INVITE reached the member");
    assert!(
        got.contains("m=audio 0 RTP/SAVP 0"),
        "the disabled stream stays disabled: {got}"
    );
    let image = got
        .lines()
        .find_map(|l| l.strip_prefix("m=image "))
        .and_then(|l| l.split(' ').next())
        .and_then(|p| p.parse::<u16>().ok())
        .expect("an image m-line");
    assert!(
        (31000..31020).contains(&image),
        "T.38 gets an inside relay port: {got}"
    );
    assert!(
        got.contains("udptl t38") && got.contains("a=T38FaxRateManagement:transferredTCF"),
        "{got}"
    );
    assert_eq!(calls(&engine), 1);
}

#[test]
fn tracked_calls_are_noted_when_answered_reoffered_and_ended_and_only_then() {
    let (mut bed, _engine) = bed(vec![Answer::Ok], 10);
    bed.proxy_mut().track_changes();
    bed.call("t1");
    bed.run_ms(100);
    assert_eq!(bed.proxy_mut().take_changed(10), vec!["t1".to_string()]);
    assert!(bed.proxy_mut().take_changed(10).is_empty(), "taken once");
    // A re-INVITE with SDP changes the media (and the caller's CSeq).
    let hold = "v=0\r\no=- 1 2 IN IP4 127.0.0.10\r\ns=-\r\nc=IN IP4 127.0.0.10\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\na=sendonly\r\n";
    let reinvite = in_dialog("INVITE", "t1", 2, "m127.0.0.20", member_addr(0));
    bed.send(with_sdp(&reinvite, hold));
    bed.run_ms(100);
    assert_eq!(bed.proxy_mut().take_changed(10), vec!["t1".to_string()]);
    bed.send(in_dialog("BYE", "t1", 3, "m127.0.0.20", member_addr(0)));
    bed.run_ms(100);
    assert_eq!(bed.proxy_mut().take_changed(10), vec!["t1".to_string()]);
    // A re-publish notes every answered anchored call; an ended one is not among them.
    bed.call("t2");
    bed.run_ms(100);
    bed.proxy_mut().take_changed(10);
    bed.proxy_mut().touch_answered_anchored();
    assert_eq!(bed.proxy_mut().take_changed(10), vec!["t2".to_string()]);
}

#[test]
fn untracked_calls_are_not_noted() {
    let (mut bed, _engine) = bed(vec![Answer::Ok], 10);
    bed.call("u1");
    bed.run_ms(100);
    assert!(bed.proxy_mut().take_changed(10).is_empty());
}
