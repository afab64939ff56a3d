//! The real Ferrovox daemon with the test itself as both media endpoints and as the ng
//! client, no SIP proxy: plain UDP sockets on 127.0.0.1 send RTP through the relay ports the
//! rewritten SDPs announce. Each test starts its own daemon on its own block of ports with its
//! own config, so the tests run in parallel; every wait is bounded.

#![allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a test failure.

use std::net::SocketAddr;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use e2e::daemon::{check_config, decode_reply, int_at, str_at, Daemon, DaemonConfig};
use e2e::ng::{CallState, NgClient};
use e2e::peer::{offer_request, rtp, ssrc_of, Anchored, Peer};
use e2e::ports::PortBlock;
use ng::{Command, OwnedValue, RequestBuilder};

/// How long a packet the relay should forward may take to arrive.
const ARRIVAL: Duration = Duration::from_secs(2);
/// How long the tests listen to be sure a packet the relay should drop does not arrive.
const SILENCE: Duration = Duration::from_millis(500);
/// How long counters may take to show in `statistics` (workers publish them periodically).
const PUBLISH: Duration = Duration::from_secs(3);

const SSRC_A: u32 = 0xa0a0_0001;
const SSRC_B: u32 = 0xb0b0_0002;
const SSRC_F: u32 = 0xf0f0_0003;

/// A config with one interface `external` on the block's external range.
fn one_interface(block: &PortBlock) -> DaemonConfig {
    let r = block.relay_external();
    DaemonConfig::new(block.ng()).interface("external", *r.start(), *r.end())
}

fn start(config: &DaemonConfig) -> Daemon {
    Daemon::start(config).unwrap_or_else(|e| panic!("{e}"))
}

/// An RTP packet with a 160-byte payload tagged with `ssrc` and `seq`.
fn packet(ssrc: u32, seq: u16) -> Vec<u8> {
    let mut payload = vec![0xd5u8; 160];
    payload[..4].copy_from_slice(&ssrc.to_be_bytes());
    payload[4..6].copy_from_slice(&seq.to_be_bytes());
    rtp(seq, u32::from(seq) * 160, ssrc, &payload)
}

/// `from` sends `data` to `relay`; `to` must receive exactly it, from `egress` (symmetric
/// relaying: the packet leaves from the port `to` sends to). A packet that does not arrive
/// fails the test with the daemon's counters (which say why it was dropped).
fn relayed(
    d: &Daemon,
    from: &Peer,
    data: &[u8],
    relay: SocketAddr,
    to: &Peer,
    egress: SocketAddr,
    what: &str,
) {
    from.send(data, relay).unwrap();
    let got = to.expect(ARRIVAL, what).unwrap_or_else(|e| {
        let totals = d
            .statistics()
            .map(|s| format!("{:?}", e2e::daemon::at(&s, &["totalstatistics"])))
            .unwrap_or_else(|e| e.to_string());
        panic!("{e}; daemon totals: {totals}")
    });
    assert_eq!(got.data, data, "{what}: the relay changed the packet");
    assert_eq!(got.from, egress, "{what}: wrong source");
}

/// An anchored call's two endpoints, sending through the relay.
struct Media<'a> {
    d: &'a Daemon,
    a: &'a Peer,
    b: &'a Peer,
    call: &'a Anchored,
}

impl Media<'_> {
    /// A sends its packet `seq` to its relay port; B receives it unchanged, from B's.
    fn a_to_b(&self, seq: u16, what: &str) {
        let (c, data) = (self.call, packet(SSRC_A, seq));
        relayed(
            self.d,
            self.a,
            &data,
            c.relay_for_a,
            self.b,
            c.relay_for_b,
            what,
        );
    }

    /// B sends its packet `seq` to its relay port; A receives it unchanged, from A's.
    fn b_to_a(&self, seq: u16, what: &str) {
        let (c, data) = (self.call, packet(SSRC_B, seq));
        relayed(
            self.d,
            self.b,
            &data,
            c.relay_for_b,
            self.a,
            c.relay_for_a,
            what,
        );
    }
}

/// Polls `statistics` until `pred` holds for the integer at `path`; returns that reply.
fn stats_until(d: &Daemon, path: &[&str], pred: impl Fn(i64) -> bool) -> OwnedValue {
    let start = Instant::now();
    loop {
        let s = d.statistics().unwrap();
        if int_at(&s, path).is_some_and(&pred) {
            return s;
        }
        assert!(
            start.elapsed() < PUBLISH,
            "statistics {path:?} never met the expectation within {PUBLISH:?}: {:?}\n{s:?}",
            int_at(&s, path)
        );
        thread::sleep(Duration::from_millis(50));
    }
}

fn drops(s: &OwnedValue, reason: &str) -> i64 {
    int_at(s, &["totalstatistics", "drops", reason])
        .unwrap_or_else(|| panic!("no drops.{reason}: {s:?}"))
}

fn pairs_in_use(d: &Daemon) -> i64 {
    let s = d.statistics().unwrap();
    int_at(&s, &["currentstatistics", "portpairsinuse"]).unwrap_or_else(|| panic!("{s:?}"))
}

fn result(v: &OwnedValue) -> &str {
    str_at(v, &["result"]).unwrap_or("")
}

fn error_reason(v: &OwnedValue) -> &str {
    str_at(v, &["error-reason"]).unwrap_or("")
}

/// With `strict_source`, once a leg has latched onto its endpoint, packets from any other
/// source sent to that leg's relay port are dropped and counted, and the real endpoint's
/// packets keep flowing.
#[test]
fn latching_strict_source_drops_foreign_packets() {
    let block = PortBlock::take().unwrap();
    let d = start(&one_interface(&block).media("strict_source", true));
    let (a, b, f) = (
        Peer::bind("A").unwrap(),
        Peer::bind("B").unwrap(),
        Peer::bind("F").unwrap(),
    );
    let call = Anchored::call(d.ng(), "strict@e2e", a.addr(), b.addr()).unwrap();
    // The first-packet race after the answer is the subject of its own test.
    call.settle(d.ng()).unwrap();
    let m = Media {
        d: &d,
        a: &a,
        b: &b,
        call: &call,
    };
    assert_ne!(call.relay_for_a, call.relay_for_b);

    m.a_to_b(1, "A -> B");
    m.b_to_a(1, "B -> A");
    m.a_to_b(2, "A -> B again");

    f.send(&packet(SSRC_F, 1), call.relay_for_a).unwrap();
    let leaked = b.collect(SILENCE).unwrap();
    assert!(
        leaked.is_empty(),
        "B received a foreign packet sent to A's relay port: {leaked:?}"
    );
    let s = stats_until(&d, &["totalstatistics", "drops", "strict_source"], |n| {
        n >= 1
    });
    assert_eq!(drops(&s, "strict_source"), 1, "{s:?}");

    m.a_to_b(3, "A -> B after F");
    m.b_to_a(2, "B -> A after F");
    assert!(f.collect(SILENCE).unwrap().is_empty(), "F received media");
}

/// Heuristic latching (the default, 3 s learning window): a foreign source that sends to A's
/// relay port before A does must not capture the stream; the other side's media still goes
/// to the address in A's SDP, and once A sends, media flows both ways.
#[test]
fn heuristic_learning_foreign_source_first_does_not_capture() {
    let block = PortBlock::take().unwrap();
    // The defaults, spelled out.
    let d = start(
        &one_interface(&block)
            .media("latching", "\"heuristic\"")
            .media("learning_secs", 3),
    );
    let (a, b, f) = (
        Peer::bind("A").unwrap(),
        Peer::bind("B").unwrap(),
        Peer::bind("F").unwrap(),
    );
    let call = Anchored::call(d.ng(), "heuristic@e2e", a.addr(), b.addr()).unwrap();
    // The first-packet race after the answer is the subject of its own test.
    call.settle(d.ng()).unwrap();
    let m = Media {
        d: &d,
        a: &a,
        b: &b,
        call: &call,
    };

    // Without strict_source, F's packet is relayed on to B; its arrival shows that the relay
    // has seen it before B sends.
    relayed(
        &d,
        &f,
        &packet(SSRC_F, 1),
        call.relay_for_a,
        &b,
        call.relay_for_b,
        "F -> B",
    );

    b.send(&packet(SSRC_B, 1), call.relay_for_b).unwrap();
    let to_f = f.recv(SILENCE).unwrap();
    assert!(
        to_f.is_none(),
        "B's packet (SSRC {SSRC_B:#x}) went to the foreign source F ({}) instead of A's SDP \
         address ({}): F received {:?} from {:?}",
        f.addr(),
        a.addr(),
        to_f.as_ref().map(|r| ssrc_of(&r.data)),
        to_f.as_ref().map(|r| r.from),
    );
    let got = a
        .expect(ARRIVAL, "B's first packet")
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(ssrc_of(&got.data), Some(SSRC_B));
    assert_eq!(got.from, call.relay_for_a);

    m.a_to_b(1, "A -> B");
    m.b_to_a(2, "B -> A");
    m.a_to_b(2, "A -> B again");
    assert!(f.collect(SILENCE).unwrap().is_empty(), "F received media");
}

/// When a Call-ID stops being known to the relay, polled every 100 ms for at most `limit`.
fn gone_after(d: &Daemon, call_id: &str, since: Instant, limit: Duration) -> Duration {
    loop {
        match d.ng().query(call_id).unwrap() {
            CallState::Unknown(_) => return since.elapsed(),
            CallState::Present => {}
        }
        assert!(
            since.elapsed() < limit,
            "{call_id} still present after {limit:?}"
        );
        thread::sleep(Duration::from_millis(100));
    }
}

/// `offer_timeout_secs = 2` ends an offer that is never answered, and `timeout_secs = 2` an
/// answered call that carries no RTP, each after about 2 s and each counted under its reason.
#[test]
fn timeouts_fire_with_reason() {
    let block = PortBlock::take().unwrap();
    let d = start(
        &one_interface(&block)
            .media("timeout_secs", 2)
            .media("offer_timeout_secs", 2),
    );
    let (a, b, c) = (
        Peer::bind("A").unwrap(),
        Peer::bind("B").unwrap(),
        Peer::bind("C").unwrap(),
    );
    let offered_at = Instant::now();
    Anchored::offer_only(d.ng(), "unanswered@e2e", c.addr()).unwrap();
    let answered_at = Instant::now();
    Anchored::call(d.ng(), "silent@e2e", a.addr(), b.addr()).unwrap();
    let listed = d.ng().list(100).unwrap();
    assert!(
        listed.contains(&"unanswered@e2e".to_owned()) && listed.contains(&"silent@e2e".to_owned()),
        "{listed:?}"
    );
    assert_eq!(d.ng().query("silent@e2e").unwrap(), CallState::Present);

    let limit = Duration::from_secs(8);
    let unanswered = gone_after(&d, "unanswered@e2e", offered_at, limit);
    let silent = gone_after(&d, "silent@e2e", answered_at, limit);
    let window = Duration::from_millis(1500)..=Duration::from_secs(5);
    assert!(
        window.contains(&unanswered),
        "the unanswered offer ended after {unanswered:?}"
    );
    assert!(
        window.contains(&silent),
        "the silent call ended after {silent:?}"
    );
    let listed = d.ng().list(100).unwrap();
    assert!(listed.is_empty(), "{listed:?}");

    let s = d.statistics().unwrap();
    let ended = |reason: &str| int_at(&s, &["totalstatistics", "endedsessions", reason]);
    assert_eq!(ended("timeout_offer"), Some(1), "{s:?}");
    assert_eq!(ended("timeout_no_rtp"), Some(1), "{s:?}");
    stats_until(&d, &["currentstatistics", "portpairsinuse"], |n| n == 0);
}

/// The `stats` dictionary of the RTP stream of the only medium of leg `tag` in a `delete`
/// or `query` reply.
fn leg_rtp_stats<'a>(reply: &'a OwnedValue, tag: &str) -> &'a OwnedValue {
    let medias = e2e::daemon::at(reply, &["tags", tag, "medias"])
        .and_then(OwnedValue::as_list)
        .unwrap_or_else(|| panic!("no medias for tag {tag}: {reply:?}"));
    let [media] = medias else {
        panic!("expected one medium for {tag}: {medias:?}")
    };
    let streams = media
        .get("streams")
        .and_then(OwnedValue::as_list)
        .unwrap_or_else(|| panic!("no streams: {media:?}"));
    streams
        .first()
        .and_then(|s| s.get("stats"))
        .unwrap_or_else(|| panic!("no RTP stream stats: {streams:?}"))
}

/// `delete` answers with the call's final statistics (every packet sent both ways counted),
/// and an offer sent twice with the same cookie is answered twice with the same bytes while
/// allocating ports only once.
#[test]
fn delete_returns_final_stats_and_a_repeated_cookie_allocates_nothing() {
    let block = PortBlock::take().unwrap();
    let d = start(&one_interface(&block));
    let (a, b) = (Peer::bind("A").unwrap(), Peer::bind("B").unwrap());
    let call = Anchored::call(d.ng(), "stats@e2e", a.addr(), b.addr()).unwrap();
    // The first-packet race after the answer is the subject of its own test.
    call.settle(d.ng()).unwrap();
    let m = Media {
        d: &d,
        a: &a,
        b: &b,
        call: &call,
    };

    let (mut sent_a, mut sent_b) = (0i64, 0i64);
    for seq in 1..=10u16 {
        m.a_to_b(seq, "A -> B");
        sent_a += 1;
        if seq <= 7 {
            m.b_to_a(seq, "B -> A");
            sent_b += 1;
        }
    }
    let bytes = (sent_a + sent_b) * i64::try_from(packet(SSRC_A, 1).len()).unwrap();

    let reply = call.delete(d.ng()).unwrap();
    assert_eq!(result(&reply), "ok", "{reply:?}");
    assert_eq!(
        int_at(&reply, &["totals", "RTP", "packets"]),
        Some(sent_a + sent_b),
        "{reply:?}"
    );
    assert_eq!(
        int_at(&reply, &["totals", "RTP", "bytes"]),
        Some(bytes),
        "{reply:?}"
    );
    let stats_a = leg_rtp_stats(&reply, &call.from_tag);
    let stats_b = leg_rtp_stats(&reply, &call.to_tag);
    assert_eq!(
        stats_a.get("packets").and_then(OwnedValue::as_int),
        Some(sent_a)
    );
    assert_eq!(
        stats_b.get("packets").and_then(OwnedValue::as_int),
        Some(sent_b)
    );
    assert!(matches!(
        d.ng().query("stats@e2e").unwrap(),
        CallState::Unknown(_)
    ));
    stats_until(&d, &["currentstatistics", "portpairsinuse"], |n| n == 0);

    // The same offer datagram twice, byte for byte (a proxy's retransmission).
    let datagram = offer_request("repeat@e2e", "repeat-a", &e2e::peer::audio_sdp(a.port(), 7))
        .to_datagram(b"e2e-repeated-cookie");
    let first = d
        .ng_raw(&datagram, ARRIVAL)
        .unwrap()
        .expect("a reply to the offer");
    let (cookie, body) = decode_reply(&first).unwrap();
    assert_eq!(cookie, b"e2e-repeated-cookie");
    assert_eq!(result(&body), "ok", "{body:?}");
    let after_first = pairs_in_use(&d);
    assert_eq!(after_first, 2, "one m-line takes a pair on each leg");
    let second = d
        .ng_raw(&datagram, ARRIVAL)
        .unwrap()
        .expect("a reply to the repeat");
    assert_eq!(
        first, second,
        "the repeat was not answered with the same bytes"
    );
    assert_eq!(pairs_in_use(&d), after_first, "the repeat allocated ports");
    let s = d.statistics().unwrap();
    assert_eq!(
        int_at(&s, &["totalstatistics", "managedsessions"]),
        Some(2),
        "{s:?}"
    );
    assert_eq!(d.ng().list(100).unwrap(), vec!["repeat@e2e".to_owned()]);
}

/// One interface with four port pairs holds two calls (a pair per leg); the third offer is
/// refused with an error naming ports, and deleting one call (no delete delay) lets the next
/// offer through.
#[test]
fn port_exhaustion_and_release() {
    let block = PortBlock::take().unwrap();
    let min = *block.relay_external().start();
    let d = start(&DaemonConfig::new(block.ng()).interface("external", min, min + 7));
    let a = Peer::bind("A").unwrap();
    let sdp = e2e::peer::audio_sdp(a.port(), 1);

    let mut accepted = Vec::new();
    let mut refusal = None;
    for i in 0..10 {
        let id = format!("exhaust-{i}@e2e");
        let reply = d.ng().request(&offer_request(&id, "tag-a", &sdp)).unwrap();
        match result(&reply) {
            "ok" => accepted.push(id),
            "error" => {
                refusal = Some(reply);
                break;
            }
            other => panic!("offer {i}: result {other:?}: {reply:?}"),
        }
    }
    let refusal = refusal.expect("no offer was refused");
    assert_eq!(accepted.len(), 2, "calls before exhaustion: {accepted:?}");
    assert!(
        error_reason(&refusal).to_ascii_lowercase().contains("port"),
        "the error-reason does not mention ports: {refusal:?}"
    );
    assert_eq!(pairs_in_use(&d), 4);
    let s = d.statistics().unwrap();
    assert!(
        int_at(&s, &["totalstatistics", "portexhaustion"]).is_some_and(|n| n >= 1),
        "{s:?}"
    );

    let deleted = d
        .ng()
        .request(
            &RequestBuilder::new(Command::Delete)
                .call_id(accepted[0].as_str())
                .from_tag("tag-a"),
        )
        .unwrap();
    assert_eq!(result(&deleted), "ok", "{deleted:?}");
    let next = d
        .ng()
        .request(&offer_request("after-delete@e2e", "tag-a", &sdp))
        .unwrap();
    assert_eq!(
        result(&next),
        "ok",
        "the offer after a delete with no delete delay was refused: {next:?}"
    );
    e2e::peer::announced(&next, "offer").unwrap();
}

/// Malformed ng requests are answered with an error and a reason (or, without a cookie,
/// dropped); malformed RTP and RTCP on a relay port are dropped and counted under their
/// reasons; none of it hurts the daemon, which still answers and exits cleanly on SIGTERM.
#[test]
fn bad_input_is_answered_or_counted_never_fatal() {
    let block = PortBlock::take().unwrap();
    let mut d = start(&one_interface(&block));

    for (what, datagram) in [
        ("malformed bencode", b"e2e-bad-1 d7:command4:ping".to_vec()),
        ("unknown command", b"e2e-bad-2 d7:command5:boguse".to_vec()),
        (
            "offer with garbage SDP",
            offer_request("garbage@e2e", "tag-g", "this is no SDP\0\u{7f}\n=\n")
                .to_datagram(b"e2e-bad-3"),
        ),
    ] {
        let reply = d
            .ng_raw(&datagram, ARRIVAL)
            .unwrap()
            .unwrap_or_else(|| panic!("{what}: no reply"));
        let (cookie, body) = decode_reply(&reply).unwrap();
        assert_eq!(
            cookie,
            datagram.split(|b| *b == b' ').next().unwrap(),
            "{what}"
        );
        assert_eq!(result(&body), "error", "{what}: {body:?}");
        assert!(!error_reason(&body).trim().is_empty(), "{what}: {body:?}");
    }
    assert!(matches!(
        d.ng().query("garbage@e2e").unwrap(),
        CallState::Unknown(_)
    ));
    for no_cookie in [
        b"d7:command4:pinge".as_slice(),
        b"nocookie".as_slice(),
        b"".as_slice(),
    ] {
        let reply = d.ng_raw(no_cookie, SILENCE).unwrap();
        assert_eq!(reply, None, "a datagram without a cookie was answered");
    }

    let (a, b) = (Peer::bind("A").unwrap(), Peer::bind("B").unwrap());
    let call = Anchored::call(d.ng(), "garbage-media@e2e", a.addr(), b.addr()).unwrap();
    // The first-packet race after the answer is the subject of its own test.
    call.settle(d.ng()).unwrap();
    let m = Media {
        d: &d,
        a: &a,
        b: &b,
        call: &call,
    };
    let rtcp_port = SocketAddr::new(call.relay_for_a.ip(), call.relay_for_a.port() | 1);
    // Version 2 with 15 CSRCs, but only 14 bytes: the CSRC list cannot fit.
    let mut csrc15 = packet(SSRC_A, 1);
    csrc15[0] = 0x8f;
    csrc15.truncate(14);
    a.send(&[0x80, 0x00, 0x01], call.relay_for_a).unwrap();
    a.send(&[0xff; 40], call.relay_for_a).unwrap();
    a.send(&csrc15, call.relay_for_a).unwrap();
    // An RTCP sender report header (RFC 3550 6.4.1) cut after 4 bytes.
    a.send(&[0x80, 200, 0x00, 0x06], rtcp_port).unwrap();
    let leaked = b.collect(SILENCE).unwrap();
    assert!(leaked.is_empty(), "garbage was relayed: {leaked:?}");

    let reasons = ["malformed_rtp", "not_media", "malformed_rtcp"];
    let start_wait = Instant::now();
    let s = loop {
        let s = d.statistics().unwrap();
        let total: i64 = reasons.iter().map(|r| drops(&s, r)).sum();
        if total >= 4 || start_wait.elapsed() > PUBLISH {
            break s;
        }
        thread::sleep(Duration::from_millis(50));
    };
    let total: i64 = reasons.iter().map(|r| drops(&s, r)).sum();
    assert_eq!(total, 4, "drops of the four garbage packets: {s:?}");
    assert!(drops(&s, "not_media") >= 1, "0xff * 40 is not media: {s:?}");
    assert!(
        drops(&s, "malformed_rtp") >= 1,
        "15 CSRCs in 14 bytes: {s:?}"
    );
    assert_eq!(drops(&s, "malformed_rtcp"), 1, "4-byte RTCP: {s:?}");

    // Still alive and relaying.
    d.ng().ping().unwrap();
    m.a_to_b(2, "A -> B");
    d.process().ensure_running().unwrap();

    let (status, took) = d.terminate(Duration::from_secs(2)).unwrap();
    assert!(status.success(), "exit after SIGTERM: {status}");
    assert!(took <= Duration::from_secs(2), "SIGTERM took {took:?}");
}

/// Runs `check-config` on `text` written to `dir/name`; returns the status and the output.
fn check_text(dir: &Path, name: &str, text: &str) -> (std::process::ExitStatus, String) {
    let file = dir.join(name);
    std::fs::write(&file, text).unwrap();
    check_config(&file, dir).unwrap()
}

/// `ferrovox check-config` refuses a config with an unknown key, an odd `port_min` or a
/// worker core the host does not have, each with one line naming the key, and accepts the
/// shipped example config.
#[test]
fn check_config_rejects_bad_configs() {
    let dir = tempfile::tempdir().unwrap();
    let iface = "[[interface]]\nname = \"external\"\naddress = \"127.0.0.1\"\n";
    let good = format!("{iface}port_min = 30000\nport_max = 30999\n");
    for (name, text, key) in [
        (
            "unknown-key.toml",
            format!("[media]\nlatchng = \"off\"\n\n{good}"),
            "media.latchng",
        ),
        (
            "odd-port-min.toml",
            format!("{iface}port_min = 30001\nport_max = 30999\n"),
            "interface[0].port_min",
        ),
        (
            "missing-core.toml",
            format!("[dataplane]\nworker_cores = [0, 4096]\n\n{good}"),
            "dataplane.worker_cores[1]",
        ),
    ] {
        let (status, output) = check_text(dir.path(), name, &text);
        assert!(!status.success(), "{name} accepted: {output}");
        let lines: Vec<&str> = output.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "{name}: expected one line, got:\n{output}");
        assert!(
            lines[0].contains(key),
            "{name}: {key} not named in: {}",
            lines[0]
        );
    }
    let (status, output) = check_text(dir.path(), "good.toml", &good);
    assert!(status.success(), "a minimal config was refused: {output}");

    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/ferrovox.toml");
    let (status, output) = check_config(&shipped, dir.path()).unwrap();
    assert!(status.success(), "config/ferrovox.toml refused: {output}");
}

/// Media sent the moment the answer's reply arrives is relayed, both ways: a proxy passes the
/// 200 OK on as soon as it has the reply, and the caller may start sending at once. The
/// window is short, so the test tries it on many calls, a few at a time (each call with fresh
/// endpoints, a pause before it so the worker is idle, and a delete after it).
#[test]
fn media_sent_right_after_the_answer_is_relayed() {
    const THREADS: u16 = 4;
    const CALLS: u16 = 40;
    let block = PortBlock::take().unwrap();
    let d = start(&one_interface(&block));
    let lost: Vec<String> = thread::scope(|scope| {
        let workers: Vec<_> = (0..THREADS)
            .map(|t| {
                // A client per thread: one client's socket takes any reply that reaches it.
                let ng = NgClient::new(d.ng_addr(), Duration::from_secs(1)).unwrap();
                scope.spawn(move || {
                    let mut lost = Vec::new();
                    for i in 1..=CALLS {
                        thread::sleep(Duration::from_millis(50));
                        let id = format!("race-{t}-{i}@e2e");
                        if let Some(l) = first_packets(&ng, &id, i) {
                            lost.push(l);
                            if lost.len() >= 2 {
                                break;
                            }
                        }
                    }
                    lost
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    let s = d.statistics().unwrap();
    assert!(
        lost.is_empty(),
        "packets sent right after the answer reply were not relayed ({} calls of up to {}): \
         {lost:?}; drops.no_destination = {}",
        lost.len(),
        THREADS * CALLS,
        drops(&s, "no_destination")
    );
}

/// One call of [`media_sent_right_after_the_answer_is_relayed`]: offer, answer, and at once
/// a packet each way; which of them did not arrive, if any. The call is deleted afterwards.
fn first_packets(ng: &NgClient, id: &str, seq: u16) -> Option<String> {
    let (a, b) = (Peer::bind("A").unwrap(), Peer::bind("B").unwrap());
    let call = Anchored::call(ng, id, a.addr(), b.addr()).unwrap();
    let (to_b, to_a) = (packet(SSRC_A, seq), packet(SSRC_B, seq));
    a.send(&to_b, call.relay_for_a).unwrap();
    b.send(&to_a, call.relay_for_b).unwrap();
    let got_b = b.recv(SILENCE).unwrap().map(|r| r.data);
    let got_a = a.recv(SILENCE).unwrap().map(|r| r.data);
    assert_eq!(result(&call.delete(ng).unwrap()), "ok");
    let missing: Vec<&str> = [
        (got_b.as_deref() != Some(to_b.as_slice())).then_some("A -> B"),
        (got_a.as_deref() != Some(to_a.as_slice())).then_some("B -> A"),
    ]
    .into_iter()
    .flatten()
    .collect();
    (!missing.is_empty()).then(|| format!("{id}: {}", missing.join(", ")))
}
