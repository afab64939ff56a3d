//! RTP endpoints inside a [`Side`]'s namespace: `rtp_endpoint.py` (next to this file, written
//! into the run directory) run with `ip netns exec`, one UDP socket per flow that sends
//! numbered RTP packets to a relay endpoint and checks source, SSRC and payload of every
//! packet that comes back.

use std::fs;
use std::net::SocketAddrV4;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::Side;
use crate::error::{Error, Result};
use crate::process::{tail, wait_for, Process};
use crate::tools::{self, Tool};

/// The Python interpreter that runs the RTP endpoints.
pub const PYTHON3: Tool = Tool {
    name: "python3",
    hint: "install it: apt-get install python3",
};

/// The RTP endpoint program (Python 3, standard library only).
pub const ENDPOINT_SCRIPT: &str = include_str!("rtp_endpoint.py");

/// One flow of an [`Endpoint`]: a local UDP port talking RTP with one relay endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flow {
    /// The endpoint's own port (on the side's host address).
    pub local_port: u16,
    /// Where it sends, and the only source it accepts packets from.
    pub relay: SocketAddrV4,
    /// The SSRC of what it sends.
    pub tx_ssrc: u32,
    /// The SSRC it expects on what arrives (the other side's).
    pub rx_ssrc: u32,
}

/// How an [`Endpoint`] runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pace {
    /// Packets each flow sends (sequence numbers 1..=count); 0 only receives.
    pub count: u32,
    /// Packets per flow after which it stops listening early (0: listen the whole linger).
    pub expect: u32,
    /// Time between two packets of a flow.
    pub interval: Duration,
    /// How long it keeps listening after its last send.
    pub linger: Duration,
    /// Bound on the whole run (waiting for the go signal included).
    pub limit: Duration,
}

/// What one flow of an endpoint sent and received.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlowReport {
    /// The flow's local port.
    pub local_port: u16,
    /// Packets sent.
    pub sent: u32,
    /// Datagrams received.
    pub received: u32,
    /// Distinct sequence numbers received from the right source with the right SSRC and
    /// payload.
    pub good: u32,
    /// Datagrams from a source other than the flow's relay endpoint.
    pub bad_source: u32,
    /// Datagrams with another SSRC.
    pub bad_ssrc: u32,
    /// Datagrams that are not RTP or whose payload is not what the sender built.
    pub bad_payload: u32,
}

/// The `flow ...` lines an endpoint prints at the end.
pub fn parse_reports(text: &str) -> Vec<FlowReport> {
    text.lines()
        .filter_map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            if words.first() != Some(&"flow") {
                return None;
            }
            let field = |name: &str| -> Option<u32> {
                let at = words.iter().position(|w| *w == name)?;
                words.get(at + 1)?.parse().ok()
            };
            Some(FlowReport {
                local_port: words.get(1)?.parse().ok()?,
                sent: field("sent")?,
                received: field("received")?,
                good: field("good")?,
                bad_source: field("bad_source")?,
                bad_ssrc: field("bad_ssrc")?,
                bad_payload: field("bad_payload")?,
            })
        })
        .collect()
}

/// Writes the endpoint program into `dir`; its path.
pub fn write_endpoint_script(dir: &Path) -> Result<PathBuf> {
    let path = dir.join("rtp_endpoint.py");
    fs::write(&path, ENDPOINT_SCRIPT)
        .map_err(|e| Error::io(format!("write {}", path.display()), e))?;
    Ok(path)
}

/// An RTP endpoint running inside a side's namespace; killed on drop.
#[derive(Debug)]
pub struct Endpoint {
    process: Process,
    flows: usize,
}

impl Endpoint {
    /// Starts `script` in `side`'s namespace with `flows` on the side's host address; it
    /// starts sending once the file `go` exists. Output goes to `log`.
    pub fn spawn(
        side: &Side,
        script: &Path,
        flows: &[Flow],
        pace: &Pace,
        go: &Path,
        log: &Path,
    ) -> Result<Endpoint> {
        let python = tools::find(PYTHON3)?;
        let mut cmd = side.ns().command(&python)?;
        cmd.arg(script)
            .arg("--bind")
            .arg(side.host.to_string())
            .arg("--count")
            .arg(pace.count.to_string())
            .arg("--expect")
            .arg(pace.expect.to_string())
            .arg("--interval-ms")
            .arg(format!("{:.3}", pace.interval.as_secs_f64() * 1000.0))
            .arg("--linger")
            .arg(format!("{:.3}", pace.linger.as_secs_f64()))
            .arg("--limit")
            .arg(format!("{:.3}", pace.limit.as_secs_f64()))
            .arg("--go")
            .arg(go);
        for f in flows {
            cmd.arg("--flow").arg(format!(
                "{},{},{},{:#x},{:#x}",
                f.local_port,
                f.relay.ip(),
                f.relay.port(),
                f.tx_ssrc,
                f.rx_ssrc
            ));
        }
        let name = format!("rtp endpoint in {}", side.ns().name());
        let process = Process::spawn(&name, cmd, log)?;
        Ok(Endpoint {
            process,
            flows: flows.len(),
        })
    }

    /// Waits at most `limit` until every socket is bound (the endpoint printed `ready`).
    pub fn wait_ready(&mut self, limit: Duration) -> Result<()> {
        let log = self.process.log().to_owned();
        let what = format!("{} to bind its sockets", self.process.name());
        let process = &mut self.process;
        wait_for(&what, limit, || {
            let text = fs::read_to_string(&log).unwrap_or_default();
            if text.lines().any(|l| l == "ready") {
                return Ok(Some(()));
            }
            process.ensure_running()?;
            Ok(None)
        })
    }

    /// Waits at most `limit` for the endpoint to end; its report per flow, in flow order.
    pub fn finish(mut self, limit: Duration) -> Result<Vec<FlowReport>> {
        let status = self.process.wait_timeout(limit)?;
        let log = self.process.log().to_owned();
        let text = fs::read_to_string(&log)
            .map_err(|e| Error::io(format!("read {}", log.display()), e))?;
        let reports = parse_reports(&text);
        if !status.success() || reports.len() != self.flows {
            return Err(Error::Exited {
                name: self.process.name().to_owned(),
                status: format!("{status}, {} of {} flow reports", reports.len(), self.flows),
                log: log.clone(),
                tail: tail(&log, 20),
            });
        }
        Ok(reports)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a test failure.
mod tests {
    use super::*;

    #[test]
    fn flow_reports_are_read_back() {
        let text = "ready\n\
                    flow 20000 sent 200 received 201 good 200 bad_source 1 bad_ssrc 0 bad_payload 0\n\
                    noise\n\
                    flow 20002 sent 0 received 3 good 2 bad_source 0 bad_ssrc 1 bad_payload 0\n";
        let r = parse_reports(text);
        assert_eq!(
            r,
            vec![
                FlowReport {
                    local_port: 20000,
                    sent: 200,
                    received: 201,
                    good: 200,
                    bad_source: 1,
                    bad_ssrc: 0,
                    bad_payload: 0
                },
                FlowReport {
                    local_port: 20002,
                    sent: 0,
                    received: 3,
                    good: 2,
                    bad_source: 0,
                    bad_ssrc: 1,
                    bad_payload: 0
                }
            ]
        );
        assert!(parse_reports("flow x sent 1").is_empty());
    }

    #[test]
    fn the_endpoint_program_is_embedded() {
        assert!(ENDPOINT_SCRIPT.contains("def main()"));
        let dir = tempfile::tempdir().unwrap();
        let path = write_endpoint_script(dir.path()).unwrap();
        assert_eq!(fs::read_to_string(path).unwrap(), ENDPOINT_SCRIPT);
    }
}
