//! RTP fixed-header reading (RFC 3550 5.1) and the G.711 audio the sipp sides stream.

/// What the checks need from an RTP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpView<'a> {
    /// Payload type (7 bits).
    pub payload_type: u8,
    /// Sequence number.
    pub seq: u16,
    /// Synchronization source.
    pub ssrc: u32,
    /// The payload, after CSRCs and header extension, without padding.
    pub payload: &'a [u8],
}

impl<'a> RtpView<'a> {
    /// Parses `bytes` as RTP version 2; `None` if it is not (too short, wrong version, lengths
    /// that do not fit). RTCP (payload types 72..=76 with the marker bit, RFC 5761 4) is
    /// refused too.
    pub fn parse(bytes: &'a [u8]) -> Option<RtpView<'a>> {
        let first = *bytes.first()?;
        let second = *bytes.get(1)?;
        if first >> 6 != 2 || (192..=223).contains(&second) {
            return None;
        }
        let csrc = usize::from(first & 0x0f);
        let mut offset = 12 + 4 * csrc;
        if first & 0x10 != 0 {
            // RFC 3550 5.3.1: 16-bit profile field, 16-bit length in 32-bit words.
            let words = u16::from_be_bytes(bytes.get(offset + 2..offset + 4)?.try_into().ok()?);
            offset += 4 + 4 * usize::from(words);
        }
        let mut end = bytes.len();
        if first & 0x20 != 0 {
            // RFC 3550 5.1: the last octet counts the padding, itself included.
            end = end.checked_sub(usize::from(*bytes.last()?))?;
        }
        Some(RtpView {
            payload_type: second & 0x7f,
            seq: u16::from_be_bytes(bytes.get(2..4)?.try_into().ok()?),
            ssrc: u32::from_be_bytes(bytes.get(8..12)?.try_into().ok()?),
            payload: bytes.get(offset..end)?,
        })
    }
}

/// Samples per second of G.711.
pub const G711_RATE: u32 = 8000;
/// Bytes of one 20 ms G.711 frame (sipp's packet size for payload types 0 and 8).
pub const FRAME: usize = 160;

/// One second of a `freq_hz` sine tone, μ-law encoded (ITU-T G.711), at amplitude `amp`
/// (of 32767): the raw file sipp's `rtp_stream` plays, 50 whole frames long so that every
/// packet carries one of 50 known payloads (all distinct when `freq_hz` is an integer prime
/// to 50). Whole cycles per second make the loop seamless.
pub fn ulaw_tone(freq_hz: f64, amp: f64) -> Vec<u8> {
    (0..G711_RATE)
        .map(|n| {
            let t = f64::from(n) / f64::from(G711_RATE);
            let sample = (amp * (2.0 * std::f64::consts::PI * freq_hz * t).sin()).round();
            // In i16 range by construction: |amp| is clamped.
            #[allow(clippy::cast_possible_truncation)]
            let s = sample.clamp(-32768.0, 32767.0) as i16;
            linear_to_ulaw(s)
        })
        .collect()
}

/// ITU-T G.711 μ-law encoding of one 16-bit linear sample (the classic bias-and-segment
/// algorithm: bias 0x84, clip 32635, bits inverted on the wire).
pub fn linear_to_ulaw(sample: i16) -> u8 {
    const BIAS: i32 = 0x84;
    const CLIP: i32 = 32635;
    let mut s = i32::from(sample);
    let sign = if s < 0 {
        s = -s;
        0x80
    } else {
        0
    };
    s = s.min(CLIP) + BIAS;
    let mut exponent = 7u8;
    let mut mask = 0x4000;
    while exponent > 0 && s & mask == 0 {
        exponent -= 1;
        mask >>= 1;
    }
    let mantissa = (s >> (exponent + 3)) & 0x0f;
    // All parts fit one octet: sign 0x80, exponent <= 7 (<< 4), mantissa <= 0x0f.
    let byte = sign | (i32::from(exponent) << 4) | mantissa;
    !(u8::try_from(byte).unwrap_or(0x7f))
}

/// The distinct 20 ms frames of a file made by [`ulaw_tone`].
pub fn frames(audio: &[u8]) -> std::collections::HashSet<Vec<u8>> {
    audio.chunks_exact(FRAME).map(<[u8]>::to_vec).collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a test failure.
mod tests {
    use super::*;

    #[test]
    fn parses_a_plain_header_and_one_with_csrc_extension_padding() {
        let mut p = vec![0x80, 0x00, 0x12, 0x34, 0, 0, 0, 160, 0xca, 0xfe, 0xba, 0xbe];
        p.extend_from_slice(&[0xff; 160]);
        let v = RtpView::parse(&p).unwrap();
        assert_eq!((v.payload_type, v.seq, v.ssrc), (0, 0x1234, 0xcafe_babe));
        assert_eq!(v.payload.len(), 160);

        // CC=1, X=1, P=1: CSRC, one-word extension, 2 bytes padding.
        let mut q = vec![0xb1, 0x08, 0, 1, 0, 0, 0, 0, 0, 0, 0, 9];
        q.extend_from_slice(&[1, 2, 3, 4]);
        q.extend_from_slice(&[0xbe, 0xde, 0, 1, 9, 9, 9, 9]);
        q.extend_from_slice(&[7, 7, 7, 0, 2]);
        let v = RtpView::parse(&q).unwrap();
        assert_eq!(v.payload_type, 8);
        assert_eq!(v.payload, &[7, 7, 7]);
    }

    #[test]
    fn refuses_non_rtp_and_short_input() {
        assert!(RtpView::parse(b"INVITE sip:x SIP/2.0").is_none());
        assert!(RtpView::parse(&[0x80, 0, 0]).is_none());
        assert!(RtpView::parse(&[0x80, 200, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]).is_none());
        assert!(RtpView::parse(&[0xa0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 200]).is_none());
        assert!(
            RtpView::parse(&[0x90, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]).is_none()
        );
    }

    #[test]
    fn ulaw_matches_g711_reference_points() {
        // Silence, full scale, and the sign bit.
        assert_eq!(linear_to_ulaw(0), 0xff);
        assert_eq!(linear_to_ulaw(-1), 0x7f);
        assert_eq!(linear_to_ulaw(32767), 0x80);
        assert_eq!(linear_to_ulaw(-32768), 0x00);
        assert_eq!(linear_to_ulaw(1000), 0xce);
    }

    #[test]
    fn tones_are_fifty_distinct_frames_and_differ_from_each_other() {
        // 443 and 1009 are prime to 50: each 20 ms frame starts at another phase.
        let a = ulaw_tone(443.0, 8000.0);
        let b = ulaw_tone(1009.0, 8000.0);
        assert_eq!(a.len(), 8000);
        let (fa, fb) = (frames(&a), frames(&b));
        assert_eq!((fa.len(), fb.len()), (50, 50));
        assert!(fa.is_disjoint(&fb));
    }
}
