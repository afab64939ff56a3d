//! The DPDK ports' ARP / neighbour discovery / ICMP echo responder (`pktio::l2::handle`, a pure
//! function of a received frame) on arbitrary frames. It must not panic; it rewrites the frame
//! only when it answers in place; every answer is a well-formed frame whose checksums verify
//! with the `wire` crate's routines, sent from one of the configured relay addresses with that
//! address's MAC, back to the requester; a neighbour advertisement built from its answer is
//! itself accepted by the responder as a valid advertisement (RFC 4861 §7.1.2).
#![no_main]

use libfuzzer_sys::fuzz_target;
use pktio::l2::build::{neighbour_advertisement, ND_ADVERT, OPT_TARGET_LL};
use pktio::l2::rx::{Kind, Reply};
use pktio::l2::{handle, mapped, LocalAddrs, MAX_BUILT_FRAME};
use wire::checksum::{checksum, fold, pseudo_v6, sum};
use wire::frame::{ethertype, ETHERTYPE_IPV4, ETHERTYPE_IPV6};
use wire::{arp, Endpoint};

/// The relay addresses of the port (IPv4 mapped and IPv6) and their MACs.
const OURS: [([u8; 16], [u8; 6]); 3] = [
    (
        [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 1],
        [2, 0, 0, 0, 0, 0x10],
    ),
    (
        [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 5],
        [2, 0, 0, 0, 0, 0x11],
    ),
    (
        [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
        [2, 0, 0, 0, 0, 0x10],
    ),
];

struct Port;
impl LocalAddrs for Port {
    fn local_mac(&self, ip: &[u8; 16]) -> Option<[u8; 6]> {
        OURS.iter().find(|(a, _)| a == ip).map(|(_, m)| *m)
    }
}

fn mac_at(f: &[u8], at: usize) -> [u8; 6] {
    f[at..at + 6].try_into().expect("6 bytes")
}

fn addr16(f: &[u8], at: usize) -> [u8; 16] {
    f[at..at + 16].try_into().expect("16 bytes")
}

/// An ARP reply in place: from one of ours, to the requester, same frame length.
fn check_arp(req: &[u8], out: &[u8]) {
    let q = arp::parse(req).expect("an answered ARP request parses");
    let r = arp::parse(out).expect("the ARP reply parses");
    assert_eq!((q.op, r.op), (arp::OP_REQUEST, arp::OP_REPLY));
    assert_eq!(Port.local_mac(&mapped(r.sender_ip)), Some(r.sender_mac));
    assert_eq!((r.sender_ip, r.target_ip), (q.target_ip, q.sender_ip));
    assert_eq!((r.target_mac, r.vlan, r.l3), (q.sender_mac, q.vlan, q.l3));
    assert_eq!(
        (mac_at(out, 0), mac_at(out, 6)),
        (q.sender_mac, r.sender_mac)
    );
}

/// An ICMP (v4) echo reply in place: both checksums verify, from one of ours, to the requester.
fn check_echo_v4(req: &[u8], out: &[u8], l3: usize) {
    let ihl = usize::from(out[l3] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([out[l3 + 2], out[l3 + 3]]));
    let ip = &out[l3..l3 + total];
    assert_eq!(checksum(&ip[..ihl]), 0, "IPv4 header checksum");
    assert_eq!(checksum(&ip[ihl..]), 0, "ICMP checksum");
    assert_eq!((ip[9], ip[ihl], ip[ihl + 1]), (1, 0, 0), "an echo reply");
    let src = Endpoint::new_v4(ip[12..16].try_into().expect("4 bytes"), 0).ip;
    assert_eq!(
        Port.local_mac(&src),
        Some(mac_at(out, 6)),
        "from one of ours"
    );
    assert_eq!(ip[16..20], req[l3 + 12..l3 + 16], "back to the requester");
    assert_eq!(mac_at(out, 0), mac_at(req, 6));
    assert_eq!(
        ip[ihl + 4..],
        req[l3 + ihl + 4..l3 + total],
        "data unchanged"
    );
}

/// The ICMPv6 message of the IPv6 packet at `l3`, after checking its checksum.
fn icmp6(f: &[u8], l3: usize) -> &[u8] {
    let plen = usize::from(u16::from_be_bytes([f[l3 + 4], f[l3 + 5]]));
    let (src, dst) = (addr16(f, l3 + 8), addr16(f, l3 + 24));
    let msg = &f[l3 + 40..l3 + 40 + plen];
    assert_eq!(f[l3 + 6], 58, "ICMPv6");
    assert_eq!(
        fold(sum(msg, pseudo_v6(&src, &dst, 58, plen as u32))),
        0,
        "ICMPv6 checksum"
    );
    msg
}

/// An ICMPv6 echo reply in place.
fn check_echo_v6(req: &[u8], out: &[u8], l3: usize) {
    let msg = icmp6(out, l3);
    assert_eq!((msg[0], msg[1]), (129, 0), "an echo reply");
    assert_eq!(
        Port.local_mac(&addr16(out, l3 + 8)),
        Some(mac_at(out, 6)),
        "from ours"
    );
    assert_eq!(
        addr16(out, l3 + 24),
        addr16(req, l3 + 8),
        "back to the requester"
    );
    assert_eq!(mac_at(out, 0), mac_at(req, 6));
}

/// The advertisement the port would send for `reply`, checked, then fed back to the responder.
fn check_advert(req: &[u8], reply: Reply) {
    let Reply::Advertise {
        ip,
        mac,
        dst_mac,
        dst,
        flags,
    } = reply
    else {
        unreachable!("called for advertisements only");
    };
    assert_eq!(Port.local_mac(&ip), Some(mac), "only for our addresses");
    let vlan = match ethertype(req) {
        Some((_, 18)) => Some(u16::from_be_bytes([req[14], req[15]]) & 0x0fff),
        _ => None,
    };
    let mut out = [0u8; MAX_BUILT_FRAME];
    let n = neighbour_advertisement(&mut out, vlan, mac, &ip, dst_mac, &dst, flags)
        .expect("room for an advertisement");
    let (ty, l3) = ethertype(&out[..n]).expect("an Ethernet frame");
    assert_eq!(ty, ETHERTYPE_IPV6);
    let msg = icmp6(&out[..n], l3);
    assert_eq!((msg[0], &msg[8..24]), (ND_ADVERT, &ip[..]));
    assert_eq!((msg[24], &msg[26..32]), (OPT_TARGET_LL, &mac[..]));
    let mut again = out[..n].to_vec();
    let h = handle(&mut again, &Port);
    assert_eq!(
        h.kind,
        Kind::Advertisement,
        "our advertisement is valid: {h:?}"
    );
    assert_eq!(h.reply, Reply::None);
}

fuzz_target!(|data: &[u8]| {
    let mut frame = data.to_vec();
    let h = handle(&mut frame, &Port);
    match (h.reply, h.kind) {
        (Reply::InPlace, Kind::ArpRequest) => check_arp(data, &frame),
        (Reply::InPlace, Kind::Echo) => match ethertype(data) {
            Some((ETHERTYPE_IPV4, l3)) => check_echo_v4(data, &frame, l3),
            Some((ETHERTYPE_IPV6, l3)) => check_echo_v6(data, &frame, l3),
            other => panic!("an echo reply to ethertype {other:?}"),
        },
        (Reply::InPlace, kind) => panic!("answered in place as {kind:?}"),
        (reply @ Reply::Advertise { .. }, Kind::Solicitation) => {
            assert_eq!(frame, data, "consumed frames are left as they were");
            check_advert(data, reply);
        }
        (Reply::Advertise { .. }, kind) => panic!("advertised for a {kind:?}"),
        (Reply::None, kind) => {
            assert_eq!(frame, data, "unanswered frames are left as they were");
            assert_ne!(
                kind,
                Kind::Solicitation,
                "a solicitation for ours is answered"
            );
            assert!(
                !matches!(kind, Kind::Echo | Kind::ArpRequest),
                "{kind:?} unanswered"
            );
        }
    }
    if h.kind == Kind::Other {
        assert!(
            h.learn.is_none(),
            "nothing is learned from a frame not for the port"
        );
    }
});
