//! Receive side: Ethernet / IP / UDP header checks and UDP checksum verification.

use super::{
    FrameError, UdpFrame, ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETHERTYPE_QINQ, ETHERTYPE_VLAN,
    ETH_HEADER_LEN, IPPROTO_UDP, IPV4_HEADER_LEN, IPV6_HEADER_LEN, UDP_HEADER_LEN, VLAN_TAG_LEN,
};
use crate::checksum;
use crate::Endpoint;

/// The ethertype after at most one VLAN tag, with the offset of the layer-3 header; `None` for
/// a frame too short to say.
#[inline]
pub fn ethertype(frame: &[u8]) -> Option<(u16, usize)> {
    match *frame {
        [_, _, _, _, _, _, _, _, _, _, _, _, 0x81, 0x00, _, _, e0, e1, ..] => {
            Some((u16::from_be_bytes([e0, e1]), ETH_HEADER_LEN + VLAN_TAG_LEN))
        }
        [_, _, _, _, _, _, _, _, _, _, _, _, 0x81, 0x00, ..] => None,
        [_, _, _, _, _, _, _, _, _, _, _, _, e0, e1, ..] => {
            Some((u16::from_be_bytes([e0, e1]), ETH_HEADER_LEN))
        }
        _ => None,
    }
}

/// Parses and checks an Ethernet II / IPv4 or IPv6 / UDP frame.
///
/// Trailing bytes after the IP datagram (Ethernet padding) are allowed and ignored. The IPv4
/// header checksum is verified; the UDP checksum is not (see [`verify_udp_checksum`]; the NIC
/// may have done it).
#[inline]
pub fn parse_udp(frame: &[u8]) -> Result<UdpFrame, FrameError> {
    parse_udp_offload(frame, false)
}

/// [`parse_udp`] for a frame whose IPv4 header checksum the NIC has verified already
/// (`ip_checksum_good`, from the receive offload flags): the software check is skipped then,
/// every other check is made.
#[inline]
pub fn parse_udp_offload(frame: &[u8], ip_checksum_good: bool) -> Result<UdpFrame, FrameError> {
    let Some((eth, _)) = frame.split_first_chunk::<ETH_HEADER_LEN>() else {
        return Err(FrameError::Runt);
    };
    let mut ethertype = u16::from_be_bytes([eth[12], eth[13]]);
    let mut l3 = ETH_HEADER_LEN;
    let mut vlan = None;
    // IEEE 802.1Q: TPID 0x8100, then a 16-bit TCI (3-bit PCP, DEI, 12-bit VID), then the
    // inner ethertype.
    if ethertype == ETHERTYPE_VLAN {
        let Some(&[t0, t1, e0, e1]) = frame.get(ETH_HEADER_LEN..ETH_HEADER_LEN + VLAN_TAG_LEN)
        else {
            return Err(FrameError::Runt);
        };
        vlan = Some(u16::from_be_bytes([t0, t1]) & 0x0fff);
        ethertype = u16::from_be_bytes([e0, e1]);
        l3 += VLAN_TAG_LEN;
        if ethertype == ETHERTYPE_VLAN {
            return Err(FrameError::StackedVlan);
        }
    }
    let ip = frame.get(l3..).unwrap_or_default();
    match ethertype {
        ETHERTYPE_IPV4 => parse_v4(ip, l3, vlan, ip_checksum_good),
        ETHERTYPE_IPV6 => parse_v6(ip, l3, vlan),
        ETHERTYPE_QINQ => Err(FrameError::StackedVlan),
        _ => Err(FrameError::NotIp),
    }
}

/// IPv4 (RFC 791 §3.1) and UDP (RFC 768) checks; `ip` starts at the IPv4 header.
#[inline]
fn parse_v4(
    ip: &[u8],
    l3: usize,
    vlan: Option<u16>,
    checked: bool,
) -> Result<UdpFrame, FrameError> {
    let Some((h, _)) = ip.split_first_chunk::<IPV4_HEADER_LEN>() else {
        return Err(FrameError::Runt);
    };
    // RFC 791 §3.1: version 4, IHL in 32-bit words, minimum 5 (one compare on the fast path).
    match h[0] {
        0x45 => {}
        0x40..=0x44 => return Err(FrameError::BadIpHeaderLen),
        0x46..=0x4f => return Err(FrameError::IpOptions),
        _ => return Err(FrameError::BadIpVersion),
    }
    let total = usize::from(u16::from_be_bytes([h[2], h[3]]));
    if total < IPV4_HEADER_LEN || total > ip.len() {
        return Err(FrameError::BadTotalLength);
    }
    // RFC 1122 §3.2.1.2: a host MUST verify the header checksum and silently discard on failure.
    // (A header verifies when its folded sum is all ones, in either byte order.)
    if !checked && checksum::fold16(checksum::sum_le(h)) != 0xffff {
        return Err(FrameError::BadIpChecksum);
    }
    // RFC 791 §3.1: MF flag (0x2000) or a non-zero fragment offset (low 13 bits).
    if u16::from_be_bytes([h[6], h[7]]) & 0x3fff != 0 {
        return Err(FrameError::Fragment);
    }
    if h[9] != IPPROTO_UDP {
        return Err(FrameError::NotUdp);
    }
    let src = [h[12], h[13], h[14], h[15]];
    let dst = [h[16], h[17], h[18], h[19]];
    // RFC 1122 §3.2.1.3: discard a source of 0.0.0.0/8 ({0, <Host>}), a class D (multicast)
    // address, or the limited broadcast 255.255.255.255.
    if src[0] == 0 || src[0] & 0xf0 == 0xe0 || src == [0xff; 4] {
        return Err(FrameError::BadSourceAddress);
    }
    let udp = ip.get(IPV4_HEADER_LEN..total).unwrap_or_default();
    let (sport, dport, _) = udp_header(udp)?;
    let l4 = l3 + IPV4_HEADER_LEN;
    Ok(UdpFrame {
        l3,
        l4,
        payload: l4 + UDP_HEADER_LEN,
        payload_len: udp.len() - UDP_HEADER_LEN,
        src: Endpoint::new_v4(src, sport),
        dst: Endpoint::new_v4(dst, dport),
        vlan,
        v6: false,
    })
}

/// IPv6 (RFC 8200 §3, §4) and UDP (RFC 768, RFC 8200 §8.1) checks; `ip` starts at the IPv6
/// header.
#[inline]
fn parse_v6(ip: &[u8], l3: usize, vlan: Option<u16>) -> Result<UdpFrame, FrameError> {
    let Some((h, rest)) = ip.split_first_chunk::<IPV6_HEADER_LEN>() else {
        return Err(FrameError::Runt);
    };
    if h[0] >> 4 != 6 {
        return Err(FrameError::BadIpVersion);
    }
    let plen = usize::from(u16::from_be_bytes([h[4], h[5]]));
    let Some(udp) = rest.get(..plen) else {
        return Err(FrameError::BadTotalLength);
    };
    match h[6] {
        IPPROTO_UDP => {}
        // RFC 8200 §4.5: Fragment header.
        44 => return Err(FrameError::Fragment),
        // RFC 8200 §4 / IANA "IPv6 Extension Header Types": Hop-by-Hop, Routing, ESP, AH,
        // Destination Options, Mobility, HIP, Shim6, experimental 253/254.
        0 | 43 | 50 | 51 | 60 | 135 | 139 | 140 | 253 | 254 => {
            return Err(FrameError::Ipv6ExtHeader)
        }
        _ => return Err(FrameError::NotUdp),
    }
    let Some((src, tail)) = h[8..].split_first_chunk::<16>() else {
        return Err(FrameError::Runt);
    };
    let Some((dst, _)) = tail.split_first_chunk::<16>() else {
        return Err(FrameError::Runt);
    };
    // RFC 4291 §2.7: a multicast address must not be a source; §2.5.2: the unspecified address
    // only while a node has no address (never for a UDP flow to the relay).
    if src[0] == 0xff || *src == [0; 16] {
        return Err(FrameError::BadSourceAddress);
    }
    let (src, dst) = (Endpoint::new_v6(*src, 0), Endpoint::new_v6(*dst, 0));
    // RFC 4291 §2.5.5.2: IPv4-mapped addresses are not used on the wire.
    if src.is_v4() || dst.is_v4() {
        return Err(FrameError::MappedAddress);
    }
    let (sport, dport, check) = udp_header(udp)?;
    // RFC 8200 §8.1: a zero UDP checksum over IPv6 MUST be discarded.
    if check == 0 {
        return Err(FrameError::ZeroUdpChecksum);
    }
    let l4 = l3 + IPV6_HEADER_LEN;
    Ok(UdpFrame {
        l3,
        l4,
        payload: l4 + UDP_HEADER_LEN,
        payload_len: udp.len() - UDP_HEADER_LEN,
        src: Endpoint { port: sport, ..src },
        dst: Endpoint { port: dport, ..dst },
        vlan,
        v6: true,
    })
}

/// RFC 768: source port, destination port, length (header + data, at least 8), checksum.
/// The UDP length must equal the IP payload length (`udp.len()`); returns the ports and the
/// checksum field.
#[inline(always)]
fn udp_header(udp: &[u8]) -> Result<(u16, u16, u16), FrameError> {
    match *udp {
        [s0, s1, d0, d1, l0, l1, c0, c1, ..]
            if usize::from(u16::from_be_bytes([l0, l1])) == udp.len() =>
        {
            Ok((
                u16::from_be_bytes([s0, s1]),
                u16::from_be_bytes([d0, d1]),
                u16::from_be_bytes([c0, c1]),
            ))
        }
        _ => Err(FrameError::BadUdpLength),
    }
}

/// True when the UDP checksum of a parsed frame must be verified: always over IPv6; over
/// IPv4 unless the field is zero ("no checksum", RFC 768), which [`verify_udp_checksum`]
/// accepts without summing. False if `f` does not describe `frame`.
#[inline(always)]
pub fn udp_checksum_present(frame: &[u8], f: &UdpFrame) -> bool {
    match f.l4.checked_add(6).and_then(|c| frame.get(c..c + 2)) {
        Some(&[c0, c1]) => f.v6 || c0 != 0 || c1 != 0,
        _ => true,
    }
}

/// Verifies the UDP checksum of a parsed frame over the pseudo-header (RFC 768; RFC 8200 §8.1)
/// read from the frame itself. An IPv4 datagram with a zero checksum has none and verifies
/// (RFC 768); over IPv6 zero never verifies. False if `f` does not describe `frame`.
pub fn verify_udp_checksum(frame: &[u8], f: &UdpFrame) -> bool {
    let Some(udp) = UDP_HEADER_LEN
        .checked_add(f.payload_len)
        .and_then(|len| sub(frame, f.l4, len))
    else {
        return false;
    };
    let Some(&[_, _, _, _, _, _, c0, c1]) = udp.get(..UDP_HEADER_LEN) else {
        return false;
    };
    let zero = c0 == 0 && c1 == 0;
    // Source and destination addresses are contiguous in both IP headers.
    let addrs = if f.v6 {
        f.l3.checked_add(8).and_then(|a| sub(frame, a, 32))
    } else {
        if zero {
            return true;
        }
        f.l3.checked_add(12).and_then(|a| sub(frame, a, 8))
    };
    let Some(addrs) = addrs else {
        return false;
    };
    if zero {
        return false;
    }
    // Pseudo-header: addresses + protocol + UDP length (RFC 768; RFC 8200 §8.1). The length is
    // at most 65535 + 8 here, so it fits the u32 initial sum.
    let Ok(len) = u32::try_from(udp.len()) else {
        return false;
    };
    let initial = checksum::sum(addrs, u32::from(IPPROTO_UDP) + len);
    checksum::fold(checksum::sum(udp, initial)) == 0
}

/// `len` bytes of `buf` from `start`, if they are all there.
#[inline(always)]
pub(super) fn sub(buf: &[u8], start: usize, len: usize) -> Option<&[u8]> {
    buf.get(start..start.checked_add(len)?)
}
