//! Parsers for the individual lines and attributes the crate interprets. The rewriter uses the
//! same functions, so what it owns is exactly what the parser reported.

use std::net::IpAddr;
use std::ops::Range;

use crate::lines::Tokens;
use crate::model::{Address, Connection, Direction, MediaDescription, Origin, RtcpAttr, RtpMap};
use crate::SdpError;

/// What an attribute is, as far as this crate cares. Names match ASCII case-insensitively.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AttrKind {
    /// `a=rtcp` (RFC 3605).
    Rtcp,
    /// `a=rtcp-mux` (RFC 5761 §5.1.1).
    RtcpMux,
    /// `a=sendrecv|sendonly|recvonly|inactive` (RFC 8866 §6.7).
    Direction(Direction),
    /// An ICE attribute (RFC 8839 §5; `end-of-candidates` is from RFC 8840).
    Ice,
    /// `a=rtpmap` (RFC 8866 §6.6).
    RtpMap,
    /// Anything else: kept as it is.
    Other,
}

/// ICE attribute names the rewriter strips (RFC 8839 §5; `end-of-candidates` is from RFC 8840).
const ICE_ATTRS: [&[u8]; 9] = [
    b"candidate",
    b"ice-ufrag",
    b"ice-pwd",
    b"ice-options",
    b"ice-lite",
    b"end-of-candidates",
    b"remote-candidates",
    b"ice-mismatch",
    b"ice-pacing",
];

/// Classifies an attribute by name.
pub(crate) fn classify(name: &[u8]) -> AttrKind {
    let is = |n: &[u8]| name.eq_ignore_ascii_case(n);
    if is(b"rtcp") {
        AttrKind::Rtcp
    } else if is(b"rtcp-mux") {
        AttrKind::RtcpMux
    } else if is(b"sendrecv") {
        AttrKind::Direction(Direction::SendRecv)
    } else if is(b"sendonly") {
        AttrKind::Direction(Direction::SendOnly)
    } else if is(b"recvonly") {
        AttrKind::Direction(Direction::RecvOnly)
    } else if is(b"inactive") {
        AttrKind::Direction(Direction::Inactive)
    } else if is(b"rtpmap") {
        AttrKind::RtpMap
    } else if ICE_ATTRS.iter().any(|n| is(n)) {
        AttrKind::Ice
    } else {
        AttrKind::Other
    }
}

fn utf8(value: &[u8], line: usize) -> Result<&str, SdpError> {
    std::str::from_utf8(value).map_err(|_| SdpError::NotUtf8 { line })
}

/// Parses a non-empty run of ASCII digits (no sign, unlike `str::parse`).
fn digits<T: std::str::FromStr>(s: &str) -> Option<T> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// An IP literal, optionally in brackets (a quirk seen in `o=` lines of some senders).
pub(crate) fn ip_literal(s: &str) -> Option<IpAddr> {
    let inner = s
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .unwrap_or(s);
    inner.parse().ok()
}

/// `IP4` or `IP6` for an address (RFC 8866 §5.7).
pub(crate) fn addrtype(addr: IpAddr) -> &'static str {
    match addr {
        IpAddr::V4(_) => "IP4",
        IpAddr::V6(_) => "IP6",
    }
}

/// Parses an `o=` value (RFC 8866 §5.2). Also returns the byte offset of the addrtype field in
/// the value, where the rewriter starts replacing.
pub(crate) fn origin(value: &[u8], line: usize) -> Result<(Origin<'_>, usize), SdpError> {
    let s = utf8(value, line)?;
    let bad = SdpError::BadOrigin { line };
    // Five fixed fields from the right; everything before them is the username. Keep the
    // last six tokens in a ring (no allocation).
    let mut ring: [(usize, &str); 6] = [(0, ""); 6];
    let mut count = 0usize;
    for tok in Tokens::new(s) {
        if let Some(slot) = ring.get_mut(count % 6) {
            *slot = tok;
        }
        count += 1;
    }
    if count < 6 {
        return Err(bad);
    }
    let nth_last = |n: usize| ring.get((count - n) % 6).copied().unwrap_or((0, ""));
    let (user_last_off, user_last) = nth_last(6);
    let user_end = user_last_off + user_last.len();
    let user_start = Tokens::new(s).next().map_or(0, |(off, _)| off);
    let (_, sess_id) = nth_last(5);
    let (_, sess_version) = nth_last(4);
    let (_, nettype) = nth_last(3);
    let (addrtype_off, addrtype) = nth_last(2);
    let (_, addr) = nth_last(1);
    let username = s.get(user_start..user_end).ok_or(bad)?;
    let addr = ip_literal(addr).map_or(Address::Name(addr), Address::Ip);
    let origin = Origin {
        username,
        sess_id,
        sess_version,
        nettype,
        addrtype,
        addr,
    };
    Ok((origin, addrtype_off))
}

/// Parses a `c=` value (RFC 8866 §5.7). Also returns the raw `/ttl[/count]` suffix (empty when
/// absent). The address family is taken from the literal.
pub(crate) fn connection(value: &[u8], line: usize) -> Result<(Connection, &str), SdpError> {
    let s = utf8(value, line)?;
    let bad = SdpError::BadConnection { line };
    let mut toks = Tokens::new(s);
    let (Some((_, net)), Some((_, kind)), Some((_, addr)), None) =
        (toks.next(), toks.next(), toks.next(), toks.next())
    else {
        return Err(bad);
    };
    if !net.eq_ignore_ascii_case("IN")
        || !(kind.eq_ignore_ascii_case("IP4") || kind.eq_ignore_ascii_case("IP6"))
    {
        return Err(SdpError::UnsupportedNetwork { line });
    }
    let (host, suffix) = addr.find('/').map_or((addr, ""), |i| addr.split_at(i));
    let ip = ip_literal(host).ok_or(SdpError::NotIpLiteral { line })?;
    let mut conn = Connection {
        addr: ip,
        ttl: None,
        count: None,
    };
    if !suffix.is_empty() {
        // RFC 8866 §5.7: IPv4 `/ttl[/count]`, IPv6 `/count`.
        let mut parts = suffix.split('/').skip(1);
        if ip.is_ipv4() {
            conn.ttl = Some(parts.next().and_then(digits).ok_or(bad)?);
        }
        if let Some(p) = parts.next() {
            conn.count = Some(digits(p).ok_or(bad)?);
        } else if ip.is_ipv6() {
            return Err(bad);
        }
        if parts.next().is_some() {
            return Err(bad);
        }
    }
    Ok((conn, suffix))
}

/// Parses an `m=` value (RFC 8866 §5.14). Also returns the byte range of the port number (not
/// its `/count`) in the value.
pub(crate) fn media(
    value: &[u8],
    line: usize,
) -> Result<(MediaDescription<'_>, Range<usize>), SdpError> {
    let s = utf8(value, line)?;
    let bad = SdpError::BadMedia { line };
    let mut toks = Tokens::new(s);
    let (_, kind) = toks.next().ok_or(bad)?;
    let (port_off, port_tok) = toks.next().ok_or(bad)?;
    let (_, proto) = toks.next().ok_or(bad)?;
    let formats: Vec<&str> = toks.map(|(_, f)| f).collect();
    if formats.is_empty() {
        return Err(bad);
    }
    let (port_str, count_str) = match port_tok.split_once('/') {
        Some((p, c)) => (p, Some(c)),
        None => (port_tok, None),
    };
    let port = digits(port_str).ok_or(bad)?;
    let port_count = match count_str {
        Some(c) => Some(digits(c).ok_or(bad)?),
        None => None,
    };
    let md = MediaDescription {
        media: kind,
        port,
        port_count,
        proto,
        formats,
        connection: None,
        rtcp: None,
        rtcp_mux: false,
        direction: None,
        rtpmaps: Vec::new(),
        has_ice: false,
    };
    Ok((md, port_off..port_off + port_str.len()))
}

/// Parses an `a=rtcp` value: `<port> [<nettype> <addrtype> <address>]` (RFC 3605 §2.1).
pub(crate) fn rtcp(value: &[u8], line: usize) -> Result<RtcpAttr, SdpError> {
    let s = utf8(value, line)?;
    let bad = SdpError::BadRtcp { line };
    let mut toks = Tokens::new(s).map(|(_, t)| t);
    let port = toks.next().and_then(digits).ok_or(bad)?;
    let addr = match (toks.next(), toks.next(), toks.next(), toks.next()) {
        (None, _, _, _) => None,
        (Some(net), Some(kind), Some(addr), None) => {
            if !net.eq_ignore_ascii_case("IN")
                || !(kind.eq_ignore_ascii_case("IP4") || kind.eq_ignore_ascii_case("IP6"))
            {
                return Err(bad);
            }
            Some(ip_literal(addr).ok_or(SdpError::NotIpLiteral { line })?)
        }
        _ => return Err(bad),
    };
    Ok(RtcpAttr { port, addr })
}

/// Parses an `a=rtpmap` value: `<pt> <encoding>/<clock rate>[/<channels>]` (RFC 8866 §6.6).
/// `None` when malformed: such a line is kept but not reported.
pub(crate) fn rtpmap(value: &[u8]) -> Option<RtpMap<'_>> {
    let s = std::str::from_utf8(value).ok()?;
    let mut toks = Tokens::new(s).map(|(_, t)| t);
    let pt = toks.next().and_then(digits::<u8>).filter(|pt| *pt <= 127)?;
    let mut parts = toks.next()?.split('/');
    let encoding = parts.next().filter(|e| !e.is_empty())?;
    let clock_rate = parts.next().and_then(digits)?;
    let channels = match parts.next() {
        Some(c) => Some(digits(c)?),
        None => None,
    };
    if parts.next().is_some() || toks.next().is_some() {
        return None;
    }
    Some(RtpMap {
        pt,
        encoding,
        clock_rate,
        channels,
    })
}

#[cfg(test)]
mod tests;
