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
    // RFC 1071 §2(B), §2(C): the sum is independent of word size and byte order as long as the
    // end-around carry is kept, so add 64-bit big-endian words with a 64-bit end-around carry
    // (2^64 ≡ 1 mod 0xffff) and fold at the end.
    let mut acc = u64::from(initial);
    let mut words = data.chunks_exact(8);
    for w in &mut words {
        if let &[a, b, c, d, e, f, g, h] = w {
            acc = add_carry(acc, u64::from_be_bytes([a, b, c, d, e, f, g, h]));
        }
    }
    let mut tail = words.remainder();
    if let Some((w, rest)) = tail.split_first_chunk::<4>() {
        acc = add_carry(acc, u64::from(u32::from_be_bytes(*w)));
        tail = rest;
    }
    if let Some((w, rest)) = tail.split_first_chunk::<2>() {
        acc = add_carry(acc, u64::from(u16::from_be_bytes(*w)));
        tail = rest;
    }
    if let Some(&last) = tail.first() {
        acc = add_carry(acc, u64::from(last) << 8);
    }
    // Fold 64 -> 32 bits keeping the end-around carry; two rounds always suffice.
    let acc = (acc & 0xffff_ffff) + (acc >> 32);
    let acc = (acc & 0xffff_ffff) + (acc >> 32);
    // Invariant: after two rounds acc <= 0xffff_ffff.
    acc as u32
}

/// 64-bit addition with end-around carry.
#[inline(always)]
fn add_carry(acc: u64, x: u64) -> u64 {
    let (s, carry) = acc.overflowing_add(x);
    // No overflow: when carry is set, s <= 2^64 - 2.
    s + u64::from(carry)
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
