//! The relay addresses of a worker by direct index: a small open-addressed table hashed on
//! the address's low 64 bits, at most half full, so a received frame's destination is found
//! (or known not to be ours) in one or two probes instead of a search over all of them.

use wire::Endpoint;

/// Fibonacci hashing multiplier (2^32 / golden ratio, odd).
const MULT: u32 = 0x9e37_79b1;

/// One entry: the address (Endpoint form, as one big-endian number), its index and link.
#[derive(Debug, Clone, Copy)]
struct Entry {
    ip: u128,
    addr: u16,
    link: u16,
}

/// An empty entry's `addr` (address indexes are below it: at most `u16::MAX` addresses).
const EMPTY: u16 = u16::MAX;

/// An IPv4 address's entry in the table of IPv4 addresses (the receive fast path's).
#[derive(Debug, Clone, Copy)]
struct Entry4 {
    ip: u32,
    addr: u16,
    link: u16,
}

/// Relay address -> (address index, link), open addressing with linear probing; the IPv4
/// addresses once more in a table of their own keyed by the 32-bit address.
#[derive(Debug)]
pub(super) struct AddrIndex {
    entries: Box<[Entry]>,
    /// The IPv4 addresses (same size, same hash of the low 32 bits).
    v4: Box<[Entry4]>,
    /// 32 - log2(entries.len()): the hash's top bits pick the first probe.
    shift: u32,
    /// entries.len() - 1.
    mask: usize,
}

impl AddrIndex {
    /// The index of `addrs` (Endpoint form) living on links `links` (same order); the first
    /// of duplicate addresses wins. Addresses from
    /// `u16::MAX` on are left out (no index fits them).
    pub(super) fn new(addrs: &[[u8; 16]], links: &[usize]) -> Self {
        let n = addrs.len().min(usize::from(EMPTY));
        // At least twice the addresses (a probe sequence always meets an empty entry).
        let size = (2 * n).next_power_of_two().max(4);
        let empty = Entry {
            ip: 0,
            addr: EMPTY,
            link: 0,
        };
        let empty4 = Entry4 {
            ip: 0,
            addr: EMPTY,
            link: 0,
        };
        let mut idx = Self {
            entries: vec![empty; size].into_boxed_slice(),
            v4: vec![empty4; size].into_boxed_slice(),
            shift: 32 - size.trailing_zeros(),
            mask: size - 1,
        };
        for (i, (ip, &link)) in addrs.iter().zip(links).take(n).enumerate() {
            let ip = u128::from_be_bytes(*ip);
            let mut at = idx.home(ip);
            loop {
                let e = &mut idx.entries[at];
                if e.addr == EMPTY {
                    let link = u16::try_from(link).unwrap_or(u16::MAX);
                    *e = Entry {
                        ip,
                        addr: i as u16,
                        link,
                    };
                    break;
                }
                if e.ip == ip {
                    break;
                }
                at = (at + 1) & idx.mask;
            }
            if let Some(v4) = Endpoint::new_v6(ip.to_be_bytes(), 0).v4() {
                idx.insert_v4(u32::from_be_bytes(v4), i as u16, link);
            }
        }
        idx
    }

    /// Adds IPv4 address `ip` (index `addr`, on `link`) to the IPv4 table unless it is there.
    fn insert_v4(&mut self, ip: u32, addr: u16, link: usize) {
        let mut at = self.home4(ip);
        while let Some(e) = self.v4.get_mut(at) {
            if e.addr == EMPTY {
                let link = u16::try_from(link).unwrap_or(u16::MAX);
                *e = Entry4 { ip, addr, link };
                return;
            }
            if e.ip == ip {
                return;
            }
            at = (at + 1) & self.mask;
        }
    }

    /// The first probe of IPv4 address `ip` in the IPv4 table.
    #[inline(always)]
    fn home4(&self, ip: u32) -> usize {
        (ip.wrapping_mul(MULT) >> self.shift) as usize & self.mask
    }

    /// The first probe of `ip`: the top bits of the multiplied low 64 bits folded to 32.
    #[inline(always)]
    fn home(&self, ip: u128) -> usize {
        let low = ip as u64;
        let h = ((low as u32) ^ ((low >> 32) as u32)).wrapping_mul(MULT);
        (h >> self.shift) as usize & self.mask
    }

    /// The index of relay address `ip` (Endpoint form as one big-endian number) and its link.
    #[inline(always)]
    fn find(&self, ip: u128) -> Option<(u16, u16)> {
        let mut at = self.home(ip);
        // The table is at most half full: some entry is empty, which ends every probe.
        while let Some(e) = self.entries.get(at) {
            if e.ip == ip && e.addr != EMPTY {
                return Some((e.addr, e.link));
            }
            if e.addr == EMPTY {
                return None;
            }
            at = (at + 1) & self.mask;
        }
        None
    }

    /// The index of relay address `ip` (Endpoint form).
    #[cfg(test)]
    fn index(&self, ip: &[u8; 16]) -> Option<u16> {
        self.find(u128::from_be_bytes(*ip)).map(|(a, _)| a)
    }

    /// The index of relay address `ip` (Endpoint form) if it lives on `link`.
    #[inline]
    pub(super) fn on_link(&self, link: usize, ip: &[u8; 16]) -> Option<u16> {
        self.on_link_u128(link, u128::from_be_bytes(*ip))
    }

    /// The index of IPv4 relay address `ip` if it lives on `link`.
    #[inline(always)]
    pub(super) fn on_link_v4(&self, link: usize, ip: [u8; 4]) -> Option<u16> {
        let ip = u32::from_be_bytes(ip);
        let mut at = self.home4(ip);
        // The table is at most half full: some entry is empty, which ends every probe.
        while let Some(e) = self.v4.get(at) {
            if e.ip == ip && e.addr != EMPTY {
                return (usize::from(e.link) == link).then_some(e.addr);
            }
            if e.addr == EMPTY {
                return None;
            }
            at = (at + 1) & self.mask;
        }
        None
    }

    #[inline(always)]
    fn on_link_u128(&self, link: usize, ip: u128) -> Option<u16> {
        let (a, l) = self.find(ip)?;
        (usize::from(l) == link).then_some(a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(a: [u8; 4]) -> [u8; 16] {
        Endpoint::new_v4(a, 0).ip
    }

    #[test]
    fn finds_each_address_on_its_link_only() {
        let addrs: Vec<[u8; 16]> = (0..40u8).map(|i| v4([10, 1, i / 8, i])).collect();
        let links: Vec<usize> = (0..40).map(|i| i % 3).collect();
        let idx = AddrIndex::new(&addrs, &links);
        for (i, ip) in addrs.iter().enumerate() {
            assert_eq!(idx.index(ip), Some(i as u16));
            assert_eq!(idx.on_link(links[i], ip), Some(i as u16));
            assert_eq!(idx.on_link(links[i] + 1, ip), None);
            let [.., a, b, c, d] = *ip;
            assert_eq!(idx.on_link_v4(links[i], [a, b, c, d]), Some(i as u16));
        }
        assert_eq!(idx.index(&v4([10, 2, 0, 0])), None);
        assert_eq!(idx.index(&[0; 16]), None);
        let empty = AddrIndex::new(&[], &[]);
        assert_eq!(empty.index(&[0; 16]), None);
        assert_eq!(empty.on_link_v4(0, [0; 4]), None);
    }

    /// The index answers as a linear search of the list does (first of duplicates wins),
    /// for addresses in the list and others, over many pseudo-random lists.
    #[test]
    fn agrees_with_a_search() {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for round in 0..300 {
            let n = (next() % 80) as usize;
            let all: Vec<[u8; 16]> = (0..n)
                .map(|_| match next() % 3 {
                    // IPv4 addresses that differ in a few low bits collide more.
                    0 => v4([10, 0, (next() % 4) as u8, (next() % 16) as u8]),
                    1 => v4((next() as u32).to_be_bytes()),
                    _ => (u128::from(next()) << 64 | u128::from(next())).to_be_bytes(),
                })
                .collect();
            let links: Vec<usize> = (0..n).map(|i| (i + round) % 2).collect();
            let idx = AddrIndex::new(&all, &links);
            let probes: Vec<[u8; 16]> = (0..8)
                .map(|_| v4([10, 0, 0, (next() % 32) as u8]))
                .collect();
            for ip in all.iter().chain(&probes) {
                let want = all.iter().position(|a| a == ip);
                assert_eq!(idx.index(ip).map(usize::from), want, "{ip:?} in {all:?}");
                for link in 0..3 {
                    let on = want.filter(|&i| links[i] == link).map(|i| i as u16);
                    assert_eq!(idx.on_link(link, ip), on);
                    if let Some(v4) = Endpoint::new_v6(*ip, 0).v4() {
                        assert_eq!(idx.on_link_v4(link, v4), on, "{ip:?} in {all:?}");
                    }
                }
            }
        }
    }
}
