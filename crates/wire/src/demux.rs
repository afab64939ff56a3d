//! Classifies what arrives on a media port by its first bytes (RFC 7983 §7) and tells RTP from
//! RTCP on a multiplexed port (RFC 5761 §4).

/// What a datagram on a media port is.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Class {
    /// RTP (first byte 128..=191, second byte not an RTCP packet type).
    Rtp,
    /// RTCP (first byte 128..=191, second byte 192..=223).
    Rtcp,
    /// STUN (first byte 0..=3).
    Stun,
    /// DTLS (first byte 20..=63).
    Dtls,
    /// ZRTP (first byte 16..=19).
    Zrtp,
    /// Anything else, including TURN ChannelData (64..=79), which this relay does not serve.
    Unknown,
}

/// Classifies a datagram by its first byte (RFC 7983 §7) and, for RTP/RTCP, by its second
/// byte (RFC 5761 §4).
#[inline]
pub fn classify(p: &[u8]) -> Class {
    match *p {
        // RFC 7983 §7: 0..3 STUN, 16..19 ZRTP, 20..63 DTLS, 64..79 TURN channel, 128..191 RTP/RTCP.
        [0..=3, ..] => Class::Stun,
        [16..=19, ..] => Class::Zrtp,
        [20..=63, ..] => Class::Dtls,
        // RFC 5761 §4: RTCP packet types 192..=223 occupy the M bit + PT octet of RTP payload
        // types 64..=95 with the marker set, which RTP on a multiplexed port must not use.
        [128..=191, 192..=223, ..] => Class::Rtcp,
        [128..=191, _, ..] => Class::Rtp,
        _ => Class::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rfc7983_first_byte_ranges() {
        // RFC 7983 §7 table.
        for b in 0..=3u8 {
            assert_eq!(classify(&[b, 1]), Class::Stun);
        }
        for b in 16..=19u8 {
            assert_eq!(classify(&[b, 0]), Class::Zrtp);
        }
        for b in 20..=63u8 {
            assert_eq!(classify(&[b, 0]), Class::Dtls);
        }
        for b in 64..=79u8 {
            assert_eq!(classify(&[b, 0]), Class::Unknown, "TURN channel {b}");
        }
        for b in (4..=15u8).chain(80..=127).chain(192..=255) {
            assert_eq!(classify(&[b, 0]), Class::Unknown, "{b}");
        }
        for b in 128..=191u8 {
            assert_eq!(classify(&[b, 0]), Class::Rtp);
        }
    }

    #[test]
    fn rfc5761_rtp_rtcp_split() {
        // RFC 5761 §4: second octet 192..=223 is RTCP (SR 200, RR 201, ..., PSFB 206).
        for b1 in 192..=223u8 {
            assert_eq!(classify(&[0x80, b1]), Class::Rtcp);
        }
        // PT 0..=63 and 96..=127 with or without marker, and 64..=95 without marker, are RTP.
        for b1 in (0..192u8).chain(224..=255) {
            assert_eq!(classify(&[0x80, b1]), Class::Rtp, "{b1}");
        }
    }

    #[test]
    fn too_short_is_unknown() {
        assert_eq!(classify(&[]), Class::Unknown);
        assert_eq!(classify(&[0x80]), Class::Unknown);
        assert_eq!(classify(&[0x00]), Class::Stun);
    }

    proptest! {
        #[test]
        fn never_panics_and_rtp_needs_two_bytes(p in proptest::collection::vec(any::<u8>(), 0..40)) {
            let c = classify(&p);
            if matches!(c, Class::Rtp | Class::Rtcp) {
                prop_assert!(p.len() >= 2);
            }
        }
    }
}
