//! The RFC 4475 / RFC 5118 torture messages (`crates/sip/testdata`) fed to the real
//! daemon's SIP proxy, each checked against its verdict in `EXPECTED.tsv`.
//!
//! The messages name hosts that are not on this machine, so the daemon, its pool member and
//! the sender run in a network namespace the test creates with nothing but loopback (and
//! removes): whatever the proxy tries to send elsewhere cannot leave. The member answers
//! every request the proxy forwards with 200 at once, so a malformed request that the proxy
//! wrongly accepts comes back as a 2xx. Each message leaves from its own loopback address,
//! which is where its responses come back (`e2e::torture::sender`).
//!
//! What it shows, per message: a valid one never gets 400; an invalid one never gets a 1xx
//! or 2xx (no answer, or another error such as 416/420/483/505, is allowed: the table
//! printed says what each got). A message that repeats an earlier one's branch, sent-by and
//! method (several RFC 5118 messages share one Via) is a retransmission of that transaction
//! (RFC 3261 §17.2.3): the answer goes to the first sender, and the repeat gets none. So that
//! the check cannot pass by hearing nothing, some valid message must come back 2xx through
//! the member and some invalid one 400. And: the daemon answers OPTIONS before and after,
//! never panics, and exits 0 on SIGTERM. Needs root and `ip netns`
//! (`FERROVOX_TEST_SKIP=netns` opts out).

#![allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a test failure.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use e2e::need::{self, Need};
use e2e::netns::Netns;
use e2e::process::{tail, Process};
use e2e::relay::ferrovox_binary;
use e2e::torture::member::{Forwarded, Member};
use e2e::torture::sender::{self, source};
use e2e::torture::{self, judge, Message, Verdict};

const TEST: &str = "sip_torture_netns";

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
transports = ["udp"]
fr_timeout_ms = 500
[[set]]
name = "pool"
[set.health]
interval_secs = 1
[[set.member]]
uri = "sip:127.0.0.1:5080"
"#;

const PROXY: &str = "127.0.0.1:5060";
const MEMBER: &str = "127.0.0.1:5080";
/// Time between two messages.
const PACE: Duration = Duration::from_millis(20);
/// How long answers are collected after the last message: past `fr_timeout_ms` and a few
/// retransmissions of a final response to an INVITE (Timer G).
const LINGER: Duration = Duration::from_secs(3);

/// One line per message: verdict, the codes it got, the methods the member received from its
/// sender, and `BROKEN: why` when the verdict's rule does not hold.
fn table(msgs: &[Message], codes: &[Vec<u16>], forwarded: &[Forwarded]) -> (String, Vec<String>) {
    let mut out = String::new();
    let mut broken = Vec::new();
    for (i, (msg, got)) in msgs.iter().zip(codes).enumerate() {
        let from = source(i).to_string();
        let fwd: Vec<&str> = forwarded
            .iter()
            .filter(|f| f.received.as_deref() == Some(from.as_str()))
            .map(|f| f.method.as_str())
            .collect();
        let shown: Vec<String> = got.iter().map(u16::to_string).collect();
        let mut line = format!(
            "{:<36} {:<8} got [{}] forwarded [{}]",
            msg.name,
            msg.verdict,
            shown.join(","),
            fwd.join(",")
        );
        if let Err(why) = judge(msg.verdict, got) {
            line.push_str(&format!("  BROKEN: {why}"));
            broken.push(format!("{}: {why} (got [{}])", msg.name, shown.join(",")));
        }
        out.push_str(&line);
        out.push('\n');
    }
    (out, broken)
}

#[test]
fn torture_corpus_through_the_daemon_in_an_isolated_namespace() {
    if !need::met(TEST, &[Need::Netns]) {
        return;
    }
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/sip/testdata");
    let msgs = torture::corpus(&data).unwrap();
    let bin = ferrovox_binary().unwrap();
    let dir = tempfile::Builder::new()
        .prefix("sip-torture.")
        .tempdir()
        .unwrap();
    let cfg = dir.path().join("ferrovox.toml");
    let text = CONFIG.to_owned() + &e2e::relay::admin_socket_in(dir.path());
    std::fs::write(&cfg, text).unwrap();
    let log = dir.path().join("ferrovox.log");

    let ns = Netns::create(&format!("fv-torture-{}", std::process::id())).unwrap();
    let mut cmd = ns.command(&bin).unwrap();
    cmd.arg("--config").arg(&cfg);
    let mut daemon = Process::spawn("ferrovox", cmd, &log).unwrap();
    let member = Member::start(&ns, MEMBER.parse().unwrap());
    let proxy: SocketAddr = PROXY.parse().unwrap();
    let to_send = msgs.clone();
    let run = ns.spawn_inside(move || {
        // The proxy answers, and a forwarded request reaches the member and comes back.
        sender::wait_for_200(proxy, "sip:127.0.0.1:5060", Duration::from_secs(10))?;
        sender::wait_for_200(proxy, "sip:warmup@example.com", Duration::from_secs(10))?;
        let codes = sender::send_all(&to_send, proxy, PACE, LINGER)?;
        sender::wait_for_200(proxy, "sip:127.0.0.1:5060", Duration::from_secs(5))?;
        Ok(codes)
    });
    let codes = run.join().unwrap();
    let status = daemon.terminate(Duration::from_secs(10));
    let forwarded = member.stop().unwrap();
    let daemon_log = tail(&log, 40);
    let codes = codes.unwrap_or_else(|e| panic!("{e}\n--- daemon log\n{daemon_log}"));
    let (shown, broken) = table(&msgs, &codes, &forwarded);
    eprintln!("{shown}");
    let status = status.unwrap();
    assert!(status.success(), "daemon: {status}\n{daemon_log}");
    let full_log = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(!full_log.contains("panicked"), "{daemon_log}");
    let got = |verdict: Verdict, code: fn(u16) -> bool| {
        msgs.iter()
            .zip(&codes)
            .any(|(m, c)| m.verdict == verdict && c.iter().any(|&x| code(x)))
    };
    assert!(
        got(Verdict::Valid, |c| (200..300).contains(&c)),
        "no valid message came back 2xx: the answers are not reaching the sender\n{shown}"
    );
    assert!(
        got(Verdict::Invalid, |c| c == 400),
        "no invalid message got 400: the answers are not reaching the sender\n{shown}"
    );
    if !broken.is_empty() || std::env::var_os("E2E_KEEP").is_some() {
        eprintln!("{TEST}: run directory kept: {}", dir.keep().display());
    }
    assert!(
        broken.is_empty(),
        "{} message(s) got an answer their verdict forbids:\n  {}",
        broken.len(),
        broken.join("\n  ")
    );
}
