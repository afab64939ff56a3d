//! Frames the port originates: ARP requests and announcements (RFC 826, RFC 5227 §3),
//! neighbour solicitations and advertisements (RFC 4861 §4.3, §4.4). Each builder writes into
//! a caller-given buffer (an mbuf's data room) and returns the frame length, or `None` when
//! the buffer is too small; nothing allocates.

use super::{multicast_mac, solicited_node, BROADCAST_MAC};
use wire::checksum::{fold, pseudo_v6, sum};
use wire::frame::{ETHERTYPE_ARP, ETHERTYPE_IPV6, ETHERTYPE_VLAN, MIN_FRAME_LEN};

/// IPv6 next header of ICMPv6.
pub const IPPROTO_ICMPV6: u8 = 58;
/// ICMPv6 type of a neighbour solicitation (RFC 4861 §4.3).
pub const ND_SOLICIT: u8 = 135;
/// ICMPv6 type of a neighbour advertisement (RFC 4861 §4.4).
pub const ND_ADVERT: u8 = 136;
/// Hop limit of every neighbour discovery message (RFC 4861 §4.3, §4.4: 255).
pub const ND_HOP_LIMIT: u8 = 255;
/// Option type: source link-layer address (RFC 4861 §4.6.1).
pub const OPT_SOURCE_LL: u8 = 1;
/// Option type: target link-layer address (RFC 4861 §4.6.1).
pub const OPT_TARGET_LL: u8 = 2;
/// Advertisement flag: solicited (RFC 4861 §4.4).
pub const NA_SOLICITED: u8 = 0x40;
/// Advertisement flag: override (RFC 4861 §4.4).
pub const NA_OVERRIDE: u8 = 0x20;
/// The link-local all-nodes group `ff02::1` (RFC 4291 §2.7.1).
pub const ALL_NODES: [u8; 16] = [0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];

/// Writes the Ethernet header (with an 802.1Q tag when `vlan` is set); returns its length.
fn ethernet(out: &mut [u8], dst: [u8; 6], src: [u8; 6], vlan: Option<u16>, ty: u16) -> usize {
    out[..6].copy_from_slice(&dst);
    out[6..12].copy_from_slice(&src);
    let mut at = 12;
    if let Some(vid) = vlan {
        out[12..14].copy_from_slice(&ETHERTYPE_VLAN.to_be_bytes());
        out[14..16].copy_from_slice(&(vid & 0x0fff).to_be_bytes());
        at = 16;
    }
    out[at..at + 2].copy_from_slice(&ty.to_be_bytes());
    at + 2
}

/// Zero-pads to the Ethernet minimum; returns the padded length.
fn pad(out: &mut [u8], len: usize) -> usize {
    if len < MIN_FRAME_LEN {
        out[len..MIN_FRAME_LEN].fill(0);
        MIN_FRAME_LEN
    } else {
        len
    }
}

/// A broadcast ARP request (RFC 826) for `target` from (`mac`, `ip`); with `target == ip` it
/// is an announcement (gratuitous ARP, RFC 5227 §3). At least 64 bytes of room needed.
pub fn arp_request(
    out: &mut [u8],
    vlan: Option<u16>,
    mac: [u8; 6],
    ip: [u8; 4],
    target: [u8; 4],
) -> Option<usize> {
    if out.len() < MIN_FRAME_LEN + 4 {
        return None;
    }
    let at = ethernet(out, BROADCAST_MAC, mac, vlan, ETHERTYPE_ARP);
    let arp = &mut out[at..at + 28];
    // RFC 826: hrd = 1 (Ethernet), pro = IPv4, hln = 6, pln = 4, op = request.
    arp[..8].copy_from_slice(&[0, 1, 0x08, 0x00, 6, 4, 0, 1]);
    arp[8..14].copy_from_slice(&mac);
    arp[14..18].copy_from_slice(&ip);
    arp[18..24].fill(0);
    arp[24..28].copy_from_slice(&target);
    Some(pad(out, at + 28))
}

/// Writes an IPv6 header and an ICMPv6 neighbour message (`ty`, 4 flag/reserved bytes, the
/// target, one link-layer option of type `opt` carrying `mac`) with its checksum; returns the
/// frame length. `at` is the IPv6 header offset.
#[allow(clippy::too_many_arguments)]
fn nd_message(
    out: &mut [u8],
    at: usize,
    src: &[u8; 16],
    dst: &[u8; 16],
    ty: u8,
    flags: u8,
    target: &[u8; 16],
    opt: u8,
    mac: [u8; 6],
) -> usize {
    const ICMP_LEN: usize = 24 + 8;
    let ip = &mut out[at..at + 40];
    ip[..4].copy_from_slice(&[0x60, 0, 0, 0]);
    ip[4..6].copy_from_slice(&(ICMP_LEN as u16).to_be_bytes());
    ip[6] = IPPROTO_ICMPV6;
    ip[7] = ND_HOP_LIMIT;
    ip[8..24].copy_from_slice(src);
    ip[24..40].copy_from_slice(dst);
    let m = &mut out[at + 40..at + 40 + ICMP_LEN];
    m[0] = ty;
    m[1] = 0;
    m[2..4].fill(0);
    m[4] = flags;
    m[5..8].fill(0);
    m[8..24].copy_from_slice(target);
    m[24] = opt;
    m[25] = 1; // length in units of 8 octets (RFC 4861 §4.6)
    m[26..32].copy_from_slice(&mac);
    // RFC 4443 §2.3: checksum over the pseudo-header (RFC 8200 §8.1) and the message.
    let c = fold(sum(m, pseudo_v6(src, dst, IPPROTO_ICMPV6, ICMP_LEN as u32)));
    m[2..4].copy_from_slice(&c.to_be_bytes());
    at + 40 + ICMP_LEN
}

/// A multicast neighbour solicitation for `target` from (`mac`, `ip`) to the target's
/// solicited-node group (RFC 4861 §7.2.2), with the source link-layer option. At least
/// [`super::MAX_BUILT_FRAME`] bytes of room needed.
pub fn neighbour_solicitation(
    out: &mut [u8],
    vlan: Option<u16>,
    mac: [u8; 6],
    ip: &[u8; 16],
    target: &[u8; 16],
) -> Option<usize> {
    if out.len() < super::MAX_BUILT_FRAME {
        return None;
    }
    let group = solicited_node(target);
    let at = ethernet(out, multicast_mac(&group), mac, vlan, ETHERTYPE_IPV6);
    Some(nd_message(
        out,
        at,
        ip,
        &group,
        ND_SOLICIT,
        0,
        target,
        OPT_SOURCE_LL,
        mac,
    ))
}

/// A neighbour advertisement for our address `ip` with the target link-layer option
/// (RFC 4861 §4.4, §7.2.4): to (`dst_mac`, `dst`) with `flags` ([`NA_SOLICITED`],
/// [`NA_OVERRIDE`]); an unsolicited one goes to [`ALL_NODES`] (§7.2.6). At least
/// [`super::MAX_BUILT_FRAME`] bytes of room needed.
pub fn neighbour_advertisement(
    out: &mut [u8],
    vlan: Option<u16>,
    mac: [u8; 6],
    ip: &[u8; 16],
    dst_mac: [u8; 6],
    dst: &[u8; 16],
    flags: u8,
) -> Option<usize> {
    if out.len() < super::MAX_BUILT_FRAME {
        return None;
    }
    let at = ethernet(out, dst_mac, mac, vlan, ETHERTYPE_IPV6);
    Some(nd_message(
        out,
        at,
        ip,
        dst,
        ND_ADVERT,
        flags,
        ip,
        OPT_TARGET_LL,
        mac,
    ))
}
