//! Where the load tool may send: the address its endpoints bind to and the network the relay's
//! addresses (ng and rewritten SDP) must lie in. The default is loopback on both sides; a run
//! between network namespaces names the tool's veth address and the relay's subnet.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::str::FromStr;
use thiserror::Error;

/// Why a network in CIDR notation does not parse.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NetError {
    /// Not `A.B.C.D/PREFIX`.
    #[error("{0:?} is not an IPv4 network A.B.C.D/PREFIX")]
    Syntax(String),
    /// The prefix is wider than the tool accepts (it would send to much of the internet).
    #[error("prefix /{0} is wider than /{MIN_PREFIX}")]
    TooWide(u8),
    /// Host bits are set below the prefix (`10.0.0.1/24` instead of `10.0.0.0/24`).
    #[error("{0} has host bits set below its prefix")]
    HostBits(String),
}

/// The widest network accepted: a /8 (all of 127.0.0.0/8, or one private /8).
pub const MIN_PREFIX: u8 = 8;

/// An IPv4 network: an address and a prefix length (RFC 4632 §3.1 notation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Net {
    base: Ipv4Addr,
    prefix: u8,
}

impl Ipv4Net {
    /// 127.0.0.0/8, the loopback network (RFC 1122 §3.2.1.3).
    pub const LOOPBACK: Ipv4Net = Ipv4Net {
        base: Ipv4Addr::new(127, 0, 0, 0),
        prefix: 8,
    };

    fn mask(self) -> u32 {
        u32::MAX
            .checked_shl(32 - u32::from(self.prefix))
            .unwrap_or(0)
    }

    /// Whether `ip` lies in the network.
    pub fn contains(self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask() == u32::from(self.base)
    }
}

impl FromStr for Ipv4Net {
    type Err = NetError;

    fn from_str(s: &str) -> Result<Self, NetError> {
        let syntax = || NetError::Syntax(s.to_owned());
        let (addr, prefix) = s.split_once('/').ok_or_else(syntax)?;
        let base: Ipv4Addr = addr.parse().map_err(|_| syntax())?;
        let prefix: u8 = prefix.parse().map_err(|_| syntax())?;
        if prefix > 32 {
            return Err(syntax());
        }
        if prefix < MIN_PREFIX {
            return Err(NetError::TooWide(prefix));
        }
        let net = Ipv4Net { base, prefix };
        if u32::from(base) & !net.mask() != 0 {
            return Err(NetError::HostBits(s.to_owned()));
        }
        Ok(net)
    }
}

impl fmt::Display for Ipv4Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.base, self.prefix)
    }
}

/// The tool's own address and the relay's network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scope {
    /// The address every endpoint binds to and the tool's SDP names.
    pub local: Ipv4Addr,
    /// Relay addresses accepted: the ng address and every address in a rewritten SDP.
    pub relay_net: Ipv4Net,
}

impl Default for Scope {
    /// Loopback: endpoints on 127.0.0.1, relay addresses in 127.0.0.0/8.
    fn default() -> Self {
        Scope {
            local: Ipv4Addr::LOCALHOST,
            relay_net: Ipv4Net::LOOPBACK,
        }
    }
}

impl Scope {
    /// Whether the tool may send to `addr` (an IPv4 address in the relay network).
    pub fn accepts(&self, addr: SocketAddr) -> bool {
        match addr {
            SocketAddr::V4(a) => self.relay_net.contains(*a.ip()),
            SocketAddr::V6(_) => false,
        }
    }

    /// Where the ng client binds: loopback when the relay net is loopback, else the wildcard
    /// address (the kernel picks the source on the route to the relay's ng address, which
    /// may be on another link than the media: a control network beside the data one).
    pub fn ng_bind(&self) -> SocketAddr {
        if self.relay_net == Ipv4Net::LOOPBACK {
            SocketAddr::from((Ipv4Addr::LOCALHOST, 0))
        } else {
            SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_contains() {
        let n: Ipv4Net = "10.77.0.0/16".parse().unwrap();
        assert!(n.contains(Ipv4Addr::new(10, 77, 3, 4)));
        assert!(!n.contains(Ipv4Addr::new(10, 78, 0, 1)));
        assert_eq!(n.to_string(), "10.77.0.0/16");
        let host: Ipv4Net = "10.0.0.1/32".parse().unwrap();
        assert!(host.contains(Ipv4Addr::new(10, 0, 0, 1)));
        assert!(!host.contains(Ipv4Addr::new(10, 0, 0, 2)));
        assert_eq!("127.0.0.0/8".parse(), Ok(Ipv4Net::LOOPBACK));
        assert!(Ipv4Net::LOOPBACK.contains(Ipv4Addr::new(127, 9, 9, 9)));
        assert!(!Ipv4Net::LOOPBACK.contains(Ipv4Addr::new(128, 0, 0, 1)));
    }

    #[test]
    fn refuses() {
        for bad in [
            "10.0.0.0",
            "10.0.0.0/33",
            "10.0.0/8",
            "x/8",
            "10.0.0.0/-1",
            "::1/128",
        ] {
            assert!(
                matches!(bad.parse::<Ipv4Net>(), Err(NetError::Syntax(_))),
                "{bad}"
            );
        }
        assert_eq!("0.0.0.0/0".parse::<Ipv4Net>(), Err(NetError::TooWide(0)));
        assert_eq!("10.0.0.0/7".parse::<Ipv4Net>(), Err(NetError::TooWide(7)));
        assert!(matches!(
            "10.0.0.1/24".parse::<Ipv4Net>(),
            Err(NetError::HostBits(_))
        ));
    }

    #[test]
    fn default_scope_is_loopback() {
        let s = Scope::default();
        assert!(s.accepts("127.0.0.1:2223".parse().unwrap()));
        assert!(!s.accepts("192.0.2.1:2223".parse().unwrap()));
        assert!(!s.accepts("[::1]:2223".parse().unwrap()));
        assert_eq!(s.ng_bind(), "127.0.0.1:0".parse().unwrap());
        let ns = Scope {
            local: Ipv4Addr::new(10, 77, 0, 100),
            relay_net: "10.77.0.0/16".parse().unwrap(),
        };
        assert_eq!(ns.ng_bind(), "0.0.0.0:0".parse().unwrap());
    }
}
