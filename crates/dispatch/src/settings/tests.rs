//! The settings' own parsers and the RFC 3263 target of a URI.

use std::net::IpAddr;

use super::*;

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

#[test]
fn cidr_contains_and_mapped_addresses() {
    let net = Cidr::parse("10.0.0.0/8").unwrap();
    assert!(net.contains(ip("10.255.0.1")));
    assert!(net.contains(ip("::ffff:10.1.2.3")));
    assert!(!net.contains(ip("11.0.0.1")));
    assert!(!net.contains(ip("::1")));
    assert!("0.0.0.0/0"
        .parse::<Cidr>()
        .unwrap()
        .contains(ip("203.0.113.9")));
    let any6 = Cidr::parse("::/0").unwrap();
    assert!(any6.contains(ip("2001:db8::1")) && !any6.contains(ip("192.0.2.1")));
    assert_eq!(Cidr::parse("fd00::/8").unwrap().to_string(), "fd00::/8");
    assert_eq!(Cidr::parse("192.0.2.7").unwrap().prefix_len, 32);
}

#[test]
fn cidr_errors_say_why() {
    assert_eq!(
        Cidr::parse("ten/8"),
        Err(CidrError::NotAnAddress("ten/8".into()))
    );
    for (text, len, max) in [
        ("10.0.0.0/", "", 32),
        ("::1/129", "129", 128),
        ("10.0.0.0/+8", "+8", 32),
    ] {
        assert_eq!(
            Cidr::parse(text),
            Err(CidrError::PrefixLength {
                text: len.into(),
                max
            }),
            "{text}"
        );
    }
    let slip = Cidr::parse("10.0.0.1/8").unwrap_err();
    assert_eq!(
        slip.to_string(),
        "\"10.0.0.1/8\" has host bits set; the network is 10.0.0.0/8"
    );
}

#[test]
fn ok_codes_are_classes_or_final_codes() {
    assert_eq!(OkCode::parse("2XX"), Ok(OkCode::Class(2)));
    assert_eq!("404".parse::<OkCode>(), Ok(OkCode::Exact(404)));
    assert!(OkCode::Class(2).accepts(299) && !OkCode::Class(2).accepts(300));
    assert!(OkCode::Exact(404).accepts(404) && !OkCode::Exact(404).accepts(405));
    assert_eq!(OkCode::Class(6).to_string(), "6xx");
    assert_eq!(OkCode::parse("1xx"), Err(OkCodeError::Class("1xx".into())));
    for bad in ["199", "700", "0404", "2x", "ok", ""] {
        assert_eq!(OkCode::parse(bad), Err(OkCodeError::NotACode(bad.into())));
    }
    let health = HealthConfig::default();
    assert!(health.accepts(200) && !health.accepts(404));
    assert_eq!(health.probe_from.text, DEFAULT_PROBE_FROM);
}

#[test]
fn member_targets_follow_rfc_3263() {
    let target = |text: &str| MemberTarget::of(&SipUri::parse(text).unwrap());
    assert_eq!(
        target("sip:[::1]"),
        MemberTarget::Static("[::1]:5060".parse().unwrap())
    );
    assert_eq!(
        target("sips:192.0.2.1"),
        MemberTarget::Static("192.0.2.1:5061".parse().unwrap())
    );
    assert_eq!(
        target("sip:FS.example.net:5080"),
        MemberTarget::Address {
            host: "fs.example.net".into(),
            port: 5080
        }
    );
    assert_eq!(
        target("sip:fs.example.net;transport=tcp"),
        MemberTarget::Service {
            host: "fs.example.net".into()
        }
    );
}
