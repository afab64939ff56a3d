//! Lexical helpers shared by the parsers (RFC 3261 §25.1 basic rules).

use std::borrow::Cow;

use crate::SipError;

/// A set of bytes as a table indexed by the byte: one load per test, where a chain of
/// comparisons or a search of a list of punctuation costs one per member.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ByteSet([bool; 256]);

impl ByteSet {
    /// ASCII letters and digits, plus `extra`.
    pub(crate) const fn alnum_and(extra: &[u8]) -> ByteSet {
        let mut t = [false; 256];
        let mut c = 0;
        while c < 256 {
            t[c] = (c as u8).is_ascii_alphanumeric();
            c += 1;
        }
        ByteSet(t).and(extra)
    }

    /// This set plus the bytes of `extra`.
    pub(crate) const fn and(self, extra: &[u8]) -> ByteSet {
        let mut t = self.0;
        let mut i = 0;
        while i < extra.len() {
            t[extra[i] as usize] = true;
            i += 1;
        }
        ByteSet(t)
    }

    /// True when `c` is in the set (a `u8` always indexes a 256-entry table).
    #[inline]
    pub(crate) fn has(&self, c: u8) -> bool {
        self.0[usize::from(c)]
    }

    /// The length of the longest prefix of `s` made of bytes in the set.
    #[inline]
    pub(crate) fn prefix_len(&self, s: &str) -> usize {
        s.bytes().position(|c| !self.has(c)).unwrap_or(s.len())
    }
}

/// `token` characters (RFC 3261 §25.1).
pub(crate) const TOKEN: ByteSet = ByteSet::alnum_and(b"-.!%*_+`'~");

/// Characters allowed in an unquoted gen-value: token, or host (IPv6 reference) characters.
const VALUE: ByteSet = TOKEN.and(b":[]");

/// `token` characters (RFC 3261 §25.1).
pub fn is_token_char(c: u8) -> bool {
    TOKEN.has(c)
}

/// The position of the first `b` in `s`: a plain loop, cheaper than a `char` search on the
/// short strings of a header value.
#[inline]
pub(crate) fn find_byte(s: &str, b: u8) -> Option<usize> {
    s.bytes().position(|c| c == b)
}

/// The pieces of `s` between the bytes `b` (which must be ASCII), like `str::split` with a
/// byte search.
pub(crate) fn split_byte(s: &str, b: u8) -> impl Iterator<Item = &str> {
    let mut rest = Some(s);
    std::iter::from_fn(move || {
        let r = rest?;
        match split_once_byte(r, b) {
            Some((head, tail)) => {
                rest = Some(tail);
                Some(head)
            }
            None => {
                rest = None;
                Some(r)
            }
        }
    })
}

/// `s` split around its first `b` (which must be ASCII), without it.
#[inline]
pub(crate) fn split_once_byte(s: &str, b: u8) -> Option<(&str, &str)> {
    let i = find_byte(s, b)?;
    Some((s.get(..i)?, s.get(i + 1..)?))
}

/// True when `s` is a non-empty token.
pub fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_token_char)
}

/// Linear white space bytes (SP, HTAB, and the CR LF of a fold).
pub fn is_lws(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

/// Trims leading and trailing linear white space.
pub fn trim_lws(s: &str) -> &str {
    // White space bytes are ASCII, so the trimmed ends are character boundaries.
    let b = s.as_bytes();
    let start = b.iter().position(|&c| !is_lws(c)).unwrap_or(b.len());
    let end = b.iter().rposition(|&c| !is_lws(c)).map_or(start, |i| i + 1);
    s.get(start..end).unwrap_or_default()
}

/// Trims leading and trailing linear white space from bytes.
pub fn trim_lws_bytes(mut s: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = s {
        if !is_lws(*first) {
            break;
        }
        s = rest;
    }
    while let [rest @ .., last] = s {
        if !is_lws(*last) {
            break;
        }
        s = rest;
    }
    s
}

/// Unfolds a header value: every CRLF followed by white space becomes one SP
/// (RFC 3261 §7.3.1: a fold is equivalent to a single SP). Borrows when nothing is folded.
pub fn unfold(value: &[u8]) -> Result<Cow<'_, str>, SipError> {
    let text = std::str::from_utf8(value).map_err(|_| SipError::NotUtf8)?;
    if memchr::memchr(b'\r', value).is_none() {
        return Ok(Cow::Borrowed(text));
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find("\r\n") {
        out.push_str(
            rest.get(..pos)
                .unwrap_or_default()
                .trim_end_matches([' ', '\t']),
        );
        out.push(' ');
        rest = rest
            .get(pos + 2..)
            .unwrap_or_default()
            .trim_start_matches([' ', '\t']);
    }
    out.push_str(rest);
    Ok(Cow::Owned(out))
}

/// Splits a header value on commas that are outside quoted strings and `<>` (RFC 3261 §7.3.1).
/// Elements are trimmed; empty elements are kept so callers can reject them.
pub fn split_commas(value: &str) -> Vec<&str> {
    CommaSplit::new(value).collect()
}

/// The elements of a comma list (see [`split_commas`]), without collecting them.
#[derive(Debug, Clone)]
pub(crate) struct CommaSplit<'a> {
    value: &'a str,
    /// Where the next element starts; `None` once the last one was returned.
    start: Option<usize>,
}

impl<'a> CommaSplit<'a> {
    pub(crate) fn new(value: &'a str) -> Self {
        CommaSplit {
            value,
            start: Some(0),
        }
    }
}

impl<'a> Iterator for CommaSplit<'a> {
    type Item = &'a str;

    /// Jumps from one special byte to the next (`memchr`): a comma ends the element outside
    /// `<>`, a quoted string is skipped whole (quoted-pairs included), `<` and `>` open and
    /// close an angle-bracketed part. An unterminated quote or `<` runs to the end.
    fn next(&mut self) -> Option<&'a str> {
        let start = self.start?;
        let bytes = self.value.as_bytes();
        let (mut at, mut in_angle) = (start, false);
        while let Some(rest) = bytes.get(at..) {
            let found = if in_angle {
                memchr::memchr2(b'>', b'"', rest)
            } else {
                memchr::memchr3(b',', b'"', b'<', rest)
            };
            let Some(i) = found.map(|off| at + off) else {
                break;
            };
            match bytes.get(i) {
                Some(b',') => {
                    self.start = Some(i + 1);
                    return Some(trim_lws(self.value.get(start..i).unwrap_or_default()));
                }
                Some(b'"') => match quoted_end(bytes, i + 1) {
                    Some(end) => at = end,
                    None => break,
                },
                Some(b'<') => (in_angle, at) = (true, i + 1),
                _ => (in_angle, at) = (false, i + 1),
            }
        }
        self.start = None;
        Some(trim_lws(self.value.get(start..).unwrap_or_default()))
    }
}

/// Where a quoted string whose content starts at `from` ends (the index after its closing
/// quote), a quoted-pair's second byte never closing it; `None` when it is not terminated.
fn quoted_end(bytes: &[u8], mut from: usize) -> Option<usize> {
    loop {
        let i = from + memchr::memchr2(b'\\', b'"', bytes.get(from..)?)?;
        if bytes.get(i) == Some(&b'"') {
            return Some(i + 1);
        }
        from = i + 2;
    }
}

/// Length in bytes of the quoted string at the front of `s` (which starts with `"`), including
/// both quotes; `None` when it is not terminated (RFC 3261 §25.1 quoted-string, quoted-pair).
pub fn quoted_len(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    if bytes.first() != Some(&b'"') {
        return None;
    }
    let mut i = 1;
    while let Some(&c) = bytes.get(i) {
        match c {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            b'\r' | b'\n' => return None,
            _ => i += 1,
        }
    }
    None
}

/// A generic parameter: name and optional value (value kept as written, quotes included).
pub type Param = (String, Option<String>);

/// A parameter read in place: name and optional value as written.
type ParamRef<'s> = (&'s str, Option<&'s str>);

/// Reads the next `SEMI generic-param` from the front of `s` (RFC 3261 §25.1, SEMI and EQUAL
/// allow white space around them): the parameter and the rest, `None` at the end of `s`.
fn next_param(s: &str) -> Result<Option<(ParamRef<'_>, &str)>, SipError> {
    let rest = trim_lws(s);
    if rest.is_empty() {
        return Ok(None);
    }
    let rest = trim_lws(rest.strip_prefix(';').ok_or_else(|| SipError::BadParam)?);
    let name_len = TOKEN.prefix_len(rest);
    if name_len == 0 {
        return Err(SipError::BadParam);
    }
    let (name, rest) = rest.split_at(name_len);
    let rest = trim_lws(rest);
    let Some(after_eq) = rest.strip_prefix('=') else {
        return Ok(Some(((name, None), rest)));
    };
    let v = trim_lws(after_eq);
    let vlen = if v.starts_with('"') {
        quoted_len(v).ok_or_else(|| SipError::BadParam)?
    } else {
        VALUE.prefix_len(v)
    };
    if vlen == 0 {
        return Err(SipError::BadParam);
    }
    let (value, rest) = v.split_at(vlen);
    Ok(Some(((name, Some(value)), rest)))
}

/// Parses `*( SEMI generic-param )` from the front of `s` (RFC 3261 §25.1, SEMI and EQUAL allow
/// white space around them). Stops at the end of `s`; anything else is an error.
pub fn parse_params(s: &str) -> Result<Vec<Param>, SipError> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(((name, value), r)) = next_param(rest)? {
        out.push((name.to_string(), value.map(str::to_string)));
        rest = r;
    }
    Ok(out)
}

/// Checked `*( SEMI generic-param )` text, read in place: the parameters are found by
/// scanning the text again, which for the few parameters of a header value costs less than
/// copying them out. The parameters a proxy reads on every message (`branch`, `rport`, `tag`)
/// are located once, by the check, and read without a scan.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Params<'a> {
    text: Cow<'a, str>,
    /// Where the first parameter of each of [`KNOWN_PARAMS`] is in `text`.
    known: [Known; KNOWN_PARAMS.len()],
}

/// The parameters whose first occurrence [`Params::parse`] records (names are
/// case-insensitive, RFC 3261 §7.3.1).
const KNOWN_PARAMS: [&str; 3] = ["branch", "rport", "tag"];

/// Where a parameter is: absent, present without a value, or its value's byte range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Known {
    /// Not present.
    #[default]
    Absent,
    /// Present without `=value`.
    Bare,
    /// Present; the value (as written) is at this range of the text.
    Value(u32, u32),
    /// Present, but not recorded (a text beyond `u32` offsets): found by a scan.
    Scan,
}

impl<'a> Params<'a> {
    /// Checks `s` as `*( SEMI generic-param )` (see [`parse_params`]) and keeps it.
    pub fn parse(s: &'a str) -> Result<Self, SipError> {
        let mut known = [Known::Absent; KNOWN_PARAMS.len()];
        let mut rest = s;
        while let Some(((name, value), r)) = next_param(rest)? {
            rest = r;
            let slot = KNOWN_PARAMS
                .iter()
                .position(|k| k.eq_ignore_ascii_case(name))
                .and_then(|i| known.get_mut(i));
            if let Some(slot @ Known::Absent) = slot {
                // The value ends where the rest begins (see `next_param`).
                let end = s.len() - r.len();
                *slot = match value {
                    None => Known::Bare,
                    Some(v) => match (u32::try_from(end - v.len()), u32::try_from(end)) {
                        (Ok(a), Ok(b)) => Known::Value(a, b),
                        _ => Known::Scan,
                    },
                };
            }
        }
        Ok(Params {
            text: Cow::Borrowed(s),
            known,
        })
    }

    /// The parameters in order as (name, value as written, quotes included).
    pub fn iter(&self) -> impl Iterator<Item = (&str, Option<&str>)> {
        let mut rest: &str = &self.text;
        std::iter::from_fn(move || {
            // The text was checked by `parse`, so an error cannot happen here.
            let (param, r) = next_param(rest).ok().flatten()?;
            rest = r;
            Some(param)
        })
    }

    /// Looks up a parameter by case-insensitive name: `Some(None)` when present without value.
    pub fn get(&self, name: &str) -> Option<Option<&str>> {
        if let Some(i) = KNOWN_PARAMS
            .iter()
            .position(|k| k.eq_ignore_ascii_case(name))
        {
            match self.known.get(i).copied().unwrap_or(Known::Scan) {
                Known::Absent => return None,
                Known::Bare => return Some(None),
                Known::Value(a, b) => {
                    if let Some(v) = self.text.get(a as usize..b as usize) {
                        return Some(Some(v));
                    }
                }
                Known::Scan => {}
            }
        }
        self.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// The number of parameters.
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// True when there is no parameter.
    pub fn is_empty(&self) -> bool {
        trim_lws(&self.text).is_empty()
    }

    /// The same parameters holding their own copy of the text.
    pub fn into_owned(self) -> Params<'static> {
        Params {
            text: Cow::Owned(self.text.into_owned()),
            known: self.known,
        }
    }
}
