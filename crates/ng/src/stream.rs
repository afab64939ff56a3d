//! ng over TCP: messages on a byte stream.
//!
//! rtpengine's TCP ng listener (`listen-tcp-ng`) reads `<cookie><space><body>` messages one
//! after another with nothing between them: a message ends where its body's value ends, the
//! closing `e` of the bencode dictionary. Replies are written the same way. [`StreamFramer`]
//! finds those ends in one pass over the bytes as they arrive (so work is linear however the
//! stream is cut), for bencode bodies and, with the same rule, for JSON objects (the closing
//! `}`). It only finds the extent of a message; decoding and checking the body is the same
//! as for a datagram.
//!
//! A stream cannot be resynchronised after a framing error (there is no delimiter to look
//! for), so every [`StreamError`] means: close the connection.

use crate::bencode::MAX_DEPTH;
use crate::MAX_COOKIE_LEN;

/// Why a stream cannot be framed; the connection should be closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    /// A message starts with a space: its cookie is empty.
    #[error("empty cookie")]
    EmptyCookie,
    /// No space within [`MAX_COOKIE_LEN`] bytes.
    #[error("cookie longer than {} bytes", MAX_COOKIE_LEN)]
    CookieTooLong,
    /// The body starts with something other than `d` (bencode) or `{` (JSON).
    #[error("body starts with byte 0x{0:02x}, neither a bencode dictionary nor a JSON object")]
    BadBody(u8),
    /// A byte that cannot occur at this point of a bencode body.
    #[error("malformed bencode: byte 0x{0:02x}")]
    Malformed(u8),
    /// Containers nested deeper than [`MAX_DEPTH`].
    #[error("nesting deeper than {}", MAX_DEPTH)]
    TooDeep,
    /// A message longer than the framer's limit.
    #[error("message longer than {max} bytes")]
    TooLarge {
        /// The limit.
        max: usize,
    },
}

/// Where the scan is inside the current message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Looking for the space after the cookie.
    Cookie,
    /// The first byte of the body decides its encoding.
    BodyStart,
    /// Inside a bencode body: open containers, and the token being read.
    Bencode { depth: usize, token: Token },
    /// Inside a JSON body: open containers, inside a string, after a backslash.
    Json {
        depth: usize,
        in_string: bool,
        escaped: bool,
    },
}

/// The bencode token being read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    /// Between values.
    Next,
    /// `i...e`: digits seen.
    Int(u8),
    /// A string length being read.
    Len(u64),
    /// String bytes still to skip.
    Skip(u64),
}

/// Splits a byte stream into ng messages (cookie, space, body), each at most `max` bytes.
#[derive(Debug)]
pub struct StreamFramer {
    buf: Vec<u8>,
    /// Bytes of `buf` already scanned.
    scanned: usize,
    phase: Phase,
    max: usize,
}

impl StreamFramer {
    /// A framer refusing messages longer than `max` bytes.
    pub fn new(max: usize) -> Self {
        StreamFramer {
            buf: Vec::new(),
            scanned: 0,
            phase: Phase::Cookie,
            max,
        }
    }

    /// Appends bytes read from the stream.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Bytes held that do not yet form a whole message (0 between messages).
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// The next whole message (cookie, space and body), if the bytes pushed so far hold one.
    pub fn next_message(&mut self) -> Result<Option<Vec<u8>>, StreamError> {
        while self.scanned < self.buf.len() {
            let done = self.step()?;
            if self.scanned > self.max {
                return Err(StreamError::TooLarge { max: self.max });
            }
            if done {
                let rest = self.buf.split_off(self.scanned);
                let message = std::mem::replace(&mut self.buf, rest);
                self.scanned = 0;
                self.phase = Phase::Cookie;
                return Ok(Some(message));
            }
        }
        if self.buf.len() > self.max {
            return Err(StreamError::TooLarge { max: self.max });
        }
        Ok(None)
    }

    /// Scans at least one byte; true when that ended the message.
    fn step(&mut self) -> Result<bool, StreamError> {
        let Some(&b) = self.buf.get(self.scanned) else {
            return Ok(false);
        };
        // String bytes are skipped in one go: the scan stays linear with long SDP bodies.
        if let Phase::Bencode {
            token: Token::Skip(n),
            depth,
        } = self.phase
        {
            let avail = (self.buf.len() - self.scanned) as u64;
            let take = n.min(avail);
            // take <= avail, which is a usize.
            self.scanned += take as usize;
            let token = if take == n {
                Token::Next
            } else {
                Token::Skip(n - take)
            };
            self.phase = Phase::Bencode { depth, token };
            return Ok(false);
        }
        self.scanned += 1;
        self.phase = match self.phase {
            Phase::Cookie => cookie_byte(b, self.scanned)?,
            Phase::BodyStart => match b {
                b'd' => Phase::Bencode {
                    depth: 1,
                    token: Token::Next,
                },
                b'{' => Phase::Json {
                    depth: 1,
                    in_string: false,
                    escaped: false,
                },
                other => return Err(StreamError::BadBody(other)),
            },
            Phase::Bencode { depth, token } => bencode_byte(b, depth, token, self.max)?,
            Phase::Json {
                depth,
                in_string,
                escaped,
            } => json_byte(b, depth, in_string, escaped)?,
        };
        Ok(matches!(
            self.phase,
            Phase::Bencode { depth: 0, .. } | Phase::Json { depth: 0, .. }
        ))
    }
}

/// A cookie byte; `n` is the number of bytes of the message scanned, this one included.
fn cookie_byte(b: u8, n: usize) -> Result<Phase, StreamError> {
    match b {
        b' ' if n == 1 => Err(StreamError::EmptyCookie),
        b' ' => Ok(Phase::BodyStart),
        _ if n > MAX_COOKIE_LEN => Err(StreamError::CookieTooLong),
        _ => Ok(Phase::Cookie),
    }
}

/// One byte of a bencode body (not inside a string's bytes).
fn bencode_byte(b: u8, depth: usize, token: Token, max: usize) -> Result<Phase, StreamError> {
    let token = match (token, b) {
        (Token::Next, b'i') => Token::Int(0),
        (Token::Next, b'0'..=b'9') => Token::Len(u64::from(b - b'0')),
        (Token::Next, b'l' | b'd') => {
            if depth >= MAX_DEPTH {
                return Err(StreamError::TooDeep);
            }
            return Ok(Phase::Bencode {
                depth: depth + 1,
                token: Token::Next,
            });
        }
        (Token::Next, b'e') => {
            return Ok(Phase::Bencode {
                depth: depth - 1,
                token: Token::Next,
            })
        }
        // An i64 has at most 19 digits and a sign.
        (Token::Int(n), b'-' | b'0'..=b'9') if n < 20 => Token::Int(n + 1),
        (Token::Int(_), b'e') => Token::Next,
        (Token::Len(n), b'0'..=b'9') => {
            let n = n * 10 + u64::from(b - b'0');
            if n > max as u64 {
                return Err(StreamError::TooLarge { max });
            }
            Token::Len(n)
        }
        (Token::Len(0), b':') => Token::Next,
        (Token::Len(n), b':') => Token::Skip(n),
        _ => return Err(StreamError::Malformed(b)),
    };
    Ok(Phase::Bencode { depth, token })
}

/// One byte of a JSON body: only brackets outside strings count.
fn json_byte(b: u8, depth: usize, in_string: bool, escaped: bool) -> Result<Phase, StreamError> {
    let (depth, in_string, escaped) = match (in_string, escaped, b) {
        (true, true, _) => (depth, true, false),
        (true, false, b'\\') => (depth, true, true),
        (true, false, b'"') => (depth, false, false),
        (true, false, _) => (depth, true, false),
        (false, _, b'"') => (depth, true, false),
        (false, _, b'{' | b'[') if depth >= MAX_DEPTH => return Err(StreamError::TooDeep),
        (false, _, b'{' | b'[') => (depth + 1, false, false),
        (false, _, b'}' | b']') => (depth - 1, false, false),
        (false, _, _) => (depth, false, false),
    };
    Ok(Phase::Json {
        depth,
        in_string,
        escaped,
    })
}

#[cfg(test)]
mod tests;
