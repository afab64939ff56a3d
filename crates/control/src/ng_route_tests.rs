#![allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a test failure.

use super::*;
use media::Transmit;

fn udp(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn bencode_reply(dst: SocketAddr, cookie: &str, body: &[u8]) -> Transmit {
    let mut bytes = cookie.as_bytes().to_vec();
    bytes.push(b' ');
    bytes.extend_from_slice(body);
    Transmit { dst, bytes }
}

fn udp_out(out: Option<Out>) -> (SocketAddr, Vec<u8>) {
    match out {
        Some(Out::Udp(dst, bytes)) => (dst, bytes),
        other => panic!("expected a datagram, got {other:?}"),
    }
}

#[test]
fn bencode_over_udp_passes_untouched_and_keeps_no_route() {
    let mut r = Routes::new();
    let now = Instant::now();
    let data = b"c1 d7:command4:pinge";
    let handed = r.admit(now, udp(5000), None, data);
    assert!(matches!(handed, Cow::Borrowed(_)));
    assert!(r.is_empty());
    let out = r.route(bencode_reply(udp(5000), "c1", b"d6:result4:ponge"));
    assert_eq!(udp_out(out), (udp(5000), b"c1 d6:result4:ponge".to_vec()));
}

#[test]
fn a_json_request_reaches_the_engine_as_bencode_and_its_reply_goes_back_as_json() {
    let mut r = Routes::new();
    let now = Instant::now();
    let data = br#"0.42 {"command":"query","call-id":"c@h","flags":["x"],"TOS":5}"#;
    let handed = r.admit(now, udp(5001), None, data);
    assert_eq!(
        &*handed,
        b"0.42 d7:command5:query7:call-id3:c@h5:flagsl1:xe3:TOSi5ee"
    );
    let reply = bencode_reply(udp(5001), "0.42", b"d6:result2:ok7:createdi17ee");
    let (dst, bytes) = udp_out(r.route(reply));
    assert_eq!(dst, udp(5001));
    assert_eq!(bytes, br#"0.42 {"result":"ok","created":17}"#);
    assert!(r.is_empty(), "the route is used once");
    // The same cookie from another port is another sender: bencode as it came.
    let other = bencode_reply(udp(5002), "0.42", b"d6:result4:ponge");
    assert_eq!(udp_out(r.route(other)).1, b"0.42 d6:result4:ponge");
}

#[test]
fn malformed_json_goes_to_the_engine_as_is_and_the_error_reply_names_the_json_error() {
    let mut r = Routes::new();
    let now = Instant::now();
    let data = br#"k9 {"command":"ping",}"#;
    assert_eq!(&*r.admit(now, udp(5003), None, data), data);
    // What the engine answers to a body it cannot decode as bencode.
    let engine_error = bencode_reply(
        udp(5003),
        "k9",
        b"d6:result5:error12:error-reason17:malformed bencodee",
    );
    let (_, bytes) = udp_out(r.route(engine_error));
    let text = String::from_utf8(bytes).unwrap();
    assert_eq!(
        text,
        r#"k9 {"result":"error","error-reason":"invalid JSON: unexpected byte 0x7d at byte 18"}"#
    );
}

#[test]
fn tcp_replies_go_down_the_connection_that_asked_last() {
    let mut r = Routes::new();
    let now = Instant::now();
    let peer = SocketAddr::from(([127, 0, 0, 1], 40_000));
    let (a, mut a_rx) = ConnTx::test_pair(1 << 20);
    let (b, mut b_rx) = ConnTx::test_pair(1 << 20);
    let key = tcp_key(peer);
    assert_eq!(key.port(), 0);
    r.admit(now, key, Some(a), b"t1 d7:command4:pinge");
    // The client reconnected and repeated the request: the reply goes to the new one.
    r.admit(now, key, Some(b), b"t1 d7:command4:pinge");
    match r.route(bencode_reply(key, "t1", b"d6:result4:ponge")) {
        Some(Out::Tcp(conn, bytes)) => assert!(conn.send(bytes)),
        other => panic!("expected a TCP reply, got {other:?}"),
    }
    assert_eq!(b_rx.try_recv().unwrap(), b"t1 d6:result4:ponge");
    assert!(a_rx.try_recv().is_err());
    // A TCP reply with no route (connection unknown) is dropped, never sent to port 0.
    assert!(r
        .route(bencode_reply(key, "t2", b"d6:result4:ponge"))
        .is_none());
}

#[test]
fn routes_expire_and_are_bounded() {
    let mut r = Routes::new();
    let t0 = Instant::now();
    for i in 0..10 {
        let cookie = format!("c{i} {{\"command\":\"ping\"}}");
        r.admit(t0, udp(6000), None, cookie.as_bytes());
    }
    assert_eq!(r.len(), 10);
    // Any admission after the TTL drops what is older.
    r.admit(t0 + ROUTE_TTL, udp(6001), None, b"z {\"command\":\"ping\"}");
    assert_eq!(r.len(), 1);
    for i in 0..MAX_ROUTES + 10 {
        let cookie = format!("m{i} {{\"command\":\"ping\"}}");
        r.admit(t0 + ROUTE_TTL, udp(6002), None, cookie.as_bytes());
    }
    assert_eq!(r.len(), MAX_ROUTES);
}

#[test]
fn a_connection_that_does_not_read_is_cut_off_at_its_byte_bound() {
    let (conn, _rx) = ConnTx::test_pair(100);
    assert!(conn.send(vec![0; 60]));
    assert!(!conn.send(vec![0; 60]), "over 100 bytes queued");
    assert!(conn.send(vec![0; 40]));
}
