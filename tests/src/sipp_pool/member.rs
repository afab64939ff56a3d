//! Pool members: sipp UAS processes that answer or refuse calls and answer OPTIONS probes.

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::{
    parse_member_log, read_stats, CallStats, MemberCalls, PoolCalls, PoolError, PoolResult,
    LISTEN_LIMIT, REJECT_CODES, UAS_ANSWER, UAS_REJECT,
};
use crate::ports::{port_is_free, LOOPBACK};
use crate::process::{tail, wait_for, Process};

/// What a member does with the INVITEs it gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberScenario {
    /// `uas_answer.xml`: 100, 180, 200 with SDP; then ACK, BYE, 200.
    Answer,
    /// `uas_reject.xml`: the final `code` (one of [`REJECT_CODES`]), with `Retry-After:
    /// retry_after` when given (503 only), then the ACK.
    Reject {
        /// The final status code.
        code: u16,
        /// Seconds for a Retry-After header field.
        retry_after: Option<u32>,
    },
    /// A scenario of the test's own, with more sipp arguments (e.g. `-rtp_echo`); it logs
    /// `INVITE <Call-ID>` and `BYE <Call-ID>` lines (and `ACK <Call-ID>`, optionally) as
    /// `uas_answer.xml` does, for [`Member::calls`].
    Script {
        /// The scenario text.
        xml: &'static str,
        /// More sipp arguments.
        args: &'static [&'static str],
    },
}

impl MemberScenario {
    /// The scenario text and the `-set` arguments, or why the combination is not supported.
    pub(super) fn prepare(self) -> PoolResult<(&'static str, Vec<String>)> {
        match self {
            MemberScenario::Answer => Ok((UAS_ANSWER, Vec::new())),
            MemberScenario::Script { xml, args } => {
                Ok((xml, args.iter().map(|a| (*a).to_owned()).collect()))
            }
            MemberScenario::Reject { code, retry_after } => {
                if !REJECT_CODES.contains(&code) {
                    return Err(PoolError::UnsupportedRejectCode(code));
                }
                let mut args = vec!["-set".to_owned(), "code".to_owned(), code.to_string()];
                if let Some(secs) = retry_after {
                    if code != 503 {
                        return Err(PoolError::RetryAfterNeeds503(code));
                    }
                    args.extend([
                        "-set".to_owned(),
                        "retry_after".to_owned(),
                        secs.to_string(),
                    ]);
                }
                Ok((UAS_REJECT, args))
            }
        }
    }
}

/// Where and how a member runs.
#[derive(Debug, Clone, Copy)]
pub struct MemberSpec {
    /// Its SIP port on 127.0.0.1.
    pub port: u16,
    /// Its media port (sipp `-mp`); `None` lets sipp take the first free one from 6000 up.
    pub media_port: Option<u16>,
    /// What it does with calls.
    pub scenario: MemberScenario,
    /// sipp's own global timeout: the member exits after this even if nothing kills it.
    pub lifetime: Duration,
}

impl MemberSpec {
    /// A member on `port` that answers every call and lives at most 5 minutes.
    pub fn answering(port: u16) -> MemberSpec {
        MemberSpec {
            port,
            media_port: None,
            scenario: MemberScenario::Answer,
            lifetime: Duration::from_secs(300),
        }
    }

    /// A member on `port` that refuses every call with `code` (and Retry-After, 503 only).
    pub fn rejecting(port: u16, code: u16, retry_after: Option<u32>) -> MemberSpec {
        MemberSpec {
            scenario: MemberScenario::Reject { code, retry_after },
            ..MemberSpec::answering(port)
        }
    }
}

/// One pool member: a sipp UAS on 127.0.0.1, answering OPTIONS with 200 (`-aa`). Killed on
/// drop; its files stay in its directory.
#[derive(Debug)]
pub struct Member {
    sipp: PathBuf,
    dir: PathBuf,
    spec: MemberSpec,
    process: Option<Process>,
    /// How many times it was started (each start has its own log files).
    starts: u32,
}

impl Member {
    /// Starts a member in `dir` (created if needed) and waits until its SIP port is bound.
    pub fn start(sipp: &Path, dir: &Path, spec: MemberSpec) -> PoolResult<Member> {
        // Refuse unsupported combinations before anything is spawned.
        spec.scenario.prepare()?;
        fs::create_dir_all(dir)
            .map_err(|e| crate::Error::io(format!("create {}", dir.display()), e))?;
        let mut member = Member {
            sipp: sipp.to_owned(),
            dir: dir.to_owned(),
            spec,
            process: None,
            starts: 0,
        };
        member.restart()?;
        Ok(member)
    }

    /// Its SIP address.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((LOOPBACK, self.spec.port))
    }

    /// Its SIP URI, as a dispatcher member entry names it (`sip:127.0.0.1:<port>`).
    pub fn uri(&self) -> String {
        format!("sip:{}", self.addr())
    }

    /// How it was started.
    pub fn spec(&self) -> &MemberSpec {
        &self.spec
    }

    /// Kills it (SIGKILL to its process group, as a crash would) and reaps it. Its port is
    /// free again when this returns. Nothing happens if it is not running.
    pub fn kill(&mut self) {
        if let Some(mut p) = self.process.take() {
            p.kill_group();
        }
    }

    /// Starts it (again) on the same port with the same scenario, with fresh log files; the
    /// calls logged before stay counted in [`Member::calls`]. Kills a running instance first.
    pub fn restart(&mut self) -> PoolResult<()> {
        self.kill();
        let (xml, set_args) = self.spec.scenario.prepare()?;
        let port = self.spec.port;
        self.starts += 1;
        let stem = self.stem(self.starts);
        let scenario = self.dir.join(format!("member-{port}.xml"));
        fs::write(&scenario, xml)
            .map_err(|e| crate::Error::io(format!("write {}", scenario.display()), e))?;
        let mut cmd = Command::new(&self.sipp);
        cmd.current_dir(&self.dir)
            .arg("-sf")
            .arg(&scenario)
            .args(["-i", "127.0.0.1", "-ci", "127.0.0.1", "-nostdin", "-aa"])
            .args(["-p", &port.to_string()])
            .args([
                "-timeout",
                &format!("{}s", self.spec.lifetime.as_secs().max(1)),
            ])
            .args(["-trace_logs", "-log_file", &format!("{stem}.calls.log")])
            .args(["-trace_err", "-error_file", &format!("{stem}.errors.log")])
            .args([
                "-trace_stat",
                "-stf",
                &format!("{stem}.stats.csv"),
                "-fd",
                "1",
            ])
            .args(&set_args);
        if let Some(mp) = self.spec.media_port {
            cmd.args(["-mi", "127.0.0.1", "-mp", &mp.to_string()]);
        }
        let name = format!("sipp member {port}");
        let mut process = Process::spawn(&name, cmd, &self.dir.join(format!("{stem}.out")))?;
        wait_for(
            &format!("{name} to listen on 127.0.0.1:{port}"),
            LISTEN_LIMIT,
            || {
                process.ensure_running()?;
                Ok((!port_is_free(port)).then_some(()))
            },
        )?;
        self.process = Some(process);
        Ok(())
    }

    /// Whether it is running now (it may have exited on its own: an unsupported code, its
    /// lifetime over, a crash).
    pub fn is_running(&mut self) -> PoolResult<bool> {
        match &mut self.process {
            None => Ok(false),
            Some(p) => Ok(p.try_status()?.is_none()),
        }
    }

    /// Every INVITE and BYE it logged, over all its starts.
    pub fn calls(&self) -> PoolResult<MemberCalls> {
        let mut all = MemberCalls::default();
        for n in 1..=self.starts {
            let path = self.dir.join(format!("{}.calls.log", self.stem(n)));
            match fs::read(&path) {
                Ok(bytes) => all.extend(parse_member_log(&String::from_utf8_lossy(&bytes))),
                // No call taken yet: sipp creates the file at the first log line.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(crate::Error::io(format!("read {}", path.display()), e).into())
                }
            }
        }
        Ok(all)
    }

    /// sipp's counters for the current start (written every second, so up to a second old).
    pub fn stats(&self) -> PoolResult<CallStats> {
        read_stats(
            &self
                .dir
                .join(format!("{}.stats.csv", self.stem(self.starts))),
        )
    }

    /// The end of its screen output and error log (current start), for failure messages.
    pub fn tail(&self) -> String {
        let stem = self.stem(self.starts);
        let out = self.dir.join(format!("{stem}.out"));
        let errors = self.dir.join(format!("{stem}.errors.log"));
        format!(
            "--- {}:\n{}\n--- {}:\n{}",
            out.display(),
            tail(&out, 20),
            errors.display(),
            tail(&errors, 10)
        )
    }

    /// The file name stem of start number `n` (1-based).
    fn stem(&self, n: u32) -> String {
        format!("member-{}-{n}", self.spec.port)
    }
}

/// Several members, one directory each (`member-<port>` under the pool's directory).
#[derive(Debug)]
pub struct Pool {
    members: Vec<Member>,
}

impl Pool {
    /// Starts one member per spec, in order; stops those already started if one fails.
    pub fn start(sipp: &Path, dir: &Path, specs: &[MemberSpec]) -> PoolResult<Pool> {
        let members = specs
            .iter()
            .map(|s| Member::start(sipp, &dir.join(format!("member-{}", s.port)), *s))
            .collect::<PoolResult<Vec<_>>>()?;
        Ok(Pool { members })
    }

    /// The members, in spec order.
    pub fn members(&self) -> &[Member] {
        &self.members
    }

    /// Member `i` (to kill or restart it).
    pub fn member_mut(&mut self, i: usize) -> Option<&mut Member> {
        self.members.get_mut(i)
    }

    /// What every member logged, in spec order.
    pub fn calls(&self) -> PoolResult<PoolCalls> {
        Ok(PoolCalls {
            members: self
                .members
                .iter()
                .map(Member::calls)
                .collect::<PoolResult<_>>()?,
        })
    }

    /// Every member's tail, for failure messages.
    pub fn tails(&self) -> String {
        self.members
            .iter()
            .map(Member::tail)
            .collect::<Vec<_>>()
            .join("\n")
    }
}
