//! SIP flood protection against the real `ferrovox` binary on 127.0.0.0/8: one source floods
//! the proxy with INVITEs at ten times what the proxy can forward, while a legitimate sipp
//! caller on another address places calls through a sipp pool member. The calls complete, the
//! daemon's memory stays bounded, the flooding source is banned (the daemon logs the ban with
//! its counters) and hears nothing once banned.
//!
//! What the proxy can forward is measured first, on a daemon with `[sip.flood] enabled =
//! false`: the same INVITEs sent as fast as the test can, counted where the proxy forwards
//! them. The protected daemon then runs with the shipped `[sip.flood]` defaults (200
//! messages/s per source, burst 400, banned for 300 s after 2 s over the rate).
//!
//! The flood's INVITEs are routed (by their Request-URI user `flood`) to a set whose one
//! member is a socket of the test that reads and counts them and never answers; the caller's
//! calls go to the sipp member. Every loop is bounded in count and time; all traffic is on
//! loopback.

#![allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a test failure.

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use e2e::daemon::{Daemon, DaemonConfig};
use e2e::need::{self, Need};
use e2e::ports::{PortBlock, LOOPBACK};
use e2e::sipp_pool::{MemberSpec, Pool, Uac, UacSpec};
use e2e::tools::{self, SIPP};

const TEST: &str = "edge_flood";
/// The flooding source.
const FLOODER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 66);
/// The legitimate caller's address: not a member's, so the default limits apply to it.
const CALLER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
/// How long the measuring flood lasts, and the window it is measured over (its end).
const MEASURE: Duration = Duration::from_millis(2000);
const MEASURE_WINDOW: Duration = Duration::from_millis(1000);
/// The flood, as a multiple of what the proxy forwards, and how long it lasts.
const FLOOD_FACTOR: f64 = 10.0;
const FLOOD: Duration = Duration::from_secs(5);
/// The caller: calls per second, and for how long (the flood starts a second in).
const CALLS_PER_SEC: u32 = 50;
const CALL_SECS: u32 = 8;
/// The share of the caller's calls that must complete.
const MIN_SUCCESS: f64 = 0.99;
/// The daemon's resident memory may grow by at most this over its idle size.
const RSS_GROWTH_BOUND_KB: u64 = 24 * 1024;
/// After the ban is logged, replies already on their way may still land for this long.
const IN_FLIGHT: Duration = Duration::from_millis(200);

fn sipp() -> PathBuf {
    tools::find(SIPP).unwrap_or_else(|e| panic!("{e}"))
}

/// The sink's port in the block (0 proxy, 2 caller, 4 member, 6 ng).
fn sink_port(ports: &PortBlock) -> u16 {
    ports.base() + 10
}

/// A daemon in front of the sipp member (`pool`) and the test's sink (`sink`), with `flood`
/// as its `[sip.flood]` body.
fn daemon(ports: &PortBlock, flood: &str) -> Daemon {
    let toml = format!(
        "[sip]\nlisten = [\"127.0.0.1:{proxy}\"]\ntransports = [\"udp\"]\n\n\
         [sip.flood]\n{flood}\n\n\
         [[set]]\nname = \"pool\"\n[[set.member]]\nuri = \"sip:127.0.0.1:{member}\"\n\n\
         [[set]]\nname = \"sink\"\n[set.health]\ninterval_secs = 3600\npassive = false\n\
         [[set.member]]\nuri = \"sip:127.0.0.1:{sink}\"\n\n\
         [[route]]\nname = \"flood\"\nruri_user_prefix = \"flood\"\nset = \"sink\"\n\n\
         [[route]]\nname = \"calls\"\nset = \"pool\"\n",
        proxy = ports.proxy_sip(),
        member = ports.uas_sip(),
        sink = sink_port(ports),
    );
    let relay = ports.relay_external();
    let cfg = DaemonConfig::new(ports.ng())
        .interface("external", *relay.start(), *relay.end())
        .raw(&toml);
    Daemon::start(&cfg).unwrap()
}

/// The digits of a flood message's number (in its branch, tag and Call-ID).
const DIGITS: usize = 10;

/// The flood's INVITE from `from` to `proxy`, numbered 0; the offsets of its numbers.
fn template(from: SocketAddr, proxy: SocketAddr) -> (Vec<u8>, Vec<usize>) {
    let zero = "0".repeat(DIGITS);
    let text = format!(
        "INVITE sip:flood@{proxy} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {from};branch=z9hG4bK-f{zero};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:flood@{ip}>;tag=f{zero}\r\n\
         To: <sip:flood@{proxy}>\r\n\
         Call-ID: flood-{zero}@{ip}\r\n\
         CSeq: 1 INVITE\r\n\
         Contact: <sip:flood@{from}>\r\n\
         Content-Length: 0\r\n\r\n",
        ip = from.ip()
    );
    let offsets = text.match_indices(&zero).map(|(i, _)| i).collect();
    (text.into_bytes(), offsets)
}

/// Writes `n` into `msg` at each offset, zero-padded.
fn number(msg: &mut [u8], offsets: &[usize], n: u64) {
    let digits = format!("{n:0DIGITS$}");
    for &o in offsets {
        msg[o..o + DIGITS].copy_from_slice(digits.as_bytes());
    }
}

/// The number of a flood message from its Call-ID, in any SIP message.
fn flood_number(msg: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(msg).ok()?;
    let at = text.find("Call-ID: flood-")? + "Call-ID: flood-".len();
    text.get(at..at + DIGITS)?.parse().ok()
}

/// What a flood sent, with checkpoints (time, messages sent by then) every 10 ms.
struct Sent {
    total: u64,
    elapsed: Duration,
    start: Instant,
    checkpoints: Vec<(Instant, u64)>,
}

impl Sent {
    fn rate(&self) -> f64 {
        self.total as f64 / self.elapsed.as_secs_f64()
    }

    /// Messages sent after `t`.
    fn after(&self, t: Instant) -> u64 {
        let before = self
            .checkpoints
            .iter()
            .take_while(|(at, _)| *at <= t)
            .last()
            .map_or(0, |(_, n)| *n);
        self.total - before
    }
}

/// Sends numbered INVITEs from `socket` for `duration`: `rate` a second, or as fast as it
/// can when `rate` is 0.
fn send_flood(socket: &UdpSocket, proxy: SocketAddr, rate: f64, duration: Duration) -> Sent {
    let (mut msg, offsets) = template(socket.local_addr().unwrap(), proxy);
    let start = Instant::now();
    let mut sent = 0u64;
    let mut checkpoints = Vec::new();
    let mut next_checkpoint = start;
    loop {
        let now = Instant::now();
        let elapsed = now - start;
        if elapsed >= duration {
            break;
        }
        if now >= next_checkpoint {
            checkpoints.push((now, sent));
            next_checkpoint += Duration::from_millis(10);
        }
        let due = if rate > 0.0 {
            (rate * elapsed.as_secs_f64()) as u64
        } else {
            sent + 64
        };
        if sent >= due {
            thread::sleep(Duration::from_micros(200));
            continue;
        }
        let batch_end = due.min(sent + 256);
        while sent < batch_end {
            number(&mut msg, &offsets, sent);
            // A full receive queue at the proxy drops the datagram: part of a flood.
            let _ = socket.send_to(&msg, proxy);
            sent += 1;
        }
    }
    Sent {
        total: sent,
        elapsed: start.elapsed(),
        start,
        checkpoints,
    }
}

/// A thread reading `socket` until `stop`, keeping (arrival, flood number) of every
/// datagram that is a request of `method` (the sink) or any response (the flooder).
struct Listener {
    stop: Arc<AtomicBool>,
    thread: thread::JoinHandle<Vec<(Instant, u64)>>,
}

impl Listener {
    fn start(socket: UdpSocket, requests: Option<&'static str>) -> Listener {
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = thread::spawn(move || {
            let mut got = Vec::new();
            let mut buf = vec![0u8; 65_536];
            while !flag.load(Ordering::Relaxed) && got.len() < 2_000_000 {
                let Ok(n) = socket.recv(&mut buf) else {
                    continue;
                };
                let msg = &buf[..n];
                let wanted = match requests {
                    Some(method) => msg.starts_with(method.as_bytes()),
                    None => msg.starts_with(b"SIP/2.0 "),
                };
                if let (true, Some(k)) = (wanted, flood_number(msg)) {
                    got.push((Instant::now(), k));
                }
            }
            got
        });
        Listener { stop, thread }
    }

    fn finish(self) -> Vec<(Instant, u64)> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap()
    }
}

/// The first arrival of each flood number.
fn distinct(got: &[(Instant, u64)]) -> HashMap<u64, Instant> {
    let mut first = HashMap::new();
    for &(t, k) in got {
        first.entry(k).or_insert(t);
    }
    first
}

/// The daemon's resident memory (kB), from `/proc/<pid>/status`.
fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Samples the daemon's RSS every 50 ms until `stop`; the highest seen.
fn rss_sampler(pid: u32, stop: Arc<AtomicBool>) -> thread::JoinHandle<u64> {
    thread::spawn(move || {
        let mut max = 0;
        while !stop.load(Ordering::Relaxed) {
            max = max.max(rss_kb(pid));
            thread::sleep(Duration::from_millis(50));
        }
        max.max(rss_kb(pid))
    })
}

/// Follows a log file from its current end, remembering when the first line holding
/// `needle` appeared.
struct LogWatch {
    path: PathBuf,
    offset: u64,
    line: Option<(Instant, String)>,
}

impl LogWatch {
    fn new(path: &Path) -> LogWatch {
        let offset = std::fs::metadata(path).map_or(0, |m| m.len());
        LogWatch {
            path: path.to_owned(),
            offset,
            line: None,
        }
    }

    /// Reads what was appended since the last poll.
    fn poll(&mut self, needle: &str) {
        if self.line.is_some() {
            return;
        }
        let Ok(mut f) = std::fs::File::open(&self.path) else {
            return;
        };
        let mut text = String::new();
        if f.seek(SeekFrom::Start(self.offset)).is_err() || f.read_to_string(&mut text).is_err() {
            return;
        }
        // Only whole lines: a line being written is read again at the next poll.
        let whole = text.rfind('\n').map_or(0, |i| i + 1);
        if let Some(l) = text[..whole].lines().find(|l| l.contains(needle)) {
            self.line = Some((Instant::now(), l.to_owned()));
        }
        self.offset += whole as u64;
    }
}

/// The number after `key` in `line`.
fn number_after(line: &str, key: &str) -> Option<u64> {
    let at = line.find(key)? + key.len();
    let digits: String = line[at..]
        .chars()
        .skip_while(|c| *c == ' ')
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// INVITEs a second the unprotected proxy forwards while the test sends as fast as it can.
fn measure_capacity() -> f64 {
    let ports = PortBlock::take().unwrap();
    let sink = Listener::start(
        UdpSocket::bind((LOOPBACK, sink_port(&ports))).unwrap(),
        Some("INVITE "),
    );
    let mut d = daemon(&ports, "enabled = false");
    let pid = d.process().pid();
    let idle = rss_kb(pid);
    let socket = UdpSocket::bind((FLOODER, 0)).unwrap();
    let proxy = SocketAddr::from((LOOPBACK, ports.proxy_sip()));
    let sent = send_flood(&socket, proxy, 0.0, MEASURE);
    thread::sleep(Duration::from_millis(200));
    let busy = rss_kb(pid);
    let forwarded = distinct(&sink.finish());
    let window_start = sent.start + MEASURE - MEASURE_WINDOW;
    let in_window = forwarded
        .values()
        .filter(|t| **t >= window_start && **t < sent.start + MEASURE)
        .count();
    let capacity = in_window as f64 / MEASURE_WINDOW.as_secs_f64();
    println!(
        "unprotected proxy: the test sent {} INVITEs in {:.2?} ({:.0}/s) from {FLOODER}; the \
         proxy forwarded {} in all, {capacity:.0}/s over the last {MEASURE_WINDOW:?}; its RSS \
         went from {} to {} kB",
        sent.total,
        sent.elapsed,
        sent.rate(),
        forwarded.len(),
        idle,
        busy
    );
    d.process().ensure_running().unwrap();
    assert!(
        capacity > 0.0,
        "the unprotected proxy forwarded no INVITE during the measurement"
    );
    capacity
}

/// The legitimate caller: 50 calls a second for 8 s from 127.0.0.2, each held 100 ms.
fn start_caller(sipp: &Path, dir: &Path, ports: &PortBlock) -> Uac {
    let mut spec = UacSpec::new(
        SocketAddr::from((LOOPBACK, ports.proxy_sip())),
        ports.uac_sip(),
        CALLS_PER_SEC * CALL_SECS,
    );
    spec.ip = CALLER;
    spec.media_port = Some(*ports.uac_media().start());
    spec.rate = CALLS_PER_SEC;
    spec.hold = Duration::from_millis(100);
    spec.timeout = Duration::from_secs(40);
    Uac::start(sipp, dir, &spec).unwrap()
}

/// The flood, 10x what the unprotected proxy forwards, from 127.0.0.66 for 5 s against the
/// shipped defaults while a caller on 127.0.0.2 places 50 calls/s through a sipp member:
/// at least 99% of the calls complete, the RSS grows by less than 24 MiB, the flooder is
/// banned (logged with the counters) and gets no reply once banned, and what it got through
/// before the ban is exactly what the daemon counted.
#[test]
fn a_flood_at_ten_times_capacity_is_banned_while_a_caller_completes_its_calls() {
    if !need::met(TEST, &[Need::Sipp]) {
        return;
    }
    let sipp = sipp();
    let dir = tempfile::Builder::new()
        .prefix("edge-flood.")
        .tempdir()
        .unwrap();
    let capacity = measure_capacity();
    let rate = (capacity * FLOOD_FACTOR).ceil();

    let ports = PortBlock::take().unwrap();
    let _pool = Pool::start(
        &sipp,
        &dir.path().join("pool"),
        &[MemberSpec {
            media_port: Some(*ports.uas_media().start()),
            ..MemberSpec::answering(ports.uas_sip())
        }],
    )
    .unwrap();
    let sink = Listener::start(
        UdpSocket::bind((LOOPBACK, sink_port(&ports))).unwrap(),
        Some("INVITE "),
    );
    let mut d = daemon(&ports, "# the shipped defaults");
    let pid = d.process().pid();
    thread::sleep(Duration::from_millis(300));
    let idle = rss_kb(pid);
    let stop_rss = Arc::new(AtomicBool::new(false));
    let rss = rss_sampler(pid, stop_rss.clone());
    let mut log = LogWatch::new(&d.log());

    let mut caller = start_caller(&sipp, &dir.path().join("caller"), &ports);
    thread::sleep(Duration::from_secs(1));
    let socket = UdpSocket::bind((FLOODER, 0)).unwrap();
    let replies = Listener::start(socket.try_clone().unwrap(), None);
    let proxy = SocketAddr::from((LOOPBACK, ports.proxy_sip()));
    let sender = thread::spawn(move || send_flood(&socket, proxy, rate, FLOOD));
    // Watch for the ban while the flood runs, and 3 s more (the forwarded INVITEs' timeouts,
    // fr_timeout = 5 s after they passed, would be answered then).
    let watch_end = Instant::now() + FLOOD + Duration::from_secs(3);
    while Instant::now() < watch_end {
        log.poll("SIP flood protection: source 127.0.0.66/32 banned");
        thread::sleep(Duration::from_millis(10));
    }
    let sent = sender.join().unwrap();
    let replied = distinct(&replies.finish());
    let report = caller.wait(Duration::from_secs(45)).unwrap();
    stop_rss.store(true, Ordering::Relaxed);
    let max_rss = rss.join().unwrap();
    let forwarded = distinct(&sink.finish());
    d.process().ensure_running().unwrap();

    let ratio = report.stats.successful as f64 / f64::from(report.expected);
    println!(
        "flood: {} INVITEs in {:.2?} from {FLOODER}: {:.0}/s, {:.1}x the unprotected proxy's \
         {capacity:.0}/s",
        sent.total,
        sent.elapsed,
        sent.rate(),
        sent.rate() / capacity
    );
    println!(
        "caller {CALLER}: {} of {} calls successful ({:.2}%); {}",
        report.stats.successful,
        report.expected,
        100.0 * ratio,
        report.summary()
    );
    println!(
        "daemon RSS: {idle} kB idle, at most {max_rss} kB during the run (+{} kB; bound +{} kB)",
        max_rss.saturating_sub(idle),
        RSS_GROWTH_BOUND_KB
    );
    let Some((banned_at, line)) = log.line.clone() else {
        panic!(
            "the flooding source was not banned; the daemon's log ends:\n{}",
            d.log_tail(20)
        )
    };
    println!(
        "banned {:.2?} after the flood began; {} flood INVITEs sent after the ban was logged, \
         {} replies to the flooder in all; forwarded to the sink: {}\n  {line}",
        banned_at - sent.start,
        sent.after(banned_at),
        replied.len(),
        forwarded.len()
    );

    assert!(
        sent.rate() >= capacity * FLOOD_FACTOR * 0.95,
        "the test could not flood at {FLOOD_FACTOR}x the proxy's capacity ({rate:.0}/s): it \
         sent {:.0}/s; run it on a less loaded machine",
        sent.rate()
    );
    assert!(
        ratio >= MIN_SUCCESS,
        "only {:.2}% of the legitimate calls completed (at least {:.0}% required): {}\n{}",
        100.0 * ratio,
        100.0 * MIN_SUCCESS,
        report.summary(),
        caller.tail()
    );
    assert!(
        max_rss.saturating_sub(idle) <= RSS_GROWTH_BOUND_KB,
        "the daemon's RSS grew from {idle} kB to {max_rss} kB under the flood"
    );
    let passed = number_after(&line, "over its rate (").unwrap();
    assert_eq!(number_after(&line, "bans started"), Some(1), "{line}");
    // Each INVITE that passed before the ban got its 100 Trying and was forwarded; nothing
    // else ever reached the flooder, and nothing after the ban.
    assert_eq!(
        forwarded.len() as u64,
        passed,
        "forwarded vs passed: {line}"
    );
    assert!(replied.len() as u64 <= passed, "{} replies", replied.len());
    let late: Vec<_> = replied
        .iter()
        .filter(|(_, t)| **t > banned_at + IN_FLIGHT)
        .collect();
    assert!(
        late.is_empty(),
        "{} replies reached the flooder after its ban, e.g. to INVITE {:?}",
        late.len(),
        late.first()
    );
    assert!(
        banned_at + Duration::from_secs(2) < sent.start + sent.elapsed,
        "the flood ended less than 2 s after the ban: nothing shows the ban holds"
    );
    assert!(sent.after(banned_at + IN_FLIGHT) > 10_000);
}
