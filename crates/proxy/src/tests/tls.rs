//! A call that changes transport at the proxy (UDP in, TLS out to a `sips:` member) is
//! record-routed on both sides (RFC 5658 §3.2), and the in-dialog requests that come back
//! with both Route values lose both (§3.3).

use super::*;

const TLS_MEMBER: &str = "127.0.0.20:5061";
const PROXY_TLS: &str = "127.0.0.1:5061";
const RR_UDP: &str = "<sip:127.0.0.1:5060;lr>";
const RR_TLS: &str = "<sip:127.0.0.1:5061;lr;transport=tls>";

fn tls_proxy(now: Instant) -> Proxy {
    let text = "[[interface]]\nname = \"external\"\naddress = \"127.0.0.1\"\nport_min = 30000\nport_max = 30999\n\
         [sip]\nlisten = [\"127.0.0.1:5060\"]\ntransports = [\"udp\", \"tls\"]\n\
         tls_certificate = \"chain.pem\"\ntls_private_key = \"key.pem\"\ntls_ca_file = \"ca.pem\"\n\
         [[set]]\nname = \"pool\"\n[[set.member]]\nuri = \"sips:127.0.0.20\"\n";
    let cfg = config::parse(text).expect("test config");
    Proxy::new(
        ProxyConfig::from_config(&cfg),
        &cfg.sets,
        &cfg.routes,
        now,
        Box::new(crate::deterministic_rng(3)),
    )
}

/// Every transmit now, as (transport, destination, text).
fn sent(p: &mut Proxy) -> Vec<(Transport, SocketAddr, String)> {
    std::iter::from_fn(|| p.poll_transmit())
        .map(|t| (t.transport, t.dst, String::from_utf8(t.bytes).unwrap()))
        .collect()
}

/// The values of header `name` in `msg`, top first, one per line.
fn values<'a>(msg: &'a str, name: &str) -> Vec<&'a str> {
    msg.split("\r\n")
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(": ")))
        .collect()
}

/// A 200 to `req` from the member, with its Vias, Record-Routes, a To tag and a Contact.
fn ok_from_member(req: &str) -> Vec<u8> {
    let mut r = String::from("SIP/2.0 200 OK\r\n");
    for name in ["Via", "Record-Route", "From", "Call-ID", "CSeq"] {
        for v in values(req, name) {
            r.push_str(&format!("{name}: {v}\r\n"));
        }
    }
    let to = values(req, "To")[0];
    r.push_str(&format!(
        "To: {to};tag=fs-1\r\nContact: <sips:fs@{TLS_MEMBER}>\r\nContent-Length: 0\r\n\r\n"
    ));
    r.into_bytes()
}

#[test]
fn udp_in_tls_out_is_record_routed_twice_and_both_routes_are_popped() {
    let mut now = Instant::now();
    let mut p = tls_proxy(now);
    sent(&mut p);
    p.handle_message(
        now,
        Transport::Udp,
        addr(PROXY),
        addr(CALLER),
        &invite("dr1"),
    );
    let out = sent(&mut p);
    let (_, _, inv) = out
        .iter()
        .find(|(t, d, m)| {
            *t == Transport::Tls && *d == addr(TLS_MEMBER) && m.starts_with("INVITE ")
        })
        .expect("the INVITE goes to the sips: member over TLS");
    // The member's side on top (it routes by it, over TLS), the caller's below.
    assert_eq!(values(inv, "Record-Route"), vec![RR_TLS, RR_UDP], "{inv}");
    // Its Via names the TLS listener: where the member connects back (RFC 3261 §18.2.2).
    assert!(
        values(inv, "Via")[0].starts_with("SIP/2.0/TLS 127.0.0.1:5061;"),
        "{inv}"
    );

    now += Duration::from_millis(10);
    p.handle_message(
        now,
        Transport::Tls,
        addr(PROXY_TLS),
        addr(TLS_MEMBER),
        &ok_from_member(inv),
    );
    let out = sent(&mut p);
    let (t, d, ok) = out
        .iter()
        .find(|(_, _, m)| m.starts_with("SIP/2.0 200"))
        .expect("the 200 goes to the caller");
    assert_eq!((*t, *d), (Transport::Udp, addr(CALLER)));
    assert_eq!(values(ok, "Record-Route"), vec![RR_TLS, RR_UDP], "{ok}");

    // The caller's BYE carries the Route set reversed (RFC 3261 §12.1.2): both values are
    // this proxy's; both go, and the BYE reaches the member over TLS with no Route left.
    now += Duration::from_millis(10);
    let bye = format!(
        "BYE sips:fs@{TLS_MEMBER} SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.10:5060;branch=z9hG4bK-bye-dr1;rport\r\n\
         Route: {RR_UDP}, {RR_TLS}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:caller@127.0.0.10>;tag=ctag-dr1\r\n\
         To: <sip:1000@127.0.0.1>;tag=fs-1\r\n\
         Call-ID: dr1\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n"
    );
    p.handle_message(
        now,
        Transport::Udp,
        addr(PROXY),
        addr(CALLER),
        bye.as_bytes(),
    );
    let out = sent(&mut p);
    let (_, _, fwd) = out
        .iter()
        .find(|(t, d, m)| *t == Transport::Tls && *d == addr(TLS_MEMBER) && m.starts_with("BYE "))
        .unwrap_or_else(|| panic!("the BYE goes to the member over TLS: {out:?}"));
    assert!(values(fwd, "Route").is_empty(), "{fwd}");
}

#[test]
fn a_call_that_stays_on_one_transport_is_record_routed_once() {
    let now = Instant::now();
    let mut p = tls_proxy(now);
    sent(&mut p);
    let inv = String::from_utf8(invite("sr1"))
        .unwrap()
        .replacen("SIP/2.0/UDP", "SIP/2.0/TLS", 1);
    p.handle_message(
        now,
        Transport::Tls,
        addr(PROXY_TLS),
        addr(CALLER),
        inv.as_bytes(),
    );
    let out = sent(&mut p);
    let (_, _, fwd) = out
        .iter()
        .find(|(_, _, m)| m.starts_with("INVITE "))
        .expect("forwarded");
    assert_eq!(values(fwd, "Record-Route"), vec![RR_TLS], "{fwd}");
}
