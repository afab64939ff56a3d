//! Building responses and forwarded copies (RFC 3261 §8.2.6, §16.6, §16.7).

use crate::lex::{CommaSplit, Params};
use crate::{Message, SipError};

/// Builds a response to `req` (RFC 3261 §8.2.6.2): Via fields, From, Call-ID and CSeq are
/// copied byte for byte; To is copied with `;tag=` appended when `to_tag` is given and To has
/// no tag yet; a 100 also copies Timestamp (§8.2.6.1); `Content-Length: 0` ends the header
/// section. CR and LF in `reason` are dropped;
/// `code` should be 100..=699.
pub fn response_for(req: &Message<'_>, code: u16, reason: &str, to_tag: Option<&str>) -> Vec<u8> {
    response_with(req, code, reason, to_tag, &[])
}

/// [`response_for`] with extra header fields (name, value) placed before Content-Length, for
/// example `Retry-After` on a 503 (RFC 3261 §20.33) or `Server`. CR and LF in names and values
/// are dropped so a caller cannot inject fields.
pub fn response_with(
    req: &Message<'_>,
    code: u16,
    reason: &str,
    to_tag: Option<&str>,
    extra: &[(&str, &str)],
) -> Vec<u8> {
    use std::io::Write;
    let mut out = Vec::with_capacity(512);
    // Writing into a Vec cannot fail.
    let _ = write!(out, "SIP/2.0 {code} ");
    out.extend(reason.bytes().filter(|c| *c != b'\r' && *c != b'\n'));
    out.extend_from_slice(b"\r\n");
    let raw = req.raw();
    let copy = |out: &mut Vec<u8>, name: &str| {
        for h in req.headers_named(name) {
            out.extend_from_slice(raw.get(h.line.clone()).unwrap_or_default());
        }
    };
    copy(&mut out, "Via");
    copy(&mut out, "From");
    for h in req.headers_named("To") {
        out.extend_from_slice(raw.get(h.line.start..h.value_span.end).unwrap_or_default());
        let has_tag = h.unfolded().ok().is_some_and(|v| {
            let params = v
                .find('>')
                .map_or(v.as_ref(), |i| v.get(i + 1..).unwrap_or_default());
            let params = params
                .find(';')
                .map_or("", |i| params.get(i..).unwrap_or_default());
            Params::parse(params).is_ok_and(|p| p.get("tag").is_some())
        });
        if let (Some(tag), false) = (to_tag, has_tag) {
            out.extend_from_slice(b";tag=");
            out.extend_from_slice(tag.as_bytes());
        }
        out.extend_from_slice(b"\r\n");
    }
    copy(&mut out, "Call-ID");
    copy(&mut out, "CSeq");
    if code == 100 {
        // RFC 3261 §8.2.6.1: a 100 (Trying) copies the request's Timestamp.
        copy(&mut out, "Timestamp");
    }
    for (name, value) in extra {
        push_field(&mut out, name, value);
    }
    out.extend_from_slice(b"Content-Length: 0\r\n\r\n");
    out
}

/// Appends `name: value` CRLF, dropping CR and LF from both.
pub(crate) fn push_field(out: &mut Vec<u8>, name: &str, value: &str) {
    out.extend(name.bytes().filter(|c| *c != b'\r' && *c != b'\n'));
    out.extend_from_slice(b": ");
    out.extend(value.bytes().filter(|c| *c != b'\r' && *c != b'\n'));
    out.extend_from_slice(b"\r\n");
}

/// One pending edit: replace `range` of the message bytes with `text` (insert when empty).
#[derive(Debug, Clone)]
struct Edit {
    range: std::ops::Range<usize>,
    text: Vec<u8>,
}

/// Produces a forwarded copy of a message; every byte not touched by an edit is kept as
/// received (RFC 3261 §16.6 lists the proxy's changes).
#[derive(Debug, Clone)]
pub struct Editor<'m, 'a> {
    msg: &'m Message<'a>,
    edits: Vec<Edit>,
}

impl<'m, 'a> Editor<'m, 'a> {
    /// Starts editing `msg`.
    pub fn new(msg: &'m Message<'a>) -> Self {
        Editor {
            msg,
            edits: Vec::new(),
        }
    }

    /// Where new fields of `name` go: before the first such field, else after the start line.
    fn insert_point(&self, name: &str) -> usize {
        self.msg
            .header(name)
            .map_or(self.msg.start_span.end + 2, |h| h.line.start)
    }

    fn push(&mut self, range: std::ops::Range<usize>, text: Vec<u8>) {
        self.edits.push(Edit { range, text });
    }

    /// Inserts `Via: {value}` above the topmost Via (RFC 3261 §16.6 item 8).
    pub fn insert_via(&mut self, value: &str) -> &mut Self {
        let at = self.insert_point("Via");
        self.push(at..at, field_bytes("Via", value));
        self
    }

    /// Inserts `Record-Route: {value}` above the topmost Record-Route (RFC 3261 §16.6 item 4);
    /// `value` is a name-addr such as `<sip:lb.example.net;lr>`.
    pub fn insert_record_route(&mut self, value: &str) -> &mut Self {
        let at = self.insert_point("Record-Route");
        self.push(at..at, field_bytes("Record-Route", value));
        self
    }

    /// Removes the first value of the first field `name`: the whole field when it holds one
    /// value, else the value and its comma.
    fn remove_top(&mut self, name: &'static str) -> Result<&mut Self, SipError> {
        let h = self
            .msg
            .header(name)
            .ok_or_else(|| SipError::NothingToRemove(name))?;
        let text = std::str::from_utf8(h.value).map_err(|_| SipError::NotUtf8)?;
        // Split the raw value (folds included) so offsets map back to the message bytes.
        let range = match CommaSplit::new(text).nth(1) {
            None => h.line.clone(),
            Some(second) => {
                // `second` is a subslice of `text` (split_commas only trims and splits), so
                // the pointer difference is its offset and cannot underflow.
                let second_at = (second.as_ptr() as usize).saturating_sub(text.as_ptr() as usize);
                h.value_span.start..h.value_span.start + second_at
            }
        };
        self.push(range, Vec::new());
        Ok(self)
    }

    /// Removes the topmost Via value (a proxy forwarding a response, RFC 3261 §16.7 item 3).
    pub fn remove_top_via(&mut self) -> Result<&mut Self, SipError> {
        self.remove_top("Via")
    }

    /// Removes the topmost Route value (RFC 3261 §16.4, §16.6 item 6).
    pub fn remove_top_route(&mut self) -> Result<&mut Self, SipError> {
        self.remove_top("Route")
    }

    /// Decrements Max-Forwards, or inserts `Max-Forwards: 70` when absent (RFC 3261 §16.6
    /// item 3). Fails when it is already 0 (the proxy answers 483, §16.3 item 2).
    pub fn decrement_max_forwards(&mut self) -> Result<&mut Self, SipError> {
        match self.msg.single_header("Max-Forwards")? {
            None => {
                let at = self.msg.start_span.end + 2;
                self.push(at..at, b"Max-Forwards: 70\r\n".to_vec());
            }
            Some(h) => {
                let n = self.msg.max_forwards()?.unwrap_or(0);
                let n = n.checked_sub(1).ok_or_else(|| SipError::TooManyHops)?;
                let mut text = String::with_capacity(3);
                push_decimal(&mut text, u64::from(n));
                self.push(h.value_span.clone(), text.into_bytes());
            }
        }
        Ok(self)
    }

    /// Sets `received` and fills `rport` on the topmost Via value (RFC 3261 §18.2.1, RFC 3581
    /// §4): `received` is added (or replaced) when given; `rport` gets the value when the
    /// parameter is present (a bare `rport` asks for it). The value is rewritten in canonical
    /// form; every other field stays as received.
    pub fn set_top_via_source(
        &mut self,
        received: Option<&str>,
        rport: Option<u16>,
    ) -> Result<&mut Self, SipError> {
        let h = self
            .msg
            .header("Via")
            .ok_or_else(|| SipError::MissingHeader("Via"))?;
        let text = std::str::from_utf8(h.value).map_err(|_| SipError::NotUtf8)?;
        let first = CommaSplit::new(text)
            .next()
            .ok_or_else(|| SipError::MissingHeader("Via"))?;
        let at = (first.as_ptr() as usize).saturating_sub(text.as_ptr() as usize);
        let unfolded = crate::unfold(first.as_bytes())?;
        let via = crate::parse_via(&unfolded)?;
        let value = via_with_source(&via, received, rport);
        let start = h.value_span.start + at;
        self.push(start..start + first.len(), value.into_bytes());
        Ok(self)
    }

    /// Appends a header field `name: value` at the end of the header section.
    pub fn append_header(&mut self, name: &str, value: &str) -> &mut Self {
        let at = self.msg.body.start.saturating_sub(2);
        let mut text = Vec::new();
        push_field(&mut text, name, value);
        self.push(at..at, text);
        self
    }

    /// Removes every field of the header `name`.
    pub fn remove_headers(&mut self, name: &str) -> &mut Self {
        let lines: Vec<_> = self
            .msg
            .headers_named(name)
            .map(|h| h.line.clone())
            .collect();
        for l in lines {
            self.push(l, Vec::new());
        }
        self
    }

    /// Replaces the Request-URI (RFC 3261 §16.6 item 6, §16.5). No effect on responses.
    pub fn set_request_uri(&mut self, uri: &str) -> &mut Self {
        if let Some(span) = self.msg.uri_span.clone() {
            self.push(span, uri.as_bytes().to_vec());
        }
        self
    }

    /// Replaces the body with `body` and sets Content-Length to its length (RFC 3261 §20.14),
    /// adding the field when the message had none.
    pub fn set_body(&mut self, body: &[u8]) -> Result<&mut Self, SipError> {
        let mut len = String::with_capacity(5);
        push_decimal(&mut len, body.len() as u64);
        let len = len.into_bytes();
        match self.msg.single_header("Content-Length")? {
            Some(h) => self.push(h.value_span.clone(), len),
            None => {
                let at = self.msg.body.start.saturating_sub(2);
                let mut text = b"Content-Length: ".to_vec();
                text.extend_from_slice(&len);
                text.extend_from_slice(b"\r\n");
                self.push(at..at, text);
            }
        }
        self.push(self.msg.body.clone(), body.to_vec());
        Ok(self)
    }

    /// Applies the edits and returns the new message bytes (from the start line through the
    /// body; octets after Content-Length are not forwarded). Fails when two edits overlap.
    pub fn finish(&self) -> Result<Vec<u8>, SipError> {
        // Insertions at a point come before a replacement starting there; stable otherwise.
        // Edits are mostly made in that order already: then no sorted copy is made.
        let key = |e: &Edit| (e.range.start, !e.range.is_empty());
        if self.edits.windows(2).all(|w| match w {
            [a, b] => key(a) <= key(b),
            _ => true,
        }) {
            return self.apply(self.edits.iter());
        }
        let mut edits: Vec<&Edit> = self.edits.iter().collect();
        edits.sort_by_key(|e| key(e));
        self.apply(edits.into_iter())
    }

    /// The message with `edits` (in order) applied.
    fn apply<'e>(&self, edits: impl Iterator<Item = &'e Edit>) -> Result<Vec<u8>, SipError> {
        let raw = self.msg.raw();
        let (start, end) = (self.msg.start_span.start, self.msg.body.end);
        let mut out = Vec::with_capacity(end.saturating_sub(start) + 256);
        let mut pos = start;
        for e in edits {
            if e.range.start < pos {
                return Err(SipError::EditConflict);
            }
            out.extend_from_slice(raw.get(pos..e.range.start).unwrap_or_default());
            out.extend_from_slice(&e.text);
            pos = e.range.end;
        }
        out.extend_from_slice(raw.get(pos..end).unwrap_or_default());
        Ok(out)
    }
}

/// The Via value in canonical form with `received` dropped where it was and added last, and
/// `rport` given its value in place (RFC 3261 §18.2.1, RFC 3581 §4). Written piece by piece
/// (no formatting machinery: this is done for every request a proxy forwards).
fn via_with_source(via: &crate::Via<'_>, received: Option<&str>, rport: Option<u16>) -> String {
    let mut value = String::with_capacity(96);
    let head: [&str; 7] = [
        &via.protocol,
        "/",
        &via.version,
        "/",
        &via.transport,
        " ",
        &via.host,
    ];
    for part in head {
        value.push_str(part);
    }
    if let Some(p) = via.port {
        value.push(':');
        push_decimal(&mut value, u64::from(p));
    }
    for (n, v) in via.params.iter() {
        let is = |name: &str| n.eq_ignore_ascii_case(name);
        if received.is_some() && is("received") {
            continue;
        }
        value.push(';');
        value.push_str(n);
        match (v, rport.filter(|_| is("rport"))) {
            (_, Some(port)) => {
                value.push('=');
                push_decimal(&mut value, u64::from(port));
            }
            (Some(v), None) => {
                value.push('=');
                value.push_str(v);
            }
            (None, None) => {}
        }
    }
    if let Some(r) = received {
        value.push_str(";received=");
        value.push_str(r);
    }
    value
}

/// Appends the decimal digits of `n` (what `write!(out, "{n}")` writes).
pub(crate) fn push_decimal(out: &mut String, n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut n = n;
    loop {
        at -= 1;
        if let Some(d) = digits.get_mut(at) {
            // `n % 10` is a single digit.
            *d = b'0' + (n % 10) as u8;
        }
        n /= 10;
        if n == 0 || at == 0 {
            break;
        }
    }
    out.extend(
        digits
            .get(at..)
            .unwrap_or_default()
            .iter()
            .map(|&d| char::from(d)),
    );
}

/// `name: value` CRLF as bytes.
fn field_bytes(name: &str, value: &str) -> Vec<u8> {
    let mut text = Vec::with_capacity(name.len() + value.len() + 4);
    for part in [name, ": ", value, "\r\n"] {
        text.extend_from_slice(part.as_bytes());
    }
    text
}
