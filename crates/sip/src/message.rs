//! Start line parsing and the zero-copy header index (RFC 3261 §7).

use std::borrow::Cow;
use std::ops::Range;

use crate::lex::{is_lws, is_token, split_byte, split_commas, trim_lws_bytes, unfold};
use crate::names::{is_list_header, name_matches};
use crate::uri::read_any_uri;
use crate::{Method, SipError};

/// Largest message accepted, in bytes.
pub const MAX_MESSAGE_LEN: usize = 64 * 1024;
/// Largest number of header fields accepted.
pub const MAX_HEADERS: usize = 256;

/// The first line of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartLine<'a> {
    /// A Request-Line (RFC 3261 §7.1).
    Request {
        /// The method token, case-sensitive (RFC 3261 §7.1).
        method: &'a str,
        /// The Request-URI as received.
        uri: &'a str,
    },
    /// A Status-Line (RFC 3261 §7.2).
    Response {
        /// The status code, 100..=699.
        code: u16,
        /// The reason phrase bytes (may be empty or non-ASCII UTF-8).
        reason: &'a [u8],
    },
}

/// One header field in the index: spans into the received bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header<'a> {
    /// The name as received (long or compact form, any case).
    pub name: &'a str,
    /// The value as received, folds included, without surrounding white space.
    pub value: &'a [u8],
    /// Byte range of the whole field (first byte of the name through the final CRLF).
    pub line: Range<usize>,
    /// Byte range of `value` in the message bytes.
    pub value_span: Range<usize>,
}

impl<'a> Header<'a> {
    /// Byte range of the name in the message bytes.
    pub fn name_span(&self) -> Range<usize> {
        self.line.start..self.line.start + self.name.len()
    }

    /// True when this field is the header `long_name` (compact forms and case are handled).
    pub fn is(&self, long_name: &str) -> bool {
        name_matches(self.name, long_name)
    }

    /// The value with folds replaced by single spaces (RFC 3261 §7.3.1); borrows when unfolded.
    pub fn unfolded(&self) -> Result<Cow<'a, str>, SipError> {
        unfold(self.value)
    }

    /// The values of this field: split on top-level commas for list headers, one value for
    /// headers whose grammar is not a comma list (e.g. WWW-Authenticate, Date).
    pub fn values(&self) -> Result<Vec<Cow<'a, str>>, SipError> {
        let text = self.unfolded()?;
        if !is_list_header(self.name) {
            return Ok(vec![text]);
        }
        Ok(match text {
            Cow::Borrowed(s) => split_commas(s).into_iter().map(Cow::Borrowed).collect(),
            Cow::Owned(s) => split_commas(&s)
                .into_iter()
                .map(|v| Cow::Owned(v.to_string()))
                .collect(),
        })
    }
}

/// A parsed message: start line, header index and body, all borrowing the received bytes.
#[derive(Debug, Clone)]
pub struct Message<'a> {
    pub(crate) raw: &'a [u8],
    pub(crate) start: StartLine<'a>,
    /// Range of the start line without its CRLF.
    pub(crate) start_span: Range<usize>,
    /// Range of the Request-URI (requests only).
    pub(crate) uri_span: Option<Range<usize>>,
    pub(crate) headers: Vec<Header<'a>>,
    pub(crate) body: Range<usize>,
    pub(crate) content_length: Option<u32>,
}

/// Parses one whole message (a UDP datagram, or a frame cut by [`crate::frame_stream`]).
///
/// Leading CRLFs are skipped (RFC 3261 §7.5). A body longer than Content-Length is truncated
/// and a shorter one is an error (RFC 3261 §18.3); without Content-Length the body is the rest
/// of the input (datagram semantics).
pub fn parse(bytes: &[u8]) -> Result<Message<'_>, SipError> {
    parse_impl(bytes, true)
}

/// Parses the start line and header section only: Content-Length problems are not reported
/// (an invalid value reads as absent) and the body is whatever follows, cut at Content-Length
/// when it fits. Used to answer a malformed request with 400 and to frame streams.
pub fn parse_head(bytes: &[u8]) -> Result<Message<'_>, SipError> {
    parse_impl(bytes, false)
}

fn find_crlf(bytes: &[u8], from: usize) -> Option<usize> {
    bytes
        .get(from..)?
        .windows(2)
        .position(|w| w == b"\r\n")
        .map(|p| p + from)
}

/// The offset of the CRLF ending the line that starts at `from`, read in one pass: the first
/// CR or LF must begin a CRLF. A CR or LF alone before it is [`SipError::BareLineEnd`]
/// (RFC 3261 §7: lines end with CRLF); no CRLF at all is [`SipError::Incomplete`].
fn line_end(bytes: &[u8], from: usize) -> Result<usize, SipError> {
    let rest = bytes.get(from..).ok_or_else(|| SipError::Incomplete)?;
    match memchr::memchr2(b'\r', b'\n', rest) {
        Some(i) if rest.get(i..i + 2) == Some(b"\r\n") => Ok(from + i),
        _ if find_crlf(bytes, from).is_some() => Err(SipError::BareLineEnd),
        _ => Err(SipError::Incomplete),
    }
}

fn parse_impl(bytes: &[u8], strict_body: bool) -> Result<Message<'_>, SipError> {
    if bytes.len() > MAX_MESSAGE_LEN {
        return Err(SipError::TooLarge);
    }
    // RFC 3261 §7.5: ignore CRLFs before the start line.
    let mut start = 0;
    while bytes.get(start..start + 2) == Some(b"\r\n") {
        start += 2;
    }
    if start >= bytes.len() {
        return Err(SipError::Empty);
    }
    let eol = line_end(bytes, start)?;
    let line = bytes.get(start..eol).ok_or_else(|| SipError::Incomplete)?;
    let (start_line, uri_span) = parse_start_line(line, start)?;
    let is_request = matches!(start_line, StartLine::Request { .. });
    let wrap = |e: SipError| {
        if is_request {
            SipError::InRequest(Box::new(e))
        } else {
            e
        }
    };
    let (headers, _headers_end, body_start) = index_headers(bytes, eol + 2).map_err(wrap)?;
    let available = bytes.len().saturating_sub(body_start);
    let cl = content_length_of(&headers);
    let (content_length, body_len) = match (cl, strict_body) {
        (Ok(Some(n)), true) => {
            // RFC 3261 §18.3: a body shorter than Content-Length is an error; octets beyond it
            // are discarded.
            if (n as usize) > available {
                return Err(wrap(SipError::BodyTooShort));
            }
            (Some(n), n as usize)
        }
        (Ok(None), _) => (None, available),
        (Err(e), true) => return Err(wrap(e)),
        (Ok(Some(n)), false) => (Some(n), (n as usize).min(available)),
        (Err(_), false) => (None, available),
    };
    Ok(Message {
        raw: bytes,
        start: start_line,
        start_span: start..eol,
        uri_span,
        headers,
        body: body_start..body_start + body_len,
        content_length,
    })
}

/// Parses a start line located at `offset`; returns it and the Request-URI span.
fn parse_start_line(
    line: &[u8],
    offset: usize,
) -> Result<(StartLine<'_>, Option<Range<usize>>), SipError> {
    if line.len() >= 4
        && line
            .get(..4)
            .is_some_and(|p| p.eq_ignore_ascii_case(b"SIP/"))
    {
        return parse_status_line(line).map(|s| (s, None));
    }
    // RFC 3261 §7.1: Method SP Request-URI SP SIP-Version, single spaces, no other white space.
    let text = std::str::from_utf8(line).map_err(|_| SipError::BadStartLine)?;
    let mut parts = split_byte(text, b' ');
    let (Some(method), Some(uri), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(SipError::BadStartLine);
    };
    if !is_token(method) {
        return Err(SipError::BadMethod);
    }
    check_version(version)?;
    match read_any_uri(uri) {
        Err(_) => return Err(SipError::BadRequestUri),
        // RFC 3261 §19.1.5 table: headers are not allowed in a Request-URI.
        Ok(Some(parsed)) if parsed.headers.is_some() => return Err(SipError::RequestUriHeaders),
        Ok(_) => {}
    }
    let uri_start = offset + method.len() + 1;
    Ok((
        StartLine::Request { method, uri },
        Some(uri_start..uri_start + uri.len()),
    ))
}

fn check_version(version: &str) -> Result<(), SipError> {
    match version.get(..4) {
        Some(p) if p.eq_ignore_ascii_case("SIP/") => {
            if version.get(4..) == Some("2.0") {
                Ok(())
            } else {
                Err(SipError::VersionNotSupported)
            }
        }
        _ => Err(SipError::BadStartLine),
    }
}

/// RFC 3261 §7.2: SIP-Version SP Status-Code SP Reason-Phrase; Status-Code is 3DIGIT.
fn parse_status_line(line: &[u8]) -> Result<StartLine<'_>, SipError> {
    let sp = line
        .iter()
        .position(|&c| c == b' ')
        .ok_or_else(|| SipError::BadStartLine)?;
    let version = std::str::from_utf8(line.get(..sp).unwrap_or_default())
        .map_err(|_| SipError::BadStartLine)?;
    check_version(version)?;
    let rest = line.get(sp + 1..).unwrap_or_default();
    let code_bytes = rest.get(..3).ok_or_else(|| SipError::BadStatusCode)?;
    if !code_bytes.iter().all(u8::is_ascii_digit) {
        return Err(SipError::BadStatusCode);
    }
    let code = code_bytes
        .iter()
        .fold(0u16, |acc, d| acc * 10 + u16::from(d - b'0'));
    if !(100..=699).contains(&code) {
        return Err(SipError::BadStatusCode);
    }
    match rest.get(3) {
        Some(b' ') => {}
        Some(c) if c.is_ascii_digit() => return Err(SipError::BadStatusCode),
        _ => return Err(SipError::BadStartLine),
    }
    Ok(StartLine::Response {
        code,
        reason: rest.get(4..).unwrap_or_default(),
    })
}

type Index<'a> = (Vec<Header<'a>>, usize, usize);

/// Indexes header fields from `pos` to the empty line. Returns the headers, the offset of the
/// empty line and the offset of the body.
fn index_headers(bytes: &[u8], mut pos: usize) -> Result<Index<'_>, SipError> {
    let mut headers: Vec<Header<'_>> = Vec::with_capacity(16);
    loop {
        let eol = line_end(bytes, pos)?;
        let line = bytes.get(pos..eol).unwrap_or_default();
        if line.is_empty() {
            finish_values(bytes, &mut headers);
            return Ok((headers, pos, eol + 2));
        }
        if matches!(line.first(), Some(b' ' | b'\t')) {
            // RFC 3261 §7.3.1: a line starting with white space continues the previous field.
            let last = headers
                .last_mut()
                .ok_or_else(|| SipError::FoldBeforeHeader)?;
            last.line.end = eol + 2;
        } else {
            let colon = memchr::memchr(b':', line).ok_or_else(|| SipError::BadHeaderLine)?;
            let name_bytes = line.get(..colon).unwrap_or_default();
            let name_bytes = trim_trailing_ws(name_bytes);
            let name = match common_name(name_bytes) {
                Some(known) => known,
                None => {
                    let name =
                        std::str::from_utf8(name_bytes).map_err(|_| SipError::BadHeaderLine)?;
                    if !is_token(name) {
                        return Err(SipError::BadHeaderLine);
                    }
                    name
                }
            };
            if headers.len() >= MAX_HEADERS {
                return Err(SipError::TooManyHeaders);
            }
            let value_start = pos + colon + 1;
            headers.push(Header {
                name,
                value: &[],
                line: pos..eol + 2,
                value_span: value_start..value_start,
            });
        }
        pos = eol + 2;
    }
}

/// The name of a field as most senders spell it, for the spellings that are the same bytes as
/// a static string: such a name needs neither the UTF-8 check nor the token check (every one
/// is a token). Any other spelling (another case, an extension header) returns `None` and is
/// checked byte by byte.
fn common_name(name: &[u8]) -> Option<&'static str> {
    Some(match name {
        b"Via" => "Via",
        b"From" => "From",
        b"To" => "To",
        b"Call-ID" => "Call-ID",
        b"CSeq" => "CSeq",
        b"Contact" => "Contact",
        b"Max-Forwards" => "Max-Forwards",
        b"Content-Length" => "Content-Length",
        b"Content-Type" => "Content-Type",
        b"Record-Route" => "Record-Route",
        b"Route" => "Route",
        b"Allow" => "Allow",
        b"Supported" => "Supported",
        b"User-Agent" => "User-Agent",
        b"Server" => "Server",
        b"Expires" => "Expires",
        b"Require" => "Require",
        b"Subject" => "Subject",
        b"Session-Expires" => "Session-Expires",
        b"v" => "v",
        b"f" => "f",
        b"t" => "t",
        b"i" => "i",
        b"m" => "m",
        b"l" => "l",
        b"c" => "c",
        _ => return None,
    })
}

fn trim_trailing_ws(mut s: &[u8]) -> &[u8] {
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// Sets each header's value span: from after the colon to the end of its last line, trimmed.
fn finish_values<'a>(bytes: &'a [u8], headers: &mut [Header<'a>]) {
    for h in headers.iter_mut() {
        let from = h.value_span.start;
        let to = h.line.end.saturating_sub(2).max(from);
        let full = bytes.get(from..to).unwrap_or_default();
        let lead = full.iter().take_while(|&&c| is_lws(c)).count();
        let value = trim_lws_bytes(full);
        h.value = value;
        h.value_span = from + lead..from + lead + value.len();
    }
}

/// The Content-Length of a header list: at most one field, a decimal u32 (RFC 3261 §20.14).
pub(crate) fn content_length_of(headers: &[Header<'_>]) -> Result<Option<u32>, SipError> {
    let mut found = headers.iter().filter(|h| h.is("Content-Length"));
    let Some(first) = found.next() else {
        return Ok(None);
    };
    if found.next().is_some() {
        return Err(SipError::MultipleContentLength);
    }
    let v = first.value;
    if v.is_empty() || !v.iter().all(u8::is_ascii_digit) {
        return Err(SipError::BadContentLength);
    }
    std::str::from_utf8(v)
        .ok()
        .and_then(|s| s.parse::<u32>().ok())
        .map(Some)
        .ok_or_else(|| SipError::BadContentLength)
}

impl<'a> Message<'a> {
    /// The start line.
    pub fn start_line(&self) -> &StartLine<'a> {
        &self.start
    }

    /// True for requests.
    pub fn is_request(&self) -> bool {
        matches!(self.start, StartLine::Request { .. })
    }

    /// The request method, for requests.
    pub fn method(&self) -> Option<&'a str> {
        match self.start {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => None,
        }
    }

    /// The request method as a [`Method`], for requests (no allocation for the methods with a
    /// variant of their own).
    pub fn request_method(&self) -> Option<Method> {
        self.method().map(Method::parse)
    }

    /// The Request-URI as received, for requests.
    pub fn request_uri(&self) -> Option<&'a str> {
        match self.start {
            StartLine::Request { uri, .. } => Some(uri),
            StartLine::Response { .. } => None,
        }
    }

    /// The status code, for responses.
    pub fn status(&self) -> Option<u16> {
        match self.start {
            StartLine::Response { code, .. } => Some(code),
            StartLine::Request { .. } => None,
        }
    }

    /// The header index, in received order.
    pub fn headers(&self) -> &[Header<'a>] {
        &self.headers
    }

    /// All fields of the header `long_name` (compact forms match), in order.
    pub fn headers_named<'s>(
        &'s self,
        long_name: &'s str,
    ) -> impl Iterator<Item = &'s Header<'a>> + 's {
        self.headers.iter().filter(move |h| h.is(long_name))
    }

    /// The first field of the header `long_name`.
    pub fn header(&self, long_name: &str) -> Option<&Header<'a>> {
        self.headers.iter().find(|h| h.is(long_name))
    }

    /// The only field of a header that must not repeat; an error if it appears twice.
    pub fn single_header(&self, long_name: &'static str) -> Result<Option<&Header<'a>>, SipError> {
        let mut it = self.headers_named(long_name);
        let first = it.next();
        if it.next().is_some() {
            return Err(SipError::DuplicateHeader(long_name));
        }
        Ok(first)
    }

    /// The body (cut at Content-Length).
    pub fn body(&self) -> &'a [u8] {
        self.raw.get(self.body.clone()).unwrap_or_default()
    }

    /// The Content-Length value, if the header is present.
    pub fn content_length(&self) -> Option<u32> {
        self.content_length
    }

    /// The message bytes: from the start line through the end of the body (leading CRLFs and
    /// octets beyond Content-Length excluded).
    pub fn as_bytes(&self) -> &'a [u8] {
        self.raw
            .get(self.start_span.start..self.body.end)
            .unwrap_or_default()
    }

    /// The bytes the message was parsed from, to which every span refers.
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }
}
