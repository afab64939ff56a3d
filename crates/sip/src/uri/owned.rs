//! Owned URIs and addresses for what outlives a message: the next hops and the advertised
//! address a configuration names. They are read with [`super::parse_uri`] and
//! [`super::split_hostport`], then held to stricter rules than a message's URIs: the host is
//! an IP address or a well-formed host name, the port is not 0, the transport is one this
//! project knows, and (for next hops) there are no URI headers.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use super::{read_uri, split_hostport, Scheme, UriError};
use crate::Transport;

/// The host of a [`SipUri`] or a [`HostPort`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum UriHost {
    /// An IPv4 or IPv6 literal.
    Ip(IpAddr),
    /// A host name, lowercased (RFC 3261 §19.1.4: host comparison is case-insensitive).
    Name(String),
}

impl UriHost {
    /// Reads a host as a URI writes it: an IPv4 literal, a bracketed IPv6 literal, or a host
    /// name (RFC 3261 §25.1 `host`, with the label rules of RFC 1035 §2.3.1 / RFC 1123 §2.1).
    pub fn parse(text: &str) -> Result<UriHost, UriError> {
        if let Some(inner) = text.strip_prefix('[') {
            let inner = inner.strip_suffix(']').ok_or(UriError::UnclosedIpv6)?;
            let ip: Ipv6Addr = inner.parse().map_err(|_| UriError::BadIpv6)?;
            return Ok(UriHost::Ip(IpAddr::V6(ip)));
        }
        // A bare IPv6 literal is not a URI host (RFC 3261 §25.1: it needs brackets).
        if let Ok(ip) = text.parse::<Ipv4Addr>() {
            return Ok(UriHost::Ip(IpAddr::V4(ip)));
        }
        check_hostname(text)?;
        Ok(UriHost::Name(text.to_ascii_lowercase()))
    }

    /// Whether this is a host name (reaching it needs DNS, RFC 3263).
    pub fn is_name(&self) -> bool {
        matches!(self, UriHost::Name(_))
    }
}

impl fmt::Display for UriHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UriHost::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]"),
            UriHost::Ip(ip) => write!(f, "{ip}"),
            UriHost::Name(name) => f.write_str(name),
        }
    }
}

/// A DNS host name: dot-separated labels of letters, digits and '-', none empty, longer than
/// 63 or starting or ending with '-'; an optional trailing dot; at most 253 characters. Names
/// that are all digits and dots (a mistyped IPv4 address) are refused.
fn check_hostname(host: &str) -> Result<(), UriError> {
    let name = host.strip_suffix('.').unwrap_or(host);
    if name.is_empty() {
        return Err(UriError::EmptyHost);
    }
    if name.len() > 253 {
        return Err(UriError::HostTooLong);
    }
    let label_ok = |label: &str| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-')
    };
    if !name.split('.').all(label_ok) {
        return Err(UriError::BadHost);
    }
    if name.bytes().all(|c| c.is_ascii_digit() || c == b'.') {
        return Err(UriError::BadIpv4);
    }
    Ok(())
}

/// A non-zero port.
fn nonzero(port: Option<u16>) -> Result<Option<u16>, UriError> {
    match port {
        Some(0) => Err(UriError::PortZero),
        p => Ok(p),
    }
}

/// A `host[:port]` value (RFC 3261 §25.1 `hostport`), for an address written into Via and
/// Record-Route.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HostPort {
    /// The host.
    pub host: UriHost,
    /// The port, if written (never 0).
    pub port: Option<u16>,
}

impl HostPort {
    /// Reads `host[:port]`: an IPv4 literal, a bracketed IPv6 literal or a host name, and an
    /// optional port that is not 0.
    pub fn parse(text: &str) -> Result<HostPort, UriError> {
        let (host, _, port) = split_hostport(text)?;
        Ok(HostPort {
            host: UriHost::parse(host)?,
            port: nonzero(port)?,
        })
    }
}

impl FromStr for HostPort {
    type Err = UriError;
    fn from_str(text: &str) -> Result<HostPort, UriError> {
        HostPort::parse(text)
    }
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.port {
            Some(port) => write!(f, "{}:{port}", self.host),
            None => write!(f, "{}", self.host),
        }
    }
}

/// An owned `sip:` or `sips:` URI naming a next hop (RFC 3261 §19.1.1): what a proxy needs to
/// reach it, and the text as written.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SipUri {
    /// The URI exactly as written.
    pub text: String,
    /// `sips:` (TLS required, RFC 3261 §19.1) rather than `sip:`.
    pub secure: bool,
    /// The user part, raw (escapes kept).
    pub user: Option<String>,
    /// The host.
    pub host: UriHost,
    /// The port, if written (never 0).
    pub port: Option<u16>,
    /// The `transport=` uri-parameter, if present.
    pub transport: Option<Transport>,
}

impl SipUri {
    /// Reads `text` with [`super::parse_uri`]'s syntax, then holds it to the rules of a next
    /// hop: `sip:` or `sips:`, no URI headers, a host as [`UriHost::parse`] reads it, a port
    /// that is not 0, a known `transport=` that a `sips:` URI does not set to udp.
    pub fn parse(text: &str) -> Result<SipUri, UriError> {
        let uri = read_uri(text).map_err(|e| match e {
            UriError::Scheme => UriError::NotSip,
            e => e,
        })?;
        let secure = match uri.scheme {
            Scheme::Sip => false,
            Scheme::Sips => true,
            Scheme::Tel => return Err(UriError::NotSip),
        };
        if uri.headers.is_some() {
            return Err(UriError::Headers);
        }
        let transport = match uri.param("transport") {
            None => None,
            Some(value) => Some(value.unwrap_or("").parse::<Transport>()?),
        };
        // RFC 3261 §26.2.2: a SIPS URI is reached over TLS, which never runs over UDP.
        if secure && transport == Some(Transport::Udp) {
            return Err(UriError::SipsOverUdp);
        }
        Ok(SipUri {
            text: text.to_owned(),
            secure,
            user: uri.user.map(str::to_owned),
            host: UriHost::parse(uri.host)?,
            port: nonzero(uri.port)?,
            transport,
        })
    }

    /// The port used when the URI names none: 5061 for `sips:` and `transport=tls`, 5060
    /// otherwise (RFC 3261 §19.1.2, RFC 3263 §4.2).
    pub fn default_port(&self) -> u16 {
        // RFC 3263 §4.2: 5061 for TLS, which `;transport=tls` asks for too.
        if self.secure || self.transport == Some(Transport::Tls) {
            Transport::Tls.default_port()
        } else {
            Transport::Udp.default_port()
        }
    }

    /// Whether reaching this URI needs DNS (its host is a name, RFC 3263 §4).
    pub fn needs_dns(&self) -> bool {
        self.host.is_name()
    }
}

impl FromStr for SipUri {
    type Err = UriError;
    fn from_str(text: &str) -> Result<SipUri, UriError> {
        SipUri::parse(text)
    }
}

impl fmt::Display for SipUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}
