//! Network namespaces for the DPDK end-to-end tests: namespaces and veth pairs that a test
//! creates and always removes (the guards delete them on drop, also when the test panics),
//! and RTP endpoints that run inside them.
//!
//! A [`Side`] is one namespace holding a host address on its end of a veth pair; the other
//! end stays in the root namespace with no address at all, so the kernel neither answers ARP
//! for the relay's addresses nor routes what arrives on it: a DPDK `net_af_packet` port opens
//! that end and the relay answers for its addresses itself.
//!
//! [`endpoint`]: RTP endpoints run inside a side's namespace; [`dpdk`]: the daemon with its
//! DPDK data plane on the root ends of the veth pairs, and what it reports.

use std::fs::{self, File};
use std::net::Ipv4Addr;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread::{self, JoinHandle};

use rustix::thread::{move_into_link_name_space, LinkNameSpaceType};

use crate::error::{Error, Result};
use crate::tools::{self, Tool};

pub mod dpdk;
pub mod endpoint;

/// iproute2's `ip`.
pub const IP: Tool = Tool {
    name: "ip",
    hint: "install it: apt-get install iproute2",
};

/// ethtool, which turns off transmit checksum offload on the namespace veth ends.
pub const ETHTOOL: Tool = Tool {
    name: "ethtool",
    hint: "install it: apt-get install ethtool",
};

/// Why namespace tests cannot run on this machine (`None`: they can): not root, no `ip`,
/// or `ip netns` does not work.
pub fn unavailable() -> Option<String> {
    if !rustix::process::geteuid().is_root() {
        return Some("not root (network namespaces, veth pairs and DPDK need root)".to_owned());
    }
    let ip = match tools::find(IP) {
        Ok(ip) => ip,
        Err(e) => return Some(e.to_string()),
    };
    match Command::new(ip).args(["netns", "list"]).output() {
        Ok(out) if out.status.success() => None,
        Ok(out) => Some(format!(
            "`ip netns list` failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Err(e) => Some(format!("cannot run `ip netns list`: {e}")),
    }
}

/// Runs `ip ARGS`; its standard output, or an error with what it printed.
fn ip(args: &[&str]) -> Result<String> {
    let bin = tools::find(IP)?;
    let what = format!("ip {}", args.join(" "));
    let out = Command::new(bin)
        .args(args)
        .output()
        .map_err(|e| Error::io(what.clone(), e))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(Error::io(
            what,
            std::io::Error::other(format!(
                "{}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            )),
        ))
    }
}

/// Writes `value` to the sysctl file `path` (under `/proc/sys`, of the calling namespace).
fn sysctl(path: &str, value: &str) -> Result<()> {
    fs::write(path, value).map_err(|e| Error::io(format!("write {value} to {path}"), e))
}

/// A network namespace, deleted (with every interface in it) on drop.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// Creates namespace `name`; one left over by an earlier run under the same name is
    /// deleted first.
    pub fn create(name: &str) -> Result<Netns> {
        let listed = ip(&["netns", "list"])?;
        if listed
            .lines()
            .any(|l| l.split_whitespace().next() == Some(name))
        {
            ip(&["netns", "del", name])?;
        }
        ip(&["netns", "add", name])?;
        let ns = Netns {
            name: name.to_owned(),
        };
        ns.exec(&["ip", "link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs `args` inside the namespace and returns its standard output; an error with what
    /// it printed if it fails.
    pub fn exec(&self, args: &[&str]) -> Result<String> {
        let mut all = vec!["netns", "exec", self.name.as_str()];
        all.extend_from_slice(args);
        ip(&all)
    }

    /// A command that runs `program` inside the namespace (arguments still to add).
    pub fn command(&self, program: &Path) -> Result<Command> {
        let mut cmd = Command::new(tools::find(IP)?);
        cmd.args(["netns", "exec", self.name.as_str()]).arg(program);
        Ok(cmd)
    }

    /// Runs `f` on a new thread that first enters the namespace (`setns`), so the sockets it
    /// opens live there; the rest of the process stays where it was.
    pub fn spawn_inside<T, F>(&self, f: F) -> JoinHandle<Result<T>>
    where
        T: Send + 'static,
        F: FnOnce() -> Result<T> + Send + 'static,
    {
        let path = PathBuf::from("/run/netns").join(&self.name);
        thread::spawn(move || {
            let what = || format!("enter network namespace {}", path.display());
            let ns = File::open(&path).map_err(|e| Error::io(what(), e))?;
            move_into_link_name_space(ns.as_fd(), Some(LinkNameSpaceType::Network))
                .map_err(|e| Error::io(what(), e.into()))?;
            f()
        })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if let Err(e) = ip(&["netns", "del", &self.name]) {
            eprintln!("e2e: cannot delete network namespace {}: {e}", self.name);
        }
    }
}

/// A veth pair with one end in the root namespace and the other in a [`Netns`]; deleted
/// on drop (deleting either end deletes both).
#[derive(Debug)]
pub struct Veth {
    root: String,
    peer: String,
}

impl Veth {
    /// Creates `root` (root namespace) paired with `peer` inside `ns`. Interface names have
    /// at most 15 characters.
    pub fn create(root: &str, peer: &str, ns: &Netns) -> Result<Veth> {
        if Path::new("/sys/class/net").join(root).exists() {
            ip(&["link", "del", root])?;
        }
        ip(&[
            "link",
            "add",
            root,
            "type",
            "veth",
            "peer",
            "name",
            peer,
            "netns",
            ns.name(),
        ])?;
        Ok(Veth {
            root: root.to_owned(),
            peer: peer.to_owned(),
        })
    }

    /// The root namespace end.
    pub fn root(&self) -> &str {
        &self.root
    }

    /// The end inside the namespace.
    pub fn peer(&self) -> &str {
        &self.peer
    }

    /// The MAC address of the root end (`aa:bb:cc:dd:ee:ff`, lower case).
    pub fn root_mac(&self) -> Result<String> {
        let path = format!("/sys/class/net/{}/address", self.root);
        fs::read_to_string(&path)
            .map(|s| s.trim().to_ascii_lowercase())
            .map_err(|e| Error::io(format!("read {path}"), e))
    }
}

impl Drop for Veth {
    fn drop(&mut self) {
        if Path::new("/sys/class/net").join(&self.root).exists() {
            if let Err(e) = ip(&["link", "del", &self.root]) {
                eprintln!("e2e: cannot delete veth {}: {e}", self.root);
            }
        }
    }
}

/// One side of a relay test: a namespace whose host holds `host/prefix_len` on its veth end,
/// with the relay's address `relay` on the same subnet behind the root end.
#[derive(Debug)]
pub struct Side {
    /// Dropped before the namespace.
    veth: Veth,
    ns: Netns,
    /// The host's address inside the namespace.
    pub host: Ipv4Addr,
    /// The relay's address on this side (owned by the relay, configured nowhere in Linux).
    pub relay: Ipv4Addr,
}

impl Side {
    /// Creates namespace `ns`, the veth pair `root_if`/`peer_if`, the host address on
    /// `peer_if`, and brings both ends up. The root end gets no address, no IPv6 and no
    /// forwarding (the kernel neither answers nor routes what arrives there); inside the
    /// namespace IPv6 is off too, so only the test's traffic crosses the link, and the
    /// namespace end computes full checksums (no transmit offload). No neighbour entry is
    /// configured anywhere.
    pub fn create(
        ns: &str,
        root_if: &str,
        peer_if: &str,
        host: Ipv4Addr,
        relay: Ipv4Addr,
        prefix_len: u8,
    ) -> Result<Side> {
        let ns = Netns::create(ns)?;
        let veth = Veth::create(root_if, peer_if, &ns)?;
        sysctl(
            &format!("/proc/sys/net/ipv6/conf/{root_if}/disable_ipv6"),
            "1",
        )?;
        sysctl(
            &format!("/proc/sys/net/ipv4/conf/{root_if}/forwarding"),
            "0",
        )?;
        ip(&["link", "set", root_if, "up"])?;
        for key in ["all", "default", peer_if] {
            ns.exec(&[
                "sh",
                "-c",
                &format!("echo 1 > /proc/sys/net/ipv6/conf/{key}/disable_ipv6"),
            ])?;
        }
        // A veth offloads transmit checksums: the frames a packet socket on the other end
        // sees carry only the pseudo-header sum (CHECKSUM_PARTIAL), and `net_af_packet` does
        // not say so. A real link carries complete checksums; so must this one.
        let ethtool = tools::find(ETHTOOL)?;
        let ethtool = ethtool.to_string_lossy();
        ns.exec(&[&ethtool, "-K", peer_if, "tx", "off"])?;
        let cidr = format!("{host}/{prefix_len}");
        ns.exec(&["ip", "addr", "add", &cidr, "dev", peer_if])?;
        ns.exec(&["ip", "link", "set", peer_if, "up"])?;
        Ok(Side {
            veth,
            ns,
            host,
            relay,
        })
    }

    /// The namespace.
    pub fn ns(&self) -> &Netns {
        &self.ns
    }

    /// The veth pair.
    pub fn veth(&self) -> &Veth {
        &self.veth
    }

    /// The host's neighbour entry for `ip` as `(lladdr, state)` (`None`: no entry, or one
    /// without a link-layer address yet).
    pub fn neighbour(&self, ip: Ipv4Addr) -> Result<Option<(String, String)>> {
        let text = self.ns.exec(&[
            "ip",
            "neigh",
            "show",
            &ip.to_string(),
            "dev",
            self.veth.peer(),
        ])?;
        Ok(parse_neighbour(&text))
    }

    /// Every permanent (static) neighbour entry inside the namespace, as `ip` prints them.
    pub fn permanent_neighbours(&self) -> Result<String> {
        self.ns
            .exec(&["ip", "neigh", "show", "nud", "permanent"])
            .map(|s| s.trim().to_owned())
    }
}

/// `(lladdr, state)` of the first line of `ip neigh show ADDR dev IF` output, e.g.
/// `10.77.1.1 lladdr 02:00:00:00:00:01 REACHABLE`.
pub fn parse_neighbour(text: &str) -> Option<(String, String)> {
    let line = text.lines().find(|l| !l.trim().is_empty())?;
    let words: Vec<&str> = line.split_whitespace().collect();
    let at = words.iter().position(|w| *w == "lladdr")?;
    let mac = words.get(at + 1)?.to_ascii_lowercase();
    let state = words.last()?.to_string();
    Some((mac, state))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a test failure.
mod tests {
    use super::*;

    #[test]
    fn neighbour_lines_give_mac_and_state() {
        assert_eq!(
            parse_neighbour("10.77.1.1 lladdr 02:AB:00:00:00:01 REACHABLE\n"),
            Some(("02:ab:00:00:00:01".to_owned(), "REACHABLE".to_owned()))
        );
        assert_eq!(parse_neighbour("10.77.1.1  INCOMPLETE\n"), None);
        assert_eq!(parse_neighbour(""), None);
    }
}
