//! The RFC 4475 / RFC 5118 torture messages fed to the real daemon's SIP proxy. The messages
//! name hosts that are not on this machine, so the daemon and the sender run in a network
//! namespace of their own with nothing but loopback (DESIGN.md, house rules): whatever the
//! proxy tries to send elsewhere cannot leave. Needs root and `unshare`; skipped otherwise.
//!
//! What it shows: the daemon answers every request it can answer (400 for the malformed
//! ones), never crashes or hangs, still answers OPTIONS afterwards and exits 0 on SIGTERM.

#![allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a test failure.

use std::path::Path;
use std::process::Command;

use e2e::relay::ferrovox_binary;

const CONFIG: &str = r#"
[general]
log_level = "debug"
[ng]
listen = "127.0.0.1:2223"
[[interface]]
name = "external"
address = "127.0.0.1"
port_min = 30000
port_max = 30999
[sip]
listen = ["127.0.0.1:5060"]
fr_timeout_ms = 500
[[set]]
name = "pool"
[set.health]
interval_secs = 1
[[set.member]]
uri = "sip:127.0.0.1:5080"
"#;

/// Sends every corpus file to the proxy, collects what comes back, then checks the proxy
/// still answers OPTIONS. Prints one line per file and a summary; exits 1 on a dead proxy.
/// It sends from 127.0.0.2:5060 because responses go to the source address and the Via
/// port (RFC 3261 §18.2.2), and most corpus Vias name port 5060 or none.
const SENDER: &str = r#"
import os, socket, sys, time
corpus = sys.argv[1:]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.2", 5060))
s.settimeout(0.2)
proxy = ("127.0.0.1", 5060)
def options(n):
    return ("OPTIONS sip:127.0.0.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.2:5060;branch=z9hG4bK-live%d\r\n"
            "Max-Forwards: 70\r\nFrom: <sip:t@127.0.0.1>;tag=t\r\nTo: <sip:127.0.0.1>\r\nCall-ID: live%d\r\n"
            "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n" % (n, n)).encode()
def ask(n):
    s.sendto(options(n), proxy)
    end = time.time() + 2
    while time.time() < end:
        try:
            data, _ = s.recvfrom(65535)
        except socket.timeout:
            continue
        if (b"live%d" % n) in data:
            return data.split(b" ")[1].decode()
    return None
for i in range(50):
    if ask(1000 + i) == "200":
        break
    time.sleep(0.1)
else:
    print("proxy never answered"); sys.exit(1)
answered = 0
bad = 0
for path in corpus:
    s.sendto(open(path, "rb").read(), proxy)
    codes = []
    end = time.time() + 0.15
    while time.time() < end:
        try:
            data, _ = s.recvfrom(65535)
            if data.startswith(b"SIP/2.0 "):
                codes.append(data.split(b" ")[1].decode())
        except socket.timeout:
            break
    answered += 1 if codes else 0
    bad += 1 if "400" in codes else 0
    print("%s %s" % (os.path.basename(path), ",".join(codes) or "-"))
code = ask(2000)
print("summary files=%d answered=%d bad_request=%d final_options=%s" % (len(corpus), answered, bad, code))
sys.exit(0 if code == "200" else 1)
"#;

fn skip(why: &str) {
    eprintln!("SKIPPED sip_torture_netns: {why}");
}

#[test]
fn torture_corpus_through_the_daemon_in_an_isolated_namespace() {
    if rustix::process::geteuid().as_raw() != 0 {
        return skip("needs root for a network namespace");
    }
    if Command::new("unshare").arg("--version").output().is_err() {
        return skip("unshare is not installed");
    }
    let bin = ferrovox_binary().unwrap();
    let dir = tempfile::Builder::new()
        .prefix("sip-torture.")
        .tempdir()
        .unwrap();
    let cfg = dir.path().join("ferrovox.toml");
    std::fs::write(&cfg, CONFIG).unwrap();
    let sender = dir.path().join("send.py");
    std::fs::write(&sender, SENDER).unwrap();
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/sip/testdata");
    let mut files: Vec<String> = Vec::new();
    for d in [data.clone(), data.join("rfc5118")] {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "dat") {
                files.push(p.display().to_string());
            }
        }
    }
    files.sort();
    assert!(files.len() >= 60, "{} corpus files", files.len());
    let log = dir.path().join("ferrovox.log");
    // Inside the new namespace: loopback up, the daemon, the sender, then SIGTERM.
    let script = format!(
        "set -u\nip link set lo up\n\
         '{bin}' --config '{cfg}' >'{log}' 2>&1 &\npid=$!\n\
         timeout 120 python3 '{sender}' \"$@\"; sent=$?\n\
         kill -TERM $pid; timeout 10 tail --pid=$pid -f /dev/null; wait $pid; daemon=$?\n\
         echo \"sender=$sent daemon=$daemon\"\n",
        bin = bin.display(),
        cfg = cfg.display(),
        log = log.display(),
        sender = sender.display(),
    );
    let out = Command::new("timeout")
        .arg("180")
        .args([
            "unshare", "--net", "--fork", "bash", "-c", &script, "torture",
        ])
        .args(&files)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!("{stdout}");
    let daemon_log = std::fs::read_to_string(&log).unwrap_or_default();
    let tail: String = daemon_log
        .lines()
        .rev()
        .take(30)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        stdout.contains("sender=0 daemon=0"),
        "{stdout}\n{}\n--- daemon log (last lines, newest first)\n{tail}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!daemon_log.contains("panicked"), "{tail}");
    // The malformed requests with a readable request line got 400.
    let summary = stdout.lines().find(|l| l.starts_with("summary")).unwrap();
    let bad: usize = summary
        .split_whitespace()
        .find_map(|w| w.strip_prefix("bad_request="))
        .and_then(|v| v.parse().ok())
        .unwrap();
    assert!(bad >= 10, "{stdout}");
}
