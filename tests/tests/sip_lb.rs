//! The SIP load balancer end to end: the real `ferrovox` binary between a sipp caller and sipp
//! pool members on 127.0.0.1 (issue: distribution per algorithm, failover, health probing,
//! Retry-After, relayed refusals, dialog pinning, DNS SRV members).

#![allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a test failure.

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use e2e::daemon::{Daemon, DaemonConfig};
use e2e::need::{self, Need};
use e2e::ports::{PortBlock, LOOPBACK};
use e2e::sipp_pool::{run_uac, CallScenario, MemberSpec, Pool, Uac, UacSpec};
use e2e::tools::{self, SIPP};

const TEST: &str = "sip_lb";

/// The longest one caller run may take.
const WAIT: Duration = Duration::from_secs(120);

fn sipp() -> PathBuf {
    tools::find(SIPP).unwrap_or_else(|e| panic!("{e}"))
}

fn scratch(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("sip-lb-{name}."))
        .tempdir()
        .unwrap()
}

/// Member `i`'s SIP port inside the block (offsets 4, 8, 10, 12...; 0 is the proxy, 2 the
/// caller, 6 ng).
fn member_port(ports: &PortBlock, i: usize) -> u16 {
    match i {
        0 => ports.uas_sip(),
        n => ports.base() + 6 + 2 * n as u16,
    }
}

/// `n` member specs built by `f(index, port)` with their SIP and media ports set.
fn specs(ports: &PortBlock, n: usize, f: impl Fn(usize, u16) -> MemberSpec) -> Vec<MemberSpec> {
    (0..n)
        .map(|i| {
            let mut s = f(i, member_port(ports, i));
            s.media_port = Some(*ports.uas_media().start() + 10 * i as u16);
            s
        })
        .collect()
}

/// A daemon whose SIP proxy listens on the block's proxy port, with `set` as the `[[set]]`
/// body (algorithm, health...) and members on the given ports. Signalling only: these tests
/// count calls by the thousand (anchored calls are `anchored_call`'s and `anchored_edges`').
fn daemon(ports: &PortBlock, set: &str, members: &[String], extra: &str) -> Daemon {
    let mut toml = format!(
        "[sip]\nlisten = [\"127.0.0.1:{}\"]\ntransports = [\"udp\", \"tcp\"]\nfr_timeout_ms = 1000\n\n\
         [[set]]\nname = \"pool\"\n{set}\n[set.media]\nanchor = false\n",
        ports.proxy_sip()
    );
    for m in members {
        toml.push_str("\n[[set.member]]\n");
        toml.push_str(m);
        toml.push('\n');
    }
    toml.push_str(extra);
    let relay = ports.relay_external();
    let cfg = DaemonConfig::new(ports.ng())
        .interface("external", *relay.start(), *relay.end())
        .raw(&toml);
    Daemon::start(&cfg).unwrap()
}

fn uri_lines(ports: &PortBlock, n: usize, extra: &[&str]) -> Vec<String> {
    (0..n)
        .map(|i| {
            let mut m = format!("uri = \"sip:127.0.0.1:{}\"", member_port(ports, i));
            if let Some(e) = extra.get(i) {
                m.push('\n');
                m.push_str(e);
            }
            m
        })
        .collect()
}

fn caller(ports: &PortBlock, calls: u32, rate: u32) -> UacSpec {
    let mut u = UacSpec::new(
        SocketAddr::from((LOOPBACK, ports.proxy_sip())),
        ports.uac_sip(),
        calls,
    );
    u.media_port = Some(*ports.uac_media().start());
    u.rate = rate;
    u.hold = Duration::from_millis(50);
    u
}

/// One test's setting: sipp members on the block's ports, the daemon in front of them.
struct Lb {
    sipp: PathBuf,
    ports: PortBlock,
    dir: tempfile::TempDir,
    pool: Pool,
    d: Daemon,
    runs: u32,
}

impl Lb {
    /// `members` sipp members built by `spec`, and a daemon with `set` as the `[[set]]` body and
    /// `member_lines` as its members (`extra` appended to the config).
    fn start(
        name: &str,
        members: usize,
        spec: impl Fn(usize, u16) -> MemberSpec,
        set: &str,
        member_lines: impl FnOnce(&PortBlock) -> Vec<String>,
        extra: &str,
    ) -> Lb {
        let sipp = sipp();
        let ports = PortBlock::take().unwrap();
        let dir = scratch(name);
        let pool = Pool::start(&sipp, dir.path(), &specs(&ports, members, spec)).unwrap();
        let d = daemon(&ports, set, &member_lines(&ports), extra);
        Lb {
            sipp,
            ports,
            dir,
            pool,
            d,
            runs: 0,
        }
    }

    /// The usual case: `n` members answering every call, all in the config.
    fn answering(name: &str, n: usize, set: &str, member_extra: &[&str]) -> Lb {
        let answer = |_, p| MemberSpec::answering(p);
        Lb::start(name, n, answer, set, |p| uri_lines(p, n, member_extra), "")
    }

    /// A caller of `calls` calls at `rate` calls/s through the proxy.
    fn caller(&self, calls: u32, rate: u32) -> UacSpec {
        caller(&self.ports, calls, rate)
    }

    /// Runs a caller to its end; every call must succeed (the daemon's log tail otherwise).
    fn run(&mut self, spec: &UacSpec, limit: Duration) {
        self.runs += 1;
        let dir = self.dir.path().join(format!("uac{}", self.runs));
        let report = run_uac(&self.sipp, &dir, spec, limit).unwrap();
        assert!(
            report.all_succeeded(),
            "{}\n{}\n{}",
            report.summary(),
            self.pool.tails(),
            self.d.log_tail(40)
        );
    }

    /// INVITEs each member took so far.
    fn invites(&self) -> Vec<usize> {
        self.pool.calls().unwrap().invites_per_member()
    }
}

/// Seconds since midnight UTC of a log line's RFC 3339 timestamp (`...THH:MM:SS.ffffffZ`).
fn log_seconds(line: &str) -> Option<f64> {
    let t = line
        .split_whitespace()
        .next()?
        .split('T')
        .nth(1)?
        .trim_end_matches('Z');
    let mut it = t.split(':');
    let h: f64 = it.next()?.parse().ok()?;
    let m: f64 = it.next()?.parse().ok()?;
    let s: f64 = it.next()?.parse().ok()?;
    Some(h * 3600.0 + m * 60.0 + s)
}

fn now_seconds() -> f64 {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    (d.as_secs_f64()) % 86_400.0
}

/// The time of the first "member state changed" line for `uri` with state `to` after `after`.
fn transition_at(log: &Path, uri: &str, to: &str, after: f64) -> Option<f64> {
    let text = std::fs::read_to_string(log).ok()?;
    text.lines()
        .filter(|l| l.contains("member state changed") && l.contains(uri))
        .filter(|l| l.contains(&format!("to=\"{to}\"")) || l.contains(&format!("to={to}")))
        .filter_map(log_seconds)
        .map(|t| if t + 3600.0 < after { t + 86_400.0 } else { t })
        .find(|t| *t >= after)
}

#[test]
fn round_robin_is_exact_and_every_bye_reaches_the_member_that_answered() {
    if !need::met(TEST, &[Need::Sipp]) {
        return;
    }
    let mut lb = Lb::answering("rr", 3, "algorithm = \"round_robin\"", &[]);
    lb.run(&lb.caller(30, 30), WAIT);
    let calls = lb.pool.calls().unwrap();
    assert_eq!(calls.invites_per_member(), [10, 10, 10]);
    assert_eq!(calls.byes_per_member(), [10, 10, 10]);
    let misrouted = calls.misrouted_byes();
    assert!(misrouted.is_empty(), "{misrouted:?}");
}

#[test]
fn weighted_is_within_two_percent_over_10000_calls() {
    if !need::met(TEST, &[Need::Sipp]) {
        return;
    }
    let weights = ["weight = 1", "weight = 3", "weight = 6"];
    let mut lb = Lb::answering("weighted", 3, "algorithm = \"weighted\"", &weights);
    let mut spec = lb.caller(10_000, 500);
    spec.hold = Duration::ZERO;
    spec.limit = 200;
    lb.run(&spec, Duration::from_secs(180));
    let got = lb.invites();
    for (g, share) in got.iter().zip([0.1, 0.3, 0.6]) {
        let want = 10_000.0 * share;
        let err = (*g as f64 - want).abs() / want;
        assert!(err <= 0.02, "{got:?}: {g} vs {want}");
    }
}

#[test]
fn a_killed_member_is_down_within_interval_times_n_and_no_call_fails() {
    if !need::met(TEST, &[Need::Sipp]) {
        return;
    }
    // Probes every second, DOWN after 2 failures, ACTIVE after 2 successes.
    let health = "algorithm = \"round_robin\"\n[set.health]\ninterval_secs = 1\ntimeout_ms = 500\ndown_after = 2\nup_after = 2";
    let mut lb = Lb::answering("kill", 3, health, &[]);
    let mut spec = lb.caller(400, 40);
    spec.hold = Duration::from_millis(20);
    let mut uac = Uac::start(&lb.sipp, &lb.dir.path().join("uac"), &spec).unwrap();
    let (ports, d) = (&lb.ports, &lb.d);
    std::thread::sleep(Duration::from_secs(2));
    let killed_at = now_seconds();
    lb.pool.member_mut(1).unwrap().kill();
    let uri = format!("sip:127.0.0.1:{}", member_port(ports, 1));
    let down = wait_until(Duration::from_secs(8), || {
        transition_at(&d.log(), &uri, "down", killed_at)
    });
    let down = down.unwrap_or_else(|| panic!("never DOWN\n{}", d.log_tail(60)));
    // interval x N, plus the probe timeout and the log's clock granularity.
    assert!(
        down - killed_at <= 2.0 + 0.5 + 0.5,
        "DOWN {:.2} s after the kill",
        down - killed_at
    );
    std::thread::sleep(Duration::from_secs(1));
    let restarted_at = now_seconds();
    lb.pool.member_mut(1).unwrap().restart().unwrap();
    let up = wait_until(Duration::from_secs(6), || {
        transition_at(&d.log(), &uri, "active", restarted_at)
    });
    assert!(up.is_some(), "never ACTIVE again\n{}", d.log_tail(60));
    let report = uac.wait(WAIT).unwrap();
    assert!(
        report.all_succeeded(),
        "{}\n{}",
        report.summary(),
        d.log_tail(60)
    );
    let calls = lb.pool.calls().unwrap();
    assert!(calls.misrouted_byes().is_empty());
    // The member took calls before the kill and again after its return.
    assert!(calls.invites_per_member()[1] > 0);
}

fn wait_until<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if let Some(v) = f() {
            return Some(v);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

#[test]
fn a_member_answering_503_with_retry_after_gets_no_new_calls_for_that_time() {
    if !need::met(TEST, &[Need::Sipp]) {
        return;
    }
    // Member 0 refuses with 503 + Retry-After: 60, the others answer.
    let spec = |i, port| match i {
        0 => MemberSpec::rejecting(port, 503, Some(60)),
        _ => MemberSpec::answering(port),
    };
    let rr = "algorithm = \"round_robin\"";
    let mut lb = Lb::start("busy", 3, spec, rr, |p| uri_lines(p, 3, &[]), "");
    lb.run(&lb.caller(40, 20), WAIT);
    let got = lb.invites();
    assert_eq!(got[0], 1, "{got:?}: BUSY after its first 503");
    assert_eq!(got[1] + got[2], 40);
}

#[test]
fn busy_here_and_not_found_are_relayed_and_not_retried() {
    if !need::met(TEST, &[Need::Sipp]) {
        return;
    }
    for code in [486u16, 404] {
        let refuse = |_, p| MemberSpec::rejecting(p, code, None);
        let rr = "algorithm = \"round_robin\"";
        let mut lb = Lb::start("refused", 3, refuse, rr, |p| uri_lines(p, 3, &[]), "");
        let mut spec = lb.caller(9, 9);
        spec.scenario = CallScenario::Refused(code);
        lb.run(&spec, WAIT);
        assert_eq!(lb.invites(), [3, 3, 3], "{code}: one member per call");
    }
}

#[test]
fn every_member_answering_503_gives_the_caller_500() {
    if !need::met(TEST, &[Need::Sipp]) {
        return;
    }
    let refuse = |_, p| MemberSpec::rejecting(p, 503, None);
    let set = "algorithm = \"round_robin\"\n[set.health]\npassive = false";
    let mut lb = Lb::start("all503", 3, refuse, set, |p| uri_lines(p, 3, &[]), "");
    let mut spec = lb.caller(4, 4);
    spec.scenario = CallScenario::Refused(500);
    lb.run(&spec, WAIT);
    assert_eq!(lb.invites(), [4, 4, 4]);
}

/// A DNS server on 127.0.0.1 answering from a zone, on a thread, until dropped.
struct DnsServer {
    addr: SocketAddr,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl DnsServer {
    fn start(port: u16, zone: dns::zone::Zone) -> DnsServer {
        let sock = UdpSocket::bind((LOOPBACK, port)).unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let addr = sock.local_addr().unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 1500];
            while !s.load(std::sync::atomic::Ordering::Relaxed) {
                if let Ok((n, from)) = sock.recv_from(&mut buf) {
                    if let Some(r) = zone.answer(&buf[..n]) {
                        let _ = sock.send_to(&r, from);
                    }
                }
            }
        });
        DnsServer {
            addr,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[test]
fn srv_members_come_from_a_dns_server_on_loopback() {
    if !need::met(TEST, &[Need::Sipp]) {
        return;
    }
    let sipp = sipp();
    let ports = PortBlock::take().unwrap();
    let dir = scratch("srv");
    let pool = Pool::start(
        &sipp,
        dir.path(),
        &specs(&ports, 3, |_, p| MemberSpec::answering(p)),
    )
    .unwrap();
    let mut zone = dns::zone::Zone::new();
    // Two members share priority 10 with weights 3:1; the third is a backup at priority 20.
    for (i, (prio, weight)) in [(10u16, 3u16), (10, 1), (20, 1)].into_iter().enumerate() {
        let host = format!("fs{i}.pool.test");
        zone = zone
            .srv(
                "_sip._udp.pool.test",
                prio,
                weight,
                member_port(&ports, i),
                &host,
                60,
            )
            .unwrap()
            .a(&host, std::net::Ipv4Addr::LOCALHOST, 60)
            .unwrap();
    }
    let dns = DnsServer::start(ports.base() + 30, zone);
    let extra = format!("\n[dns]\nservers = [\"{}\"]\n", dns.addr);
    let d = daemon(
        &ports,
        "algorithm = \"srv\"",
        &["uri = \"sip:pool.test\"".to_string()],
        &extra,
    );
    // The members exist once the lookup is answered.
    let added = wait_until(Duration::from_secs(5), || {
        let log = std::fs::read_to_string(d.log()).ok()?;
        (log.matches("member added").count() == 3).then_some(())
    });
    assert!(added.is_some(), "{}", d.log_tail(40));
    let report = run_uac(
        &sipp,
        &dir.path().join("uac"),
        &caller(&ports, 40, 20),
        WAIT,
    )
    .unwrap();
    assert!(
        report.all_succeeded(),
        "{}\n{}",
        report.summary(),
        d.log_tail(40)
    );
    assert_eq!(pool.calls().unwrap().invites_per_member(), [30, 10, 0]);
}

#[test]
fn sighup_reload_adds_a_member_and_keeps_the_others_and_their_dialogs() {
    if !need::met(TEST, &[Need::Sipp]) {
        return;
    }
    // Three members run; the config names two of them.
    let answer = |_, p| MemberSpec::answering(p);
    let rr = "algorithm = \"round_robin\"";
    let mut lb = Lb::start("reload", 3, answer, rr, |p| uri_lines(p, 2, &[]), "");
    lb.run(&lb.caller(10, 10), WAIT);
    assert_eq!(lb.invites(), [5, 5, 0]);
    // Calls held across the reload: started before, ended after.
    let mut held = lb.caller(4, 20);
    held.hold = Duration::from_secs(3);
    let mut long = Uac::start(&lb.sipp, &lb.dir.path().join("held"), &held).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let text = std::fs::read_to_string(lb.d.config_path()).unwrap();
    let third = format!(
        "\n[[set.member]]\nuri = \"sip:127.0.0.1:{}\"\n",
        member_port(&lb.ports, 2)
    );
    std::fs::write(lb.d.config_path(), text + &third).unwrap();
    lb.d.reload().unwrap();
    let reloaded = wait_until(Duration::from_secs(5), || {
        let log = std::fs::read_to_string(lb.d.log()).ok()?;
        log.contains("SIP configuration reloaded").then_some(())
    });
    assert!(reloaded.is_some(), "{}", lb.d.log_tail(30));
    let report = long.wait(WAIT).unwrap();
    assert!(report.all_succeeded(), "held calls: {}", report.summary());
    let before = lb.invites();
    lb.run(&lb.caller(9, 9), WAIT);
    let new: Vec<usize> = lb
        .invites()
        .iter()
        .zip(&before)
        .map(|(a, b)| a - b)
        .collect();
    assert_eq!(new, [3, 3, 3]);
    let log = std::fs::read_to_string(lb.d.log()).unwrap();
    // Only the new member was added by the reload; the others kept their state.
    assert_eq!(
        log.matches("member added").count(),
        3,
        "{}",
        lb.d.log_tail(30)
    );
    assert!(lb.pool.calls().unwrap().misrouted_byes().is_empty());
}
