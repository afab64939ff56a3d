//! The admin socket and `ferrovoxctl` against the real daemon on 127.0.0.1: every method with
//! its error cases through the CLI (exit codes 0, 1, 2, 3), abuse of the socket (not JSON,
//! unknown methods, wrong types, a 10 MB line, 1,000 connections, a client that never reads,
//! one that sends slowly) while the SIP proxy keeps answering OPTIONS, and a member drained
//! through the CLI under sipp load: it takes no new call while its calls in progress complete.

#![allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a test failure.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, UdpSocket};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use e2e::ctl::Ctl;
use e2e::daemon::{Daemon, DaemonConfig};
use e2e::need::{self, Need};
use e2e::ports::{PortBlock, LOOPBACK};
use e2e::sipp_pool::{MemberSpec, Pool, Uac, UacSpec};
use e2e::tools::{self, SIPP};
use serde_json::{json, Value};

const TEST: &str = "admin";
/// How long any one SIP or admin answer may take.
const ANSWER: Duration = Duration::from_secs(3);

fn sipp() -> PathBuf {
    tools::find(SIPP).unwrap_or_else(|e| panic!("{e}"))
}

/// Member `i`'s SIP port in the block (4, then 8, 10...).
fn member_port(ports: &PortBlock, i: usize) -> u16 {
    match i {
        0 => ports.uas_sip(),
        n => ports.base() + 6 + 2 * n as u16,
    }
}

/// A daemon with one set `pool` (round robin, not anchored, probed every second) of `n`
/// members on the block's member ports, `admin` added to `[admin]` (the socket is the
/// harness's, in the daemon's directory).
fn daemon(ports: &PortBlock, n: usize, admin: &str) -> Daemon {
    let mut toml = format!(
        "[sip]\nlisten = [\"127.0.0.1:{}\"]\ntransports = [\"udp\"]\nfr_timeout_ms = 1000\n\n\
         [[set]]\nname = \"pool\"\nalgorithm = \"round_robin\"\n\
         [set.media]\nanchor = false\n[set.health]\ninterval_secs = 1\ntimeout_ms = 500\n",
        ports.proxy_sip()
    );
    for i in 0..n {
        toml.push_str(&format!(
            "\n[[set.member]]\nuri = \"sip:127.0.0.1:{}\"\n",
            member_port(ports, i)
        ));
    }
    let relay = ports.relay_external();
    let mut cfg = DaemonConfig::new(ports.ng())
        .interface("external", *relay.start(), *relay.end())
        .raw(&toml);
    if !admin.is_empty() {
        // The harness adds its own [admin] only when the config has none.
        cfg = cfg.raw(&format!("[admin]\n{admin}\n"));
    }
    Daemon::start(&cfg).unwrap()
}

/// `n` answering sipp members on the block's member ports.
fn pool(ports: &PortBlock, dir: &Path, n: usize) -> Pool {
    let specs: Vec<MemberSpec> = (0..n)
        .map(|i| {
            let mut s = MemberSpec::answering(member_port(ports, i));
            s.media_port = Some(*ports.uas_media().start() + 10 * i as u16);
            s
        })
        .collect();
    Pool::start(&sipp(), dir, &specs).unwrap()
}

fn wait_until<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let end = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= end {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

static SEQ: AtomicU32 = AtomicU32::new(1);

/// OPTIONS to the proxy itself over UDP, answered 200 within [`ANSWER`].
fn options_ok(proxy: SocketAddr) -> Result<Duration, String> {
    let s = UdpSocket::bind((LOOPBACK, 0)).map_err(|e| e.to_string())?;
    let from = s.local_addr().map_err(|e| e.to_string())?;
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    let msg = format!(
        "OPTIONS sip:{proxy} SIP/2.0\r\nVia: SIP/2.0/UDP {from};branch=z9hG4bKadm{n}\r\n\
         Max-Forwards: 70\r\nFrom: <sip:probe@127.0.0.1>;tag=a{n}\r\nTo: <sip:{proxy}>\r\n\
         Call-ID: admin-{n}@127.0.0.1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    );
    let sent = Instant::now();
    s.set_read_timeout(Some(ANSWER))
        .map_err(|e| e.to_string())?;
    s.send_to(msg.as_bytes(), proxy)
        .map_err(|e| e.to_string())?;
    let mut buf = [0u8; 4096];
    loop {
        let n = s.recv(&mut buf).map_err(|e| format!("no answer: {e}"))?;
        let head = String::from_utf8_lossy(buf.get(..n).unwrap_or_default()).into_owned();
        match head.get(8..11).and_then(|c| c.parse::<u16>().ok()) {
            Some(200) => return Ok(sent.elapsed()),
            Some(c) if c >= 200 => return Err(format!("answered {c}")),
            _ => {}
        }
    }
}

#[test]
fn every_method_through_ferrovoxctl_with_its_error_cases() {
    if !need::met(TEST, &[Need::Sipp]) {
        return;
    }
    let ports = PortBlock::take().unwrap();
    let dir = tempfile::Builder::new()
        .prefix("admin-ctl.")
        .tempdir()
        .unwrap();
    let _pool = pool(&ports, dir.path(), 2);
    let mut d = daemon(&ports, 2, "");
    let ctl = Ctl::new(&d.admin_socket());
    let m0 = format!("sip:127.0.0.1:{}", member_port(&ports, 0));

    let v = ctl.json(&["version"]);
    assert_eq!(
        (v["name"].as_str(), v["protocol"].as_u64()),
        (Some("ferrovox"), Some(1))
    );
    assert!(ctl.text(&["version"]).starts_with("ferrovox "));
    assert!(ctl.json(&["uptime"])["seconds"].as_f64().unwrap() > 0.0);
    assert!(ctl.text(&["uptime"]).starts_with("up "));

    // Both members answer probes: listed with a round-trip time, and healthy.
    let members = wait_until(Duration::from_secs(5), || {
        let list = ctl.json(&["members", "list"]);
        let all = list.as_array().unwrap().clone();
        all.iter()
            .all(|m| m["probe_rtt_ms"].is_number())
            .then_some(all)
    })
    .expect("both members probed");
    assert_eq!(members.len(), 2);
    assert_eq!(members[0]["uri"], m0);
    assert_eq!(members[0]["state"], "active");
    assert_eq!(members[0]["set"], "pool");
    let h = ctl.json(&["health"]);
    assert_eq!(
        (h["status"].as_str(), h["sip"].as_str()),
        (Some("ok"), Some("running"))
    );
    assert_eq!(h["members"]["active"], 2);
    let table = ctl.text(&["members", "list"]);
    assert!(table.lines().next().unwrap().starts_with("ID"), "{table}");
    assert_eq!(table.lines().count(), 3, "{table}");

    // set-state by URI (looked up), by URI with --set, by id; then the errors.
    let m = ctl.json(&["members", "set-state", &m0, "draining"]);
    assert_eq!(
        (m["state"].as_str(), m["admin"].as_str()),
        (Some("draining"), Some("draining"))
    );
    assert_eq!(m["last_change"]["to"], "draining");
    assert_eq!(m["last_change"]["reason"], "admin");
    let m = ctl.json(&["members", "set-state", &m0, "disabled", "--set", "pool"]);
    assert_eq!(m["state"], "disabled");
    let id0 = members[0]["id"].to_string();
    assert_eq!(
        ctl.json(&["members", "set-state", &id0, "active"])["state"],
        "active"
    );
    ctl.refused(&["members", "set-state", "9999", "draining"], 1001);
    ctl.refused(
        &["members", "set-state", &m0, "draining", "--set", "nope"],
        1001,
    );
    ctl.refused(
        &["members", "set-state", "sip:127.0.0.1:1", "draining"],
        1001,
    );
    assert_eq!(ctl.run(&["members", "set-state", &m0, "sideways"]).code, 2);
    assert_eq!(
        ctl.run(&["members", "set-state", "3", "active", "--set", "pool"])
            .code,
        2
    );

    // add: a new member, listed as the admin's; twice, by host name, bad values: refused.
    let added_uri = format!("sip:127.0.0.1:{}", member_port(&ports, 5));
    let a = ctl.json(&[
        "members",
        "add",
        &added_uri,
        "--set",
        "pool",
        "--weight",
        "3",
        "--max-calls",
        "7",
    ]);
    assert_eq!(
        (a["origin"].as_str(), a["weight"].as_u64()),
        (Some("admin"), Some(3))
    );
    assert_eq!(a["max_calls"], 7);
    ctl.refused(&["members", "add", &added_uri, "--set", "pool"], 1002);
    ctl.refused(
        &["members", "add", "sip:fs1.example.net", "--set", "pool"],
        -32602,
    );
    ctl.refused(&["members", "add", "not a uri", "--set", "pool"], -32602);
    ctl.refused(&["members", "add", &added_uri, "--set", "nope"], 1001);
    ctl.refused(
        &[
            "members",
            "add",
            "sip:127.0.0.1:9",
            "--set",
            "pool",
            "--weight",
            "0",
        ],
        -32602,
    );
    assert_eq!(
        ctl.run(&["members", "add", &added_uri]).code,
        2,
        "--set is required"
    );

    // Paging: one member per request still lists all three, in id order.
    let paged = ctl.json(&["members", "list", "--page-size", "1"]);
    let ids: Vec<u64> = paged
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids.len(), 3);
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    assert_eq!(
        ctl.json(&["members", "list", "--set", "pool"])
            .as_array()
            .unwrap()
            .len(),
        3
    );
    ctl.refused(&["members", "list", "--set", "nope"], 1001);

    // remove: by URI, then again (gone).
    let r = ctl.json(&["members", "remove", &added_uri]);
    assert_eq!(
        (r["uri"].as_str(), r["active_calls"].as_u64()),
        (Some(added_uri.as_str()), Some(0))
    );
    ctl.refused(&["members", "remove", &a["id"].to_string()], 1001);
    ctl.refused(&["members", "remove", &added_uri, "--set", "pool"], 1001);

    params_and_reload(&ctl, &mut d);

    // Cannot connect: exit 3; usage: exit 2; completions for three shells.
    let gone = Ctl::new(&dir.path().join("no-such.sock"));
    let o = gone.run(&["version"]);
    assert_eq!(o.code, 3, "{}", o.stderr);
    assert!(o.stderr.contains("cannot connect"), "{}", o.stderr);
    assert_eq!(ctl.run(&["members"]).code, 2);
    assert_eq!(ctl.run(&["frobnicate"]).code, 2);
    for shell in ["bash", "zsh", "fish"] {
        assert!(
            ctl.text(&["completions", shell]).contains("ferrovoxctl"),
            "{shell}"
        );
    }
}

/// `params` shows the running settings; `reload` reports what changed and refuses a broken
/// file (the running configuration stays).
fn params_and_reload(ctl: &Ctl, d: &mut Daemon) {
    let p = ctl.json(&["params"]);
    assert_eq!(p["params"]["sip.fr_timeout_ms"], 1000);
    assert_eq!(p["params"]["general.log_level"], "debug");
    assert!(ctl.text(&["params"]).contains("sip.t1_ms"));
    let file = d.config_path();
    let original = std::fs::read_to_string(&file).unwrap();
    assert_eq!(ctl.json(&["reload"])["changes"], json!([]));
    let changed = original
        .replace("fr_timeout_ms = 1000", "fr_timeout_ms = 1500")
        .replace("log_level = \"debug\"", "log_level = \"info\"");
    std::fs::write(&file, &changed).unwrap();
    let r = ctl.json(&["reload"]);
    let change = |key: &str| {
        r["changes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["key"] == key)
            .cloned()
            .unwrap_or_else(|| panic!("no change of {key}: {r}"))
    };
    assert_eq!(change("sip.fr_timeout_ms")["change"], "1000 -> 1500");
    assert_eq!(change("sip.fr_timeout_ms")["applied"], true);
    assert_eq!(change("general.log_level")["applied"], true);
    assert_eq!(ctl.json(&["params"])["params"]["sip.fr_timeout_ms"], 1500);
    std::fs::write(&file, changed.replace("[[set]]", "[[set]]\nbogus_key = 1")).unwrap();
    ctl.refused(&["reload"], 1004);
    assert_eq!(ctl.json(&["params"])["params"]["sip.fr_timeout_ms"], 1500);
    std::fs::write(&file, &original).unwrap();
    assert!(ctl.text(&["reload"]).contains("sip.fr_timeout_ms"));
}

/// One raw request line on `c`; the reply.
fn raw(c: &mut BufReader<UnixStream>, line: &[u8]) -> Value {
    c.get_mut().write_all(line).unwrap();
    c.get_mut().write_all(b"\n").unwrap();
    let mut reply = String::new();
    c.read_line(&mut reply).unwrap();
    serde_json::from_str(&reply).unwrap_or_else(|e| panic!("{e}: {reply:?}"))
}

fn connect(socket: &Path) -> BufReader<UnixStream> {
    let s = UnixStream::connect(socket).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    BufReader::new(s)
}

/// Bad requests on one connection: each gets its error, and the connection goes on.
fn bad_requests(socket: &Path) {
    let mut c = connect(socket);
    assert_eq!(raw(&mut c, b"this is not json")["error"]["code"], -32700);
    assert_eq!(raw(&mut c, b"[1,2,3]")["error"]["code"], -32600);
    assert_eq!(
        raw(&mut c, br#"{"method":"version"}"#)["error"]["code"],
        -32600
    );
    let r = raw(&mut c, br#"{"id":4,"method":"members.frob"}"#);
    assert_eq!(
        (r["id"].as_u64(), r["error"]["code"].as_i64()),
        (Some(4), Some(-32601))
    );
    let r = raw(
        &mut c,
        br#"{"id":5,"method":"members.list","params":{"limit":"ten"}}"#,
    );
    assert_eq!(r["error"]["code"], -32602);
    let r = raw(
        &mut c,
        br#"{"id":6,"method":"members.set_state","params":{"id":1}}"#,
    );
    assert_eq!(r["error"]["code"], -32602);
    let r = raw(&mut c, br#"{"id":7,"method":"version","params":{"x":1}}"#);
    assert_eq!(r["error"]["code"], -32602);
    let r = raw(&mut c, br#"{"id":"last","method":"version"}"#);
    assert_eq!(
        (r["id"].as_str(), r["result"]["name"].as_str()),
        (Some("last"), Some("ferrovox"))
    );
}

/// A 10 MB line: an error reply, then the connection is closed without the rest being read.
fn huge_line(socket: &Path) {
    let s = UnixStream::connect(socket).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut w = s.try_clone().unwrap();
    w.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
    let writer = std::thread::spawn(move || {
        let chunk = vec![b'x'; 64 * 1024];
        let mut sent = 0usize;
        while sent < 10 << 20 {
            match w.write(&chunk) {
                Ok(n) => sent += n,
                Err(_) => break,
            }
        }
        sent
    });
    let mut reply = String::new();
    let mut r = BufReader::new(s);
    r.read_line(&mut reply).unwrap();
    let v: Value = serde_json::from_str(&reply).unwrap();
    assert_eq!(v["error"]["code"], -32600, "{reply}");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("longer than"));
    let mut rest = Vec::new();
    let eof = r.read_to_end(&mut rest);
    assert!(
        matches!(eof, Ok(0)) || eof.is_err(),
        "closed after the error"
    );
    let sent = writer.join().unwrap();
    assert!(
        sent < 10 << 20,
        "the daemon read all {sent} bytes of an over-long line"
    );
}

/// 1,000 connections at once: `max_connections` are served, every other one gets the
/// refusal line and is closed; once they are gone, a new client is served.
fn a_thousand_connections(socket: &Path, max: usize) {
    raise_descriptor_limit(1200);
    let conns: Vec<UnixStream> = (0..1000)
        .map(|_| UnixStream::connect(socket).unwrap())
        .collect();
    let mut refused = 0;
    for c in &conns {
        c.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let mut line = String::new();
        if BufReader::new(c).read_line(&mut line).is_ok_and(|n| n > 0) {
            let v: Value = serde_json::from_str(&line).unwrap();
            assert_eq!(v["error"]["code"], 1005, "{line}");
            refused += 1;
        }
    }
    // The first `max` are served; a slot freed by an idle timeout during the loop may serve
    // a few more on a slow machine, never fewer.
    let served = 1000 - refused;
    eprintln!("1,000 connections: {served} served, {refused} refused");
    assert!(
        (max..=3 * max).contains(&served),
        "{served} served, {refused} refused"
    );
    drop(conns);
    let v = wait_until(Duration::from_secs(5), || {
        let mut c = UnixStream::connect(socket).ok().map(BufReader::new)?;
        c.get_mut()
            .set_read_timeout(Some(Duration::from_secs(2)))
            .ok()?;
        let v = raw(&mut c, br#"{"id":1,"method":"version"}"#);
        v.get("result").cloned()
    });
    assert!(v.is_some(), "served again once the 1,000 are gone");
}

/// Raises this process's descriptor limit to `want` (within the hard limit).
fn raise_descriptor_limit(want: u64) {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut l = getrlimit(Resource::Nofile);
    if l.current.is_some_and(|c| c < want) {
        l.current = Some(l.maximum.map_or(want, |m| m.min(want)));
        setrlimit(Resource::Nofile, l).unwrap();
    }
}

/// A client that sends requests and never reads its replies is closed after the write
/// timeout; one that sends half a line is closed after the idle timeout; others are served
/// all along.
fn stuck_clients(socket: &Path) {
    let s = UnixStream::connect(socket).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut w = s.try_clone().unwrap();
    let flood = std::thread::spawn(move || {
        let line = b"{\"id\":1,\"method\":\"params.get\"}\n".repeat(64);
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(20) {
            if w.write_all(&line).is_err() {
                return Some(start.elapsed());
            }
        }
        None
    });
    let slow = UnixStream::connect(socket).unwrap();
    (&slow).write_all(b"{\"id\":1,\"meth").unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut c = connect(socket);
    for _ in 0..5 {
        let asked = Instant::now();
        assert!(raw(&mut c, br#"{"id":2,"method":"uptime"}"#)["result"].is_object());
        assert!(asked.elapsed() < ANSWER);
        std::thread::sleep(Duration::from_millis(300));
    }
    let closed = flood.join().unwrap();
    eprintln!("a client that never reads: closed after {closed:?}");
    assert!(
        closed.is_some(),
        "a client that never reads was never closed"
    );
    let mut buf = [0u8; 16];
    let started = Instant::now();
    let n = (&slow).read(&mut buf);
    assert!(
        matches!(n, Ok(0)) || n.is_err(),
        "the slow client is closed"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    drop(s);
}

#[test]
fn abuse_of_the_socket_gets_errors_or_closes_while_sip_keeps_answering() {
    // No sipp needed: the set's member is never there (OPTIONS go to the proxy itself).
    let ports = PortBlock::take().unwrap();
    let sockets = tempfile::Builder::new()
        .prefix("admin-abuse.")
        .tempdir()
        .unwrap();
    let socket = sockets.path().join("admin.sock");
    let limits = "max_connections = 8\nidle_timeout_secs = 2\nwrite_timeout_secs = 1";
    let admin = format!("socket = \"{}\"\n{limits}", socket.display());
    let mut d = daemon(&ports, 1, &admin);
    let proxy = SocketAddr::from((LOOPBACK, ports.proxy_sip()));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sip = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut worst = Duration::ZERO;
            let mut answered = 0;
            while !stop.load(Ordering::Relaxed) {
                let t = options_ok(proxy).unwrap_or_else(|e| panic!("OPTIONS: {e}"));
                worst = worst.max(t);
                answered += 1;
                std::thread::sleep(Duration::from_millis(50));
            }
            (answered, worst)
        })
    };
    bad_requests(&socket);
    huge_line(&socket);
    stuck_clients(&socket);
    a_thousand_connections(&socket, 8);
    stop.store(true, Ordering::Relaxed);
    let (answered, worst) = sip.join().unwrap();
    eprintln!("OPTIONS during the abuse: {answered} answered, slowest {worst:?}");
    assert!(answered > 20, "{answered} OPTIONS answered");
    assert!(
        worst < Duration::from_secs(1),
        "slowest OPTIONS answer {worst:?}"
    );
    let ctl = Ctl::new(&socket);
    assert_eq!(ctl.json(&["health"])["sip"], "running");
    let (status, _) = d.terminate(Duration::from_secs(5)).unwrap();
    assert!(status.success(), "{status}");
    assert!(
        !socket.exists(),
        "the socket file is removed when the daemon stops"
    );
}

#[test]
fn a_member_drained_under_load_takes_no_new_calls_while_its_calls_complete() {
    if !need::met(TEST, &[Need::Sipp]) {
        return;
    }
    let ports = PortBlock::take().unwrap();
    let dir = tempfile::Builder::new()
        .prefix("admin-drain.")
        .tempdir()
        .unwrap();
    let pool = pool(&ports, dir.path(), 2);
    let d = daemon(&ports, 2, "");
    let ctl = Ctl::new(&d.admin_socket());
    let m0 = format!("sip:127.0.0.1:{}", member_port(&ports, 0));
    // 20 calls/s held 2 s: about 20 calls in progress on each member at any time.
    let mut spec = UacSpec::new(
        SocketAddr::from((LOOPBACK, ports.proxy_sip())),
        ports.uac_sip(),
        120,
    );
    spec.media_port = Some(*ports.uac_media().start());
    spec.rate = 20;
    spec.hold = Duration::from_secs(2);
    let mut uac = Uac::start(&sipp(), &dir.path().join("uac"), &spec).unwrap();
    std::thread::sleep(Duration::from_secs(2));
    let m = ctl.json(&["members", "set-state", &m0, "draining"]);
    assert_eq!(m["state"], "draining");
    let in_progress = m["active_calls"].as_u64().unwrap();
    assert!(
        in_progress > 0,
        "calls in progress on the drained member: {m}"
    );
    // Removing it now is refused: it has calls.
    ctl.refused(&["members", "remove", &m0], 1002);
    std::thread::sleep(Duration::from_millis(300));
    let at_drain = pool.calls().unwrap().invites_per_member();
    let report = uac.wait(Duration::from_secs(60)).unwrap();
    assert!(
        report.all_succeeded(),
        "{}\n{}",
        report.summary(),
        d.log_tail(30)
    );
    let calls = pool.calls().unwrap();
    let after = calls.invites_per_member();
    eprintln!("drained with {in_progress} calls in progress; INVITEs per member at drain {at_drain:?}, at the end {after:?}");
    assert_eq!(
        after[0], at_drain[0],
        "the drained member took new calls: {at_drain:?} -> {after:?}"
    );
    assert!(after[1] > at_drain[1]);
    assert_eq!(after[0] + after[1], 120);
    // Every call it had completed: each INVITE it took got its BYE there.
    assert_eq!(calls.byes_per_member()[0], after[0]);
    assert!(calls.misrouted_byes().is_empty());
    let idle = wait_until(Duration::from_secs(5), || {
        let list = ctl.json(&["members", "list"]);
        let m = list
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["uri"] == m0)
            .cloned()?;
        (m["active_calls"] == 0).then_some(m)
    });
    let idle = idle.expect("the drained member's calls end");
    assert_eq!(idle["state"], "draining");
    assert_eq!(ctl.json(&["members", "remove", &m0])["active_calls"], 0);
}
