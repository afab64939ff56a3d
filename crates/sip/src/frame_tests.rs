//! The stream framer: keep-alives, messages split anywhere, limits, and the linear search.

use super::*;

const OPTIONS: &[u8] = b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 3\r\n\r\nabc";

/// Feeds `stream` in pieces of `chunk` bytes; returns every frame and its bytes.
fn frames_in_chunks(
    framer: &mut StreamFramer,
    stream: &[u8],
    chunk: usize,
) -> Result<Vec<(Frame, Vec<u8>)>, SipError> {
    let mut buf = Vec::new();
    let mut out = Vec::new();
    for piece in stream.chunks(chunk) {
        buf.extend_from_slice(piece);
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

#[test]
fn a_message_split_anywhere_frames_once_and_whole() -> Result<(), SipError> {
    for chunk in 1..=OPTIONS.len() {
        let mut f = StreamFramer::new(MAX_MESSAGE_LEN);
        let got = frames_in_chunks(&mut f, OPTIONS, chunk)?;
        assert_eq!(got, vec![(Frame::Message(OPTIONS.len()), OPTIONS.to_vec())]);
        assert!(!f.in_message());
    }
    Ok(())
}

#[test]
fn keepalives_between_messages_are_pings_and_pongs() -> Result<(), SipError> {
    let mut stream = b"\r\n\r\n".to_vec();
    stream.extend_from_slice(OPTIONS);
    stream.extend_from_slice(b"\r\n");
    stream.extend_from_slice(OPTIONS);
    stream.extend_from_slice(b"\r\n\r\n\r\n\r\n");
    for chunk in [1, 2, 3, 5, stream.len()] {
        let mut f = StreamFramer::new(MAX_MESSAGE_LEN);
        let kinds: Vec<Frame> = frames_in_chunks(&mut f, &stream, chunk)?
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        let m = Frame::Message(OPTIONS.len());
        assert_eq!(
            kinds,
            vec![Frame::Ping, m, Frame::Pong, m, Frame::Ping, Frame::Ping],
            "chunk {chunk}"
        );
    }
    Ok(())
}

#[test]
fn a_ping_trickled_byte_by_byte_is_a_ping_not_an_empty_message() -> Result<(), SipError> {
    let mut f = StreamFramer::new(MAX_MESSAGE_LEN);
    for n in 0..4 {
        assert_eq!(f.next_frame(&CRLFCRLF[..n])?, Frame::Incomplete);
        assert!(!f.in_message(), "a keep-alive prefix begins no message");
    }
    assert_eq!(f.next_frame(CRLFCRLF)?, Frame::Ping);
    // A lone CRLF waits until the next byte tells whether a ping follows.
    assert_eq!(f.next_frame(b"\r\n")?, Frame::Incomplete);
    assert_eq!(f.next_frame(b"\r\nO")?, Frame::Pong);
    Ok(())
}

#[test]
fn a_header_trickled_byte_by_byte_is_searched_once() -> Result<(), SipError> {
    // A 60 KiB header section arriving one byte at a time: each call searches only the new
    // byte (and the 3 before it), so the work is linear in the length.
    let mut msg = b"OPTIONS sip:a@b SIP/2.0\r\n".to_vec();
    let pad = format!("X-Pad: {}\r\n", "0123456789abcdef".repeat(20));
    while msg.len() < 60 * 1024 {
        msg.extend_from_slice(pad.as_bytes());
    }
    msg.extend_from_slice(b"Content-Length: 0\r\n\r\n");
    let mut f = StreamFramer::new(MAX_MESSAGE_LEN);
    for n in 1..msg.len() {
        assert_eq!(f.next_frame(&msg[..n])?, Frame::Incomplete);
        assert_eq!(
            f.searched(),
            n,
            "the search stopped at the end of the bytes given"
        );
        assert!(f.in_message());
    }
    assert_eq!(f.next_frame(&msg)?, Frame::Message(msg.len()));
    Ok(())
}

#[test]
fn the_body_is_awaited_without_searching_again() -> Result<(), SipError> {
    let mut f = StreamFramer::new(MAX_MESSAGE_LEN);
    let head_end = OPTIONS.len() - 3;
    assert_eq!(f.next_frame(&OPTIONS[..head_end])?, Frame::Incomplete);
    assert!(f.in_message());
    assert_eq!(
        f.searched(),
        0,
        "the head is parsed; only the body length matters now"
    );
    assert_eq!(f.next_frame(&OPTIONS[..head_end + 2])?, Frame::Incomplete);
    let mut two = OPTIONS.to_vec();
    two.extend_from_slice(OPTIONS);
    assert_eq!(f.next_frame(&two)?, Frame::Message(OPTIONS.len()));
    assert_eq!(
        f.next_frame(&two[OPTIONS.len()..])?,
        Frame::Message(OPTIONS.len())
    );
    Ok(())
}

#[test]
fn limits_and_bad_lengths_end_the_stream() {
    let mut f = StreamFramer::new(100);
    assert_eq!(f.max_len(), 100);
    assert_eq!(f.next_frame(&[b'a'; 100]), Ok(Frame::Incomplete));
    assert_eq!(f.next_frame(&[b'a'; 101]), Err(SipError::TooLarge));
    let big_body = b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 80\r\n\r\n";
    let mut f = StreamFramer::new(100);
    assert_eq!(f.next_frame(big_body), Err(SipError::TooLarge));
    let mut f = StreamFramer::new(MAX_MESSAGE_LEN);
    assert_eq!(
        f.next_frame(b"A sip:a@b SIP/2.0\r\nl: -1\r\n\r\n"),
        Err(SipError::BadContentLength)
    );
    let mut f = StreamFramer::new(MAX_MESSAGE_LEN);
    assert!(f
        .next_frame(b"\r\nnot a start line\r\n\r\n")
        .is_ok_and(|fr| fr == Frame::Pong));
    assert!(f.next_frame(b"not a start line\r\n\r\n").is_err());
}

#[test]
fn frame_stream_counts_leading_keepalives_into_the_frame() -> Result<(), SipError> {
    let mut buf = b"\r\n\r\n".to_vec();
    buf.extend_from_slice(OPTIONS);
    buf.extend_from_slice(b"NEXT");
    assert_eq!(frame_stream(&buf)?, Some(4 + OPTIONS.len()));
    assert_eq!(frame_stream(&buf[..10])?, None);
    assert_eq!(frame_stream(b"\r\n\r\n")?, None);
    Ok(())
}
