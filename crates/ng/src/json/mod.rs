//! JSON, the other body encoding of the ng protocol.
//!
//! rtpengine (10.5 and later) looks at the first byte of a message body: `d` is a bencode
//! dictionary, `{` a JSON object (RFC 8259), and the reply goes back in the encoding of the
//! request. [`decode`] maps a JSON document onto the same [`OwnedValue`] tree the bencode path
//! produces, so one request parser ([`crate::parse_request`]) serves both; [`encode`] writes a
//! reply tree back as JSON.
//!
//! The mapping: a string becomes a byte string (its UTF-8 bytes, escapes resolved), an integer
//! an integer, an array a list, an object a dictionary (members in input order, a repeated
//! member kept every time; lookups take the first, as for bencode). `true`, `false`, `null`
//! and numbers with a fraction or exponent have no bencode counterpart and are refused, with
//! the byte offset, rather than guessed at.
//!
//! Decoding is strict (RFC 8259 grammar, valid UTF-8, no control characters in strings, no
//! lone surrogates, nothing after the value but whitespace) and bounded: at most
//! [`MAX_INPUT_LEN`] bytes, containers nested at most [`MAX_DEPTH`] deep, integers within
//! `i64`. Work is linear in the input.

mod decode;
#[cfg(test)]
mod tests;

pub use decode::decode;

use crate::bencode::{OwnedValue, Value};

/// Largest input [`decode`] accepts (as for bencode): 1 MiB.
pub const MAX_INPUT_LEN: usize = crate::bencode::MAX_INPUT_LEN;

/// Deepest nesting of arrays and objects [`decode`] accepts (the top-level container counts
/// as depth 1), as for bencode.
pub const MAX_DEPTH: usize = crate::bencode::MAX_DEPTH;

/// Why [`decode`] rejected its input. Every variant but `TooLarge` names the byte offset where
/// the problem was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum JsonError {
    /// The input is longer than [`MAX_INPUT_LEN`].
    #[error("input of {len} bytes exceeds the {} byte limit", MAX_INPUT_LEN)]
    TooLarge {
        /// Length of the rejected input.
        len: usize,
    },
    /// The input is not valid UTF-8 (RFC 8259 §8.1).
    #[error("invalid UTF-8 at byte {offset}")]
    InvalidUtf8 {
        /// Offset of the first invalid byte.
        offset: usize,
    },
    /// The input ended inside a value (or held no value).
    #[error("unexpected end of input at byte {offset}")]
    UnexpectedEof {
        /// Offset of the end of the input.
        offset: usize,
    },
    /// A byte that cannot start or continue a value here.
    #[error("unexpected byte 0x{byte:02x} at byte {offset}")]
    UnexpectedByte {
        /// Offset of the byte.
        offset: usize,
        /// The byte found.
        byte: u8,
    },
    /// Arrays/objects nested deeper than [`MAX_DEPTH`].
    #[error("nesting deeper than {} at byte {offset}", MAX_DEPTH)]
    TooDeep {
        /// Offset of the container that is one level too deep.
        offset: usize,
    },
    /// A number with a fraction or an exponent: ng values are integers.
    #[error("number at byte {offset} is not an integer")]
    NotAnInteger {
        /// Offset of the number.
        offset: usize,
    },
    /// An integer that does not fit an `i64`.
    #[error("integer overflow at byte {offset}")]
    IntegerOverflow {
        /// Offset of the number.
        offset: usize,
    },
    /// A malformed number (`-`, `01`, `-x`).
    #[error("malformed number at byte {offset}")]
    BadNumber {
        /// Offset of the number.
        offset: usize,
    },
    /// `true`, `false` or `null`: no ng value has this type.
    #[error("true, false and null have no ng meaning (byte {offset})")]
    Literal {
        /// Offset of the literal.
        offset: usize,
    },
    /// An unknown escape, or `\u` not followed by four hex digits.
    #[error("bad escape at byte {offset}")]
    BadEscape {
        /// Offset of the backslash.
        offset: usize,
    },
    /// A `\u` escape of a UTF-16 surrogate that is not part of a pair.
    #[error("lone surrogate escape at byte {offset}")]
    LoneSurrogate {
        /// Offset of the backslash.
        offset: usize,
    },
    /// A raw control character (below U+0020) inside a string (RFC 8259 §7).
    #[error("control character in a string at byte {offset}")]
    ControlCharacter {
        /// Offset of the character.
        offset: usize,
    },
    /// Bytes other than whitespace after the top-level value.
    #[error("trailing bytes after the value at byte {offset}")]
    TrailingBytes {
        /// Offset of the first trailing byte.
        offset: usize,
    },
}

/// The encoding of an ng message body, told by its first byte as rtpengine does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// A bencode dictionary (`d...e`).
    Bencode,
    /// A JSON object (`{...}`).
    Json,
}

impl Encoding {
    /// The encoding of `body`: JSON if it starts with `{`, bencode otherwise (a bencode
    /// decoder then reports what is wrong with anything else).
    pub fn of(body: &[u8]) -> Encoding {
        if body.first() == Some(&b'{') {
            Encoding::Json
        } else {
            Encoding::Bencode
        }
    }

    /// Appends `v` in this encoding to `out`.
    pub fn encode(self, v: &OwnedValue, out: &mut Vec<u8>) {
        match self {
            Encoding::Bencode => v.encode(out),
            Encoding::Json => encode(&v.as_value(), out),
        }
    }
}

/// Appends `v` as compact JSON to `out`. Byte strings (and dictionary keys) are written as
/// JSON strings: valid UTF-8 as is, each invalid sequence as U+FFFD (JSON text is UTF-8 by
/// RFC 8259 §8.1); `"`, `\` and control characters are escaped.
pub fn encode(v: &Value<'_>, out: &mut Vec<u8>) {
    match v {
        Value::Int(i) => out.extend_from_slice(i.to_string().as_bytes()),
        Value::Bytes(b) => write_string(b, out),
        Value::List(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                encode(item, out);
            }
            out.push(b']');
        }
        Value::Dict(entries) => {
            out.push(b'{');
            for (i, (k, v)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(k, out);
                out.push(b':');
                encode(v, out);
            }
            out.push(b'}');
        }
    }
}

/// The JSON encoding of `v` as a new vector.
pub fn to_bytes(v: &OwnedValue) -> Vec<u8> {
    let mut out = Vec::new();
    encode(&v.as_value(), &mut out);
    out
}

/// Writes `b` as a JSON string (RFC 8259 §7).
fn write_string(b: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    for chunk in b.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => out.extend_from_slice(b"\\\""),
                '\\' => out.extend_from_slice(b"\\\\"),
                '\n' => out.extend_from_slice(b"\\n"),
                '\r' => out.extend_from_slice(b"\\r"),
                '\t' => out.extend_from_slice(b"\\t"),
                c if u32::from(c) < 0x20 => {
                    out.extend_from_slice(format!("\\u{:04x}", u32::from(c)).as_bytes());
                }
                c => {
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
            }
        }
        if !chunk.invalid().is_empty() {
            out.extend_from_slice("\u{fffd}".as_bytes());
        }
    }
    out.push(b'"');
}
