//! Unit tests of the layer 2/3 duties, on frames built here.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::build::*;
use super::rx::{Kind, Learn, Reply};
use super::*;
use wire::checksum::{checksum, fold, pseudo_v6, sum};

const OUR_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x10];
const PEER_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x30];
const OUR4: [u8; 4] = [10, 0, 0, 1];
const PEER4: [u8; 4] = [10, 0, 0, 7];
const OUR6: [u8; 16] = [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
const PEER6: [u8; 16] = [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7];

struct Ours;
impl LocalAddrs for Ours {
    fn local_mac(&self, ip: &[u8; 16]) -> Option<[u8; 6]> {
        (*ip == mapped(OUR4) || *ip == OUR6).then_some(OUR_MAC)
    }
}

fn echo_v4(dst: [u8; 4]) -> Vec<u8> {
    let data = b"ferrovox ping payload";
    let mut f = Vec::new();
    f.extend_from_slice(&OUR_MAC);
    f.extend_from_slice(&PEER_MAC);
    f.extend_from_slice(&[0x08, 0x00]);
    let total = (20 + 8 + data.len()) as u16;
    let mut ip = vec![0x45, 0, 0, 0, 0x12, 0x34, 0x40, 0, 64, 1, 0, 0];
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    ip.extend_from_slice(&PEER4);
    ip.extend_from_slice(&dst);
    let c = checksum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&ip);
    let mut icmp = vec![8, 0, 0, 0, 0, 7, 0, 1];
    icmp.extend_from_slice(data);
    let c = checksum(&icmp);
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&icmp);
    f
}

fn icmp6(src: [u8; 16], dst: [u8; 16], hop: u8, msg: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&multicast_mac(&dst));
    f.extend_from_slice(&PEER_MAC);
    f.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0]);
    f.extend_from_slice(&(msg.len() as u16).to_be_bytes());
    f.extend_from_slice(&[58, hop]);
    f.extend_from_slice(&src);
    f.extend_from_slice(&dst);
    let mut m = msg.to_vec();
    let c = fold(sum(&m, pseudo_v6(&src, &dst, 58, m.len() as u32)));
    m[2..4].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&m);
    f
}

fn ns_msg(target: [u8; 16], sll: Option<[u8; 6]>) -> Vec<u8> {
    let mut m = vec![ND_SOLICIT, 0, 0, 0, 0, 0, 0, 0];
    m.extend_from_slice(&target);
    if let Some(mac) = sll {
        m.extend_from_slice(&[OPT_SOURCE_LL, 1]);
        m.extend_from_slice(&mac);
    }
    m
}

fn icmp6_ok(f: &[u8]) -> bool {
    let l3 = 14;
    let plen = usize::from(u16::from_be_bytes([f[l3 + 4], f[l3 + 5]]));
    let src: [u8; 16] = f[l3 + 8..l3 + 24].try_into().unwrap();
    let dst: [u8; 16] = f[l3 + 24..l3 + 40].try_into().unwrap();
    fold(sum(
        &f[l3 + 40..l3 + 40 + plen],
        pseudo_v6(&src, &dst, 58, plen as u32),
    )) == 0
}

#[test]
fn arp_request_for_us_is_answered_and_teaches_the_sender() {
    let mut f = Vec::new();
    wire::arp::build_request(&mut f, None, PEER_MAC, PEER4, OUR4);
    let h = handle(&mut f, &Ours);
    assert_eq!(h.kind, Kind::ArpRequest);
    assert_eq!(h.reply, Reply::InPlace);
    assert_eq!(
        h.learn,
        Some(Learn {
            ip: mapped(PEER4),
            mac: PEER_MAC,
            create: true
        })
    );
    let a = wire::arp::parse(&f).unwrap();
    assert_eq!(a.op, wire::arp::OP_REPLY);
    assert_eq!((a.sender_mac, a.sender_ip), (OUR_MAC, OUR4));
    assert_eq!((a.target_mac, a.target_ip), (PEER_MAC, PEER4));
    assert_eq!((&f[..6], &f[6..12]), (&PEER_MAC[..], &OUR_MAC[..]));

    // For someone else: no answer, only an update of an existing entry.
    let mut g = Vec::new();
    wire::arp::build_request(&mut g, None, PEER_MAC, PEER4, [10, 0, 0, 99]);
    let h = handle(&mut g, &Ours);
    assert_eq!((h.kind, h.reply), (Kind::ArpOther, Reply::None));
    assert!(!h.learn.unwrap().create);
    // A probe (sender 0.0.0.0) teaches nothing.
    wire::arp::build_request(&mut g, None, PEER_MAC, [0; 4], OUR4);
    assert_eq!(handle(&mut g, &Ours).learn, None);
}

#[test]
fn arp_request_builder_round_trips() {
    let mut out = [0u8; MAX_BUILT_FRAME];
    let n = arp_request(&mut out, Some(100), OUR_MAC, OUR4, PEER4).unwrap();
    assert_eq!(n, 60);
    let a = wire::arp::parse(&out[..n]).unwrap();
    assert_eq!(a.vlan, Some(100));
    assert_eq!((a.op, a.sender_ip, a.target_ip), (1, OUR4, PEER4));
    assert_eq!(&out[..6], &BROADCAST_MAC);
    let n = arp_request(&mut out, None, OUR_MAC, OUR4, OUR4).unwrap();
    assert!(wire::arp::parse(&out[..n]).unwrap().is_gratuitous());
    assert_eq!(
        arp_request(&mut [0u8; 40], None, OUR_MAC, OUR4, PEER4),
        None
    );
}

#[test]
fn icmp_echo_is_answered_in_place() {
    let mut f = echo_v4(OUR4);
    let h = handle(&mut f, &Ours);
    assert_eq!((h.kind, h.reply), (Kind::Echo, Reply::InPlace));
    assert_eq!((&f[..6], &f[6..12]), (&PEER_MAC[..], &OUR_MAC[..]));
    assert_eq!(&f[26..30], &OUR4);
    assert_eq!(&f[30..34], &PEER4);
    assert_eq!(f[34], 0, "echo reply");
    assert_eq!(checksum(&f[14..34]), 0);
    assert_eq!(checksum(&f[34..]), 0);
    assert!(f.ends_with(b"ferrovox ping payload"));
    // Not ours, or a bad checksum: untouched.
    for mut g in [echo_v4([10, 0, 0, 99]), {
        let mut g = echo_v4(OUR4);
        let last = g.len() - 1;
        g[last] ^= 1;
        g
    }] {
        let before = g.clone();
        assert_eq!(handle(&mut g, &Ours).kind, Kind::Other);
        assert_eq!(g, before);
    }
}

/// An echo request from a multicast, broadcast or "this network" source is not answered:
/// the reply would go to a group (one forged request, many replies) or nowhere.
#[test]
fn echo_from_a_non_unicast_source_is_not_answered() {
    for src in [
        [224, 0, 0, 1],
        [239, 1, 2, 3],
        [255, 255, 255, 255],
        [0, 0, 0, 0],
    ] {
        let mut f = echo_v4(OUR4);
        f[26..30].copy_from_slice(&src);
        f[24..26].fill(0);
        let c = checksum(&f[14..34]);
        f[24..26].copy_from_slice(&c.to_be_bytes());
        let before = f.clone();
        assert_eq!(handle(&mut f, &Ours).kind, Kind::Other, "from {src:?}");
        assert_eq!(f, before);
    }
    let msg = [128, 0, 0, 0, 0, 9, 0, 1];
    let group = [0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    for src in [group, [0; 16]] {
        let mut f = icmp6(src, OUR6, 64, &msg);
        let before = f.clone();
        assert_eq!(handle(&mut f, &Ours).kind, Kind::Other, "from {src:?}");
        assert_eq!(f, before);
    }
}

#[test]
fn icmpv6_echo_is_answered_in_place() {
    let mut msg = vec![128, 0, 0, 0, 0, 9, 0, 1];
    msg.extend_from_slice(b"v6 ping");
    let mut f = icmp6(PEER6, OUR6, 64, &msg);
    let h = handle(&mut f, &Ours);
    assert_eq!((h.kind, h.reply), (Kind::Echo, Reply::InPlace));
    assert_eq!(f[54], 129);
    assert_eq!(&f[22..38], &OUR6);
    assert_eq!(&f[38..54], &PEER6);
    assert!(icmp6_ok(&f));
}

#[test]
fn neighbour_solicitation_is_answered_with_an_advertisement() {
    let mut f = icmp6(
        PEER6,
        solicited_node(&OUR6),
        255,
        &ns_msg(OUR6, Some(PEER_MAC)),
    );
    let h = handle(&mut f, &Ours);
    assert_eq!(h.kind, Kind::Solicitation);
    assert_eq!(
        h.learn,
        Some(Learn {
            ip: PEER6,
            mac: PEER_MAC,
            create: true
        })
    );
    let Reply::Advertise {
        ip,
        mac,
        dst_mac,
        dst,
        flags,
    } = h.reply
    else {
        panic!("expected an advertisement, got {:?}", h.reply);
    };
    assert_eq!((ip, mac, dst_mac, dst), (OUR6, OUR_MAC, PEER_MAC, PEER6));
    assert_eq!(flags, NA_SOLICITED | NA_OVERRIDE);
    let mut out = [0u8; MAX_BUILT_FRAME];
    let n = neighbour_advertisement(&mut out, None, mac, &ip, dst_mac, &dst, flags).unwrap();
    let na = &out[..n];
    assert_eq!(n, 86);
    assert_eq!((na[20], na[21], na[54]), (58, 255, ND_ADVERT));
    assert!(icmp6_ok(na));
    // The advertisement teaches (updates) the target's MAC to whoever receives it.
    let mut back = na.to_vec();
    let h = handle(&mut back, &Ours);
    assert_eq!(h.kind, Kind::Advertisement);
    assert_eq!(
        h.learn,
        Some(Learn {
            ip: OUR6,
            mac: OUR_MAC,
            create: false
        })
    );

    // Duplicate address detection: from ::, answered to all nodes without S.
    let mut f = icmp6([0; 16], solicited_node(&OUR6), 255, &ns_msg(OUR6, None));
    let h = handle(&mut f, &Ours);
    assert!(
        matches!(h.reply, Reply::Advertise { dst, flags, .. } if dst == ALL_NODES && flags == NA_OVERRIDE)
    );
    assert_eq!(h.learn, None);
    // Hop limit other than 255 (forwarded by a router): ignored (RFC 4861 §7.1.1).
    let mut f = icmp6(
        PEER6,
        solicited_node(&OUR6),
        64,
        &ns_msg(OUR6, Some(PEER_MAC)),
    );
    assert_eq!(handle(&mut f, &Ours).kind, Kind::Other);
    // A zero-length option invalidates the message.
    let mut m = ns_msg(OUR6, None);
    m.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0]);
    let mut f = icmp6(PEER6, solicited_node(&OUR6), 255, &m);
    assert_eq!(handle(&mut f, &Ours).reply, Reply::None);
    // From a multicast source (found by the l2_responder fuzz target): not answered, since
    // the solicited advertisement would go to a group.
    let mut f = icmp6(
        solicited_node(&PEER6),
        solicited_node(&OUR6),
        255,
        &ns_msg(OUR6, Some(PEER_MAC)),
    );
    let h = handle(&mut f, &Ours);
    assert_eq!((h.reply, h.learn, h.kind), (Reply::None, None, Kind::Other));
}

#[test]
fn solicitation_builder_goes_to_the_solicited_node_group() {
    let mut out = [0u8; MAX_BUILT_FRAME];
    let n = neighbour_solicitation(&mut out, Some(7), OUR_MAC, &OUR6, &PEER6).unwrap();
    assert_eq!(n, 90);
    let group = solicited_node(&PEER6);
    assert_eq!(&out[..6], &multicast_mac(&group));
    assert_eq!(&out[12..16], &[0x81, 0, 0, 7]);
    assert_eq!(&out[42..58], &group);
    assert_eq!(out[58], ND_SOLICIT);
    assert_eq!(&out[66..82], &PEER6);
    assert_eq!(&out[82..84], &[OPT_SOURCE_LL, 1]);
    let l3 = 18;
    let src: [u8; 16] = out[l3 + 8..l3 + 24].try_into().unwrap();
    assert_eq!(
        fold(sum(&out[l3 + 40..n], pseudo_v6(&src, &group, 58, 32))),
        0
    );
}

#[test]
fn garbage_never_panics() {
    let mut seed = 0x1234_5678u32;
    for len in 0..200 {
        for _ in 0..20 {
            let mut f: Vec<u8> = (0..len)
                .map(|_| {
                    seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                    (seed >> 16) as u8
                })
                .collect();
            if f.len() > 13 {
                let types = [[0x08, 0x06], [0x08, 0x00], [0x86, 0xdd]];
                f[12..14].copy_from_slice(&types[len % 3]);
            }
            let _ = handle(&mut f, &Ours);
        }
    }
}

#[test]
fn subnets_and_multicast_helpers() {
    assert!(same_subnet(
        &mapped([10, 0, 0, 1]),
        &mapped([10, 0, 0, 200]),
        24
    ));
    assert!(!same_subnet(
        &mapped([10, 0, 0, 1]),
        &mapped([10, 0, 1, 1]),
        24
    ));
    assert!(same_subnet(
        &mapped([10, 0, 0, 1]),
        &mapped([10, 0, 1, 1]),
        16
    ));
    assert!(same_subnet(&OUR6, &PEER6, 64));
    assert!(!same_subnet(&OUR6, &mapped(OUR4), 0));
    let mut far = PEER6;
    far[7] = 1;
    assert!(!same_subnet(&OUR6, &far, 64));
    assert_eq!(
        solicited_node(&PEER6),
        [0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0, 0, 7]
    );
    assert_eq!(unmapped(&mapped(OUR4)), Some(OUR4));
    assert_eq!(unmapped(&OUR6), None);
}

#[test]
fn neighbour_table_resolves_ages_and_rate_limits() {
    let cfg = NeighConfig {
        reachable_ms: 1000,
        stale_ms: 500,
        retry_ms: 100,
    };
    let mut t = NeighTable::new(16, cfg);
    let ip = mapped(PEER4);
    assert_eq!(t.resolve(0, &ip, 0), Resolve::Ask);
    assert_eq!(t.resolve(0, &ip, 50), Resolve::Pending, "asked 50 ms ago");
    assert_eq!(
        t.resolve(0, &ip, 100),
        Resolve::Ask,
        "one request per interval"
    );
    assert!(
        t.learn(0, &ip, PEER_MAC, 120, false),
        "an incomplete entry takes the answer"
    );
    assert_eq!(t.resolve(0, &ip, 130), Resolve::Known(PEER_MAC));
    assert_eq!(t.resolve(1, &ip, 130), Resolve::Ask, "per port");
    // Getting old: still used, asked again once per interval.
    assert_eq!(t.resolve(0, &ip, 1200), Resolve::Refresh(PEER_MAC));
    assert_eq!(t.resolve(0, &ip, 1250), Resolve::Known(PEER_MAC));
    // Too old: forgotten.
    assert_eq!(t.peek(0, &ip, 1700), None);
    assert_eq!(t.resolve(0, &ip, 1700), Resolve::Ask);
    // Update-only learning ignores unknown addresses; create adds them.
    let other = mapped([10, 0, 0, 8]);
    assert!(!t.learn(0, &other, PEER_MAC, 1700, false));
    assert!(t.learn(0, &other, PEER_MAC, 1700, true));
    assert_eq!(t.peek(0, &other, 1701), Some(PEER_MAC));
    // Clock wrap-around.
    let mut t = NeighTable::new(16, cfg);
    assert!(t.learn(0, &ip, PEER_MAC, u32::MAX - 10, true));
    assert_eq!(t.resolve(0, &ip, 20), Resolve::Known(PEER_MAC));
}

#[test]
fn neighbour_table_stays_bounded() {
    let mut t = NeighTable::new(16, NeighConfig::default());
    let mut full = 0;
    for i in 0..1000u32 {
        let ip = mapped(i.to_be_bytes());
        if t.resolve(0, &ip, 0) == Resolve::Full {
            full += 1;
        }
    }
    assert_eq!(t.len(), 16);
    assert!(full > 900);
    // Later, old incomplete entries give way.
    assert_eq!(t.resolve(0, &mapped([1, 2, 3, 4]), 5000), Resolve::Ask);
}

#[test]
fn mesh_passes_learned_entries_to_every_other_worker() {
    let mut peers = NeighMesh::build(3, 4);
    let l = Learned {
        link: 1,
        ip: mapped(PEER4),
        mac: PEER_MAC,
        create: true,
    };
    peers[0].share(l);
    let mut got = Vec::new();
    peers[0].receive(16, |x| got.push(x));
    assert!(got.is_empty(), "not to itself");
    for p in &mut peers[1..] {
        p.receive(16, |x| got.push(x));
    }
    assert_eq!(got, vec![l, l]);
    for _ in 0..5 {
        peers[1].share(l);
    }
    assert_eq!(peers[1].lost(), 2, "two rings of 4, five notes each");
}
