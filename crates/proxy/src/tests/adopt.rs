//! HA: a dialog another node set up, held here (`Proxy::adopt`): an in-dialog BYE from the
//! caller reaches the member that took the call and ends it; `terminate` sends BYE with the
//! parties the record named; `unadopt` forgets it without a word; a Call-ID held for another
//! caller is not taken over.

use super::anchor::{bed, calls, media_of};
use super::*;
use crate::{AdoptedDialog, DialogState};

fn adopted(call_id: &str) -> AdoptedDialog {
    AdoptedDialog {
        call_id: call_id.into(),
        tags: [format!("ctag-{call_id}"), "m127.0.0.20".into()],
        contacts: [
            "sip:caller@127.0.0.10:5060".into(),
            format!("sip:fs@{}", member_addr(0)),
        ],
        parties: [
            format!("<sip:caller@127.0.0.10>;tag=ctag-{call_id}"),
            "<sip:1000@127.0.0.1>;tag=m127.0.0.20".into(),
        ],
        hops: [
            (addr(CALLER), Transport::Udp),
            (member_addr(0), Transport::Udp),
        ],
        cseq: [1, 1],
        member: ("pool".into(), format!("sip:{}", member_addr(0))),
        media: Some(["external".into(), "internal".into()]),
        expires_in: Duration::from_secs(3600),
    }
}

#[test]
fn an_adopted_dialog_routes_the_callers_bye_to_its_member() {
    let (mut bed, _engine) = bed(vec![Answer::Ok], 10);
    let now = bed.sim.now();
    assert!(bed.proxy_mut().adopt(now, adopted("held")));
    let c = bed.proxy().call("held", now).unwrap();
    assert_eq!(c.state, DialogState::Confirmed);
    let m = c.member.expect("the configured member");
    assert_eq!(bed.proxy().calls_of_member(m), ["held"], "counted on it");
    bed.send(in_dialog("BYE", "held", 2, "m127.0.0.20", member_addr(0)));
    bed.run_ms(100);
    assert_eq!(bed.member(0).count("BYE"), 1, "the BYE reached the member");
    assert!(
        bed.caller().response("held", 200).is_some(),
        "and was answered"
    );
    assert!(bed.proxy().calls_of_member(m).is_empty());
}

#[test]
fn an_adopted_call_is_terminated_with_its_recorded_parties_or_dropped_silently() {
    let (mut bed, _engine) = bed(vec![Answer::Ok], 10);
    let now = bed.sim.now();
    assert!(bed.proxy_mut().adopt(now, adopted("a")));
    assert!(bed.proxy_mut().adopt(now, adopted("b")));
    bed.proxy_mut()
        .terminate_call(now, "a", "takeover test")
        .unwrap();
    bed.run_ms(100);
    let bye = bed.member(0).first("BYE");
    assert!(
        bye.starts_with(&format!("BYE sip:fs@{}", member_addr(0))),
        "{bye}"
    );
    assert!(
        bye.contains("From: <sip:caller@127.0.0.10>;tag=ctag-a"),
        "{bye}"
    );
    assert!(bye.contains("CSeq: 2 BYE"), "{bye}");
    // Another node owns "b" now: it goes without a message.
    assert!(bed.proxy_mut().unadopt("b"));
    assert!(!bed.proxy_mut().unadopt("b"));
    bed.run_ms(100);
    assert_eq!(bed.member(0).count("BYE"), 1);
    assert!(bed.proxy().call("b", bed.sim.now()).is_none());
}

#[test]
fn a_call_id_held_for_another_caller_is_not_taken_over_by_a_record() {
    let (mut bed, _engine) = bed(vec![Answer::Ok], 10);
    bed.call("mine");
    bed.run_ms(100);
    let mut forged = adopted("mine");
    forged.tags[0] = "someone-else".into();
    forged.hops[1] = (addr("127.0.0.99:5060"), Transport::Udp);
    let now = bed.sim.now();
    assert!(!bed.proxy_mut().adopt(now, forged));
    assert_eq!(
        bed.proxy().call("mine", now).unwrap().member_hop.0,
        member_addr(0)
    );
}

/// A re-INVITE after a takeover: the adopted call's media session (the ports the active gave
/// the parties) is re-offered in place, the member is offered the same inside relay port.
#[test]
fn a_reinvite_of_an_adopted_call_keeps_its_relay_ports() {
    use media::call::Remote;
    use media::{AdoptedCall, AdoptedLeg, AdoptedStream};
    let (mut bed, engine) = bed(vec![Answer::Ok], 10);
    let now = bed.sim.now();
    let leg = |interface: &str, ip: [u8; 4], port, remote: SocketAddr| AdoptedLeg {
        interface: interface.into(),
        port,
        advertised: ip.into(),
        remote: Remote {
            rtp: wire::Endpoint::from_socket_addr(remote),
            rtcp_port: remote.port() + 1,
            hold: false,
            clock_rate: 8000,
        },
        mux: false,
    };
    let media = AdoptedCall {
        call_id: b"held".to_vec(),
        tags: [Some(b"ctag-held".to_vec()), Some(b"m127.0.0.20".to_vec())],
        streams: vec![AdoptedStream {
            index: 0,
            worker: 0,
            legs: [
                leg("external", [10, 0, 0, 1], 30004, addr("127.0.0.10:40000")),
                leg("internal", [10, 0, 0, 2], 31004, addr("127.0.0.20:50000")),
            ],
        }],
    };
    engine.lock().adopt(now, &media).unwrap();
    assert!(bed.proxy_mut().adopt(now, adopted("held")));
    let hold = "v=0\r\no=- 1 2 IN IP4 127.0.0.10\r\ns=-\r\nc=IN IP4 127.0.0.10\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\na=sendonly\r\n";
    let reinvite = with_sdp(
        &in_dialog("INVITE", "held", 2, "m127.0.0.20", member_addr(0)),
        hold,
    );
    bed.send(reinvite);
    bed.run_ms(100);
    let inv = bed.member(0).first("INVITE");
    assert_eq!(media_of(&inv), ("10.0.0.2".to_owned(), 31004), "{inv}");
    assert!(inv.contains("a=sendonly"), "{inv}");
    assert_eq!(calls(&engine), 1, "the same session, no new one");
}
