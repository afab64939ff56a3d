//! name-addr / addr-spec headers: From, To, Contact, Route, Record-Route, Path
//! (RFC 3261 §20.10, §20.20, §20.39, §20.30, §20.34; RFC 3327).

use crate::lex::{find_param, is_lws, is_token_char, parse_params, quoted_len, trim_lws, Param};
use crate::uri::{check_any_uri, parse_uri, Uri};
use crate::{Message, SipError};

/// A name-addr or addr-spec with its header parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameAddr {
    /// The display name as written (quotes kept), if any.
    pub display_name: Option<String>,
    /// The URI text (without `<>`).
    pub uri: String,
    /// True when the URI was enclosed in `<>`.
    pub bracketed: bool,
    /// Header parameters after the address, in order.
    pub params: Vec<Param>,
}

impl NameAddr {
    /// The `tag` parameter (From/To, RFC 3261 §19.3).
    pub fn tag(&self) -> Option<&str> {
        self.param("tag").flatten()
    }

    /// Looks up a header parameter by case-insensitive name.
    pub fn param(&self, name: &str) -> Option<Option<&str>> {
        find_param(&self.params, name).map(|v| v.as_deref())
    }

    /// Parses the URI as SIP/SIPS/TEL.
    pub fn parsed_uri(&self) -> Result<Uri<'_>, SipError> {
        parse_uri(&self.uri)
    }

    /// True when the URI carries `lr` (loose routing, RFC 3261 §16.4).
    pub fn lr(&self) -> bool {
        self.parsed_uri().is_ok_and(|u| u.lr())
    }

    /// The Contact `expires` parameter as seconds (RFC 3261 §20.10).
    pub fn expires(&self) -> Result<Option<u32>, SipError> {
        match self.param("expires") {
            None => Ok(None),
            Some(Some(v)) => v
                .parse::<u32>()
                .map(Some)
                .map_err(|_| SipError::BadNameAddr("expires")),
            Some(None) => Err(SipError::BadNameAddr("expires")),
        }
    }
}

/// True when `s` is `*(token LWS)` display-name text (RFC 3261 §25.1).
fn is_token_display(s: &str) -> bool {
    s.bytes().all(|c| is_token_char(c) || is_lws(c))
}

/// Parses one name-addr / addr-spec value with its parameters.
pub fn parse_name_addr(value: &str) -> Result<NameAddr, SipError> {
    let s = trim_lws(value);
    if s.is_empty() {
        return Err(SipError::BadNameAddr("empty"));
    }
    let (display_name, after_display) = if s.starts_with('"') {
        let n = quoted_len(s).ok_or(SipError::BadNameAddr("unterminated quoted string"))?;
        let (d, rest) = s.split_at(n);
        let rest = trim_lws(rest);
        if !rest.starts_with('<') {
            return Err(SipError::BadNameAddr("quoted display name without <URI>"));
        }
        (Some(d.to_string()), rest)
    } else if let Some(lt) = s.find('<') {
        let d = trim_lws(s.get(..lt).unwrap_or_default());
        // RFC 4475 §3.1.1.6: no LWS is needed between a token display name and '<'.
        if !is_token_display(d) {
            return Err(SipError::BadNameAddr("display name is not tokens"));
        }
        let d = (!d.is_empty()).then(|| d.to_string());
        (d, s.get(lt..).unwrap_or_default())
    } else {
        (None, s)
    };
    if let Some(inner) = after_display.strip_prefix('<') {
        let gt = inner.find('>').ok_or(SipError::BadNameAddr("missing >"))?;
        let uri = inner.get(..gt).unwrap_or_default();
        check_addr_uri(uri)?;
        let params = parse_params(inner.get(gt + 1..).unwrap_or_default())
            .map_err(|_| SipError::BadNameAddr("parameter"))?;
        return Ok(NameAddr {
            display_name,
            uri: uri.to_string(),
            bracketed: true,
            params,
        });
    }
    // addr-spec: parameters after it are header parameters (RFC 3261 §20.10), and a URI
    // holding ',', '?' or ';' must use name-addr form.
    let end = s
        .find(|c: char| c == ';' || c.is_ascii_whitespace())
        .unwrap_or(s.len());
    let (uri, rest) = s.split_at(end);
    if uri.contains([',', '?']) {
        return Err(SipError::BadNameAddr("addr-spec with ',' or '?' needs <>"));
    }
    check_addr_uri(uri)?;
    let params = parse_params(rest).map_err(|_| SipError::BadNameAddr("parameter"))?;
    Ok(NameAddr {
        display_name: None,
        uri: uri.to_string(),
        bracketed: false,
        params,
    })
}

fn check_addr_uri(uri: &str) -> Result<(), SipError> {
    if uri.is_empty() || uri.bytes().any(is_lws) {
        return Err(SipError::BadNameAddr("white space in URI"));
    }
    check_any_uri(uri).map_err(|_| SipError::BadNameAddr("URI"))
}

/// A Contact header's content (RFC 3261 §20.10).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Contacts {
    /// `Contact: *` (REGISTER removing all bindings).
    Star,
    /// A list of addresses.
    List(Vec<NameAddr>),
}

impl Message<'_> {
    fn single_name_addr(&self, name: &'static str) -> Result<NameAddr, SipError> {
        let h = self
            .single_header(name)?
            .ok_or(SipError::MissingHeader(name))?;
        parse_name_addr(&h.unfolded()?)
    }

    /// The From header (exactly one required).
    pub fn from(&self) -> Result<NameAddr, SipError> {
        self.single_name_addr("From")
    }

    /// The To header (exactly one required).
    pub fn to(&self) -> Result<NameAddr, SipError> {
        self.single_name_addr("To")
    }

    /// All values of a name-addr list header (Route, Record-Route, Path, Contact), in order.
    pub fn name_addrs(&self, name: &'static str) -> Result<Vec<NameAddr>, SipError> {
        let mut out = Vec::new();
        for h in self.headers_named(name) {
            for v in h.values()? {
                if v.is_empty() {
                    return Err(SipError::EmptyListElement(name));
                }
                out.push(parse_name_addr(&v)?);
            }
        }
        Ok(out)
    }

    /// The Route set, top first.
    pub fn routes(&self) -> Result<Vec<NameAddr>, SipError> {
        self.name_addrs("Route")
    }

    /// The Record-Route set, top first.
    pub fn record_routes(&self) -> Result<Vec<NameAddr>, SipError> {
        self.name_addrs("Record-Route")
    }

    /// The Path set (RFC 3327), top first.
    pub fn paths(&self) -> Result<Vec<NameAddr>, SipError> {
        self.name_addrs("Path")
    }

    /// The Contact header(s): `None` when absent. `*` must be the only value.
    pub fn contacts(&self) -> Result<Option<Contacts>, SipError> {
        let mut values = Vec::new();
        for h in self.headers_named("Contact") {
            values.extend(h.values()?);
        }
        if values.is_empty() {
            return Ok(None);
        }
        if values.iter().any(|v| v.as_ref() == "*") {
            return if values.len() == 1 {
                Ok(Some(Contacts::Star))
            } else {
                Err(SipError::BadNameAddr("'*' mixed with other contacts"))
            };
        }
        let mut list = Vec::with_capacity(values.len());
        for v in values {
            if v.is_empty() {
                return Err(SipError::EmptyListElement("Contact"));
            }
            let na = parse_name_addr(&v)?;
            na.expires()?;
            list.push(na);
        }
        Ok(Some(Contacts::List(list)))
    }
}
