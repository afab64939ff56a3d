//! ARP for IPv4 over Ethernet (RFC 826): parse, answer a request in place, build a request.
//!
//! The DPDK ports answer ARP for the relay addresses themselves and resolve next hops with
//! their own requests; the socket backend leaves ARP to the kernel.

use crate::frame::{ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_VLAN, MIN_FRAME_LEN};
use thiserror::Error;

/// Length of an Ethernet/IPv4 ARP packet (RFC 826).
pub const ARP_LEN: usize = 28;
/// `ar$op` of a request (RFC 826).
pub const OP_REQUEST: u16 = 1;
/// `ar$op` of a reply (RFC 826).
pub const OP_REPLY: u16 = 2;

/// Why a frame is not a usable ARP packet.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Error)]
pub enum ArpError {
    /// Shorter than the Ethernet header, VLAN tag or 28-byte ARP packet.
    #[error("runt ARP frame")]
    Runt,
    /// The ethertype (after at most one VLAN tag) is not ARP.
    #[error("not ARP")]
    NotArp,
    /// Hardware/protocol type or address lengths other than Ethernet (1, 6) and IPv4
    /// (0x0800, 4) (RFC 826).
    #[error("ARP for other than Ethernet/IPv4")]
    Unsupported,
    /// An opcode other than request or reply (RFC 826).
    #[error("unknown ARP opcode")]
    BadOperation,
    /// Only a request can be answered.
    #[error("not an ARP request")]
    NotRequest,
}

/// A parsed Ethernet/IPv4 ARP packet.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Arp {
    /// Offset of the ARP packet in the frame (14, or 18 with a VLAN tag).
    pub l3: usize,
    /// VLAN id of the 802.1Q tag, if tagged.
    pub vlan: Option<u16>,
    /// [`OP_REQUEST`] or [`OP_REPLY`].
    pub op: u16,
    /// Sender hardware address (`ar$sha`).
    pub sender_mac: [u8; 6],
    /// Sender protocol address (`ar$spa`).
    pub sender_ip: [u8; 4],
    /// Target hardware address (`ar$tha`; zero in a request).
    pub target_mac: [u8; 6],
    /// Target protocol address (`ar$tpa`).
    pub target_ip: [u8; 4],
}

impl Arp {
    /// True for a gratuitous ARP / announcement (sender and target IP equal, RFC 5227 §3).
    #[inline]
    pub fn is_gratuitous(&self) -> bool {
        self.sender_ip == self.target_ip
    }
}

/// Parses an Ethernet frame carrying Ethernet/IPv4 ARP (RFC 826), with at most one VLAN tag.
pub fn parse(frame: &[u8]) -> Result<Arp, ArpError> {
    let (ethertype, l3) = crate::frame::ethertype(frame).ok_or(ArpError::Runt)?;
    if ethertype != ETHERTYPE_ARP {
        return Err(ArpError::NotArp);
    }
    let vlan = match *frame {
        [_, _, _, _, _, _, _, _, _, _, _, _, 0x81, 0x00, t0, t1, ..] => {
            Some(u16::from_be_bytes([t0, t1]) & 0x0fff)
        }
        _ => None,
    };
    let Some(a) = frame.get(l3..).and_then(|p| p.first_chunk::<ARP_LEN>()) else {
        return Err(ArpError::Runt);
    };
    // RFC 826: ar$hrd = 1 (Ethernet), ar$pro = 0x0800, ar$hln = 6, ar$pln = 4.
    if a[..6] != [0, 1, 0x08, 0x00, 6, 4] {
        return Err(ArpError::Unsupported);
    }
    let op = u16::from_be_bytes([a[6], a[7]]);
    if op != OP_REQUEST && op != OP_REPLY {
        return Err(ArpError::BadOperation);
    }
    Ok(Arp {
        l3,
        vlan,
        op,
        sender_mac: [a[8], a[9], a[10], a[11], a[12], a[13]],
        sender_ip: [a[14], a[15], a[16], a[17]],
        target_mac: [a[18], a[19], a[20], a[21], a[22], a[23]],
        target_ip: [a[24], a[25], a[26], a[27]],
    })
}

/// Turns a parsed request into the reply in place (RFC 826 "Packet Reception": swap sender
/// and target, put the local hardware address in the sender field, set the opcode to reply),
/// addressed to the requester's MAC from `our_mac`. The caller decides whether the target IP
/// is one of its own.
pub fn reply_in_place(frame: &mut [u8], a: &Arp, our_mac: [u8; 6]) -> Result<(), ArpError> {
    if a.op != OP_REQUEST {
        return Err(ArpError::NotRequest);
    }
    let end = a.l3.checked_add(ARP_LEN).ok_or(ArpError::Runt)?;
    if a.l3 < 12 || frame.len() < end {
        return Err(ArpError::Runt);
    }
    let [o0, o1] = OP_REPLY.to_be_bytes();
    let (m, t) = (our_mac, a.target_ip);
    let (s, p) = (a.sender_mac, a.sender_ip);
    let reply: [u8; ARP_LEN] = [
        0, 1, 0x08, 0x00, 6, 4, o0, o1, // hrd, pro, hln, pln, op
        m[0], m[1], m[2], m[3], m[4], m[5], // sha = us
        t[0], t[1], t[2], t[3], // spa = the address asked for
        s[0], s[1], s[2], s[3], s[4], s[5], // tha = requester
        p[0], p[1], p[2], p[3], // tpa = requester
    ];
    if let Some(dst) = frame.get_mut(a.l3..end) {
        for (o, n) in dst.iter_mut().zip(reply.iter()) {
            *o = *n;
        }
    }
    if let Some(eth) = frame.get_mut(..12) {
        for (o, n) in eth.iter_mut().zip(s.iter().chain(our_mac.iter())) {
            *o = *n;
        }
    }
    Ok(())
}

/// Builds a broadcast ARP request for `target_ip` from (`src_mac`, `src_ip`) into `out`
/// (cleared first), with an 802.1Q tag when `vlan` is set, zero-padded to
/// [`MIN_FRAME_LEN`]. With `target_ip == src_ip` it is an announcement (RFC 5227 §3).
pub fn build_request(
    out: &mut Vec<u8>,
    vlan: Option<u16>,
    src_mac: [u8; 6],
    src_ip: [u8; 4],
    target_ip: [u8; 4],
) {
    out.clear();
    out.extend_from_slice(&[0xff; 6]);
    out.extend_from_slice(&src_mac);
    if let Some(vid) = vlan {
        out.extend_from_slice(&ETHERTYPE_VLAN.to_be_bytes());
        out.extend_from_slice(&(vid & 0x0fff).to_be_bytes());
    }
    out.extend_from_slice(&ETHERTYPE_ARP.to_be_bytes());
    out.extend_from_slice(&[0, 1]);
    out.extend_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
    out.extend_from_slice(&[6, 4]);
    out.extend_from_slice(&OP_REQUEST.to_be_bytes());
    out.extend_from_slice(&src_mac);
    out.extend_from_slice(&src_ip);
    out.extend_from_slice(&[0; 6]);
    out.extend_from_slice(&target_ip);
    if out.len() < MIN_FRAME_LEN {
        out.resize(MIN_FRAME_LEN, 0);
    }
}

#[cfg(test)]
mod tests;
