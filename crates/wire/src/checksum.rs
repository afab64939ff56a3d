//! The Internet checksum (RFC 1071) and its incremental update (RFC 1624).
//!
//! [`sum`] accumulates the ones' complement sum of 16-bit big-endian words without folding;
//! [`fold`] folds the carries and complements, giving the value that goes into a checksum field.
//! A received header or segment is intact when `fold(sum(all bytes incl. the checksum field))`
//! is zero (RFC 1071 §1, step (3)).

/// Adds `data` to the running ones' complement sum `initial` (RFC 1071 §4.1).
///
/// `data` must start at an even offset of the checksummed region; an odd final byte is padded
/// on the right with a zero byte (RFC 1071 §1, step (2); RFC 768). The result is unfolded and
/// may be passed again as `initial` for the next (even-offset) piece.
#[inline]
pub fn sum(data: &[u8], initial: u32) -> u32 {
    let mut acc: u64 = 0;
    // Blocks of 2^30 bytes keep `sum_le` below 2^60 (see there) and `acc` below 2^61.
    for block in data.chunks(1 << 30) {
        acc = u64::from(fold16(acc + sum_le(block)));
    }
    // RFC 1071 §2(B): swapping the bytes of the folded little-endian sum gives the
    // big-endian (network order) sum.
    let be = u64::from(fold16(acc).swap_bytes()) + u64::from(initial);
    // Invariant: be < 2^32 + 2^16; folding the carry twice gives less than 2^32.
    let be = (be & 0xffff_ffff) + (be >> 32);
    ((be & 0xffff_ffff) + (be >> 32)) as u32
}

/// Unfolded ones' complement sum of `data` taken as little-endian 16-bit words (an odd final
/// byte as the low byte of a word), which is the byte-swapped network-order sum
/// (RFC 1071 §2(B)). Adds 32-bit words into 64 bits (§2(C)): for `data` up to 2^30 bytes
/// the result stays below 2^60.
#[inline(always)]
pub(crate) fn sum_le(data: &[u8]) -> u64 {
    let mut words = data.chunks_exact(4);
    let mut s: u64 = 0;
    for w in &mut words {
        if let &[a, b, c, d] = w {
            s += u64::from(u32::from_le_bytes([a, b, c, d]));
        }
    }
    match *words.remainder() {
        [a, b, c] => s + u64::from(u16::from_le_bytes([a, b])) + u64::from(c),
        [a, b] => s + u64::from(u16::from_le_bytes([a, b])),
        [a] => s + u64::from(a),
        _ => s,
    }
}

/// Folds a 64-bit ones' complement sum to 16 bits with end-around carries (zero stays zero,
/// anything else lands in 1..=0xffff).
#[inline(always)]
pub(crate) fn fold16(x: u64) -> u16 {
    let x = (x & 0xffff_ffff) + (x >> 32); // < 2^33
    let x = (x & 0xffff) + (x >> 16); // < 2^17 + 2^16
    let x = (x & 0xffff) + (x >> 16); // <= 0xffff + 3
    let x = (x & 0xffff) + (x >> 16); // <= 0xffff
    x as u16
}

/// Folds an unfolded sum to 16 bits and returns its ones' complement: the checksum field value
/// for data whose sum (with the field zeroed) is `sum` (RFC 1071 §1, step (3)).
#[inline]
pub fn fold(sum: u32) -> u16 {
    let s = (sum & 0xffff) + (sum >> 16);
    let s = (s & 0xffff) + (s >> 16);
    // Invariant: after two rounds s <= 0xffff.
    !(s as u16)
}

/// The checksum of `data` on its own: `fold(sum(data, 0))`.
#[inline]
pub fn checksum(data: &[u8]) -> u16 {
    fold(sum(data, 0))
}

/// Updates checksum field `check` after a 16-bit word of the covered data changed from `old`
/// to `new`: RFC 1624 §3, eqn. 3, `HC' = ~(~HC + ~m + m')`.
#[inline]
pub fn update16(check: u16, old: u16, new: u16) -> u16 {
    fold(u32::from(!check) + u32::from(!old) + u32::from(new))
}

/// Updates checksum field `check` after the bytes `old` of the covered data were replaced by
/// `new` (RFC 1624 §3, eqn. 3, applied to the sums of the two byte strings).
///
/// Both must start at the same even offset of the covered data and have the same even length;
/// (an odd length is treated as padded with a zero byte, which is only right at the very end
/// of the covered data).
#[inline]
pub fn update_bytes(check: u16, old: &[u8], new: &[u8]) -> u16 {
    // fold(sum(old)) is ~m; !fold(sum(new)) is m', both folded to 16 bits.
    fold(u32::from(!check) + u32::from(fold(sum(old, 0))) + u32::from(!fold(sum(new, 0))))
}

/// Unfolded sum of the IPv4 pseudo-header (RFC 768; RFC 9293 §3.1): source, destination,
/// zero + protocol, and the transport length.
#[inline]
pub fn pseudo_v4(src: &[u8; 4], dst: &[u8; 4], protocol: u8, len: u16) -> u32 {
    let [a, b, c, d] = *src;
    let [e, f, g, h] = *dst;
    let [l0, l1] = len.to_be_bytes();
    sum(&[a, b, c, d, e, f, g, h, 0, protocol, l0, l1], 0)
}

/// Unfolded sum of the IPv6 pseudo-header (RFC 8200 §8.1): source, destination, 32-bit
/// upper-layer length and next header.
#[inline]
pub fn pseudo_v6(src: &[u8; 16], dst: &[u8; 16], next_header: u8, len: u32) -> u32 {
    let s = sum(src, u32::from(next_header));
    let s = sum(dst, s);
    sum(&len.to_be_bytes(), s)
}

#[cfg(test)]
mod tests;
