//! The envelope: one JSON request per line, one JSON response per line.
//!
//! ```text
//! -> {"id": 1, "method": "members.list", "params": {"limit": 50}}
//! <- {"id": 1, "result": {"items": [...], "next_cursor": "7"}}
//! -> {"id": 2, "method": "members.remove", "params": {"set": "pool", "uri": "sip:192.0.2.7"}}
//! <- {"id": 2, "error": {"code": 1002, "message": "the member has 3 calls in progress"}}
//! ```
//!
//! The shape and the first five error codes are JSON-RPC 2.0's (section 5.1), without its
//! `jsonrpc` member; the codes from 1001 up are this protocol's own ([`ErrorCode`]).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The protocol's version, reported by `version`; raised when a method changes
/// incompatibly.
pub const PROTOCOL_VERSION: u32 = 1;

/// A request's id: a number or a string the client chose, echoed in the response. `null`
/// in a response answers a line that carried no readable id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Id {
    /// A number.
    Number(u64),
    /// A string.
    Text(String),
    /// No readable id.
    Null,
}

/// A request as read from its line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// The client's id for it.
    pub id: Id,
    /// The method's name, e.g. `members.list`.
    pub method: String,
    /// Its parameters: an object (absent means `{}`).
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub params: Value,
}

/// Why a request failed: a documented code and one line for a person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message} (error {code})")]
pub struct ErrorObject {
    /// One of [`ErrorCode`]'s numbers.
    pub code: i32,
    /// What went wrong.
    pub message: String,
}

impl ErrorObject {
    /// An error with `code` and `message`.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ErrorObject {
        ErrorObject {
            code: code as i32,
            message: message.into(),
        }
    }

    /// The code as the enum, if it is one this version knows.
    pub fn kind(&self) -> Option<ErrorCode> {
        ErrorCode::ALL.into_iter().find(|c| *c as i32 == self.code)
    }
}

/// The error codes. Negative ones are JSON-RPC 2.0's (section 5.1) and mean the request
/// itself was wrong; the positive ones say why a well-formed request could not be done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum ErrorCode {
    /// The line is not JSON (or not UTF-8).
    ParseError = -32700,
    /// JSON, but not a request: no `id` or `method`, a `params` that is not an object, an
    /// unknown member of the envelope; or a line longer than the server's limit (the
    /// connection is closed after this reply).
    InvalidRequest = -32600,
    /// No such method.
    MethodNotFound = -32601,
    /// The parameters have the wrong names, types or values.
    InvalidParams = -32602,
    /// The daemon failed inside (a part of it is gone); the request may not have been done.
    Internal = -32603,
    /// The member or set named does not exist.
    NotFound = 1001,
    /// The request conflicts with the present state: a member with calls removed without
    /// `force`, a member added twice, a URI that names more than one member.
    Conflict = 1002,
    /// The part that would do it is off or did not answer in time (the SIP proxy without
    /// `[[set]]`, or busy); nothing was done, try again.
    Unavailable = 1003,
    /// `reload`: the file could not be read or did not pass the checks; the running
    /// configuration stays.
    ReloadFailed = 1004,
    /// The server is at `max_connections`; the connection is closed after this reply.
    TooManyConnections = 1005,
}

impl ErrorCode {
    /// Every code.
    pub const ALL: [ErrorCode; 10] = [
        ErrorCode::ParseError,
        ErrorCode::InvalidRequest,
        ErrorCode::MethodNotFound,
        ErrorCode::InvalidParams,
        ErrorCode::Internal,
        ErrorCode::NotFound,
        ErrorCode::Conflict,
        ErrorCode::Unavailable,
        ErrorCode::ReloadFailed,
        ErrorCode::TooManyConnections,
    ];
}

/// A response: the request's id and either a result or an error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Response {
    /// The request's id (`null` when the line carried none).
    pub id: Id,
    /// The result, on success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    /// The error, on failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorObject>,
}

impl Response {
    /// A success.
    pub fn ok(id: Id, result: Value) -> Response {
        Response {
            id,
            result: Some(result),
            error: None,
        }
    }

    /// A failure.
    pub fn err(id: Id, error: ErrorObject) -> Response {
        Response {
            id,
            result: None,
            error: Some(error),
        }
    }

    /// The response as one line, `\n` included.
    pub fn to_line(&self) -> Vec<u8> {
        // Serialising these types cannot fail: every map key is a string.
        let mut line = serde_json::to_vec(self).unwrap_or_else(|_| {
            br#"{"id":null,"error":{"code":-32603,"message":"unserialisable"}}"#.to_vec()
        });
        line.push(b'\n');
        line
    }

    /// The outcome as a `Result`.
    pub fn into_result(self) -> Result<Value, ErrorObject> {
        match (self.result, self.error) {
            (_, Some(e)) => Err(e),
            (Some(v), None) => Ok(v),
            (None, None) => Ok(Value::Null),
        }
    }
}

/// Reads one line as a request. On failure, the error response to send (with the id when
/// the line had a readable one).
pub fn parse_request(line: &[u8]) -> Result<Request, Box<Response>> {
    let value: Value = serde_json::from_slice(line).map_err(|e| {
        let error = ErrorObject::new(ErrorCode::ParseError, format!("not JSON: {e}"));
        Box::new(Response::err(Id::Null, error))
    })?;
    let id = value
        .get("id")
        .and_then(|v| serde_json::from_value::<Id>(v.clone()).ok())
        .unwrap_or(Id::Null);
    let invalid = |msg: String| {
        let error = ErrorObject::new(ErrorCode::InvalidRequest, msg);
        Box::new(Response::err(id.clone(), error))
    };
    let req: Request =
        serde_json::from_value(value).map_err(|e| invalid(format!("not a request: {e}")))?;
    if req.id == Id::Null {
        return Err(invalid(
            "the request has no id (a number or a string)".into(),
        ));
    }
    if !(req.params.is_object() || req.params.is_null()) {
        return Err(invalid("params must be an object".into()));
    }
    Ok(req)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn code_of(line: &str) -> i32 {
        parse_request(line.as_bytes())
            .unwrap_err()
            .error
            .unwrap()
            .code
    }

    #[test]
    fn a_request_with_and_without_params() {
        let r = parse_request(br#"{"id":7,"method":"version"}"#).unwrap();
        assert_eq!(r.id, Id::Number(7));
        assert_eq!(r.method, "version");
        assert!(r.params.is_null());
        let r = parse_request(br#"{"id":"a","method":"x","params":{"k":1}}"#).unwrap();
        assert_eq!(r.id, Id::Text("a".into()));
        assert_eq!(r.params["k"], 1);
    }

    #[test]
    fn broken_lines_get_the_json_rpc_codes() {
        assert_eq!(code_of("{not json"), -32700);
        assert_eq!(code_of("[1,2]"), -32600);
        assert_eq!(code_of(r#"{"method":"version"}"#), -32600);
        assert_eq!(code_of(r#"{"id":1}"#), -32600);
        assert_eq!(code_of(r#"{"id":1,"method":5}"#), -32600);
        assert_eq!(code_of(r#"{"id":1,"method":"v","params":[1]}"#), -32600);
        assert_eq!(code_of(r#"{"id":1,"method":"v","extra":true}"#), -32600);
        assert_eq!(code_of(r#"{"id":-1,"method":"v"}"#), -32600);
    }

    #[test]
    fn the_id_is_kept_in_an_envelope_error() {
        let e = parse_request(br#"{"id":9,"method":"v","params":3}"#).unwrap_err();
        assert_eq!(e.id, Id::Number(9));
    }

    #[test]
    fn responses_are_one_line_and_round_trip() {
        let r = Response::err(Id::Number(1), ErrorObject::new(ErrorCode::NotFound, "x\ny"));
        let line = r.to_line();
        assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1);
        let back: Response = serde_json::from_slice(&line).unwrap();
        assert_eq!(back, r);
        assert_eq!(
            back.into_result().unwrap_err().kind(),
            Some(ErrorCode::NotFound)
        );
    }
}
