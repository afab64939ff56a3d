//! The SIP URIs and `host[:port]` values the config names: members, last resort, probe From.
//!
//! A deliberately small reader of RFC 3261 §19.1.1 / §25.1 `SIP-URI` and `SIPS-URI`: scheme,
//! optional userinfo, host (IPv4, bracketed IPv6, or a host name), optional port, and
//! uri-parameters. Headers (`?...`) are refused: a next hop has no use for them.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use crate::sip::Transport;

/// The host part of a URI or `host[:port]` value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum UriHost {
    /// An IPv4 or IPv6 literal.
    Ip(IpAddr),
    /// A host name, lowercased (RFC 3261 §19.1.4: host comparison is case-insensitive).
    Name(String),
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

/// A `host[:port]` value (`sip.advertised`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HostPort {
    /// The host.
    pub host: UriHost,
    /// The port, if written (never 0).
    pub port: Option<u16>,
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.port {
            Some(port) => write!(f, "{}:{port}", self.host),
            None => write!(f, "{}", self.host),
        }
    }
}

/// How the proxy finds the address(es) behind a member URI (RFC 3263 §4).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MemberTarget {
    /// An IP literal: one fixed address; the port is the URI's, else 5060 (5061 for `sips:`),
    /// RFC 3263 §4.2.
    Static(SocketAddr),
    /// A host name with an explicit port: A/AAAA lookups only (RFC 3263 §4.2).
    Address {
        /// Host name to look up.
        host: String,
        /// The URI's port.
        port: u16,
    },
    /// A host name without a port: NAPTR, then SRV, then A/AAAA (RFC 3263 §4.1, §4.2).
    Service {
        /// Host name to look up.
        host: String,
    },
}

/// A parsed `sip:`/`sips:` URI naming a next hop.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SipUri {
    /// The URI exactly as written in the config.
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
    /// Parses `text`; the error is a reason suitable for a config error message.
    pub fn parse(text: &str) -> Result<SipUri, String> {
        let (secure, rest) = if let Some(rest) = strip_prefix_ci(text, "sip:") {
            (false, rest)
        } else if let Some(rest) = strip_prefix_ci(text, "sips:") {
            (true, rest)
        } else {
            return Err("must start with \"sip:\" or \"sips:\"".to_owned());
        };
        if rest.contains('?') {
            return Err("URI headers (\"?...\") are not allowed here".to_owned());
        }
        // '@' cannot appear unescaped after the userinfo (RFC 3261 §25.1).
        let (user, rest) = match rest.split_once('@') {
            Some((userinfo, rest)) => {
                let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
                if user.is_empty() {
                    return Err("empty user part before '@'".to_owned());
                }
                if let Some(bad) = user
                    .chars()
                    .find(|c| !(c.is_ascii_alphanumeric() || "-_.!~*'()%&=+$,;?/".contains(*c)))
                {
                    return Err(format!("user part contains {bad:?}"));
                }
                (Some(user.to_owned()), rest)
            }
            None => (None, rest),
        };
        let (hostport, params) = rest.split_once(';').unwrap_or((rest, ""));
        let HostPort { host, port } = parse_hostport(hostport)?;
        let mut transport = None;
        for param in params.split(';').filter(|_| !params.is_empty()) {
            let (name, value) = param.split_once('=').unwrap_or((param, ""));
            if name.is_empty() {
                return Err("empty uri-parameter".to_owned());
            }
            if let Some(bad) = param
                .chars()
                .find(|c| !(c.is_ascii_alphanumeric() || "-_.!~*'()%[]/:&+$=".contains(*c)))
            {
                return Err(format!("uri-parameter {param:?} contains {bad:?}"));
            }
            if name.eq_ignore_ascii_case("transport") {
                transport = Some(match value.to_ascii_lowercase().as_str() {
                    "udp" => Transport::Udp,
                    "tcp" => Transport::Tcp,
                    other => {
                        return Err(format!(
                            "transport={other} is not supported (use udp or tcp)"
                        ))
                    }
                });
            }
        }
        // RFC 3261 §26.2.2: a SIPS URI is reached over TLS, which never runs over UDP.
        if secure && transport == Some(Transport::Udp) {
            return Err("a sips: URI cannot use transport=udp".to_owned());
        }
        Ok(SipUri {
            text: text.to_owned(),
            secure,
            user,
            host,
            port,
            transport,
        })
    }

    /// The port used when the URI names none: 5060, or 5061 for `sips:` (RFC 3261 §19.1.2).
    pub fn default_port(&self) -> u16 {
        if self.secure {
            5061
        } else {
            5060
        }
    }

    /// How the proxy finds this URI's address(es) (RFC 3263 §4.1, §4.2).
    pub fn target(&self) -> MemberTarget {
        match (&self.host, self.port) {
            (UriHost::Ip(ip), port) => {
                MemberTarget::Static(SocketAddr::new(*ip, port.unwrap_or(self.default_port())))
            }
            (UriHost::Name(host), Some(port)) => MemberTarget::Address {
                host: host.clone(),
                port,
            },
            (UriHost::Name(host), None) => MemberTarget::Service { host: host.clone() },
        }
    }

    /// Whether reaching this URI needs DNS (its host is a name).
    pub fn needs_dns(&self) -> bool {
        matches!(self.host, UriHost::Name(_))
    }
}

impl fmt::Display for SipUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Parses `host[:port]`: an IPv4 literal, a bracketed IPv6 literal, or a host name (RFC 3261
/// §25.1 `hostport`), with an optional non-zero port.
pub fn parse_hostport(text: &str) -> Result<HostPort, String> {
    let (host_text, port_text) = if let Some(inner) = text.strip_prefix('[') {
        let (ip, rest) = inner
            .split_once(']')
            .ok_or_else(|| "IPv6 address without closing ']'".to_owned())?;
        let port = match rest {
            "" => None,
            _ => Some(
                rest.strip_prefix(':')
                    .ok_or_else(|| format!("unexpected {rest:?} after the IPv6 address"))?,
            ),
        };
        (ip, port)
    } else {
        match text.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (text, None),
        }
    };
    let host = if text.starts_with('[') {
        let ip: Ipv6Addr = host_text
            .parse()
            .map_err(|_| format!("{host_text:?} is not an IPv6 address"))?;
        UriHost::Ip(IpAddr::V6(ip))
    } else if let Ok(ip) = host_text.parse::<IpAddr>() {
        UriHost::Ip(ip)
    } else {
        check_hostname(host_text)?;
        UriHost::Name(host_text.to_ascii_lowercase())
    };
    let port = match port_text {
        None => None,
        Some(p) => {
            let port: u16 = match p.parse() {
                Ok(port) if p.bytes().all(|c| c.is_ascii_digit()) => port,
                _ => return Err(format!("{p:?} is not a port number")),
            };
            if port == 0 {
                return Err("port 0 is not allowed".to_owned());
            }
            Some(port)
        }
    };
    Ok(HostPort { host, port })
}

/// A DNS host name (RFC 1035 §2.3.1 with RFC 1123 §2.1 leading digits): dot-separated labels of
/// letters, digits and '-', no label empty, longer than 63 or starting/ending with '-'; an
/// optional trailing dot; at most 253 characters. Names that are all digits and dots (a
/// mistyped IPv4 address) are refused.
fn check_hostname(host: &str) -> Result<(), String> {
    let name = host.strip_suffix('.').unwrap_or(host);
    if name.is_empty() {
        return Err("the host is empty".to_owned());
    }
    if name.len() > 253 {
        return Err("the host name is longer than 253 characters".to_owned());
    }
    for label in name.split('.') {
        let ok = !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-');
        if !ok {
            return Err(format!(
                "{host:?} is not an IP address or a valid host name"
            ));
        }
    }
    if name.bytes().all(|c| c.is_ascii_digit() || c == b'.') {
        return Err(format!("{host:?} is not a valid IPv4 address"));
    }
    Ok(())
}

/// Strips a case-insensitive ASCII prefix.
fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    if head.eq_ignore_ascii_case(prefix) {
        s.get(prefix.len()..)
    } else {
        None
    }
}
