//! Reload against the real daemon on 127.0.0.1: every key a reload applies live takes effect
//! (`sip.listen` rebound over UDP and TCP, the old port closed; the no-RTP timeout ends a call
//! set up before the reload; the session cap, latching, the ng rate limit; the log level both
//! ways and the log format; SIP timers; the metrics endpoint moved; interface port ranges and
//! a new interface), every restart-only key (the ng listener, worker settings) is refused with
//! its reason in the `ferrovoxctl reload` reply and the log while the rest is applied, a
//! `sip.listen` that cannot be bound keeps the old sockets, a broken file changes nothing, and
//! the SIP sections cannot turn on a proxy that was off at start. Interfaces: a new one relays
//! RTP through its ports (and a set anchors its SIP calls on it), a grown range adds ports, a
//! removed one keeps its sessions relaying and takes no new offers, and a file with overlapping ranges or an address the host lacks
//! changes nothing. The admin socket and the metrics endpoint rebind, and a bind that fails
//! keeps them. (`edge_tls` moves `sip.tls_listen`.)

#![allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a test failure.

use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use e2e::ctl::Ctl;
use e2e::daemon::{Daemon, DaemonConfig};
use e2e::ng::CallState;
use e2e::peer::{Anchored, Peer};
use e2e::ports::{PortBlock, LOOPBACK};
use serde_json::{json, Value};

/// How long one OPTIONS may take to be answered.
const ANSWER: Duration = Duration::from_millis(1500);

/// A daemon whose SIP proxy listens on the block's proxy port over UDP and TCP, with one
/// (unanchored, never answering) member, `[media] timeout_secs = 30`.
fn daemon(ports: &PortBlock) -> Daemon {
    let toml = format!(
        "[sip]\nlisten = [\"127.0.0.1:{}\"]\ntransports = [\"udp\", \"tcp\"]\n\
         fr_timeout_ms = 1000\n\n[[set]]\nname = \"pool\"\n[set.media]\nanchor = false\n\
         [[set.member]]\nuri = \"sip:127.0.0.1:{}\"\n",
        ports.proxy_sip(),
        ports.uas_sip()
    );
    let relay = ports.relay_external();
    let cfg = DaemonConfig::new(ports.ng())
        .interface("external", *relay.start(), *relay.end())
        .media("timeout_secs", 30)
        .raw(&toml);
    Daemon::start(&cfg).unwrap()
}

/// Rewrites the daemon's config file, each `(from, to)` replacing text that must be there.
fn edit(d: &Daemon, edits: &[(&str, &str)]) {
    let path = d.config_path();
    let mut text = std::fs::read_to_string(&path).unwrap();
    for (from, to) in edits {
        assert!(
            text.contains(from),
            "{from:?} is not in the config:\n{text}"
        );
        text = text.replacen(from, to, 1);
    }
    std::fs::write(&path, text).unwrap();
}

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from((LOOPBACK, port))
}

static SEQ: AtomicU32 = AtomicU32::new(1);

/// OPTIONS to the proxy itself over UDP: `Ok` when answered 200 within [`ANSWER`].
fn options(proxy: SocketAddr) -> Result<(), String> {
    let s = UdpSocket::bind((LOOPBACK, 0)).map_err(|e| e.to_string())?;
    let from = s.local_addr().map_err(|e| e.to_string())?;
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    let msg = format!(
        "OPTIONS sip:{proxy} SIP/2.0\r\nVia: SIP/2.0/UDP {from};branch=z9hG4bKrl{n}\r\n\
         Max-Forwards: 70\r\nFrom: <sip:probe@127.0.0.1>;tag=r{n}\r\nTo: <sip:{proxy}>\r\n\
         Call-ID: reload-{n}@127.0.0.1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    );
    s.set_read_timeout(Some(ANSWER))
        .map_err(|e| e.to_string())?;
    s.send_to(msg.as_bytes(), proxy)
        .map_err(|e| e.to_string())?;
    let mut buf = [0u8; 4096];
    let n = s.recv(&mut buf).map_err(|e| format!("no answer: {e}"))?;
    let head = String::from_utf8_lossy(buf.get(..n).unwrap_or_default()).into_owned();
    match head.get(8..11) {
        Some("200") => Ok(()),
        _ => Err(format!("answered {head}")),
    }
}

/// Whether a TCP connection to `a` is accepted.
fn tcp_accepts(a: SocketAddr) -> bool {
    TcpStream::connect_timeout(&a, Duration::from_secs(1)).is_ok()
}

/// The change of `key` in a reload reply.
fn change<'a>(reply: &'a Value, key: &str) -> &'a Value {
    reply["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["key"] == key)
        .unwrap_or_else(|| panic!("no change of {key}: {reply:#}"))
}

/// The log lines that contain every one of `words`.
fn log_lines(d: &Daemon, words: &[&str]) -> Vec<String> {
    let log = std::fs::read_to_string(d.log()).unwrap();
    log.lines()
        .filter(|l| words.iter().all(|w| l.contains(w)))
        .map(str::to_owned)
        .collect()
}

/// Polls `f` every 100 ms for at most `limit`.
fn within(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    f()
}

#[test]
fn live_keys_take_effect_and_restart_keys_are_refused_with_their_reason() {
    let ports = PortBlock::take().unwrap();
    let d = daemon(&ports);
    let ctl = Ctl::new(&d.admin_socket());
    let (old, p1, p2) = (ports.proxy_sip(), ports.base() + 10, ports.base() + 12);
    options(addr(old)).unwrap();
    let (a, b) = (Peer::bind("A").unwrap(), Peer::bind("B").unwrap());
    Anchored::call(d.ng(), "silent@reload", a.addr(), b.addr()).unwrap();

    // Live: listen, the no-RTP timeout, the session cap and latching, a SIP timer, the ng
    // rate limit, the log level (down to info), the metrics listener, an interface's port
    // range, a new interface. Restart only: the ng listener, the worker burst.
    let relay = ports.relay_external();
    let (port_max, shorter) = (
        format!("port_max = {}", relay.end()),
        format!("port_max = {}", relay.end() - 10),
    );
    let metrics = format!("\"127.0.0.1:{}\"", ports.metrics());
    let ng = format!("\"127.0.0.1:{}\"", ports.ng());
    edit(
        &d,
        &[
            (
                &format!("127.0.0.1:{old}\"]"),
                &format!("127.0.0.1:{p1}\"]"),
            ),
            (
                "timeout_secs = 30",
                "timeout_secs = 2\nmax_sessions = 1\nlatching = \"immediate\"\nstrict_source = true",
            ),
            ("fr_timeout_ms = 1000", "fr_timeout_ms = 1500"),
            ("log_level = \"debug\"", "log_level = \"info\""),
            (
                &format!("listen = {ng}"),
                &format!("listen = \"127.0.0.1:{}\"\nrate = 5000", ports.base() + 9),
            ),
            (&metrics, &format!("\"127.0.0.1:{}\"", ports.base() + 11)),
            ("worker_cores = [0]", "worker_cores = [0]\nburst = 16"),
            (
                &port_max,
                &format!(
                    "{shorter}\n\n[[interface]]\nname = \"internal\"\naddress = \"127.0.0.1\"\n\
                     port_min = {}\nport_max = {}",
                    ports.relay_internal().start(),
                    ports.relay_internal().end()
                ),
            ),
        ],
    );
    let reloaded = Instant::now();
    let r = ctl.json_exit(&["reload"], 4);
    // One session at most now: the silent call holds it.
    let (c, before) = (Peer::bind("C").unwrap(), Instant::now());
    assert!(Anchored::offer_only(d.ng(), "second@reload", c.addr()).is_err());
    for key in [
        "sip.listen",
        "media.timeout_secs",
        "media.max_sessions",
        "media.latching",
        "media.strict_source",
        "sip.fr_timeout_ms",
        "ng.rate",
        "general.log_level",
        "metrics.listen",
        "interface[0]",
        "interface[1]",
        "interface.relays",
    ] {
        assert_eq!(change(&r, key)["applied"], true, "{key}: {r:#}");
    }
    for key in ["ng.listen", "dataplane.other"] {
        let c = change(&r, key);
        assert_eq!(c["applied"], false, "{key}: {r:#}");
        let why = c["reason"].as_str().unwrap_or_default();
        assert!(why.starts_with("needs a restart: "), "{key}: {r:#}");
        assert_eq!(
            log_lines(&d, &["reload: not applied", &format!("key={key}")]).len(),
            1,
            "{key} refused in the log"
        );
    }
    assert!(ctl
        .text_partial(&["reload"])
        .0
        .contains("needs a restart: "));

    // The proxy answers on the new port only, over UDP and TCP.
    options(addr(p1)).unwrap();
    assert!(options(addr(old)).is_err(), "the old port still answers");
    assert!(tcp_accepts(addr(p1)) && !tcp_accepts(addr(old)));
    // The restart-only listener stays where it was; the metrics endpoint moved.
    d.ng().ping().unwrap();
    assert!(tcp_accepts(addr(ports.base() + 11)));
    let closed = within(Duration::from_secs(4), || {
        !tcp_accepts(addr(ports.metrics()))
    });
    assert!(closed, "the old metrics endpoint still accepts");
    let p = &ctl.json(&["params"])["params"];
    assert_eq!(p["media.timeout_secs"], 2);
    assert_eq!(p["media.max_sessions"], 1);
    assert_eq!(
        (&p["media.latching"], &p["media.strict_source"]),
        (&json!("immediate"), &json!(true))
    );
    assert_eq!(p["ng.rate"], 5000);
    assert_eq!(p["sip.fr_timeout_ms"], 1500);
    assert_eq!(p["sip.listen"], format!("127.0.0.1:{p1}"));
    assert_eq!(p["ng.listen"], format!("127.0.0.1:{}", ports.ng()));

    // The call set up under a 30 s timeout ends by the new 2 s one.
    let gone = within(Duration::from_secs(6), || {
        matches!(d.ng().query("silent@reload"), Ok(CallState::Unknown(_)))
    });
    assert!(gone, "the silent call outlived the new timeout");
    assert!(reloaded.elapsed() < Duration::from_secs(8));
    assert!(before.elapsed() < Duration::from_secs(8));
    Anchored::offer_only(d.ng(), "third@reload", c.addr()).unwrap();

    // At info the rebind's debug line was not written; back at debug (and in JSON) it is.
    let bound = |port: u16| log_lines(&d, &["SIP UDP socket", &format!(":{port}")]);
    assert!(bound(p1).is_empty(), "a debug line at info");
    edit(
        &d,
        &[
            (&format!("127.0.0.1:{p1}\"]"), &format!("127.0.0.1:{p2}\"]")),
            (
                "log_level = \"info\"",
                "log_level = \"debug\"\nlog_format = \"json\"",
            ),
        ],
    );
    let r = ctl.json_exit(&["reload"], 4);
    assert_eq!(change(&r, "general.log_level")["applied"], true);
    assert_eq!(change(&r, "general.log_format")["applied"], true);
    let line = bound(p2);
    assert_eq!(line.len(), 1, "no debug line at debug");
    let json: Value = serde_json::from_str(&line[0]).unwrap_or_else(|e| panic!("{e}: {line:?}"));
    assert_eq!(json["level"], "DEBUG", "{json}");
    options(addr(p2)).unwrap();
    assert!(
        options(addr(p1)).is_err(),
        "the previous port still answers"
    );
}

#[test]
fn an_unbindable_listen_keeps_the_old_sockets_and_a_broken_file_changes_nothing() {
    let ports = PortBlock::take().unwrap();
    let mut d = daemon(&ports);
    let ctl = Ctl::new(&d.admin_socket());
    let old = ports.proxy_sip();
    let taken = UdpSocket::bind(addr(ports.base() + 10)).unwrap();
    let busy = taken.local_addr().unwrap().port();
    edit(
        &d,
        &[
            (
                &format!("127.0.0.1:{old}\"]"),
                &format!("127.0.0.1:{busy}\"]"),
            ),
            ("fr_timeout_ms = 1000", "fr_timeout_ms = 1500"),
        ],
    );
    // SIGHUP: the outcome is in the log.
    d.reload().unwrap();
    let done = within(Duration::from_secs(3), || {
        !log_lines(&d, &["reload done"]).is_empty()
    });
    assert!(done, "no reload in the log");
    let refused = log_lines(&d, &["reload: not applied", "key=sip.listen"]);
    assert!(
        refused.len() == 1 && refused[0].contains("cannot bind UDP"),
        "{refused:?}"
    );
    assert_eq!(
        log_lines(&d, &["reload: applied", "key=sip.fr_timeout_ms"]).len(),
        1
    );
    let p = &ctl.json(&["params"])["params"];
    assert_eq!(p["sip.listen"], format!("127.0.0.1:{old}"));
    assert_eq!(p["sip.fr_timeout_ms"], 1500);
    options(addr(old)).unwrap();
    assert!(tcp_accepts(addr(old)));
    // The admin reply names the bind error too (the file still asks for the busy port).
    let r = ctl.json_exit(&["reload"], 4);
    let why = change(&r, "sip.listen")["reason"]
        .as_str()
        .unwrap_or_default();
    assert!(why.contains("cannot bind UDP"), "{r:#}");

    // A file that does not parse: nothing of it applies, over SIGHUP or the admin socket.
    edit(
        &d,
        &[
            ("fr_timeout_ms = 1500", "fr_timeout_ms = 2000"),
            ("[[set]]", "[[set]]\nbogus_key = 1"),
        ],
    );
    d.reload().unwrap();
    let refused = within(Duration::from_secs(3), || {
        !log_lines(&d, &["reload refused"]).is_empty()
    });
    assert!(refused, "the broken file was not refused in the log");
    ctl.refused(&["reload"], 1004);
    assert_eq!(ctl.json(&["params"])["params"]["sip.fr_timeout_ms"], 1500);
    options(addr(old)).unwrap();
    drop(taken);
}

#[test]
fn sip_sections_are_refused_when_the_proxy_was_off_at_start() {
    let ports = PortBlock::take().unwrap();
    let relay = ports.relay_external();
    let cfg = DaemonConfig::new(ports.ng())
        .interface("external", *relay.start(), *relay.end())
        .media("timeout_secs", 30);
    let d = Daemon::start(&cfg).unwrap();
    let ctl = Ctl::new(&d.admin_socket());
    let sip = ports.proxy_sip();
    let set = format!(
        "\n[sip]\nlisten = [\"127.0.0.1:{sip}\"]\n[[set]]\nname = \"pool\"\n\
         [[set.member]]\nuri = \"sip:127.0.0.1:{}\"\n",
        ports.uas_sip()
    );
    let path = d.config_path();
    let text = std::fs::read_to_string(&path).unwrap() + &set;
    std::fs::write(
        &path,
        text.replace("timeout_secs = 30", "timeout_secs = 20"),
    )
    .unwrap();
    let r = ctl.json_exit(&["reload"], 4);
    for key in ["set[pool]", "sip.listen"] {
        let c = change(&r, key);
        assert_eq!(c["applied"], false, "{key}: {r:#}");
        let why = c["reason"].as_str().unwrap_or_default();
        assert!(why.contains("the SIP proxy was off at start"), "{r:#}");
    }
    assert_eq!(change(&r, "media.timeout_secs")["applied"], true);
    assert!(
        options(addr(sip)).is_err(),
        "SIP answered without a restart"
    );
    let p = &ctl.json(&["params"])["params"];
    assert_eq!(p["media.timeout_secs"], 20);
    assert_ne!(p["sip.listen"], format!("127.0.0.1:{sip}"));
}

/// A daemon relaying for ng only, with interface `external` on ports `first..=last` and no
/// SIP proxy.
fn media_daemon(ports: &PortBlock, first: u16, last: u16) -> Daemon {
    let cfg = DaemonConfig::new(ports.ng()).interface("external", first, last);
    Daemon::start(&cfg).unwrap()
}

/// The `[[interface]]` entry `name` on 127.0.0.1 with `range`.
fn interface_entry(name: &str, range: std::ops::RangeInclusive<u16>) -> String {
    format!(
        "\n[[interface]]\nname = \"{name}\"\naddress = \"127.0.0.1\"\nport_min = {}\nport_max = {}\n",
        range.start(),
        range.end()
    )
}

/// Appends `text` to the daemon's config file.
fn append(d: &Daemon, text: &str) {
    let path = d.config_path();
    let old = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, old + text).unwrap();
}

/// An ng call from `a` to `b` (offer and answer), the offer naming the interfaces toward
/// each side when `dir` is given: where `a` and `b` must send. `Err`: the offer's refusal.
fn call_on(
    d: &Daemon,
    call_id: &str,
    (a, b): (&Peer, &Peer),
    dir: Option<(&str, &str)>,
) -> Result<(SocketAddr, SocketAddr), String> {
    let from_tag = format!("{call_id}-a");
    let mut offer =
        e2e::peer::offer_request(call_id, &from_tag, &e2e::peer::audio_sdp(a.port(), 1));
    if let Some((x, y)) = dir {
        offer = offer.direction(x, y);
    }
    let reply = d.ng().request(&offer).map_err(|e| e.to_string())?;
    if let Some(why) = e2e::daemon::str_at(&reply, &["error-reason"]) {
        return Err(why.to_owned());
    }
    let for_b = e2e::peer::announced(&reply, "offer").map_err(|e| e.to_string())?;
    let answer = ng::RequestBuilder::new(ng::Command::Answer)
        .call_id(call_id)
        .from_tag(from_tag.as_str())
        .to_tag(format!("{call_id}-b"))
        .sdp(e2e::peer::audio_sdp(b.port(), 2));
    let reply = d.ng().request(&answer).map_err(|e| e.to_string())?;
    let for_a = e2e::peer::announced(&reply, "answer").map_err(|e| e.to_string())?;
    assert!(matches!(d.ng().query(call_id), Ok(CallState::Present)));
    Ok((for_a, for_b))
}

/// RTP from `a` reaches `b` from `for_b` (the relay port `b` sends to), and back.
fn relays_rtp(a: &Peer, b: &Peer, (for_a, for_b): (SocketAddr, SocketAddr), seq: u16) {
    let limit = Duration::from_secs(2);
    a.send(&e2e::peer::rtp(seq, 160, 0xa, b"to-b"), for_a)
        .unwrap();
    let got = b.expect(limit, "RTP from A").unwrap();
    assert_eq!((got.from, &got.data[12..]), (for_b, &b"to-b"[..]));
    b.send(&e2e::peer::rtp(seq, 160, 0xb, b"to-a"), for_b)
        .unwrap();
    let got = a.expect(limit, "RTP from B").unwrap();
    assert_eq!((got.from, &got.data[12..]), (for_a, &b"to-a"[..]));
}

#[test]
fn a_new_interface_relays_through_its_ports_and_a_grown_range_adds_ports() {
    let ports = PortBlock::take().unwrap();
    let ext = *ports.relay_external().start();
    // Two pairs: one call with both legs on `external`.
    let d = media_daemon(&ports, ext, ext + 3);
    let ctl = Ctl::new(&d.admin_socket());
    let (a, b) = (Peer::bind("A").unwrap(), Peer::bind("B").unwrap());
    let first = call_on(&d, "first@grow", (&a, &b), None).unwrap();
    let why = call_on(&d, "second@grow", (&a, &b), None).unwrap_err();
    assert!(why.contains("Ran out of ports"), "{why}");

    // Grow `external` to six pairs and add `internal`.
    let internal = ports.relay_internal();
    edit(
        &d,
        &[(
            &format!("port_max = {}", ext + 3),
            &format!("port_max = {}", ext + 11),
        )],
    );
    append(&d, &interface_entry("internal", internal.clone()));
    let r = ctl.json(&["reload"]);
    let relays = change(&r, "interface.relays")["change"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        relays.contains(&format!("ports {}-{} added", ext + 4, ext + 11)),
        "{r:#}"
    );
    let second = call_on(&d, "second@grow", (&a, &b), None).unwrap();
    for relay in [second.0, second.1] {
        assert!((ext + 4..=ext + 11).contains(&relay.port()), "{second:?}");
    }
    relays_rtp(&a, &b, second, 1);
    relays_rtp(&a, &b, first, 1);

    // An offer toward `internal` gets a relay port of the new range on the callee's side.
    let (c, e) = (Peer::bind("C").unwrap(), Peer::bind("E").unwrap());
    let third = call_on(&d, "third@grow", (&c, &e), Some(("external", "internal"))).unwrap();
    assert!(internal.contains(&third.1.port()), "{third:?}");
    relays_rtp(&c, &e, third, 1);
    let pools = ctl.json(&["params"])["params"]["interface[1]"].clone();
    assert_eq!(
        pools,
        format!(
            "internal 127.0.0.1 ports {}-{}",
            internal.start(),
            internal.end()
        )
    );
    // One pool per interface in the metrics, the grown range counted in its own.
    let text = scrape(ports.metrics()).unwrap();
    let pairs = |iface: &str, state: &str| {
        let series = format!(
            "ferrovox_media_port_pairs{{interface=\"{iface}\",address=\"127.0.0.1\",state=\"{state}\"}} "
        );
        let lines: Vec<&str> = text.lines().filter(|l| l.starts_with(&series)).collect();
        assert_eq!(lines.len(), 1, "{series}: {lines:?}");
        lines[0][series.len()..].to_owned()
    };
    assert_eq!(
        (pairs("external", "used"), pairs("external", "free")),
        ("5".into(), "1".into())
    );
    assert_eq!(
        (pairs("internal", "used"), pairs("internal", "free")),
        ("1".into(), "49".into())
    );
}

#[test]
fn a_removed_interface_keeps_its_calls_and_takes_no_new_ones() {
    let ports = PortBlock::take().unwrap();
    let ext = ports.relay_external();
    let cfg = DaemonConfig::new(ports.ng())
        .interface("external", *ext.start(), *ext.end())
        .interface(
            "internal",
            *ports.relay_internal().start(),
            *ports.relay_internal().end(),
        );
    let d = Daemon::start(&cfg).unwrap();
    let ctl = Ctl::new(&d.admin_socket());
    let (a, b) = (Peer::bind("A").unwrap(), Peer::bind("B").unwrap());
    let dir = Some(("external", "internal"));
    let running = call_on(&d, "running@remove", (&a, &b), dir).unwrap();
    relays_rtp(&a, &b, running, 1);

    // `internal` goes, `external` shrinks to its first ten pairs.
    let text = std::fs::read_to_string(d.config_path()).unwrap();
    let internal = interface_entry("internal", ports.relay_internal());
    assert!(text.contains(&internal), "{text}");
    let shrunk = text.replace(&internal, "").replacen(
        &format!("port_max = {}", ext.end()),
        &format!("port_max = {}", ext.start() + 19),
        1,
    );
    std::fs::write(d.config_path(), shrunk).unwrap();
    let r = ctl.json(&["reload"]);
    let relays = change(&r, "interface.relays")["change"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        relays.contains("\"internal\"") && relays.contains("run to their end"),
        "{r:#}"
    );
    assert!(
        relays.contains(&format!("only ports {}-{}", ext.start(), ext.start() + 19)),
        "{r:#}"
    );

    // The call on `internal` keeps relaying; a new offer toward it is refused.
    relays_rtp(&a, &b, running, 2);
    let (c, e) = (Peer::bind("C").unwrap(), Peer::bind("E").unwrap());
    let why = call_on(&d, "new@remove", (&c, &e), dir).unwrap_err();
    assert!(why.contains("Unknown interface 'internal'"), "{why}");
    let kept = call_on(&d, "kept@remove", (&c, &e), None).unwrap();
    assert!(kept.0.port() <= ext.start() + 19 && kept.1.port() <= ext.start() + 19);
    relays_rtp(&c, &e, kept, 1);

    // The ports `internal` had stay its own until a restart: another name cannot take them.
    append(&d, &interface_entry("other", ports.relay_internal()));
    let r = ctl.json_exit(&["reload"], 4);
    let why = change(&r, "interface[1]")["reason"]
        .as_str()
        .unwrap_or_default();
    assert!(
        why.starts_with("needs a restart: ") && why.contains("belong to interface \"internal\""),
        "{r:#}"
    );
    let why = call_on(&d, "other@remove", (&c, &e), Some(("external", "other"))).unwrap_err();
    assert!(why.contains("Unknown interface 'other'"), "{why}");
    relays_rtp(&a, &b, running, 3);
}

#[test]
fn overlapping_ranges_or_an_address_the_host_lacks_change_nothing() {
    let ports = PortBlock::take().unwrap();
    let ext = ports.relay_external();
    let d = media_daemon(&ports, *ext.start(), *ext.end());
    let ctl = Ctl::new(&d.admin_socket());
    let original = std::fs::read_to_string(d.config_path()).unwrap();
    let timeout = "delete_delay_secs = 0";
    // The same range twice on one address, with a live key that must not apply either.
    let twice = original.replace(timeout, "delete_delay_secs = 0\ntimeout_secs = 7")
        + &interface_entry("other", ext.clone());
    // An address this host does not have (TEST-NET-1: nothing is sent there).
    let absent = original.replace(timeout, "delete_delay_secs = 0\ntimeout_secs = 7")
        + &interface_entry("absent", ports.relay_internal()).replace("127.0.0.1", "192.0.2.77");
    for (text, why) in [(twice, "overlap"), (absent, "not an address of this host")] {
        std::fs::write(d.config_path(), text).unwrap();
        let o = ctl.run(&["reload"]);
        assert_eq!(o.code, 1, "{}{}", o.stdout, o.stderr);
        assert!(
            o.stderr.contains("error 1004:") && o.stderr.contains(why),
            "{}",
            o.stderr
        );
        let p = &ctl.json(&["params"])["params"];
        assert_eq!(
            p["media.timeout_secs"], 60,
            "{why}: a key of the refused file applied"
        );
        assert!(p.get("interface[1]").is_none(), "{why}: {p:#}");
    }
    let (a, b) = (Peer::bind("A").unwrap(), Peer::bind("B").unwrap());
    let call = call_on(&d, "after@refused", (&a, &b), None).unwrap();
    relays_rtp(&a, &b, call, 1);
}

/// The body of `GET /metrics` on 127.0.0.1:`port`, if it answers.
fn scrape(port: u16) -> Option<String> {
    e2e::daemon::scrape(addr(port))
}

#[test]
fn the_admin_socket_and_the_metrics_endpoint_rebind() {
    use std::os::unix::fs::PermissionsExt;
    let ports = PortBlock::take().unwrap();
    let ext = ports.relay_external();
    let d = media_daemon(&ports, *ext.start(), *ext.end());
    let (old_sock, metrics) = (d.admin_socket(), ports.metrics());
    let new_sock = old_sock.with_file_name("moved.sock");
    let moved = ports.base() + 11;
    assert!(scrape(metrics).unwrap().contains("ferrovox_uptime_seconds"));
    edit(
        &d,
        &[
            ("admin.sock\"", "moved.sock\"\nmode = \"0600\""),
            (
                &format!("127.0.0.1:{metrics}\""),
                &format!("127.0.0.1:{moved}\""),
            ),
        ],
    );
    // Asked over the old socket, answered there; then only the new ones serve.
    let r = Ctl::new(&old_sock).json(&["reload"]);
    for key in ["admin.socket", "admin.other", "metrics.listen"] {
        assert_eq!(change(&r, key)["applied"], true, "{key}: {r:#}");
    }
    let ctl = Ctl::new(&new_sock);
    assert_eq!(ctl.json(&["version"])["name"], "ferrovox");
    let mode = std::fs::metadata(&new_sock).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert!(scrape(moved).unwrap().contains("ferrovox_uptime_seconds"));
    let gone = within(Duration::from_secs(5), || {
        !old_sock.exists() && !tcp_accepts(addr(metrics))
    });
    assert!(
        gone,
        "the old admin socket or metrics endpoint still serves"
    );

    // The same path with another mode keeps the socket; a port in use keeps the endpoint.
    let taken = std::net::TcpListener::bind(addr(metrics)).unwrap();
    edit(
        &d,
        &[
            ("mode = \"0600\"", "mode = \"0660\""),
            (
                &format!("127.0.0.1:{moved}\""),
                &format!("127.0.0.1:{metrics}\""),
            ),
        ],
    );
    let r = ctl.json_exit(&["reload"], 4);
    assert_eq!(change(&r, "admin.other")["applied"], true, "{r:#}");
    let why = change(&r, "metrics.listen")["reason"]
        .as_str()
        .unwrap_or_default();
    assert!(
        why.contains("cannot bind") && why.contains("stays"),
        "{r:#}"
    );
    let mode = std::fs::metadata(&new_sock).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o660);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        ctl.json(&["version"])["name"],
        "ferrovox",
        "the socket went with its thread"
    );
    assert!(scrape(moved).is_some(), "the running endpoint was closed");
    assert_eq!(
        ctl.json(&["params"])["params"]["metrics.listen"],
        format!("127.0.0.1:{moved}")
    );
    drop(taken);

    // Turned off, the endpoint closes.
    edit(&d, &[("[metrics]\n", "[metrics]\nenabled = false\n")]);
    let r = ctl.json(&["reload"]);
    assert_eq!(change(&r, "metrics.other")["applied"], true, "{r:#}");
    let closed = within(Duration::from_secs(4), || !tcp_accepts(addr(moved)));
    assert!(closed, "the metrics endpoint still accepts");
}

/// A SIP request's header lines named `name` (or its compact form `short`), as written.
fn headers<'a>(msg: &'a str, name: &str, short: &str) -> Vec<&'a str> {
    let head = msg.split("\r\n\r\n").next().unwrap_or_default();
    head.lines()
        .filter(|l| {
            let n = l.split(':').next().unwrap_or_default().trim();
            n.eq_ignore_ascii_case(name) || n.eq_ignore_ascii_case(short)
        })
        .collect()
}

#[test]
fn a_set_anchors_its_calls_on_an_interface_the_reload_added() {
    let ports = PortBlock::take().unwrap();
    let ext = ports.relay_external();
    let sip = format!(
        "[sip]\nlisten = [\"127.0.0.1:{}\"]\ntransports = [\"udp\"]\n\n[[set]]\nname = \"pool\"\n\
         [set.media]\nanchor = false\n[[set.member]]\nuri = \"sip:127.0.0.1:{}\"\n",
        ports.proxy_sip(),
        ports.uas_sip()
    );
    let cfg = DaemonConfig::new(ports.ng())
        .interface("external", *ext.start(), *ext.end())
        .raw(&sip);
    let d = Daemon::start(&cfg).unwrap();
    let internal = ports.relay_internal();
    edit(
        &d,
        &[(
            "anchor = false",
            "caller_interface = \"external\"\nmember_interface = \"internal\"",
        )],
    );
    append(&d, &interface_entry("internal", internal.clone()));
    let r = Ctl::new(&d.admin_socket()).json(&["reload"]);
    assert_eq!(change(&r, "set[pool]")["applied"], true, "{r:#}");

    // The member gets the INVITE with the relay's port on the new interface in its SDP.
    let member = UdpSocket::bind(addr(ports.uas_sip())).unwrap();
    member
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let caller = UdpSocket::bind((LOOPBACK, 0)).unwrap();
    let from = caller.local_addr().unwrap();
    let sdp = e2e::peer::audio_sdp(from.port() + 2, 1);
    let invite = format!(
        "INVITE sip:pool@127.0.0.1:{proxy} SIP/2.0\r\nVia: SIP/2.0/UDP {from};branch=z9hG4bKif1\r\n\
         Max-Forwards: 70\r\nFrom: <sip:a@127.0.0.1>;tag=a1\r\nTo: <sip:pool@127.0.0.1>\r\n\
         Call-ID: new-interface@reload\r\nCSeq: 1 INVITE\r\nContact: <sip:a@{from}>\r\n\
         Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        sdp.len(),
        proxy = ports.proxy_sip()
    );
    caller
        .send_to(invite.as_bytes(), addr(ports.proxy_sip()))
        .unwrap();
    let mut buf = [0u8; 8192];
    let n = member.recv(&mut buf).unwrap();
    let got = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(got.starts_with("INVITE "), "{got}");
    let port: u16 = got
        .lines()
        .find_map(|l| l.strip_prefix("m=audio "))
        .and_then(|l| l.split(' ').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no m=audio: {got}"));
    assert!(
        internal.contains(&port),
        "port {port} not in {internal:?}: {got}"
    );

    // The member refuses; the caller hears it and the relay lets the ports go.
    let mut busy = String::from("SIP/2.0 486 Busy Here\r\n");
    for h in [
        ("Via", "v"),
        ("From", "f"),
        ("Call-ID", "i"),
        ("CSeq", "CSeq"),
    ] {
        for line in headers(&got, h.0, h.1) {
            busy.push_str(line);
            busy.push_str("\r\n");
        }
    }
    let to = headers(&got, "To", "t")[0];
    busy.push_str(&format!("{to};tag=m1\r\nContent-Length: 0\r\n\r\n"));
    member
        .send_to(busy.as_bytes(), addr(ports.proxy_sip()))
        .unwrap();
    caller
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let answered = within(Duration::from_secs(3), || {
        let n = caller.recv(&mut buf).unwrap_or(0);
        buf[..n].starts_with(b"SIP/2.0 486")
    });
    assert!(answered, "the caller did not get the 486");
}
