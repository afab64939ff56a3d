//! Faults seen at the speed of the network, against the real `ferrovox` binary on 127.0.0.1:
//! a pool member killed with SIGKILL answers the next datagram sent to it with ICMP port
//! unreachable, which the daemon reads from its SIP socket's error queue (`IP_RECVERR`). The
//! calls waiting on that member fail over at once and its health counts the failure at once,
//! where a timeout (`fr_timeout_ms`, the probe's `timeout_ms`) would take seconds.
//!
//! The caller's messages come from sipp's one-line-per-message trace; the members log every
//! INVITE and BYE they take; the member states from the daemon's log. Traffic stays on
//! 127.0.0.1 and every wait is bounded.

#![allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a test failure.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use e2e::daemon::{Daemon, DaemonConfig};
use e2e::need::{self, Need};
use e2e::ports::{PortBlock, LOOPBACK};
use e2e::sipp_pool::{MemberSpec, Pool, Uac, UacSpec};
use e2e::tools::{self, SIPP};

const TEST: &str = "edge_icmp";
/// Calls a second from the caller.
const RATE: u32 = 200;
/// Seconds of calls before the kill, and after it.
const BEFORE_KILL: u32 = 3;
const AFTER_KILL: u32 = 4;
/// How long each answered call is held before its BYE.
const HOLD: Duration = Duration::from_millis(200);
/// The INVITE timeout of the proxy, as in the measurement of the issue.
const FR_TIMEOUT_MS: u32 = 2000;
/// Calls whose INVITE left in this first stretch are the warm-up, not the reference.
const WARM_UP: f64 = 1.0;
/// How much slower than the slowest call before the kill any call after it may be set up.
const SLOWER_AT_MOST: f64 = 0.100;
/// How long after the kill the member must be DOWN.
const DOWN_WITHIN: f64 = 1.0;
/// The longest the caller may run.
const WAIT: Duration = Duration::from_secs(60);

fn sipp() -> PathBuf {
    tools::find(SIPP).unwrap_or_else(|e| panic!("{e}"))
}

/// Two answering members on the block's ports (the UAS port and the one 4 above it), a
/// daemon in front of them with `health` as the set's `[set.health]` body.
struct Bed {
    ports: PortBlock,
    dir: tempfile::TempDir,
    pool: Pool,
    daemon: Daemon,
}

impl Bed {
    fn start(health: &str) -> Bed {
        let sipp = sipp();
        let ports = PortBlock::take().unwrap();
        let dir = tempfile::Builder::new()
            .prefix("edge-icmp.")
            .tempdir()
            .unwrap();
        let specs: Vec<MemberSpec> = (0..2u16)
            .map(|i| {
                let mut s = MemberSpec::answering(ports.uas_sip() + 4 * i);
                s.media_port = Some(*ports.uas_media().start() + 10 * i);
                s
            })
            .collect();
        let pool = Pool::start(&sipp, dir.path(), &specs).unwrap();
        // Signalling only: this test counts failovers at 200 calls/s (anchored calls are
        // anchored_call's).
        let mut toml = format!(
            "[sip]\nlisten = [\"127.0.0.1:{}\"]\ntransports = [\"udp\"]\nfr_timeout_ms = {FR_TIMEOUT_MS}\n\n\
             [[set]]\nname = \"pool\"\nalgorithm = \"round_robin\"\n\
             [set.media]\nanchor = false\n[set.health]\n{health}\n",
            ports.proxy_sip()
        );
        for m in pool.members() {
            toml.push_str(&format!("\n[[set.member]]\nuri = \"{}\"\n", m.uri()));
        }
        let relay = ports.relay_external();
        let cfg = DaemonConfig::new(ports.ng())
            .interface("external", *relay.start(), *relay.end())
            .raw(&toml);
        let daemon = Daemon::start(&cfg).unwrap();
        Bed {
            ports,
            dir,
            pool,
            daemon,
        }
    }

    /// A caller of `calls` calls at [`RATE`] through the daemon, each held [`HOLD`], tracing
    /// one line per message.
    fn caller(&self, calls: u32) -> UacSpec {
        let proxy = std::net::SocketAddr::from((LOOPBACK, self.ports.proxy_sip()));
        let mut spec = UacSpec::new(proxy, self.ports.uac_sip(), calls);
        spec.media_port = Some(*self.ports.uac_media().start());
        spec.rate = RATE;
        spec.hold = HOLD;
        spec.trace_short_messages = true;
        spec
    }

    /// Kills member `i` (SIGKILL to its process group) and returns when, in Unix seconds.
    fn kill(&mut self, i: usize) -> f64 {
        let at = unix_now();
        self.pool.member_mut(i).unwrap().kill();
        at
    }

    /// When member `i` was first logged DOWN after `after` (Unix seconds), waiting up to
    /// `limit` for it.
    fn down_at(&self, i: usize, after: f64, limit: Duration) -> f64 {
        let uri = self.pool.members()[i].uri();
        let end = Instant::now() + limit;
        loop {
            if let Some(t) = transition_at(&self.daemon.log(), &uri, "down", after) {
                return t;
            }
            assert!(
                Instant::now() < end,
                "{uri} never DOWN\n{}",
                self.daemon.log_tail(40)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// Unix seconds of a daemon log line (`YYYY-MM-DDTHH:MM:SS.ffffffZ ...`), given a Unix time
/// `near` it (within hours) for the date.
fn log_time(line: &str, near: f64) -> Option<f64> {
    let t = line.split_whitespace().next()?.split('T').nth(1)?;
    let mut it = t.trim_end_matches('Z').split(':');
    let h: f64 = it.next()?.parse().ok()?;
    let m: f64 = it.next()?.parse().ok()?;
    let s: f64 = it.next()?.parse().ok()?;
    let of_day = h * 3600.0 + m * 60.0 + s;
    let midnight = near - near.rem_euclid(86_400.0);
    // The nearest of yesterday, today and tomorrow at that time of day.
    [-86_400.0, 0.0, 86_400.0]
        .into_iter()
        .map(|d| midnight + d + of_day)
        .min_by(|a, b| (a - near).abs().total_cmp(&(b - near).abs()))
}

/// The time of the first "member state changed" line for `uri` to state `to` at or after
/// `after` (Unix seconds).
fn transition_at(log: &Path, uri: &str, to: &str, after: f64) -> Option<f64> {
    let text = std::fs::read_to_string(log).ok()?;
    text.lines()
        .filter(|l| l.contains("member state changed") && l.contains(uri))
        .filter(|l| l.contains(&format!("to=\"{to}\"")) || l.contains(&format!("to={to}")))
        .filter_map(|l| log_time(l, after))
        .find(|t| *t >= after - 0.001)
}

/// One call as the caller saw it, from its message trace (Unix seconds).
#[derive(Debug, Default, Clone)]
struct Call {
    /// The first INVITE sent.
    invite: Option<f64>,
    /// The first 200 to the INVITE.
    answered: Option<f64>,
    /// A 200 to the BYE came.
    ended: bool,
    /// Every other response received (provisional and final), for the failure messages.
    others: Vec<String>,
}

impl Call {
    fn succeeded(&self) -> bool {
        self.answered.is_some() && self.ended
    }

    /// INVITE to 200, in seconds.
    fn setup(&self) -> Option<f64> {
        Some(self.answered? - self.invite?)
    }
}

/// The calls of a sipp short-message trace, by Call-ID.
fn read_calls(path: &Path) -> BTreeMap<String, Call> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut calls: BTreeMap<String, Call> = BTreeMap::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        let [_, _, time, dir, call_id, cseq, first, ..] = f[..] else {
            continue;
        };
        let Ok(t) = time.parse::<f64>() else {
            continue;
        };
        let c = calls.entry(call_id.to_owned()).or_default();
        let invite = cseq.ends_with(" INVITE");
        match dir {
            "S" if invite && first.starts_with("INVITE") => {
                c.invite.get_or_insert(t);
            }
            "R" if first.starts_with("SIP/2.0 200") && invite => {
                c.answered.get_or_insert(t);
            }
            "R" if first.starts_with("SIP/2.0 200") && cseq.ends_with(" BYE") => c.ended = true,
            "R" if first.starts_with("SIP/2.0") => c.others.push(format!("{cseq}: {first}")),
            _ => {}
        }
    }
    calls
}

/// "p50 / p99 / max" of `v` in milliseconds, with the count.
fn distribution(v: &mut [f64]) -> (String, f64) {
    v.sort_by(f64::total_cmp);
    let at = |q: f64| {
        let i = ((v.len() as f64 - 1.0) * q).round() as usize;
        v.get(i).copied().unwrap_or(f64::NAN) * 1000.0
    };
    let max = v.last().copied().unwrap_or(f64::NAN);
    let text = format!(
        "{} calls: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        v.len(),
        at(0.5),
        at(0.99),
        max * 1000.0
    );
    (text, max)
}

#[test]
fn a_member_killed_under_200_calls_a_second_is_down_at_once_and_no_new_call_fails() {
    if !need::met(TEST, &[Need::Sipp]) {
        return;
    }
    // Probes every 10 s with a 2 s timeout: only the calls' ICMP errors can make it quick.
    let mut bed = Bed::start("interval_secs = 10\ntimeout_ms = 2000\ndown_after = 3");
    let calls = RATE * (BEFORE_KILL + AFTER_KILL);
    let mut uac = Uac::start(&sipp(), &bed.dir.path().join("uac"), &bed.caller(calls)).unwrap();
    let started = unix_now();
    std::thread::sleep(Duration::from_secs(BEFORE_KILL.into()));
    let killed_at = bed.kill(1);
    let down = bed.down_at(1, killed_at, Duration::from_secs(10));
    let report = uac.wait(WAIT).unwrap();
    let trace = read_calls(uac.short_messages().unwrap());
    println!("{}", report.summary());
    println!("member DOWN {:.3} s after the kill", down - killed_at);
    assert_eq!(
        trace.len(),
        calls as usize,
        "every call placed is in the trace"
    );
    let failed = check_failures(&bed, &trace, killed_at);
    assert_eq!(report.stats.failed, failed as u64, "{}", report.summary());
    let setup = setup_times(&trace, started, killed_at);
    assert!(
        down - killed_at <= DOWN_WITHIN,
        "DOWN {:.3} s after the kill",
        down - killed_at
    );
    if let Err(slow) = setup {
        panic!("{slow}");
    }
}

/// The failed calls must be exactly the calls in progress on the killed member (1) when it
/// died: every call placed after the kill, and every call whose INVITE was on its way to the
/// killed member, succeeded. Returns how many failed.
fn check_failures(bed: &Bed, trace: &BTreeMap<String, Call>, killed_at: f64) -> usize {
    let survivor = bed.pool.members()[0].calls().unwrap();
    let killed = bed.pool.members()[1].calls().unwrap();
    // Who took what: a call in both members' logs reached the killed member and failed over.
    let took = |calls: &[String]| calls.iter().cloned().collect::<BTreeSet<String>>();
    let stayed_on_killed: BTreeSet<String> = &took(&killed.invites) - &took(&survivor.invites);
    // In progress on the killed member at the kill: it took the INVITE, and no BYE.
    let in_progress: BTreeSet<String> = &stayed_on_killed - &took(&killed.byes);
    let failed: BTreeSet<String> = trace
        .iter()
        .filter(|(_, c)| !c.succeeded())
        .map(|(id, _)| id.clone())
        .collect();
    let lost_bye = in_progress
        .iter()
        .filter(|id| trace.get(*id).is_some_and(|c| c.answered.is_some()))
        .count();
    println!(
        "{} calls, {} failed; in progress on the killed member at the kill: {} ({} answered \
         there and lost their BYE, {} with the INVITE answered provisionally there)",
        trace.len(),
        failed.len(),
        in_progress.len(),
        lost_bye,
        in_progress.len() - lost_bye
    );
    for id in &failed {
        let c = &trace[id];
        let placed_before = c.invite.is_some_and(|t| t < killed_at);
        assert!(
            in_progress.contains(id) && placed_before,
            "call {id} failed but was not in progress on the killed member: {c:?}\n{}",
            bed.daemon.log_tail(30)
        );
    }
    // And each of those did fail: an answered one has no member left for its BYE.
    assert_eq!(
        failed, in_progress,
        "calls in progress on the killed member that succeeded"
    );
    failed.len()
}

/// Prints the INVITE → 200 times before and after the kill; none after may be more than
/// [`SLOWER_AT_MOST`] slower than the slowest before (after the warm-up): `Err` names the
/// slowest call after the kill otherwise.
fn setup_times(trace: &BTreeMap<String, Call>, started: f64, killed_at: f64) -> Result<(), String> {
    let mut before = Vec::new();
    let mut after = Vec::new();
    let mut slowest: Vec<(f64, f64, &str)> = Vec::new();
    for (id, c) in trace {
        let (Some(setup), Some(sent), Some(answered)) = (c.setup(), c.invite, c.answered) else {
            continue;
        };
        if answered < killed_at {
            if sent >= started + WARM_UP {
                before.push(setup);
            }
        } else {
            after.push(setup);
            slowest.push((setup, sent - killed_at, id));
        }
    }
    let (text_before, max_before) = distribution(&mut before);
    let (text_after, max_after) = distribution(&mut after);
    println!("setup before the kill: {text_before}");
    println!("setup after the kill:  {text_after}");
    slowest.sort_by(|a, b| b.0.total_cmp(&a.0));
    for (setup, sent, id) in slowest.iter().take(5) {
        println!(
            "  {id}: {:.1} ms, INVITE sent {:+.1} ms from the kill",
            setup * 1000.0,
            sent * 1000.0
        );
    }
    assert!(!before.is_empty() && !after.is_empty());
    if max_after <= max_before + SLOWER_AT_MOST {
        return Ok(());
    }
    Err(format!(
        "a call set up in {:.1} ms after the kill, the slowest before took {:.1} ms",
        max_after * 1000.0,
        max_before * 1000.0
    ))
}

#[test]
fn a_killed_members_probe_fails_at_once_instead_of_timing_out() {
    if !need::met(TEST, &[Need::Sipp]) {
        return;
    }
    // No calls, and calls would not count anyway (passive off): only the probe (every
    // second) sees the member go. A timeout would take 5 s after the probe.
    let mut bed =
        Bed::start("interval_secs = 1\ntimeout_ms = 5000\ndown_after = 1\npassive = false");
    std::thread::sleep(Duration::from_millis(1500));
    let killed_at = bed.kill(1);
    let down = bed.down_at(1, killed_at, Duration::from_secs(10));
    println!("member DOWN {:.3} s after the kill", down - killed_at);
    // The next probe leaves within the interval and its error comes back at once.
    assert!(
        down - killed_at <= 1.0 + 0.2,
        "DOWN {:.3} s after the kill\n{}",
        down - killed_at,
        bed.daemon.log_tail(30)
    );
}
