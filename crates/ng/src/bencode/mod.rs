//! Bencode, the dictionary encoding of the ng protocol.
//!
//! [`decode`] borrows every byte string from its input ([`Value`]); [`OwnedValue`] is the
//! owned form used to build requests and replies. Both encode to the same canonical bytes.
//!
//! Decoding is strict and bounded: the input is at most [`MAX_INPUT_LEN`] bytes, lists and
//! dictionaries nest at most [`MAX_DEPTH`] deep, integers must be canonical (`i0e`, no leading
//! zeros, no `-0`) and fit an `i64`, string lengths must be canonical and fit the remaining
//! input, and nothing may follow the top-level value.
//!
//! Dictionary keys are kept in input order and need not be sorted (rtpengine's ng protocol
//! documentation says the lexicographic order required by bencode is not honoured, and real
//! senders do not sort). A key that occurs more than once is kept every time, so that
//! re-encoding is lossless, but every lookup ([`Value::get`]) returns the **first** occurrence:
//! first wins.

mod decode;
mod encode;
mod owned;
#[cfg(test)]
mod tests;

pub use decode::decode;
pub use encode::encode;
pub use owned::{DictBuilder, OwnedValue};

/// Largest input [`decode`] accepts: 1 MiB.
pub const MAX_INPUT_LEN: usize = 1 << 20;

/// Deepest nesting of lists and dictionaries [`decode`] accepts (the top-level container
/// counts as depth 1).
pub const MAX_DEPTH: usize = 32;

/// A decoded bencode value that borrows its byte strings from the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value<'a> {
    /// An integer (`i42e`).
    Int(i64),
    /// A byte string (`4:spam`); not necessarily UTF-8.
    Bytes(&'a [u8]),
    /// A list (`l...e`).
    List(Vec<Value<'a>>),
    /// A dictionary (`d...e`): key/value pairs in input order, duplicates kept.
    Dict(Vec<(&'a [u8], Value<'a>)>),
}

impl<'a> Value<'a> {
    /// The value stored under `key` if this is a dictionary; the first occurrence wins.
    pub fn get(&self, key: &str) -> Option<&Value<'a>> {
        self.get_bytes(key.as_bytes())
    }

    /// Like [`Value::get`] with a byte-string key.
    pub fn get_bytes(&self, key: &[u8]) -> Option<&Value<'a>> {
        match self {
            Value::Dict(entries) => entries.iter().find(|(k, _)| *k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The bytes of a byte string.
    pub fn as_bytes(&self) -> Option<&'a [u8]> {
        match self {
            Value::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// The byte string as UTF-8 text, if it is a byte string holding valid UTF-8.
    pub fn as_str(&self) -> Option<&'a str> {
        self.as_bytes().and_then(|b| std::str::from_utf8(b).ok())
    }

    /// The integer, if this is an integer.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// The elements, if this is a list.
    pub fn as_list(&self) -> Option<&[Value<'a>]> {
        match self {
            Value::List(items) => Some(items),
            _ => None,
        }
    }

    /// The entries in input order, if this is a dictionary.
    pub fn as_dict(&self) -> Option<&[(&'a [u8], Value<'a>)]> {
        match self {
            Value::Dict(entries) => Some(entries),
            _ => None,
        }
    }

    /// A deep copy that owns its bytes.
    pub fn to_owned(&self) -> OwnedValue {
        match self {
            Value::Int(i) => OwnedValue::Int(*i),
            Value::Bytes(b) => OwnedValue::Bytes(b.to_vec()),
            Value::List(items) => OwnedValue::List(items.iter().map(Value::to_owned).collect()),
            Value::Dict(entries) => OwnedValue::Dict(
                entries
                    .iter()
                    .map(|(k, v)| (k.to_vec(), v.to_owned()))
                    .collect(),
            ),
        }
    }

    /// The canonical encoding of this value.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        encode(self, &mut out);
        out
    }
}

/// Why [`decode`] rejected its input. Every variant but `TooLarge` names the byte offset
/// (from the start of the input) where the problem was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BencodeError {
    /// The input is longer than [`MAX_INPUT_LEN`].
    #[error("input of {len} bytes exceeds the {} byte limit", MAX_INPUT_LEN)]
    TooLarge {
        /// Length of the rejected input.
        len: usize,
    },
    /// The input ended inside a value (or was empty).
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
    /// An integer with no digits, a leading zero, or a negative zero.
    #[error("malformed integer at byte {offset}")]
    BadInteger {
        /// Offset of the `i` that starts the integer.
        offset: usize,
    },
    /// An integer that does not fit an `i64`.
    #[error("integer overflow at byte {offset}")]
    IntegerOverflow {
        /// Offset of the `i` that starts the integer.
        offset: usize,
    },
    /// A byte-string length with a leading zero or too many digits.
    #[error("malformed string length at byte {offset}")]
    BadLength {
        /// Offset of the first length digit.
        offset: usize,
    },
    /// A byte string whose declared length runs past the end of the input.
    #[error("string at byte {offset} declares {len} bytes but only {remaining} remain")]
    StringTooLong {
        /// Offset of the first length digit.
        offset: usize,
        /// The declared length.
        len: u64,
        /// Bytes left in the input after the `:`.
        remaining: usize,
    },
    /// Lists/dictionaries nested deeper than [`MAX_DEPTH`].
    #[error("nesting deeper than {} at byte {offset}", MAX_DEPTH)]
    TooDeep {
        /// Offset of the container that is one level too deep.
        offset: usize,
    },
    /// A dictionary key that is not a byte string.
    #[error("dictionary key at byte {offset} is not a byte string")]
    KeyNotString {
        /// Offset of the offending key.
        offset: usize,
    },
    /// Bytes after the complete top-level value.
    #[error("trailing bytes after the value at byte {offset}")]
    TrailingBytes {
        /// Offset of the first trailing byte.
        offset: usize,
    },
}

impl BencodeError {
    /// The byte offset the error refers to, if any.
    pub fn offset(&self) -> Option<usize> {
        match *self {
            BencodeError::TooLarge { .. } => None,
            BencodeError::UnexpectedEof { offset }
            | BencodeError::UnexpectedByte { offset, .. }
            | BencodeError::BadInteger { offset }
            | BencodeError::IntegerOverflow { offset }
            | BencodeError::BadLength { offset }
            | BencodeError::StringTooLong { offset, .. }
            | BencodeError::TooDeep { offset }
            | BencodeError::KeyNotString { offset }
            | BencodeError::TrailingBytes { offset } => Some(offset),
        }
    }
}
