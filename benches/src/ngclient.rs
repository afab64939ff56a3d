//! A blocking client for rtpengine's ng control protocol over UDP: `<cookie> <bencoded dict>`
//! requests, replies carrying the same cookie, retransmission on timeout.

use crate::bencode::{self, Value};
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};
use thiserror::Error;

/// Largest ng reply the client reads (SDP bodies of a few calls fit many times over).
const MAX_REPLY: usize = 65_536;

/// Why an ng request did not produce an `ok` reply.
#[derive(Debug, Error)]
pub enum NgError {
    /// The ng address is not on loopback; the load tool talks to nothing else.
    #[error("ng address {0} is not a loopback address")]
    NotLoopback(SocketAddr),
    /// Socket creation, send or receive failed.
    #[error("ng socket: {0}")]
    Io(#[from] io::Error),
    /// No reply with our cookie after every retransmission.
    #[error("ng {command}: no reply after {attempts} attempts")]
    Timeout {
        /// The ng command.
        command: String,
        /// How many times it was sent.
        attempts: u32,
    },
    /// The reply is not `<cookie> <bencode>`.
    #[error("ng {command}: malformed reply: {reason}")]
    Malformed {
        /// The ng command.
        command: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The server answered `result=error`.
    #[error("ng {command}: server error: {reason}")]
    Refused {
        /// The ng command.
        command: String,
        /// The `error-reason` it gave.
        reason: String,
    },
}

/// Blocking ng client bound to an ephemeral loopback port.
#[derive(Debug)]
pub struct NgClient {
    sock: UdpSocket,
    timeout: Duration,
    attempts: u32,
    prefix: String,
    counter: u64,
}

impl NgClient {
    /// Connects to the ng server at `server` (must be loopback). Each request waits `timeout`
    /// for its reply and is sent at most `attempts` times.
    pub fn connect(server: SocketAddr, timeout: Duration, attempts: u32) -> Result<Self, NgError> {
        if !server.ip().is_loopback() {
            return Err(NgError::NotLoopback(server));
        }
        let local: SocketAddr = if server.is_ipv4() {
            SocketAddr::from(([127, 0, 0, 1], 0))
        } else {
            SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, 0))
        };
        let sock = UdpSocket::bind(local)?;
        sock.connect(server)?;
        Ok(NgClient {
            sock,
            timeout: timeout.max(Duration::from_millis(1)),
            attempts: attempts.max(1),
            prefix: format!("fvload{}", std::process::id()),
            counter: 0,
        })
    }

    /// Sends `request` (a dictionary with a `command`) and returns the reply dictionary once it
    /// says `result=ok` (or `pong` for a ping).
    pub fn request(&mut self, request: &Value) -> Result<Value, NgError> {
        let command = request
            .get("command")
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_owned();
        self.counter += 1;
        let cookie = format!("{}_{}", self.prefix, self.counter);
        let mut datagram = cookie.as_bytes().to_vec();
        datagram.push(b' ');
        request.encode_into(&mut datagram);

        let mut buf = vec![0u8; MAX_REPLY];
        for _ in 0..self.attempts {
            self.sock.send(&datagram)?;
            let deadline = Instant::now() + self.timeout;
            // Bounded: every pass either returns or reads one datagram before the deadline,
            // and a stale reply to an earlier cookie only costs one pass.
            for _ in 0..64 {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                self.sock.set_read_timeout(Some(left))?;
                let n = match self.sock.recv(&mut buf) {
                    Ok(n) => n,
                    Err(e)
                        if e.kind() == io::ErrorKind::WouldBlock
                            || e.kind() == io::ErrorKind::TimedOut =>
                    {
                        break
                    }
                    Err(e) => return Err(e.into()),
                };
                let reply = buf.get(..n).unwrap_or_default();
                if let Some(body) = strip_cookie(reply, cookie.as_bytes()) {
                    return check_reply(&command, body);
                }
            }
        }
        Err(NgError::Timeout {
            command,
            attempts: self.attempts,
        })
    }

    /// `ping`; succeeds on `pong`.
    pub fn ping(&mut self) -> Result<(), NgError> {
        self.request(&Value::dict(vec![("command", Value::str("ping"))]))
            .map(|_| ())
    }

    /// `offer` with the media flags the bench uses; returns the rewritten SDP.
    pub fn offer(&mut self, call_id: &str, from_tag: &str, sdp: &str) -> Result<String, NgError> {
        let req = media_request("offer", call_id, from_tag, None, sdp);
        let reply = self.request(&req)?;
        reply_sdp("offer", &reply)
    }

    /// `answer` with the media flags the bench uses; returns the rewritten SDP.
    pub fn answer(
        &mut self,
        call_id: &str,
        from_tag: &str,
        to_tag: &str,
        sdp: &str,
    ) -> Result<String, NgError> {
        let req = media_request("answer", call_id, from_tag, Some(to_tag), sdp);
        let reply = self.request(&req)?;
        reply_sdp("answer", &reply)
    }

    /// `delete` of the whole call.
    pub fn delete(&mut self, call_id: &str, from_tag: &str) -> Result<(), NgError> {
        let req = Value::dict(vec![
            ("command", Value::str("delete")),
            ("call-id", Value::str(call_id)),
            ("from-tag", Value::str(from_tag)),
        ]);
        self.request(&req).map(|_| ())
    }
}

/// An offer/answer request: SDP addresses replaced in `o=` and the session `c=` line, ICE
/// removed. The replacements go in the `replace` list, which is what Kamailio sends for its
/// `replace-origin`/`replace-session-connection` flags (rtpengine 10.5 rejects them as flags
/// with an "Unknown flag" warning).
fn media_request(
    command: &str,
    call_id: &str,
    from_tag: &str,
    to_tag: Option<&str>,
    sdp: &str,
) -> Value {
    let mut pairs = vec![
        ("command", Value::str(command)),
        ("call-id", Value::str(call_id)),
        ("from-tag", Value::str(from_tag)),
        ("sdp", Value::str(sdp)),
        ("ICE", Value::str("remove")),
        (
            "replace",
            Value::str_list(&["origin", "session-connection"]),
        ),
    ];
    if let Some(tag) = to_tag {
        pairs.push(("to-tag", Value::str(tag)));
    }
    Value::dict(pairs)
}

fn strip_cookie<'a>(reply: &'a [u8], cookie: &[u8]) -> Option<&'a [u8]> {
    let rest = reply.strip_prefix(cookie)?;
    rest.strip_prefix(b" ")
}

fn check_reply(command: &str, body: &[u8]) -> Result<Value, NgError> {
    let value = bencode::decode(body).map_err(|e| NgError::Malformed {
        command: command.to_owned(),
        reason: e.to_string(),
    })?;
    match value.get("result").and_then(Value::as_str) {
        Some("ok") | Some("pong") => Ok(value),
        Some("error") => Err(NgError::Refused {
            command: command.to_owned(),
            reason: value
                .get("error-reason")
                .and_then(Value::as_str)
                .unwrap_or("(no error-reason)")
                .to_owned(),
        }),
        other => Err(NgError::Malformed {
            command: command.to_owned(),
            reason: format!("result is {other:?}"),
        }),
    }
}

fn reply_sdp(command: &str, reply: &Value) -> Result<String, NgError> {
    reply
        .get("sdp")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| NgError::Malformed {
            command: command.to_owned(),
            reason: "no sdp in the reply".to_owned(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_checks() {
        assert!(check_reply("ping", b"d6:result4:ponge").is_ok());
        let err = check_reply("offer", b"d6:result5:error12:error-reason8:no portse");
        assert!(matches!(err, Err(NgError::Refused { reason, .. }) if reason == "no ports"));
        assert!(matches!(
            check_reply("offer", b"d6:result3:note"),
            Err(NgError::Malformed { .. })
        ));
        assert!(matches!(
            check_reply("offer", b"garbage"),
            Err(NgError::Malformed { .. })
        ));
        assert!(matches!(
            reply_sdp("offer", &Value::dict(vec![("result", Value::str("ok"))])),
            Err(NgError::Malformed { .. })
        ));
    }

    #[test]
    fn cookie_must_match() {
        assert_eq!(strip_cookie(b"abc_1 d1:ae", b"abc_1"), Some(&b"d1:ae"[..]));
        assert_eq!(strip_cookie(b"abc_12 d1:ae", b"abc_1"), None);
        assert_eq!(strip_cookie(b"abc_1", b"abc_1"), None);
    }

    #[test]
    fn refuses_non_loopback() {
        let addr: SocketAddr = "192.0.2.1:2223".parse().unwrap();
        assert!(matches!(
            NgClient::connect(addr, Duration::from_millis(10), 1),
            Err(NgError::NotLoopback(_))
        ));
    }

    #[test]
    fn offer_carries_flags() {
        let req = media_request("answer", "c", "f", Some("t"), "v=0\r\n");
        assert_eq!(req.get("ICE").and_then(Value::as_str), Some("remove"));
        assert_eq!(req.get("to-tag").and_then(Value::as_str), Some("t"));
        assert!(matches!(req.get("replace"), Some(Value::List(l)) if l.len() == 2));
    }
}
