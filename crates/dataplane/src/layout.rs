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
    /// The first port this worker owns (`min + 2 * w`; `u32::MAX` when it owns none): a
    /// port's offset from it is the one number the lookup works on.
    start: u32,
    /// The largest offset from `start` inside the range (0 when the worker owns none).
    limit: u32,
    /// Index of this address's first record in the worker's table.
    base: u32,
    /// Records of this address in the worker's table.
    count: u32,
}

/// How a worker's pair offset becomes a record index: `workers` a power of two (a mask and a
/// shift), or any other count (a remainder and a division).
#[derive(Debug, Clone, Copy)]
enum Stride {
    /// `workers - 1` and `log2(workers)`.
    Pow2 { mask: u32, shift: u32 },
    /// The worker count.
    Div(u32),
}

/// Where the ports of every relay address live, for `workers` workers.
#[derive(Debug, Clone)]
pub struct PortLayout {
    workers: u32,
    stride: Stride,
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
                        let first = u32::from(r.port_min) + 2 * w;
                        let (start, limit) = if count > 0 {
                            (first, u32::from(r.port_max) - first)
                        } else {
                            (u32::MAX, 0)
                        };
                        let s = Span {
                            min: r.port_min,
                            start,
                            limit,
                            base,
                            count,
                        };
                        base += count;
                        s
                    })
                    .collect()
            })
            .collect();
        let stride = if n.is_power_of_two() {
            Stride::Pow2 {
                mask: n - 1,
                shift: n.trailing_zeros(),
            }
        } else {
            Stride::Div(n)
        };
        Ok(Self {
            workers: n,
            stride,
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
        self.worker(w)?.slot(key)
    }

    /// Worker `w`'s view of the layout, for many lookups in a row (`None`: no such worker).
    #[inline]
    pub fn worker(&self, w: usize) -> Option<WorkerSlots<'_>> {
        Some(WorkerSlots {
            spans: self.spans.get(w)?,
            stride: self.stride,
        })
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

/// One worker's slots: [`PortLayout::slot`] with the worker's spans and the stride picked once.
#[derive(Debug, Clone, Copy)]
pub struct WorkerSlots<'a> {
    spans: &'a [Span],
    stride: Stride,
}

impl WorkerSlots<'_> {
    /// Record index and component of `key` in this worker's table; `None` when the worker does
    /// not own it. The port's offset from the worker's first port is checked against the range
    /// in one compare (below the first port it wraps to a large number); the pair it names
    /// belongs to this worker when it is a multiple of the worker count.
    #[inline(always)]
    pub fn slot(&self, key: PortKey) -> Option<(u32, Component)> {
        let span = self.spans.get(usize::from(key.addr))?;
        let off = u32::from(key.port).wrapping_sub(span.start);
        if off > span.limit {
            return None;
        }
        let pair = off >> 1;
        let index = match self.stride {
            Stride::Pow2 { mask, shift } => {
                if pair & mask != 0 {
                    return None;
                }
                pair >> shift
            }
            Stride::Div(n) => {
                if pair % n != 0 {
                    return None;
                }
                pair / n
            }
        };
        let comp = if key.port & 1 == 0 {
            Component::Rtp
        } else {
            Component::Rtcp
        };
        Some((span.base + index, comp))
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

    /// The lookup as it was before the offset form: two range compares, then the pair's
    /// owner and index by remainder and division.
    fn slot_model(
        ranges: &[AddrRange],
        workers: u32,
        w: usize,
        key: PortKey,
    ) -> Option<(u32, Component)> {
        let w = u32::try_from(w).ok().filter(|&w| w < workers)?;
        let r = ranges.get(usize::from(key.addr))?;
        if key.port < r.port_min || key.port > r.port_max {
            return None;
        }
        let pair = u32::from((key.port - r.port_min) >> 1);
        if pair % workers != w {
            return None;
        }
        let base: u32 = ranges[..usize::from(key.addr)]
            .iter()
            .map(|r| r.pairs().saturating_sub(w).div_ceil(workers))
            .sum();
        let comp = if key.port & 1 == 0 {
            Component::Rtp
        } else {
            Component::Rtcp
        };
        Some((base + pair / workers, comp))
    }

    proptest::proptest! {
        #[test]
        fn slot_matches_the_division_model(
            bounds in proptest::collection::vec((0u16..32768, 0u16..300), 1..5),
            workers in 1u32..9,
            keys in proptest::collection::vec((0u16..6, proptest::num::u16::ANY, 0u16..400), 64),
        ) {
            let ranges: Vec<AddrRange> = bounds
                .iter()
                .map(|&(lo, pairs)| AddrRange {
                    port_min: lo * 2,
                    port_max: (lo * 2).saturating_add(pairs * 2).saturating_add(1) | 1,
                })
                .collect();
            let l = PortLayout::new(ranges.clone(), workers as usize).expect("valid layout");
            for &(addr, any, near) in &keys {
                // Ports anywhere, and ports near a range's ends (where the offset wraps).
                let r = ranges.get(usize::from(addr)).copied().unwrap_or(ranges[0]);
                let ports = [any, r.port_min.wrapping_add(near), r.port_max.wrapping_sub(near), r.port_max.wrapping_add(near)];
                for port in ports {
                    let key = PortKey::new(addr, port);
                    for w in 0..=workers as usize {
                        proptest::prop_assert_eq!(
                            l.slot(w, key),
                            slot_model(&ranges, workers, w, key),
                            "worker {} key {:?}", w, key
                        );
                    }
                }
            }
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
