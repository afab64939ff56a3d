//! The Via header (RFC 3261 §20.42, §18.2.1; RFC 3581 rport).

use crate::lex::{find_param, is_token_char, parse_params, trim_lws, Param};
use crate::uri::{split_hostport, HostKind};
use crate::{Message, SipError};

/// One Via value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via {
    /// Protocol name, normally `SIP`.
    pub protocol: String,
    /// Protocol version, normally `2.0`.
    pub version: String,
    /// Transport (`UDP`, `TCP`, `TLS`, `SCTP`, `WS`, or an extension token).
    pub transport: String,
    /// sent-by host as written (IPv6 references keep their brackets).
    pub host: String,
    /// The kind of the sent-by host.
    pub host_kind: HostKind,
    /// sent-by port, if written.
    pub port: Option<u16>,
    /// All via-params in order, values as written.
    pub params: Vec<Param>,
}

impl Via {
    /// The `branch` parameter (RFC 3261 §8.1.1.7).
    pub fn branch(&self) -> Option<&str> {
        self.param("branch").flatten()
    }

    /// The `received` parameter (RFC 3261 §18.2.1).
    pub fn received(&self) -> Option<&str> {
        self.param("received").flatten()
    }

    /// The `rport` parameter (RFC 3581): `None` absent, `Some(None)` present without value.
    pub fn rport(&self) -> Result<Option<Option<u16>>, SipError> {
        match self.param("rport") {
            None => Ok(None),
            Some(None) => Ok(Some(None)),
            Some(Some(v)) => v
                .parse::<u16>()
                .map(|p| Some(Some(p)))
                .map_err(|_| SipError::BadVia("rport")),
        }
    }

    /// Looks up a parameter by case-insensitive name: `Some(None)` when present without value.
    pub fn param(&self, name: &str) -> Option<Option<&str>> {
        find_param(&self.params, name).map(|v| v.as_deref())
    }
}

impl std::fmt::Display for Via {
    /// Writes the value in canonical form: `SIP/2.0/UDP host:port;name=value...`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}/{}/{} {}",
            self.protocol, self.version, self.transport, self.host
        )?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        for (n, v) in &self.params {
            match v {
                Some(v) => write!(f, ";{n}={v}")?,
                None => write!(f, ";{n}")?,
            }
        }
        Ok(())
    }
}

/// Takes a token from the front of `s`, returning it and the rest.
fn take_token(s: &str) -> (&str, &str) {
    let n = s.bytes().take_while(|&c| is_token_char(c)).count();
    s.split_at(n)
}

/// `SLASH = SWS "/" SWS`
fn take_slash(s: &str) -> Result<&str, SipError> {
    trim_lws(s)
        .strip_prefix('/')
        .map(trim_lws)
        .ok_or(SipError::BadVia("sent-protocol"))
}

/// Parses one Via value (already unfolded and comma-split):
/// `sent-protocol LWS sent-by *( SEMI via-params )`.
pub fn parse_via(value: &str) -> Result<Via, SipError> {
    let s = trim_lws(value);
    if s.is_empty() {
        return Err(SipError::EmptyListElement("Via"));
    }
    let (protocol, rest) = take_token(s);
    let (version, rest) = take_token(take_slash(rest)?);
    let (transport, rest) = take_token(take_slash(rest)?);
    if protocol.is_empty() || version.is_empty() || transport.is_empty() {
        return Err(SipError::BadVia("sent-protocol"));
    }
    if !rest.starts_with([' ', '\t']) {
        return Err(SipError::BadVia("missing LWS before sent-by"));
    }
    let rest = trim_lws(rest);
    let end = rest.find(';').unwrap_or(rest.len());
    let (sent_by, params) = rest.split_at(end);
    // sent-by = host [ COLON port ]; COLON allows white space around it.
    let sent_by: String = sent_by
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    let (host, host_kind, port) =
        split_hostport(&sent_by).map_err(|_| SipError::BadVia("sent-by"))?;
    let params = parse_params(params).map_err(|_| SipError::BadVia("parameter"))?;
    let via = Via {
        protocol: protocol.to_string(),
        version: version.to_string(),
        transport: transport.to_string(),
        host: host.to_string(),
        host_kind,
        port,
        params,
    };
    via.rport()?;
    Ok(via)
}

impl Message<'_> {
    /// Every Via value in order, top first (all Via fields, comma lists split).
    pub fn vias(&self) -> Result<Vec<Via>, SipError> {
        let mut out = Vec::new();
        for h in self.headers_named("Via") {
            for v in h.values()? {
                out.push(parse_via(&v)?);
            }
        }
        Ok(out)
    }

    /// The topmost Via value; an error if there is none.
    pub fn top_via(&self) -> Result<Via, SipError> {
        let h = self.header("Via").ok_or(SipError::MissingHeader("Via"))?;
        let values = h.values()?;
        let first = values.first().ok_or(SipError::MissingHeader("Via"))?;
        parse_via(first)
    }
}
