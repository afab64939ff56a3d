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
        format!("{:016x}", self.rng.next_u64())
    }
}

/// A `[sip] max_*` cap as a table size.
pub(crate) fn cap(n: u32) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

/// FNV-1a over the parts, for the loop-detection part of our branches.
pub(crate) fn loop_hash(parts: &[&str]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for p in parts {
        for b in p.bytes().chain(std::iter::once(0)) {
            h ^= u32::from(b);
            h = h.wrapping_mul(0x0100_0193);
        }
    }
    h
}

/// Parses an IP literal as written in a URI or Via host (IPv6 in brackets).
pub(crate) fn ip_literal(host: &str) -> Option<IpAddr> {
    let h = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    h.parse().ok()
}

/// `host:port` text for a socket address (IPv6 bracketed).
pub(crate) fn hostport(a: SocketAddr) -> String {
    match a {
        SocketAddr::V4(v4) => format!("{}:{}", v4.ip(), v4.port()),
        SocketAddr::V6(v6) => format!("[{}]:{}", v6.ip(), v6.port()),
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
    let via = format!(
        "Via: SIP/2.0/{} {sent_by};branch={branch}\r\n",
        transport.via_token()
    );
    let mut bytes = Vec::with_capacity(base.len() + via.len());
    bytes.extend_from_slice(base.get(..line_end)?);
    bytes.extend_from_slice(via.as_bytes());
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
