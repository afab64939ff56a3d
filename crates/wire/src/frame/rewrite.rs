//! Transmit side: in-place rewrite of MACs, addresses, ports and TTL with incremental checksum
//! updates (RFC 1624).
//!
//! The checksum arithmetic works on little-endian 32-bit words: by RFC 1071 §2(B) the ones'
//! complement sum commutes with byte swapping, so reading and writing the checksum fields
//! little-endian gives the same bytes as the network-order computation without any swaps; a
//! 32-bit word counts as its two 16-bit halves (2^16 ≡ 1 mod 0xffff), and its bitwise
//! complement as the complements of both halves. Every term of RFC 1624 eqn. 3 is added into
//! one 64-bit sum and folded once.

use super::{FrameError, UdpFrame, IPV4_HEADER_LEN, IPV6_HEADER_LEN, TTL, UDP_HEADER_LEN};
use crate::checksum::fold16;
use crate::Endpoint;

/// `~m + m'` of RFC 1624 eqn. 3 for one changed 32-bit word, unfolded.
#[inline(always)]
fn delta4(old: [u8; 4], new: [u8; 4]) -> u64 {
    u64::from(!u32::from_le_bytes(old)) + u64::from(u32::from_le_bytes(new))
}

/// RFC 1624 §3 eqn. 3, `HC' = ~(~HC + ~m + m')`, with `delta` the sum of every `~m + m'`;
/// `check` and the result are little-endian reads of the field.
#[inline(always)]
fn update(check: u16, delta: u64) -> u16 {
    !fold16(u64::from(!check) + delta)
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
    // Split once into Ethernet | ... | IP ... | UDP, so every range is checked before the
    // first write and the pieces can be borrowed together.
    let Some((head, l4)) = frame.split_at_mut_checked(f.l4) else {
        return Err(FrameError::Mismatch);
    };
    let Some((l2, l3)) = head.split_at_mut_checked(f.l3) else {
        return Err(FrameError::Mismatch);
    };
    let (Some(eth), Some(udp)) = (
        l2.first_chunk_mut::<12>(),
        l4.first_chunk_mut::<UDP_HEADER_LEN>(),
    ) else {
        return Err(FrameError::Mismatch);
    };
    if f.v6 {
        let Some(ip) = l3.first_chunk_mut::<IPV6_HEADER_LEN>() else {
            return Err(FrameError::Mismatch);
        };
        rewrite_udp_v6(eth, ip, udp, src_mac, dst_mac, src, dst)
    } else {
        let Some(ip) = l3.first_chunk_mut::<IPV4_HEADER_LEN>() else {
            return Err(FrameError::Mismatch);
        };
        rewrite_udp_v4(eth, ip, udp, src_mac, dst_mac, src, dst)
    }
}

/// [`rewrite_udp`] of an IPv4 frame already split into its MAC addresses (the first 12 bytes),
/// its IPv4 header (20 bytes, no options) and its UDP header: a caller that has checked the
/// frame on receipt splits it without checking again. [`FrameError::FamilyMismatch`] (nothing
/// written) when `src` or `dst` is not IPv4.
#[inline(always)]
pub fn rewrite_udp_v4(
    eth: &mut [u8; 12],
    ip: &mut [u8; IPV4_HEADER_LEN],
    udp: &mut [u8; UDP_HEADER_LEN],
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    src: &Endpoint,
    dst: &Endpoint,
) -> Result<(), FrameError> {
    let (Some(s), Some(d)) = (src.v4(), dst.v4()) else {
        return Err(FrameError::FamilyMismatch);
    };
    rewrite_udp_v4_addrs(eth, ip, udp, src_mac, dst_mac, (s, src.port), (d, dst.port));
    Ok(())
}

/// [`rewrite_udp_v4`] with the new source and destination as IPv4 addresses and ports, for a
/// caller that has them in that form already (no family check left to make).
#[inline(always)]
pub fn rewrite_udp_v4_addrs(
    eth: &mut [u8; 12],
    ip: &mut [u8; IPV4_HEADER_LEN],
    udp: &mut [u8; UDP_HEADER_LEN],
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    (src, src_port): ([u8; 4], u16),
    (dst, dst_port): ([u8; 4], u16),
) {
    let addr_delta = rewrite_v4(ip, src, dst);
    finish(
        eth, udp, false, addr_delta, src_mac, dst_mac, src_port, dst_port,
    );
}

/// [`rewrite_udp_v4`] for IPv6 (a 40-byte header without extension headers).
#[inline(always)]
pub fn rewrite_udp_v6(
    eth: &mut [u8; 12],
    ip: &mut [u8; IPV6_HEADER_LEN],
    udp: &mut [u8; UDP_HEADER_LEN],
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    src: &Endpoint,
    dst: &Endpoint,
) -> Result<(), FrameError> {
    if src.is_v4() || dst.is_v4() {
        return Err(FrameError::FamilyMismatch);
    }
    let addr_delta = rewrite_v6(ip, src, dst);
    finish(
        eth, udp, true, addr_delta, src_mac, dst_mac, src.port, dst.port,
    );
    Ok(())
}

/// The UDP ports and checksum, then the MAC addresses.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn finish(
    eth: &mut [u8; 12],
    udp: &mut [u8; UDP_HEADER_LEN],
    v6: bool,
    addr_delta: u64,
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    src_port: u16,
    dst_port: u16,
) {
    let [s0, s1] = src_port.to_be_bytes();
    let [d0, d1] = dst_port.to_be_bytes();
    let new_ports = [s0, s1, d0, d1];
    let check = u16::from_le_bytes([udp[6], udp[7]]);
    // RFC 768: zero means "no checksum" (IPv4 only; parse rejects it over IPv6).
    if check != 0 || v6 {
        // Eqn. 3 over the pseudo-header addresses and the ports.
        let old_ports = [udp[0], udp[1], udp[2], udp[3]];
        let new = update(check, addr_delta + delta4(old_ports, new_ports));
        // RFC 768: a computed zero is transmitted as all ones.
        let new = if new == 0 { 0xffff } else { new };
        [udp[6], udp[7]] = new.to_le_bytes();
    }
    [udp[0], udp[1], udp[2], udp[3]] = new_ports;
    let (d, s) = eth.split_at_mut(6);
    d.copy_from_slice(&dst_mac);
    s.copy_from_slice(&src_mac);
}

/// IPv4 part: addresses, TTL, header checksum. Returns the address delta for the UDP checksum.
#[inline(always)]
fn rewrite_v4(ip: &mut [u8; IPV4_HEADER_LEN], s: [u8; 4], d: [u8; 4]) -> u64 {
    let old_src = [ip[12], ip[13], ip[14], ip[15]];
    let old_dst = [ip[16], ip[17], ip[18], ip[19]];
    let addr_delta = delta4(old_src, s) + delta4(old_dst, d);
    // TTL shares its 16-bit word with the protocol (RFC 791 §3.1); the word at offset 8 is
    // taken with the checksum word as one 32-bit word whose checksum half does not change.
    let check = u16::from_le_bytes([ip[10], ip[11]]);
    let ttl_delta = u64::from(!u16::from_le_bytes([ip[8], ip[9]]))
        + u64::from(u16::from_le_bytes([TTL, ip[9]]));
    let new = update(check, addr_delta + ttl_delta);
    ip[8] = TTL;
    [ip[10], ip[11]] = new.to_le_bytes();
    [ip[12], ip[13], ip[14], ip[15]] = s;
    [ip[16], ip[17], ip[18], ip[19]] = d;
    addr_delta
}

/// IPv6 part: addresses and hop limit (no header checksum in IPv6, RFC 8200 §3). Returns the
/// address delta for the UDP checksum.
#[inline(always)]
fn rewrite_v6(ip: &mut [u8; IPV6_HEADER_LEN], src: &Endpoint, dst: &Endpoint) -> u64 {
    // RFC 8200 §3: hop limit is the 8th octet, source and destination the last 32.
    let [_, _, _, _, _, _, _, hop, addrs @ ..] = ip;
    *hop = TTL;
    let mut addr_delta = 0;
    let new = src.ip.chunks_exact(4).chain(dst.ip.chunks_exact(4));
    for (o, n) in addrs.chunks_exact_mut(4).zip(new) {
        if let ([a, b, c, d], &[e, f, g, h]) = (o, n) {
            addr_delta += delta4([*a, *b, *c, *d], [e, f, g, h]);
            [*a, *b, *c, *d] = [e, f, g, h];
        }
    }
    addr_delta
}
