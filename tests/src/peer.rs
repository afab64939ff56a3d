//! The test as both media endpoints of a call: plain UDP sockets on 127.0.0.1, RTP packets
//! built by hand, the SDP each side offers or answers, and the ng offer/answer that anchors
//! a call between two such endpoints.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use ng::{Command, OwnedValue, RequestBuilder};

use crate::error::{Error, Result};
use crate::ng::NgClient;
use crate::ports::LOOPBACK;
use crate::sip::audio_endpoints;

/// A media endpoint: one UDP socket on an ephemeral port of 127.0.0.1.
#[derive(Debug)]
pub struct Peer {
    name: &'static str,
    socket: UdpSocket,
    addr: SocketAddr,
}

/// A datagram a [`Peer`] received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// Who sent it.
    pub from: SocketAddr,
    /// Its bytes.
    pub data: Vec<u8>,
}

impl Peer {
    /// Binds a fresh socket; `name` appears in error messages.
    pub fn bind(name: &'static str) -> Result<Peer> {
        let socket =
            UdpSocket::bind((LOOPBACK, 0)).map_err(|e| Error::io(format!("bind {name}"), e))?;
        let addr = socket
            .local_addr()
            .map_err(|e| Error::io(format!("address of {name}"), e))?;
        Ok(Peer { name, socket, addr })
    }

    /// Where the socket is bound.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Sends `data` to `to`.
    pub fn send(&self, data: &[u8], to: SocketAddr) -> Result<()> {
        self.socket
            .send_to(data, to)
            .map(drop)
            .map_err(|e| Error::io(format!("{} send to {to}", self.name), e))
    }

    /// The next datagram within `limit`, or `None` after `limit` of silence.
    pub fn recv(&self, limit: Duration) -> Result<Option<Received>> {
        let mut buf = vec![0u8; 2048];
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            self.socket
                .set_read_timeout(Some(left))
                .map_err(|e| Error::io(format!("{} set timeout", self.name), e))?;
            match self.socket.recv_from(&mut buf) {
                Ok((n, from)) => {
                    return Ok(Some(Received {
                        from,
                        data: buf.get(..n).unwrap_or_default().to_vec(),
                    }))
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    return Ok(None)
                }
                // An ICMP error for an earlier send; not a datagram for us.
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => continue,
                Err(e) => return Err(Error::io(format!("{} receive", self.name), e)),
            }
        }
    }

    /// Every datagram that arrives within `window` (bounded: at most 1000).
    pub fn collect(&self, window: Duration) -> Result<Vec<Received>> {
        let deadline = Instant::now() + window;
        let mut out = Vec::new();
        while out.len() < 1000 {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.recv(left)? {
                Some(r) => out.push(r),
                None => break,
            }
        }
        Ok(out)
    }

    /// The next datagram within `limit`; an error naming the peer if none arrives.
    pub fn expect(&self, limit: Duration, what: &str) -> Result<Received> {
        self.recv(limit)?.ok_or_else(|| Error::Timeout {
            what: format!("{} to receive {what}", self.name),
            waited: limit,
        })
    }
}

/// An RTP packet (RFC 3550 5.1): version 2, no padding, extension or CSRCs, payload type 0
/// (PCMU), the given sequence number, timestamp and SSRC, and `payload`.
pub fn rtp(seq: u16, timestamp: u32, ssrc: u32, payload: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(12 + payload.len());
    p.push(0x80);
    p.push(0);
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&timestamp.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

/// The SSRC of an RTP packet (bytes 8..12), if it is long enough.
pub fn ssrc_of(packet: &[u8]) -> Option<u32> {
    packet
        .get(8..12)
        .and_then(|b| b.try_into().ok())
        .map(u32::from_be_bytes)
}

/// An audio-only SDP (RFC 4566) naming 127.0.0.1:`port` for PCMU, CRLF line ends.
pub fn audio_sdp(port: u16, session: u32) -> String {
    format!(
        "v=0\r\n\
         o=- {session} 1 IN IP4 127.0.0.1\r\n\
         s=-\r\n\
         c=IN IP4 127.0.0.1\r\n\
         t=0 0\r\n\
         m=audio {port} RTP/AVP 0\r\n\
         a=rtpmap:0 PCMU/8000\r\n\
         a=sendrecv\r\n"
    )
}

/// The relay endpoint a rewritten SDP announces (its only audio stream).
pub fn announced(reply: &OwnedValue, command: &str) -> Result<SocketAddr> {
    let bad = |reason: String| Error::Ng {
        command: command.to_owned(),
        reason,
    };
    let result = reply.get("result").and_then(OwnedValue::as_str);
    if result != Some("ok") {
        return Err(bad(format!("not ok: {reply:?}")));
    }
    let sdp = reply
        .get("sdp")
        .and_then(OwnedValue::as_str)
        .ok_or_else(|| bad(format!("reply has no sdp: {reply:?}")))?;
    match audio_endpoints(sdp).as_slice() {
        [one] => Ok(*one),
        other => Err(bad(format!(
            "expected one audio endpoint in the SDP, found {other:?}:\n{sdp}"
        ))),
    }
}

/// The ng `offer` for `call_id` from `from_tag` with `sdp`.
pub fn offer_request(call_id: &str, from_tag: &str, sdp: &str) -> RequestBuilder {
    RequestBuilder::new(Command::Offer)
        .call_id(call_id)
        .from_tag(from_tag)
        .sdp(sdp)
}

/// A call anchored on the relay between two endpoints: the caller `a` (leg of the from-tag)
/// and the callee `b`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anchored {
    /// Call-ID.
    pub call_id: String,
    /// The caller's tag.
    pub from_tag: String,
    /// The callee's tag.
    pub to_tag: String,
    /// Where the caller sends (announced to it in the rewritten answer).
    pub relay_for_a: SocketAddr,
    /// Where the callee sends (announced to it in the rewritten offer).
    pub relay_for_b: SocketAddr,
}

impl Anchored {
    /// Offers `a`'s SDP and answers with `b`'s; returns where each must send.
    pub fn call(ng: &NgClient, call_id: &str, a: SocketAddr, b: SocketAddr) -> Result<Anchored> {
        let relay_for_b = Self::offer_only(ng, call_id, a)?;
        let from_tag = format!("{call_id}-a");
        let to_tag = format!("{call_id}-b");
        let answer = ng.request(
            &RequestBuilder::new(Command::Answer)
                .call_id(call_id)
                .from_tag(from_tag.as_str())
                .to_tag(to_tag.as_str())
                .sdp(audio_sdp(b.port(), 2)),
        )?;
        let relay_for_a = announced(&answer, "answer")?;
        Ok(Anchored {
            call_id: call_id.to_owned(),
            from_tag,
            to_tag,
            relay_for_a,
            relay_for_b,
        })
    }

    /// Only the offer of [`Anchored::call`]: returns where the callee would send.
    pub fn offer_only(ng: &NgClient, call_id: &str, a: SocketAddr) -> Result<SocketAddr> {
        let from_tag = format!("{call_id}-a");
        let offer = ng.request(&offer_request(call_id, &from_tag, &audio_sdp(a.port(), 1)))?;
        announced(&offer, "offer")
    }

    /// Waits until the relay's worker has applied the offer and the answer: ng `query`
    /// gathers its statistics from the worker over the same ordered command ring that carried
    /// the flow updates, so its reply comes only after those were applied. Tests of something
    /// other than that timing call this before sending media.
    pub fn settle(&self, ng: &NgClient) -> Result<()> {
        let reply =
            ng.request(&RequestBuilder::new(Command::Query).call_id(self.call_id.as_str()))?;
        match reply.get("result").and_then(OwnedValue::as_str) {
            Some("ok") => Ok(()),
            _ => Err(Error::Ng {
                command: "query".into(),
                reason: format!("{} is not known: {reply:?}", self.call_id),
            }),
        }
    }

    /// ng `delete` of the call; the whole reply.
    pub fn delete(&self, ng: &NgClient) -> Result<OwnedValue> {
        ng.request(
            &RequestBuilder::new(Command::Delete)
                .call_id(self.call_id.as_str())
                .from_tag(self.from_tag.as_str()),
        )
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a test failure.
mod tests {
    use super::*;

    #[test]
    fn rtp_packets_have_the_fixed_header() {
        let p = rtp(0x0102, 0x0304_0506, 0xdead_beef, b"xy");
        assert_eq!(p.len(), 14);
        let v = crate::rtp::RtpView::parse(&p).unwrap();
        assert_eq!((v.payload_type, v.seq, v.ssrc), (0, 0x0102, 0xdead_beef));
        assert_eq!(v.payload, b"xy");
        assert_eq!(ssrc_of(&p), Some(0xdead_beef));
        assert_eq!(ssrc_of(&p[..11]), None);
    }

    #[test]
    fn the_announced_endpoint_is_read_from_an_ok_reply() {
        let mut ok = OwnedValue::Dict(Vec::new());
        assert!(ok.insert("result", OwnedValue::bytes("ok")));
        assert!(ok.insert("sdp", OwnedValue::bytes(audio_sdp(30002, 1))));
        assert_eq!(
            announced(&ok, "offer").unwrap(),
            SocketAddr::from((LOOPBACK, 30002))
        );
        let mut err = OwnedValue::Dict(Vec::new());
        assert!(err.insert("result", OwnedValue::bytes("error")));
        assert!(announced(&err, "offer").is_err());
    }

    #[test]
    fn peers_exchange_datagrams_and_silence_is_bounded() {
        let a = Peer::bind("a").unwrap();
        let b = Peer::bind("b").unwrap();
        a.send(b"hi", b.addr()).unwrap();
        let got = b.expect(Duration::from_secs(2), "hi").unwrap();
        assert_eq!(
            (got.from, got.data.as_slice()),
            (a.addr(), b"hi".as_slice())
        );
        let start = Instant::now();
        assert!(b.recv(Duration::from_millis(50)).unwrap().is_none());
        assert!(start.elapsed() < Duration::from_secs(1));
        assert!(b.collect(Duration::from_millis(20)).unwrap().is_empty());
    }
}
