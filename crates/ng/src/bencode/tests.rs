use proptest::prelude::*;

use super::*;

fn roundtrip(input: &[u8]) -> Value<'_> {
    let v = decode(input).expect("valid bencode");
    assert_eq!(v.to_bytes(), input, "re-encoding must reproduce the input");
    v
}

#[test]
fn decodes_scalars() {
    assert_eq!(roundtrip(b"i0e"), Value::Int(0));
    assert_eq!(roundtrip(b"i42e"), Value::Int(42));
    assert_eq!(roundtrip(b"i-42e"), Value::Int(-42));
    assert_eq!(roundtrip(b"i9223372036854775807e"), Value::Int(i64::MAX));
    assert_eq!(roundtrip(b"i-9223372036854775808e"), Value::Int(i64::MIN));
    assert_eq!(roundtrip(b"0:"), Value::Bytes(b""));
    assert_eq!(roundtrip(b"4:spam"), Value::Bytes(b"spam"));
    assert_eq!(roundtrip(b"3:\x00\xff "), Value::Bytes(b"\x00\xff "));
}

#[test]
fn decodes_containers_in_input_order() {
    assert_eq!(roundtrip(b"le"), Value::List(vec![]));
    assert_eq!(roundtrip(b"de"), Value::Dict(vec![]));
    let v = roundtrip(b"d7:command4:ping4:argsli1e1:xee");
    assert_eq!(v.get("command").and_then(Value::as_str), Some("ping"));
    let args = v.get("args").and_then(Value::as_list).expect("list");
    assert_eq!(args, &[Value::Int(1), Value::Bytes(b"x")]);
    // Unsorted keys are accepted and kept in order.
    let v = roundtrip(b"d1:zi1e1:ai2ee");
    let keys: Vec<&[u8]> = v.as_dict().expect("dict").iter().map(|(k, _)| *k).collect();
    assert_eq!(keys, vec![&b"z"[..], &b"a"[..]]);
}

#[test]
fn duplicate_keys_first_wins_but_are_kept() {
    let v = roundtrip(b"d1:ai1e1:ai2ee");
    assert_eq!(v.get("a"), Some(&Value::Int(1)));
    assert_eq!(v.as_dict().map(<[_]>::len), Some(2));
}

#[test]
fn accessors_on_the_wrong_kind_are_none() {
    let v = Value::Int(3);
    assert_eq!(v.get("x"), None);
    assert_eq!(v.as_bytes(), None);
    assert_eq!(v.as_str(), None);
    assert_eq!(v.as_list(), None);
    assert_eq!(v.as_dict(), None);
    assert_eq!(Value::Bytes(b"\xff").as_str(), None);
    assert_eq!(Value::Bytes(b"x").as_int(), None);
}

#[test]
fn rejects_malformed_integers() {
    let bad = |input: &[u8], expected: BencodeError| {
        assert_eq!(decode(input), Err(expected), "input {:?}", input);
    };
    bad(b"ie", BencodeError::BadInteger { offset: 0 });
    bad(b"i-e", BencodeError::BadInteger { offset: 0 });
    bad(b"i-0e", BencodeError::BadInteger { offset: 0 });
    bad(b"i00e", BencodeError::BadInteger { offset: 0 });
    bad(b"i01e", BencodeError::BadInteger { offset: 0 });
    bad(b"i-01e", BencodeError::BadInteger { offset: 0 });
    bad(
        b"i9223372036854775808e",
        BencodeError::IntegerOverflow { offset: 0 },
    );
    bad(
        b"i-9223372036854775809e",
        BencodeError::IntegerOverflow { offset: 0 },
    );
    bad(
        b"i1x2e",
        BencodeError::UnexpectedByte {
            offset: 2,
            byte: b'x',
        },
    );
    bad(b"i12", BencodeError::UnexpectedEof { offset: 3 });
    bad(b"li1ei0", BencodeError::UnexpectedEof { offset: 6 });
}

#[test]
fn rejects_malformed_strings() {
    assert_eq!(decode(b"01:a"), Err(BencodeError::BadLength { offset: 0 }));
    assert_eq!(
        decode(b"5:abc"),
        Err(BencodeError::StringTooLong {
            offset: 0,
            len: 5,
            remaining: 3
        })
    );
    assert_eq!(
        decode(b"18446744073709551615:"),
        Err(BencodeError::StringTooLong {
            offset: 0,
            len: u64::MAX,
            remaining: 0
        })
    );
    assert_eq!(
        decode(b"18446744073709551616:"),
        Err(BencodeError::BadLength { offset: 0 })
    );
    assert_eq!(
        decode(b"999999999999999999999:"),
        Err(BencodeError::BadLength { offset: 0 })
    );
    assert_eq!(decode(b"3"), Err(BencodeError::UnexpectedEof { offset: 1 }));
    assert_eq!(
        decode(b"3x"),
        Err(BencodeError::UnexpectedByte {
            offset: 1,
            byte: b'x'
        })
    );
    assert_eq!(
        decode(b"l3:ab"),
        Err(BencodeError::StringTooLong {
            offset: 1,
            len: 3,
            remaining: 2
        })
    );
}

#[test]
fn rejects_structural_errors() {
    assert_eq!(decode(b""), Err(BencodeError::UnexpectedEof { offset: 0 }));
    assert_eq!(decode(b"l"), Err(BencodeError::UnexpectedEof { offset: 1 }));
    assert_eq!(
        decode(b"d3:key"),
        Err(BencodeError::UnexpectedEof { offset: 6 })
    );
    assert_eq!(
        decode(b"x"),
        Err(BencodeError::UnexpectedByte {
            offset: 0,
            byte: b'x'
        })
    );
    assert_eq!(
        decode(b"e"),
        Err(BencodeError::UnexpectedByte {
            offset: 0,
            byte: b'e'
        })
    );
    assert_eq!(
        decode(b"di1ei2ee"),
        Err(BencodeError::KeyNotString { offset: 1 })
    );
    assert_eq!(
        decode(b"dlee0:e"),
        Err(BencodeError::KeyNotString { offset: 1 })
    );
    assert_eq!(
        decode(b"i1ei2e"),
        Err(BencodeError::TrailingBytes { offset: 3 })
    );
    assert_eq!(
        decode(b"de\n"),
        Err(BencodeError::TrailingBytes { offset: 2 })
    );
}

#[test]
fn nesting_limit_is_enforced() {
    let nested = |depth: usize| {
        let mut v = vec![b'l'; depth];
        v.resize(2 * depth, b'e');
        v
    };
    assert!(decode(&nested(MAX_DEPTH)).is_ok());
    assert_eq!(
        decode(&nested(MAX_DEPTH + 1)),
        Err(BencodeError::TooDeep { offset: MAX_DEPTH })
    );
    // Deep dictionaries count the same way; no stack overflow on absurd depth.
    let mut deep = Vec::new();
    for _ in 0..100_000 {
        deep.extend_from_slice(b"d1:a");
    }
    assert!(matches!(decode(&deep), Err(BencodeError::TooDeep { .. })));
}

#[test]
fn size_limit_is_enforced() {
    let mut big = b"1048569:".to_vec();
    big.resize(big.len() + 1_048_569, b'x');
    assert_eq!(big.len(), MAX_INPUT_LEN + 1);
    assert_eq!(decode(&big), Err(BencodeError::TooLarge { len: big.len() }));
    let mut max = b"1048568:".to_vec();
    max.resize(MAX_INPUT_LEN, b'x');
    assert!(decode(&max).is_ok());
}

#[test]
fn error_offsets_and_texts() {
    let e = BencodeError::StringTooLong {
        offset: 7,
        len: 10,
        remaining: 2,
    };
    assert_eq!(e.offset(), Some(7));
    assert_eq!(
        e.to_string(),
        "string at byte 7 declares 10 bytes but only 2 remain"
    );
    assert_eq!(BencodeError::TooLarge { len: 5 }.offset(), None);
    assert_eq!(
        BencodeError::TooDeep { offset: 3 }.to_string(),
        "nesting deeper than 32 at byte 3"
    );
}

#[test]
fn owned_values_build_and_convert() {
    let mut reply = DictBuilder::new()
        .with("result", "ok")
        .with("sdp", b"v=0\r\n".to_vec())
        .with("n", 7i64)
        .with("list", OwnedValue::str_list(["a", "b"]))
        .build();
    assert_eq!(
        reply.to_bytes(),
        b"d6:result2:ok3:sdp5:v=0\r\n1:ni7e4:listl1:a1:bee".to_vec()
    );
    assert!(reply.insert("result", "error"));
    assert!(reply.insert("extra", 1u32));
    assert_eq!(
        reply.get("result").and_then(OwnedValue::as_str),
        Some("error")
    );
    assert_eq!(reply.get("extra").and_then(OwnedValue::as_int), Some(1));
    assert_eq!(reply.as_dict().map(<[_]>::len), Some(5));
    let mut not_dict = OwnedValue::from("x");
    assert!(!not_dict.insert("k", "v"));
    assert_eq!(not_dict, OwnedValue::Bytes(b"x".to_vec()));

    let bytes = reply.to_bytes();
    let decoded = decode(&bytes).expect("valid");
    assert_eq!(decoded.to_owned(), reply);
    assert_eq!(reply.as_value(), decoded);
    assert_eq!(
        OwnedValue::from(String::from("s")).as_bytes(),
        Some(&b"s"[..])
    );
    assert_eq!(
        OwnedValue::from(vec![OwnedValue::Int(1)]).as_list(),
        Some(&[OwnedValue::Int(1)][..])
    );
    let mut b = DictBuilder::new();
    assert!(b.is_empty());
    b.set("k", "1");
    b.set("k", "2");
    assert_eq!(OwnedValue::from(b).to_bytes(), b"d1:k1:2e".to_vec());
}

#[test]
fn encodes_extreme_integers() {
    assert_eq!(
        OwnedValue::Int(i64::MIN).to_bytes(),
        b"i-9223372036854775808e"
    );
    assert_eq!(
        OwnedValue::Int(i64::MAX).to_bytes(),
        b"i9223372036854775807e"
    );
    assert_eq!(OwnedValue::Int(0).to_bytes(), b"i0e");
    assert_eq!(OwnedValue::Int(-7).to_bytes(), b"i-7e");
}

fn arb_owned() -> impl Strategy<Value = OwnedValue> {
    let leaf = prop_oneof![
        any::<i64>().prop_map(OwnedValue::Int),
        proptest::collection::vec(any::<u8>(), 0..24).prop_map(OwnedValue::Bytes),
    ];
    leaf.prop_recursive(6, 64, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(OwnedValue::List),
            proptest::collection::vec((proptest::collection::vec(any::<u8>(), 0..8), inner), 0..6)
                .prop_map(OwnedValue::Dict),
        ]
    })
}

proptest! {
    #[test]
    fn decode_of_encode_is_identity(v in arb_owned()) {
        let bytes = v.to_bytes();
        let decoded = decode(&bytes).expect("encoder output must decode");
        prop_assert_eq!(decoded.to_owned(), v);
    }

    #[test]
    fn encode_of_decode_is_identity_for_canonical_input(v in arb_owned()) {
        // Every encoder output is canonical input; re-encoding its decoding is lossless.
        let bytes = v.to_bytes();
        let decoded = decode(&bytes).expect("valid");
        let mut again = Vec::new();
        encode(&decoded, &mut again);
        prop_assert_eq!(again, bytes);
    }

    #[test]
    fn decode_never_panics(input in proptest::collection::vec(any::<u8>(), 0..256)) {
        if let Ok(v) = decode(&input) {
            // Whatever is accepted is canonical.
            prop_assert_eq!(v.to_bytes(), input);
        }
    }

    #[test]
    fn decode_never_panics_on_bencode_like_bytes(
        input in proptest::collection::vec(
            prop_oneof![
                Just(b'i'), Just(b'l'), Just(b'd'), Just(b'e'), Just(b':'), Just(b'-'),
                Just(b'0'), Just(b'1'), Just(b'2'), Just(b'9'), any::<u8>()
            ],
            0..256,
        )
    ) {
        if let Ok(v) = decode(&input) {
            prop_assert_eq!(v.to_bytes(), input);
        }
    }
}
