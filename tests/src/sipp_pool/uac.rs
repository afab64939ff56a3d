//! Callers: a sipp UAC placing a bounded number of calls at a given rate, and its report.

use std::fs;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::time::Duration;

use super::{read_stats, CallStats, PoolError, PoolResult, KILL_LIMIT, UAC_CALL};
use crate::process::{tail, Process};

/// What the caller's calls should meet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallScenario {
    /// `uac_call.xml`: answered, held, hung up.
    Answered,
    /// `uac_expect_<code>.xml`: refused with exactly this code (one of [`super::EXPECT_CODES`]).
    Refused(u16),
    /// A scenario of the test's own, its files named after `name`.
    Script {
        /// A file-name-friendly name.
        name: &'static str,
        /// The scenario text.
        xml: &'static str,
    },
}

impl CallScenario {
    /// The scenario text.
    pub fn xml(self) -> PoolResult<&'static str> {
        match self {
            CallScenario::Answered => Ok(UAC_CALL),
            CallScenario::Refused(404) => Ok(include_str!("../../sipp/uac_expect_404.xml")),
            CallScenario::Refused(486) => Ok(include_str!("../../sipp/uac_expect_486.xml")),
            CallScenario::Refused(500) => Ok(include_str!("../../sipp/uac_expect_500.xml")),
            CallScenario::Refused(503) => Ok(include_str!("../../sipp/uac_expect_503.xml")),
            CallScenario::Refused(code) => Err(PoolError::UnsupportedExpectCode(code)),
            CallScenario::Script { xml, .. } => Ok(xml),
        }
    }

    /// A file-name-friendly name.
    fn name(self) -> String {
        match self {
            CallScenario::Answered => "uac_call".to_owned(),
            CallScenario::Refused(code) => format!("uac_expect_{code}"),
            CallScenario::Script { name, .. } => name.to_owned(),
        }
    }
}

/// A caller's load.
#[derive(Debug, Clone)]
pub struct UacSpec {
    /// Where the INVITEs go (the proxy, or a member directly).
    pub target: SocketAddr,
    /// The caller's address (sipp `-i`): 127.0.0.1 unless set; every address of
    /// 127.0.0.0/8 is a source of its own.
    pub ip: Ipv4Addr,
    /// The caller's SIP port on `ip`.
    pub port: u16,
    /// Its media port (sipp `-mp`); `None` lets sipp choose.
    pub media_port: Option<u16>,
    /// What the calls should meet.
    pub scenario: CallScenario,
    /// Calls in total (sipp `-m`).
    pub calls: u32,
    /// New calls per `rate_period` (sipp `-r`).
    pub rate: u32,
    /// The rate's period (sipp `-rp`).
    pub rate_period: Duration,
    /// Most calls open at once (sipp `-l`).
    pub limit: u32,
    /// How long an answered call is held before the BYE (sipp `-d`).
    pub hold: Duration,
    /// sipp's global timeout: it gives up (and fails) after this.
    pub timeout: Duration,
    /// The Request-URI user (sipp `-s`).
    pub service: String,
    /// Also write every message to `<name>.messages.log` (slow at high rates).
    pub trace_messages: bool,
    /// Also write one line per message sent or received (time, Call-ID, CSeq, first line) to
    /// `<name>.short.log` ([`Uac::short_messages`]; cheap enough for hundreds of calls/s).
    pub trace_short_messages: bool,
    /// Also write the scenario's `<log>` lines to `<name>.calls.log` ([`Uac::calls_log`]).
    pub trace_calls: bool,
}

impl UacSpec {
    /// `calls` answered calls to `target` from `port`, 10 per second, no hold, all at once
    /// allowed, sipp giving up after 60 s.
    pub fn new(target: SocketAddr, port: u16, calls: u32) -> UacSpec {
        UacSpec {
            target,
            ip: Ipv4Addr::LOCALHOST,
            port,
            media_port: None,
            scenario: CallScenario::Answered,
            calls,
            rate: 10,
            rate_period: Duration::from_secs(1),
            limit: calls.max(1),
            hold: Duration::ZERO,
            timeout: Duration::from_secs(60),
            service: "pool".to_owned(),
            trace_messages: false,
            trace_short_messages: false,
            trace_calls: false,
        }
    }
}

/// A running caller. Killed on drop.
#[derive(Debug)]
pub struct Uac {
    process: Process,
    stats: PathBuf,
    short: Option<PathBuf>,
    calls: Option<PathBuf>,
    expected: u32,
}

/// How a caller ended.
#[derive(Debug, Clone)]
pub struct UacReport {
    /// sipp's exit code (`None`: killed by a signal, e.g. after [`UacReport::timed_out`]).
    pub exit_code: Option<i32>,
    /// The wait ran out and the caller was killed.
    pub timed_out: bool,
    /// Its last counters.
    pub stats: CallStats,
    /// The calls it was asked to place.
    pub expected: u32,
}

impl UacReport {
    /// Every call placed and successful, none failed, and sipp said so (exit 0).
    pub fn all_succeeded(&self) -> bool {
        !self.timed_out
            && self.exit_code == Some(0)
            && self.stats.failed == 0
            && self.stats.successful == u64::from(self.expected)
    }

    /// One line for failure messages.
    pub fn summary(&self) -> String {
        let end = match (self.timed_out, self.exit_code) {
            (true, _) => "killed after the wait ran out".to_owned(),
            (false, Some(code)) => format!("exit {code} ({})", exit_meaning(code)),
            (false, None) => "killed by a signal".to_owned(),
        };
        let s = &self.stats;
        format!(
            "{end}; {} of {} calls successful, {} failed (max retransmissions {}, unexpected \
             message {}, recv timeout {}), {} retransmissions",
            s.successful,
            self.expected,
            s.failed,
            s.failed_max_retrans,
            s.failed_unexpected,
            s.failed_timeout_on_recv,
            s.retransmissions
        )
    }
}

/// What sipp's exit codes mean (sipp documentation, "Exit codes").
pub fn exit_meaning(code: i32) -> &'static str {
    match code {
        0 => "all calls successful",
        1 => "at least one call failed",
        97 => "stopped by an internal command or the global timeout",
        99 => "normal exit without calls processed",
        255 | -1 => "fatal error",
        254 | -2 => "fatal error binding a socket",
        _ => "unknown exit code",
    }
}

impl Uac {
    /// Starts a caller in `dir` (created if needed); its files are named after the scenario
    /// and its port.
    pub fn start(sipp: &Path, dir: &Path, spec: &UacSpec) -> PoolResult<Uac> {
        let xml = spec.scenario.xml()?;
        fs::create_dir_all(dir)
            .map_err(|e| crate::Error::io(format!("create {}", dir.display()), e))?;
        let stem = format!("{}-{}", spec.scenario.name(), spec.port);
        let scenario = dir.join(format!("{stem}.xml"));
        fs::write(&scenario, xml)
            .map_err(|e| crate::Error::io(format!("write {}", scenario.display()), e))?;
        let stats = dir.join(format!("{stem}.stats.csv"));
        // A file left by an earlier run in the same directory must not be read as ours.
        let _ = fs::remove_file(&stats);
        let mut cmd = Command::new(sipp);
        cmd.current_dir(dir)
            .arg("-sf")
            .arg(&scenario)
            .args(["-i", &spec.ip.to_string(), "-ci", "127.0.0.1", "-nostdin"])
            .args(["-p", &spec.port.to_string()])
            .args(["-s", &spec.service])
            .args(["-m", &spec.calls.to_string()])
            .args(["-r", &spec.rate.max(1).to_string()])
            .args(["-rp", &spec.rate_period.as_millis().max(1).to_string()])
            .args(["-l", &spec.limit.max(1).to_string()])
            .args(["-d", &spec.hold.as_millis().to_string()])
            .args(["-timeout", &format!("{}s", spec.timeout.as_secs().max(1))])
            .arg("-timeout_error")
            // A 180 arriving after the 200 (UDP may reorder) is dropped as a UA's transaction
            // layer drops it (RFC 3261 17.1.1.2), instead of failing the call mid-hold.
            .arg("-pause_msg_ign")
            .arg("-trace_stat")
            .arg("-stf")
            .arg(&stats)
            .args(["-fd", "1"])
            .args(["-trace_err", "-error_file", &format!("{stem}.errors.log")]);
        if spec.trace_messages {
            cmd.args([
                "-trace_msg",
                "-message_file",
                &format!("{stem}.messages.log"),
            ]);
        }
        let short = spec
            .trace_short_messages
            .then(|| dir.join(format!("{stem}.short.log")));
        if let Some(path) = &short {
            cmd.arg("-trace_shortmsg")
                .arg("-shortmessage_file")
                .arg(path);
        }
        let calls = spec
            .trace_calls
            .then(|| dir.join(format!("{stem}.calls.log")));
        if let Some(path) = &calls {
            cmd.arg("-trace_logs").arg("-log_file").arg(path);
        }
        if let Some(mp) = spec.media_port {
            cmd.args(["-mi", "127.0.0.1", "-mp", &mp.to_string()]);
        }
        cmd.arg(spec.target.to_string());
        let process = Process::spawn(
            &format!("sipp caller {}", spec.port),
            cmd,
            &dir.join(format!("{stem}.out")),
        )?;
        Ok(Uac {
            process,
            stats,
            short,
            calls,
            expected: spec.calls,
        })
    }

    /// The one-line-per-message log (`UacSpec::trace_short_messages`): tab-separated date,
    /// time, Unix time with microseconds, `S` (sent) or `R` (received), Call-ID, CSeq and
    /// the first line of the message.
    pub fn short_messages(&self) -> Option<&Path> {
        self.short.as_deref()
    }

    /// The scenario's `<log>` lines (`UacSpec::trace_calls`), one per line.
    pub fn calls_log(&self) -> Option<&Path> {
        self.calls.as_deref()
    }

    /// Waits at most `limit` for the caller to finish (killing it if it does not) and reads
    /// its report. A caller that ran out of time is a report with `timed_out`, not an error;
    /// errors are failures to read what it left.
    pub fn wait(&mut self, limit: Duration) -> PoolResult<UacReport> {
        let (status, timed_out): (Option<ExitStatus>, bool) = match self.process.wait_timeout(limit)
        {
            Ok(status) => (Some(status), false),
            Err(crate::Error::Timeout { .. }) => {
                self.process.kill_group();
                (self.process.wait_timeout(KILL_LIMIT).ok(), true)
            }
            Err(other) => return Err(other.into()),
        };
        let stats = read_stats(&self.stats).map_err(|e| match e {
            // Say how sipp ended: a caller that never ran (a port in use, a bad scenario)
            // leaves no statistics, and its output says why.
            PoolError::Stats { path, reason } => PoolError::Stats {
                path,
                reason: format!(
                    "{reason}; sipp {}\n{}",
                    status.map_or("was killed".to_owned(), |s| s.to_string()),
                    self.tail()
                ),
            },
            other => other,
        })?;
        Ok(UacReport {
            exit_code: status.and_then(|s| s.code()),
            timed_out,
            stats,
            expected: self.expected,
        })
    }

    /// The end of its screen output, for failure messages.
    pub fn tail(&self) -> String {
        format!(
            "--- {}:\n{}",
            self.process.log().display(),
            tail(self.process.log(), 30)
        )
    }
}

/// Places the calls of `spec` and waits at most `limit` for them.
pub fn run_uac(sipp: &Path, dir: &Path, spec: &UacSpec, limit: Duration) -> PoolResult<UacReport> {
    Uac::start(sipp, dir, spec)?.wait(limit)
}
