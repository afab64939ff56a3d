//! The two-node HA bed: a LAN (a bridge in a network namespace of its own) and one namespace
//! per host on it, each joined to the bridge by a veth pair: node A, node B, the caller, the
//! member and Redis. Both nodes run the same Ferrovox config (apart from the node name and
//! the admin socket): SIP and the one relay interface on the service address [`VIP`], which
//! keepalived (VRRP, one instance per node namespace) puts on the node that is master and
//! whose notify scripts promote or demote the node over its admin socket. Each node
//! namespace has `net.ipv4.ip_nonlocal_bind = 1`, so a standby binds the VIP it does not
//! hold.
//!
//! Every process the bed starts is killed, and every namespace deleted (with its veth ends
//! and the bridge), when the bed drops, also when the test panics. Admin sockets are files
//! in the bed's directory, reachable from the test's own namespace; `/metrics` listens on
//! 127.0.0.1 inside each node's namespace and is scraped from a thread that enters it.

mod node;
mod redis;
pub mod rtp_gap;
pub mod sipp;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{Error, Result};
use crate::netns::Netns;
use crate::tools::{self, Tool};

pub use crate::tools::KEEPALIVED;

pub use node::{Node, NodeRole};
pub use redis::Redis;

/// Node A's own address.
pub const NODE_A: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
/// Node B's own address.
pub const NODE_B: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 2);
/// The caller's address.
pub const CALLER: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 10);
/// The member's (the pool's one FreeSWITCH stand-in) address.
pub const MEMBER: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 20);
/// Redis's address.
pub const REDIS: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 30);
/// The service address: SIP and relay ports, held by the active node.
pub const VIP: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 100);
/// The LAN's prefix length.
pub const PREFIX: u8 = 24;
/// SIP port of the service, the caller and the member.
pub const SIP_PORT: u16 = 5060;
/// Where the RTP tool listens on the caller and on the member (the SDP of each names it).
pub const RTP_PORT: u16 = 4000;
/// The relay port range on the VIP (both legs of every call).
pub const RELAY_PORTS: (u16, u16) = (30000, 31999);

/// One host on the LAN: its namespace (its `eth0` on the bridge) and address.
#[derive(Debug)]
pub struct Host {
    ns: Netns,
    /// Its address on the LAN.
    pub addr: Ipv4Addr,
}

impl Host {
    /// The host's namespace.
    pub fn ns(&self) -> &Netns {
        &self.ns
    }
}

/// The bed: nodes, Redis, and the hosts with their namespaces. Fields drop in order:
/// processes first, then the hosts' namespaces, then the LAN's.
#[derive(Debug)]
pub struct HaBed {
    nodes: [Node; 2],
    redis: Redis,
    /// Node A, node B, the caller, the member, Redis.
    hosts: Vec<Host>,
    _lan: Netns,
    path: PathBuf,
    dir: Option<tempfile::TempDir>,
}

/// Host indices in [`HaBed::hosts`].
const HOST_CALLER: usize = 2;
const HOST_MEMBER: usize = 3;
const HOST_REDIS: usize = 4;

impl HaBed {
    /// Creates the LAN and the hosts, namespaces named `<tag>-lan`, `<tag>-a`, ... (`tag`:
    /// at most 8 characters, distinct per test), and a directory for the run's files.
    /// Nothing runs yet.
    pub fn new(tag: &str) -> Result<HaBed> {
        let dir = tempfile::Builder::new()
            .prefix(&format!("e2e-{tag}."))
            .tempdir()
            .map_err(|e| Error::io("create the bed's directory", e))?;
        let path = dir.path().to_owned();
        let lan = Netns::create(&format!("{tag}-lan"))?;
        lan.exec(&["ip", "link", "add", "br0", "type", "bridge"])?;
        lan.exec(&["ip", "link", "set", "br0", "up"])?;
        let mut hosts = Vec::new();
        for (name, addr) in [
            ("a", NODE_A),
            ("b", NODE_B),
            ("caller", CALLER),
            ("member", MEMBER),
            ("redis", REDIS),
        ] {
            hosts.push(attach(&lan, &format!("{tag}-{name}"), name, addr)?);
        }
        for h in &hosts[..2] {
            sysctl(&h.ns, "net/ipv4/ip_nonlocal_bind", "1")?;
        }
        let nodes = [Node::new("a", &path), Node::new("b", &path)];
        let redis = Redis::new(&path);
        Ok(HaBed {
            nodes,
            redis,
            hosts,
            _lan: lan,
            path,
            dir: Some(dir),
        })
    }

    /// The run's directory.
    pub fn dir(&self) -> &Path {
        &self.path
    }

    /// Node `i` (0: A, 1: B).
    pub fn node(&self, i: usize) -> &Node {
        &self.nodes[i]
    }

    /// The caller's host.
    pub fn caller(&self) -> &Host {
        &self.hosts[HOST_CALLER]
    }

    /// The member's host.
    pub fn member(&self) -> &Host {
        &self.hosts[HOST_MEMBER]
    }

    /// The service address as the caller reaches it.
    pub fn service(&self) -> SocketAddr {
        SocketAddr::from((VIP, SIP_PORT))
    }

    /// Starts redis-server in its namespace (again, after [`HaBed::stop_redis`]); waits
    /// until it answers PING.
    pub fn start_redis(&mut self) -> Result<()> {
        self.redis.start(&self.hosts[HOST_REDIS].ns)
    }

    /// Kills redis-server (SIGKILL: no persistence, its data is gone).
    pub fn stop_redis(&mut self) {
        self.redis.stop();
    }

    /// Runs redis-cli against the bed's Redis; what it printed, `None` if it failed.
    pub fn redis_cli(&self, args: &[&str]) -> Option<String> {
        self.redis.cli(&self.hosts[HOST_REDIS].ns, args)
    }

    /// Starts node `i`'s Ferrovox (its `[ha] start` as given) and waits until its admin
    /// socket answers `ha status`.
    pub fn start_node(&mut self, i: usize, start: NodeRole) -> Result<()> {
        self.nodes[i].start(&self.hosts[i].ns, start)
    }

    /// Starts node `i`'s keepalived.
    pub fn start_keepalived(&mut self, i: usize) -> Result<()> {
        self.nodes[i].start_keepalived(&self.hosts[i].ns)
    }

    /// SIGKILLs node `i`'s Ferrovox (its keepalived sees it gone and gives the VIP up).
    pub fn kill_node(&mut self, i: usize) -> Result<()> {
        self.nodes[i].kill()
    }

    /// Which node's namespace holds the VIP now (`None`: neither).
    pub fn vip_holder(&self) -> Result<Option<usize>> {
        for i in 0..2 {
            let text = self.hosts[i]
                .ns
                .exec(&["ip", "-4", "-o", "addr", "show", "dev", "eth0"])?;
            if text.contains(&format!(" {VIP}/")) {
                return Ok(Some(i));
            }
        }
        Ok(None)
    }

    /// Node `i`'s `/metrics` exposition.
    pub fn scrape(&self, i: usize) -> Result<String> {
        let addr = node::METRICS;
        self.hosts[i]
            .ns
            .spawn_inside(move || {
                crate::daemon::scrape(addr).ok_or_else(|| {
                    Error::io(format!("scrape {addr}"), std::io::Error::other("no answer"))
                })
            })
            .join()
            .map_err(|_| Error::io("scrape", std::io::Error::other("the thread panicked")))?
    }
}

impl Drop for HaBed {
    fn drop(&mut self) {
        if std::thread::panicking() || std::env::var_os("E2E_KEEP").is_some() {
            for n in &self.nodes {
                eprintln!("{}", n.log_tail(30));
            }
            if let Some(dir) = self.dir.take() {
                eprintln!("e2e: HA bed files kept in {}", dir.keep().display());
            }
        }
    }
}

/// Creates host namespace `ns` with `eth0` (address `addr`) joined to the LAN's bridge by
/// the veth end `v-<name>` in the LAN namespace. IPv6 is off inside: only the test's traffic
/// crosses the bridge.
fn attach(lan: &Netns, ns: &str, name: &str, addr: Ipv4Addr) -> Result<Host> {
    let host = Netns::create(ns)?;
    let port = format!("v-{name}");
    lan.exec(&[
        "ip", "link", "add", &port, "type", "veth", "peer", "name", "eth0", "netns", ns,
    ])?;
    lan.exec(&["ip", "link", "set", &port, "master", "br0", "up"])?;
    for key in ["all", "default"] {
        sysctl(&host, &format!("net/ipv6/conf/{key}/disable_ipv6"), "1")?;
    }
    let cidr = format!("{addr}/{PREFIX}");
    host.exec(&["ip", "addr", "add", &cidr, "dev", "eth0"])?;
    host.exec(&["ip", "link", "set", "eth0", "up"])?;
    Ok(Host { ns: host, addr })
}

/// Sets the sysctl `key` (a path under `/proc/sys`) of namespace `ns` to `value`.
fn sysctl(ns: &Netns, key: &str, value: &str) -> Result<()> {
    let set = format!("echo {value} > /proc/sys/{key}");
    ns.exec(&["sh", "-c", &set]).map(drop)
}

/// A command running `tool` inside `ns`.
fn command_in(ns: &Netns, tool: Tool) -> Result<Command> {
    ns.command(&tools::find(tool)?)
}
