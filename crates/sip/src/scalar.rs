//! Single-valued headers a proxy reads: Call-ID, CSeq, Max-Forwards, Retry-After, Date.

use std::borrow::Cow;

use crate::lex::{is_lws, is_token, parse_params, trim_lws, Param};
use crate::{Message, SipError};

/// A CSeq value (RFC 3261 §20.16), borrowing the message text (a folded value is copied).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CSeq<'a> {
    /// The sequence number (leading zeros allowed; must fit in 32 bits).
    pub number: u32,
    /// The method.
    pub method: Cow<'a, str>,
}

impl CSeq<'_> {
    /// The same value holding its own copy of the method.
    pub fn into_owned(self) -> CSeq<'static> {
        CSeq {
            number: self.number,
            method: Cow::Owned(self.method.into_owned()),
        }
    }
}

/// A Retry-After value (RFC 3261 §20.33).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryAfter {
    /// delta-seconds.
    pub seconds: u32,
    /// The comment text without its parentheses, if any.
    pub comment: Option<String>,
    /// The `duration` parameter in seconds, if any.
    pub duration: Option<u32>,
    /// All parameters in order.
    pub params: Vec<Param>,
}

/// Parses a decimal that must fit the target; leading zeros allowed.
fn decimal<T: std::str::FromStr>(s: &str) -> Option<T> {
    if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Parses a CSeq value: `1*DIGIT LWS Method`.
pub fn parse_cseq(value: &str) -> Result<CSeq<'_>, SipError> {
    let s = trim_lws(value);
    let split = s.find(|c: char| c.is_ascii() && is_lws(c as u8));
    let (num, method) = split.map_or((s, ""), |i| s.split_at(i));
    let method = trim_lws(method);
    let number = decimal::<u32>(num).ok_or_else(|| SipError::BadCSeq)?;
    if !is_token(method) {
        return Err(SipError::BadCSeq);
    }
    Ok(CSeq {
        number,
        method: Cow::Borrowed(method),
    })
}

/// Parses a Retry-After value: `delta-seconds [ comment ] *( SEMI retry-param )`.
pub fn parse_retry_after(value: &str) -> Result<RetryAfter, SipError> {
    let s = trim_lws(value);
    let n = s.bytes().take_while(u8::is_ascii_digit).count();
    let (num, rest) = s.split_at(n);
    let seconds = decimal::<u32>(num).ok_or_else(|| SipError::BadRetryAfter)?;
    let mut rest = trim_lws(rest);
    let mut comment = None;
    if rest.starts_with('(') {
        // comment = LPAREN *(ctext / quoted-pair / comment) RPAREN, nesting allowed.
        let (mut depth, mut end, mut escaped) = (0usize, None, false);
        for (i, c) in rest.char_indices() {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '(' => depth += 1,
                ')' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        end = Some(i);
                        break;
                    }
                }
                _ => {}
            }
        }
        let end = end.ok_or_else(|| SipError::BadRetryAfter)?;
        comment = Some(rest.get(1..end).unwrap_or_default().to_string());
        rest = rest.get(end + 1..).unwrap_or_default();
    }
    let params = parse_params(rest).map_err(|_| SipError::BadRetryAfter)?;
    let duration = match params
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("duration"))
    {
        None => None,
        Some((_, v)) => Some(
            v.as_deref()
                .and_then(decimal::<u32>)
                .ok_or_else(|| SipError::BadRetryAfter)?,
        ),
    };
    Ok(RetryAfter {
        seconds,
        comment,
        duration,
        params,
    })
}

const WKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Checks an RFC 1123 date in GMT: `wkday "," SP 2DIGIT SP month SP 4DIGIT SP
/// 2DIGIT ":" 2DIGIT ":" 2DIGIT SP "GMT"` (RFC 3261 §20.17, §25.1).
pub fn check_date(value: &str) -> Result<(), SipError> {
    let parts: Vec<&str> = trim_lws(value).split(' ').collect();
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|c| c.is_ascii_digit());
    let ok = match parts.as_slice() {
        [wkday, day, month, year, time, zone] => {
            wkday.strip_suffix(',').is_some_and(|w| WKDAYS.contains(&w))
                && digits(day, 2)
                && MONTHS.contains(month)
                && digits(year, 4)
                && time.split(':').count() == 3
                && time.split(':').all(|t| digits(t, 2))
                && *zone == "GMT"
        }
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(SipError::BadDate)
    }
}

impl<'a> Message<'a> {
    fn single_value(&self, name: &'static str) -> Result<Option<Cow<'a, str>>, SipError> {
        match self.single_header(name)? {
            None => Ok(None),
            Some(h) => Ok(Some(h.unfolded()?)),
        }
    }

    /// The Call-ID (exactly one required; no white space, RFC 3261 §20.8).
    pub fn call_id(&self) -> Result<Cow<'a, str>, SipError> {
        let v = self
            .single_value("Call-ID")?
            .ok_or_else(|| SipError::MissingHeader("Call-ID"))?;
        if v.is_empty() || v.bytes().any(is_lws) {
            return Err(SipError::BadCallId);
        }
        Ok(v)
    }

    /// The CSeq (exactly one required).
    pub fn cseq(&self) -> Result<CSeq<'a>, SipError> {
        match self
            .single_value("CSeq")?
            .ok_or_else(|| SipError::MissingHeader("CSeq"))?
        {
            Cow::Borrowed(v) => parse_cseq(v),
            Cow::Owned(v) => parse_cseq(&v).map(CSeq::into_owned),
        }
    }

    /// Max-Forwards, `None` when absent (RFC 3261 §20.22: 0..=255, leading zeros allowed).
    pub fn max_forwards(&self) -> Result<Option<u8>, SipError> {
        match self.single_value("Max-Forwards")? {
            None => Ok(None),
            Some(v) => decimal::<u8>(&v)
                .map(Some)
                .ok_or_else(|| SipError::BadMaxForwards),
        }
    }

    /// Retry-After, `None` when absent.
    pub fn retry_after(&self) -> Result<Option<RetryAfter>, SipError> {
        self.single_value("Retry-After")?
            .map(|v| parse_retry_after(&v))
            .transpose()
    }

    /// The Expires header in seconds, `None` when absent (RFC 3261 §20.19).
    pub fn expires(&self) -> Result<Option<u32>, SipError> {
        match self.single_value("Expires")? {
            None => Ok(None),
            Some(v) => decimal::<u32>(&v)
                .map(Some)
                .ok_or_else(|| SipError::BadNameAddr("Expires")),
        }
    }

    /// Checks the Date header when present.
    pub fn check_date(&self) -> Result<(), SipError> {
        match self.single_value("Date")? {
            None => Ok(()),
            Some(v) => check_date(&v),
        }
    }

    /// Reads every header a proxy uses and fails on the first malformed one: Via (at least one),
    /// Call-ID, CSeq (and, for requests, its method equals the request method, RFC 3261
    /// §8.1.1.5), From, To, Max-Forwards, Contact, Route, Record-Route, Path, Expires, Date and
    /// Retry-After. A request failing here deserves a 400 (RFC 3261 §16.3 item 1).
    pub fn check_proxy_headers(&self) -> Result<(), SipError> {
        self.top_via()?;
        self.call_id()?;
        let cseq = self.cseq()?;
        if let Some(method) = self.method() {
            if cseq.method != method {
                return Err(SipError::CSeqMethodMismatch);
            }
        }
        self.from()?;
        self.to()?;
        self.check_fields_after_reads()
    }

    /// The part of [`Message::check_proxy_headers`] that a proxy's first reads leave out, for
    /// a caller that has already read the top Via, Call-ID, CSeq (and compared its method),
    /// From and To: every Via below the top one, Max-Forwards, Contact, Route, Record-Route,
    /// Path, Expires, Date and Retry-After. Those reads and this check together accept and
    /// refuse the same messages as `check_proxy_headers`, without parsing a field twice.
    pub fn check_fields_after_reads(&self) -> Result<(), SipError> {
        self.each_via_below_top(|_| Ok(()))?;
        self.max_forwards()?;
        self.contacts()?;
        for name in ["Route", "Record-Route", "Path"] {
            self.each_name_addr(name, |_| Ok(()))?;
        }
        self.expires()?;
        self.check_date()?;
        self.retry_after()?;
        Ok(())
    }
}
