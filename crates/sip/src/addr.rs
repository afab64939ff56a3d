//! name-addr / addr-spec headers: From, To, Contact, Route, Record-Route, Path
//! (RFC 3261 §20.10, §20.20, §20.39, §20.30, §20.34; RFC 3327).

use std::borrow::Cow;

use crate::lex::{find_byte, is_lws, is_token_char, quoted_len, trim_lws, CommaSplit, Params};
use crate::uri::{check_any_uri, parse_uri, Uri};
use crate::{Header, Message, SipError};

/// A name-addr or addr-spec with its header parameters, borrowing the message text (a folded
/// value is copied once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameAddr<'a> {
    /// The display name as written (quotes kept), if any.
    pub display_name: Option<Cow<'a, str>>,
    /// The URI text (without `<>`).
    pub uri: Cow<'a, str>,
    /// True when the URI was enclosed in `<>`.
    pub bracketed: bool,
    /// Header parameters after the address, in order.
    pub params: Params<'a>,
}

impl NameAddr<'_> {
    /// The `tag` parameter (From/To, RFC 3261 §19.3).
    pub fn tag(&self) -> Option<&str> {
        self.param("tag").flatten()
    }

    /// Looks up a header parameter by case-insensitive name.
    pub fn param(&self, name: &str) -> Option<Option<&str>> {
        self.params.get(name)
    }

    /// The same value holding its own copy of the text.
    pub fn into_owned(self) -> NameAddr<'static> {
        NameAddr {
            display_name: self.display_name.map(|d| Cow::Owned(d.into_owned())),
            uri: Cow::Owned(self.uri.into_owned()),
            bracketed: self.bracketed,
            params: self.params.into_owned(),
        }
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
pub fn parse_name_addr(value: &str) -> Result<NameAddr<'_>, SipError> {
    let s = trim_lws(value);
    if s.is_empty() {
        return Err(SipError::BadNameAddr("empty"));
    }
    let (display_name, after_display) = if s.starts_with('"') {
        let n = quoted_len(s).ok_or_else(|| SipError::BadNameAddr("unterminated quoted string"))?;
        let (d, rest) = s.split_at(n);
        let rest = trim_lws(rest);
        if !rest.starts_with('<') {
            return Err(SipError::BadNameAddr("quoted display name without <URI>"));
        }
        (Some(Cow::Borrowed(d)), rest)
    } else if let Some(lt) = find_byte(s, b'<') {
        let d = trim_lws(s.get(..lt).unwrap_or_default());
        // RFC 4475 §3.1.1.6: no LWS is needed between a token display name and '<'.
        if !is_token_display(d) {
            return Err(SipError::BadNameAddr("display name is not tokens"));
        }
        let d = (!d.is_empty()).then_some(Cow::Borrowed(d));
        (d, s.get(lt..).unwrap_or_default())
    } else {
        (None, s)
    };
    if let Some(inner) = after_display.strip_prefix('<') {
        let gt = find_byte(inner, b'>').ok_or_else(|| SipError::BadNameAddr("missing >"))?;
        let uri = inner.get(..gt).unwrap_or_default();
        check_addr_uri(uri)?;
        let params = Params::parse(inner.get(gt + 1..).unwrap_or_default())
            .map_err(|_| SipError::BadNameAddr("parameter"))?;
        return Ok(NameAddr {
            display_name,
            uri: Cow::Borrowed(uri),
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
    let params = Params::parse(rest).map_err(|_| SipError::BadNameAddr("parameter"))?;
    Ok(NameAddr {
        display_name: None,
        uri: Cow::Borrowed(uri),
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

/// Parses one name-addr value that is either a slice of the message or a copy (a folded
/// field).
fn parse_name_addr_cow(value: Cow<'_, str>) -> Result<NameAddr<'_>, SipError> {
    match value {
        Cow::Borrowed(s) => parse_name_addr(s),
        Cow::Owned(s) => parse_name_addr(&s).map(NameAddr::into_owned),
    }
}

/// Calls `f` with each comma-separated value of the field `h` (a list header), in order:
/// slices of the message, or copies when the field is folded.
pub(crate) fn each_list_value<'a>(
    h: &Header<'a>,
    f: &mut impl FnMut(Cow<'a, str>) -> Result<(), SipError>,
) -> Result<(), SipError> {
    match h.unfolded()? {
        Cow::Borrowed(text) => CommaSplit::new(text).try_for_each(|v| f(Cow::Borrowed(v))),
        Cow::Owned(text) => CommaSplit::new(&text).try_for_each(|v| f(Cow::Owned(v.to_string()))),
    }
}

/// A Contact header's content (RFC 3261 §20.10).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Contacts<'a> {
    /// `Contact: *` (REGISTER removing all bindings).
    Star,
    /// A list of addresses.
    List(Vec<NameAddr<'a>>),
}

impl<'a> Message<'a> {
    fn single_name_addr(&self, name: &'static str) -> Result<NameAddr<'a>, SipError> {
        let h = self
            .single_header(name)?
            .ok_or_else(|| SipError::MissingHeader(name))?;
        parse_name_addr_cow(h.unfolded()?)
    }

    /// The From header (exactly one required).
    pub fn from(&self) -> Result<NameAddr<'a>, SipError> {
        self.single_name_addr("From")
    }

    /// The To header (exactly one required).
    pub fn to(&self) -> Result<NameAddr<'a>, SipError> {
        self.single_name_addr("To")
    }

    /// Calls `f` with every value of a name-addr list header (Route, Record-Route, Path,
    /// Contact), in order, without collecting them.
    pub fn each_name_addr(
        &self,
        name: &'static str,
        mut f: impl FnMut(NameAddr<'a>) -> Result<(), SipError>,
    ) -> Result<(), SipError> {
        self.headers_named(name).try_for_each(|h| {
            each_list_value(h, &mut |v| {
                if v.is_empty() {
                    return Err(SipError::EmptyListElement(name));
                }
                f(parse_name_addr_cow(v)?)
            })
        })
    }

    /// All values of a name-addr list header (Route, Record-Route, Path, Contact), in order.
    pub fn name_addrs(&self, name: &'static str) -> Result<Vec<NameAddr<'a>>, SipError> {
        let mut out = Vec::new();
        self.each_name_addr(name, |na| {
            out.push(na);
            Ok(())
        })?;
        Ok(out)
    }

    /// The Route set, top first.
    pub fn routes(&self) -> Result<Vec<NameAddr<'a>>, SipError> {
        self.name_addrs("Route")
    }

    /// The Record-Route set, top first.
    pub fn record_routes(&self) -> Result<Vec<NameAddr<'a>>, SipError> {
        self.name_addrs("Record-Route")
    }

    /// The Path set (RFC 3327), top first.
    pub fn paths(&self) -> Result<Vec<NameAddr<'a>>, SipError> {
        self.name_addrs("Path")
    }

    /// The Contact header(s): `None` when absent. `*` must be the only value.
    pub fn contacts(&self) -> Result<Option<Contacts<'a>>, SipError> {
        let (mut count, mut star) = (0usize, false);
        for h in self.headers_named("Contact") {
            each_list_value(h, &mut |v| {
                count += 1;
                star |= v.as_ref() == "*";
                Ok(())
            })?;
        }
        if count == 0 {
            return Ok(None);
        }
        if star {
            return if count == 1 {
                Ok(Some(Contacts::Star))
            } else {
                Err(SipError::BadNameAddr("'*' mixed with other contacts"))
            };
        }
        let mut list = Vec::with_capacity(count);
        self.each_name_addr("Contact", |na| {
            na.expires()?;
            list.push(na);
            Ok(())
        })?;
        Ok(Some(Contacts::List(list)))
    }
}
