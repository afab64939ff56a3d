//! The RTP packets the load tool sends: a valid RFC 3550 §5.1 fixed header followed by a
//! payload that starts with a tag the receiver uses to attribute and time each packet.
//!
//! Payload layout (after the 12-byte header), big-endian:
//! `magic "FVLD" | step u32 | phase u8 | 3 zero bytes | stream u32 | send time ns u64`,
//! then μ-law silence (0xFF) up to the packet size.

/// Size of the RTP fixed header without CSRCs (RFC 3550 §5.1).
pub const HEADER_LEN: usize = 12;
/// Size of the tag at the start of the payload.
pub const TAG_LEN: usize = 24;
/// Smallest packet the tool can send: header + tag.
pub const MIN_PACKET: usize = HEADER_LEN + TAG_LEN;
/// The default packet: G.711 at 20 ms, 160 payload bytes + 12 header bytes.
pub const G711_20MS_PACKET: usize = 172;
/// RTP timestamp advance per packet of G.711 20 ms (8 kHz clock, RFC 3551 §4.5.14).
pub const TIMESTAMP_STEP: u32 = 160;

const MAGIC: [u8; 4] = *b"FVLD";

/// Whether a packet was sent during warm-up (not counted) or the measured window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Sent before the measured window; received copies are not counted.
    Warmup,
    /// Sent inside the measured window.
    Measure,
}

/// What the receiver reads back from a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tag {
    /// The step (offered rate) the packet belongs to.
    pub step: u32,
    /// Warm-up or measured.
    pub phase: Phase,
    /// The sending stream's id.
    pub stream: u32,
    /// Send time in nanoseconds since the tool's epoch.
    pub sent_ns: u64,
}

/// The RTP state of one sending stream.
#[derive(Debug, Clone)]
pub struct RtpStream {
    /// Synchronisation source, distinct per stream (RFC 3550 §5.1, §8).
    pub ssrc: u32,
    /// Next sequence number (wraps, RFC 3550 §5.1).
    pub seq: u16,
    /// Next RTP timestamp.
    pub timestamp: u32,
}

impl RtpStream {
    /// A stream whose SSRC and initial seq/timestamp are derived from `id` (RFC 3550 §5.1 asks
    /// for random initial values; a fixed mix keeps runs reproducible and SSRCs distinct).
    pub fn new(id: u32) -> Self {
        let mix = id.wrapping_mul(0x9E37_79B1) ^ 0x5EED_F00D;
        RtpStream {
            ssrc: mix,
            seq: (mix >> 16) as u16,
            timestamp: mix.rotate_left(7),
        }
    }

    /// Advances seq and timestamp by `n` packets without writing any.
    pub fn advance(&mut self, n: usize) {
        // Sequence numbers and timestamps wrap (RFC 3550 §5.1), so truncation is the intent.
        self.seq = self.seq.wrapping_add(n as u16);
        self.timestamp = self
            .timestamp
            .wrapping_add(TIMESTAMP_STEP.wrapping_mul(n as u32));
    }

    /// Writes the next packet of this stream into `buf` (the whole buffer is the packet) and
    /// advances seq and timestamp. Returns false, writing nothing, if `buf` is shorter than
    /// [`MIN_PACKET`].
    pub fn write_next(&mut self, buf: &mut [u8], tag: &Tag) -> bool {
        let Some((header, payload)) = buf.split_first_chunk_mut::<HEADER_LEN>() else {
            return false;
        };
        let Some((tag_bytes, rest)) = payload.split_first_chunk_mut::<TAG_LEN>() else {
            return false;
        };
        // RFC 3550 §5.1: V=2, P=0, X=0, CC=0 | M=0, PT=0 (PCMU) | seq | timestamp | SSRC.
        header[0] = 0x80;
        header[1] = 0;
        header[2..4].copy_from_slice(&self.seq.to_be_bytes());
        header[4..8].copy_from_slice(&self.timestamp.to_be_bytes());
        header[8..12].copy_from_slice(&self.ssrc.to_be_bytes());
        tag_bytes[0..4].copy_from_slice(&MAGIC);
        tag_bytes[4..8].copy_from_slice(&tag.step.to_be_bytes());
        tag_bytes[8] = match tag.phase {
            Phase::Warmup => 0,
            Phase::Measure => 1,
        };
        tag_bytes[9..12].fill(0);
        tag_bytes[12..16].copy_from_slice(&tag.stream.to_be_bytes());
        tag_bytes[16..24].copy_from_slice(&tag.sent_ns.to_be_bytes());
        rest.fill(0xFF);
        self.seq = self.seq.wrapping_add(1);
        self.timestamp = self.timestamp.wrapping_add(TIMESTAMP_STEP);
        true
    }
}

/// Reads the tag of a received packet; `None` if it is not an RTP version 2 packet of ours.
pub fn read_tag(packet: &[u8]) -> Option<Tag> {
    let (header, payload) = packet.split_first_chunk::<HEADER_LEN>()?;
    if header[0] >> 6 != 2 {
        return None;
    }
    let (tag, _) = payload.split_first_chunk::<TAG_LEN>()?;
    if tag[0..4] != MAGIC {
        return None;
    }
    let phase = match tag[8] {
        0 => Phase::Warmup,
        1 => Phase::Measure,
        _ => return None,
    };
    Some(Tag {
        step: u32::from_be_bytes(tag[4..8].try_into().ok()?),
        phase,
        stream: u32::from_be_bytes(tag[12..16].try_into().ok()?),
        sent_ns: u64::from_be_bytes(tag[16..24].try_into().ok()?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_valid_header_and_tag() {
        let mut s = RtpStream::new(3);
        let first_seq = s.seq;
        let first_ts = s.timestamp;
        let mut buf = [0u8; G711_20MS_PACKET];
        let tag = Tag {
            step: 9,
            phase: Phase::Measure,
            stream: 3,
            sent_ns: 123_456_789,
        };
        assert!(s.write_next(&mut buf, &tag));
        assert_eq!(buf[0], 0x80);
        assert_eq!(buf[1], 0);
        assert_eq!(u16::from_be_bytes([buf[2], buf[3]]), first_seq);
        assert_eq!(
            u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]),
            first_ts
        );
        assert_eq!(
            u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]),
            s.ssrc
        );
        assert_eq!(read_tag(&buf), Some(tag));
        assert_eq!(buf[G711_20MS_PACKET - 1], 0xFF);
        assert!(s.write_next(&mut buf, &tag));
        assert_eq!(
            u16::from_be_bytes([buf[2], buf[3]]),
            first_seq.wrapping_add(1)
        );
        assert_eq!(
            u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]),
            first_ts.wrapping_add(TIMESTAMP_STEP)
        );
    }

    #[test]
    fn ssrcs_differ() {
        let a = RtpStream::new(0).ssrc;
        let b = RtpStream::new(1).ssrc;
        assert_ne!(a, b);
    }

    #[test]
    fn short_or_foreign_packets() {
        let mut s = RtpStream::new(0);
        let tag = Tag {
            step: 0,
            phase: Phase::Warmup,
            stream: 0,
            sent_ns: 0,
        };
        let mut short = [0u8; MIN_PACKET - 1];
        assert!(!s.write_next(&mut short, &tag));
        assert_eq!(read_tag(&short), None);
        let mut buf = [0u8; MIN_PACKET];
        assert!(s.write_next(&mut buf, &tag));
        assert!(read_tag(&buf).is_some());
        let mut v1 = buf;
        v1[0] = 0x40;
        assert_eq!(read_tag(&v1), None);
        let mut bad_phase = buf;
        bad_phase[HEADER_LEN + 8] = 7;
        assert_eq!(read_tag(&bad_phase), None);
        let mut no_magic = buf;
        no_magic[HEADER_LEN] = b'X';
        assert_eq!(read_tag(&no_magic), None);
    }
}
