//! The few lines of bencode the ng client needs (BitTorrent BEP 3 encoding, as rtpengine's ng
//! protocol uses it). Stand-in until the harness moves to the workspace `ng` crate's codec.

use std::collections::BTreeMap;

/// A bencoded value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// `i<n>e`
    Int(i64),
    /// `<len>:<bytes>`
    Bytes(Vec<u8>),
    /// `l...e`
    List(Vec<Value>),
    /// `d...e`, keys sorted as bytes.
    Dict(BTreeMap<Vec<u8>, Value>),
}

/// Nesting deeper than this is refused (ng replies are shallow).
const MAX_DEPTH: usize = 32;

impl Value {
    /// A byte-string value from text.
    pub fn str(s: &str) -> Value {
        Value::Bytes(s.as_bytes().to_vec())
    }

    /// A dictionary from `(key, value)` pairs.
    pub fn dict<'a>(pairs: impl IntoIterator<Item = (&'a str, Value)>) -> Value {
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
            Value::Dict(d) => d.get(key.as_bytes()),
            _ => None,
        }
    }

    /// The text of a byte string, if it is valid UTF-8.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Bytes(b) => std::str::from_utf8(b).ok(),
            _ => None,
        }
    }

    /// The items of a list.
    pub fn as_list(&self) -> Option<&[Value]> {
        match self {
            Value::List(l) => Some(l),
            _ => None,
        }
    }

    /// Appends the encoding to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Value::Int(n) => out.extend_from_slice(format!("i{n}e").as_bytes()),
            Value::Bytes(b) => {
                out.extend_from_slice(format!("{}:", b.len()).as_bytes());
                out.extend_from_slice(b);
            }
            Value::List(items) => {
                out.push(b'l');
                items.iter().for_each(|v| v.encode(out));
                out.push(b'e');
            }
            Value::Dict(d) => {
                out.push(b'd');
                for (k, v) in d {
                    Value::Bytes(k.clone()).encode(out);
                    v.encode(out);
                }
                out.push(b'e');
            }
        }
    }

    /// Decodes exactly one value filling all of `input`.
    pub fn decode(input: &[u8]) -> Result<Value, String> {
        let (v, rest) = parse(input, 0)?;
        if rest.is_empty() {
            Ok(v)
        } else {
            Err(format!("{} trailing bytes", rest.len()))
        }
    }
}

fn parse(input: &[u8], depth: usize) -> Result<(Value, &[u8]), String> {
    if depth > MAX_DEPTH {
        return Err("nested too deep".into());
    }
    match input.first() {
        Some(b'i') => {
            let end = position(input, b'e')?;
            let digits = input.get(1..end).ok_or("bad integer")?;
            let n = std::str::from_utf8(digits)
                .ok()
                .and_then(|s| s.parse::<i64>().ok())
                .ok_or("bad integer")?;
            Ok((Value::Int(n), input.get(end + 1..).unwrap_or_default()))
        }
        Some(b'l') | Some(b'd') => {
            let is_dict = input.first() == Some(&b'd');
            let mut rest = input.get(1..).unwrap_or_default();
            let mut items = Vec::new();
            let mut dict = BTreeMap::new();
            loop {
                match rest.first() {
                    None => return Err("unterminated list or dictionary".into()),
                    Some(b'e') => break,
                    Some(_) => {}
                }
                let (v, r) = parse(rest, depth + 1)?;
                if is_dict {
                    let Value::Bytes(key) = v else {
                        return Err("dictionary key is not a string".into());
                    };
                    let (val, r2) = parse(r, depth + 1)?;
                    dict.insert(key, val);
                    rest = r2;
                } else {
                    items.push(v);
                    rest = r;
                }
            }
            let v = if is_dict {
                Value::Dict(dict)
            } else {
                Value::List(items)
            };
            Ok((v, rest.get(1..).unwrap_or_default()))
        }
        Some(c) if c.is_ascii_digit() => {
            let colon = position(input, b':')?;
            let len: usize = std::str::from_utf8(input.get(..colon).unwrap_or_default())
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or("bad string length")?;
            let start = colon + 1;
            let end = start.checked_add(len).ok_or("bad string length")?;
            let bytes = input.get(start..end).ok_or("string runs past the end")?;
            Ok((
                Value::Bytes(bytes.to_vec()),
                input.get(end..).unwrap_or_default(),
            ))
        }
        Some(c) => Err(format!("unexpected byte {c:#04x}")),
        None => Err("empty input".into()),
    }
}

fn position(input: &[u8], byte: u8) -> Result<usize, String> {
    input
        .iter()
        .position(|b| *b == byte)
        .ok_or_else(|| format!("missing {:?}", char::from(byte)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_an_ng_style_reply() {
        let v = Value::dict([
            ("result", Value::str("ok")),
            (
                "calls",
                Value::List(vec![Value::str("a@b"), Value::str("c")]),
            ),
            ("created", Value::Int(-17)),
        ]);
        let mut out = Vec::new();
        v.encode(&mut out);
        assert_eq!(
            out,
            b"d5:callsl3:a@b1:ce7:createdi-17e6:result2:oke".to_vec()
        );
        assert_eq!(Value::decode(&out).unwrap(), v);
        assert_eq!(v.get("result").and_then(Value::as_str), Some("ok"));
        assert_eq!(
            v.get("calls").and_then(Value::as_list).map(<[_]>::len),
            Some(2)
        );
    }

    #[test]
    fn refuses_malformed_input_without_panicking() {
        for bad in [
            &b""[..],
            b"i12",
            b"ix2e",
            b"5:abc",
            b"d1:ae",
            b"di1ei2ee",
            b"l",
            b"x",
            b"2:ab3",
            b"99999999999999999999999:a",
        ] {
            assert!(Value::decode(bad).is_err(), "{bad:?} decoded");
        }
        let deep = "l".repeat(100) + &"e".repeat(100);
        assert!(Value::decode(deep.as_bytes()).is_err());
    }
}
