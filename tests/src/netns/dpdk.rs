//! The daemon with its DPDK data plane between two [`Side`]s: a config that opens the root
//! ends of both veth pairs as `net_af_packet` ports, or as `net_af_xdp` ports (AF_XDP,
//! native XDP on veth; [`PortDriver`]) (relay interface `external` on the
//! caller side, `internal` on the member side) with ng on 127.0.0.1 and, when asked, its SIP
//! proxy on 127.0.0.1 in front of one member that anchors calls between those two interfaces,
//! a guard that starts it and always kills it, and readers for what it reports: the
//! per-worker counters of ng `statistics` and the `DPDK worker stopped` lines it logs at exit.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::{SocketAddr, SocketAddrV4};
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::thread;
use std::time::{Duration, Instant};

use ng::{Command as Ng, OwnedValue, RequestBuilder};

use super::Side;
use crate::daemon::int_at;
use crate::error::{Error, Result};
use crate::ng::NgClient;
use crate::ports::LOOPBACK;
use crate::process::{tail, Process, POLL};
use crate::relay::ferrovox_binary;

/// What a daemon built without the `dpdk` feature says when asked for `backend = "dpdk"`.
const NO_DPDK: &str = "has no DPDK support";

/// Packet frames per `net_af_packet` ring: room for a second of the tests' traffic should a
/// worker's CPU stall.
const RING_FRAMES: u32 = 2048;

/// A daemon config for the DPDK data plane on two sides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DpdkRelayConfig {
    /// The ng port on 127.0.0.1; `/metrics` listens on the next one (as in
    /// [`crate::ports::PortBlock`]).
    pub ng_port: u16,
    /// Workers (CPU ids 0..workers); with several, every port gets that many queue pairs.
    pub workers: usize,
    /// The EAL's runtime-file prefix (unique per daemon on the host).
    pub file_prefix: String,
    /// The caller side's veth root end (port of interface `external`).
    pub caller_if: String,
    /// The member side's veth root end (port of interface `internal`).
    pub member_if: String,
    /// The relay's caller-side address and its subnet length.
    pub external: (std::net::Ipv4Addr, u8),
    /// The relay's member-side address and its subnet length.
    pub internal: (std::net::Ipv4Addr, u8),
    /// Relay ports of `external` (even start, odd end).
    pub external_ports: RangeInclusive<u16>,
    /// Relay ports of `internal` (even start, odd end).
    pub internal_ports: RangeInclusive<u16>,
    /// The SIP proxy, when its calls are to be anchored (`None`: ng only).
    pub sip: Option<AnchoredSip>,
    /// The poll-mode driver that opens the veth root ends.
    pub driver: PortDriver,
}

/// The DPDK driver of the two ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortDriver {
    /// `net_af_packet` vdevs (`qpairs` = workers).
    AfPacket,
    /// `[[dataplane.dpdk.port]] af_xdp = { iface }`: the daemon adds the `net_af_xdp` vdevs
    /// (one queue per worker; a veth offers one, so one worker).
    AfXdp,
}

impl PortDriver {
    /// The DPDK driver name (`net_af_packet`, `net_af_xdp`).
    pub fn name(self) -> &'static str {
        match self {
            PortDriver::AfPacket => "net_af_packet",
            PortDriver::AfXdp => "net_af_xdp",
        }
    }
}

/// The daemon's SIP proxy on UDP 127.0.0.1 with one `[[set]]` whose one member is on
/// 127.0.0.1 too: its calls are anchored from `external` (callers) to `internal` (member).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnchoredSip {
    /// The proxy's SIP port (`[sip] listen`).
    pub proxy_port: u16,
    /// The member's SIP port.
    pub member_port: u16,
}

impl DpdkRelayConfig {
    /// The config for `workers` workers between `caller` and `member`, whose `relay`
    /// addresses become the interfaces `external` and `internal`.
    pub fn between(
        caller: &Side,
        member: &Side,
        prefix_len: u8,
        workers: usize,
        ng_port: u16,
        file_prefix: &str,
        ports: (RangeInclusive<u16>, RangeInclusive<u16>),
    ) -> DpdkRelayConfig {
        DpdkRelayConfig {
            ng_port,
            workers,
            file_prefix: file_prefix.to_owned(),
            caller_if: caller.veth().root().to_owned(),
            member_if: member.veth().root().to_owned(),
            external: (caller.relay, prefix_len),
            internal: (member.relay, prefix_len),
            external_ports: ports.0,
            internal_ports: ports.1,
            sip: None,
            driver: PortDriver::AfPacket,
        }
    }

    /// The same, with the ports opened by `driver`.
    pub fn with_driver(self, driver: PortDriver) -> DpdkRelayConfig {
        DpdkRelayConfig { driver, ..self }
    }

    /// The same, with the SIP proxy anchoring the calls it routes to the member.
    pub fn with_sip(self, sip: AnchoredSip) -> DpdkRelayConfig {
        DpdkRelayConfig {
            sip: Some(sip),
            ..self
        }
    }

    /// The ng address.
    pub fn ng_addr(&self) -> SocketAddr {
        SocketAddr::from((LOOPBACK, self.ng_port))
    }

    /// The config file's text: `--no-huge` EAL, one `net_af_packet` vdev per side (with
    /// `qpairs` when there are several workers) or one `af_xdp` port per side,
    /// `[media] delete_delay_secs = 0`, and the SIP
    /// proxy's `[sip]` and `[[set]]` when it has one. Steering is
    /// `auto`: `net_af_packet` takes no `rte_flow` rules, so with several workers the daemon
    /// runs (and logs) the RSS + hand-off-ring mode the operator allowed.
    pub fn render(&self) -> String {
        let mut vdev = format!(",framecnt={RING_FRAMES}");
        if self.workers > 1 {
            let _ = write!(vdev, ",qpairs={}", self.workers);
        }
        let vdevs = match self.driver {
            PortDriver::AfPacket => format!(
                "vdevs = [\"net_af_packet0,iface={}{vdev}\", \"net_af_packet1,iface={}{vdev}\"]\n",
                self.caller_if, self.member_if
            ),
            PortDriver::AfXdp => String::new(),
        };
        let cores: Vec<String> = (0..self.workers).map(|c| c.to_string()).collect();
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = write!(
            out,
            "[general]\nlog_level = \"info\"\n\n\
             [ng]\nlisten = \"{ng}\"\n\n\
             [dataplane]\nbackend = \"dpdk\"\nworker_cores = [{cores}]\n\n\
             [dataplane.dpdk]\n{vdevs}\
             no_huge = true\nmemory_mb = 256\nmbufs = 8191\nrx_desc = 256\ntx_desc = 256\n\
             file_prefix = \"{prefix}\"\n\
             steering = \"auto\"\n",
            ng = self.ng_addr(),
            cores = cores.join(", "),
            prefix = self.file_prefix,
        );
        for (i, iface, name, (_, len)) in [
            (0, &self.caller_if, "external", self.external),
            (1, &self.member_if, "internal", self.internal),
        ] {
            let port = match self.driver {
                PortDriver::AfPacket => format!("device = \"net_af_packet{i}\""),
                PortDriver::AfXdp => format!("af_xdp = {{ iface = \"{iface}\" }}"),
            };
            let _ = write!(
                out,
                "\n[[dataplane.dpdk.port]]\n{port}\ninterfaces = [\"{name}\"]\n\
                 prefix_len = {len}\n"
            );
        }
        out.push_str("\n[media]\ndelete_delay_secs = 0\n");
        // `/metrics` on the block's port (the ng port + 1), not the default 9490 another
        // daemon on the host may hold.
        let _ = write!(
            out,
            "\n[metrics]\nlisten = \"{LOOPBACK}:{}\"\n",
            self.ng_port + 1
        );
        for (name, (ip, _), ports) in [
            ("external", self.external, &self.external_ports),
            ("internal", self.internal, &self.internal_ports),
        ] {
            let _ = write!(
                out,
                "\n[[interface]]\nname = \"{name}\"\naddress = \"{ip}\"\n\
                 port_min = {}\nport_max = {}\n",
                ports.start(),
                ports.end()
            );
        }
        if let Some(sip) = self.sip {
            let _ = write!(
                out,
                "\n[sip]\nlisten = [\"{LOOPBACK}:{}\"]\ntransports = [\"udp\"]\n\n\
                 [[set]]\nname = \"pool\"\n\n\
                 [set.media]\ncaller_interface = \"external\"\nmember_interface = \"internal\"\n\n\
                 [[set.member]]\nuri = \"sip:{LOOPBACK}:{}\"\n",
                sip.proxy_port, sip.member_port
            );
        }
        out
    }
}

/// How a start ended.
#[derive(Debug)]
pub enum Started {
    /// The daemon runs and answers ng.
    Running(DpdkRelay),
    /// The binary was built without DPDK; its refusal, one line.
    NoDpdk(String),
}

/// The running daemon, killed with its process group on drop; after a failure (the test
/// panicking) the end of its log is printed and its directory kept.
#[derive(Debug)]
pub struct DpdkRelay {
    process: Process,
    ng: NgClient,
    /// Removes `path` on drop unless kept.
    dir: Option<tempfile::TempDir>,
    path: PathBuf,
    /// The EAL's runtime directory (`/var/run/dpdk/PREFIX` for root), removed on drop.
    runtime: PathBuf,
}

impl DpdkRelay {
    /// Writes `config` into `dir` and starts the daemon (`FERROVOX_BIN` or the workspace's
    /// debug build); waits at most `limit` for its first ng `ping` answer.
    pub fn start(
        dir: tempfile::TempDir,
        config: &DpdkRelayConfig,
        limit: Duration,
    ) -> Result<Started> {
        let bin = ferrovox_binary()?;
        let path = dir.path().to_owned();
        let file = path.join("ferrovox.toml");
        std::fs::write(
            &file,
            config.render() + &crate::relay::admin_socket_in(&path),
        )
        .map_err(|e| Error::io(format!("write {}", file.display()), e))?;
        let mut cmd = Command::new(&bin);
        cmd.current_dir(&path).arg("--config").arg(&file);
        // The config's log level applies, whatever the environment says.
        cmd.env_remove("RUST_LOG");
        let process = Process::spawn("ferrovox", cmd, &path.join("ferrovox.log"))?;
        let mut relay = DpdkRelay {
            process,
            ng: NgClient::new(config.ng_addr(), Duration::from_secs(1))?,
            dir: Some(dir),
            path,
            runtime: Path::new("/var/run/dpdk").join(&config.file_prefix),
        };
        let probe = NgClient::new(config.ng_addr(), Duration::from_millis(200))?;
        let start = Instant::now();
        loop {
            if relay.process.try_status()?.is_some() {
                let log = relay.log();
                if let Some(line) = log.lines().find(|l| l.contains(NO_DPDK)) {
                    return Ok(Started::NoDpdk(line.trim().to_owned()));
                }
                relay.process.ensure_running()?;
            }
            if probe.ping().is_ok() {
                return Ok(Started::Running(relay));
            }
            if start.elapsed() >= limit {
                return Err(Error::Timeout {
                    what: format!("ferrovox to answer ng ping on {}", config.ng_addr()),
                    waited: limit,
                });
            }
            thread::sleep(POLL);
        }
    }

    /// The ng client (1 s per try, three tries).
    pub fn ng(&self) -> &NgClient {
        &self.ng
    }

    /// The daemon's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn log_path(&self) -> PathBuf {
        self.path.join("ferrovox.log")
    }

    /// The run directory (config, log).
    pub fn dir(&self) -> &Path {
        &self.path
    }

    /// ng `statistics`: the whole reply.
    pub fn statistics(&self) -> Result<OwnedValue> {
        self.ng.request(&RequestBuilder::new(Ng::Statistics))
    }

    /// SIGTERM, then waits at most `limit` for the exit.
    pub fn terminate(&mut self, limit: Duration) -> Result<ExitStatus> {
        self.process.terminate(limit)
    }
}

impl Drop for DpdkRelay {
    fn drop(&mut self) {
        self.process.kill_group();
        // The EAL leaves its runtime files behind; this daemon's prefix is its own.
        let _ = std::fs::remove_dir_all(&self.runtime);
        if thread::panicking() {
            eprintln!(
                "--- ferrovox log (last 60 lines) ---\n{}",
                tail(&self.log_path(), 60)
            );
            if let Some(dir) = self.dir.take() {
                eprintln!("e2e: run directory kept: {}", dir.keep().display());
            }
        }
    }
}

/// One worker's counters from ng `statistics` (`workerstatistics`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkerStats {
    /// Packets the worker received on relay ports it owns.
    pub received: i64,
    /// Packets it relayed.
    pub relayed: i64,
    /// Frames its backend sent (relayed, plus ARP/ND/ICMP answers and requests).
    pub sent: i64,
    /// Frames its backend could not send.
    pub send_failures: i64,
    /// Its drops by reason.
    pub drops: BTreeMap<String, i64>,
}

/// The per-worker counters of an ng `statistics` reply, in worker order.
pub fn worker_stats(reply: &OwnedValue) -> Result<Vec<WorkerStats>> {
    let bad = |reason: String| Error::Ng {
        command: "statistics".into(),
        reason,
    };
    let list = reply
        .get("workerstatistics")
        .and_then(OwnedValue::as_list)
        .ok_or_else(|| bad(format!("no workerstatistics list: {reply:?}")))?;
    list.iter()
        .map(|w| {
            let n = |k: &str| int_at(w, &[k]).ok_or_else(|| bad(format!("no {k} in {w:?}")));
            let drops = match w.get("drops") {
                Some(OwnedValue::Dict(d)) => d
                    .iter()
                    .map(|(k, v)| {
                        let n = v
                            .as_int()
                            .ok_or_else(|| bad(format!("drops entry not an integer: {v:?}")))?;
                        Ok((String::from_utf8_lossy(k).into_owned(), n))
                    })
                    .collect::<Result<BTreeMap<_, _>>>()?,
                other => return Err(bad(format!("no drops dictionary: {other:?}"))),
            };
            Ok(WorkerStats {
                received: n("packetsreceived")?,
                relayed: n("packetsrelayed")?,
                sent: n("packetssent")?,
                send_failures: n("sendfailures")?,
                drops,
            })
        })
        .collect()
}

/// The `key=value` fields of each `DPDK worker stopped` line of a daemon log (what each
/// worker's backend did besides relaying: ARP answers, requests, hand-offs...), in log order.
pub fn worker_stop_lines(log: &str) -> Vec<BTreeMap<String, String>> {
    log.lines()
        .filter(|l| l.contains("DPDK worker stopped"))
        .map(|l| {
            l.split_whitespace()
                .filter_map(|w| w.split_once('='))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect()
        })
        .collect()
}

/// The SDP endpoint (IPv4) of a rewritten offer or answer.
pub fn announced_v4(reply: &OwnedValue, command: &str) -> Result<SocketAddrV4> {
    match crate::peer::announced(reply, command)? {
        SocketAddr::V4(a) => Ok(a),
        SocketAddr::V6(a) => Err(Error::Ng {
            command: command.to_owned(),
            reason: format!("IPv6 endpoint {a} where IPv4 was offered"),
        }),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a test failure.
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn config(workers: usize) -> DpdkRelayConfig {
        DpdkRelayConfig {
            ng_port: 20006,
            workers,
            file_prefix: "fv-test".into(),
            caller_if: "fvc1a".into(),
            member_if: "fvm1a".into(),
            external: (Ipv4Addr::new(10, 77, 1, 1), 24),
            internal: (Ipv4Addr::new(10, 77, 2, 1), 24),
            external_ports: 20300..=20399,
            internal_ports: 20400..=20499,
            sip: None,
            driver: PortDriver::AfPacket,
        }
    }

    #[test]
    fn the_af_xdp_config_names_the_interfaces_and_no_vdev() {
        let text = config(1).with_driver(PortDriver::AfXdp).render();
        let c = config::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let d = c.dataplane.dpdk.as_ref().unwrap();
        assert!(d.vdevs.is_empty(), "{:?}", d.vdevs);
        assert_eq!(
            d.eal_vdevs(),
            vec![
                "net_af_xdp0,iface=fvc1a,start_queue=0,queue_count=1".to_owned(),
                "net_af_xdp1,iface=fvm1a,start_queue=0,queue_count=1".to_owned()
            ]
        );
        assert_eq!(d.ports[1].interfaces, vec!["internal".to_owned()]);
        assert_eq!(PortDriver::AfXdp.name(), "net_af_xdp");
    }

    #[test]
    fn the_rendered_config_is_one_the_daemon_accepts() {
        for workers in [1, 2] {
            let text = config(workers).render();
            let c = config::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
            let d = c.dataplane.dpdk.as_ref().unwrap();
            assert_eq!(c.dataplane.backend, config::Backend::Dpdk);
            assert_eq!(c.dataplane.worker_cores.len(), workers);
            assert!(d.no_huge);
            assert_eq!(d.steering, config::dpdk::Steering::Auto);
            assert_eq!(d.ports.len(), 2);
            assert_eq!(d.ports[0].interfaces, vec!["external".to_owned()]);
            assert_eq!(d.ports[1].device, "net_af_packet1");
            assert_eq!(
                d.vdevs[0].contains(",qpairs=2"),
                workers == 2,
                "{:?}",
                d.vdevs
            );
            assert!(d.vdevs[1].starts_with("net_af_packet1,iface=fvm1a,"));
            assert_eq!(c.interfaces[1].address, Ipv4Addr::new(10, 77, 2, 1));
            assert_eq!(c.interfaces[0].port_min, 20300);
            assert_eq!(c.ng.listen.port(), 20006);
            assert!(c.sets.is_empty());
        }
    }

    #[test]
    fn the_sip_proxy_anchors_its_set_from_external_to_internal() {
        let sip = AnchoredSip {
            proxy_port: 20000,
            member_port: 20004,
        };
        let text = config(1).with_sip(sip).render();
        let c = config::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(c.sip.listen, vec![SocketAddr::from((LOOPBACK, 20000))]);
        assert_eq!(c.sets.len(), 1);
        assert_eq!(c.sets[0].members.len(), 1);
        assert_eq!(
            c.sets[0].media,
            config::MediaPlan::Anchor {
                caller: "external".into(),
                member: "internal".into(),
            }
        );
        assert_eq!(c.dataplane.backend, config::Backend::Dpdk);
    }

    #[test]
    fn worker_counters_are_read_from_statistics() {
        let mut drops = OwnedValue::Dict(Vec::new());
        assert!(drops.insert("not_owner", OwnedValue::Int(2)));
        let mut w = OwnedValue::Dict(Vec::new());
        for (k, v) in [
            ("packetsreceived", 10),
            ("packetsrelayed", 9),
            ("packetssent", 9),
            ("sendfailures", 1),
        ] {
            assert!(w.insert(k, OwnedValue::Int(v)));
        }
        assert!(w.insert("drops", drops));
        let mut reply = OwnedValue::Dict(Vec::new());
        assert!(reply.insert("workerstatistics", OwnedValue::List(vec![w])));
        let got = worker_stats(&reply).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(
            (
                got[0].received,
                got[0].relayed,
                got[0].sent,
                got[0].send_failures
            ),
            (10, 9, 9, 1)
        );
        assert_eq!(got[0].drops.get("not_owner"), Some(&2));
        assert!(worker_stats(&OwnedValue::Dict(Vec::new())).is_err());
    }

    #[test]
    fn stop_lines_give_their_fields() {
        let log = "x INFO ferrovox::run: ready\n\
                   2026-01-01T00:00:00Z  INFO ferrovox::run::dpdk: DPDK worker stopped worker=1 \
                   arp_replies=2 handed_off=7 rx_drops=\n";
        let lines = worker_stop_lines(log);
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].get("worker").map(String::as_str), Some("1"));
        assert_eq!(lines[0].get("handed_off").map(String::as_str), Some("7"));
        assert_eq!(lines[0].get("rx_drops").map(String::as_str), Some(""));
    }
}
