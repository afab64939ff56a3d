//! Frame builder for tests, benches and the memory backend (allocates; not a fast path).

use super::{
    ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETHERTYPE_VLAN, IPPROTO_UDP, IPV4_HEADER_LEN, IPV6_HEADER_LEN,
    MIN_FRAME_LEN, TTL, UDP_HEADER_LEN,
};
use crate::checksum::{checksum, fold, sum};
use crate::Endpoint;

/// Builds a complete, valid untagged Ethernet II / IP / UDP frame with correct checksums into
/// `out` (cleared first). See [`build_udp_tagged`].
pub fn build_udp(
    out: &mut Vec<u8>,
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    src: &Endpoint,
    dst: &Endpoint,
    payload: &[u8],
) {
    build_udp_tagged(out, None, src_mac, dst_mac, src, dst, payload);
}

/// Builds a complete, valid Ethernet II (with an 802.1Q tag carrying VLAN id `vlan & 0xfff`,
/// priority 0, when `vlan` is set) / IP / UDP frame into `out` (cleared first).
///
/// IPv4 when both endpoints are IPv4, IPv6 otherwise (an IPv4 endpoint then appears as its
/// IPv4-mapped address, which [`super::parse_udp`] rejects). IPv4: no options, DF set and
/// identification 0 (an atomic datagram, RFC 6864 §4.1), TTL 64; IPv6: traffic class and flow
/// label 0, hop limit 64. UDP checksum always computed (RFC 768; RFC 8200 §8.1). A payload
/// longer than the largest UDP payload of the family is cut to it. Frames shorter than
/// [`MIN_FRAME_LEN`] are zero-padded to it as on the wire.
pub fn build_udp_tagged(
    out: &mut Vec<u8>,
    vlan: Option<u16>,
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    src: &Endpoint,
    dst: &Endpoint,
    payload: &[u8],
) {
    let v4 = src.v4().zip(dst.v4());
    let ip_len = if v4.is_some() {
        IPV4_HEADER_LEN
    } else {
        IPV6_HEADER_LEN
    };
    // IPv4 total length and IPv6 payload length are 16-bit.
    let max = usize::from(u16::MAX) - UDP_HEADER_LEN - if v4.is_some() { ip_len } else { 0 };
    let payload = payload.get(..max).unwrap_or(payload);
    let udp_len = UDP_HEADER_LEN + payload.len();

    out.clear();
    out.extend_from_slice(&dst_mac);
    out.extend_from_slice(&src_mac);
    if let Some(vid) = vlan {
        out.extend_from_slice(&ETHERTYPE_VLAN.to_be_bytes());
        out.extend_from_slice(&(vid & 0x0fff).to_be_bytes());
    }
    let pseudo = match v4 {
        Some((s, d)) => put_ipv4_header(out, s, d, udp_len),
        None => put_ipv6_header(out, src, dst, udp_len),
    };
    let [s0, s1] = src.port.to_be_bytes();
    let [d0, d1] = dst.port.to_be_bytes();
    let [l0, l1] = len16(udp_len).to_be_bytes();
    let mut udp = [s0, s1, d0, d1, l0, l1, 0, 0];
    let c = fold(sum(payload, sum(&udp, pseudo)));
    // RFC 768: a computed zero is transmitted as all ones.
    [udp[6], udp[7]] = if c == 0 { 0xffff_u16 } else { c }.to_be_bytes();
    out.extend_from_slice(&udp);
    out.extend_from_slice(payload);
    if out.len() < MIN_FRAME_LEN {
        out.resize(MIN_FRAME_LEN, 0);
    }
}

/// Appends the IPv4 ethertype and header (no options, DF, TTL 64, its checksum) for a UDP
/// datagram of `udp_len` bytes from `s` to `d`; returns the UDP pseudo-header's sum.
fn put_ipv4_header(out: &mut Vec<u8>, s: [u8; 4], d: [u8; 4], udp_len: usize) -> u32 {
    out.extend_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
    let [t0, t1] = len16(IPV4_HEADER_LEN + udp_len).to_be_bytes();
    let mut h = [
        0x45,
        0,
        t0,
        t1,
        0,
        0,
        0x40,
        0,
        TTL,
        IPPROTO_UDP,
        0,
        0,
        s[0],
        s[1],
        s[2],
        s[3],
        d[0],
        d[1],
        d[2],
        d[3],
    ];
    [h[10], h[11]] = checksum(&h).to_be_bytes();
    out.extend_from_slice(&h);
    sum(
        &h[12..20],
        u32::from(IPPROTO_UDP) + u32::from(len16(udp_len)),
    )
}

/// Appends the IPv6 ethertype and header (traffic class and flow label 0, hop limit 64) for a
/// UDP datagram of `udp_len` bytes; returns the UDP pseudo-header's sum.
fn put_ipv6_header(out: &mut Vec<u8>, src: &Endpoint, dst: &Endpoint, udp_len: usize) -> u32 {
    out.extend_from_slice(&ETHERTYPE_IPV6.to_be_bytes());
    out.extend_from_slice(&[0x60, 0, 0, 0]);
    out.extend_from_slice(&len16(udp_len).to_be_bytes());
    out.extend_from_slice(&[IPPROTO_UDP, TTL]);
    out.extend_from_slice(&src.ip);
    out.extend_from_slice(&dst.ip);
    sum(
        &dst.ip,
        sum(&src.ip, u32::from(IPPROTO_UDP) + u32::from(len16(udp_len))),
    )
}

/// A length already bounded to 16 bits by the payload cut above.
#[inline]
fn len16(n: usize) -> u16 {
    u16::try_from(n).unwrap_or(u16::MAX)
}
