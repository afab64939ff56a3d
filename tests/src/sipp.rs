//! The sipp UAC and UAS: scenarios from `sipp/`, one working directory per side (each holds
//! the `tone.pcmu` that side streams, its message trace and its error log).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::ports::{port_is_free, PortBlock, LOOPBACK};
use crate::process::{tail, wait_for, Process};

/// Which pair of scenarios a run plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// INVITE/180/200/ACK, audio both ways, BYE.
    Basic,
    /// INVITE/183 with SDP (audio starts)/200/ACK, audio, BYE.
    EarlyMedia,
    /// INVITE/180, CANCEL/200, 487/ACK: never answered.
    Cancel,
    /// As `Basic`, with a hold (a=sendonly) and an unhold (a=sendrecv) re-INVITE from the
    /// caller while the audio streams.
    Hold,
    /// A late offer: INVITE without SDP, the 200 offers, the ACK answers.
    LateOffer,
    /// As `Basic`, with an UPDATE carrying a new SDP version from the caller while the audio
    /// streams (RFC 3311), answered with SDP.
    Update,
}

impl Scenario {
    /// The UAC and UAS scenario files' text.
    pub fn files(self) -> (&'static str, &'static str) {
        match self {
            Scenario::Basic => (
                include_str!("../sipp/uac.xml"),
                include_str!("../sipp/uas.xml"),
            ),
            Scenario::EarlyMedia => (
                include_str!("../sipp/uac_early.xml"),
                include_str!("../sipp/uas_early.xml"),
            ),
            Scenario::Cancel => (
                include_str!("../sipp/uac_cancel.xml"),
                include_str!("../sipp/uas_cancel.xml"),
            ),
            Scenario::Hold => (
                include_str!("../sipp/uac_hold.xml"),
                include_str!("../sipp/uas_hold.xml"),
            ),
            Scenario::LateOffer => (
                include_str!("../sipp/uac_late.xml"),
                include_str!("../sipp/uas_late.xml"),
            ),
            Scenario::Update => (
                include_str!("../sipp/uac_update.xml"),
                include_str!("../sipp/uas_update.xml"),
            ),
        }
    }

    /// Whether calls of this scenario are answered (and so carry media).
    pub fn answered(self) -> bool {
        self != Scenario::Cancel
    }
}

/// One side of the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The caller.
    Uac,
    /// The callee.
    Uas,
}

impl Side {
    /// `uac` or `uas`.
    pub fn name(self) -> &'static str {
        match self {
            Side::Uac => "uac",
            Side::Uas => "uas",
        }
    }
}

/// How many calls, how fast, how long.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    /// Calls in total (sipp `-m`), also the concurrency limit (`-l`).
    pub calls: u32,
    /// New calls per second (sipp `-r`).
    pub rate: u32,
    /// How long each answered call lasts after the ACK (sipp `-d`).
    pub hold: Duration,
}

/// A running sipp side.
#[derive(Debug)]
pub struct Sipp {
    side: Side,
    process: Process,
    dir: PathBuf,
}

impl Sipp {
    /// Starts one side in `dir` (which must already hold the side's `tone.pcmu`), giving up on
    /// its own after `timeout`. The UAS waits at most 5 s until its SIP port is bound.
    pub fn start(
        sipp: &Path,
        side: Side,
        scenario: Scenario,
        load: Load,
        ports: &PortBlock,
        dir: &Path,
        timeout: Duration,
    ) -> Result<Sipp> {
        let (uac_xml, uas_xml) = scenario.files();
        let (xml, sip_port, media_port) = match side {
            Side::Uac => (uac_xml, ports.uac_sip(), *ports.uac_media().start()),
            Side::Uas => (uas_xml, ports.uas_sip(), *ports.uas_media().start()),
        };
        let name = side.name();
        let scenario_file = dir.join(format!("{name}.xml"));
        std::fs::write(&scenario_file, xml)
            .map_err(|e| Error::io(format!("write {}", scenario_file.display()), e))?;
        let mut cmd = Command::new(sipp);
        cmd.current_dir(dir)
            .arg("-sf")
            .arg(&scenario_file)
            .args(["-i", "127.0.0.1", "-mi", "127.0.0.1", "-nostdin"])
            .args(["-p", &sip_port.to_string(), "-mp", &media_port.to_string()])
            .args(["-m", &load.calls.to_string()])
            .args(["-timeout", &format!("{}s", timeout.as_secs().max(1))])
            .args(["-timeout_error", "-trace_err", "-trace_msg"])
            .args(["-error_file", &format!("{name}_errors.log")])
            .args(["-message_file", &format!("{name}_messages.log")]);
        if side == Side::Uac {
            let proxy = SocketAddr::from((LOOPBACK, ports.proxy_sip()));
            cmd.args(["-r", &load.rate.max(1).to_string(), "-rp", "1000"])
                .args(["-l", &load.calls.to_string()])
                .args(["-d", &load.hold.as_millis().to_string()])
                .args(["-s", "service"])
                .arg(proxy.to_string());
        } else {
            // OPTIONS health probes (from Ferrovox as the proxy) answered 200 outside the
            // scenario.
            cmd.arg("-aa");
        }
        let mut process = Process::spawn(
            &format!("sipp {name}"),
            cmd,
            &dir.join(format!("{name}.out")),
        )?;
        if side == Side::Uas {
            wait_for(
                &format!("sipp uas to listen on 127.0.0.1:{sip_port}"),
                Duration::from_secs(5),
                || {
                    process.ensure_running()?;
                    Ok((!port_is_free(sip_port)).then_some(()))
                },
            )?;
        }
        Ok(Sipp {
            side,
            process,
            dir: dir.to_owned(),
        })
    }

    /// Waits at most `limit` for the side to finish; Ok only if sipp exits 0 (every call
    /// succeeded).
    pub fn finish(&mut self, limit: Duration) -> Result<()> {
        let status = match self.process.wait_timeout(limit) {
            Ok(status) if status.success() => return Ok(()),
            Ok(status) => status.to_string(),
            Err(Error::Timeout { waited, .. }) => format!("still running after {waited:?}"),
            Err(other) => return Err(other),
        };
        Err(Error::Sipp {
            side: self.side.name().into(),
            status,
            log: self.process.log().to_owned(),
            tail: self.tail(),
        })
    }

    /// The end of the side's screen output and its error log.
    pub fn tail(&self) -> String {
        let errors = self.dir.join(format!("{}_errors.log", self.side.name()));
        format!(
            "{}\n--- {}:\n{}",
            tail(self.process.log(), 30),
            errors.display(),
            tail(&errors, 15)
        )
    }
}
