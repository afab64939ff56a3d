#![allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a test failure.

use std::net::IpAddr;

use super::*;
use crate::parse;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn relay() -> IpAddr {
    ip("203.0.113.1")
}

fn media(port: u16) -> MediaRewrite {
    MediaRewrite {
        port,
        addr: relay(),
        rtcp: RtcpRewrite::Keep,
        rtcp_mux: MuxRewrite::Keep,
        direction: None,
    }
}

fn plan(media: Vec<MediaRewrite>) -> Rewrite {
    Rewrite {
        origin: Some(relay()),
        session_connection: Some(relay()),
        media,
        strip_ice: false,
    }
}

fn run(body: &[u8], rw: &Rewrite) -> String {
    let sd = parse(body).unwrap();
    let out = rewrite(body, &sd, rw).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn audio_video_with_rtcp_and_direction() {
    let body = b"v=0\r\n\
o=alice 2890844526 2890844527 IN IP4 198.51.100.1\r\n\
s=-\r\n\
c=IN IP4 198.51.100.1\r\n\
t=0 0\r\n\
m=audio 49170 RTP/AVP 0 8 97\r\n\
b=AS:64\r\n\
a=rtpmap:97 iLBC/8000\r\n\
a=rtcp:49171 IN IP4 198.51.100.1\r\n\
a=sendrecv\r\n\
m=video 51372/2 RTP/AVP 31\r\n\
c=IN IP4 198.51.100.2\r\n\
a=rtpmap:31 H261/90000\r\n";
    let mut a = media(30000);
    a.rtcp = RtcpRewrite::Port(30001);
    a.direction = Some(Direction::SendOnly);
    let mut v = media(30002);
    v.rtcp = RtcpRewrite::Port(30003);
    v.rtcp_mux = MuxRewrite::Add;
    v.direction = Some(Direction::Inactive);
    assert_eq!(
        run(body, &plan(vec![a, v])),
        "v=0\r\n\
o=alice 2890844526 2890844527 IN IP4 203.0.113.1\r\n\
s=-\r\n\
c=IN IP4 203.0.113.1\r\n\
t=0 0\r\n\
m=audio 30000 RTP/AVP 0 8 97\r\n\
b=AS:64\r\n\
a=rtpmap:97 iLBC/8000\r\n\
a=rtcp:30001 IN IP4 203.0.113.1\r\n\
a=sendonly\r\n\
m=video 30002/2 RTP/AVP 31\r\n\
c=IN IP4 203.0.113.1\r\n\
a=rtcp:30003\r\n\
a=rtcp-mux\r\n\
a=rtpmap:31 H261/90000\r\n\
a=inactive\r\n"
    );
}

#[test]
fn ipv6_offer_relayed_to_ipv4_side() {
    let body = b"v=0\r\n\
o=user1 53655765 2353687637 IN IP6 [fd17:625c:f037:2::1521]\r\n\
s=-\r\n\
c=IN IP6 fd17:625c:f037:2::1521\r\n\
t=0 0\r\n\
m=audio 15062 RTP/AVP 100\r\n\
c=IN IP6 fd17:625c:f037:2::1522\r\n\
a=rtcp:15063 IN IP6 fd17:625c:f037:2::1522\r\n";
    let mut a = media(40000);
    a.rtcp = RtcpRewrite::Port(40001);
    assert_eq!(
        run(body, &plan(vec![a])),
        "v=0\r\n\
o=user1 53655765 2353687637 IN IP4 203.0.113.1\r\n\
s=-\r\n\
c=IN IP4 203.0.113.1\r\n\
t=0 0\r\n\
m=audio 40000 RTP/AVP 100\r\n\
c=IN IP4 203.0.113.1\r\n\
a=rtcp:40001 IN IP4 203.0.113.1\r\n"
    );
}

#[test]
fn ipv4_offer_relayed_to_ipv6_side() {
    let body = b"v=0\no=- 1 1 IN IP4 host.example.com\ns=-\nt=0 0\n\
m=audio 5000 RTP/AVP 0\nc=IN IP4 224.2.1.1/127/2\n";
    let v6 = ip("2001:db8::7");
    let rw = Rewrite {
        origin: Some(v6),
        session_connection: None,
        media: vec![MediaRewrite {
            addr: v6,
            ..media(6000)
        }],
        strip_ice: false,
    };
    assert_eq!(
        run(body, &rw),
        "v=0\no=- 1 1 IN IP6 2001:db8::7\ns=-\nt=0 0\n\
m=audio 6000 RTP/AVP 0\nc=IN IP6 2001:db8::7\n"
    );
}

#[test]
fn multicast_suffix_kept_only_for_multicast_of_same_family() {
    let body = b"v=0\r\nm=audio 5000 RTP/AVP 0\r\nc=IN IP4 224.2.1.1/127\r\n";
    let rw = plan(vec![MediaRewrite {
        addr: ip("233.252.0.1"),
        ..media(6000)
    }]);
    assert_eq!(
        run(body, &rw),
        "v=0\r\nm=audio 6000 RTP/AVP 0\r\nc=IN IP4 233.252.0.1/127\r\n"
    );
    let rw = plan(vec![media(6000)]);
    assert_eq!(
        run(body, &rw),
        "v=0\r\nm=audio 6000 RTP/AVP 0\r\nc=IN IP4 203.0.113.1\r\n"
    );
}

#[test]
fn hold_sendonly_and_null_address() {
    // RFC 2543 hold at session level and a=sendonly hold: the null address is kept, the port
    // is still rewritten.
    let body = b"v=0\n\
o=- 1545997027 1 IN IP4 198.51.100.11\n\
s=tester\n\
c=IN IP4 0.0.0.0\n\
t=0 0\n\
m=audio 3000 RTP/AVP 8\n\
a=sendonly\n\
m=audio 3002 RTP/AVP 0\n\
c=IN IP6 ::\n\
a=sendrecv\n";
    let sd = parse(body).unwrap();
    assert!(sd.media.iter().all(|m| m.is_hold(&sd)));
    let mut a = media(30000);
    a.rtcp = RtcpRewrite::Port(30001);
    let mut b = media(30002);
    b.direction = Some(Direction::Inactive);
    assert_eq!(
        run(body, &plan(vec![a, b])),
        "v=0\n\
o=- 1545997027 1 IN IP4 203.0.113.1\n\
s=tester\n\
c=IN IP4 0.0.0.0\n\
t=0 0\n\
m=audio 30000 RTP/AVP 8\n\
a=rtcp:30001\n\
a=sendonly\n\
m=audio 30002 RTP/AVP 0\n\
c=IN IP6 ::\n\
a=inactive\n"
    );
}

#[test]
fn disabled_stream_section_is_untouched() {
    let body = b"v=0\r\nc=IN IP4 192.0.2.1\r\nm=audio 4000 RTP/AVP 0\r\n\
m=video 0 RTP/AVP 96\r\nc=IN IP4 192.0.2.1\r\na=rtcp:9 IN IP4 192.0.2.1\r\n\
a=candidate:1 1 UDP 1 192.0.2.1 9 typ host\r\na=sendrecv\r\n";
    let mut v = media(5000);
    v.rtcp = RtcpRewrite::Remove;
    v.rtcp_mux = MuxRewrite::Add;
    v.direction = Some(Direction::Inactive);
    let mut rw = plan(vec![media(4002), v]);
    rw.strip_ice = true;
    assert_eq!(
        run(body, &rw),
        "v=0\r\nc=IN IP4 203.0.113.1\r\nm=audio 4002 RTP/AVP 0\r\n\
m=video 0 RTP/AVP 96\r\nc=IN IP4 192.0.2.1\r\na=rtcp:9 IN IP4 192.0.2.1\r\n\
a=candidate:1 1 UDP 1 192.0.2.1 9 typ host\r\na=sendrecv\r\n"
    );
}

#[test]
fn rtcp_mux_add_remove_and_rtcp_remove() {
    let body = b"v=0\r\nm=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=rtcp-mux\r\n\
m=audio 4002 RTP/AVP 0\r\na=ptime:20\r\na=rtcp:4003\r\na=maxptime:40\r\n\
m=audio 4004 RTP/AVP 0\r\n";
    let mut a = media(1);
    a.rtcp_mux = MuxRewrite::Remove;
    let mut b = media(3);
    b.rtcp = RtcpRewrite::Remove;
    b.rtcp_mux = MuxRewrite::Add;
    let mut c = media(5);
    c.rtcp = RtcpRewrite::Port(6);
    c.rtcp_mux = MuxRewrite::Add;
    assert_eq!(
        run(body, &plan(vec![a, b, c])),
        "v=0\r\nm=audio 1 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n\
m=audio 3 RTP/AVP 0\r\na=ptime:20\r\na=rtcp-mux\r\na=maxptime:40\r\n\
m=audio 5 RTP/AVP 0\r\na=rtcp:6\r\na=rtcp-mux\r\n"
    );
}

#[test]
fn mux_add_kept_when_present_and_placed_before_first_attribute() {
    let body = b"v=0\r\nm=audio 4000 RTP/AVP 0\r\nb=AS:64\r\na=rtcp-mux\r\n\
m=audio 4002 RTP/AVP 0\r\nb=AS:64\r\na=ptime:20\r\n";
    let mut a = media(1);
    a.rtcp_mux = MuxRewrite::Add;
    let mut b = media(3);
    b.rtcp_mux = MuxRewrite::Add;
    assert_eq!(
        run(body, &plan(vec![a, b])),
        "v=0\r\nm=audio 1 RTP/AVP 0\r\nb=AS:64\r\na=rtcp-mux\r\n\
m=audio 3 RTP/AVP 0\r\nb=AS:64\r\na=rtcp-mux\r\na=ptime:20\r\n"
    );
}

#[test]
fn strip_ice_at_both_levels() {
    let body = b"v=0\r\n\
o=- 20518 0 IN IP4 192.0.2.5\r\n\
s=-\r\n\
t=0 0\r\n\
a=ice-lite\r\n\
a=ice-ufrag:F7gI\r\n\
a=ice-pwd:x9cml/YzichV2+XlhiMu8g\r\n\
a=fingerprint:sha-1 42:89\r\n\
m=audio 54400 RTP/SAVPF 0\r\n\
c=IN IP4 192.0.2.5\r\n\
a=ice-options:trickle\r\n\
a=candidate:0 1 UDP 2113667327 192.0.2.5 54400 typ host\r\n\
a=candidate:1 2 UDP 2113667326 192.0.2.5 54401 typ host\r\n\
a=end-of-candidates\r\n\
a=remote-candidates:1 192.0.2.9 5000\r\n\
a=ice-mismatch\r\n\
a=ice-pacing:50\r\n\
a=sendrecv\r\n";
    let sd = parse(body).unwrap();
    assert!(sd.has_ice && sd.media[0].has_ice);
    let mut rw = plan(vec![media(30000)]);
    rw.origin = None;
    rw.strip_ice = true;
    let out = rewrite(body, &sd, &rw).unwrap();
    assert_eq!(
        String::from_utf8(out.clone()).unwrap(),
        "v=0\r\n\
o=- 20518 0 IN IP4 192.0.2.5\r\n\
s=-\r\n\
t=0 0\r\n\
a=fingerprint:sha-1 42:89\r\n\
m=audio 30000 RTP/SAVPF 0\r\n\
c=IN IP4 203.0.113.1\r\n\
a=sendrecv\r\n"
    );
    let again = parse(&out).unwrap();
    assert!(!again.has_ice && !again.media[0].has_ice);
    // Without strip_ice the candidates stay, byte for byte.
    rw.strip_ice = false;
    let kept = rewrite(body, &sd, &rw).unwrap();
    assert!(String::from_utf8(kept).unwrap().contains(
        "a=ice-options:trickle\r\na=candidate:0 1 UDP 2113667327 192.0.2.5 54400 typ host\r\n"
    ));
}

#[test]
fn bare_lf_no_final_newline_and_insertions_at_end() {
    let body = b"v=0\nm=audio 4000 RTP/AVP 0";
    let mut a = media(1);
    a.rtcp = RtcpRewrite::Port(2);
    a.rtcp_mux = MuxRewrite::Add;
    a.direction = Some(Direction::RecvOnly);
    assert_eq!(
        run(body, &plan(vec![a])),
        "v=0\nm=audio 1 RTP/AVP 0\na=rtcp:2\na=rtcp-mux\na=recvonly"
    );
    // Mixed endings are kept per line; a trailing empty line stays after the insertions.
    let body = b"v=0\r\nm=audio 4000 RTP/AVP 0\na=ptime:20\r\n\r\n";
    assert_eq!(
        run(body, &plan(vec![a])),
        "v=0\r\nm=audio 1 RTP/AVP 0\na=rtcp:2\r\na=rtcp-mux\r\na=ptime:20\r\na=recvonly\r\n\r\n"
    );
}

#[test]
fn deleted_last_line_keeps_no_final_newline() {
    let body = b"v=0\r\nm=audio 4000 RTP/AVP 0\r\na=candidate:1 1 UDP 1 192.0.2.1 9 typ host";
    let mut rw = plan(vec![media(1)]);
    rw.strip_ice = true;
    assert_eq!(run(body, &rw), "v=0\r\nm=audio 1 RTP/AVP 0");
}

#[test]
fn repeated_direction_and_rtcp_lines() {
    let body = b"v=0\r\nm=audio 4000 RTP/AVP 0\r\na=sendonly\r\na=rtcp:4001\r\na=rtcp:4005\r\n\
a=recvonly\r\n";
    let mut a = media(1);
    a.rtcp = RtcpRewrite::Port(2);
    a.direction = Some(Direction::SendRecv);
    assert_eq!(
        run(body, &plan(vec![a])),
        "v=0\r\nm=audio 1 RTP/AVP 0\r\na=sendrecv\r\na=rtcp:2\r\n"
    );
    // Keep leaves repeats alone.
    assert_eq!(run(body, &plan(vec![media(1)])), {
        let s = std::str::from_utf8(body).unwrap();
        s.replace("4000", "1")
    });
}

#[test]
fn unowned_lines_with_non_utf8_are_kept() {
    let body = b"v=0\r\ns=caf\xe9\r\nm=audio 4000 RTP/AVP 0\r\na=x-\xff:\xfe\r\n";
    let sd = parse(body).unwrap();
    let out = rewrite(body, &sd, &plan(vec![media(1)])).unwrap();
    assert_eq!(
        out,
        b"v=0\r\ns=caf\xe9\r\nm=audio 1 RTP/AVP 0\r\na=x-\xff:\xfe\r\n"
    );
}

#[test]
fn no_origin_no_connection_and_keep_everything() {
    let body = b"v=0\r\ns=-\r\nm=audio 4000 RTP/AVP 0\r\n";
    assert_eq!(
        run(body, &plan(vec![media(4000)])),
        "v=0\r\ns=-\r\nm=audio 4000 RTP/AVP 0\r\n"
    );
}

#[test]
fn plan_and_body_must_match() {
    let body = b"v=0\r\nm=audio 4000 RTP/AVP 0\r\n";
    let sd = parse(body).unwrap();
    assert_eq!(
        rewrite(body, &sd, &plan(vec![])),
        Err(SdpError::MediaCountMismatch {
            expected: 1,
            got: 0
        })
    );
    assert_eq!(
        rewrite(b"v=0\r\n", &sd, &plan(vec![media(1)])),
        Err(SdpError::BodyMismatch)
    );
    // An equal copy of the body is fine.
    let copy = body.to_vec();
    assert!(rewrite(&copy, &sd, &plan(vec![media(1)])).is_ok());
}
