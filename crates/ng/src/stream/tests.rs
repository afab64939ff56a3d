use super::*;
use crate::bencode::DictBuilder;
use crate::{json, parse_datagram, Command};

fn framer() -> StreamFramer {
    StreamFramer::new(4096)
}

/// Every message the framer yields for `bytes` pushed `cut` bytes at a time.
fn messages(bytes: &[u8], cut: usize) -> Result<Vec<Vec<u8>>, StreamError> {
    let mut f = framer();
    let mut out = Vec::new();
    for chunk in bytes.chunks(cut) {
        f.push(chunk);
        while let Some(m) = f.next_message()? {
            out.push(m);
        }
    }
    assert_eq!(f.pending(), 0, "bytes left over");
    Ok(out)
}

fn offer_datagram(cookie: &str) -> Vec<u8> {
    let body = DictBuilder::new()
        .with("command", "offer")
        .with("call-id", "c1@h")
        .with("from-tag", "ft")
        .with("sdp", "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\nd=e:l 12:3e\r\n")
        .with("flags", crate::OwnedValue::str_list(["trust-address"]))
        .with("TOS", -5i64)
        .build();
    crate::frame(cookie.as_bytes(), &body)
}

#[test]
fn back_to_back_bencode_messages_are_split_however_the_stream_is_cut() {
    let mut stream = offer_datagram("1_a");
    stream.extend_from_slice(b"2_b d7:command4:pinge");
    stream.extend_from_slice(&offer_datagram("3_c"));
    for cut in [1, 2, 3, 7, 64, stream.len()] {
        let got = messages(&stream, cut).expect("framed");
        assert_eq!(got.len(), 3, "cut {cut}");
        assert_eq!(got[0], offer_datagram("1_a"));
        assert_eq!(got[1], b"2_b d7:command4:pinge");
        let (cookie, req) = parse_datagram(&got[2]).expect("parses");
        assert_eq!(cookie, b"3_c");
        assert_eq!(req.command, Command::Offer);
    }
}

#[test]
fn json_objects_end_at_their_closing_brace_not_at_braces_in_strings() {
    let a = br#"7 {"command":"offer","sdp":"v=0\r\n}{ \"x\" ]","flags":["a}"]}"#;
    let b = br#"8 { "command" : "ping" }"#;
    let mut stream = a.to_vec();
    stream.extend_from_slice(b);
    for cut in [1, 5, stream.len()] {
        let got = messages(&stream, cut).expect("framed");
        assert_eq!(got, vec![a.to_vec(), b.to_vec()], "cut {cut}");
    }
    let body = got_body(a);
    let v = json::decode(body).expect("valid JSON");
    assert_eq!(
        v.get("sdp").and_then(|s| s.as_str()),
        Some("v=0\r\n}{ \"x\" ]")
    );
}

fn got_body(m: &[u8]) -> &[u8] {
    crate::split_cookie(m).expect("framed").1
}

#[test]
fn framing_errors_close_the_stream() {
    let one = |bytes: &[u8]| {
        let mut f = framer();
        f.push(bytes);
        f.next_message()
    };
    assert_eq!(one(b" d4:pinge"), Err(StreamError::EmptyCookie));
    assert_eq!(one(b"c x"), Err(StreamError::BadBody(b'x')));
    assert_eq!(
        one(b"c d7:command4:ping?"),
        Err(StreamError::Malformed(b'?'))
    );
    assert_eq!(one(b"c di1x"), Err(StreamError::Malformed(b'x')));
    let long = vec![b'k'; MAX_COOKIE_LEN + 1];
    assert_eq!(one(&long), Err(StreamError::CookieTooLong));
    let deep = format!("c {}", "l".repeat(MAX_DEPTH + 1));
    assert_eq!(
        one(deep.replacen('l', "d", 1).as_bytes()),
        Err(StreamError::TooDeep)
    );
    let deep_json = format!("c {}", "[".repeat(MAX_DEPTH + 1)).replacen('[', "{", 1);
    assert_eq!(one(deep_json.as_bytes()), Err(StreamError::TooDeep));
}

#[test]
fn a_message_over_the_limit_is_refused_before_it_is_buffered_whole() {
    let mut f = StreamFramer::new(100);
    // A string announced longer than the limit is refused at its length.
    f.push(b"c d3:sdp999999:");
    assert_eq!(f.next_message(), Err(StreamError::TooLarge { max: 100 }));
    // Bytes that never end a message are refused once past the limit.
    let mut f = StreamFramer::new(100);
    f.push(b"c d3:sdp");
    assert_eq!(f.next_message(), Ok(None));
    f.push(&[b'l'; 20]);
    f.push(&[b'e'; 20]);
    f.push(b"l");
    for _ in 0..30 {
        f.push(b"i1e");
    }
    assert_eq!(f.next_message(), Err(StreamError::TooLarge { max: 100 }));
    // Exactly the limit is fine.
    let m = b"c d3:sdp88:"
        .iter()
        .chain([b'x'; 88].iter())
        .chain(b"e")
        .copied();
    let m: Vec<u8> = m.collect();
    assert_eq!(m.len(), 100);
    let mut f = StreamFramer::new(100);
    f.push(&m);
    assert_eq!(f.next_message(), Ok(Some(m)));
}

#[test]
fn pending_counts_a_partial_message_only() {
    let mut f = framer();
    f.push(b"1 d7:command4:pinge2 d7:com");
    assert_eq!(f.next_message(), Ok(Some(b"1 d7:command4:pinge".to_vec())));
    assert_eq!(f.next_message(), Ok(None));
    assert_eq!(f.pending(), 8);
    f.push(b"mand4:pinge");
    assert_eq!(f.next_message(), Ok(Some(b"2 d7:command4:pinge".to_vec())));
    assert_eq!(f.pending(), 0);
}
