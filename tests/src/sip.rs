//! Just enough SIP and SDP reading to follow calls in a capture: start line, Call-ID, CSeq
//! method, and the audio endpoints an SDP body announces.

use std::net::{IpAddr, SocketAddr};

/// The start line of a SIP message (RFC 3261 7.1, 7.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartLine {
    /// A request and its method.
    Request(String),
    /// A response and its status code.
    Response(u16),
}

/// What the tests need from one SIP message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipMessage {
    /// Request or response.
    pub start: StartLine,
    /// The Call-ID header value.
    pub call_id: String,
    /// The method of the CSeq header.
    pub cseq_method: String,
    /// Audio RTP endpoints of the SDP body (empty if there is none).
    pub audio: Vec<SocketAddr>,
}

impl SipMessage {
    /// Parses a UDP payload; `None` if it is not a SIP message with Call-ID and CSeq.
    pub fn parse(payload: &[u8]) -> Option<SipMessage> {
        let text = std::str::from_utf8(payload).ok()?;
        let (head, body) = match text.find("\r\n\r\n") {
            Some(i) => (text.get(..i)?, text.get(i + 4..)?),
            None => (text, ""),
        };
        let mut lines = head.lines();
        let first = lines.next()?.trim_end();
        let start = if let Some(rest) = first.strip_prefix("SIP/2.0 ") {
            StartLine::Response(rest.get(..3)?.parse().ok()?)
        } else {
            let (method, rest) = first.split_once(' ')?;
            if !rest.ends_with("SIP/2.0") || method.is_empty() {
                return None;
            }
            StartLine::Request(method.to_owned())
        };
        let mut call_id = None;
        let mut cseq_method = None;
        for line in lines {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let name = name.trim();
            let value = value.trim();
            // RFC 3261 7.3.3: "i" is the compact form of Call-ID.
            if name.eq_ignore_ascii_case("call-id") || name.eq_ignore_ascii_case("i") {
                call_id = Some(value.to_owned());
            } else if name.eq_ignore_ascii_case("cseq") {
                cseq_method = value.split_whitespace().nth(1).map(str::to_owned);
            }
        }
        Some(SipMessage {
            start,
            call_id: call_id?,
            cseq_method: cseq_method?,
            audio: audio_endpoints(body),
        })
    }

    /// Whether this is a request with `method`.
    pub fn is_request(&self, method: &str) -> bool {
        matches!(&self.start, StartLine::Request(m) if m == method)
    }

    /// The status code if this is a response.
    pub fn status(&self) -> Option<u16> {
        match self.start {
            StartLine::Response(code) => Some(code),
            StartLine::Request(_) => None,
        }
    }
}

/// The `(c= address, m= port)` of every `m=audio` line with a non-zero port (RFC 4566 5.7,
/// 5.14: a media-level `c=` overrides the session-level one; port 0 means disabled).
pub fn audio_endpoints(sdp: &str) -> Vec<SocketAddr> {
    let mut session_addr: Option<IpAddr> = None;
    let mut out = Vec::new();
    // (port, media-level address) of the audio section being read.
    let mut current: Option<(u16, Option<IpAddr>)> = None;
    let mut flush = |current: &mut Option<(u16, Option<IpAddr>)>, session: Option<IpAddr>| {
        if let Some((port, addr)) = current.take() {
            if let Some(ip) = addr.or(session) {
                if port != 0 {
                    out.push(SocketAddr::new(ip, port));
                }
            }
        }
    };
    let mut in_media = false;
    for line in sdp.lines().map(str::trim_end) {
        if let Some(m) = line.strip_prefix("m=") {
            flush(&mut current, session_addr);
            in_media = true;
            let mut fields = m.split_whitespace();
            if fields.next() == Some("audio") {
                // "<port>" or "<port>/<count>"
                let port = fields
                    .next()
                    .and_then(|p| p.split('/').next())
                    .and_then(|p| p.parse().ok());
                current = port.map(|p| (p, None));
            }
        } else if let Some(c) = line.strip_prefix("c=") {
            // "IN IP4 <addr>" (a multicast "/ttl" suffix is cut).
            let addr = c
                .split_whitespace()
                .nth(2)
                .and_then(|a| a.split('/').next())
                .and_then(|a| a.parse().ok());
            if !in_media {
                session_addr = addr;
            } else if let Some((_, media_addr)) = current.as_mut() {
                *media_addr = addr;
            }
        }
    }
    flush(&mut current, session_addr);
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a test failure.
mod tests {
    use super::*;

    const INVITE: &str = "INVITE sip:service@127.0.0.1:5060 SIP/2.0\r\n\
        Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK-1\r\n\
        i: 1-2@127.0.0.1\r\n\
        CSeq: 1 INVITE\r\n\
        Content-Type: application/sdp\r\n\r\n\
        v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
        m=audio 20100 RTP/AVP 0\r\n\
        m=video 0 RTP/AVP 96\r\n\
        m=audio 20102 RTP/AVP 8\r\nc=IN IP4 127.0.0.2\r\n\
        m=audio 0 RTP/AVP 8\r\n";

    #[test]
    fn reads_request_headers_and_sdp_endpoints() {
        let m = SipMessage::parse(INVITE.as_bytes()).unwrap();
        assert!(m.is_request("INVITE"));
        assert_eq!(m.call_id, "1-2@127.0.0.1");
        assert_eq!(m.cseq_method, "INVITE");
        assert_eq!(
            m.audio,
            vec![
                "127.0.0.1:20100".parse().unwrap(),
                "127.0.0.2:20102".parse().unwrap()
            ]
        );
    }

    #[test]
    fn reads_responses_without_body() {
        let m = SipMessage::parse(
            b"SIP/2.0 487 Request Terminated\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n\r\n",
        )
        .unwrap();
        assert_eq!(m.status(), Some(487));
        assert!(m.audio.is_empty());
    }

    #[test]
    fn ignores_what_is_not_sip() {
        assert_eq!(SipMessage::parse(b"\x80\x00\x01\x02"), None);
        assert_eq!(SipMessage::parse(b"d7:command4:pinge"), None);
        assert_eq!(SipMessage::parse(b"SIP/2.0 2"), None);
        assert_eq!(
            SipMessage::parse(b"OPTIONS sip:x SIP/2.0\r\nCSeq: 1 OPTIONS\r\n\r\n"),
            None
        );
    }
}
