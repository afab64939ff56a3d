//! The Prometheus endpoint of the real daemon on 127.0.0.1: scraped during anchored sipp
//! calls (one pool member dead, so calls fail over) and after them, each scrape checked by
//! `promtool check metrics` and its values against what the test did (calls made and
//! answered, failovers caused, media sessions, packets relayed); counters still as high
//! after a reload; every metric the shipped Grafana dashboard's queries name is in the
//! scrape, and every query parses. Then abuse of the endpoint (a huge request, a slow
//! client, many connections, requests that are not a scrape) while the SIP proxy keeps
//! answering.

#![allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a test failure.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use e2e::daemon::{Daemon, DaemonConfig};
use e2e::need::{self, Need};
use e2e::ports::{PortBlock, LOOPBACK};
use e2e::rtp::ulaw_tone;
use e2e::sipp::{Load, Scenario, Side, Sipp};
use e2e::tools::{self, PROMTOOL, SIPP};

const TEST: &str = "metrics";
/// Calls the caller places (all up at once).
const CALLS: u32 = 4;

/// One scrape: the series (`name{labels}` as written) and their values.
struct Scrape {
    text: String,
    series: BTreeMap<String, f64>,
    took: Duration,
}

impl Scrape {
    /// The value of the series written exactly `key`; it must exist.
    fn get(&self, key: &str) -> f64 {
        *self
            .series
            .get(key)
            .unwrap_or_else(|| panic!("no series {key} in the scrape:\n{}", self.text))
    }

    /// The sum of every series of family `name` whose labels contain all of `labels`.
    fn sum(&self, name: &str, labels: &[&str]) -> f64 {
        self.series
            .iter()
            .filter(|(k, _)| {
                k.split('{').next() == Some(name) && labels.iter().all(|l| k.contains(l))
            })
            .map(|(_, v)| v)
            .sum()
    }
}

/// `GET path` on `addr`; the status and the body.
fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(3)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = out.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, body.to_owned())
}

/// Scrapes `addr`, checks the text with promtool, and reads its series.
fn scrape(addr: SocketAddr) -> Scrape {
    let started = Instant::now();
    let (status, text) = http_get(addr, "/metrics");
    let took = started.elapsed();
    assert_eq!(status, 200, "{text}");
    promtool_check(&text);
    let series = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (k, v) = l.rsplit_once(' ').unwrap();
            (k.to_owned(), v.parse::<f64>().unwrap())
        })
        .collect();
    Scrape { text, series, took }
}

/// `promtool check metrics` finds nothing to say about `text`.
fn promtool_check(text: &str) {
    let promtool = tools::find(PROMTOOL).unwrap_or_else(|e| panic!("{e}"));
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.trim().is_empty(),
        "promtool check metrics: {}: {said}",
        out.status
    );
}

/// The anchored pool: the sipp UAS, and a member on a port nobody listens on (its INVITEs
/// meet ICMP port unreachable: the call fails over at once). Probed once a minute and DOWN
/// only after 100 failures, so it keeps taking (and failing) calls.
fn pool_config(ports: &PortBlock, dead: u16) -> String {
    format!(
        "[sip]\nlisten = [\"127.0.0.1:{proxy}\"]\ntransports = [\"udp\"]\n\n\
         [[set]]\nname = \"pool\"\nalgorithm = \"round_robin\"\n\
         [set.media]\ncaller_interface = \"external\"\nmember_interface = \"internal\"\n\
         [set.health]\ninterval_secs = 60\ndown_after = 100\n\
         [[set.member]]\nuri = \"sip:127.0.0.1:{dead}\"\n\
         [[set.member]]\nuri = \"sip:127.0.0.1:{uas}\"\n",
        proxy = ports.proxy_sip(),
        uas = ports.uas_sip(),
    )
}

fn write_tone(dir: &Path, hz: f64) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("tone.pcmu"), ulaw_tone(hz, 8000.0)).unwrap();
}

#[test]
fn scrapes_during_anchored_calls_match_what_the_calls_did() {
    if !need::met(TEST, &[Need::Sipp, Need::Promtool]) {
        return;
    }
    let sipp = tools::find(SIPP).unwrap();
    let ports = PortBlock::take().unwrap();
    let dir = tempfile::Builder::new()
        .prefix("metrics.")
        .tempdir()
        .unwrap();
    let (uac_dir, uas_dir) = (dir.path().join("uac"), dir.path().join("uas"));
    write_tone(&uac_dir, 443.0);
    write_tone(&uas_dir, 1009.0);
    let dead = ports.base() + 8;
    let (ext, int) = (ports.relay_external(), ports.relay_internal());
    let cfg = DaemonConfig::new(ports.ng())
        .interface("external", *ext.start(), *ext.end())
        .interface("internal", *int.start(), *int.end())
        .raw(&pool_config(&ports, dead));
    let started = Instant::now();
    let mut d = Daemon::start(&cfg).unwrap();
    let addr = cfg.metrics_addr();
    let before = scrape(addr);
    assert_eq!(before.get("ferrovox_fastpath_active"), 0.0);
    assert_eq!(before.get("ferrovox_sip_up"), 1.0);
    assert_eq!(before.get("ferrovox_media_sessions"), 0.0);
    let pairs = (ext.clone().count() / 2) as f64;
    let ext_free =
        "ferrovox_media_port_pairs{interface=\"external\",address=\"127.0.0.1\",state=\"free\"}";
    assert_eq!(before.get(ext_free), pairs);

    let load = Load {
        calls: CALLS,
        rate: CALLS,
        hold: Duration::from_secs(3),
    };
    let limit = Duration::from_secs(30);
    let mut uas = Sipp::start(
        &sipp,
        Side::Uas,
        Scenario::Basic,
        load,
        &ports,
        &uas_dir,
        limit,
    )
    .unwrap();
    let mut uac = Sipp::start(
        &sipp,
        Side::Uac,
        Scenario::Basic,
        load,
        &ports,
        &uac_dir,
        limit,
    )
    .unwrap();
    // Every call is up (placed within 1 s, held 3 s).
    std::thread::sleep(Duration::from_millis(2000));
    let during = scrape(addr);
    let uas_member = format!(
        "{{set=\"pool\",member=\"sip:127.0.0.1:{u}\",address=\"127.0.0.1:{u}\"}}",
        u = ports.uas_sip()
    );
    let dead_member =
        format!("{{set=\"pool\",member=\"sip:127.0.0.1:{dead}\",address=\"127.0.0.1:{dead}\"}}");
    assert_eq!(
        during.get(&format!("ferrovox_member_active_calls{uas_member}")),
        f64::from(CALLS),
        "calls in progress on the live member"
    );
    assert_eq!(during.get("ferrovox_media_sessions"), f64::from(CALLS));
    assert_eq!(during.get(ext_free), pairs - f64::from(CALLS));
    uac.finish(Duration::from_secs(20))
        .unwrap_or_else(|e| panic!("{e}\n{}", d.log_tail(30)));
    uas.finish(Duration::from_secs(10)).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let after = scrape(addr);
    check_after(&after, &uas_member, &dead_member, pairs, ext_free);
    // The worker's busy time: some (it relayed every call's media), and less than the daemon
    // has run (a socket worker sleeps between packets).
    let busy = after.get("ferrovox_worker_busy_seconds_total{worker=\"0\"}");
    assert!(
        busy > 0.0 && busy < started.elapsed().as_secs_f64(),
        "worker busy {busy} s"
    );

    // A reload keeps every counter where it was.
    d.reload().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let reloaded = scrape(addr);
    check_dashboard(&reloaded);
    for (k, v) in &after.series {
        let is_counter = after
            .text
            .contains(&format!("# TYPE {} counter", k.split('{').next().unwrap()));
        if is_counter {
            let now = reloaded.series.get(k).copied().unwrap_or(-1.0);
            assert!(now >= *v, "{k} went from {v} to {now} across the reload");
        }
    }
    eprintln!(
        "scrapes: {} series; took {:?} before, {:?} during {CALLS} calls, {:?} after, \
         {:?} after the reload (the daemon's own gathering: {} s)",
        after.series.len(),
        before.took,
        during.took,
        after.took,
        reloaded.took,
        during.get("ferrovox_scrape_duration_seconds"),
    );
}

/// The values once every call ended.
fn check_after(s: &Scrape, uas_member: &str, dead_member: &str, pairs: f64, ext_free: &str) {
    let calls = f64::from(CALLS);
    assert_eq!(s.get("ferrovox_sip_calls_routed_total"), calls);
    assert_eq!(
        s.get("ferrovox_sip_calls_total{result=\"answered\"}"),
        calls
    );
    assert_eq!(s.sum("ferrovox_sip_calls_total", &["failed_"]), 0.0);
    let failovers = s.get("ferrovox_sip_failovers_total");
    assert!(
        (1.0..=calls).contains(&failovers),
        "round robin over a dead and a live member: {failovers} failovers"
    );
    // Each failover is a call tried on the dead member first.
    assert_eq!(
        s.get(&format!("ferrovox_member_calls_total{dead_member}")),
        failovers
    );
    assert_eq!(
        s.get(&format!("ferrovox_member_calls_total{uas_member}")),
        calls
    );
    assert_eq!(
        s.get(&format!("ferrovox_member_active_calls{uas_member}")),
        0.0
    );
    let dead_active = format!(
        "ferrovox_member_state{}",
        dead_member.replace('}', ",state=\"active\"}")
    );
    assert_eq!(
        s.get(&dead_active),
        0.0,
        "the dead member is no longer active"
    );
    assert!(s.get("ferrovox_sip_requests_received_total{method=\"INVITE\"}") >= calls);
    assert!(s.get("ferrovox_sip_requests_received_total{method=\"BYE\"}") >= calls);
    assert!(s.get("ferrovox_sip_responses_received_total{class=\"2xx\"}") >= 2.0 * calls);
    assert!(s.get("ferrovox_sip_icmp_errors_total{kind=\"port_unreachable\"}") >= failovers);
    assert_eq!(s.get("ferrovox_media_sessions"), 0.0);
    assert_eq!(s.get("ferrovox_media_sessions_created_total"), calls);
    assert_eq!(
        s.get("ferrovox_media_sessions_ended_total{reason=\"deleted\"}"),
        calls
    );
    assert_eq!(s.get(ext_free), pairs, "every relay port free again");
    assert_eq!(
        s.get("ferrovox_media_anchor_total{kind=\"offer\"}"),
        s.get("ferrovox_sip_anchor_sdp_total{kind=\"offer\"}")
    );
    // sipp streams 50 packets a second each way for the 3 s hold: at least 2 s of it each way.
    let relayed = s.get("ferrovox_media_packets_relayed_total");
    assert!(
        relayed >= calls * 2.0 * 100.0 && relayed <= calls * 2.0 * 200.0,
        "{relayed} packets relayed for {CALLS} calls of 3 s"
    );
    assert_eq!(
        relayed,
        s.sum("ferrovox_worker_forwarded_packets_total", &[]),
        "the total is the workers' sum"
    );
    assert_eq!(
        s.get("ferrovox_worker_queued_commands{worker=\"0\"}"),
        0.0,
        "the worker took every command of the calls"
    );
    eprintln!(
        "after {CALLS} calls: {failovers} failovers, {relayed} packets relayed, drops {:?}",
        s.sum("ferrovox_media_drops_total", &[])
    );
}

/// The shipped Grafana dashboard (`deploy/grafana/ferrovox.json`), from the workspace root.
const DASHBOARD: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../deploy/grafana/ferrovox.json"
);
/// Families this test's daemon cannot show, each with the exposition code that declares it
/// (under `crates/control/src/`) and why it is absent here: a name the dashboard uses that
/// starts with one of these prefixes must be declared (quoted) in that file instead.
const CONDITIONAL: [(&str, &str, &str); 2] = [
    (
        "ferrovox_nic_",
        "metrics_media.rs",
        "DPDK ports only: a socket-backend daemon has no NIC",
    ),
    (
        "ferrovox_member_probe_rtt_seconds",
        "metrics_members.rs",
        "members that answered an OPTIONS probe only: the sipp member answers none",
    ),
];

/// Every metric the dashboard's queries name is a family of the scrape `s` (a histogram's
/// `_bucket`, `_sum`, `_count` series count as its family), or one of [`CONDITIONAL`]
/// declared in its exposition code; every PromQL expression parses (promtool).
fn check_dashboard(s: &Scrape) {
    let text = std::fs::read_to_string(DASHBOARD).unwrap();
    let dash: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{DASHBOARD} is not JSON: {e}"));
    let (mut exprs, mut queries) = (Vec::new(), Vec::new());
    collect_queries(&dash, None, &mut exprs, &mut queries);
    assert!(
        exprs.len() >= 40,
        "{DASHBOARD}: only {} panel expressions found",
        exprs.len()
    );
    promtool_check_exprs(&exprs);
    let families: BTreeMap<&str, &str> = s
        .text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_once(' '))
        .collect();
    let control = concat!(env!("CARGO_MANIFEST_DIR"), "/../crates/control/src/");
    let mut names: Vec<String> = exprs
        .iter()
        .chain(&queries)
        .flat_map(|q| metric_names(q))
        .collect();
    names.sort_unstable();
    names.dedup();
    let mut missing = Vec::new();
    for name in &names {
        let histogram = ["_bucket", "_sum", "_count"].iter().any(|suffix| {
            name.strip_suffix(suffix)
                .and_then(|base| families.get(base))
                .is_some_and(|t| *t == "histogram" || *t == "summary")
        });
        let declared = CONDITIONAL.iter().any(|(prefix, file, _)| {
            name.starts_with(prefix)
                && std::fs::read_to_string(format!("{control}{file}"))
                    .unwrap()
                    .contains(&format!("\"{name}\""))
        });
        if !families.contains_key(name.as_str()) && !histogram && !declared {
            missing.push(name.as_str());
        }
    }
    assert!(
        missing.is_empty(),
        "{DASHBOARD} queries metrics the daemon does not expose: {missing:?}\nthe scrape:\n{}",
        s.text
    );
    let absent: Vec<&str> = CONDITIONAL
        .iter()
        .filter(|(prefix, _, _)| names.iter().any(|n| n.starts_with(prefix)))
        .map(|(_, _, why)| *why)
        .collect();
    eprintln!(
        "dashboard: {} expressions naming {} metrics, each in the scrape or declared for: {absent:?}",
        exprs.len(),
        names.len(),
    );
}

/// The PromQL of the dashboard: panel targets' `expr` into `exprs`; template variables'
/// `query` and `definition` (Grafana's `label_values(...)`, not PromQL) into `queries`.
fn collect_queries(
    v: &serde_json::Value,
    key: Option<&str>,
    exprs: &mut Vec<String>,
    queries: &mut Vec<String>,
) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                collect_queries(v, Some(k), exprs, queries);
            }
        }
        serde_json::Value::Array(a) => {
            for v in a {
                collect_queries(v, key, exprs, queries);
            }
        }
        serde_json::Value::String(q) => match key {
            Some("expr") => exprs.push(q.clone()),
            Some("query" | "definition") => queries.push(q.clone()),
            _ => {}
        },
        _ => {}
    }
}

/// The `ferrovox_[a-z0-9_]+` identifiers of `query`.
fn metric_names(query: &str) -> Vec<String> {
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    let mut out = Vec::new();
    let mut rest = query;
    while let Some(at) = rest.find("ferrovox_") {
        let starts_word = !rest[..at].ends_with(ident);
        let tail = &rest[at..];
        let end = tail.find(|c: char| !ident(c)).unwrap_or(tail.len());
        if starts_word {
            out.push(tail[..end].to_owned());
        }
        rest = &tail[end..];
    }
    out
}

/// `promtool check rules` on a rule file with one recording rule per expression (Grafana's
/// `$__rate_interval` and `$instance` replaced by what Grafana would put there).
fn promtool_check_exprs(exprs: &[String]) {
    let promtool = tools::find(PROMTOOL).unwrap_or_else(|e| panic!("{e}"));
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (n, e) in exprs.iter().enumerate() {
        let e = e
            .replace("$__rate_interval", "1m")
            .replace("$instance", ".*");
        let quoted = serde_json::to_string(&e).unwrap();
        rules.push_str(&format!(
            "      - record: dashboard:expr{n}\n        expr: {quoted}\n"
        ));
    }
    let file = tempfile::Builder::new()
        .prefix("dashboard-rules.")
        .suffix(".yml")
        .tempfile()
        .unwrap();
    std::fs::write(file.path(), &rules).unwrap();
    let out = Command::new(promtool)
        .args(["check", "rules"])
        .arg(file.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{DASHBOARD}: an expression does not parse: {}{}\n{rules}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// OPTIONS to the proxy itself, answered 200 within 2 s; how long it took.
fn options_ok(proxy: SocketAddr, n: u32) -> Duration {
    let s = UdpSocket::bind((LOOPBACK, 0)).unwrap();
    let from = s.local_addr().unwrap();
    let msg = format!(
        "OPTIONS sip:{proxy} SIP/2.0\r\nVia: SIP/2.0/UDP {from};branch=z9hG4bKmet{n}\r\n\
         Max-Forwards: 70\r\nFrom: <sip:probe@127.0.0.1>;tag=m{n}\r\nTo: <sip:{proxy}>\r\n\
         Call-ID: metrics-{n}@127.0.0.1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    );
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let sent = Instant::now();
    s.send_to(msg.as_bytes(), proxy).unwrap();
    let mut buf = [0u8; 4096];
    let n = s.recv(&mut buf).expect("the proxy answers OPTIONS");
    let head = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(head.starts_with("SIP/2.0 200"), "{head}");
    sent.elapsed()
}

/// Sends `req` and reads what comes back until the server closes (or 5 s pass).
fn raw(addr: SocketAddr, req: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    // A server that answers before the whole request is sent may close on the rest.
    let _ = s.write_all(req);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn abuse_of_the_endpoint_is_refused_while_sip_keeps_answering() {
    let ports = PortBlock::take().unwrap();
    let ext = ports.relay_external();
    let sip = format!(
        "[sip]\nlisten = [\"127.0.0.1:{}\"]\ntransports = [\"udp\"]\n\n\
         [[set]]\nname = \"pool\"\n[set.media]\nanchor = false\n\
         [[set.member]]\nuri = \"sip:127.0.0.1:{}\"\n\n\
         [metrics]\nlisten = \"127.0.0.1:{}\"\nmax_connections = 8\ntimeout_secs = 1\n",
        ports.proxy_sip(),
        ports.uas_sip(),
        ports.metrics()
    );
    let cfg = DaemonConfig::new(ports.ng())
        .interface("external", *ext.start(), *ext.end())
        .raw(&sip);
    let d = Daemon::start(&cfg).unwrap();
    let addr = SocketAddr::from((LOOPBACK, ports.metrics()));
    let proxy = SocketAddr::from((LOOPBACK, ports.proxy_sip()));
    let status = |r: &str| r.get(9..12).and_then(|c| c.parse::<u16>().ok());

    // Not a scrape: each gets its error.
    for (req, want) in [
        (&b"GET / HTTP/1.1\r\n\r\n"[..], 404),
        (
            b"POST /metrics HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc",
            405,
        ),
        (b"BREW /metrics HTTP/1.1\r\n\r\n", 405),
        (b"GET /metrics HTTP/9.9\r\n\r\n", 505),
        (b"\x00\x01\x02 nonsense\r\n\r\n", 400),
    ] {
        let r = raw(addr, req);
        assert_eq!(
            status(&r),
            Some(want),
            "{:?}: {r}",
            String::from_utf8_lossy(req)
        );
    }
    // A huge request head: 431, and the daemon does not read 4 MB to say so.
    let mut huge = b"GET /metrics HTTP/1.1\r\nX-Junk: ".to_vec();
    huge.resize(4 << 20, b'j');
    let r = raw(addr, &huge);
    assert_eq!(status(&r), Some(431), "{r}");
    // A slow client (a byte every 300 ms) is closed at the 1 s timeout, unanswered.
    let mut slow = TcpStream::connect(addr).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let started = Instant::now();
    let mut closed = false;
    for b in b"GET /metrics HTTP/1.1\r\n" {
        if slow.write_all(&[*b]).is_err() {
            closed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(300));
        if started.elapsed() > Duration::from_secs(3) {
            break;
        }
    }
    let mut rest = Vec::new();
    let _ = slow.read_to_end(&mut rest);
    assert!(
        closed || rest.is_empty(),
        "a slow client got {:?}",
        String::from_utf8_lossy(&rest)
    );
    assert!(started.elapsed() < Duration::from_secs(4));
    // 200 connections at once that send nothing: 8 are held (until the timeout), the rest
    // are told 503 at once; SIP answers all along.
    let held: Vec<TcpStream> = (0..200)
        .filter_map(|_| TcpStream::connect(addr).ok())
        .collect();
    let mut refused = 0;
    for mut c in held.iter().skip(8).take(20) {
        c.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let mut out = String::new();
        let _ = c.read_to_string(&mut out);
        if status(&out) == Some(503) {
            refused += 1;
        }
    }
    assert!(
        refused >= 19,
        "{refused} of 20 connections beyond the cap told 503"
    );
    let mut worst = Duration::ZERO;
    for n in 0..20 {
        worst = worst.max(options_ok(proxy, n));
    }
    drop(held);
    // Once the held connections time out, scrapes are served again.
    std::thread::sleep(Duration::from_millis(1500));
    let (code, body) = http_get(addr, "/metrics");
    assert_eq!(code, 200, "{body}\n{}", d.log_tail(20));
    assert!(body.contains("ferrovox_sip_up 1"), "{body}");
    eprintln!("SIP answered OPTIONS within {worst:?} during the abuse");
}
