//! `[[interface]]`: the local addresses and port ranges the relay owns.

use std::net::IpAddr;
use std::ops::RangeInclusive;

use serde::Deserialize;

use crate::check::{int_in, required, unicast_ip};
use crate::error::{key, ConfigError};

/// Lowest `port_min`: relay ports stay out of the privileged range.
pub const MIN_RELAY_PORT: u16 = 1024;

/// Longest interface name.
pub const MAX_NAME_LEN: usize = 64;

/// One `[[interface]]` entry: a local address and the UDP port range the relay owns on it.
///
/// Several entries may share a name: an IPv4 and an IPv6 address, or several addresses that
/// together form one pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    /// `name`: the name offers refer to (e.g. `"external"`); 1..=64 characters from
    /// `A-Z a-z 0-9 _ - .`.
    pub name: String,
    /// `address`: local IPv4 or IPv6 address the relay ports bind to; a concrete unicast address.
    pub address: IpAddr,
    /// `advertised` (optional): address written into SDP instead of `address` (1:1 NAT); same
    /// family as `address`.
    pub advertised: Option<IpAddr>,
    /// `port_min`: first relay port; even and at least 1024.
    pub port_min: u16,
    /// `port_max`: last relay port; odd, above `port_min`, at most 65535.
    pub port_max: u16,
}

impl Interface {
    /// The address to write into SDP: `advertised` if set, else `address`.
    pub fn sdp_address(&self) -> IpAddr {
        self.advertised.unwrap_or(self.address)
    }

    /// All relay ports of this entry.
    pub fn ports(&self) -> RangeInclusive<u16> {
        self.port_min..=self.port_max
    }

    /// Number of RTP/RTCP port pairs (even RTP port, RTCP on the next odd one) in the range.
    pub fn port_pairs(&self) -> u32 {
        // Saturating: the fields are public, so a hand-built entry may have them reversed.
        (u32::from(self.port_max) + 1).saturating_sub(u32::from(self.port_min)) / 2
    }
}

/// One `[[interface]]` entry as written, before checks.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "an [[interface]] table")]
pub(crate) struct RawInterface {
    name: Option<String>,
    address: Option<String>,
    advertised: Option<String>,
    port_min: Option<i64>,
    port_max: Option<i64>,
}

/// Checks every entry, then the entries against each other.
pub(crate) fn build_all(raw: Option<Vec<RawInterface>>) -> Result<Vec<Interface>, ConfigError> {
    let raw = raw.unwrap_or_default();
    if raw.is_empty() {
        return Err(key(
            "interface",
            "at least one [[interface]] is required (a local address and port range to relay on)",
        ));
    }
    let mut out: Vec<Interface> = Vec::with_capacity(raw.len());
    for (i, entry) in raw.into_iter().enumerate() {
        let iface = entry.build(i)?;
        check_against_earlier(&out, &iface, i)?;
        out.push(iface);
    }
    Ok(out)
}

impl RawInterface {
    /// Checks the keys of entry `i`.
    fn build(self, i: usize) -> Result<Interface, ConfigError> {
        let p = |k: &str| format!("interface[{i}].{k}");
        let name = required(&p("name"), self.name)?;
        check_name(&p("name"), &name)?;
        let address = unicast_ip(&p("address"), &required(&p("address"), self.address)?)?;
        let advertised = match self.advertised {
            Some(text) => {
                let adv = unicast_ip(&p("advertised"), &text)?;
                if adv.is_ipv4() != address.is_ipv4() {
                    return Err(key(
                        p("advertised"),
                        format!(
                            "{adv} is {} but address {address} is {}; both must be the same family",
                            family(adv),
                            family(address)
                        ),
                    ));
                }
                Some(adv)
            }
            None => None,
        };
        // RTP on the even port, RTCP on the next odd one (RFC 3550 section 11), so a range
        // starts even and ends odd and holds whole pairs.
        let port_min: u16 = int_in(
            &p("port_min"),
            required(&p("port_min"), self.port_min)?,
            i64::from(MIN_RELAY_PORT),
            65534,
        )?;
        if port_min % 2 != 0 {
            return Err(key(
                p("port_min"),
                format!(
                    "must be even (RTP uses even ports, RTCP the next odd one), got {port_min}"
                ),
            ));
        }
        let port_max = required(&p("port_max"), self.port_max)?;
        if port_max <= i64::from(port_min) {
            return Err(key(
                p("port_max"),
                format!("must be above port_min ({port_min}), got {port_max}"),
            ));
        }
        let port_max: u16 = int_in(&p("port_max"), port_max, i64::from(port_min) + 1, 65535)?;
        if port_max % 2 == 0 {
            return Err(key(
                p("port_max"),
                format!("must be odd (the RTCP port of the last pair), got {port_max}"),
            ));
        }
        Ok(Interface {
            name,
            address,
            advertised,
            port_min,
            port_max,
        })
    }
}

/// Interface names travel in offers and admin commands: keep them short and plain.
fn check_name(path: &str, name: &str) -> Result<(), ConfigError> {
    if name.is_empty() || name.chars().count() > MAX_NAME_LEN {
        return Err(key(
            path,
            format!("must be 1 to {MAX_NAME_LEN} characters long"),
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|&c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
    {
        return Err(key(
            path,
            format!("{name:?} contains {bad:?}; use only letters, digits, '_', '-' and '.'"),
        ));
    }
    Ok(())
}

/// Entry `i` may not repeat an earlier (name, address) pair nor share ports with an earlier
/// entry on the same address.
fn check_against_earlier(
    earlier: &[Interface],
    iface: &Interface,
    i: usize,
) -> Result<(), ConfigError> {
    let addr = iface.address.to_canonical();
    for (j, other) in earlier.iter().enumerate() {
        if other.address.to_canonical() != addr {
            continue;
        }
        if other.name == iface.name {
            return Err(key(
                format!("interface[{i}].address"),
                format!(
                    "interface[{j}] already has name {:?} with address {}; a name may appear once per address",
                    iface.name, other.address
                ),
            ));
        }
        if iface.port_min <= other.port_max && other.port_min <= iface.port_max {
            return Err(key(
                format!("interface[{i}].port_min"),
                format!(
                    "ports {}-{} overlap ports {}-{} of interface[{j}] on the same address {}",
                    iface.port_min, iface.port_max, other.port_min, other.port_max, other.address
                ),
            ));
        }
    }
    Ok(())
}

/// "IPv4" or "IPv6", for messages.
pub(crate) fn family(ip: IpAddr) -> &'static str {
    if ip.is_ipv4() {
        "IPv4"
    } else {
        "IPv6"
    }
}
