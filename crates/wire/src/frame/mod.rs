//! Ethernet II (+ at most one 802.1Q tag) / IPv4 (no options) or IPv6 (no extension headers) /
//! UDP: checked parse, checksum verification, in-place rewrite and a frame builder.
//!
//! The relay is the destination of every datagram it relays and re-originates it (new
//! addresses, ports and TTL), so the receive checks are those of a host (RFC 1122 §3.2.1,
//! RFC 8200), not of a router: a TTL of 0 or 1 is accepted (RFC 1122 §3.2.1.7 says a host need
//! not discard it), and the rewrite sets a fresh TTL/hop limit.

mod build;
mod fixed;
mod parse;
mod rewrite;

pub use build::{build_udp, build_udp_tagged};
pub use fixed::{
    parse_udp4_fixed, udp4_fixed_checksum_present, verify_udp4_fixed_checksum, Udp4Fixed,
    UDP4_FIXED_LEN,
};
pub use parse::{
    ethertype, parse_udp, parse_udp_offload, udp_checksum_present, verify_udp_checksum,
};
pub use rewrite::{rewrite_udp, rewrite_udp_v4, rewrite_udp_v4_addrs, rewrite_udp_v6};

use crate::Endpoint;
use thiserror::Error;

/// Ethernet II header length (destination MAC, source MAC, ethertype).
pub const ETH_HEADER_LEN: usize = 14;
/// Length of an 802.1Q tag (TPID + TCI).
pub const VLAN_TAG_LEN: usize = 4;
/// IPv4 header length without options.
pub const IPV4_HEADER_LEN: usize = 20;
/// IPv6 fixed header length.
pub const IPV6_HEADER_LEN: usize = 40;
/// UDP header length.
pub const UDP_HEADER_LEN: usize = 8;
/// Shortest Ethernet frame without FCS (IEEE 802.3 minimum of 64 bytes less the 4-byte FCS).
pub const MIN_FRAME_LEN: usize = 60;
/// TTL / hop limit the relay sets on the datagrams it re-originates (RFC 1700's default 64,
/// as Linux uses).
pub const TTL: u8 = 64;

/// Ethertype IPv4.
pub const ETHERTYPE_IPV4: u16 = 0x0800;
/// Ethertype ARP.
pub const ETHERTYPE_ARP: u16 = 0x0806;
/// Ethertype IPv6.
pub const ETHERTYPE_IPV6: u16 = 0x86dd;
/// Ethertype (TPID) of an IEEE 802.1Q VLAN tag.
pub const ETHERTYPE_VLAN: u16 = 0x8100;
/// Ethertype (TPID) of an IEEE 802.1ad service tag (QinQ outer tag).
pub const ETHERTYPE_QINQ: u16 = 0x88a8;
/// IP protocol number / IPv6 next header of UDP.
pub const IPPROTO_UDP: u8 = 17;

/// Offsets and addresses of a parsed Ethernet/IP/UDP frame; see [`parse_udp`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub struct UdpFrame {
    /// Offset of the IP header (14, or 18 with a VLAN tag).
    pub l3: usize,
    /// Offset of the UDP header.
    pub l4: usize,
    /// Offset of the UDP payload.
    pub payload: usize,
    /// Length of the UDP payload (UDP length less 8); Ethernet padding is not part of it.
    pub payload_len: usize,
    /// Source address and port.
    pub src: Endpoint,
    /// Destination address and port.
    pub dst: Endpoint,
    /// The 12-bit VLAN id of the 802.1Q tag, if tagged (0 for a priority-only tag).
    pub vlan: Option<u16>,
    /// True for IPv6, false for IPv4.
    pub v6: bool,
}

impl UdpFrame {
    /// The UDP payload inside `frame` (empty if `frame` is not the buffer this was parsed from).
    #[inline]
    pub fn payload_bytes<'a>(&self, frame: &'a [u8]) -> &'a [u8] {
        self.payload
            .checked_add(self.payload_len)
            .and_then(|end| frame.get(self.payload..end))
            .unwrap_or_default()
    }

    /// Length of the frame up to the end of the UDP payload (excludes Ethernet padding).
    #[inline]
    pub fn frame_len(&self) -> usize {
        self.payload.saturating_add(self.payload_len)
    }
}

/// Why a frame is dropped (or cannot be rewritten): one reason per variant, suitable for a
/// per-reason drop counter (see [`FrameError::ALL`] and [`FrameError::as_str`]).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Error)]
pub enum FrameError {
    /// Shorter than its Ethernet, VLAN tag or IP fixed header.
    #[error("runt frame")]
    Runt,
    /// Ethertype is neither IPv4 nor IPv6 (ARP included: see [`ethertype`] and
    /// [`crate::arp`]).
    #[error("not IP")]
    NotIp,
    /// More than one VLAN tag (802.1Q inside 802.1Q, or an 802.1ad service tag).
    #[error("stacked VLAN tags")]
    StackedVlan,
    /// The IP version nibble does not match the ethertype (RFC 791 §3.1, RFC 8200 §3).
    #[error("IP version does not match the ethertype")]
    BadIpVersion,
    /// IPv4 IHL below 5 (RFC 791 §3.1).
    #[error("IPv4 header length below 20")]
    BadIpHeaderLen,
    /// IPv4 header with options (IHL above 5); not handled on the fast path.
    #[error("IPv4 options")]
    IpOptions,
    /// IPv4 total length shorter than the header or longer than the frame, or IPv6 payload
    /// length longer than the frame (RFC 791 §3.1, RFC 8200 §3).
    #[error("IP length does not fit the frame")]
    BadTotalLength,
    /// IPv4 header checksum does not verify (RFC 791 §3.1; RFC 1122 §3.2.1.2: MUST discard).
    #[error("bad IPv4 header checksum")]
    BadIpChecksum,
    /// An IPv4 fragment (MF set or non-zero offset) or an IPv6 Fragment header; fragments
    /// are not reassembled on the fast path.
    #[error("IP fragment")]
    Fragment,
    /// IP protocol / next header is not UDP.
    #[error("not UDP")]
    NotUdp,
    /// An IPv6 extension header other than Fragment precedes the transport (RFC 8200 §4).
    #[error("IPv6 extension header")]
    Ipv6ExtHeader,
    /// Source address that no host may send from: IPv4 0.0.0.0/8, multicast or limited
    /// broadcast (RFC 1122 §3.2.1.3: MUST discard); IPv6 unspecified or multicast
    /// (RFC 4291 §2.5.2, §2.7).
    #[error("invalid source address")]
    BadSourceAddress,
    /// An IPv6 header carries an IPv4-mapped address, which must not appear on the wire
    /// (RFC 4291 §2.5.5.2; RFC 4942 §2.2) and would be ambiguous in an [`Endpoint`].
    #[error("IPv4-mapped address in an IPv6 header")]
    MappedAddress,
    /// UDP length below 8 or different from the IP payload length (RFC 768).
    #[error("UDP length does not match the IP payload")]
    BadUdpLength,
    /// IPv6 UDP datagram with a zero checksum (RFC 8200 §8.1: MUST discard).
    #[error("zero UDP checksum over IPv6")]
    ZeroUdpChecksum,
    /// Rewrite asked for endpoints of the other address family than the frame's.
    #[error("address family differs between frame and endpoints")]
    FamilyMismatch,
    /// Rewrite got a [`UdpFrame`] that does not describe this buffer.
    #[error("frame descriptor does not fit the buffer")]
    Mismatch,
}

impl FrameError {
    /// Number of variants.
    pub const COUNT: usize = 17;

    /// Every variant, in [`FrameError::index`] order.
    pub const ALL: [FrameError; FrameError::COUNT] = [
        FrameError::Runt,
        FrameError::NotIp,
        FrameError::StackedVlan,
        FrameError::BadIpVersion,
        FrameError::BadIpHeaderLen,
        FrameError::IpOptions,
        FrameError::BadTotalLength,
        FrameError::BadIpChecksum,
        FrameError::Fragment,
        FrameError::NotUdp,
        FrameError::Ipv6ExtHeader,
        FrameError::BadSourceAddress,
        FrameError::MappedAddress,
        FrameError::BadUdpLength,
        FrameError::ZeroUdpChecksum,
        FrameError::FamilyMismatch,
        FrameError::Mismatch,
    ];

    /// A dense index in `0..COUNT`, for per-reason counter arrays.
    #[inline]
    pub fn index(self) -> usize {
        self as usize
    }

    /// A stable snake_case name, for metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            FrameError::Runt => "runt",
            FrameError::NotIp => "not_ip",
            FrameError::StackedVlan => "stacked_vlan",
            FrameError::BadIpVersion => "bad_ip_version",
            FrameError::BadIpHeaderLen => "bad_ip_header_len",
            FrameError::IpOptions => "ip_options",
            FrameError::BadTotalLength => "bad_total_length",
            FrameError::BadIpChecksum => "bad_ip_checksum",
            FrameError::Fragment => "fragment",
            FrameError::NotUdp => "not_udp",
            FrameError::Ipv6ExtHeader => "ipv6_ext_header",
            FrameError::BadSourceAddress => "bad_source_address",
            FrameError::MappedAddress => "mapped_address",
            FrameError::BadUdpLength => "bad_udp_length",
            FrameError::ZeroUdpChecksum => "zero_udp_checksum",
            FrameError::FamilyMismatch => "family_mismatch",
            FrameError::Mismatch => "mismatch",
        }
    }
}

#[cfg(test)]
mod tests;
