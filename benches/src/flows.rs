//! The flow set the relay benchmarks install (`relay_core` on the memory backend, `dpdk_relay`
//! on DPDK): calls of two legs, each leg's relay port one of 32,256 pairs per relay address
//! `10.1.x.y`, each peer `172.16.x.y:4000`, heuristic latching.

use dataplane::{FlowCommand, LatchMode, StreamSpec, Worker};
use pktio::{PacketIo, PortHandle, PortKey};
use wire::Endpoint;

/// Lowest relay port.
pub const PORT_MIN: u16 = 1024;
/// Highest relay port.
pub const PORT_MAX: u16 = 65535;
/// Port pairs per relay address.
pub const PAIRS_PER_ADDR: u32 = (PORT_MAX as u32 + 1 - PORT_MIN as u32) / 2;

/// One leg as traffic sees it: peer IPv4, peer port, relay IPv4, relay port.
pub type FlowTuple = ([u8; 4], u16, [u8; 4], u16);

/// A tiny deterministic PRNG (xorshift64*), so runs are repeatable.
#[derive(Debug, Clone)]
pub struct Rng(pub u64);

impl Rng {
    /// The next value.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// Relay address `i`.
pub fn relay_ip(i: usize) -> [u8; 4] {
    [10, 1, (i >> 8) as u8, i as u8]
}

/// Relay addresses needed for `flows` legs.
pub fn relay_addrs(flows: usize) -> usize {
    (flows as u32).div_ceil(PAIRS_PER_ADDR) as usize
}

/// Peer `i`.
pub fn peer_ip(i: u32) -> [u8; 4] {
    [172, 16 + (i >> 16) as u8, (i >> 8) as u8, i as u8]
}

/// Installs `calls` calls on `worker` and returns their legs, in random order when `shuffle`.
pub fn install_calls<Io: PacketIo>(
    worker: &mut Worker<Io>,
    calls: usize,
    shuffle: bool,
) -> Vec<FlowTuple> {
    let key_of = |flow: u32| PortKey {
        addr: (flow / PAIRS_PER_ADDR) as u16,
        port: PORT_MIN + 2 * (flow % PAIRS_PER_ADDR) as u16,
    };
    let spec = |key, expect: Endpoint| StreamSpec {
        key,
        expect,
        expect_rtcp_port: 4001,
        mux: false,
        hold: false,
        clock_rate: 8000,
        latch: LatchMode::Heuristic,
        strict: false,
        handover: false,
    };
    let mut tuples = Vec::with_capacity(2 * calls);
    for c in 0..calls as u32 {
        let (ka, kb) = (key_of(2 * c), key_of(2 * c + 1));
        let (pa, pb) = (
            Endpoint::new_v4(peer_ip(2 * c), 4000),
            Endpoint::new_v4(peer_ip(2 * c + 1), 4000),
        );
        let h = || PortHandle::Virtual;
        worker.command(
            FlowCommand::Install {
                a: spec(ka, pa),
                b: spec(kb, pb),
                handles: [h(), h(), h(), h()],
            },
            0,
        );
        for (k, p) in [(ka, pa), (kb, pb)] {
            let ip = relay_ip(usize::from(k.addr));
            tuples.push((p.v4().unwrap_or_default(), p.port, ip, k.port));
        }
    }
    if shuffle {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for i in (1..tuples.len()).rev() {
            tuples.swap(i, (rng.next_u64() % (i as u64 + 1)) as usize);
        }
    }
    tuples
}
