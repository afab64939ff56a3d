//! Reload against the real daemon on 127.0.0.1: every key a reload applies live takes effect
//! (`sip.listen` rebound over UDP and TCP, the old port closed; the no-RTP timeout ends a call
//! set up before the reload; the session cap, latching, the ng rate limit; the log level both
//! ways and the log format; SIP timers), every restart-only key (ng and metrics listeners,
//! worker settings, interface port ranges, a new interface) is refused with its reason in the
//! `ferrovoxctl reload` reply and the log while the rest is applied, a `sip.listen` that
//! cannot be bound keeps the old sockets, a broken file changes nothing, and the SIP sections
//! cannot turn on a proxy that was off at start. (`edge_tls` moves `sip.tls_listen`.)

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
    // rate limit, the log level (down to info). Restart only: the ng and metrics listeners,
    // the worker burst, an interface's port range, a new interface.
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
    ] {
        assert_eq!(change(&r, key)["applied"], true, "{key}: {r:#}");
    }
    for key in [
        "ng.listen",
        "metrics.listen",
        "dataplane.other",
        "interface[0]",
        "interface[1]",
    ] {
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
    // The restart-only listeners stay where they were.
    d.ng().ping().unwrap();
    assert!(tcp_accepts(addr(ports.metrics())));
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
