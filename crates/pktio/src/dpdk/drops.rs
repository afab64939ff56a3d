//! Receive drops of the DPDK backend, one counter per reason (per worker, single writer).

use wire::frame::FrameError;

/// Why a received frame did not reach the relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RxDrop {
    /// The Ethernet/IP/UDP checks of [`wire::frame::parse_udp`] failed.
    Frame(FrameError),
    /// A UDP frame to an IP address that is not a relay address of this port.
    UnknownAddress,
    /// The UDP checksum does not verify (by the NIC's flags or in software; RFC 768).
    UdpChecksum,
    /// The NIC flagged the IPv4 header checksum bad (RFC 791 §3.1, RFC 1122 §3.2.1.2).
    IpChecksum,
    /// A frame in more than one segment (jumbo frames are not relayed).
    MultiSegment,
    /// A frame without the port's VLAN tag (or tagged on an untagged port).
    WrongVlan,
}

/// Reasons besides the frame errors.
const EXTRA: usize = 5;

impl RxDrop {
    /// Number of distinct reasons.
    pub const COUNT: usize = FrameError::COUNT + EXTRA;

    /// A dense index in `0..COUNT`.
    #[inline]
    pub fn index(self) -> usize {
        match self {
            RxDrop::Frame(e) => e.index(),
            RxDrop::UnknownAddress => FrameError::COUNT,
            RxDrop::UdpChecksum => FrameError::COUNT + 1,
            RxDrop::IpChecksum => FrameError::COUNT + 2,
            RxDrop::MultiSegment => FrameError::COUNT + 3,
            RxDrop::WrongVlan => FrameError::COUNT + 4,
        }
    }

    /// The reason at `index` (inverse of [`RxDrop::index`]).
    pub fn from_index(index: usize) -> Option<Self> {
        match index.checked_sub(FrameError::COUNT) {
            None => FrameError::ALL.get(index).copied().map(RxDrop::Frame),
            Some(0) => Some(RxDrop::UnknownAddress),
            Some(1) => Some(RxDrop::UdpChecksum),
            Some(2) => Some(RxDrop::IpChecksum),
            Some(3) => Some(RxDrop::MultiSegment),
            Some(4) => Some(RxDrop::WrongVlan),
            Some(_) => None,
        }
    }

    /// A stable snake_case name, for metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            RxDrop::Frame(e) => e.as_str(),
            RxDrop::UnknownAddress => "unknown_address",
            RxDrop::UdpChecksum => "bad_udp_checksum",
            RxDrop::IpChecksum => "bad_ip_checksum_nic",
            RxDrop::MultiSegment => "multi_segment",
            RxDrop::WrongVlan => "wrong_vlan",
        }
    }
}

/// Drop counters by [`RxDrop`] reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RxDrops {
    counts: [u64; RxDrop::COUNT],
}

impl Default for RxDrops {
    fn default() -> Self {
        Self {
            counts: [0; RxDrop::COUNT],
        }
    }
}

impl RxDrops {
    /// Counts one drop.
    #[inline]
    pub fn count(&mut self, r: RxDrop) {
        if let Some(c) = self.counts.get_mut(r.index()) {
            *c += 1;
        }
    }

    /// Drops of reason `r`.
    pub fn get(&self, r: RxDrop) -> u64 {
        self.counts.get(r.index()).copied().unwrap_or(0)
    }

    /// All drops.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Every reason with a non-zero count.
    pub fn nonzero(&self) -> impl Iterator<Item = (RxDrop, u64)> + '_ {
        self.counts
            .iter()
            .enumerate()
            .filter(|(_, &c)| c > 0)
            .filter_map(|(i, &c)| Some((RxDrop::from_index(i)?, c)))
    }
}

/// Layer 2/3 work and transmit-side drops of one worker's backend (single writer).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct L2Stats {
    /// ARP requests for a relay address answered (RFC 826).
    pub arp_replies: u64,
    /// ICMP / ICMPv6 echo requests answered.
    pub echo_replies: u64,
    /// Neighbour solicitations answered with an advertisement (RFC 4861 §7.2.4).
    pub nd_replies: u64,
    /// Other ARP packets and neighbour advertisements received (learned from, not answered).
    pub neighbour_packets: u64,
    /// ARP requests and neighbour solicitations sent to resolve a next hop.
    pub requests_sent: u64,
    /// Gratuitous ARPs and unsolicited advertisements sent at start.
    pub announcements: u64,
    /// Neighbour entries learned or changed (from frames or from other workers).
    pub learned: u64,
    /// Frames not sent because their next hop's MAC is not known yet (a request is out).
    pub unresolved: u64,
    /// Frames not sent because no next hop is configured for the destination (off the
    /// port's subnet with no gateway and no `next_hop_mac`).
    pub no_route: u64,
    /// Replies or requests not sent because the pool had no mbuf.
    pub no_mbuf: u64,
    /// Relay frames received on this worker's queue but owned by another worker, handed to
    /// it over its inbox.
    pub handed_off: u64,
    /// Frames received from other workers' hand-off.
    pub handoff_received: u64,
    /// Frames to hand off that the owner's full inbox refused (dropped).
    pub handoff_dropped: u64,
    /// Neighbour notes to other workers lost to full rings.
    pub notes_lost: u64,
    /// Frames for the host passed to the port's exception interface.
    pub to_host: u64,
    /// Frames from the exception interface sent out of the port.
    pub from_host: u64,
    /// Frames for the host the exception interface did not take (its queue full).
    pub host_dropped: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes_are_dense_and_round_trip() {
        let mut names = std::collections::HashSet::new();
        for i in 0..RxDrop::COUNT {
            let r = RxDrop::from_index(i).expect("every index names a reason");
            assert_eq!(r.index(), i);
            assert!(names.insert(r.as_str()), "duplicate name {}", r.as_str());
        }
        assert_eq!(RxDrop::from_index(RxDrop::COUNT), None);
        let mut d = RxDrops::default();
        d.count(RxDrop::Frame(FrameError::Fragment));
        d.count(RxDrop::UdpChecksum);
        d.count(RxDrop::UdpChecksum);
        assert_eq!(d.get(RxDrop::UdpChecksum), 2);
        assert_eq!(d.total(), 3);
        assert_eq!(d.nonzero().count(), 2);
    }
}
