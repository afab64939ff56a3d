//! SIP, SIPS and TEL URIs (RFC 3261 §19.1, §25.1; RFC 3966). Escapes are kept raw.
//!
//! [`parse_uri`] reads any SIP, SIPS or TEL URI into a [`Uri`] that borrows from the text (the
//! proxy's path); [`SipUri`] and [`HostPort`] are owned, stricter forms for the next hops and
//! addresses a configuration names.

mod owned;

use std::net::Ipv4Addr;

use crate::lex::{find_byte, split_byte, split_once_byte, ByteSet};
use crate::{SipError, UnknownTransport};

pub use owned::{HostPort, SipUri, UriHost};

/// Why a URI (or a `host[:port]`) was refused: its RFC 3261 §25.1 syntax, or one of the stricter
/// rules of [`SipUri`] and [`HostPort`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UriError {
    /// No `scheme:` prefix.
    #[error("no scheme (expected e.g. \"sip:host\")")]
    NoScheme,
    /// The scheme is malformed, or [`parse_uri`] does not read it (it reads sip, sips, tel).
    #[error("unknown or malformed scheme (expected \"sip:\", \"sips:\" or \"tel:\")")]
    Scheme,
    /// A next hop ([`SipUri`]) must be a `sip:` or `sips:` URI.
    #[error("must start with \"sip:\" or \"sips:\"")]
    NotSip,
    /// An `@` with no user before it.
    #[error("empty user part before '@'")]
    EmptyUser,
    /// A character RFC 3261 §25.1 does not allow (unescaped) in this part.
    #[error("{part} contains {ch:?}")]
    BadChar {
        /// The part of the URI: `user part`, `password`, `uri-parameter`, `headers`,
        /// `absoluteURI`.
        part: &'static str,
        /// The first offending character.
        ch: char,
    },
    /// A `%` not followed by two hex digits (RFC 3261 §25.1 `escaped`).
    #[error("{part} has a '%' not followed by two hex digits")]
    BadEscape {
        /// The part of the URI, as in [`UriError::BadChar`].
        part: &'static str,
    },
    /// A `;` with no parameter name after it.
    #[error("empty uri-parameter")]
    EmptyParam,
    /// A `?` with no header after it.
    #[error("empty headers after '?'")]
    EmptyHeaders,
    /// Nothing after the scheme of a non-SIP absoluteURI.
    #[error("nothing after the scheme")]
    Empty,
    /// A `[` with no closing `]`.
    #[error("IPv6 address without closing ']'")]
    UnclosedIpv6,
    /// Brackets around something that is not an IPv6 address.
    #[error("the bracketed host is not an IPv6 address")]
    BadIpv6,
    /// Something other than `:port` after the closing `]`.
    #[error("unexpected text after the IPv6 address")]
    AfterIpv6,
    /// No host at all.
    #[error("the host is empty")]
    EmptyHost,
    /// The host is not an IP address, nor a host name of letters, digits, '-' and '.' whose
    /// labels are 1 to 63 characters and do not start or end with '-' (RFC 3261 §25.1
    /// `hostname`, RFC 1123 §2.1).
    #[error("the host is not an IP address or a valid host name")]
    BadHost,
    /// A host name longer than 253 characters (RFC 1035 §2.3.4).
    #[error("the host name is longer than 253 characters")]
    HostTooLong,
    /// Digits and dots that are not an IPv4 address (e.g. `256.1.1.1`): a mistyped address is
    /// never taken for a host name.
    #[error("the host is not a valid IPv4 address")]
    BadIpv4,
    /// The port is not 1 to 5 digits of a number up to 65535.
    #[error("the port is not a port number (digits, at most 65535)")]
    BadPort,
    /// Port 0, which nothing can be sent to.
    #[error("port 0 is not allowed")]
    PortZero,
    /// The number of a `tel:` URI is empty or has characters RFC 3966 §3 does not allow.
    #[error("malformed telephone number")]
    BadTelNumber,
    /// URI headers (`?...`) where the URI names a next hop, which has no use for them.
    #[error("URI headers (\"?...\") are not allowed here")]
    Headers,
    /// A `transport=` parameter that is not udp, tcp or tls.
    #[error("transport parameter: {0}")]
    Transport(#[from] UnknownTransport),
    /// `sips:` with `transport=udp`: a SIPS URI is reached over TLS, which never runs over UDP
    /// (RFC 3261 §26.2.2).
    #[error("a sips: URI cannot use transport=udp")]
    SipsOverUdp,
}

impl UriError {
    /// The part of the URI this error is about, as the message layer's
    /// [`SipError::BadUri`] names it.
    pub fn part(&self) -> &'static str {
        match self {
            UriError::NoScheme => "no scheme",
            UriError::Scheme | UriError::NotSip => "scheme",
            UriError::EmptyUser => "empty user",
            UriError::BadChar { part, .. } | UriError::BadEscape { part } => part,
            UriError::EmptyParam => "empty parameter",
            UriError::EmptyHeaders => "empty headers",
            UriError::Empty => "empty",
            UriError::UnclosedIpv6 | UriError::BadIpv6 => "IPv6 reference",
            UriError::AfterIpv6 => "text after IPv6 reference",
            UriError::EmptyHost | UriError::BadHost | UriError::HostTooLong | UriError::BadIpv4 => {
                "host"
            }
            UriError::BadPort | UriError::PortZero => "port",
            UriError::BadTelNumber => "telephone number",
            UriError::Headers => "headers",
            UriError::Transport(_) | UriError::SipsOverUdp => "transport",
        }
    }
}

impl From<UriError> for SipError {
    fn from(e: UriError) -> SipError {
        SipError::BadUri(e.part())
    }
}

/// The scheme of a parsed URI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `sip:`
    Sip,
    /// `sips:`
    Sips,
    /// `tel:` (RFC 3966)
    Tel,
}

/// The kind of a host (RFC 3261 §25.1 `host`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostKind {
    /// A dotted-quad IPv4 address.
    Ipv4(Ipv4Addr),
    /// An IPv6 reference in brackets. RFC 5118 §4.10: the text inside is checked loosely
    /// (hex digits, `:` and `.`) so that the three-colon form of RFC 3261's ABNF is tolerated.
    Ipv6,
    /// A host name.
    Name,
}

/// Classifies a host as written (IPv6 references include their brackets).
pub fn host_kind(host: &str) -> Result<HostKind, SipError> {
    Ok(classify_host(host)?)
}

/// [`host_kind`] with the precise reason.
fn classify_host(host: &str) -> Result<HostKind, UriError> {
    if let Some(inner) = host.strip_prefix('[') {
        let inner = inner.strip_suffix(']').ok_or(UriError::UnclosedIpv6)?;
        let ok = inner.contains(':')
            && inner
                .bytes()
                .all(|c| c.is_ascii_hexdigit() || c == b':' || c == b'.');
        return if ok {
            Ok(HostKind::Ipv6)
        } else {
            Err(UriError::BadIpv6)
        };
    }
    // A host that does not start with a digit is no IPv4 address; a canonical dotted quad is
    // read without the general parser (hosts are classified on every Via and URI read).
    if host.as_bytes().first().is_some_and(u8::is_ascii_digit) {
        if let Some(v4) = dotted_quad(host).or_else(|| host.parse::<Ipv4Addr>().ok()) {
            return Ok(HostKind::Ipv4(v4));
        }
    }
    if host.is_empty() {
        return Err(UriError::EmptyHost);
    }
    let ok = host
        .bytes()
        .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'.')
        && !host.starts_with(['-', '.']);
    if ok {
        Ok(HostKind::Name)
    } else {
        Err(UriError::BadHost)
    }
}

/// `host` as an IPv4 address when it is four decimal octets of one to three digits, no
/// leading zero, each at most 255; `None` otherwise (the caller then asks the general parser,
/// so this only decides faster what it would decide).
fn dotted_quad(host: &str) -> Option<Ipv4Addr> {
    let mut octets = [0u8; 4];
    let (mut done, mut value, mut digits) = (0usize, 0u16, 0u8);
    for &c in host.as_bytes() {
        match c {
            // A fourth digit, or a digit after a leading zero.
            b'0'..=b'9' if digits == 3 || (digits == 1 && value == 0) => return None,
            b'0'..=b'9' => {
                value = value * 10 + u16::from(c - b'0');
                digits += 1;
            }
            b'.' if digits > 0 => {
                *octets.get_mut(done)? = u8::try_from(value).ok()?;
                (done, value, digits) = (done + 1, 0, 0);
            }
            _ => return None,
        }
    }
    *octets.get_mut(done).filter(|_| done == 3 && digits > 0)? = u8::try_from(value).ok()?;
    Some(Ipv4Addr::from(octets))
}

/// The parts of a checked `host[:port]`: the host as written, its kind, the port if written.
type HostPortParts<'a> = (&'a str, HostKind, Option<u16>);

/// Splits `host[:port]` (the host may be a bracketed IPv6 reference) and checks both parts.
///
/// The common case, a canonical dotted quad with an optional port, is read in one pass by
/// [`ipv4_hostport`]; anything else goes to [`split_hostport_general`], which decides the
/// same for every input (a unit property test compares the two).
pub fn split_hostport(s: &str) -> Result<HostPortParts<'_>, UriError> {
    match ipv4_hostport(s) {
        Some(parts) => Ok(parts),
        None => split_hostport_general(s),
    }
}

/// `host[:port]` read in one pass when the host is four decimal octets (one to three digits,
/// no leading zero, each at most 255) and the port, if any, is digits of a number up to
/// 65535; `None` for anything else, including every input [`split_hostport_general`] refuses.
fn ipv4_hostport(s: &str) -> Option<HostPortParts<'_>> {
    let bytes = s.as_bytes();
    let digit = |at: usize| {
        bytes
            .get(at)
            .filter(|c| c.is_ascii_digit())
            .map(|c| u16::from(c - b'0'))
    };
    let mut octets = [0u8; 4];
    let mut at = 0;
    for (k, octet) in octets.iter_mut().enumerate() {
        if k > 0 {
            (bytes.get(at) == Some(&b'.')).then_some(())?;
            at += 1;
        }
        let mut value = digit(at)?;
        at += 1;
        // No digit after a leading zero; at most three digits (the byte after them must be
        // a dot, a colon or the end, checked below).
        if value != 0 {
            for _ in 0..2 {
                let Some(d) = digit(at) else { break };
                value = value * 10 + d;
                at += 1;
            }
        }
        *octet = u8::try_from(value).ok()?;
    }
    let port = match bytes.get(at..) {
        Some([]) => None,
        Some([b':', p @ ..]) if !p.is_empty() => Some(port_digits(p)?),
        _ => return None,
    };
    Some((s.get(..at)?, HostKind::Ipv4(Ipv4Addr::from(octets)), port))
}

/// The port number of `p` when it is all digits of a number up to 65535 (leading zeros
/// allowed, as `str::parse::<u16>` allows them).
fn port_digits(p: &[u8]) -> Option<u16> {
    let mut n = 0u32;
    for &d in p {
        if !d.is_ascii_digit() {
            return None;
        }
        n = n * 10 + u32::from(d - b'0');
        if n > u32::from(u16::MAX) {
            return None;
        }
    }
    u16::try_from(n).ok()
}

/// [`split_hostport`] for any host: split at the port's colon, then host and port checked
/// apart.
fn split_hostport_general(s: &str) -> Result<HostPortParts<'_>, UriError> {
    let (host, port) = if s.starts_with('[') {
        let end = find_byte(s, b']').ok_or(UriError::UnclosedIpv6)?;
        let (h, rest) = s.split_at(end + 1);
        match rest.strip_prefix(':') {
            Some(p) => (h, Some(p)),
            None if rest.is_empty() => (h, None),
            None => return Err(UriError::AfterIpv6),
        }
    } else {
        match split_once_byte(s, b':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    let kind = classify_host(host)?;
    let port = match port {
        None => None,
        Some(p) if !p.is_empty() && p.bytes().all(|c| c.is_ascii_digit()) => {
            Some(p.parse::<u16>().map_err(|_| UriError::BadPort)?)
        }
        Some(_) => return Err(UriError::BadPort),
    };
    Ok((host, kind, port))
}

/// A parsed SIP, SIPS or TEL URI borrowing from its text. `%HH` escapes are kept raw; use
/// [`unescape`] on a part to decode it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uri<'a> {
    /// The scheme.
    pub scheme: Scheme,
    /// The user part (for `tel:`, the telephone number).
    pub user: Option<&'a str>,
    /// The password part (deprecated, RFC 3261 §19.1.1).
    pub password: Option<&'a str>,
    /// The host as written (IPv6 references keep their brackets); empty for `tel:`.
    pub host: &'a str,
    /// The port, if written.
    pub port: Option<u16>,
    /// The uri-parameters as written, without the leading `;` (empty if none).
    pub params: &'a str,
    /// The headers as written, without the leading `?`.
    pub headers: Option<&'a str>,
}

impl<'a> Uri<'a> {
    /// Iterates the uri-parameters as (name, optional value), raw.
    pub fn param_iter(&self) -> impl Iterator<Item = (&'a str, Option<&'a str>)> {
        let params = self.params;
        split_byte(params, b';')
            .filter(|p| !p.is_empty())
            .map(|p| match split_once_byte(p, b'=') {
                Some((n, v)) => (n, Some(v)),
                None => (p, None),
            })
    }

    /// Looks up a uri-parameter by case-insensitive name: `Some(None)` when present without value.
    pub fn param(&self, name: &str) -> Option<Option<&'a str>> {
        self.param_iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// True when the `lr` parameter is present (loose routing, RFC 3261 §16.4, §19.1.1).
    pub fn lr(&self) -> bool {
        self.param("lr").is_some()
    }

    /// The `transport` parameter, if any.
    pub fn transport(&self) -> Option<&'a str> {
        self.param("transport").flatten()
    }

    /// The kind of the host (fails only for `tel:` URIs, which have no host).
    pub fn host_kind(&self) -> Result<HostKind, SipError> {
        host_kind(self.host)
    }
}

/// Decodes `%HH` escapes (RFC 3261 §19.1.4); a `%` not followed by two hex digits is kept.
pub fn unescape(s: &str) -> Vec<u8> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&c) = bytes.get(i) {
        if c == b'%' {
            if let (Some(h), Some(l)) = (
                bytes.get(i + 1).and_then(|b| (*b as char).to_digit(16)),
                bytes.get(i + 2).and_then(|b| (*b as char).to_digit(16)),
            ) {
                // h and l are below 16, so the value fits in a byte.
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(c);
        i += 1;
    }
    out
}

/// `unreserved` (RFC 3261 §25.1).
const UNRESERVED: ByteSet = ByteSet::alnum_and(b"-_.!~*'()");
/// The user part: `unreserved / escaped / user-unreserved`.
const USER: ByteSet = UNRESERVED.and(b"&=+$,;?/");
/// The password: `unreserved / escaped / "&" / "=" / "+" / "$" / ","`.
const PASSWORD: ByteSet = UNRESERVED.and(b"&=+$,");
/// A uri-parameter: `paramchar` and `=`.
const PARAM: ByteSet = UNRESERVED.and(b"[]/:&+$=");
/// The headers: `hnv-unreserved / unreserved` and the separators `=` and `&`.
const HEADERS: ByteSet = UNRESERVED.and(b"[]/?:+$=&");
/// The opaque part of an absoluteURI: `uric`.
const URIC: ByteSet = UNRESERVED.and(b";/?:@&=+$,");

/// Checks `s` against `escaped` or the bytes of `allowed` (RFC 3261 §25.1); `part` names it
/// in the error.
fn check_chars(s: &str, allowed: &ByteSet, part: &'static str) -> Result<(), UriError> {
    let b = s.as_bytes();
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c == b'%' {
            let ok = b.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit);
            if !ok {
                return Err(UriError::BadEscape { part });
            }
            i += 3;
        } else if allowed.has(c) {
            i += 1;
        } else {
            // Every byte before `i` is ASCII, so `i` is a character boundary.
            let ch = s.get(i..).and_then(|t| t.chars().next()).unwrap_or('?');
            return Err(UriError::BadChar { part, ch });
        }
    }
    Ok(())
}

/// Strips a case-insensitive scheme prefix (with its colon).
fn strip_scheme<'a>(s: &'a str, scheme: &str) -> Option<&'a str> {
    let head = s.get(..scheme.len())?;
    if head.eq_ignore_ascii_case(scheme) {
        s.get(scheme.len()..)
    } else {
        None
    }
}

/// Parses a SIP, SIPS or TEL URI (RFC 3261 §19.1.1, §25.1; RFC 3966 §3, loosely).
pub fn parse_uri(s: &str) -> Result<Uri<'_>, SipError> {
    Ok(read_uri(s)?)
}

/// [`parse_uri`] with the precise reason.
fn read_uri(s: &str) -> Result<Uri<'_>, UriError> {
    if let Some(rest) = strip_scheme(s, "tel:") {
        return parse_tel(rest);
    }
    let (scheme, rest) = if let Some(r) = strip_scheme(s, "sip:") {
        (Scheme::Sip, r)
    } else if let Some(r) = strip_scheme(s, "sips:") {
        (Scheme::Sips, r)
    } else {
        return Err(UriError::Scheme);
    };
    // '@' cannot appear unescaped after the userinfo (RFC 3261 §25.1), so the first one ends it.
    let (userinfo, rest) = match split_once_byte(rest, b'@') {
        Some((u, r)) => (Some(u), r),
        None => (None, rest),
    };
    let (user, password) = match userinfo {
        None => (None, None),
        Some(u) => {
            let (user, pw) = match split_once_byte(u, b':') {
                Some((a, b)) => (a, Some(b)),
                None => (u, None),
            };
            if user.is_empty() {
                return Err(UriError::EmptyUser);
            }
            check_chars(user, &USER, "user part")?;
            if let Some(pw) = pw {
                check_chars(pw, &PASSWORD, "password")?;
            }
            (Some(user), pw)
        }
    };
    let (before_headers, headers) = match split_once_byte(rest, b'?') {
        Some((a, h)) => (a, Some(h)),
        None => (rest, None),
    };
    let (hostport, params) = split_once_byte(before_headers, b';').unwrap_or((before_headers, ""));
    let (host, _, port) = split_hostport(hostport)?;
    for p in split_byte(params, b';').filter(|_| !params.is_empty()) {
        let name = split_once_byte(p, b'=').map_or(p, |(n, _)| n);
        if name.is_empty() {
            return Err(UriError::EmptyParam);
        }
        check_chars(p, &PARAM, "uri-parameter")?;
    }
    if let Some(h) = headers {
        if h.is_empty() {
            return Err(UriError::EmptyHeaders);
        }
        check_chars(h, &HEADERS, "headers")?;
    }
    Ok(Uri {
        scheme,
        user,
        password,
        host,
        port,
        params,
        headers,
    })
}

/// Parses the part of a `tel:` URI after the scheme (RFC 3966 §3, characters checked loosely).
fn parse_tel(rest: &str) -> Result<Uri<'_>, UriError> {
    let (number, params) = rest.split_once(';').unwrap_or((rest, ""));
    let ok = !number.is_empty()
        && number
            .bytes()
            .all(|c| c.is_ascii_hexdigit() || b"+-.()*#pwPW".contains(&c));
    if !ok {
        return Err(UriError::BadTelNumber);
    }
    for p in split_byte(params, b';').filter(|_| !params.is_empty()) {
        if split_once_byte(p, b'=').map_or(p, |(n, _)| n).is_empty() {
            return Err(UriError::EmptyParam);
        }
        check_chars(p, &PARAM, "uri-parameter")?;
    }
    Ok(Uri {
        scheme: Scheme::Tel,
        user: Some(number),
        password: None,
        host: "",
        port: None,
        params,
        headers: None,
    })
}

/// Checks a URI of any scheme: SIP/SIPS/TEL are parsed fully, other schemes must be a
/// well-formed `absoluteURI` (RFC 3261 §25.1: scheme ":" then reserved/unreserved/escaped).
pub fn check_any_uri(s: &str) -> Result<(), SipError> {
    read_any_uri(s)?;
    Ok(())
}

/// [`check_any_uri`] with the precise reason, returning the parsed URI when it is a SIP,
/// SIPS or TEL one (so that a caller needing it does not parse it again).
pub(crate) fn read_any_uri(s: &str) -> Result<Option<Uri<'_>>, UriError> {
    let (scheme, rest) = split_once_byte(s, b':').ok_or(UriError::NoScheme)?;
    let scheme_ok = scheme
        .bytes()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic())
        && scheme
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"+-.".contains(&c));
    if !scheme_ok {
        return Err(UriError::Scheme);
    }
    if ["sip", "sips", "tel"]
        .iter()
        .any(|k| k.eq_ignore_ascii_case(scheme))
    {
        return read_uri(s).map(Some);
    }
    if rest.is_empty() {
        return Err(UriError::Empty);
    }
    check_chars(rest, &URIC, "absoluteURI").map(|()| None)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
