//! Property tests: rewrite against a fresh build, robustness on mutated frames, and a
//! cross-check against an independent implementation (etherparse).

use super::*;
use etherparse::{NetHeaders, PacketBuilder, PacketHeaders, TransportHeader};

fn endpoint_pair() -> impl Strategy<Value = (Endpoint, Endpoint)> {
    let v4 = (
        any::<[u8; 4]>(),
        any::<u16>(),
        any::<[u8; 4]>(),
        any::<u16>(),
    )
        .prop_map(|(a, p, b, q)| {
            // Keep the source a valid unicast (RFC 1122 §3.2.1.3).
            let a = [(a[0] % 223).max(1), a[1], a[2], a[3]];
            (Endpoint::new_v4(a, p), Endpoint::new_v4(b, q))
        });
    let v6 = (
        any::<[u8; 16]>(),
        any::<u16>(),
        any::<[u8; 16]>(),
        any::<u16>(),
    )
        .prop_map(|(mut a, p, mut b, q)| {
            // Global unicast (2000::/3) so neither multicast, unspecified nor IPv4-mapped.
            a[0] = 0x20 | (a[0] & 0x1f);
            b[0] = 0x20 | (b[0] & 0x1f);
            (Endpoint::new_v6(a, p), Endpoint::new_v6(b, q))
        });
    prop_oneof![v4, v6]
}

fn same_family_pairs() -> impl Strategy<Value = ((Endpoint, Endpoint), (Endpoint, Endpoint))> {
    (endpoint_pair(), endpoint_pair())
        .prop_filter("same family", |(a, b)| a.0.is_v4() == b.0.is_v4())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// rewrite_udp then full verification equals a freshly built frame with the same fields.
    #[test]
    fn rewrite_equals_fresh_build(
        ((s0, d0), (s1, d1)) in same_family_pairs(),
        vlan in proptest::option::of(0u16..4096),
        macs in any::<([u8; 6], [u8; 6], [u8; 6], [u8; 6])>(),
        payload in proptest::collection::vec(any::<u8>(), 0..300),
        ttl in any::<u8>(),
    ) {
        let mut f = Vec::new();
        build_udp_tagged(&mut f, vlan, macs.0, macs.1, &s0, &d0, &payload);
        let u0 = parse_udp(&f).unwrap();
        // The datagram arrives with some other TTL / hop limit.
        if u0.v6 {
            f[u0.l3 + 7] = ttl;
        } else {
            f[u0.l3 + 8] = ttl;
            f[u0.l3 + 10] = 0;
            f[u0.l3 + 11] = 0;
            let c = checksum::checksum(&f[u0.l3..u0.l3 + 20]);
            f[u0.l3 + 10..u0.l3 + 12].copy_from_slice(&c.to_be_bytes());
        }
        let u = parse_udp(&f).unwrap();
        rewrite_udp(&mut f, &u, macs.2, macs.3, &s1, &d1).unwrap();
        let r = parse_udp(&f).unwrap();
        prop_assert!(verify_udp_checksum(&f, &r));
        prop_assert_eq!((r.src, r.dst, r.vlan), (s1, d1, u.vlan));
        let mut fresh = Vec::new();
        build_udp_tagged(&mut fresh, vlan, macs.2, macs.3, &s1, &d1, &payload);
        prop_assert_eq!(f, fresh);
    }

    /// Arbitrary corruption of a valid frame never panics; whatever still parses can be
    /// rewritten and parses again with the new endpoints, and a verifying checksum still
    /// verifies after the rewrite.
    #[test]
    fn mutated_frames_rewrite_and_reparse(
        ((s0, d0), (s1, d1)) in same_family_pairs(),
        vlan in proptest::option::of(0u16..4096),
        payload in proptest::collection::vec(any::<u8>(), 0..64),
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4),
        cut in any::<usize>(),
    ) {
        let mut f = Vec::new();
        build_udp_tagged(&mut f, vlan, MAC_A, MAC_B, &s0, &d0, &payload);
        for (at, x) in flips {
            let n = f.len();
            f[at % n] ^= x;
        }
        f.truncate(f.len() - cut % 8);
        if let Ok(u) = parse_udp(&f) {
            let verified = verify_udp_checksum(&f, &u);
            let mut g = f.clone();
            rewrite_udp(&mut g, &u, MAC_B, MAC_A, &s1, &d1).unwrap();
            let r = parse_udp(&g).unwrap();
            prop_assert_eq!((r.src, r.dst), (s1, d1));
            prop_assert_eq!(r.payload_bytes(&g), u.payload_bytes(&f));
            if verified {
                prop_assert!(verify_udp_checksum(&g, &r));
            }
        }
    }

    /// Our builder agrees with etherparse's parser and checksums.
    #[test]
    fn etherparse_reads_our_frames(
        (s, d) in endpoint_pair(),
        payload in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let mut f = Vec::new();
        build_udp(&mut f, MAC_A, MAC_B, &s, &d, &payload);
        let h = PacketHeaders::from_ethernet_slice(&f).unwrap();
        let Some(TransportHeader::Udp(udp)) = h.transport else {
            return Err(TestCaseError::fail("no UDP"));
        };
        prop_assert_eq!((udp.source_port, udp.destination_port), (s.port, d.port));
        match h.net {
            Some(NetHeaders::Ipv4(ip, _)) => {
                prop_assert_eq!(Some(ip.source), s.v4());
                prop_assert_eq!(Some(ip.destination), d.v4());
                prop_assert_eq!(ip.header_checksum, ip.calc_header_checksum());
                prop_assert_eq!(udp.checksum, udp.calc_checksum_ipv4(&ip, &payload).unwrap());
            }
            Some(NetHeaders::Ipv6(ip, _)) => {
                prop_assert_eq!((ip.source, ip.destination), (s.ip, d.ip));
                prop_assert_eq!(udp.checksum, udp.calc_checksum_ipv6(&ip, &payload).unwrap());
            }
            None => return Err(TestCaseError::fail("no IP")),
        }
    }

    /// etherparse's builder produces frames we accept with the same fields.
    #[test]
    fn we_read_etherparse_frames(
        (s, d) in endpoint_pair(),
        vlan in proptest::option::of(0u16..4096),
        payload in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let mut f = Vec::new();
        let eth = PacketBuilder::ethernet2(MAC_A, MAC_B);
        match (s.v4(), d.v4(), vlan) {
            (Some(a), Some(b), None) => eth.ipv4(a, b, 9).udp(s.port, d.port).write(&mut f, &payload),
            (Some(a), Some(b), Some(v)) => eth
                .single_vlan(etherparse::VlanId::try_new(v).unwrap())
                .ipv4(a, b, 9).udp(s.port, d.port).write(&mut f, &payload),
            (_, _, None) => eth.ipv6(s.ip, d.ip, 9).udp(s.port, d.port).write(&mut f, &payload),
            (_, _, Some(v)) => eth
                .single_vlan(etherparse::VlanId::try_new(v).unwrap())
                .ipv6(s.ip, d.ip, 9).udp(s.port, d.port).write(&mut f, &payload),
        }
        .unwrap();
        let u = parse_udp(&f).unwrap();
        prop_assert_eq!((u.src, u.dst, u.vlan), (s, d, vlan));
        prop_assert_eq!(u.payload_bytes(&f), &payload[..]);
        prop_assert!(verify_udp_checksum(&f, &u));
    }
}

/// The fast path agrees with the general parse on `f`: it takes the frame exactly when the
/// general parse accepts it with the common shape (untagged, IPv4), with the same fields and
/// the same UDP checksum verdicts; every other frame is left to the general parse.
fn fixed_agrees(f: &[u8], good: bool) -> Result<bool, TestCaseError> {
    let fast = parse_udp4_fixed(f, good);
    match parse_udp_offload(f, good) {
        Ok(u) if u.l3 == ETH_HEADER_LEN && !u.v6 && u.vlan.is_none() => {
            let Some(x) = fast else {
                return Err(TestCaseError::fail(format!(
                    "fast path refused a frame the general parse accepts: {u:?}"
                )));
            };
            prop_assert_eq!(Some(x.dst), u.dst.v4());
            prop_assert_eq!(x.dst_port, u.dst.port);
            prop_assert_eq!(usize::from(x.payload_len), u.payload_len);
            let unset = Endpoint::UNSET;
            prop_assert_eq!(
                x.offsets(),
                UdpFrame {
                    src: unset,
                    dst: unset,
                    ..u
                }
            );
            prop_assert_eq!(udp4_fixed_checksum_present(f), udp_checksum_present(f, &u));
            prop_assert_eq!(
                verify_udp4_fixed_checksum(f, &x),
                verify_udp_checksum(f, &u)
            );
            Ok(true)
        }
        other => {
            prop_assert_eq!(fast, None, "general parse: {:?}", other);
            Ok(false)
        }
    }
}

/// A frame that gets past the fast path's first compares: ethertype IPv4, version 4 and
/// IHL 5, protocol UDP, lengths consistent unless `lengths` says otherwise, a fixed header
/// checksum unless `fix` is false, a source address on or next to the edges of RFC 1122
/// §3.2.1.3 or random; the rest random.
fn near_fixed_shape() -> impl Strategy<Value = Vec<u8>> {
    let edges: [[u8; 4]; 8] = [
        [0, 1, 2, 3],
        [1, 0, 0, 0],
        [223, 255, 255, 255],
        [224, 0, 0, 1],
        [239, 255, 255, 255],
        [240, 0, 0, 0],
        [255, 255, 255, 254],
        [255, 255, 255, 255],
    ];
    (
        proptest::collection::vec(any::<u8>(), 30..120),
        any::<bool>(),
        any::<bool>(),
        proptest::option::of(proptest::sample::select(edges.to_vec())),
        proptest::option::of((-2i16..=2, any::<bool>())),
    )
        .prop_map(|(mut f, lengths, fix, src, skew)| {
            if f.len() >= 24 {
                f[12..15].copy_from_slice(&[0x08, 0x00, 0x45]);
                f[23] = IPPROTO_UDP;
            }
            if let (Some(src), true) = (src, f.len() >= 30) {
                f[26..30].copy_from_slice(&src);
            }
            if f.len() >= UDP4_FIXED_LEN && lengths {
                // Mostly a UDP length that fits the frame, sometimes one around the minimum.
                let udp = if f[0] % 8 == 0 {
                    i16::from(f[1] % 10)
                } else {
                    (f.len() - 34 - usize::from(f[0] % 4)).max(8) as i16
                };
                // One of the two lengths a little off, or both consistent.
                let (d, on_total) = skew.unwrap_or((0, false));
                let (total, udp) = if on_total {
                    (udp + 20 + d, udp)
                } else {
                    (udp + 20, udp + d)
                };
                f[16..18].copy_from_slice(&(total as u16).to_be_bytes());
                f[38..40].copy_from_slice(&(udp as u16).to_be_bytes());
                // Flags and fragment offset: none, DF, the reserved bit, MF, an offset.
                let (flags, offset) =
                    [(0, 0), (0x40, 0), (0x80, 0), (0x20, 0), (0, 1)][usize::from(f[2] % 5)];
                f[20] = flags;
                f[21] = offset;
            }
            if f.len() >= 34 && fix {
                fix_ip_checksum(&mut f, ETH_HEADER_LEN);
            }
            f
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    /// Random bytes: the fast path takes only what the general parse accepts.
    #[test]
    fn fixed_agrees_on_random_bytes(
        f in proptest::collection::vec(any::<u8>(), 0..120),
        good in any::<bool>(),
    ) {
        fixed_agrees(&f, good)?;
    }

    /// Frames close to the common shape (each check of the fast path met or missed in turn).
    #[test]
    fn fixed_agrees_near_the_common_shape(f in near_fixed_shape(), good in any::<bool>()) {
        fixed_agrees(&f, good)?;
    }

    /// Valid frames of every shape, then corrupted (header bytes mostly), cut, and with the
    /// IPv4 header checksum fixed again or not: both parses give the same answer.
    #[test]
    fn fixed_agrees_on_mutated_frames(
        (s, d) in endpoint_pair(),
        vlan in proptest::option::of(0u16..4096),
        payload in proptest::collection::vec(any::<u8>(), 0..64),
        flips in proptest::collection::vec((0usize..48, any::<u8>()), 0..3),
        cut in 0usize..12,
        fix in any::<bool>(),
        good in any::<bool>(),
    ) {
        let mut f = Vec::new();
        build_udp_tagged(&mut f, vlan, MAC_A, MAC_B, &s, &d, &payload);
        let untouched = flips.is_empty() && cut == 0;
        for (at, x) in flips {
            let n = f.len();
            f[at % n] ^= x;
        }
        f.truncate(f.len().saturating_sub(cut));
        if fix && f.len() >= 34 && f[12..14] == [0x08, 0x00] {
            fix_ip_checksum(&mut f, ETH_HEADER_LEN);
        }
        let taken = fixed_agrees(&f, good)?;
        if untouched {
            prop_assert_eq!(taken, vlan.is_none() && s.is_v4());
        }
    }

    /// etherparse's untagged IPv4/UDP frames take the fast path, with etherparse's fields.
    #[test]
    fn fixed_reads_etherparse_frames(
        (s, d) in endpoint_pair().prop_filter("IPv4", |(s, _)| s.is_v4()),
        payload in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let (Some(a), Some(b)) = (s.v4(), d.v4()) else {
            return Err(TestCaseError::fail("not IPv4"));
        };
        let mut f = Vec::new();
        (PacketBuilder::ethernet2(MAC_A, MAC_B).ipv4(a, b, 9).udp(s.port, d.port))
            .write(&mut f, &payload)
            .unwrap();
        prop_assert!(fixed_agrees(&f, false)?);
        let x = parse_udp4_fixed(&f, false).unwrap();
        prop_assert_eq!((x.dst, x.dst_port), (b, d.port));
        prop_assert_eq!(&f[UDP4_FIXED_LEN..][..usize::from(x.payload_len)], &payload[..]);
        prop_assert!(verify_udp4_fixed_checksum(&f, &x));
    }
}
