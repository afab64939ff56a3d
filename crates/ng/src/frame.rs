//! Datagram framing: `<cookie><space><body>`.
//!
//! The cookie matches a reply to its request and lets the server spot retransmissions; the
//! reply must carry the request's cookie unchanged (ng protocol documentation, introduction).

use crate::bencode::{self, OwnedValue, Value};
use crate::json::{self, Encoding};
use crate::request::{parse_request, Request};
use crate::NgError;

/// Longest cookie accepted. Kamailio's cookies are about 30 bytes
/// (`<server id>_<random>_<sequence>`); anything far longer is not a cookie.
pub const MAX_COOKIE_LEN: usize = 256;

/// Splits a datagram into its cookie and body at the first space.
///
/// The cookie must be 1 to [`MAX_COOKIE_LEN`] bytes and the body must not be empty. The
/// body is returned as is (not decoded).
pub fn split_cookie(datagram: &[u8]) -> Result<(&[u8], &[u8]), NgError> {
    let space = match datagram.iter().position(|b| *b == b' ') {
        Some(i) => i,
        None if datagram.len() > MAX_COOKIE_LEN => {
            return Err(NgError::CookieTooLong {
                max: MAX_COOKIE_LEN,
            })
        }
        None => return Err(NgError::NoCookieSeparator),
    };
    if space == 0 {
        return Err(NgError::EmptyCookie);
    }
    if space > MAX_COOKIE_LEN {
        return Err(NgError::CookieTooLong {
            max: MAX_COOKIE_LEN,
        });
    }
    let cookie = datagram.get(..space).unwrap_or_default();
    let body = datagram.get(space + 1..).unwrap_or_default();
    if body.is_empty() {
        return Err(NgError::EmptyBody);
    }
    Ok((cookie, body))
}

/// Decodes a bencode message body, borrowing from it. A JSON body is refused with
/// [`NgError::JsonUnsupported`] rather than a bencode error; [`decode_any`] takes both.
pub fn decode_body(body: &[u8]) -> Result<Value<'_>, NgError> {
    if body.first() == Some(&b'{') {
        return Err(NgError::JsonUnsupported);
    }
    Ok(bencode::decode(body)?)
}

/// Decodes a message body in either encoding, told by its first byte as rtpengine does (`{`
/// is JSON, anything else bencode), into an owned tree: the same tree for the same message
/// in either encoding. The encoding is returned so the reply can use it too.
pub fn decode_any(body: &[u8]) -> Result<(Encoding, OwnedValue), NgError> {
    match Encoding::of(body) {
        Encoding::Json => Ok((Encoding::Json, json::decode(body)?)),
        Encoding::Bencode => Ok((Encoding::Bencode, bencode::decode(body)?.to_owned())),
    }
}

/// Frames a reply (or request) in `encoding`: `<cookie><space><body>`.
pub fn frame_as(encoding: Encoding, cookie: &[u8], body: &OwnedValue) -> Vec<u8> {
    let mut out = Vec::with_capacity(cookie.len() + 64);
    out.extend_from_slice(cookie);
    out.push(b' ');
    encoding.encode(body, &mut out);
    out
}

/// Frames a reply (or request): `<cookie><space><bencoded body>`.
pub fn frame(cookie: &[u8], body: &OwnedValue) -> Vec<u8> {
    let mut out = Vec::with_capacity(cookie.len() + 64);
    out.extend_from_slice(cookie);
    out.push(b' ');
    body.encode(&mut out);
    out
}

/// A datagram [`parse_datagram`] rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatagramError<'a> {
    /// The cookie, if the framing was good enough to find it: then an error reply
    /// (`frame(cookie, &error_reply(&error.reason()))`) should be sent; otherwise the
    /// datagram can only be dropped (and counted).
    pub cookie: Option<&'a [u8]>,
    /// Why it was rejected.
    pub error: NgError,
}

impl std::fmt::Display for DatagramError<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

impl std::error::Error for DatagramError<'_> {}

/// Splits, decodes and parses a request datagram in one step.
pub fn parse_datagram(datagram: &[u8]) -> Result<(&[u8], Request<'_>), DatagramError<'_>> {
    let (cookie, body) = split_cookie(datagram).map_err(|error| DatagramError {
        cookie: None,
        error,
    })?;
    let with_cookie = |error| DatagramError {
        cookie: Some(cookie),
        error,
    };
    let value = decode_body(body).map_err(with_cookie)?;
    let request = parse_request(&value).map_err(with_cookie)?;
    Ok((cookie, request))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bencode::DictBuilder;
    use crate::Command;

    #[test]
    fn splits_at_the_first_space() {
        let (cookie, body) = split_cookie(b"5323_1 d7:command4:pinge").expect("framed");
        assert_eq!(cookie, b"5323_1");
        assert_eq!(body, b"d7:command4:pinge");
        // Spaces inside the body are part of the body.
        let (_, body) = split_cookie(b"c d3:sdp3:a be").expect("framed");
        assert_eq!(body, b"d3:sdp3:a be");
    }

    #[test]
    fn framing_errors() {
        assert_eq!(split_cookie(b""), Err(NgError::NoCookieSeparator));
        assert_eq!(split_cookie(b"nocookie"), Err(NgError::NoCookieSeparator));
        assert_eq!(split_cookie(b" d4:ping"), Err(NgError::EmptyCookie));
        assert_eq!(split_cookie(b"abc "), Err(NgError::EmptyBody));
        let long = vec![b'x'; MAX_COOKIE_LEN + 1];
        assert_eq!(
            split_cookie(&long),
            Err(NgError::CookieTooLong {
                max: MAX_COOKIE_LEN
            })
        );
        let mut long_framed = long.clone();
        long_framed.extend_from_slice(b" de");
        assert_eq!(
            split_cookie(&long_framed),
            Err(NgError::CookieTooLong {
                max: MAX_COOKIE_LEN
            })
        );
        let mut max_framed = vec![b'x'; MAX_COOKIE_LEN];
        max_framed.extend_from_slice(b" de");
        assert!(split_cookie(&max_framed).is_ok());
    }

    #[test]
    fn frame_prefixes_the_cookie() {
        let body = DictBuilder::new().with("result", "pong").build();
        assert_eq!(frame(b"5323_1", &body), b"5323_1 d6:result4:ponge".to_vec());
    }

    #[test]
    fn json_is_refused_clearly() {
        assert_eq!(
            decode_body(br#"{"command":"ping"}"#),
            Err(NgError::JsonUnsupported)
        );
    }

    #[test]
    fn decode_any_takes_both_encodings_to_the_same_tree() {
        let (e, j) = decode_any(br#"{"command":"ping","n":[1,"x"]}"#).expect("json");
        assert_eq!(e, Encoding::Json);
        let (e, b) = decode_any(b"d7:command4:ping1:nli1e1:xee").expect("bencode");
        assert_eq!(e, Encoding::Bencode);
        assert_eq!(j, b);
        assert!(matches!(decode_any(b"{\"a\":1.5}"), Err(NgError::Json(_))));
        assert!(matches!(decode_any(b"x"), Err(NgError::Bencode(_))));
        let pong = DictBuilder::new().with("result", "pong").build();
        assert_eq!(
            frame_as(Encoding::Json, b"7", &pong),
            br#"7 {"result":"pong"}"#.to_vec()
        );
        assert_eq!(frame_as(Encoding::Bencode, b"7", &pong), frame(b"7", &pong));
    }

    #[test]
    fn parse_datagram_keeps_the_cookie_for_error_replies() {
        let (cookie, req) = parse_datagram(b"1_2_3 d7:command4:pinge").expect("valid");
        assert_eq!(cookie, b"1_2_3");
        assert_eq!(req.command, Command::Ping);

        let err = parse_datagram(b"1_2_3 d7:command5:dancee").expect_err("unknown command");
        assert_eq!(err.cookie, Some(&b"1_2_3"[..]));
        assert_eq!(err.error, NgError::UnknownCommand("dance".into()));

        let err = parse_datagram(b"1_2_3 i1").expect_err("bad bencode");
        assert_eq!(err.cookie, Some(&b"1_2_3"[..]));
        assert!(matches!(err.error, NgError::Bencode(_)));

        let err = parse_datagram(b"garbage").expect_err("no framing");
        assert_eq!(err.cookie, None);
        assert_eq!(
            err.to_string(),
            "malformed message: no space after the cookie"
        );
    }
}
