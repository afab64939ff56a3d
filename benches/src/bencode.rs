//! The few lines of bencode the ng client needs (BEP 3): integers, byte strings, lists and
//! dictionaries.
//!
//! Kept local so the load tool does not depend on the daemon's own codec: a bench that measures
//! the relay should not share the code it could be hiding a bug in.

use thiserror::Error;

/// Deepest nesting the decoder accepts; ng replies are three or four levels deep.
const MAX_DEPTH: usize = 32;

/// A bencoded value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// `i<n>e`
    Int(i64),
    /// `<len>:<bytes>`
    Bytes(Vec<u8>),
    /// `l...e`
    List(Vec<Value>),
    /// `d...e`; kept in the order read, written sorted by key as BEP 3 requires.
    Dict(Vec<(Vec<u8>, Value)>),
}

/// Why a byte string is not one bencoded value.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    /// The input ended inside a value.
    #[error("bencode: input ends inside a value")]
    Truncated,
    /// A byte that cannot start or continue a value at this offset.
    #[error("bencode: unexpected byte {byte:#04x} at offset {offset}")]
    Unexpected {
        /// The offending byte.
        byte: u8,
        /// Where it is.
        offset: usize,
    },
    /// An integer or length that is malformed or does not fit.
    #[error("bencode: bad number at offset {0}")]
    BadNumber(usize),
    /// Lists/dictionaries nested deeper than the decoder accepts.
    #[error("bencode: nested deeper than {MAX_DEPTH}")]
    TooDeep,
    /// Bytes follow the value.
    #[error("bencode: {0} trailing bytes after the value")]
    Trailing(usize),
}

impl Value {
    /// A byte string from text.
    pub fn str(s: &str) -> Value {
        Value::Bytes(s.as_bytes().to_vec())
    }

    /// A list of byte strings from text.
    pub fn str_list(items: &[&str]) -> Value {
        Value::List(items.iter().map(|s| Value::str(s)).collect())
    }

    /// A dictionary from `(key, value)` pairs.
    pub fn dict(pairs: Vec<(&str, Value)>) -> Value {
        Value::Dict(
            pairs
                .into_iter()
                .map(|(k, v)| (k.as_bytes().to_vec(), v))
                .collect(),
        )
    }

    /// The value under `key` if this is a dictionary that has it.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Dict(pairs) => pairs
                .iter()
                .find(|(k, _)| k.as_slice() == key.as_bytes())
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// The bytes if this is a byte string.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// The text if this is a UTF-8 byte string.
    pub fn as_str(&self) -> Option<&str> {
        self.as_bytes().and_then(|b| std::str::from_utf8(b).ok())
    }

    /// Appends the encoding of this value to `out` (dictionary keys sorted, BEP 3).
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        match self {
            Value::Int(n) => {
                out.push(b'i');
                out.extend_from_slice(n.to_string().as_bytes());
                out.push(b'e');
            }
            Value::Bytes(b) => encode_bytes(b, out),
            Value::List(items) => {
                out.push(b'l');
                for item in items {
                    item.encode_into(out);
                }
                out.push(b'e');
            }
            Value::Dict(pairs) => {
                let mut sorted: Vec<&(Vec<u8>, Value)> = pairs.iter().collect();
                sorted.sort_by(|a, b| a.0.cmp(&b.0));
                out.push(b'd');
                for (k, v) in sorted {
                    encode_bytes(k, out);
                    v.encode_into(out);
                }
                out.push(b'e');
            }
        }
    }

    /// The encoding of this value.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }
}

fn encode_bytes(b: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(b.len().to_string().as_bytes());
    out.push(b':');
    out.extend_from_slice(b);
}

/// Decodes exactly one value that fills `input`.
pub fn decode(input: &[u8]) -> Result<Value, DecodeError> {
    let mut pos = 0;
    let value = decode_at(input, &mut pos, 0)?;
    match input.len().saturating_sub(pos) {
        0 => Ok(value),
        n => Err(DecodeError::Trailing(n)),
    }
}

fn byte_at(input: &[u8], pos: usize) -> Result<u8, DecodeError> {
    input.get(pos).copied().ok_or(DecodeError::Truncated)
}

fn decode_at(input: &[u8], pos: &mut usize, depth: usize) -> Result<Value, DecodeError> {
    if depth > MAX_DEPTH {
        return Err(DecodeError::TooDeep);
    }
    let start = *pos;
    match byte_at(input, start)? {
        b'i' => {
            let end = find(input, start + 1, b'e')?;
            let n = parse_int(input.get(start + 1..end).ok_or(DecodeError::Truncated)?)
                .ok_or(DecodeError::BadNumber(start))?;
            *pos = end + 1;
            Ok(Value::Int(n))
        }
        b'l' => {
            *pos += 1;
            let mut items = Vec::new();
            while byte_at(input, *pos)? != b'e' {
                items.push(decode_at(input, pos, depth + 1)?);
            }
            *pos += 1;
            Ok(Value::List(items))
        }
        b'd' => {
            *pos += 1;
            let mut pairs = Vec::new();
            while byte_at(input, *pos)? != b'e' {
                let key = decode_bytes(input, pos)?;
                let value = decode_at(input, pos, depth + 1)?;
                pairs.push((key, value));
            }
            *pos += 1;
            Ok(Value::Dict(pairs))
        }
        b'0'..=b'9' => decode_bytes(input, pos).map(Value::Bytes),
        byte => Err(DecodeError::Unexpected {
            byte,
            offset: start,
        }),
    }
}

fn decode_bytes(input: &[u8], pos: &mut usize) -> Result<Vec<u8>, DecodeError> {
    let start = *pos;
    let first = byte_at(input, start)?;
    if !first.is_ascii_digit() {
        return Err(DecodeError::Unexpected {
            byte: first,
            offset: start,
        });
    }
    let colon = find(input, start, b':')?;
    let len = parse_int(input.get(start..colon).ok_or(DecodeError::Truncated)?)
        .and_then(|n| usize::try_from(n).ok())
        .ok_or(DecodeError::BadNumber(start))?;
    let body_start = colon + 1;
    let body_end = body_start
        .checked_add(len)
        .ok_or(DecodeError::BadNumber(start))?;
    let body = input
        .get(body_start..body_end)
        .ok_or(DecodeError::Truncated)?;
    *pos = body_end;
    Ok(body.to_vec())
}

fn find(input: &[u8], from: usize, needle: u8) -> Result<usize, DecodeError> {
    input
        .get(from..)
        .and_then(|rest| rest.iter().position(|&b| b == needle))
        .map(|i| from + i)
        .ok_or(DecodeError::Truncated)
}

fn parse_int(digits: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(digits).ok()?;
    // BEP 3: no leading zeros, no "-0", no empty number.
    let body = text.strip_prefix('-').unwrap_or(text);
    if body.is_empty()
        || !body.bytes().all(|b| b.is_ascii_digit())
        || (body.len() > 1 && body.starts_with('0'))
        || text == "-0"
    {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_nested() {
        let v = Value::dict(vec![
            ("sdp", Value::str("v=0\r\n")),
            ("command", Value::str("offer")),
            ("flags", Value::str_list(&["a", "b"])),
            ("n", Value::Int(-42)),
        ]);
        let bytes = v.encode();
        assert_eq!(
            bytes,
            b"d7:command5:offer5:flagsl1:a1:be1:ni-42e3:sdp5:v=0\r\ne".to_vec()
        );
        let back = decode(&bytes).unwrap();
        assert_eq!(back.get("command").and_then(Value::as_str), Some("offer"));
        assert_eq!(back.get("n"), Some(&Value::Int(-42)));
        assert_eq!(back.get("sdp").and_then(Value::as_str), Some("v=0\r\n"));
    }

    #[test]
    fn rejects_malformed_without_panicking() {
        let cases: &[&[u8]] = &[
            b"",
            b"d",
            b"i12",
            b"i-0e",
            b"i012e",
            b"ie",
            b"5:abc",
            b"99999999999999999999999:x",
            b"18446744073709551615:x",
            b"d3:keye",
            b"x",
            b"le1",
            b"di1e1:ae",
        ];
        for case in cases {
            assert!(decode(case).is_err(), "accepted {:?}", case);
        }
    }

    #[test]
    fn depth_is_bounded() {
        let deep = [vec![b'l'; 100], vec![b'e'; 100]].concat();
        assert_eq!(decode(&deep), Err(DecodeError::TooDeep));
    }
}
