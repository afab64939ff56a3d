//! One node of the pair: its Ferrovox (config, process, admin socket) and its keepalived.
//!
//! keepalived runs one VRRP instance per node on `eth0`: both nodes BACKUP with `nopreempt`
//! and the same priority, `advert_int 1`. It learns that the node's Ferrovox died from a
//! track file (`vrrp_track_file`, watched with inotify, so at once): Ferrovox runs under a
//! small supervising shell that writes `0` to the file when it starts Ferrovox and `1` when
//! Ferrovox has exited, as a service manager's stop hook would (systemd `ExecStopPost=`).
//! A non-zero value puts the instance in FAULT: a master gives the VIP up at once and sends
//! a priority-0 advert, so the other node becomes master after its skew time (about 0.2 s)
//! instead of three advert intervals. keepalived's own process tracking cannot serve here:
//! the kernel's process connector answers only in the initial network namespace, and a
//! `vrrp_script` runs at most once a second.
//!
//! `notify_master` runs `ferrovoxctl ha promote`, `notify_backup` and `notify_fault` run
//! `ferrovoxctl ha demote`; each writes one line (and ferrovoxctl's answer) to
//! `<node>.notify.log`.

use std::fmt::Write as _;
use std::fs;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use super::{command_in, KEEPALIVED, MEMBER, PREFIX, REDIS, RELAY_PORTS, SIP_PORT, VIP};
use crate::ctl::{ctl_binary, Ctl};
use crate::error::{Error, Result};
use crate::netns::Netns;
use crate::process::{tail, wait_for, Process};
use crate::relay::ferrovox_binary;

/// Where each node serves `/metrics`, inside its own namespace.
pub const METRICS: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 9100);

/// How long a node may take to answer its admin socket after it starts.
const START_LIMIT: Duration = Duration::from_secs(15);

/// What `[ha] start` says a node is when it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeRole {
    /// `start = "active"`.
    Active,
    /// `start = "standby"` (a node of a pair, promoted by keepalived).
    Standby,
}

/// A node: its name, files and processes (Ferrovox, keepalived), killed on drop.
#[derive(Debug)]
pub struct Node {
    name: &'static str,
    dir: PathBuf,
    starts: u32,
    ferrovox: Option<Process>,
    keepalived: Option<Process>,
}

impl Node {
    /// Node `name` (`"a"` or `"b"`) with its files in `dir`; nothing runs yet.
    pub fn new(name: &'static str, dir: &Path) -> Node {
        Node {
            name,
            dir: dir.to_owned(),
            starts: 0,
            ferrovox: None,
            keepalived: None,
        }
    }

    /// The node's name (`[ha] node`).
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Its admin socket.
    pub fn socket(&self) -> PathBuf {
        self.dir.join(format!("{}.sock", self.name))
    }

    /// `ferrovoxctl` on its admin socket.
    pub fn ctl(&self) -> Ctl {
        Ctl::new(&self.socket())
    }

    /// `ferrovoxctl --json ha status`: the answer, or why there is none.
    pub fn ha_status(&self) -> std::result::Result<Value, String> {
        let o = self.ctl().run(&["--json", "ha", "status"]);
        if o.code != 0 {
            return Err(format!("exit {}: {}{}", o.code, o.stdout, o.stderr));
        }
        serde_json::from_str(&o.stdout).map_err(|e| format!("{e}: {}", o.stdout))
    }

    /// The node's current Ferrovox log (the latest start's).
    pub fn log(&self) -> PathBuf {
        self.dir
            .join(format!("{}-{}.log", self.name, self.starts.max(1)))
    }

    /// The end of its Ferrovox log and of its keepalived notify log, for failure messages.
    pub fn log_tail(&self, lines: usize) -> String {
        let notify = self.dir.join(format!("{}.notify.log", self.name));
        format!(
            "--- node {0} ferrovox ({1}):\n{2}\n--- node {0} notify:\n{3}",
            self.name,
            self.log().display(),
            tail(&self.log(), lines),
            tail(&notify, 10)
        )
    }

    /// The config file: the same for both nodes but for `node` and the admin socket.
    fn config(&self, start: NodeRole) -> String {
        let start = match start {
            NodeRole::Active => "active",
            NodeRole::Standby => "standby",
        };
        let (min, max) = RELAY_PORTS;
        let mut c = String::new();
        // Writing to a String cannot fail.
        let _ = write!(
            c,
            "[general]\nlog_level = \"info\"\n\n\
             [dataplane]\nbackend = \"socket\"\nworker_cores = [0]\n\n\
             [media]\ndelete_delay_secs = 0\n\n\
             [metrics]\nlisten = \"{METRICS}\"\n\n\
             [admin]\nsocket = \"{sock}\"\n\n\
             [[interface]]\nname = \"vip\"\naddress = \"{VIP}\"\nport_min = {min}\nport_max = {max}\n\n\
             [sip]\nlisten = [\"{VIP}:{SIP_PORT}\"]\ntransports = [\"udp\"]\n\n\
             [[set]]\nname = \"pool\"\n\n\
             [set.media]\ncaller_interface = \"vip\"\nmember_interface = \"vip\"\n\n\
             [[set.member]]\nuri = \"sip:{MEMBER}:{SIP_PORT}\"\n\n\
             [ha]\nenabled = true\nnode = \"{name}\"\nredis = \"redis://{REDIS}:6379/0\"\n\
             start = \"{start}\"\n",
            sock = self.socket().display(),
            name = self.name,
        );
        c
    }

    /// Starts Ferrovox in `ns` under its supervising shell (each start logs to a file of its
    /// own) and waits until `ha status` answers.
    pub fn start(&mut self, ns: &Netns, start: NodeRole) -> Result<()> {
        self.starts += 1;
        let config = self.dir.join(format!("{}.toml", self.name));
        write(&config, &self.config(start))?;
        let _ = fs::remove_file(self.pid_file());
        let mut cmd = ns.command(Path::new("/bin/sh"))?;
        cmd.current_dir(&self.dir)
            .env("TRACK", self.track_file())
            .env("PIDFILE", self.pid_file())
            .env_remove("RUST_LOG")
            .arg("-c")
            .arg(SUPERVISOR)
            .arg(format!("ferrovox-{}", self.name))
            .arg(ferrovox_binary()?)
            .arg("--config")
            .arg(&config);
        let name = format!("ferrovox {}", self.name);
        let mut proc = Process::spawn(&name, cmd, &self.log())?;
        let ready = wait_for(&format!("{name} to answer ha status"), START_LIMIT, || {
            proc.ensure_running()?;
            Ok(self.ha_status().ok())
        });
        self.ferrovox = Some(proc);
        ready.map(drop).map_err(|e| {
            let why = self.ha_status().err().unwrap_or_default();
            Error::io(
                format!("start node {}", self.name),
                std::io::Error::other(format!("{e}; ha status: {why}\n{}", self.log_tail(20))),
            )
        })
    }

    /// SIGKILL to its Ferrovox process alone; then waits for the supervising shell, which
    /// writes the track file and exits.
    pub fn kill(&mut self) -> Result<()> {
        let Some(mut proc) = self.ferrovox.take() else {
            return Ok(());
        };
        let text = fs::read_to_string(self.pid_file())
            .map_err(|e| Error::io(format!("read {}", self.pid_file().display()), e))?;
        let pid = text
            .trim()
            .parse::<i32>()
            .ok()
            .and_then(rustix::process::Pid::from_raw)
            .ok_or_else(|| Error::io("the pid file", std::io::Error::other(text.clone())))?;
        rustix::process::kill_process(pid, rustix::process::Signal::KILL)
            .map_err(|e| Error::io(format!("SIGKILL ferrovox {}", self.name), e.into()))?;
        proc.wait_timeout(Duration::from_secs(5)).map(drop)
    }

    fn pid_file(&self) -> PathBuf {
        self.dir.join(format!("{}.ferrovox.pid", self.name))
    }

    /// `0` while Ferrovox runs, `1` once it exited (keepalived's `vrrp_track_file`).
    fn track_file(&self) -> PathBuf {
        self.dir.join(format!("{}.down", self.name))
    }

    /// Writes the scripts and the config and starts keepalived in `ns`.
    pub fn start_keepalived(&mut self, ns: &Netns) -> Result<()> {
        let file = |what: &str| self.dir.join(format!("{}.{what}", self.name));
        let notify = file("notify.sh");
        write(
            &notify,
            &format!(
                "#!/bin/sh\n# keepalived notify: $1 is promote or demote.\n\
                 echo \"$(date +%s.%N) $1\" >> {log}\n\
                 exec {ctl} --socket {sock} --timeout 5 ha \"$1\" >> {log} 2>&1\n",
                log = file("notify.log").display(),
                ctl = ctl_binary().display(),
                sock = self.socket().display()
            ),
        )?;
        make_executable(&notify)?;
        let conf = file("keepalived.conf");
        write(
            &conf,
            &keepalived_conf(self.name, &self.track_file(), &notify),
        )?;
        let mut cmd = command_in(ns, KEEPALIVED)?;
        cmd.args(["--dont-fork", "--log-console", "--log-detail"])
            .arg("--use-file")
            .arg(&conf)
            .arg("--pid")
            .arg(file("keepalived.pid"))
            .arg("--vrrp_pid")
            .arg(file("vrrp.pid"))
            .arg("--checkers_pid")
            .arg(file("checkers.pid"));
        let name = format!("keepalived {}", self.name);
        let mut proc = Process::spawn(&name, cmd, &file("keepalived.log"))?;
        std::thread::sleep(Duration::from_millis(200));
        proc.ensure_running()?;
        self.keepalived = Some(proc);
        Ok(())
    }
}

/// The shell Ferrovox runs under: `$0` names it, `"$@"` is Ferrovox's command line; it
/// writes Ferrovox's pid to `$PIDFILE` and `$TRACK` as the module's doc says.
const SUPERVISOR: &str = "echo 0 > \"$TRACK\"; \"$@\" & echo $! > \"$PIDFILE\"; wait $!; \
                          echo 1 > \"$TRACK\"";

/// keepalived's config for node `name`: one VRRP instance on `eth0` for the VIP, in FAULT
/// while `track` holds a non-zero value.
fn keepalived_conf(name: &str, track: &Path, notify: &Path) -> String {
    let notify = notify.display();
    format!(
        "global_defs {{\n  router_id ferrovox_{name}\n  script_user root\n  \
         enable_script_security\n}}\n\
         vrrp_track_file ferrovox_down {{\n  file \"{track}\"\n  weight 0\n}}\n\
         vrrp_instance service {{\n  state BACKUP\n  nopreempt\n  interface eth0\n  \
         virtual_router_id 77\n  priority 200\n  advert_int 1\n  \
         track_file {{\n    ferrovox_down\n  }}\n  \
         virtual_ipaddress {{\n    {VIP}/{PREFIX} dev eth0\n  }}\n  \
         notify_master \"{notify} promote\"\n  notify_backup \"{notify} demote\"\n  \
         notify_fault \"{notify} demote\"\n}}\n",
        track = track.display(),
    )
}

fn write(path: &Path, text: &str) -> Result<()> {
    fs::write(path, text).map_err(|e| Error::io(format!("write {}", path.display()), e))
}

fn make_executable(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(0o755))
        .map_err(|e| Error::io(format!("chmod {}", path.display()), e))
}
