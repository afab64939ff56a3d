//! The settings of one worker's DPDK backend: its ports ([`DpdkLink`]) and the rest of
//! [`DpdkIoConfig`].

use super::handoff::Handoff;
use super::port::EthPort;
use crate::l2::{NeighConfig, NeighPeer};
use crate::RelayAddr;
use std::sync::Arc;

/// One port as a worker sees it.
#[derive(Debug, Clone)]
pub struct DpdkLink {
    /// The started port (kept alive by every worker using it).
    pub port: Arc<EthPort>,
    /// A fixed MAC every relayed frame leaves toward (a router); `None`: the next hop is
    /// resolved with ARP / neighbour discovery (the destination itself when on the subnet of
    /// the egress relay address, else the gateway).
    pub next_hop_mac: Option<[u8; 6]>,
    /// IPv4 router for destinations off the `prefix_v4` subnet.
    pub gateway_v4: Option<[u8; 4]>,
    /// IPv6 router for destinations off the `prefix_v6` prefix.
    pub gateway_v6: Option<[u8; 16]>,
    /// On-link IPv4 subnet length of the port's relay addresses.
    pub prefix_v4: u8,
    /// On-link IPv6 prefix length of the port's relay addresses.
    pub prefix_v6: u8,
    /// 802.1Q VLAN id the port's frames carry (`None`: untagged).
    pub vlan: Option<u16>,
    /// The exception interface (a started `net_tap` / `virtio_user` port with a queue per
    /// worker): frames arriving here for the host (not relay media, not answered by the
    /// backend) go to it, and frames from it leave through this port, both unchanged.
    /// `None`: such frames are dropped (counted).
    pub exception: Option<Arc<EthPort>>,
}

impl DpdkLink {
    /// A link on `port` resolving next hops itself on a /24 (IPv4) and /64 (IPv6), untagged,
    /// with no gateway.
    pub fn new(port: Arc<EthPort>) -> Self {
        Self {
            port,
            next_hop_mac: None,
            gateway_v4: None,
            gateway_v6: None,
            prefix_v4: 24,
            prefix_v6: 64,
            vlan: None,
            exception: None,
        }
    }

    /// The same link sending every frame to `mac` (no resolution).
    pub fn with_next_hop_mac(mut self, mac: [u8; 6]) -> Self {
        self.next_hop_mac = Some(mac);
        self
    }

    /// The same link with `port` as its exception interface.
    pub fn with_exception(mut self, port: Arc<EthPort>) -> Self {
        self.exception = Some(port);
        self
    }
}

/// Settings of one worker's backend.
#[derive(Debug)]
pub struct DpdkIoConfig {
    /// The ports; this worker polls queue [`queue`](Self::queue) on each.
    pub links: Vec<DpdkLink>,
    /// The worker's queue pair (its index).
    pub queue: u16,
    /// The relay addresses, by index (the `addr` of [`crate::PortKey`]); `mac` is the source MAC of
    /// frames leaving from them (normally their port's MAC).
    pub addrs: Vec<RelayAddr>,
    /// For each relay address, the index in [`links`](Self::links) of the port it lives on.
    pub addr_link: Vec<usize>,
    /// Frames per receive burst (per port), 1..=512.
    pub burst: usize,
    /// Verify UDP checksums in software when the NIC has not (RFC 768: a receiver that checks
    /// must discard on failure). Off skips the check for NICs without the offload.
    pub verify_udp_checksum: bool,
    /// Neighbour table size and timers.
    pub neigh: NeighConfig,
    /// This worker's ends of the neighbour mesh (several workers), or `None` (one worker).
    pub neigh_peer: Option<NeighPeer>,
    /// Announce the relay addresses at the first receive (gratuitous ARP, RFC 5227 §3;
    /// unsolicited neighbour advertisement, RFC 4861 §7.2.6). One worker does it.
    pub announce: bool,
    /// Wrong-queue hand-off to the owning worker (several workers), or `None`.
    pub handoff: Option<Handoff>,
}

impl Default for DpdkIoConfig {
    fn default() -> Self {
        Self {
            links: Vec::new(),
            queue: 0,
            addrs: Vec::new(),
            addr_link: Vec::new(),
            burst: 32,
            verify_udp_checksum: true,
            neigh: NeighConfig::default(),
            neigh_peer: None,
            announce: false,
            handoff: None,
        }
    }
}
