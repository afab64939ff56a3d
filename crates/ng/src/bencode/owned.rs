//! The owned bencode value and a small dictionary builder.

use super::{encode::encode_owned, Value};

/// A bencode value that owns its bytes: the form used to build requests and replies.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum OwnedValue {
    /// An integer.
    Int(i64),
    /// A byte string.
    Bytes(Vec<u8>),
    /// A list.
    List(Vec<OwnedValue>),
    /// A dictionary: entries are encoded in this order.
    Dict(Vec<(Vec<u8>, OwnedValue)>),
}

impl OwnedValue {
    /// Appends the canonical encoding to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        encode_owned(self, out);
    }

    /// The canonical encoding as a new vector.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }

    /// A byte string.
    pub fn bytes(b: impl Into<Vec<u8>>) -> Self {
        OwnedValue::Bytes(b.into())
    }

    /// A list of byte strings.
    pub fn str_list<I, S>(items: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<[u8]>,
    {
        OwnedValue::List(
            items
                .into_iter()
                .map(|s| OwnedValue::Bytes(s.as_ref().to_vec()))
                .collect(),
        )
    }

    /// Stores `value` under `key` if this is a dictionary: replaces the first entry with
    /// that key, or appends a new entry. Returns `false` (and changes nothing) if this is
    /// not a dictionary.
    #[must_use = "false means the value is not a dictionary and nothing was stored"]
    pub fn insert(&mut self, key: impl Into<Vec<u8>>, value: impl Into<OwnedValue>) -> bool {
        match self {
            OwnedValue::Dict(entries) => {
                let key = key.into();
                let value = value.into();
                match entries.iter_mut().find(|(k, _)| *k == key) {
                    Some(entry) => entry.1 = value,
                    None => entries.push((key, value)),
                }
                true
            }
            _ => false,
        }
    }

    /// The value stored under `key` if this is a dictionary; the first occurrence wins.
    pub fn get(&self, key: &str) -> Option<&OwnedValue> {
        match self {
            OwnedValue::Dict(entries) => entries
                .iter()
                .find(|(k, _)| k.as_slice() == key.as_bytes())
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// The bytes of a byte string.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            OwnedValue::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// The byte string as UTF-8 text, if valid.
    pub fn as_str(&self) -> Option<&str> {
        self.as_bytes().and_then(|b| std::str::from_utf8(b).ok())
    }

    /// The integer, if this is an integer.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            OwnedValue::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// The elements, if this is a list.
    pub fn as_list(&self) -> Option<&[OwnedValue]> {
        match self {
            OwnedValue::List(items) => Some(items),
            _ => None,
        }
    }

    /// The entries, if this is a dictionary.
    pub fn as_dict(&self) -> Option<&[(Vec<u8>, OwnedValue)]> {
        match self {
            OwnedValue::Dict(entries) => Some(entries),
            _ => None,
        }
    }

    /// A borrowed view of this value (as [`super::decode`] would return for its encoding).
    pub fn as_value(&self) -> Value<'_> {
        match self {
            OwnedValue::Int(i) => Value::Int(*i),
            OwnedValue::Bytes(b) => Value::Bytes(b),
            OwnedValue::List(items) => Value::List(items.iter().map(Self::as_value).collect()),
            OwnedValue::Dict(entries) => Value::Dict(
                entries
                    .iter()
                    .map(|(k, v)| (k.as_slice(), v.as_value()))
                    .collect(),
            ),
        }
    }
}

impl From<i64> for OwnedValue {
    fn from(i: i64) -> Self {
        OwnedValue::Int(i)
    }
}

impl From<u32> for OwnedValue {
    fn from(i: u32) -> Self {
        OwnedValue::Int(i64::from(i))
    }
}

impl From<&str> for OwnedValue {
    fn from(s: &str) -> Self {
        OwnedValue::Bytes(s.as_bytes().to_vec())
    }
}

impl From<String> for OwnedValue {
    fn from(s: String) -> Self {
        OwnedValue::Bytes(s.into_bytes())
    }
}

impl From<&[u8]> for OwnedValue {
    fn from(b: &[u8]) -> Self {
        OwnedValue::Bytes(b.to_vec())
    }
}

impl From<Vec<u8>> for OwnedValue {
    fn from(b: Vec<u8>) -> Self {
        OwnedValue::Bytes(b)
    }
}

impl From<Vec<OwnedValue>> for OwnedValue {
    fn from(items: Vec<OwnedValue>) -> Self {
        OwnedValue::List(items)
    }
}

impl From<DictBuilder> for OwnedValue {
    fn from(d: DictBuilder) -> Self {
        d.build()
    }
}

/// Builds a dictionary entry by entry, keeping insertion order.
///
/// ```
/// use ng::bencode::DictBuilder;
/// let reply = DictBuilder::new().with("result", "ok").with("sdp", "v=0\r\n").build();
/// assert_eq!(reply.to_bytes(), b"d6:result2:ok3:sdp5:v=0\r\ne".to_vec());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DictBuilder {
    entries: Vec<(Vec<u8>, OwnedValue)>,
}

impl DictBuilder {
    /// An empty dictionary.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `key` (replacing an earlier entry with the same key) and returns the builder.
    pub fn with(mut self, key: impl Into<Vec<u8>>, value: impl Into<OwnedValue>) -> Self {
        self.set(key, value);
        self
    }

    /// Adds `key`, replacing an earlier entry with the same key in place.
    pub fn set(&mut self, key: impl Into<Vec<u8>>, value: impl Into<OwnedValue>) {
        let key = key.into();
        let value = value.into();
        match self.entries.iter_mut().find(|(k, _)| *k == key) {
            Some(entry) => entry.1 = value,
            None => self.entries.push((key, value)),
        }
    }

    /// True if no entry has been added.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The finished dictionary.
    pub fn build(self) -> OwnedValue {
        OwnedValue::Dict(self.entries)
    }
}
