//! One end-to-end run: relay, Kamailio, capture and the two sipp sides on a private block of
//! loopback ports in a private temporary directory; then the checks. Every wait is bounded and
//! the whole run stays inside [`RUN_LIMIT`].

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use crate::analysis::{self, Expect, Report, Roles};
use crate::capture::Capture;
use crate::error::{Error, Result};
use crate::kamailio::{Proxy, ProxyConfig, ANSWER_FLAGS, OFFER_FLAGS};
use crate::need::Need;
use crate::ng::CallState;
use crate::ports::{busy_ports, PortBlock, LOOPBACK};
use crate::process::{tail, wait_every, wait_for};
use crate::relay::{anchored_sip_config, Relay, RelayKind};
use crate::rtp::{frames, ulaw_tone};
use crate::sipp::{Load, Scenario, Side, Sipp};
use crate::tools;

/// No run takes longer than this.
pub const RUN_LIMIT: Duration = Duration::from_secs(55);
/// Tone the UAC streams (Hz; prime to 50, see [`ulaw_tone`]).
const UAC_TONE: f64 = 443.0;
/// Tone the UAS streams.
const UAS_TONE: f64 = 1009.0;

/// What to run.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// The sipp scenario pair.
    pub scenario: Scenario,
    /// Calls, rate, duration.
    pub load: Load,
    /// Who routes the calls and anchors their media.
    pub path: CallPath,
}

/// Who routes the calls and anchors their media.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallPath {
    /// Kamailio routes them and drives the relay under test over ng.
    Kamailio,
    /// Ferrovox alone: its SIP proxy routes them and anchors their media in-process.
    Anchored,
}

impl Plan {
    /// One call of `scenario` held 2 s, through Kamailio.
    pub fn single(scenario: Scenario) -> Plan {
        Plan {
            scenario,
            load: Load {
                calls: 1,
                rate: 1,
                hold: Duration::from_secs(2),
            },
            path: CallPath::Kamailio,
        }
    }

    /// One call of `scenario` held 2 s, through Ferrovox alone.
    pub fn anchored(scenario: Scenario) -> Plan {
        Plan {
            path: CallPath::Anchored,
            ..Plan::single(scenario)
        }
    }

    /// What the plan needs from the machine.
    pub fn needs(&self) -> Vec<Need> {
        match self.path {
            CallPath::Kamailio => needs(),
            CallPath::Anchored => vec![Need::Sipp, Need::Tcpdump],
        }
    }
}

/// What a passing run saw.
#[derive(Debug)]
pub struct Outcome {
    /// The relay that was driven.
    pub relay: RelayKind,
    /// The capture analysis (calls, per-hop packet counts; no failures).
    pub report: Report,
}

impl Outcome {
    /// One line per call: Call-ID, the relay endpoints each side was told, RTP packets per hop.
    pub fn summary(&self) -> String {
        let mut lines = vec![format!(
            "{} call(s) through {}:",
            self.report.calls.len(),
            self.relay
        )];
        for (id, c) in &self.report.calls {
            let h = self.report.hops.get(id).copied().unwrap_or_default();
            lines.push(format!(
                "  {id}: UAC told {:?}, UAS told {:?}; RTP uac->relay {} relay->uas {} \
                 uas->relay {} relay->uac {}",
                c.uac_answer,
                c.uas_offer,
                h.uac_to_relay,
                h.relay_to_uas,
                h.uas_to_relay,
                h.relay_to_uac
            ));
        }
        lines.join("\n")
    }
}

/// A failed run: the error, and where its files and logs are.
#[derive(Debug)]
pub struct RunError {
    /// What went wrong.
    pub error: Error,
    /// The run directory, kept for inspection (None if nothing had started).
    pub kept: Option<PathBuf>,
    /// The ends of the logs of everything that ran.
    pub logs: String,
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.error)?;
        if let Some(dir) = &self.kept {
            write!(f, "\n(run files kept in {})", dir.display())?;
        }
        if !self.logs.is_empty() {
            write!(f, "\n{}", self.logs)?;
        }
        Ok(())
    }
}

impl std::error::Error for RunError {}

/// What a run needs from the machine: sipp, Kamailio, tcpdump, and rtpengine when
/// `E2E_RELAY` chooses it. A test checks them first with [`crate::need::met`].
pub fn needs() -> Vec<Need> {
    let mut needs = vec![Need::Sipp, Need::Kamailio, Need::Tcpdump];
    if RelayKind::from_env().is_ok_and(|k| k == RelayKind::Rtpengine) {
        needs.push(Need::Rtpengine);
    }
    needs
}

/// Runs `plan` against the relay chosen by `E2E_RELAY` and checks everything the plan's
/// scenario must show.
pub fn run(plan: &Plan) -> std::result::Result<Outcome, Box<RunError>> {
    let bare = |error| {
        Box::new(RunError {
            error,
            kept: None,
            logs: String::new(),
        })
    };
    let kind = match plan.path {
        CallPath::Kamailio => RelayKind::from_env().map_err(bare)?,
        CallPath::Anchored => RelayKind::Ferrovox,
    };
    let bins = Binaries::find(kind, plan.path).map_err(bare)?;
    let dir = tempfile::Builder::new()
        .prefix("ferrovox-e2e-")
        .tempdir()
        .map_err(|e| bare(Error::io("create the run directory", e)))?;
    let result = run_in(plan, kind, &bins, dir.path());
    match result {
        Ok(outcome) => {
            if std::env::var_os("E2E_KEEP").is_some() {
                let _ = dir.keep();
            }
            Ok(outcome)
        }
        Err(error) => {
            let logs = logs(dir.path());
            Err(Box::new(RunError {
                error,
                kept: Some(dir.keep()),
                logs,
            }))
        }
    }
}

/// The programs a run needs, all found before anything starts.
struct Binaries {
    relay: PathBuf,
    /// Kamailio and its modules' directory (the Kamailio path only).
    kamailio: Option<(PathBuf, PathBuf)>,
    sipp: PathBuf,
    tcpdump: PathBuf,
}

impl Binaries {
    fn find(kind: RelayKind, path: CallPath) -> Result<Binaries> {
        let kamailio = match path {
            CallPath::Kamailio => {
                let k = tools::find(tools::KAMAILIO)?;
                let modules = tools::kamailio_modules(&k)?;
                Some((k, modules))
            }
            CallPath::Anchored => None,
        };
        Ok(Binaries {
            relay: kind.binary()?,
            kamailio,
            sipp: tools::find(tools::SIPP)?,
            tcpdump: tools::find(tools::TCPDUMP)?,
        })
    }
}

/// The time left before `deadline`, at most `cap`.
fn left(deadline: Instant, cap: Duration) -> Duration {
    deadline.saturating_duration_since(Instant::now()).min(cap)
}

fn run_in(plan: &Plan, kind: RelayKind, bins: &Binaries, dir: &Path) -> Result<Outcome> {
    let deadline = Instant::now() + RUN_LIMIT;
    let ports = PortBlock::take()?;
    let (uac_dir, uas_dir) = (dir.join("uac"), dir.join("uas"));
    let (uac_audio, uas_audio) = (ulaw_tone(UAC_TONE, 8000.0), ulaw_tone(UAS_TONE, 8000.0));
    for (d, audio) in [(&uac_dir, &uac_audio), (&uas_dir, &uas_audio)] {
        std::fs::create_dir_all(d).map_err(|e| Error::io(format!("create {}", d.display()), e))?;
        let f = d.join("tone.pcmu");
        std::fs::write(&f, audio).map_err(|e| Error::io(format!("write {}", f.display()), e))?;
    }

    let capture = Capture::start(&bins.tcpdump, ports.all(), dir, left(deadline, secs(5)))?;
    let extra = match plan.path {
        CallPath::Kamailio => String::new(),
        CallPath::Anchored => anchored_sip_config(&ports),
    };
    let limit = left(deadline, secs(10));
    let mut relay = Relay::start_with(kind, &bins.relay, &ports, dir, limit, &extra)?;
    let mut proxy = match &bins.kamailio {
        Some((kamailio, modules)) => {
            let proxy_cfg = ProxyConfig {
                modules: modules.clone(),
                sip_port: ports.proxy_sip(),
                uas_port: ports.uas_sip(),
                ng: relay.ng_addr(),
                offer_flags: OFFER_FLAGS.to_owned(),
                answer_flags: ANSWER_FLAGS.to_owned(),
            };
            let limit = left(deadline, secs(10));
            Some(Proxy::start(kamailio, &proxy_cfg, dir, limit)?)
        }
        None => None,
    };

    // sipp gives up on its own well before the run limit.
    let sipp_limit = left(deadline, secs(60))
        .saturating_sub(secs(15))
        .max(secs(5));
    let start = |side, d: &Path| {
        Sipp::start(
            &bins.sipp,
            side,
            plan.scenario,
            plan.load,
            &ports,
            d,
            sipp_limit,
        )
    };
    let mut uas = start(Side::Uas, &uas_dir)?;
    let mut uac = start(Side::Uac, &uac_dir)?;
    // A failed side is reported with the checks: what the capture shows says why.
    let mut failures = Vec::new();
    let uac_result = uac.finish(left(deadline, sipp_limit + secs(2)));
    // A UAS whose caller gave up would only wait for its own timeout.
    let uas_wait = if uac_result.is_ok() {
        secs(10)
    } else {
        secs(2)
    };
    for result in [uac_result, uas.finish(left(deadline, uas_wait))] {
        match result {
            Ok(()) => {}
            Err(Error::Sipp { side, status, .. }) => {
                failures.push(format!("sipp {side} failed ({status}); see its log below"));
            }
            Err(other) => return Err(other),
        }
    }
    relay.process().ensure_running()?;
    if let Some(p) = proxy.as_mut() {
        p.process().ensure_running()?;
    }

    // Let the last packets land in the capture before stopping it.
    thread::sleep(Duration::from_millis(300));
    let datagrams = capture.stop(left(deadline, secs(5)))?;
    let sip_addr = |port| SocketAddr::from((LOOPBACK, port));
    let roles = Roles {
        proxy: sip_addr(ports.proxy_sip()),
        uac: sip_addr(ports.uac_sip()),
        uas: sip_addr(ports.uas_sip()),
    };
    let expect = Expect {
        calls: usize::try_from(plan.load.calls).unwrap_or(usize::MAX),
        answered: plan.scenario.answered(),
        early_media: plan.scenario == Scenario::EarlyMedia,
        // A quarter of what the hold time carries at 50 packets/s.
        min_packets: usize::try_from(plan.load.hold.as_millis() / 80).unwrap_or(usize::MAX),
        external: relay.external_ports(),
        internal: relay.internal_ports(),
        uac_frames: frames(&uac_audio),
        uas_frames: frames(&uas_audio),
    };
    let mut report = analysis::check(&datagrams, &roles, &expect);
    failures.append(&mut report.failures);
    failures.extend(sessions_gone(&relay, &report, plan.path, deadline));
    failures.extend(ports_free(&relay, deadline));
    relay.process().ensure_running()?;
    if failures.is_empty() {
        Ok(Outcome {
            relay: kind,
            report,
        })
    } else {
        Err(Error::Checks(failures))
    }
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// After the calls ended, ng `query` says each Call-ID is unknown and `list` names none of
/// them (bounded wait: 5 s).
fn sessions_gone(relay: &Relay, report: &Report, path: CallPath, deadline: Instant) -> Vec<String> {
    let client = match relay.client() {
        Ok(c) => c,
        Err(e) => return vec![e.to_string()],
    };
    // The relay keeps an anchored call under a key of its own (the Call-ID behind a prefix
    // that ng clients never send).
    let prefix = match path {
        CallPath::Kamailio => "",
        CallPath::Anchored => "sip ",
    };
    let keys: Vec<String> = report
        .calls
        .keys()
        .map(|id| format!("{prefix}{id}"))
        .collect();
    let ids: Vec<&String> = keys.iter().collect();
    // The unmet conditions of the latest poll.
    let mut present: Vec<String> = Vec::new();
    let gone = wait_every(
        "the relay to forget the calls",
        left(deadline, secs(5)),
        Duration::from_millis(100),
        || {
            present.clear();
            for id in &ids {
                if client.query(id)? == CallState::Present {
                    present.push(format!("ng query still finds call {id}"));
                }
            }
            let listed = client.list(1000)?;
            present.extend(
                ids.iter()
                    .filter(|id| listed.contains(id))
                    .map(|id| format!("ng list still names call {id}")),
            );
            Ok(present.is_empty().then_some(()))
        },
    );
    match gone {
        Ok(()) => Vec::new(),
        Err(Error::Timeout { waited, .. }) => present
            .iter()
            .map(|s| format!("{s} {waited:?} after the calls ended"))
            .collect(),
        Err(e) => vec![format!("asking the relay about sessions: {e}")],
    }
}

/// After the calls ended, every port of the relay's media ranges can be bound again (bounded
/// wait: 5 s).
fn ports_free(relay: &Relay, deadline: Instant) -> Vec<String> {
    let ranges = [relay.external_ports(), relay.internal_ports()];
    let busy = || -> Vec<u16> {
        let mut b: Vec<u16> = ranges.iter().flat_map(|r| busy_ports(r.clone())).collect();
        b.sort_unstable();
        b.dedup();
        b
    };
    let freed = wait_for("relay ports to be free", left(deadline, secs(5)), || {
        Ok(busy().is_empty().then_some(()))
    });
    match freed {
        Ok(()) => Vec::new(),
        Err(_) => vec![format!(
            "relay media ports still bound on 127.0.0.1 after every call ended: {:?}",
            busy()
        )],
    }
}

/// The ends of every log in the run directory.
fn logs(dir: &Path) -> String {
    let mut files: Vec<PathBuf> = [
        "ferrovox.log",
        "rtpengine.log",
        "kamailio.log",
        "tcpdump.log",
    ]
    .iter()
    .map(|f| dir.join(f))
    .chain(
        [
            "uac/uac.out",
            "uac/uac_errors.log",
            "uas/uas.out",
            "uas/uas_errors.log",
        ]
        .iter()
        .map(|f| dir.join(f)),
    )
    .filter(|p| p.exists())
    .collect();
    files.dedup();
    files
        .iter()
        .map(|f| format!("--- {} (last lines):\n{}", f.display(), tail(f, 25)))
        .collect::<Vec<_>>()
        .join("\n")
}
