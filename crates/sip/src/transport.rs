//! The SIP transports (RFC 3261 §18), one type for every crate that names one: the proxy, the
//! DNS locator (RFC 3263), the configuration and the test network.

use std::fmt;
use std::str::FromStr;

/// A SIP transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Transport {
    /// UDP: unreliable, the transaction layer retransmits (RFC 3261 §17, §18.1.1).
    Udp,
    /// TCP: reliable, a stream framed by Content-Length (RFC 3261 §18.3).
    Tcp,
    /// TLS over TCP (RFC 3261 §26.2; required for `sips:` URIs, RFC 3263 §4.1).
    Tls,
}

impl Transport {
    /// Every transport, in the order above.
    pub const ALL: [Transport; 3] = [Transport::Udp, Transport::Tcp, Transport::Tls];

    /// The lower-case token of the `transport=` URI parameter and of the config
    /// (RFC 3261 §19.1.1); the Via sent-protocol uses the upper case form.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
            Transport::Tls => "tls",
        }
    }

    /// The token of the Via header's sent-protocol (`SIP/2.0/UDP`, RFC 3261 §20.42).
    pub fn via_token(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
            Transport::Tls => "TLS",
        }
    }

    /// Whether the transport itself delivers reliably (no retransmission timers A, E, G;
    /// RFC 3261 §17.1.1.2).
    pub fn is_reliable(self) -> bool {
        !matches!(self, Transport::Udp)
    }

    /// The default port: 5061 for TLS, 5060 otherwise (RFC 3261 §19.1.2).
    pub fn default_port(self) -> u16 {
        match self {
            Transport::Tls => 5061,
            Transport::Udp | Transport::Tcp => 5060,
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A transport token that is not one of UDP, TCP, TLS.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown SIP transport {0:?} (expected udp, tcp or tls)")]
pub struct UnknownTransport(pub String);

impl FromStr for Transport {
    type Err = UnknownTransport;
    /// Case-insensitive, as URI parameter values and Via tokens are (RFC 3261 §19.1.4, §7.3.1).
    fn from_str(s: &str) -> Result<Self, UnknownTransport> {
        Transport::ALL
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownTransport(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_case_is_ignored() {
        for t in Transport::ALL {
            assert_eq!(t.as_str().parse::<Transport>(), Ok(t));
            assert_eq!(t.via_token().parse::<Transport>(), Ok(t));
        }
        assert!("sctp".parse::<Transport>().is_err());
        assert_eq!(Transport::Tls.default_port(), 5061);
        assert!(!Transport::Udp.is_reliable() && Transport::Tcp.is_reliable());
    }
}
