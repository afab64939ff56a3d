//! The DPDK backend on `--no-huge` EAL with `net_ring` ports (frames injected on the port's
//! receive ring, relayed frames read from its transmit ring) and a `net_null` vdev.
//!
//! One EAL per test process (its own `--file-prefix`); every test makes its own pool and port.
#![cfg(feature = "dpdk")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use pktio::dpdk::{
    DpdkIo, DpdkIoConfig, DpdkLink, Eal, EalConfig, EthPort, Mempool, PortSetup, RingPort, RxDrop,
};
use pktio::{PacketIo, PortKey, RelayAddr};
use std::sync::Arc;
use std::time::Duration;
use wire::frame::{self, FrameError};
use wire::Endpoint;

const RELAY_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x10];
const GW_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x20];
const PEER_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x30];
const RELAY_IP: [u8; 4] = [10, 0, 0, 1];
const RELAY6: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];

/// `net_null0` is started (and closed when dropped) by one test; `net_null1` is never
/// started, so looking it up does not race with that close when tests run in parallel.
fn eal() -> &'static Eal {
    common::eal("pktio", &["net_null0", "net_null1"])
}

struct Rig {
    ring: RingPort,
    io: DpdkIo,
    pool: Arc<Mempool>,
}

fn rig(name: &str) -> Rig {
    let eal = eal();
    let pool = Arc::new(Mempool::new(eal, &format!("{name}_pool"), 511, 0, 2176, 0).unwrap());
    let ring = RingPort::create(eal, name, 1, 256, pool.clone()).unwrap();
    let setup = PortSetup {
        queues: 1,
        rx_desc: 128,
        tx_desc: 128,
        pools: vec![pool.clone()],
        ..PortSetup::default()
    };
    let port = Arc::new(EthPort::start(eal, ring.port_id(), &setup).unwrap());
    assert_eq!(port.driver(), "net_ring");
    assert!(port.link().up, "a ring port's link is up once started");
    let io = DpdkIo::new(DpdkIoConfig {
        links: vec![DpdkLink::new(port).with_next_hop_mac(GW_MAC)],
        queue: 0,
        addrs: vec![
            RelayAddr {
                ip: RELAY_IP.into(),
                mac: RELAY_MAC,
            },
            RelayAddr {
                ip: RELAY6.into(),
                mac: RELAY_MAC,
            },
        ],
        addr_link: vec![0, 0],
        burst: 32,
        verify_udp_checksum: true,
        ..DpdkIoConfig::default()
    })
    .unwrap();
    Rig { ring, io, pool }
}

fn udp(src: Endpoint, dst: Endpoint, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    frame::build_udp(&mut f, PEER_MAC, RELAY_MAC, &src, &dst, payload);
    f
}

fn fix_ip_checksum(f: &mut [u8]) {
    f[24] = 0;
    f[25] = 0;
    let c = wire::checksum::checksum(&f[14..34]);
    f[24..26].copy_from_slice(&c.to_be_bytes());
}

#[test]
fn eal_starts_once_per_process() {
    let e = eal();
    assert!(e.args().contains("--no-huge"));
    assert!(matches!(
        Eal::start(&EalConfig::default()),
        Err(pktio::dpdk::DpdkError::EalAlreadyStarted)
    ));
    assert!(EthPort::lookup(e, "net_null1").is_ok());
    assert!(matches!(
        EthPort::lookup(e, "no_such_port"),
        Err(pktio::dpdk::DpdkError::NoSuchPort(_))
    ));
    assert!(pktio::dpdk::tsc_hz() > 0);
}

#[test]
fn relays_v4_and_v6_frames_in_place() {
    let mut r = rig("fv_relay");
    let base = r.pool.available();
    let peer = Endpoint::new_v4([192, 0, 2, 7], 4000);
    let payload = [0x80u8, 0, 0, 1, 0, 0, 0, 160, 0, 0, 0, 9, 0xd5, 0xd5];
    assert!(r
        .ring
        .inject(0, &udp(peer, Endpoint::new_v4(RELAY_IP, 30000), &payload)));
    let mut p6 = [0u8; 16];
    p6[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
    p6[15] = 9;
    let peer6 = Endpoint::new_v6(p6, 5000);
    assert!(r
        .ring
        .inject(0, &udp(peer6, Endpoint::new_v6(RELAY6, 30010), &payload)));

    let (n, _) = r.io.rx_burst(Duration::ZERO).unwrap();
    assert_eq!(n, 2);
    let p = r.io.packet(0).unwrap();
    assert_eq!(p.local, PortKey::new(0, 30000));
    assert_eq!(p.src, peer);
    assert_eq!(p.payload, &payload);
    assert_eq!(r.io.packet(1).unwrap().local, PortKey::new(1, 30010));
    assert!(r.io.packet(2).is_none());

    let to = Endpoint::new_v4([198, 51, 100, 3], 6000);
    r.io.forward(0, PortKey::new(0, 30002), to);
    let mut to6 = p6;
    to6[15] = 10;
    r.io.forward(1, PortKey::new(1, 30012), Endpoint::new_v6(to6, 6002));
    r.io.flush();
    let sent = r.ring.take_sent(0);
    assert_eq!(sent.len(), 2);
    let f = frame::parse_udp(&sent[0]).unwrap();
    assert_eq!(f.src, Endpoint::new_v4(RELAY_IP, 30002));
    assert_eq!(f.dst, to);
    assert_eq!(&sent[0][..6], &GW_MAC);
    assert_eq!(&sent[0][6..12], &RELAY_MAC);
    assert!(frame::verify_udp_checksum(&sent[0], &f));
    assert_eq!(f.payload_bytes(&sent[0]), &payload);
    let f6 = frame::parse_udp(&sent[1]).unwrap();
    assert_eq!(f6.src, Endpoint::new_v6(RELAY6, 30012));
    assert!(frame::verify_udp_checksum(&sent[1], &f6));
    let c = r.io.counters();
    assert_eq!((c.rx, c.tx, c.tx_dropped, c.rx_invalid), (2, 2, 0, 0));
    assert_eq!(r.pool.available(), base, "every mbuf is back in the pool");
}

#[test]
fn bad_frames_are_dropped_and_counted_by_reason() {
    let mut r = rig("fv_bad");
    let base = r.pool.available();
    let peer = Endpoint::new_v4([192, 0, 2, 7], 4000);
    let relay = Endpoint::new_v4(RELAY_IP, 30000);
    let good = udp(peer, relay, b"0123456789abcdef");

    let runt = good[..20].to_vec();
    let mut bad_ihl = good.clone();
    bad_ihl[14] = 0x44;
    let mut options = good.clone();
    options[14] = 0x46;
    let mut fragment = good.clone();
    fragment[20] = 0x20; // MF set
    fix_ip_checksum(&mut fragment);
    let mut not_udp = good.clone();
    not_udp[23] = 6; // TCP
    fix_ip_checksum(&mut not_udp);
    let mut bad_udp_sum = good.clone();
    let last = bad_udp_sum.len() - 1 - (bad_udp_sum.len() - 58); // a payload byte
    bad_udp_sum[last] ^= 0xff;
    let mut bad_ip_sum = good.clone();
    bad_ip_sum[24] ^= 0x55;
    let unknown_addr = udp(peer, Endpoint::new_v4([10, 0, 0, 99], 30000), b"x");
    // LLDP (ethertype 0x88cc): neither IP nor anything the port answers.
    let mut lldp = vec![0x01, 0x80, 0xc2, 0, 0, 0x0e];
    lldp.extend_from_slice(&PEER_MAC);
    lldp.extend_from_slice(&[0x88, 0xcc]);
    lldp.resize(60, 0);

    let cases: [(&[u8], RxDrop); 9] = [
        (&runt, RxDrop::Frame(FrameError::Runt)),
        (&bad_ihl, RxDrop::Frame(FrameError::BadIpHeaderLen)),
        (&options, RxDrop::Frame(FrameError::IpOptions)),
        (&fragment, RxDrop::Frame(FrameError::Fragment)),
        (&not_udp, RxDrop::Frame(FrameError::NotUdp)),
        (&bad_udp_sum, RxDrop::UdpChecksum),
        (&bad_ip_sum, RxDrop::Frame(FrameError::BadIpChecksum)),
        (&unknown_addr, RxDrop::UnknownAddress),
        (&lldp, RxDrop::Frame(FrameError::NotIp)),
    ];
    for (f, _) in &cases {
        assert!(r.ring.inject(0, f));
    }
    assert!(r.ring.inject(0, &good));
    let (n, _) = r.io.rx_burst(Duration::ZERO).unwrap();
    assert_eq!(n, 1, "only the good frame reaches the relay");
    assert_eq!(r.io.packet(0).unwrap().payload, b"0123456789abcdef");
    r.io.flush(); // not forwarded: freed
    for (_, reason) in &cases {
        assert_eq!(r.io.drops().get(*reason), 1, "{}", reason.as_str());
    }
    assert_eq!(r.io.drops().total(), cases.len() as u64);
    let c = r.io.counters();
    assert_eq!((c.rx, c.rx_invalid, c.tx), (10, 9, 0));
    assert!(r.ring.take_sent(0).is_empty());
    assert_eq!(r.pool.available(), base, "dropped frames are freed");
}

#[test]
fn burst_left_without_flush_is_released() {
    let mut r = rig("fv_leak");
    let base = r.pool.available();
    let peer = Endpoint::new_v4([192, 0, 2, 7], 4000);
    for i in 0..40u16 {
        assert!(r.ring.inject(
            0,
            &udp(peer, Endpoint::new_v4(RELAY_IP, 30000 + 2 * i), b"rtp")
        ));
    }
    let (n, _) = r.io.rx_burst(Duration::ZERO).unwrap();
    assert_eq!(n, 32, "one burst");
    r.io.forward(
        0,
        PortKey::new(0, 31000),
        Endpoint::new_v4([198, 51, 100, 3], 6000),
    );
    let (n, _) = r.io.rx_burst(Duration::ZERO).unwrap();
    assert_eq!(n, 8);
    r.io.flush();
    assert_eq!(r.pool.available(), base);
}

#[test]
fn null_port_traffic_is_junk_and_counted() {
    let e = eal();
    let pool = Arc::new(Mempool::new(e, "fv_null_pool", 511, 0, 2176, 0).unwrap());
    let id = EthPort::lookup(e, "net_null0").unwrap();
    let setup = PortSetup {
        rx_desc: 128,
        tx_desc: 128,
        pools: vec![pool.clone()],
        ..PortSetup::default()
    };
    let port = Arc::new(EthPort::start(e, id, &setup).unwrap());
    let mut io = DpdkIo::new(DpdkIoConfig {
        links: vec![DpdkLink::new(port.clone()).with_next_hop_mac(GW_MAC)],
        queue: 0,
        addrs: vec![RelayAddr {
            ip: RELAY_IP.into(),
            mac: RELAY_MAC,
        }],
        addr_link: vec![0],
        burst: 32,
        verify_udp_checksum: true,
        ..DpdkIoConfig::default()
    })
    .unwrap();
    for _ in 0..10 {
        let (n, _) = io.rx_burst(Duration::ZERO).unwrap();
        assert_eq!(n, 0, "null frames never reach the relay");
        io.flush();
    }
    let c = io.counters();
    assert!(c.rx >= 10, "net_null delivers frames: {}", c.rx);
    assert_eq!(c.rx_invalid, c.rx);
    assert_eq!(io.drops().total(), c.rx);
    let s = port.stats();
    assert_eq!(s.rx_packets, c.rx);
    assert_eq!(s.rx_queue_packets.len(), 1);
    let _ = port.xstats();
}
