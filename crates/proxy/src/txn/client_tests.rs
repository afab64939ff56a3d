//! The client transaction machines, transition by transition (RFC 3261 §17.1.1 figure 5 with
//! RFC 6026 §7.2, §17.1.2 figure 6), with the timer values of RFC 3261 table 4.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::client::ClientState;
use super::testing::{ms, T1, T4, TIMING};
use super::{ClientEvent, ClientTxn, Expiry, Hop};
use sip::Method;
use sip::Transport;
use std::time::{Duration, Instant};

fn hop(transport: Transport) -> Hop {
    Hop {
        transport,
        local: "127.0.0.1:5060".parse().unwrap(),
        peer: "127.0.0.20:5060".parse().unwrap(),
    }
}

fn request(method: &str) -> Vec<u8> {
    format!(
        "{method} sip:1000@127.0.0.20 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKfvx-test\r\n\
         Max-Forwards: 70\r\nFrom: <sip:a@127.0.0.10>;tag=f\r\nTo: <sip:1000@127.0.0.20>\r\n\
         Call-ID: txn-test\r\nCSeq: 7 {method}\r\nContent-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

/// A transaction for `method` started at `t0`, its first transmission taken.
fn start(method: Method, transport: Transport, t0: Instant, expiry: Expiry) -> ClientTxn {
    let req = request(method.as_str());
    let mut t = ClientTxn::new(t0, method, hop(transport), req.clone(), TIMING, expiry);
    let first = t.poll_transmit().expect("the request goes out at once");
    assert_eq!((first.bytes, first.dst), (req, hop(transport).peer));
    assert!(t.poll_transmit().is_none());
    t
}

/// An INVITE over UDP started at `t0` with Timer B at 5 s.
fn invite(t0: Instant) -> ClientTxn {
    let expiry = Expiry::Timeout(t0 + ms(5000));
    start(Method::Invite, Transport::Udp, t0, expiry)
}

/// The final-response event.
fn final_after(after_provisional: bool) -> Option<ClientEvent> {
    Some(ClientEvent::Final { after_provisional })
}

/// Feeds the response `code` to the transaction's request.
fn respond(t: &mut ClientTxn, now: Instant, code: u16) -> Option<ClientEvent> {
    let req = t.request().to_vec();
    let req = sip::parse(&req).unwrap();
    let resp = sip::response_with(&req, code, "X", Some("to-tag"), &[]);
    let resp = sip::parse(&resp).unwrap();
    t.on_response(now, code, &resp)
}

/// Runs the transaction's timers until `end`; returns the times a retransmission went out.
fn retransmissions_until(t: &mut ClientTxn, end: Instant) -> Vec<Instant> {
    let mut sent = Vec::new();
    while let Some(at) = t.poll_timeout().filter(|at| *at < end) {
        if t.on_timeout(at) == Some(ClientEvent::Retransmitted) {
            assert!(t.poll_transmit().is_some());
            sent.push(at);
        }
    }
    sent
}

/// The method of what the transaction sent.
fn sent_method(t: &mut ClientTxn) -> Option<String> {
    let tx = t.poll_transmit()?;
    let m = sip::parse(&tx.bytes).unwrap();
    assert_eq!(m.top_via().unwrap().branch(), Some("z9hG4bKfvx-test"));
    Some(m.method().unwrap().to_string())
}

#[test]
fn invite_calling_timer_a_doubles_until_timer_b_times_out() {
    let t0 = Instant::now();
    let mut t = start(
        Method::Invite,
        Transport::Udp,
        t0,
        Expiry::Timeout(t0 + T1 * 64),
    );
    assert!(matches!(t.state(), ClientState::Calling { .. }));
    assert_eq!(t.poll_timeout(), Some(t0 + T1));
    // §17.1.1.2: Timer A at T1, then 2*T1, 4*T1 ... without bound, until Timer B (64*T1).
    let sent = retransmissions_until(&mut t, t0 + T1 * 64);
    let offsets: Vec<Duration> = sent.iter().map(|s| *s - t0).collect();
    let expect: Vec<Duration> = [1, 3, 7, 15, 31, 63].iter().map(|n| T1 * *n).collect();
    assert_eq!(offsets, expect);
    assert_eq!(t.on_timeout(t0 + T1 * 64), Some(ClientEvent::Timeout));
    // Given up: no more retransmissions, kept 64*T1 for late responses, then over silently.
    assert!(t.poll_transmit().is_none());
    assert_eq!(t.poll_timeout(), Some(t0 + T1 * 128));
    assert_eq!(t.on_transport_error(t0 + T1 * 65), None, "reported once");
    assert_eq!(t.on_timeout(t0 + T1 * 128), None);
    assert!(t.is_terminated());
}

#[test]
fn invite_over_tcp_has_no_timer_a() {
    let t0 = Instant::now();
    let mut t = start(
        Method::Invite,
        Transport::Tcp,
        t0,
        Expiry::Timeout(t0 + ms(5000)),
    );
    assert_eq!(t.poll_timeout(), Some(t0 + ms(5000)));
    assert_eq!(t.on_timeout(t0 + ms(5000)), Some(ClientEvent::Timeout));
}

#[test]
fn invite_provisional_stops_timer_a_and_timer_b() {
    let t0 = Instant::now();
    let mut t = invite(t0);
    assert_eq!(
        respond(&mut t, t0 + ms(100), 180),
        Some(ClientEvent::Provisional)
    );
    assert!(t.is_proceeding());
    // Proceeding: no timer of its own (the proxy's Timer C is the user's).
    assert_eq!(t.poll_timeout(), None);
    assert_eq!(
        respond(&mut t, t0 + ms(200), 183),
        Some(ClientEvent::Provisional)
    );
    assert!(t.poll_transmit().is_none());
}

#[test]
fn invite_non_2xx_final_is_acked_and_timer_d_absorbs_its_retransmissions() {
    for (transport, timer_d) in [(Transport::Udp, ms(32_000)), (Transport::Tcp, ms(0))] {
        let t0 = Instant::now();
        let mut t = start(
            Method::Invite,
            transport,
            t0,
            Expiry::Timeout(t0 + ms(5000)),
        );
        let after_provisional = transport == Transport::Tcp;
        if after_provisional {
            assert_eq!(respond(&mut t, t0, 180), Some(ClientEvent::Provisional));
        }
        // §17.1.1.3: the ACK goes hop by hop, on the same branch.
        let ev = respond(&mut t, t0 + ms(10), 486);
        assert_eq!(ev, final_after(after_provisional));
        assert_eq!(sent_method(&mut t).as_deref(), Some("ACK"));
        assert!(matches!(t.state(), ClientState::Completed { .. }));
        assert_eq!(t.poll_timeout(), Some(t0 + ms(10) + timer_d));
        // A retransmitted final gets the ACK again and is not passed up.
        assert_eq!(respond(&mut t, t0 + ms(20), 486), None);
        assert_eq!(sent_method(&mut t).as_deref(), Some("ACK"));
        assert_eq!(respond(&mut t, t0 + ms(30), 180), None);
        assert_eq!(respond(&mut t, t0 + ms(30), 200), None);
        assert_eq!(t.on_timeout(t0 + ms(10) + timer_d), None);
        assert!(t.is_terminated());
    }
}

#[test]
fn invite_2xx_is_accepted_and_its_retransmissions_pass_until_timer_m() {
    let t0 = Instant::now();
    let mut t = invite(t0);
    let ev = respond(&mut t, t0 + ms(10), 200);
    assert_eq!(
        ev,
        Some(ClientEvent::Accepted {
            retransmission: false
        })
    );
    // RFC 6026 §7.2: no ACK from the transaction (the 2xx's ACK is end to end).
    assert!(t.poll_transmit().is_none());
    assert_eq!(t.poll_timeout(), Some(t0 + ms(10) + T1 * 64));
    let ev = respond(&mut t, t0 + ms(500), 200);
    assert_eq!(
        ev,
        Some(ClientEvent::Accepted {
            retransmission: true
        })
    );
    assert_eq!(respond(&mut t, t0 + ms(600), 180), None);
    assert_eq!(respond(&mut t, t0 + ms(600), 486), None);
    assert_eq!(t.on_timeout(t0 + ms(10) + T1 * 64), None);
    assert!(t.is_terminated());
}

#[test]
fn a_given_up_invite_still_acks_a_late_final_and_reports_a_late_answer() {
    let t0 = Instant::now();
    let mut t = invite(t0);
    assert_eq!(
        t.on_transport_error(t0 + ms(1)),
        Some(ClientEvent::TransportError)
    );
    assert_eq!(t.poll_timeout(), Some(t0 + ms(1) + T1 * 64));
    assert_eq!(
        respond(&mut t, t0 + ms(50), 180),
        Some(ClientEvent::Provisional)
    );
    assert_eq!(t.poll_timeout(), Some(t0 + ms(1) + T1 * 64), "no new timer");
    let ev = respond(&mut t, t0 + ms(60), 200);
    assert_eq!(
        ev,
        Some(ClientEvent::Accepted {
            retransmission: false
        })
    );

    let mut t = invite(t0);
    assert_eq!(t.on_timeout(t0 + ms(5000)), Some(ClientEvent::Timeout));
    let ev = respond(&mut t, t0 + ms(6000), 503);
    assert_eq!(ev, final_after(false));
    assert_eq!(sent_method(&mut t).as_deref(), Some("ACK"));
}

#[test]
fn cancel_waits_for_a_provisional_goes_once_and_gives_up_after_64_t1() {
    let t0 = Instant::now();
    let mut t = invite(t0);
    // RFC 3261 §9.1: no CANCEL before a provisional.
    assert_eq!(t.cancel(t0), None);
    assert_eq!(
        respond(&mut t, t0 + ms(10), 180),
        Some(ClientEvent::Provisional)
    );
    let cancel = t.cancel(t0 + ms(20)).expect("a CANCEL once proceeding");
    let c = sip::parse(&cancel).unwrap();
    assert_eq!(c.method(), Some("CANCEL"));
    assert_eq!(c.top_via().unwrap().branch(), Some("z9hG4bKfvx-test"));
    assert_eq!(c.cseq().unwrap().number, 7);
    assert!(t.is_cancelled());
    assert_eq!(t.cancel(t0 + ms(30)), None, "only once");
    // No final 64*T1 after the CANCEL: the request is given up.
    assert_eq!(t.poll_timeout(), Some(t0 + ms(20) + T1 * 64));
    assert_eq!(
        t.on_timeout(t0 + ms(20) + T1 * 64),
        Some(ClientEvent::Timeout)
    );
    // A 487 after all is ACKed.
    let ev = respond(&mut t, t0 + ms(40_000), 487);
    assert_eq!(ev, final_after(true));
    assert_eq!(sent_method(&mut t).as_deref(), Some("ACK"));
}

#[test]
fn a_cancel_after_giving_up_keeps_the_give_up_deadline() {
    let t0 = Instant::now();
    let mut t = invite(t0);
    assert_eq!(respond(&mut t, t0, 180), Some(ClientEvent::Provisional));
    assert_eq!(
        t.on_transport_error(t0 + ms(1)),
        Some(ClientEvent::TransportError)
    );
    assert!(t.cancel(t0 + ms(2)).is_some());
    assert_eq!(t.poll_timeout(), Some(t0 + ms(1) + T1 * 64));
    assert_eq!(t.on_timeout(t0 + ms(1) + T1 * 64), None);
    assert!(t.is_terminated());
}

#[test]
fn non_invite_trying_timer_e_doubles_up_to_t2_until_timer_f() {
    let t0 = Instant::now();
    let mut t = start(
        Method::Bye,
        Transport::Udp,
        t0,
        Expiry::Timeout(t0 + T1 * 64),
    );
    assert!(matches!(t.state(), ClientState::Trying { .. }));
    // §17.1.2.2: T1, 2*T1, 4*T1, then T2 (4 s) until Timer F (64*T1 = 32 s).
    let sent = retransmissions_until(&mut t, t0 + T1 * 64);
    let offsets: Vec<u64> = sent.iter().map(|s| (*s - t0).as_millis() as u64).collect();
    assert_eq!(
        offsets,
        [500, 1500, 3500, 7500, 11_500, 15_500, 19_500, 23_500, 27_500, 31_500]
    );
    assert_eq!(t.on_timeout(t0 + T1 * 64), Some(ClientEvent::Timeout));
    assert!(t.poll_transmit().is_none());
}

#[test]
fn non_invite_proceeding_retransmits_every_t2() {
    let t0 = Instant::now();
    let mut t = start(
        Method::Options,
        Transport::Udp,
        t0,
        Expiry::Timeout(t0 + T1 * 64),
    );
    assert_eq!(
        respond(&mut t, t0 + ms(100), 100),
        Some(ClientEvent::Provisional)
    );
    assert!(t.is_proceeding());
    // The pending Timer E firing stays; from then on every T2.
    let sent = retransmissions_until(&mut t, t0 + ms(12_000));
    let offsets: Vec<u64> = sent.iter().map(|s| (*s - t0).as_millis() as u64).collect();
    assert_eq!(offsets, [500, 4500, 8500]);
    assert_eq!(
        respond(&mut t, t0 + ms(12_000), 180),
        Some(ClientEvent::Provisional)
    );
}

#[test]
fn non_invite_final_completes_and_timer_k_absorbs_retransmissions() {
    for (transport, timer_k) in [(Transport::Udp, T4), (Transport::Tcp, ms(0))] {
        let t0 = Instant::now();
        let mut t = start(Method::Bye, transport, t0, Expiry::Timeout(t0 + T1 * 64));
        // A 2xx to a non-INVITE is a final like any other.
        let ev = respond(&mut t, t0 + ms(10), 200);
        assert_eq!(ev, final_after(false));
        assert!(t.poll_transmit().is_none(), "no ACK for a non-INVITE");
        assert!(matches!(
            t.state(),
            ClientState::Completed { ack: None, .. }
        ));
        assert_eq!(t.poll_timeout(), Some(t0 + ms(10) + timer_k));
        assert_eq!(respond(&mut t, t0 + ms(20), 200), None);
        assert!(t.poll_transmit().is_none());
        assert_eq!(t.on_timeout(t0 + ms(10) + timer_k), None);
        assert!(t.is_terminated());
    }
}

#[test]
fn a_silent_expiry_ends_the_transaction_without_an_event() {
    let t0 = Instant::now();
    let mut t = start(
        Method::Options,
        Transport::Udp,
        t0,
        Expiry::Silent(t0 + ms(700)),
    );
    assert_eq!(t.on_timeout(t0 + ms(500)), Some(ClientEvent::Retransmitted));
    assert_eq!(t.poll_transmit().map(|x| x.bytes), Some(request("OPTIONS")));
    assert_eq!(t.poll_timeout(), Some(t0 + ms(700)));
    assert_eq!(t.on_timeout(t0 + ms(700)), None);
    assert!(t.is_terminated());
    assert_eq!(respond(&mut t, t0 + ms(800), 200), None);
    // Nothing to cancel on a non-INVITE.
    let mut t = start(
        Method::Options,
        Transport::Udp,
        t0,
        Expiry::Silent(t0 + ms(700)),
    );
    assert_eq!(respond(&mut t, t0, 100), Some(ClientEvent::Provisional));
    assert_eq!(t.cancel(t0), None);
    assert_eq!(t.on_transport_error(t0), Some(ClientEvent::TransportError));
}
