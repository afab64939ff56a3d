use super::*;
use proptest::prelude::*;

const US: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
const PEER: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];

#[test]
fn request_round_trip() {
    let mut f = Vec::new();
    build_request(&mut f, None, PEER, [127, 0, 0, 2], [127, 0, 0, 1]);
    assert_eq!(f.len(), MIN_FRAME_LEN);
    assert_eq!(&f[..6], &[0xff; 6]);
    let a = parse(&f).unwrap();
    assert_eq!(
        a,
        Arp {
            l3: 14,
            vlan: None,
            op: OP_REQUEST,
            sender_mac: PEER,
            sender_ip: [127, 0, 0, 2],
            target_mac: [0; 6],
            target_ip: [127, 0, 0, 1],
        }
    );
    assert!(!a.is_gratuitous());
}

#[test]
fn reply_swaps_fields() {
    // RFC 826 "Packet Reception": swap hardware and protocol fields, local hardware address
    // as sender, opcode reply.
    for vlan in [None, Some(42)] {
        let mut f = Vec::new();
        build_request(&mut f, vlan, PEER, [127, 0, 0, 2], [127, 0, 0, 1]);
        let a = parse(&f).unwrap();
        assert_eq!(a.vlan, vlan);
        reply_in_place(&mut f, &a, US).unwrap();
        let r = parse(&f).unwrap();
        assert_eq!(r.op, OP_REPLY);
        assert_eq!(r.sender_mac, US);
        assert_eq!(r.sender_ip, [127, 0, 0, 1]);
        assert_eq!(r.target_mac, PEER);
        assert_eq!(r.target_ip, [127, 0, 0, 2]);
        assert_eq!(&f[..6], &PEER);
        assert_eq!(&f[6..12], &US);
        assert_eq!(r.vlan, vlan);
        assert_eq!(reply_in_place(&mut f, &r, US), Err(ArpError::NotRequest));
    }
}

#[test]
fn announcement_is_gratuitous() {
    // RFC 5227 §3: sender and target protocol address both the announced address.
    let mut f = Vec::new();
    build_request(&mut f, None, US, [127, 0, 0, 9], [127, 0, 0, 9]);
    assert!(parse(&f).unwrap().is_gratuitous());
}

#[test]
fn rejects() {
    let mut f = Vec::new();
    build_request(&mut f, None, US, [127, 0, 0, 1], [127, 0, 0, 2]);
    assert_eq!(parse(&f[..30]), Err(ArpError::Runt));
    assert_eq!(parse(&f[..10]), Err(ArpError::Runt));
    let mut g = f.clone();
    g[12..14].copy_from_slice(&[0x08, 0x00]);
    assert_eq!(parse(&g), Err(ArpError::NotArp));
    let mut g = f.clone();
    g[15] = 6; // ar$hrd 6 (IEEE 802)
    assert_eq!(parse(&g), Err(ArpError::Unsupported));
    let mut g = f.clone();
    g[18] = 16; // ar$hln
    assert_eq!(parse(&g), Err(ArpError::Unsupported));
    let mut g = f.clone();
    g[21] = 3; // RARP request opcode
    assert_eq!(parse(&g), Err(ArpError::BadOperation));
}

proptest! {
    #[test]
    fn never_panics(mut f in proptest::collection::vec(any::<u8>(), 0..80), mac in any::<[u8; 6]>()) {
        if let Ok(a) = parse(&f) {
            let _ = reply_in_place(&mut f, &a, mac);
        }
        // A forged descriptor must not panic either.
        let forged = Arp { l3: usize::MAX - 3, vlan: None, op: OP_REQUEST, sender_mac: mac,
            sender_ip: [0; 4], target_mac: mac, target_ip: [0; 4] };
        prop_assert_eq!(reply_in_place(&mut f, &forged, mac), Err(ArpError::Runt));
    }
}
