//! Request parsing tests: helpers and Kamailio-shaped requests here, the rest by topic.

mod errors;
mod props;
mod tokens;

use std::net::IpAddr;

use super::keys::Key;
use super::*;
use crate::bencode::{decode, DictBuilder, OwnedValue};

pub(super) const SDP: &str = "v=0\r\no=- 1545997027 1 IN IP4 198.51.100.1\r\ns=-\r\n\
                   c=IN IP4 198.51.100.1\r\nt=0 0\r\nm=audio 49170 RTP/AVP 0 8 101\r\n\
                   a=rtpmap:101 telephone-event/8000\r\n";

pub(super) fn ip(s: &str) -> IpAddr {
    s.parse().expect("test address")
}

/// Encodes `dict`, decodes it again and parses it, as the server would.
pub(super) fn parse_encoded(dict: &OwnedValue) -> (Vec<u8>, Result<(), NgError>) {
    let bytes = dict.to_bytes();
    let result = {
        let v = decode(&bytes).expect("test input is valid bencode");
        parse_request(&v).map(|_| ())
    };
    (bytes, result)
}

pub(super) fn with_request<T>(dict: &OwnedValue, check: impl FnOnce(Request<'_>) -> T) -> T {
    let bytes = dict.to_bytes();
    let v = decode(&bytes).expect("test input is valid bencode");
    let req = parse_request(&v).expect("request parses");
    check(req)
}

pub(super) fn err_of(dict: &OwnedValue) -> NgError {
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
