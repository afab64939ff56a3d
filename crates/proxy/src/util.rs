//! Small helpers: our own addresses, next-hop addresses from URIs, identifiers, caps.

use rand::CryptoRng;
use sip::Transport;
use std::net::{IpAddr, SocketAddr};

/// The generator of tags, branches, Call-IDs and DNS query-id keys: whatever the driver
/// passes in, a cryptographically secure generator seeded from the OS in the daemon (a tag or
/// branch seen on the wire tells nothing of the next one), a seeded one in tests.
pub(crate) struct Ids {
    rng: Box<dyn CryptoRng + Send>,
}

impl std::fmt::Debug for Ids {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Ids")
    }
}

impl Ids {
    pub(crate) fn new(rng: Box<dyn CryptoRng + Send>) -> Self {
        Ids { rng }
    }

    /// 32 bytes that key a DNS lookup's query-id generator (RFC 5452 §9.2).
    pub(crate) fn seed(&mut self) -> [u8; 32] {
        let mut s = [0u8; 32];
        self.rng.fill_bytes(&mut s);
        s
    }

    /// A fresh token of 16 hex digits: 64 random bits (RFC 3261 §19.3 asks at least 32 for
    /// tags; branches and Call-IDs must be unique).
    pub(crate) fn token(&mut self) -> String {
        let mut t = String::with_capacity(16);
        push_hex(&mut t, self.rng.next_u64(), 16);
        t
    }
}

/// Appends the decimal digits of `n` (what `write!(out, "{n}")` writes, without the
/// formatting machinery: these are written for every message).
pub(crate) fn push_decimal(out: &mut String, n: u64) {
    let mut digits = [0u8; 20];
    out.extend(decimal(n, &mut digits).iter().map(|&d| char::from(d)));
}

/// The ASCII digits of `n` in decimal, written at the end of `digits` (no allocation, and
/// no UTF-8 check: callers take them as bytes or push them as characters).
pub(crate) fn decimal(mut n: u64, digits: &mut [u8; 20]) -> &[u8] {
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    digits.get(at..).unwrap_or_default()
}

/// Appends the low `width` hex digits of `n`, lower case and zero-padded (`{:0width$x}`).
pub(crate) fn push_hex(out: &mut String, n: u64, width: u32) {
    for i in (0..width.min(16)).rev() {
        let nibble = (n >> (4 * i)) & 0xf;
        out.push(char::from(b"0123456789abcdef"[nibble as usize]));
    }
}

/// The 8 hex digits of `n`, lower case and zero-padded (`{:08x}`), without allocating.
pub(crate) fn hex8(n: u32) -> [u8; 8] {
    let mut out = [0u8; 8];
    for (i, d) in out.iter_mut().enumerate() {
        let nibble = (n >> (28 - 4 * i)) & 0xf;
        *d = b"0123456789abcdef"[nibble as usize];
    }
    out
}

/// A `[sip] max_*` cap as a table size.
pub(crate) fn cap(n: u32) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

/// FNV-1a over the parts, for the loop-detection part of our branches.
pub(crate) fn loop_hash(parts: &[&[u8]]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for p in parts {
        for &b in p.iter().chain(std::iter::once(&0)) {
            h ^= u32::from(b);
            h = h.wrapping_mul(0x0100_0193);
        }
    }
    h
}

/// Parses an IP literal as written in a URI or Via host (IPv6 in brackets).
///
/// An IPv4 host is classified by the message layer's dotted-quad reader (the same addresses
/// as the standard parser, a property test of the `sip` crate checks it) before the general
/// parser is asked.
pub(crate) fn ip_literal(host: &str) -> Option<IpAddr> {
    if host.as_bytes().first().is_some_and(u8::is_ascii_digit) {
        if let Ok(sip::HostKind::Ipv4(v4)) = sip::host_kind(host) {
            return Some(IpAddr::V4(v4));
        }
    }
    let h = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    h.parse().ok()
}

/// Appends the `host:port` text of a socket address (IPv6 bracketed) to `out`.
pub(crate) fn push_hostport(out: &mut String, a: SocketAddr) {
    match a {
        SocketAddr::V4(v4) => {
            for (i, octet) in v4.ip().octets().into_iter().enumerate() {
                if i > 0 {
                    out.push('.');
                }
                push_decimal(out, u64::from(octet));
            }
            out.push(':');
            push_decimal(out, u64::from(v4.port()));
        }
        SocketAddr::V6(v6) => {
            use std::fmt::Write;
            // Writing into a String cannot fail.
            let _ = write!(out, "[{}]:{}", v6.ip(), v6.port());
        }
    }
}

/// `base` with a Via of ours (`sent_by`, `branch`) added right after the Request-Line: above
/// every other Via, so it is the topmost (only the order among Via fields matters, RFC 3261
/// §7.3.1), without parsing the request again.
pub(crate) fn insert_via(
    base: &[u8],
    transport: Transport,
    sent_by: &str,
    branch: &str,
) -> Option<Vec<u8>> {
    let line_end = base.windows(2).position(|w| w == b"\r\n")? + 2;
    let token = transport.via_token();
    let mut bytes =
        Vec::with_capacity(base.len() + 40 + token.len() + sent_by.len() + branch.len());
    bytes.extend_from_slice(base.get(..line_end)?);
    for part in [
        "Via: SIP/2.0/",
        token,
        " ",
        sent_by,
        ";branch=",
        branch,
        "\r\n",
    ] {
        bytes.extend_from_slice(part.as_bytes());
    }
    bytes.extend_from_slice(base.get(line_end..)?);
    Some(bytes)
}

/// `base` with the header `name: value` added right after the Request-Line: above every other
/// field of that name, so it is the topmost value (RFC 3261 §7.3.1).
pub(crate) fn insert_header(base: &[u8], name: &str, value: &str) -> Option<Vec<u8>> {
    let line_end = base.windows(2).position(|w| w == b"\r\n")? + 2;
    let field = format!("{name}: {value}\r\n");
    let mut bytes = Vec::with_capacity(base.len() + field.len());
    bytes.extend_from_slice(base.get(..line_end)?);
    bytes.extend_from_slice(field.as_bytes());
    bytes.extend_from_slice(base.get(line_end..)?);
    Some(bytes)
}

/// The next hop named by a SIP URI when its host is an IP literal (no DNS here): port from
/// the URI or the scheme's default, transport from `;transport=`.
pub(crate) fn uri_target(uri: &str) -> Option<(SocketAddr, Transport)> {
    let u = sip::parse_uri(uri).ok()?;
    let ip = ip_literal(u.host)?;
    // A sips: URI is reached over TLS whatever its transport parameter says (RFC 3261
    // §19.1.2, §26.2.2); an unknown transport falls back to UDP.
    let transport = match u.transport().map(str::parse) {
        _ if u.scheme == sip::Scheme::Sips => Transport::Tls,
        Some(Ok(t)) => t,
        _ => Transport::Udp,
    };
    let port = u.port.unwrap_or(transport.default_port());
    Some((SocketAddr::new(ip, port), transport))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_writers_write_what_format_writes() {
        for n in [0u64, 1, 9, 10, 99, 100, 65_535, 4_294_967_295, u64::MAX] {
            let mut s = String::from("x");
            push_decimal(&mut s, n);
            assert_eq!(s, format!("x{n}"));
            let mut h = String::new();
            push_hex(&mut h, n, 16);
            assert_eq!(h, format!("{n:016x}"));
            let mut h8 = String::new();
            push_hex(&mut h8, n & 0xffff_ffff, 8);
            assert_eq!(h8, format!("{:08x}", n & 0xffff_ffff));
            let n32 = u32::try_from(n & 0xffff_ffff).unwrap_or_default();
            assert_eq!(hex8(n32), format!("{n32:08x}").as_bytes());
        }
    }

    #[test]
    fn hostport_writes_what_display_writes() {
        for a in [
            "0.0.0.0:0",
            "127.0.0.1:5060",
            "192.0.2.255:65535",
            "[2001:db8::1]:5061",
        ] {
            let addr: SocketAddr = a.parse().expect("address");
            let mut s = String::new();
            push_hostport(&mut s, addr);
            assert_eq!(s, a);
        }
    }
}
