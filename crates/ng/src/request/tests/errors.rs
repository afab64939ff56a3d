//! Rejected requests and tolerated unknown values.

use super::*;

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
