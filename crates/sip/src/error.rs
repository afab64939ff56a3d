//! Errors of the SIP message layer.

use thiserror::Error;

/// Why a SIP message, header or URI was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SipError {
    /// The input was empty (or held only keep-alive CRLFs).
    #[error("empty message")]
    Empty,
    /// The message (or buffered stream data) exceeds the 64 KiB limit.
    #[error("message larger than 64 KiB")]
    TooLarge,
    /// The header section has more than 256 header fields.
    #[error("more than 256 header fields")]
    TooManyHeaders,
    /// The empty line that ends the header section is missing.
    #[error("header section is not terminated by an empty line")]
    Incomplete,
    /// A CR or LF that is not part of a CRLF pair appears in the start line or headers.
    #[error("bare CR or LF in the header section")]
    BareLineEnd,
    /// The start line is neither a Request-Line nor a Status-Line (RFC 3261 §7.1, §7.2).
    #[error("malformed start line")]
    BadStartLine,
    /// The request method is not a token (RFC 3261 §25.1).
    #[error("method is not a token")]
    BadMethod,
    /// The Request-URI is malformed.
    #[error("malformed Request-URI")]
    BadRequestUri,
    /// A SIP Request-URI carries escaped headers, which RFC 3261 §19.1.5 forbids.
    #[error("Request-URI carries headers")]
    RequestUriHeaders,
    /// The SIP-Version is not SIP/2.0; a server answers 505 (RFC 3261 §8.2.2).
    #[error("SIP version not supported")]
    VersionNotSupported,
    /// The status code is not three digits in 100..=699 (RFC 3261 §7.2, §21).
    #[error("bad status code")]
    BadStatusCode,
    /// A header line has no colon or its name is not a token (RFC 3261 §7.3).
    #[error("malformed header line")]
    BadHeaderLine,
    /// A continuation line appears before the first header field.
    #[error("folded line before the first header")]
    FoldBeforeHeader,
    /// A Content-Length value is not a non-negative decimal that fits in u32.
    #[error("malformed Content-Length")]
    BadContentLength,
    /// More than one Content-Length header field.
    #[error("more than one Content-Length")]
    MultipleContentLength,
    /// The body is shorter than Content-Length (RFC 3261 §18.3).
    #[error("body shorter than Content-Length")]
    BodyTooShort,
    /// A malformed request was parsed past its Request-Line: a 400 may be answered.
    #[error("malformed request: {0}")]
    InRequest(Box<SipError>),
    /// A header value that must be text is not UTF-8.
    #[error("header value is not UTF-8")]
    NotUtf8,
    /// A header the operation needs is absent.
    #[error("missing {0} header")]
    MissingHeader(&'static str),
    /// A header that must appear once appears more than once.
    #[error("duplicate {0} header")]
    DuplicateHeader(&'static str),
    /// A comma-separated list has an empty element.
    #[error("empty element in {0} list")]
    EmptyListElement(&'static str),
    /// A URI is malformed; the text says which part.
    #[error("malformed URI: {0}")]
    BadUri(&'static str),
    /// A Via value is malformed (RFC 3261 §20.42).
    #[error("malformed Via: {0}")]
    BadVia(&'static str),
    /// A name-addr / addr-spec value is malformed (RFC 3261 §20.10, §25.1).
    #[error("malformed name-addr: {0}")]
    BadNameAddr(&'static str),
    /// A header parameter list is malformed (RFC 3261 §7.3.1 generic-param).
    #[error("malformed parameter")]
    BadParam,
    /// CSeq is not a u32 number followed by a method (RFC 3261 §20.16).
    #[error("malformed CSeq")]
    BadCSeq,
    /// The CSeq method differs from the request method (RFC 3261 §8.1.1.5).
    #[error("CSeq method differs from the request method")]
    CSeqMethodMismatch,
    /// Max-Forwards is not a decimal in 0..=255 (RFC 3261 §20.22).
    #[error("malformed Max-Forwards")]
    BadMaxForwards,
    /// Call-ID is empty or holds whitespace (RFC 3261 §20.8).
    #[error("malformed Call-ID")]
    BadCallId,
    /// Retry-After is malformed or out of range (RFC 3261 §20.33).
    #[error("malformed Retry-After")]
    BadRetryAfter,
    /// Date is not an RFC 1123 date in GMT (RFC 3261 §20.17).
    #[error("malformed Date")]
    BadDate,
    /// Max-Forwards is already 0 and cannot be decremented (RFC 3261 §16.3 item 2).
    #[error("Max-Forwards exhausted")]
    TooManyHops,
    /// The message has no header of the kind the edit removes.
    #[error("nothing to remove: no {0} header")]
    NothingToRemove(&'static str),
    /// A request was needed (building CANCEL or ACK) but a response was given.
    #[error("not a request")]
    NotARequest,
    /// Two edits touch the same bytes.
    #[error("conflicting edits")]
    EditConflict,
}

impl SipError {
    /// True when the error was found after a valid Request-Line, so a stateless 400 response is
    /// appropriate (RFC 3261 §8.2, §16.3); `parse_head` may still index the headers to build it.
    pub fn is_request_parsed(&self) -> bool {
        matches!(self, SipError::InRequest(_))
    }

    /// The underlying reason, looking through [`SipError::InRequest`].
    pub fn cause(&self) -> &SipError {
        match self {
            SipError::InRequest(inner) => inner.cause(),
            other => other,
        }
    }
}
