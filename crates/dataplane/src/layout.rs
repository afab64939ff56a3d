//! Port ownership and record placement.
//!
//! Relay ports come in pairs: RTP on an even port, RTCP on the next odd one (RFC 3550 §11). The
//! pair number `p = (port - port_min) / 2` of a relay address decides everything: the owning
//! worker is `p % workers`, and the record index inside that worker's table is the worker's base
//! for the address plus `p / workers`. Both are pure functions, so the control plane, the NIC
//! flow rules and the workers agree without sharing any state.

use crate::io::PortKey;

/// The relay port range of one relay address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddrRange {
    /// First port (even).
    pub port_min: u16,
    /// Last port (odd).
    pub port_max: u16,
}

impl AddrRange {
    /// Number of RTP/RTCP port pairs.
    pub fn pairs(&self) -> u32 {
        (u32::from(self.port_max) + 1 - u32::from(self.port_min)) / 2
    }
}

/// Errors building a layout.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LayoutError {
    /// No workers.
    #[error("at least one worker is needed")]
    NoWorkers,
    /// A range is empty, starts odd, or ends even.
    #[error("relay address {0}: port range must start even, end odd and hold at least one pair")]
    BadRange(usize),
    /// More relay addresses than a port key can name.
    #[error("too many relay addresses")]
    TooManyAddresses,
}

/// Per address, as one worker sees it.
#[derive(Debug, Clone, Copy)]
struct Span {
    min: u16,
    max: u16,
    /// Index of this address's first record in the worker's table.
    base: u32,
    /// Records of this address in the worker's table.
    count: u32,
}

/// Where the ports of every relay address live, for `workers` workers.
#[derive(Debug, Clone)]
pub struct PortLayout {
    workers: u32,
    /// log2(workers) when workers is a power of two.
    shift: Option<u32>,
    ranges: Vec<AddrRange>,
    /// `spans[w][a]`.
    spans: Vec<Vec<Span>>,
}

/// The RTP or RTCP half of a pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Component {
    /// The even port.
    Rtp,
    /// The odd port.
    Rtcp,
}

impl PortLayout {
    /// Lays out `ranges` (index = relay address index) over `workers` workers.
    pub fn new(ranges: Vec<AddrRange>, workers: usize) -> Result<Self, LayoutError> {
        if workers == 0 {
            return Err(LayoutError::NoWorkers);
        }
        if ranges.len() > usize::from(u16::MAX) {
            return Err(LayoutError::TooManyAddresses);
        }
        for (i, r) in ranges.iter().enumerate() {
            if r.port_min % 2 != 0 || r.port_max % 2 != 1 || r.port_max < r.port_min {
                return Err(LayoutError::BadRange(i));
            }
        }
        let n = workers as u32;
        let spans = (0..n)
            .map(|w| {
                let mut base = 0u32;
                ranges
                    .iter()
                    .map(|r| {
                        let pairs = r.pairs();
                        let count = if pairs > w {
                            (pairs - w).div_ceil(n)
                        } else {
                            0
                        };
                        let s = Span {
                            min: r.port_min,
                            max: r.port_max,
                            base,
                            count,
                        };
                        base += count;
                        s
                    })
                    .collect()
            })
            .collect();
        let shift = n.is_power_of_two().then(|| n.trailing_zeros());
        Ok(Self {
            workers: n,
            shift,
            ranges,
            spans,
        })
    }

    /// Number of workers.
    pub fn workers(&self) -> usize {
        self.workers as usize
    }

    /// The configured ranges.
    pub fn ranges(&self) -> &[AddrRange] {
        &self.ranges
    }

    /// The worker owning `key`, or `None` outside every range.
    #[inline]
    pub fn owner(&self, key: PortKey) -> Option<usize> {
        let r = self.ranges.get(usize::from(key.addr))?;
        if key.port < r.port_min || key.port > r.port_max {
            return None;
        }
        Some((u32::from((key.port - r.port_min) >> 1) % self.workers) as usize)
    }

    /// Size of worker `w`'s table (records).
    pub fn records(&self, w: usize) -> usize {
        self.spans
            .get(w)
            .map_or(0, |s| s.iter().map(|x| x.count as usize).sum())
    }

    /// Record index and component of `key` in worker `w`'s table; `None` when `w` does not own it.
    #[inline]
    pub fn slot(&self, w: usize, key: PortKey) -> Option<(u32, Component)> {
        let span = self.spans.get(w)?.get(usize::from(key.addr))?;
        if key.port < span.min || key.port > span.max {
            return None;
        }
        let pair = u32::from((key.port - span.min) >> 1);
        // Worker counts are usually powers of two: a shift and a mask instead of a division.
        let (owner, index) = match self.shift {
            Some(sh) => (pair & (self.workers - 1), pair >> sh),
            None => (pair % self.workers, pair / self.workers),
        };
        if owner != w as u32 {
            return None;
        }
        let comp = if key.port & 1 == 0 {
            Component::Rtp
        } else {
            Component::Rtcp
        };
        Some((span.base + index, comp))
    }

    /// The RTP port keys worker `w` owns on relay address `addr`, in ascending order.
    pub fn owned_rtp_ports(&self, w: usize, addr: u16) -> impl Iterator<Item = PortKey> + '_ {
        let (min, count) = self
            .spans
            .get(w)
            .and_then(|s| s.get(usize::from(addr)))
            .map_or((0, 0), |s| (u32::from(s.min), s.count));
        let (n, w) = (self.workers, w as u32);
        // The port fits in u16: it is at most the range's port_max.
        (0..count).map(move |i| PortKey {
            addr,
            port: (min + 2 * (w + i * n)) as u16,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(workers: usize) -> PortLayout {
        let r = vec![
            AddrRange {
                port_min: 30000,
                port_max: 30019,
            },
            AddrRange {
                port_min: 40000,
                port_max: 40005,
            },
        ];
        PortLayout::new(r, workers).expect("valid layout")
    }

    #[test]
    fn every_port_has_one_owner_and_a_unique_slot() {
        for workers in 1..=4 {
            let l = layout(workers);
            let mut seen = std::collections::HashSet::new();
            for (addr, r) in l.ranges().to_vec().iter().enumerate() {
                for port in r.port_min..=r.port_max {
                    let key = PortKey::new(addr as u16, port);
                    let w = l.owner(key).expect("owned");
                    let (idx, comp) = l.slot(w, key).expect("slot");
                    assert!((idx as usize) < l.records(w));
                    assert_eq!(comp == Component::Rtp, port % 2 == 0);
                    assert!(seen.insert((w, idx, comp)), "slot reused");
                    for other in (0..workers).filter(|&o| o != w) {
                        assert_eq!(l.slot(other, key), None);
                    }
                }
            }
            let total: usize = (0..workers).map(|w| l.records(w)).sum();
            assert_eq!(total, 10 + 3);
        }
    }

    #[test]
    fn owned_ports_round_trip() {
        let l = layout(3);
        for w in 0..3 {
            for addr in 0..2 {
                for key in l.owned_rtp_ports(w, addr) {
                    assert_eq!(l.owner(key), Some(w));
                    assert_eq!(
                        PortKey::new(key.addr, key.port + 1),
                        PortKey::new(addr, key.port + 1)
                    );
                    assert!(l.slot(w, PortKey::new(addr, key.port + 1)).is_some());
                }
            }
        }
        assert_eq!(
            l.owned_rtp_ports(0, 0).count()
                + l.owned_rtp_ports(1, 0).count()
                + l.owned_rtp_ports(2, 0).count(),
            10
        );
    }

    #[test]
    fn rejects_bad_ranges() {
        assert_eq!(
            PortLayout::new(vec![], 0).err(),
            Some(LayoutError::NoWorkers)
        );
        let odd = vec![AddrRange {
            port_min: 30001,
            port_max: 30010,
        }];
        assert_eq!(
            PortLayout::new(odd, 1).err(),
            Some(LayoutError::BadRange(0))
        );
        assert_eq!(
            PortLayout::new(
                vec![AddrRange {
                    port_min: 10,
                    port_max: 11
                }],
                1
            )
            .map(|l| l.records(0))
            .ok(),
            Some(1)
        );
        assert!(PortLayout::new(vec![], 2).is_ok());
        assert_eq!(layout(1).owner(PortKey::new(0, 29999)), None);
        assert_eq!(layout(1).owner(PortKey::new(5, 30000)), None);
    }
}
