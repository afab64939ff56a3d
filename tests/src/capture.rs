//! Packet capture of a run's loopback traffic with tcpdump, read back with [`crate::pcap`].

use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::error::Result;
use crate::pcap::{read_udp, Datagram};
use crate::process::{wait_for, Process};

/// A running capture of UDP on `lo` within one port range.
#[derive(Debug)]
pub struct Capture {
    process: Process,
    file: PathBuf,
}

impl Capture {
    /// Starts `tcpdump -i lo` for UDP with either port in `ports`, writing `dir/capture.pcap`,
    /// and waits at most `limit` until it reports that it is listening.
    pub fn start(
        tcpdump: &Path,
        ports: RangeInclusive<u16>,
        dir: &Path,
        limit: Duration,
    ) -> Result<Capture> {
        let filter = format!("udp and portrange {}-{}", ports.start(), ports.end());
        Capture::start_filter(tcpdump, &filter, None, dir, limit)
    }

    /// Starts `tcpdump -i lo` with the capture filter `filter`, keeping the first `snaplen`
    /// bytes of each frame (`None`: all of it), writing `dir/capture.pcap`, and waits at most
    /// `limit` until it reports that it is listening.
    pub fn start_filter(
        tcpdump: &Path,
        filter: &str,
        snaplen: Option<u32>,
        dir: &Path,
        limit: Duration,
    ) -> Result<Capture> {
        let file = dir.join("capture.pcap");
        let log = dir.join("tcpdump.log");
        let snaplen = snaplen.unwrap_or(0).to_string();
        let mut cmd = Command::new(tcpdump);
        // A 32 MiB capture buffer (tcpdump's default is 2 MiB): with every packet written at
        // once (-U, --immediate-mode), a burst of calls and media on a busy box overflowed the
        // default and the kernel dropped frames the checks then missed (an INVITE among them).
        cmd.args([
            "-i",
            "lo",
            "-n",
            "-U",
            "--immediate-mode",
            "-B",
            "32768",
            "-s",
            &snaplen,
            "-w",
        ])
        .arg(&file);
        if rustix::process::geteuid().is_root() {
            // Keep root: the default drop to an unprivileged user could not write into the
            // run's private directory.
            cmd.args(["-Z", "root"]);
        }
        cmd.arg(filter);
        let mut process = Process::spawn("tcpdump", cmd, &log)?;
        wait_for("tcpdump to start listening on lo", limit, || {
            process.ensure_running()?;
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            Ok(text.contains("listening on").then_some(()))
        })?;
        Ok(Capture { process, file })
    }

    /// Stops the capture (SIGTERM, which flushes the file; at most `limit`) and returns every
    /// UDP datagram it saw, in capture order.
    pub fn stop(mut self, limit: Duration) -> Result<Vec<Datagram>> {
        self.process.terminate(limit)?;
        read_udp(&self.file)
    }

    /// The capture file.
    pub fn file(&self) -> &Path {
        &self.file
    }
}
