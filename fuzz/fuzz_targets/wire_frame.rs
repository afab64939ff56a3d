//! Ethernet/IP/UDP parse on arbitrary bytes; whatever parses is rewritten on a copy (same
//! family), and the result must parse again with the new endpoints, the same payload, and a
//! checksum that still verifies if it did before.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wire::frame::{ethertype, parse_udp, rewrite_udp, verify_udp_checksum};
use wire::{arp, Endpoint};

fuzz_target!(|data: &[u8]| {
    let _ = ethertype(data);
    if let Ok(a) = arp::parse(data) {
        let mut copy = data.to_vec();
        if arp::reply_in_place(&mut copy, &a, [2, 0, 0, 0, 0, 1]).is_ok() {
            assert!(arp::parse(&copy).is_ok());
        }
    }
    let Ok(f) = parse_udp(data) else { return };
    assert!(f.frame_len() <= data.len());
    let verified = verify_udp_checksum(data, &f);
    let (src, dst) = if f.v6 {
        let mut a = [0u8; 16];
        a[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
        let mut b = a;
        a[15] = 1;
        b[15] = 2;
        (Endpoint::new_v6(a, 20000), Endpoint::new_v6(b, 5004))
    } else {
        (
            Endpoint::new_v4([127, 0, 0, 1], 20000),
            Endpoint::new_v4([127, 0, 0, 2], 5004),
        )
    };
    let mut copy = data.to_vec();
    rewrite_udp(&mut copy, &f, [2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2], &src, &dst)
        .expect("a parsed frame can be rewritten within its family");
    let r = parse_udp(&copy).expect("a rewritten frame re-parses");
    assert_eq!((r.src, r.dst), (src, dst));
    assert_eq!(r.payload_bytes(&copy), f.payload_bytes(data));
    if verified {
        assert!(verify_udp_checksum(&copy, &r));
    }
});
