//! ICMP echo replies for the relay addresses, written over the request in place: RFC 792
//! (IPv4, type 8 -> 0) and RFC 4443 §4.2 (IPv6, type 128 -> 129). RFC 1122 §3.2.2.6: every
//! host MUST answer echo requests, returning the data unchanged.

use super::build::IPPROTO_ICMPV6;
use wire::checksum::{checksum, fold, pseudo_v6, sum};

/// IP protocol number of ICMP.
pub const IPPROTO_ICMP: u8 = 1;
/// ICMP echo request / reply (RFC 792).
const ECHO_REQUEST: u8 = 8;
const ECHO_REPLY: u8 = 0;
/// ICMPv6 echo request / reply (RFC 4443 §4.1, §4.2).
const ECHO6_REQUEST: u8 = 128;
const ECHO6_REPLY: u8 = 129;
/// Hop limit / TTL of the replies.
const TTL: u8 = 64;

/// Swaps the Ethernet addresses (the reply goes back to the requester's MAC from ours).
fn swap_macs(frame: &mut [u8], our_mac: [u8; 6]) {
    let mut src = [0u8; 6];
    src.copy_from_slice(&frame[6..12]);
    frame[..6].copy_from_slice(&src);
    frame[6..12].copy_from_slice(&our_mac);
}

/// Whether `a` can be the source of a request this host answers: not "this network"
/// (0/8), not multicast (224/4), not reserved or the limited broadcast (240/4): RFC 1122
/// §3.2.1.3 has a host discard datagrams from such sources, and an echo reply to a group or
/// a broadcast would multiply one forged request.
fn unicast_v4(a: [u8; 4]) -> bool {
    a[0] != 0 && a[0] < 224
}

/// Turns an IPv4 echo request at IP offset `l3` into its reply in place when it is a valid,
/// unfragmented echo request to a unicast address `is_ours` accepts; returns whether it did.
/// The IP header (options kept) and ICMP checksums must verify first (RFC 791 §3.1;
/// RFC 792: the checksum covers the ICMP message).
pub fn echo_reply_v4(
    frame: &mut [u8],
    l3: usize,
    our_mac: [u8; 6],
    mut is_ours: impl FnMut(&[u8; 4]) -> bool,
) -> bool {
    let Some(ip) = frame.get(l3..) else {
        return false;
    };
    let Some(&[vihl, _, t0, t1, _, _, f0, f1, _, proto]) = ip.first_chunk::<10>() else {
        return false;
    };
    let ihl = usize::from(vihl & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([t0, t1]));
    // Not a fragment: MF clear and offset zero (RFC 791 §3.1).
    let fragment = u16::from_be_bytes([f0, f1]) & 0x3fff != 0;
    if vihl >> 4 != 4 || ihl < 20 || total < ihl + 8 || total > ip.len() || fragment {
        return false;
    }
    if proto != IPPROTO_ICMP || checksum(&ip[..ihl]) != 0 || checksum(&ip[ihl..total]) != 0 {
        return false;
    }
    let dst = [ip[16], ip[17], ip[18], ip[19]];
    if ip[ihl] != ECHO_REQUEST || ip[ihl + 1] != 0 || !is_ours(&dst) {
        return false;
    }
    let src = [ip[12], ip[13], ip[14], ip[15]];
    if !unicast_v4(src) {
        return false;
    }
    let ip = &mut frame[l3..l3 + total];
    ip[12..16].copy_from_slice(&dst);
    ip[16..20].copy_from_slice(&src);
    ip[8] = TTL;
    ip[10..12].fill(0);
    let c = checksum(&ip[..ihl]);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    let icmp = &mut ip[ihl..];
    icmp[0] = ECHO_REPLY;
    icmp[2..4].fill(0);
    let c = checksum(icmp);
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    swap_macs(frame, our_mac);
    true
}

/// Turns an IPv6 echo request (ICMPv6 right after the fixed header) at IP offset `l3` into its
/// reply in place when it is addressed to a unicast address `is_ours` accepts and its checksum
/// verifies (RFC 4443 §2.3, §4.2); returns whether it did.
pub fn echo_reply_v6(
    frame: &mut [u8],
    l3: usize,
    our_mac: [u8; 6],
    mut is_ours: impl FnMut(&[u8; 16]) -> bool,
) -> bool {
    let Some(ip) = frame.get(l3..) else {
        return false;
    };
    if ip.len() < 48 || ip[0] >> 4 != 6 || ip[6] != IPPROTO_ICMPV6 {
        return false;
    }
    let plen = usize::from(u16::from_be_bytes([ip[4], ip[5]]));
    if plen < 8 || 40 + plen > ip.len() {
        return false;
    }
    let mut src = [0u8; 16];
    let mut dst = [0u8; 16];
    src.copy_from_slice(&ip[8..24]);
    dst.copy_from_slice(&ip[24..40]);
    let msg = &ip[40..40 + plen];
    let plen32 = plen as u32;
    // A multicast or unspecified source is no sender (RFC 4291 §2.7, §2.5.2): a reply would go
    // to a group, or nowhere.
    if src[0] == 0xff || src == [0; 16] {
        return false;
    }
    if msg[0] != ECHO6_REQUEST
        || msg[1] != 0
        || !is_ours(&dst)
        || fold(sum(msg, pseudo_v6(&src, &dst, IPPROTO_ICMPV6, plen32))) != 0
    {
        return false;
    }
    let ip = &mut frame[l3..l3 + 40 + plen];
    ip[7] = TTL;
    ip[8..24].copy_from_slice(&dst);
    ip[24..40].copy_from_slice(&src);
    let msg = &mut ip[40..];
    msg[0] = ECHO6_REPLY;
    msg[2..4].fill(0);
    let c = fold(sum(msg, pseudo_v6(&dst, &src, IPPROTO_ICMPV6, plen32)));
    msg[2..4].copy_from_slice(&c.to_be_bytes());
    swap_macs(frame, our_mac);
    true
}
