#![allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a test failure.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::*;

fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

#[test]
fn origin_fields_and_addrtype_offset() {
    let (o, off) = origin(b"- 6 2 IN IP4 192.168.1.87", 2).unwrap();
    assert_eq!(o.username, "-");
    assert_eq!(o.sess_id, "6");
    assert_eq!(o.sess_version, "2");
    assert_eq!(o.nettype, "IN");
    assert_eq!(o.addrtype, "IP4");
    assert_eq!(o.addr, Address::Ip(v4(192, 168, 1, 87)));
    assert_eq!(off, 9);
}

#[test]
fn origin_hostname_bracketed_and_spaced_username() {
    let (o, _) = origin(b"bob 280744730 28977631 IN IP4 host.example.com", 2).unwrap();
    assert_eq!(o.addr, Address::Name("host.example.com"));
    let (o, _) = origin(b"user1 1 2 IN IP6 [fd17::1]", 2).unwrap();
    assert_eq!(o.addr, Address::Ip("fd17::1".parse().unwrap()));
    let (o, off) = origin(b"Sonus UAC  945064 419036 IN IP4 192.0.2.1", 2).unwrap();
    assert_eq!(o.username, "Sonus UAC");
    assert_eq!(o.sess_id, "945064");
    assert_eq!(off, 28);
}

#[test]
fn origin_errors() {
    assert_eq!(
        origin(b"- 1 IN IP4 192.0.2.1", 7),
        Err(SdpError::BadOrigin { line: 7 })
    );
    assert_eq!(origin(b"", 7), Err(SdpError::BadOrigin { line: 7 }));
    assert_eq!(
        origin(b"\xff 1 1 IN IP4 192.0.2.1", 7),
        Err(SdpError::NotUtf8 { line: 7 })
    );
}

#[test]
fn connection_unicast_and_multicast() {
    let (c, suffix) = connection(b"IN IP4 192.0.2.1", 3).unwrap();
    assert_eq!(
        (c.addr, c.ttl, c.count, suffix),
        (v4(192, 0, 2, 1), None, None, "")
    );
    let (c, suffix) = connection(b"IN IP4 224.2.1.1/127/3", 3).unwrap();
    assert_eq!((c.ttl, c.count, suffix), (Some(127), Some(3), "/127/3"));
    let (c, _) = connection(b"IN IP4 224.2.1.1/127", 3).unwrap();
    assert_eq!((c.ttl, c.count), (Some(127), None));
    let (c, suffix) = connection(b"IN IP6 ff15::101/3", 3).unwrap();
    assert_eq!((c.ttl, c.count, suffix), (None, Some(3), "/3"));
    let (c, _) = connection(b"IN IP6 ::ffff:192.0.2.2", 3).unwrap();
    assert_eq!(
        c.addr,
        IpAddr::V6("::ffff:192.0.2.2".parse::<Ipv6Addr>().unwrap())
    );
    let (c, _) = connection(b"in ip6 [2001:db8::1]", 3).unwrap();
    assert_eq!(c.addr, "2001:db8::1".parse::<IpAddr>().unwrap());
}

#[test]
fn connection_errors() {
    let bad = Err(SdpError::BadConnection { line: 4 });
    assert_eq!(connection(b"IN IP4", 4), bad);
    assert_eq!(connection(b"IN IP4 192.0.2.1 extra", 4), bad);
    assert_eq!(connection(b"IN IP4 224.2.1.1/", 4), bad);
    assert_eq!(connection(b"IN IP4 224.2.1.1/256", 4), bad);
    assert_eq!(connection(b"IN IP4 224.2.1.1/1/2/3", 4), bad);
    assert_eq!(connection(b"IN IP6 ff15::1/1/2", 4), bad);
    assert_eq!(connection(b"IN IP4 224.2.1.1/+1", 4), bad);
    assert_eq!(
        connection(b"IN IP4 host.example.com", 4),
        Err(SdpError::NotIpLiteral { line: 4 })
    );
    assert_eq!(
        connection(b"ATM NSAP 47.0091", 4),
        Err(SdpError::UnsupportedNetwork { line: 4 })
    );
    assert_eq!(
        connection(b"IN IPX 192.0.2.1", 4),
        Err(SdpError::UnsupportedNetwork { line: 4 })
    );
    assert_eq!(
        connection(b"IN IP4 \xc0", 4),
        Err(SdpError::NotUtf8 { line: 4 })
    );
}

#[test]
fn media_line() {
    let (m, port) = media(b"audio 49170/2 RTP/AVP 0 8 101", 5).unwrap();
    assert_eq!(m.media, "audio");
    assert_eq!((m.port, m.port_count), (49170, Some(2)));
    assert_eq!(m.proto, "RTP/AVP");
    assert_eq!(m.formats, vec!["0", "8", "101"]);
    assert_eq!(port, 6..11);
    let (m, port) = media(b"application  9 DTLS/SCTP 5000", 5).unwrap();
    assert_eq!((m.port, m.port_count, port), (9, None, 13..14));
}

#[test]
fn media_errors() {
    let bad = Err(SdpError::BadMedia { line: 6 });
    assert_eq!(media(b"audio 4000 RTP/AVP", 6).map(|m| m.1), bad);
    assert_eq!(media(b"audio 65536 RTP/AVP 0", 6).map(|m| m.1), bad);
    assert_eq!(media(b"audio +40 RTP/AVP 0", 6).map(|m| m.1), bad);
    assert_eq!(media(b"audio 4000/ RTP/AVP 0", 6).map(|m| m.1), bad);
    assert_eq!(media(b"audio PORT RTP/AVP 0", 6).map(|m| m.1), bad);
    assert_eq!(media(b"", 6).map(|m| m.1), bad);
}

#[test]
fn rtcp_attribute() {
    assert_eq!(
        rtcp(b"53020", 1),
        Ok(RtcpAttr {
            port: 53020,
            addr: None
        })
    );
    assert_eq!(
        rtcp(b"9 IN IP4 0.0.0.0", 1),
        Ok(RtcpAttr {
            port: 9,
            addr: Some(v4(0, 0, 0, 0))
        })
    );
    assert_eq!(
        rtcp(b"9 IN IP6 2001:db8::1", 1).map(|r| r.addr),
        Ok(Some("2001:db8::1".parse().unwrap()))
    );
    assert_eq!(rtcp(b"x", 1), Err(SdpError::BadRtcp { line: 1 }));
    assert_eq!(rtcp(b"9 IN IP4", 1), Err(SdpError::BadRtcp { line: 1 }));
    assert_eq!(
        rtcp(b"9 XX IP4 1.2.3.4", 1),
        Err(SdpError::BadRtcp { line: 1 })
    );
    assert_eq!(
        rtcp(b"9 IN IP4 rtcp.example.com", 1),
        Err(SdpError::NotIpLiteral { line: 1 })
    );
}

#[test]
fn rtpmap_attribute() {
    assert_eq!(
        rtpmap(b"111 opus/48000/2"),
        Some(RtpMap {
            pt: 111,
            encoding: "opus",
            clock_rate: 48000,
            channels: Some(2)
        })
    );
    assert_eq!(rtpmap(b"0 pcmu/8000").map(|r| r.encoding), Some("pcmu"));
    assert_eq!(rtpmap(b"128 X/8000"), None);
    assert_eq!(rtpmap(b"96 X"), None);
    assert_eq!(rtpmap(b"96 X/8000/2/1"), None);
    assert_eq!(rtpmap(b"96 /8000"), None);
    assert_eq!(rtpmap(b"96 X/8000 junk"), None);
    assert_eq!(rtpmap(b"96 \xffX/8000"), None);
}

#[test]
fn attribute_classes() {
    assert_eq!(classify(b"rtcp"), AttrKind::Rtcp);
    assert_eq!(classify(b"rtcp-mux"), AttrKind::RtcpMux);
    assert_eq!(classify(b"rtcp-fb"), AttrKind::Other);
    assert_eq!(
        classify(b"SendOnly"),
        AttrKind::Direction(Direction::SendOnly)
    );
    assert_eq!(
        classify(b"inactive"),
        AttrKind::Direction(Direction::Inactive)
    );
    assert_eq!(classify(b"rtpmap"), AttrKind::RtpMap);
    for ice in ICE_ATTRS {
        assert_eq!(classify(ice), AttrKind::Ice);
    }
    assert_eq!(classify(b"ice-ufrag2"), AttrKind::Other);
    assert_eq!(classify(b""), AttrKind::Other);
}
