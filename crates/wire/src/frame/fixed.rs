//! The receive fast path for the common shape of a relayed frame: untagged Ethernet II, IPv4
//! without options, UDP. Every header field sits at a fixed offset of the first
//! [`UDP4_FIXED_LEN`] bytes, so the checks are one read of that header with no lengths to
//! follow. Anything else, and any frame that fails a check, is left to the general parse
//! ([`super::parse_udp_offload`]), which gives the verdict and its reason: the fast path only
//! says yes, so it can never refuse a frame the general parse accepts or name another reason.

use super::{UdpFrame, ETH_HEADER_LEN, IPV4_HEADER_LEN, UDP_HEADER_LEN};
use crate::checksum;

/// Length of the fixed header the fast path reads: Ethernet (14), IPv4 without options (20)
/// and UDP (8).
pub const UDP4_FIXED_LEN: usize = ETH_HEADER_LEN + IPV4_HEADER_LEN + UDP_HEADER_LEN;

/// Offset of the UDP header in a frame of the common shape.
const L4: usize = ETH_HEADER_LEN + IPV4_HEADER_LEN;

/// What the relay needs of a frame of the common shape that passed every check (8 bytes,
/// returned in a register). The source address and port stay in the frame.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Udp4Fixed {
    /// Destination IPv4 address, network order.
    pub dst: [u8; 4],
    /// Destination UDP port.
    pub dst_port: u16,
    /// UDP payload length (the UDP length less 8); the payload starts at [`UDP4_FIXED_LEN`].
    pub payload_len: u16,
}

impl Udp4Fixed {
    /// The general parse's description of the same frame, without its endpoints (the
    /// checksum verification reads them from the frame).
    #[inline]
    pub fn offsets(&self) -> UdpFrame {
        UdpFrame {
            l3: ETH_HEADER_LEN,
            l4: L4,
            payload: UDP4_FIXED_LEN,
            payload_len: usize::from(self.payload_len),
            ..UdpFrame::default()
        }
    }
}

/// The fast-path check of `frame`: `Some` exactly when `frame` is an untagged Ethernet II /
/// IPv4 (no options) / UDP frame that [`super::parse_udp_offload`] accepts with the same
/// `ip_checksum_good`; `None` otherwise (another shape, or a check failed: the general parse
/// says which).
///
/// The checks are those of the general parse (RFC 791 §3.1, RFC 1122 §3.2.1.2 and
/// §3.2.1.3, RFC 768), on fixed offsets: ethertype 0x0800, version 4 with IHL 5, protocol
/// UDP, no fragment, a total length that covers the UDP length and fits the frame, a
/// source that is neither 0.0.0.0/8, multicast nor the limited broadcast, the header
/// checksum unless the NIC verified it.
#[inline]
pub fn parse_udp4_fixed(frame: &[u8], ip_checksum_good: bool) -> Option<Udp4Fixed> {
    let (h, _) = frame.split_first_chunk::<UDP4_FIXED_LEN>()?;
    // Ethertype, version/IHL and protocol in one compare.
    let shape = u32::from_be_bytes([h[12], h[13], h[14], h[23]]);
    // RFC 791 §3.1: MF flag (0x2000) or a non-zero fragment offset (low 13 bits).
    let fragment = u16::from_be_bytes([h[20], h[21]]) & 0x3fff;
    let total = u32::from(u16::from_be_bytes([h[16], h[17]]));
    let udp_len = u32::from(u16::from_be_bytes([h[38], h[39]]));
    let s0 = h[26];
    // RFC 1122 §3.2.1.3: not 0.0.0.0/8, not class D, not 255.255.255.255.
    let bad_src = s0 == 0 || s0 & 0xf0 == 0xe0 || [h[26], h[27], h[28], h[29]] == [0xff; 4];
    // RFC 768: the UDP length covers header and data and equals the IP payload length;
    // the IP datagram fits the frame (Ethernet padding after it is allowed).
    let lengths_ok = udp_len >= UDP_HEADER_LEN as u32
        && total == udp_len + IPV4_HEADER_LEN as u32
        && (udp_len as usize) + L4 <= frame.len();
    if shape != 0x0800_4511 || fragment != 0 || bad_src || !lengths_ok {
        return None;
    }
    // RFC 1122 §3.2.1.2: the header checksum verifies, i.e. the ones' complement sum of the
    // header folds to all ones. The sum of its five 32-bit words is not zero (the version
    // byte is in it) and folding keeps it modulo 0xffff (2^16 = 1 mod 0xffff) without
    // reaching zero, so it folds to 0xffff exactly when it is a multiple of 0xffff: one
    // divisibility test instead of the folding rounds.
    if !ip_checksum_good && checksum::sum_le(&h[ETH_HEADER_LEN..L4]) % 0xffff != 0 {
        return None;
    }
    Some(Udp4Fixed {
        dst: [h[30], h[31], h[32], h[33]],
        dst_port: u16::from_be_bytes([h[36], h[37]]),
        payload_len: (udp_len - UDP_HEADER_LEN as u32) as u16,
    })
}

/// True when the UDP checksum of a fast-path frame must be summed: its field is not zero
/// (over IPv4 zero means "no checksum", RFC 768). See [`super::udp_checksum_present`].
#[inline(always)]
pub fn udp4_fixed_checksum_present(frame: &[u8]) -> bool {
    matches!(frame.get(L4 + 6..L4 + 8), Some(c) if c != [0, 0])
}

/// [`super::verify_udp_checksum`] for a frame [`parse_udp4_fixed`] accepted as `f`.
#[inline]
pub fn verify_udp4_fixed_checksum(frame: &[u8], f: &Udp4Fixed) -> bool {
    super::verify_udp_checksum(frame, &f.offsets())
}
