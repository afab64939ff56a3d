//! The stream framer of SIP over TCP on arbitrary bytes cut into arbitrary pieces: the frames
//! (and a failure) do not depend on how the stream was cut, each frame is within the limit and
//! comes out of the bytes in order, and the framer never panics.
//!
//! Input: byte 0 picks the limit, byte 1 the number of cut lengths that follow (0..=15),
//! then those lengths (1..=256 each, used in turn), then the stream.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sip::{Frame, SipError, StreamFramer};

/// Feeds `stream` in pieces of `cuts` lengths (in turn), as a connection reader does: one
/// buffer, consumed frames dropped from its front. Returns the frames with their bytes, and
/// the error that ended the stream, if any.
fn feed(
    stream: &[u8],
    cuts: &[usize],
    max_len: usize,
) -> (Vec<(Frame, Vec<u8>)>, Option<SipError>) {
    let mut framer = StreamFramer::new(max_len);
    let (mut buf, mut out, mut at, mut turn) = (Vec::new(), Vec::new(), 0, 0);
    while at < stream.len() {
        let n = cuts
            .get(turn % cuts.len().max(1))
            .copied()
            .unwrap_or(stream.len());
        turn += 1;
        let end = (at + n).min(stream.len());
        buf.extend_from_slice(&stream[at..end]);
        at = end;
        loop {
            match framer.next_frame(&buf) {
                Ok(Frame::Incomplete) => break,
                Ok(f) => {
                    assert!(f.len() <= buf.len(), "a frame longer than the bytes held");
                    assert!(f.len() <= max_len.max(4), "a frame beyond the limit");
                    out.push((f, buf.drain(..f.len()).collect()));
                }
                Err(e) => return (out, Some(e)),
            }
        }
        assert!(buf.len() <= max_len, "unframed bytes beyond the limit");
    }
    (out, None)
}

fuzz_target!(|data: &[u8]| {
    let Some((&limit, rest)) = data.split_first() else {
        return;
    };
    let Some((&count, rest)) = rest.split_first() else {
        return;
    };
    let count = usize::from(count % 16).min(rest.len());
    let (cut_bytes, stream) = rest.split_at(count);
    let cuts: Vec<usize> = cut_bytes.iter().map(|&c| usize::from(c) + 1).collect();
    let max_len = 64 + usize::from(limit) * 256;
    let (whole, whole_err) = feed(stream, &[], max_len);
    let (chunked, chunked_err) = feed(stream, &cuts, max_len);
    assert_eq!(
        whole_err.is_some(),
        chunked_err.is_some(),
        "a failure that depends on the cuts"
    );
    assert_eq!(whole, chunked, "frames that depend on the cuts");
    // Frames are the stream's bytes, in order, from its start.
    let joined: Vec<u8> = chunked
        .iter()
        .flat_map(|(_, b)| b.iter().copied())
        .collect();
    assert!(
        stream.starts_with(&joined),
        "frames are not the stream's bytes in order"
    );
    for (f, bytes) in &chunked {
        if let Frame::Message(_) = f {
            // A framed message's header section parses (the framer parsed it already).
            let _ = sip::parse_head(bytes);
        }
    }
});
