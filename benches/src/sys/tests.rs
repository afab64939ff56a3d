//! Loopback tests of the system call wrappers.

use super::*;
use std::net::UdpSocket;
use std::os::fd::AsFd;

#[test]
fn batch_round_trip_over_loopback() {
    let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").unwrap();
    a.connect(b.local_addr().unwrap()).unwrap();
    set_buffers(a.as_fd(), 1 << 20).unwrap();
    let mut tx = SendBatch::new(40);
    for i in 0..5 {
        tx.packet_mut(i).unwrap().fill(i as u8);
    }
    assert!(tx.packet_mut(MAX_BATCH).is_none());
    assert_eq!(tx.send(a.as_fd(), 5).unwrap(), 5);

    let mut ep = Epoll::new(8).unwrap();
    ep.add(b.as_fd(), 77).unwrap();
    assert_eq!(ep.wait(1000).unwrap(), 1);
    assert_eq!(ep.token(0), Some(77));
    assert_eq!(ep.token(1), None);

    let mut rx = RecvBatch::new();
    let mut got = 0;
    for _ in 0..100 {
        got += rx.recv(b.as_fd()).unwrap();
        if got >= 5 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    assert_eq!(got, 5);
    assert_eq!(rx.len(0), Some(40));
    assert_eq!(rx.packet(4).unwrap(), &[4u8; 40][..]);
    assert_eq!(rx.packet(5), None);
    // Nothing left: a non-blocking receive returns 0, not an error.
    assert_eq!(rx.recv(b.as_fd()).unwrap(), 0);
    assert!(rx.is_empty());
}

#[test]
fn gso_send_arrives_as_separate_datagrams() {
    let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").unwrap();
    a.connect(b.local_addr().unwrap()).unwrap();
    b.set_nonblocking(true).unwrap();
    set_udp_segment(a.as_fd(), 50).unwrap();
    let mut tx = SendBatch::new(50);
    for i in 0..3 {
        tx.packet_mut(i).unwrap().fill(10 + i as u8);
    }
    assert_eq!(tx.send_segmented(&a, 3).unwrap(), 3);
    let mut rx = RecvBatch::new();
    let mut got = Vec::new();
    for _ in 0..100 {
        let n = rx.recv(b.as_fd()).unwrap();
        for i in 0..n {
            got.push(rx.packet(i).unwrap().to_vec());
        }
        if got.len() >= 3 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    assert_eq!(got, vec![vec![10u8; 50], vec![11u8; 50], vec![12u8; 50]]);
}

#[test]
fn limits_and_ticks() {
    assert!(clock_ticks_per_sec() > 0);
    assert!(raise_nofile_limit().unwrap() > 0);
}

/// Receives until `want` datagrams arrived (bounded), returning their bytes.
fn recv_all(rx: &mut RecvBatch, sock: &UdpSocket, want: usize) -> Vec<Vec<u8>> {
    let mut got = Vec::new();
    for _ in 0..200 {
        let n = rx.recv(sock.as_fd()).unwrap();
        for i in 0..n {
            got.push(rx.packet(i).unwrap().to_vec());
        }
        if got.len() >= want {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    got
}

#[test]
fn reused_batches_keep_working_on_another_thread() {
    // The per-thread message headers are reused from call to call (the kernel writes the
    // source address length back into them); many rounds on a fresh thread must all arrive.
    std::thread::spawn(|| {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        a.connect(b.local_addr().unwrap()).unwrap();
        let mut tx = SendBatch::new(30);
        let mut rx = RecvBatch::new();
        for round in 0..20u8 {
            for i in 0..3 {
                tx.packet_mut(i)
                    .unwrap()
                    .fill(round.wrapping_mul(3) + i as u8);
            }
            assert_eq!(tx.send(a.as_fd(), 3).unwrap(), 3);
            let got = recv_all(&mut rx, &b, 3);
            let want: Vec<Vec<u8>> = (0..3u8)
                .map(|i| vec![round.wrapping_mul(3) + i; 30])
                .collect();
            assert_eq!(got, want, "round {round}");
        }
        // Sending nothing is a no-op, not an error.
        assert_eq!(tx.send(a.as_fd(), 0).unwrap(), 0);
    })
    .join()
    .unwrap();
}

#[test]
fn oversized_datagram_reports_a_length_past_the_slot() {
    let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").unwrap();
    a.connect(b.local_addr().unwrap()).unwrap();
    a.send(&[7u8; 3000]).unwrap();
    a.send(&[8u8; 12]).unwrap();
    let mut rx = RecvBatch::new();
    let got = recv_all(&mut rx, &b, 2);
    assert_eq!(got.len(), 2);
    // The truncated one is cut to one slot and flagged with a length no packet has.
    assert_eq!(got[0].len(), RECV_SLOT);
    assert_eq!(got[1], vec![8u8; 12]);
    let mut rx = RecvBatch::new();
    a.send(&[9u8; 2500]).unwrap();
    for _ in 0..200 {
        if rx.recv(b.as_fd()).unwrap() > 0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    assert_eq!(rx.len(0), Some(RECV_SLOT + 1));
    assert_eq!(rx.packet(0).map(<[u8]>::len), Some(RECV_SLOT));
}

#[test]
fn epoll_wait_times_out_with_nothing_ready() {
    let b = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut ep = Epoll::new(0).unwrap();
    ep.add(b.as_fd(), 5).unwrap();
    assert_eq!(ep.wait(0).unwrap(), 0);
    assert_eq!(ep.wait(1).unwrap(), 0);
    assert_eq!(ep.token(0), None);
}
