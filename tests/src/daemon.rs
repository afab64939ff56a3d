//! The Ferrovox daemon on its own, with no SIP proxy in front: the test renders a config,
//! starts `ferrovox --config FILE`, and drives it over ng itself (typed requests through
//! [`NgClient`], or raw datagrams for malformed input and repeated cookies).
//!
//! Every daemon runs in its own temporary directory and process group and is killed when its
//! guard drops; if the test is panicking at that point, the end of the daemon's log is
//! printed, so a failed assertion comes with what the daemon said.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

use ng::{decode_body, split_cookie, OwnedValue};

use crate::error::{Error, Result};
use crate::ng::NgClient;
use crate::ports::LOOPBACK;
use crate::process::{tail, wait_for, Process};
use crate::relay::ferrovox_binary;

/// How long a daemon may take to answer its first ng `ping`.
const START_LIMIT: Duration = Duration::from_secs(10);

/// One `[[interface]]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
struct InterfaceSpec {
    name: String,
    port_min: u16,
    port_max: u16,
}

/// A Ferrovox config for one test: ng on 127.0.0.1, `/metrics` on the port after ng's (unless
/// the test adds its own `[metrics]`), the socket backend with one worker on core 0, debug
/// logging, `[media] delete_delay_secs = 0` unless set otherwise, plus the `[media]` keys and
/// the interfaces (all on 127.0.0.1) the test adds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonConfig {
    ng_port: u16,
    ng: Vec<(String, String)>,
    media: Vec<(String, String)>,
    interfaces: Vec<InterfaceSpec>,
    extra: String,
}

impl DaemonConfig {
    /// A config whose ng socket listens on 127.0.0.1:`ng_port`.
    pub fn new(ng_port: u16) -> DaemonConfig {
        DaemonConfig {
            ng_port,
            ng: Vec::new(),
            media: Vec::new(),
            interfaces: Vec::new(),
            extra: String::new(),
        }
    }

    /// Sets `[ng] key = value` (other than `listen`); `value` is written as TOML (quote
    /// strings yourself).
    pub fn ng(mut self, key: &str, value: impl ToString) -> DaemonConfig {
        self.ng.retain(|(k, _)| k != key);
        self.ng.push((key.to_owned(), value.to_string()));
        self
    }

    /// Sets `[media] key = value`; `value` is written as TOML (quote strings yourself).
    pub fn media(mut self, key: &str, value: impl ToString) -> DaemonConfig {
        self.media.retain(|(k, _)| k != key);
        self.media.push((key.to_owned(), value.to_string()));
        self
    }

    /// Adds an interface `name` on 127.0.0.1 owning ports `port_min..=port_max`.
    pub fn interface(mut self, name: &str, port_min: u16, port_max: u16) -> DaemonConfig {
        self.interfaces.push(InterfaceSpec {
            name: name.to_owned(),
            port_min,
            port_max,
        });
        self
    }

    /// Appends TOML text (whole sections such as `[sip]`, `[[set]]`) to the config.
    pub fn raw(mut self, toml: &str) -> DaemonConfig {
        self.extra.push('\n');
        self.extra.push_str(toml);
        self.extra.push('\n');
        self
    }

    /// The ng address the config names.
    pub fn ng_addr(&self) -> SocketAddr {
        SocketAddr::from((LOOPBACK, self.ng_port))
    }

    /// The Prometheus address the config names: 127.0.0.1, the ng port + 1 (the block's
    /// [`crate::ports::PortBlock::metrics`] when the ng port is the block's).
    pub fn metrics_addr(&self) -> SocketAddr {
        SocketAddr::from((LOOPBACK, self.ng_port + 1))
    }

    /// The config file's text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = write!(
            out,
            "[general]\nlog_level = \"debug\"\n\n[ng]\nlisten = \"{}\"\n",
            self.ng_addr()
        );
        for (k, v) in &self.ng {
            let _ = writeln!(out, "{k} = {v}");
        }
        out.push_str("\n[dataplane]\nbackend = \"socket\"\nworker_cores = [0]\n\n[media]\n");
        if !self.media.iter().any(|(k, _)| k == "delete_delay_secs") {
            out.push_str("delete_delay_secs = 0\n");
        }
        for (k, v) in &self.media {
            let _ = writeln!(out, "{k} = {v}");
        }
        if !self.extra.contains("[metrics]") {
            let _ = write!(out, "\n[metrics]\nlisten = \"{}\"\n", self.metrics_addr());
        }
        for i in &self.interfaces {
            let _ = write!(
                out,
                "\n[[interface]]\nname = \"{}\"\naddress = \"127.0.0.1\"\n\
                 port_min = {}\nport_max = {}\n",
                i.name, i.port_min, i.port_max
            );
        }
        out.push_str(&self.extra);
        out
    }
}

/// A running daemon, killed (with its process group) on drop.
#[derive(Debug)]
pub struct Daemon {
    process: Process,
    ng: SocketAddr,
    client: NgClient,
    /// Where the config and the log live.
    path: PathBuf,
    /// Removes `path` on drop; taken (and the directory kept) after a failure or with
    /// `E2E_KEEP` set.
    dir: Option<tempfile::TempDir>,
}

impl Daemon {
    /// Writes `config` to a fresh directory, starts the daemon on it and waits until it
    /// answers an ng `ping`.
    pub fn start(config: &DaemonConfig) -> Result<Daemon> {
        let bin = ferrovox_binary()?;
        let dir = tempfile::Builder::new()
            .prefix("e2e-daemon-")
            .tempdir()
            .map_err(|e| Error::io("create a daemon directory", e))?;
        let path = dir.path().join("ferrovox.toml");
        let mut text = config.render();
        if !text.contains("\n[admin]") {
            text.push_str(&crate::relay::admin_socket_in(dir.path()));
        }
        std::fs::write(&path, text)
            .map_err(|e| Error::io(format!("write {}", path.display()), e))?;
        let mut cmd = Command::new(&bin);
        cmd.current_dir(dir.path()).arg("--config").arg(&path);
        // The config's log level applies, whatever the environment says.
        cmd.env_remove("RUST_LOG");
        let process = Process::spawn("ferrovox", cmd, &dir.path().join("ferrovox.log"))?;
        let ng = config.ng_addr();
        let client = NgClient::new(ng, Duration::from_secs(1))?;
        let mut daemon = Daemon {
            process,
            ng,
            client,
            path: dir.path().to_owned(),
            dir: Some(dir),
        };
        let probe = NgClient::new(ng, Duration::from_millis(200))?;
        wait_for(
            &format!("ferrovox to answer ng ping on {ng}"),
            START_LIMIT,
            || {
                daemon.process.ensure_running()?;
                Ok(probe.ping().ok())
            },
        )?;
        Ok(daemon)
    }

    /// The ng client (1 s per try, three tries).
    pub fn ng(&self) -> &NgClient {
        &self.client
    }

    /// The daemon's ng address.
    pub fn ng_addr(&self) -> SocketAddr {
        self.ng
    }

    /// Its `/metrics` endpoint, where [`DaemonConfig`] puts it (the ng port plus one).
    pub fn metrics_addr(&self) -> SocketAddr {
        SocketAddr::from((LOOPBACK, self.ng.port() + 1))
    }

    /// The process guard.
    pub fn process(&mut self) -> &mut Process {
        &mut self.process
    }

    /// The daemon's admin socket (in its directory, unless the config names another).
    pub fn admin_socket(&self) -> PathBuf {
        self.path.join("admin.sock")
    }

    /// The daemon's log file.
    pub fn log(&self) -> PathBuf {
        self.path.join("ferrovox.log")
    }

    /// The config file the daemon was started with (rewrite it, then [`Daemon::reload`]).
    pub fn config_path(&self) -> PathBuf {
        self.path.join("ferrovox.toml")
    }

    /// Sends SIGHUP: the daemon re-reads its config file.
    pub fn reload(&mut self) -> Result<()> {
        let pid = rustix::process::Pid::from_raw(self.process.pid() as i32)
            .ok_or_else(|| Error::io("SIGHUP", std::io::Error::other("no pid")))?;
        rustix::process::kill_process(pid, rustix::process::Signal::HUP)
            .map_err(|e| Error::io("SIGHUP the daemon", e.into()))
    }

    /// The last `lines` lines of the daemon's log.
    pub fn log_tail(&self, lines: usize) -> String {
        tail(&self.log(), lines)
    }

    /// ng `statistics`: the whole reply.
    pub fn statistics(&self) -> Result<OwnedValue> {
        self.client
            .request(&ng::RequestBuilder::new(ng::Command::Statistics))
    }

    /// Sends one raw datagram to the ng socket from a fresh socket and returns the first
    /// reply within `limit`, raw (`None` after `limit` of silence).
    pub fn ng_raw(&self, datagram: &[u8], limit: Duration) -> Result<Option<Vec<u8>>> {
        let socket = RawNg::new(self.ng)?;
        socket.send(datagram)?;
        socket.recv(limit)
    }

    /// SIGTERM, then waits at most `limit` for the exit; returns the status and how long the
    /// exit took.
    pub fn terminate(&mut self, limit: Duration) -> Result<(ExitStatus, Duration)> {
        let start = Instant::now();
        let status = self.process.terminate(limit)?;
        Ok((status, start.elapsed()))
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.process.kill_group();
        let failed = std::thread::panicking();
        if failed {
            eprintln!(
                "--- ferrovox log (last 40 lines) ---\n{}\n--- config ---\n{}",
                self.log_tail(40),
                std::fs::read_to_string(self.path.join("ferrovox.toml")).unwrap_or_default()
            );
        }
        if failed || std::env::var_os("E2E_KEEP").is_some() {
            if let Some(dir) = self.dir.take() {
                eprintln!("e2e: daemon directory kept: {}", dir.keep().display());
            }
        }
    }
}

/// A client socket for raw ng datagrams.
#[derive(Debug)]
pub struct RawNg {
    socket: UdpSocket,
    peer: SocketAddr,
}

impl RawNg {
    /// A socket on an ephemeral loopback port talking to `peer`.
    pub fn new(peer: SocketAddr) -> Result<RawNg> {
        RawNg::bind(LOOPBACK, peer)
    }

    /// A socket on an ephemeral port of `ip` (any 127.0.0.0/8 address is its own source on
    /// loopback) talking to `peer`.
    pub fn bind(ip: Ipv4Addr, peer: SocketAddr) -> Result<RawNg> {
        let socket = UdpSocket::bind((ip, 0))
            .map_err(|e| Error::io(format!("bind a raw ng socket on {ip}"), e))?;
        Ok(RawNg { socket, peer })
    }

    /// Where the socket is bound.
    pub fn local_addr(&self) -> Result<SocketAddr> {
        self.socket
            .local_addr()
            .map_err(|e| Error::io("address of a raw ng socket", e))
    }

    /// Sends `datagram` as is.
    pub fn send(&self, datagram: &[u8]) -> Result<()> {
        self.socket
            .send_to(datagram, self.peer)
            .map(drop)
            .map_err(|e| Error::io(format!("send a raw ng datagram to {}", self.peer), e))
    }

    /// The next datagram within `limit`, or `None` after `limit` of silence.
    pub fn recv(&self, limit: Duration) -> Result<Option<Vec<u8>>> {
        let mut buf = vec![0u8; 65536];
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            self.socket
                .set_read_timeout(Some(left))
                .map_err(|e| Error::io("set a raw ng timeout", e))?;
            match self.socket.recv_from(&mut buf) {
                Ok((n, from)) if from == self.peer => {
                    return Ok(Some(buf.get(..n).unwrap_or_default().to_vec()))
                }
                Ok(_) => continue,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    return Ok(None)
                }
                Err(e) => return Err(Error::io("receive a raw ng reply", e)),
            }
        }
    }
}

/// Splits a raw ng reply into its cookie and decoded body.
pub fn decode_reply(datagram: &[u8]) -> Result<(Vec<u8>, OwnedValue)> {
    let bad = |reason: String| Error::Ng {
        command: "raw".into(),
        reason,
    };
    let (cookie, body) = split_cookie(datagram).map_err(|e| bad(format!("framing: {e}")))?;
    let value = decode_body(body).map_err(|e| bad(format!("body ({e}): {body:?}")))?;
    Ok((cookie.to_vec(), value.to_owned()))
}

/// The value at `path` (dictionary keys, outermost first) inside `value`.
pub fn at<'a>(value: &'a OwnedValue, path: &[&str]) -> Option<&'a OwnedValue> {
    path.iter().try_fold(value, |v, key| v.get(key))
}

/// The integer at `path` inside `value`.
pub fn int_at(value: &OwnedValue, path: &[&str]) -> Option<i64> {
    at(value, path).and_then(OwnedValue::as_int)
}

/// The string at `path` inside `value`.
pub fn str_at<'a>(value: &'a OwnedValue, path: &[&str]) -> Option<&'a str> {
    at(value, path).and_then(OwnedValue::as_str)
}

/// `ferrovox check-config FILE`: the exit status and everything it printed, within 10 s.
pub fn check_config(file: &Path, scratch: &Path) -> Result<(ExitStatus, String)> {
    let bin = ferrovox_binary()?;
    let mut cmd = Command::new(&bin);
    cmd.arg("check-config").arg(file);
    let log = scratch.join(format!(
        "check-config-{}.log",
        file.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    ));
    let mut p = Process::spawn("ferrovox check-config", cmd, &log)?;
    let status = p.wait_timeout(Duration::from_secs(10))?;
    let output = std::fs::read_to_string(&log)
        .map_err(|e| Error::io(format!("read {}", log.display()), e))?;
    Ok((status, output))
}

/// The body of `GET /metrics` at `addr` (a daemon's `[metrics] listen`), if it answers 200.
pub fn scrape(addr: SocketAddr) -> Option<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut body = String::new();
    s.read_to_string(&mut body).ok()?;
    body.starts_with("HTTP/1.1 200").then_some(body)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a test failure.
mod tests {
    use super::*;

    #[test]
    fn the_rendered_config_is_one_the_daemon_accepts() {
        let text = DaemonConfig::new(20002)
            .media("strict_source", true)
            .media("timeout_secs", 2)
            .interface("external", 20100, 20107)
            .interface("internal", 20200, 20299)
            .render();
        assert!(text.contains("delete_delay_secs = 0"));
        assert!(text.contains("strict_source = true"));
        let parsed = config::parse(&text).expect("the daemon's parser accepts the config");
        assert_eq!(parsed.interfaces.len(), 2);
        assert_eq!(parsed.ng.listen.port(), 20002);
        assert!(parsed.media.strict_source);
        assert_eq!(parsed.media.timeout, Duration::from_secs(2));
        assert_eq!(parsed.media.delete_delay, Duration::ZERO);
    }

    #[test]
    fn ng_keys_go_into_the_ng_section() {
        let text = DaemonConfig::new(20002)
            .ng("allow", r#"["127.0.0.1/32"]"#)
            .ng("rate", 10)
            .ng("rate", 20)
            .interface("x", 20100, 20107)
            .render();
        let parsed = config::parse(&text).unwrap();
        assert_eq!(parsed.ng.listen.port(), 20002);
        assert_eq!(parsed.ng.allow.len(), 1);
        assert_eq!(parsed.ng.rate.map(|r| r.per_sec.get()), Some(20));
    }

    #[test]
    fn a_media_key_set_twice_keeps_the_last_value() {
        let text = DaemonConfig::new(20002)
            .media("delete_delay_secs", 5)
            .media("delete_delay_secs", 7)
            .interface("x", 20100, 20107)
            .render();
        assert_eq!(text.matches("delete_delay_secs").count(), 1);
        let parsed = config::parse(&text).unwrap();
        assert_eq!(parsed.media.delete_delay, Duration::from_secs(7));
    }

    #[test]
    fn paths_reach_into_nested_dictionaries() {
        let body = b"d6:result2:ok6:totalsd3:RTPd7:packetsi7eeee";
        let (cookie, v) = decode_reply(&[b"c1 ".as_slice(), body].concat()).unwrap();
        assert_eq!(cookie, b"c1");
        assert_eq!(str_at(&v, &["result"]), Some("ok"));
        assert_eq!(int_at(&v, &["totals", "RTP", "packets"]), Some(7));
        assert_eq!(int_at(&v, &["totals", "RTCP", "packets"]), None);
    }
}
