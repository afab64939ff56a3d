//! The relay addresses of a running engine and what a reload of `[[interface]]` makes of them.
//!
//! The data plane's port layout only grows while it runs: a relay address (a layout index)
//! keeps its port range and its records until the restart, because sessions may use them.
//! So a reload never renumbers or narrows the layout; it says per relay address which ports
//! new sessions may take (`open`), and appends relay addresses for what is new:
//!
//! - a new interface (a new name, or a known name on a new address) is appended whole;
//! - a grown range appends the ports outside the running range(s) of that name and address
//!   (below, above, or both) as relay addresses of their own, with the same name and address;
//! - a shrunk range opens only the ports inside the new range: the others take no new
//!   sessions, and the sessions on them run to their end;
//! - a removed interface (or the old address of a changed one) takes no new sessions at all;
//!   re-adding it later opens its running ports again.
//!
//! Ports of one address still laid out for an interface of another name (removed, with its
//! sessions perhaps still running) cannot be handed to a new one before a restart.

use std::net::IpAddr;

use dataplane::AddrRange;

use crate::engine::Interface;

/// One `[[interface]]` entry of the file as a reload hands it to [`plan`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    /// Name, local address and advertised address.
    pub iface: Interface,
    /// Its port range (even `port_min`, odd `port_max`).
    pub ports: AddrRange,
}

/// The relay addresses of an engine, in layout order (index = relay address).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Relays {
    /// Name, local address and advertised address of each.
    pub interfaces: Vec<Interface>,
    /// The layout range of each (fixed while the daemon runs).
    pub ranges: Vec<AddrRange>,
    /// The ports new sessions may take on each (`None`: none, the interface is gone).
    pub open: Vec<Option<AddrRange>>,
}

/// Why a reload's `[[interface]]` entries cannot be applied to the running relay addresses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// The ports are laid out for another interface on the same address until a restart.
    #[error(
        "ports {}-{} on {address} belong to interface {holder:?} until a restart (its sessions \
         may still use them); interface {wanted:?} cannot take them",
        ports.port_min, ports.port_max
    )]
    PortsHeld {
        /// The address.
        address: IpAddr,
        /// The ports asked for that overlap the holder's.
        ports: AddrRange,
        /// The interface the ports are laid out for.
        holder: String,
        /// The interface that asked for them.
        wanted: String,
    },
    /// More relay addresses than a port key can name.
    #[error("too many relay addresses (at most {max})")]
    TooMany {
        /// The limit.
        max: usize,
    },
}

/// Why [`Engine::set_relays`](crate::Engine::set_relays) refused a set of relay addresses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RelayError {
    /// The relay addresses do not keep the running ones' ranges in their places, or their
    /// lists differ in length.
    #[error("the running relay addresses must keep their indices and port ranges")]
    Moved,
    /// The grown layout cannot be built.
    #[error("port layout: {0}")]
    Layout(#[from] dataplane::LayoutError),
}

/// At most this many relay addresses (a port key names its address with a `u16`).
pub const MAX_RELAYS: usize = u16::MAX as usize;

/// The relay addresses after a reload to `wanted`, from the running `now` (see the module
/// documentation). `now`'s relay addresses keep their indices and ranges; new ones follow.
pub fn plan(now: &Relays, wanted: &[Wanted]) -> Result<Relays, PlanError> {
    let mut next = Relays {
        interfaces: now.interfaces.clone(),
        ranges: now.ranges.clone(),
        open: vec![None; now.ranges.len()],
    };
    for w in wanted {
        let mine = same_place(now, &w.iface);
        for &i in &mine {
            next.interfaces[i].advertised = w.iface.advertised;
            next.open[i] = intersect(now.ranges[i], w.ports);
        }
        let covered: Vec<AddrRange> = mine.iter().map(|&i| now.ranges[i]).collect();
        for gap in uncovered(w.ports, &covered) {
            if let Some(h) = held_by_other(now, &w.iface, gap) {
                return Err(PlanError::PortsHeld {
                    address: w.iface.address,
                    ports: gap,
                    holder: now.interfaces[h].name.clone(),
                    wanted: w.iface.name.clone(),
                });
            }
            next.interfaces.push(w.iface.clone());
            next.ranges.push(gap);
            next.open.push(Some(gap));
        }
    }
    if next.ranges.len() > MAX_RELAYS {
        return Err(PlanError::TooMany { max: MAX_RELAYS });
    }
    Ok(next)
}

/// The relay addresses of `now` with `iface`'s name and local address.
fn same_place(now: &Relays, iface: &Interface) -> Vec<usize> {
    let at = iface.address.to_canonical();
    (0..now.interfaces.len())
        .filter(|&i| {
            let r = &now.interfaces[i];
            r.name == iface.name && r.address.to_canonical() == at
        })
        .collect()
}

/// A relay address of another name on `iface`'s address whose range overlaps `ports`.
fn held_by_other(now: &Relays, iface: &Interface, ports: AddrRange) -> Option<usize> {
    let at = iface.address.to_canonical();
    (0..now.interfaces.len()).find(|&i| {
        let r = &now.interfaces[i];
        r.name != iface.name
            && r.address.to_canonical() == at
            && intersect(now.ranges[i], ports).is_some()
    })
}

/// The ports in both ranges, if any (both even to odd, so the result is too).
pub fn intersect(a: AddrRange, b: AddrRange) -> Option<AddrRange> {
    let (min, max) = (a.port_min.max(b.port_min), a.port_max.min(b.port_max));
    (min < max).then_some(AddrRange {
        port_min: min,
        port_max: max,
    })
}

/// The parts of `want` outside every range of `have`, in ascending order.
fn uncovered(want: AddrRange, have: &[AddrRange]) -> Vec<AddrRange> {
    let mut have: Vec<AddrRange> = have.to_vec();
    have.sort_by_key(|r| r.port_min);
    let mut out = Vec::new();
    let mut from = u32::from(want.port_min);
    let end = u32::from(want.port_max);
    for h in have {
        let (lo, hi) = (u32::from(h.port_min), u32::from(h.port_max));
        if hi < from || lo > end {
            continue;
        }
        if lo > from {
            out.push(span(from, lo - 1));
        }
        from = from.max(hi + 1);
    }
    if from < end {
        out.push(span(from, end));
    }
    out
}

/// `from..=to` as a range; both fit in `u16` (they lie inside a range of `u16` ports).
fn span(from: u32, to: u32) -> AddrRange {
    AddrRange {
        port_min: u16::try_from(from).unwrap_or(u16::MAX),
        port_max: u16::try_from(to).unwrap_or(u16::MAX),
    }
}

#[cfg(test)]
#[path = "relays_tests.rs"]
mod tests;
