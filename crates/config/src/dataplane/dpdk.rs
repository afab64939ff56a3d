//! `[dataplane.dpdk]`: EAL options, packet-buffer pools and the DPDK ports of the relay.
//!
//! ```toml
//! [dataplane]
//! backend = "dpdk"
//!
//! [dataplane.dpdk]
//! allow = ["0000:3b:00.0"]          # PCI devices the EAL may use (others are left alone)
//! vdevs = []                        # virtual devices, e.g. "net_af_packet0,iface=eth1"
//! no_huge = false                   # true: ordinary pages (tests, vdev-only setups)
//! memory_mb = 1024                  # optional: EAL memory
//! file_prefix = "ferrovox"          # runtime-file prefix, unique per DPDK process on a host
//! steering = "flow"                 # flow | auto | rss: how frames reach their owning worker
//!
//! [[dataplane.dpdk.port]]
//! device = "0000:3b:00.0"           # PCI address or vdev name, as the EAL probed it
//! interfaces = ["external"]         # the [[interface]] names whose addresses live on it
//! prefix_len = 24                   # on-link IPv4 subnet of those addresses (default 24)
//! prefix_len_v6 = 64                # on-link IPv6 prefix (default 64)
//! gateway = "192.0.2.254"           # optional: router for destinations off the subnet
//! gateway_v6 = "2001:db8::fe"       # optional: IPv6 router
//! next_hop_mac = "02:00:5e:00:01:01" # optional: fixed MAC for off-subnet destinations
//! vlan = 100                        # optional: 802.1Q VLAN id of the port's frames
//! exception = "net_tap0"            # optional: vdev taking the port's non-media frames
//!
//! [[dataplane.dpdk.port]]             # an AF_XDP port: a NIC that stays with its kernel driver
//! af_xdp = { iface = "eth1", start_queue = 0, queues = 2, copy = false, busy_budget = 64 }
//! interfaces = ["internal"]           # device defaults to "net_af_xdp<N>" (N: the port's index)
//! ```
//!
//! AF_XDP ports (`af_xdp`): the daemon adds the `net_af_xdp` vdev itself (`iface`,
//! `start_queue`, `queue_count`; `force_copy=1` with `copy = true`): worker `w` polls the
//! interface's queue `start_queue + w`, so `queues` (default: one per worker) must equal the
//! number of workers, and the NIC must have that many combined channels from `start_queue` on
//! (`ethtool -L IFACE combined N`). `net_af_xdp` has no `rte_flow`: with several workers,
//! `steering` must be `auto` or `rss`, and the NIC's own ntuple rules place the relay ports.
//!
//! The port resolves next hops itself with ARP (RFC 826) and IPv6 neighbour discovery
//! (RFC 4861): an on-link destination is its own next hop, others go to `gateway` /
//! `gateway_v6`, or to `next_hop_mac` when given.
//!
//! Steering (with more than one worker): `flow` installs `rte_flow` rules at start sending each
//! relay port's frames to the queue of the worker that owns it, and refuses to start when a
//! port cannot take them; `auto` tries the rules and, on a port that refuses them, falls back to
//! RSS with frames on a wrong queue handed to their owner over a ring (a degraded mode, logged
//! at start); `rss` uses that fallback without trying rules.
//!
//! Exception path: with `exception` naming a `net_tap` (or `virtio_user`) vdev, frames arriving
//! on the port that are not relay media and not answered by the port itself (SIP to the host's
//! address, ARP and neighbour discovery for other addresses, anything else) go to that
//! interface, and what the host sends on it leaves through the port.

use std::net::IpAddr;

use serde::Deserialize;

use crate::check::{choice, int_in, opt_int_in, required, unicast_ip};
use crate::error::{key, ConfigError};

/// One `[[dataplane.dpdk.port]]`: a DPDK port and the relay interfaces on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DpdkPort {
    /// `device`: PCI address (`0000:3b:00.0`) or vdev name (`net_af_packet0`), as probed.
    pub device: String,
    /// `interfaces`: names of `[[interface]]` entries whose addresses this port carries;
    /// at least one.
    pub interfaces: Vec<String>,
    /// `next_hop_mac` (optional): a fixed MAC for destinations off the on-link subnets
    /// (`aa:bb:cc:dd:ee:ff`); without it those go to the resolved `gateway`.
    pub next_hop_mac: Option<[u8; 6]>,
    /// `gateway` (optional): IPv4 router for destinations off the `prefix_len` subnet.
    pub gateway: Option<IpAddr>,
    /// `gateway_v6` (optional): IPv6 router for destinations off the `prefix_len_v6` prefix.
    pub gateway_v6: Option<IpAddr>,
    /// `prefix_len`: the on-link IPv4 subnet of the port's addresses, 1..=32; default 24.
    pub prefix_len: u8,
    /// `prefix_len_v6`: the on-link IPv6 prefix of the port's addresses, 1..=128; default 64.
    pub prefix_len_v6: u8,
    /// `vlan` (optional): 802.1Q VLAN id (1..=4094) the port's frames carry.
    pub vlan: Option<u16>,
    /// `promiscuous`: receive frames to any MAC (default false; `net_af_packet` and
    /// `net_tap` ports usually need it).
    pub promiscuous: bool,
    /// `exception` (optional): the vdev (as probed, e.g. `net_tap0`) that takes the port's
    /// frames for the host and whose frames leave through the port.
    pub exception: Option<String>,
    /// `af_xdp` (optional): the port is DPDK's `net_af_xdp` on a kernel interface; the daemon
    /// adds its vdev to the EAL ([`DpdkConfig::eal_vdevs`]).
    pub af_xdp: Option<AfXdp>,
}

/// `af_xdp = { iface, start_queue, queues, copy }`: an AF_XDP port on a kernel interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AfXdp {
    /// `iface`: the kernel interface (1..=15 characters, no spaces, `,`, `=` or `/`).
    pub iface: String,
    /// `start_queue`: the interface's first queue, taken by worker 0; default 0.
    pub start_queue: u32,
    /// `queues`: queues from `start_queue` on, one per worker; default (and required value):
    /// the number of `[dataplane] worker_cores`.
    pub queues: u16,
    /// `copy`: force copy mode (`force_copy=1`) even where the driver could run zero-copy;
    /// default false (the kernel picks zero-copy where the driver has it).
    pub copy: bool,
    /// `busy_budget` (optional, 0..=1024): the driver's preferred-busy-poll budget
    /// (`busy_budget=N`); 0 turns busy polling off, so an empty poll makes a `recvfrom()` only
    /// when the kernel asks for a wake-up. Default: the driver's (64 in DPDK 22.11).
    pub busy_budget: Option<u16>,
}

impl AfXdp {
    /// The `--vdev` argument for the port `device`.
    pub fn vdev(&self, device: &str) -> String {
        let mut v = format!(
            "{device},iface={},start_queue={},queue_count={}",
            self.iface, self.start_queue, self.queues
        );
        if self.copy {
            v.push_str(",force_copy=1");
        }
        if let Some(b) = self.busy_budget {
            v.push_str(&format!(",busy_budget={b}"));
        }
        v
    }
}

/// `steering`: how a frame reaches the worker owning its relay port (more than one worker).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Steering {
    /// `rte_flow` rules on every port; a port refusing them stops the start (the default).
    #[default]
    Flow,
    /// `rte_flow` rules where the port takes them; elsewhere RSS and the hand-off ring
    /// (logged as a degraded mode).
    Auto,
    /// No rules: RSS spreads frames and the hand-off ring brings each to its owner.
    Rss,
}

impl Steering {
    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Steering::Flow => "flow",
            Steering::Auto => "auto",
            Steering::Rss => "rss",
        }
    }
}

/// The `[dataplane.dpdk]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DpdkConfig {
    /// `allow`: PCI devices the EAL may use (`-a`); empty with vdevs only disables the PCI bus.
    pub allow: Vec<String>,
    /// `vdevs`: virtual devices (`--vdev`).
    pub vdevs: Vec<String>,
    /// `no_huge`: run on ordinary pages (`--no-huge`); default false.
    pub no_huge: bool,
    /// `memory_mb`: EAL memory in MiB (`-m`), 64..=1048576; default: the EAL's.
    pub memory_mb: Option<u32>,
    /// `file_prefix`: runtime-file prefix (`--file-prefix`); default `"ferrovox"`.
    pub file_prefix: String,
    /// `mbufs`: packet buffers per NUMA socket, 1023..=4194303; default 16383.
    pub mbufs: u32,
    /// `rx_desc`, `tx_desc`: descriptors per queue, 64..=16384; default 1024.
    pub rx_desc: u16,
    /// See `rx_desc`.
    pub tx_desc: u16,
    /// `verify_udp_checksum`: check UDP checksums in software where the NIC does not;
    /// default true.
    pub verify_udp_checksum: bool,
    /// `eal_args`: further EAL arguments, appended as given.
    pub eal_args: Vec<String>,
    /// `steering`: flow | auto | rss; default flow.
    pub steering: Steering,
    /// `port`: the ports; at least one.
    pub ports: Vec<DpdkPort>,
}

impl DpdkConfig {
    /// Every `--vdev` of the EAL: `vdevs` as written, then one `net_af_xdp` vdev per
    /// `af_xdp` port.
    pub fn eal_vdevs(&self) -> Vec<String> {
        let xdp = self
            .ports
            .iter()
            .filter_map(|p| p.af_xdp.as_ref().map(|x| x.vdev(&p.device)));
        self.vdevs.iter().cloned().chain(xdp).collect()
    }

    /// Gives every `af_xdp` port without `queues` one queue per worker, and refuses one whose
    /// `queues` differs from `workers` (worker `w` polls queue `start_queue + w`), or
    /// `steering = "flow"` with several workers (`net_af_xdp` has no `rte_flow`).
    pub(crate) fn fit_af_xdp_queues(
        &mut self,
        raw: &[Option<i64>],
        workers: usize,
    ) -> Result<(), ConfigError> {
        let flow = self.steering == Steering::Flow;
        for (i, (p, q)) in self.ports.iter_mut().zip(raw).enumerate() {
            let Some(x) = p.af_xdp.as_mut() else { continue };
            if flow && workers > 1 {
                return Err(key(
                    format!("{P}.steering"),
                    format!(
                        "\"flow\" needs rte_flow, which net_af_xdp ({P}.port[{i}]) lacks: use \
                         \"auto\" or \"rss\" (the NIC's ntuple rules place the relay ports, \
                         see ferrovox-host-kit af-xdp)"
                    ),
                ));
            }
            let path = format!("{P}.port[{i}].af_xdp.queues");
            let q: u16 = match q {
                Some(q) => int_in(&path, *q, 1, super::MAX_WORKERS as i64)?,
                None => u16::try_from(workers).unwrap_or(u16::MAX),
            };
            if usize::from(q) != workers {
                return Err(key(
                    path,
                    format!(
                        "{q} queues for {workers} workers (dataplane.worker_cores): each worker \
                         polls one queue of {}",
                        x.iface
                    ),
                ));
            }
            x.queues = q;
        }
        Ok(())
    }

    /// The `queues` of every port's `af_xdp` table as written (for
    /// [`fit_af_xdp_queues`](Self::fit_af_xdp_queues)).
    pub(crate) fn raw_af_xdp_queues(raw: &RawDpdk) -> Vec<Option<i64>> {
        raw.port
            .iter()
            .flatten()
            .map(|p| p.af_xdp.as_ref().and_then(|x| x.queues))
            .collect()
    }
}

/// `[dataplane.dpdk]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a [dataplane.dpdk] table")]
pub(crate) struct RawDpdk {
    allow: Option<Vec<String>>,
    vdevs: Option<Vec<String>>,
    no_huge: Option<bool>,
    memory_mb: Option<i64>,
    file_prefix: Option<String>,
    mbufs: Option<i64>,
    rx_desc: Option<i64>,
    tx_desc: Option<i64>,
    verify_udp_checksum: Option<bool>,
    eal_args: Option<Vec<String>>,
    steering: Option<String>,
    port: Option<Vec<RawPort>>,
}

/// `[[dataplane.dpdk.port]]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a [[dataplane.dpdk.port]] table")]
pub(crate) struct RawPort {
    device: Option<String>,
    interfaces: Option<Vec<String>>,
    next_hop_mac: Option<String>,
    gateway: Option<String>,
    gateway_v6: Option<String>,
    prefix_len: Option<i64>,
    prefix_len_v6: Option<i64>,
    vlan: Option<i64>,
    promiscuous: Option<bool>,
    exception: Option<String>,
    af_xdp: Option<RawAfXdp>,
}

/// `af_xdp = { ... }` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "an af_xdp table")]
pub(crate) struct RawAfXdp {
    iface: Option<String>,
    start_queue: Option<i64>,
    queues: Option<i64>,
    copy: Option<bool>,
    busy_budget: Option<i64>,
}

const P: &str = "dataplane.dpdk";

/// Longest kernel interface name (IFNAMSIZ less the NUL).
const IFNAME_MAX: usize = 15;

/// Checks `af_xdp` of port `path`; `queues` is filled in by
/// [`DpdkConfig::fit_af_xdp_queues`] once the worker count is known.
fn af_xdp(path: &str, raw: RawAfXdp) -> Result<AfXdp, ConfigError> {
    let iface = required(&format!("{path}.iface"), raw.iface)?;
    let bad = |c: char| c.is_whitespace() || c.is_control() || matches!(c, ',' | '=' | '/' | ':');
    if iface.is_empty() || iface.len() > IFNAME_MAX || iface.chars().any(bad) {
        return Err(key(
            format!("{path}.iface"),
            format!(
                "{iface:?} is not an interface name (1..={IFNAME_MAX} characters, no spaces, \
                 ',', '=', ':' or '/')"
            ),
        ));
    }
    Ok(AfXdp {
        iface,
        start_queue: opt_int_in(&format!("{path}.start_queue"), raw.start_queue, 0, 65535, 0)?,
        queues: 0,
        copy: raw.copy.unwrap_or(false),
        busy_budget: raw
            .busy_budget
            .map(|b| int_in(&format!("{path}.busy_budget"), b, 0, 1024))
            .transpose()?,
    })
}

/// The port's device name: `device` as written, or `net_af_xdp<i>` for an AF_XDP port without
/// one (an AF_XDP port's own name must start with `net_af_xdp`, the driver the EAL picks by
/// the name).
fn port_device(
    path: &str,
    i: usize,
    device: Option<String>,
    xdp: bool,
) -> Result<String, ConfigError> {
    let dpath = format!("{path}.device");
    let device = match (device, xdp) {
        (Some(d), _) => eal_word(&dpath, &d)?,
        (None, true) => format!("net_af_xdp{i}"),
        (None, false) => required(&dpath, None)?,
    };
    if xdp && !device.starts_with("net_af_xdp") {
        return Err(key(
            dpath,
            format!("{device}: an af_xdp port's device name starts with net_af_xdp"),
        ));
    }
    Ok(device)
}

/// A MAC address `aa:bb:cc:dd:ee:ff` (or with `-`).
fn mac(path: &str, text: &str) -> Result<[u8; 6], ConfigError> {
    let bad = || {
        key(
            path,
            format!("{text:?} is not a MAC address (expected e.g. \"02:00:5e:00:01:01\")"),
        )
    };
    let mut out = [0u8; 6];
    let mut parts = text.split([':', '-']);
    for b in &mut out {
        let p = parts.next().ok_or_else(bad)?;
        if p.len() != 2 {
            return Err(bad());
        }
        *b = u8::from_str_radix(p, 16).map_err(|_| bad())?;
    }
    if parts.next().is_some() {
        return Err(bad());
    }
    if out[0] & 1 == 1 || out == [0; 6] {
        return Err(key(path, format!("{text} is not a unicast MAC address")));
    }
    Ok(out)
}

/// A router address of the right family (`v4` true: IPv4).
fn router(path: &str, text: Option<String>, v4: bool) -> Result<Option<IpAddr>, ConfigError> {
    let Some(text) = text else { return Ok(None) };
    let ip = unicast_ip(path, &text)?;
    if ip.is_ipv4() != v4 {
        let want = if v4 { "an IPv4" } else { "an IPv6" };
        return Err(key(path, format!("{ip} must be {want} address")));
    }
    Ok(Some(ip))
}

/// A name handed to the EAL: non-empty, printable, no spaces or NUL.
fn eal_word(path: &str, s: &str) -> Result<String, ConfigError> {
    if s.is_empty() || s.len() > 256 || !s.chars().all(|c| c.is_ascii_graphic()) {
        return Err(key(
            path,
            format!("{s:?} must be 1..=256 printable characters without spaces"),
        ));
    }
    Ok(s.to_owned())
}

fn words(path: &str, v: Option<Vec<String>>) -> Result<Vec<String>, ConfigError> {
    v.unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(i, s)| eal_word(&format!("{path}[{i}]"), s))
        .collect()
}

/// Refuses an `af_xdp` port whose device is also in `vdevs`, and two `af_xdp` ports on one
/// interface (each would load its own XDP program on it).
fn af_xdp_clashes(ports: &[DpdkPort], vdevs: &[String]) -> Result<(), ConfigError> {
    for (i, p) in ports.iter().enumerate() {
        let Some(x) = &p.af_xdp else { continue };
        if vdevs
            .iter()
            .any(|v| v.split(',').next() == Some(p.device.as_str()))
        {
            return Err(key(
                format!("{P}.vdevs"),
                format!(
                    "{} is {P}.port[{i}].af_xdp, whose vdev the daemon adds",
                    p.device
                ),
            ));
        }
        let other = ports[..i]
            .iter()
            .position(|q| q.af_xdp.as_ref().is_some_and(|y| y.iface == x.iface));
        if let Some(j) = other {
            return Err(key(
                format!("{P}.port[{i}].af_xdp.iface"),
                format!(
                    "{} is already {P}.port[{j}]; one AF_XDP port per interface",
                    x.iface
                ),
            ));
        }
    }
    Ok(())
}

impl RawPort {
    /// Checks port `i`'s keys.
    fn build(self, i: usize) -> Result<DpdkPort, ConfigError> {
        let p = self;
        let path = format!("{P}.port[{i}]");
        let xdp = p
            .af_xdp
            .map(|x| af_xdp(&format!("{path}.af_xdp"), x))
            .transpose()?;
        let device = port_device(&path, i, p.device, xdp.is_some())?;
        let interfaces = required(&format!("{path}.interfaces"), p.interfaces)?;
        if interfaces.is_empty() {
            return Err(key(
                format!("{path}.interfaces"),
                "must name at least one [[interface]]",
            ));
        }
        let next_hop_mac = p
            .next_hop_mac
            .map(|m| mac(&format!("{path}.next_hop_mac"), &m))
            .transpose()?;
        let vlan = p
            .vlan
            .map(|v| int_in(&format!("{path}.vlan"), v, 1, 4094))
            .transpose()?;
        let exception = p
            .exception
            .map(|e| eal_word(&format!("{path}.exception"), &e))
            .transpose()?;
        if exception.as_ref() == Some(&device) {
            return Err(key(
                format!("{path}.exception"),
                format!("{device} is the port itself; name the tap/virtio-user vdev"),
            ));
        }
        Ok(DpdkPort {
            device,
            interfaces,
            next_hop_mac,
            gateway: router(&format!("{path}.gateway"), p.gateway, true)?,
            gateway_v6: router(&format!("{path}.gateway_v6"), p.gateway_v6, false)?,
            prefix_len: opt_int_in(&format!("{path}.prefix_len"), p.prefix_len, 1, 32, 24)?,
            prefix_len_v6: opt_int_in(
                &format!("{path}.prefix_len_v6"),
                p.prefix_len_v6,
                1,
                128,
                64,
            )?,
            vlan,
            promiscuous: p.promiscuous.unwrap_or(false),
            exception,
            af_xdp: xdp,
        })
    }
}

/// No two ports share an exception vdev, and none is another port's device.
fn exception_clashes(ports: &[DpdkPort]) -> Result<(), ConfigError> {
    for (i, p) in ports.iter().enumerate() {
        let Some(e) = &p.exception else { continue };
        let clash = ports.iter().enumerate().find(|(j, q)| {
            q.device == *e || (*j < i && q.exception.as_deref() == Some(e.as_str()))
        });
        if let Some((j, _)) = clash {
            return Err(key(
                format!("{P}.port[{i}].exception"),
                format!("{e} is already used by {P}.port[{j}]"),
            ));
        }
    }
    Ok(())
}

impl RawDpdk {
    /// Checks every key and fills in the defaults.
    pub(crate) fn build(self) -> Result<DpdkConfig, ConfigError> {
        let raw_ports = self.port.unwrap_or_default();
        if raw_ports.is_empty() {
            return Err(key(
                format!("{P}.port"),
                "at least one [[dataplane.dpdk.port]] is required",
            ));
        }
        let mut ports: Vec<DpdkPort> = Vec::with_capacity(raw_ports.len());
        for (i, p) in raw_ports.into_iter().enumerate() {
            let port = p.build(i)?;
            if let Some(j) = ports.iter().position(|q| q.device == port.device) {
                return Err(key(
                    format!("{P}.port[{i}].device"),
                    format!("{} is already {P}.port[{j}]", port.device),
                ));
            }
            ports.push(port);
        }
        exception_clashes(&ports)?;
        let vdevs = words(&format!("{P}.vdevs"), self.vdevs)?;
        af_xdp_clashes(&ports, &vdevs)?;
        let memory_mb = match self.memory_mb {
            Some(m) => Some(int_in(&format!("{P}.memory_mb"), m, 64, 1 << 20)?),
            None => None,
        };
        Ok(DpdkConfig {
            allow: words(&format!("{P}.allow"), self.allow)?,
            vdevs,
            no_huge: self.no_huge.unwrap_or(false),
            memory_mb,
            file_prefix: eal_word(
                &format!("{P}.file_prefix"),
                self.file_prefix.as_deref().unwrap_or("ferrovox"),
            )?,
            mbufs: opt_int_in(&format!("{P}.mbufs"), self.mbufs, 1023, 4_194_303, 16383)?,
            rx_desc: opt_int_in(&format!("{P}.rx_desc"), self.rx_desc, 64, 16384, 1024)?,
            tx_desc: opt_int_in(&format!("{P}.tx_desc"), self.tx_desc, 64, 16384, 1024)?,
            verify_udp_checksum: self.verify_udp_checksum.unwrap_or(true),
            eal_args: words(&format!("{P}.eal_args"), self.eal_args)?,
            steering: choice(
                &format!("{P}.steering"),
                self.steering.as_deref(),
                Steering::Flow,
            )?,
            ports,
        })
    }
}
