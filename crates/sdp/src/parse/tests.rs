#![allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a test failure.

use std::net::IpAddr;

use super::*;
use crate::model::{Address, Connection, Direction, RtcpAttr, RtpMap};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

const AV: &[u8] = b"v=0\r\n\
o=alice 2890844526 2890844527 IN IP4 198.51.100.1\r\n\
s=-\r\n\
c=IN IP4 198.51.100.1\r\n\
t=0 0\r\n\
a=sendrecv\r\n\
m=audio 49170 RTP/AVP 0 8 97\r\n\
a=rtpmap:97 iLBC/8000\r\n\
a=rtcp:49171\r\n\
m=video 51372 RTP/AVP 31 99\r\n\
c=IN IP4 198.51.100.2\r\n\
a=rtpmap:99 h263-1998/90000\r\n\
a=sendonly\r\n";

#[test]
fn audio_video() {
    let sd = parse(AV).unwrap();
    let o = sd.origin.unwrap();
    assert_eq!(
        (o.username, o.sess_id, o.sess_version),
        ("alice", "2890844526", "2890844527")
    );
    assert_eq!(o.addr, Address::Ip(ip("198.51.100.1")));
    assert_eq!(
        sd.connection,
        Some(Connection {
            addr: ip("198.51.100.1"),
            ttl: None,
            count: None
        })
    );
    assert_eq!(sd.direction, Some(Direction::SendRecv));
    assert!(!sd.has_ice);
    assert_eq!(sd.media.len(), 2);
    let (a, v) = (&sd.media[0], &sd.media[1]);
    assert_eq!((a.media, a.port, a.proto), ("audio", 49170, "RTP/AVP"));
    assert_eq!(a.formats, vec!["0", "8", "97"]);
    assert_eq!(a.connection, None);
    assert_eq!(a.effective_connection(&sd), Some(ip("198.51.100.1")));
    assert_eq!(
        a.rtcp,
        Some(RtcpAttr {
            port: 49171,
            addr: None
        })
    );
    assert_eq!(
        a.rtpmaps,
        vec![RtpMap {
            pt: 97,
            encoding: "iLBC",
            clock_rate: 8000,
            channels: None
        }]
    );
    assert_eq!(a.effective_direction(&sd), Direction::SendRecv);
    assert!(!a.is_hold(&sd));
    assert_eq!(v.effective_connection(&sd), Some(ip("198.51.100.2")));
    assert_eq!(v.direction, Some(Direction::SendOnly));
    assert!(v.is_hold(&sd));
    assert_eq!(v.clock_rate(), 90000);
}

#[test]
fn bare_lf_trailing_empty_line_and_no_final_newline() {
    let sd = parse(b"v=0\ns=-\nm=audio 1 RTP/AVP 0\n\n").unwrap();
    assert_eq!(sd.media[0].port, 1);
    let sd = parse(b"v=0\r\nm=audio 2 RTP/AVP 0").unwrap();
    assert_eq!(sd.media[0].port, 2);
    assert!(parse(b"v=0\r\n\r\n\r\n").is_ok());
}

#[test]
fn structural_errors_name_the_line() {
    assert_eq!(parse(b""), Err(SdpError::VersionNotFirst));
    assert_eq!(parse(b"s=-\r\nv=0\r\n"), Err(SdpError::VersionNotFirst));
    assert_eq!(parse(b"\r\nv=0\r\n"), Err(SdpError::VersionNotFirst));
    assert_eq!(
        parse(b"v=0\r\ns=-\r\n\r\nt=0 0\r\n"),
        Err(SdpError::Syntax { line: 3 })
    );
    assert_eq!(
        parse(b"v=0\r\nhello\r\n"),
        Err(SdpError::Syntax { line: 2 })
    );
    assert_eq!(parse(b"v=0\r\n =x\r\n"), Err(SdpError::Syntax { line: 2 }));
    assert_eq!(
        parse(b"v=0\r\nm=audio x RTP/AVP 0\r\n"),
        Err(SdpError::BadMedia { line: 2 })
    );
    assert_eq!(
        parse(b"v=0\r\nm=audio 1 RTP/AVP 0\r\nc=IN IP4 media.example.com\r\n"),
        Err(SdpError::NotIpLiteral { line: 3 })
    );
    assert_eq!(
        parse(b"v=0\r\nm=audio 1 RTP/AVP 0\r\na=rtcp:x\r\n"),
        Err(SdpError::BadRtcp { line: 3 })
    );
    assert_eq!(
        parse(b"v=0\r\no=x\r\n"),
        Err(SdpError::BadOrigin { line: 2 })
    );
}

#[test]
fn limits() {
    let big = vec![b'v'; MAX_BODY_LEN + 1];
    assert_eq!(
        parse(&big),
        Err(SdpError::TooLarge {
            len: MAX_BODY_LEN + 1
        })
    );
    let mut body = b"v=0\r\n".to_vec();
    for _ in 0..MAX_MEDIA {
        body.extend_from_slice(b"m=audio 0 RTP/AVP 0\r\n");
    }
    assert_eq!(parse(&body).map(|sd| sd.media.len()), Ok(MAX_MEDIA));
    body.extend_from_slice(b"m=audio 0 RTP/AVP 0\r\n");
    assert_eq!(
        parse(&body),
        Err(SdpError::TooManyMedia {
            line: MAX_MEDIA + 2
        })
    );
}

#[test]
fn unknown_lines_and_non_utf8_kept_out_of_the_way() {
    let sd = parse(b"v=0\r\ns=caf\xe9\r\nX=anything\r\nm=audio 5 RTP/AVP 0\r\na=x-\xff\xfe\r\n")
        .unwrap();
    assert_eq!(sd.media[0].port, 5);
    assert_eq!(
        parse(b"v=0\r\nm=audio 5 RTP/AVP \xff\r\n"),
        Err(SdpError::NotUtf8 { line: 2 })
    );
}

#[test]
fn ipv6_hold_and_disabled_stream() {
    let sd = parse(
        b"v=0\r\no=- 1 1 IN IP6 2001:db8::1\r\ns=-\r\nc=IN IP6 ::\r\nt=0 0\r\n\
m=audio 7000 RTP/AVP 9\r\na=sendrecv\r\nm=video 0 RTP/AVP 96\r\n",
    )
    .unwrap();
    assert_eq!(sd.origin.unwrap().addr, Address::Ip(ip("2001:db8::1")));
    let a = &sd.media[0];
    assert_eq!(a.effective_direction(&sd), Direction::SendRecv);
    assert!(a.is_hold(&sd), "c=:: is a hold");
    assert_eq!(a.clock_rate(), 8000, "G722 is 8000 by RFC 3551 4.5.2");
    assert_eq!(sd.media[1].port, 0);
    assert_eq!(sd.media[1].clock_rate(), 8000, "dynamic PT without rtpmap");
}

#[test]
fn first_of_repeated_attributes_and_levels() {
    let sd = parse(
        b"v=0\r\na=inactive\r\na=ice-lite\r\na=rtcp:1\r\nm=audio 7000 RTP/AVP 0\r\n\
c=IN IP4 192.0.2.1\r\nc=IN IP4 192.0.2.2\r\na=rtcp:7001\r\na=rtcp:7003 IN IP4 192.0.2.9\r\n\
a=recvonly\r\na=sendonly\r\na=candidate:1 1 UDP 1 192.0.2.1 7000 typ host\r\na=RTCP-MUX\r\n\
a=rtpmap:0 PCMU/8000\r\na=rtpmap:bad\r\nm=audio 7002 RTP/AVP 0\r\n",
    )
    .unwrap();
    assert_eq!(sd.direction, Some(Direction::Inactive));
    assert!(sd.has_ice);
    let a = &sd.media[0];
    assert_eq!(a.connection.map(|c| c.addr), Some(ip("192.0.2.1")));
    assert_eq!(a.rtcp.map(|r| (r.port, r.addr)), Some((7001, None)));
    assert_eq!(a.direction, Some(Direction::RecvOnly));
    assert!(a.has_ice && a.rtcp_mux);
    assert_eq!(a.rtpmaps.len(), 1);
    let b = &sd.media[1];
    assert_eq!(b.effective_direction(&sd), Direction::Inactive);
    assert!(b.is_hold(&sd));
    assert!(!b.has_ice && !b.rtcp_mux && b.rtcp.is_none());
}

#[test]
fn clock_rates() {
    let sd = parse(
        b"v=0\r\nm=audio 1 RTP/AVP 111 0\r\na=rtpmap:111 opus/48000/2\r\n\
m=audio 1 RTP/AVP 0 111\r\na=rtpmap:0 PCMU/8000\r\nm=video 1 RTP/AVP 26\r\n\
m=video 1 RTP/AVP 34\r\nm=audio 1 RTP/AVP 6\r\nm=application 1 DTLS/SCTP webrtc-datachannel\r\n\
m=audio 1 RTP/AVP 2\r\na=rtpmap:2 G726-32/8000\r\n",
    )
    .unwrap();
    let rates: Vec<u32> = sd.media.iter().map(|m| m.clock_rate()).collect();
    assert_eq!(rates, vec![48000, 8000, 90000, 90000, 16000, 8000, 8000]);
}

#[test]
fn direction_helpers() {
    assert_eq!(Direction::SendOnly.reversed(), Direction::RecvOnly);
    assert_eq!(Direction::RecvOnly.reversed(), Direction::SendOnly);
    assert_eq!(Direction::Inactive.reversed(), Direction::Inactive);
    assert_eq!(Direction::SendRecv.as_str(), "sendrecv");
}

#[test]
fn debug_omits_body() {
    let sd = parse(b"v=0\r\ns=secret-session-name\r\n").unwrap();
    let dbg = format!("{sd:?}");
    assert!(dbg.contains("media: []") && !dbg.contains("secret"));
}
