//! Stream framing (RFC 3261 §18.3; keep-alives RFC 5626 §3.5.1).
//!
//! A stream transport delivers a message in pieces of any size. [`StreamFramer`] remembers
//! how far it has looked for the empty line that ends the header section, so bytes that
//! arrive one at a time cost O(n) in all, not O(n²); once the header section is parsed it only
//! waits for Content-Length more bytes.

use crate::message::{content_length_of, parse_head, MAX_MESSAGE_LEN};
use crate::SipError;

/// The empty line that ends a header section, and the double-CRLF keep-alive "ping".
const CRLFCRLF: &[u8; 4] = b"\r\n\r\n";

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
///
/// This looks at the whole buffer on every call; a connection reader uses [`StreamFramer`],
/// which resumes where it stopped.
pub fn frame_stream(buf: &[u8]) -> Result<Option<usize>, SipError> {
    let start = keepalive_len(buf);
    let rest = buf.get(start..).unwrap_or_default();
    match StreamFramer::new(MAX_MESSAGE_LEN).next_frame(rest)? {
        Frame::Message(len) => Ok(Some(start + len)),
        Frame::Ping | Frame::Pong | Frame::Incomplete => Ok(None),
    }
}

/// What [`StreamFramer::next_frame`] found at the front of the unconsumed stream bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame {
    /// The first `len` bytes are one whole message (header section and body).
    Message(usize),
    /// A double CRLF keep-alive "ping" (4 bytes): a server answers it with a single CRLF
    /// "pong" (RFC 5626 §3.5.1).
    Ping,
    /// A single CRLF that is not part of a ping (a "pong", or padding between messages,
    /// RFC 3261 §7.5): 2 bytes, nothing to answer.
    Pong,
    /// More bytes are needed.
    Incomplete,
}

impl Frame {
    /// How many bytes the frame takes from the front of the stream (0 for `Incomplete`).
    pub fn len(self) -> usize {
        match self {
            Frame::Message(len) => len,
            Frame::Ping => CRLFCRLF.len(),
            Frame::Pong => 2,
            Frame::Incomplete => 0,
        }
    }

    /// Whether the frame takes no bytes (`Incomplete`).
    pub fn is_empty(self) -> bool {
        self.len() == 0
    }
}

/// Where the framer is within the current message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Looking for the end of the header section; the first `searched` bytes hold none
    /// (0: no message has begun).
    Head { searched: usize },
    /// The header section is parsed; the message is `total` bytes long.
    Body { total: usize },
}

/// Cuts a byte stream into messages, remembering how far it looked between calls.
///
/// The caller keeps the stream's unconsumed bytes in one buffer and passes them, from the
/// front, to [`StreamFramer::next_frame`] after each read; when a frame comes back it drops
/// `frame.len()` bytes from the front before the next call. Between those calls the buffer may
/// only grow at its end. After an error the stream is unusable (RFC 3261 §18.3): close it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamFramer {
    max_len: usize,
    state: State,
}

impl StreamFramer {
    /// A framer for a new stream whose messages may be at most `max_len` bytes; a longer one,
    /// or that many bytes without the end of a header section, is [`SipError::TooLarge`].
    pub fn new(max_len: usize) -> Self {
        StreamFramer {
            max_len,
            state: State::Head { searched: 0 },
        }
    }

    /// The longest message this framer accepts.
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// Whether a message has begun but is not whole yet (keep-alives do not begin one).
    pub fn in_message(&self) -> bool {
        self.state != State::Head { searched: 0 }
    }

    /// How many bytes of the current message have been searched for the end of the header
    /// section without finding it: the next call starts there (less the 3 bytes that may
    /// hold the start of a split CRLFCRLF).
    pub fn searched(&self) -> usize {
        match self.state {
            State::Head { searched } => searched,
            State::Body { .. } => 0,
        }
    }

    /// The next frame at the front of `buf`, the stream's unconsumed bytes. A message
    /// without Content-Length is framed with an empty body, since stream transports must
    /// send it (RFC 3261 §18.3, §20.14).
    pub fn next_frame(&mut self, buf: &[u8]) -> Result<Frame, SipError> {
        match self.state {
            State::Body { total } if buf.len() >= total => {
                self.state = State::Head { searched: 0 };
                Ok(Frame::Message(total))
            }
            State::Body { .. } => Ok(Frame::Incomplete),
            State::Head { searched: 0 } => match keepalive(buf) {
                Some(frame) => Ok(frame),
                None => self.search(buf, 0),
            },
            State::Head { searched } => self.search(buf, searched),
        }
    }

    /// Looks for CRLFCRLF from `searched` (less 3, for a terminator split across reads) on.
    fn search(&mut self, buf: &[u8], searched: usize) -> Result<Frame, SipError> {
        let from = searched.saturating_sub(CRLFCRLF.len() - 1);
        let found = buf
            .get(from..)
            .unwrap_or_default()
            .windows(CRLFCRLF.len())
            .position(|w| w == CRLFCRLF);
        let Some(at) = found else {
            if buf.len() > self.max_len {
                return Err(SipError::TooLarge);
            }
            self.state = State::Head {
                searched: buf.len(),
            };
            return Ok(Frame::Incomplete);
        };
        let head_len = from + at + CRLFCRLF.len();
        if head_len > self.max_len {
            return Err(SipError::TooLarge);
        }
        let head = parse_head(buf.get(..head_len).unwrap_or_default())?;
        let body_len = content_length_of(head.headers())?.unwrap_or(0) as usize;
        let total = head_len.saturating_add(body_len);
        if total > self.max_len {
            return Err(SipError::TooLarge);
        }
        self.state = State::Body { total };
        self.next_frame(buf)
    }
}

/// A keep-alive at the front of `buf` where a message could begin: `Some(Ping)`,
/// `Some(Pong)`, `Some(Incomplete)` while `buf` could still become a ping, `None` when a
/// message begins here.
fn keepalive(buf: &[u8]) -> Option<Frame> {
    if buf.starts_with(CRLFCRLF) {
        Some(Frame::Ping)
    } else if CRLFCRLF.starts_with(buf) {
        // Empty, or "\r", "\r\n", "\r\n\r": wait for the bytes that tell.
        Some(Frame::Incomplete)
    } else if buf.starts_with(b"\r\n") {
        Some(Frame::Pong)
    } else {
        None
    }
}

#[cfg(test)]
#[path = "frame_tests.rs"]
mod tests;
