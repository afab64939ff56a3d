//! Name matching and small lexical helpers shared by the request parser.
//!
//! rtpengine accepts most key and flag names with spaces or hyphens ("trust address",
//! "trust-address") and several in more than one letter case ("ICE"/"ice", "SDES"/"sdes").
//! Rather than listing every spelling, names are compared after normalising each byte:
//! ASCII letters fold to lower case and `' '` and `'_'` count as `'-'`. Values (interface
//! names, labels, tags) are never normalised.

use std::net::IpAddr;

fn fold(b: u8) -> u8 {
    match b {
        b' ' | b'_' => b'-',
        _ => b.to_ascii_lowercase(),
    }
}

/// True if `name` equals `canonical` after normalisation.
pub(crate) fn name_eq(name: &[u8], canonical: &str) -> bool {
    name.len() == canonical.len()
        && name
            .iter()
            .zip(canonical.bytes())
            .all(|(a, b)| fold(*a) == fold(b))
}

/// If `name` starts with `prefix` (normalised) and has something after it, the rest.
pub(crate) fn strip_name_prefix<'a>(name: &'a [u8], prefix: &str) -> Option<&'a [u8]> {
    let head = name.get(..prefix.len())?;
    let rest = name.get(prefix.len()..)?;
    (!rest.is_empty() && name_eq(head, prefix)).then_some(rest)
}

fn trim(b: &[u8]) -> &[u8] {
    let start = b.iter().position(|c| !c.is_ascii_whitespace());
    let end = b.iter().rposition(|c| !c.is_ascii_whitespace());
    match (start, end) {
        (Some(s), Some(e)) => b.get(s..=e).unwrap_or_default(),
        _ => &[],
    }
}

/// A decimal integer with an optional leading `-`, surrounding whitespace allowed.
pub(crate) fn parse_decimal(b: &[u8]) -> Option<i64> {
    let b = trim(b);
    let (negative, digits) = match b.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, b),
    };
    if digits.is_empty() || digits.len() > 19 {
        return None;
    }
    let mut value: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        value = value.checked_mul(10)?.checked_add(i64::from(d - b'0'))?;
    }
    Some(if negative { -value } else { value })
}

/// An IPv4 or IPv6 address in text form; an IPv6 address may be bracketed.
pub(crate) fn parse_ip(b: &[u8]) -> Option<IpAddr> {
    let s = std::str::from_utf8(trim(b)).ok()?;
    let s = s
        .strip_prefix('[')
        .and_then(|inner| inner.strip_suffix(']'))
        .unwrap_or(s);
    s.parse().ok()
}

/// Splits a comma-separated list (rtpengine accepts a string where a list is expected),
/// trimming whitespace and skipping empty items.
pub(crate) fn comma_items(b: &[u8]) -> impl Iterator<Item = &[u8]> {
    b.split(|c| *c == b',').map(trim).filter(|s| !s.is_empty())
}

/// Splits an rtpp-flags style string into space-separated tokens. A `[` opens a bracketed
/// group that runs to its matching `]` (spaces inside do not split), so `replace=[origin
/// session-connection]` is one token. Unbalanced brackets extend the token to the end.
pub(crate) struct Tokens<'a> {
    rest: &'a [u8],
}

impl<'a> Tokens<'a> {
    pub(crate) fn new(input: &'a [u8]) -> Self {
        Tokens { rest: input }
    }
}

impl<'a> Iterator for Tokens<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let start = self.rest.iter().position(|c| !c.is_ascii_whitespace())?;
        let rest = self.rest.get(start..)?;
        let mut depth = 0usize;
        let mut end = rest.len();
        for (i, &c) in rest.iter().enumerate() {
            match c {
                b'[' => depth += 1,
                b']' => depth = depth.saturating_sub(1),
                c if c.is_ascii_whitespace() && depth == 0 => {
                    end = i;
                    break;
                }
                _ => {}
            }
        }
        let token = rest.get(..end)?;
        self.rest = rest.get(end..).unwrap_or_default();
        Some(token)
    }
}

/// If `value` is a bracketed group `[a b c]`, its inner part.
pub(crate) fn bracket_inner(value: &[u8]) -> Option<&[u8]> {
    value.strip_prefix(b"[")?.strip_suffix(b"]")
}

/// Splits `key=value` at the first `=`.
pub(crate) fn split_key_value(token: &[u8]) -> (&[u8], Option<&[u8]>) {
    match token.iter().position(|c| *c == b'=') {
        Some(i) => (token.get(..i).unwrap_or_default(), token.get(i + 1..)),
        None => (token, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fold_case_space_and_underscore() {
        assert!(name_eq(b"trust address", "trust-address"));
        assert!(name_eq(b"Trust_Address", "trust-address"));
        assert!(name_eq(b"ice", "ICE"));
        assert!(!name_eq(b"trust-addres", "trust-address"));
        assert!(!name_eq(b"trust-addressx", "trust-address"));
    }

    #[test]
    fn prefix_needs_a_rest() {
        assert_eq!(
            strip_name_prefix(b"replace-origin", "replace-"),
            Some(&b"origin"[..])
        );
        assert_eq!(strip_name_prefix(b"replace-", "replace-"), None);
        assert_eq!(strip_name_prefix(b"repl", "replace-"), None);
        assert_eq!(strip_name_prefix(b"SDES-off", "sdes-"), Some(&b"off"[..]));
    }

    #[test]
    fn decimals() {
        assert_eq!(parse_decimal(b" 30 "), Some(30));
        assert_eq!(parse_decimal(b"-1"), Some(-1));
        assert_eq!(parse_decimal(b""), None);
        assert_eq!(parse_decimal(b"-"), None);
        assert_eq!(parse_decimal(b"3x"), None);
        assert_eq!(parse_decimal(b"99999999999999999999"), None);
    }

    #[test]
    fn addresses() {
        assert_eq!(parse_ip(b"192.0.2.1"), "192.0.2.1".parse().ok());
        assert_eq!(parse_ip(b"[2001:db8::1]"), "2001:db8::1".parse().ok());
        assert_eq!(parse_ip(b"2001:db8::1"), "2001:db8::1".parse().ok());
        assert_eq!(parse_ip(b"example.org"), None);
        assert_eq!(parse_ip(b"\xff"), None);
    }

    #[test]
    fn tokens_keep_bracket_groups_together() {
        let t: Vec<&[u8]> =
            Tokens::new(b"  trust-address replace=[origin session-connection]  ICE=remove ")
                .collect();
        assert_eq!(
            t,
            vec![
                &b"trust-address"[..],
                &b"replace=[origin session-connection]"[..],
                &b"ICE=remove"[..]
            ]
        );
        let unbalanced: Vec<&[u8]> = Tokens::new(b"a=[x y").collect();
        assert_eq!(unbalanced, vec![&b"a=[x y"[..]]);
        assert_eq!(Tokens::new(b"   ").count(), 0);
    }

    #[test]
    fn key_value_split_and_brackets() {
        assert_eq!(
            split_key_value(b"ICE=remove"),
            (&b"ICE"[..], Some(&b"remove"[..]))
        );
        assert_eq!(split_key_value(b"a=b=c"), (&b"a"[..], Some(&b"b=c"[..])));
        assert_eq!(split_key_value(b"symmetric"), (&b"symmetric"[..], None));
        assert_eq!(bracket_inner(b"[a b]"), Some(&b"a b"[..]));
        assert_eq!(bracket_inner(b"a b"), None);
        let items: Vec<&[u8]> = comma_items(b"origin, ,session-connection").collect();
        assert_eq!(items, vec![&b"origin"[..], &b"session-connection"[..]]);
    }
}
