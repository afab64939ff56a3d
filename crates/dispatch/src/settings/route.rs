//! Routes (`[[route]]`): which set a request goes to, by source and Request-URI; and the CIDR
//! networks they and REGISTER use.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// An IP network in CIDR notation (`"10.0.0.0/8"`, `"2001:db8::/32"`; a bare address is a
/// single host).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    /// The network address (host bits are zero).
    pub addr: IpAddr,
    /// Prefix length: 0..=32 for IPv4, 0..=128 for IPv6.
    pub prefix_len: u8,
}

/// Why a network was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    /// The part before `/` is not an IP address.
    #[error("{0:?} is not a network (expected e.g. \"10.0.0.0/8\")")]
    NotAnAddress(String),
    /// The prefix length is not a number up to the address's bit length.
    #[error("prefix length {text:?} must be 0 to {max}")]
    PrefixLength {
        /// The prefix length as written.
        text: String,
        /// 32 for IPv4, 128 for IPv6.
        max: u8,
    },
    /// Bits beyond the prefix are set: a slip like `10.0.0.1/8` is refused rather than
    /// silently widened.
    #[error("{text:?} has host bits set; the network is {network}/{prefix_len}")]
    HostBits {
        /// The network as written.
        text: String,
        /// The address with the host bits cleared.
        network: IpAddr,
        /// The prefix length.
        prefix_len: u8,
    },
}

impl Cidr {
    /// Parses `addr/len` or a bare address. Host bits must be zero.
    pub fn parse(text: &str) -> Result<Cidr, CidrError> {
        let (addr_text, len_text) = match text.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (text, None),
        };
        let addr: IpAddr = addr_text
            .parse()
            .map_err(|_| CidrError::NotAnAddress(text.to_owned()))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix_len = match len_text {
            None => max,
            Some(l) => match l.parse::<u8>() {
                Ok(n) if n <= max && l.bytes().all(|c| c.is_ascii_digit()) => n,
                _ => {
                    return Err(CidrError::PrefixLength {
                        text: l.to_owned(),
                        max,
                    })
                }
            },
        };
        let cidr = Cidr { addr, prefix_len };
        let network = cidr.network();
        if network != addr {
            return Err(CidrError::HostBits {
                text: text.to_owned(),
                network,
                prefix_len,
            });
        }
        Ok(cidr)
    }

    /// The address with the host bits cleared.
    fn network(&self) -> IpAddr {
        match self.addr {
            IpAddr::V4(a) => IpAddr::V4((u32::from(a) & mask32(self.prefix_len)).into()),
            IpAddr::V6(a) => IpAddr::V6((u128::from(a) & mask128(self.prefix_len)).into()),
        }
    }

    /// Whether `ip` lies inside this network. IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`, as
    /// seen on dual-stack sockets) are matched as the IPv4 address they carry.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let m = mask32(self.prefix_len);
                u32::from(ip) & m == u32::from(net) & m
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let m = mask128(self.prefix_len);
                u128::from(ip) & m == u128::from(net) & m
            }
            _ => false,
        }
    }
}

impl FromStr for Cidr {
    type Err = CidrError;
    fn from_str(text: &str) -> Result<Cidr, CidrError> {
        Cidr::parse(text)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

/// The IPv4 netmask of a prefix length (0..=32).
fn mask32(len: u8) -> u32 {
    u32::MAX
        .checked_shl(32 - u32::from(len.min(32)))
        .unwrap_or(0)
}

/// The IPv6 netmask of a prefix length (0..=128).
fn mask128(len: u8) -> u128 {
    u128::MAX
        .checked_shl(128 - u32::from(len.min(128)))
        .unwrap_or(0)
}

/// A route (`[[route]]`). A request matches when every condition that is set holds; routes
/// are tried in file order and the first match wins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteConfig {
    /// `name` (unique): letters, digits, '_' and '-', 1 to [`super::MAX_SET_NAME_LEN`].
    pub name: String,
    /// `source_networks`: the source address must be inside one of these; empty means any
    /// source.
    pub source_networks: Vec<Cidr>,
    /// `source_set`: the source address must be a member of this set (calls from the pool
    /// going out).
    pub source_set: Option<String>,
    /// `ruri_user_prefix`: the Request-URI user part must start with this.
    pub ruri_user_prefix: Option<String>,
    /// `ruri_host`: the Request-URI host must equal this, ignoring ASCII case; lowercase.
    pub ruri_host: Option<String>,
    /// `set`: the name of the set matching requests go to.
    pub set: String,
}
