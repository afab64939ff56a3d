//! sipp on the HA bed: the member (a UAS answering every call, its SDP naming the RTP tool's
//! member socket) and callers (a UAC placing a bounded number of calls to the service
//! address, each held and then hung up), each in its host's namespace.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::{Host, RTP_PORT, SIP_PORT};
use crate::error::{Error, Result};
use crate::process::{tail, wait_for, Process};
use crate::sipp::Load;
use crate::sipp_pool::{parse_member_log, parse_stat_csv, MemberCalls, UacReport};
use crate::tools::{self, SIPP};

/// The caller's scenario: SDP naming the RTP tool, the relay port logged, hold, BYE.
const UAC: &str = include_str!("../../sipp/uac_ha.xml");
/// The member's scenario: answers with SDP naming the RTP tool; logs INVITEs and BYEs.
const UAS: &str = include_str!("../../sipp/uas_ha.xml");

/// sipp `args` in `host`'s namespace, from `dir`, logging to `dir/<stem>.out`.
fn spawn(host: &Host, dir: &Path, stem: &str, xml: &str, args: &[String]) -> Result<Process> {
    fs::create_dir_all(dir).map_err(|e| Error::io(format!("create {}", dir.display()), e))?;
    let scenario = dir.join(format!("{stem}.xml"));
    fs::write(&scenario, xml).map_err(|e| Error::io(format!("write {}", scenario.display()), e))?;
    let mut cmd: Command = host.ns().command(&tools::find(SIPP)?)?;
    let ip = host.addr.to_string();
    cmd.current_dir(dir)
        .arg("-sf")
        .arg(&scenario)
        .args(["-i", &ip, "-ci", "127.0.0.1", "-nostdin"])
        .args(["-key", "sdp_port", &RTP_PORT.to_string()])
        .args(["-buff_size", "4194304", "-trace_err"])
        .args(["-error_file", &format!("{stem}.errors.log")])
        .args(["-trace_logs", "-log_file", &format!("{stem}.calls.log")])
        .args([
            "-trace_stat",
            "-fd",
            "1",
            "-stf",
            &format!("{stem}.stats.csv"),
        ])
        .args(args);
    Process::spawn(
        &format!("sipp {stem}"),
        cmd,
        &dir.join(format!("{stem}.out")),
    )
}

/// The member: answers every call on [`SIP_PORT`] until dropped.
#[derive(Debug)]
pub struct Member {
    process: Process,
    dir: PathBuf,
}

impl Member {
    /// Starts it in `host` and waits until it answers (its port is bound).
    pub fn start(host: &Host, dir: &Path) -> Result<Member> {
        let args = ["-aa", "-p", &SIP_PORT.to_string()].map(str::to_owned);
        let mut process = spawn(host, dir, "member", UAS, &args)?;
        let port = format!(":{SIP_PORT:04X} ");
        wait_for("the member to listen", Duration::from_secs(5), || {
            process.ensure_running()?;
            let udp = host.ns().exec(&["cat", "/proc/net/udp"])?;
            Ok(udp.contains(&port).then_some(()))
        })?;
        Ok(Member {
            process,
            dir: dir.to_owned(),
        })
    }

    /// The INVITEs and BYEs it took, by Call-ID.
    pub fn calls(&self) -> MemberCalls {
        parse_member_log(&fs::read_to_string(self.dir.join("member.calls.log")).unwrap_or_default())
    }

    /// The end of its output and errors, for failure messages.
    pub fn tail(&self) -> String {
        format!(
            "--- member out:\n{}\n--- member errors:\n{}",
            tail(self.process.log(), 15),
            tail(&self.dir.join("member.errors.log"), 10)
        )
    }
}

/// A caller: one sipp UAC placing its [`Load`] to the service address from its own port.
#[derive(Debug)]
pub struct Caller {
    process: Process,
    stem: String,
    dir: PathBuf,
    expected: u32,
}

impl Caller {
    /// Starts caller `name` in `host` on SIP port `port`, calling `target`.
    pub fn start(
        host: &Host,
        dir: &Path,
        name: &str,
        port: u16,
        target: std::net::SocketAddr,
        load: Load,
    ) -> Result<Caller> {
        let args: Vec<String> = [
            "-p",
            &port.to_string(),
            "-s",
            "pool",
            "-m",
            &load.calls.to_string(),
            "-l",
            &load.calls.to_string(),
            "-r",
            &load.rate.to_string(),
            "-d",
            &load.hold.as_millis().to_string(),
            "-timeout",
            "120s",
            "-timeout_error",
            "-pause_msg_ign",
            &target.to_string(),
        ]
        .map(str::to_owned)
        .to_vec();
        Ok(Caller {
            process: spawn(host, dir, name, UAC, &args)?,
            stem: name.to_owned(),
            dir: dir.to_owned(),
            expected: load.calls,
        })
    }

    /// The log of answered calls: `<Call-ID> m=audio <relay port>` lines.
    pub fn calls_log(&self) -> PathBuf {
        self.dir.join(format!("{}.calls.log", self.stem))
    }

    /// The relay port (on the VIP) each answered call's 200 named, by Call-ID.
    pub fn relay_ports(&self) -> Vec<(String, u16)> {
        let text = fs::read_to_string(self.calls_log()).unwrap_or_default();
        text.lines()
            .filter_map(|l| {
                let mut w = l.split_whitespace();
                let id = w.next()?.to_owned();
                let port = w.last()?.parse().ok()?;
                Some((id, port))
            })
            .collect()
    }

    /// Waits at most `limit` for sipp to end (killed after that) and reads its report.
    pub fn wait(&mut self, limit: Duration) -> Result<UacReport> {
        let (status, timed_out) = match self.process.wait_timeout(limit) {
            Ok(s) => (Some(s), false),
            Err(_) => {
                self.process.kill_group();
                (None, true)
            }
        };
        let path = self.dir.join(format!("{}.stats.csv", self.stem));
        let text = fs::read_to_string(&path).unwrap_or_default();
        let stats = parse_stat_csv(&text).map_err(|e| {
            Error::io(
                format!("read {}", path.display()),
                std::io::Error::other(format!("{e}\n{}", self.tail())),
            )
        })?;
        Ok(UacReport {
            exit_code: status.and_then(|s| s.code()),
            timed_out,
            stats,
            expected: self.expected,
        })
    }

    /// The end of its output and errors, for failure messages.
    pub fn tail(&self) -> String {
        format!(
            "--- {0} out:\n{1}\n--- {0} errors:\n{2}",
            self.stem,
            tail(self.process.log(), 15),
            tail(&self.dir.join(format!("{}.errors.log", self.stem)), 10)
        )
    }
}
