//! Child processes that never outlive their test: each runs in its own process group, and
//! dropping the guard kills that whole group (Kamailio forks workers, sipp runs threads).

use std::fs::{self, File};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use rustix::process::{kill_process, kill_process_group, Pid, Signal};

use crate::error::{Error, Result};

/// How often bounded waits poll.
pub const POLL: Duration = Duration::from_millis(20);

/// A spawned child (and its process group), killed on drop.
#[derive(Debug)]
pub struct Process {
    name: String,
    child: Child,
    log: PathBuf,
    status: Option<ExitStatus>,
}

impl Process {
    /// Spawns `cmd` as `name` in a new process group, stdin from /dev/null, stdout and stderr
    /// both appended to `log`.
    pub fn spawn(name: &str, mut cmd: Command, log: &Path) -> Result<Process> {
        let out =
            File::create(log).map_err(|e| Error::io(format!("create {}", log.display()), e))?;
        let err = out
            .try_clone()
            .map_err(|e| Error::io(format!("dup {}", log.display()), e))?;
        cmd.stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .process_group(0);
        let child = cmd
            .spawn()
            .map_err(|e| Error::io(format!("spawn {name} ({cmd:?})"), e))?;
        Ok(Process {
            name: name.to_owned(),
            child,
            log: log.to_owned(),
            status: None,
        })
    }

    /// The name given at spawn.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where the output goes.
    pub fn log(&self) -> &Path {
        &self.log
    }

    /// The child's pid (also its process group id).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The exit status if the child has exited, without blocking.
    pub fn try_status(&mut self) -> Result<Option<ExitStatus>> {
        if self.status.is_none() {
            self.status = self
                .child
                .try_wait()
                .map_err(|e| Error::io(format!("wait for {}", self.name), e))?;
        }
        Ok(self.status)
    }

    /// Fails with [`Error::Exited`] (and the end of the log) if the child has exited.
    pub fn ensure_running(&mut self) -> Result<()> {
        match self.try_status()? {
            None => Ok(()),
            Some(status) => Err(Error::Exited {
                name: self.name.clone(),
                status: status.to_string(),
                log: self.log.clone(),
                tail: tail(&self.log, 20),
            }),
        }
    }

    /// Waits at most `limit` for the child to exit.
    pub fn wait_timeout(&mut self, limit: Duration) -> Result<ExitStatus> {
        let start = Instant::now();
        loop {
            if let Some(status) = self.try_status()? {
                return Ok(status);
            }
            if start.elapsed() >= limit {
                return Err(Error::Timeout {
                    what: format!("{} to exit", self.name),
                    waited: limit,
                });
            }
            thread::sleep(POLL);
        }
    }

    /// Sends SIGTERM to the child alone and waits at most `limit` for it to exit; kills the
    /// group if it does not.
    pub fn terminate(&mut self, limit: Duration) -> Result<ExitStatus> {
        if self.try_status()?.is_none() {
            if let Some(pid) = self.pid_handle() {
                // ESRCH only means it exited meanwhile.
                let _ = kill_process(pid, Signal::TERM);
            }
        }
        match self.wait_timeout(limit) {
            Ok(status) => Ok(status),
            Err(e) => {
                self.kill_group();
                Err(e)
            }
        }
    }

    /// SIGKILL to the whole process group, then reaps the child.
    pub fn kill_group(&mut self) {
        if let Some(pid) = self.pid_handle() {
            // The group id is the child's pid (process_group(0)); the kernel keeps that id
            // from being reused while any member of the group lives, so this reaches only
            // our processes. ESRCH (group already gone) is fine.
            let _ = kill_process_group(pid, Signal::KILL);
        }
        if self.status.is_none() {
            let _ = self.child.kill();
            self.status = self.child.wait().ok();
        }
    }

    fn pid_handle(&self) -> Option<Pid> {
        i32::try_from(self.child.id()).ok().and_then(Pid::from_raw)
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill_group();
    }
}

/// The last `lines` lines of a text file (lossy UTF-8), or a note saying it is unreadable.
pub fn tail(path: &Path, lines: usize) -> String {
    match fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let all: Vec<&str> = text.lines().collect();
            let from = all.len().saturating_sub(lines);
            all.get(from..).unwrap_or_default().join("\n")
        }
        Err(e) => format!("({} unreadable: {e})", path.display()),
    }
}

/// Polls `probe` every [`POLL`] until it yields `Some`, for at most `limit`.
pub fn wait_for<T>(
    what: &str,
    limit: Duration,
    probe: impl FnMut() -> Result<Option<T>>,
) -> Result<T> {
    wait_every(what, limit, POLL, probe)
}

/// Polls `probe` every `interval` until it yields `Some`, for at most `limit`.
pub fn wait_every<T>(
    what: &str,
    limit: Duration,
    interval: Duration,
    mut probe: impl FnMut() -> Result<Option<T>>,
) -> Result<T> {
    let start = Instant::now();
    loop {
        if let Some(v) = probe()? {
            return Ok(v);
        }
        if start.elapsed() >= limit {
            return Err(Error::Timeout {
                what: what.to_owned(),
                waited: limit,
            });
        }
        thread::sleep(interval);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a test failure.
mod tests {
    use super::*;

    #[test]
    fn dropping_the_guard_kills_the_whole_group() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("sh.log");
        // The shell forks a background sleeper into the same group and reports its pid.
        let mut cmd = Command::new("sh");
        cmd.arg("-c").arg("sleep 30 & echo $!; wait");
        let p = Process::spawn("sh", cmd, &log).unwrap();
        let sleeper: i32 = wait_for("sleeper pid", Duration::from_secs(5), || {
            Ok(fs::read_to_string(&log)
                .ok()
                .and_then(|s| s.trim().parse().ok()))
        })
        .unwrap();
        drop(p);
        let gone = wait_for("sleeper to die", Duration::from_secs(5), || {
            let alive = Path::new(&format!("/proc/{sleeper}")).exists()
                && !fs::read_to_string(format!("/proc/{sleeper}/stat"))
                    .map(|s| s.contains(") Z "))
                    .unwrap_or(true);
            Ok((!alive).then_some(()))
        });
        assert!(gone.is_ok(), "the grandchild survived the guard");
    }

    #[test]
    fn waits_are_bounded_and_say_what_they_waited_for() {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = Command::new("sleep");
        cmd.arg("30");
        let mut p = Process::spawn("sleeper", cmd, &dir.path().join("s.log")).unwrap();
        let err = p.wait_timeout(Duration::from_millis(100)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "e2e: timed out after 100ms waiting for sleeper to exit"
        );
        let status = p.terminate(Duration::from_secs(5)).unwrap();
        assert!(!status.success());
        assert!(p.ensure_running().is_err());
    }

    #[test]
    fn tail_keeps_the_last_lines() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("t");
        fs::write(&f, "a\nb\nc\n").unwrap();
        assert_eq!(tail(&f, 2), "b\nc");
        assert_eq!(tail(&f, 10), "a\nb\nc");
        assert!(tail(&dir.path().join("missing"), 2).contains("unreadable"));
    }
}
