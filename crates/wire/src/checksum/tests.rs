use super::*;
use proptest::prelude::*;

/// Reference: RFC 1071 §4.1 word by word, 32-bit accumulator, folded, not complemented.
fn reference_folded(data: &[u8]) -> u16 {
    let mut acc: u64 = 0;
    let mut i = 0;
    while i + 1 < data.len() {
        acc += u64::from(u16::from_be_bytes([data[i], data[i + 1]]));
        i += 2;
    }
    if i < data.len() {
        acc += u64::from(data[i]) << 8;
    }
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

#[test]
fn rfc1071_section3_example() {
    // RFC 1071 §3: bytes 00 01 f2 03 f4 f5 f6 f7 sum to ddf2 (folded), checksum 220d.
    let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
    assert_eq!(!fold(sum(&data, 0)), 0xddf2);
    assert_eq!(checksum(&data), 0x220d);
}

#[test]
fn odd_length_pads_with_zero() {
    // RFC 1071 §1 (2): an odd byte count is padded on the right with zero.
    assert_eq!(checksum(&[0x12]), !0x1200);
    assert_eq!(
        checksum(&[0xab, 0xcd, 0x12]),
        checksum(&[0xab, 0xcd, 0x12, 0x00])
    );
}

#[test]
fn verification_of_checksummed_data_gives_zero() {
    // RFC 1071 §1 (3): summing data together with its checksum gives all ones.
    let mut hdr = [
        0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8, 0x00,
        0x01, 0xc0, 0xa8, 0x00, 0xc7,
    ];
    let c = checksum(&hdr);
    assert_eq!(c, 0xb861); // the well-known example header
    hdr[10..12].copy_from_slice(&c.to_be_bytes());
    assert_eq!(checksum(&hdr), 0);
}

#[test]
fn rfc1624_section4_example() {
    // RFC 1624 §4: m = 0x5555 -> m' = 0x3285, other octets sum to 0xCD7A, HC = 0xDD2F.
    // Eqn. 3 gives 0x0000 like a recomputation; eqn. 2 would give 0xFFFF.
    assert_eq!(fold(0xcd7a + 0x5555), 0xdd2f);
    assert_eq!(update16(0xdd2f, 0x5555, 0x3285), 0x0000);
    assert_eq!(fold(0xcd7a + 0x3285), 0x0000);
    assert_eq!(update_bytes(0xdd2f, &[0x55, 0x55], &[0x32, 0x85]), 0x0000);
}

#[test]
fn pseudo_headers_match_manual_layout() {
    let s = [10, 0, 0, 1];
    let d = [10, 0, 0, 2];
    let manual = [10, 0, 0, 1, 10, 0, 0, 2, 0, 17, 0, 20];
    assert_eq!(fold(pseudo_v4(&s, &d, 17, 20)), checksum(&manual));
    let s6 = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    let d6 = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
    let mut manual6 = Vec::new();
    manual6.extend_from_slice(&s6);
    manual6.extend_from_slice(&d6);
    manual6.extend_from_slice(&[0, 0, 0, 48, 0, 0, 0, 17]);
    assert_eq!(fold(pseudo_v6(&s6, &d6, 17, 48)), checksum(&manual6));
}

proptest! {
    #[test]
    fn sum_matches_wordwise_reference(data in proptest::collection::vec(any::<u8>(), 0..300)) {
        prop_assert_eq!(!fold(sum(&data, 0)), reference_folded(&data));
    }

    #[test]
    fn sum_is_incremental_over_even_splits(
        data in proptest::collection::vec(any::<u8>(), 0..300),
        split in 0usize..150,
    ) {
        let at = (split * 2).min(data.len() & !1);
        let (a, b) = data.split_at(at);
        prop_assert_eq!(fold(sum(b, sum(a, 0))), checksum(&data));
    }

    #[test]
    fn update16_equals_recompute(
        data in proptest::collection::vec(any::<u8>(), 2..64),
        word in 0usize..32,
        new in any::<u16>(),
    ) {
        let mut data = data;
        data.truncate(data.len() & !1);
        let at = (word * 2) % data.len();
        let before = checksum(&data);
        let old = u16::from_be_bytes([data[at], data[at + 1]]);
        data[at..at + 2].copy_from_slice(&new.to_be_bytes());
        let after = checksum(&data);
        let inc = update16(before, old, new);
        // Identical unless the data became all zero (the +0/-0 case of RFC 1624 §3).
        if data.iter().any(|&b| b != 0) {
            prop_assert_eq!(inc, after);
        } else {
            prop_assert!(inc == 0 || inc == 0xffff);
        }
    }

    #[test]
    fn update_bytes_equals_recompute(
        data in proptest::collection::vec(any::<u8>(), 16..64),
        new in proptest::collection::vec(any::<u8>(), 8),
        at in 0usize..4,
    ) {
        let mut data = data;
        let at = at * 2;
        let before = checksum(&data);
        let old = data[at..at + 8].to_vec();
        data[at..at + 8].copy_from_slice(&new);
        let inc = update_bytes(before, &old, &new);
        if data.iter().any(|&b| b != 0) {
            prop_assert_eq!(inc, checksum(&data));
        }
    }
}
