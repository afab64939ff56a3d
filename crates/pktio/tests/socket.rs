//! The socket backend on loopback, with and without io_uring: receive, forward from another
//! relay port, truncation, many sockets in one burst.
#![allow(clippy::unwrap_used)]

use pktio::socket::SocketIo;
use pktio::{PacketIo, PortHandle, PortKey};
use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::time::Duration;
use wire::Endpoint;

const LO: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// Binds a relay port on an ephemeral port and attaches it.
fn relay_port(io: &mut SocketIo) -> PortKey {
    let s = UdpSocket::bind((LO, 0)).unwrap();
    s.set_nonblocking(true).unwrap();
    let key = PortKey {
        addr: 0,
        port: s.local_addr().unwrap().port(),
    };
    io.attach(key, PortHandle::Socket(s.into())).unwrap();
    key
}

fn receive(io: &mut SocketIo, want: usize) -> usize {
    let mut got = 0;
    for _ in 0..200 {
        let (n, _) = io.rx_burst(Duration::from_millis(10)).unwrap();
        got += n;
        if got >= want {
            return got;
        }
        if n > 0 {
            io.flush();
        }
    }
    got
}

fn forward_between_two_ports(io_uring: bool) {
    let mut io = SocketIo::new(1, 32, io_uring).unwrap();
    let (p1, p2) = (relay_port(&mut io), relay_port(&mut io));
    let a = UdpSocket::bind((LO, 0)).unwrap();
    let b = UdpSocket::bind((LO, 0)).unwrap();
    b.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    a.send_to(b"hello relay", (LO, p1.port)).unwrap();
    assert_eq!(receive(&mut io, 1), 1);
    let pkt = io.packet(0).unwrap();
    assert_eq!(pkt.local, p1);
    assert_eq!(pkt.payload, b"hello relay");
    assert_eq!(pkt.src, Endpoint::from_socket_addr(a.local_addr().unwrap()));
    io.forward(0, p2, Endpoint::from_socket_addr(b.local_addr().unwrap()));
    io.flush();
    let mut buf = [0u8; 64];
    let (n, from) = b.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"hello relay");
    assert_eq!(from.port(), p2.port, "leaves from the egress relay port");
    assert_eq!(io.counters().tx, 1);

    // A datagram longer than the buffers is counted, never handed over.
    a.send_to(&[0x80; 3000], (LO, p1.port)).unwrap();
    a.send_to(b"after", (LO, p1.port)).unwrap();
    let got = receive(&mut io, 1);
    assert!(got >= 1);
    assert_eq!(io.packet(0).unwrap().payload, b"after");
    assert_eq!(io.counters().rx_errors, 1);
    io.flush();
}

#[test]
fn forwards_with_io_uring() {
    forward_between_two_ports(true);
}

#[test]
fn forwards_without_io_uring() {
    forward_between_two_ports(false);
}

#[test]
fn one_burst_spans_many_sockets() {
    for io_uring in [true, false] {
        let mut io = SocketIo::new(1, 64, io_uring).unwrap();
        let ports: Vec<PortKey> = (0..20).map(|_| relay_port(&mut io)).collect();
        let tx = UdpSocket::bind((LO, 0)).unwrap();
        for (i, p) in ports.iter().enumerate() {
            for k in 0..2u8 {
                tx.send_to(&[i as u8, k], (LO, p.port)).unwrap();
            }
        }
        let mut seen = std::collections::HashSet::new();
        for _ in 0..100 {
            let (n, _) = io.rx_burst(Duration::from_millis(10)).unwrap();
            for i in 0..n {
                let p = io.packet(i).unwrap();
                assert!(
                    seen.insert((p.local.port, p.payload.to_vec())),
                    "each datagram once"
                );
            }
            io.flush();
            if seen.len() == 40 {
                break;
            }
        }
        assert_eq!(seen.len(), 40, "io_uring={io_uring}");
    }
}
