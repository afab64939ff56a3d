//! The admin socket's calls, workers and run-time params through `ferrovoxctl`, against the
//! real daemon anchoring sipp calls on 127.0.0.1: every call listed across several pages and
//! shown with its parties, member, relay ports, worker and packet counts; one call terminated
//! by Call-ID and the rest by member, each side of each call receiving the proxy's BYE with
//! its Reason (the sipp scenarios fail without it); each error case with its exit status and
//! code; `params set/diff/revert` taking effect (0 sessions drains: an INVITE gets 503; the
//! log level turns to debug); and `ferrovoxctl top` in tmux showing the member and a
//! non-zero calls/s while calls are made.

#![allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a test failure.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, UdpSocket};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use e2e::ctl::Ctl;
use e2e::daemon::{Daemon, DaemonConfig};
use e2e::need::{self, Need};
use e2e::ports::{port_is_free, PortBlock, LOOPBACK};
use e2e::process::{wait_for, Process};
use e2e::relay::anchored_sip_config;
use e2e::tools::{self, SIPP, TMUX};
use serde_json::{json, Value};

const TEST: &str = "admin_calls";

/// A daemon anchoring calls to one sipp member, the member, and the caller.
struct Bed {
    ports: PortBlock,
    dir: tempfile::TempDir,
    daemon: Daemon,
    uas: Process,
    uac: Option<Process>,
}

impl Bed {
    /// The daemon and an answering member that streams its tone and waits for the proxy's
    /// BYE, for `calls` calls.
    fn start(prefix: &str, calls: u32) -> Bed {
        let ports = PortBlock::take().unwrap();
        let dir = tempfile::Builder::new().prefix(prefix).tempdir().unwrap();
        let (ext, int) = (ports.relay_external(), ports.relay_internal());
        let cfg = DaemonConfig::new(ports.ng())
            .interface("external", *ext.start(), *ext.end())
            .interface("internal", *int.start(), *int.end())
            .raw(&anchored_sip_config(&ports));
        let daemon = Daemon::start(&cfg).unwrap();
        let uas_dir = side_dir(dir.path(), "uas");
        let mut cmd = sipp_cmd(&uas_dir, include_str!("../sipp/uas_admin_bye.xml"), "uas");
        cmd.args(["-p", &ports.uas_sip().to_string()])
            .args(["-mp", &ports.uas_media().start().to_string()])
            .args(["-m", &calls.to_string(), "-aa"]);
        let mut uas = Process::spawn("sipp uas", cmd, &uas_dir.join("uas.out")).unwrap();
        let port = ports.uas_sip();
        wait_for("sipp uas to listen", Duration::from_secs(5), || {
            uas.ensure_running()?;
            Ok((!port_is_free(port)).then_some(()))
        })
        .unwrap();
        Bed {
            ports,
            dir,
            daemon,
            uas,
            uac: None,
        }
    }

    /// Starts the caller: `calls` calls at `rate` per second, each held until the proxy's BYE.
    fn call(&mut self, calls: u32, rate: u32) {
        let uac_dir = side_dir(self.dir.path(), "uac");
        let mut cmd = sipp_cmd(&uac_dir, include_str!("../sipp/uac_admin_bye.xml"), "uac");
        let proxy = SocketAddr::from((LOOPBACK, self.ports.proxy_sip()));
        cmd.args(["-p", &self.ports.uac_sip().to_string()])
            .args(["-mp", &self.ports.uac_media().start().to_string()])
            .args(["-m", &calls.to_string(), "-l", &calls.to_string()])
            .args(["-r", &rate.to_string(), "-rp", "1000", "-s", "service"])
            .arg(proxy.to_string());
        let uac = Process::spawn("sipp uac", cmd, &uac_dir.join("uac.out")).unwrap();
        self.uac = Some(uac);
    }

    fn ctl(&self) -> Ctl {
        Ctl::new(&self.daemon.admin_socket())
    }

    /// Waits for both sipp sides to exit 0: every call answered and ended by a BYE with the
    /// admin's Reason on both sides.
    fn finish(&mut self) {
        for (p, name) in [(self.uac.as_mut().unwrap(), "uac"), (&mut self.uas, "uas")] {
            let status = p.wait_timeout(Duration::from_secs(20)).unwrap();
            let errors = self
                .dir
                .path()
                .join(name)
                .join(format!("{name}_errors.log"));
            assert!(
                status.success(),
                "sipp {name}: {status}\n{}\n{}",
                e2e::process::tail(p.log(), 30),
                e2e::process::tail(&errors, 20)
            );
        }
    }

    /// The SIP messages side `name` logged.
    fn messages(&self, name: &str) -> String {
        let f = self
            .dir
            .path()
            .join(name)
            .join(format!("{name}_messages.log"));
        std::fs::read_to_string(f).unwrap_or_default()
    }
}

/// A side's working directory with its tone.
fn side_dir(dir: &Path, name: &str) -> PathBuf {
    let d = dir.join(name);
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("tone.pcmu"), e2e::rtp::ulaw_tone(440.0, 8000.0)).unwrap();
    d
}

/// sipp in `dir` with scenario `xml`, logging messages and errors there.
fn sipp_cmd(dir: &Path, xml: &str, name: &str) -> Command {
    let sf = dir.join(format!("{name}.xml"));
    std::fs::write(&sf, xml).unwrap();
    let mut cmd = Command::new(tools::find(SIPP).unwrap_or_else(|e| panic!("{e}")));
    cmd.current_dir(dir)
        .arg("-sf")
        .arg(&sf)
        .args(["-i", "127.0.0.1", "-mi", "127.0.0.1", "-nostdin"])
        .args([
            "-timeout",
            "90s",
            "-timeout_error",
            "-trace_err",
            "-trace_msg",
        ])
        .args(["-error_file", &format!("{name}_errors.log")])
        .args(["-message_file", &format!("{name}_messages.log")]);
    cmd
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
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Every call, listed by `ctl` in pages of `page`, once every one of `n` is answered.
fn confirmed_calls(ctl: &Ctl, n: usize, page: &str) -> Vec<Value> {
    wait_until(Duration::from_secs(15), || {
        let list = ctl.json(&["calls", "list", "--page-size", page]);
        let all = list.as_array().unwrap().clone();
        (all.len() == n && all.iter().all(|c| c["state"] == "confirmed")).then_some(all)
    })
    .unwrap_or_else(|| panic!("{n} answered calls: {}", ctl.text(&["calls", "list"])))
}

/// One request on the admin socket, raw.
fn raw(socket: &Path, method: &str, params: Value) -> Value {
    let mut s = UnixStream::connect(socket).unwrap();
    let line = json!({"id": 1, "method": method, "params": params}).to_string() + "\n";
    s.write_all(line.as_bytes()).unwrap();
    let mut reply = String::new();
    BufReader::new(s).read_line(&mut reply).unwrap();
    serde_json::from_str(&reply).unwrap()
}

/// An INVITE with SDP to the proxy; the final status it gets.
fn invite_status(proxy: SocketAddr, n: u32) -> u16 {
    let s = UdpSocket::bind((LOOPBACK, 0)).unwrap();
    let from = s.local_addr().unwrap();
    let sdp = format!(
        "v=0\r\no=t 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=audio {} RTP/AVP 0\r\n",
        from.port() + 2
    );
    let msg = format!(
        "INVITE sip:service@{proxy} SIP/2.0\r\nVia: SIP/2.0/UDP {from};branch=z9hG4bKdrain{n}\r\n\
         Max-Forwards: 70\r\nFrom: <sip:t@127.0.0.1>;tag=drain{n}\r\nTo: <sip:service@{proxy}>\r\n\
         Call-ID: drain-check-{n}@127.0.0.1\r\nCSeq: 1 INVITE\r\nContact: <sip:t@{from}>\r\n\
         Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    );
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    s.send_to(msg.as_bytes(), proxy).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        let n = s.recv(&mut buf).expect("an answer to the INVITE");
        let code = String::from_utf8_lossy(&buf[..n])
            .get(8..11)
            .and_then(|c| c.parse::<u16>().ok())
            .unwrap();
        if code >= 200 {
            return code;
        }
    }
}

#[test]
fn calls_listed_in_pages_shown_and_terminated_through_ferrovoxctl() {
    if !need::met(TEST, &[Need::Sipp]) {
        return;
    }
    const CALLS: u32 = 5;
    let mut bed = Bed::start("admin-calls.", CALLS);
    bed.call(CALLS, 10);
    let ctl = bed.ctl();
    let socket = bed.daemon.admin_socket();

    // More calls than one page: ferrovoxctl follows the cursor; the raw pages hold each once.
    let calls = confirmed_calls(&ctl, CALLS as usize, "2");
    let first = raw(&socket, "calls.list", json!({"limit": 2}));
    let cursor = first["result"]["next_cursor"].as_str().unwrap().to_owned();
    assert_eq!(first["result"]["items"].as_array().unwrap().len(), 2);
    let second = raw(&socket, "calls.list", json!({"limit": 4, "cursor": cursor}));
    assert!(second["result"]["next_cursor"].is_null(), "{second}");
    let ids: BTreeSet<&str> = [&first, &second]
        .iter()
        .flat_map(|p| p["result"]["items"].as_array().unwrap())
        .map(|c| c["call_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), CALLS as usize);
    let uas = format!("sip:127.0.0.1:{}", bed.ports.uas_sip());
    for c in &calls {
        assert_eq!(c["member_uri"], uas, "{c}");
        assert_eq!(c["anchored"], true, "{c}");
        let p = &c["relay_ports"][0];
        assert!(
            bed.ports
                .relay_external()
                .contains(&(p[0].as_u64().unwrap() as u16)),
            "{c}"
        );
        assert!(
            bed.ports
                .relay_internal()
                .contains(&(p[1].as_u64().unwrap() as u16)),
            "{c}"
        );
    }
    let table = ctl.text(&["calls", "list"]);
    assert!(
        table.starts_with("CALL-ID") && table.contains("5 calls"),
        "{table}"
    );

    // One call in full: both parties, the member, per stream the worker and what arrived.
    let id = calls[0]["call_id"].as_str().unwrap().to_owned();
    std::thread::sleep(Duration::from_millis(600));
    let c = ctl.json(&["calls", "show", &id]);
    assert_eq!(
        (c["state"].as_str(), c["member"]["uri"].as_str()),
        (Some("confirmed"), Some(uas.as_str()))
    );
    assert_eq!(c["caller"]["interface"], "external", "{c}");
    assert_eq!(c["callee"]["interface"], "internal", "{c}");
    assert_eq!(c["callee"]["hop"], uas.trim_start_matches("sip:"), "{c}");
    assert!(
        c["caller"]["tag"].is_string() && c["callee"]["tag"].is_string(),
        "{c}"
    );
    assert!(
        c["caller"]["contact"]
            .as_str()
            .unwrap()
            .starts_with("sip:uac@"),
        "{c}"
    );
    let m = &c["media"];
    assert_eq!(
        (m["state"].as_str(), m["stats_complete"].as_bool()),
        (Some("answered"), Some(true)),
        "{c}"
    );
    let s = &m["streams"][0];
    assert_eq!(s["media"], "audio", "{c}");
    assert!(s["worker"].is_u64(), "{c}");
    assert_eq!(
        s["legs"][0]["relay_port"], calls[0]["relay_ports"][0][0],
        "{c}"
    );
    // Both parties stream their tone: each leg has a source and packets.
    for leg in 0..2 {
        assert!(
            s["legs"][leg]["rtp_packets"].as_u64().unwrap() > 0,
            "leg {leg}: {c}"
        );
        assert!(
            s["legs"][leg]["source"]
                .as_str()
                .unwrap()
                .starts_with("127.0.0.1:"),
            "{c}"
        );
    }
    let text = ctl.text(&["calls", "show", &id]);
    assert!(
        text.contains("member: ") && text.contains("STREAM"),
        "{text}"
    );
    let w = ctl.json(&["workers"]);
    assert!(w["workers"][0]["rx"].as_u64().unwrap() > 0, "{w}");
    assert!(w["workers"][0]["busy_ms"].as_u64().is_some(), "{w}");
    // Every command of the calls set up is taken (the worker's count is published each tick):
    // nothing waits for the worker.
    let drained = wait_until(Duration::from_secs(2), || {
        let w = ctl.json(&["workers"]);
        (w["workers"][0]["queue_depth"] == 0).then_some(())
    });
    assert!(drained.is_some(), "{}", ctl.json(&["workers"]));
    assert_eq!(w["sessions"], CALLS, "{w}");
    let text = ctl.text(&["workers"]);
    assert!(text.contains("WORKER") && text.contains("BUSY S"), "{text}");

    // Terminate one: BYE to both sipp sides with the admin's Reason; gone from the list.
    let t = ctl.json(&["calls", "terminate", &id, "--reason", "admin test"]);
    assert_eq!(t["terminated"], json!([id]), "{t}");
    let left = wait_until(Duration::from_secs(5), || {
        let l = ctl.json(&["calls", "list"]);
        let live: Vec<Value> = l
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["state"] == "confirmed")
            .cloned()
            .collect();
        (live.len() == CALLS as usize - 1).then_some(live)
    })
    .expect("the terminated call is no longer confirmed");
    assert!(left.iter().all(|c| c["call_id"] != id.as_str()));
    let byes = |side: &str| {
        bed.messages(side)
            .split("BYE sip:")
            .skip(1)
            .filter(|m| m.contains(&id) && m.contains("cause=16;text=\"admin test\""))
            .count()
    };
    assert!(
        wait_until(Duration::from_secs(5), || (byes("uac") > 0
            && byes("uas") > 0)
            .then_some(()))
        .is_some(),
        "both sides got the BYE for {id}"
    );

    // The error cases: each with its code and exit status 1, or 2 for usage.
    ctl.refused(&["calls", "show", "no-such-call"], 1001);
    ctl.refused(&["calls", "terminate", "no-such-call"], 1001);
    ctl.refused(&["calls", "terminate", &id], 1002);
    ctl.refused(
        &["calls", "terminate", "--member", "sip:192.0.2.9:5060"],
        1001,
    );
    ctl.refused(&["calls", "terminate", "--member", "99"], 1001);
    assert_eq!(ctl.run(&["calls", "terminate"]).code, 2);
    assert_eq!(ctl.run(&["calls", "list", "--page-size", "0"]).code, 2);
    let bad = raw(&socket, "calls.list", json!({"limit": 0}));
    assert_eq!(bad["error"]["code"], -32602, "{bad}");
    let bad = raw(
        &socket,
        "calls.terminate",
        json!({"call_id": "x", "member": 1}),
    );
    assert_eq!(bad["error"]["code"], -32602, "{bad}");
    let bad = raw(&socket, "calls.show", json!({}));
    assert_eq!(bad["error"]["code"], -32602, "{bad}");

    // The rest by member: each gets its BYEs, and both sipp sides end every call well.
    let t = ctl.json(&["calls", "terminate", "--member", &uas]);
    assert_eq!(
        t["terminated"].as_array().unwrap().len(),
        CALLS as usize - 1,
        "{t}"
    );
    bed.finish();
}

#[test]
fn params_set_diff_and_revert_take_effect() {
    if !need::met(TEST, &[Need::Sipp]) {
        return;
    }
    let bed = Bed::start("admin-params.", 1);
    let ctl = bed.ctl();
    let proxy = SocketAddr::from((LOOPBACK, bed.ports.proxy_sip()));
    assert_eq!(ctl.json(&["params", "diff"])["changes"], json!([]));
    assert_eq!(
        ctl.json(&["params"])["params"]["media.max_sessions"],
        "unlimited"
    );

    // 0 sessions drains: a new anchored call is refused with 503. The refusal is logged
    // at debug level: not at warn, and again once the level is debug.
    let c = ctl.json(&["params", "set", "general.log_level", "warn"]);
    assert_eq!(
        (c["old"].as_str(), c["new"].as_str()),
        (Some("debug"), Some("warn")),
        "{c}"
    );
    ctl.json(&["params", "set", "media.max_sessions", "0"]);
    ctl.json(&["params", "set", "media.timeout_secs", "7"]);
    assert_eq!(ctl.json(&["params"])["params"]["media.timeout_secs"], 7);
    let log = bed.daemon.log();
    let refusals = || {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        text.matches("SDP refused by the media relay").count()
    };
    let before = refusals();
    assert_eq!(invite_status(proxy, 1), 503);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(refusals(), before, "a debug line at warn level");
    ctl.json(&["params", "set", "general.log_level", "debug"]);
    assert_eq!(invite_status(proxy, 2), 503);
    let seen = wait_until(Duration::from_secs(3), || {
        (refusals() > before).then_some(())
    });
    assert!(
        seen.is_some(),
        "no debug line after log_level debug:\n{}",
        bed.daemon.log_tail(20)
    );
    let d = ctl.json(&["params", "diff"]);
    let keys: Vec<&str> = d["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["media.max_sessions", "media.timeout_secs"], "{d}");
    assert!(ctl.text(&["params", "diff"]).starts_with("KEY"));

    // Errors: a key that cannot be set, a value out of range or of the wrong kind.
    ctl.refused(&["params", "set", "sip.listen", "127.0.0.1:5070"], 1001);
    ctl.refused(&["params", "set", "media.timeout_secs", "0"], -32602);
    ctl.refused(&["params", "set", "media.max_sessions", "lots"], -32602);
    ctl.refused(&["params", "set", "general.log_level", "loud"], -32602);
    ctl.refused(&["params", "revert", "sip.listen"], 1001);
    assert_eq!(ctl.run(&["params", "set", "media.timeout_secs"]).code, 2);

    // Revert one key, then the rest: the session cap is lifted, and the call is taken again
    // (no member answers this INVITE's way, but it is no longer refused with 503 at once).
    let r = ctl.json(&["params", "revert", "media.timeout_secs"]);
    assert_eq!(r["changes"][0]["key"], "media.timeout_secs", "{r}");
    let r = ctl.json(&["params", "revert"]);
    assert_eq!(r["changes"].as_array().unwrap().len(), 1, "{r}");
    assert_eq!(ctl.json(&["params", "diff"])["changes"], json!([]));
    assert_eq!(
        ctl.json(&["params"])["params"]["media.max_sessions"],
        "unlimited"
    );
    assert_ne!(invite_status(proxy, 3), 503);
}

#[test]
fn top_in_tmux_shows_the_member_and_calls_per_second() {
    if !need::met(TEST, &[Need::Sipp, Need::Tmux]) {
        return;
    }
    const CALLS: u32 = 20;
    let mut bed = Bed::start("admin-top.", CALLS);
    let tmux = tools::find(TMUX).unwrap_or_else(|e| panic!("{e}"));
    // A tmux server of the test's own (its socket in the test directory).
    let sock = bed.dir.path().join("tmux.sock");
    let t = |args: &[&str]| {
        let o = Command::new(&tmux)
            .arg("-S")
            .arg(&sock)
            .args(args)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let _server = TmuxServer(tmux.clone(), sock.clone());
    t(&["new-session", "-d", "-s", "top", "-x", "160", "-y", "40"]);
    let top = format!(
        "{} --socket {} top",
        e2e::ctl::ctl_binary().display(),
        bed.daemon.admin_socket().display()
    );
    t(&["send-keys", "-t", "top", &top, "Enter"]);
    bed.call(CALLS, 5);
    let uas = format!("sip:127.0.0.1:{}", bed.ports.uas_sip());
    let screen = wait_until(Duration::from_secs(8), || {
        let s = t(&["capture-pane", "-p", "-t", "top"]);
        let rate = s.lines().find(|l| l.starts_with("calls:")).and_then(|l| {
            let before = l.split(" calls/s").next()?;
            before.rsplit(' ').next()?.parse::<f64>().ok()
        });
        (s.contains(&uas) && rate.is_some_and(|r| r > 0.0)).then_some(s)
    })
    .unwrap_or_else(|| {
        panic!(
            "top never showed {uas} and calls/s > 0:\n{}",
            t(&["capture-pane", "-p", "-t", "top"])
        )
    });
    assert!(
        screen.contains("WORKER") && screen.contains("PACKETS/S"),
        "{screen}"
    );
    let member = screen.lines().find(|l| l.contains(&uas)).unwrap();
    // Its state as the dispatcher has it (suspect until a probe reached the late sipp).
    assert!(
        member.contains(" active ") || member.contains(" suspect "),
        "{screen}"
    );
    // Ctrl-C ends top; every call ends by the member's BYEs.
    t(&["send-keys", "-t", "top", "C-c", ""]);
    wait_until(Duration::from_secs(10), || {
        let l = bed.ctl().json(&["calls", "list"]);
        (l.as_array()
            .unwrap()
            .iter()
            .filter(|c| c["state"] == "confirmed")
            .count()
            == CALLS as usize)
            .then_some(())
    })
    .expect("every call answered");
    bed.ctl().json(&["calls", "terminate", "--member", &uas]);
    bed.finish();
}

/// Kills the test's tmux server when the test ends, however it ends.
struct TmuxServer(PathBuf, PathBuf);

impl Drop for TmuxServer {
    fn drop(&mut self) {
        let _ = Command::new(&self.0)
            .arg("-S")
            .arg(&self.1)
            .arg("kill-server")
            .output();
    }
}
