use std::net::IpAddr;

use proptest::prelude::*;

use super::keys::Key;
use super::*;
use crate::bencode::{decode, DictBuilder, OwnedValue};

const SDP: &str = "v=0\r\no=- 1545997027 1 IN IP4 198.51.100.1\r\ns=-\r\n\
                   c=IN IP4 198.51.100.1\r\nt=0 0\r\nm=audio 49170 RTP/AVP 0 8 101\r\n\
                   a=rtpmap:101 telephone-event/8000\r\n";

fn ip(s: &str) -> IpAddr {
    s.parse().expect("test address")
}

/// Encodes `dict`, decodes it again and parses it, as the server would.
fn parse_encoded(dict: &OwnedValue) -> (Vec<u8>, Result<(), NgError>) {
    let bytes = dict.to_bytes();
    let result = {
        let v = decode(&bytes).expect("test input is valid bencode");
        parse_request(&v).map(|_| ())
    };
    (bytes, result)
}

fn with_request<T>(dict: &OwnedValue, check: impl FnOnce(Request<'_>) -> T) -> T {
    let bytes = dict.to_bytes();
    let v = decode(&bytes).expect("test input is valid bencode");
    let req = parse_request(&v).expect("request parses");
    check(req)
}

fn err_of(dict: &OwnedValue) -> NgError {
    parse_encoded(dict).1.expect_err("request must be rejected")
}

/// An offer the way Kamailio's module builds it for
/// `rtpengine_offer("trust-address replace-origin replace-session-connection ICE=remove
/// RTP/AVP")` on an INVITE received from 192.0.2.10 (module-parsed flags: keys in the
/// module's order, command near the end).
fn kamailio_offer() -> OwnedValue {
    DictBuilder::new()
        .with("supports", OwnedValue::str_list(["load limit"]))
        .with("sdp", SDP)
        .with("ICE", "remove")
        .with("flags", OwnedValue::str_list(["trust-address"]))
        .with(
            "replace",
            OwnedValue::str_list(["origin", "session-connection"]),
        )
        .with("transport-protocol", "RTP/AVP")
        .with("received-from", OwnedValue::str_list(["IP4", "192.0.2.10"]))
        .with("call-id", "a84b4c76e66710@pc33.example.com")
        .with("from-tag", "1928301774")
        .with("command", "offer")
        .with("sip-message-type", "sip_request")
        .build()
}

#[test]
fn kamailio_offer_module_parsed() {
    with_request(&kamailio_offer(), |req| {
        assert_eq!(req.command, Command::Offer);
        assert_eq!(req.call_id, Some(&b"a84b4c76e66710@pc33.example.com"[..]));
        assert_eq!(req.call_id_str(), Some("a84b4c76e66710@pc33.example.com"));
        assert_eq!(req.from_tag, Some(&b"1928301774"[..]));
        assert_eq!(req.to_tag, None);
        assert_eq!(req.sdp, Some(SDP.as_bytes()));
        assert!(req.has_flag(Flag::TrustAddress));
        assert_eq!(req.flags.iter().count(), 1);
        assert_eq!(
            req.replace,
            Replace {
                origin: true,
                session_connection: true,
                ..Replace::default()
            }
        );
        assert_eq!(req.ice, IceMode::Remove);
        assert_eq!(req.transport_protocol, Some(&b"RTP/AVP"[..]));
        assert_eq!(req.received_from, Some(ip("192.0.2.10")));
        assert!(req.supports_load_limit);
        assert_eq!(req.sip_message_type, Some(SipMessageType::Request));
        assert!(req.unknown_flags.is_empty());
        assert!(req.unknown_values.is_empty());
        assert!(req.other_keys.is_empty());
    });
}

#[test]
fn kamailio_offer_from_raw_wire_bytes() {
    // Hand-written datagram body, keys unsorted, as a module would put it on the wire.
    let body: &[u8] = b"d8:supportsl10:load limite3:sdp10:v=0\r\ns=-\r\n\
        5:flagsl13:trust-address9:symmetrice7:replacel6:origin18:session-connectione\
        9:directionl4:priv3:pube8:rtcp-muxl5:demuxe\
        13:received-froml3:IP611:2001:db8::1e7:call-id6:c1@srv8:from-tag3:ft1\
        7:command5:offere";
    let v = decode(body).expect("valid");
    let req = parse_request(&v).expect("valid request");
    assert_eq!(req.command, Command::Offer);
    assert!(req.has_flag(Flag::TrustAddress) && req.has_flag(Flag::Symmetric));
    assert!(req.replace.origin && req.replace.session_connection);
    assert_eq!(req.direction, vec![&b"priv"[..], &b"pub"[..]]);
    assert!(req.rtcp_mux.demux && !req.rtcp_mux.offer);
    assert_eq!(req.received_from, Some(ip("2001:db8::1")));
    assert_eq!(req.call_id, Some(&b"c1@srv"[..]));
    assert_eq!(req.from_tag, Some(&b"ft1"[..]));
    assert_eq!(req.sdp, Some(&b"v=0\r\ns=-\r\n"[..]));
}

#[test]
fn kamailio_answer_and_delete() {
    let answer = DictBuilder::new()
        .with("supports", OwnedValue::str_list(["load limit"]))
        .with("sdp", SDP)
        .with(
            "flags",
            OwnedValue::str_list(["trust-address", "symmetric"]),
        )
        .with(
            "received-from",
            OwnedValue::str_list(["IP4", "198.51.100.7"]),
        )
        .with("call-id", "a84b4c76e66710@pc33.example.com")
        .with("from-tag", "1928301774")
        .with("to-tag", "a6c85cf")
        .with("command", "answer")
        .with("sip-message-type", "sip_reply")
        .build();
    with_request(&answer, |req| {
        assert_eq!(req.command, Command::Answer);
        assert_eq!(req.to_tag, Some(&b"a6c85cf"[..]));
        assert_eq!(req.sip_message_type, Some(SipMessageType::Reply));
    });

    let delete = DictBuilder::new()
        .with("supports", OwnedValue::str_list(["load limit"]))
        .with("delete delay", 0i64)
        .with("flags", OwnedValue::str_list(["fatal"]))
        .with("call-id", "a84b4c76e66710@pc33.example.com")
        .with("via-branch", "z9hG4bK776asdhds")
        .with("from-tag", "1928301774")
        .with("command", "delete")
        .build();
    with_request(&delete, |req| {
        assert_eq!(req.command, Command::Delete);
        assert_eq!(req.delete_delay, Some(0));
        assert!(req.has_flag(Flag::Fatal));
        assert_eq!(req.via_branch, Some(&b"z9hG4bK776asdhds"[..]));
    });

    let ping = DictBuilder::new().with("command", "ping").build();
    with_request(&ping, |req| assert_eq!(req, Request::new(Command::Ping)));
}

#[test]
fn rtpp_flags_string_is_normalised() {
    let dict = DictBuilder::new()
        .with("sdp", SDP)
        .with("call-id", "cid")
        .with("from-tag", "ft")
        .with("command", "offer")
        .with(
            "rtpp-flags",
            "trust-address replace-origin replace-session-connection ICE=remove \
             rtcp-mux-demux direction=internal direction=external address-family=IP6 \
             RTP/SAVPF label=caller delete-delay=5 received-from=203.0.113.5 \
             codec-strip-PCMA transcode=opus replace=[username zero-address] TOS=184 \
             SDES-off media-address=2001:db8::5 frobnicate foo=bar",
        )
        .build();
    with_request(&dict, |req| {
        assert!(req.has_flag(Flag::TrustAddress));
        assert!(req.replace.origin && req.replace.session_connection);
        assert!(req.replace.username && req.replace.zero_address);
        assert_eq!(req.ice, IceMode::Remove);
        assert!(req.rtcp_mux.demux);
        assert_eq!(req.direction, vec![&b"internal"[..], &b"external"[..]]);
        assert_eq!(req.address_family, Some(AddressFamily::Ip6));
        assert_eq!(req.transport_protocol, Some(&b"RTP/SAVPF"[..]));
        assert_eq!(req.label, Some(&b"caller"[..]));
        assert_eq!(req.delete_delay, Some(5));
        assert_eq!(req.received_from, Some(ip("203.0.113.5")));
        assert_eq!(req.codec.strip, vec![&b"PCMA"[..]]);
        assert_eq!(req.codec.transcode, vec![&b"opus"[..]]);
        assert_eq!(req.tos, Some(184));
        assert_eq!(req.sdes, vec![&b"off"[..]]);
        assert_eq!(req.media_address, Some(ip("2001:db8::5")));
        assert_eq!(req.unknown_flags, vec![&b"frobnicate"[..]]);
        assert_eq!(req.other_keys, vec![(&b"foo"[..], Value::Bytes(b"bar"))]);
        assert!(req.rtpp_flags.is_some());
    });
}

#[test]
fn key_value_items_in_the_flags_list() {
    let dict = DictBuilder::new()
        .with("command", "offer")
        .with("call-id", "cid")
        .with("from-tag", "ft")
        .with("sdp", SDP)
        .with(
            "flags",
            OwnedValue::str_list([
                "ICE=force",
                "address-family=IP6",
                "direction=priv",
                "direction=pub",
                "OSRTP-offer",
                "from-tags-abc",
                "all",
                "T.38-decode",
                "endpoint-learning-heuristic",
                "rtcp-mux-offer",
                "rtcp-mux-require",
                "no-rtcp-attribute",
                "generate-mid",
                "loop-protect",
                "record-call",
                "always-transcode",
                "media-handover",
                "port-latching",
                "strict-source",
                "asymmetric",
                "SIP-source-address",
                "reset",
                "full-rtcp-attribute",
            ]),
        )
        .build();
    with_request(&dict, |req| {
        assert_eq!(req.ice, IceMode::Force);
        assert_eq!(req.address_family, Some(AddressFamily::Ip6));
        assert_eq!(req.direction, vec![&b"priv"[..], &b"pub"[..]]);
        assert_eq!(req.osrtp, vec![&b"offer"[..]]);
        assert_eq!(req.from_tags, vec![&b"abc"[..]]);
        assert_eq!(req.all, Some(AllMode::All));
        assert_eq!(req.t38, vec![&b"decode"[..]]);
        assert_eq!(req.endpoint_learning, Some(&b"heuristic"[..]));
        assert!(req.rtcp_mux.offer && req.rtcp_mux.require);
        for f in [
            Flag::NoRtcpAttribute,
            Flag::GenerateMid,
            Flag::LoopProtect,
            Flag::RecordCall,
            Flag::AlwaysTranscode,
            Flag::MediaHandover,
            Flag::PortLatching,
            Flag::StrictSource,
            Flag::Asymmetric,
            Flag::SipSourceAddress,
            Flag::Reset,
            Flag::FullRtcpAttribute,
        ] {
            assert!(req.has_flag(f), "{f:?}");
        }
        assert!(req.unknown_flags.is_empty());
        assert!(req.unknown_values.is_empty());
    });
}

#[test]
fn spellings_with_spaces_case_and_underscores() {
    let dict = DictBuilder::new()
        .with("command", "Offer")
        .with("call-id", "cid")
        .with("from-tag", "ft")
        .with("sdp", SDP)
        .with("address family", "IP4")
        .with("media address", "192.0.2.99")
        .with("received from", OwnedValue::str_list(["IP4", "192.0.2.1"]))
        .with("transport protocol", "RTP/AVPF")
        .with("ice", "force-relay")
        .with("delete_delay", "30")
        .with("from-label", "caller")
        .with(
            "flags",
            OwnedValue::str_list(["trust address", "SIP source address", "Strict_Source"]),
        )
        .with(
            "replace",
            OwnedValue::str_list(["session connection", "SDP version"]),
        )
        .build();
    with_request(&dict, |req| {
        assert_eq!(req.command, Command::Offer);
        assert_eq!(req.address_family, Some(AddressFamily::Ip4));
        assert_eq!(req.media_address, Some(ip("192.0.2.99")));
        assert_eq!(req.received_from, Some(ip("192.0.2.1")));
        assert_eq!(req.transport_protocol, Some(&b"RTP/AVPF"[..]));
        assert_eq!(req.ice, IceMode::ForceRelay);
        assert_eq!(req.delete_delay, Some(30));
        assert_eq!(req.label, Some(&b"caller"[..]));
        assert!(req.has_flag(Flag::TrustAddress));
        assert!(req.has_flag(Flag::SipSourceAddress));
        assert!(req.has_flag(Flag::StrictSource));
        assert!(req.replace.session_connection && req.replace.sdp_version);
    });
}

#[test]
fn duplicate_dictionary_keys_first_wins() {
    let dict = OwnedValue::Dict(vec![
        (b"command".to_vec(), "query".into()),
        (b"call-id".to_vec(), "first".into()),
        (b"call id".to_vec(), "second".into()),
        (b"ICE".to_vec(), "force".into()),
        (b"ICE".to_vec(), "remove".into()),
        (b"command".to_vec(), "ping".into()),
        (b"x-custom".to_vec(), "1".into()),
        (b"x-custom".to_vec(), "2".into()),
    ]);
    with_request(&dict, |req| {
        assert_eq!(req.command, Command::Query);
        assert_eq!(req.call_id, Some(&b"first"[..]));
        assert_eq!(req.ice, IceMode::Force);
        assert_eq!(req.other_keys.len(), 2, "unknown keys are all kept");
    });
}

#[test]
fn flag_tokens_override_dictionary_scalars() {
    let dict = DictBuilder::new()
        .with("command", "offer")
        .with("call-id", "cid")
        .with("from-tag", "from-sip")
        .with("sdp", SDP)
        .with("ICE", "force")
        .with("flags", OwnedValue::str_list(["ICE=remove"]))
        .with("rtpp-flags", "from-tag=override via-branch=auto")
        .build();
    with_request(&dict, |req| {
        assert_eq!(req.ice, IceMode::Remove);
        assert_eq!(req.from_tag, Some(&b"override"[..]));
        assert!(req.has_flag(Flag::Directional));
        assert_eq!(
            req.via_branch, None,
            "Kamailio via selectors are not branches"
        );
        assert_eq!(req.unknown_values, vec![("via-branch", &b"auto"[..])]);
    });
}

#[test]
fn transport_shorthands() {
    let proto = |tokens: &str| {
        let dict = DictBuilder::new()
            .with("command", "ping")
            .with("rtpp-flags", tokens)
            .build();
        with_request(&dict, |req| req.transport_protocol.map(<[u8]>::to_vec))
    };
    let p = |s: &str| Some(s.as_bytes().to_vec());
    assert_eq!(proto("SRTP AVPF"), p("RTP/SAVPF"));
    assert_eq!(proto("SRTP"), p("RTP/SAVP"));
    assert_eq!(proto("AVPF"), p("RTP/AVPF"));
    assert_eq!(proto("RTP AVP"), p("RTP/AVP"));
    assert_eq!(proto("SRTP AVPF RTP"), p("RTP/AVPF"));
    assert_eq!(proto("DTLS"), p("UDP/TLS/RTP/SAVP"));
    assert_eq!(proto("DTLS AVPF"), p("UDP/TLS/RTP/SAVPF"));
    assert_eq!(proto("DTLS SRTP AVPF"), p("UDP/TLS/RTP/SAVPF"));
    assert_eq!(proto("UDP/TLS/RTP/SAVPF"), p("UDP/TLS/RTP/SAVPF"));
    assert_eq!(proto("RTP/SAVP"), p("RTP/SAVP"));
    assert_eq!(proto("trust-address"), None);
}

#[test]
fn comma_separated_lists_and_codec_dictionary() {
    let dict = DictBuilder::new()
        .with("command", "offer")
        .with("call-id", "cid")
        .with("from-tag", "ft")
        .with("sdp", SDP)
        .with("flags", "trust-address, symmetric")
        .with(
            "codec",
            DictBuilder::new()
                .with("strip", OwnedValue::str_list(["PCMU"]))
                .with("transcode", "opus,G722")
                .with("bogus", OwnedValue::List(vec![]))
                .build(),
        )
        .build();
    with_request(&dict, |req| {
        assert!(req.has_flag(Flag::TrustAddress) && req.has_flag(Flag::Symmetric));
        assert_eq!(req.codec.strip, vec![&b"PCMU"[..]]);
        assert_eq!(req.codec.transcode, vec![&b"opus"[..], &b"G722"[..]]);
        assert_eq!(req.unknown_values, vec![("codec", &b"bogus"[..])]);
        assert!(!req.codec.is_empty());
    });
}

#[test]
fn unrecognised_values_are_reported_not_fatal() {
    let dict = DictBuilder::new()
        .with("command", "offer")
        .with("call-id", "cid")
        .with("from-tag", "ft")
        .with("sdp", SDP)
        .with("ICE", "bogus")
        .with("replace", OwnedValue::str_list(["origin", "everything"]))
        .with("rtcp-mux", OwnedValue::str_list(["sometimes"]))
        .with("direction", OwnedValue::str_list(["a", "b", "c"]))
        .with("address-family", "IP5")
        .with(
            "supports",
            OwnedValue::str_list(["load limit", "teleportation"]),
        )
        .with("sip-message-type", "carrier-pigeon")
        .with("all", "most")
        .with(
            "received-from",
            OwnedValue::str_list(["?", "/var/run/sock"]),
        )
        .build();
    with_request(&dict, |req| {
        assert_eq!(req.ice, IceMode::Default);
        assert!(req.replace.origin);
        assert_eq!(req.direction, vec![&b"a"[..], &b"b"[..]]);
        assert!(req.supports_load_limit);
        assert_eq!(req.received_from, None);
        assert_eq!(
            req.unknown_values,
            vec![
                ("ICE", &b"bogus"[..]),
                ("replace", &b"everything"[..]),
                ("rtcp-mux", &b"sometimes"[..]),
                ("direction", &b"c"[..]),
                ("address-family", &b"IP5"[..]),
                ("supports", &b"teleportation"[..]),
                ("sip-message-type", &b"carrier-pigeon"[..]),
                ("all", &b"most"[..]),
                ("received-from", &b"/var/run/sock"[..]),
            ]
        );
    });
}

fn offer_with(key: &str, value: impl Into<OwnedValue>) -> OwnedValue {
    DictBuilder::new()
        .with("command", "offer")
        .with("call-id", "cid")
        .with("from-tag", "ft")
        .with("sdp", SDP)
        .with(key, value)
        .build()
}

#[test]
fn structural_errors() {
    assert_eq!(err_of(&OwnedValue::List(vec![])), NgError::NotADict);
    assert_eq!(
        err_of(&DictBuilder::new().with("call-id", "x").build()),
        NgError::MissingCommand
    );
    assert_eq!(
        err_of(&DictBuilder::new().with("command", 1i64).build()),
        NgError::WrongType {
            key: "command",
            expected: "string"
        }
    );
    let e = err_of(
        &DictBuilder::new()
            .with("command", "start recording")
            .build(),
    );
    assert_eq!(e, NgError::UnknownCommand("start recording".into()));
    assert_eq!(e.reason(), "unknown command 'start recording'");
}

#[test]
fn type_and_value_errors_name_the_key() {
    assert_eq!(
        err_of(&offer_with("call-id", 5i64)),
        NgError::WrongType {
            key: "call-id",
            expected: "string"
        }
    );
    assert_eq!(
        err_of(&offer_with("flags", 5i64)),
        NgError::WrongType {
            key: "flags",
            expected: "list of strings"
        }
    );
    assert_eq!(
        err_of(&offer_with(
            "flags",
            OwnedValue::List(vec![OwnedValue::Int(1)])
        )),
        NgError::WrongType {
            key: "flags",
            expected: "list of strings"
        }
    );
    assert_eq!(
        err_of(&offer_with("media-address", "not-an-ip")),
        NgError::BadAddress {
            key: "media-address",
            value: "not-an-ip".into()
        }
    );
    assert_eq!(
        err_of(&offer_with(
            "received-from",
            OwnedValue::str_list(["IP6", "192.0.2.1"])
        )),
        NgError::BadAddress {
            key: "received-from",
            value: "192.0.2.1".into()
        }
    );
    assert_eq!(
        err_of(&offer_with(
            "received-from",
            OwnedValue::str_list(["IP4", "a", "b"])
        )),
        NgError::WrongType {
            key: "received-from",
            expected: "list of [family, address]"
        }
    );
    assert_eq!(
        err_of(&offer_with("delete-delay", -1i64)),
        NgError::BadValue {
            key: "delete-delay",
            value: "-1".into()
        }
    );
    assert_eq!(
        err_of(&offer_with("delete-delay", "soon")),
        NgError::BadValue {
            key: "delete-delay",
            value: "soon".into()
        }
    );
    assert_eq!(
        err_of(&offer_with("delete-delay", OwnedValue::List(vec![]))),
        NgError::WrongType {
            key: "delete-delay",
            expected: "integer"
        }
    );
    assert_eq!(
        err_of(&offer_with("limit", -3i64)),
        NgError::BadValue {
            key: "limit",
            value: "-3".into()
        }
    );
    assert_eq!(
        err_of(&offer_with("codec", "strip")),
        NgError::WrongType {
            key: "codec",
            expected: "dictionary"
        }
    );
    assert_eq!(
        err_of(&offer_with("rtpp-flags", 7i64)),
        NgError::WrongType {
            key: "rtpp-flags",
            expected: "string"
        }
    );
    let long = "x".repeat(200);
    match err_of(&offer_with("media-address", long.as_str())) {
        NgError::BadAddress { value, .. } => assert_eq!(value.len(), 64 + 3),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn required_keys_per_command() {
    let base = |cmd: &str| DictBuilder::new().with("command", cmd);
    assert_eq!(
        err_of(
            &base("offer")
                .with("call-id", "c")
                .with("from-tag", "f")
                .build()
        ),
        NgError::MissingKey("SDP body")
    );
    assert_eq!(
        err_of(&base("offer").with("sdp", SDP).with("from-tag", "f").build()),
        NgError::MissingKey("call-id")
    );
    assert_eq!(
        err_of(
            &base("offer")
                .with("sdp", SDP)
                .with("call-id", "")
                .with("from-tag", "f")
                .build()
        ),
        NgError::MissingKey("call-id")
    );
    assert_eq!(
        err_of(&base("offer").with("sdp", SDP).with("call-id", "c").build()),
        NgError::MissingKey("from-tag")
    );
    let answer = base("answer")
        .with("sdp", SDP)
        .with("call-id", "c")
        .with("from-tag", "f");
    assert_eq!(err_of(&answer.build()), NgError::MissingKey("to-tag"));
    assert_eq!(
        NgError::MissingKey("to-tag").reason(),
        "no to-tag in message"
    );
    assert_eq!(
        err_of(&base("delete").build()),
        NgError::MissingKey("call-id")
    );
    assert_eq!(
        err_of(&base("query").build()),
        NgError::MissingKey("call-id")
    );
    for cmd in ["ping", "list", "statistics"] {
        assert!(parse_encoded(&base(cmd).build()).1.is_ok(), "{cmd}");
    }
    with_request(&base("list").with("limit", 0i64).build(), |req| {
        assert_eq!(req.limit, Some(0));
    });
}

#[test]
fn tables_are_consistent() {
    assert!(Flag::ALL.len() < 64);
    for &f in Flag::ALL {
        assert_eq!(Flag::from_name(f.name().as_bytes()), Some(f), "{f:?}");
    }
    assert!(Key::ALL.len() < 64);
    for &k in Key::ALL {
        assert_eq!(Key::from_name(k.canonical().as_bytes()), Some(k), "{k:?}");
        // No key name may also be a flag name, except where rtpengine has both: bare
        // `to-tag` is the delete flag (`to-tag=...` sets the tag), bare `record-call`
        // switches recording on (`record-call=yes|no` is the key).
        if k != Key::ToTag && k != Key::RecordCall {
            assert_eq!(Flag::from_name(k.canonical().as_bytes()), None, "{k:?}");
        }
    }
    for c in Command::ALL {
        assert_eq!(Command::from_name(c.as_str().as_bytes()), Some(c));
        assert_eq!(c.to_string(), c.as_str());
    }
    let mut flags: Flags = [Flag::Reset, Flag::Fatal].into_iter().collect();
    assert!(!flags.is_empty());
    flags.remove(Flag::Reset);
    assert_eq!(flags.iter().collect::<Vec<_>>(), vec![Flag::Fatal]);
}

#[test]
fn builder_output_parses_back() {
    let b = RequestBuilder::new(Command::Offer)
        .call_id("cid@example.org")
        .from_tag("ft")
        .to_tag("tt")
        .via_branch("z9hG4bK1")
        .sdp(SDP)
        .flag(Flag::TrustAddress)
        .flag(Flag::StrictSource)
        .raw_flag("ICE=force-relay")
        .replace(Replace {
            origin: true,
            sdp_version: true,
            ..Replace::default()
        })
        .direction("priv", "pub")
        .ice(IceMode::Remove)
        .rtcp_mux(RtcpMux {
            demux: true,
            ..RtcpMux::default()
        })
        .received_from(ip("2001:db8::7"))
        .media_address(ip("192.0.2.8"))
        .address_family(AddressFamily::Ip4)
        .transport_protocol("RTP/SAVP")
        .delete_delay(10)
        .label("caller")
        .supports_load_limit()
        .extra("x-trace", "on");
    let datagram = b.to_datagram(b"7_1_1");
    let (cookie, req) = crate::parse_datagram(&datagram).expect("valid");
    assert_eq!(cookie, b"7_1_1");
    assert_eq!(req.call_id, Some(&b"cid@example.org"[..]));
    assert_eq!(req.to_tag, Some(&b"tt"[..]));
    assert_eq!(req.via_branch, Some(&b"z9hG4bK1"[..]));
    assert!(req.has_flag(Flag::TrustAddress) && req.has_flag(Flag::StrictSource));
    assert_eq!(
        req.ice,
        IceMode::ForceRelay,
        "the raw flag token overrides the key"
    );
    assert!(req.replace.origin && req.replace.sdp_version);
    assert_eq!(req.direction, vec![&b"priv"[..], &b"pub"[..]]);
    assert!(req.rtcp_mux.demux);
    assert_eq!(req.received_from, Some(ip("2001:db8::7")));
    assert_eq!(req.media_address, Some(ip("192.0.2.8")));
    assert_eq!(req.address_family, Some(AddressFamily::Ip4));
    assert_eq!(req.transport_protocol, Some(&b"RTP/SAVP"[..]));
    assert_eq!(req.delete_delay, Some(10));
    assert_eq!(req.label, Some(&b"caller"[..]));
    assert!(req.supports_load_limit);
    assert_eq!(req.other_keys, vec![(&b"x-trace"[..], Value::Bytes(b"on"))]);
    assert_eq!(b.build(), build_request(&b));
}

fn arb_name() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(prop_oneof![b'a'..=b'z', b'0'..=b'9', Just(b'.')], 1..12)
}

fn arb_ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(IpAddr::from),
        any::<[u16; 8]>().prop_map(IpAddr::from),
    ]
}

prop_compose! {
    fn arb_builder()(
        cmd in prop_oneof![Just(Command::Offer), Just(Command::Answer)],
        call_id in arb_name(),
        from_tag in arb_name(),
        to_tag in arb_name(),
        flag_bits in proptest::collection::vec(any::<bool>(), Flag::ALL.len()),
        replace in any::<[bool; 8]>(),
        mux in any::<[bool; 5]>(),
        direction in proptest::collection::vec(arb_name(), 0..=2),
        ice in proptest::option::of(prop_oneof![
            Just(IceMode::Default), Just(IceMode::Remove), Just(IceMode::Force),
            Just(IceMode::ForceRelay), Just(IceMode::Optional)
        ]),
        received_from in proptest::option::of(arb_ip()),
        media_address in proptest::option::of(arb_ip()),
        delete_delay in proptest::option::of(any::<u32>()),
        label in proptest::option::of(arb_name()),
    ) -> RequestBuilder {
        let mut b = RequestBuilder::new(cmd)
            .call_id(call_id)
            .from_tag(from_tag)
            .to_tag(to_tag)
            .sdp(SDP);
        b.flags = Flag::ALL
            .iter()
            .zip(flag_bits)
            .filter_map(|(f, on)| on.then_some(*f))
            .collect();
        let [origin, origin_full, session_connection, session_name, sdp_version, username,
             zero_address, force_increment_sdp_version] = replace;
        b.replace = Replace {
            origin, origin_full, session_connection, session_name, sdp_version, username,
            zero_address, force_increment_sdp_version,
        };
        let [offer, require, demux, accept, reject] = mux;
        b.rtcp_mux = RtcpMux { offer, require, demux, accept, reject };
        b.direction = direction;
        b.ice = ice;
        b.received_from = received_from;
        b.media_address = media_address;
        b.delete_delay = delete_delay;
        b.label = label;
        b
    }
}

proptest! {
    #[test]
    fn build_then_parse_round_trips(b in arb_builder()) {
        let bytes = build_request(&b).to_bytes();
        let v = decode(&bytes).expect("valid");
        let req = parse_request(&v).expect("builder output must parse");
        prop_assert_eq!(req.command, b.command);
        prop_assert_eq!(req.call_id, b.call_id.as_deref());
        prop_assert_eq!(req.from_tag, b.from_tag.as_deref());
        prop_assert_eq!(req.to_tag, b.to_tag.as_deref());
        prop_assert_eq!(req.flags, b.flags);
        prop_assert_eq!(req.replace, b.replace);
        prop_assert_eq!(req.rtcp_mux, b.rtcp_mux);
        let direction: Vec<&[u8]> = b.direction.iter().map(Vec::as_slice).collect();
        prop_assert_eq!(req.direction, direction);
        prop_assert_eq!(req.ice, b.ice.unwrap_or_default());
        prop_assert_eq!(req.received_from, b.received_from);
        prop_assert_eq!(req.media_address, b.media_address);
        prop_assert_eq!(req.delete_delay, b.delete_delay);
        prop_assert_eq!(req.label, b.label.as_deref());
        prop_assert!(req.unknown_flags.is_empty());
        prop_assert!(req.unknown_values.is_empty());
    }

    #[test]
    fn parse_request_never_panics(
        entries in proptest::collection::vec(
            (
                prop_oneof![
                    Just(b"command".to_vec()), Just(b"flags".to_vec()),
                    Just(b"rtpp-flags".to_vec()), Just(b"received-from".to_vec()),
                    Just(b"codec".to_vec()), Just(b"direction".to_vec()),
                    Just(b"delete-delay".to_vec()), Just(b"media-address".to_vec()),
                    Just(b"ICE".to_vec()), Just(b"replace".to_vec()),
                    Just(b"call-id".to_vec()), arb_name(),
                ],
                prop_oneof![
                    any::<i64>().prop_map(OwnedValue::Int),
                    "[ a-zA-Z0-9=\\[\\]./:,-]{0,40}".prop_map(OwnedValue::from),
                    proptest::collection::vec(
                        "[ a-zA-Z0-9=\\[\\]./:,-]{0,12}".prop_map(OwnedValue::from),
                        0..4
                    ).prop_map(OwnedValue::List),
                    Just(DictBuilder::new().with("strip", "PCMA").build()),
                ],
            ),
            0..10,
        ),
        command in prop_oneof![
            Just("offer"), Just("answer"), Just("delete"), Just("ping"), Just("query")
        ],
    ) {
        let mut dict = OwnedValue::Dict(entries);
        let _ = dict.insert("command", command);
        let bytes = dict.to_bytes();
        let v = decode(&bytes).expect("valid");
        // Must return, never panic; errors are fine.
        let _ = parse_request(&v);
    }
}

#[test]
fn token_edge_cases() {
    let dict = DictBuilder::new()
        .with("command", "offer")
        .with("call-id", "cid")
        .with("from-tag", "ft")
        .with("sdp", SDP)
        .with(
            "rtpp-flags",
            "  codec-mask=[PCMA PCMU] codec-offer=opus direction=[a b] \
             received-from=[IP4 192.0.2.1] command=ping flags=x rtpp-flags=y \
             codec=[strip=[G729]] codec-bogus=1 replace= internal",
        )
        .build();
    with_request(&dict, |req| {
        assert_eq!(
            req.command,
            Command::Offer,
            "command is never taken from flags"
        );
        assert_eq!(req.codec.mask, vec![&b"PCMA"[..], &b"PCMU"[..]]);
        assert_eq!(req.codec.offer, vec![&b"opus"[..]]);
        assert_eq!(req.direction, vec![&b"a"[..], &b"b"[..]]);
        assert_eq!(req.received_from, Some(ip("192.0.2.1")));
        assert_eq!(
            req.unknown_values,
            vec![
                ("command", &b"ping"[..]),
                ("flags", &b"x"[..]),
                ("rtpp-flags", &b"y"[..]),
                ("direction", &b"internal"[..]),
            ]
        );
        assert_eq!(
            req.other_keys,
            vec![
                (&b"codec"[..], Value::Bytes(b"[strip=[G729]]")),
                (&b"codec-bogus"[..], Value::Bytes(b"1")),
            ]
        );
        assert_eq!(
            req.replace,
            Replace::default(),
            "an empty value sets nothing"
        );
    });
}
