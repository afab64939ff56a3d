//! The Via header (RFC 3261 §20.42, §18.2.1; RFC 3581 rport).

use std::borrow::Cow;

use crate::lex::{find_byte, trim_lws, CommaSplit, Params, TOKEN};
use crate::uri::{split_hostport, HostKind};
use crate::{Header, Message, SipError};

/// One Via value, borrowing the message text (a folded value is copied once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via<'a> {
    /// Protocol name, normally `SIP`.
    pub protocol: Cow<'a, str>,
    /// Protocol version, normally `2.0`.
    pub version: Cow<'a, str>,
    /// Transport (`UDP`, `TCP`, `TLS`, `SCTP`, `WS`, or an extension token).
    pub transport: Cow<'a, str>,
    /// sent-by host as written (IPv6 references keep their brackets).
    pub host: Cow<'a, str>,
    /// The kind of the sent-by host.
    pub host_kind: HostKind,
    /// sent-by port, if written.
    pub port: Option<u16>,
    /// All via-params in order, values as written.
    pub params: Params<'a>,
}

impl Via<'_> {
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
        self.params.get(name)
    }

    /// The same value holding its own copy of the text.
    pub fn into_owned(self) -> Via<'static> {
        Via {
            protocol: Cow::Owned(self.protocol.into_owned()),
            version: Cow::Owned(self.version.into_owned()),
            transport: Cow::Owned(self.transport.into_owned()),
            host: Cow::Owned(self.host.into_owned()),
            host_kind: self.host_kind,
            port: self.port,
            params: self.params.into_owned(),
        }
    }

    /// Writes `sent-protocol SP sent-by` in canonical form: `SIP/2.0/UDP host:port`.
    pub(crate) fn fmt_head(&self, f: &mut impl std::fmt::Write) -> std::fmt::Result {
        write!(
            f,
            "{}/{}/{} {}",
            self.protocol, self.version, self.transport, self.host
        )?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        Ok(())
    }
}

impl std::fmt::Display for Via<'_> {
    /// Writes the value in canonical form: `SIP/2.0/UDP host:port;name=value...`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.fmt_head(f)?;
        for (n, v) in self.params.iter() {
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
    s.split_at(TOKEN.prefix_len(s))
}

/// `SLASH = SWS "/" SWS`
fn take_slash(s: &str) -> Result<&str, SipError> {
    trim_lws(s)
        .strip_prefix('/')
        .map(trim_lws)
        .ok_or_else(|| SipError::BadVia("sent-protocol"))
}

/// Parses one Via value (already unfolded and comma-split):
/// `sent-protocol LWS sent-by *( SEMI via-params )`.
pub fn parse_via(value: &str) -> Result<Via<'_>, SipError> {
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
    let end = find_byte(rest, b';').unwrap_or(rest.len());
    let (sent_by, params) = rest.split_at(end);
    // sent-by = host [ COLON port ]; COLON allows white space around it.
    let bad = |_| SipError::BadVia("sent-by");
    let (host, host_kind, port) = if sent_by.bytes().any(|c| c.is_ascii_whitespace()) {
        let packed: String = sent_by
            .chars()
            .filter(|c| !c.is_ascii_whitespace())
            .collect();
        let (host, kind, port) = split_hostport(&packed).map_err(bad)?;
        (Cow::Owned(host.to_string()), kind, port)
    } else {
        let (host, kind, port) = split_hostport(sent_by).map_err(bad)?;
        (Cow::Borrowed(host), kind, port)
    };
    let params = Params::parse(params).map_err(|_| SipError::BadVia("parameter"))?;
    let via = Via {
        protocol: Cow::Borrowed(protocol),
        version: Cow::Borrowed(version),
        transport: Cow::Borrowed(transport),
        host,
        host_kind,
        port,
        params,
    };
    via.rport()?;
    Ok(via)
}

/// Parses one Via value that is either a slice of the message or a copy (a folded field).
fn parse_via_cow(value: Cow<'_, str>) -> Result<Via<'_>, SipError> {
    match value {
        Cow::Borrowed(s) => parse_via(s),
        Cow::Owned(s) => parse_via(&s).map(Via::into_owned),
    }
}

/// Calls `f` with each Via value of the field `h`, in order.
fn each_via_of<'a>(
    h: &Header<'a>,
    f: &mut impl FnMut(Via<'a>) -> Result<(), SipError>,
) -> Result<(), SipError> {
    match h.unfolded()? {
        Cow::Borrowed(text) => CommaSplit::new(text).try_for_each(|v| f(parse_via(v)?)),
        Cow::Owned(text) => CommaSplit::new(&text).try_for_each(|v| f(parse_via(v)?.into_owned())),
    }
}

impl<'a> Message<'a> {
    /// Every Via value in order, top first (all Via fields, comma lists split).
    pub fn vias(&self) -> Result<Vec<Via<'a>>, SipError> {
        let mut out = Vec::new();
        self.each_via(|v| {
            out.push(v);
            Ok(())
        })?;
        Ok(out)
    }

    /// Calls `f` with every Via value in order, top first, without collecting them.
    pub fn each_via(
        &self,
        mut f: impl FnMut(Via<'a>) -> Result<(), SipError>,
    ) -> Result<(), SipError> {
        self.headers_named("Via")
            .try_for_each(|h| each_via_of(h, &mut f))
    }

    /// Calls `f` with every Via value below the topmost one, in order (the top one is split
    /// off the list but not parsed).
    pub fn each_via_below_top(
        &self,
        mut f: impl FnMut(Via<'a>) -> Result<(), SipError>,
    ) -> Result<(), SipError> {
        let mut top = true;
        self.headers_named("Via").try_for_each(|h| {
            let skip = std::mem::take(&mut top);
            match h.unfolded()? {
                Cow::Borrowed(text) => CommaSplit::new(text)
                    .skip(usize::from(skip))
                    .try_for_each(|v| f(parse_via(v)?)),
                Cow::Owned(text) => CommaSplit::new(&text)
                    .skip(usize::from(skip))
                    .try_for_each(|v| f(parse_via(v)?.into_owned())),
            }
        })
    }

    /// The topmost Via value; an error if there is none.
    pub fn top_via(&self) -> Result<Via<'a>, SipError> {
        let h = self
            .header("Via")
            .ok_or_else(|| SipError::MissingHeader("Via"))?;
        let first = match h.unfolded()? {
            Cow::Borrowed(text) => CommaSplit::new(text).next().map(Cow::Borrowed),
            Cow::Owned(text) => CommaSplit::new(&text)
                .next()
                .map(|v| Cow::Owned(v.to_string())),
        };
        parse_via_cow(first.ok_or_else(|| SipError::MissingHeader("Via"))?)
    }
}
