//! The flood guard inside the proxy, on the simulated network of the scenario tests: a
//! flooding source is banned, leaves no state and hears nothing once banned, while a caller
//! within its rate is served; members and trusted networks are never limited.

use crate::tests::{addr, config_text, invite, member_addr, Answer, Bed, PROXY};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use testkit::Datagram;

const FLOODER: &str = "127.0.0.66:5060";

/// Member 0 answers, member 1 is silent (its calls fail over to member 0 after
/// `fr_timeout`, 2 s); `[sip.flood]` and `[sip] trusted` as given.
fn bed(flood: &str, trusted: &str) -> Bed {
    let members = [
        format!("uri = \"sip:{}\"", member_addr(0)),
        format!("uri = \"sip:{}\"", member_addr(1)),
    ];
    let refs: Vec<&str> = members.iter().map(String::as_str).collect();
    // The last `[sip]` key, then the flood table, then the sets.
    let text = config_text("", &refs).replacen(
        "[[set]]\n",
        &format!("trusted = [{trusted}]\n[sip.flood]\n{flood}\n[[set]]\n"),
        1,
    );
    Bed::from_config(&text, vec![Answer::Ok, Answer::Silent])
}

/// An INVITE from `from` with its own Call-ID.
fn invite_from(from: SocketAddr, call_id: &str) -> Vec<u8> {
    let text = String::from_utf8(invite(call_id)).unwrap_or_default();
    text.replace("127.0.0.10:5060", &from.to_string())
        .into_bytes()
}

/// An OPTIONS to the proxy itself from `from`.
fn options_from(from: SocketAddr, n: u32) -> Vec<u8> {
    format!(
        "OPTIONS sip:{PROXY} SIP/2.0\r\nVia: SIP/2.0/UDP {from};branch=z9hG4bK-o{n}-{}\r\n\
         Max-Forwards: 70\r\nFrom: <sip:p@{from}>;tag=o{n}\r\nTo: <sip:{PROXY}>\r\n\
         Call-ID: o{n}-{from}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
        from.port()
    )
    .into_bytes()
}

/// Datagrams the proxy sent to `to` after `since` (what it sent at that very instant came
/// before the ban in the simulation's order).
fn sent_to(b: &Bed, to: SocketAddr, since: Instant) -> usize {
    b.sim
        .net
        .log
        .iter()
        .filter(|(t, d)| d.to == to && *t > since && d.from == addr(PROXY))
        .count()
}

fn inject(b: &mut Bed, from: SocketAddr, bytes: Vec<u8>) {
    let now = b.sim.now();
    b.sim.net.send(now, Datagram::udp(from, addr(PROXY), bytes));
}

#[test]
fn a_flooding_source_is_banned_and_hears_nothing_while_a_caller_is_served() {
    let mut b = bed("rate = 20\nburst = 40", "");
    let flooder = addr(FLOODER);
    let start = b.sim.now();
    let mut banned_at = None;
    // 1,500 INVITEs a second from the flooder for 6 s; the caller places 5 calls a second.
    for ms in 0..6000u32 {
        inject(
            &mut b,
            flooder,
            invite_from(flooder, &format!("flood-{ms}")),
        );
        if ms % 2 == 1 {
            inject(
                &mut b,
                flooder,
                invite_from(flooder, &format!("flood-{ms}b")),
            );
        }
        if ms % 200 == 0 {
            b.call(&format!("call-{ms}"));
        }
        b.run_ms(1);
        if banned_at.is_none() && b.proxy().flood().counters().bans_started == 1 {
            banned_at = Some(b.sim.now());
        }
    }
    b.run_ms(10_000);
    let banned_at = banned_at.expect("the flooder was banned");
    let c = b.proxy().flood().counters();
    assert_eq!(c.bans_started, 1, "{c:?}");
    // Over its rate once the burst of 40 is gone (27 ms), banned 2 s later.
    let took = banned_at - start;
    assert!(
        took >= Duration::from_secs(2) && took <= Duration::from_millis(2100),
        "{took:?}"
    );
    // What got through: the burst and 20/s until the ban, each forwarded.
    let flood_calls: HashSet<&String> = (0..2)
        .flat_map(|i| b.member(i).invites.iter())
        .filter(|id| id.starts_with("flood-"))
        .collect();
    let passed = flood_calls.len() as u64;
    assert!(
        (80..=82).contains(&passed),
        "{passed} flood INVITEs forwarded"
    );
    assert_eq!(c.limited + c.banned + passed, 9000, "{c:?}");
    // Nothing at all reached the flooder once banned: the answers to its calls that failed
    // over from the silent member came later and were not sent.
    assert_eq!(sent_to(&b, flooder, banned_at), 0);
    assert!(c.not_sent > 0, "{c:?}");
    // Every call of the caller was answered, during the flood and after the ban.
    for ms in (0..6000).step_by(200) {
        assert!(
            b.caller().finals(&format!("call-{ms}")).contains(&200),
            "call-{ms} not answered"
        );
    }
}

#[test]
fn members_and_trusted_sources_are_never_limited_nor_banned() {
    let mut b = bed("rate = 10\nburst = 10", "\"127.0.0.77/32\"");
    let member = member_addr(0);
    let trusted: SocketAddr = addr("127.0.0.77:5060");
    let other: SocketAddr = addr("127.0.0.78:5060");
    let start = b.sim.now();
    // 1,000 OPTIONS a second from each for 5 s: a hundred times the rate.
    for n in 0..5000u32 {
        for from in [member, trusted, other] {
            inject(&mut b, from, options_from(from, n));
        }
        b.run_ms(1);
    }
    b.run_ms(100);
    let answered = |b: &Bed, to: SocketAddr| {
        b.sim
            .net
            .log
            .iter()
            .filter(|(t, d)| *t >= start && d.to == to && d.text().starts_with("SIP/2.0 200"))
            .count()
    };
    assert_eq!(answered(&b, member), 5000);
    assert_eq!(answered(&b, trusted), 5000);
    let c = b.proxy().flood().counters();
    assert_eq!(c.bans_started, 1, "only the third source: {c:?}");
    assert!(
        answered(&b, other) <= 10 + 2 * 10 + 1,
        "{}",
        answered(&b, other)
    );
    let (server, _, _, _) = b.proxy().sizes();
    assert!(
        server >= 10_000,
        "the exempt sources' transactions are held: {server}"
    );
}
