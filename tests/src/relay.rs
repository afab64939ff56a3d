//! The media relay under test: Ferrovox (the default) or rtpengine (the reference), chosen by
//! `E2E_RELAY`. Both are started on the run's ports and answer ng on 127.0.0.1.

use std::env;
use std::fmt;
use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::ng::NgClient;
use crate::ports::{PortBlock, LOOPBACK};
use crate::process::{wait_for, Process};
use crate::tools::{self, is_executable};

/// Which relay the run drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelayKind {
    /// This repository's daemon, `ferrovox --config FILE`.
    Ferrovox,
    /// rtpengine in userspace mode, the behaviour Ferrovox replaces.
    Rtpengine,
}

impl RelayKind {
    /// From `E2E_RELAY` (`ferrovox` or `rtpengine`, any case); `ferrovox` when unset or empty.
    pub fn from_env() -> Result<RelayKind> {
        match env::var("E2E_RELAY") {
            Err(_) => Ok(RelayKind::Ferrovox),
            Ok(v) => RelayKind::parse(&v),
        }
    }

    fn parse(value: &str) -> Result<RelayKind> {
        match value.trim().to_ascii_lowercase().as_str() {
            "" | "ferrovox" => Ok(RelayKind::Ferrovox),
            "rtpengine" => Ok(RelayKind::Rtpengine),
            _ => Err(Error::UnknownRelay(value.to_owned())),
        }
    }

    /// The relay's executable, or [`Error::MissingTool`] saying how to get it.
    pub fn binary(self) -> Result<PathBuf> {
        match self {
            RelayKind::Rtpengine => tools::find(tools::RTPENGINE),
            RelayKind::Ferrovox => ferrovox_binary(),
        }
    }
}

impl fmt::Display for RelayKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RelayKind::Ferrovox => "ferrovox",
            RelayKind::Rtpengine => "rtpengine",
        })
    }
}

/// `FERROVOX_BIN` if set, else `target/debug/ferrovox` of this workspace; it must exist.
pub fn ferrovox_binary() -> Result<PathBuf> {
    let path = match env::var_os("FERROVOX_BIN") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join("target")
            .join("debug")
            .join("ferrovox"),
    };
    if is_executable(&path) {
        Ok(path)
    } else {
        Err(Error::MissingTool {
            tool: format!("ferrovox binary ({})", path.display()),
            hint: "build it with `cargo build -p ferrovox`, or set FERROVOX_BIN".to_owned(),
        })
    }
}

/// The Ferrovox config for a run: ng on the block's ng port, `/metrics` on its metrics port,
/// the socket backend on core 0, no delete delay, and two interfaces on 127.0.0.1 with the
/// block's relay ranges.
pub fn ferrovox_config(ports: &PortBlock) -> String {
    let (ext, int) = (ports.relay_external(), ports.relay_internal());
    format!(
        "[ng]\n\
         listen = \"127.0.0.1:{ng}\"\n\
         \n\
         [dataplane]\n\
         backend = \"socket\"\n\
         worker_cores = [0]\n\
         \n\
         [media]\n\
         delete_delay_secs = 0\n\
         \n\
         [metrics]\n\
         listen = \"127.0.0.1:{metrics}\"\n\
         \n\
         [[interface]]\n\
         name = \"external\"\n\
         address = \"127.0.0.1\"\n\
         port_min = {ext_min}\n\
         port_max = {ext_max}\n\
         \n\
         [[interface]]\n\
         name = \"internal\"\n\
         address = \"127.0.0.1\"\n\
         port_min = {int_min}\n\
         port_max = {int_max}\n",
        ng = ports.ng(),
        metrics = ports.metrics(),
        ext_min = ext.start(),
        ext_max = ext.end(),
        int_min = int.start(),
        int_max = int.end(),
    )
}

/// An `[admin]` section putting the daemon's admin socket in `dir` (`admin.sock`), so that
/// test daemons never share a socket nor need `/run`.
pub fn admin_socket_in(dir: &Path) -> String {
    format!(
        "\n[admin]\nsocket = \"{}\"\n",
        dir.join("admin.sock").display()
    )
}

/// Ferrovox's SIP proxy on the proxy port with the UAS as the one member of an anchored set
/// (the default `[set.media]`: callers on `external`, members on `internal`).
pub fn anchored_sip_config(ports: &PortBlock) -> String {
    format!(
        "\n[sip]\n\
         listen = [\"127.0.0.1:{proxy}\"]\n\
         transports = [\"udp\"]\n\
         \n\
         [[set]]\n\
         name = \"pool\"\n\
         \n\
         [set.media]\n\
         caller_interface = \"external\"\n\
         member_interface = \"internal\"\n\
         \n\
         [[set.member]]\n\
         uri = \"sip:127.0.0.1:{uas}\"\n",
        proxy = ports.proxy_sip(),
        uas = ports.uas_sip(),
    )
}

/// A running relay.
#[derive(Debug)]
pub struct Relay {
    kind: RelayKind,
    process: Process,
    ng: SocketAddr,
    external: RangeInclusive<u16>,
    internal: RangeInclusive<u16>,
}

impl Relay {
    /// Starts `kind` (binary `bin`) in `dir` on the block's ports and waits at most `limit`
    /// until it answers an ng `ping`.
    pub fn start(
        kind: RelayKind,
        bin: &Path,
        ports: &PortBlock,
        dir: &Path,
        limit: Duration,
    ) -> Result<Relay> {
        Relay::start_with(kind, bin, ports, dir, limit, "")
    }

    /// Like [`Relay::start`], with `extra` appended to Ferrovox's configuration (its SIP
    /// proxy, for anchored calls).
    pub fn start_with(
        kind: RelayKind,
        bin: &Path,
        ports: &PortBlock,
        dir: &Path,
        limit: Duration,
        extra: &str,
    ) -> Result<Relay> {
        let ng = SocketAddr::from((LOOPBACK, ports.ng()));
        let (ext, int) = (ports.relay_external(), ports.relay_internal());
        let mut cmd = Command::new(bin);
        cmd.current_dir(dir);
        let (external, internal) = match kind {
            RelayKind::Ferrovox => {
                let config = dir.join("ferrovox.toml");
                let text = ferrovox_config(ports) + extra + &admin_socket_in(dir);
                std::fs::write(&config, text)
                    .map_err(|e| Error::io(format!("write {}", config.display()), e))?;
                cmd.arg("--config").arg(&config);
                (ext, int)
            }
            RelayKind::Rtpengine => {
                // Userspace only (no kernel table), two logical interfaces on one address;
                // rtpengine has one global port range, so both legs draw from its union.
                cmd.args([
                    "--config-file=none",
                    "--foreground",
                    "--log-stderr",
                    "--table=-1",
                    "--interface=external/127.0.0.1",
                    "--interface=internal/127.0.0.1",
                    "--delete-delay=0",
                    "--num-threads=2",
                ])
                .arg(format!("--listen-ng={ng}"))
                .arg(format!("--port-min={}", ext.start()))
                .arg(format!("--port-max={}", int.end()))
                .arg(format!("--pidfile={}", dir.join("rtpengine.pid").display()));
                let all = *ext.start()..=*int.end();
                (all.clone(), all)
            }
        };
        let process = Process::spawn(&kind.to_string(), cmd, &dir.join(format!("{kind}.log")))?;
        let mut relay = Relay {
            kind,
            process,
            ng,
            external,
            internal,
        };
        let client = relay.client()?;
        wait_for(&format!("{kind} to answer ng ping on {ng}"), limit, || {
            relay.process.ensure_running()?;
            Ok(client.ping().ok())
        })?;
        Ok(relay)
    }

    /// Which relay this is.
    pub fn kind(&self) -> RelayKind {
        self.kind
    }

    /// Its ng control address.
    pub fn ng_addr(&self) -> SocketAddr {
        self.ng
    }

    /// A fresh ng client for it (1 s per try).
    pub fn client(&self) -> Result<NgClient> {
        NgClient::new(self.ng, Duration::from_secs(1))
    }

    /// Ports it may announce towards the caller (the `external` interface).
    pub fn external_ports(&self) -> RangeInclusive<u16> {
        self.external.clone()
    }

    /// Ports it may announce towards the callee (the `internal` interface).
    pub fn internal_ports(&self) -> RangeInclusive<u16> {
        self.internal.clone()
    }

    /// The process guard (to check it is alive, or read its log).
    pub fn process(&mut self) -> &mut Process {
        &mut self.process
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a test failure.
mod tests {
    use super::*;

    #[test]
    fn relay_kind_parses_and_refuses_unknown_names() {
        assert_eq!(RelayKind::parse("").unwrap(), RelayKind::Ferrovox);
        assert_eq!(RelayKind::parse("RTPengine").unwrap(), RelayKind::Rtpengine);
        assert_eq!(
            RelayKind::parse("kamailio").unwrap_err().to_string(),
            "e2e: E2E_RELAY=\"kamailio\" is not one of: ferrovox, rtpengine"
        );
    }

    #[test]
    fn ferrovox_config_has_the_documented_shape() {
        let ports = PortBlock::take().unwrap();
        let text = ferrovox_config(&ports);
        assert!(text.contains(&format!("listen = \"127.0.0.1:{}\"", ports.ng())));
        assert!(text.contains("backend = \"socket\""));
        assert!(text.contains("delete_delay_secs = 0"));
        assert_eq!(text.matches("[[interface]]").count(), 2);
        assert!(text.contains(&format!("port_min = {}", ports.relay_internal().start())));
        assert!(text.contains(&format!("port_max = {}", ports.relay_external().end())));
        let parsed = config::parse(&text).expect("the daemon's parser accepts the config");
        assert_eq!(parsed.interfaces.len(), 2);
        assert_eq!(parsed.ng.listen.port(), ports.ng());
    }
}
