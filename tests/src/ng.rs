//! A small ng control client (rtpengine's protocol: `<cookie> <bencoded dict>` over UDP; the
//! reply echoes the cookie), built on the workspace `ng` codec. Enough to ping the relay and
//! ask it about sessions.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ng::{decode_body, parse_reply, split_cookie, Command, OwnedValue, RequestBuilder};

use crate::error::{Error, Result};
use crate::ports::LOOPBACK;

/// Cookie counter, so every request of this process has its own cookie.
static NEXT_COOKIE: AtomicU64 = AtomicU64::new(1);

/// A client for one relay's ng socket.
#[derive(Debug)]
pub struct NgClient {
    socket: UdpSocket,
    peer: SocketAddr,
}

/// What the relay says about one Call-ID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallState {
    /// `query` answered `result: ok`: the relay still holds the call.
    Present,
    /// `query` answered an error (rtpengine: "Unknown call-id"); the reason is kept.
    Unknown(String),
}

impl NgClient {
    /// A client talking to `peer` from an ephemeral loopback port; each request waits
    /// `timeout` per try.
    pub fn new(peer: SocketAddr, timeout: Duration) -> Result<NgClient> {
        let socket = UdpSocket::bind((LOOPBACK, 0)).map_err(|e| Error::io("bind ng client", e))?;
        socket
            .set_read_timeout(Some(timeout))
            .map_err(|e| Error::io("set ng client timeout", e))?;
        Ok(NgClient { socket, peer })
    }

    /// Sends `request` and returns the reply dictionary (which has a string `result`).
    /// Retries twice on silence; a reply with another cookie is ignored.
    pub fn request(&self, request: &RequestBuilder) -> Result<OwnedValue> {
        let command = request.command.as_str();
        let cookie = format!(
            "e2e{}_{}",
            std::process::id(),
            NEXT_COOKIE.fetch_add(1, Ordering::Relaxed)
        );
        let datagram = request.to_datagram(cookie.as_bytes());
        let ng_err = |reason: String| Error::Ng {
            command: command.to_owned(),
            reason,
        };
        let mut buf = vec![0u8; 65536];
        for _try in 0..3 {
            self.socket
                .send_to(&datagram, self.peer)
                .map_err(|e| Error::io(format!("send ng {command} to {}", self.peer), e))?;
            // Drain replies until ours arrives or the socket times out.
            for _stale in 0..16 {
                let n = match self.socket.recv_from(&mut buf) {
                    Ok((n, _)) => n,
                    Err(e)
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) =>
                    {
                        break
                    }
                    // ICMP port unreachable from a relay not (yet) listening.
                    Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => break,
                    Err(e) => return Err(Error::io(format!("receive ng {command}"), e)),
                };
                let reply = buf.get(..n).unwrap_or_default();
                let (got_cookie, body) =
                    split_cookie(reply).map_err(|e| ng_err(format!("bad framing: {e}")))?;
                if got_cookie != cookie.as_bytes() {
                    continue;
                }
                let value = decode_body(body)
                    .map_err(|e| ng_err(format!("undecodable reply ({e}): {body:?}")))?;
                parse_reply(&value).map_err(|e| ng_err(format!("bad reply ({e}): {body:?}")))?;
                return Ok(value.to_owned());
            }
        }
        Err(ng_err(format!("no reply from {} after 3 tries", self.peer)))
    }

    /// `ping`: Ok when the relay answers `result: pong`.
    pub fn ping(&self) -> Result<()> {
        let reply = self.request(&RequestBuilder::new(Command::Ping))?;
        match result(&reply) {
            "pong" => Ok(()),
            other => Err(Error::Ng {
                command: "ping".into(),
                reason: format!("result {other:?}, expected \"pong\""),
            }),
        }
    }

    /// `list`: the Call-IDs the relay holds (at most `limit`).
    pub fn list(&self, limit: i64) -> Result<Vec<String>> {
        let reply = self
            .request(&RequestBuilder::new(Command::List).extra("limit", OwnedValue::Int(limit)))?;
        if result(&reply) != "ok" {
            return Err(Error::Ng {
                command: "list".into(),
                reason: format!("result {:?}: {}", result(&reply), reason(&reply)),
            });
        }
        let calls = reply
            .get("calls")
            .and_then(OwnedValue::as_list)
            .ok_or_else(|| Error::Ng {
                command: "list".into(),
                reason: "reply has no `calls` list".into(),
            })?;
        Ok(calls
            .iter()
            .map(|c| c.as_str().map_or_else(|| format!("{c:?}"), str::to_owned))
            .collect())
    }

    /// `query` for one Call-ID.
    pub fn query(&self, call_id: &str) -> Result<CallState> {
        let reply = self.request(&RequestBuilder::new(Command::Query).call_id(call_id))?;
        Ok(match result(&reply) {
            "ok" => CallState::Present,
            _ => CallState::Unknown(reason(&reply)),
        })
    }
}

fn result(reply: &OwnedValue) -> &str {
    reply
        .get("result")
        .and_then(OwnedValue::as_str)
        .unwrap_or("")
}

fn reason(reply: &OwnedValue) -> String {
    reply
        .get("error-reason")
        .and_then(OwnedValue::as_str)
        .unwrap_or("(no error-reason)")
        .to_owned()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a test failure.
mod tests {
    use super::*;
    use std::thread;

    /// A one-shot fake relay answering every request with `reply` under the request's cookie.
    fn fake(reply: &'static [u8], stale_first: bool) -> SocketAddr {
        let s = UdpSocket::bind((LOOPBACK, 0)).unwrap();
        let addr = s.local_addr().unwrap();
        thread::spawn(move || {
            let mut buf = [0u8; 2048];
            let (n, from) = s.recv_from(&mut buf).unwrap();
            let req = &buf[..n];
            let space = req.iter().position(|b| *b == b' ').unwrap();
            let body = &req[space + 1..];
            assert!(body.starts_with(b"d") && body.windows(9).any(|w| w == b"7:command"));
            if stale_first {
                s.send_to(b"other d6:result4:ponge", from).unwrap();
            }
            let mut out = req[..=space].to_vec();
            out.extend_from_slice(reply);
            s.send_to(&out, from).unwrap();
        });
        addr
    }

    #[test]
    fn ping_matches_its_cookie_and_skips_stale_replies() {
        let peer = fake(b"d6:result4:ponge", true);
        let c = NgClient::new(peer, Duration::from_secs(2)).unwrap();
        c.ping().unwrap();
    }

    #[test]
    fn list_and_query_read_rtpengine_replies() {
        let c = NgClient::new(
            fake(b"d5:callsl3:c@1e6:result2:oke", false),
            Duration::from_secs(2),
        )
        .unwrap();
        assert_eq!(c.list(10).unwrap(), vec!["c@1".to_owned()]);
        let c = NgClient::new(
            fake(b"d12:error-reason15:Unknown call-id6:result5:errore", false),
            Duration::from_secs(2),
        )
        .unwrap();
        assert_eq!(
            c.query("x").unwrap(),
            CallState::Unknown("Unknown call-id".into())
        );
    }

    #[test]
    fn silence_is_a_bounded_error() {
        let quiet = UdpSocket::bind((LOOPBACK, 0)).unwrap();
        let c = NgClient::new(quiet.local_addr().unwrap(), Duration::from_millis(50)).unwrap();
        let err = c.ping().unwrap_err().to_string();
        assert!(err.contains("no reply"), "{err}");
    }
}
