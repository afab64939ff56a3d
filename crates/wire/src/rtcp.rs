//! RTCP compound packet validation (RFC 3550 §6.4, Appendix A.2; RFC 5506 reduced-size) and
//! zero-copy access to the individual packets and their report blocks.
//!
//! SRTCP (RFC 3711 §3.4) appends an index and an authentication tag after the compound packet,
//! so an SRTCP datagram fails the length check of [`validate_compound`]; a relay passes such
//! datagrams through and uses this module only for plain RTCP statistics.

use thiserror::Error;

/// Sender report packet type (RFC 3550 §6.4.1).
pub const SR: u8 = 200;
/// Receiver report packet type (RFC 3550 §6.4.2).
pub const RR: u8 = 201;
/// Source description packet type (RFC 3550 §6.5).
pub const SDES: u8 = 202;
/// Goodbye packet type (RFC 3550 §6.6).
pub const BYE: u8 = 203;
/// Application-defined packet type (RFC 3550 §6.7).
pub const APP: u8 = 204;
/// Transport-layer feedback packet type (RFC 4585 §6.1).
pub const RTPFB: u8 = 205;
/// Payload-specific feedback packet type (RFC 4585 §6.1).
pub const PSFB: u8 = 206;
/// Extended report packet type (RFC 3611 §2).
pub const XR: u8 = 207;

/// Length of one reception report block (RFC 3550 §6.4.1).
pub const REPORT_BLOCK_LEN: usize = 24;
/// Length of the SR sender info section (RFC 3550 §6.4.1).
pub const SENDER_INFO_LEN: usize = 20;

/// Why a datagram is not a valid RTCP (compound or reduced-size) packet.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Error)]
pub enum RtcpError {
    /// Empty, or a packet header (4 bytes) is cut short (RFC 3550 §6.4.1).
    #[error("RTCP header cut short")]
    TooShort,
    /// A packet's version field is not 2 (RFC 3550 A.2).
    #[error("RTCP version is not 2")]
    BadVersion,
    /// A packet's length field runs past the end of the datagram, so the lengths do not add up
    /// to the datagram length (RFC 3550 A.2).
    #[error("RTCP length fields do not add up to the datagram length")]
    LengthMismatch,
    /// The padding bit is set on a packet other than the last one (RFC 3550 §6.4.1, A.2).
    #[error("padding on a packet other than the last")]
    PaddingNotLast,
    /// The padding count is zero or larger than the packet body (RFC 3550 §6.4.1).
    #[error("bad RTCP padding count")]
    BadPadding,
    /// An SR or RR declares more report blocks than fit in its length (RFC 3550 §6.4.1-2).
    #[error("report blocks run past the packet")]
    ReportOverrun,
    /// The first packet is too short to carry the sender SSRC (RFC 3550 §6.4).
    #[error("first packet carries no sender SSRC")]
    NoSenderSsrc,
}

/// Summary of a validated RTCP datagram.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct RtcpInfo {
    /// Packet type of the first packet (SR or RR for a compound packet).
    pub first_type: u8,
    /// SSRC of the sender of the first packet (the 32 bits after its header).
    pub sender_ssrc: u32,
    /// Number of packets in the datagram.
    pub packets: usize,
    /// True when the first packet is neither SR nor RR: a reduced-size packet (RFC 5506 §3).
    pub reduced_size: bool,
}

/// Validates an RTCP datagram (RFC 3550 Appendix A.2, relaxed as RFC 5506 allows).
///
/// Checks: every packet has version 2; the packet lengths add up exactly to the datagram
/// length; only the last packet may have padding and its count fits; SR and RR report counts
/// fit their length; the first packet carries a sender SSRC. The A.2 rule that the first packet
/// be SR or RR is relaxed for reduced-size RTCP (RFC 5506), reported in
/// [`RtcpInfo::reduced_size`].
pub fn validate_compound(p: &[u8]) -> Result<RtcpInfo, RtcpError> {
    let mut first: Option<(u8, u32)> = None;
    let mut packets = 0usize;
    let mut rest = p;
    if rest.is_empty() {
        return Err(RtcpError::TooShort);
    }
    // Each iteration consumes at least 4 bytes, so the loop is bounded by p.len() / 4.
    while !rest.is_empty() {
        let (pkt, tail) = split_packet(rest)?;
        // RFC 3550 A.2: padding only on the last packet of the compound.
        if pkt.padding() && !tail.is_empty() {
            return Err(RtcpError::PaddingNotLast);
        }
        pkt.check_body()?;
        if first.is_none() {
            let ssrc = pkt.ssrc().ok_or(RtcpError::NoSenderSsrc)?;
            first = Some((pkt.packet_type(), ssrc));
        }
        packets += 1;
        rest = tail;
    }
    let (first_type, sender_ssrc) = first.ok_or(RtcpError::TooShort)?;
    Ok(RtcpInfo {
        first_type,
        sender_ssrc,
        packets,
        // RFC 3550 A.2: first packet must be SR or RR; RFC 5506 §3 allows otherwise.
        reduced_size: !matches!(first_type, SR | RR),
    })
}

/// Splits the first packet off `p` (RFC 3550 §6.4.1: length in 32-bit words minus one).
#[inline]
fn split_packet(p: &[u8]) -> Result<(RtcpPacket<'_>, &[u8]), RtcpError> {
    let Some((hdr, _)) = p.split_first_chunk::<4>() else {
        return Err(RtcpError::TooShort);
    };
    // RFC 3550 A.2: version must be 2 in every packet.
    if hdr[0] >> 6 != 2 {
        return Err(RtcpError::BadVersion);
    }
    let len = (usize::from(u16::from_be_bytes([hdr[2], hdr[3]])) + 1) * 4;
    if len > p.len() {
        return Err(RtcpError::LengthMismatch);
    }
    let (this, tail) = p.split_at(len);
    let Some((hdr, body)) = this.split_first_chunk::<4>() else {
        return Err(RtcpError::TooShort);
    };
    Ok((RtcpPacket { hdr, body }, tail))
}

/// Iterates over the packets of an RTCP datagram, stopping at the first malformed header.
/// Use [`validate_compound`] first to learn whether the whole datagram is valid.
#[inline]
pub fn packets(p: &[u8]) -> Packets<'_> {
    Packets { rest: p }
}

/// Iterator over the packets of a datagram; see [`packets`].
#[derive(Clone, Debug)]
pub struct Packets<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Packets<'a> {
    type Item = RtcpPacket<'a>;

    fn next(&mut self) -> Option<RtcpPacket<'a>> {
        match split_packet(self.rest) {
            Ok((pkt, tail)) => {
                self.rest = tail;
                Some(pkt)
            }
            Err(_) => {
                self.rest = &[];
                None
            }
        }
    }
}

/// One RTCP packet: its 4-byte common header and the rest (including any padding).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RtcpPacket<'a> {
    hdr: &'a [u8; 4],
    body: &'a [u8],
}

impl<'a> RtcpPacket<'a> {
    /// The version field.
    #[inline]
    pub fn version(&self) -> u8 {
        self.hdr[0] >> 6
    }

    /// The padding bit.
    #[inline]
    pub fn padding(&self) -> bool {
        self.hdr[0] & 0x20 != 0
    }

    /// The 5-bit count field (reception report count, source count, or feedback format).
    #[inline]
    pub fn count(&self) -> u8 {
        self.hdr[0] & 0x1f
    }

    /// The packet type.
    #[inline]
    pub fn packet_type(&self) -> u8 {
        self.hdr[1]
    }

    /// Length of the whole packet in bytes, header and padding included.
    #[inline]
    pub fn len(&self) -> usize {
        4 + self.body.len()
    }

    /// Always false: a packet has at least its header.
    #[inline]
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The packet after its 4-byte header, without padding (empty if the padding is bad).
    #[inline]
    pub fn body(&self) -> &'a [u8] {
        if !self.padding() {
            return self.body;
        }
        let pad = self.body.last().map_or(0, |&c| usize::from(c));
        match self.body.len().checked_sub(pad) {
            Some(end) if pad > 0 => self.body.get(..end).unwrap_or_default(),
            _ => &[],
        }
    }

    /// The first 32 bits after the header: the SSRC of the sender for SR, RR, RTPFB, PSFB, XR
    /// and APP, the first SSRC/CSRC for SDES and BYE.
    #[inline]
    pub fn ssrc(&self) -> Option<u32> {
        self.body()
            .first_chunk::<4>()
            .map(|b| u32::from_be_bytes(*b))
    }

    /// The sender info of an SR (RFC 3550 §6.4.1).
    pub fn sender_info(&self) -> Option<SenderInfo> {
        if self.packet_type() != SR {
            return None;
        }
        let b = self.body().get(4..4 + SENDER_INFO_LEN)?;
        let word = |i: usize| -> u32 {
            match b.get(i..i + 4) {
                Some(&[a, b, c, d]) => u32::from_be_bytes([a, b, c, d]),
                _ => 0,
            }
        };
        Some(SenderInfo {
            ntp_timestamp: (u64::from(word(0)) << 32) | u64::from(word(4)),
            rtp_timestamp: word(8),
            packet_count: word(12),
            octet_count: word(16),
        })
    }

    /// The reception report blocks of an SR or RR (empty for other types), at most the count
    /// field's number and never past the packet (RFC 3550 §6.4.1, §6.4.2).
    pub fn report_blocks(&self) -> impl Iterator<Item = ReportBlock> + 'a {
        let start = match self.packet_type() {
            SR => 4 + SENDER_INFO_LEN,
            RR => 4,
            _ => usize::MAX,
        };
        let n = usize::from(self.count());
        self.body()
            .get(start..)
            .unwrap_or_default()
            .chunks_exact(REPORT_BLOCK_LEN)
            .take(n)
            .map(ReportBlock::from_bytes)
    }

    /// RFC 3550 §6.4.1: padding fits; SR/RR report blocks fit.
    fn check_body(&self) -> Result<(), RtcpError> {
        if self.padding() {
            let pad = self.body.last().map_or(0, |&c| usize::from(c));
            if pad == 0 || pad > self.body.len() {
                return Err(RtcpError::BadPadding);
            }
        }
        let fixed = match self.packet_type() {
            SR => 4 + SENDER_INFO_LEN,
            RR => 4,
            _ => return Ok(()),
        };
        if fixed + usize::from(self.count()) * REPORT_BLOCK_LEN > self.body().len() {
            return Err(RtcpError::ReportOverrun);
        }
        Ok(())
    }
}

/// The sender info section of an SR (RFC 3550 §6.4.1).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct SenderInfo {
    /// NTP timestamp, 32.32 fixed point.
    pub ntp_timestamp: u64,
    /// RTP timestamp corresponding to the NTP timestamp.
    pub rtp_timestamp: u32,
    /// Sender's packet count.
    pub packet_count: u32,
    /// Sender's octet count.
    pub octet_count: u32,
}

/// One reception report block (RFC 3550 §6.4.1).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct ReportBlock {
    /// SSRC of the source this block reports on.
    pub ssrc: u32,
    /// Fraction lost since the previous report, 8-bit fixed point (x/256).
    pub fraction_lost: u8,
    /// Cumulative number of packets lost: a signed 24-bit value (negative with duplicates).
    pub cumulative_lost: i32,
    /// Extended highest sequence number received.
    pub ext_highest_seq: u32,
    /// Interarrival jitter in timestamp units.
    pub jitter: u32,
    /// Last SR timestamp (middle 32 bits of its NTP timestamp).
    pub lsr: u32,
    /// Delay since last SR, in units of 1/65536 s.
    pub dlsr: u32,
}

impl ReportBlock {
    /// Decodes a block from its 24 bytes (missing bytes read as zero).
    fn from_bytes(b: &[u8]) -> ReportBlock {
        let word = |i: usize| -> u32 {
            match b.get(i..i + 4) {
                Some(&[a, b, c, d]) => u32::from_be_bytes([a, b, c, d]),
                _ => 0,
            }
        };
        let lost = word(4);
        // 24-bit two's complement, sign-extended: shift into the top and back arithmetically.
        let cumulative_lost = ((lost << 8) as i32) >> 8;
        ReportBlock {
            ssrc: word(0),
            fraction_lost: (lost >> 24) as u8,
            cumulative_lost,
            ext_highest_seq: word(8),
            jitter: word(12),
            lsr: word(16),
            dlsr: word(20),
        }
    }
}

#[cfg(test)]
mod tests;
