//! Layer 2/3 duties and wrong-queue hand-off of the DPDK backend over `net_ring` ports on a
//! `--no-huge` EAL: ARP / ICMP echo / neighbour solicitation answers, next-hop resolution
//! with ARP and ND, announcements at start, VLAN tags, and two workers on two queues handing
//! frames to their owner and sharing what they learn.
#![cfg(feature = "dpdk")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::Rig;

use pktio::dpdk::{handoff_rings, DpdkIo, DpdkIoConfig, DpdkLink, Eal, Handoff, RxDrop};
use pktio::l2::{self, NeighMesh};
use pktio::{PacketIo, PortKey, RelayAddr};
use std::sync::Arc;
use std::time::Duration;
use wire::frame;
use wire::Endpoint;

const RELAY_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x10];
const PEER_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x30];
const HOP_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x40];
const RELAY_IP: [u8; 4] = [10, 0, 0, 1];
const PEER_IP: [u8; 4] = [10, 0, 0, 7];
const RELAY6: [u8; 16] = [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
const PEER6: [u8; 16] = [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7];

fn eal() -> &'static Eal {
    common::eal("pktio-l2", &[])
}

fn rig(name: &str, queues: u16) -> Rig {
    common::rig(eal(), name, queues)
}

fn addrs() -> Vec<RelayAddr> {
    vec![
        RelayAddr {
            ip: RELAY_IP.into(),
            mac: RELAY_MAC,
        },
        RelayAddr {
            ip: RELAY6.into(),
            mac: RELAY_MAC,
        },
    ]
}

fn io(link: DpdkLink, queue: u16) -> DpdkIo {
    DpdkIo::new(DpdkIoConfig {
        links: vec![link],
        queue,
        addrs: addrs(),
        addr_link: vec![0, 0],
        ..DpdkIoConfig::default()
    })
    .unwrap()
}

fn udp(src: Endpoint, dst: Endpoint, vlan: Option<u16>) -> Vec<u8> {
    let mut f = Vec::new();
    frame::build_udp_tagged(
        &mut f,
        vlan,
        PEER_MAC,
        RELAY_MAC,
        &src,
        &dst,
        b"rtp payload",
    );
    f
}

/// One receive + flush; returns the number of relay packets seen.
fn poll(io: &mut DpdkIo) -> usize {
    let (n, _) = io.rx_burst(Duration::ZERO).unwrap();
    n
}

fn arp_reply(from_mac: [u8; 6], from_ip: [u8; 4]) -> Vec<u8> {
    // A request turned into a reply by the peer: built as the answer to our request.
    let mut f = Vec::new();
    wire::arp::build_request(&mut f, None, RELAY_MAC, RELAY_IP, from_ip);
    let a = wire::arp::parse(&f).unwrap();
    wire::arp::reply_in_place(&mut f, &a, from_mac).unwrap();
    f
}

fn echo_request() -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&RELAY_MAC);
    f.extend_from_slice(&PEER_MAC);
    f.extend_from_slice(&[0x08, 0x00]);
    let mut ip = vec![0x45, 0, 0, 36, 0, 1, 0x40, 0, 64, 1, 0, 0];
    ip.extend_from_slice(&PEER_IP);
    ip.extend_from_slice(&RELAY_IP);
    let c = wire::checksum::checksum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&ip);
    let mut icmp = vec![8, 0, 0, 0, 0, 1, 0, 1, 1, 2, 3, 4, 5, 6, 7, 8];
    let c = wire::checksum::checksum(&icmp);
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&icmp);
    f
}

#[test]
fn arp_and_echo_for_relay_addresses_are_answered() {
    let mut r = rig("l2_ans", 1);
    let base = r.pool.available();
    let mut d = io(DpdkLink::new(r.port.clone()), 0);
    let mut req = Vec::new();
    wire::arp::build_request(&mut req, None, PEER_MAC, PEER_IP, RELAY_IP);
    let mut other = Vec::new();
    wire::arp::build_request(&mut other, None, PEER_MAC, PEER_IP, [10, 0, 0, 99]);
    for f in [&req, &other, &echo_request()] {
        assert!(r.ring.inject(0, f));
    }
    assert_eq!(poll(&mut d), 0, "nothing for the relay");
    d.flush();
    let sent = r.ring.take_sent(0);
    assert_eq!(
        sent.len(),
        2,
        "an ARP reply and an echo reply, nothing for 10.0.0.99"
    );
    let a = wire::arp::parse(&sent[0]).unwrap();
    assert_eq!((a.op, a.sender_ip, a.sender_mac), (2, RELAY_IP, RELAY_MAC));
    assert_eq!((a.target_ip, a.target_mac), (PEER_IP, PEER_MAC));
    assert_eq!(&sent[1][..6], &PEER_MAC);
    assert_eq!(sent[1][34], 0, "ICMP echo reply");
    assert_eq!(&sent[1][30..34], &PEER_IP);
    let s = d.l2_stats();
    assert_eq!(
        (s.arp_replies, s.echo_replies, s.neighbour_packets),
        (1, 1, 1)
    );
    assert_eq!(d.drops().total(), 0);
    // The requester was learned (RFC 826: the target was us).
    assert_eq!(d.neighbour(0, PEER_IP.into()), Some(PEER_MAC));
    drop(d);
    assert_eq!(r.pool.available(), base, "no mbuf leaked");
}

#[test]
fn next_hops_are_resolved_with_arp_and_nd() {
    let mut r = rig("l2_res", 1);
    let base = r.pool.available();
    let mut link = DpdkLink::new(r.port.clone());
    link.gateway_v4 = Some([10, 0, 0, 254]);
    let mut d = io(link, 0);
    let peer = Endpoint::new_v4(PEER_IP, 4000);
    let relay = Endpoint::new_v4(RELAY_IP, 30000);
    let on_link = Endpoint::new_v4([10, 0, 0, 9], 5000);
    let off_link = Endpoint::new_v4([198, 51, 100, 3], 6000);

    // 1: on-link destination unknown: an ARP request for it goes out, the packet is dropped.
    assert!(r.ring.inject(0, &udp(peer, relay, None)));
    assert_eq!(poll(&mut d), 1);
    d.forward(0, PortKey::new(0, 30002), on_link);
    d.flush();
    let sent = r.ring.take_sent(0);
    assert_eq!(sent.len(), 1);
    let a = wire::arp::parse(&sent[0]).unwrap();
    assert_eq!(
        (a.op, a.sender_ip, a.target_ip),
        (1, RELAY_IP, [10, 0, 0, 9])
    );
    assert_eq!(&sent[0][..6], &[0xff; 6]);
    assert_eq!(d.l2_stats().unresolved, 1);
    // 2: within the retry interval no second request.
    assert!(r.ring.inject(0, &udp(peer, relay, None)));
    assert_eq!(poll(&mut d), 1);
    d.forward(0, PortKey::new(0, 30002), on_link);
    d.flush();
    assert!(r.ring.take_sent(0).is_empty());
    // 3: the answer arrives; the next packet goes to the learned MAC.
    assert!(r.ring.inject(0, &arp_reply(HOP_MAC, [10, 0, 0, 9])));
    assert!(r.ring.inject(0, &udp(peer, relay, None)));
    assert_eq!(poll(&mut d), 1);
    d.forward(0, PortKey::new(0, 30002), on_link);
    d.flush();
    let sent = r.ring.take_sent(0);
    assert_eq!(sent.len(), 1);
    assert_eq!(&sent[0][..6], &HOP_MAC);
    assert_eq!(frame::parse_udp(&sent[0]).unwrap().dst, on_link);
    // 4: off-link goes to the gateway, which is asked for.
    assert!(r.ring.inject(0, &udp(peer, relay, None)));
    assert_eq!(poll(&mut d), 1);
    d.forward(0, PortKey::new(0, 30002), off_link);
    d.flush();
    let sent = r.ring.take_sent(0);
    assert_eq!(
        wire::arp::parse(&sent[0]).unwrap().target_ip,
        [10, 0, 0, 254]
    );

    // 5: IPv6 next hop resolved with a solicitation to the solicited-node group.
    let peer6 = Endpoint::new_v6(PEER6, 4000);
    assert!(r
        .ring
        .inject(0, &udp(peer6, Endpoint::new_v6(RELAY6, 30010), None)));
    assert_eq!(poll(&mut d), 1);
    d.forward(0, PortKey::new(1, 30012), Endpoint::new_v6(PEER6, 6000));
    d.flush();
    let sent = r.ring.take_sent(0);
    assert_eq!(sent.len(), 1);
    let group = l2::solicited_node(&PEER6);
    assert_eq!(&sent[0][..6], &l2::multicast_mac(&group));
    assert_eq!(sent[0][54], l2::build::ND_SOLICIT);
    // The peer's advertisement (built by the same code) answers it.
    let mut na = [0u8; l2::MAX_BUILT_FRAME];
    let n = l2::build::neighbour_advertisement(
        &mut na,
        None,
        HOP_MAC,
        &PEER6,
        RELAY_MAC,
        &RELAY6,
        l2::build::NA_SOLICITED | l2::build::NA_OVERRIDE,
    )
    .unwrap();
    assert!(r.ring.inject(0, &na[..n]));
    assert!(r
        .ring
        .inject(0, &udp(peer6, Endpoint::new_v6(RELAY6, 30010), None)));
    assert_eq!(poll(&mut d), 1);
    d.forward(0, PortKey::new(1, 30012), Endpoint::new_v6(PEER6, 6000));
    d.flush();
    let sent = r.ring.take_sent(0);
    assert_eq!(&sent[0][..6], &HOP_MAC);
    let s = d.l2_stats();
    assert_eq!((s.requests_sent, s.unresolved), (3, 4));

    // 6: no gateway for the family: dropped as no route, nothing sent.
    assert!(r
        .ring
        .inject(0, &udp(peer6, Endpoint::new_v6(RELAY6, 30010), None)));
    assert_eq!(poll(&mut d), 1);
    let mut far = PEER6;
    far[3] = 0xb9;
    d.forward(0, PortKey::new(1, 30012), Endpoint::new_v6(far, 6000));
    d.flush();
    assert!(r.ring.take_sent(0).is_empty());
    assert_eq!(d.l2_stats().no_route, 1);
    drop(d);
    assert_eq!(r.pool.available(), base, "no mbuf leaked");
}

#[test]
fn solicitations_are_answered_and_addresses_announced() {
    let mut r = rig("l2_nd", 1);
    let mut d = DpdkIo::new(DpdkIoConfig {
        links: vec![DpdkLink::new(r.port.clone())],
        addrs: addrs(),
        addr_link: vec![0, 0],
        announce: true,
        ..DpdkIoConfig::default()
    })
    .unwrap();
    let mut ns = [0u8; l2::MAX_BUILT_FRAME];
    let n = l2::build::neighbour_solicitation(&mut ns, None, PEER_MAC, &PEER6, &RELAY6).unwrap();
    assert!(r.ring.inject(0, &ns[..n]));
    assert_eq!(poll(&mut d), 0);
    d.flush();
    let sent = r.ring.take_sent(0);
    assert_eq!(
        sent.len(),
        3,
        "gratuitous ARP, unsolicited NA, the solicited NA"
    );
    let garp = wire::arp::parse(&sent[0]).unwrap();
    assert!(garp.is_gratuitous());
    assert_eq!(garp.sender_ip, RELAY_IP);
    assert_eq!(&sent[1][..6], &[0x33, 0x33, 0, 0, 0, 1], "to all nodes");
    let na = &sent[2];
    assert_eq!(&na[..6], &PEER_MAC);
    assert_eq!(na[54], l2::build::ND_ADVERT);
    assert_eq!(na[58], l2::build::NA_SOLICITED | l2::build::NA_OVERRIDE);
    assert_eq!(&na[62..78], &RELAY6);
    let s = d.l2_stats();
    assert_eq!((s.announcements, s.nd_replies), (2, 1));
    assert_eq!(d.neighbour(0, PEER6.into()), Some(PEER_MAC));
    // Only once.
    assert_eq!(poll(&mut d), 0);
    d.flush();
    assert!(r.ring.take_sent(0).is_empty());
}

#[test]
fn vlan_port_takes_and_sends_tagged_frames_only() {
    let mut r = rig("l2_vlan", 1);
    let base = r.pool.available();
    let mut link = DpdkLink::new(r.port.clone()).with_next_hop_mac(HOP_MAC);
    link.vlan = Some(100);
    let mut d = io(link, 0);
    let peer = Endpoint::new_v4(PEER_IP, 4000);
    let relay = Endpoint::new_v4(RELAY_IP, 30000);
    assert!(r.ring.inject(0, &udp(peer, relay, None)));
    assert!(r.ring.inject(0, &udp(peer, relay, Some(200))));
    assert!(r.ring.inject(0, &udp(peer, relay, Some(100))));
    let mut arp = Vec::new();
    wire::arp::build_request(&mut arp, Some(100), PEER_MAC, PEER_IP, RELAY_IP);
    assert!(r.ring.inject(0, &arp));
    assert_eq!(poll(&mut d), 1, "only the frame on VLAN 100");
    assert_eq!(d.drops().get(RxDrop::WrongVlan), 2);
    d.forward(
        0,
        PortKey::new(0, 30002),
        Endpoint::new_v4([10, 0, 0, 9], 5000),
    );
    d.flush();
    let sent = r.ring.take_sent(0);
    assert_eq!(sent.len(), 2);
    assert_eq!(wire::arp::parse(&sent[0]).unwrap().vlan, Some(100));
    let f = frame::parse_udp(&sent[1]).unwrap();
    assert_eq!(f.vlan, Some(100));
    assert!(frame::verify_udp_checksum(&sent[1], &f));
    drop(d);
    assert_eq!(r.pool.available(), base);
}

#[test]
fn untagged_frames_get_the_egress_port_tag() {
    let mut a = rig("l2_tag_a", 1);
    let mut b = rig("l2_tag_b", 1);
    let mut tagged = DpdkLink::new(b.port.clone()).with_next_hop_mac(HOP_MAC);
    tagged.vlan = Some(42);
    let mut d = DpdkIo::new(DpdkIoConfig {
        links: vec![
            DpdkLink::new(a.port.clone()).with_next_hop_mac(HOP_MAC),
            tagged,
        ],
        addrs: vec![
            RelayAddr {
                ip: RELAY_IP.into(),
                mac: RELAY_MAC,
            },
            RelayAddr {
                ip: [10, 1, 0, 1].into(),
                mac: RELAY_MAC,
            },
        ],
        addr_link: vec![0, 1],
        ..DpdkIoConfig::default()
    })
    .unwrap();
    let peer = Endpoint::new_v4(PEER_IP, 4000);
    assert!(a
        .ring
        .inject(0, &udp(peer, Endpoint::new_v4(RELAY_IP, 30000), None)));
    assert_eq!(poll(&mut d), 1);
    let to = Endpoint::new_v4([10, 1, 0, 9], 5000);
    d.forward(0, PortKey::new(1, 30002), to);
    d.flush();
    let sent = b.ring.take_sent(0);
    assert_eq!(sent.len(), 1);
    let f = frame::parse_udp(&sent[0]).unwrap();
    assert_eq!((f.vlan, f.dst), (Some(42), to));
    assert!(frame::verify_udp_checksum(&sent[0], &f));
    assert_eq!(f.payload_bytes(&sent[0]), b"rtp payload");
    // And back: the tag is stripped toward the untagged port.
    let mut back = Vec::new();
    frame::build_udp_tagged(
        &mut back,
        Some(42),
        PEER_MAC,
        RELAY_MAC,
        &to,
        &Endpoint::new_v4([10, 1, 0, 1], 30002),
        b"rtp payload",
    );
    assert!(b.ring.inject(0, &back));
    assert_eq!(poll(&mut d), 1);
    d.forward(0, PortKey::new(0, 30000), peer);
    d.flush();
    let sent = a.ring.take_sent(0);
    let f = frame::parse_udp(&sent[0]).unwrap();
    assert_eq!((f.vlan, f.dst), (None, peer));
    assert!(frame::verify_udp_checksum(&sent[0], &f));
}

#[test]
fn wrong_queue_frames_reach_their_owner_and_learning_is_shared() {
    let mut r = rig("l2_ho", 2);
    let base = r.pool.available();
    let (inboxes, outboxes) = handoff_rings(eal(), "l2_ho", 2, 256).unwrap();
    let mut mesh = NeighMesh::build(2, 64);
    // Owner: pair number modulo 2, as the data-plane layout does for two workers.
    let owner: pktio::dpdk::OwnerFn =
        Arc::new(|k: PortKey| Some(usize::from((k.port - 30000) / 2 % 2)));
    let mut ios: Vec<DpdkIo> = inboxes
        .into_iter()
        .enumerate()
        .map(|(w, inbox)| {
            DpdkIo::new(DpdkIoConfig {
                links: vec![DpdkLink::new(r.port.clone())],
                queue: w as u16,
                addrs: addrs(),
                addr_link: vec![0, 0],
                neigh_peer: Some(mesh.remove(0)),
                handoff: Some(Handoff {
                    me: w,
                    inbox,
                    outboxes: outboxes.clone(),
                    owner: owner.clone(),
                }),
                ..DpdkIoConfig::default()
            })
            .unwrap()
        })
        .collect();
    let peer = Endpoint::new_v4(PEER_IP, 4000);
    // Queue 0 gets frames for ports 30000 (worker 0) and 30002 (worker 1); queue 1 gets one
    // for 30004 (worker 0).
    assert!(r
        .ring
        .inject(0, &udp(peer, Endpoint::new_v4(RELAY_IP, 30000), None)));
    assert!(r
        .ring
        .inject(0, &udp(peer, Endpoint::new_v4(RELAY_IP, 30002), None)));
    assert!(r
        .ring
        .inject(1, &udp(peer, Endpoint::new_v4(RELAY_IP, 30004), None)));
    // The ARP request reaches worker 0 only; worker 1 learns the requester through the mesh.
    let mut req = Vec::new();
    wire::arp::build_request(&mut req, None, PEER_MAC, PEER_IP, RELAY_IP);
    assert!(r.ring.inject(0, &req));

    assert_eq!(poll(&mut ios[0]), 1, "worker 0 keeps its own frame");
    assert_eq!(ios[0].packet(0).unwrap().local.port, 30000);
    ios[0].flush();
    assert_eq!(
        poll(&mut ios[1]),
        1,
        "worker 1 gets the handed-off frame, hands one back"
    );
    assert_eq!(ios[1].packet(0).unwrap().local.port, 30002);
    assert_eq!(ios[1].neighbour(0, PEER_IP.into()), Some(PEER_MAC));
    ios[1].flush();
    assert_eq!(poll(&mut ios[0]), 1);
    assert_eq!(ios[0].packet(0).unwrap().local.port, 30004);
    ios[0].flush();
    let (s0, s1) = (ios[0].l2_stats(), ios[1].l2_stats());
    assert_eq!((s0.handed_off, s0.handoff_received), (1, 1));
    assert_eq!((s1.handed_off, s1.handoff_received), (1, 1));
    assert_eq!(s0.handoff_dropped + s1.handoff_dropped, 0);
    assert_eq!(r.ring.take_sent(0).len(), 1, "the ARP reply");
    drop(ios);
    assert_eq!(r.pool.available(), base, "no mbuf leaked");
}
