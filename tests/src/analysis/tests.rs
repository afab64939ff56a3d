#![allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a test failure.

use super::*;

fn a(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

const PROXY: u16 = 5000;
const UAC: u16 = 5002;
const UAS: u16 = 5004;
const U: u16 = 6000;
const S: u16 = 6100;
const R: u16 = 7000; // external: told to the UAC
const R2: u16 = 7100; // internal: told to the UAS

fn roles() -> Roles {
    Roles {
        proxy: a(PROXY),
        uac: a(UAC),
        uas: a(UAS),
    }
}

fn sip(ms: u64, from: u16, to: u16, first: &str, cseq: &str, port: Option<u16>) -> Datagram {
    let body = port.map_or(String::new(), |p| {
        format!("v=0\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {p} RTP/AVP 0\r\n")
    });
    let text = format!("{first}\r\nCall-ID: c1\r\nCSeq: 1 {cseq}\r\n\r\n{body}");
    Datagram {
        ts: Duration::from_millis(ms),
        src: a(from),
        dst: a(to),
        payload: text.into_bytes(),
    }
}

fn rtp(ms: u64, from: u16, to: u16, ssrc: u32, payload: &[u8]) -> Datagram {
    let mut p = vec![0x80, 0, 0, 1, 0, 0, 0, 0];
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(payload);
    Datagram {
        ts: Duration::from_millis(ms),
        src: a(from),
        dst: a(to),
        payload: p,
    }
}

const UAC_AUDIO: [u8; 4] = [1, 1, 1, 1];
const UAS_AUDIO: [u8; 4] = [2, 2, 2, 2];

/// A complete, correct call: signalling, then 3 packets on each hop after the 200.
fn good_call() -> Vec<Datagram> {
    let mut v = vec![
        sip(0, UAC, PROXY, "INVITE sip:s@x SIP/2.0", "INVITE", Some(U)),
        sip(1, PROXY, UAS, "INVITE sip:s@x SIP/2.0", "INVITE", Some(R2)),
        sip(2, UAS, PROXY, "SIP/2.0 200 OK", "INVITE", Some(S)),
        sip(3, PROXY, UAC, "SIP/2.0 200 OK", "INVITE", Some(R)),
    ];
    for i in 0..3 {
        v.push(rtp(10 + i, U, R, 11, &UAC_AUDIO));
        v.push(rtp(10 + i, R2, S, 11, &UAC_AUDIO));
        v.push(rtp(10 + i, S, R2, 22, &UAS_AUDIO));
        v.push(rtp(10 + i, R, U, 22, &UAS_AUDIO));
    }
    v
}

fn expect() -> Expect {
    Expect {
        calls: 1,
        answered: true,
        early_media: false,
        min_packets: 3,
        external: 7000..=7099,
        internal: 7100..=7199,
        uac_frames: [UAC_AUDIO.to_vec()].into_iter().collect(),
        uas_frames: [UAS_AUDIO.to_vec()].into_iter().collect(),
    }
}

#[test]
fn a_correct_call_passes_and_is_read_back() {
    let report = check(&good_call(), &roles(), &expect());
    assert_eq!(report.failures, Vec::<String>::new());
    let c = &report.calls["c1"];
    assert_eq!(c.uac_answer, [a(R)].into_iter().collect());
    assert_eq!(c.uas_offer, [a(R2)].into_iter().collect());
    assert_eq!(c.answered_at, Some(Duration::from_millis(3)));
    assert_eq!(c.relay_endpoints().len(), 2);
    assert_eq!(
        report.hops["c1"],
        Hops {
            uac_to_relay: 3,
            relay_to_uas: 3,
            uas_to_relay: 3,
            relay_to_uac: 3
        }
    );
}

#[test]
fn a_packet_from_an_unannounced_source_fails() {
    let mut v = good_call();
    v.push(rtp(20, S, U, 22, &UAS_AUDIO)); // the UAS straight to the UAC
    let report = check(&v, &roles(), &expect());
    assert_eq!(report.failures.len(), 1, "{:?}", report.failures);
    assert!(report.failures[0].contains("reached the UAC at 127.0.0.1:6000 from 127.0.0.1:6100"));
}

#[test]
fn crossed_or_altered_media_fails() {
    let mut v = good_call();
    v.push(rtp(20, R2, S, 99, &UAC_AUDIO)); // foreign SSRC
    v.push(rtp(21, R, U, 22, &UAC_AUDIO)); // the caller's own audio echoed back
    let report = check(&v, &roles(), &expect());
    assert_eq!(report.failures.len(), 2, "{:?}", report.failures);
    assert!(report.failures[0].contains("relay -> UAS"));
    assert!(report.failures[0].contains("SSRC"));
    assert!(report.failures[1].contains("relay -> UAC"));
    assert!(report.failures[1].contains("not the other side's audio"));
}

#[test]
fn too_little_media_unanchored_sdp_and_wrong_ranges_fail() {
    let mut v: Vec<Datagram> = good_call().into_iter().filter(|d| d.src != a(R)).collect();
    v[3] = sip(3, PROXY, UAC, "SIP/2.0 200 OK", "INVITE", Some(S));
    let report = check(&v, &roles(), &expect());
    let all = report.failures.join("\n");
    assert!(all.contains("0 RTP packets relay -> UAC"), "{all}");
    assert!(all.contains("not anchored"), "{all}");
    assert!(all.contains("outside 127.0.0.1:7000-7099"), "{all}");
}

#[test]
fn early_media_must_precede_the_answer() {
    let mut e = expect();
    e.early_media = true;
    let report = check(&good_call(), &roles(), &e);
    assert_eq!(report.failures.len(), 2, "{:?}", report.failures);
    assert!(report.failures[0].contains("no early media relay -> UAC"));

    let mut v = good_call();
    v[2] = sip(
        2,
        UAS,
        PROXY,
        "SIP/2.0 183 Session Progress",
        "INVITE",
        Some(S),
    );
    v[3] = sip(
        3,
        PROXY,
        UAC,
        "SIP/2.0 183 Session Progress",
        "INVITE",
        Some(R),
    );
    v.push(sip(50, PROXY, UAC, "SIP/2.0 200 OK", "INVITE", Some(R)));
    assert_eq!(check(&v, &roles(), &e).failures, Vec::<String>::new());
}

#[test]
fn a_cancelled_call_needs_its_487_and_no_media() {
    let mut e = expect();
    e.answered = false;
    let v = vec![
        sip(0, UAC, PROXY, "INVITE sip:s@x SIP/2.0", "INVITE", Some(U)),
        sip(1, PROXY, UAS, "INVITE sip:s@x SIP/2.0", "INVITE", Some(R2)),
        sip(
            5,
            PROXY,
            UAC,
            "SIP/2.0 487 Request Terminated",
            "INVITE",
            None,
        ),
    ];
    assert_eq!(check(&v, &roles(), &e).failures, Vec::<String>::new());
    let mut leaked = v.clone();
    leaked.push(rtp(6, R, U, 1, &UAS_AUDIO));
    let fails = check(&leaked, &roles(), &e).failures;
    assert_eq!(fails.len(), 1, "{fails:?}");
    let wrong = check(&v[..2], &roles(), &e).failures;
    assert!(wrong[0].contains("expected 487"), "{wrong:?}");
}

#[test]
fn counts_calls_against_the_plan() {
    let mut e = expect();
    e.calls = 2;
    let fails = check(&good_call(), &roles(), &e).failures;
    assert_eq!(fails, vec!["1 calls seen on the wire, 2 placed".to_owned()]);
}
