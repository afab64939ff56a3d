//! RTP fixed header view (RFC 3550 §5.1) with the checks of RFC 3550 Appendix A.1 that apply
//! to a single packet.

use thiserror::Error;

/// Length of the RTP fixed header (RFC 3550 §5.1).
pub const FIXED_HEADER_LEN: usize = 12;

/// Why a datagram is not a well-formed RTP packet.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Error)]
pub enum RtpError {
    /// Shorter than the 12-byte fixed header (RFC 3550 §5.1).
    #[error("shorter than the RTP fixed header")]
    TooShort,
    /// The version field is not 2 (RFC 3550 §5.1, A.1).
    #[error("RTP version is not 2")]
    BadVersion,
    /// The CSRC list (4 bytes per CC) runs past the end (RFC 3550 §5.1).
    #[error("CSRC list runs past the end")]
    CsrcOverrun,
    /// The header extension (4-byte header plus its length in 32-bit words) runs past the end
    /// (RFC 3550 §5.3.1).
    #[error("header extension runs past the end")]
    ExtensionOverrun,
    /// The P bit is set but the padding count is zero or larger than the space after the header
    /// (RFC 3550 §5.1, A.1).
    #[error("bad padding count")]
    BadPadding,
}

/// A checked, zero-copy view of an RTP packet.
///
/// Construction via [`parse`] guarantees the header, CSRC list, extension and padding all lie
/// inside the buffer, so every accessor is infallible.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RtpView<'a> {
    fixed: &'a [u8; FIXED_HEADER_LEN],
    /// Everything after the fixed header (CSRCs, extension, payload, padding).
    rest: &'a [u8],
    /// Offset in `rest` where the CSRC list and extension end.
    header_rest_len: usize,
    /// Number of padding bytes at the end of `rest`.
    padding_len: usize,
}

/// Parses and validates an RTP packet (RFC 3550 §5.1, §5.3.1, A.1).
///
/// Checks: version 2, length >= 12 + 4·CC, the extension header and its declared length fit,
/// and with P set a padding count of at least one that fits after the header. Payload type
/// values are not judged here: RTP/RTCP demultiplexing is [`crate::demux`]'s job.
#[inline]
pub fn parse(p: &[u8]) -> Result<RtpView<'_>, RtpError> {
    let Some((fixed, rest)) = p.split_first_chunk::<FIXED_HEADER_LEN>() else {
        return Err(RtpError::TooShort);
    };
    let b0 = fixed[0];
    // RFC 3550 §5.1: version (V) 2 bits, must be 2.
    if b0 >> 6 != 2 {
        return Err(RtpError::BadVersion);
    }
    // RFC 3550 §5.1: CC (4 bits) 32-bit CSRC identifiers follow the fixed header.
    let mut hlen = usize::from(b0 & 0x0f) * 4;
    if hlen > rest.len() {
        return Err(RtpError::CsrcOverrun);
    }
    // RFC 3550 §5.3.1: with X set, a 16-bit profile field and a 16-bit length (in 32-bit words,
    // excluding the 4-byte extension header) follow the CSRC list.
    if b0 & 0x10 != 0 {
        let Some(&[_, _, l0, l1]) = rest.get(hlen..hlen + 4) else {
            return Err(RtpError::ExtensionOverrun);
        };
        hlen += 4 + usize::from(u16::from_be_bytes([l0, l1])) * 4;
        if hlen > rest.len() {
            return Err(RtpError::ExtensionOverrun);
        }
    }
    // RFC 3550 §5.1: with P set, the last octet counts the padding octets including itself.
    let padding_len = if b0 & 0x20 != 0 {
        let count = rest.last().map_or(0, |&c| usize::from(c));
        if count == 0 || count > rest.len() - hlen {
            return Err(RtpError::BadPadding);
        }
        count
    } else {
        0
    };
    Ok(RtpView {
        fixed,
        rest,
        header_rest_len: hlen,
        padding_len,
    })
}

impl<'a> RtpView<'a> {
    /// The version field (always 2 for a parsed view).
    #[inline]
    pub fn version(&self) -> u8 {
        self.fixed[0] >> 6
    }

    /// The padding (P) bit.
    #[inline]
    pub fn padding(&self) -> bool {
        self.fixed[0] & 0x20 != 0
    }

    /// The extension (X) bit.
    #[inline]
    pub fn has_extension(&self) -> bool {
        self.fixed[0] & 0x10 != 0
    }

    /// The CSRC count (CC).
    #[inline]
    pub fn csrc_count(&self) -> u8 {
        self.fixed[0] & 0x0f
    }

    /// The marker (M) bit.
    #[inline]
    pub fn marker(&self) -> bool {
        self.fixed[1] & 0x80 != 0
    }

    /// The payload type (7 bits).
    #[inline]
    pub fn payload_type(&self) -> u8 {
        self.fixed[1] & 0x7f
    }

    /// The sequence number.
    #[inline]
    pub fn seq(&self) -> u16 {
        u16::from_be_bytes([self.fixed[2], self.fixed[3]])
    }

    /// The RTP timestamp.
    #[inline]
    pub fn timestamp(&self) -> u32 {
        let f = self.fixed;
        u32::from_be_bytes([f[4], f[5], f[6], f[7]])
    }

    /// The synchronization source identifier.
    #[inline]
    pub fn ssrc(&self) -> u32 {
        let f = self.fixed;
        u32::from_be_bytes([f[8], f[9], f[10], f[11]])
    }

    /// The contributing source identifiers.
    #[inline]
    pub fn csrcs(&self) -> impl Iterator<Item = u32> + 'a {
        let n = usize::from(self.csrc_count()) * 4;
        self.rest
            .get(..n)
            .unwrap_or_default()
            .chunks_exact(4)
            .map(|c| match *c {
                [a, b, c, d] => u32::from_be_bytes([a, b, c, d]),
                _ => 0,
            })
    }

    /// The header extension as (profile-defined 16 bits, extension data without its 4-byte
    /// header), if the X bit is set (RFC 3550 §5.3.1).
    #[inline]
    pub fn extension(&self) -> Option<(u16, &'a [u8])> {
        if !self.has_extension() {
            return None;
        }
        let start = usize::from(self.csrc_count()) * 4;
        match self.rest.get(start..self.header_rest_len)? {
            [p0, p1, _, _, data @ ..] => Some((u16::from_be_bytes([*p0, *p1]), data)),
            _ => None,
        }
    }

    /// Total header length: fixed header, CSRC list and extension.
    #[inline]
    pub fn header_len(&self) -> usize {
        FIXED_HEADER_LEN + self.header_rest_len
    }

    /// Number of padding bytes at the end (0 when P is clear).
    #[inline]
    pub fn padding_len(&self) -> usize {
        self.padding_len
    }

    /// The payload, without header and padding.
    #[inline]
    pub fn payload(&self) -> &'a [u8] {
        let end = self.rest.len().saturating_sub(self.padding_len);
        self.rest.get(self.header_rest_len..end).unwrap_or_default()
    }

    /// Length of the whole packet.
    #[inline]
    pub fn len(&self) -> usize {
        FIXED_HEADER_LEN + self.rest.len()
    }

    /// Always false: a parsed packet has at least its fixed header.
    #[inline]
    pub fn is_empty(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests;
