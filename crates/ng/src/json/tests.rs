use super::*;
use crate::bencode::{self, DictBuilder};
use crate::{parse_request, Command, Flag};

fn err(input: &str) -> JsonError {
    decode(input.as_bytes()).expect_err(input)
}

#[test]
fn a_json_offer_parses_to_the_same_request_as_its_bencode() {
    let json = br#" { "command": "offer", "call-id": "c1@h", "from-tag": "ft",
        "sdp": "v=0\r\nc=IN IP4 192.0.2.1\r\n", "flags": ["trust-address"],
        "replace": ["origin"], "TOS": 184, "delete-delay": 0 } "#;
    let from_json = decode(json).expect("valid");
    let bencoded = DictBuilder::new()
        .with("command", "offer")
        .with("call-id", "c1@h")
        .with("from-tag", "ft")
        .with("sdp", "v=0\r\nc=IN IP4 192.0.2.1\r\n")
        .with("flags", OwnedValue::str_list(["trust-address"]))
        .with("replace", OwnedValue::str_list(["origin"]))
        .with("TOS", 184i64)
        .with("delete-delay", 0i64)
        .build();
    assert_eq!(from_json, bencoded);
    let req = parse_request(&from_json.as_value()).expect("request");
    assert_eq!(req.command, Command::Offer);
    assert!(req.flags.contains(Flag::TrustAddress));
    assert_eq!(req.tos, Some(184));
    assert_eq!(req.sdp, Some(&b"v=0\r\nc=IN IP4 192.0.2.1\r\n"[..]));
}

#[test]
fn escapes_and_unicode_become_utf8_bytes() {
    let v = decode(br#"["a\"b\\c\/d\b\f\n\r\t", "\u00e9\u20ac", "\ud83d\ude00", "\u0000"]"#)
        .expect("valid");
    let items: Vec<&[u8]> = v
        .as_list()
        .expect("list")
        .iter()
        .map(|i| i.as_bytes().expect("string"))
        .collect();
    assert_eq!(items[0], b"a\"b\\c/d\x08\x0c\n\r\t");
    assert_eq!(items[1], "é€".as_bytes());
    assert_eq!(items[2], "😀".as_bytes());
    assert_eq!(items[3], b"\0");
    // Raw UTF-8 is kept as is.
    assert_eq!(decode("\"é\"".as_bytes()), Ok(OwnedValue::bytes("é")));
}

#[test]
fn integers_are_exact_to_the_i64_bounds_and_nothing_else_is_a_number() {
    assert_eq!(
        decode(b"-9223372036854775808"),
        Ok(OwnedValue::Int(i64::MIN))
    );
    assert_eq!(
        decode(b"9223372036854775807"),
        Ok(OwnedValue::Int(i64::MAX))
    );
    assert_eq!(decode(b"0"), Ok(OwnedValue::Int(0)));
    assert_eq!(
        err("9223372036854775808"),
        JsonError::IntegerOverflow { offset: 0 }
    );
    assert_eq!(err("[1.5]"), JsonError::NotAnInteger { offset: 1 });
    assert_eq!(err("1e3"), JsonError::NotAnInteger { offset: 0 });
    assert_eq!(err("01"), JsonError::BadNumber { offset: 0 });
    assert_eq!(err("-"), JsonError::BadNumber { offset: 0 });
    assert_eq!(err("-a"), JsonError::BadNumber { offset: 0 });
    assert_eq!(
        err("+1"),
        JsonError::UnexpectedByte {
            offset: 0,
            byte: b'+'
        }
    );
    assert_eq!(err(r#"{"a":true}"#), JsonError::Literal { offset: 5 });
    assert_eq!(err("null"), JsonError::Literal { offset: 0 });
}

#[test]
fn malformed_documents_are_refused_with_the_offset() {
    assert_eq!(err(""), JsonError::UnexpectedEof { offset: 0 });
    assert_eq!(err("{"), JsonError::UnexpectedEof { offset: 1 });
    assert_eq!(
        err(r#"{"a" 1}"#),
        JsonError::UnexpectedByte {
            offset: 5,
            byte: b'1'
        }
    );
    assert_eq!(
        err(r#"{"a":1,}"#),
        JsonError::UnexpectedByte {
            offset: 7,
            byte: b'}'
        }
    );
    assert_eq!(
        err("[1,]"),
        JsonError::UnexpectedByte {
            offset: 3,
            byte: b']'
        }
    );
    assert_eq!(
        err("{a:1}"),
        JsonError::UnexpectedByte {
            offset: 1,
            byte: b'a'
        }
    );
    assert_eq!(err("{} {}"), JsonError::TrailingBytes { offset: 3 });
    assert_eq!(err("\"a\nb\""), JsonError::ControlCharacter { offset: 2 });
    assert_eq!(err(r#""\x""#), JsonError::BadEscape { offset: 1 });
    assert_eq!(err(r#""\u12""#), JsonError::BadEscape { offset: 1 });
    assert_eq!(err(r#""\ud800""#), JsonError::LoneSurrogate { offset: 1 });
    assert_eq!(err(r#""\udc00""#), JsonError::LoneSurrogate { offset: 1 });
    assert_eq!(
        err(r#""\ud800\u0041""#),
        JsonError::LoneSurrogate { offset: 1 }
    );
    assert_eq!(
        decode(b"\"\xff\""),
        Err(JsonError::InvalidUtf8 { offset: 1 })
    );
}

#[test]
fn depth_and_size_are_bounded() {
    let ok = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
    assert!(decode(ok.as_bytes()).is_ok());
    let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
    assert_eq!(err(&deep), JsonError::TooDeep { offset: MAX_DEPTH });
    // A very deep document is refused at the limit, without recursing further.
    let huge = "[".repeat(100_000);
    assert_eq!(err(&huge), JsonError::TooDeep { offset: MAX_DEPTH });
    let big = vec![b' '; MAX_INPUT_LEN + 1];
    assert_eq!(
        decode(&big),
        Err(JsonError::TooLarge {
            len: MAX_INPUT_LEN + 1
        })
    );
}

#[test]
fn duplicate_members_are_kept_and_the_first_wins() {
    let v = decode(br#"{"command":"ping","command":"offer"}"#).expect("valid");
    assert_eq!(v.get("command").and_then(|c| c.as_str()), Some("ping"));
    assert_eq!(v.as_dict().map(<[_]>::len), Some(2));
}

#[test]
fn replies_encode_as_compact_json_that_decodes_back() {
    let reply = DictBuilder::new()
        .with("result", "ok")
        .with("sdp", "v=0\r\no=- 1 1 IN IP4 \"q\" \\ \x01\r\n")
        .with("created", 1_700_000_000i64)
        .with(
            "tags",
            OwnedValue::List(vec![OwnedValue::Int(-3), "é".into()]),
        )
        .build();
    let text = to_bytes(&reply);
    assert_eq!(
        std::str::from_utf8(&text).expect("utf-8"),
        r#"{"result":"ok","sdp":"v=0\r\no=- 1 1 IN IP4 \"q\" \\ \u0001\r\n","created":1700000000,"tags":[-3,"é"]}"#
    );
    assert_eq!(decode(&text), Ok(reply));
}

#[test]
fn bytes_that_are_not_utf8_become_replacement_characters() {
    let v = OwnedValue::bytes(b"a\xffb".to_vec());
    assert_eq!(to_bytes(&v), "\"a\u{fffd}b\"".as_bytes());
}

#[test]
fn the_first_byte_tells_the_encoding() {
    assert_eq!(Encoding::of(b"{\"command\":\"ping\"}"), Encoding::Json);
    assert_eq!(Encoding::of(b"d7:command4:pinge"), Encoding::Bencode);
    let pong = DictBuilder::new().with("result", "pong").build();
    let mut out = Vec::new();
    Encoding::Json.encode(&pong, &mut out);
    assert_eq!(out, br#"{"result":"pong"}"#);
    out.clear();
    Encoding::Bencode.encode(&pong, &mut out);
    assert_eq!(out, b"d6:result4:ponge");
    assert_eq!(bencode::decode(&out).map(|v| v.to_owned()), Ok(pong));
}
