//! The neighbour table of one worker: next-hop IP -> MAC per port, learned from ARP (RFC 826)
//! and neighbour discovery (RFC 4861), aged, and asked for again at a bounded rate.
//!
//! Each worker keeps its own table (single writer, no lock). What one worker learns is passed
//! to the others over a [`NeighMesh`] of single-producer/single-consumer rings, since the
//! answer to one worker's request may arrive on another worker's queue.

/// Timers of the table, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NeighConfig {
    /// How long a learned entry is used without question (RFC 4861 §10 REACHABLE_TIME is
    /// 30 s; ARP caches commonly keep entries for minutes).
    pub reachable_ms: u32,
    /// After `reachable_ms`, the entry is still used for this long while it is asked for
    /// again; then it is forgotten (and packets wait for a new answer).
    pub stale_ms: u32,
    /// At most one request per entry per this interval (RFC 1122 §2.3.2.1: "SHOULD NOT send
    /// more than one ARP request per second"; RFC 4861 §10 RETRANS_TIMER 1 s).
    pub retry_ms: u32,
}

impl Default for NeighConfig {
    fn default() -> Self {
        Self {
            reachable_ms: 60_000,
            stale_ms: 5_000,
            retry_ms: 1_000,
        }
    }
}

/// What a lookup says about a destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolve {
    /// Send to this MAC.
    Known([u8; 6]),
    /// Send to this MAC, and send a request now (the entry is getting old).
    Refresh([u8; 6]),
    /// Unknown: send a request now; the packet cannot go yet.
    Ask,
    /// Unknown and asked for recently: the packet cannot go yet.
    Pending,
    /// The table is full of entries younger than the request interval.
    Full,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Free,
    /// Asked for, no answer yet.
    Incomplete,
    /// Has a MAC, learned at `stamp`.
    Known,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    state: State,
    link: u16,
    ip: [u8; 16],
    mac: [u8; 6],
    /// When the MAC was learned (Known) or the entry made (Incomplete).
    stamp: u32,
    /// When a request was last sent.
    asked: u32,
}

const FREE: Entry = Entry {
    state: State::Free,
    link: 0,
    ip: [0; 16],
    mac: [0; 6],
    stamp: 0,
    asked: 0,
};

/// Slots probed from an entry's home slot.
const PROBE: usize = 8;

/// A fixed-size, open-addressed neighbour table (no allocation after [`NeighTable::new`]).
#[derive(Debug, Clone)]
pub struct NeighTable {
    cfg: NeighConfig,
    slots: Vec<Entry>,
    mask: usize,
}

/// `later - earlier` on the wrapping millisecond clock.
#[inline]
fn age(now: u32, then: u32) -> u32 {
    now.wrapping_sub(then)
}

impl NeighTable {
    /// A table of `capacity` entries (rounded up to a power of two, at least 16).
    pub fn new(capacity: usize, cfg: NeighConfig) -> Self {
        let n = capacity.max(16).next_power_of_two();
        Self {
            cfg,
            slots: vec![FREE; n],
            mask: n - 1,
        }
    }

    #[inline]
    fn home(&self, link: u16, ip: &[u8; 16]) -> usize {
        // FNV-1a over the address and the link.
        let mut h: u32 = 0x811c_9dc5;
        for b in ip.iter().chain(link.to_le_bytes().iter()) {
            h = (h ^ u32::from(*b)).wrapping_mul(0x0100_0193);
        }
        h as usize & self.mask
    }

    #[inline]
    fn find(&self, link: u16, ip: &[u8; 16]) -> Option<usize> {
        let h = self.home(link, ip);
        (0..PROBE).map(|i| (h + i) & self.mask).find(|&s| {
            self.slots
                .get(s)
                .is_some_and(|e| e.state != State::Free && e.link == link && e.ip == *ip)
        })
    }

    /// A slot for a new entry: a free one in the probe window, else the oldest whose last
    /// request is older than the retry interval.
    fn claim(&self, link: u16, ip: &[u8; 16], now: u32) -> Option<usize> {
        let h = self.home(link, ip);
        let window = (0..PROBE).map(|i| (h + i) & self.mask);
        if let Some(s) = window
            .clone()
            .find(|&s| self.slots.get(s).is_some_and(|e| e.state == State::Free))
        {
            return Some(s);
        }
        window
            .filter(|&s| {
                self.slots
                    .get(s)
                    .is_some_and(|e| age(now, e.asked) >= self.cfg.retry_ms)
            })
            .max_by_key(|&s| self.slots.get(s).map_or(0, |e| age(now, e.stamp)))
    }

    /// Where to send a frame for next hop `ip` on `link` at `now` (ms). [`Resolve::Ask`] and
    /// [`Resolve::Refresh`] mean the caller sends a request now (the table notes it).
    #[inline]
    pub fn resolve(&mut self, link: u16, ip: &[u8; 16], now: u32) -> Resolve {
        let cfg = self.cfg;
        match self.find(link, ip) {
            Some(s) => {
                let Some(e) = self.slots.get_mut(s) else {
                    return Resolve::Full;
                };
                if e.state == State::Known {
                    let a = age(now, e.stamp);
                    if a < cfg.reachable_ms {
                        return Resolve::Known(e.mac);
                    }
                    if a < cfg.reachable_ms.saturating_add(cfg.stale_ms) {
                        if age(now, e.asked) >= cfg.retry_ms {
                            e.asked = now;
                            return Resolve::Refresh(e.mac);
                        }
                        return Resolve::Known(e.mac);
                    }
                    // Too old: forget the MAC, ask again.
                    e.state = State::Incomplete;
                    e.stamp = now;
                    e.asked = now;
                    return Resolve::Ask;
                }
                if age(now, e.asked) >= cfg.retry_ms {
                    e.asked = now;
                    Resolve::Ask
                } else {
                    Resolve::Pending
                }
            }
            None => match self.claim(link, ip, now) {
                Some(s) => {
                    if let Some(e) = self.slots.get_mut(s) {
                        *e = Entry {
                            state: State::Incomplete,
                            link,
                            ip: *ip,
                            mac: [0; 6],
                            stamp: now,
                            asked: now,
                        };
                    }
                    Resolve::Ask
                }
                None => Resolve::Full,
            },
        }
    }

    /// Records that `ip` on `link` is at `mac` (an ARP packet or neighbour message said so).
    /// With `create` false only an existing entry is updated (RFC 826 "merge": a sender not
    /// in the table is added only when the packet was addressed to us; RFC 4861 §7.2.5: an
    /// advertisement without an entry is ignored). Returns whether the table changed.
    pub fn learn(
        &mut self,
        link: u16,
        ip: &[u8; 16],
        mac: [u8; 6],
        now: u32,
        create: bool,
    ) -> bool {
        let slot = match self.find(link, ip) {
            Some(s) => s,
            None if create => match self.claim(link, ip, now) {
                Some(s) => s,
                None => return false,
            },
            None => return false,
        };
        let Some(e) = self.slots.get_mut(slot) else {
            return false;
        };
        let changed = e.state != State::Known || e.mac != mac;
        *e = Entry {
            state: State::Known,
            link,
            ip: *ip,
            mac,
            stamp: now,
            asked: if e.state == State::Free { now } else { e.asked },
        };
        changed
    }

    /// The MAC known for `ip` on `link` right now, without side effects (tests, diagnostics).
    pub fn peek(&self, link: u16, ip: &[u8; 16], now: u32) -> Option<[u8; 6]> {
        let e = self.slots.get(self.find(link, ip)?)?;
        let limit = self.cfg.reachable_ms.saturating_add(self.cfg.stale_ms);
        (e.state == State::Known && age(now, e.stamp) < limit).then_some(e.mac)
    }

    /// Entries in use (known or incomplete).
    pub fn len(&self) -> usize {
        self.slots.iter().filter(|e| e.state != State::Free).count()
    }

    /// True when no entry is in use.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One learned mapping passed between workers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Learned {
    /// The port (link index).
    pub link: u16,
    /// The neighbour's address (IPv4 mapped).
    pub ip: [u8; 16],
    /// Its MAC.
    pub mac: [u8; 6],
    /// Create an entry if there is none (see [`NeighTable::learn`]).
    pub create: bool,
}

/// A worker's ends of the neighbour mesh: one ring to and one from every other worker.
#[derive(Debug)]
pub struct NeighPeer {
    to: Vec<rtrb::Producer<Learned>>,
    from: Vec<rtrb::Consumer<Learned>>,
    lost: u64,
}

impl NeighPeer {
    /// Tells every other worker (a full ring loses the note, counted: that worker will ask
    /// itself).
    pub fn share(&mut self, l: Learned) {
        for p in &mut self.to {
            if p.push(l).is_err() {
                self.lost += 1;
            }
        }
    }

    /// Takes what the other workers learned, at most `max` notes.
    pub fn receive(&mut self, max: usize, mut f: impl FnMut(Learned)) {
        let mut n = 0;
        for c in &mut self.from {
            while n < max {
                let Ok(l) = c.pop() else { break };
                f(l);
                n += 1;
            }
        }
    }

    /// Notes lost to full rings.
    pub fn lost(&self) -> u64 {
        self.lost
    }
}

/// Builds the mesh for `workers` workers, rings of `capacity` notes each.
#[derive(Debug)]
pub struct NeighMesh;

impl NeighMesh {
    /// One [`NeighPeer`] per worker, in worker order.
    pub fn build(workers: usize, capacity: usize) -> Vec<NeighPeer> {
        let mut peers: Vec<NeighPeer> = (0..workers)
            .map(|_| NeighPeer {
                to: Vec::new(),
                from: Vec::new(),
                lost: 0,
            })
            .collect();
        for a in 0..workers {
            for b in 0..workers {
                if a == b {
                    continue;
                }
                let (p, c) = rtrb::RingBuffer::new(capacity.max(1));
                if let Some(x) = peers.get_mut(a) {
                    x.to.push(p);
                }
                if let Some(y) = peers.get_mut(b) {
                    y.from.push(c);
                }
            }
        }
        peers
    }
}
