use super::*;
use crate::checksum;
use proptest::prelude::*;

mod props;

const MAC_A: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0a];
const MAC_B: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0b];

fn v4(a: [u8; 4], port: u16) -> Endpoint {
    Endpoint::new_v4(a, port)
}

fn v6(last: u8, port: u16) -> Endpoint {
    let mut ip = [0u8; 16];
    ip[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
    ip[15] = last;
    Endpoint::new_v6(ip, port)
}

fn built(src: &Endpoint, dst: &Endpoint, vlan: Option<u16>, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    build_udp_tagged(&mut f, vlan, MAC_A, MAC_B, src, dst, payload);
    f
}

/// Recomputes the IPv4 header checksum after a test mutated the header.
fn fix_ip_checksum(f: &mut [u8], l3: usize) {
    f[l3 + 10] = 0;
    f[l3 + 11] = 0;
    let c = checksum::checksum(&f[l3..l3 + 20]);
    f[l3 + 10..l3 + 12].copy_from_slice(&c.to_be_bytes());
}

#[test]
fn v4_build_parse() {
    let src = v4([127, 0, 0, 1], 30000);
    let dst = v4([127, 0, 0, 2], 40000);
    let f = built(&src, &dst, None, b"hello");
    assert_eq!(f.len(), MIN_FRAME_LEN); // 14 + 20 + 8 + 5 = 47, padded
    let u = parse_udp(&f).unwrap();
    assert_eq!(
        u,
        UdpFrame {
            l3: 14,
            l4: 34,
            payload: 42,
            payload_len: 5,
            src,
            dst,
            vlan: None,
            v6: false
        }
    );
    assert_eq!(u.payload_bytes(&f), b"hello");
    assert_eq!(u.frame_len(), 47);
    assert_eq!(&f[..6], &MAC_B);
    assert_eq!(&f[6..12], &MAC_A);
    assert!(verify_udp_checksum(&f, &u));
    assert_eq!(checksum::checksum(&f[14..34]), 0);
    assert_eq!(ethertype(&f), Some((ETHERTYPE_IPV4, 14)));
}

#[test]
fn v6_build_parse_with_vlan() {
    let src = v6(1, 5004);
    let dst = v6(2, 5006);
    let payload = [0x80u8; 172];
    let f = built(&src, &dst, Some(0x0123), &payload);
    let u = parse_udp(&f).unwrap();
    assert_eq!(u.vlan, Some(0x0123));
    assert!(u.v6);
    assert_eq!((u.l3, u.l4, u.payload, u.payload_len), (18, 58, 66, 172));
    assert_eq!((u.src, u.dst), (src, dst));
    assert_eq!(u.payload_bytes(&f), &payload[..]);
    assert!(verify_udp_checksum(&f, &u));
    assert_eq!(ethertype(&f), Some((ETHERTYPE_IPV6, 18)));
    assert_eq!(f[18 + 7], TTL);
}

#[test]
fn vlan_id_masks_priority_bits() {
    let mut f = built(&v4([10, 0, 0, 1], 1), &v4([10, 0, 0, 2], 2), Some(7), &[]);
    f[14] |= 0xe0; // PCP 7
    assert_eq!(parse_udp(&f).unwrap().vlan, Some(7));
}

#[test]
fn runts() {
    let f = built(
        &v4([10, 0, 0, 1], 1),
        &v4([10, 0, 0, 2], 2),
        None,
        &[1, 2, 3],
    );
    assert_eq!(parse_udp(&f[..13]), Err(FrameError::Runt));
    assert_eq!(parse_udp(&f[..33]), Err(FrameError::Runt));
    // Cut inside the datagram: the total length no longer fits.
    assert_eq!(parse_udp(&f[..40]), Err(FrameError::BadTotalLength));
    let t = built(&v4([10, 0, 0, 1], 1), &v4([10, 0, 0, 2], 2), Some(1), &[]);
    assert_eq!(parse_udp(&t[..16]), Err(FrameError::Runt));
    let s = built(&v6(1, 1), &v6(2, 2), None, &[]);
    assert_eq!(parse_udp(&s[..50]), Err(FrameError::Runt));
    assert_eq!(ethertype(&t[..16]), None);
    assert_eq!(ethertype(&[]), None);
}

#[test]
fn not_ip_and_stacked_tags() {
    let mut arp = Vec::new();
    crate::arp::build_request(&mut arp, None, MAC_A, [10, 0, 0, 1], [10, 0, 0, 2]);
    assert_eq!(parse_udp(&arp), Err(FrameError::NotIp));
    assert_eq!(ethertype(&arp), Some((ETHERTYPE_ARP, 14)));
    // IEEE 802.1Q tag inside a tag.
    let mut f = built(&v4([10, 0, 0, 1], 1), &v4([10, 0, 0, 2], 2), Some(5), &[]);
    f[16..18].copy_from_slice(&ETHERTYPE_VLAN.to_be_bytes());
    assert_eq!(parse_udp(&f), Err(FrameError::StackedVlan));
    f[16..18].copy_from_slice(&ETHERTYPE_QINQ.to_be_bytes());
    assert_eq!(parse_udp(&f), Err(FrameError::StackedVlan));
    // IEEE 802.1ad service tag outermost.
    f[12..14].copy_from_slice(&ETHERTYPE_QINQ.to_be_bytes());
    assert_eq!(parse_udp(&f), Err(FrameError::StackedVlan));
}

#[test]
fn ip_version_must_match_ethertype() {
    // RFC 791 §3.1 / RFC 8200 §3: version nibble.
    let mut f = built(&v4([10, 0, 0, 1], 1), &v4([10, 0, 0, 2], 2), None, &[0; 40]);
    f[12..14].copy_from_slice(&ETHERTYPE_IPV6.to_be_bytes());
    assert_eq!(parse_udp(&f), Err(FrameError::BadIpVersion));
    let mut f = built(&v6(1, 1), &v6(2, 2), None, &[]);
    f[12..14].copy_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
    assert_eq!(parse_udp(&f), Err(FrameError::BadIpVersion));
}

#[test]
fn ipv4_header_length() {
    // RFC 791 §3.1: IHL minimum 5; options (IHL > 5) are not handled on the fast path.
    let mut f = built(&v4([10, 0, 0, 1], 1), &v4([10, 0, 0, 2], 2), None, &[0; 8]);
    f[14] = 0x44;
    fix_ip_checksum(&mut f, 14);
    assert_eq!(parse_udp(&f), Err(FrameError::BadIpHeaderLen));
    f[14] = 0x46;
    fix_ip_checksum(&mut f, 14);
    assert_eq!(parse_udp(&f), Err(FrameError::IpOptions));
}

#[test]
fn ipv4_total_length() {
    // RFC 791 §3.1: total length covers header and data and must fit the frame.
    let mut f = built(&v4([10, 0, 0, 1], 1), &v4([10, 0, 0, 2], 2), None, &[0; 30]);
    let n = (f.len() - 14 + 1) as u16;
    f[16..18].copy_from_slice(&n.to_be_bytes());
    fix_ip_checksum(&mut f, 14);
    assert_eq!(parse_udp(&f), Err(FrameError::BadTotalLength));
    f[16..18].copy_from_slice(&19u16.to_be_bytes());
    fix_ip_checksum(&mut f, 14);
    assert_eq!(parse_udp(&f), Err(FrameError::BadTotalLength));
    // 20..28: no room for the UDP header.
    f[16..18].copy_from_slice(&27u16.to_be_bytes());
    fix_ip_checksum(&mut f, 14);
    assert_eq!(parse_udp(&f), Err(FrameError::BadUdpLength));
}

#[test]
fn ipv4_header_checksum() {
    // RFC 1122 §3.2.1.2: verify the header checksum, discard on failure.
    let mut f = built(&v4([10, 0, 0, 1], 1), &v4([10, 0, 0, 2], 2), None, &[]);
    f[14 + 10] ^= 1;
    assert_eq!(parse_udp(&f), Err(FrameError::BadIpChecksum));
    let mut f = built(&v4([10, 0, 0, 1], 1), &v4([10, 0, 0, 2], 2), None, &[]);
    f[14 + 15] ^= 0x10;
    assert_eq!(parse_udp(&f), Err(FrameError::BadIpChecksum));
}

#[test]
fn ipv4_header_checksum_verified_by_the_nic() {
    // The NIC's verdict stands for the software check; every other check is still made.
    let mut f = built(&v4([10, 0, 0, 1], 1), &v4([10, 0, 0, 2], 2), None, b"x");
    assert_eq!(parse_udp_offload(&f, true), parse_udp(&f));
    f[14 + 10] ^= 1;
    assert_eq!(parse_udp(&f), Err(FrameError::BadIpChecksum));
    assert_eq!(
        parse_udp_offload(&f, true).map(|u| u.dst),
        Ok(v4([10, 0, 0, 2], 2))
    );
    f[14 + 9] = 6;
    assert_eq!(parse_udp_offload(&f, true), Err(FrameError::NotUdp));
}

#[test]
fn udp_checksum_present_unless_zero_over_ipv4() {
    let mut f = built(&v4([10, 0, 0, 1], 1), &v4([10, 0, 0, 2], 2), None, b"x");
    let u = parse_udp(&f).unwrap();
    assert!(udp_checksum_present(&f, &u));
    f[40..42].copy_from_slice(&[0, 0]);
    assert!(!udp_checksum_present(&f, &u));
    let f = built(&v6(1, 1), &v6(2, 2), None, b"x");
    let u = parse_udp(&f).unwrap();
    assert!(udp_checksum_present(&f, &u));
}

#[test]
fn fragments_are_dropped() {
    // RFC 791 §3.1: MF flag, fragment offset; RFC 8200 §4.5: Fragment header (44).
    for flags in [0x2000u16, 0x0001, 0x1fff, 0x6000 | 0x0010] {
        let mut f = built(&v4([10, 0, 0, 1], 1), &v4([10, 0, 0, 2], 2), None, &[]);
        f[20..22].copy_from_slice(&flags.to_be_bytes());
        fix_ip_checksum(&mut f, 14);
        assert_eq!(parse_udp(&f), Err(FrameError::Fragment), "{flags:#x}");
    }
    // DF alone is fine.
    let mut f = built(&v4([10, 0, 0, 1], 1), &v4([10, 0, 0, 2], 2), None, &[]);
    f[20..22].copy_from_slice(&0x4000u16.to_be_bytes());
    fix_ip_checksum(&mut f, 14);
    assert!(parse_udp(&f).is_ok());
    let mut f = built(&v6(1, 1), &v6(2, 2), None, &[]);
    f[14 + 6] = 44;
    assert_eq!(parse_udp(&f), Err(FrameError::Fragment));
}

#[test]
fn protocol_must_be_udp() {
    let mut f = built(&v4([10, 0, 0, 1], 1), &v4([10, 0, 0, 2], 2), None, &[]);
    f[14 + 9] = 6;
    fix_ip_checksum(&mut f, 14);
    assert_eq!(parse_udp(&f), Err(FrameError::NotUdp));
    let mut f = built(&v6(1, 1), &v6(2, 2), None, &[]);
    f[14 + 6] = 58; // ICMPv6
    assert_eq!(parse_udp(&f), Err(FrameError::NotUdp));
    // RFC 8200 §4: extension headers.
    for nh in [0u8, 43, 50, 51, 60, 135, 139, 140, 253, 254] {
        f[14 + 6] = nh;
        assert_eq!(parse_udp(&f), Err(FrameError::Ipv6ExtHeader), "{nh}");
    }
}

#[test]
fn invalid_sources() {
    // RFC 1122 §3.2.1.3: {0, <Host>}, class D, limited broadcast.
    for a in [
        [0, 0, 0, 0],
        [0, 1, 2, 3],
        [224, 0, 0, 1],
        [239, 255, 255, 250],
        [255; 4],
    ] {
        let f = built(&v4(a, 1), &v4([10, 0, 0, 2], 2), None, &[]);
        assert_eq!(parse_udp(&f), Err(FrameError::BadSourceAddress), "{a:?}");
    }
    // Loopback and directed-broadcast-looking addresses are not judged here.
    for a in [[127, 0, 0, 1], [10, 255, 255, 255], [240, 0, 0, 1]] {
        let f = built(&v4(a, 1), &v4([10, 0, 0, 2], 2), None, &[]);
        assert!(parse_udp(&f).is_ok(), "{a:?}");
    }
    // RFC 4291 §2.7 multicast and §2.5.2 unspecified.
    let mut m = [0u8; 16];
    m[0] = 0xff;
    m[1] = 0x02;
    m[15] = 1;
    for ip in [m, [0; 16]] {
        let f = built(&Endpoint::new_v6(ip, 1), &v6(2, 2), None, &[]);
        assert_eq!(parse_udp(&f), Err(FrameError::BadSourceAddress));
    }
}

#[test]
fn mapped_addresses_are_rejected_in_ipv6() {
    // RFC 4291 §2.5.5.2.
    let f = built(&v6(1, 1), &v4([10, 0, 0, 2], 2), None, &[]);
    assert_eq!(parse_udp(&f), Err(FrameError::MappedAddress));
    let f = built(&v4([10, 0, 0, 2], 2), &v6(1, 1), None, &[]);
    assert_eq!(parse_udp(&f), Err(FrameError::MappedAddress));
}

#[test]
fn udp_length_must_match() {
    // RFC 768: length counts header and data; it must equal the IP payload length.
    let mut f = built(&v4([10, 0, 0, 1], 1), &v4([10, 0, 0, 2], 2), None, &[0; 20]);
    f[38..40].copy_from_slice(&27u16.to_be_bytes());
    assert_eq!(parse_udp(&f), Err(FrameError::BadUdpLength));
    f[38..40].copy_from_slice(&29u16.to_be_bytes());
    assert_eq!(parse_udp(&f), Err(FrameError::BadUdpLength));
    f[38..40].copy_from_slice(&7u16.to_be_bytes());
    assert_eq!(parse_udp(&f), Err(FrameError::BadUdpLength));
    let mut f = built(&v6(1, 1), &v6(2, 2), None, &[0; 20]);
    f[58..60].copy_from_slice(&27u16.to_be_bytes());
    assert_eq!(parse_udp(&f), Err(FrameError::BadUdpLength));
    // IPv6 payload length beyond the frame, and below a UDP header.
    let mut f = built(&v6(1, 1), &v6(2, 2), None, &[0; 20]);
    f[18..20].copy_from_slice(&29u16.to_be_bytes());
    assert_eq!(parse_udp(&f), Err(FrameError::BadTotalLength));
    f[18..20].copy_from_slice(&0u16.to_be_bytes());
    assert_eq!(parse_udp(&f), Err(FrameError::BadUdpLength));
}

#[test]
fn zero_udp_checksum() {
    // RFC 768: zero = no checksum over IPv4 (verifies); RFC 8200 §8.1: discard over IPv6.
    let mut f = built(&v4([10, 0, 0, 1], 1), &v4([10, 0, 0, 2], 2), None, b"x");
    f[40..42].copy_from_slice(&[0, 0]);
    let u = parse_udp(&f).unwrap();
    assert!(verify_udp_checksum(&f, &u));
    let mut f = built(&v6(1, 1), &v6(2, 2), None, b"x");
    let u = parse_udp(&f).unwrap();
    f[60..62].copy_from_slice(&[0, 0]);
    assert_eq!(parse_udp(&f), Err(FrameError::ZeroUdpChecksum));
    assert!(!verify_udp_checksum(&f, &u));
}

#[test]
fn udp_checksum_detects_corruption() {
    for (src, dst) in [
        (v4([10, 0, 0, 1], 1), v4([10, 0, 0, 2], 2)),
        (v6(1, 1), v6(2, 2)),
    ] {
        let mut f = built(&src, &dst, None, b"payload!");
        let u = parse_udp(&f).unwrap();
        assert!(verify_udp_checksum(&f, &u));
        f[u.payload] ^= 0x40;
        assert!(!verify_udp_checksum(&f, &u));
        f[u.payload] ^= 0x40;
        // The pseudo-header covers the addresses.
        f[u.l3 + 13] ^= 1;
        assert!(!verify_udp_checksum(&f, &u));
        assert!(!verify_udp_checksum(&f[..u.l4 + 4], &u));
    }
}

#[test]
fn ethernet_padding_is_ignored() {
    let f = built(&v4([10, 0, 0, 1], 1), &v4([10, 0, 0, 2], 2), None, &[7]);
    assert_eq!(f.len(), MIN_FRAME_LEN);
    let mut g = f.clone();
    g.extend_from_slice(&[0xaa; 10]);
    let u = parse_udp(&g).unwrap();
    assert_eq!(u.payload_bytes(&g), &[7]);
    assert!(verify_udp_checksum(&g, &u));
}

#[test]
fn rewrite_v4_sets_fields_and_checksums() {
    let f0 = built(
        &v4([192, 0, 2, 1], 30000),
        &v4([203, 0, 113, 5], 40000),
        None,
        b"rtp",
    );
    let mut f = f0.clone();
    f[14 + 8] = 3; // arrived with a low TTL
    fix_ip_checksum(&mut f, 14);
    let u = parse_udp(&f).unwrap();
    let (ns, nd) = (v4([198, 51, 100, 7], 20002), v4([192, 0, 2, 99], 6000));
    rewrite_udp(&mut f, &u, MAC_B, MAC_A, &ns, &nd).unwrap();
    let r = parse_udp(&f).unwrap();
    assert_eq!((r.src, r.dst), (ns, nd));
    assert_eq!(&f[..6], &MAC_A);
    assert_eq!(&f[6..12], &MAC_B);
    assert_eq!(f[14 + 8], TTL);
    assert!(verify_udp_checksum(&f, &r));
    let mut fresh = Vec::new();
    build_udp(&mut fresh, MAC_B, MAC_A, &ns, &nd, b"rtp");
    assert_eq!(f, fresh);
}

#[test]
fn rewrite_keeps_zero_ipv4_udp_checksum() {
    // RFC 768: zero means the sender computed none; it stays none.
    let mut f = built(&v4([10, 0, 0, 1], 1), &v4([10, 0, 0, 2], 2), None, b"abc");
    f[40..42].copy_from_slice(&[0, 0]);
    let u = parse_udp(&f).unwrap();
    rewrite_udp(
        &mut f,
        &u,
        MAC_A,
        MAC_B,
        &v4([10, 0, 0, 3], 3),
        &v4([10, 0, 0, 4], 4),
    )
    .unwrap();
    assert_eq!(&f[40..42], &[0, 0]);
    assert!(parse_udp(&f).is_ok());
}

#[test]
fn rewrite_maps_computed_zero_to_all_ones() {
    // RFC 768: a computed zero checksum is transmitted as all ones. Search for a destination
    // port whose fresh checksum is 0xffff and check that the incremental path lands there too.
    let src = v4([10, 0, 0, 1], 1000);
    let mut found = false;
    for port in 0..=u16::MAX {
        let dst = v4([10, 0, 0, 2], port);
        let fresh = built(&src, &dst, None, b"zz");
        if fresh[40..42] == [0xff, 0xff] {
            let mut f = built(&src, &v4([10, 0, 0, 2], port.wrapping_add(1)), None, b"zz");
            let u = parse_udp(&f).unwrap();
            rewrite_udp(&mut f, &u, MAC_A, MAC_B, &src, &dst).unwrap();
            assert_eq!(f, fresh);
            found = true;
            break;
        }
    }
    assert!(found);
}

#[test]
fn rewrite_rejects_family_change_and_foreign_descriptors() {
    let f0 = built(&v4([10, 0, 0, 1], 1), &v4([10, 0, 0, 2], 2), None, b"abc");
    let u = parse_udp(&f0).unwrap();
    let mut f = f0.clone();
    assert_eq!(
        rewrite_udp(&mut f, &u, MAC_A, MAC_B, &v6(1, 1), &v4([10, 0, 0, 2], 2)),
        Err(FrameError::FamilyMismatch)
    );
    assert_eq!(f, f0, "nothing written on error");
    let g0 = built(&v6(1, 1), &v6(2, 2), None, b"abc");
    let w = parse_udp(&g0).unwrap();
    let mut g = g0.clone();
    assert_eq!(
        rewrite_udp(&mut g, &w, MAC_A, MAC_B, &v6(3, 3), &v4([10, 0, 0, 2], 2)),
        Err(FrameError::FamilyMismatch)
    );
    assert_eq!(g, g0);
    // A descriptor for a longer buffer.
    assert_eq!(
        rewrite_udp(
            &mut f[..40],
            &u,
            MAC_A,
            MAC_B,
            &v4([1, 1, 1, 1], 1),
            &v4([1, 1, 1, 2], 2)
        ),
        Err(FrameError::Mismatch)
    );
    let forged = UdpFrame {
        l3: usize::MAX - 5,
        l4: usize::MAX - 2,
        payload: usize::MAX - 1,
        ..u
    };
    assert_eq!(
        rewrite_udp(
            &mut f,
            &forged,
            MAC_A,
            MAC_B,
            &v4([1, 1, 1, 1], 1),
            &v4([1, 1, 1, 2], 2)
        ),
        Err(FrameError::Mismatch)
    );
    assert!(!verify_udp_checksum(&f, &forged));
    assert_eq!(forged.payload_bytes(&f), &[] as &[u8]);
    assert_eq!(f, f0);
}

#[test]
fn builder_cuts_oversized_payloads() {
    let big = vec![1u8; 70000];
    let f = built(&v4([10, 0, 0, 1], 1), &v4([10, 0, 0, 2], 2), None, &big);
    let u = parse_udp(&f).unwrap();
    assert_eq!(u.payload_len, 65507);
    assert!(verify_udp_checksum(&f, &u));
    let f = built(&v6(1, 1), &v6(2, 2), None, &big);
    let u = parse_udp(&f).unwrap();
    assert_eq!(u.payload_len, 65527);
    assert!(verify_udp_checksum(&f, &u));
}

#[test]
fn error_table_is_dense_and_named() {
    for (i, e) in FrameError::ALL.iter().enumerate() {
        assert_eq!(e.index(), i);
        assert!(!e.as_str().is_empty());
        assert!(!e.to_string().is_empty());
    }
    let mut names: Vec<_> = FrameError::ALL.iter().map(|e| e.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), FrameError::COUNT);
}

proptest! {
    #[test]
    fn parse_never_panics(f in proptest::collection::vec(any::<u8>(), 0..120)) {
        if let Ok(u) = parse_udp(&f) {
            let _ = verify_udp_checksum(&f, &u);
            prop_assert!(u.frame_len() <= f.len());
        }
        let _ = ethertype(&f);
    }
}
