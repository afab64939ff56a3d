//! Fixed, platform-independent hashing for rendezvous (highest random weight) selection.
//!
//! HRW (Thaler and Ravishankar, "Using name-based mappings to increase hit rates", 1998): each
//! member scores `mix(hash(key) ^ seed(member))` and the highest score wins. When a member
//! drops out only the keys it won move; every other key keeps its winner.

/// FNV-1a, 64-bit (offset basis 0xcbf29ce484222325, prime 0x100000001b3).
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The SplitMix64 finalizer: spreads every input bit over the output, so that the XOR of two
/// FNV values gives independent-looking scores per member.
pub fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The rendezvous score of a member (by its seed) for a key hash.
pub fn score(key_hash: u64, member_seed: u64) -> u64 {
    mix(key_hash ^ member_seed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_the_published_test_vectors() {
        // Vectors from the FNV reference (draft-eastlake-fnv, FNV-1a 64).
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn mix_is_a_bijection_on_samples_and_differs_from_identity() {
        let outs: std::collections::BTreeSet<u64> = (0..1000u64).map(mix).collect();
        assert_eq!(outs.len(), 1000);
        assert_ne!(mix(0), 0);
    }
}
