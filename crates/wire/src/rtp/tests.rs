use super::*;
use proptest::prelude::*;

fn packet(b0: u8, b1: u8, tail: &[u8]) -> Vec<u8> {
    let mut p = vec![
        b0, b1, 0x12, 0x34, 0xde, 0xad, 0xbe, 0xef, 0xfe, 0xbd, 0x63, 0x40,
    ];
    p.extend_from_slice(tail);
    p
}

#[test]
fn fixed_header_fields() {
    // RFC 3550 §5.1 field layout.
    let p = packet(0x80, 0x80 | 8, &[1, 2, 3]);
    let v = parse(&p).unwrap();
    assert_eq!(v.version(), 2);
    assert!(v.marker());
    assert_eq!(v.payload_type(), 8);
    assert_eq!(v.seq(), 0x1234);
    assert_eq!(v.timestamp(), 0xdeadbeef);
    assert_eq!(v.ssrc(), 0xfebd6340);
    assert_eq!(v.payload(), &[1, 2, 3]);
    assert_eq!(v.header_len(), 12);
    assert_eq!(v.len(), 15);
    assert!(!v.is_empty());
    assert_eq!(v.extension(), None);
    assert_eq!(v.csrcs().count(), 0);
}

#[test]
fn too_short() {
    // RFC 3550 §5.1: the fixed header is 12 octets.
    assert_eq!(parse(&[]), Err(RtpError::TooShort));
    assert_eq!(parse(&[0x80; 11]), Err(RtpError::TooShort));
    assert!(parse(&[0x80; 12]).is_ok());
}

#[test]
fn version_must_be_two() {
    // RFC 3550 A.1: RTP version field must equal 2.
    for v in [0u8, 1, 3] {
        assert_eq!(parse(&packet(v << 6, 0, &[])), Err(RtpError::BadVersion));
    }
}

#[test]
fn csrc_list_must_fit() {
    // RFC 3550 §5.1: CC counts 32-bit CSRC identifiers after the fixed header.
    assert_eq!(parse(&packet(0x82, 0, &[0; 7])), Err(RtpError::CsrcOverrun));
    let p = packet(0x82, 0, &[0, 0, 0, 1, 0, 0, 0, 2, 9]);
    let v = parse(&p).unwrap();
    assert_eq!(v.csrc_count(), 2);
    assert_eq!(v.csrcs().collect::<Vec<_>>(), vec![1, 2]);
    assert_eq!(v.header_len(), 20);
    assert_eq!(v.payload(), &[9]);
}

#[test]
fn extension_must_fit() {
    // RFC 3550 §5.3.1: 16-bit profile field, 16-bit length in 32-bit words (excluding the
    // 4-octet extension header), then the data.
    assert_eq!(
        parse(&packet(0x90, 0, &[0xbe, 0xde, 0])),
        Err(RtpError::ExtensionOverrun)
    );
    assert_eq!(
        parse(&packet(0x90, 0, &[0xbe, 0xde, 0, 1, 1, 2, 3])),
        Err(RtpError::ExtensionOverrun)
    );
    let p = packet(0x90, 0, &[0xbe, 0xde, 0, 1, 1, 2, 3, 4, 0xaa]);
    let v = parse(&p).unwrap();
    assert_eq!(v.extension(), Some((0xbede, &[1u8, 2, 3, 4][..])));
    assert_eq!(v.header_len(), 20);
    assert_eq!(v.payload(), &[0xaa]);
    // Zero-length extension.
    let p = packet(0x90, 0, &[0x10, 0x00, 0, 0]);
    let v = parse(&p).unwrap();
    assert_eq!(v.extension(), Some((0x1000, &[][..])));
    assert!(v.payload().is_empty());
}

#[test]
fn extension_after_csrcs() {
    let p = packet(
        0x91,
        0,
        &[0, 0, 0, 7, 0xbe, 0xde, 0, 1, 5, 6, 7, 8, 0xaa, 0xbb],
    );
    let v = parse(&p).unwrap();
    assert_eq!(v.csrcs().collect::<Vec<_>>(), vec![7]);
    assert_eq!(v.extension(), Some((0xbede, &[5u8, 6, 7, 8][..])));
    assert_eq!(v.payload(), &[0xaa, 0xbb]);
}

#[test]
fn padding_count_must_fit() {
    // RFC 3550 §5.1: the last octet of the padding counts the padding octets including itself;
    // A.1: the count must not exceed the packet minus the header.
    assert_eq!(parse(&packet(0xa0, 0, &[])), Err(RtpError::BadPadding));
    assert_eq!(
        parse(&packet(0xa0, 0, &[1, 2, 0])),
        Err(RtpError::BadPadding)
    );
    assert_eq!(
        parse(&packet(0xa0, 0, &[1, 2, 4])),
        Err(RtpError::BadPadding)
    );
    let p = packet(0xa0, 0, &[1, 2, 0, 3]);
    let v = parse(&p).unwrap();
    assert!(v.padding());
    assert_eq!(v.padding_len(), 3);
    assert_eq!(v.payload(), &[1]);
    // Padding may take everything after the header.
    let p = packet(0xa0, 0, &[0, 0, 3]);
    assert_eq!(parse(&p).unwrap().payload(), &[] as &[u8]);
    // Padding never eats into the extension.
    assert_eq!(
        parse(&packet(0xb0, 0, &[0, 0, 0, 0, 2])),
        Err(RtpError::BadPadding)
    );
    assert!(parse(&packet(0xb0, 0, &[0, 0, 0, 0, 1])).is_ok());
}

proptest! {
    #[test]
    fn never_panics_and_slices_are_consistent(p in proptest::collection::vec(any::<u8>(), 0..200)) {
        if let Ok(v) = parse(&p) {
            prop_assert_eq!(v.len(), p.len());
            prop_assert!(v.header_len() + v.payload().len() + v.padding_len() == p.len());
            let _ = (v.extension(), v.csrcs().count(), v.seq(), v.timestamp(), v.ssrc());
        }
    }

    #[test]
    fn accepts_what_it_should(
        cc in 0u8..16, x in any::<bool>(), ext_words in 0u16..4,
        payload in proptest::collection::vec(any::<u8>(), 0..40), pad in 0u8..8,
        m in any::<bool>(), pt in 0u8..128, seq in any::<u16>(), ts in any::<u32>(), ssrc in any::<u32>(),
    ) {
        let mut p = vec![0x80 | (u8::from(pad > 0) << 5) | (u8::from(x) << 4) | cc,
            (u8::from(m) << 7) | pt];
        p.extend_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(&ts.to_be_bytes());
        p.extend_from_slice(&ssrc.to_be_bytes());
        for i in 0..u32::from(cc) { p.extend_from_slice(&i.to_be_bytes()); }
        if x {
            p.extend_from_slice(&[0xbe, 0xde]);
            p.extend_from_slice(&ext_words.to_be_bytes());
            p.extend(std::iter::repeat(0x55).take(usize::from(ext_words) * 4));
        }
        p.extend_from_slice(&payload);
        if pad > 0 {
            p.extend(std::iter::repeat(0).take(usize::from(pad) - 1));
            p.push(pad);
        }
        let v = parse(&p).unwrap();
        prop_assert_eq!(v.marker(), m);
        prop_assert_eq!(v.payload_type(), pt);
        prop_assert_eq!(v.seq(), seq);
        prop_assert_eq!(v.timestamp(), ts);
        prop_assert_eq!(v.ssrc(), ssrc);
        prop_assert_eq!(v.csrcs().count(), usize::from(cc));
        prop_assert_eq!(v.extension().map(|(_, d)| d.len()), x.then_some(usize::from(ext_words) * 4));
        prop_assert_eq!(v.payload(), &payload[..]);
    }
}
