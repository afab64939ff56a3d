//! Property tests of the stream framer: a stream cut into pieces of any sizes frames exactly as
//! the whole stream does, and every message comes out whole and in order.

use proptest::prelude::*;
use sip::{Frame, SipError, StreamFramer, MAX_MESSAGE_LEN};

/// One item of a generated stream.
#[derive(Debug, Clone)]
enum Item {
    /// A message with `extra` header text and a body of `body` bytes.
    Message { extra: String, body: usize },
    /// A double-CRLF keep-alive.
    Ping,
    /// A single CRLF.
    Pong,
}

fn item() -> impl Strategy<Value = Item> {
    prop_oneof![
        6 => ("[a-zA-Z0-9 ;=.]{0,40}", 0usize..300)
            .prop_map(|(extra, body)| Item::Message { extra, body }),
        1 => Just(Item::Ping),
        1 => Just(Item::Pong),
    ]
}

fn message(i: usize, extra: &str, body: usize) -> Vec<u8> {
    let mut m = format!(
        "OPTIONS sip:m{i}@example.com SIP/2.0\r\nVia: SIP/2.0/TCP 192.0.2.1;branch=z9hG4bK{i}\r\n\
         X-Extra: {extra}\r\nContent-Length: {body}\r\n\r\n"
    )
    .into_bytes();
    // Body bytes include CR and LF so that a body never looks like the end of a frame.
    m.extend((0..body).map(|k| b"\r\nab"[k % 4]));
    m
}

/// The stream and the messages in it, in order.
fn build(items: &[Item]) -> (Vec<u8>, Vec<Vec<u8>>) {
    let mut stream = Vec::new();
    let mut messages = Vec::new();
    for (i, it) in items.iter().enumerate() {
        match it {
            Item::Message { extra, body } => {
                let m = message(i, extra, *body);
                stream.extend_from_slice(&m);
                messages.push(m);
            }
            Item::Ping => stream.extend_from_slice(b"\r\n\r\n"),
            Item::Pong => stream.extend_from_slice(b"\r\n"),
        }
    }
    (stream, messages)
}

/// Feeds `stream` cut at `cuts` (taken modulo its length) and collects every frame with its
/// bytes, as a connection reader does: one buffer, consumed frames dropped from its front.
fn feed(stream: &[u8], cuts: &[usize], max_len: usize) -> Result<Vec<(Frame, Vec<u8>)>, SipError> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (stream.len() + 1)).collect();
    points.push(stream.len());
    points.sort_unstable();
    let mut framer = StreamFramer::new(max_len);
    let (mut buf, mut out, mut at) = (Vec::new(), Vec::new(), 0);
    for p in points {
        buf.extend_from_slice(stream.get(at..p).unwrap_or_default());
        at = p;
        loop {
            let f = framer.next_frame(&buf)?;
            if f.is_empty() {
                break;
            }
            out.push((f, buf.drain(..f.len()).collect()));
        }
    }
    Ok(out)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn chunked_input_frames_as_whole_input(
        items in proptest::collection::vec(item(), 1..12),
        cuts in proptest::collection::vec(any::<usize>(), 0..40),
    ) {
        let (stream, messages) = build(&items);
        let whole = feed(&stream, &[], MAX_MESSAGE_LEN).expect("a valid stream frames");
        let chunked = feed(&stream, &cuts, MAX_MESSAGE_LEN).expect("a valid stream frames");
        prop_assert_eq!(&chunked, &whole);
        let got: Vec<Vec<u8>> = whole
            .into_iter()
            .filter(|(f, _)| matches!(f, Frame::Message(_)))
            .map(|(_, b)| b)
            .collect();
        prop_assert_eq!(got, messages);
    }

    #[test]
    fn one_byte_at_a_time_frames_as_whole_input(
        items in proptest::collection::vec(item(), 1..6),
    ) {
        let (stream, _) = build(&items);
        let every: Vec<usize> = (0..stream.len()).collect();
        prop_assert_eq!(
            feed(&stream, &every, MAX_MESSAGE_LEN).expect("frames"),
            feed(&stream, &[], MAX_MESSAGE_LEN).expect("frames")
        );
    }

    #[test]
    fn arbitrary_bytes_in_any_pieces_agree_with_whole_input(
        bytes in proptest::collection::vec(
            prop_oneof![Just(b'\r'), Just(b'\n'), Just(b':'), Just(b' '), any::<u8>()], 0..400),
        cuts in proptest::collection::vec(any::<usize>(), 0..20),
        max_len in 1usize..500,
    ) {
        // Same frames and, on garbage, an error after the same frames: a result that does not
        // depend on how the bytes were cut.
        let whole = feed(&bytes, &[], max_len);
        let chunked = feed(&bytes, &cuts, max_len);
        match (&whole, &chunked) {
            (Ok(a), Ok(b)) => prop_assert_eq!(a, b),
            (Err(_), Err(_)) => {}
            // A stream that ends mid-message may fail only once the rest arrives; the cut
            // version saw the same bytes, so both must agree.
            _ => prop_assert!(false, "whole {:?} vs chunked {:?}", whole, chunked),
        }
    }
}
