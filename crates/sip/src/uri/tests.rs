//! The owned URI forms and the precise errors behind `SipError::BadUri`.

use std::net::{IpAddr, Ipv4Addr};

use super::*;
use crate::Transport;

#[test]
fn sip_uri_keeps_its_text_and_reads_what_a_next_hop_needs() {
    let u = SipUri::parse("SIP:alice:pw@Host.Example.COM:5070;Transport=tcp;lr").unwrap();
    assert!(!u.secure);
    assert_eq!(u.user.as_deref(), Some("alice"));
    assert_eq!(u.host, UriHost::Name("host.example.com".into()));
    assert!(u.needs_dns());
    assert_eq!(u.port, Some(5070));
    assert_eq!(u.transport, Some(Transport::Tcp));
    assert_eq!(
        u.to_string(),
        "SIP:alice:pw@Host.Example.COM:5070;Transport=tcp;lr"
    );
    let v6: SipUri = "sips:[2001:db8::1]".parse().unwrap();
    assert_eq!(v6.host, UriHost::Ip("2001:db8::1".parse().unwrap()));
    assert_eq!((v6.port, v6.default_port()), (None, 5061));
    assert!(!v6.needs_dns());
    let plain = SipUri::parse("sip:192.0.2.1").unwrap();
    assert_eq!(
        plain.host,
        UriHost::Ip(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)))
    );
    assert_eq!((plain.default_port(), plain.transport), (5060, None));
    // The transport parameter knows TLS; whether it is spoken is the user's business.
    assert_eq!(
        SipUri::parse("sip:h.example;transport=TLS")
            .unwrap()
            .transport,
        Some(Transport::Tls)
    );
}

#[test]
fn sip_uri_errors_say_what_is_wrong() {
    let cases: &[(&str, UriError)] = &[
        ("tel:+15551234", UriError::NotSip),
        ("http://x", UriError::NotSip),
        ("sip:127.0.0.1?subject=x", UriError::Headers),
        ("sip:@127.0.0.1", UriError::EmptyUser),
        (
            "sip:a b@127.0.0.1",
            UriError::BadChar {
                part: "user part",
                ch: ' ',
            },
        ),
        (
            "sip:a;b c",
            UriError::BadChar {
                part: "uri-parameter",
                ch: ' ',
            },
        ),
        ("sip:a%zz@h", UriError::BadEscape { part: "user part" }),
        ("sip:127.0.0.1;=x", UriError::EmptyParam),
        ("sip:127.0.0.1:99999", UriError::BadPort),
        ("sip:host:", UriError::BadPort),
        ("sip:127.0.0.1:0", UriError::PortZero),
        ("sip:[::1", UriError::UnclosedIpv6),
        ("sip:[zz]", UriError::BadIpv6),
        // Loose enough for a message (RFC 5118 §4.10), not an IPv6 address.
        ("sip:[1:2:3]", UriError::BadIpv6),
        ("sip:[::1]x", UriError::AfterIpv6),
        ("sips:", UriError::EmptyHost),
        ("sip:256.1.1.1", UriError::BadIpv4),
        ("sip:a..example", UriError::BadHost),
        ("sip:a-.example", UriError::BadHost),
        ("sip:-a.example", UriError::BadHost),
        (
            "sip:h;transport=sctp",
            UriError::Transport(crate::UnknownTransport("sctp".into())),
        ),
        ("sips:h;transport=udp", UriError::SipsOverUdp),
    ];
    for (text, want) in cases {
        assert_eq!(SipUri::parse(text).as_ref(), Err(want), "{text:?}");
    }
    let long = format!("sip:{}.example", ["a"; 130].join("."));
    assert_eq!(SipUri::parse(&long), Err(UriError::HostTooLong));
    let label = format!("sip:{}.example", "a".repeat(64));
    assert_eq!(SipUri::parse(&label), Err(UriError::BadHost));
    assert_eq!(
        UriError::BadChar {
            part: "user part",
            ch: ' '
        }
        .to_string(),
        "user part contains ' '"
    );
}

#[test]
fn hostport_reads_names_and_literals_with_a_nonzero_port() {
    let hp = HostPort::parse("LB.Example.NET:5080").unwrap();
    assert_eq!(hp.host, UriHost::Name("lb.example.net".into()));
    assert_eq!(
        (hp.port, hp.to_string().as_str()),
        (Some(5080), "lb.example.net:5080")
    );
    let v6: HostPort = "[::1]".parse().unwrap();
    assert_eq!((v6.port, v6.to_string().as_str()), (None, "[::1]"));
    assert_eq!(HostPort::parse("203.0.113.7:0"), Err(UriError::PortZero));
    assert_eq!(HostPort::parse("::1"), Err(UriError::EmptyHost));
    assert_eq!(HostPort::parse("bad_host"), Err(UriError::BadHost));
    assert_eq!(UriHost::parse("2001:db8::1"), Err(UriError::BadHost));
}

#[test]
fn the_message_layer_keeps_naming_the_part() {
    assert_eq!(parse_uri("sip:a b@c"), Err(SipError::BadUri("user part")));
    assert_eq!(parse_uri("sip:a@b:99999"), Err(SipError::BadUri("port")));
    assert_eq!(parse_uri("mailto:x"), Err(SipError::BadUri("scheme")));
    assert_eq!(check_any_uri("nocolon"), Err(SipError::BadUri("no scheme")));
    assert_eq!(check_any_uri("urn:"), Err(SipError::BadUri("empty")));
    assert!(check_any_uri("urn:service:sos").is_ok());
    assert_eq!(host_kind("[x]"), Err(SipError::BadUri("IPv6 reference")));
    // A message URI may carry headers and any host a message may: only SipUri is strict.
    assert!(parse_uri("sip:256.1.1.1?subject=x").is_ok());
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2048))]

    /// The one-pass IPv4 reader decides exactly what the general split decides, on
    /// addresses, near-addresses, ports and what is neither.
    #[test]
    fn ipv4_hostport_fast_path_matches_the_general_split(
        s in r"[0-9.:]{0,24}|[0-9]{1,4}(\.[0-9]{1,4}){2,4}(:[0-9+]{0,7})?|[0-9a-f.:\[\]x-]{0,20}",
    ) {
        proptest::prop_assert_eq!(split_hostport(&s), split_hostport_general(&s));
    }
}

#[test]
fn ipv4_hostport_fast_path_takes_the_usual_forms_and_leaves_the_rest() {
    let v4 = |a, b, c, d| HostKind::Ipv4(Ipv4Addr::new(a, b, c, d));
    assert_eq!(
        ipv4_hostport("127.0.0.10:5060"),
        Some(("127.0.0.10", v4(127, 0, 0, 10), Some(5060)))
    );
    assert_eq!(
        ipv4_hostport("192.0.2.1"),
        Some(("192.0.2.1", v4(192, 0, 2, 1), None))
    );
    for other in [
        "192.0.2.1:",
        "192.0.2.1:65536",
        "192.0.2.01",
        "256.0.0.1",
        "1.2.3",
        "1.2.3.4.5",
        "host:5060",
        "[::1]:5060",
        "1.2.3.4:50x",
    ] {
        assert_eq!(ipv4_hostport(other), None, "{other}");
    }
    assert_eq!(
        split_hostport("192.0.2.1:65536"),
        Err(UriError::BadPort),
        "refused by the general split"
    );
}
