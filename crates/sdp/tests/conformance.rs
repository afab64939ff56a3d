//! Real-world SDP: the MIT-licensed sdp-transform bodies in `tests/data/` and the RFC 5118
//! messages in `crates/sip/testdata/rfc5118/` (both in the repository), and captured
//! messages and rtpengine test bodies that may not be redistributed with the project (GPL or
//! no stated licence), read from the shared conformance set next to the repository.
//!
//! A test that needs the shared set fails when it is absent, saying where it looked, unless
//! the developer opts out explicitly with `FERROVOX_TEST_SKIP=corpus` (tests/README.md).
//! `FERROVOX_CONFORMANCE` points at another copy of the set.
#![allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a test failure.

mod common;

use std::net::IpAddr;
use std::path::Path;

use sdp::{
    parse, rewrite, Address, Direction, MediaRewrite, MuxRewrite, Rewrite, RtcpAttr, RtcpRewrite,
    SessionDescription,
};

/// A file of this crate's `tests/data/` or of the sip crate's RFC 5118 messages (`rfc5118/`).
fn in_repo(rel: &str) -> Vec<u8> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let path = match rel.strip_prefix("rfc5118/") {
        Some(name) => root.join("../sip/testdata/rfc5118").join(name),
        None => root.join("tests/data").join(rel),
    };
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A file of the shared conformance set; `None` when it is missing and opted out
/// (`testkit::need`: it fails otherwise), and the test returns.
fn shared(rel: &str) -> Option<Vec<u8>> {
    testkit::need::conformance_file("sdp conformance", rel)
}

/// The SDP in a corpus file: a SIP message's body (after the empty line), the input half of
/// an rtpengine test (before the line of dashes), or the whole file.
fn sdp_of(file: &[u8]) -> Vec<u8> {
    if file.starts_with(b"v=") {
        let mut out = Vec::new();
        for line in file.split_inclusive(|&b| b == b'\n') {
            if line.starts_with(b"----") {
                break;
            }
            out.extend_from_slice(line);
        }
        return out;
    }
    let sep = file
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("SIP message has a header/body separator");
    file[sep + 4..].to_vec()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// A relay plan as the media relay would make it: new ports, RTCP on port+1, ICE stripped.
fn relay_plan(sd: &SessionDescription<'_>, relay: IpAddr) -> Rewrite {
    let media = (0u16..)
        .zip(&sd.media)
        .map(|(i, _)| MediaRewrite {
            port: 30000 + 2 * i,
            addr: relay,
            rtcp: RtcpRewrite::Port(30001 + 2 * i),
            rtcp_mux: MuxRewrite::Keep,
            direction: None,
        })
        .collect();
    Rewrite {
        origin: Some(relay),
        session_connection: Some(relay),
        media,
        strip_ice: true,
    }
}

/// In the repository (`tests/data/`, `rfc5118/` = the sip crate's RFC 5118 messages).
const IN_REPO: [&str; 7] = [
    "sdptransform-hacky.sdp.txt",
    "sdptransform-icelite.sdp.txt",
    "sdptransform-jsep.sdp.txt",
    "sdptransform-normal.sdp.txt",
    "rfc5118/ipv6-in-sdp.dat",
    "rfc5118/mult-ip-in-sdp.dat",
    "rfc5118/ipv4-mapped-ipv6.dat",
];

/// In the shared conformance set.
const SHARED: [&str; 12] = [
    "sdp/cirpack-183-early-media.txt",
    "sdp/eyebeam-200ok-audio-video.txt",
    "sdp/eyebeam-invite-audio-video.txt",
    "sdp/ipv6-183-session-progress-100rel.txt",
    "sdp/ipv6-200ok-update.txt",
    "sdp/ipv6-invite-precondition-amrwb.txt",
    "sdp/ipv6-update-precondition.txt",
    "sdp/nero-sipps-invite.txt",
    "sdp/rtpengine-c0000-hold-answer.txt",
    "sdp/rtpengine-c0000-hold-offer.txt",
    "sdp/rtpengine-ipv6-bundle-rtcpmux-offer.txt",
    "sdp/rtpengine-sonus-sendonly-hold-offer.txt",
];

/// `file` parses; rewritten to an IPv4 and an IPv6 relay it keeps every invariant and loses
/// its ICE; with an identity-like plan it comes back unchanged.
fn parses_and_rewrites(rel: &str, file: &[u8]) {
    let body = sdp_of(file);
    let sd = parse(&body).unwrap_or_else(|e| panic!("{rel}: {e}"));
    assert!(!sd.media.is_empty(), "{rel}");
    for relay in [ip("203.0.113.1"), ip("2001:db8::1")] {
        let plan = relay_plan(&sd, relay);
        let out = rewrite(&body, &sd, &plan).unwrap_or_else(|e| panic!("{rel}: {e}"));
        common::check_rewrite(&body, &plan, &out).unwrap_or_else(|e| panic!("{rel}: {e}"));
        let again = parse(&out).unwrap();
        assert!(!again.has_ice && again.media.iter().all(|m| !m.has_ice || m.port == 0));
    }
    // Identity-like plan: nothing the relay does not own changes, and with the original
    // addresses and ports the body comes back unchanged except c= normalisation.
    let keep = Rewrite {
        origin: None,
        session_connection: None,
        media: sd
            .media
            .iter()
            .map(|m| MediaRewrite {
                port: m.port,
                addr: m.connection.map_or(ip("192.0.2.1"), |c| c.addr),
                rtcp: RtcpRewrite::Keep,
                rtcp_mux: MuxRewrite::Keep,
                direction: None,
            })
            .collect(),
        strip_ice: false,
    };
    let out = rewrite(&body, &sd, &keep).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out),
        String::from_utf8_lossy(&body),
        "{rel}"
    );
}

#[test]
fn every_file_in_the_repository_parses_and_rewrites_to_ipv4_and_ipv6() {
    for rel in IN_REPO {
        parses_and_rewrites(rel, &in_repo(rel));
    }
}

#[test]
fn every_shared_file_parses_and_rewrites_to_ipv4_and_ipv6() {
    for rel in SHARED {
        let Some(file) = shared(rel) else { return };
        parses_and_rewrites(rel, &file);
    }
}

#[test]
fn eyebeam_audio_video() {
    let Some(file) = shared("sdp/eyebeam-invite-audio-video.txt") else {
        return;
    };
    let body = sdp_of(&file);
    let sd = parse(&body).unwrap();
    assert_eq!(sd.connection.map(|c| c.addr), Some(ip("192.168.1.87")));
    let [a, v] = &sd.media[..] else {
        panic!("two m-lines")
    };
    assert_eq!((a.media, a.port, a.formats.len()), ("audio", 5062, 11));
    assert_eq!((v.media, v.port), ("video", 5064));
    assert_eq!(a.effective_direction(&sd), Direction::SendRecv);
    assert_eq!(a.clock_rate(), 16000, "BV32/16000 first");
    assert_eq!(v.clock_rate(), 90000);
    assert!(!a.is_hold(&sd) && !v.is_hold(&sd));
}

#[test]
fn ipv6_precondition_invite() {
    let Some(file) = shared("sdp/ipv6-invite-precondition-amrwb.txt") else {
        return;
    };
    let body = sdp_of(&file);
    let sd = parse(&body).unwrap();
    let origin = sd.origin.unwrap();
    assert_eq!(origin.addrtype, "IP6");
    assert_eq!(
        origin.addr,
        Address::Ip(ip("fd17:625c:f037:2:a00:27ff:feb9:1521")),
        "bracketed o= address"
    );
    let a = &sd.media[0];
    assert_eq!(
        a.effective_connection(&sd),
        Some(ip("fd17:625c:f037:2:a00:27ff:feb9:1521"))
    );
    assert_eq!(
        a.rtpmaps.len(),
        7,
        "rtpmaps for 110/111 are kept though not on the m-line"
    );
    assert_eq!(a.clock_rate(), 16000);
    // Relayed to an IPv4 side: addrtypes follow the address.
    let plan = relay_plan(&sd, ip("203.0.113.1"));
    let out = String::from_utf8(rewrite(&body, &sd, &plan).unwrap()).unwrap();
    assert!(out.contains("o=user1 53655765 2353687637 IN IP4 203.0.113.1\r\n"));
    assert!(out.contains("c=IN IP4 203.0.113.1\r\n"));
    assert!(out.contains("m=audio 30000 RTP/AVP 100 101 0 120 121\r\na=rtcp:30001\r\n"));
    assert!(out.ends_with("a=curr:qos remote none\r\n"));
}

#[test]
fn cirpack_and_nero_details() {
    let Some(file) = shared("sdp/cirpack-183-early-media.txt") else {
        return;
    };
    let body = sdp_of(&file);
    let sd = parse(&body).unwrap();
    assert_eq!(sd.origin.unwrap().addr, Address::Ip(ip("212.242.33.75")));
    assert_eq!(sd.media[0].rtpmaps[0].channels, Some(1));
    assert_eq!(sd.media[0].port, 40392);
    let Some(file) = shared("sdp/nero-sipps-invite.txt") else {
        return;
    };
    let body = sdp_of(&file);
    let sd = parse(&body).unwrap();
    assert_eq!(sd.media[0].rtpmaps[0].encoding, "pcmu");
    assert_eq!(sd.media[0].direction, Some(Direction::SendRecv));
}

#[test]
fn rfc2543_hold_offer_and_answer_keep_null_address() {
    // rtpengine keeps c=IN IP4 0.0.0.0, turns the offer's sendrecv into sendonly and the
    // answer's recvonly into inactive.
    for (rel, new_dir) in [
        ("sdp/rtpengine-c0000-hold-offer.txt", Direction::SendOnly),
        ("sdp/rtpengine-c0000-hold-answer.txt", Direction::Inactive),
    ] {
        let Some(file) = shared(rel) else { return };
        let body = sdp_of(&file);
        let sd = parse(&body).unwrap();
        assert!(sd.media[0].is_hold(&sd), "{rel}");
        let mut plan = relay_plan(&sd, ip("203.0.113.1"));
        plan.media[0].direction = Some(new_dir);
        let out = String::from_utf8(rewrite(&body, &sd, &plan).unwrap()).unwrap();
        let want = format!(
            "v=0\no=- 1545997027 1 IN IP4 203.0.113.1\ns=tester\nc=IN IP4 0.0.0.0\nt=0 0\n\
             m=audio 30000 RTP/AVP 8\na=rtcp:30001\na={}\n",
            new_dir.as_str()
        );
        assert_eq!(out, want, "{rel}");
    }
}

#[test]
fn ipv6_bundle_rtcp_mux_offer() {
    let Some(file) = shared("sdp/rtpengine-ipv6-bundle-rtcpmux-offer.txt") else {
        return;
    };
    let body = sdp_of(&file);
    let sd = parse(&body).unwrap();
    let [a, v, app] = &sd.media[..] else {
        panic!("three m-lines")
    };
    assert_eq!(
        a.connection.map(|c| c.addr),
        Some(ip("3333:3333:3333:99d:0:4daf:a7d2:0"))
    );
    assert_eq!(
        a.rtcp,
        Some(RtcpAttr {
            port: 9,
            addr: Some(ip("0.0.0.0"))
        })
    );
    assert!(a.rtcp_mux && v.rtcp_mux);
    assert_eq!(app.port, 0);
    assert!(app.is_hold(&sd));
    let plan = relay_plan(&sd, ip("203.0.113.1"));
    let out = String::from_utf8(rewrite(&body, &sd, &plan).unwrap()).unwrap();
    assert!(out.contains("m=audio 30000 RTP/AVP 114 9 0 8 101 63 13 110\nc=IN IP4 203.0.113.1\n"));
    assert!(out.contains("a=rtcp:30001 IN IP4 203.0.113.1\n"));
    assert!(out.contains("a=rtcp:30003 IN IP4 203.0.113.1\n"));
    assert!(out.ends_with(
        "m=application 0 RTP/SAVP 0\nc=IN IP4 0.0.0.0\na=rtcp:9 IN IP4 0.0.0.0\n\
         a=setup:actpass\na=mid:5\na=sendrecv\n"
    ));
}

#[test]
fn webrtc_bodies() {
    let file = in_repo("sdptransform-hacky.sdp.txt");
    let body = sdp_of(&file);
    let sd = parse(&body).unwrap();
    let [a, v, d] = &sd.media[..] else {
        panic!("three m-lines")
    };
    assert_eq!((a.port, a.proto), (1, "RTP/SAVPF"));
    assert!(a.is_hold(&sd), "c=IN IP4 0.0.0.0");
    assert_eq!(
        a.rtcp.map(|r| (r.port, r.addr)),
        Some((1, Some(ip("0.0.0.0"))))
    );
    assert_eq!(v.rtcp.map(|r| (r.port, r.addr)), Some((12312, None)));
    assert!(a.has_ice && v.has_ice && d.has_ice && a.rtcp_mux);
    assert_eq!((d.media, d.port, d.proto), ("application", 9, "DTLS/SCTP"));

    let file = in_repo("sdptransform-icelite.sdp.txt");
    let body = sdp_of(&file);
    let sd = parse(&body).unwrap();
    assert!(sd.has_ice && sd.media[0].has_ice && sd.media[0].rtcp_mux);

    let file = in_repo("sdptransform-jsep.sdp.txt");
    let body = sdp_of(&file);
    let sd = parse(&body).unwrap();
    assert_eq!(sd.media[0].proto, "UDP/TLS/RTP/SAVPF");
    assert_eq!(
        sd.media[0].rtcp.map(|r| (r.port, r.addr)),
        Some((56501, Some(ip("192.0.2.1"))))
    );
    assert_eq!(sd.media[1].port, 0, "bundle-only video");

    let file = in_repo("sdptransform-normal.sdp.txt");
    let body = sdp_of(&file);
    let sd = parse(&body).unwrap();
    assert!(sd.has_ice && sd.media.iter().all(|m| m.has_ice));
    assert_eq!(sd.connection.map(|c| c.addr), Some(ip("203.0.113.1")));
}

#[test]
fn sonus_sendonly_hold() {
    let Some(file) = shared("sdp/rtpengine-sonus-sendonly-hold-offer.txt") else {
        return;
    };
    let body = sdp_of(&file);
    let sd = parse(&body).unwrap();
    let a = &sd.media[0];
    assert_eq!(a.direction, Some(Direction::SendOnly));
    assert!(a.is_hold(&sd));
    assert_eq!(a.clock_rate(), 8000, "telephone-event/8000 first");
}

#[test]
fn rfc5118_addresses() {
    let file = in_repo("rfc5118/mult-ip-in-sdp.dat");
    let body = sdp_of(&file);
    let sd = parse(&body).unwrap();
    assert_eq!(sd.origin.unwrap().addr, Address::Name("host.example.com"));
    assert_eq!(sd.connection, None);
    assert_eq!(sd.media[0].effective_connection(&sd), Some(ip("192.0.2.1")));
    assert_eq!(
        sd.media[1].effective_connection(&sd),
        Some(ip("2001:db8::1"))
    );
    let file = in_repo("rfc5118/ipv4-mapped-ipv6.dat");
    let body = sdp_of(&file);
    let sd = parse(&body).unwrap();
    assert_eq!(sd.connection.map(|c| c.addr), Some(ip("::ffff:192.0.2.2")));
}
