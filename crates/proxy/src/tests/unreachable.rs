//! ICMP errors (destination unreachable) for what the proxy sent to a member whose process
//! died: the transactions waiting on it fail at once (failover, a probe failure), its health
//! counts one failure per error, and an error that quotes none of our requests in flight is
//! refused (a forgery cannot fail calls over or take a member down).

use super::*;
use dispatch::MemberState;

/// Bytes of a datagram an ICMPv4 error quotes (576 in all, less the two IP headers, the
/// ICMP header and the UDP header).
const QUOTE: usize = 576 - 20 - 8 - 20 - 8;

/// Members 0 (preferred: priority 0) and 1, with `health` as the `[set.health]` body.
fn bed(health: &str) -> Bed {
    let text = config_text(
        &format!("algorithm = \"priority\"\n[set.health]\n{health}"),
        &[
            "uri = \"sip:127.0.0.20:5060\"\npriority = 0",
            "uri = \"sip:127.0.0.21:5060\"\npriority = 1",
        ],
    );
    Bed::from_config(&text, vec![Answer::Ok, Answer::Ok])
}

/// [`bed`] with member 0 dead (nothing it is sent arrives), its address, and where the
/// network's log stands.
fn dead_bed(health: &str) -> (Bed, SocketAddr, usize) {
    let mut b = bed(health);
    let dead = member_addr(0);
    b.sim.net.set_down(dead, true);
    let seen = b.sim.net.log.len();
    (b, dead, seen)
}

/// The kernel's part: every datagram sent to `dead` after log entry `seen` comes back as
/// an ICMP error quoting its start. Returns what the proxy made of each.
fn bounce(bed: &mut Bed, dead: SocketAddr, seen: &mut usize) -> Vec<bool> {
    let now = bed.sim.now();
    let sent: Vec<Vec<u8>> = bed.sim.net.log[*seen..]
        .iter()
        .filter(|(_, d)| d.to == dead)
        .map(|(_, d)| d.bytes.clone())
        .collect();
    *seen = bed.sim.net.log.len();
    sent.iter()
        .map(|b| {
            let quoted = &b[..b.len().min(QUOTE)];
            bed.proxy_mut()
                .handle_unreachable(now, Transport::Udp, dead, quoted)
        })
        .collect()
}

/// Runs `ms` milliseconds, bouncing what goes to `dead` every millisecond.
fn run_bouncing(bed: &mut Bed, ms: u64, dead: SocketAddr, seen: &mut usize) {
    for _ in 0..ms {
        bed.run_ms(1);
        bounce(bed, dead, seen);
    }
}

/// When `call_id`'s INVITE was first sent to `to`.
fn invite_sent_at(bed: &Bed, to: SocketAddr, call_id: &str) -> Option<Instant> {
    bed.sim
        .net
        .log
        .iter()
        .find(|(_, d)| d.to == to && d.text().starts_with("INVITE") && d.text().contains(call_id))
        .map(|(t, _)| *t)
}

fn view<T>(bed: &Bed, i: usize, f: impl Fn(&dispatch::Member) -> T) -> T {
    let target = member_addr(i);
    bed.proxy()
        .dispatcher()
        .snapshot()
        .find(|v| v.member.target() == target)
        .map(|v| f(v.member))
        .expect("member")
}

fn counters(bed: &Bed, i: usize) -> dispatch::MemberCounters {
    view(bed, i, |m| *m.counters())
}

/// Consecutive failures of member `i` (probes and calls).
fn failures(bed: &Bed, i: usize) -> u32 {
    view(bed, i, dispatch::Member::consecutive_failures)
}

#[test]
fn an_invite_to_a_dead_port_fails_over_at_once_and_counts_one_failure() {
    let (mut b, dead, mut seen) = dead_bed("");
    let t0 = b.sim.now();
    b.call("icmp1");
    run_bouncing(&mut b, 20, dead, &mut seen);
    assert!(invite_sent_at(&b, dead, "icmp1").is_some());
    // Latency 1 ms each way: caller → proxy → member 0, bounced, then → member 1.
    let second = invite_sent_at(&b, member_addr(1), "icmp1").expect("failed over");
    assert!(second - t0 <= Duration::from_millis(2), "{:?}", second - t0);
    assert_eq!(b.caller().finals("icmp1"), vec![200]);
    // One failure (the first probe, sent at start, may be the one that counted it).
    assert_eq!(failures(&b, 0), 1);
    assert_eq!(b.state(0), MemberState::Suspect);
    // Two more calls, two more errors: DOWN at the third (down_after = 3), long before
    // fr_timeout (2 s) would have said anything.
    b.call("icmp2");
    run_bouncing(&mut b, 20, dead, &mut seen);
    assert_eq!(b.state(0), MemberState::Suspect);
    b.call("icmp3");
    run_bouncing(&mut b, 20, dead, &mut seen);
    assert_eq!(b.state(0), MemberState::Down);
    assert_eq!(b.caller().finals("icmp2"), vec![200]);
    assert_eq!(b.caller().finals("icmp3"), vec![200]);
}

#[test]
fn one_error_fails_every_transaction_waiting_on_the_member_and_counts_one_failure() {
    let (mut b, dead, mut seen) = dead_bed("");
    for i in 0..3 {
        b.call(&format!("many{i}"));
    }
    b.run_ms(5);
    assert_eq!(b.sim.net.sent_to(dead, "INVITE").len(), 3);
    // Only the last INVITE's error comes back (the others were lost before the process
    // died, say): the three calls fail over together, and member 0 counts one failure.
    let last = b.sim.net.sent_to(dead, "INVITE")[2].bytes.clone();
    seen = seen.max(b.sim.net.log.len());
    let now = b.sim.now();
    assert!(b.proxy_mut().handle_unreachable(
        now,
        Transport::Udp,
        dead,
        &last[..QUOTE.min(last.len())]
    ));
    run_bouncing(&mut b, 10, dead, &mut seen);
    for i in 0..3 {
        assert_eq!(b.caller().finals(&format!("many{i}")), vec![200]);
    }
    assert_eq!(failures(&b, 0), 1);
    assert_eq!(b.state(0), MemberState::Suspect);
}

#[test]
fn an_error_quoting_nothing_in_flight_changes_nothing() {
    let (mut b, dead, _) = dead_bed("");
    b.call("forged");
    b.run_ms(5);
    let now = b.sim.now();
    let ours = b.sim.net.sent_to(dead, "INVITE")[0].bytes.clone();
    // A made-up request, the caller's own INVITE (its branch is not ours), and our INVITE
    // reported for another destination: none is taken.
    let made_up = invite("forged");
    let p = b.proxy_mut();
    assert!(!p.handle_unreachable(now, Transport::Udp, dead, &made_up));
    assert!(!p.handle_unreachable(now, Transport::Udp, dead, b"SIP/2.0 200 OK\r\n"));
    assert!(!p.handle_unreachable(now, Transport::Udp, member_addr(1), &ours));
    assert!(!p.handle_unreachable(now, Transport::Tcp, dead, &ours));
    b.run_ms(100);
    assert_eq!(counters(&b, 0).passive_failures, 0);
    assert_eq!(b.state(0), MemberState::Active);
    assert!(invite_sent_at(&b, member_addr(1), "forged").is_none());
    // The call waits for fr_timeout, as without any error.
    b.run_ms(2_000);
    assert_eq!(b.caller().finals("forged"), vec![200]);
}

/// Runs until the `n`th probe went to `dead`, bouncing; returns when it was sent.
fn until_probe(bed: &mut Bed, n: usize, dead: SocketAddr, seen: &mut usize) -> Instant {
    for _ in 0..5_000 {
        let probes: Vec<Instant> = bed
            .sim
            .net
            .log
            .iter()
            .filter(|(_, d)| d.to == dead && d.text().starts_with("OPTIONS"))
            .map(|(t, _)| *t)
            .collect();
        if let Some(t) = probes.get(n - 1) {
            return *t;
        }
        run_bouncing(bed, 1, dead, seen);
    }
    panic!("no probe {n}");
}

#[test]
fn a_probe_to_a_dead_port_fails_at_once_whatever_passive_says() {
    // Probes every second, timing out after 5 s; DOWN after two failures. Calls do not count.
    let (mut b, dead, mut seen) =
        dead_bed("interval_secs = 1\ntimeout_ms = 5000\ndown_after = 2\npassive = false");
    until_probe(&mut b, 1, dead, &mut seen);
    run_bouncing(&mut b, 2, dead, &mut seen);
    assert_eq!(counters(&b, 0).probes_failed, 1);
    assert_eq!(b.state(0), MemberState::Suspect);
    // The second probe, a second later, makes it DOWN at once: not after its 5 s timeout.
    let second = until_probe(&mut b, 2, dead, &mut seen);
    run_bouncing(&mut b, 2, dead, &mut seen);
    assert_eq!(b.state(0), MemberState::Down);
    assert!(b.sim.now() - second <= Duration::from_millis(2));
    // With `passive = false`, a call's transport error fails it over but does not count.
    b.sim.net.set_down(dead, false);
    while b.state(0) != MemberState::Active {
        b.run_ms(100);
    }
    b.sim.net.set_down(dead, true);
    let before = counters(&b, 0);
    b.call("nocount");
    run_bouncing(&mut b, 20, dead, &mut seen);
    assert!(b.sim.net.sent_to(dead, "nocount").len() == 1);
    assert_eq!(b.caller().finals("nocount"), vec![200]);
    assert_eq!(counters(&b, 0).passive_failures, before.passive_failures);
    assert_eq!(b.state(0), MemberState::Active);
}

#[test]
fn a_probe_and_a_call_failed_by_one_error_count_one_failure() {
    let (mut b, dead, _) = dead_bed("interval_secs = 1\ntimeout_ms = 5000\ndown_after = 3");
    // A probe in flight (unanswered, no error yet), then a call to the same member.
    while b.sim.net.sent_to(dead, "OPTIONS").is_empty() {
        b.run_ms(10);
    }
    b.call("both");
    b.run_ms(3);
    let inv = b.sim.net.sent_to(dead, "INVITE")[0].bytes.clone();
    let now = b.sim.now();
    assert!(b.proxy_mut().handle_unreachable(
        now,
        Transport::Udp,
        dead,
        &inv[..QUOTE.min(inv.len())]
    ));
    b.run_ms(10);
    assert_eq!(b.caller().finals("both"), vec![200]);
    let c = counters(&b, 0);
    assert_eq!((c.probes_failed, c.passive_failures), (1, 0), "{c:?}");
    assert_eq!(b.state(0), MemberState::Suspect);
}

#[test]
fn branches_are_read_from_a_quote_cut_anywhere() {
    let q = b"INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP p:5060;Branch=z9hG4bKone;rport\r\n\
              Via: SIP/2.0/UDP c:5060;branch=z9hG4bK-two\r\nVia: SIP/2.0/UDP d;branch=z9hG4bKcut";
    let got: Vec<&str> = crate::quoted_branches(q).collect();
    assert_eq!(
        got,
        ["z9hG4bKone", "z9hG4bK-two"],
        "the last one is cut by the quote"
    );
    assert_eq!(
        crate::quoted_branches(b"branch=;branch=x\r").collect::<Vec<_>>(),
        ["x"]
    );
    assert_eq!(crate::quoted_branches(b"no branch here").count(), 0);
}
