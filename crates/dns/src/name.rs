//! Domain names: kept in uncompressed wire form, compared without regard to ASCII case.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use crate::error::DnsError;

/// Longest label, in octets (RFC 1035 §2.3.4).
pub const MAX_LABEL_LEN: usize = 63;
/// Longest name in wire form, length octets and the root label included (RFC 1035 §2.3.4).
pub const MAX_NAME_LEN: usize = 255;

/// A fully qualified domain name.
///
/// Stored as its uncompressed wire form (length-prefixed labels ending in the root label), so
/// any octet may appear in a label. Equality and hashing ignore ASCII case (RFC 4343 §3); the
/// text form escapes dots, backslashes and non-printable octets (RFC 1035 §5.1).
#[derive(Clone)]
pub struct Name {
    /// Length-prefixed labels followed by a zero octet; at most [`MAX_NAME_LEN`] octets.
    wire: Vec<u8>,
}

impl Name {
    /// The root name `.`.
    pub fn root() -> Self {
        Name { wire: vec![0] }
    }

    /// Parses a name from text: labels separated by dots, a trailing dot optional, `\.`,
    /// `\\` and `\DDD` escapes (RFC 1035 §5.1). `""` and `"."` are the root.
    pub fn parse(text: &str) -> Result<Self, DnsError> {
        if text.is_empty() || text == "." {
            return Ok(Self::root());
        }
        let bytes = text.as_bytes();
        let mut labels: Vec<Vec<u8>> = Vec::new();
        let mut cur = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            match b {
                b'.' => {
                    if cur.is_empty() {
                        return Err(DnsError::EmptyLabel);
                    }
                    labels.push(std::mem::take(&mut cur));
                    // A final dot marks the name as absolute; nothing may follow it.
                    i += 1;
                    continue;
                }
                b'\\' => {
                    let rest = &bytes[i + 1..];
                    match rest {
                        [d0, d1, d2, ..] if d0.is_ascii_digit() => {
                            if !d1.is_ascii_digit() || !d2.is_ascii_digit() {
                                return Err(DnsError::BadEscape);
                            }
                            let v = u32::from(d0 - b'0') * 100
                                + u32::from(d1 - b'0') * 10
                                + u32::from(d2 - b'0');
                            cur.push(u8::try_from(v).map_err(|_| DnsError::BadEscape)?);
                            i += 4;
                        }
                        [c, ..] if !c.is_ascii_digit() => {
                            cur.push(*c);
                            i += 2;
                        }
                        _ => return Err(DnsError::BadEscape),
                    }
                }
                _ => {
                    cur.push(b);
                    i += 1;
                }
            }
            if cur.len() > MAX_LABEL_LEN {
                return Err(DnsError::LabelTooLong);
            }
        }
        if !cur.is_empty() {
            labels.push(cur);
        }
        Self::from_labels(labels.iter().map(Vec::as_slice))
    }

    /// Builds a name from its labels, most specific first (the root label is implied).
    pub fn from_labels<'a, I>(labels: I) -> Result<Self, DnsError>
    where
        I: IntoIterator<Item = &'a [u8]>,
    {
        let mut wire = Vec::new();
        for label in labels {
            if label.is_empty() {
                return Err(DnsError::EmptyLabel);
            }
            if label.len() > MAX_LABEL_LEN {
                return Err(DnsError::LabelTooLong);
            }
            // The cast cannot truncate: the label is at most 63 octets (checked above).
            wire.push(label.len() as u8);
            wire.extend_from_slice(label);
            if wire.len() + 1 > MAX_NAME_LEN {
                return Err(DnsError::NameTooLong);
            }
        }
        wire.push(0);
        Ok(Name { wire })
    }

    /// Wraps wire bytes the decoder has already checked (labels ≤ 63, total ≤ 255, root end).
    pub(crate) fn from_checked_wire(wire: Vec<u8>) -> Self {
        Name { wire }
    }

    /// The uncompressed wire form, ending with the root label.
    pub fn as_wire(&self) -> &[u8] {
        &self.wire
    }

    /// Whether this is the root name.
    pub fn is_root(&self) -> bool {
        self.wire.len() == 1
    }

    /// The labels, most specific first, without the root label.
    pub fn labels(&self) -> Labels<'_> {
        Labels { rest: &self.wire }
    }

    /// The name with `label` prepended (`_udp` + `example.com` = `_udp.example.com`).
    pub fn prepend(&self, label: &[u8]) -> Result<Self, DnsError> {
        Self::from_labels(std::iter::once(label).chain(self.labels()))
    }

    /// Whether `self` equals `other` or lies below it (ASCII case ignored).
    pub fn is_subdomain_of(&self, other: &Name) -> bool {
        let mut mine: Vec<&[u8]> = self.labels().collect();
        let theirs: Vec<&[u8]> = other.labels().collect();
        if theirs.len() > mine.len() {
            return false;
        }
        let tail = mine.split_off(mine.len() - theirs.len());
        tail.iter()
            .zip(&theirs)
            .all(|(a, b)| a.eq_ignore_ascii_case(b))
    }
}

/// Iterator over a name's labels, from [`Name::labels`].
pub struct Labels<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Labels<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let (&len, tail) = self.rest.split_first()?;
        let len = usize::from(len);
        if len == 0 || tail.len() < len {
            self.rest = &[];
            return None;
        }
        let (label, rest) = tail.split_at(len);
        self.rest = rest;
        Some(label)
    }
}

impl PartialEq for Name {
    fn eq(&self, other: &Self) -> bool {
        // Length octets are at most 63, below b'A', so lowercasing the whole wire form only
        // touches label octets (RFC 4343 §3: only ASCII letters fold).
        self.wire.eq_ignore_ascii_case(&other.wire)
    }
}

impl Eq for Name {}

impl Hash for Name {
    fn hash<H: Hasher>(&self, state: &mut H) {
        for b in &self.wire {
            state.write_u8(b.to_ascii_lowercase());
        }
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_root() {
            return f.write_str(".");
        }
        for (i, label) in self.labels().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            for &b in label {
                match b {
                    b'.' | b'\\' => write!(f, "\\{}", char::from(b))?,
                    0x21..=0x7e => write!(f, "{}", char::from(b))?,
                    _ => write!(f, "\\{b:03}")?,
                }
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Name({self})")
    }
}

impl FromStr for Name {
    type Err = DnsError;

    fn from_str(s: &str) -> Result<Self, DnsError> {
        Name::parse(s)
    }
}
