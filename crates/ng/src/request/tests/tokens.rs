//! The `flags` list and `rtpp-flags` tokens.

use super::*;

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
