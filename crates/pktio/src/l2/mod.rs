//! Layer 2/3 duties of a frame backend on its media ports, sans-IO: answer ARP (RFC 826) and
//! IPv6 neighbour solicitations (RFC 4861) for the relay addresses, answer ICMP echo
//! (RFC 792, RFC 4443 §4), build ARP requests / neighbour solicitations and announcements,
//! and keep a small neighbour table with aging ([`neigh`]).
//!
//! Everything works on byte slices and takes time as an argument; the DPDK backend feeds it
//! the frames that are not relayed UDP and transmits what it builds.

pub mod build;
pub mod icmp;
pub mod neigh;
pub mod rx;

#[cfg(test)]
mod tests;

pub use neigh::{Learned, NeighConfig, NeighMesh, NeighPeer, NeighTable, Resolve};
pub use rx::{handle, Handled, LocalAddrs};

/// Room a frame built by [`build`] needs at most (Ethernet, a VLAN tag, IPv6, an ICMPv6
/// neighbour message with one link-layer option).
pub const MAX_BUILT_FRAME: usize = 14 + 4 + 40 + 24 + 8;

/// The all-ones Ethernet broadcast address.
pub const BROADCAST_MAC: [u8; 6] = [0xff; 6];

/// An IPv4 address in the IPv4-mapped form used for every address here
/// (`::ffff:a.b.c.d`, as [`wire::Endpoint`] stores it).
#[inline]
pub fn mapped(v4: [u8; 4]) -> [u8; 16] {
    wire::Endpoint::new_v4(v4, 0).ip
}

/// The IPv4 address of a mapped address, if it is one.
#[inline]
pub fn unmapped(ip: &[u8; 16]) -> Option<[u8; 4]> {
    wire::Endpoint::new_v6(*ip, 0).v4()
}

/// True when `a` and `b` share their first `prefix` bits (IPv4: of the 32-bit address, given
/// both in mapped form; IPv6: of the 128-bit address). Different families never match.
pub fn same_subnet(a: &[u8; 16], b: &[u8; 16], prefix: u8) -> bool {
    let (x, y) = (u128::from_be_bytes(*a), u128::from_be_bytes(*b));
    let (bits, x, y) = match (unmapped(a), unmapped(b)) {
        (Some(p), Some(q)) => (
            u32::from(prefix.min(32)),
            u128::from(u32::from_be_bytes(p)) << 96,
            u128::from(u32::from_be_bytes(q)) << 96,
        ),
        (None, None) => (u32::from(prefix.min(128)), x, y),
        _ => return false,
    };
    if bits == 0 {
        return true;
    }
    let mask = u128::MAX << (128 - bits);
    x & mask == y & mask
}

/// The solicited-node multicast address of `target` (RFC 4291 §2.7.1: `ff02::1:ffXX:XXXX`
/// with the low 24 bits of the target).
pub fn solicited_node(target: &[u8; 16]) -> [u8; 16] {
    let mut a = [0u8; 16];
    a[0] = 0xff;
    a[1] = 0x02;
    a[11] = 0x01;
    a[12] = 0xff;
    a[13..].copy_from_slice(&target[13..]);
    a
}

/// The Ethernet address of IPv6 multicast group `group` (RFC 2464 §7: `33:33` and the low 32
/// bits of the group).
pub fn multicast_mac(group: &[u8; 16]) -> [u8; 6] {
    [0x33, 0x33, group[12], group[13], group[14], group[15]]
}
