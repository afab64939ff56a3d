//! A blocking client for rtpengine's ng control protocol over UDP: `<cookie> <bencoded dict>`
//! requests, replies carrying the same cookie, retransmission on timeout. Encoding and
//! decoding are the `ng` crate's.

use crate::scope::{Ipv4Net, Scope};
use ng::{Command, IceMode, Replace, ReplyResult, RequestBuilder};
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};
use thiserror::Error;

/// Largest ng reply the client reads (SDP bodies of a few calls fit many times over).
const MAX_REPLY: usize = 65_536;

/// Why an ng request did not produce an `ok` reply.
#[derive(Debug, Error)]
pub enum NgError {
    /// The ng address is outside the accepted relay network; the tool talks to nothing else.
    #[error("ng address {0} is outside the relay network {1}")]
    OutsideRelayNet(SocketAddr, Ipv4Net),
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

/// Blocking ng client on an ephemeral port ([`Scope::ng_bind`]).
#[derive(Debug)]
pub struct NgClient {
    sock: UdpSocket,
    timeout: Duration,
    attempts: u32,
    prefix: String,
    counter: u64,
}

impl NgClient {
    /// Connects to the ng server at `server` (must be in `scope.relay_net`). Each request
    /// waits `timeout` for its reply and is sent at most `attempts` times.
    pub fn connect(
        server: SocketAddr,
        scope: Scope,
        timeout: Duration,
        attempts: u32,
    ) -> Result<Self, NgError> {
        let sock = ng_socket(server, scope)?;
        Ok(NgClient {
            sock,
            timeout: timeout.max(Duration::from_millis(1)),
            attempts: attempts.max(1),
            prefix: format!("fvload{}", std::process::id()),
            counter: 0,
        })
    }

    /// Sends `request` and returns the `sdp` of the reply (if any) once it says `result=ok`
    /// (or `pong` for a ping).
    pub fn request(&mut self, request: &RequestBuilder) -> Result<Option<String>, NgError> {
        let command = request.command.as_str().to_owned();
        self.counter += 1;
        let cookie = format!("{}_{}", self.prefix, self.counter);
        let datagram = request.to_datagram(cookie.as_bytes());

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
                match ng::split_cookie(reply) {
                    Ok((c, body)) if c == cookie.as_bytes() => return check_reply(&command, body),
                    _ => continue,
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
        self.request(&RequestBuilder::new(Command::Ping))
            .map(|_| ())
    }

    /// `offer` with the media flags the bench uses; returns the rewritten SDP.
    pub fn offer(&mut self, call_id: &str, from_tag: &str, sdp: &str) -> Result<String, NgError> {
        let req = media_request(Command::Offer, call_id, from_tag, None, sdp);
        let reply = self.request(&req)?;
        reply_sdp("offer", reply)
    }

    /// `answer` with the media flags the bench uses; returns the rewritten SDP.
    pub fn answer(
        &mut self,
        call_id: &str,
        from_tag: &str,
        to_tag: &str,
        sdp: &str,
    ) -> Result<String, NgError> {
        let req = media_request(Command::Answer, call_id, from_tag, Some(to_tag), sdp);
        let reply = self.request(&req)?;
        reply_sdp("answer", reply)
    }

    /// `delete` of the whole call.
    pub fn delete(&mut self, call_id: &str, from_tag: &str) -> Result<(), NgError> {
        let req = RequestBuilder::new(Command::Delete)
            .call_id(call_id)
            .from_tag(from_tag);
        self.request(&req).map(|_| ())
    }
}

/// A UDP socket connected to the ng server at `server`, bound where [`Scope::ng_bind`] says;
/// refused when `server` is outside `scope.relay_net`.
pub(crate) fn ng_socket(server: SocketAddr, scope: Scope) -> Result<UdpSocket, NgError> {
    if !scope.accepts(server) {
        return Err(NgError::OutsideRelayNet(server, scope.relay_net));
    }
    let sock = UdpSocket::bind(scope.ng_bind())?;
    sock.connect(server)?;
    Ok(sock)
}

/// An offer/answer request: SDP addresses replaced in `o=` and the session `c=` line, ICE
/// removed. The replacements go in the `replace` list, which is what Kamailio sends for its
/// `replace-origin`/`replace-session-connection` flags (rtpengine 10.5 rejects them as flags
/// with an "Unknown flag" warning).
pub(crate) fn media_request(
    command: Command,
    call_id: &str,
    from_tag: &str,
    to_tag: Option<&str>,
    sdp: &str,
) -> RequestBuilder {
    let mut req = RequestBuilder::new(command)
        .call_id(call_id)
        .from_tag(from_tag)
        .sdp(sdp)
        .ice(IceMode::Remove)
        .replace(Replace {
            origin: true,
            session_connection: true,
            ..Replace::default()
        });
    if let Some(tag) = to_tag {
        req = req.to_tag(tag);
    }
    req
}

fn text(b: Option<&[u8]>) -> Option<String> {
    b.map(|b| String::from_utf8_lossy(b).into_owned())
}

/// Checks a reply body; returns its `sdp` when the result is `ok` or `pong`.
pub(crate) fn check_reply(command: &str, body: &[u8]) -> Result<Option<String>, NgError> {
    let malformed = |reason: String| NgError::Malformed {
        command: command.to_owned(),
        reason,
    };
    let value = ng::decode_body(body).map_err(|e| malformed(e.to_string()))?;
    let reply = ng::parse_reply(&value).map_err(|e| malformed(e.to_string()))?;
    match reply.result {
        ReplyResult::Ok | ReplyResult::Pong => Ok(text(reply.sdp)),
        ReplyResult::Error => Err(NgError::Refused {
            command: command.to_owned(),
            reason: text(reply.error_reason).unwrap_or_else(|| "(no error-reason)".to_owned()),
        }),
        ReplyResult::LoadLimit => Err(NgError::Refused {
            command: command.to_owned(),
            reason: format!(
                "load limit{}",
                text(reply.message).map_or_else(String::new, |m| format!(": {m}"))
            ),
        }),
        ReplyResult::Other(other) => Err(malformed(format!(
            "result is {:?}",
            String::from_utf8_lossy(other)
        ))),
    }
}

fn reply_sdp(command: &str, sdp: Option<String>) -> Result<String, NgError> {
    sdp.ok_or_else(|| NgError::Malformed {
        command: command.to_owned(),
        reason: "no sdp in the reply".to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_checks() {
        assert_eq!(check_reply("ping", b"d6:result4:ponge").unwrap(), None);
        assert_eq!(
            check_reply("offer", b"d6:result2:ok3:sdp3:v=0e").unwrap(),
            Some("v=0".to_owned())
        );
        let err = check_reply("offer", b"d6:result5:error12:error-reason8:no portse");
        assert!(matches!(err, Err(NgError::Refused { reason, .. }) if reason == "no ports"));
        assert!(matches!(
            check_reply("offer", b"d6:result10:load limite"),
            Err(NgError::Refused { .. })
        ));
        assert!(matches!(
            check_reply("offer", b"d6:result3:note"),
            Err(NgError::Malformed { .. })
        ));
        assert!(matches!(
            check_reply("offer", b"garbage"),
            Err(NgError::Malformed { .. })
        ));
        assert!(matches!(
            reply_sdp("offer", None),
            Err(NgError::Malformed { .. })
        ));
    }

    #[test]
    fn refuses_outside_the_relay_net() {
        let addr: SocketAddr = "192.0.2.1:2223".parse().unwrap();
        let t = Duration::from_millis(10);
        assert!(matches!(
            NgClient::connect(addr, Scope::default(), t, 1),
            Err(NgError::OutsideRelayNet(..))
        ));
        let v6: SocketAddr = "[::1]:2223".parse().unwrap();
        assert!(matches!(
            NgClient::connect(v6, Scope::default(), t, 1),
            Err(NgError::OutsideRelayNet(..))
        ));
    }

    #[test]
    fn offer_carries_flags() {
        let req = media_request(Command::Answer, "c", "f", Some("t"), "v=0\r\n");
        let datagram = req.to_datagram(b"k");
        let (_, parsed) = ng::parse_datagram(&datagram).unwrap();
        assert_eq!(parsed.ice, IceMode::Remove);
        assert_eq!(parsed.to_tag, Some(&b"t"[..]));
        assert!(parsed.replace.origin && parsed.replace.session_connection);
        assert!(parsed.unknown_flags.is_empty());
    }
}
