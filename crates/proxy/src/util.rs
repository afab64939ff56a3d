//! Small helpers: our own addresses, next-hop addresses from URIs and Vias, identifiers.

use sip::Transport;
use std::net::{IpAddr, SocketAddr};

/// A deterministic generator for tags, branches and Call-IDs (xorshift64*; the seed comes in
/// from the driver, so scenario tests are repeatable).
#[derive(Debug, Clone)]
pub(crate) struct Ids {
    state: u64,
}

impl Ids {
    pub(crate) fn new(seed: u64) -> Self {
        Ids { state: seed | 1 }
    }

    pub(crate) fn next(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A fresh token of 16 hex digits.
    pub(crate) fn token(&mut self) -> String {
        format!("{:016x}", self.next())
    }
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

/// Where a response goes by its topmost Via (RFC 3261 §18.2.2, RFC 3581 §4): `received` (or
/// the sent-by IP) and `rport` (or the sent-by port, or 5060).
pub(crate) fn via_target(via: &sip::Via) -> Option<(SocketAddr, Transport)> {
    let ip = via
        .received()
        .and_then(ip_literal)
        .or_else(|| ip_literal(&via.host))?;
    // A transport this element does not speak (SCTP, WS) is tried over TCP.
    let transport = via.transport.parse().unwrap_or(Transport::Tcp);
    let port = match via.rport() {
        Ok(Some(Some(p))) => p,
        _ => via.port.unwrap_or(transport.default_port()),
    };
    Some((SocketAddr::new(ip, port), transport))
}
