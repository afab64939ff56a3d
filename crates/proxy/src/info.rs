//! What the proxy reads from a request once, owned: the fields that match it to a server
//! transaction (RFC 3261 §17.2.3), route it and detect loops (§16.3, §16.6 item 8).

use crate::util;
use sip::Transport;
use sip::{Message, Method};
use std::net::{IpAddr, SocketAddr};

/// The RFC 3261 branch magic cookie (§8.1.1.7).
pub(crate) const MAGIC: &str = "z9hG4bK";

/// The prefix of every branch this element generates.
pub(crate) const BRANCH_PREFIX: &str = "z9hG4bKfvx";

/// Where a request arrived: transport, our address, the sender's.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Arrival {
    pub transport: Transport,
    pub local: SocketAddr,
    pub from: SocketAddr,
}

impl Arrival {
    /// Where responses to `msg` go: the connection over a reliable transport, else by the
    /// top Via.
    pub(crate) fn reply_to(self, msg: &Message<'_>) -> SocketAddr {
        if self.transport.is_reliable() {
            self.from
        } else {
            reply_target(msg, self.from).unwrap_or(self.from)
        }
    }
}

/// What the request path reads from a request, owned.
#[derive(Debug, Clone)]
pub(crate) struct ReqInfo {
    pub method: Method,
    pub ruri: String,
    pub call_id: String,
    pub cseq: u32,
    pub from_tag: String,
    pub from_user: String,
    pub to_tag: Option<String>,
    pub to_user: String,
    pub branch: Option<String>,
    pub sent_by: String,
    /// The top Via in canonical form, for the RFC 2543 key only: empty when the branch has
    /// the magic cookie.
    pub top_via: String,
    /// The top Via's sent-by host when it is an IP literal.
    pub via_ip: Option<IpAddr>,
    /// The top Via's sent-by port, if written.
    pub via_port: Option<u16>,
    /// Whether the top Via carries `rport` (RFC 3581).
    pub via_rport: bool,
}

impl ReqInfo {
    /// Reads the fields every request must carry (RFC 3261 §8.1.1, §16.3 item 1).
    pub(crate) fn read(msg: &Message<'_>) -> Result<Self, sip::SipError> {
        let via = msg.top_via()?;
        let from = msg.from()?;
        let to = msg.to()?;
        let cseq = msg.cseq()?;
        let method = msg.request_method().ok_or(sip::SipError::BadCSeq)?;
        if Method::parse(&cseq.method) != method {
            return Err(sip::SipError::BadCSeq);
        }
        let user = |n: &sip::NameAddr| {
            n.parsed_uri()
                .ok()
                .and_then(|u| u.user.map(str::to_string))
                .unwrap_or_default()
        };
        Ok(ReqInfo {
            method,
            ruri: msg.request_uri().unwrap_or_default().to_string(),
            call_id: msg.call_id()?.into_owned(),
            cseq: cseq.number,
            from_tag: from.tag().unwrap_or_default().to_string(),
            from_user: user(&from),
            to_tag: to.tag().map(str::to_string),
            to_user: user(&to),
            branch: via.branch().map(str::to_string),
            sent_by: {
                let mut s = via.host.to_ascii_lowercase();
                if let Some(p) = via.port {
                    s.push(':');
                    util::push_decimal(&mut s, u64::from(p));
                }
                s
            },
            // Only the RFC 2543 key (no magic cookie, `server_key_as`) uses the whole Via.
            top_via: match via.branch() {
                Some(b) if b.starts_with(MAGIC) => String::new(),
                _ => via.to_string(),
            },
            via_ip: util::ip_literal(&via.host),
            via_port: via.port,
            via_rport: matches!(via.rport(), Ok(Some(_))),
        })
    }

    /// Where responses to this request go, as [`Arrival::reply_to`] says, from the top Via
    /// read once (RFC 3261 §18.2.2, RFC 3581 §4).
    pub(crate) fn reply_to(&self, arrival: Arrival) -> SocketAddr {
        if arrival.transport.is_reliable() {
            return arrival.from;
        }
        let port = match self.via_rport {
            true => arrival.from.port(),
            false => self.via_port.unwrap_or(5060),
        };
        SocketAddr::new(arrival.from.ip(), port)
    }

    /// The key of the server transaction this request belongs to (RFC 3261 §17.2.3), as if
    /// its method were `method`: branch, sent-by and method, with ACK matching the INVITE.
    /// Requests without the magic cookie (RFC 2543) are keyed by Call-ID, CSeq number, From
    /// tag and the whole top Via (§17.2.3, last paragraphs, simplified).
    pub(crate) fn server_key_as(&self, method: &Method) -> String {
        let method = match method {
            Method::Ack => Method::Invite.as_str(),
            m => m.as_str(),
        };
        let mut key = String::with_capacity(64);
        match &self.branch {
            Some(b) if b.starts_with(MAGIC) => {
                for part in ["b|", b, "|", &self.sent_by, "|", method] {
                    key.push_str(part);
                }
            }
            _ => {
                key.push_str("c|");
                key.push_str(&self.call_id);
                key.push('|');
                util::push_decimal(&mut key, u64::from(self.cseq));
                for part in ["|", &self.from_tag, "|", &self.top_via, "|", method] {
                    key.push_str(part);
                }
            }
        }
        key
    }

    /// The key of the server transaction of this request.
    pub(crate) fn server_key(&self) -> String {
        self.server_key_as(&self.method)
    }

    /// An initial INVITE (outside a dialog): the one request that creates a call.
    pub(crate) fn initial_invite(&self) -> bool {
        self.method.is_invite() && self.to_tag.is_none()
    }

    /// The loop-detection hash (RFC 3261 §16.6 item 8, without the top Via so that a request
    /// coming back unchanged is recognised).
    pub(crate) fn loop_hash(&self) -> u32 {
        util::loop_hash(&[
            self.ruri.as_bytes(),
            self.from_tag.as_bytes(),
            self.to_tag.as_deref().unwrap_or_default().as_bytes(),
            self.call_id.as_bytes(),
            util::decimal(u64::from(self.cseq), &mut [0u8; 20]),
        ])
    }
}

/// Where responses to a request go (RFC 3261 §18.2.2 for UDP, RFC 3581 §4): the source IP,
/// and the source port when the top Via asked with `rport`, else the sent-by port (5060 when
/// absent). Over TCP the source address (the connection) is used by the caller.
pub(crate) fn reply_target(msg: &Message<'_>, from: SocketAddr) -> Option<SocketAddr> {
    let via = msg.top_via().ok()?;
    let port = match via.rport() {
        Ok(Some(_)) => from.port(),
        _ => via.port.unwrap_or(5060),
    };
    Some(SocketAddr::new(from.ip(), port))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a test failure.

    use super::*;

    /// The reply address from the fields read once is the one read from the message again.
    #[test]
    fn reply_to_from_the_read_fields_is_the_messages() {
        let vias = [
            "SIP/2.0/UDP 192.0.2.1:5070;branch=z9hG4bKa;rport",
            "SIP/2.0/UDP 192.0.2.1:5070;branch=z9hG4bKa",
            "SIP/2.0/UDP caller.example.net;branch=z9hG4bKa",
            "SIP/2.0/UDP [2001:db8::1]:5080;rport=5999;branch=z9hG4bKa",
        ];
        for via in vias {
            let text = format!(
                "OPTIONS sip:lb.example.net SIP/2.0\r\nVia: {via}\r\nFrom: <sip:a@b>;tag=1\r\n\
                 To: <sip:lb.example.net>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\n\r\n"
            );
            let msg = sip::parse(text.as_bytes()).unwrap();
            let info = ReqInfo::read(&msg).unwrap();
            for transport in [Transport::Udp, Transport::Tcp] {
                let arrival = Arrival {
                    transport,
                    local: "127.0.0.1:5060".parse().unwrap(),
                    from: "198.51.100.7:40000".parse().unwrap(),
                };
                assert_eq!(info.reply_to(arrival), arrival.reply_to(&msg), "{via}");
            }
        }
    }
}
