//! `[[route]]`: which set a request goes to, by source and Request-URI; and the CIDR type.

use std::fmt;
use std::net::IpAddr;

use serde::Deserialize;

use crate::check::required;
use crate::error::{key, ConfigError};

/// An IP network in CIDR notation (`"10.0.0.0/8"`, `"2001:db8::/32"`; a bare address is a
/// single host).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    /// The network address (host bits are zero).
    pub addr: IpAddr,
    /// Prefix length: 0..=32 for IPv4, 0..=128 for IPv6.
    pub prefix_len: u8,
}

impl Cidr {
    /// Parses `addr/len` or a bare address. Host bits must be zero, so a slip like
    /// `10.0.0.1/8` is caught rather than silently widened.
    pub fn parse(text: &str) -> Result<Cidr, String> {
        let (addr_text, len_text) = match text.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (text, None),
        };
        let addr: IpAddr = addr_text
            .parse()
            .map_err(|_| format!("{text:?} is not a network (expected e.g. \"10.0.0.0/8\")"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix_len = match len_text {
            None => max,
            Some(l) => match l.parse::<u8>() {
                Ok(n) if n <= max && l.bytes().all(|c| c.is_ascii_digit()) => n,
                _ => return Err(format!("prefix length {l:?} must be 0 to {max}")),
            },
        };
        let cidr = Cidr { addr, prefix_len };
        let network = cidr.network();
        if network != addr {
            return Err(format!(
                "{text:?} has host bits set; the network is {network}/{prefix_len}"
            ));
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

/// Parses a list of networks at `path` (`path[i]` names the bad entry).
pub(crate) fn build_networks(path: &str, list: &[String]) -> Result<Vec<Cidr>, ConfigError> {
    list.iter()
        .enumerate()
        .map(|(i, text)| Cidr::parse(text).map_err(|why| key(format!("{path}[{i}]"), why)))
        .collect()
}

/// One `[[route]]` entry. A request matches when every condition that is set holds; routes
/// are tried in file order and the first match wins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteConfig {
    /// `name` (required, unique): letters, digits, '_' and '-', 1 to 32.
    pub name: String,
    /// `source_networks` (optional): the source address must be inside one of these; empty
    /// means any source.
    pub source_networks: Vec<Cidr>,
    /// `source_set` (optional): the source address must be a member of this set (calls from
    /// the pool going out).
    pub source_set: Option<String>,
    /// `ruri_user_prefix` (optional; `""` is the same as absent): the Request-URI user part
    /// must start with this.
    pub ruri_user_prefix: Option<String>,
    /// `ruri_host` (optional; `""` is the same as absent): the Request-URI host must equal
    /// this, ignoring ASCII case. Stored lowercased.
    pub ruri_host: Option<String>,
    /// `set` (required): the name of the `[[set]]` matching requests go to.
    pub set: String,
}

/// One `[[route]]` entry as written, before checks.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a [[route]] table")]
pub(crate) struct RawRoute {
    name: Option<String>,
    source_networks: Option<Vec<String>>,
    source_set: Option<String>,
    ruri_user_prefix: Option<String>,
    ruri_host: Option<String>,
    set: Option<String>,
}

impl RawRoute {
    /// Checks the keys of route `i`; names of sets are checked against the sets by the caller.
    pub(crate) fn build(self, i: usize) -> Result<RouteConfig, ConfigError> {
        let p = |k: &str| format!("route[{i}].{k}");
        let name = required(&p("name"), self.name)?;
        super::check_name(&p("name"), &name)?;
        let source_networks = match self.source_networks {
            Some(list) => build_networks(&p("source_networks"), &list)?,
            None => Vec::new(),
        };
        let ruri_host = self.ruri_host.filter(|h| !h.is_empty());
        if let Some(host) = &ruri_host {
            if let Some(bad) = host
                .chars()
                .find(|c| !(c.is_ascii_alphanumeric() || "-.:[]".contains(*c)))
            {
                return Err(key(
                    p("ruri_host"),
                    format!("{host:?} contains {bad:?}; name a host or IP address"),
                ));
            }
        }
        Ok(RouteConfig {
            name,
            source_networks,
            source_set: self.source_set,
            ruri_user_prefix: self.ruri_user_prefix.filter(|u| !u.is_empty()),
            ruri_host: ruri_host.map(|h| h.to_ascii_lowercase()),
            set: required(&p("set"), self.set)?,
        })
    }
}
