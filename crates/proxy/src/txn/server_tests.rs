//! The server transaction machines, transition by transition (RFC 3261 §17.2.1 figure 7 with
//! RFC 6026 §7.1, §17.2.2 figure 8), with the timer values of RFC 3261 table 4.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::server::ServerState;
use super::testing::{ms, T1, T4, TIMING};
use super::{Hop, ServerEvent, ServerTxn};
use sip::Transport;
use std::time::Instant;

fn txn(invite: bool, transport: Transport) -> ServerTxn {
    let hop = Hop {
        transport,
        local: "127.0.0.1:5060".parse().unwrap(),
        peer: "127.0.0.10:5060".parse().unwrap(),
    };
    ServerTxn::new(invite, hop, TIMING)
}

/// A response as bytes that say which one it is.
fn resp(code: u16) -> Vec<u8> {
    format!("SIP/2.0 {code} X\r\n\r\n").into_bytes()
}

/// What the transaction sent, as its status code.
fn sent(t: &mut ServerTxn) -> Option<u16> {
    let tx = t.poll_transmit()?;
    assert_eq!(tx.dst, "127.0.0.10:5060".parse().unwrap());
    let text = String::from_utf8(tx.bytes).unwrap();
    text.get(8..11).and_then(|c| c.parse().ok())
}

#[test]
fn invite_proceeding_resends_the_last_provisional_on_retransmissions() {
    let t0 = Instant::now();
    let mut t = txn(true, Transport::Udp);
    assert_eq!(t.state(), ServerState::Proceeding);
    assert_eq!(t.on_request(t0), Some(ServerEvent::Absorbed));
    assert_eq!(sent(&mut t), None, "nothing sent yet, nothing resent");
    t.respond(t0, 100, resp(100));
    assert_eq!(sent(&mut t), Some(100));
    t.respond(t0, 180, resp(180));
    assert_eq!(sent(&mut t), Some(180));
    assert_eq!(t.state(), ServerState::Proceeding);
    assert_eq!(t.poll_timeout(), None);
    assert_eq!(t.on_request(t0), Some(ServerEvent::Absorbed));
    assert_eq!(sent(&mut t), Some(180));
    assert_eq!(
        t.on_ack(t0),
        None,
        "an ACK in Proceeding is not the transaction's"
    );
}

#[test]
fn invite_2xx_is_accepted_until_timer_l_and_passes_2xx_retransmissions() {
    let t0 = Instant::now();
    let mut t = txn(true, Transport::Udp);
    t.respond(t0, 200, resp(200));
    assert_eq!(sent(&mut t), Some(200));
    assert!(matches!(t.state(), ServerState::Accepted { .. }));
    assert_eq!(t.poll_timeout(), Some(t0 + T1 * 64));
    // RFC 6026 §7.1: the 2xx retransmissions from downstream go on; a non-2xx is sent but not
    // kept; a retransmitted INVITE gets the 2xx.
    t.respond(t0 + ms(500), 200, resp(200));
    assert_eq!(sent(&mut t), Some(200));
    t.respond(t0 + ms(600), 486, resp(486));
    assert_eq!(sent(&mut t), Some(486));
    assert_eq!(t.on_request(t0 + ms(700)), Some(ServerEvent::Absorbed));
    assert_eq!(sent(&mut t), Some(200));
    assert_eq!(t.on_ack(t0 + ms(700)), None, "the 2xx's ACK is end to end");
    assert_eq!(t.on_timeout(t0 + T1 * 64), None);
    assert!(t.is_terminated());
    assert_eq!(t.on_request(t0 + T1 * 65), None);
}

#[test]
fn invite_non_2xx_timer_g_doubles_up_to_t2_until_timer_h() {
    let t0 = Instant::now();
    let mut t = txn(true, Transport::Udp);
    t.respond(t0, 486, resp(486));
    assert_eq!(sent(&mut t), Some(486));
    assert!(matches!(t.state(), ServerState::Completed { .. }));
    // §17.2.1: Timer G at T1, doubling up to T2; Timer H at 64*T1.
    let mut at = Vec::new();
    while let Some(next) = t.poll_timeout().filter(|n| *n < t0 + T1 * 64) {
        assert_eq!(t.on_timeout(next), Some(ServerEvent::Retransmitted));
        assert_eq!(sent(&mut t), Some(486));
        at.push((next - t0).as_millis() as u64);
    }
    assert_eq!(
        at,
        [500, 1500, 3500, 7500, 11_500, 15_500, 19_500, 23_500, 27_500, 31_500]
    );
    assert_eq!(t.on_timeout(t0 + T1 * 64), Some(ServerEvent::NoAck));
    assert!(t.is_terminated());
}

#[test]
fn invite_ack_confirms_stops_timer_g_and_timer_i_absorbs_ack_retransmissions() {
    for (transport, timer_i) in [(Transport::Udp, T4), (Transport::Tcp, ms(0))] {
        let t0 = Instant::now();
        let mut t = txn(true, transport);
        t.respond(t0, 503, resp(503));
        assert_eq!(sent(&mut t), Some(503));
        let first = if transport == Transport::Udp {
            t0 + T1
        } else {
            t0 + T1 * 64
        };
        assert_eq!(t.poll_timeout(), Some(first), "Timer G over UDP only");
        assert_eq!(t.on_request(t0 + ms(10)), Some(ServerEvent::Absorbed));
        assert_eq!(sent(&mut t), Some(503));
        assert_eq!(t.on_ack(t0 + ms(20)), Some(ServerEvent::Confirmed));
        assert!(matches!(t.state(), ServerState::Confirmed { .. }));
        assert_eq!(t.poll_timeout(), Some(t0 + ms(20) + timer_i));
        assert_eq!(t.on_ack(t0 + ms(30)), Some(ServerEvent::Absorbed));
        assert_eq!(sent(&mut t), None);
        assert_eq!(t.on_timeout(t0 + ms(20) + timer_i), None);
        assert!(t.is_terminated());
    }
}

#[test]
fn non_invite_trying_proceeding_completed_with_timer_j() {
    for (transport, timer_j) in [(Transport::Udp, T1 * 64), (Transport::Tcp, ms(0))] {
        let t0 = Instant::now();
        let mut t = txn(false, transport);
        assert_eq!(t.state(), ServerState::Trying);
        // §17.2.2: retransmissions in Trying are absorbed silently.
        assert_eq!(t.on_request(t0), Some(ServerEvent::Absorbed));
        assert_eq!(sent(&mut t), None);
        t.respond(t0, 183, resp(183));
        assert_eq!(
            (sent(&mut t), t.state()),
            (Some(183), ServerState::Proceeding)
        );
        assert_eq!(t.on_request(t0), Some(ServerEvent::Absorbed));
        assert_eq!(sent(&mut t), Some(183));
        t.respond(t0 + ms(10), 200, resp(200));
        assert_eq!(sent(&mut t), Some(200));
        assert_eq!(
            t.state(),
            ServerState::Completed {
                retransmit: None,
                until: t0 + ms(10) + timer_j
            }
        );
        assert_eq!(t.on_request(t0 + ms(20)), Some(ServerEvent::Absorbed));
        assert_eq!(sent(&mut t), Some(200));
        assert_eq!(t.on_ack(t0 + ms(20)), None);
        assert_eq!(t.on_timeout(t0 + ms(10) + timer_j), None);
        assert!(t.is_terminated());
    }
}

#[test]
fn non_invite_final_straight_from_trying() {
    let t0 = Instant::now();
    let mut t = txn(false, Transport::Udp);
    t.respond(t0, 404, resp(404));
    assert_eq!(sent(&mut t), Some(404));
    assert!(matches!(
        t.state(),
        ServerState::Completed {
            retransmit: None,
            ..
        }
    ));
    assert_eq!(t.poll_timeout(), Some(t0 + T1 * 64));
}
