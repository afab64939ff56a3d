//! A minimal reader for classic libpcap files (what `tcpdump -w` writes), yielding the UDP
//! datagrams inside: timestamp, source, destination, payload. IPv4 and IPv6; link types
//! Ethernet (what `-i lo` gives on Linux), Linux cooked v1/v2, BSD loopback and raw IP.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use crate::error::{Error, Result};

/// One captured UDP datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datagram {
    /// Capture time since the Unix epoch.
    pub ts: Duration,
    /// UDP source.
    pub src: SocketAddr,
    /// UDP destination.
    pub dst: SocketAddr,
    /// UDP payload.
    pub payload: Vec<u8>,
}

const LINKTYPE_NULL: u32 = 0;
const LINKTYPE_ETHERNET: u32 = 1;
const LINKTYPE_RAW: u32 = 101;
const LINKTYPE_LINUX_SLL: u32 = 113;
const LINKTYPE_IPV4: u32 = 228;
const LINKTYPE_IPV6: u32 = 229;
const LINKTYPE_LINUX_SLL2: u32 = 276;

/// Reads every UDP datagram of the capture at `path`; other packets are skipped.
pub fn read_udp(path: &Path) -> Result<Vec<Datagram>> {
    let bytes =
        std::fs::read(path).map_err(|e| Error::io(format!("read {}", path.display()), e))?;
    parse_udp(&bytes).map_err(|reason| Error::Pcap {
        path: path.to_owned(),
        reason,
    })
}

/// [`read_udp`] on bytes already in memory.
pub fn parse_udp(bytes: &[u8]) -> std::result::Result<Vec<Datagram>, String> {
    let header = bytes.get(..24).ok_or("shorter than a pcap file header")?;
    let magic = header.get(..4).ok_or("no magic")?;
    let (big_endian, nanos) = match magic {
        [0xd4, 0xc3, 0xb2, 0xa1] => (false, false),
        [0xa1, 0xb2, 0xc3, 0xd4] => (true, false),
        [0x4d, 0x3c, 0xb2, 0xa1] => (false, true),
        [0xa1, 0xb2, 0x3c, 0x4d] => (true, true),
        _ => return Err(format!("not a classic pcap file (magic {magic:02x?})")),
    };
    let u32_at = |b: &[u8], at: usize| -> Option<u32> {
        let raw: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
        Some(if big_endian {
            u32::from_be_bytes(raw)
        } else {
            u32::from_le_bytes(raw)
        })
    };
    let linktype = u32_at(header, 20).ok_or("no link type")? & 0x0fff_ffff;
    let mut out = Vec::new();
    let mut at = 24usize;
    while at < bytes.len() {
        let rec = bytes.get(at..at + 16).ok_or("truncated record header")?;
        let (Some(sec), Some(frac), Some(caplen)) =
            (u32_at(rec, 0), u32_at(rec, 4), u32_at(rec, 8))
        else {
            return Err("truncated record header".into());
        };
        let caplen = usize::try_from(caplen).map_err(|_| "record length overflows")?;
        let start = at + 16;
        let end = start.checked_add(caplen).ok_or("record length overflows")?;
        let Some(frame) = bytes.get(start..end) else {
            // tcpdump killed mid-write leaves a partial last record: keep what came before.
            break;
        };
        at = end;
        let ts = Duration::from_secs(u64::from(sec))
            + if nanos {
                Duration::from_nanos(u64::from(frac))
            } else {
                Duration::from_micros(u64::from(frac))
            };
        if let Some((src, dst, payload)) = network_payload(linktype, frame).and_then(udp_of) {
            out.push(Datagram {
                ts,
                src,
                dst,
                payload: payload.to_vec(),
            });
        }
    }
    Ok(out)
}

/// The network-layer packet inside a link-layer frame, with its EtherType-like protocol
/// (0x0800 IPv4, 0x86dd IPv6).
fn network_payload(linktype: u32, frame: &[u8]) -> Option<(u16, &[u8])> {
    let be16 = |at: usize| -> Option<u16> {
        let raw: [u8; 2] = frame.get(at..at + 2)?.try_into().ok()?;
        Some(u16::from_be_bytes(raw))
    };
    match linktype {
        LINKTYPE_ETHERNET => {
            let mut ethertype = be16(12)?;
            let mut off = 14;
            // 802.1Q / 802.1ad tags.
            while ethertype == 0x8100 || ethertype == 0x88a8 {
                ethertype = be16(off + 2)?;
                off += 4;
            }
            Some((ethertype, frame.get(off..)?))
        }
        LINKTYPE_LINUX_SLL => Some((be16(14)?, frame.get(16..)?)),
        LINKTYPE_LINUX_SLL2 => Some((be16(0)?, frame.get(20..)?)),
        LINKTYPE_NULL => {
            let family_raw: [u8; 4] = frame.get(..4)?.try_into().ok()?;
            // Host byte order of the capturing machine: accept either.
            let family = u32::from_le_bytes(family_raw).min(u32::from_be_bytes(family_raw));
            let proto = match family {
                2 => 0x0800,
                10 | 24 | 28 | 30 => 0x86dd,
                _ => return None,
            };
            Some((proto, frame.get(4..)?))
        }
        LINKTYPE_RAW | 12 | 14 | LINKTYPE_IPV4 | LINKTYPE_IPV6 => {
            let version = frame.first()? >> 4;
            Some((if version == 6 { 0x86dd } else { 0x0800 }, frame))
        }
        _ => None,
    }
}

/// Source, destination and payload of a UDP packet in an IPv4 or IPv6 packet. Fragments and
/// IPv6 extension headers are skipped (the tests send neither).
fn udp_of((proto, ip): (u16, &[u8])) -> Option<(SocketAddr, SocketAddr, &[u8])> {
    let (src_ip, dst_ip, udp): (IpAddr, IpAddr, &[u8]) = match proto {
        0x0800 => {
            let ihl = usize::from(ip.first()? & 0x0f) * 4;
            let total = usize::from(u16::from_be_bytes(ip.get(2..4)?.try_into().ok()?));
            let frag = u16::from_be_bytes(ip.get(6..8)?.try_into().ok()?);
            // RFC 791 3.1: protocol 17 is UDP; MF flag or a fragment offset means a fragment.
            if ihl < 20 || *ip.get(9)? != 17 || frag & 0x3fff != 0 {
                return None;
            }
            let src: [u8; 4] = ip.get(12..16)?.try_into().ok()?;
            let dst: [u8; 4] = ip.get(16..20)?.try_into().ok()?;
            let end = total.min(ip.len());
            (
                Ipv4Addr::from(src).into(),
                Ipv4Addr::from(dst).into(),
                ip.get(ihl..end)?,
            )
        }
        0x86dd => {
            // RFC 8200 3: next header 17 is UDP directly after the fixed 40-byte header.
            if *ip.get(6)? != 17 {
                return None;
            }
            let len = usize::from(u16::from_be_bytes(ip.get(4..6)?.try_into().ok()?));
            let src: [u8; 16] = ip.get(8..24)?.try_into().ok()?;
            let dst: [u8; 16] = ip.get(24..40)?.try_into().ok()?;
            let end = (40 + len).min(ip.len());
            (
                Ipv6Addr::from(src).into(),
                Ipv6Addr::from(dst).into(),
                ip.get(40..end)?,
            )
        }
        _ => return None,
    };
    // RFC 768: 8-byte header, length covers header and data.
    let sport = u16::from_be_bytes(udp.get(0..2)?.try_into().ok()?);
    let dport = u16::from_be_bytes(udp.get(2..4)?.try_into().ok()?);
    let len = usize::from(u16::from_be_bytes(udp.get(4..6)?.try_into().ok()?));
    let end = len.clamp(8, udp.len().max(8));
    let payload = udp.get(8..end)?;
    Some((
        SocketAddr::new(src_ip, sport),
        SocketAddr::new(dst_ip, dport),
        payload,
    ))
}

#[cfg(test)]
mod tests;
