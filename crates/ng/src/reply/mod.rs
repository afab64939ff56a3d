//! Replies: building them (server side) and reading them (client side).
//!
//! A reply dictionary always has `result`: `ok`, `pong` (ping only), `error` with
//! `error-reason` (and no other keys), or `load limit` (only to a client that sent
//! `supports: [load limit]`, optionally with `message`). An `ok` reply may carry `warning`;
//! offer and answer replies carry the rewritten `sdp` (ng protocol documentation).

#[cfg(test)]
mod tests;

use crate::bencode::{DictBuilder, OwnedValue, Value};
use crate::NgError;

/// `{result: error, error-reason: <reason>}`.
pub fn error_reply(reason: &str) -> OwnedValue {
    DictBuilder::new()
        .with("result", "error")
        .with("error-reason", reason)
        .build()
}

/// `{result: ok}`.
pub fn ok_reply() -> OwnedValue {
    DictBuilder::new().with("result", "ok").build()
}

/// `{result: pong}`, the answer to `ping`.
pub fn pong_reply() -> OwnedValue {
    DictBuilder::new().with("result", "pong").build()
}

/// `{result: ok, sdp: <sdp>}`, the answer to `offer`/`answer`.
pub fn sdp_reply(sdp: &[u8]) -> OwnedValue {
    DictBuilder::new()
        .with("result", "ok")
        .with("sdp", sdp)
        .build()
}

/// `{result: ok, warning: <warning>}`, e.g. a `delete` of an unknown call without `fatal`.
pub fn warning_reply(warning: &str) -> OwnedValue {
    DictBuilder::new()
        .with("result", "ok")
        .with("warning", warning)
        .build()
}

/// `{result: load limit[, message: <message>]}`: the client should try another server.
/// Send only if the request had `supports: [load limit]`; otherwise reply with an error.
pub fn load_limit_reply(message: Option<&str>) -> OwnedValue {
    let mut d = DictBuilder::new().with("result", "load limit");
    if let Some(m) = message {
        d.set("message", m);
    }
    d.build()
}

/// `{result: ok, calls: [<call-id>, ...]}`, the answer to `list`.
pub fn list_reply<I, S>(call_ids: I) -> OwnedValue
where
    I: IntoIterator<Item = S>,
    S: AsRef<[u8]>,
{
    DictBuilder::new()
        .with("result", "ok")
        .with("calls", OwnedValue::str_list(call_ids))
        .build()
}

/// The `result` of a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyResult<'a> {
    /// `ok`.
    Ok,
    /// `pong`.
    Pong,
    /// `error` (see [`Reply::error_reason`]).
    Error,
    /// `load limit`: the server is full, try another.
    LoadLimit,
    /// Any other value, as received.
    Other(&'a [u8]),
}

/// A reply as read by a client. Byte strings borrow from the datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply<'a> {
    /// `result`.
    pub result: ReplyResult<'a>,
    /// `error-reason`.
    pub error_reason: Option<&'a [u8]>,
    /// `warning`.
    pub warning: Option<&'a [u8]>,
    /// `sdp`.
    pub sdp: Option<&'a [u8]>,
    /// `message` (with `load limit`).
    pub message: Option<&'a [u8]>,
}

/// Reads a reply dictionary. Needs a string `result`; `error-reason`, `warning`, `sdp` and
/// `message` are optional strings; other keys are ignored (use the [`Value`] for them).
pub fn parse_reply<'a>(body: &Value<'a>) -> Result<Reply<'a>, NgError> {
    if body.as_dict().is_none() {
        return Err(NgError::NotADict);
    }
    let string = |key: &'static str| -> Result<Option<&'a [u8]>, NgError> {
        match body.get(key) {
            None => Ok(None),
            Some(v) => v.as_bytes().map(Some).ok_or(NgError::WrongType {
                key,
                expected: "string",
            }),
        }
    };
    let result = string("result")?.ok_or(NgError::MissingKey("result"))?;
    let result = match result {
        b"ok" => ReplyResult::Ok,
        b"pong" => ReplyResult::Pong,
        b"error" => ReplyResult::Error,
        b"load limit" => ReplyResult::LoadLimit,
        other => ReplyResult::Other(other),
    };
    Ok(Reply {
        result,
        error_reason: string("error-reason")?,
        warning: string("warning")?,
        sdp: string("sdp")?,
        message: string("message")?,
    })
}
