//! The compact transport endpoint stored in per-port records.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// The 12-byte prefix of an IPv4-mapped IPv6 address, `::ffff:0:0/96` (RFC 4291 §2.5.5.2).
#[cfg(test)]
const V4_MAPPED_PREFIX: [u8; 12] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff];
/// The same prefix as the high 96 bits of a 128-bit big-endian integer.
const V4_MAPPED_HIGH: u128 = 0xffff;

/// A transport endpoint in compact form for the per-port records: IPv4 as IPv4-mapped IPv6
/// (`::ffff:a.b.c.d`, RFC 4291 §2.5.5.2), port in host order. All-zero means unset.
///
/// An IPv6 socket address that is itself IPv4-mapped is indistinguishable from the IPv4 one;
/// this is intended (such addresses never appear on the wire, see [`crate::frame`]).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
#[repr(C)]
pub struct Endpoint {
    /// The IPv6 address, or the IPv4-mapped IPv6 form of an IPv4 address, in network order.
    pub ip: [u8; 16],
    /// The UDP port in host order.
    pub port: u16,
}

impl Endpoint {
    /// The unset endpoint (all zero).
    pub const UNSET: Endpoint = Endpoint {
        ip: [0; 16],
        port: 0,
    };

    /// An IPv4 endpoint.
    #[inline]
    pub const fn new_v4(ip: [u8; 4], port: u16) -> Self {
        let [a, b, c, d] = ip;
        Endpoint {
            ip: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, a, b, c, d],
            port,
        }
    }

    /// An IPv6 endpoint (an IPv4-mapped `ip` makes it an IPv4 endpoint).
    #[inline]
    pub const fn new_v6(ip: [u8; 16], port: u16) -> Self {
        Endpoint { ip, port }
    }

    /// Converts a standard socket address.
    #[inline]
    pub fn from_socket_addr(addr: SocketAddr) -> Self {
        match addr {
            SocketAddr::V4(a) => Self::new_v4(a.ip().octets(), a.port()),
            SocketAddr::V6(a) => Self::new_v6(a.ip().octets(), a.port()),
        }
    }

    /// Converts to a standard socket address (IPv4 for IPv4-mapped addresses; flow info and
    /// scope id are zero).
    #[inline]
    pub fn to_socket_addr(&self) -> SocketAddr {
        match self.v4() {
            Some(v4) => SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::from(v4), self.port)),
            None => SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::from(self.ip), self.port, 0, 0)),
        }
    }

    /// The address alone.
    #[inline]
    pub fn ip_addr(&self) -> IpAddr {
        self.to_socket_addr().ip()
    }

    /// True when every byte is zero (no address and no port).
    #[inline]
    pub fn is_unset(&self) -> bool {
        *self == Self::UNSET
    }

    /// True when the address is IPv4 (stored IPv4-mapped).
    #[inline]
    pub fn is_v4(&self) -> bool {
        // One 128-bit compare instead of twelve byte compares (this is on the packet path).
        u128::from_be_bytes(self.ip) >> 32 == V4_MAPPED_HIGH
    }

    /// The IPv4 address, if this is an IPv4 endpoint.
    #[inline]
    pub fn v4(&self) -> Option<[u8; 4]> {
        let x = u128::from_be_bytes(self.ip);
        // The low 32 bits are the IPv4 address (truncation intended).
        (x >> 32 == V4_MAPPED_HIGH).then(|| (x as u32).to_be_bytes())
    }

    /// True when both endpoints have the same address, whatever their ports.
    #[inline]
    pub fn same_ip(&self, other: &Endpoint) -> bool {
        self.ip == other.ip
    }
}

impl From<SocketAddr> for Endpoint {
    #[inline]
    fn from(addr: SocketAddr) -> Self {
        Self::from_socket_addr(addr)
    }
}

impl From<Endpoint> for SocketAddr {
    #[inline]
    fn from(ep: Endpoint) -> Self {
        ep.to_socket_addr()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_compact() {
        assert_eq!(std::mem::size_of::<Endpoint>(), 18);
        assert_eq!(std::mem::align_of::<Endpoint>(), 2);
    }

    #[test]
    fn default_is_unset_and_all_zero() {
        let e = Endpoint::default();
        assert!(e.is_unset());
        assert_eq!(e, Endpoint::UNSET);
        assert!(!e.is_v4());
        assert!(!Endpoint::new_v4([0, 0, 0, 0], 0).is_unset());
        assert!(!Endpoint::new_v6([0; 16], 1).is_unset());
    }

    #[test]
    fn v4_round_trip_is_mapped() {
        let sa: SocketAddr = "192.0.2.7:4000".parse().unwrap();
        let e = Endpoint::from_socket_addr(sa);
        assert!(e.is_v4());
        assert_eq!(e.v4(), Some([192, 0, 2, 7]));
        assert_eq!(e.port, 4000);
        assert_eq!(&e.ip[..12], &V4_MAPPED_PREFIX);
        assert_eq!(e.to_socket_addr(), sa);
        assert_eq!(e, Endpoint::new_v4([192, 0, 2, 7], 4000));
        assert_eq!(SocketAddr::from(e), sa);
    }

    #[test]
    fn v6_round_trip() {
        let sa: SocketAddr = "[2001:db8::1]:5004".parse().unwrap();
        let e = Endpoint::from(sa);
        assert!(!e.is_v4());
        assert_eq!(e.v4(), None);
        assert_eq!(e.to_socket_addr(), sa);
        assert_eq!(e.ip_addr(), sa.ip());
    }

    #[test]
    fn mapped_v6_socket_addr_becomes_v4() {
        let sa: SocketAddr = "[::ffff:10.0.0.1]:9".parse().unwrap();
        let e = Endpoint::from(sa);
        assert!(e.is_v4());
        assert_eq!(
            e.to_socket_addr(),
            "10.0.0.1:9".parse::<SocketAddr>().unwrap()
        );
    }

    #[test]
    fn same_ip_ignores_port() {
        let a = Endpoint::new_v4([127, 0, 0, 1], 1);
        let b = Endpoint::new_v4([127, 0, 0, 1], 2);
        let c = Endpoint::new_v4([127, 0, 0, 2], 1);
        assert!(a.same_ip(&b));
        assert!(!a.same_ip(&c));
        assert_ne!(a, b);
    }
}
