//! Relay port allocation: per worker and relay address, a FIFO of free RTP ports (so a freed
//! port goes to the back and is reused as late as possible). Each relay address has the ports
//! new sessions may take (`open`, all of its layout range at start): a reload may narrow or
//! close it, and a port given back outside it waits for a reload that opens it again.

use dataplane::PortKey;
use dataplane::{AddrRange, PortLayout};
use std::collections::{HashSet, VecDeque};

/// Free RTP ports by worker, then by relay address index.
#[derive(Debug)]
pub struct PortAllocator {
    free: Vec<Vec<VecDeque<u16>>>,
    /// Pairs in use per worker.
    used: Vec<usize>,
    /// Pairs in use per relay address.
    used_on: Vec<usize>,
    /// The RTP ports taken and not given back.
    taken: HashSet<PortKey>,
    /// Per relay address, the ports new sessions may take.
    open: Vec<Option<AddrRange>>,
}

impl PortAllocator {
    /// Every port of `layout` free.
    pub fn new(layout: &PortLayout) -> Self {
        let open = layout.ranges().iter().copied().map(Some).collect();
        let mut a = Self {
            free: vec![Vec::new(); layout.workers()],
            used: vec![0; layout.workers()],
            used_on: Vec::new(),
            taken: HashSet::new(),
            open: Vec::new(),
        };
        a.reopen(layout, open);
        a
    }

    /// Runs over `layout` (the running one, or one with relay addresses appended) with `open`
    /// the ports new sessions may take per relay address (`None`: none). Free ports outside
    /// them leave the queues; free ports that are open again (or new) join at the back.
    pub fn reopen(&mut self, layout: &PortLayout, open: Vec<Option<AddrRange>>) {
        self.open = open;
        self.used_on.resize(layout.ranges().len(), 0);
        for (w, queues) in self.free.iter_mut().enumerate() {
            queues.resize_with(layout.ranges().len(), VecDeque::new);
            for (a, q) in queues.iter_mut().enumerate() {
                let a16 = u16::try_from(a).unwrap_or(u16::MAX);
                let range = self.open.get(a).copied().flatten();
                let inside = |p: u16| range.is_some_and(|r| (r.port_min..=r.port_max).contains(&p));
                q.retain(|&p| inside(p));
                let queued: HashSet<u16> = q.iter().copied().collect();
                let more: Vec<u16> = layout
                    .owned_rtp_ports(w, a16)
                    .filter(|k| inside(k.port) && !queued.contains(&k.port))
                    .filter(|k| !self.taken.contains(k))
                    .map(|k| k.port)
                    .collect();
                q.extend(more);
            }
        }
    }

    /// Whether new sessions may take ports of relay address `addr`.
    pub fn is_open(&self, addr: u16) -> bool {
        self.open
            .get(usize::from(addr))
            .is_some_and(Option::is_some)
    }

    /// The ports new sessions may take on relay address `addr` (`None`: none).
    pub fn open(&self, addr: u16) -> Option<AddrRange> {
        self.open.get(usize::from(addr)).copied().flatten()
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

    /// Pairs in use on relay address `addr`, all workers together.
    pub fn used_on(&self, addr: u16) -> usize {
        self.used_on.get(usize::from(addr)).copied().unwrap_or(0)
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
        if let Some(n) = self.used_on.get_mut(usize::from(addr)) {
            *n += 1;
        }
        let key = PortKey { addr, port };
        self.taken.insert(key);
        Some(key)
    }

    /// Takes RTP port `key` of worker `w` as named (an HA standby holding a call another node
    /// set up): false when it is taken already or not a free port of `w`'s. Linear in the
    /// worker's free ports on that address.
    pub fn take_exact(&mut self, w: usize, key: PortKey) -> bool {
        if w >= self.used.len() || self.taken.contains(&key) {
            return false;
        }
        let Some(q) = self
            .free
            .get_mut(w)
            .and_then(|f| f.get_mut(usize::from(key.addr)))
        else {
            return false;
        };
        let Some(at) = q.iter().position(|&p| p == key.port) else {
            return false;
        };
        q.remove(at);
        self.used[w] += 1;
        if let Some(n) = self.used_on.get_mut(usize::from(key.addr)) {
            *n += 1;
        }
        self.taken.insert(key);
        true
    }

    /// Returns a port taken from worker `w`; it is free again if it is still open.
    pub fn give_back(&mut self, w: usize, key: PortKey) {
        if !self.taken.remove(&key) {
            return;
        }
        self.used[w] = self.used[w].saturating_sub(1);
        if let Some(n) = self.used_on.get_mut(usize::from(key.addr)) {
            *n = n.saturating_sub(1);
        }
        let open = self
            .open
            .get(usize::from(key.addr))
            .copied()
            .flatten()
            .is_some_and(|r| (r.port_min..=r.port_max).contains(&key.port));
        if let Some(q) = self
            .free
            .get_mut(w)
            .and_then(|f| f.get_mut(usize::from(key.addr)))
            .filter(|_| open)
        {
            q.push_back(key.port);
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

    #[test]
    fn closed_ports_are_not_taken_and_return_when_opened_again() {
        let range = |port_min, port_max| AddrRange { port_min, port_max };
        let l = PortLayout::new(vec![range(100, 107)], 1).expect("layout");
        let mut a = PortAllocator::new(&l);
        let k = a.take(0, 0).expect("port");
        assert_eq!(k.port, 100);
        a.reopen(&l, vec![Some(range(100, 103))]);
        assert_eq!(
            a.free(0, 0),
            1,
            "102 only: 100 is taken, 104 and 106 closed"
        );
        assert_eq!(a.used_on(0), 1);
        a.give_back(0, k);
        assert_eq!((a.free(0, 0), a.used(0), a.used_on(0)), (2, 0, 0));
        a.give_back(0, k);
        assert_eq!(a.used(0), 0, "a second give-back of one port counts once");
        a.reopen(&l, vec![None]);
        assert_eq!(a.free_on(0), 0);
        let grown = PortLayout::new(vec![range(100, 107), range(200, 203)], 1).expect("layout");
        a.reopen(&grown, vec![Some(range(100, 107)), Some(range(200, 203))]);
        assert_eq!((a.free_on(0), a.free_on(1)), (4, 2));
        assert_eq!(a.take(0, 1).map(|k| k.port), Some(200));
    }
}
