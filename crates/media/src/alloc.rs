//! Relay port allocation: per worker and relay address, a FIFO of free RTP ports (so a freed
//! port goes to the back and is reused as late as possible).

use dataplane::PortKey;
use dataplane::PortLayout;
use std::collections::VecDeque;

/// Free RTP ports by worker, then by relay address index.
#[derive(Debug)]
pub struct PortAllocator {
    free: Vec<Vec<VecDeque<u16>>>,
    /// Pairs in use per worker.
    used: Vec<usize>,
}

impl PortAllocator {
    /// Every port of `layout` free.
    pub fn new(layout: &PortLayout) -> Self {
        let addrs = layout.ranges().len();
        let free = (0..layout.workers())
            .map(|w| {
                (0..addrs)
                    .map(|a| {
                        layout
                            .owned_rtp_ports(w, a as u16)
                            .map(|k| k.port)
                            .collect()
                    })
                    .collect()
            })
            .collect();
        Self {
            free,
            used: vec![0; layout.workers()],
        }
    }

    /// Free pairs of worker `w` on address `addr`.
    pub fn free(&self, w: usize, addr: u16) -> usize {
        self.free
            .get(w)
            .and_then(|f| f.get(usize::from(addr)))
            .map_or(0, VecDeque::len)
    }

    /// Free pairs on address `addr`, all workers together.
    pub fn free_on(&self, addr: u16) -> usize {
        self.free
            .iter()
            .filter_map(|f| f.get(usize::from(addr)))
            .map(VecDeque::len)
            .sum()
    }

    /// Pairs in use on worker `w`.
    pub fn used(&self, w: usize) -> usize {
        self.used.get(w).copied().unwrap_or(0)
    }

    /// Pairs in use on all workers.
    pub fn used_total(&self) -> usize {
        self.used.iter().sum()
    }

    /// The least loaded worker with a free pair on both `a` and `b` (which may be equal).
    pub fn pick_worker(&self, a: u16, b: u16) -> Option<usize> {
        (0..self.used.len())
            .filter(|&w| {
                let need_same = if a == b { 2 } else { 1 };
                self.free(w, a) >= need_same && self.free(w, b) >= 1
            })
            .min_by_key(|&w| self.used[w])
    }

    /// Takes a free RTP port of worker `w` on `addr`.
    pub fn take(&mut self, w: usize, addr: u16) -> Option<PortKey> {
        let port = self
            .free
            .get_mut(w)?
            .get_mut(usize::from(addr))?
            .pop_front()?;
        self.used[w] += 1;
        Some(PortKey { addr, port })
    }

    /// Returns a port taken from worker `w`.
    pub fn give_back(&mut self, w: usize, key: PortKey) {
        if let Some(q) = self
            .free
            .get_mut(w)
            .and_then(|f| f.get_mut(usize::from(key.addr)))
        {
            q.push_back(key.port);
            self.used[w] = self.used[w].saturating_sub(1);
        }
    }

    /// Returns a port that could not be bound to the back of the queue without counting it as
    /// used (it was counted by `take`).
    pub fn skip(&mut self, w: usize, key: PortKey) {
        self.give_back(w, key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dataplane::AddrRange;

    #[test]
    fn takes_least_loaded_and_reuses_late() {
        let l = PortLayout::new(
            vec![AddrRange {
                port_min: 100,
                port_max: 107,
            }],
            2,
        )
        .expect("layout");
        let mut a = PortAllocator::new(&l);
        assert_eq!(a.free(0, 0) + a.free(1, 0), 4);
        assert_eq!(a.free_on(0), 4);
        assert_eq!(a.free_on(1), 0, "no such address");
        let w = a.pick_worker(0, 0).expect("worker");
        let k1 = a.take(w, 0).expect("port");
        assert_eq!(a.free_on(0), 3);
        let w2 = a.pick_worker(0, 0).expect("worker");
        assert_ne!(w, w2, "second pick goes to the other worker");
        a.give_back(w, k1);
        let k2 = a.take(w, 0).expect("port");
        assert_ne!(k1, k2, "a freed port is reused last");
        assert_eq!(l.owner(k2), Some(w));
    }

    #[test]
    fn exhaustion_is_none() {
        let l = PortLayout::new(
            vec![AddrRange {
                port_min: 100,
                port_max: 101,
            }],
            1,
        )
        .expect("layout");
        let mut a = PortAllocator::new(&l);
        assert_eq!(a.pick_worker(0, 0), None, "one pair cannot serve two legs");
        assert!(a.take(0, 0).is_some());
        assert!(a.take(0, 0).is_none());
    }
}
