//! Free loopback ports: each test run takes one block of [`BLOCK`] consecutive UDP ports on
//! 127.0.0.1, below the kernel's ephemeral range (so no client socket can land in it), and
//! lays every port it needs out inside that block. One block per run means parallel runs never
//! share a port, and one `portrange` capture filter sees all of a run's traffic and nothing else.
//!
//! Claiming is atomic across threads and processes: a run first binds the block's last port
//! (used by nothing else) and holds that socket for its whole life; only then does it check
//! that the other ports are free. A run that cannot bind the token moves on to another block.

use std::fs;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::ops::RangeInclusive;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{Error, Result};

/// Ports per block.
pub const BLOCK: u16 = 512;
/// Lowest block start.
const FIRST: u16 = 10240;
/// Ports per media range inside a block (sipp media, relay external, relay internal).
pub const MEDIA_SPAN: u16 = 100;

/// The loopback address every test endpoint uses.
pub const LOOPBACK: Ipv4Addr = Ipv4Addr::LOCALHOST;

/// One run's ports. Offsets from `base`: 0 Kamailio SIP, 2 UAC SIP, 4 UAS SIP, 6 ng, 7 metrics;
/// 100..=199 UAC media, 200..=299 UAS media, 300..=399 relay external, 400..=499 relay
/// internal; the last port is the claim token. Released on drop.
#[derive(Debug)]
pub struct PortBlock {
    base: u16,
    /// Bound to the block's last port while the block is in use.
    _token: UdpSocket,
}

impl PortBlock {
    /// Takes a block whose every port is free now (checked by binding each on 127.0.0.1).
    pub fn take() -> Result<PortBlock> {
        let top = ephemeral_low().saturating_sub(BLOCK);
        let count = top.saturating_sub(FIRST) / BLOCK;
        if count == 0 {
            return Err(Error::NoFreePorts { size: BLOCK });
        }
        let seed = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0)
            ^ std::process::id().wrapping_mul(2_654_435_761);
        let count32 = u32::from(count);
        for i in 0..count32 {
            let index = (seed.wrapping_add(i)) % count32;
            let Ok(index) = u16::try_from(index) else {
                continue;
            };
            let base = FIRST + index * BLOCK;
            let last = base + (BLOCK - 1);
            let Ok(token) = UdpSocket::bind(SocketAddr::from((LOOPBACK, last))) else {
                continue;
            };
            if (base..last).all(port_is_free) {
                return Ok(PortBlock {
                    base,
                    _token: token,
                });
            }
        }
        Err(Error::NoFreePorts { size: BLOCK })
    }

    /// The first port of the block.
    pub fn base(&self) -> u16 {
        self.base
    }
    /// All ports of the block.
    pub fn all(&self) -> RangeInclusive<u16> {
        self.base..=self.base + (BLOCK - 1)
    }
    /// Kamailio's SIP port.
    pub fn proxy_sip(&self) -> u16 {
        self.base
    }
    /// The sipp UAC's SIP port.
    pub fn uac_sip(&self) -> u16 {
        self.base + 2
    }
    /// The sipp UAS's SIP port.
    pub fn uas_sip(&self) -> u16 {
        self.base + 4
    }
    /// The relay's ng control port.
    pub fn ng(&self) -> u16 {
        self.base + 6
    }
    /// The daemon's Prometheus endpoint (TCP; the ng port + 1).
    pub fn metrics(&self) -> u16 {
        self.base + 7
    }
    /// The UAC's media ports (sipp `-mp` is the first).
    pub fn uac_media(&self) -> RangeInclusive<u16> {
        self.span(100)
    }
    /// The UAS's media ports (sipp `-mp` is the first).
    pub fn uas_media(&self) -> RangeInclusive<u16> {
        self.span(200)
    }
    /// The relay's external (caller side) port range: starts even, ends odd.
    pub fn relay_external(&self) -> RangeInclusive<u16> {
        self.span(300)
    }
    /// The relay's internal (callee side) port range: starts even, ends odd.
    pub fn relay_internal(&self) -> RangeInclusive<u16> {
        self.span(400)
    }

    fn span(&self, offset: u16) -> RangeInclusive<u16> {
        let start = self.base + offset;
        start..=start + (MEDIA_SPAN - 1)
    }
}

/// Whether a UDP socket can bind 127.0.0.1:`port` right now.
pub fn port_is_free(port: u16) -> bool {
    UdpSocket::bind(SocketAddr::from((LOOPBACK, port))).is_ok()
}

/// The ports of `range` that cannot be bound on 127.0.0.1 right now.
pub fn busy_ports(range: RangeInclusive<u16>) -> Vec<u16> {
    range.filter(|p| !port_is_free(*p)).collect()
}

/// The low end of the kernel's ephemeral port range (32768 if it cannot be read).
fn ephemeral_low() -> u16 {
    fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(32768)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // Tests may unwrap: a panic is a test failure.
mod tests {
    use super::*;

    #[test]
    fn blocks_are_disjoint_free_and_laid_out_as_documented() {
        let a = PortBlock::take().unwrap();
        let b = PortBlock::take().unwrap();
        assert_ne!(a.base(), b.base());
        for blk in [&a, &b] {
            assert_eq!(blk.base() % 2, 0);
            assert!(*blk.all().end() < ephemeral_low());
            assert_eq!(*blk.relay_external().start() % 2, 0);
            assert_eq!(*blk.relay_external().end() % 2, 1);
            assert_eq!(*blk.relay_internal().start() % 2, 0);
            assert_eq!(*blk.relay_internal().end() % 2, 1);
            assert!(blk.all().contains(blk.relay_internal().end()));
        }
        let token = a.base() + (BLOCK - 1);
        assert!(!port_is_free(token), "a block in use holds its token");
        drop(a);
        assert!(port_is_free(token), "a dropped block is released");
    }

    #[test]
    fn a_bound_port_is_reported_busy() {
        let s = UdpSocket::bind((LOOPBACK, 0)).unwrap();
        let port = s.local_addr().unwrap().port();
        assert!(!port_is_free(port));
        assert_eq!(busy_ports(port..=port), vec![port]);
        drop(s);
        assert!(port_is_free(port));
    }
}
