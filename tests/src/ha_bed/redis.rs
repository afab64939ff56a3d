//! The bed's redis-server: in its own namespace on [`REDIS`]:6379, no persistence (a
//! restart after a kill starts empty, as a replacement server would).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::{command_in, REDIS};
use crate::error::Result;
use crate::netns::Netns;
use crate::process::{wait_for, Process};
use crate::tools::{self, REDIS_CLI, REDIS_SERVER};

/// redis-server, started and stopped by the bed.
#[derive(Debug)]
pub struct Redis {
    dir: PathBuf,
    starts: u32,
    proc: Option<Process>,
}

impl Redis {
    /// A server whose logs go to `dir`; not running yet.
    pub fn new(dir: &Path) -> Redis {
        Redis {
            dir: dir.to_owned(),
            starts: 0,
            proc: None,
        }
    }

    /// Starts it in `ns` and waits until it answers PING.
    pub fn start(&mut self, ns: &Netns) -> Result<()> {
        self.starts += 1;
        let mut cmd = command_in(ns, REDIS_SERVER)?;
        // Protected mode would refuse the nodes: they connect over the LAN, not loopback.
        cmd.args(["--bind", &REDIS.to_string(), "--port", "6379"])
            .args(["--save", "", "--appendonly", "no", "--protected-mode", "no"]);
        let log = self.dir.join(format!("redis-{}.log", self.starts));
        let mut proc = Process::spawn("redis-server", cmd, &log)?;
        let up = wait_for(
            "redis-server to answer PING",
            Duration::from_secs(10),
            || {
                proc.ensure_running()?;
                Ok(self.cli(ns, &["PING"]).filter(|o| o == "PONG"))
            },
        );
        self.proc = Some(proc);
        up.map(drop)
    }

    /// SIGKILL.
    pub fn stop(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.kill_group();
        }
    }

    /// redis-cli `args` in `ns`; its output (raw), `None` if it could not run or failed.
    pub fn cli(&self, ns: &Netns, args: &[&str]) -> Option<String> {
        let cli = tools::find(REDIS_CLI).ok()?;
        let mut cmd: Command = ns.command(&cli).ok()?;
        let out = cmd
            .args(["-h", &REDIS.to_string(), "-p", "6379", "--raw"])
            .args(args)
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }
}
