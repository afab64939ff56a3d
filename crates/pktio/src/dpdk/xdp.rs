//! What the kernel says about an AF_XDP port (`net_af_xdp`): whether its XDP sockets run in
//! zero-copy or copy mode, whether its XDP program is attached natively (in the driver) or in
//! generic (skb) mode, and whether the interface's ntuple flow-steering rules
//! (`ethtool -N IFACE flow-type udp4 dst-port P action Q`) put each relay port on the queue of
//! the worker that owns it.
//!
//! The XDP sockets are the process's own: [`xsk_fds`] lists them (taken before and after a
//! port starts, the difference is the port's), `getsockopt(SOL_XDP, XDP_OPTIONS)` tells the
//! bind mode of each. The attach mode comes from rtnetlink (`IFLA_XDP_ATTACHED`), the rules
//! from the `SIOCETHTOOL` ioctl (`ETHTOOL_GRXCLSRLCNT` / `ETHTOOL_GRXCLSRLALL` /
//! `ETHTOOL_GRXCLSRULE`).

use std::collections::BTreeSet;
use std::ffi::c_int;
use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// A kernel query about an AF_XDP port that failed.
#[derive(Debug, thiserror::Error)]
pub enum XdpQueryError {
    /// The interface name is too long or contains a NUL byte.
    #[error("{0:?} is not an interface name")]
    BadName(String),
    /// No interface by that name.
    #[error("no interface {0:?}")]
    NoInterface(String),
    /// A system call failed.
    #[error("{op}: {source}")]
    Sys {
        /// The call (and its argument).
        op: &'static str,
        /// The kernel's error.
        source: io::Error,
    },
    /// The kernel's netlink answer could not be read.
    #[error("rtnetlink answer for {0:?} without the link's attributes")]
    BadAnswer(String),
}

fn sys(op: &'static str) -> impl FnOnce(io::Error) -> XdpQueryError {
    move |source| XdpQueryError::Sys { op, source }
}

/// The AF_XDP sockets open in this process now.
pub fn xsk_fds() -> BTreeSet<RawFd> {
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return BTreeSet::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<RawFd>().ok())
        .filter(|&fd| sockopt_u32(fd, libc::SOL_SOCKET, libc::SO_DOMAIN) == Some(AF_XDP))
        .collect()
}

const AF_XDP: u32 = 44;
/// `XDP_OPTIONS_ZEROCOPY` of `struct xdp_options` (linux/if_xdp.h).
const XDP_OPTIONS_ZEROCOPY: u32 = 1;

/// A 4-byte socket option of `fd`, `None` when the call fails (not a socket, closed).
fn sockopt_u32(fd: RawFd, level: c_int, name: c_int) -> Option<u32> {
    let mut v: u32 = 0;
    let mut len = std::mem::size_of::<u32>() as libc::socklen_t;
    // SAFETY: `v` and `len` are valid out-pointers of the size `len` says; a bad fd or a
    // non-socket is an error return, not UB.
    let rc = unsafe { libc::getsockopt(fd, level, name, (&raw mut v).cast(), &mut len) };
    (rc == 0 && len as usize == std::mem::size_of::<u32>()).then_some(v)
}

/// Whether the XDP socket `fd` was bound in zero-copy mode (`None`: not an XDP socket).
pub fn xsk_zero_copy(fd: RawFd) -> Option<bool> {
    sockopt_u32(fd, libc::SOL_XDP, libc::XDP_OPTIONS).map(|f| f & XDP_OPTIONS_ZEROCOPY != 0)
}

/// How an interface's XDP program is attached (`IFLA_XDP_ATTACHED`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XdpAttach {
    /// No XDP program.
    None,
    /// In the driver (native XDP): the mode zero-copy needs and the fast one.
    Native,
    /// Generic (skb) mode: after the kernel built an skb; copy mode only.
    Generic,
    /// Offloaded to the NIC.
    Offload,
    /// Several programs in several modes.
    Multi,
}

impl XdpAttach {
    /// How `ip -d link` would say it.
    pub fn as_str(self) -> &'static str {
        match self {
            XdpAttach::None => "none",
            XdpAttach::Native => "native",
            XdpAttach::Generic => "generic",
            XdpAttach::Offload => "offload",
            XdpAttach::Multi => "multi",
        }
    }
}

/// The index of interface `iface`.
fn if_index(iface: &str) -> Result<u32, XdpQueryError> {
    let c = std::ffi::CString::new(iface).map_err(|_| XdpQueryError::BadName(iface.into()))?;
    // SAFETY: `c` is NUL-terminated; the call only reads it.
    let index = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if index == 0 {
        return Err(XdpQueryError::NoInterface(iface.into()));
    }
    Ok(index)
}

/// A socket of `domain`/`kind`/`protocol`, closed on drop.
fn socket(domain: c_int, kind: c_int, protocol: c_int) -> Result<OwnedFd, XdpQueryError> {
    // SAFETY: plain system call with integer arguments.
    let fd = unsafe { libc::socket(domain, kind | libc::SOCK_CLOEXEC, protocol) };
    if fd < 0 {
        return Err(sys("socket")(io::Error::last_os_error()));
    }
    // SAFETY: `fd` is a fresh descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The 4-byte-aligned attributes (`rtattr`: length, type, value) in `buf`: (type, value).
fn attributes(mut buf: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        let len = usize::from(u16::from_ne_bytes([*buf.first()?, *buf.get(1)?]));
        let kind = u16::from_ne_bytes([*buf.get(2)?, *buf.get(3)?]) & 0x3fff;
        let value = buf.get(4..len)?;
        buf = buf.get(len.next_multiple_of(4)..).unwrap_or(&[]);
        Some((kind, value))
    })
}

/// How the XDP program of `iface` is attached, from an `RTM_GETLINK` request (RFC 3549
/// netlink; `IFLA_XDP` / `IFLA_XDP_ATTACHED` of linux/if_link.h).
pub fn xdp_attach(iface: &str) -> Result<XdpAttach, XdpQueryError> {
    const IFLA_XDP: u16 = 43;
    const IFLA_XDP_ATTACHED: u16 = 2;
    const NLMSG_ERROR: u16 = 2;
    let index = if_index(iface)?;
    let sock = socket(libc::AF_NETLINK, libc::SOCK_RAW, libc::NETLINK_ROUTE)?;
    // nlmsghdr (len, type, flags, seq, pid) + ifinfomsg (family, pad, type, index, flags, change).
    let mut req = [0u8; 32];
    req[0..4].copy_from_slice(&32u32.to_ne_bytes());
    req[4..6].copy_from_slice(&libc::RTM_GETLINK.to_ne_bytes());
    req[6..8].copy_from_slice(&(libc::NLM_F_REQUEST as u16).to_ne_bytes());
    req[8..12].copy_from_slice(&1u32.to_ne_bytes());
    req[20..24].copy_from_slice(&index.to_ne_bytes());
    // SAFETY: sends the 32 bytes of `req` to the kernel (no address: netlink's default peer).
    let sent = unsafe { libc::send(sock.as_raw_fd(), req.as_ptr().cast(), req.len(), 0) };
    if sent != 32 {
        return Err(sys("netlink send")(io::Error::last_os_error()));
    }
    let mut buf = vec![0u8; 65536];
    // SAFETY: receives at most `buf.len()` bytes into `buf`.
    let n = unsafe { libc::recv(sock.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
    let n = usize::try_from(n).map_err(|_| sys("netlink recv")(io::Error::last_os_error()))?;
    let msg = buf.get(..n).filter(|m| m.len() >= 32);
    let Some(msg) = msg else {
        return Err(XdpQueryError::BadAnswer(iface.into()));
    };
    if u16::from_ne_bytes([msg[4], msg[5]]) == NLMSG_ERROR {
        let errno = i32::from_ne_bytes([msg[16], msg[17], msg[18], msg[19]]);
        return Err(sys("RTM_GETLINK")(io::Error::from_raw_os_error(-errno)));
    }
    let len = (u32::from_ne_bytes([msg[0], msg[1], msg[2], msg[3]]) as usize).min(msg.len());
    let xdp = attributes(&msg[32..len]).find(|(k, _)| *k == IFLA_XDP);
    let attached = xdp.and_then(|(_, v)| {
        attributes(v)
            .find(|(k, _)| *k == IFLA_XDP_ATTACHED)
            .and_then(|(_, a)| a.first().copied())
    });
    Ok(match attached {
        None | Some(0) => XdpAttach::None,
        Some(1) => XdpAttach::Native,
        Some(2) => XdpAttach::Generic,
        Some(3) => XdpAttach::Offload,
        Some(_) => XdpAttach::Multi,
    })
}

/// One ntuple rule for UDP over IPv4 (`flow-type udp4`) as the NIC holds it: the destination
/// address and port with their masks (bits set: compared), whether it also constrains the
/// source or TOS, and the queue it sends to (`None`: drop or an RSS context).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpRule {
    /// Rule location (the NIC tries lower locations first).
    pub location: u32,
    /// Destination address and its mask.
    pub dst: (Ipv4Addr, Ipv4Addr),
    /// Destination port and its mask.
    pub dst_port: (u16, u16),
    /// The rule also matches on source address, source port or TOS: it does not catch every
    /// sender's packets, so it places no relay port.
    pub source_specific: bool,
    /// The queue (`action Q`), or `None` for drop / a VF / an RSS context.
    pub queue: Option<u32>,
}

impl UdpRule {
    /// Whether the rule takes every packet to `addr:port`.
    pub fn takes(&self, addr: Ipv4Addr, port: u16) -> bool {
        let (a, m) = (u32::from(self.dst.0), u32::from(self.dst.1));
        let (p, pm) = self.dst_port;
        !self.source_specific && (u32::from(addr) & m) == (a & m) && (port & pm) == (p & pm)
    }
}

/// `ETHTOOL_*` commands and flow types of linux/ethtool.h.
const ETHTOOL_GRXCLSRLCNT: u32 = 0x2e;
const ETHTOOL_GRXCLSRULE: u32 = 0x2f;
const ETHTOOL_GRXCLSRLALL: u32 = 0x30;
const UDP_V4_FLOW: u32 = 0x02;
const FLOW_TYPE_MASK: u32 = 0x00ff_ffff;
const FLOW_RSS: u32 = 0x2000_0000;
/// `struct ethtool_rxnfc` without `rule_locs`: cmd, flow_type, data, the 168-byte
/// `ethtool_rx_flow_spec`, rule_cnt (and padding).
const RXNFC_LEN: usize = 192;
/// Offsets inside `ethtool_rxnfc`: `fs` (flow spec) and `rule_cnt`.
const FS: usize = 16;
const RULE_CNT: usize = 184;
/// `offsetof(struct ethtool_rxnfc, rule_locs)`: the rule locations follow `rule_cnt`.
const RULE_LOCS: usize = 188;

/// Runs `SIOCETHTOOL` on `iface` with the command buffer `data` (starts with the command).
fn ethtool(sock: &OwnedFd, iface: &str, data: &mut [u8]) -> Result<(), io::Error> {
    // SAFETY: ifreq is plain data; all-zero is valid.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in ifr.ifr_name.iter_mut().zip(iface.bytes().take(15)) {
        *d = s as libc::c_char;
    }
    ifr.ifr_ifru.ifru_data = data.as_mut_ptr().cast();
    // SAFETY: `ifr` names the interface and points at `data`, a buffer large enough for the
    // command it holds (callers size it for the structure and its rule array).
    let rc = unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCETHTOOL, &mut ifr) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// The `udp4` ntuple rules of `iface`, by location. An interface without ntuple support
/// (veth, most virtual devices) answers `EOPNOTSUPP`.
pub fn udp4_rules(iface: &str) -> Result<Vec<UdpRule>, XdpQueryError> {
    if_index(iface)?;
    let sock = socket(libc::AF_INET, libc::SOCK_DGRAM, 0)?;
    let mut head = vec![0u8; RXNFC_LEN];
    head[0..4].copy_from_slice(&ETHTOOL_GRXCLSRLCNT.to_ne_bytes());
    ethtool(&sock, iface, &mut head).map_err(sys("ETHTOOL_GRXCLSRLCNT"))?;
    let count = u32_at(&head, RULE_CNT) as usize;
    let mut all = vec![0u8; RXNFC_LEN + 4 * count];
    all[0..4].copy_from_slice(&ETHTOOL_GRXCLSRLALL.to_ne_bytes());
    all[RULE_CNT..RULE_CNT + 4].copy_from_slice(&(count as u32).to_ne_bytes());
    ethtool(&sock, iface, &mut all).map_err(sys("ETHTOOL_GRXCLSRLALL"))?;
    let count = (u32_at(&all, RULE_CNT) as usize).min(count);
    let mut rules = Vec::with_capacity(count);
    for i in 0..count {
        let location = u32_at(&all, RULE_LOCS + 4 * i);
        let mut one = vec![0u8; RXNFC_LEN];
        one[0..4].copy_from_slice(&ETHTOOL_GRXCLSRULE.to_ne_bytes());
        one[FS + 160..FS + 164].copy_from_slice(&location.to_ne_bytes());
        ethtool(&sock, iface, &mut one).map_err(sys("ETHTOOL_GRXCLSRULE"))?;
        if let Some(r) = udp4_rule(&one[FS..FS + 168], location) {
            rules.push(r);
        }
    }
    rules.sort_by_key(|r| r.location);
    Ok(rules)
}

/// The rule in the flow spec `fs` (`struct ethtool_rx_flow_spec`), if it is `udp4`: header
/// values at 4, masks at 76 (`ethtool_tcpip4_spec`: ip4src, ip4dst, psrc, pdst, tos), the
/// ring cookie at 152.
fn udp4_rule(fs: &[u8], location: u32) -> Option<UdpRule> {
    let flow_type = u32_at(fs, 0);
    if flow_type & FLOW_TYPE_MASK != UDP_V4_FLOW {
        return None;
    }
    let (h, m) = (&fs[4..17], &fs[76..89]);
    let ip = |b: &[u8]| Ipv4Addr::new(b[0], b[1], b[2], b[3]);
    let port = |b: &[u8]| u16::from_be_bytes([b[0], b[1]]);
    let cookie = u64::from_ne_bytes(fs[152..160].try_into().ok()?);
    // RX_CLS_FLOW_DISC is all ones; bits 32..39 name a VF.
    let queue = (cookie != u64::MAX && cookie >> 32 == 0 && flow_type & FLOW_RSS == 0)
        .then_some(cookie as u32);
    Some(UdpRule {
        location,
        dst: (ip(&h[4..8]), ip(&m[4..8])),
        dst_port: (port(&h[10..12]), port(&m[10..12])),
        source_specific: m[0..4] != [0; 4] || m[8..10] != [0; 2] || m[12] != 0,
        queue,
    })
}

/// How the relay ports of an AF_XDP port reach their owners' queues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueuePlacement {
    /// One queue: nothing to steer. `no_ntuple`: why the interface could not steer either
    /// (no ntuple support, as on a veth), or `None` when it has ntuple rules.
    Single {
        /// The kernel's answer to the rule query, when it has no ntuple support.
        no_ntuple: Option<String>,
    },
    /// The NIC's ntuple rules: `placed` of `total` relay ports (IPv4) go to the queue of
    /// their owner (`start_queue + worker`); the others land where RSS puts them.
    Ntuple {
        /// Relay ports a rule sends to their owner's queue.
        placed: usize,
        /// Relay ports checked.
        total: usize,
        /// A relay port a rule sends elsewhere, or that no rule takes (for the log).
        first_misplaced: Option<(Ipv4Addr, u16)>,
    },
    /// No ntuple rule for UDP over IPv4 (or no ntuple support, with the kernel's reason):
    /// RSS hashes flows over the queues and the hand-off ring brings each frame to its owner.
    Rss {
        /// Why there are no rules to use.
        reason: String,
    },
}

/// Where the ntuple rules of `iface` put each relay port: `ports` yields (relay address,
/// port, owning worker); worker `w` polls queue `start_queue + w`.
pub fn placement(
    iface: &str,
    start_queue: u32,
    queues: u16,
    ports: impl Iterator<Item = (Ipv4Addr, u16, usize)>,
) -> QueuePlacement {
    if queues <= 1 {
        return QueuePlacement::Single {
            no_ntuple: udp4_rules(iface).err().map(|e| e.to_string()),
        };
    }
    let rules = match udp4_rules(iface) {
        Ok(r) if r.is_empty() => {
            return QueuePlacement::Rss {
                reason: format!("{iface} has no udp4 ntuple rule"),
            }
        }
        Ok(r) => r,
        Err(e) => {
            return QueuePlacement::Rss {
                reason: format!("{iface} has no ntuple flow steering ({e})"),
            }
        }
    };
    let (mut placed, mut total, mut first_misplaced) = (0, 0, None);
    for (addr, port, owner) in ports {
        total += 1;
        let want = start_queue + owner as u32;
        let got = rules
            .iter()
            .find(|r| r.takes(addr, port))
            .and_then(|r| r.queue);
        if got == Some(want) {
            placed += 1;
        } else if first_misplaced.is_none() {
            first_misplaced = Some((addr, port));
        }
    }
    QueuePlacement::Ntuple {
        placed,
        total,
        first_misplaced,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a test failure.
mod tests {
    use super::*;

    /// A flow spec as the kernel returns it for `flow-type udp4 dst-ip D dst-port P m M
    /// action Q`.
    fn spec(dst: [u8; 4], port: u16, port_mask: u16, cookie: u64, src_mask: bool) -> Vec<u8> {
        let mut fs = vec![0u8; 168];
        fs[0..4].copy_from_slice(&UDP_V4_FLOW.to_ne_bytes());
        fs[8..12].copy_from_slice(&dst);
        fs[14..16].copy_from_slice(&port.to_be_bytes());
        fs[80..84].copy_from_slice(&[255; 4]);
        fs[86..88].copy_from_slice(&port_mask.to_be_bytes());
        if src_mask {
            fs[76..80].copy_from_slice(&[255; 4]);
        }
        fs[152..160].copy_from_slice(&cookie.to_ne_bytes());
        fs
    }

    #[test]
    fn a_udp4_rule_reads_back_with_its_masks_and_queue() {
        let r = udp4_rule(&spec([10, 0, 0, 1], 0x0002, 0x0002, 3, false), 7).unwrap();
        assert_eq!(r.location, 7);
        assert_eq!(r.dst, (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::BROADCAST));
        assert_eq!(r.dst_port, (2, 2));
        assert_eq!(r.queue, Some(3));
        let a = Ipv4Addr::new(10, 0, 0, 1);
        assert!(r.takes(a, 30002) && r.takes(a, 30003) && !r.takes(a, 30000));
        assert!(!r.takes(Ipv4Addr::new(10, 0, 0, 2), 30002));
        let drop = udp4_rule(&spec([10, 0, 0, 1], 2, 2, u64::MAX, false), 0).unwrap();
        assert_eq!(drop.queue, None);
        let src = udp4_rule(&spec([10, 0, 0, 1], 2, 2, 1, true), 0).unwrap();
        assert!(src.source_specific && !src.takes(a, 30002));
        let mut tcp = spec([10, 0, 0, 1], 2, 2, 1, false);
        tcp[0] = 0x01;
        assert_eq!(udp4_rule(&tcp, 0), None);
    }

    #[test]
    fn attributes_walk_aligned_and_stop_at_a_short_one() {
        let mut b = Vec::new();
        b.extend_from_slice(&5u16.to_ne_bytes());
        b.extend_from_slice(&2u16.to_ne_bytes());
        b.extend_from_slice(&[1, 0, 0, 0]);
        b.extend_from_slice(&8u16.to_ne_bytes());
        b.extend_from_slice(&(43u16 | 0x8000).to_ne_bytes());
        b.extend_from_slice(&[9, 9, 9, 9]);
        b.extend_from_slice(&[40, 0]);
        let got: Vec<(u16, Vec<u8>)> = attributes(&b).map(|(k, v)| (k, v.to_vec())).collect();
        assert_eq!(got, vec![(2, vec![1]), (43, vec![9, 9, 9, 9])]);
    }

    #[test]
    fn loopback_has_no_xdp_program_and_no_ntuple_rules() {
        assert_eq!(xdp_attach("lo").unwrap(), XdpAttach::None);
        match placement("lo", 0, 2, [(Ipv4Addr::LOCALHOST, 30000, 0)].into_iter()) {
            QueuePlacement::Rss { reason } => assert!(reason.contains("lo"), "{reason}"),
            other => panic!("lo: {other:?}"),
        }
        match placement("lo", 0, 1, std::iter::empty()) {
            QueuePlacement::Single {
                no_ntuple: Some(why),
            } => assert!(why.contains("ETHTOOL_GRXCLSRLCNT"), "{why}"),
            other => panic!("lo, one queue: {other:?}"),
        }
        assert!(matches!(
            xdp_attach("fv-no-such-if"),
            Err(XdpQueryError::NoInterface(_))
        ));
        assert!(xsk_fds().is_empty());
    }
}
