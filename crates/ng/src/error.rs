//! The crate's error type and the `error-reason` texts sent back to the client.

use crate::bencode::BencodeError;
use crate::json::JsonError;

/// Longest excerpt of client-supplied bytes quoted in an error.
const EXCERPT_MAX: usize = 64;

/// Why a datagram, request or reply was rejected.
///
/// The [`Display`](std::fmt::Display) text (also returned by [`NgError::reason`]) is written
/// to be sent back verbatim as the `error-reason` of an error reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NgError {
    /// The datagram has no space separating the cookie from the body.
    #[error("malformed message: no space after the cookie")]
    NoCookieSeparator,
    /// The datagram starts with a space: the cookie is empty.
    #[error("malformed message: empty cookie")]
    EmptyCookie,
    /// The cookie is longer than [`crate::MAX_COOKIE_LEN`].
    #[error("malformed message: cookie longer than {max} bytes")]
    CookieTooLong {
        /// The limit.
        max: usize,
    },
    /// Nothing follows the cookie and its space.
    #[error("malformed message: empty body")]
    EmptyBody,
    /// The body is a JSON object where only bencode is taken ([`crate::decode_body`]; use
    /// [`crate::decode_any`] for either encoding).
    #[error("JSON message bodies are not supported here, use bencode")]
    JsonUnsupported,
    /// The body is not valid bencode (the error carries the byte offset in the body).
    #[error("invalid bencode: {0}")]
    Bencode(#[from] BencodeError),
    /// The body is not valid JSON, or JSON with no ng meaning (the error carries the byte
    /// offset in the body).
    #[error("invalid JSON: {0}")]
    Json(#[from] JsonError),
    /// The body decodes, but not to a dictionary.
    #[error("message is not a dictionary")]
    NotADict,
    /// The request dictionary has no `command`.
    #[error("no command in message")]
    MissingCommand,
    /// The `command` names a command this codec does not know (carries the name,
    /// shortened and lossily converted to UTF-8).
    #[error("unknown command '{0}'")]
    UnknownCommand(String),
    /// A key this codec interprets holds a value of the wrong bencode type.
    #[error("wrong type for key '{key}': expected {expected}")]
    WrongType {
        /// The key, in its canonical spelling.
        key: &'static str,
        /// What the key must hold.
        expected: &'static str,
    },
    /// A key the command requires is absent or empty.
    #[error("no {0} in message")]
    MissingKey(&'static str),
    /// A key that must hold an IP address holds something else.
    #[error("invalid address for key '{key}': '{value}'")]
    BadAddress {
        /// The key, in its canonical spelling.
        key: &'static str,
        /// The offending value (shortened, lossy UTF-8).
        value: String,
    },
    /// A key holds a value of the right type but out of range or malformed.
    #[error("invalid value for key '{key}': '{value}'")]
    BadValue {
        /// The key, in its canonical spelling.
        key: &'static str,
        /// The offending value (shortened, lossy UTF-8).
        value: String,
    },
}

impl NgError {
    /// The text for the `error-reason` key of an error reply.
    pub fn reason(&self) -> String {
        self.to_string()
    }

    pub(crate) fn bad_address(key: &'static str, value: &[u8]) -> Self {
        NgError::BadAddress {
            key,
            value: excerpt(value),
        }
    }

    pub(crate) fn bad_value(key: &'static str, value: &[u8]) -> Self {
        NgError::BadValue {
            key,
            value: excerpt(value),
        }
    }
}

/// At most [`EXCERPT_MAX`] bytes of `b` as lossy UTF-8, for error texts.
pub(crate) fn excerpt(b: &[u8]) -> String {
    let cut = b.get(..EXCERPT_MAX).unwrap_or(b);
    let mut s = String::from_utf8_lossy(cut).into_owned();
    if cut.len() < b.len() {
        s.push_str("...");
    }
    s
}
