//! Stream framing (RFC 3261 §18.3; keep-alives RFC 5626 §3.5.1).

use crate::message::{content_length_of, parse_head, MAX_MESSAGE_LEN};
use crate::SipError;

/// Number of keep-alive CRLF bytes at the front of `buf` (whole CRLF pairs only). A driver
/// consumes them; a double CRLF "ping" is answered with a single CRLF "pong" (RFC 5626 §3.5.1).
pub fn keepalive_len(buf: &[u8]) -> usize {
    let mut n = 0;
    while buf.get(n..n + 2) == Some(b"\r\n") {
        n += 2;
    }
    n
}

/// Finds the length of the first whole message at the front of a stream buffer.
///
/// Returns `Ok(Some(len))` when `buf[..len]` holds a whole message (the count includes any
/// leading keep-alive CRLFs, which [`crate::parse`] skips), `Ok(None)` when more bytes are
/// needed (also when the buffer holds only keep-alives: see [`keepalive_len`]). Errors are
/// unrecoverable for the stream (RFC 3261 §18.3): close the connection. A message without
/// Content-Length is framed with an empty body, since stream transports must send it.
pub fn frame_stream(buf: &[u8]) -> Result<Option<usize>, SipError> {
    let start = keepalive_len(buf);
    let rest = buf.get(start..).unwrap_or_default();
    let Some(end) = rest.windows(4).position(|w| w == b"\r\n\r\n") else {
        if rest.len() > MAX_MESSAGE_LEN {
            return Err(SipError::TooLarge);
        }
        return Ok(None);
    };
    let head_len = end + 4;
    if head_len > MAX_MESSAGE_LEN {
        return Err(SipError::TooLarge);
    }
    let head = parse_head(rest.get(..head_len).unwrap_or_default())?;
    let body_len = content_length_of(head.headers())?.unwrap_or(0) as usize;
    let total = head_len + body_len;
    if total > MAX_MESSAGE_LEN {
        return Err(SipError::TooLarge);
    }
    if rest.len() >= total {
        Ok(Some(start + total))
    } else {
        Ok(None)
    }
}
