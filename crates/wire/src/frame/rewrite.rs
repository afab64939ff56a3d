//! Transmit side: in-place rewrite of MACs, addresses, ports and TTL with incremental checksum
//! updates (RFC 1624).

use super::{FrameError, UdpFrame, IPV4_HEADER_LEN, IPV6_HEADER_LEN, TTL, UDP_HEADER_LEN};
use crate::checksum::{fold16, sum_le};
use crate::Endpoint;

/// `N` bytes of `buf` from `start` as an array, if they are all there.
#[inline(always)]
fn array_mut<const N: usize>(buf: &mut [u8], start: usize) -> Option<&mut [u8; N]> {
    buf.get_mut(start..start.checked_add(N)?)?.try_into().ok()
}

// All checksum arithmetic below is done on little-endian words: by RFC 1071 §2(B) the ones'
// complement sum commutes with byte swapping, so reading and writing the checksum fields
// little-endian gives the same bytes as the network-order computation, without the swaps.

/// `~m + m'` of RFC 1624 eqn. 3 for a whole byte string, as one unfolded term: the ones'
/// complement of the folded old sum plus the folded new sum.
#[inline(always)]
fn delta(old: &[u8], new: &[u8]) -> u64 {
    u64::from(!fold16(sum_le(old))) + u64::from(fold16(sum_le(new)))
}

/// Rewrites a parsed frame in place for re-origination by the relay:
/// destination/source MAC, source/destination IP and port, TTL / hop limit set to
/// [`TTL`](super::TTL). The IPv4 header checksum and the UDP checksum are updated
/// incrementally (RFC 1624 §3, eqn. 3); a zero IPv4 UDP checksum ("no checksum", RFC 768)
/// stays zero, and an updated UDP checksum that comes out zero is sent as 0xffff (RFC 768).
///
/// `src` and `dst` must be of the frame's address family ([`FrameError::FamilyMismatch`]
/// otherwise; translation between families is a different operation). `f` must come from
/// [`super::parse_udp`] on this buffer ([`FrameError::Mismatch`] if it cannot). Nothing is
/// written when an error is returned.
#[inline]
pub fn rewrite_udp(
    frame: &mut [u8],
    f: &UdpFrame,
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    src: &Endpoint,
    dst: &Endpoint,
) -> Result<(), FrameError> {
    // Check every range before writing anything.
    let udp_ok = array_mut::<UDP_HEADER_LEN>(frame, f.l4).is_some();
    let ip_len = if f.v6 {
        IPV6_HEADER_LEN
    } else {
        IPV4_HEADER_LEN
    };
    if !udp_ok || frame.get(f.l3..f.l3.saturating_add(ip_len)).is_none() || f.l3 < 12 {
        return Err(FrameError::Mismatch);
    }
    let addr_delta = if f.v6 {
        if src.is_v4() || dst.is_v4() {
            return Err(FrameError::FamilyMismatch);
        }
        rewrite_v6(frame, f.l3, src, dst)?
    } else {
        let (Some(s), Some(d)) = (src.v4(), dst.v4()) else {
            return Err(FrameError::FamilyMismatch);
        };
        rewrite_v4(frame, f.l3, s, d)?
    };
    let udp = array_mut::<UDP_HEADER_LEN>(frame, f.l4).ok_or(FrameError::Mismatch)?;
    let [s0, s1] = src.port.to_be_bytes();
    let [d0, d1] = dst.port.to_be_bytes();
    let new_ports = [s0, s1, d0, d1];
    let old_ports = [udp[0], udp[1], udp[2], udp[3]];
    let check = u16::from_le_bytes([udp[6], udp[7]]);
    // RFC 768: zero means "no checksum" (IPv4 only; parse rejects it over IPv6).
    if check != 0 || f.v6 {
        // RFC 1624 §3 eqn. 3 over the pseudo-header addresses and the ports.
        let new = !fold16(u64::from(!check) + addr_delta + delta(&old_ports, &new_ports));
        // RFC 768: a computed zero is transmitted as all ones.
        let new = if new == 0 { 0xffff } else { new };
        [udp[6], udp[7]] = new.to_le_bytes();
    }
    [udp[0], udp[1], udp[2], udp[3]] = new_ports;
    let eth = array_mut::<12>(frame, 0).ok_or(FrameError::Mismatch)?;
    let [a, b, c, d, e, g] = dst_mac;
    let [h, i, j, k, l, m] = src_mac;
    *eth = [a, b, c, d, e, g, h, i, j, k, l, m];
    Ok(())
}

/// IPv4 part: addresses, TTL, header checksum. Returns the address delta for the UDP checksum.
#[inline(always)]
fn rewrite_v4(frame: &mut [u8], l3: usize, s: [u8; 4], d: [u8; 4]) -> Result<u64, FrameError> {
    let ip = array_mut::<IPV4_HEADER_LEN>(frame, l3).ok_or(FrameError::Mismatch)?;
    let old_addrs = [
        ip[12], ip[13], ip[14], ip[15], ip[16], ip[17], ip[18], ip[19],
    ];
    let new_addrs = [s[0], s[1], s[2], s[3], d[0], d[1], d[2], d[3]];
    let addr_delta = delta(&old_addrs, &new_addrs);
    // TTL shares its 16-bit word with the protocol (RFC 791 §3.1).
    let old_ttl = u16::from_le_bytes([ip[8], ip[9]]);
    let new_ttl = u16::from_le_bytes([TTL, ip[9]]);
    let check = u16::from_le_bytes([ip[10], ip[11]]);
    // RFC 1624 §3 eqn. 3: HC' = ~(~HC + ~m + m') over every changed word.
    let new = !fold16(u64::from(!check) + addr_delta + u64::from(!old_ttl) + u64::from(new_ttl));
    ip[8] = TTL;
    [ip[10], ip[11]] = new.to_le_bytes();
    [
        ip[12], ip[13], ip[14], ip[15], ip[16], ip[17], ip[18], ip[19],
    ] = new_addrs;
    Ok(addr_delta)
}

/// IPv6 part: addresses and hop limit (no header checksum in IPv6, RFC 8200 §3). Returns the
/// address delta for the UDP checksum.
#[inline(always)]
fn rewrite_v6(
    frame: &mut [u8],
    l3: usize,
    src: &Endpoint,
    dst: &Endpoint,
) -> Result<u64, FrameError> {
    let ip = array_mut::<IPV6_HEADER_LEN>(frame, l3).ok_or(FrameError::Mismatch)?;
    let Some((head, addrs)) = ip.split_first_chunk_mut::<8>() else {
        return Err(FrameError::Mismatch);
    };
    let addr_delta =
        u64::from(!fold16(sum_le(addrs))) + u64::from(fold16(sum_le(&src.ip) + sum_le(&dst.ip)));
    // RFC 8200 §3: hop limit is the 8th octet.
    head[7] = TTL;
    for (o, n) in addrs.iter_mut().zip(src.ip.iter().chain(dst.ip.iter())) {
        *o = *n;
    }
    Ok(addr_delta)
}
